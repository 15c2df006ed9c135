/*  test_sched_runtime.c: rendezvous values and progress (model/runtime.c)
 *  through the model alone; what it answers later arrives as intents. */
#include "sched_model_fixture.h"

static st__model_t M;

static void
setup (void)
{
    mf_init (&M);
}
static void
teardown (void)
{
    mf_fini (&M);
}

TestSuite (sched_runtime, .init = setup, .fini = teardown);

/*  A running two-rank job on nodes a and b.  */
static st__job_t *
running_pair (st__node_t **a, st__node_t **b)
{
    *a = mf_node (&M, "a", 1, 4096);
    *b = mf_node (&M, "b", 1, 4096);
    st__job_t *job = mf_submit (&M, "{\"command\":[\"train\"],\"resources\":{\"ranks\":2}}");
    mf_place_and_run (&M);
    cr_assert_eq (job->state, ST_JOB_RUNNING);
    return job;
}

static st__task_t *
rank (st__job_t *job, uint32_t i)
{
    st__task_t *t = st__runtime_task (&M, job->tasks[i].node, job->id, i, job->attempt);
    cr_assert_not_null (t);
    return t;
}

Test (sched_runtime, only_a_live_task_of_the_current_attempt_on_its_node_may_ask)
{
    st__node_t *a, *b;
    st__job_t *job = running_pair (&a, &b);
    st__node_t *other = job->tasks[0].node == a ? b : a;
    cr_assert_not_null (st__runtime_task (&M, job->tasks[0].node, job->id, 0, job->attempt));
    cr_assert_null (st__runtime_task (&M, other, job->id, 0, job->attempt), "another node relays it");
    cr_assert_null (st__runtime_task (&M, job->tasks[0].node, job->id, 0, job->attempt + 1), "another attempt");
    cr_assert_null (st__runtime_task (&M, job->tasks[0].node, job->id + 1, 0, 1), "no such job");
}

Test (sched_runtime, a_put_value_is_read_at_once)
{
    st__node_t *a, *b;
    st__job_t *job = running_pair (&a, &b);
    char why[300];
    mf_step (&M,
             cr_assert_eq (st__rdzv_put (&M, rank (job, 0), "nccl_id", (const uint8_t *) "xyz", 3, why, sizeof why),
                           0, "%s", why));
    const uint8_t *val = NULL;
    size_t len = 0;
    int rc;
    mf_step (&M, rc = st__rdzv_get (&M, rank (job, 1), job->tasks[1].node, 41, "nccl_id", 1000, &val, &len, why,
                                    sizeof why));
    cr_assert_eq (rc, 1);
    cr_assert_eq (len, 3);
    cr_assert_eq (memcmp (val, "xyz", 3), 0);
    cr_assert_eq (M.nintents, 0, "answered at once: nothing queued");
}

Test (sched_runtime, a_waiting_get_is_answered_by_the_put_as_an_intent)
{
    st__node_t *a, *b;
    st__job_t *job = running_pair (&a, &b);
    char why[300];
    const uint8_t *val = NULL;
    size_t len = 0;
    int rc;
    mf_step (
        &M, rc = st__rdzv_get (&M, rank (job, 1), job->tasks[1].node, 41, "addr", 1000, &val, &len, why, sizeof why));
    cr_assert_eq (rc, 0, "it waits");
    cr_assert_eq (M.nrdzv_waits, 1);
    mf_step (&M, cr_assert_eq (
                     st__rdzv_put (&M, rank (job, 0), "addr", (const uint8_t *) "10.0.0.1", 8, why, sizeof why), 0));
    cr_assert_eq (M.nrdzv_waits, 0);
    cr_assert_eq (M.nintents, 1);
    const st__intent_t *in = &M.intents[0];
    cr_assert_eq (in->kind, ST__INTENT_AGENT_VALUE);
    cr_assert_str_eq (in->node, job->tasks[1].node->name, "to the asking rank's node");
    cr_assert_eq (in->fwd_seq, 41);
    cr_assert_eq (in->len, 8);
    cr_assert_eq (memcmp (in->data, "10.0.0.1", 8), 0);
    st__intents_clear (&M);
}

Test (sched_runtime, values_belong_to_one_attempt)
{
    st__node_t *a, *b;
    st__job_t *job = running_pair (&a, &b);
    char why[300];
    mf_step (&M, cr_assert_eq (st__rdzv_put (&M, rank (job, 0), "k", (const uint8_t *) "v1", 2, why, sizeof why), 0));
    /*  The attempt fails and is retried: the retry starts with no values.  */
    mf_end (&M, job, ST_JOB_FAILED);
    cr_assert_eq (job->state, ST_JOB_FAILED, "no retries: %s", job->reason);
    st__job_t *again = mf_submit (&M, "{\"command\":[\"train\"],\"resources\":{\"ranks\":2},\"retries\":1}");
    mf_place_and_run (&M);
    mf_step (&M,
             cr_assert_eq (st__rdzv_put (&M, rank (again, 0), "k", (const uint8_t *) "v1", 2, why, sizeof why), 0));
    mf_end (&M, again, ST_JOB_FAILED);
    cr_assert_eq (again->state, ST_JOB_PENDING, "requeued: %s", again->reason);
    mf_place_and_run (&M);
    cr_assert_eq (again->attempt, 2);
    const uint8_t *val = NULL;
    size_t len = 0;
    int rc;
    mf_step (
        &M, rc = st__rdzv_get (&M, rank (again, 1), again->tasks[1].node, 7, "k", 1000, &val, &len, why, sizeof why));
    cr_assert_eq (rc, 0, "attempt 1's value is not attempt 2's");
}

Test (sched_runtime, waits_time_out_and_end_with_their_attempt)
{
    st__node_t *a, *b;
    st__job_t *job = running_pair (&a, &b);
    char why[300];
    const uint8_t *val = NULL;
    size_t len = 0;
    int rc;
    mf_step (&M,
             rc = st__rdzv_get (&M, rank (job, 1), job->tasks[1].node, 5, "slow", 2000, &val, &len, why, sizeof why));
    mf_step (&M, rc = st__rdzv_get (&M, rank (job, 0), job->tasks[0].node, 6, "never", 60000, &val, &len, why,
                                    sizeof why));
    cr_assert_eq (rc, 0);
    cr_assert_eq (M.nrdzv_waits, 2);
    mf_step (&M, st__runtime_tick (&M, mf_now_mono + 1999));
    cr_assert_eq (M.nintents, 0, "not yet");
    mf_step (&M, st__runtime_tick (&M, mf_now_mono + 2000));
    cr_assert_eq (M.nintents, 1);
    cr_assert_eq (M.intents[0].kind, ST__INTENT_AGENT_ERROR);
    cr_assert_eq (M.intents[0].fwd_seq, 5);
    cr_assert (strstr ((const char *) M.intents[0].data, "timed out after 2.0 s") != NULL, "%s",
               (const char *) M.intents[0].data);
    st__intents_clear (&M);
    mf_end (&M, job, ST_JOB_FAILED);
    st__intents_clear (&M); /*  the other rank's stop signal  */
    mf_step (&M, st__runtime_tick (&M, mf_now_mono + 2001));
    cr_assert_eq (M.nintents, 1);
    cr_assert_eq (M.nrdzv_waits, 0);
    cr_assert_eq (M.intents[0].fwd_seq, 6);
    cr_assert (strstr ((const char *) M.intents[0].data, "ended while waiting") != NULL, "%s",
               (const char *) M.intents[0].data);
    st__intents_clear (&M);
}

Test (sched_runtime, bad_keys_and_values_are_refused)
{
    st__node_t *a, *b;
    st__job_t *job = running_pair (&a, &b);
    char why[300];
    uint8_t big[5000] = { 0 };
    cr_assert_eq (st__rdzv_put (&M, rank (job, 0), "", big, 1, why, sizeof why), -1);
    cr_assert_eq (st__rdzv_put (&M, rank (job, 0), "k", big, sizeof big, why, sizeof why), -1);
    cr_assert (strstr (why, "at most 4096 bytes") != NULL, "%s", why);
    mf_check (&M);
}

Test (sched_runtime, progress_is_kept_on_the_job)
{
    st__node_t *a, *b;
    st__job_t *job = running_pair (&a, &b);
    char buf[128];
    cr_assert_str_eq (st__runtime_progress_text (job, buf, sizeof buf), "");
    mf_step (&M, st__runtime_progress (&M, rank (job, 0), 120, 500, 2.31, 5400, "tokens/s"));
    cr_assert_str_eq (st__runtime_progress_text (job, buf, sizeof buf), "step 120/500, loss 2.3100, 5400.0 tokens/s");
}

Test (sched_runtime, stopping_a_job_queues_signals_instead_of_sending_them)
{
    st__node_t *a, *b;
    st__job_t *job = running_pair (&a, &b);
    b->connected = 0;
    mf_step (&M, st__job_stop_tasks (&M, job));
    st__task_t *on_a = job->tasks[0].node == a ? &job->tasks[0] : &job->tasks[1];
    st__task_t *on_b = on_a == &job->tasks[0] ? &job->tasks[1] : &job->tasks[0];
    cr_assert_eq (M.nintents, 1, "one signal: the task on the disconnected node gets its own on registration");
    cr_assert_eq (M.intents[0].kind, ST__INTENT_SIGNAL);
    cr_assert_eq (M.intents[0].index, on_a->index);
    cr_assert (on_a->stop_sent);
    cr_assert_not (on_b->stop_sent);
    st__intents_clear (&M);
}
