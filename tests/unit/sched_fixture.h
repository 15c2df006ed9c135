/*  sched_fixture.h: builds an in-memory scheduler for the test_sched_* tests.
 *  No sockets: messages the model would send are packed into s->deferred. */
#ifndef ST_SCHED_FIXTURE_H
#define ST_SCHED_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"
#include "st_time.h"

static inline void
fx_init (st_sched_t *s)
{
    memset (s, 0, sizeof *s);
    s->jobs = st_map_new ();
    s->nodes = st_map_new ();
    s->launches = st_map_new ();
    s->peers = st_map_new ();
    s->tokens = st_map_new ();
    s->cfg.kill_grace_ms = 1000;
    s->cfg.node_timeout_ms = 1000;
    s->cfg.launch_timeout_ms = 1000;
    s->next_job_id = 1;
    s->cluster = sp_cluster_new ();
    cr_assert_not_null (s->cluster);
    s->engine = sp_engine_new (s->cluster);
    cr_assert_not_null (s->engine);
    s->policy = SP_POLICY_DEFAULT;
}

static inline st_node_t *
fx_node (st_sched_t *s, const char *name, const char *pool, double cpus, uint64_t mem_mb, uint32_t gpus)
{
    st_node_t *n = st_node_new (name);
    cr_assert_not_null (n);
    n->pool = strdup (pool);
    n->cap_cpus_milli = (uint32_t) (cpus * 1000 + 0.5);
    n->cap_mem_mb = mem_mb;
    n->cap_gpus = gpus;
    n->state = ST_NODE_UP;
    n->connected = 1;
    n->last_seen_mono = st_mono_ms ();
    n->peer.id_len = (size_t) snprintf ((char *) n->peer.id, sizeof n->peer.id, "%s", name);
    st_map_put (s->nodes, n->name, strlen (n->name), n);
    st_map_put (s->peers, n->peer.id, n->peer.id_len, n);
    return n;
}

/*  Submits a job from JSON through the client API (the reply is deferred).  */
static inline st_job_t *
fx_submit (st_sched_t *s, const char *json)
{
    Strata__Envelope env;
    Strata__SubmitRequest sub = STRATA__SUBMIT_REQUEST__INIT;
    st_wire_envelope_init (&env, 1);
    sub.spec_json = (char *) json;
    env.body_case = STRATA__ENVELOPE__BODY_SUBMIT;
    env.submit = &sub;
    st_peer_t peer = { .id = "client", .id_len = 6 };
    uint64_t before = s->next_job_id;
    st_client_message (s, &peer, &env);
    cr_assert_eq (s->next_job_id, before + 1, "submit refused: %s", json);
    st_job_t *job = st_map_get_u64 (s->jobs, before);
    cr_assert_not_null (job);
    return job;
}

/*  What one loop pass does after a successful flush (without the database or
 *  sockets): the rows are committed, events published, deferred replies sent.  */
static inline void
fx_commit (st_sched_t *s)
{
    st_batch_committed (s);
    for (size_t i = 0; i < s->nevents; i++) {
        free (s->events[i].node);
        free (s->events[i].message);
    }
    s->nevents = 0;
    for (size_t i = 0; i < s->ndeferred; i++)
        free (s->deferred[i].buf);
    s->ndeferred = 0;
}

/*  Counts the deferred Signal messages of kind (0: any kind) addressed to peer
 *  (NULL: any peer): what the model asked workers to stop or kill.  */
static inline int
fx_count_signals_to (st_sched_t *s, int kind, const st_peer_t *peer)
{
    int n = 0;
    for (size_t i = 0; i < s->ndeferred; i++) {
        const st_deferred_t *d = &s->deferred[i];
        if (peer && (d->peer.id_len != peer->id_len || memcmp (d->peer.id, peer->id, peer->id_len) != 0))
            continue;
        Strata__Envelope *e = strata__envelope__unpack (NULL, d->len, d->buf);
        if (e && e->body_case == STRATA__ENVELOPE__BODY_SIGNAL && (!kind || (int) e->signal->kind == kind))
            n++;
        if (e)
            strata__envelope__free_unpacked (e, NULL);
    }
    return n;
}

static inline int
fx_count_signals (st_sched_t *s)
{
    return fx_count_signals_to (s, 0, NULL);
}

static inline void
fx_fini (st_sched_t *s)
{
    st_sched_release (s);
}

#endif
