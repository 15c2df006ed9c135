/*  sched.c: strata-scheduler's event loop and entry point.
 *
 *  It runs the loop and composes the layers: net/ decodes messages into model
 *  calls, the model changes and queues what it wants done, store/ writes it,
 *  and net/ sends what depended on it. After each step the model's intents go
 *  to net/ (st__sched_after_step).
 *
 *  One pass of the loop:
 *    1. wait (up to the next timer) for messages on the worker and client
 *       sockets and, while a batch commits, for its answer on the database's;
 *    2. drain up to ST_BATCH messages from each, changing the in-memory model;
 *    3. run timers (lost nodes, launch resends, log relay deadlines) and a
 *       placement pass when something changed;
 *    4. if the batch in flight has committed, send what depended on it:
 *       submit replies, acks, signals, launches, and published events;
 *    5. if no batch is in flight, send every change since the last one as the
 *       next batch, one transaction (st__store_flush_begin), without waiting.
 *  The commit is pipelined: while batch N commits the loop keeps draining,
 *  placing and accumulating batch N+1, which is sent when N has committed. At
 *  most one batch is in flight. What depends on a batch is tagged with it
 *  (deferred replies with net.batch, events and launches by their count when
 *  it was sent) and leaves only after its COMMIT succeeded. A failed COMMIT
 *  stops the scheduler before anything of that batch or a later one left. So
 *  nothing is acknowledged before it is durable, and a crash at any point
 *  loses only unacknowledged work, which clients and workers resend. On
 *  SIGTERM the batch in flight and the rest are committed before exit. */
#include "sched.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "st_config.h"
#include "st_log.h"
#include "st_time.h"
#include "st_vec.h"

#define ST_BATCH 512
#define ST_TICK_MS 100

/*  Placement cycle durations: 0.1 ms buckets up to 200 ms, the rest in the last.  */
#define S_CYCLE_BUCKETS 2000
typedef struct {
    uint64_t counts[S_CYCLE_BUCKETS];
    uint64_t cycles;
    uint64_t max_us;
} s_cycle_stats_t;

static void
s_cycle_record (s_cycle_stats_t *c, uint64_t us)
{
    uint64_t b = us / 100;
    c->counts[b < S_CYCLE_BUCKETS ? b : S_CYCLE_BUCKETS - 1]++;
    c->cycles++;
    if (us > c->max_us)
        c->max_us = us;
}

/*  The upper edge of the bucket holding quantile q, in ms.  */
static double
s_cycle_quantile (const s_cycle_stats_t *c, double q)
{
    uint64_t rank = (uint64_t) (q * (double) c->cycles), seen = 0;
    for (size_t b = 0; b < S_CYCLE_BUCKETS; b++) {
        seen += c->counts[b];
        if (seen > rank)
            return b + 1 == S_CYCLE_BUCKETS ? c->max_us / 1000.0 : (double) (b + 1) / 10.0;
    }
    return c->max_us / 1000.0;
}

static volatile sig_atomic_t s_stop = 0;

static void
s_on_signal (int sig)
{
    (void) sig;
    s_stop = 1;
}

static void
s_count_bad (st__sched_t *s, const char *sock_name, st_rc_t rc, const st_error_t *err)
{
    if (rc == ST_ETOOBIG) {
        s->model.counters.oversized_frames++;
        st_warn ("dropped oversized frame on %s socket: %s (oversized_frames=%" PRIu64 ")", sock_name, err->msg,
                 s->model.counters.oversized_frames);
    }
    else if (rc == ST_EVERSION) {
        s->model.counters.version_mismatches++;
        st_warn ("dropped message on %s socket: %s (version_mismatches=%" PRIu64 ")", sock_name, err->msg,
                 s->model.counters.version_mismatches);
    }
    else {
        s->model.counters.bad_frames++;
        st_warn ("dropped malformed frame on %s socket: %s (bad_frames=%" PRIu64 ")", sock_name, err->msg,
                 s->model.counters.bad_frames);
    }
}

/*  Reads up to ST_BATCH messages from one socket.  */
static int
s_drain (st__sched_t *s, void *sock, int is_client)
{
    int n = 0;
    for (; n < ST_BATCH; n++) {
        st_peer_t peer;
        Strata__Envelope *env = NULL;
        st_error_t err = { 0 };
        st_rc_t rc = st_wire_recv (sock, 1, ZMQ_DONTWAIT, &peer, &env, &err);
        if (rc == ST_EAGAIN)
            break;
        st__model_clock (&s->model, st_wall_ms (), st_mono_ms ());
        if (rc != ST_OK) {
            s_count_bad (s, is_client ? "client" : "worker", rc, &err);
            if (rc == ST_EVERSION && is_client && env)
                st__client_error (&s->net, &peer, env->seq, STRATA__ERROR_CODE__ERROR_VERSION, err.msg,
                                  "use a strata CLI that matches the scheduler");
            st_wire_free (env);
            continue;
        }
        if (is_client)
            st__client_message (&s->net, &peer, env);
        else
            st__dispatch_worker_message (&s->net, &peer, env);
        st_wire_free (env);
        st__sched_after_step (s);
    }
    return n;
}

/*  keys: CURVE server keys (NULL: plaintext), connections checked in ZAP domain.  */
static void *
s_bind (st__sched_t *s, int type, const char *endpoint, const st_curve_keys_t *keys, const char *domain,
        st_error_t *err)
{
    void *sock = zmq_socket (s->net.zctx, type);
    if (!sock) {
        st_error_set (err, ST_EIO, NULL, "cannot create socket: %s", zmq_strerror (errno));
        return NULL;
    }
    st_wire_socket_defaults (sock);
    if (keys && st_curve_server (sock, keys, domain, err) != ST_OK) {
        zmq_close (sock);
        return NULL;
    }
    /*  ROUTER sockets drop replies to peers that went away (no ZMQ_ROUTER_MANDATORY):
     *  a vanished client must never block or fail the loop.  */
    if (zmq_bind (sock, endpoint) != 0) {
        st_error_set (err, ST_EIO, NULL, "cannot bind %s: %s", endpoint, zmq_strerror (errno));
        st_error_hint (err, "is another scheduler running on that address? choose another with the endpoint options");
        zmq_close (sock);
        return NULL;
    }
    return sock;
}

/*  The batch in flight (at most one): what waits for its COMMIT besides the
 *  deferred replies net/ tagged with its number.  */
typedef struct {
    int active;     /*  a batch was sent and its outcome is not yet known  */
    uint64_t id;    /*  its number (net.batch when it was sent)  */
    size_t nevents; /*  the model's first nevents events are its  */
    size_t nlaunch; /*  the first nlaunch tasks of to_launch were placed by it or before it  */
    /*  -- scratch --  */
    st__task_t **tail; /*  to_launch past nlaunch, set aside while the committed ones launch  */
    size_t ntail, cap_tail;
} s_batch_t;

/*  Frees the model's first n events (published) and keeps the rest, in order.  */
static void
s_drop_events (st__model_t *m, size_t n)
{
    if (n > m->nevents)
        n = m->nevents;
    for (size_t i = 0; i < n; i++) {
        free (m->events[i].node);
        free (m->events[i].message);
    }
    if (n) {
        memmove (m->events, m->events + n, (m->nevents - n) * sizeof *m->events);
        m->nevents -= n;
    }
}

/*  Launches the first n tasks of to_launch (committed as SCHEDULED); those
 *  placed after them wait for the batch that writes them.  */
static void
s_launch_committed (st__sched_t *s, s_batch_t *b, size_t n)
{
    st__model_t *m = &s->model;
    if (n > m->nto_launch)
        n = m->nto_launch;
    b->ntail = 0;
    for (size_t i = n; i < m->nto_launch; i++)
        if (st_vec_push ((void **) &b->tail, &b->ntail, &b->cap_tail, sizeof *b->tail, ST__SCHED_ARRAY_MAX,
                         &m->to_launch[i]))
            abort ();
    m->nto_launch = n;
    st__dispatch_send_launches (&s->net);
    /*  After whatever the launches left queued: those are older.  */
    for (size_t i = 0; i < b->ntail; i++)
        if (st_vec_push ((void **) &m->to_launch, &m->nto_launch, &m->cap_to_launch, sizeof *m->to_launch,
                         ST__SCHED_ARRAY_MAX, &b->tail[i]))
            abort ();
    b->ntail = 0;
}

/*  Batch `committed` and all before it are durable: sends what depended on
 *  them (published events, deferred replies and signals, and, with launch,
 *  the Launches of the tasks they placed), then drops the jobs they finished.  */
static void
s_release (st__sched_t *s, s_batch_t *b, uint64_t committed, size_t nevents, size_t nlaunch, int launch)
{
    st__model_t *m = &s->model;
    st__net_publish_events (&s->net, nevents);
    s_drop_events (m, nevents);
    st__net_send_deferred (&s->net, committed);
    if (!launch)
        return;
    /*  The STARTING states of these launches go in the next batch.  */
    st__model_clock (m, st_wall_ms (), st_mono_ms ());
    s_launch_committed (s, b, nlaunch);
    st__sched_after_step (s);
    st__model_forget_finished (m);
}

/*  Changes not yet in any batch (the in-flight batch's events excluded).  */
static int
s_unsent_changes (const st__model_t *m, const s_batch_t *b)
{
    return m->ndirty_jobs || m->ndirty_tasks || m->ndirty_nodes || m->nnew_versions
           || m->nevents > (b->active ? b->nevents : 0);
}

/*  The commit, pipelined: reports the batch in flight when its COMMIT is
 *  answered (and sends what waited for it), then sends the next batch if
 *  there is one. With nothing in flight and nothing to write, everything the
 *  model holds is committed: whatever waits goes out at once.  */
static st_rc_t
s_pipeline (st__sched_t *s, s_batch_t *b, st_error_t *err)
{
    st__model_t *m = &s->model;
    st_rc_t rc = ST_OK;
    if (b->active) {
        int done = 0;
        /*  A failed COMMIT stops the scheduler: nothing of this batch or the next was sent.  */
        if ((rc = st__store_flush_poll (&s->store, &done, err)) != ST_OK)
            return rc;
        if (!done)
            return ST_OK;
        b->active = 0;
        s_release (s, b, b->id, b->nevents, b->nlaunch, 1);
    }
    size_t nevents = m->nevents, nlaunch = m->nto_launch;
    int sent = 0;
    if ((rc = st__store_flush_begin (&s->store, &sent, err)) != ST_OK)
        return rc;
    if (sent) {
        b->active = 1;
        b->id = s->net.batch++;
        b->nevents = nevents;
        b->nlaunch = nlaunch;
    }
    else
        s_release (s, b, s->net.batch, m->nevents, m->nto_launch, 1);
    return ST_OK;
}

/*  Stopping: the batch in flight, then what the last passes changed, are
 *  committed, and the replies that waited for them sent.  */
static st_rc_t
s_finish (st__sched_t *s, s_batch_t *b, st_error_t *err)
{
    st__model_t *m = &s->model;
    int done = 0;
    st_rc_t rc = st__store_flush_wait (&s->store, &done, err);
    if (rc != ST_OK)
        return rc;
    if (b->active) {
        b->active = 0;
        s_release (s, b, b->id, b->nevents, b->nlaunch, 0);
    }
    if ((rc = st__store_flush (&s->store, err)) != ST_OK)
        return rc;
    s_release (s, b, s->net.batch, m->nevents, 0, 0);
    return ST_OK;
}

static st_rc_t
s_run (st__sched_t *s, s_cycle_stats_t *stats, st_error_t *err)
{
    st__model_t *m = &s->model;
    st__net_t *net = &s->net;
    st_rc_t rc = ST_OK;
    s_batch_t batch = { 0 };
    uint64_t next_tick = st_mono_ms ();
    net->batch = 1;
    /*  Placement and launches for state loaded at start-up.  */
    m->sched_needed = 1;
    while (!s_stop) {
        zmq_pollitem_t items[4] = {
            { net->worker_sock, 0, ZMQ_POLLIN, 0 },
            { net->client_sock, 0, ZMQ_POLLIN, 0 },
        };
        int nitems = 2, zap_item = -1;
        if (net->zap) {
            items[nitems] = (zmq_pollitem_t) { st_zap_socket (net->zap), 0, ZMQ_POLLIN, 0 };
            zap_item = nitems++;
        }
        /*  While a batch commits, its answer wakes the loop like a message.  */
        if (s->store.flush_state == ST__FLUSH_SENT && st__store_socket (&s->store) >= 0) {
            /*  Its readiness is read by st__store_flush_poll (s_pipeline).  */
            items[nitems++] = (zmq_pollitem_t) { NULL, st__store_socket (&s->store), ZMQ_POLLIN, 0 };
        }
        uint64_t now = st_mono_ms ();
        long wait = next_tick > now ? (long) (next_tick - now) : 0;
        if (m->sched_needed || s->store.flush_state == ST__FLUSH_ANSWERED
            || (!batch.active && s_unsent_changes (m, &batch)))
            wait = 0;
        if (zmq_poll (items, nitems, wait) < 0) {
            if (errno == EINTR)
                continue;
            rc = st_error_set (err, ST_EIO, NULL, "poll failed: %s", zmq_strerror (errno));
            goto out;
        }
        /*  Connections wait for their authentication: answer those first.  */
        if (zap_item >= 0 && (items[zap_item].revents & ZMQ_POLLIN))
            st_zap_handle (net->zap);
        /*  Worker updates first: they free resources the submits may use.  */
        if (items[0].revents & ZMQ_POLLIN)
            s_drain (s, net->worker_sock, 0);
        if (items[1].revents & ZMQ_POLLIN)
            s_drain (s, net->client_sock, 1);

        now = st_mono_ms ();
        st__model_clock (m, st_wall_ms (), now);
        if (now >= next_tick) {
            st__dispatch_tick (net, now);
            st__client_tick (net, now);
            st__runtime_tick (m, now);
            st__sched_after_step (s);
            next_tick = now + ST_TICK_MS;
        }
        uint64_t t0 = st_mono_us ();
        if (st__place_pending (m))
            s_cycle_record (stats, st_mono_us () - t0);
        st__sched_after_step (s);

        /*  The commit of the batch in flight and the sending of the next.  */
        if ((rc = s_pipeline (s, &batch, err)) != ST_OK)
            goto out;
    }
    rc = s_finish (s, &batch, err);
out:
    free (batch.tail);
    return rc;
}

/*  -- the reads net/ asks of store/ (st__net_store_t) ------------------------  */

static st_rc_t
s_get_job (void *ctx, uint64_t id, st__job_record_t **out, st_error_t *err)
{
    return st__store_get_job (ctx, id, out, err);
}

static st_rc_t
s_list_jobs (void *ctx, const char *state, const char *tenant, const char *const *tenants, size_t ntenants,
             uint32_t limit, int active_only, st__job_record_t **out, size_t *n, st_error_t *err)
{
    return st__store_list_jobs (ctx, state, tenant, tenants, ntenants, limit, active_only, out, n, err);
}

static st_rc_t
s_task_location (void *ctx, uint64_t job_id, uint32_t rank, char *node, size_t node_size, uint32_t *attempt,
                 char *job_state, size_t state_size, st_error_t *err)
{
    return st__store_task_location (ctx, job_id, rank, node, node_size, attempt, job_state, state_size, err);
}

static st_rc_t
s_dep_states (void *ctx, const st__job_t *job, st_error_t *err)
{
    return st__store_dep_states (ctx, job, err);
}

static st_rc_t
s_user_add (void *ctx, const char *name, st__role_t role, const char *const *tenants, size_t ntenants, uint64_t *id,
            uint64_t *created_unix_ms, st_error_t *err)
{
    return st__store_user_add (ctx, name, role, tenants, ntenants, id, created_unix_ms, err);
}

static st_rc_t
s_user_remove (void *ctx, uint64_t user_id, st_error_t *err)
{
    return st__store_user_remove (ctx, user_id, err);
}

static st_rc_t
s_token_add (void *ctx, uint64_t user_id, const uint8_t *hash, uint64_t expires_unix_ms, uint64_t *id,
             uint64_t *created_unix_ms, st_error_t *err)
{
    return st__store_token_add (ctx, user_id, hash, expires_unix_ms, id, created_unix_ms, err);
}

static st_rc_t
s_token_revoke (void *ctx, uint64_t token_id, st_error_t *err)
{
    return st__store_token_revoke (ctx, token_id, err);
}

int
st__sched_init (st__sched_t *s)
{
    if (st__model_init (&s->model) != 0 || st__net_init (&s->net, &s->model) != 0)
        return -1;
    s->store.m = &s->model;
    s->store.database = s->cfg.database;
    s->net.cfg.heartbeat_ms = s->cfg.heartbeat_ms;
    s->net.cfg.node_timeout_ms = s->cfg.node_timeout_ms;
    s->net.cfg.launch_timeout_ms = s->cfg.launch_timeout_ms;
    s->net.cfg.kill_grace_ms = s->cfg.kill_grace_ms;
    s->net.store = (st__net_store_t) { .ctx = &s->store,
                                       .get_job = s_get_job,
                                       .list_jobs = s_list_jobs,
                                       .task_location = s_task_location,
                                       .dep_states = s_dep_states,
                                       .user_add = s_user_add,
                                       .user_remove = s_user_remove,
                                       .token_add = s_token_add,
                                       .token_revoke = s_token_revoke };
    /*  No user is known and no socket is bound yet: what an embedded scheduler (the unit
     *  tests' fixtures) is. st__sched_identity decides for the daemon before it binds.  */
    s->net.auth.development = 1;
    return 0;
}

st_rc_t
st__sched_load (st__sched_t *s, st_error_t *err)
{
    st_rc_t rc = st__store_load (&s->store, err);
    if (rc != ST_OK)
        return rc;
    /*  Submission tokens of the last hour: net/ owns the cache.  */
    for (size_t i = 0; i < s->store.ntokens; i++)
        st__token_remember (&s->net, s->store.tokens[i].tenant, s->store.tokens[i].submitted_by,
                            s->store.tokens[i].token, s->store.tokens[i].job_id, s->store.tokens[i].ttl_ms);
    st__store_tokens_free (&s->store);
    st__sched_after_step (s);
    return ST_OK;
}

void
st__sched_after_step (st__sched_t *s)
{
    st__net_drain_intents (&s->net);
#if !defined(NDEBUG) || defined(STRATA_MODEL_CHECK)
    char why[512];
    if (st__model_check (&s->model, why, sizeof why) != 0) {
        st_error ("model invariant broken: %s", why);
        abort ();
    }
#endif
}

void
st__sched_release (st__sched_t *s)
{
    st__net_release (&s->net);
    st__model_release (&s->model);
    st__store_release (&s->store);
}

/*  Loads the keys and the allow-lists when --curve-key is given.  */
static st_rc_t
s_setup_auth (st__sched_t *s, st_curve_keys_t *keys, st_error_t *err)
{
    memset (keys, 0, sizeof *keys);
    if (!s->cfg.curve_key) {
        int local = st__sched_endpoint_local (s->cfg.worker_endpoint)
                    && st__sched_endpoint_local (s->cfg.client_endpoint)
                    && st__sched_endpoint_local (s->cfg.event_endpoint);
        st_warn ("CURVE is off: anyone who reaches the worker, client and event endpoints is trusted (see "
                 "--curve-key)%s",
                 local ? "; they are on this machine only" : "");
        return ST_OK;
    }
    st_rc_t rc = st_curve_load (s->cfg.curve_key, keys, 1, err);
    if (rc != ST_OK)
        return rc;
    if (!(s->net.zap = st_zap_new (s->net.zctx, err)))
        return err->rc;
    int nworkers = 0, nclients = 0, nservices = 0;
    if ((rc = st_zap_allow_dir (s->net.zap, "workers", s->cfg.worker_keys, &nworkers, err)) != ST_OK)
        return rc;
    size_t unbound = st_zap_without_pool (s->net.zap, "workers");
    if (unbound)
        st_warn ("%zu enrolled worker key(s) name no pool: each may register only in pool %s (write `pool = POOL` "
                 "into its .pub file, or enrol a key made by `strata keygen NODE --pool POOL`)",
                 unbound, ST_CURVE_DEFAULT_POOL);
    if (s->cfg.client_keys) {
        if ((rc = st_zap_allow_dir (s->net.zap, "clients", s->cfg.client_keys, &nclients, err)) != ST_OK)
            return rc;
    }
    else {
        st_zap_allow_any (s->net.zap, "clients");
        st_warn ("no --client-keys: any client with a CURVE key may use the client endpoint");
    }
    /*  The event socket publishes every tenant's job states: only enrolled
     *  services (a gateway) may subscribe, never end users' keys. With no
     *  --service-keys no key is enrolled in the domain: nobody.  */
    if (s->cfg.service_keys
        && (rc = st_zap_allow_dir (s->net.zap, "events", s->cfg.service_keys, &nservices, err)) != ST_OK)
        return rc;
    st_info ("CURVE on: %d enrolled worker key(s), %s", nworkers,
             s->cfg.client_keys ? "enrolled client keys only" : "any client key");
    if (s->cfg.client_keys)
        st_info ("%d enrolled client key(s)", nclients);
    st_info ("event endpoint: %d enrolled service key(s)%s", nservices,
             s->cfg.service_keys ? "" : " (no --service-keys: nobody may subscribe)");
    return ST_OK;
}

int
st__sched_endpoint_local (const char *endpoint)
{
    if (strncmp (endpoint, "ipc://", 6) == 0 || strncmp (endpoint, "inproc://", 9) == 0)
        return 1;
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return 0;
    const char *host = endpoint + 6, *colon = strrchr (host, ':');
    /*  A ';' names a source address (connect only); never ours to judge.  */
    if (!colon || strchr (host, ';'))
        return 0;
    char addr[128];
    size_t len = (size_t) (colon - host);
    if (len >= sizeof addr)
        return 0;
    memcpy (addr, host, len);
    addr[len] = '\0';
    if (strcmp (addr, "localhost") == 0 || strcmp (addr, "[::1]") == 0)
        return 1;
    struct in_addr a4;
    if (inet_pton (AF_INET, addr, &a4) == 1)
        return (ntohl (a4.s_addr) >> 24) == 127;
    return 0;
}

/*  The endpoints without CURVE: loopback by default; another address only with
 *  --insecure, which says what that exposes. Fills in the defaults (every interface with
 *  CURVE). Returns 0, or 2 after printing why (the exit status).  */
static int
s_check_endpoints (st__sched_config_t *cfg)
{
    static const char *const defaults[3][2] = {
        { "tcp://127.0.0.1:7700", "tcp://*:7700" },
        { "tcp://127.0.0.1:7701", "tcp://*:7701" },
        { "tcp://127.0.0.1:7702", "tcp://*:7702" },
    };
    static const char *const flags[3] = { "--worker-endpoint", "--client-endpoint", "--event-endpoint" };
    char **eps[3] = { &cfg->worker_endpoint, &cfg->client_endpoint, &cfg->event_endpoint };
    for (int i = 0; i < 3; i++) {
        if (!*eps[i] && !(*eps[i] = strdup (defaults[i][cfg->curve_key != NULL])))
            abort ();
        if (cfg->curve_key || st__sched_endpoint_local (*eps[i]))
            continue;
        if (!cfg->insecure) {
            fprintf (stderr,
                     "strata-scheduler: error: %s %s is not a loopback address and CURVE is off: anyone who can "
                     "reach it would be trusted, and could read the traffic\n"
                     "hint: turn CURVE on (`strata keygen scheduler`, then --curve-key scheduler.key "
                     "--worker-keys DIR; see docs/operations.md), bind 127.0.0.1, or accept the risk with "
                     "--insecure\n",
                     flags[i], *eps[i]);
            return 2;
        }
        st_warn ("--insecure: %s %s is reachable from the network without CURVE: anyone who reaches the port is "
                 "trusted (any worker may register, any client may act as the administrator) and can read "
                 "every message in clear; use only on a network you control",
                 flags[i], *eps[i]);
    }
    return 0;
}

static const st_opt_t s_opts[] = {
    { "config", 'c', ST_OPT_PATH, offsetof (st__sched_config_t, config), 0, 0, "FILE",
      "read options from a YAML or JSON file (flags win)", NULL },
    { "database", 'd', ST_OPT_STRING, offsetof (st__sched_config_t, database), 0, 0, "DSN",
      "PostgreSQL connection string (libpq)", "dbname=strata" },
    { "worker-endpoint", 0, ST_OPT_STRING, offsetof (st__sched_config_t, worker_endpoint), 0, 0, "ENDPOINT",
      "ZeroMQ endpoint workers connect to (default tcp://127.0.0.1:7700; tcp://*:7700 with --curve-key)", NULL },
    { "client-endpoint", 0, ST_OPT_STRING, offsetof (st__sched_config_t, client_endpoint), 0, 0, "ENDPOINT",
      "ZeroMQ endpoint clients (CLI, gateway) connect to (default tcp://127.0.0.1:7701; tcp://*:7701 with "
      "--curve-key)",
      NULL },
    { "event-endpoint", 0, ST_OPT_STRING, offsetof (st__sched_config_t, event_endpoint), 0, 0, "ENDPOINT",
      "ZeroMQ PUB endpoint for job events (default tcp://127.0.0.1:7702; tcp://*:7702 with --curve-key)", NULL },
    { "insecure", 0, ST_OPT_BOOL, offsetof (st__sched_config_t, insecure), 0, 0, NULL,
      "without --curve-key, allow endpoints that are not loopback (anyone who reaches them is trusted)", NULL },
    { "heartbeat-interval", 0, ST_OPT_DURATION_MS, offsetof (st__sched_config_t, heartbeat_ms), 10, 600000,
      "DURATION", "how often workers heartbeat", NULL },
    { "node-timeout", 0, ST_OPT_DURATION_MS, offsetof (st__sched_config_t, node_timeout_ms), 50, 86400000, "DURATION",
      "a node silent this long is lost and its tasks requeued", NULL },
    { "launch-timeout", 0, ST_OPT_DURATION_MS, offsetof (st__sched_config_t, launch_timeout_ms), 10, 600000,
      "DURATION", "resend a Launch a worker has not acknowledged after this long", NULL },
    { "kill-grace", 0, ST_OPT_DURATION_MS, offsetof (st__sched_config_t, kill_grace_ms), 0, 3600000, "DURATION",
      "time between SIGTERM and SIGKILL when stopping a task", NULL },
    { "log-level", 'l', ST_OPT_STRING, offsetof (st__sched_config_t, log_level), 0, 0, "LEVEL",
      "debug, info, warn or error", "info" },
    { "cluster", 0, ST_OPT_PATH, offsetof (st__sched_config_t, cluster_file), 0, 0, "FILE",
      "cluster description: pools, regions, latency, models, queues, tenants (docs/placement.md)", NULL },
    { "policy", 0, ST_OPT_STRING, offsetof (st__sched_config_t, policy), 0, 0, "NAME",
      "placement policy: default (priority, fair share, backfill, preemption), fifo, backfill or las", "default" },
    { "curve-key", 0, ST_OPT_PATH, offsetof (st__sched_config_t, curve_key), 0, 0, "FILE",
      "the scheduler's key pair (strata keygen): encrypt and authenticate the worker and client sockets", NULL },
    { "worker-keys", 0, ST_OPT_PATH, offsetof (st__sched_config_t, worker_keys), 0, 0, "DIR",
      "enrolled workers: NODE.pub files; a key may register only its own node name", NULL },
    { "client-keys", 0, ST_OPT_PATH, offsetof (st__sched_config_t, client_keys), 0, 0, "DIR",
      "enrolled clients: USER.pub files (without it, any client key is accepted)", NULL },
    { "service-keys", 0, ST_OPT_PATH, offsetof (st__sched_config_t, service_keys), 0, 0, "DIR",
      "enrolled services (a gateway): NAME.pub files, the only keys the event endpoint accepts", NULL },
    { "bootstrap-token-file", 0, ST_OPT_PATH, offsetof (st__sched_config_t, bootstrap_token_file), 0, 0, "FILE",
      "a file (mode 0600) holding the token of user admin, created if no admin exists yet", NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

int
st__sched_main (int argc, char **argv)
{
    st__sched_t sched;
    st__sched_t *s = &sched;
    memset (s, 0, sizeof *s);
    s->cfg.heartbeat_ms = 1000;
    s->cfg.node_timeout_ms = 10000;
    s->cfg.launch_timeout_ms = 5000;
    s->cfg.kill_grace_ms = 10000;
    st_error_t err = { 0 };
    int code = 1;
    st_rc_t rc = st_config_parse (s_opts, &s->cfg, argc, argv, "strata-scheduler [OPTIONS]",
                                  "The Strata scheduler: keeps every job in PostgreSQL, places tasks on the worker\n"
                                  "nodes that register with it, and serves the strata CLI.",
                                  NULL, NULL, &err);
    if (rc == ST_EAGAIN) {
        code = 0;
        goto done;
    }
    if (rc != ST_OK) {
        fprintf (stderr, "strata-scheduler: error: %s\n", err.msg);
        if (err.hint[0])
            fprintf (stderr, "hint: %s\n", err.hint);
        code = 2;
        goto done;
    }
    st_log_level_t level;
    if (st_log_level_parse (s->cfg.log_level, &level) != 0) {
        fprintf (stderr,
                 "strata-scheduler: error: --log-level: unknown level \"%s\"\nhint: use debug, info, warn or error\n",
                 s->cfg.log_level);
        code = 2;
        goto done;
    }
    st_log_init ("strata-scheduler", level);
    if (!s->cfg.curve_key != !s->cfg.worker_keys
        || ((s->cfg.client_keys || s->cfg.service_keys) && !s->cfg.curve_key)) {
        fprintf (stderr, "strata-scheduler: error: %s\nhint: %s\n",
                 s->cfg.curve_key ? "--curve-key needs --worker-keys, the folder of enrolled workers"
                                  : "--worker-keys, --client-keys and --service-keys need --curve-key",
                 "create key pairs with `strata keygen NAME`; see docs/operations.md");
        code = 2;
        goto done;
    }
    if ((code = s_check_endpoints (&s->cfg)) != 0)
        goto done;
    code = 1;

    if (st__sched_init (s) != 0)
        abort ();
    if (sp_policy_parse (s->cfg.policy, &s->model.policy) != 0 || s->model.policy == SP_POLICY_SJF) {
        fprintf (stderr,
                 "strata-scheduler: error: --policy: unknown policy \"%s\"\nhint: use default, fifo, backfill "
                 "or las (sjf needs known durations: strata-sim only)\n",
                 s->cfg.policy);
        code = 2;
        goto done;
    }
    if (s->cfg.cluster_file) {
        if (!(s->model.cluster = sp_cluster_load (s->cfg.cluster_file, &err))) {
            fprintf (stderr, "strata-scheduler: error: --cluster %s\n", err.msg);
            if (err.hint[0])
                fprintf (stderr, "hint: %s\n", err.hint);
            code = 2;
            goto done;
        }
    }
    else if (!(s->model.cluster = sp_cluster_new ()))
        abort ();
    if (!(s->model.engine = sp_engine_new (s->model.cluster)))
        abort ();

    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGINT, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);

    st__model_clock (&s->model, st_wall_ms (), st_mono_ms ());
    if ((rc = st__store_connect (&s->store, &err)) != ST_OK
        || (rc = st__store_lead (&s->store, &s_stop, &err)) != ST_OK
        || (rc = st__store_migrate (&s->store, &err)) != ST_OK
        || (s->cfg.cluster_file && (rc = st__store_save_cluster (&s->store, s->model.cluster, &err)) != ST_OK)
        || (rc = st__sched_load (s, &err)) != ST_OK || (rc = st__sched_identity (s, &err)) != ST_OK)
        goto fail;
    st_info ("placement: policy %s, %zu pool(s), %zu model family(ies)%s%s", sp_policy_name (s->model.policy),
             s->model.cluster->npools, s->model.cluster->nfamilies,
             s->cfg.cluster_file ? " from " : " (no --cluster file)", s->cfg.cluster_file ? s->cfg.cluster_file : "");

    s->net.zctx = zmq_ctx_new ();
    st_curve_keys_t keys;
    if ((rc = s_setup_auth (s, &keys, &err)) != ST_OK)
        goto fail;
    if (!(s->net.worker_sock =
              s_bind (s, ZMQ_ROUTER, s->cfg.worker_endpoint, s->net.zap ? &keys : NULL, "workers", &err))
        || !(s->net.client_sock =
                 s_bind (s, ZMQ_ROUTER, s->cfg.client_endpoint, s->net.zap ? &keys : NULL, "clients", &err))
        || !(s->net.event_sock =
                 s_bind (s, ZMQ_PUB, s->cfg.event_endpoint, s->net.zap ? &keys : NULL, "events", &err))) {
        memset (&keys, 0, sizeof keys);
        rc = err.rc;
        goto fail;
    }
    memset (&keys, 0, sizeof keys);
    st_info ("strata-scheduler %s leading: workers on %s, clients on %s, events on %s", STRATA_VERSION,
             s->cfg.worker_endpoint, s->cfg.client_endpoint, s->cfg.event_endpoint);
    s_cycle_stats_t *stats = calloc (1, sizeof *stats);
    if (!stats)
        abort ();
    rc = s_run (s, stats, &err);
    /*  Placement decision latency, one line (bench/scale reads it).  */
    st_info ("cycle_stats: cycles=%" PRIu64 " placed=%" PRIu64 " p50_ms=%.1f p99_ms=%.1f max_ms=%.1f", stats->cycles,
             s->model.counters.placed, s_cycle_quantile (stats, 0.5), s_cycle_quantile (stats, 0.99),
             stats->max_us / 1000.0);
    free (stats);
    if (rc != ST_OK)
        goto fail;
    st_info ("stopped cleanly (submits=%" PRIu64 " flushes=%" PRIu64 " bad_frames=%" PRIu64
             " foreign_replies=%" PRIu64 " oversized_reports=%" PRIu64 " oversized_frames=%" PRIu64
             " duplicate_registrations=%" PRIu64 " refused_registrations=%" PRIu64 " refused_pools=%" PRIu64
             " launch_resends=%" PRIu64 " json_failures=%" PRIu64 ")",
             s->model.counters.submits, s->model.counters.flushes, s->model.counters.bad_frames,
             s->model.counters.foreign_replies, s->model.counters.oversized_reports,
             s->model.counters.oversized_frames, s->model.counters.duplicate_registrations,
             s->model.counters.refused_registrations, s->model.counters.refused_pools,
             s->model.counters.launch_resends, s->model.counters.json_failures);
    code = 0;
    goto done;
fail:
    st_error ("%s", err.msg);
    if (err.hint[0])
        st_error ("hint: %s", err.hint);
    code = 1;
done:
    if (s->net.worker_sock)
        zmq_close (s->net.worker_sock);
    if (s->net.client_sock)
        zmq_close (s->net.client_sock);
    if (s->net.event_sock)
        zmq_close (s->net.event_sock);
    st_zap_destroy (&s->net.zap);
    if (s->net.zctx)
        zmq_ctx_term (s->net.zctx);
    st__store_close (&s->store);
    st__sched_release (s);
    st_config_free (s_opts, &s->cfg);
    return code;
}
