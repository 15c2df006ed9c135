/*  sched_fixture.h: builds an in-memory scheduler for the test_sched_* tests.
 *  No sockets: messages the model would send are packed into s->net.deferred.
 *
 *  Every step a test takes through the scheduler's entry points (a message, a
 *  tick, a placement pass, a launch round, a state change) goes through the
 *  macros at the end of this file: they set the model's clock before the step
 *  and, after it, carry out the model's intents (as the loop does) and check
 *  the model's invariants (st_model_check), failing the test when one breaks.
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
static inline st_sched_t *
fx_pre (st_sched_t *s)
{
    st_model_clock (&s->model, st_wall_ms (), st_mono_ms ());
    return s;
}

/*  After a step: the intents go to net/, then the invariants must hold.  */
static inline void
fx_post (st_sched_t *s)
{
    st_net_drain_intents (&s->net);
    char why[512];
    cr_assert_eq (st_model_check (&s->model, why, sizeof why), 0, "model invariant broken: %s", why);
}

static inline int
fx_post_i (st_sched_t *s, int rc)
{
    fx_post (s);
    return rc;
}

static inline st_rc_t
fx_post_rc (st_sched_t *s, st_rc_t rc)
{
    fx_post (s);
    return rc;
}

static inline void
fx_init (st_sched_t *s)
{
    memset (s, 0, sizeof *s);
    s->cfg.kill_grace_ms = 1000;
    s->cfg.node_timeout_ms = 1000;
    s->cfg.launch_timeout_ms = 1000;
    cr_assert_eq (st_sched_init (s), 0);
    s->model.cluster = sp_cluster_new ();
    cr_assert_not_null (s->model.cluster);
    s->model.engine = sp_engine_new (s->model.cluster);
    cr_assert_not_null (s->model.engine);
    s->model.policy = SP_POLICY_DEFAULT;
    fx_pre (s);
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
    st_map_put (s->model.nodes, n->name, strlen (n->name), n);
    st_map_put (s->net.peers, n->peer.id, n->peer.id_len, n);
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
    uint64_t before = s->model.next_job_id;
    st_client_message (&fx_pre (s)->net, &peer, &env);
    fx_post (s);
    cr_assert_eq (s->model.next_job_id, before + 1, "submit refused: %s", json);
    st_job_t *job = st_map_get_u64 (s->model.jobs, before);
    cr_assert_not_null (job);
    return job;
}

/*  What one loop pass does after a successful flush (without the database or
 *  sockets): the rows are committed, events published, deferred replies sent.  */
static inline void
fx_commit (st_sched_t *s)
{
    st_batch_committed (&s->model);
    st_model_clear_events (&s->model);
    for (size_t i = 0; i < s->net.ndeferred; i++)
        free (s->net.deferred[i].buf);
    s->net.ndeferred = 0;
    fx_post (s);
}

/*  Counts the deferred Signal messages of kind (0: any kind) addressed to peer
 *  (NULL: any peer): what the model asked workers to stop or kill.  */
static inline int
fx_count_signals_to (st_sched_t *s, int kind, const st_peer_t *peer)
{
    st_net_drain_intents (&s->net);
    int n = 0;
    for (size_t i = 0; i < s->net.ndeferred; i++) {
        const st_deferred_t *d = &s->net.deferred[i];
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
    st_sched_release (s); /*  the connection is the test's to close  */
}

/*  A job as a client reads it: store/'s record as net/ sends it.  */
static inline st_rc_t
fx_get_job (st_sched_t *s, uint64_t id, Strata__JobInfo **out, st_error_t *err)
{
    st_job_record_t *r = NULL;
    st_rc_t rc = st_store_get_job (&s->store, id, &r, err);
    *out = rc == ST_OK ? st_client_job_info (r) : NULL;
    st_job_record_free (r);
    return rc;
}

/*  A listing as a client reads it.  */
static inline st_rc_t
fx_list_jobs (st_sched_t *s, const Strata__ListRequest *req, Strata__ListReply **out, st_error_t *err)
{
    st_job_record_t *r = NULL;
    size_t n = 0;
    *out = NULL;
    const char *want = req->state ? st_wire_job_state_name (req->state) : NULL;
    st_rc_t rc = st_store_list_jobs (&s->store, want, req->tenant, req->limit, req->active_only, &r, &n, err);
    if (rc != ST_OK)
        return rc;
    Strata__ListReply *l = malloc (sizeof *l);
    cr_assert_not_null (l);
    strata__list_reply__init (l);
    l->jobs = calloc (n + 1, sizeof *l->jobs);
    cr_assert_not_null (l->jobs);
    for (size_t i = 0; i < n; i++)
        l->jobs[l->n_jobs++] = st_client_job_info (&r[i]);
    st_job_records_free (r, n);
    *out = l;
    return ST_OK;
}

/*  -- the scheduler's entry points, one step each (see the top) ----------  */

/*  net/  */
#define st_client_message(s, peer, env) (st_client_message (&fx_pre (s)->net, peer, env), fx_post (s))
#define st_client_tick(s, now) (st_client_tick (&fx_pre (s)->net, now), fx_post (s))
#define st_dispatch_worker_message(s, peer, env) \
    (st_dispatch_worker_message (&fx_pre (s)->net, peer, env), fx_post (s))
#define st_dispatch_send_launches(s) (st_dispatch_send_launches (&fx_pre (s)->net), fx_post (s))
#define st_dispatch_tick(s, now) (st_dispatch_tick (&fx_pre (s)->net, now), fx_post (s))
/*  model/  */
#define st_place_pending(s) fx_post_i ((s), st_place_pending (&fx_pre (s)->model))
/*  Parts of a step (a test may leave the model between them as no step
 *  would): the clock is set, the invariants wait for the next step.  */
#define st_job_set_state(s, ...) st_job_set_state (&fx_pre (s)->model, __VA_ARGS__)
#define st_job_evaluate(s, job) st_job_evaluate (&fx_pre (s)->model, job)
#define st_task_end(s, t, state) st_task_end (&fx_pre (s)->model, t, state)
#define st_task_release(s, t) st_task_release (&fx_pre (s)->model, t)
#define st_pending_remove(s, job) st_pending_remove (&fx_pre (s)->model, job)
#define st_mark_node(s, n) (st_mark_node (&(s)->model, n))
#define st_job_new(s, ...) st_job_new (&fx_pre (s)->model, __VA_ARGS__)
#define st_registry_find(s, ...) st_registry_find (&(s)->model, __VA_ARGS__)
/*  A submission's check: the finished dependencies' states are read first (none without a database).  */
#define st_deps_check(s, job, err) (st_deps_forget_states (&(s)->model), st_deps_check (&fx_pre (s)->model, job, err))
/*  store/  */
#define st_store_connect(s, err) st_store_connect (&(s)->store, err)
#define st_store_migrate(s, err) st_store_migrate (&(s)->store, err)
#define st_store_load(s, err) fx_post_rc ((s), st_sched_load (fx_pre (s), err))
#define st_store_flush(s, err) fx_post_rc ((s), st_store_flush (&fx_pre (s)->store, err))
#define st_store_get_job(s, id, out, err) fx_get_job (s, id, out, err)
#define st_store_list_jobs(s, req, out, err) fx_list_jobs (s, req, out, err)
#define st_store_free_job(j) strata__job_info__free_unpacked (j, NULL)
#define st_store_free_list(l) strata__list_reply__free_unpacked (l, NULL)
#define st_store_save_cluster(s, ...) st_store_save_cluster (&(s)->store, __VA_ARGS__)

#endif
