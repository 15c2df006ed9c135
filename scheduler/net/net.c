/*  net.c: envelopes, deferred sends, published events and the model's intents.
 *
 *  Replies and signals that depend on a batch wait in s->deferred, tagged
 *  with its number (s->batch), until it is committed: the loop sends a batch
 *  while it accumulates the next, so the queue may hold the replies of two
 *  batches, and st__net_send_deferred sends only the committed one's. Events
 *  are published once committed, under the topic "job.ID." (see
 *  st__net_publish_events). The model's intents
 *  (st__intent_t) are carried out here after each step: a Signal is deferred
 *  like any message decided by the batch; agent answers and RemoteExited go
 *  out at once, as they did when the model sent them itself. */
#include "net.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "st_log.h"

int
st__net_init (st__net_t *s, st__model_t *m)
{
    s->m = m;
    s->peers = st_map_new ();
    s->tokens = st_map_new ();
    return s->peers && s->tokens && st__auth_init (&s->auth) == 0 ? 0 : -1;
}

void
st__net_release (st__net_t *s)
{
    st__token_forget_all (s);
    st_map_destroy (&s->peers);
    st_map_destroy (&s->tokens);
    st__auth_release (&s->auth);
    for (size_t i = 0; i < s->ndeferred; i++)
        free (s->deferred[i].buf);
    s->ndeferred = 0;
    free (s->deferred);
    s->deferred = NULL;
    while (s->logreqs) {
        st__logreq_t *n = s->logreqs->next;
        free (s->logreqs);
        s->logreqs = n;
    }
}

void
st__net_set_peer (st__node_t *node, const st_peer_t *peer)
{
    memcpy (&node->peer, peer, sizeof node->peer);
}

uint64_t
st__net_next_seq (st__net_t *s)
{
    return ++s->seq;
}

void
st__net_defer (st__net_t *s, void *sock, const st_peer_t *peer, Strata__Envelope *env)
{
    st__deferred_t d = { .sock = sock, .peer = *peer, .batch = s->batch };
    d.len = protobuf_c_message_get_packed_size (&env->base);
    d.buf = malloc (d.len ? d.len : 1);
    if (!d.buf)
        abort ();
    protobuf_c_message_pack (&env->base, d.buf);
    if (st_vec_push ((void **) &s->deferred, &s->ndeferred, &s->cap_deferred, sizeof d, ST__SCHED_ARRAY_MAX, &d))
        abort ();
}

void
st__net_send_deferred (st__net_t *s, uint64_t committed)
{
    /*  Queued in batch order: the committed ones are a prefix.  */
    size_t i = 0;
    for (; i < s->ndeferred && s->deferred[i].batch <= committed; i++) {
        st__deferred_t *d = &s->deferred[i];
        if (zmq_send (d->sock, d->peer.id, d->peer.id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0) {
            if (d->peer.delimited)
                zmq_send (d->sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
            zmq_send (d->sock, d->buf, d->len, ZMQ_DONTWAIT);
        }
        free (d->buf);
    }
    if (i) {
        memmove (s->deferred, s->deferred + i, (s->ndeferred - i) * sizeof *s->deferred);
        s->ndeferred -= i;
    }
}

void
st__net_publish_events (st__net_t *s, size_t n)
{
    for (size_t i = 0; i < n && i < s->m->nevents; i++) {
        const st__event_t *e = &s->m->events[i];
        if (!e->job_id || !e->to_state)
            continue;
        Strata__Envelope env;
        Strata__JobEvent ev = STRATA__JOB_EVENT__INIT;
        st_wire_envelope_init (&env, st__net_next_seq (s));
        ev.job_id = e->job_id;
        ev.from_state = st_wire_job_state_named (e->from_state);
        ev.to_state = st_wire_job_state_named (e->to_state);
        ev.reason = e->message;
        ev.unix_ms = e->at_wall;
        env.body_case = STRATA__ENVELOPE__BODY_EVENT;
        env.event = &ev;
        /*  ZeroMQ subscriptions match prefixes: the closing dot keeps a
         *  subscriber to "job.1." from getting job 10's events ("job." is all jobs).  */
        char topic[40];
        snprintf (topic, sizeof topic, "job.%" PRIu64 ".", e->job_id);
        st_wire_publish (s->event_sock, topic, &env);
    }
}

static const st__node_t *
s_node (st__net_t *s, const char *name)
{
    return name ? st_map_get (s->m->nodes, name, strlen (name)) : NULL;
}

void
st__net_drain_intents (st__net_t *s)
{
    st__model_t *m = s->m;
    /*  An intent may not add another, but index, not pointer: st_vec_push may move the array.  */
    for (size_t i = 0; i < m->nintents; i++) {
        const st__intent_t *in = &m->intents[i];
        switch (in->kind) {
        case ST__INTENT_SIGNAL: {
            st__task_t *t = st__model_find_task (m, in->job_id, in->index);
            if (t && t->attempt == in->attempt)
                (void) st__dispatch_signal (s, t, STRATA__SIGNAL_KIND__SIGNAL_TERMINATE);
            break;
        }
        case ST__INTENT_AGENT_VALUE: {
            Strata__AgentReply v = STRATA__AGENT_REPLY__INIT;
            v.value.data = in->data;
            v.value.len = in->len;
            st__agent_reply (s, s_node (s, in->node), in->fwd_seq, &v);
            break;
        }
        case ST__INTENT_AGENT_ERROR:
            st__agent_reply_error (s, s_node (s, in->node), in->fwd_seq, "%s", (const char *) in->data);
            break;
        case ST__INTENT_REMOTE_EXITED:
            st__agent_send_remote_exited (s, in);
            break;
        }
    }
    st__intents_clear (m);
}
