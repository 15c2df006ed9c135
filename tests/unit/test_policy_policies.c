/*  test_policy_policies.c: the order each policy takes jobs in, and the
 *  cycle's limits.  */
#include "test_policy_fixture.h"

/*  One GPU; three jobs; which one starts?  */
static sp_job_t *
s_first (sp_policy_t policy, void (*setup) (fx_t *, sp_job_t **))
{
    static sp_job_t *jobs[3];
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "n", "p", "A100", 64, 1, NULL);
    for (int i = 0; i < 3; i++)
        jobs[i] = fx_job (fx, 1, 1);
    setup (fx, jobs);
    fx_cycle (fx, policy);
    int which = -1;
    for (int i = 0; i < 3; i++)
        if (jobs[i]->running)
            which = i;
    fx_free (fx);
    cr_assert_geq (which, 0);
    return (sp_job_t *) (intptr_t) which;
}

static void
s_durations (fx_t *fx, sp_job_t **j)
{
    (void) fx;
    j[0]->duration_s = 500;
    j[1]->duration_s = 100;
    j[2]->duration_s = 300;
}

Test (policies, fifo_takes_submit_order_sjf_the_shortest)
{
    cr_assert_eq ((intptr_t) s_first (SP_POLICY_FIFO, s_durations), 0);
    cr_assert_eq ((intptr_t) s_first (SP_POLICY_BACKFILL, s_durations), 0);
    cr_assert_eq ((intptr_t) s_first (SP_POLICY_SJF, s_durations), 1);
}

static void
s_submitted_backwards (fx_t *fx, sp_job_t **j)
{
    (void) fx;
    j[0]->submit_s = 30;
    j[1]->submit_s = 20;
    j[2]->submit_s = 10;
}

Test (policies, submit_time_not_id_orders_fifo)
{
    cr_assert_eq ((intptr_t) s_first (SP_POLICY_FIFO, s_submitted_backwards), 2);
}

static void
s_sizes (fx_t *fx, sp_job_t **j)
{
    fx->nodes[0].cap_gpus = 4;
    j[0]->gpus = 4;
    j[1]->gpus = 2;
    j[2]->gpus = 1;
    j[2]->ntasks = 1;
}

Test (policies, default_prefers_smaller_jobs_fifo_does_not)
{
    cr_assert_eq ((intptr_t) s_first (SP_POLICY_FIFO, s_sizes), 0);
    /*  Default: smaller first; 1 + 2 fit together, the 4-GPU job waits.  */
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "n", "p", "A100", 64, 4, NULL);
    sp_job_t *big = fx_job (fx, 1, 4), *mid = fx_job (fx, 1, 2), *small = fx_job (fx, 1, 1);
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert (!big->running && mid->running && small->running);
    fx_free (fx);
}

static void
s_limits (fx_t *fx, sp_job_t **j)
{
    (void) fx;
    j[0]->time_limit_s = 7200;
    j[1]->time_limit_s = 0;
    j[2]->time_limit_s = 600;
}

Test (policies, default_prefers_shorter_time_limits)
{
    cr_assert_eq ((intptr_t) s_first (SP_POLICY_DEFAULT, s_limits), 2);
}

Test (policies, default_lets_old_jobs_go_first)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "n", "p", "A100", 64, 4, NULL);
    fx->now = 200000;
    sp_job_t *small = fx_job (fx, 1, 1);
    small->submit_s = fx->now - 60;
    sp_job_t *old_big = fx_job (fx, 1, 4);
    old_big->submit_s = fx->now - 25 * 3600; /*  past the 24 h age rule  */
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert (old_big->running);
    cr_assert (!small->running);
    fx_free (fx);
}

Test (policies, max_placements_stops_the_cycle)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "n", "p", "A100", 64, 8, NULL);
    for (int i = 0; i < 6; i++)
        fx_job (fx, 1, 1);
    sp_params_t p;
    sp_params_defaults (&p, SP_POLICY_DEFAULT, fx->now);
    p.max_placements = 4;
    cr_assert_eq (fx_cycle_with (fx, &p), 4);
    cr_assert_eq (fx->res.nwaits, 0, "the rest were not looked at");
    cr_assert_eq (fx->res.jobs_considered, 4);
    cr_assert_eq (fx_cycle_with (fx, &p), 2);
    fx_free (fx);
}

Test (policies, params_defaults)
{
    sp_params_t p;
    sp_params_defaults (&p, SP_POLICY_DEFAULT, 5);
    cr_assert (p.preempt && p.backfill);
    cr_assert_float_eq (p.now_s, 5, 1e-12);
    sp_params_defaults (&p, SP_POLICY_FIFO, 0);
    cr_assert (!p.preempt && !p.backfill);
    sp_params_defaults (&p, SP_POLICY_BACKFILL, 0);
    cr_assert (!p.preempt && p.backfill);
    sp_params_defaults (&p, SP_POLICY_LAS, 0);
    cr_assert (p.preempt && p.backfill);
    sp_params_defaults (&p, SP_POLICY_SJF, 0);
    cr_assert (!p.preempt && p.backfill);
}

Test (policies, the_order_is_the_same_when_jobs_come_in_another_order)
{
    /*  The engine remembers last cycle's order; a reshuffled input must not change it.  */
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "n", "p", "A100", 64, 1, NULL);
    sp_job_t *blocker = fx_job (fx, 1, 1);
    blocker->priority = 9;
    fx_cycle (fx, SP_POLICY_DEFAULT);
    for (int i = 0; i < 20; i++) {
        sp_job_t *j = fx_job (fx, 1, 1);
        j->submit_s = 1000 - i;
        j->tenant = i % 2 ? "a" : "b";
    }
    fx_cycle (fx, SP_POLICY_DEFAULT);
    fx_cycle (fx, SP_POLICY_DEFAULT);
    /*  Now the same jobs in reverse input order, against this engine (which
     *  remembers the last order) and a fresh one: the same choice.  */
    sp_node_t *nodes[1] = { &fx->nodes[0] };
    sp_job_t *pending[20], *running[1] = { blocker };
    for (int i = 0; i < 20; i++)
        pending[i] = &fx->jobs[20 - i];
    fx_end (fx, blocker, 0);
    sp_result_t res = { 0 }, fresh_res = { 0 };
    sp_params_t p;
    sp_params_defaults (&p, SP_POLICY_DEFAULT, fx->now);
    cr_assert_eq (sp_schedule (fx->e, &p, nodes, 1, pending, 20, running, 0, &res), 0);
    sp_engine_t *fresh = sp_engine_new (fx->c);
    cr_assert_eq (sp_schedule (fresh, &p, nodes, 1, pending, 20, running, 0, &fresh_res), 0);
    cr_assert_eq (res.nplacements, 1);
    cr_assert_eq (fresh_res.nplacements, 1);
    cr_assert_eq (res.placements[0].job, fresh_res.placements[0].job);
    /*  Equal usage: the tenant named first (a), then its oldest job (submit 981).  */
    cr_assert_str_eq (res.placements[0].job->tenant, "a");
    cr_assert_float_eq (res.placements[0].job->submit_s, 981, 1e-9);
    for (size_t i = 0; i < res.nwaits; i++)
        cr_assert_eq (res.waits[i].job, fresh_res.waits[i].job, "the same order of waits");
    sp_result_clear (&fresh_res);
    sp_engine_free (&fresh);
    sp_result_clear (&res);
    fx_free (fx);
}

Test (policies, a_reused_job_struct_is_read_afresh)
{
    /*  The engine remembers waiting jobs by pointer and id: a struct reused for
     *  another job (new id) must be seen with its new constraints.  */
    fx_t *fx = fx_new ("regions: [r]\npools:\n"
                       "  - {name: eu, site: onprem, region: r, jurisdiction: EU}\n"
                       "  - {name: us, site: onprem, region: r, jurisdiction: US}\n");
    fx_node (fx, "e", "eu", "A100", 8, 1, NULL);
    fx_node (fx, "u", "us", "A100", 8, 1, NULL);
    static const char *const eu[] = { "EU" }, *const us[] = { "US" };
    sp_job_t *blocker = fx_job (fx, 1, 1);
    blocker->residency = eu;
    blocker->nresidency = 1;
    fx_cycle (fx, SP_POLICY_DEFAULT);
    sp_job_t *j = fx_job (fx, 1, 1);
    j->residency = eu;
    j->nresidency = 1;
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert (!j->running, "eu is full");
    j->id = 1000; /*  another job in the same struct  */
    j->residency = us;
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert (j->running);
    cr_assert_str_eq (fx_placement (fx, j)->nodes[0]->name, "u");
    /*  Same id, but a changed priority (among the fields read every cycle) is seen too.  */
    sp_job_t *a = fx_job (fx, 1, 1), *b = fx_job (fx, 1, 1);
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert (!a->running && !b->running);
    fx_end (fx, blocker, 0);
    b->priority = 3;
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert (b->running && !a->running);
    fx_free (fx);
}
