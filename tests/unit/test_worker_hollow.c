/*  test_worker_hollow.c: strata-worker --hollow N, the emulated nodes.
 *
 *  Two suites:
 *    simulated_task   st__wtask_simulate on its own: no process, ends by the clock
 *                     the caller passes, by a stop, or at the time limit.
 *    hollow           the strata-worker binary ($STRATA_BIN_DIR) with --hollow N
 *                     against a ROUTER socket the test binds and that plays the
 *                     scheduler for every node at once: N registrations on N
 *                     connections, Launch -> Ack + RUNNING -> EXITED after
 *                     simulated_ms, signals, time limits, duplicate launches,
 *                     resends until acknowledged, empty logs, one node's
 *                     reconnect while the others stay, SIGTERM, and the limits.
 *  The worker's log goes to <dir>/worker.log (kept when STRATA_TEST_KEEP=1). */
#include <criterion/criterion.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "st_time.h"
#include "st_wire.h"
#include "task.h"
#include "worker_harness.h"

/*  -- simulated tasks ------------------------------------------------------ */

static st__wtask_t *
s_simulate (uint64_t job, uint64_t sim_ms, uint32_t limit_s, uint64_t now)
{
    st__wtask_spec_t spec = { .key = { .job_id = job, .index = 2, .attempt = 3 },
                              .time_limit_s = limit_s,
                              .local_rank = -1 };
    st__wtask_t *t = st__wtask_simulate (&spec, sim_ms, now);
    cr_assert_not_null (t);
    cr_assert (st__wtask_simulated (t));
    cr_assert (st__wtask_alive (t));
    const st__wtask_status_t *s = st__wtask_status (t);
    cr_assert_eq (s->state, STRATA__TASK_STATE__TASK_RUNNING);
    cr_assert_eq (s->pid, 0, "a simulated task has no process");
    cr_assert_gt (s->started_unix_ms, 0);
    cr_assert_eq (s->key.job_id, job);
    return t;
}

/*  Ends t through tick (at `at`) and reap, the way a node's pass does.  */
static const st__wtask_status_t *
s_end (st__wtask_t *t, uint64_t at)
{
    st__wtask_tick (t, at);
    cr_assert_eq (st__wtask_next_deadline (t), 0, "an ended simulated task is due for reaping");
    cr_assert_eq (st__wtask_reap (t), 1);
    cr_assert_not (st__wtask_alive (t));
    const st__wtask_status_t *s = st__wtask_status (t);
    cr_assert_eq (s->state, STRATA__TASK_STATE__TASK_EXITED);
    cr_assert_gt (s->finished_unix_ms, 0);
    return s;
}

TestSuite (simulated_task, .timeout = 10);

Test (simulated_task, exits_zero_after_its_run_time)
{
    uint64_t now = st_mono_ms ();
    st__wtask_t *t = s_simulate (1, 60000, 0, now);
    cr_assert_eq (st__wtask_next_deadline (t), now + 60000);
    st__wtask_tick (t, now + 59999);
    cr_assert_eq (st__wtask_reap (t), 0, "ended before its simulated run time");
    const st__wtask_status_t *s = s_end (t, now + 60000);
    cr_assert_eq (s->exit_code, 0);
    cr_assert_eq (s->term_signal, 0);
    cr_assert_eq (s->timed_out, 0);
    cr_assert_eq (st__wtask_reap (t), 0, "reaped once");
    st__wtask_destroy (&t);

    /*  0 ms: over at the first reap.  */
    t = s_simulate (2, 0, 0, st_mono_ms ());
    cr_assert_eq (st__wtask_reap (t), 1);
    cr_assert_eq (st__wtask_status (t)->exit_code, 0);
    st__wtask_destroy (&t);
}

Test (simulated_task, stops_end_it_at_once_as_the_signal_would)
{
    uint64_t now = st_mono_ms ();
    st__wtask_t *t = s_simulate (3, 60000, 0, now);
    st__wtask_terminate (t, 30000, now);
    cr_assert (st__wtask_stopping (t));
    const st__wtask_status_t *s = s_end (t, now);
    cr_assert_eq (s->term_signal, SIGTERM, "no grace period: nothing runs to catch SIGTERM");
    cr_assert_eq (s->timed_out, 0);
    st__wtask_destroy (&t);

    t = s_simulate (4, 60000, 0, now);
    st__wtask_kill (t);
    s = s_end (t, now);
    cr_assert_eq (s->term_signal, SIGKILL);
    st__wtask_destroy (&t);

    /*  The first end wins: a task that already exited is not killed after.  */
    t = s_simulate (5, 10, 0, now);
    st__wtask_tick (t, now + 10);
    st__wtask_kill (t);
    s = s_end (t, now + 10);
    cr_assert_eq (s->term_signal, 0);
    cr_assert_eq (s->exit_code, 0);
    st__wtask_destroy (&t);
}

Test (simulated_task, time_limit_ends_it_as_timed_out)
{
    uint64_t now = st_mono_ms ();
    st__wtask_t *t = s_simulate (6, 60000, 2, now);
    cr_assert_eq (st__wtask_next_deadline (t), now + 2000, "the limit comes before the run time");
    st__wtask_tick (t, now + 1999);
    cr_assert_eq (st__wtask_reap (t), 0);
    const st__wtask_status_t *s = s_end (t, now + 2000);
    cr_assert (s->timed_out);
    cr_assert_eq (s->term_signal, SIGTERM);
    st__wtask_destroy (&t);

    /*  A run shorter than the limit ends normally.  */
    t = s_simulate (7, 500, 2, now);
    s = s_end (t, now + 5000);
    cr_assert_not (s->timed_out);
    cr_assert_eq (s->term_signal, 0);
    st__wtask_destroy (&t);
}

/*  -- the hollow worker on the wire ---------------------------------------- */

#define S_MAX_NODES 8

/*  One emulated node as the fake scheduler sees it.  */
typedef struct {
    char name[64];
    st_peer_t peer; /*  its current connection  */
    uint64_t register_seq;
    int registers; /*  Registers seen  */
    int heartbeats;
    int muted; /*  do not answer its heartbeats  */
} node_t;

typedef struct {
    st_test_worker_t w; /*  scratch dir, router, the worker process  */
    uint64_t seq;
    node_t nodes[S_MAX_NODES];
    int nnodes;
} hollow_t;

static hollow_t h;

static void
setup (void)
{
    memset (&h, 0, sizeof h);
    st_test_worker_open (&h.w, "/tmp/strata-test-hollow-XXXXXX");
}

static void
teardown (void)
{
    st_test_worker_close (&h.w);
}

TestSuite (hollow, .init = setup, .fini = teardown, .timeout = 60);

/*  strata-worker --hollow n --node hn plus extra (NULL-terminated).  */
static void
s_start (int n, const char *const *extra)
{
    char count[16];
    snprintf (count, sizeof count, "%d", n);
    const char *argv[40] = {
        st_test_worker_bin (),
        "--hollow",
        count,
        "--node",
        "hn",
        "--scheduler",
        h.w.endpoint,
        "--state-dir",
        h.w.state_dir,
        "--pool",
        "sim",
        "--label",
        "rack=r7",
        "--cpus",
        "4",
        "--memory",
        "2G",
        "--gpus",
        "2",
        "--gpu-type",
        "sim-gpu",
        "--heartbeat-interval",
        "200ms",
        "--log-level",
        "debug",
    };
    int argc = 25;
    for (int i = 0; extra && extra[i]; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    st_test_worker_spawn (&h.w, argv);
}

static node_t *
s_node (const char *name)
{
    for (int i = 0; i < h.nnodes; i++)
        if (strcmp (h.nodes[i].name, name) == 0)
            return &h.nodes[i];
    cr_assert_fail ("no node %s registered", name);
    return NULL;
}

static node_t *
s_node_of_peer (const st_peer_t *peer)
{
    for (int i = 0; i < h.nnodes; i++)
        if (h.nodes[i].peer.id_len == peer->id_len && memcmp (h.nodes[i].peer.id, peer->id, peer->id_len) == 0)
            return &h.nodes[i];
    return NULL;
}

static uint64_t
s_send (node_t *node, Strata__Envelope *env)
{
    env->protocol_version = ST_PROTOCOL_VERSION;
    env->seq = ++h.seq;
    cr_assert_eq (st_wire_send (h.w.router, &node->peer, env), ST_OK);
    return env->seq;
}

static void
s_ack (node_t *node, uint64_t ack_seq)
{
    Strata__Envelope env;
    st_wire_envelope_init (&env, 0);
    Strata__Ack ack = STRATA__ACK__INIT;
    ack.ack_seq = ack_seq;
    env.body_case = STRATA__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    s_send (node, &env);
}

/*  The next message other than a heartbeat (answered unless the node is
 *  muted), and the node it came from; NULL after timeout_ms. A Register (re)binds
 *  its node name to the connection it came on.  */
static Strata__Envelope *
s_next (int timeout_ms, node_t **from)
{
    uint64_t until = st_mono_ms () + (uint64_t) timeout_ms;
    for (;;) {
        uint64_t now = st_mono_ms ();
        if (now >= until)
            return NULL;
        zmq_pollitem_t item = { h.w.router, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, (long) (until - now)) <= 0)
            continue;
        Strata__Envelope *env = NULL;
        st_peer_t peer;
        st_error_t err;
        cr_assert_eq (st_wire_recv (h.w.router, 1, 0, &peer, &env, &err), ST_OK, "bad message: %s", err.msg);
        node_t *node = s_node_of_peer (&peer);
        if (env->body_case == STRATA__ENVELOPE__BODY_REGISTER) {
            const char *name = env->register_->node;
            node = NULL;
            for (int i = 0; i < h.nnodes && !node; i++)
                if (strcmp (h.nodes[i].name, name) == 0)
                    node = &h.nodes[i];
            if (!node) {
                cr_assert_lt (h.nnodes, S_MAX_NODES);
                node = &h.nodes[h.nnodes++];
                snprintf (node->name, sizeof node->name, "%s", name);
            }
            node->peer = peer;
            node->register_seq = env->seq;
            node->registers++;
        }
        cr_assert_not_null (node, "%s from a connection no node registered on", st_wire_body_name (env));
        if (env->body_case == STRATA__ENVELOPE__BODY_HEARTBEAT) {
            cr_assert_str_eq (env->heartbeat->node, node->name, "a node heartbeats on its own connection");
            node->heartbeats++;
            if (!node->muted)
                s_ack (node, env->seq);
            st_wire_free (env);
            continue;
        }
        *from = node;
        return env;
    }
}

/*  Waits for a body from the named node; anything else fails the test.  */
static Strata__Envelope *
s_expect (const char *name, Strata__Envelope__BodyCase body, int timeout_ms)
{
    node_t *from = NULL;
    Strata__Envelope *env = s_next (timeout_ms, &from);
    cr_assert_not_null (env, "no %d message from %s within %d ms", (int) body, name, timeout_ms);
    cr_assert_str_eq (from->name, name, "%s came from %s", st_wire_body_name (env), from->name);
    cr_assert_eq (env->body_case, body, "expected body %d from %s, got %s", (int) body, name,
                  st_wire_body_name (env));
    return env;
}

static void
s_expect_nothing (int ms)
{
    node_t *from = NULL;
    Strata__Envelope *env = s_next (ms, &from);
    cr_assert_null (env, "unexpected %s from %s", env ? st_wire_body_name (env) : "", from ? from->name : "");
}

static void
s_reply_register (node_t *node)
{
    Strata__Envelope env;
    st_wire_envelope_init (&env, 0);
    Strata__RegisterReply rr = STRATA__REGISTER_REPLY__INIT;
    rr.accepted = 1;
    rr.error = (char *) "";
    rr.epoch = 1;
    rr.heartbeat_ms = 300;
    env.body_case = STRATA__ENVELOPE__BODY_REGISTER_REPLY;
    env.register_reply = &rr;
    env.reply_to = node->register_seq;
    s_send (node, &env);
}

/*  Starts n nodes and accepts each registration, checking what it declares.  */
static void
s_start_registered (int n, const char *const *extra)
{
    s_start (n, extra);
    for (int i = 0; i < n; i++) {
        node_t *from = NULL;
        Strata__Envelope *env = s_next (10000, &from);
        cr_assert_not_null (env, "only %d of %d nodes registered", i, n);
        cr_assert_eq (env->body_case, STRATA__ENVELOPE__BODY_REGISTER, "got %s", st_wire_body_name (env));
        const Strata__Register *reg = env->register_;
        cr_assert_eq (from->registers, 1, "%s registered twice", from->name);
        cr_assert_str_eq (reg->pool, "sim");
        cr_assert_eq (reg->capacity->cpus_milli, 4000);
        cr_assert_eq (reg->capacity->mem_mb, 2048);
        cr_assert_eq (reg->capacity->gpus, 2);
        cr_assert_str_eq (reg->gpu_type, "sim-gpu");
        cr_assert_eq (reg->n_labels, 1);
        cr_assert_str_eq (reg->labels[0]->key, "rack");
        cr_assert_str_eq (reg->labels[0]->value, "r7");
        cr_assert_eq (reg->n_tasks, 0);
        cr_assert_neq (reg->instance, 0);
        st_wire_free (env);
        s_reply_register (from);
    }
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf (name, sizeof name, "hn-%d", i);
        node_t *node = s_node (name);
        for (int j = 0; j < n; j++)
            cr_assert (node == &h.nodes[j] || node->peer.id_len != h.nodes[j].peer.id_len
                           || memcmp (node->peer.id, h.nodes[j].peer.id, node->peer.id_len) != 0,
                       "two nodes share one connection");
    }
}

static uint64_t
s_launch (const char *name, uint64_t job, uint64_t sim_ms, uint32_t limit_s, uint32_t gpus)
{
    Strata__Envelope env;
    st_wire_envelope_init (&env, 0);
    Strata__TaskRef ref = STRATA__TASK_REF__INIT;
    ref.job_id = job;
    ref.attempt = 1;
    Strata__Launch l = STRATA__LAUNCH__INIT;
    l.task = &ref;
    char *argv[] = { (char *) "/no/such/program", NULL };
    l.n_argv = 1;
    l.argv = argv;
    l.workdir = (char *) "relative/dir"; /*  a real worker refuses it; a hollow node runs nothing there  */
    l.time_limit_s = limit_s;
    l.kill_grace_ms = 30000;
    l.simulated_ms = sim_ms;
    Strata__Resources res = STRATA__RESOURCES__INIT;
    res.cpus_milli = 1000;
    res.mem_mb = 64;
    res.gpus = gpus;
    l.resources = &res;
    env.body_case = STRATA__ENVELOPE__BODY_LAUNCH;
    env.launch = &l;
    return s_send (s_node (name), &env);
}

/*  Expects name's Ack of the message we sent under seq.  */
static void
s_expect_ack (const char *name, uint64_t seq)
{
    Strata__Envelope *env = s_expect (name, STRATA__ENVELOPE__BODY_ACK, 3000);
    cr_assert_eq (env->ack->ack_seq, seq);
    st_wire_free (env);
}

/*  Expects the Ack of launch_seq, then the RUNNING update (acked when ack).
 *  Returns the update's seq.  */
static uint64_t
s_expect_running (const char *name, uint64_t launch_seq, uint64_t job, int ack)
{
    s_expect_ack (name, launch_seq);
    Strata__Envelope *env = s_expect (name, STRATA__ENVELOPE__BODY_TASK_UPDATE, 3000);
    const Strata__TaskStatus *st = env->task_update->status;
    cr_assert_eq (st->state, STRATA__TASK_STATE__TASK_RUNNING, "state %d: %s", st->state, st->message);
    cr_assert_eq (st->task->job_id, job);
    cr_assert_eq (st->pid, 0, "nothing was started");
    cr_assert_gt (st->started_unix_ms, 0);
    uint64_t seq = env->seq;
    if (ack)
        s_ack (s_node (name), seq);
    st_wire_free (env);
    return seq;
}

/*  Expects the end of job from name, acks it; the caller frees.  */
static Strata__Envelope *
s_expect_end (const char *name, uint64_t job, int timeout_ms)
{
    Strata__Envelope *env = s_expect (name, STRATA__ENVELOPE__BODY_TASK_UPDATE, timeout_ms);
    const Strata__TaskStatus *st = env->task_update->status;
    cr_assert_eq (st->task->job_id, job);
    cr_assert_eq (st->state, STRATA__TASK_STATE__TASK_EXITED, "state %d", st->state);
    cr_assert_gt (st->finished_unix_ms, 0);
    s_ack (s_node (name), env->seq);
    return env;
}

static void
s_signal (const char *name, uint64_t job, Strata__SignalKind kind)
{
    Strata__Envelope env;
    st_wire_envelope_init (&env, 0);
    Strata__TaskRef ref = STRATA__TASK_REF__INIT;
    ref.job_id = job;
    ref.attempt = 1;
    Strata__Signal sig = STRATA__SIGNAL__INIT;
    sig.task = &ref;
    sig.kind = kind;
    env.body_case = STRATA__ENVELOPE__BODY_SIGNAL;
    env.signal = &sig;
    s_expect_ack (name, s_send (s_node (name), &env));
}

/*  Number of child processes of the worker (all its threads).  */
static int
s_children (void)
{
    char path[128];
    snprintf (path, sizeof path, "/proc/%d/task", (int) h.w.pid);
    DIR *d = opendir (path);
    cr_assert_not_null (d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir (d))) {
        if (e->d_name[0] == '.')
            continue;
        char file[600], buf[256] = "";
        snprintf (file, sizeof file, "%s/%s/children", path, e->d_name);
        FILE *f = fopen (file, "r");
        if (f) {
            if (fgets (buf, sizeof buf, f) && buf[0] && buf[0] != '\n')
                n++;
            fclose (f);
        }
    }
    closedir (d);
    return n;
}

Test (hollow, registers_n_nodes_each_on_its_own_connection)
{
    s_start_registered (3, NULL);
    for (int i = 0; i < 3; i++)
        cr_assert_neq (h.nodes[i].register_seq, 0);
    /*  Every node heartbeats on its own connection (s_next checks the name).  */
    uint64_t until = st_mono_ms () + 5000;
    int all = 0;
    while (!all && st_mono_ms () < until) {
        node_t *from = NULL;
        Strata__Envelope *env = s_next (200, &from);
        cr_assert_null (env, "unexpected %s", env ? st_wire_body_name (env) : "");
        all = 1;
        for (int i = 0; i < 3; i++)
            all = all && h.nodes[i].heartbeats >= 2;
    }
    cr_assert (all, "heartbeats: %d %d %d", h.nodes[0].heartbeats, h.nodes[1].heartbeats, h.nodes[2].heartbeats);
    struct stat st;
    cr_assert_neq (stat (h.w.state_dir, &st), 0, "a hollow worker creates no state directory");
}

Test (hollow, launch_runs_for_simulated_ms_then_exits_zero)
{
    s_start_registered (3, NULL);
    uint64_t t0 = st_mono_ms ();
    uint64_t seq = s_launch ("hn-1", 41, 800, 0, 1);
    s_expect_running ("hn-1", seq, 41, 1);
    cr_assert_eq (s_children (), 0, "a hollow worker forks nothing");
    Strata__Envelope *env = s_expect_end ("hn-1", 41, 10000);
    uint64_t took = st_mono_ms () - t0;
    const Strata__TaskStatus *st = env->task_update->status;
    cr_assert_eq (st->exit_code, 0);
    cr_assert_eq (st->term_signal, 0);
    cr_assert_eq (st->timed_out, 0);
    cr_assert_eq (st->pid, 0);
    cr_assert_geq (took, 800, "ended %llu ms after the Launch, before its simulated 800 ms",
                   (unsigned long long) took);
    st_wire_free (env);

    /*  simulated_ms 0: over at once, on another node.  */
    seq = s_launch ("hn-2", 42, 0, 0, 0);
    s_expect_running ("hn-2", seq, 42, 1);
    env = s_expect_end ("hn-2", 42, 3000);
    cr_assert_eq (env->task_update->status->exit_code, 0);
    st_wire_free (env);

    /*  A log request is answered with empty data, not an error.  */
    Strata__Envelope req;
    st_wire_envelope_init (&req, 0);
    Strata__TaskRef ref = STRATA__TASK_REF__INIT;
    ref.job_id = 41;
    ref.attempt = 1;
    Strata__LogRequest lr = STRATA__LOG_REQUEST__INIT;
    lr.request_id = 9;
    lr.task = &ref;
    req.body_case = STRATA__ENVELOPE__BODY_LOG_REQUEST;
    req.log_request = &lr;
    uint64_t rseq = s_send (s_node ("hn-1"), &req);
    env = s_expect ("hn-1", STRATA__ENVELOPE__BODY_LOG_DATA, 3000);
    cr_assert_eq (env->reply_to, rseq);
    cr_assert_eq (env->log_data->request_id, 9);
    cr_assert_str_eq (env->log_data->error, "");
    cr_assert_eq (env->log_data->data.len, 0);
    cr_assert_eq (env->log_data->size, 0);
    st_wire_free (env);
    s_expect_nothing (1200);
    struct stat sb;
    cr_assert_neq (stat (h.w.state_dir, &sb), 0, "no files are written for a task");
}

Test (hollow, signals_and_time_limits_end_tasks_at_once)
{
    s_start_registered (2, NULL);
    s_expect_running ("hn-0", s_launch ("hn-0", 51, 600000, 0, 0), 51, 1);
    s_expect_running ("hn-1", s_launch ("hn-1", 52, 600000, 0, 0), 52, 1);
    s_signal ("hn-0", 51, STRATA__SIGNAL_KIND__SIGNAL_TERMINATE);
    Strata__Envelope *env = s_expect_end ("hn-0", 51, 3000);
    cr_assert_eq (env->task_update->status->term_signal, SIGTERM, "no 30 s grace: nothing catches SIGTERM");
    cr_assert_eq (env->task_update->status->timed_out, 0);
    st_wire_free (env);
    s_signal ("hn-1", 52, STRATA__SIGNAL_KIND__SIGNAL_KILL);
    env = s_expect_end ("hn-1", 52, 3000);
    cr_assert_eq (env->task_update->status->term_signal, SIGKILL);
    st_wire_free (env);

    /*  A signal for a task the node does not run is acknowledged, nothing more.  */
    s_signal ("hn-1", 51, STRATA__SIGNAL_KIND__SIGNAL_KILL);

    /*  The time limit (1 s) comes before the simulated 10 minutes.  */
    uint64_t t0 = st_mono_ms ();
    s_expect_running ("hn-1", s_launch ("hn-1", 53, 600000, 1, 0), 53, 1);
    env = s_expect_end ("hn-1", 53, 5000);
    cr_assert (env->task_update->status->timed_out);
    cr_assert_eq (env->task_update->status->term_signal, SIGTERM);
    cr_assert_geq (st_mono_ms () - t0, 1000);
    st_wire_free (env);
    s_expect_nothing (1200);
}

Test (hollow, gpus_are_counted_per_node)
{
    s_start_registered (2, NULL);
    s_expect_running ("hn-0", s_launch ("hn-0", 61, 600000, 0, 2), 61, 1);
    /*  hn-0's two GPUs are taken; hn-1 still has its own.  */
    s_expect_ack ("hn-0", s_launch ("hn-0", 62, 600000, 0, 1));
    Strata__Envelope *env = s_expect ("hn-0", STRATA__ENVELOPE__BODY_TASK_UPDATE, 3000);
    cr_assert_eq (env->task_update->status->state, STRATA__TASK_STATE__TASK_START_FAILED);
    cr_assert_not_null (strstr (env->task_update->status->message, "GPU"), "%s", env->task_update->status->message);
    s_ack (s_node ("hn-0"), env->seq);
    st_wire_free (env);
    s_expect_running ("hn-1", s_launch ("hn-1", 63, 600000, 0, 2), 63, 1);
}

Test (hollow, duplicate_launch_is_only_acknowledged)
{
    s_start_registered (2, NULL);
    s_expect_running ("hn-0", s_launch ("hn-0", 71, 600000, 0, 0), 71, 1);
    s_expect_ack ("hn-0", s_launch ("hn-0", 71, 600000, 0, 0));
    s_expect_nothing (1200);
    s_signal ("hn-0", 71, STRATA__SIGNAL_KIND__SIGNAL_KILL);
    st_wire_free (s_expect_end ("hn-0", 71, 3000));

    /*  Ended: still never started again. The other node has its own memory.  */
    s_expect_ack ("hn-0", s_launch ("hn-0", 71, 0, 0, 0));
    s_expect_nothing (1200);
    s_expect_running ("hn-1", s_launch ("hn-1", 71, 0, 0, 0), 71, 1);
    st_wire_free (s_expect_end ("hn-1", 71, 3000));
}

Test (hollow, updates_are_resent_with_the_same_seq_until_acknowledged)
{
    s_start_registered (2, NULL);
    uint64_t seq = s_launch ("hn-1", 81, 0, 0, 0);
    uint64_t running = s_expect_running ("hn-1", seq, 81, 0);
    Strata__Envelope *env = s_expect ("hn-1", STRATA__ENVELOPE__BODY_TASK_UPDATE, 3000);
    cr_assert_eq (env->task_update->status->state, STRATA__TASK_STATE__TASK_EXITED);
    uint64_t exited = env->seq;
    st_wire_free (env);
    /*  Neither is acknowledged: both come again, in order, with their seqs.  */
    for (int round = 0; round < 2; round++) {
        env = s_expect ("hn-1", STRATA__ENVELOPE__BODY_TASK_UPDATE, 3000);
        cr_assert_eq (env->seq, running);
        cr_assert_eq (env->task_update->status->state, STRATA__TASK_STATE__TASK_RUNNING);
        st_wire_free (env);
        env = s_expect ("hn-1", STRATA__ENVELOPE__BODY_TASK_UPDATE, 3000);
        cr_assert_eq (env->seq, exited);
        st_wire_free (env);
    }
    s_ack (s_node ("hn-1"), running);
    s_ack (s_node ("hn-1"), exited);
    s_expect_nothing (1500);
}

Test (hollow, a_silent_scheduler_makes_only_that_node_register_again)
{
    const char *extra[] = { "--scheduler-timeout", "1s", NULL };
    s_start_registered (3, extra);
    s_expect_running ("hn-2", s_launch ("hn-2", 91, 600000, 0, 0), 91, 1);
    node_t *n2 = s_node ("hn-2");
    st_peer_t old = n2->peer;
    n2->muted = 1;
    Strata__Envelope *env = s_expect ("hn-2", STRATA__ENVELOPE__BODY_REGISTER, 5000);
    cr_assert (old.id_len != n2->peer.id_len || memcmp (old.id, n2->peer.id, old.id_len) != 0,
               "a fresh socket, a fresh routing id");
    cr_assert_eq (env->register_->n_tasks, 1, "Register lists the task the node still runs");
    cr_assert_eq (env->register_->tasks[0]->task->job_id, 91);
    cr_assert_eq (env->register_->tasks[0]->state, STRATA__TASK_STATE__TASK_RUNNING);
    st_wire_free (env);
    n2->muted = 0;
    s_reply_register (n2);
    cr_assert_eq (s_node ("hn-0")->registers, 1, "hn-0 was answered and stayed");
    cr_assert_eq (s_node ("hn-1")->registers, 1, "hn-1 was answered and stayed");
    s_signal ("hn-2", 91, STRATA__SIGNAL_KIND__SIGNAL_KILL);
    st_wire_free (s_expect_end ("hn-2", 91, 3000));
}

Test (hollow, sigterm_ends_every_task_reports_and_exits_zero)
{
    s_start_registered (2, NULL);
    s_expect_running ("hn-0", s_launch ("hn-0", 101, 600000, 0, 0), 101, 1);
    s_expect_running ("hn-1", s_launch ("hn-1", 102, 600000, 0, 0), 102, 1);
    cr_assert_eq (kill (h.w.pid, SIGTERM), 0);
    int seen = 0;
    for (int i = 0; i < 2; i++) {
        node_t *from = NULL;
        Strata__Envelope *env = s_next (3000, &from);
        cr_assert_not_null (env, "no task end after SIGTERM");
        cr_assert_eq (env->body_case, STRATA__ENVELOPE__BODY_TASK_UPDATE);
        cr_assert_eq (env->task_update->status->term_signal, SIGTERM);
        seen |= env->task_update->status->task->job_id == 101 ? 1 : 2;
        s_ack (from, env->seq);
        st_wire_free (env);
    }
    cr_assert_eq (seen, 3);
    uint64_t until = st_mono_ms () + 4000;
    int status = 0;
    while (waitpid (h.w.pid, &status, WNOHANG) == 0) {
        cr_assert (st_mono_ms () < until, "the hollow worker did not exit");
        usleep (10000);
    }
    h.w.pid = 0;
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0, "exit status %#x", status);
}

/*  Runs the worker through sh (for ulimit) and returns its exit status; its
 *  stderr goes to out.  */
static int
s_run_sh (const char *prefix, const char *args, char *out, size_t size)
{
    char cmd[2048], errfile[400];
    snprintf (errfile, sizeof errfile, "%s/run.err", h.w.dir);
    snprintf (cmd, sizeof cmd, "%s '%s' --scheduler %s %s 2> '%s'", prefix, st_test_worker_bin (), h.w.endpoint, args,
              errfile);
    int rc = system (cmd);
    FILE *f = fopen (errfile, "r");
    size_t n = f ? fread (out, 1, size - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose (f);
    return WIFEXITED (rc) ? WEXITSTATUS (rc) : -1;
}

Test (hollow, refuses_what_it_cannot_do)
{
    char out[4096];
    /*  Capacity is declared, never detected.  */
    cr_assert_eq (s_run_sh ("", "--hollow 2 --memory 1G", out, sizeof out), 2, "%s", out);
    cr_assert_not_null (strstr (out, "--hollow needs --cpus and --memory"), "%s", out);
    /*  More nodes than descriptors: a clear error at start, not a failure later.  */
    cr_assert_eq (s_run_sh ("ulimit -n 200 &&", "--hollow 1000 --cpus 1 --memory 1G", out, sizeof out), 1, "%s", out);
    cr_assert_not_null (strstr (out, "--hollow 1000 needs about 2064 open files"), "%s", out);
    cr_assert_not_null (strstr (out, "limit is 200"), "%s", out);
}
