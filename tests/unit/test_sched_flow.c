/*  test_sched_flow.c: flow control of Launches to a worker, on an in-memory
 *  scheduler. A node never has more Launches outstanding (sent, not yet
 *  acknowledged) than the cap its worker advertised; placed tasks beyond it
 *  wait in the node's queue and go out, in placement order, as Acks free room;
 *  a Launch is resent only while its worker is silent, with backoff.  */
#include "sched_fixture.h"

#include "st_time.h"

static st__sched_t S;

static void
setup (void)
{
    fx_init (&S);
    /*  These tests move the clock by hand, far past the fixture's node timeout.  */
    S.net.cfg.node_timeout_ms = 600000;
}
static void
teardown (void)
{
    fx_fini (&S);
}

TestSuite (sched_flow, .init = setup, .fini = teardown);

#define NJOBS 40

/*  Launches outstanding to node, counted from its tasks: must equal what the
 *  node keeps count of.  */
static uint32_t
outstanding (const st__node_t *n)
{
    uint32_t k = 0;
    for (const st__task_t *t = n->tasks; t; t = t->node_next)
        if (t->state == ST_TASK_STARTING && t->launch_seq)
            k++;
    cr_assert_eq (k, n->launches_out, "the node's count of outstanding Launches is off");
    return k;
}

static uint32_t
count_state (st__job_t **jobs, size_t n, st_task_state_t state)
{
    uint32_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += jobs[i]->tasks[0].state == state;
    return k;
}

/*  The worker's Ack of a Launch (seq), with its cap now when cap >= 0.  */
static void
ack (st__node_t *n, uint64_t seq, int64_t cap)
{
    Strata__Envelope env;
    Strata__Ack a = STRATA__ACK__INIT;
    st_wire_envelope_init (&env, 77);
    a.ack_seq = seq;
    a.status = STRATA__ACK_STATUS__ACK_OK;
    if (cap >= 0) {
        a.launch_cap_opt_case = STRATA__ACK__LAUNCH_CAP_OPT_LAUNCH_CAP;
        a.launch_cap = (uint32_t) cap;
    }
    env.body_case = STRATA__ENVELOPE__BODY_ACK;
    env.ack = &a;
    st__dispatch_worker_message (&S, st__net_peer_of (n), &env);
}

/*  A Heartbeat from node's worker advertising cap.  */
static void
heartbeat (st__node_t *n, uint32_t cap)
{
    Strata__Envelope env;
    Strata__Heartbeat hb = STRATA__HEARTBEAT__INIT;
    st_wire_envelope_init (&env, 78);
    hb.node = n->name;
    hb.instance = n->instance;
    hb.launch_cap_opt_case = STRATA__HEARTBEAT__LAUNCH_CAP_OPT_LAUNCH_CAP;
    hb.launch_cap = cap;
    env.body_case = STRATA__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    st__dispatch_worker_message (&S, st__net_peer_of (n), &env);
}

/*  Submits NJOBS one-CPU jobs, places them all on the one node and commits
 *  the placement; jobs[] in placement order.  */
static void
place_all (st__job_t **jobs)
{
    st__job_t *by_id[NJOBS];
    for (int i = 0; i < NJOBS; i++)
        by_id[i] = fx_submit (&S, "{\"command\":[\"true\"],\"resources\":{\"cpus_per_rank\":1}}");
    st__place_pending (&S);
    cr_assert_eq (S.model.nto_launch, NJOBS, "every job placed in one pass");
    for (size_t i = 0; i < S.model.nto_launch; i++)
        jobs[i] = S.model.to_launch[i]->job;
    for (int i = 0; i < NJOBS; i++)
        cr_assert_eq (by_id[i]->state, ST_JOB_SCHEDULED);
    fx_commit (&S);
}

/*  Acks the oldest outstanding Launch in placement order; returns its index.  */
static int
ack_oldest (st__node_t *n, st__job_t **jobs, int64_t cap)
{
    for (int i = 0; i < NJOBS; i++) {
        st__task_t *t = &jobs[i]->tasks[0];
        if (t->state == ST_TASK_STARTING && t->launch_seq) {
            ack (n, t->launch_seq, cap);
            cr_assert (t->launch_acked);
            return i;
        }
    }
    return -1;
}

Test (sched_flow, a_workers_cap_is_never_exceeded_and_acks_free_room_in_order)
{
    st__node_t *n = fx_node (&S, "n1", "p", 64, 65536, 0);
    heartbeat (n, 4);
    st__job_t *jobs[NJOBS];
    place_all (jobs);
    st__dispatch_send_launches (&S);
    cr_assert_eq (outstanding (n), 4, "as many Launches as the cap allows");
    cr_assert_eq (count_state (jobs, NJOBS, ST_TASK_STARTING), 4);
    cr_assert_eq (count_state (jobs, NJOBS, ST_TASK_SCHEDULED), NJOBS - 4, "the rest wait in the node's queue");
    for (int i = 0; i < 4; i++)
        cr_assert_eq (jobs[i]->tasks[0].state, ST_TASK_STARTING, "the first placed go first");
    uint32_t sent = 4;
    while (sent < NJOBS) {
        cr_assert_geq (ack_oldest (n, jobs, -1), 0);
        cr_assert_leq (outstanding (n), 4);
        sent = NJOBS - count_state (jobs, NJOBS, ST_TASK_SCHEDULED);
        /*  Placement order: every task before the newest sent one was sent too.  */
        for (uint32_t i = 0; i < sent; i++)
            cr_assert_neq (jobs[i]->tasks[0].state, ST_TASK_SCHEDULED, "launch %u sent out of order", i);
    }
    cr_assert_eq (outstanding (n), 4, "each Ack let exactly one more go");
    while (ack_oldest (n, jobs, -1) >= 0)
        ;
    cr_assert_eq (outstanding (n), 0);
    cr_assert_eq (S.model.counters.launch_resends, 0);
}

Test (sched_flow, a_worker_that_advertises_no_cap_gets_the_default)
{
    st__node_t *n = fx_node (&S, "n1", "p", 64, 65536, 0);
    st__job_t *jobs[NJOBS];
    place_all (jobs);
    st__dispatch_send_launches (&S);
    cr_assert_eq (outstanding (n), NJOBS, "the default cap (%u) lets every one go", ST__LAUNCH_CAP_DEFAULT);
    while (ack_oldest (n, jobs, -1) >= 0)
        ;
    for (int i = 0; i < NJOBS; i++)
        cr_assert_eq (jobs[i]->tasks[0].state, ST_TASK_STARTING);
}

Test (sched_flow, a_slow_worker_lowers_its_cap_and_is_fed_at_its_pace)
{
    st__node_t *n = fx_node (&S, "n1", "p", 64, 65536, 0);
    heartbeat (n, 8);
    st__job_t *jobs[NJOBS];
    place_all (jobs);
    st__dispatch_send_launches (&S);
    cr_assert_eq (outstanding (n), 8);
    /*  The worker falls behind: its Acks say 2, then nothing more.  */
    ack_oldest (n, jobs, 2);
    cr_assert_eq (outstanding (n), 7, "no room while 7 are out and the cap is 2");
    cr_assert_eq (count_state (jobs, NJOBS, ST_TASK_SCHEDULED), NJOBS - 8);
    for (int i = 0; i < 5; i++)
        ack_oldest (n, jobs, 2);
    cr_assert_eq (outstanding (n), 2);
    cr_assert_eq (count_state (jobs, NJOBS, ST_TASK_SCHEDULED), NJOBS - 8, "still full");
    ack_oldest (n, jobs, 0);
    ack_oldest (n, jobs, 0);
    cr_assert_eq (outstanding (n), 0);
    cr_assert_eq (count_state (jobs, NJOBS, ST_TASK_SCHEDULED), NJOBS - 8, "a cap of 0 stops Launches");
    /*  Nor does a tick send any: the cap holds whatever the timers do.  */
    st__dispatch_tick (&S, st_mono_ms () + 5000);
    cr_assert_eq (count_state (jobs, NJOBS, ST_TASK_SCHEDULED), NJOBS - 8);
    /*  It catches up and says so in a heartbeat.  */
    heartbeat (n, 3);
    cr_assert_eq (outstanding (n), 3);
    cr_assert_eq (count_state (jobs, NJOBS, ST_TASK_SCHEDULED), NJOBS - 11);
    /*  A cap above the maximum is held to it.  */
    heartbeat (n, 1000000);
    cr_assert_eq (n->launch_cap, ST__LAUNCH_CAP_MAX);
    cr_assert_eq (count_state (jobs, NJOBS, ST_TASK_SCHEDULED), 0);
    cr_assert_leq (outstanding (n), ST__LAUNCH_CAP_MAX);
}

Test (sched_flow, launches_of_a_cancelled_job_waiting_in_the_queue_are_never_sent)
{
    st__node_t *n = fx_node (&S, "n1", "p", 64, 65536, 0);
    heartbeat (n, 1);
    st__job_t *jobs[NJOBS];
    place_all (jobs);
    st__dispatch_send_launches (&S);
    cr_assert_eq (jobs[1]->tasks[0].state, ST_TASK_SCHEDULED);
    jobs[1]->cancel_requested = 1;
    ack_oldest (n, jobs, -1);
    cr_assert_eq (jobs[1]->tasks[0].state, ST_TASK_CANCELLED, "ended instead of sent");
    cr_assert_eq (jobs[2]->tasks[0].state, ST_TASK_STARTING, "its room went to the next one");
    cr_assert_eq (outstanding (n), 1);
}

Test (sched_flow, a_launch_is_resent_only_while_the_worker_is_silent_with_backoff)
{
    st__node_t *n = fx_node (&S, "n1", "p", 64, 65536, 0);
    st__job_t *job = fx_submit (&S, "{\"command\":[\"true\"]}");
    st__place_pending (&S);
    fx_commit (&S);
    st__dispatch_send_launches (&S);
    st__task_t *t = &job->tasks[0];
    cr_assert_eq (t->state, ST_TASK_STARTING);
    uint64_t timeout = S.net.cfg.launch_timeout_ms, sent = t->launch_sent_mono;
    /*  The worker keeps heartbeating but does not acknowledge (it is slow):
     *  no resend, however long it takes.  */
    for (uint64_t at = sent + timeout / 2; at < sent + 20 * timeout; at += timeout / 2) {
        n->last_seen_mono = at;
        st__dispatch_tick (&S, at + 1);
    }
    cr_assert_eq (S.model.counters.launch_resends, 0, "a worker that talks is never resent a Launch");
    cr_assert_eq (t->launch_sent_mono, sent);
    /*  It falls silent: one timeout after the last word, the Launch goes again.  */
    uint64_t quiet = sent + 20 * timeout;
    n->last_seen_mono = quiet;
    st__dispatch_tick (&S, quiet + timeout);
    cr_assert_eq (S.model.counters.launch_resends, 0, "not before the timeout has passed");
    st__dispatch_tick (&S, quiet + timeout + 1);
    cr_assert_eq (S.model.counters.launch_resends, 1);
    cr_assert_eq (t->launch_resends, 1);
    cr_assert_eq (outstanding (n), 1, "a resend takes the same room");
    /*  Backoff: the next resend waits twice the timeout, then four times
     *  (timed from the resend, which the real clock stamped: the node was last
     *  heard then).  */
    uint64_t r1 = t->launch_sent_mono;
    n->last_seen_mono = r1;
    st__dispatch_tick (&S, r1 + 2 * timeout);
    cr_assert_eq (S.model.counters.launch_resends, 1);
    st__dispatch_tick (&S, r1 + 2 * timeout + 1);
    cr_assert_eq (S.model.counters.launch_resends, 2);
    uint64_t r2 = t->launch_sent_mono;
    st__dispatch_tick (&S, r2 + 4 * timeout);
    cr_assert_eq (S.model.counters.launch_resends, 2);
    st__dispatch_tick (&S, r2 + 4 * timeout + 1);
    cr_assert_eq (S.model.counters.launch_resends, 3);
    /*  The worker wakes up and acknowledges the latest send: nothing is outstanding.  */
    ack (n, t->launch_seq, -1);
    cr_assert (t->launch_acked);
    cr_assert_eq (outstanding (n), 0);
    st__dispatch_tick (&S, t->launch_sent_mono + 100 * timeout);
    cr_assert_eq (S.model.counters.launch_resends, 3);
}

Test (sched_flow, outstanding_launches_are_released_with_their_tasks)
{
    st__node_t *n = fx_node (&S, "n1", "p", 64, 65536, 0);
    heartbeat (n, 4);
    st__job_t *jobs[NJOBS];
    place_all (jobs);
    st__dispatch_send_launches (&S);
    cr_assert_eq (outstanding (n), 4);
    /*  The node is lost: its tasks end, its room and queue go with them.  */
    st__dispatch_tick (&S, st_mono_ms () + S.net.cfg.node_timeout_ms + 1);
    cr_assert_eq (n->state, ST__NODE_LOST);
    cr_assert_eq (n->launches_out, 0);
    cr_assert_eq (n->launch_q_n, 0);
    cr_assert_eq (count_state (jobs, NJOBS, ST_TASK_STARTING), 0);
    cr_assert_eq (count_state (jobs, NJOBS, ST_TASK_SCHEDULED), 0);
}
