/*  test_sched_states.c: the task state door (st__task_set_state) and the model
 *  invariant checker (st__model_check), through the model alone. */
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

TestSuite (sched_states, .init = setup, .fini = teardown);

Test (sched_states, tasks_move_through_the_door_as_the_table_allows)
{
    mf_node (&M, "n1", 4, 4096);
    st__job_t *job = mf_submit (&M, "{\"command\":[\"true\"]}");
    st__task_t *t = &job->tasks[0];
    cr_assert_eq (t->state, ST_TASK_PENDING);
    mf_place_and_run (&M);
    cr_assert_eq (t->state, ST_TASK_RUNNING, "PENDING -> SCHEDULED -> STARTING -> RUNNING");
    cr_assert_eq (st__task_set_state (&M, t, ST_TASK_RUNNING), ST_OK, "no change is no move");
    mf_end (&M, job, ST_JOB_SUCCEEDED);
    cr_assert_eq (t->state, ST_TASK_SUCCEEDED);
    cr_assert_eq (job->state, ST_JOB_SUCCEEDED);
}

#ifdef NDEBUG
/*  A debug build asserts instead: an illegal move is a programming error.  */
Test (sched_states, an_illegal_task_move_is_refused_in_a_release_build)
{
    st__job_t *job = mf_submit (&M, "{\"command\":[\"true\"]}");
    st__task_t *t = &job->tasks[0];
    cr_assert_eq (st__task_set_state (&M, t, ST_TASK_RUNNING), ST_ESTATE, "PENDING -> RUNNING skips placement");
    cr_assert_eq (t->state, ST_TASK_PENDING, "and nothing moved");
    mf_check (&M);
}
#endif

Test (sched_states, the_checker_names_a_broken_invariant)
{
    st__node_t *n = mf_node (&M, "n1", 4, 4096);
    st__job_t *job = mf_submit (&M, "{\"command\":[\"true\"],\"resources\":{\"cpus_per_rank\":2}}");
    mf_place_and_run (&M);
    char why[512];
    cr_assert_eq (st__model_check (&M, why, sizeof why), 0, "%s", why);

    n->used_cpus_milli += 1; /*  accounting out of step with the tasks  */
    cr_assert_eq (st__model_check (&M, why, sizeof why), -1);
    cr_assert (strstr (why, "node n1") != NULL, "%s", why);
    n->used_cpus_milli -= 1;

    n->state = ST__NODE_LOST; /*  a live task on a lost node  */
    cr_assert_eq (st__model_check (&M, why, sizeof why), -1);
    cr_assert (strstr (why, "LOST") != NULL, "%s", why);
    n->state = ST__NODE_UP;

    job->in_pending = 1; /*  marked pending but not in the array, and not PENDING  */
    job->pending_idx = 0;
    cr_assert_eq (st__model_check (&M, why, sizeof why), -1);
    cr_assert (strstr (why, "pending") != NULL, "%s", why);
    job->in_pending = 0;

    mf_check (&M);
}

Test (sched_states, a_long_reason_is_cut_on_a_character_boundary)
{
    st__job_t *job = mf_submit (&M, "{\"command\":[\"true\"]}");
    char reason[sizeof job->reason + 16];
    size_t room = sizeof job->reason - 1;
    memset (reason, 'x', room - 1);
    strcpy (reason + room - 1, "\xc3\xa9 and more"); /*  "é" starts in the last byte that fits  */
    st__job_set_reason (&M, job, reason);
    cr_assert_eq (strlen (job->reason), room - 1, "the two-byte character does not fit and is left out whole");
    cr_assert_eq (memcmp (job->reason, reason, room - 1), 0);
    mf_check (&M);
}
