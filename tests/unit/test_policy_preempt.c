/*  test_policy_preempt.c: who may be preempted, the cheapest set, never more
 *  than needed, and the reservation that follows.  */
#include "test_policy_fixture.h"

/*  A running low-priority preemptible job of `gpus` GPUs on node n, started at `start`.  */
static sp_job_t *
s_running (fx_t *fx, sp_node_t *n, uint32_t gpus, double start)
{
    sp_job_t *j = fx_job (fx, 1, gpus);
    j->preemptible = 1;
    j->running = 1;
    j->start_s = start;
    j->placed[0] = n;
    sp_node_take (n, j);
    return j;
}

static int
s_npreempted (const fx_t *fx)
{
    return (int) fx->res.npreemptions;
}

Test (preempt, the_cheapest_victim_and_only_one)
{
    fx_t *fx = fx_new (NULL);
    sp_node_t *n = fx_node (fx, "n", "p", "A100", 64, 2, NULL);
    fx->now = 10000;
    sp_job_t *old = s_running (fx, n, 1, 0);      /*  10000 GPU-s of work would be lost  */
    sp_job_t *young = s_running (fx, n, 1, 9000); /*  1000 GPU-s  */
    sp_job_t *hi = fx_job (fx, 1, 1);
    hi->priority = 10;
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert_eq (s_npreempted (fx), 1);
    cr_assert (fx_preempted (fx, young));
    cr_assert (!fx_preempted (fx, old));
    cr_assert_eq (fx->res.preemptions[0].for_job, hi);
    cr_assert (strstr (fx->res.preemptions[0].reason, "priority 10 over 0"), "%s", fx->res.preemptions[0].reason);
    const sp_wait_t *w = fx_wait (fx, hi);
    cr_assert (w->reservation);
    cr_assert_float_eq (w->expected_start_s, fx->now, 1e-9);
    cr_assert (strstr (w->reason, "preempting 1 job in pool p"), "%s", w->reason);
    fx_free (fx);
}

Test (preempt, not_more_than_needed)
{
    fx_t *fx = fx_new (NULL);
    sp_node_t *n = fx_node (fx, "n", "p", "A100", 64, 4, NULL);
    fx->now = 10000;
    sp_job_t *v[4];
    for (int i = 0; i < 4; i++)
        v[i] = s_running (fx, n, 1, 1000.0 * (i + 1)); /*  v[3] cheapest, then v[2]  */
    sp_job_t *hi = fx_job (fx, 1, 2);
    hi->priority = 1;
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert_eq (s_npreempted (fx), 2);
    cr_assert (fx_preempted (fx, v[3]) && fx_preempted (fx, v[2]));
    fx_free (fx);
}

Test (preempt, one_big_victim_beats_two_small_when_cheaper)
{
    fx_t *fx = fx_new (NULL);
    sp_node_t *a = fx_node (fx, "a", "p", "A100", 64, 2, NULL);
    sp_node_t *b = fx_node (fx, "b", "p", "A100", 64, 2, NULL);
    fx->now = 10000;
    sp_job_t *s1 = s_running (fx, a, 1, 9000);  /*  1000 GPU-s each, but on a with...  */
    sp_job_t *s2 = s_running (fx, a, 1, 5000);  /*  ...5000 GPU-s: together 6000  */
    sp_job_t *big = s_running (fx, b, 2, 8000); /*  2 GPUs x 2000 s = 4000 GPU-s  */
    sp_job_t *hi = fx_job (fx, 1, 2);
    hi->priority = 1;
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert_eq (s_npreempted (fx), 1);
    cr_assert (fx_preempted (fx, big));
    cr_assert (!fx_preempted (fx, s1) && !fx_preempted (fx, s2));
    fx_free (fx);
}

Test (preempt, never_a_non_preemptible_or_not_lower_priority_job)
{
    fx_t *fx = fx_new (NULL);
    sp_node_t *n = fx_node (fx, "n", "p", "A100", 64, 3, NULL);
    sp_job_t *pinned = s_running (fx, n, 1, 0);
    pinned->preemptible = 0;
    sp_job_t *peer = s_running (fx, n, 1, 0);
    peer->priority = 5;
    sp_job_t *boss = s_running (fx, n, 1, 0);
    boss->priority = 9;
    sp_job_t *hi = fx_job (fx, 1, 1);
    hi->priority = 5;
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert_eq (s_npreempted (fx), 0, "same or higher priority, or not preemptible");
    cr_assert (!hi->running);
    cr_assert (!fx_wait (fx, hi)->reservation || fx_wait (fx, hi)->expected_start_s < 0);
    fx_free (fx);
}

Test (preempt, only_when_params_allow_it)
{
    fx_t *fx = fx_new (NULL);
    sp_node_t *n = fx_node (fx, "n", "p", "A100", 64, 1, NULL);
    s_running (fx, n, 1, 0);
    fx_job (fx, 1, 1)->priority = 10;
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert_eq (s_npreempted (fx), 0);
    fx_cycle (fx, SP_POLICY_BACKFILL);
    cr_assert_eq (s_npreempted (fx), 0);
    fx_free (fx);
}

Test (preempt, stopping_victims_are_not_chosen_twice)
{
    fx_t *fx = fx_new (NULL);
    sp_node_t *n = fx_node (fx, "n", "p", "A100", 64, 2, NULL);
    fx->now = 10000;
    sp_job_t *v1 = s_running (fx, n, 1, 9000);
    sp_job_t *v2 = s_running (fx, n, 1, 1000);
    sp_job_t *hi = fx_job (fx, 1, 1);
    hi->priority = 10;
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert (fx_preempted (fx, v1));
    cr_assert (v1->stopping);
    /*  Next cycle: v1 still stops. Nobody else is preempted for hi.  */
    fx->now += 5;
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert_eq (s_npreempted (fx), 0);
    const sp_wait_t *w = fx_wait (fx, hi);
    cr_assert (w->reservation);
    cr_assert (strstr (w->reason, "held for it while preempted jobs stop"), "%s", w->reason);
    /*  A second urgent job does not count on v1 either: it takes v2.  */
    sp_job_t *hi2 = fx_job (fx, 1, 1);
    hi2->priority = 10;
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert_eq (s_npreempted (fx), 1);
    cr_assert (fx_preempted (fx, v2));
    cr_assert_eq (fx->res.preemptions[0].for_job, hi2);
    /*  v1 ends: hi starts.  */
    fx_end (fx, v1, 1);
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert (hi->running);
    fx_free (fx);
}

Test (preempt, released_resources_are_held_for_the_preemptor)
{
    fx_t *fx = fx_new (NULL);
    sp_node_t *n = fx_node (fx, "n", "p", "A100", 64, 4, NULL);
    sp_job_t *victim = s_running (fx, n, 2, 0);
    sp_job_t *other = s_running (fx, n, 1, 0);
    other->preemptible = 0;
    sp_job_t *hi = fx_job (fx, 1, 3);
    hi->priority = 10;
    sp_job_t *small = fx_job (fx, 1, 1); /*  the one free GPU is hi's now  */
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert (fx_preempted (fx, victim));
    cr_assert (!small->running, "%s", fx_wait (fx, small)->reason);
    cr_assert (strstr (fx_wait (fx, small)->reason, "held back for job"), "%s", fx_wait (fx, small)->reason);
    fx_end (fx, victim, 1);
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert (hi->running);
    fx_free (fx);
}

Test (preempt, gang_victims_in_one_pool)
{
    fx_t *fx = fx_new (NULL);
    sp_node_t *a = fx_node (fx, "a", "pa", "A100", 64, 2, NULL);
    sp_node_t *b = fx_node (fx, "b", "pb", "A100", 64, 2, NULL);
    fx->now = 100;
    s_running (fx, a, 2, 0);
    s_running (fx, b, 2, 50);
    sp_job_t *hi = fx_job (fx, 2, 1); /*  a gang of 2: one pool; pb's victim is cheaper  */
    hi->priority = 1;
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert_eq (s_npreempted (fx), 1);
    cr_assert_eq (fx->res.preemptions[0].victim->placed[0], b);
    fx_free (fx);
}

Test (preempt, las_preempts_jobs_with_much_more_service)
{
    fx_t *fx = fx_new (NULL);
    sp_node_t *n = fx_node (fx, "n", "p", "A100", 64, 2, NULL);
    fx->now = 100000;
    sp_job_t *hog = s_running (fx, n, 1, 0);       /*  100000 GPU-s: queue 2  */
    sp_job_t *fresh = s_running (fx, n, 1, 99000); /*  1000 GPU-s: queue 0  */
    sp_job_t *newcomer = fx_job (fx, 1, 1);
    fx_cycle (fx, SP_POLICY_LAS);
    cr_assert_eq (s_npreempted (fx), 1);
    cr_assert (fx_preempted (fx, hog));
    cr_assert (!fx_preempted (fx, fresh), "same queue: no thrashing");
    cr_assert (strstr (fx->res.preemptions[0].reason, "less GPU service"), "%s", fx->res.preemptions[0].reason);
    (void) newcomer;
    /*  The default policy would not: same priority.  */
    fx_t *fy = fx_new (NULL);
    sp_node_t *m = fx_node (fy, "n", "p", "A100", 64, 1, NULL);
    fy->now = 100000;
    s_running (fy, m, 1, 0);
    fx_job (fy, 1, 1);
    fx_cycle (fy, SP_POLICY_DEFAULT);
    cr_assert_eq (fy->res.npreemptions, 0);
    fx_free (fy);
    fx_free (fx);
}

Test (preempt, las_orders_by_attained_service)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "n", "p", "A100", 64, 1, NULL);
    sp_job_t *served = fx_job (fx, 1, 1);
    served->attained_gpu_s = 50000;
    sp_job_t *newer = fx_job (fx, 1, 1);
    fx_cycle (fx, SP_POLICY_LAS);
    cr_assert (newer->running);
    cr_assert (!served->running);
    fx_free (fx);
}
