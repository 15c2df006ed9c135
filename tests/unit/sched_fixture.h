/*  sched_fixture.h: builds an in-memory scheduler for the test_sched_* tests.
 *  No sockets: messages the model would send are packed into s->net.deferred.
 *
 *  Every step a test takes through the scheduler's entry points (a message, a
 *  tick, a placement pass, a launch round, a state change) goes through the
 *  macros at the end of this file: they set the model's clock before the step
 *  and, after it, carry out the model's intents (as the loop does) and check
 *  the model's invariants (st__model_check), failing the test when one breaks.
 *  A test calls them on the whole scheduler (&S); the macros hand each layer
 *  its part. */
#ifndef ST_SCHED_FIXTURE_H
#define ST_SCHED_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"
#include "st_time.h"

/*  Before a step: the loop's clock.  */
static inline st__sched_t *
fx_pre (st__sched_t *s)
{
    st__model_clock (&s->model, st_wall_ms (), st_mono_ms ());
    return s;
}

/*  After a step: the intents go to net/, then the invariants must hold.  */
static inline void
fx_post (st__sched_t *s)
{
    st__net_drain_intents (&s->net);
    char why[512];
    cr_assert_eq (st__model_check (&s->model, why, sizeof why), 0, "model invariant broken: %s", why);
}

static inline int
fx_post_i (st__sched_t *s, int rc)
{
    fx_post (s);
    return rc;
}

static inline st_rc_t
fx_post_rc (st__sched_t *s, st_rc_t rc)
{
    fx_post (s);
    return rc;
}

static inline void
fx_init (st__sched_t *s)
{
    memset (s, 0, sizeof *s);
    s->cfg.kill_grace_ms = 1000;
    s->cfg.node_timeout_ms = 1000;
    s->cfg.launch_timeout_ms = 1000;
    cr_assert_eq (st__sched_init (s), 0);
    s->model.cluster = sp_cluster_new ();
    cr_assert_not_null (s->model.cluster);
    s->model.engine = sp_engine_new (s->model.cluster);
    cr_assert_not_null (s->model.engine);
    s->model.policy = SP_POLICY_DEFAULT;
    fx_pre (s);
}

static inline st__node_t *
fx_node (st__sched_t *s, const char *name, const char *pool, double cpus, uint64_t mem_mb, uint32_t gpus)
{
    st__node_t *n = st__node_new (name);
    cr_assert_not_null (n);
    n->pool = strdup (pool);
    n->cap_cpus_milli = (uint32_t) (cpus * 1000 + 0.5);
    n->cap_mem_mb = mem_mb;
    n->cap_gpus = gpus;
    n->state = ST__NODE_UP;
    n->connected = 1;
    n->last_seen_mono = st_mono_ms ();
    n->peer.id_len = (size_t) snprintf ((char *) n->peer.id, sizeof n->peer.id, "%s", name);
    st_map_put (s->model.nodes, n->name, strlen (n->name), n);
    st_map_put (s->net.peers, n->peer.id, n->peer.id_len, n);
    return n;
}

/*  Submits a job from JSON through the client API (the reply is deferred).  */
static inline st__job_t *
fx_submit (st__sched_t *s, const char *json)
{
    Strata__Envelope env;
    Strata__SubmitRequest sub = STRATA__SUBMIT_REQUEST__INIT;
    st_wire_envelope_init (&env, 1);
    sub.spec_json = (char *) json;
    env.body_case = STRATA__ENVELOPE__BODY_SUBMIT;
    env.submit = &sub;
    st_peer_t peer = { .id = "client", .id_len = 6 };
    uint64_t before = s->model.next_job_id;
    st__client_message (&fx_pre (s)->net, &peer, &env);
    fx_post (s);
    cr_assert_eq (s->model.next_job_id, before + 1, "submit refused: %s", json);
    st__job_t *job = st_map_get_u64 (s->model.jobs, before);
    cr_assert_not_null (job);
    return job;
}

/*  What one loop pass does after a successful flush (without the database or
 *  sockets): the rows are committed, events published, deferred replies sent.  */
static inline void
fx_commit (st__sched_t *s)
{
    st__batch_committed (&s->model);
    st__model_clear_events (&s->model);
    for (size_t i = 0; i < s->net.ndeferred; i++)
        free (s->net.deferred[i].buf);
    s->net.ndeferred = 0;
    fx_post (s);
}

/*  Counts the deferred Signal messages of kind (0: any kind) addressed to peer
 *  (NULL: any peer): what the model asked workers to stop or kill.  */
static inline int
fx_count_signals_to (st__sched_t *s, int kind, const st_peer_t *peer)
{
    st__net_drain_intents (&s->net);
    int n = 0;
    for (size_t i = 0; i < s->net.ndeferred; i++) {
        const st__deferred_t *d = &s->net.deferred[i];
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
fx_count_signals (st__sched_t *s)
{
    return fx_count_signals_to (s, 0, NULL);
}

static inline void
fx_fini (st__sched_t *s)
{
    st__sched_release (s); /*  the connection is the test's to close  */
}

/*  A job as a client reads it: store/'s record as net/ sends it.  */
static inline st_rc_t
fx_get_job (st__sched_t *s, uint64_t id, Strata__JobInfo **out, st_error_t *err)
{
    st__job_record_t *r = NULL;
    st_rc_t rc = st__store_get_job (&s->store, id, &r, err);
    *out = rc == ST_OK ? st__client_job_info (r) : NULL;
    st__job_record_free (r);
    return rc;
}

/*  A listing as a client reads it.  */
static inline st_rc_t
fx_list_jobs (st__sched_t *s, const Strata__ListRequest *req, Strata__ListReply **out, st_error_t *err)
{
    st__job_record_t *r = NULL;
    size_t n = 0;
    *out = NULL;
    const char *want = req->state ? st_wire_job_state_name (req->state) : NULL;
    st_rc_t rc =
        st__store_list_jobs (&s->store, want, req->tenant, NULL, 0, req->limit, req->active_only, &r, &n, err);
    if (rc != ST_OK)
        return rc;
    Strata__ListReply *l = malloc (sizeof *l);
    cr_assert_not_null (l);
    strata__list_reply__init (l);
    l->jobs = calloc (n + 1, sizeof *l->jobs);
    cr_assert_not_null (l->jobs);
    for (size_t i = 0; i < n; i++)
        l->jobs[l->n_jobs++] = st__client_job_info (&r[i]);
    st__job_records_free (r, n);
    *out = l;
    return ST_OK;
}

/*  -- the scheduler's entry points, one step each (see the top) ----------  */

/*  net/  */
#define st__client_message(s, peer, env) (st__client_message (&fx_pre (s)->net, peer, env), fx_post (s))
#define st__client_tick(s, now) (st__client_tick (&fx_pre (s)->net, now), fx_post (s))
#define st__dispatch_worker_message(s, peer, env) \
    (st__dispatch_worker_message (&fx_pre (s)->net, peer, env), fx_post (s))
#define st__dispatch_send_launches(s) (st__dispatch_send_launches (&fx_pre (s)->net), fx_post (s))
#define st__dispatch_tick(s, now) (st__dispatch_tick (&fx_pre (s)->net, now), fx_post (s))
/*  model/  */
#define st__place_pending(s) fx_post_i ((s), st__place_pending (&fx_pre (s)->model))
/*  Parts of a step (a test may leave the model between them as no step
 *  would): the clock is set, the invariants wait for the next step.  */
#define st__job_set_state(s, ...) st__job_set_state (&fx_pre (s)->model, __VA_ARGS__)
#define st__job_evaluate(s, job) st__job_evaluate (&fx_pre (s)->model, job)
#define st__task_end(s, t, state) st__task_end (&fx_pre (s)->model, t, state)
#define st__task_release(s, t) st__task_release (&fx_pre (s)->model, t)
#define st__pending_remove(s, job) st__pending_remove (&fx_pre (s)->model, job)
#define st__mark_node(s, n) (st__mark_node (&(s)->model, n))
#define st__job_new(s, ...) st__job_new (&fx_pre (s)->model, __VA_ARGS__)
#define st__registry_find(s, ...) st__registry_find (&(s)->model, __VA_ARGS__)
/*  A submission's check: the finished dependencies' states are read first (none without a database).  */
#define st__deps_check(s, job, err) \
    (st__deps_forget_states (&(s)->model), st__deps_check (&fx_pre (s)->model, job, err))
/*  store/  */
#define st__store_connect(s, err) st__store_connect (&(s)->store, err)
#define st__store_migrate(s, err) st__store_migrate (&(s)->store, err)
#define st__store_load(s, err) fx_post_rc ((s), st__sched_load (fx_pre (s), err))
#define st__store_flush(s, err) fx_post_rc ((s), st__store_flush (&fx_pre (s)->store, err))
#define st__store_get_job(s, id, out, err) fx_get_job (s, id, out, err)
#define st__store_list_jobs(s, req, out, err) fx_list_jobs (s, req, out, err)
#define st_store_free_job(j) strata__job_info__free_unpacked (j, NULL)
#define st_store_free_list(l) strata__list_reply__free_unpacked (l, NULL)
#define st__store_save_cluster(s, ...) st__store_save_cluster (&(s)->store, __VA_ARGS__)

#endif
