/*  test_policy_share.c: priorities, fair share (weights, queues, decay,
 *  interleaving within a cycle) and per-tenant GPU quotas.  */
#include "test_policy_fixture.h"

static const char *s_tenants = "tenants:\n"
                               "  - {name: heavy, weight: 3}\n"
                               "  - {name: light, weight: 1}\n"
                               "  - {name: capped, gpu_quota: 4}\n"
                               "  - {name: cpu-only, gpu_quota: 0}\n"
                               "queues:\n"
                               "  - {name: prod, weight: 4}\n"
                               "  - {name: batch, weight: 1}\n"
                               "fair_share: {half_life: 1h}\n";

static int
s_count_placed (const fx_t *fx, const char *tenant)
{
    int n = 0;
    for (size_t i = 0; i < fx->res.nplacements; i++)
        n += strcmp (fx->res.placements[i].job->tenant, tenant) == 0;
    return n;
}

Test (share, priority_comes_first_in_every_policy)
{
    for (int pol = 0; pol < SP_POLICY__COUNT; pol++) {
        fx_t *fx = fx_new (NULL);
        fx_node (fx, "n", "p", "A100", 8, 1, NULL);
        sp_job_t *early = fx_job (fx, 1, 1);
        sp_job_t *urgent = fx_job (fx, 1, 1);
        urgent->priority = 5;
        early->duration_s = 1;
        urgent->duration_s = 1000;
        fx_cycle (fx, (sp_policy_t) pol);
        cr_assert (urgent->running, "policy %s", sp_policy_name ((sp_policy_t) pol));
        cr_assert (!early->running);
        fx_free (fx);
    }
}

Test (share, the_tenant_with_less_usage_goes_first)
{
    fx_t *fx = fx_new (s_tenants);
    fx_node (fx, "n", "p", "A100", 8, 1, NULL);
    sp_job_t *a = fx_job (fx, 1, 1);
    a->tenant = "light";
    sp_job_t *b = fx_job (fx, 1, 1);
    b->tenant = "other";
    sp_usage_charge (fx->e, "light", 3600, fx->now);
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert (b->running, "submitted later, but its tenant has used nothing");
    cr_assert (!a->running);
    fx_free (fx);
}

Test (share, usage_decays_with_the_half_life)
{
    fx_t *fx = fx_new (s_tenants);
    sp_usage_charge (fx->e, "light", 1000, 0);
    cr_assert_float_eq (sp_usage (fx->e, "light", 0), 1000, 1e-6);
    cr_assert_float_eq (sp_usage (fx->e, "light", 3600), 500, 1e-6);
    cr_assert_float_eq (sp_usage (fx->e, "light", 7200), 250, 1e-6);
    sp_usage_charge (fx->e, "light", 100, 7200);
    cr_assert_float_eq (sp_usage (fx->e, "light", 7200), 350, 1e-6);
    cr_assert_float_eq (sp_usage (fx->e, "nobody", 7200), 0, 1e-12);

    /*  Old usage fades: a tenant that used much long ago beats one that used a little just now.  */
    fx_node (fx, "n", "p", "A100", 8, 1, NULL);
    sp_usage_charge (fx->e, "heavy", 36000, 0); /*  /3 weight: 12000 at t=0, 1/1024 of it ten hours on  */
    sp_usage_charge (fx->e, "other", 100, 36000);
    fx->now = 36000;
    sp_job_t *o = fx_job (fx, 1, 1);
    o->tenant = "other";
    sp_job_t *h = fx_job (fx, 1, 1);
    h->tenant = "heavy";
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert (h->running);
    cr_assert (!o->running);
    fx_free (fx);
}

Test (share, running_jobs_are_charged_by_the_cycle)
{
    fx_t *fx = fx_new (s_tenants);
    fx_node (fx, "n", "p", "A100", 8, 4, NULL);
    sp_job_t *j = fx_job (fx, 2, 2);
    j->tenant = "light";
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert (j->running);
    cr_assert_float_eq (sp_usage_charged_until (fx->e), fx->now, 1e-9);
    fx->now += 100;
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert_float_eq (sp_usage (fx->e, "light", fx->now), 4 * 100, 1e-6, "4 GPUs for 100 s");
    fx->now += 50;
    fx_cycle (fx, SP_POLICY_DEFAULT);
    double expect = 400 * exp2 (-50.0 / 3600) + 200;
    cr_assert_float_eq (sp_usage (fx->e, "light", fx->now), expect, 1e-6, "charged once, then decayed");
    fx_free (fx);
}

Test (share, tenants_interleave_by_weight_within_one_cycle)
{
    fx_t *fx = fx_new (s_tenants);
    for (int i = 0; i < 3; i++)
        fx_node (fx, "n", "p", "A100", 64, 4, NULL);
    for (int i = 0; i < 12; i++) {
        fx_job (fx, 1, 1)->tenant = "heavy";
        fx_job (fx, 1, 1)->tenant = "light";
    }
    cr_assert_eq (fx_cycle (fx, SP_POLICY_DEFAULT), 12);
    int h = s_count_placed (fx, "heavy"), l = s_count_placed (fx, "light");
    cr_assert (h >= 8 && h <= 10 && l == 12 - h, "weight 3:1 -> about 9:3, got %d:%d", h, l);
    fx_free (fx);
}

Test (share, equal_tenants_split_evenly_and_fifo_ignores_shares)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "n", "p", "A100", 64, 8, NULL);
    for (int i = 0; i < 10; i++)
        fx_job (fx, 1, 1)->tenant = "a";
    for (int i = 0; i < 10; i++)
        fx_job (fx, 1, 1)->tenant = "b";
    cr_assert_eq (fx_cycle (fx, SP_POLICY_DEFAULT), 8);
    cr_assert_eq (s_count_placed (fx, "a"), 4);
    cr_assert_eq (s_count_placed (fx, "b"), 4);
    fx_free (fx);

    fx = fx_new (NULL);
    fx_node (fx, "n", "p", "A100", 64, 8, NULL);
    for (int i = 0; i < 10; i++)
        fx_job (fx, 1, 1)->tenant = "a";
    for (int i = 0; i < 10; i++)
        fx_job (fx, 1, 1)->tenant = "b";
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert_eq (s_count_placed (fx, "a"), 8, "submit order");
    fx_free (fx);
}

Test (share, queue_weights_scale_the_share)
{
    fx_t *fx = fx_new (s_tenants);
    fx_node (fx, "n", "p", "A100", 64, 10, NULL);
    for (int i = 0; i < 10; i++) {
        sp_job_t *x = fx_job (fx, 1, 1);
        x->tenant = "x";
        x->queue = "batch";
        sp_job_t *y = fx_job (fx, 1, 1);
        y->tenant = "y";
        y->queue = "prod";
    }
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert_eq (s_count_placed (fx, "y"), 8, "prod weighs 4, batch 1: 8 of 10");
    fx_free (fx);
}

Test (share, gpu_quota_holds_a_tenant_back)
{
    fx_t *fx = fx_new (s_tenants);
    fx_node (fx, "n", "p", "A100", 64, 8, NULL);
    sp_job_t *a = fx_job (fx, 1, 3);
    a->tenant = "capped";
    sp_job_t *b = fx_job (fx, 1, 2);
    b->tenant = "capped";
    sp_job_t *c = fx_job (fx, 1, 1);
    c->tenant = "capped";
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert (a->running);
    cr_assert (!b->running, "3 + 2 > 4");
    cr_assert (c->running, "3 + 1 <= 4: a later, smaller job still fits the quota");
    const sp_wait_t *w = fx_wait (fx, b);
    cr_assert (strstr (w->reason, "GPU quota is 4; its jobs hold 3 and this one needs 2"), "%s", w->reason);
    cr_assert (!w->reservation, "a job held by its quota holds nothing back");
    sp_job_t *big = fx_job (fx, 1, 5);
    big->tenant = "capped";
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert (strstr (fx_wait (fx, big)->reason, "more than tenant capped's GPU quota of 4"), "%s",
               fx_wait (fx, big)->reason);
    fx_end (fx, a, 0);
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert (b->running, "room in the quota again");
    fx_free (fx);
}

Test (share, quota_zero_allows_only_jobs_without_gpus)
{
    fx_t *fx = fx_new (s_tenants);
    fx_node (fx, "n", "p", "A100", 64, 8, NULL);
    sp_job_t *g = fx_job (fx, 1, 1);
    g->tenant = "cpu-only";
    sp_job_t *c = fx_job (fx, 1, 0);
    c->tenant = "cpu-only";
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert (!g->running);
    cr_assert (c->running);
    cr_assert (strstr (fx_wait (fx, g)->reason, "no GPU quota (0)"), "%s", fx_wait (fx, g)->reason);
    fx_free (fx);
}

Test (share, a_quota_blocked_job_does_not_hold_up_fifo)
{
    fx_t *fx = fx_new (s_tenants);
    fx_node (fx, "n", "p", "A100", 64, 8, NULL);
    fx_job (fx, 1, 1)->tenant = "cpu-only";
    sp_job_t *next = fx_job (fx, 1, 1);
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert (next->running);
    fx_free (fx);
}
