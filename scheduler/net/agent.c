/*  agent.c: the agent protocol, what the ranks of a running job ask of the
 *  scheduler through their workers (st_agent.h on the task's side,
 *  worker/agent.c in between): RendezvousPut/Get, RemoteExec and Progress.
 *
 *  Decodes each request, asks the model (model/runtime.c) and answers at once
 *  where it can; what the model answers later (a wait satisfied by a put, a
 *  timeout, RemoteExited to rank 0's worker) arrives here as intents
 *  (st__net_drain_intents in net.c). Every request names a task; here it must
 *  be live on the node that relays it, in the job's current attempt. */
#include "net.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_log.h"

/*  Answers a relayed request on node (reply_to = fwd_seq).  */
void
st__agent_reply (st__net_t *s, const st__node_t *node, uint64_t fwd_seq, const Strata__AgentReply *r)
{
    if (node && node->connected
        && st_wire_agent_reply (s->worker_sock, st__net_peer_of (node), st__net_next_seq (s), fwd_seq, r) != ST_OK)
        st_debug ("could not answer node %s's agent request %" PRIu64, node->name, fwd_seq);
}

void
st__agent_reply_error (st__net_t *s, const st__node_t *node, uint64_t fwd_seq, const char *fmt, ...)
{
    if (!node || !node->connected)
        return;
    va_list ap;
    va_start (ap, fmt);
    st_wire_agent_error (s->worker_sock, st__net_peer_of (node), st__net_next_seq (s), fwd_seq, fmt, ap);
    va_end (ap);
}

/*  The live task of the current attempt that ref names on node, or NULL.  */
static st__task_t *
s_task (st__net_t *s, const st__node_t *node, const Strata__TaskRef *ref)
{
    return ref ? st__runtime_task (s->m, node, ref->job_id, ref->index, ref->attempt) : NULL;
}

static void
s_not_running (st__net_t *s, st__node_t *node, uint64_t seq, const Strata__TaskRef *ref)
{
    st__agent_reply_error (s, node, seq, "job %" PRIu64 " rank %u attempt %u is not running on %s",
                           ref ? ref->job_id : 0, ref ? ref->index : 0, ref ? ref->attempt : 0, node->name);
}

static void
s_on_put (st__net_t *s, st__node_t *node, uint64_t seq, const Strata__RendezvousPut *p)
{
    st__task_t *t = s_task (s, node, p->task);
    if (!t) {
        s_not_running (s, node, seq, p->task);
        return;
    }
    char why[300];
    if (st__rdzv_put (s->m, t, p->key, p->value.data, p->value.len, why, sizeof why) != 0) {
        st__agent_reply_error (s, node, seq, "%s", why);
        return;
    }
    Strata__AgentReply ok = STRATA__AGENT_REPLY__INIT;
    st__agent_reply (s, node, seq, &ok);
    /*  Ranks already waiting for it: queued as intents, answered after this.  */
    st__net_drain_intents (s);
}

static void
s_on_get (st__net_t *s, st__node_t *node, uint64_t seq, const Strata__RendezvousGet *g)
{
    st__task_t *t = s_task (s, node, g->task);
    if (!t) {
        s_not_running (s, node, seq, g->task);
        return;
    }
    char why[300];
    const uint8_t *val = NULL;
    size_t len = 0;
    int rc = st__rdzv_get (s->m, t, node, seq, g->key, g->timeout_ms, &val, &len, why, sizeof why);
    if (rc < 0)
        st__agent_reply_error (s, node, seq, "%s", why);
    else if (rc > 0) {
        Strata__AgentReply v = STRATA__AGENT_REPLY__INIT;
        v.value.data = (uint8_t *) val;
        v.value.len = len;
        st__agent_reply (s, node, seq, &v);
    }
}

static void
s_on_remote_exec (st__net_t *s, st__node_t *node, uint64_t seq, const Strata__RemoteExec *x)
{
    st__task_t *from = s_task (s, node, x->task);
    if (!from) {
        s_not_running (s, node, seq, x->task);
        return;
    }
    st__job_t *job = from->job;
    if (x->n_argv == 0 || !x->node) {
        st__agent_reply_error (s, node, seq, "remote start needs a node and a command");
        return;
    }
    char why[300];
    st__task_t *target = NULL;
    int rc = st__runtime_exec_target (s->m, from, x->node, &target, why, sizeof why);
    if (rc < 0) {
        st__agent_reply_error (s, node, seq, "%s", why);
        return;
    }
    if (rc == 0)
        return;
    Strata__Envelope env;
    Strata__Exec ex = STRATA__EXEC__INIT;
    Strata__TaskRef tr = STRATA__TASK_REF__INIT;
    st_wire_envelope_init (&env, st__net_next_seq (s));
    tr.job_id = job->id;
    tr.index = target->index;
    tr.attempt = target->attempt;
    ex.task = &tr;
    ex.n_argv = x->n_argv;
    ex.argv = x->argv;
    ex.request_id = seq;
    env.body_case = STRATA__ENVELOPE__BODY_EXEC;
    env.exec = &ex;
    if (st_wire_send (s->worker_sock, st__net_peer_of (target->node), &env) != ST_OK) {
        st__agent_reply_error (s, node, seq, "cannot reach node %s", x->node);
        return;
    }
    target->exec_sent = 1;
    st_info ("job %" PRIu64 " attempt %u: rank %u on %s asked for a process for rank %u on %s", job->id, job->attempt,
             from->index, node->name, target->index, x->node);
}

/*  A REMOTE_EXITED intent: the end of a held rank, to rank 0's worker.  */
void
st__agent_send_remote_exited (st__net_t *s, const st__intent_t *in)
{
    st__job_t *job = st_map_get_u64 (s->m->jobs, in->job_id);
    const st__task_t *leader = job && job->ntasks ? &job->tasks[0] : NULL;
    if (!leader || !st__task_live (leader) || !leader->node || !leader->node->connected)
        return;
    Strata__Envelope env;
    Strata__RemoteExited rx = STRATA__REMOTE_EXITED__INIT;
    Strata__TaskRef tr = STRATA__TASK_REF__INIT;
    st_wire_envelope_init (&env, st__net_next_seq (s));
    tr.job_id = in->job_id;
    tr.index = in->index;
    tr.attempt = in->attempt;
    rx.task = &tr;
    rx.node = in->node;
    if (in->data)
        rx.error = (char *) in->data;
    else {
        rx.exit_code = in->exit_code;
        rx.term_signal = in->term_signal;
    }
    env.body_case = STRATA__ENVELOPE__BODY_REMOTE_EXITED;
    env.remote_exited = &rx;
    (void) st_wire_send (s->worker_sock, st__net_peer_of (leader->node), &env);
}

static void
s_on_progress (st__net_t *s, st__node_t *node, const Strata__Progress *p)
{
    st__task_t *t = s_task (s, node, p->task);
    if (!t)
        return; /*  best effort: a late report of an ended attempt  */
    st__runtime_progress (s->m, t, p->step, p->total_steps, p->loss, p->rate, p->unit);
}

void
st__agent_message (st__net_t *s, st__node_t *node, const Strata__Envelope *env)
{
    switch (env->body_case) {
    case STRATA__ENVELOPE__BODY_RDZV_PUT:
        s_on_put (s, node, env->seq, env->rdzv_put);
        break;
    case STRATA__ENVELOPE__BODY_RDZV_GET:
        s_on_get (s, node, env->seq, env->rdzv_get);
        break;
    case STRATA__ENVELOPE__BODY_REMOTE_EXEC:
        s_on_remote_exec (s, node, env->seq, env->remote_exec);
        break;
    case STRATA__ENVELOPE__BODY_PROGRESS:
        s_on_progress (s, node, env->progress);
        break;
    default:
        break;
    }
}
