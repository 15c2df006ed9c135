/*  test_sched_model.c: the job state machine, placement and resource accounting,
 *  on an in-memory scheduler.  */
#include "sched_fixture.h"

#include "st_time.h"

static st__sched_t S;

static void
setup (void)
{
    fx_init (&S);
}
static void
teardown (void)
{
    fx_fini (&S);
}

TestSuite (sched_model, .init = setup, .fini = teardown);

/*  Sends a TaskUpdate for t as its worker would.  */
static void
report (st__task_t *t, Strata__TaskState state, int code, int sig)
{
    Strata__Envelope env;
    Strata__TaskUpdate up = STRATA__TASK_UPDATE__INIT;
    Strata__TaskStatus st = STRATA__TASK_STATUS__INIT;
    Strata__TaskRef ref = STRATA__TASK_REF__INIT;
    st_wire_envelope_init (&env, 1);
    ref.job_id = t->job->id;
    ref.index = t->index;
    ref.attempt = t->attempt;
    st.task = &ref;
    st.state = state;
    st.exit_code = code;
    st.term_signal = sig;
    st.pid = 4242;
    up.status = &st;
    env.body_case = STRATA__ENVELOPE__BODY_TASK_UPDATE;
    env.task_update = &up;
    st__dispatch_worker_message (&S, st__net_peer_of (t->node), &env);
}

static void
report_running (st__task_t *t)
{
    report (t, STRATA__TASK_STATE__TASK_RUNNING, 0, 0);
}
static void
report_exit (st__task_t *t, int code, int sig)
{
    report (t, STRATA__TASK_STATE__TASK_EXITED, code, sig);
}

Test (sched_model, transition_table_refuses_illegal_moves)
{
    st__job_t *job = fx_submit (&S, "{\"command\":[\"true\"]}");
    cr_assert_eq (st__job_set_state (&S, job, ST_JOB_RUNNING, "x"), ST_ESTATE, "PENDING -> RUNNING must be refused");
    cr_assert_eq (job->state, ST_JOB_PENDING);
    cr_assert_eq (st__job_set_state (&S, job, ST_JOB_CANCELLED, "by test"), ST_OK);
    cr_assert_eq (st__job_set_state (&S, job, ST_JOB_PENDING, "x"), ST_ESTATE, "a terminal state is final");
    cr_assert_eq (st__job_set_state (&S, job, ST_JOB_RUNNING, "x"), ST_ESTATE);
    cr_assert_str_eq (job->reason, "by test");
    /*  Two events: the submission and the move to CANCELLED (refusals write nothing).  */
    cr_assert_eq (S.model.nevents, 2);
    cr_assert_str_eq (S.model.events[0].kind, "submitted");
    cr_assert_str_eq (S.model.events[1].to_state, "CANCELLED");
}

Test (sched_model, job_runs_to_success_through_every_state)
{
    fx_node (&S, "n1", "p", 4, 4096, 0);
    st__job_t *job = fx_submit (&S, "{\"command\":[\"true\"]}");
    st__place_pending (&S);
    cr_assert_eq (job->state, ST_JOB_SCHEDULED);
    cr_assert_eq (job->attempt, 1);
    st__dispatch_send_launches (&S);
    cr_assert_eq (job->state, ST_JOB_STARTING);
    report_running (&job->tasks[0]);
    cr_assert_eq (job->state, ST_JOB_RUNNING);
    report_exit (&job->tasks[0], 0, 0);
    cr_assert_eq (job->state, ST_JOB_SUCCEEDED);
    cr_assert_eq (job->exit_code, 0);
    st__node_t *n = st_map_get (S.model.nodes, "n1", 2);
    cr_assert_eq (n->used_cpus_milli, 0, "resources are released when the task ends");
    cr_assert_eq (n->used_mem_mb, 0);
    cr_assert_eq (n->ntasks, 0);
}

Test (sched_model, failure_without_retries_is_final_with_exit_code)
{
    fx_node (&S, "n1", "p", 4, 4096, 0);
    st__job_t *job = fx_submit (&S, "{\"command\":[\"false\"]}");
    st__place_pending (&S);
    st__dispatch_send_launches (&S);
    report_exit (&job->tasks[0], 3, 0);
    cr_assert_eq (job->state, ST_JOB_FAILED);
    cr_assert_eq (job->exit_code, 3);
    cr_assert (strstr (job->reason, "exited with code 3"), "reason: %s", job->reason);
}

Test (sched_model, failure_with_retries_requeues_a_new_attempt)
{
    fx_node (&S, "n1", "p", 4, 4096, 0);
    st__job_t *job = fx_submit (&S, "{\"command\":[\"false\"],\"retries\":1}");
    st__place_pending (&S);
    st__dispatch_send_launches (&S);
    report_exit (&job->tasks[0], 1, 0);
    cr_assert_eq (job->state, ST_JOB_PENDING);
    cr_assert (strstr (job->reason, "attempt 2 of 2"), "reason: %s", job->reason);
    st__place_pending (&S);
    cr_assert_eq (job->attempt, 2);
    cr_assert_eq (job->tasks[0].attempt, 2);
    st__dispatch_send_launches (&S);
    report_exit (&job->tasks[0], 1, 0);
    cr_assert_eq (job->state, ST_JOB_FAILED, "no attempts left");
}

Test (sched_model, stale_attempt_updates_are_ignored)
{
    st__node_t *n = fx_node (&S, "n1", "p", 4, 4096, 0);
    st__job_t *job = fx_submit (&S, "{\"command\":[\"false\"],\"retries\":1}");
    st__place_pending (&S);
    st__dispatch_send_launches (&S);
    report_exit (&job->tasks[0], 1, 0);
    st__place_pending (&S);
    st__dispatch_send_launches (&S);
    cr_assert_eq (job->tasks[0].attempt, 2);
    /*  A late resend about attempt 1 must not end attempt 2.  */
    job->tasks[0].attempt = 1;
    st__task_t fake = job->tasks[0];
    job->tasks[0].attempt = 2;
    fake.node = n;
    report_exit (&fake, 0, 0);
    cr_assert_eq (job->tasks[0].state, ST_TASK_STARTING);
    cr_assert_eq (job->state, ST_JOB_STARTING);
    cr_assert_eq (S.model.counters.stale_updates, 1);
}

Test (sched_model, placement_never_overcommits_a_node)
{
    fx_node (&S, "a", "p", 2, 1000, 1);
    fx_node (&S, "b", "p", 3.5, 3000, 0);
    /*  Random jobs, placed and finished in random order; check the books after every step.  */
    srand (7);
    for (int step = 0; step < 400; step++) {
        char json[256];
        snprintf (json, sizeof json,
                  "{\"command\":[\"true\"],\"resources\":{\"ranks\":%d,\"cpus_per_rank\":%g,\"mem_per_rank\":%d,"
                  "\"gpus_per_rank\":%d}}",
                  1 + rand () % 3, (1 + rand () % 8) / 4.0, 100 + rand () % 900, rand () % 5 == 0);
        fx_submit (&S, json);
        st__place_pending (&S);
        st__dispatch_send_launches (&S);
        /*  End a random running task now and then.  */
        if (rand () % 2) {
            for (uint64_t id = 1; id < S.model.next_job_id; id++) {
                st__job_t *job = st_map_get_u64 (S.model.jobs, id);
                if (job && job->state == ST_JOB_STARTING && rand () % 3 == 0) {
                    for (uint32_t r = 0; r < job->ntasks; r++)
                        report_exit (&job->tasks[r], 0, 0);
                }
            }
        }
        const char *names[] = { "a", "b" };
        for (int k = 0; k < 2; k++) {
            st__node_t *n = st_map_get (S.model.nodes, names[k], 1);
            cr_assert_leq (n->used_cpus_milli, n->cap_cpus_milli, "node %s over-committed on CPUs", n->name);
            cr_assert_leq (n->used_mem_mb, n->cap_mem_mb, "node %s over-committed on memory", n->name);
            cr_assert_leq (n->used_gpus, n->cap_gpus, "node %s over-committed on GPUs", n->name);
            /*  The totals equal the sum over the tasks placed there.  */
            uint64_t c = 0, m = 0, g = 0;
            uint32_t cnt = 0;
            for (st__task_t *t = n->tasks; t; t = t->node_next, cnt++) {
                c += t->job->spec->cpus_milli;
                m += t->job->spec->mem_mb;
                g += t->job->spec->gpus;
            }
            cr_assert_eq (c, n->used_cpus_milli);
            cr_assert_eq (m, n->used_mem_mb);
            cr_assert_eq (g, n->used_gpus);
            cr_assert_eq (cnt, n->ntasks);
        }
        fx_commit (&S);
        for (size_t i = 0; i < S.model.nfinished; i++) {
            st_map_remove_u64 (S.model.jobs, S.model.finished[i]->id);
            st__job_free (S.model.finished[i]);
        }
        S.model.nfinished = 0;
    }
}

Test (sched_model, gang_starts_all_ranks_or_none)
{
    st__node_t *a = fx_node (&S, "a", "p", 2, 4096, 0);
    st__node_t *b = fx_node (&S, "b", "p", 2, 4096, 0);
    st__job_t *big = fx_submit (&S, "{\"command\":[\"true\"],\"resources\":{\"ranks\":3,\"cpus_per_rank\":2}}");
    st__place_pending (&S);
    cr_assert_eq (big->state, ST_JOB_PENDING);
    cr_assert_eq (a->used_cpus_milli + b->used_cpus_milli, 0, "a gang that does not fit holds nothing");
    cr_assert (strstr (big->reason, "room for 2"), "reason: %s", big->reason);
    st__job_t *two = fx_submit (&S, "{\"command\":[\"true\"],\"resources\":{\"ranks\":2,\"cpus_per_rank\":2}}");
    st__place_pending (&S);
    cr_assert_eq (two->state, ST_JOB_SCHEDULED);
    cr_assert_neq (two->tasks[0].node, two->tasks[1].node);
    cr_assert_eq (big->state, ST_JOB_PENDING);
}

Test (sched_model, pool_and_labels_restrict_placement)
{
    fx_node (&S, "edge1", "edge", 4, 4096, 0);
    st__node_t *g = fx_node (&S, "gpu1", "onprem", 4, 4096, 0);
    st_kv_add (&g->labels, "rack", "r1");
    st__job_t *j1 = fx_submit (&S, "{\"command\":[\"true\"],\"placement\":{\"pool\":\"onprem\"}}");
    st__job_t *j2 = fx_submit (&S, "{\"command\":[\"true\"],\"placement\":{\"labels\":{\"rack\":\"r1\"}}}");
    st__job_t *j3 = fx_submit (&S, "{\"command\":[\"true\"],\"placement\":{\"pool\":\"cloud\"}}");
    st__place_pending (&S);
    cr_assert_eq (j1->tasks[0].node, g);
    cr_assert_eq (j2->tasks[0].node, g);
    cr_assert_eq (j3->state, ST_JOB_PENDING);
    cr_assert (strstr (j3->reason, "asks for pool cloud"), "reason: %s", j3->reason);
}

Test (sched_model, higher_priority_goes_first)
{
    fx_node (&S, "n", "p", 1, 4096, 0);
    st__job_t *low = fx_submit (&S, "{\"command\":[\"true\"],\"priority\":-5}");
    st__job_t *high = fx_submit (&S, "{\"command\":[\"true\"],\"priority\":10}");
    st__place_pending (&S);
    cr_assert_eq (high->state, ST_JOB_SCHEDULED);
    cr_assert_eq (low->state, ST_JOB_PENDING);
    cr_assert (strstr (low->reason, "waiting: needs 1 CPU"), "reason: %s", low->reason);
}

Test (sched_model, a_failed_rank_stops_the_gang)
{
    fx_node (&S, "a", "p", 1, 4096, 0);
    fx_node (&S, "b", "p", 1, 4096, 0);
    st__job_t *job = fx_submit (&S, "{\"command\":[\"true\"],\"resources\":{\"ranks\":2}}");
    st__place_pending (&S);
    st__dispatch_send_launches (&S);
    report_running (&job->tasks[0]);
    report_running (&job->tasks[1]);
    cr_assert_eq (job->state, ST_JOB_RUNNING);
    fx_commit (&S);
    report_exit (&job->tasks[0], 2, 0);
    cr_assert_eq (job->state, ST_JOB_RUNNING, "the job waits for its other rank to stop");
    cr_assert_eq (fx_count_signals (&S), 1, "the other rank is told to stop");
    report_exit (&job->tasks[1], 0, 15);
    cr_assert_eq (job->state, ST_JOB_FAILED);
    cr_assert_eq (job->exit_code, 2, "the first failure is the job's exit code");
    cr_assert (strstr (job->reason, "rank 0 exited with code 2"), "reason: %s", job->reason);
}

Test (sched_model, lost_node_requeues_while_attempts_remain)
{
    st__node_t *a = fx_node (&S, "a", "p", 1, 4096, 0);
    fx_node (&S, "b", "p", 1, 4096, 0);
    st__job_t *job = fx_submit (&S, "{\"command\":[\"sleep\",\"9\"],\"retries\":1}");
    st__place_pending (&S);
    st__dispatch_send_launches (&S);
    cr_assert_eq (job->tasks[0].node, a);
    report_running (&job->tasks[0]);
    /*  The node stops heartbeating.  */
    a->last_seen_mono = st_mono_ms () - 5000;
    st__dispatch_tick (&S, st_mono_ms ());
    cr_assert_eq (a->state, ST__NODE_LOST);
    cr_assert_eq (a->used_cpus_milli, 0);
    cr_assert_eq (job->state, ST_JOB_PENDING);
    cr_assert (strstr (job->reason, "node a stopped heartbeating"), "reason: %s", job->reason);
    st__place_pending (&S);
    cr_assert_eq (job->attempt, 2);
    cr_assert_str_eq (job->tasks[0].node->name, "b");
}

Test (sched_model, cancel_of_a_pending_job_is_immediate)
{
    st__job_t *job = fx_submit (&S, "{\"command\":[\"true\"]}");
    st__place_pending (&S);
    Strata__Envelope env;
    Strata__CancelRequest c = STRATA__CANCEL_REQUEST__INIT;
    st_wire_envelope_init (&env, 9);
    c.job_id = job->id;
    env.body_case = STRATA__ENVELOPE__BODY_CANCEL;
    env.cancel = &c;
    st_peer_t peer = { .id_len = 1 };
    st__client_message (&S, &peer, &env);
    cr_assert_eq (job->state, ST_JOB_CANCELLED);
    cr_assert_eq (S.model.npending, 0);
}

static void
cancel (uint64_t id)
{
    Strata__Envelope env;
    Strata__CancelRequest c = STRATA__CANCEL_REQUEST__INIT;
    st_wire_envelope_init (&env, 9);
    c.job_id = id;
    env.body_case = STRATA__ENVELOPE__BODY_CANCEL;
    env.cancel = &c;
    st_peer_t peer = { .id_len = 1 };
    st__client_message (&S, &peer, &env);
}

Test (sched_model, a_cancelled_job_is_never_launched_again)
{
    st__node_t *n = fx_node (&S, "n1", "p", 4, 4096, 0);
    st__job_t *job = fx_submit (&S, "{\"command\":[\"sleep\",\"60\"]}");
    st__place_pending (&S);
    st__dispatch_send_launches (&S);
    st__task_t *t = &job->tasks[0];
    cr_assert_eq (t->state, ST_TASK_STARTING);
    cr_assert_not (t->launch_acked);
    cancel (job->id);
    cr_assert_eq (job->state, ST_JOB_STARTING, "the Launch may have arrived: wait for the worker");
    fx_commit (&S);
    /*  The worker never acknowledges the Launch. Where the launch timer would resend it,
     *  the cancelled task ends instead.  */
    t->launch_sent_mono = st_mono_ms () - 10000;
    st__dispatch_tick (&S, st_mono_ms ());
    cr_assert_eq (t->state, ST_TASK_CANCELLED);
    cr_assert_eq (job->state, ST_JOB_CANCELLED);
    cr_assert_eq (n->used_cpus_milli, 0);
    /*  The Launch did arrive after all and the worker reports the process: it is killed.  */
    report_running (t);
    cr_assert_eq (fx_count_signals_to (&S, STRATA__SIGNAL_KIND__SIGNAL_KILL, st__net_peer_of (n)), 1);
    cr_assert_eq (job->state, ST_JOB_CANCELLED);
}

Test (sched_model, heartbeats_naming_ended_tasks_get_them_killed)
{
    st__node_t *n = fx_node (&S, "n1", "p", 4, 4096, 0);
    st__job_t *job = fx_submit (&S, "{\"command\":[\"true\"]}");
    st__place_pending (&S);
    st__dispatch_send_launches (&S);
    report_running (&job->tasks[0]);
    report_exit (&job->tasks[0], 0, 0);
    cr_assert_eq (job->state, ST_JOB_SUCCEEDED);
    fx_commit (&S);
    Strata__Envelope env;
    Strata__Heartbeat hb = STRATA__HEARTBEAT__INIT;
    Strata__TaskRef ref = STRATA__TASK_REF__INIT, ref_other = STRATA__TASK_REF__INIT;
    Strata__TaskRef *running[] = { &ref, &ref_other };
    ref.job_id = job->id;
    ref.index = 0;
    ref.attempt = 1;
    ref_other.job_id = 999;
    ref_other.attempt = 1;
    hb.node = "n1";
    hb.n_running = 2;
    hb.running = running;
    st_wire_envelope_init (&env, 3);
    env.body_case = STRATA__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    st__dispatch_worker_message (&S, st__net_peer_of (n), &env);
    cr_assert_eq (fx_count_signals_to (&S, STRATA__SIGNAL_KIND__SIGNAL_KILL, st__net_peer_of (n)), 2,
                  "an ended task and an unknown one are both killed");
}

Test (sched_model, stops_reach_a_node_that_was_away)
{
    st__node_t *a = fx_node (&S, "a", "p", 1, 4096, 0);
    st__node_t *b = fx_node (&S, "b", "p", 1, 4096, 0);
    st__job_t *job = fx_submit (&S, "{\"command\":[\"sleep\",\"60\"],\"resources\":{\"ranks\":2}}");
    st__place_pending (&S);
    st__dispatch_send_launches (&S);
    report_running (&job->tasks[0]);
    report_running (&job->tasks[1]);
    cr_assert_eq (job->tasks[1].node, b);
    fx_commit (&S);
    /*  b's connection drops (not yet timed out), then rank 0 on a fails.  */
    b->connected = 0;
    report_exit (&job->tasks[0], 1, 0);
    cr_assert (job->stopping);
    cr_assert_eq (fx_count_signals_to (&S, STRATA__SIGNAL_KIND__SIGNAL_TERMINATE, NULL), 0,
                  "nothing can reach b now");
    fx_commit (&S);
    /*  b registers again (same worker process) and still runs rank 1.  */
    Strata__Envelope env;
    Strata__Register reg = STRATA__REGISTER__INIT;
    Strata__Resources cap = STRATA__RESOURCES__INIT;
    Strata__TaskStatus st = STRATA__TASK_STATUS__INIT;
    Strata__TaskRef ref = STRATA__TASK_REF__INIT;
    Strata__TaskStatus *tasks[] = { &st };
    cap.cpus_milli = 1000;
    cap.mem_mb = 4096;
    ref.job_id = job->id;
    ref.index = 1;
    ref.attempt = 1;
    st.task = &ref;
    st.state = STRATA__TASK_STATE__TASK_RUNNING;
    st.pid = 777;
    reg.node = "b";
    reg.pool = "p";
    reg.capacity = &cap;
    reg.instance = b->instance;
    reg.n_tasks = 1;
    reg.tasks = tasks;
    st_wire_envelope_init (&env, 4);
    env.body_case = STRATA__ENVELOPE__BODY_REGISTER;
    env.register_ = &reg;
    st__dispatch_worker_message (&S, st__net_peer_of (b), &env);
    cr_assert (b->connected);
    cr_assert_eq (fx_count_signals_to (&S, STRATA__SIGNAL_KIND__SIGNAL_TERMINATE, st__net_peer_of (b)), 1,
                  "the stop decided while b was away is sent when it returns");
    (void) a;
    report_exit (&job->tasks[1], 0, 15);
    cr_assert_eq (job->state, ST_JOB_FAILED);
}

/*  Submits with a token as tenant's client; returns the job id in the (deferred) reply.  */
static uint64_t
submit_with_token (const char *json, const char *token)
{
    Strata__Envelope env;
    Strata__SubmitRequest sub = STRATA__SUBMIT_REQUEST__INIT;
    st_wire_envelope_init (&env, 5);
    sub.spec_json = (char *) json;
    sub.client_token = (char *) token;
    env.body_case = STRATA__ENVELOPE__BODY_SUBMIT;
    env.submit = &sub;
    st_peer_t peer = { .id = "c", .id_len = 1 };
    size_t before = S.net.ndeferred;
    st__client_message (&S, &peer, &env);
    /*  Refusals are answered at once (nothing to commit); acceptances after the batch.  */
    if (S.net.ndeferred == before)
        return 0;
    cr_assert_eq (S.net.ndeferred, before + 1, "one reply per submit");
    Strata__Envelope *rep = strata__envelope__unpack (NULL, S.net.deferred[before].len, S.net.deferred[before].buf);
    cr_assert_not_null (rep);
    uint64_t id = 0;
    if (rep->body_case == STRATA__ENVELOPE__BODY_SUBMIT_REPLY)
        id = rep->submit_reply->job_id;
    strata__envelope__free_unpacked (rep, NULL);
    return id;
}

Test (sched_model, a_resent_submission_gets_the_same_job)
{
    uint64_t a = submit_with_token ("{\"command\":[\"true\"]}", "tok-1");
    uint64_t b = submit_with_token ("{\"command\":[\"true\"]}", "tok-1");
    cr_assert_neq (a, 0);
    cr_assert_eq (a, b, "the resend is answered with the first job");
    cr_assert_eq (st_map_size (S.model.jobs), 1, "and makes no second job");
    uint64_t c = submit_with_token ("{\"command\":[\"true\"],\"tenant\":\"other\"}", "tok-1");
    cr_assert_neq (c, a, "tokens are per tenant");
    uint64_t d = submit_with_token ("{\"command\":[\"true\"]}", "tok-2");
    cr_assert_neq (d, a);
    cr_assert_eq (st_map_size (S.model.jobs), 3);
    cr_assert_eq (submit_with_token ("{\"command\":[\"true\"]}", "bad token!"), 0, "a malformed token is refused");
    cr_assert_eq (st_map_size (S.model.jobs), 3);
}

/*  The engine picks a preemptible low-priority job for a high-priority gang:
 *  the victim is told to stop, ends PREEMPTED -> PENDING without using its
 *  only attempt, and the gang starts once the victim's resources are free.  */
Test (sched_model, preemption_stops_the_victim_and_requeues_it)
{
    fx_node (&S, "a", "p", 1, 4096, 0);
    fx_node (&S, "b", "p", 1, 4096, 0);
    st__job_t *low = fx_submit (&S, "{\"command\":[\"sleep\",\"60\"],\"preemptible\":true,\"priority\":-5}");
    st__job_t *keep = fx_submit (&S, "{\"command\":[\"sleep\",\"60\"],\"priority\":-5}");
    st__place_pending (&S);
    st__dispatch_send_launches (&S);
    report_running (&low->tasks[0]);
    report_running (&keep->tasks[0]);
    fx_commit (&S);

    /*  Both nodes are held; only one of the holders may be preempted: not enough.  */
    st__job_t *high = fx_submit (&S, "{\"command\":[\"true\"],\"priority\":50,\"resources\":{\"ranks\":2}}");
    st__place_pending (&S);
    cr_assert_eq (high->state, ST_JOB_PENDING);
    cr_assert_eq (low->preempt_requested, 0, "no victim when preempting it would not be enough");
    cr_assert_eq (fx_count_signals (&S), 0);

    /*  The non-preemptible job ends: now stopping the low one is enough.  */
    report_exit (&keep->tasks[0], 0, 0);
    cr_assert_eq (keep->state, ST_JOB_SUCCEEDED);
    fx_commit (&S);
    st__place_pending (&S);
    cr_assert_eq (low->preempt_requested, 1, "the preemptible job is chosen");
    cr_assert_eq (fx_count_signals (&S), 1, "its rank is told to stop");
    cr_assert_eq (high->state, ST_JOB_PENDING, "the gang waits for the victim to stop");
    cr_assert (strstr (low->reason, "preempted for job"), "reason: %s", low->reason);
    fx_commit (&S);

    /*  A second cycle while the victim stops does not choose it again.  */
    S.model.sched_needed = 1;
    st__place_pending (&S);
    cr_assert_eq (fx_count_signals (&S), 0, "no second signal for a victim already stopping");

    report_exit (&low->tasks[0], 0, 15);
    cr_assert_eq (low->state, ST_JOB_PENDING, "requeued: %s", low->reason);
    cr_assert_eq (low->preemptions, 1);
    cr_assert (strstr (low->reason, "resume from its checkpoint"), "reason: %s", low->reason);
    st__place_pending (&S);
    cr_assert_eq (high->state, ST_JOB_SCHEDULED, "the gang starts: %s", high->reason);
    cr_assert_eq (low->state, ST_JOB_PENDING);
    /*  The gang ends; the victim runs again although its spec allows one attempt.  */
    st__dispatch_send_launches (&S);
    report_exit (&high->tasks[0], 0, 0);
    report_exit (&high->tasks[1], 0, 0);
    st__place_pending (&S);
    cr_assert_eq (low->state, ST_JOB_SCHEDULED, "%s", low->reason);
    cr_assert_eq (low->attempt, 2);
}

/*  The daemon runs the policy it was started with (--policy): behind a job
 *  that must wait, FIFO starts nothing, while the default policy backfills a
 *  short job that ends before the waiting job's reservation.  */
static int
s_backfills_under (sp_policy_t policy)
{
    st__sched_t T;
    fx_init (&T);
    T.model.policy = policy;
    fx_node (&T, "n", "p", 2, 4096, 0);
    st__job_t *x = fx_submit (&T, "{\"command\":[\"true\"],\"time_limit\":600}");
    st__place_pending (&T);
    cr_assert_eq (x->state, ST_JOB_SCHEDULED);
    st__job_t *big = fx_submit (&T, "{\"command\":[\"true\"],\"resources\":{\"cpus_per_rank\":2}}");
    st__job_t *small = fx_submit (&T, "{\"command\":[\"true\"],\"time_limit\":10}");
    st__place_pending (&T);
    cr_assert_eq (big->state, ST_JOB_PENDING);
    int started = small->state == ST_JOB_SCHEDULED;
    fx_fini (&T);
    return started;
}

Test (sched_model, the_policy_flag_chooses_the_policy)
{
    cr_assert (s_backfills_under (SP_POLICY_DEFAULT), "the default policy backfills the short job");
    cr_assert (!s_backfills_under (SP_POLICY_FIFO), "FIFO keeps submit order");
}

/*  -- dependencies and fine-tuned models (deps.c, registry.c) ------------------  */

/*  Submits json; returns the new job, or NULL when the scheduler refused it.  */
static st__job_t *
try_submit (const char *json)
{
    Strata__Envelope env;
    Strata__SubmitRequest sub = STRATA__SUBMIT_REQUEST__INIT;
    st_wire_envelope_init (&env, 1);
    sub.spec_json = (char *) json;
    env.body_case = STRATA__ENVELOPE__BODY_SUBMIT;
    env.submit = &sub;
    st_peer_t peer = { .id = "client", .id_len = 6 };
    uint64_t before = S.model.next_job_id;
    st__client_message (&S, &peer, &env);
    return S.model.next_job_id == before ? NULL : st_map_get_u64 (S.model.jobs, before);
}

/*  What st__deps_check says of json as the next job (the refusal's message).  */
static st_error_t
deps_verdict (const char *json)
{
    st_error_t err = { 0 };
    st_spec_t *spec = st_spec_parse (json, strlen (json), &err);
    cr_assert_not_null (spec, "%s", err.msg);
    st__job_t *job = st__job_new (&S, S.model.next_job_id, spec, strdup (json), st_wall_ms ());
    cr_assert_not_null (job);
    st__deps_check (&S, job, &err);
    st__job_free (job);
    return err;
}

/*  Places pending jobs, launches them and reports their ranks running.  */
static void
start_all (void)
{
    st__place_pending (&S);
    st__dispatch_send_launches (&S);
    for (uint64_t id = 1; id < S.model.next_job_id; id++) {
        st__job_t *j = st_map_get_u64 (S.model.jobs, id);
        for (uint32_t r = 0; j && r < j->ntasks; r++)
            if (j->tasks[r].state == ST_TASK_STARTING)
                report_running (&j->tasks[r]);
    }
}

static void
finish (st__job_t *job, int code)
{
    for (uint32_t r = 0; r < job->ntasks; r++)
        report_exit (&job->tasks[r], code, 0);
}

Test (sched_model, a_job_waits_for_its_dependency_outside_the_engine)
{
    fx_node (&S, "n1", "p", 4, 4096, 0);
    st__job_t *a = fx_submit (&S, "{\"command\":[\"sleep\",\"9\"]}");
    st__job_t *b = fx_submit (&S, "{\"command\":[\"true\"],\"depends_on\":[1]}");
    cr_assert_eq (b->deps_waiting, 1);
    cr_assert_not (b->in_pending, "a job that waits for a dependency is not offered to the engine");
    cr_assert_str_eq (b->reason, "waiting for job 1 (PENDING)");
    start_all ();
    cr_assert_eq (a->state, ST_JOB_RUNNING);
    cr_assert_eq (b->state, ST_JOB_PENDING, "room on n1 does not start it");
    cr_assert_str_eq (b->reason, "waiting for job 1 (RUNNING)", "the reason follows the dependency's state");
    S.model.sched_needed = 1;
    st__place_pending (&S);
    cr_assert_eq (b->state, ST_JOB_PENDING);
    finish (a, 0);
    cr_assert_eq (a->state, ST_JOB_SUCCEEDED);
    cr_assert (b->in_pending, "released when its dependency succeeded: %s", b->reason);
    cr_assert_eq (b->deps_waiting, 0);
    st__place_pending (&S);
    cr_assert_eq (b->state, ST_JOB_SCHEDULED, "%s", b->reason);
}

Test (sched_model, a_job_waits_for_every_dependency)
{
    fx_node (&S, "n1", "p", 4, 4096, 0);
    st__job_t *a = fx_submit (&S, "{\"command\":[\"sleep\",\"9\"]}");
    st__job_t *b = fx_submit (&S, "{\"command\":[\"sleep\",\"9\"]}");
    st__job_t *c = fx_submit (&S, "{\"command\":[\"true\"],\"depends_on\":[2,1]}");
    cr_assert_str_eq (c->reason, "waiting for job 2 (PENDING) and 1 more dependency");
    start_all ();
    finish (b, 0);
    cr_assert_eq (c->deps_waiting, 1);
    cr_assert_str_eq (c->reason, "waiting for job 1 (RUNNING)");
    cr_assert_not (c->in_pending);
    finish (a, 0);
    cr_assert (c->in_pending);
}

Test (sched_model, a_failed_dependency_fails_its_dependents_in_cascade)
{
    fx_node (&S, "n1", "p", 4, 4096, 0);
    st__job_t *a = fx_submit (&S, "{\"command\":[\"false\"]}");
    st__job_t *b = fx_submit (&S, "{\"command\":[\"true\"],\"depends_on\":[1]}");
    st__job_t *c = fx_submit (&S, "{\"command\":[\"true\"],\"depends_on\":[2]}");
    st__job_t *d = fx_submit (&S, "{\"command\":[\"true\"],\"depends_on\":[3, 1]}");
    st__job_t *other = fx_submit (&S, "{\"command\":[\"sleep\",\"9\"]}");
    start_all ();
    finish (a, 3);
    cr_assert_eq (a->state, ST_JOB_FAILED);
    cr_assert_eq (b->state, ST_JOB_FAILED);
    cr_assert_str_eq (b->reason, "dependency job 1 failed");
    cr_assert_eq (c->state, ST_JOB_FAILED, "and the jobs that wait for it, in turn");
    cr_assert_str_eq (c->reason, "dependency job 2 failed");
    cr_assert_eq (d->state, ST_JOB_FAILED);
    cr_assert_eq (other->state, ST_JOB_RUNNING, "jobs that do not depend on it go on");
    /*  Each failure is a PENDING -> FAILED transition with its event.  */
    int failed = 0;
    for (size_t i = 0; i < S.model.nevents; i++)
        if (S.model.events[i].from_state && !strcmp (S.model.events[i].from_state, "PENDING")
            && !strcmp (S.model.events[i].to_state, "FAILED"))
            failed++;
    cr_assert_eq (failed, 3);
    /*  A job that depends on a failed job fails at once.  */
    st__job_t *late = fx_submit (&S, "{\"command\":[\"true\"],\"depends_on\":[1]}");
    cr_assert_eq (late->state, ST_JOB_FAILED);
    cr_assert_str_eq (late->reason, "dependency job 1 failed");
}

Test (sched_model, a_retried_dependency_is_still_waited_for)
{
    fx_node (&S, "n1", "p", 4, 4096, 0);
    st__job_t *a = fx_submit (&S, "{\"command\":[\"false\"],\"retries\":1}");
    st__job_t *b = fx_submit (&S, "{\"command\":[\"true\"],\"depends_on\":[1]}");
    start_all ();
    finish (a, 1);
    cr_assert_eq (a->state, ST_JOB_PENDING, "requeued for its second attempt");
    cr_assert_eq (b->state, ST_JOB_PENDING);
    cr_assert_str_eq (b->reason, "waiting for job 1 (PENDING)");
    start_all ();
    finish (a, 0);
    cr_assert (b->in_pending);
}

Test (sched_model, a_cancelled_dependency_fails_its_dependents)
{
    st__job_t *a = fx_submit (&S, "{\"command\":[\"true\"]}");
    st__job_t *b = fx_submit (&S, "{\"command\":[\"true\"],\"depends_on\":[1]}");
    st__job_t *c = fx_submit (&S, "{\"command\":[\"true\"],\"depends_on\":[2]}");
    cancel (c->id);
    cr_assert_eq (c->state, ST_JOB_CANCELLED, "a waiting job may be cancelled");
    cancel (a->id);
    cr_assert_eq (b->state, ST_JOB_FAILED);
    cr_assert_str_eq (b->reason, "dependency job 1 was cancelled");
    cr_assert_eq (c->state, ST_JOB_CANCELLED, "a job that already ended stays as it was");
}

Test (sched_model, a_long_chain_fails_without_recursion)
{
    fx_submit (&S, "{\"command\":[\"true\"]}");
    for (int i = 2; i <= 3000; i++) {
        char json[96];
        snprintf (json, sizeof json, "{\"command\":[\"true\"],\"depends_on\":[%d]}", i - 1);
        fx_submit (&S, json);
    }
    cancel (1);
    st__job_t *last = st_map_get_u64 (S.model.jobs, 3000);
    cr_assert_eq (last->state, ST_JOB_FAILED);
    cr_assert_str_eq (last->reason, "dependency job 2999 failed");
    cr_assert_eq (S.model.nsettle, 0);
}

Test (sched_model, unknown_dependencies_are_refused)
{
    fx_submit (&S, "{\"command\":[\"true\"]}");
    fx_submit (&S, "{\"command\":[\"true\"],\"tenant\":\"other\"}");
    cr_assert_null (try_submit ("{\"command\":[\"true\"],\"depends_on\":[99]}"));
    cr_assert_null (try_submit ("{\"command\":[\"true\"],\"depends_on\":[3]}"), "its own id: cycles are impossible");
    cr_assert_null (try_submit ("{\"command\":[\"true\"],\"depends_on\":[1, 2]}"), "job 2 is another tenant's");
    cr_assert_eq (S.model.next_job_id, 3, "refusals use up no id");
    st_error_t err = deps_verdict ("{\"command\":[\"true\"],\"depends_on\":[1, 99]}");
    cr_assert_eq (err.rc, ST_EINVAL);
    cr_assert_str_eq (err.field, "depends_on[1]");
    cr_assert_str_eq (err.msg, "depends_on[1]: no job 99 of tenant default");
    err = deps_verdict ("{\"command\":[\"true\"],\"tenant\":\"other\",\"depends_on\":[1]}");
    cr_assert_str_eq (err.msg, "depends_on[0]: no job 1 of tenant other");
    cr_assert_not_null (try_submit ("{\"command\":[\"true\"],\"tenant\":\"other\",\"depends_on\":[2]}"));
}

static const char *FT_A = "{\"kind\":\"finetune\",\"launcher\":\"direct\",\"command\":[\"train\"],"
                          "\"output_model\":\"acme-twin\"}";

/*  Pool p keeps its data under root: a fine-tune's checkpoint goes there, by tenant and model.  */
static void
s_storage_root (const char *pool, const char *root)
{
    int p = sp_cluster_pool_add_implicit (S.model.cluster, pool);
    cr_assert_geq (p, 0);
    S.model.cluster->pools[p].storage_root = strdup (root);
}

Test (sched_model, a_finetune_that_succeeds_registers_the_next_version)
{
    s_storage_root ("p", "/store");
    fx_node (&S, "n1", "p", 4, 4096, 0);
    st__job_t *a = fx_submit (&S, FT_A);
    start_all ();
    cr_assert_null (st__registry_find (&S, "default", "acme-twin", 0), "nothing before it succeeds");
    finish (a, 0);
    cr_assert_eq (a->state, ST_JOB_SUCCEEDED);
    const st__model_version_t *v = st__registry_find (&S, "default", "acme-twin", 0);
    cr_assert_not_null (v);
    cr_assert_eq (v->version, 1);
    cr_assert_eq (v->job_id, a->id);
    cr_assert_str_eq (v->checkpoint, "/store/default/models/acme-twin/job-1", "where the scheduler says");
    cr_assert_str_eq (v->pool, "p");
    cr_assert_null (v->jurisdiction);
    cr_assert_eq (v->classification, SP_CLASS_PUBLIC);
    cr_assert_eq (S.model.nnew_versions, 1, "queued for the batch that writes the SUCCEEDED state");
    int registered = 0;
    for (size_t i = 0; i < S.model.nevents; i++)
        registered += !strcmp (S.model.events[i].kind, "model") && strstr (S.model.events[i].message, "version 1");
    cr_assert_eq (registered, 1);

    /*  The next one is version 2; another tenant's names are its own.  */
    st__job_t *a2 = fx_submit (&S, FT_A);
    st__job_t *o = fx_submit (&S, "{\"kind\":\"finetune\",\"launcher\":\"direct\",\"command\":[\"t\"],"
                                  "\"tenant\":\"other\",\"output_model\":\"acme-twin\"}");
    start_all ();
    finish (a2, 0);
    finish (o, 0);
    cr_assert_eq (st__registry_find (&S, "default", "acme-twin", 0)->version, 2);
    cr_assert_eq (st__registry_find (&S, "default", "acme-twin", 1)->job_id, a->id);
    cr_assert_eq (st__registry_find (&S, "default", "acme-twin", 2)->job_id, a2->id);
    cr_assert_eq (st__registry_find (&S, "other", "acme-twin", 0)->version, 1);
    cr_assert_str_eq (st__registry_find (&S, "other", "acme-twin", 0)->checkpoint,
                      "/store/other/models/acme-twin/job-3", "another tenant's folder");
    cr_assert_null (st__registry_find (&S, "default", "acme-twin", 3));
}

Test (sched_model, a_finetune_that_fails_registers_nothing)
{
    s_storage_root ("p", "/store");
    fx_node (&S, "n1", "p", 4, 4096, 0);
    st__job_t *a = fx_submit (&S, FT_A);
    start_all ();
    finish (a, 1);
    cr_assert_eq (a->state, ST_JOB_FAILED);
    cr_assert_null (st__registry_find (&S, "default", "acme-twin", 0));
    cr_assert_eq (S.model.nnew_versions, 0);
    st__job_t *c = fx_submit (&S, "{\"kind\":\"finetune\",\"launcher\":\"direct\",\"command\":[\"t\"],"
                                  "\"output_model\":\"acme-twin\"}");
    cancel (c->id);
    cr_assert_null (st__registry_find (&S, "default", "acme-twin", 0), "nor does a cancelled one");
}

Test (sched_model, a_dependent_uses_the_version_its_dependency_registers)
{
    s_storage_root ("p", "/store");
    fx_node (&S, "n1", "p", 4, 4096, 0);
    st__job_t *a = fx_submit (&S, FT_A);
    st__job_t *b = fx_submit (&S, "{\"kind\":\"inference\",\"command\":[\"infer\"],\"model\":\"acme-twin\","
                                  "\"depends_on\":[1]}");
    cr_assert_str_eq (b->reason, "waiting for job 1 (PENDING); model acme-twin has no registered version yet");
    cr_assert_null (b->pj.model, "a fine-tuned model is not the engine's");
    start_all ();
    finish (a, 0);
    cr_assert (b->in_pending, "%s", b->reason);
    cr_assert_str_eq (b->model_ref, "acme-twin:1");
    cr_assert_str_eq (b->model_uri, "/store/default/models/acme-twin/job-1");
    cr_assert_eq (b->ft_version, 1);
    cr_assert_str_eq (b->pj.pool, "p", "the version's pool has no jurisdiction: only there");
    st__place_pending (&S);
    cr_assert_eq (b->state, ST_JOB_SCHEDULED, "%s", b->reason);

    /*  Without a dependency that can register it, an unknown model is refused.  */
    cr_assert_null (try_submit ("{\"command\":[\"x\"],\"model\":\"nobody\"}"));
    st_error_t err = deps_verdict ("{\"command\":[\"x\"],\"model\":\"nobody\"}");
    cr_assert_str_eq (err.field, "model");
    cr_assert (strstr (err.msg, "model: nobody is neither in the cluster's model registry nor a fine-tuned model "
                                "of tenant default"),
               "%s", err.msg);
    err = deps_verdict ("{\"command\":[\"x\"],\"model\":\"acme-twin:2\"}");
    cr_assert_str_eq (err.msg, "model: acme-twin has no version 2 (the latest is 1)");
    st__job_t *other = fx_submit (&S, "{\"command\":[\"sleep\",\"9\"]}");
    err = deps_verdict ("{\"command\":[\"x\"],\"model\":\"unknown\",\"depends_on\":[3]}");
    cr_assert_str_eq (err.field, "model", "job 3 is no finetune that names it");
    /*  A pinned version that exists is used as it is.  */
    st__job_t *pinned = fx_submit (&S, "{\"command\":[\"x\"],\"model\":\"acme-twin:1\",\"depends_on\":[3]}");
    start_all ();
    finish (other, 0);
    cr_assert_str_eq (pinned->model_ref, "acme-twin:1");
}

Test (sched_model, a_dependency_that_registers_nothing_fails_its_dependent)
{
    fx_node (&S, "n1", "p", 4, 4096, 0);
    /*  A finetune that names another output_model: the job's model never appears.  */
    st__job_t *a = fx_submit (&S, "{\"kind\":\"finetune\",\"launcher\":\"direct\",\"command\":[\"t\"],"
                                  "\"output_model\":\"acme-twin\"}");
    st__job_t *b = fx_submit (&S, "{\"command\":[\"x\"],\"model\":\"acme-twin:2\",\"depends_on\":[1]}");
    cr_assert_str_eq (b->reason, "waiting for job 1 (PENDING); model acme-twin has no version 2 yet");
    start_all ();
    finish (a, 0);
    cr_assert_eq (b->state, ST_JOB_FAILED);
    cr_assert_str_eq (b->reason, "model acme-twin has no version 2");
}

/*  A cluster with an EU pool cleared for restricted data and a US one.  */
static void
use_cluster (const char *yaml)
{
    st_error_t err = { 0 };
    sp_engine_free (&S.model.engine);
    sp_cluster_free (&S.model.cluster);
    S.model.cluster = sp_cluster_parse (yaml, strlen (yaml), &err);
    cr_assert_not_null (S.model.cluster, "%s", err.msg);
    S.model.engine = sp_engine_new (S.model.cluster);
}

static const char *EU_US =
    "regions: [eu-west, us-east]\n"
    "pools:\n"
    "  - {name: eu, site: onprem, region: eu-west, jurisdiction: EU, clearance: restricted}\n"
    "  - {name: eu2, site: onprem, region: eu-west, jurisdiction: EU, clearance: internal}\n"
    "  - {name: us, site: public_cloud, region: us-east, jurisdiction: US, clearance: restricted}\n"
    "models:\n"
    "  - name: twin\n"
    "    variants:\n"
    "      - {name: twin-eu, jurisdictions: [EU]}\n"
    "      - {name: twin-any, jurisdictions: [EU, US]}\n";

Test (sched_model, a_fine_tuned_model_carries_its_data_and_base_constraints)
{
    use_cluster (EU_US);
    fx_node (&S, "eu1", "eu", 4, 4096, 0);
    fx_node (&S, "eu2", "eu2", 4, 4096, 0);
    fx_node (&S, "us1", "us", 4, 4096, 0);
    st__job_t *a =
        fx_submit (&S, "{\"kind\":\"finetune\",\"launcher\":\"direct\",\"command\":[\"t\"],"
                       "\"model\":\"twin\",\"data\":{\"classification\":\"restricted\",\"residency\":[\"EU\"]},"
                       "\"output_model\":\"acme-twin\"}");
    start_all ();
    cr_assert_str_eq (a->pool, "eu");
    cr_assert_str_eq (a->variant, "twin-eu");
    finish (a, 0);
    const st__model_version_t *v = st__registry_find (&S, "default", "acme-twin", 1);
    cr_assert_not_null (v);
    cr_assert_str_eq (v->jurisdiction, "EU");
    cr_assert_str_eq (v->variant, "twin-eu");
    cr_assert_eq (v->classification, SP_CLASS_RESTRICTED);
    cr_assert_eq (v->nresidency, 1);

    /*  A job with public data that asks for the US pool: the model's data may
     *  not go there; it waits with the engine's reason.  */
    st__job_t *us = fx_submit (&S, "{\"kind\":\"inference\",\"command\":[\"i\"],\"model\":\"acme-twin\","
                                   "\"placement\":{\"pool\":\"us\"}}");
    cr_assert (us->in_pending);
    cr_assert_eq (us->pj.classification, SP_CLASS_RESTRICTED, "the stricter classification");
    cr_assert_eq (us->pj.nresidency, 1);
    cr_assert_str_eq (us->pj.residency[0], "EU");
    cr_assert_str_eq (us->pj.model, "twin-eu", "the base variant's jurisdictions hold too");
    st__place_pending (&S);
    cr_assert_eq (us->state, ST_JOB_PENDING);
    cr_assert (strstr (us->reason, "jurisdiction US is not in the job's residency (EU)"), "%s", us->reason);

    /*  Anywhere else: only where restricted data may go (eu, not eu2).  */
    st__job_t *any = fx_submit (&S, "{\"kind\":\"inference\",\"command\":[\"i\"],\"model\":\"acme-twin:1\"}");
    st__place_pending (&S);
    cr_assert_eq (any->state, ST_JOB_SCHEDULED, "%s", any->reason);
    cr_assert_str_eq (any->pool, "eu");

    /*  Data that may only go to the US can never meet this model: refused.  */
    cr_assert_null (try_submit ("{\"command\":[\"i\"],\"model\":\"acme-twin\",\"data\":{\"residency\":[\"US\"]}}"));
    st_error_t err = deps_verdict ("{\"command\":[\"i\"],\"model\":\"acme-twin\",\"data\":{\"residency\":[\"US\"]}}");
    cr_assert (strstr (err.msg, "no jurisdiction allows both"), "%s", err.msg);
    /*  output_model may not take a name of the cluster's registry.  */
    err = deps_verdict ("{\"kind\":\"finetune\",\"command\":[\"x\"],\"output_model\":\"twin-eu\"}");
    cr_assert_str_eq (err.field, "output_model");
}
