/*  test_worker_protocol.c: the whole worker on the wire.
 *
 *  Each test starts strata-worker ($STRATA_BIN_DIR, default /work/main/build/bin)
 *  as a real process against a ROUTER socket the test binds on a free port, and
 *  plays the scheduler: Register -> RegisterReply, Launch -> Ack + TaskUpdates,
 *  LogRequest -> LogData, Signal, silence (reconnect), SIGTERM (clean stop).
 *  The worker's log goes to <dir>/worker.log (kept when STRATA_TEST_KEEP=1). */
#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "pidfile.h"
#include "st_time.h"
#include "st_wire.h"
#include "worker_harness.h"

typedef struct {
    st_test_worker_t w;      /*  scratch dir, router, the worker process  */
    st_peer_t peer;          /*  the worker's current routing id  */
    uint64_t seq;            /*  our envelope seqs  */
    int auto_ack_heartbeats; /*  answer heartbeats while waiting  */
    int heartbeats;          /*  heartbeats seen  */
    uint64_t register_seq;   /*  seq of the latest Register, echoed in reply_to  */
} harness_t;

static harness_t h;

static void
setup (void)
{
    memset (&h, 0, sizeof h);
    st_test_worker_open (&h.w, "/tmp/strata-test-proto-XXXXXX");
    h.auto_ack_heartbeats = 1;
}

static void
teardown (void)
{
    st_test_worker_close (&h.w);
}

TestSuite (worker_protocol, .init = setup, .fini = teardown, .timeout = 60);

/*  Starts the worker with the common flags plus extra (NULL-terminated).  */
static void
s_start_worker (const char *timeout, const char *const *extra)
{
    const char *argv[40] = {
        st_test_worker_bin (),
        "--scheduler",
        h.w.endpoint,
        "--state-dir",
        h.w.state_dir,
        "--node",
        "test-node",
        "--pool",
        "test-pool",
        "--label",
        "rack=r1",
        "--cpus",
        "2",
        "--memory",
        "1G",
        "--gpus",
        "0",
        "--heartbeat-interval",
        "200ms",
        "--scheduler-timeout",
        timeout ? timeout : "3s",
        "--log-level",
        "debug",
    };
    int argc = 23;
    for (int i = 0; extra && extra[i]; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    st_test_worker_spawn (&h.w, argv);
}

/*  Receives one message within timeout_ms (NULL on timeout). Remembers the
 *  sender's routing id: a reconnected worker has a new one.  */
static Strata__Envelope *
s_recv (int timeout_ms)
{
    zmq_pollitem_t item = { h.w.router, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll (&item, 1, timeout_ms) <= 0)
        return NULL;
    Strata__Envelope *env = NULL;
    st_error_t err;
    st_rc_t rc = st_wire_recv (h.w.router, 1, 0, &h.peer, &env, &err);
    cr_assert_eq (rc, ST_OK, "bad message from the worker: %s", err.msg);
    if (env->body_case == STRATA__ENVELOPE__BODY_REGISTER)
        h.register_seq = env->seq;
    return env;
}

static uint64_t
s_send (Strata__Envelope *env)
{
    env->protocol_version = ST_PROTOCOL_VERSION;
    env->seq = ++h.seq;
    cr_assert_eq (st_wire_send (h.w.router, &h.peer, env), ST_OK);
    return env->seq;
}

static uint64_t
s_send_ack (uint64_t ack_seq, Strata__AckStatus status)
{
    Strata__Envelope env;
    st_wire_envelope_init (&env, 0);
    Strata__Ack ack = STRATA__ACK__INIT;
    ack.ack_seq = ack_seq;
    ack.status = status;
    env.body_case = STRATA__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    return s_send (&env);
}

/*  Waits for a message with the given body, answering heartbeats meanwhile
 *  (when auto_ack_heartbeats) and failing on any other message.  */
static Strata__Envelope *
s_expect (Strata__Envelope__BodyCase body, int timeout_ms)
{
    uint64_t until = st_mono_ms () + (uint64_t) timeout_ms;
    for (;;) {
        uint64_t now = st_mono_ms ();
        cr_assert (now < until, "no %d message within %d ms", (int) body, timeout_ms);
        Strata__Envelope *env = s_recv ((int) (until - now));
        if (!env)
            continue;
        if (env->body_case == body)
            return env;
        if (env->body_case == STRATA__ENVELOPE__BODY_HEARTBEAT) {
            h.heartbeats++;
            if (h.auto_ack_heartbeats)
                s_send_ack (env->seq, STRATA__ACK_STATUS__ACK_OK);
            st_wire_free (env);
            continue;
        }
        cr_assert_fail ("expected body %d, got %s", (int) body, st_wire_body_name (env));
    }
}

/*  Like s_expect, but returns NULL (instead of failing) when nothing but
 *  heartbeats arrives within timeout_ms.  */
static Strata__Envelope *
s_maybe (int timeout_ms)
{
    uint64_t until = st_mono_ms () + (uint64_t) timeout_ms;
    for (;;) {
        uint64_t now = st_mono_ms ();
        if (now >= until)
            return NULL;
        Strata__Envelope *env = s_recv ((int) (until - now));
        if (!env)
            return NULL;
        if (env->body_case != STRATA__ENVELOPE__BODY_HEARTBEAT)
            return env;
        h.heartbeats++;
        if (h.auto_ack_heartbeats)
            s_send_ack (env->seq, STRATA__ACK_STATUS__ACK_OK);
        st_wire_free (env);
    }
}

static void
s_reply_register (int accepted, const char *error)
{
    Strata__Envelope env;
    st_wire_envelope_init (&env, 0);
    Strata__RegisterReply rr = STRATA__REGISTER_REPLY__INIT;
    rr.accepted = accepted;
    rr.error = (char *) (error ? error : "");
    rr.epoch = 3;
    rr.heartbeat_ms = 250;
    env.body_case = STRATA__ENVELOPE__BODY_REGISTER_REPLY;
    env.register_reply = &rr;
    env.reply_to = h.register_seq;
    s_send (&env);
}

/*  Starts the worker and completes its registration.  */
static void
s_start_registered (const char *timeout)
{
    s_start_worker (timeout, NULL);
    Strata__Envelope *env = s_expect (STRATA__ENVELOPE__BODY_REGISTER, 10000);
    st_wire_free (env);
    s_reply_register (1, NULL);
}

static uint64_t s_launch_gpus (uint64_t job, const char *const *argv, uint32_t grace_ms, uint32_t gpus);

static uint64_t
s_launch (uint64_t job, const char *const *argv, uint32_t grace_ms)
{
    return s_launch_gpus (job, argv, grace_ms, 0);
}

static uint64_t
s_launch_gpus (uint64_t job, const char *const *argv, uint32_t grace_ms, uint32_t gpus)
{
    Strata__Envelope env;
    st_wire_envelope_init (&env, 0);
    Strata__TaskRef ref = STRATA__TASK_REF__INIT;
    ref.job_id = job;
    ref.index = 0;
    ref.attempt = 1;
    Strata__Launch l = STRATA__LAUNCH__INIT;
    l.task = &ref;
    size_t n = 0;
    while (argv[n])
        n++;
    l.n_argv = n;
    l.argv = (char **) argv;
    Strata__Launch__EnvEntry e = STRATA__LAUNCH__ENV_ENTRY__INIT;
    e.key = (char *) "STRATA_JOB_ID";
    char jobtext[32];
    snprintf (jobtext, sizeof jobtext, "%llu", (unsigned long long) job);
    e.value = jobtext;
    Strata__Launch__EnvEntry *ep = &e;
    l.n_env = 1;
    l.env = &ep;
    l.kill_grace_ms = grace_ms;
    l.world_size = 1;
    Strata__Resources res = STRATA__RESOURCES__INIT;
    res.cpus_milli = 1000;
    res.mem_mb = 64;
    res.gpus = gpus;
    l.resources = &res;
    env.body_case = STRATA__ENVELOPE__BODY_LAUNCH;
    env.launch = &l;
    return s_send (&env);
}

static void
s_signal (uint64_t job, Strata__SignalKind kind, uint32_t grace_ms)
{
    Strata__Envelope env;
    st_wire_envelope_init (&env, 0);
    Strata__TaskRef ref = STRATA__TASK_REF__INIT;
    ref.job_id = job;
    ref.attempt = 1;
    Strata__Signal sig = STRATA__SIGNAL__INIT;
    sig.task = &ref;
    sig.kind = kind;
    sig.grace_ms = grace_ms;
    env.body_case = STRATA__ENVELOPE__BODY_SIGNAL;
    env.signal = &sig;
    uint64_t seq = s_send (&env);
    Strata__Envelope *ack = s_expect (STRATA__ENVELOPE__BODY_ACK, 3000);
    cr_assert_eq (ack->ack->ack_seq, seq);
    st_wire_free (ack);
}

/*  Expects the Ack of a Launch, then its RUNNING update (acked unless told
 *  not to). Returns the task's pid.  */
static int32_t
s_expect_launched (uint64_t launch_seq, uint64_t job, int ack_running)
{
    Strata__Envelope *env = s_expect (STRATA__ENVELOPE__BODY_ACK, 3000);
    cr_assert_eq (env->ack->ack_seq, launch_seq);
    st_wire_free (env);
    env = s_expect (STRATA__ENVELOPE__BODY_TASK_UPDATE, 3000);
    const Strata__TaskStatus *st = env->task_update->status;
    cr_assert_not_null (st);
    cr_assert_eq (st->state, STRATA__TASK_STATE__TASK_RUNNING, "state %d: %s", st->state, st->message);
    cr_assert_eq (st->task->job_id, job);
    cr_assert_gt (st->pid, 0);
    cr_assert_gt (st->started_unix_ms, 0);
    int32_t pid = st->pid;
    if (ack_running)
        s_send_ack (env->seq, STRATA__ACK_STATUS__ACK_OK);
    st_wire_free (env);
    return pid;
}

/*  Expects the end of a task and acks it; the caller frees.  */
static Strata__Envelope *
s_expect_end (uint64_t job, int timeout_ms)
{
    Strata__Envelope *env = s_expect (STRATA__ENVELOPE__BODY_TASK_UPDATE, timeout_ms);
    const Strata__TaskStatus *st = env->task_update->status;
    cr_assert_eq (st->task->job_id, job);
    cr_assert_eq (st->state, STRATA__TASK_STATE__TASK_EXITED, "state %d", st->state);
    cr_assert_gt (st->finished_unix_ms, 0);
    s_send_ack (env->seq, STRATA__ACK_STATUS__ACK_OK);
    return env;
}

static Strata__Envelope *
s_log_request (uint64_t job, int is_stderr, uint64_t request_id, uint64_t *seq_out)
{
    Strata__Envelope env;
    st_wire_envelope_init (&env, 0);
    Strata__TaskRef ref = STRATA__TASK_REF__INIT;
    ref.job_id = job;
    ref.attempt = 1;
    Strata__LogRequest req = STRATA__LOG_REQUEST__INIT;
    req.request_id = request_id;
    req.task = &ref;
    req.stderr = is_stderr;
    env.body_case = STRATA__ENVELOPE__BODY_LOG_REQUEST;
    env.log_request = &req;
    *seq_out = s_send (&env);
    return s_expect (STRATA__ENVELOPE__BODY_LOG_DATA, 3000);
}

static int
s_worker_exit_status (int timeout_ms)
{
    uint64_t until = st_mono_ms () + (uint64_t) timeout_ms;
    int status = 0;
    while (waitpid (h.w.pid, &status, WNOHANG) == 0) {
        cr_assert (st_mono_ms () < until, "worker did not exit within %d ms", timeout_ms);
        usleep (10000);
    }
    h.w.pid = 0;
    return status;
}

Test (worker_protocol, register_launch_report_and_serve_logs)
{
    s_start_worker (NULL, NULL);
    Strata__Envelope *env = s_expect (STRATA__ENVELOPE__BODY_REGISTER, 10000);
    const Strata__Register *reg = env->register_;
    cr_assert_str_eq (reg->node, "test-node");
    cr_assert_str_eq (reg->pool, "test-pool");
    cr_assert_not_null (reg->capacity);
    cr_assert_eq (reg->capacity->cpus_milli, 2000);
    cr_assert_eq (reg->capacity->mem_mb, 1024);
    cr_assert_eq (reg->capacity->gpus, 0);
    cr_assert_neq (reg->instance, 0);
    cr_assert_eq (reg->n_labels, 1);
    cr_assert_str_eq (reg->labels[0]->key, "rack");
    cr_assert_str_eq (reg->labels[0]->value, "r1");
    cr_assert_eq (reg->n_tasks, 0);
    cr_assert_str_neq (reg->version, "");
    st_wire_free (env);
    s_reply_register (1, NULL);

    /*  Heartbeats follow, every 250 ms (the RegisterReply's interval).  */
    env = s_expect (STRATA__ENVELOPE__BODY_HEARTBEAT, 3000);
    cr_assert_str_eq (env->heartbeat->node, "test-node");
    cr_assert_eq (env->heartbeat->n_running, 0);
    s_send_ack (env->seq, STRATA__ACK_STATUS__ACK_OK);
    st_wire_free (env);

    const char *argv[] = { "sh", "-c", "echo hi", NULL };
    uint64_t seq = s_launch (1, argv, 0);
    s_expect_launched (seq, 1, 1);
    env = s_expect_end (1, 5000);
    cr_assert_eq (env->task_update->status->exit_code, 0);
    cr_assert_eq (env->task_update->status->term_signal, 0);
    cr_assert_eq (env->task_update->status->timed_out, 0);
    st_wire_free (env);

    uint64_t req_seq = 0;
    env = s_log_request (1, 0, 77, &req_seq);
    cr_assert_eq (env->log_data->request_id, 77);
    cr_assert_eq (env->reply_to, req_seq);
    cr_assert_str_eq (env->log_data->error, "");
    cr_assert_eq (env->log_data->data.len, 3);
    cr_assert_eq (memcmp (env->log_data->data.data, "hi\n", 3), 0);
    cr_assert_eq (env->log_data->size, 3);
    cr_assert_eq (env->log_data->offset, 0);
    st_wire_free (env);

    env = s_log_request (1, 1, 78, &req_seq);
    cr_assert_str_eq (env->log_data->error, "");
    cr_assert_eq (env->log_data->data.len, 0);
    cr_assert_eq (env->log_data->size, 0);
    st_wire_free (env);

    env = s_log_request (999, 0, 79, &req_seq);
    cr_assert_str_neq (env->log_data->error, "", "a missing log is an error, not empty data");
    st_wire_free (env);

    /*  Acknowledged updates are not sent again.  */
    env = s_maybe (1500);
    cr_assert_null (env, "unexpected %s after every update was acked", env ? st_wire_body_name (env) : "");
}

Test (worker_protocol, unacked_update_is_resent_with_the_same_seq)
{
    s_start_registered (NULL);
    const char *argv[] = { "sleep", "100", NULL };
    uint64_t seq = s_launch (2, argv, 0);
    Strata__Envelope *env = s_expect (STRATA__ENVELOPE__BODY_ACK, 3000);
    cr_assert_eq (env->ack->ack_seq, seq);
    st_wire_free (env);
    env = s_expect (STRATA__ENVELOPE__BODY_TASK_UPDATE, 3000);
    uint64_t update_seq = env->seq;
    uint64_t t0 = st_mono_ms ();
    cr_assert_eq (env->task_update->status->state, STRATA__TASK_STATE__TASK_RUNNING);
    st_wire_free (env);

    env = s_expect (STRATA__ENVELOPE__BODY_TASK_UPDATE, 3000);
    uint64_t gap = st_mono_ms () - t0;
    cr_assert_eq (env->seq, update_seq, "a resend keeps its seq");
    cr_assert_eq (env->task_update->status->state, STRATA__TASK_STATE__TASK_RUNNING);
    cr_assert_geq (gap, 800, "resent after ~1 s, not at once (%llu ms)", (unsigned long long) gap);
    cr_assert_leq (gap, 2500);
    st_wire_free (env);

    s_send_ack (update_seq, STRATA__ACK_STATUS__ACK_OK);
    env = s_maybe (1500);
    cr_assert_null (env, "resent after the ack: %s", env ? st_wire_body_name (env) : "");
}

Test (worker_protocol, signal_terminate_stops_a_sleeping_task)
{
    s_start_registered (NULL);
    const char *argv[] = { "sleep", "100", NULL };
    uint64_t seq = s_launch (3, argv, 10000);
    int32_t pid = s_expect_launched (seq, 3, 1);
    cr_assert_not (st__proc_stat (pid, NULL, NULL) != 0, "task process %d not running", pid);

    uint64_t t0 = st_mono_ms ();
    s_signal (3, STRATA__SIGNAL_KIND__SIGNAL_TERMINATE, 0);
    Strata__Envelope *env = s_expect_end (3, 5000);
    cr_assert_eq (env->task_update->status->term_signal, SIGTERM);
    cr_assert_eq (env->task_update->status->pid, pid);
    cr_assert_lt (st_mono_ms () - t0, 4000, "sleep dies on SIGTERM; no need for the 10 s grace period");
    st_wire_free (env);

    /*  A signal for a task the worker does not run is acknowledged too.  */
    s_signal (3, STRATA__SIGNAL_KIND__SIGNAL_KILL, 0);
}

Test (worker_protocol, duplicate_launch_starts_once)
{
    s_start_registered (NULL);
    const char *argv[] = { "sleep", "100", NULL };
    uint64_t seq = s_launch (4, argv, 0);
    s_expect_launched (seq, 4, 1);
    uint64_t seq2 = s_launch (4, argv, 0);
    Strata__Envelope *env = s_expect (STRATA__ENVELOPE__BODY_ACK, 3000);
    cr_assert_eq (env->ack->ack_seq, seq2);
    st_wire_free (env);

    /*  The heartbeat lists one task, and no second RUNNING update comes.  */
    h.auto_ack_heartbeats = 0;
    env = s_expect (STRATA__ENVELOPE__BODY_HEARTBEAT, 3000);
    cr_assert_eq (env->heartbeat->n_running, 1);
    cr_assert_eq (env->heartbeat->running[0]->job_id, 4);
    s_send_ack (env->seq, STRATA__ACK_STATUS__ACK_OK);
    st_wire_free (env);
    h.auto_ack_heartbeats = 1;
    env = s_maybe (1200);
    cr_assert_null (env, "unexpected %s", env ? st_wire_body_name (env) : "");

    s_signal (4, STRATA__SIGNAL_KIND__SIGNAL_KILL, 0);
    env = s_expect_end (4, 5000);
    cr_assert_eq (env->task_update->status->term_signal, SIGKILL);
    st_wire_free (env);

    /*  Even after it ended, the same attempt is never started again.  */
    uint64_t seq3 = s_launch (4, argv, 0);
    env = s_expect (STRATA__ENVELOPE__BODY_ACK, 3000);
    cr_assert_eq (env->ack->ack_seq, seq3);
    st_wire_free (env);
    env = s_maybe (1200);
    cr_assert_null (env, "unexpected %s", env ? st_wire_body_name (env) : "");
}

Test (worker_protocol, malformed_messages_are_dropped)
{
    s_start_registered (NULL);
    /*  Garbage, an empty part, a message in several parts, a wrong protocol
     *  version, a body the worker does not take, and a Launch without a task.  */
    zmq_send (h.w.router, h.peer.id, h.peer.id_len, ZMQ_SNDMORE);
    zmq_send (h.w.router, "\xff\xff\xff garbage", 12, 0);
    zmq_send (h.w.router, h.peer.id, h.peer.id_len, ZMQ_SNDMORE);
    zmq_send (h.w.router, "", 0, 0);
    zmq_send (h.w.router, h.peer.id, h.peer.id_len, ZMQ_SNDMORE);
    zmq_send (h.w.router, "a", 1, ZMQ_SNDMORE);
    zmq_send (h.w.router, "b", 1, 0);

    Strata__Envelope env;
    st_wire_envelope_init (&env, 0);
    Strata__Ack ack = STRATA__ACK__INIT;
    env.body_case = STRATA__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    env.protocol_version = 99;
    env.seq = ++h.seq;
    cr_assert_eq (st_wire_send (h.w.router, &h.peer, &env), ST_OK);

    Strata__SubmitRequest sub = STRATA__SUBMIT_REQUEST__INIT;
    st_wire_envelope_init (&env, 0);
    env.body_case = STRATA__ENVELOPE__BODY_SUBMIT;
    env.submit = &sub;
    s_send (&env);

    Strata__Launch l = STRATA__LAUNCH__INIT;
    st_wire_envelope_init (&env, 0);
    env.body_case = STRATA__ENVELOPE__BODY_LAUNCH;
    env.launch = &l;
    s_send (&env);

    /*  Still alive and well.  */
    const char *argv[] = { "true", NULL };
    uint64_t seq = s_launch (5, argv, 0);
    s_expect_launched (seq, 5, 1);
    Strata__Envelope *end = s_expect_end (5, 5000);
    cr_assert_eq (end->task_update->status->exit_code, 0);
    st_wire_free (end);
    cr_assert_eq (waitpid (h.w.pid, NULL, WNOHANG), 0, "the worker died");
}

Test (worker_protocol, start_failure_is_reported)
{
    s_start_registered (NULL);
    const char *argv[] = { "strata-no-such-program", NULL };
    uint64_t seq = s_launch (6, argv, 0);
    Strata__Envelope *env = s_expect (STRATA__ENVELOPE__BODY_ACK, 3000);
    cr_assert_eq (env->ack->ack_seq, seq);
    st_wire_free (env);
    env = s_expect (STRATA__ENVELOPE__BODY_TASK_UPDATE, 3000);
    const Strata__TaskStatus *st = env->task_update->status;
    cr_assert_eq (st->state, STRATA__TASK_STATE__TASK_START_FAILED);
    cr_assert_not_null (strstr (st->message, "strata-no-such-program"), "message: %s", st->message);
    s_send_ack (env->seq, STRATA__ACK_STATUS__ACK_OK);
    st_wire_free (env);
}

Test (worker_protocol, silence_makes_the_worker_reconnect_and_register_again)
{
    s_start_registered ("1s");
    const char *argv[] = { "sleep", "100", NULL };
    uint64_t seq = s_launch (7, argv, 0);
    int32_t pid = s_expect_launched (seq, 7, 1);
    uint8_t old_id[ST_MAX_ROUTING_ID];
    size_t old_len = h.peer.id_len;
    memcpy (old_id, h.peer.id, old_len);

    /*  Say nothing: heartbeats go unanswered until the worker gives up on us.  */
    h.auto_ack_heartbeats = 0;
    uint64_t t0 = st_mono_ms ();
    Strata__Envelope *env = s_expect (STRATA__ENVELOPE__BODY_REGISTER, 5000);
    uint64_t took = st_mono_ms () - t0;
    cr_assert_geq (took, 800, "reconnected too early (%llu ms)", (unsigned long long) took);
    cr_assert (old_len != h.peer.id_len || memcmp (old_id, h.peer.id, old_len) != 0,
               "a fresh socket has a fresh routing id");
    const Strata__Register *reg = env->register_;
    cr_assert_eq (reg->n_tasks, 1, "Register lists the running task");
    cr_assert_eq (reg->tasks[0]->task->job_id, 7);
    cr_assert_eq (reg->tasks[0]->state, STRATA__TASK_STATE__TASK_RUNNING);
    cr_assert_eq (reg->tasks[0]->pid, pid);
    st_wire_free (env);
    cr_assert_eq (st__proc_stat (pid, NULL, NULL), 0, "the task kept running");

    h.auto_ack_heartbeats = 1;
    s_reply_register (1, NULL);
    s_signal (7, STRATA__SIGNAL_KIND__SIGNAL_KILL, 0);
    env = s_expect_end (7, 5000);
    cr_assert_eq (env->task_update->status->term_signal, SIGKILL);
    st_wire_free (env);
}

Test (worker_protocol, unknown_node_ack_and_refusal_lead_to_register_again)
{
    s_start_worker (NULL, NULL);
    Strata__Envelope *env = s_expect (STRATA__ENVELOPE__BODY_REGISTER, 10000);
    st_wire_free (env);
    s_reply_register (0, "node test-node is draining");
    uint64_t t0 = st_mono_ms ();
    /*  An acceptance that answers some other Register changes nothing.  */
    uint64_t real = h.register_seq;
    h.register_seq = real + 1000;
    s_reply_register (1, NULL);
    h.register_seq = real;
    env = s_expect (STRATA__ENVELOPE__BODY_REGISTER, 5000);
    uint64_t took = st_mono_ms () - t0;
    cr_assert_geq (took, 1500, "retried after ~2 s (%llu ms)", (unsigned long long) took);
    st_wire_free (env);
    s_reply_register (1, NULL);

    h.auto_ack_heartbeats = 0;
    env = s_expect (STRATA__ENVELOPE__BODY_HEARTBEAT, 3000);
    s_send_ack (env->seq, STRATA__ACK_STATUS__ACK_UNKNOWN_NODE);
    st_wire_free (env);
    env = s_expect (STRATA__ENVELOPE__BODY_REGISTER, 3000);
    st_wire_free (env);
}

Test (worker_protocol, stale_ack_stops_the_task)
{
    s_start_registered (NULL);
    const char *argv[] = { "sleep", "100", NULL };
    uint64_t seq = s_launch (8, argv, 0);
    Strata__Envelope *env = s_expect (STRATA__ENVELOPE__BODY_ACK, 3000);
    cr_assert_eq (env->ack->ack_seq, seq);
    st_wire_free (env);
    env = s_expect (STRATA__ENVELOPE__BODY_TASK_UPDATE, 3000);
    s_send_ack (env->seq, STRATA__ACK_STATUS__ACK_STALE);
    st_wire_free (env);
    env = s_expect_end (8, 5000);
    cr_assert_eq (env->task_update->status->term_signal, SIGTERM);
    st_wire_free (env);
}

Test (worker_protocol, sigterm_stops_tasks_reports_and_exits_zero)
{
    s_start_registered (NULL);
    char childfile[400];
    snprintf (childfile, sizeof childfile, "%s/child.pid", h.w.dir);
    char script[600];
    snprintf (script, sizeof script, "sleep 100 & echo $! > '%s'; wait", childfile);
    const char *argv[] = { "sh", "-c", script, NULL };
    uint64_t seq = s_launch (9, argv, 5000);
    int32_t pid = s_expect_launched (seq, 9, 1);
    pid_t child = 0;
    for (int i = 0; i < 300 && child <= 0; i++) {
        FILE *f = fopen (childfile, "r");
        if (f) {
            if (fscanf (f, "%d", &child) != 1)
                child = 0;
            fclose (f);
        }
        if (child <= 0)
            usleep (10000);
    }
    cr_assert_gt (child, 0);

    cr_assert_eq (kill (h.w.pid, SIGTERM), 0);
    Strata__Envelope *env = s_expect_end (9, 5000);
    cr_assert_eq (env->task_update->status->term_signal, SIGTERM);
    st_wire_free (env);
    int status = s_worker_exit_status (4000);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0, "worker exit status %#x", status);
    cr_assert_neq (st__proc_stat (pid, NULL, NULL), 0, "task %d survived the worker", pid);
    uint64_t until = st_mono_ms () + 2000;
    while (st__proc_stat (child, NULL, NULL) == 0 && st_mono_ms () < until)
        usleep (10000);
    cr_assert_neq (st__proc_stat (child, NULL, NULL), 0, "grandchild %d survived the worker", child);
}

Test (worker_protocol, kill_9_of_the_worker_takes_its_tasks_along)
{
    s_start_registered (NULL);
    const char *argv[] = { "sleep", "100", NULL };
    uint64_t seq = s_launch (10, argv, 0);
    int32_t pid = s_expect_launched (seq, 10, 1);
    kill (h.w.pid, SIGKILL);
    waitpid (h.w.pid, NULL, 0);
    h.w.pid = 0;
    uint64_t until = st_mono_ms () + 2000;
    while (st__proc_stat (pid, NULL, NULL) == 0 && st_mono_ms () < until)
        usleep (10000);
    cr_assert_neq (st__proc_stat (pid, NULL, NULL), 0, "PDEATHSIG: task %d outlived a killed worker", pid);
}

Test (worker_protocol, a_second_worker_on_the_same_state_dir_is_refused)
{
    s_start_registered (NULL);
    char cmd[1200];
    snprintf (cmd, sizeof cmd, "'%s' --state-dir '%s' --scheduler %s --gpus 0 2>/dev/null", st_test_worker_bin (),
              h.w.state_dir, h.w.endpoint);
    int rc = system (cmd);
    cr_assert (WIFEXITED (rc) && WEXITSTATUS (rc) == 1, "second worker status %#x", rc);
}

/*  Reads a task's whole stdout through LogRequest.  */
static void
s_read_stdout (uint64_t job, char *buf, size_t size)
{
    uint64_t seq = 0;
    Strata__Envelope *env = s_log_request (job, 0, job, &seq);
    cr_assert_str_eq (env->log_data->error, "");
    size_t n = env->log_data->data.len < size - 1 ? env->log_data->data.len : size - 1;
    if (n > 0)
        memcpy (buf, env->log_data->data.data, n);
    buf[n] = '\0';
    st_wire_free (env);
}

/*  Waits until a task's stdout holds a full line.  */
static void
s_wait_line (uint64_t job, char *buf, size_t size)
{
    uint64_t until = st_mono_ms () + 3000;
    for (;;) {
        s_read_stdout (job, buf, size);
        if (strchr (buf, '\n'))
            return;
        cr_assert (st_mono_ms () < until, "task %llu printed nothing", (unsigned long long) job);
        usleep (20000);
    }
}

Test (worker_protocol, gpus_are_assigned_and_released)
{
    const char *extra[] = { "--gpus", "2", "--gpu-type", "test-gpu", NULL };
    s_start_worker (NULL, extra);
    Strata__Envelope *env = s_expect (STRATA__ENVELOPE__BODY_REGISTER, 10000);
    cr_assert_eq (env->register_->capacity->gpus, 2);
    cr_assert_str_eq (env->register_->gpu_type, "test-gpu");
    st_wire_free (env);
    s_reply_register (1, NULL);

    const char *argv[] = { "sh", "-c", "echo \"gpus=$CUDA_VISIBLE_DEVICES rank=$LOCAL_RANK\"; exec sleep 100", NULL };
    char out[256];
    s_expect_launched (s_launch_gpus (20, argv, 0, 1), 20, 1);
    s_wait_line (20, out, sizeof out);
    cr_assert_str_eq (out, "gpus=0 rank=0\n");
    s_expect_launched (s_launch_gpus (21, argv, 0, 1), 21, 1);
    s_wait_line (21, out, sizeof out);
    cr_assert_str_eq (out, "gpus=1 rank=0\n");

    /*  All taken: the third cannot start.  */
    uint64_t seq = s_launch_gpus (22, argv, 0, 1);
    env = s_expect (STRATA__ENVELOPE__BODY_ACK, 3000);
    cr_assert_eq (env->ack->ack_seq, seq);
    st_wire_free (env);
    env = s_expect (STRATA__ENVELOPE__BODY_TASK_UPDATE, 3000);
    cr_assert_eq (env->task_update->status->state, STRATA__TASK_STATE__TASK_START_FAILED);
    cr_assert_not_null (strstr (env->task_update->status->message, "GPU"), "%s", env->task_update->status->message);
    s_send_ack (env->seq, STRATA__ACK_STATUS__ACK_OK);
    st_wire_free (env);

    /*  The first one's GPU comes back when it ends.  */
    s_signal (20, STRATA__SIGNAL_KIND__SIGNAL_KILL, 0);
    env = s_expect_end (20, 5000);
    st_wire_free (env);
    s_expect_launched (s_launch_gpus (23, argv, 0, 1), 23, 1);
    s_wait_line (23, out, sizeof out);
    cr_assert_str_eq (out, "gpus=0 rank=0\n");
}
