/*  test_sched_deps.c: job dependencies (model/deps.c) through the model alone:
 *  admission and ordering, failure propagation, the submission check. */
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

TestSuite (sched_deps, .init = setup, .fini = teardown);

static const char *CMD = "{\"command\":[\"true\"]}";

Test (sched_deps, a_dependent_waits_outside_the_engine_until_its_dependency_succeeds)
{
    mf_node (&M, "n1", 4, 4096);
    st__job_t *a = mf_submit (&M, CMD);
    st__job_t *b = mf_submit (&M, "{\"command\":[\"true\"],\"depends_on\":[1]}");
    cr_assert (a->in_pending);
    cr_assert_not (b->in_pending, "not offered to the engine while job 1 has not succeeded");
    cr_assert_eq (b->deps_waiting, 1);
    cr_assert_eq (M.npending, 1);
    cr_assert (strstr (b->reason, "waiting for job 1") != NULL, "%s", b->reason);

    mf_place_and_run (&M);
    cr_assert_eq (a->state, ST_JOB_RUNNING);
    cr_assert_eq (b->state, ST_JOB_PENDING);
    cr_assert_not (b->in_pending, "a running dependency is not a finished one");
    cr_assert (strstr (b->reason, "RUNNING") != NULL, "the reason follows the dependency: %s", b->reason);

    mf_end (&M, a, ST_JOB_SUCCEEDED);
    cr_assert_eq (a->state, ST_JOB_SUCCEEDED);
    cr_assert (b->in_pending, "released to the engine: %s", b->reason);
    cr_assert_eq (b->deps_waiting, 0);
    mf_place_and_run (&M);
    cr_assert_eq (b->state, ST_JOB_RUNNING, "and it runs after its dependency");
}

Test (sched_deps, a_job_waits_for_every_dependency)
{
    mf_node (&M, "n1", 4, 4096);
    st__job_t *a = mf_submit (&M, CMD);
    st__job_t *b = mf_submit (&M, CMD);
    st__job_t *c = mf_submit (&M, "{\"command\":[\"true\"],\"depends_on\":[1,2]}");
    cr_assert_eq (c->deps_waiting, 2);
    mf_place_and_run (&M);
    mf_end (&M, b, ST_JOB_SUCCEEDED);
    cr_assert_eq (c->deps_waiting, 1);
    cr_assert_not (c->in_pending, "job 1 has not finished yet");
    mf_end (&M, a, ST_JOB_SUCCEEDED);
    cr_assert (c->in_pending);
}

Test (sched_deps, a_failed_dependency_fails_the_chain_behind_it)
{
    mf_node (&M, "n1", 4, 4096);
    st__job_t *a = mf_submit (&M, CMD);
    st__job_t *b = mf_submit (&M, "{\"command\":[\"true\"],\"depends_on\":[1]}");
    st__job_t *c = mf_submit (&M, "{\"command\":[\"true\"],\"depends_on\":[2]}");
    st__job_t *d = mf_submit (&M, CMD);
    mf_place_and_run (&M);
    mf_end (&M, a, ST_JOB_FAILED);
    cr_assert_eq (a->state, ST_JOB_FAILED);
    cr_assert_eq (b->state, ST_JOB_FAILED, "its dependent fails: %s", b->reason);
    cr_assert (strstr (b->reason, "job 1") != NULL, "%s", b->reason);
    cr_assert_eq (c->state, ST_JOB_FAILED, "and the dependent's dependent, in the same step: %s", c->reason);
    cr_assert (strstr (c->reason, "job 2") != NULL, "%s", c->reason);
    cr_assert_neq (d->state, ST_JOB_FAILED, "an unrelated job is untouched");
}

Test (sched_deps, a_cancelled_dependency_fails_its_dependents)
{
    st__job_t *a = mf_submit (&M, CMD);
    st__job_t *b = mf_submit (&M, "{\"command\":[\"true\"],\"depends_on\":[1]}");
    mf_step (&M, {
        a->cancel_requested = 1;
        st__pending_remove (&M, a);
        st__job_set_state (&M, a, ST_JOB_CANCELLED, "cancelled by request before it started");
    });
    cr_assert_eq (b->state, ST_JOB_FAILED, "%s", b->reason);
}

Test (sched_deps, the_check_refuses_jobs_that_do_not_exist_or_are_another_tenants)
{
    mf_submit (&M, "{\"command\":[\"true\"],\"tenant\":\"acme\"}");
    st_error_t err = { 0 };
    cr_assert_null (mf_submit_err (&M, "{\"command\":[\"true\"],\"depends_on\":[7]}", &err));
    cr_assert_eq (err.rc, ST_EINVAL);
    cr_assert_str_eq (err.field, "depends_on[0]");
    memset (&err, 0, sizeof err);
    cr_assert_null (mf_submit_err (&M, "{\"command\":[\"true\"],\"tenant\":\"other\",\"depends_on\":[1]}", &err),
                    "another tenant's job is as good as none");
    cr_assert_eq (err.rc, ST_EINVAL);
    cr_assert_eq (M.next_job_id, 2, "refused submissions take no id");
}

Test (sched_deps, finished_dependencies_come_from_the_noted_states)
{
    /*  Jobs no longer in memory: store/ notes their states before the check.  */
    M.next_job_id = 10;
    st__deps_note_state (&M, 3, ST_JOB_SUCCEEDED, "default");
    st__deps_note_state (&M, 4, ST_JOB_CANCELLED, "default");
    st__job_t *ok = mf_submit (&M, "{\"command\":[\"true\"],\"depends_on\":[3]}");
    cr_assert (ok->in_pending, "a succeeded dependency does not hold it back: %s", ok->reason);
    st__job_t *bad = mf_submit (&M, "{\"command\":[\"true\"],\"depends_on\":[4]}");
    cr_assert_eq (bad->state, ST_JOB_FAILED, "%s", bad->reason);
    uint64_t ids[4];
    st__job_t *w = mf_submit (&M, "{\"command\":[\"true\"],\"depends_on\":[3,11]}");
    cr_assert_eq (st__deps_missing (&M, w, ids, 4), 1, "job 11 is in memory, job 3 is not");
    cr_assert_eq (ids[0], 3);
}
