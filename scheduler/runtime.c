/*  runtime.c: what the ranks of a running job ask of the scheduler, through
 *  their workers (st_agent.h on the task's side, worker/agent.c in between).
 *
 *      RendezvousPut   key = value for the other ranks of this attempt
 *      RendezvousGet   the value, at once or when it is put; an error after
 *                      the request's timeout
 *      RemoteExec      mpirun's strata-rsh on one node asks for Open MPI's
 *                      daemon on another: sent as Exec to that node's held
 *                      rank; RemoteExited tells rank 0's worker when that
 *                      process ends (matched there by job, attempt and node,
 *                      so a scheduler restart in between loses nothing)
 *      Progress        step, loss and rate, kept on the job for `strata show`
 *
 *  Every request names a task; the worker has checked it is that task's
 *  (its token), and here the task must be live on the node that relays it, in
 *  the job's current attempt. Values are scoped to one attempt: a requeued
 *  job starts with none, so a retry never reads the NCCL id of the attempt
 *  before. They live in memory only: after a scheduler restart the ranks of a
 *  running attempt have already met, and a rank that had not times out and the
 *  attempt is retried.
 */
#include "sched.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_log.h"
#include "st_time.h"
#include "st_wire.h"

#define S_KEYS_MAX 64
#define S_VALUE_MAX 4096u
#define S_KEY_MAX 128u
#define S_WAITS_MAX 4096u
#define S_TIMEOUT_MAX_MS (3600u * 1000u)

/*  Answers a relayed request on node (reply_to = fwd_seq).  */
static void
s_reply (st_sched_t *s, const st_node_t *node, uint64_t fwd_seq, const Strata__AgentReply *r)
{
    if (node && node->connected
        && st_wire_agent_reply (s->worker_sock, &node->peer, st_sched_next_seq (s), fwd_seq, r) != ST_OK)
        st_debug ("could not answer node %s's agent request %" PRIu64, node->name, fwd_seq);
}

static void
s_reply_error (st_sched_t *s, const st_node_t *node, uint64_t fwd_seq, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_reply_error (st_sched_t *s, const st_node_t *node, uint64_t fwd_seq, const char *fmt, ...)
{
    if (!node || !node->connected)
        return;
    va_list ap;
    va_start (ap, fmt);
    st_wire_agent_error (s->worker_sock, &node->peer, st_sched_next_seq (s), fwd_seq, fmt, ap);
    va_end (ap);
}

static st_node_t *
s_node (st_sched_t *s, const char *name)
{
    return name ? st_map_get (s->nodes, name, strlen (name)) : NULL;
}

/*  The live task of the current attempt that ref names on node, or NULL.  */
static st_task_t *
s_task (st_sched_t *s, const st_node_t *node, const Strata__TaskRef *ref)
{
    if (!ref)
        return NULL;
    st_task_t *t = st_sched_find_task (s, ref->job_id, ref->index);
    if (!t || t->attempt != ref->attempt || t->node != node || !st_task_live (t) || t->job->attempt != ref->attempt)
        return NULL;
    return t;
}

/*  The job's values for its current attempt (reset when the attempt changed).  */
static st_rdzv_t *
s_rdzv (st_job_t *job)
{
    if (!job->rdzv && !(job->rdzv = calloc (1, sizeof *job->rdzv)))
        return NULL;
    st_rdzv_t *r = job->rdzv;
    if (r->attempt != job->attempt) {
        for (size_t i = 0; i < r->n; i++) {
            free (r->keys[i]);
            free (r->vals[i]);
        }
        r->n = 0;
        r->attempt = job->attempt;
    }
    return r;
}

static int
s_find_key (const st_rdzv_t *r, const char *key)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp (r->keys[i], key) == 0)
            return (int) i;
    return -1;
}

static void
s_wait_free (st_rdzv_wait_t *w)
{
    free (w->key);
    free (w->node);
}

static void
s_wait_remove (st_sched_t *s, size_t i)
{
    s_wait_free (&s->rdzv_waits[i]);
    s->rdzv_waits[i] = s->rdzv_waits[--s->nrdzv_waits];
}

static void
s_on_put (st_sched_t *s, st_node_t *node, uint64_t seq, const Strata__RendezvousPut *p)
{
    st_task_t *t = s_task (s, node, p->task);
    if (!t) {
        s_reply_error (s, node, seq, "job %" PRIu64 " rank %u attempt %u is not running on %s", p->task ? p->task->job_id : 0,
                       p->task ? p->task->index : 0, p->task ? p->task->attempt : 0, node->name);
        return;
    }
    if (!p->key || !*p->key || strlen (p->key) > S_KEY_MAX || p->value.len > S_VALUE_MAX) {
        s_reply_error (s, node, seq, "a key is 1 to %u bytes and a value at most %u bytes", S_KEY_MAX, S_VALUE_MAX);
        return;
    }
    st_job_t *job = t->job;
    st_rdzv_t *r = s_rdzv (job);
    if (!r) {
        s_reply_error (s, node, seq, "out of memory");
        return;
    }
    int i = s_find_key (r, p->key);
    if (i < 0 && r->n >= S_KEYS_MAX) {
        s_reply_error (s, node, seq, "job %" PRIu64 " already has %d rendezvous keys in this attempt", job->id,
                       S_KEYS_MAX);
        return;
    }
    uint8_t *val = malloc (p->value.len ? p->value.len : 1);
    char *key = i < 0 ? strdup (p->key) : NULL;
    if (!val || (i < 0 && !key)) {
        free (val);
        free (key);
        s_reply_error (s, node, seq, "out of memory");
        return;
    }
    if (p->value.len)
        memcpy (val, p->value.data, p->value.len);
    if (i < 0) {
        i = (int) r->n++;
        r->keys[i] = key;
    }
    else
        free (r->vals[i]);
    r->vals[i] = val;
    r->lens[i] = p->value.len;
    st_debug ("job %" PRIu64 " attempt %u: rank %u published '%s' (%zu bytes)", job->id, job->attempt, t->index,
              p->key, p->value.len);
    Strata__AgentReply ok = STRATA__AGENT_REPLY__INIT;
    s_reply (s, node, seq, &ok);

    /*  Ranks already waiting for it.  */
    Strata__AgentReply v = STRATA__AGENT_REPLY__INIT;
    v.value.data = val;
    v.value.len = p->value.len;
    for (size_t k = 0; k < s->nrdzv_waits;) {
        st_rdzv_wait_t *w = &s->rdzv_waits[k];
        if (w->job_id == job->id && w->attempt == job->attempt && strcmp (w->key, p->key) == 0) {
            s_reply (s, s_node (s, w->node), w->fwd_seq, &v);
            s_wait_remove (s, k);
        }
        else
            k++;
    }
}

static void
s_on_get (st_sched_t *s, st_node_t *node, uint64_t seq, const Strata__RendezvousGet *g)
{
    st_task_t *t = s_task (s, node, g->task);
    if (!t) {
        s_reply_error (s, node, seq, "job %" PRIu64 " rank %u attempt %u is not running on %s", g->task ? g->task->job_id : 0,
                       g->task ? g->task->index : 0, g->task ? g->task->attempt : 0, node->name);
        return;
    }
    if (!g->key || !*g->key || strlen (g->key) > S_KEY_MAX) {
        s_reply_error (s, node, seq, "a key is 1 to %u bytes", S_KEY_MAX);
        return;
    }
    st_rdzv_t *r = s_rdzv (t->job);
    int i = r ? s_find_key (r, g->key) : -1;
    if (i >= 0) {
        Strata__AgentReply v = STRATA__AGENT_REPLY__INIT;
        v.value.data = r->vals[i];
        v.value.len = r->lens[i];
        s_reply (s, node, seq, &v);
        return;
    }
    if (s->nrdzv_waits >= S_WAITS_MAX) {
        s_reply_error (s, node, seq, "the scheduler has %u rendezvous waits already; try again", S_WAITS_MAX);
        return;
    }
    if (s->nrdzv_waits == s->cap_rdzv_waits) {
        size_t cap = s->cap_rdzv_waits ? 2 * s->cap_rdzv_waits : 16;
        st_rdzv_wait_t *grown = realloc (s->rdzv_waits, cap * sizeof *grown);
        if (!grown) {
            s_reply_error (s, node, seq, "out of memory");
            return;
        }
        s->rdzv_waits = grown;
        s->cap_rdzv_waits = cap;
    }
    uint32_t timeout = g->timeout_ms < S_TIMEOUT_MAX_MS ? g->timeout_ms : S_TIMEOUT_MAX_MS;
    st_rdzv_wait_t w = {
        .job_id = t->job->id,
        .attempt = t->job->attempt,
        .key = strdup (g->key),
        .node = strdup (node->name),
        .fwd_seq = seq,
        .deadline_mono = st_mono_ms () + timeout,
        .timeout_ms = timeout,
    };
    if (!w.key || !w.node) {
        s_wait_free (&w);
        s_reply_error (s, node, seq, "out of memory");
        return;
    }
    s->rdzv_waits[s->nrdzv_waits++] = w;
}

void
st_runtime_tick (st_sched_t *s, uint64_t now)
{
    for (size_t k = 0; k < s->nrdzv_waits;) {
        st_rdzv_wait_t *w = &s->rdzv_waits[k];
        st_job_t *job = st_map_get_u64 (s->jobs, w->job_id);
        if (!job || job->attempt != w->attempt || st_job_state_terminal (job->state))
            s_reply_error (s, s_node (s, w->node), w->fwd_seq,
                           "rendezvous: attempt %u of job %" PRIu64 " ended while waiting for '%s'", w->attempt,
                           w->job_id, w->key);
        else if (now >= w->deadline_mono)
            s_reply_error (s, s_node (s, w->node), w->fwd_seq,
                           "rendezvous: timed out after %.1f s waiting for '%s' (job %" PRIu64 " attempt %u): the rank "
                           "that publishes it has not; see its log (strata logs %" PRIu64 " --rank 0)",
                           w->timeout_ms / 1000.0, w->key, w->job_id, w->attempt, w->job_id);
        else {
            k++;
            continue;
        }
        s_wait_remove (s, k);
    }
}

static void
s_on_remote_exec (st_sched_t *s, st_node_t *node, uint64_t seq, const Strata__RemoteExec *x)
{
    st_task_t *from = s_task (s, node, x->task);
    if (!from) {
        s_reply_error (s, node, seq, "job %" PRIu64 " rank %u attempt %u is not running on %s",
                       x->task ? x->task->job_id : 0, x->task ? x->task->index : 0, x->task ? x->task->attempt : 0,
                       node->name);
        return;
    }
    st_job_t *job = from->job;
    if (x->n_argv == 0 || !x->node) {
        s_reply_error (s, node, seq, "remote start needs a node and a command");
        return;
    }
    if (job->spec->launcher != ST_LAUNCHER_MPIRUN) {
        s_reply_error (s, node, seq, "job %" PRIu64 " is not launched by mpirun", job->id);
        return;
    }
    /*  The lowest held rank of this attempt on that node with no process yet.
     *  One that has a process already means this is the same request again
     *  (its worker re-sends it after a reconnect): nothing to start, and
     *  RemoteExited answers it when that process ends.  */
    st_task_t *target = NULL, *running = NULL;
    for (uint32_t i = 1; i < job->ntasks && !target; i++) {
        st_task_t *t = &job->tasks[i];
        if (!st_task_live (t) || !t->node || strcmp (t->node->name, x->node) != 0)
            continue;
        if (!t->exec_sent && !t->pid)
            target = t;
        else if (!running)
            running = t;
    }
    if (!target && running) {
        st_debug ("job %" PRIu64 " attempt %u: remote start on %s asked again; rank %u runs it already", job->id,
                  job->attempt, x->node, running->index);
        return;
    }
    if (!target) {
        s_reply_error (s, node, seq, "node %s holds no rank of job %" PRIu64 " attempt %u waiting for a process",
                       x->node, job->id, job->attempt);
        return;
    }
    if (!target->node->connected) {
        s_reply_error (s, node, seq, "node %s is not connected", x->node);
        return;
    }
    Strata__Envelope env;
    Strata__Exec ex = STRATA__EXEC__INIT;
    Strata__TaskRef tr = STRATA__TASK_REF__INIT;
    st_wire_envelope_init (&env, st_sched_next_seq (s));
    tr.job_id = job->id;
    tr.index = target->index;
    tr.attempt = target->attempt;
    ex.task = &tr;
    ex.n_argv = x->n_argv;
    ex.argv = x->argv;
    ex.request_id = seq;
    env.body_case = STRATA__ENVELOPE__BODY_EXEC;
    env.exec = &ex;
    if (st_wire_send (s->worker_sock, &target->node->peer, &env) != ST_OK) {
        s_reply_error (s, node, seq, "cannot reach node %s", x->node);
        return;
    }
    target->exec_sent = 1;
    st_info ("job %" PRIu64 " attempt %u: rank %u on %s asked for a process for rank %u on %s", job->id,
             job->attempt, from->index, node->name, target->index, x->node);
}

void
st_runtime_task_ended (st_sched_t *s, st_task_t *t)
{
    /*  A held rank of an mpirun-launched gang ended: rank 0's strata-rsh for
     *  that node may be waiting (also when it asked a scheduler before this one).  */
    st_job_t *job = t->job;
    if (job->spec->launcher != ST_LAUNCHER_MPIRUN || t->index == 0 || !t->node_name)
        return;
    const st_task_t *leader = &job->tasks[0];
    if (!st_task_live (leader) || !leader->node || !leader->node->connected)
        return;
    Strata__Envelope env;
    Strata__RemoteExited rx = STRATA__REMOTE_EXITED__INIT;
    Strata__TaskRef tr = STRATA__TASK_REF__INIT;
    char msg[200];
    st_wire_envelope_init (&env, st_sched_next_seq (s));
    tr.job_id = job->id;
    tr.index = t->index;
    tr.attempt = t->attempt;
    rx.task = &tr;
    rx.node = t->node_name;
    if (t->has_exit || t->term_signal) {
        rx.exit_code = t->exit_code;
        rx.term_signal = t->term_signal;
    }
    else {
        snprintf (msg, sizeof msg, "rank %u on %s ended without an exit status (%s)", t->index, t->node_name,
                  st_job_state_name (t->state));
        rx.error = msg;
    }
    env.body_case = STRATA__ENVELOPE__BODY_REMOTE_EXITED;
    env.remote_exited = &rx;
    (void) st_wire_send (s->worker_sock, &leader->node->peer, &env);
}

static void
s_on_progress (st_sched_t *s, st_node_t *node, const Strata__Progress *p)
{
    st_task_t *t = s_task (s, node, p->task);
    if (!t)
        return;   /*  best effort: a late report of an ended attempt  */
    st_job_t *job = t->job;
    job->has_progress = 1;
    job->progress_step = p->step;
    job->progress_total = p->total_steps;
    job->progress_loss = p->loss;
    job->progress_rate = p->rate;
    snprintf (job->progress_unit, sizeof job->progress_unit, "%s", p->unit ? p->unit : "");
}

const char *
st_runtime_progress_text (const st_job_t *job, char *buf, size_t size)
{
    buf[0] = '\0';
    if (!job->has_progress)
        return buf;
    char total[32] = "";
    if (job->progress_total)
        snprintf (total, sizeof total, "/%" PRIu64, job->progress_total);
    char loss[40] = "";
    if (job->progress_loss != 0)
        snprintf (loss, sizeof loss, ", loss %.4f", job->progress_loss);
    snprintf (buf, size, "step %" PRIu64 "%s%s, %.1f %s", job->progress_step, total, loss, job->progress_rate,
              job->progress_unit[0] ? job->progress_unit : "items/s");
    return buf;
}

void
st_runtime_on_message (st_sched_t *s, st_node_t *node, const Strata__Envelope *env)
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

void
st_runtime_job_free (st_job_t *job)
{
    if (job->rdzv) {
        for (size_t i = 0; i < job->rdzv->n; i++) {
            free (job->rdzv->keys[i]);
            free (job->rdzv->vals[i]);
        }
        free (job->rdzv);
        job->rdzv = NULL;
    }
}
