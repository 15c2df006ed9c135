/*  test_policy_score.c: the score terms, the prefer profiles, explicit weights,
 *  ties, and the cost/energy/carbon estimate.  */
#include "test_policy_fixture.h"

/*  Two pools that differ in one figure each way: `good` wins the term under
 *  test and loses every other one.  */
static const char *s_pair =
    "regions: [near, far]\n"
    "latency_ms: {near: {far: 100}}\n"
    "pools:\n"
    /*  cheap: low cost, far, high PUE, dirty grid  */
    "  - {name: cheap, site: public_cloud, region: far, cost_gpu_hour: 1, pue: 2.0, carbon_g_per_kwh: 800}\n"
    /*  close: dear, near, low PUE, clean grid  */
    "  - {name: close, site: onprem, region: near, cost_gpu_hour: 4, pue: 1.1, carbon_g_per_kwh: 50}\n";

static const char *
s_choose (fx_t *fx, sp_weights_t w)
{
    sp_job_t *j = fx_job (fx, 1, 1);
    j->near = "near";
    j->weights = w;
    fx_cycle (fx, SP_POLICY_FIFO);
    const sp_placement_t *p = fx_placement (fx, j);
    cr_assert (p);
    const char *pool = fx_pool_of (fx, p->nodes[0]);
    fx_end (fx, j, 0);
    return pool;
}

static fx_t *
s_pair_fx (void)
{
    fx_t *fx = fx_new (s_pair);
    fx_node (fx, "c1", "cheap", "A100", 16, 8, NULL);
    fx_node (fx, "n1", "close", "A100", 16, 8, NULL);
    return fx;
}

Test (score, each_term_decides_alone)
{
    fx_t *fx = s_pair_fx ();
    cr_assert_str_eq (s_choose (fx, (sp_weights_t) { .cost = 1 }), "cheap");
    cr_assert_str_eq (s_choose (fx, (sp_weights_t) { .latency = 1 }), "close");
    cr_assert_str_eq (s_choose (fx, (sp_weights_t) { .energy = 1 }), "close", "PUE 1.1 beats 2.0");
    cr_assert_str_eq (s_choose (fx, (sp_weights_t) { .carbon = 1 }), "close");
    fx_free (fx);
}

Test (score, energy_and_carbon_can_disagree)
{
    fx_t *fx = fx_new ("regions: [r]\npools:\n"
                       "  - {name: efficient, site: onprem, region: r, pue: 1.0, carbon_g_per_kwh: 700}\n"
                       "  - {name: green, site: onprem, region: r, pue: 1.5, carbon_g_per_kwh: 20}\n");
    fx_node (fx, "e", "efficient", "A100", 16, 8, NULL);
    fx_node (fx, "g", "green", "A100", 16, 8, NULL);
    cr_assert_str_eq (s_choose (fx, (sp_weights_t) { .energy = 1 }), "efficient");
    cr_assert_str_eq (s_choose (fx, (sp_weights_t) { .carbon = 1 }), "green");
    fx_free (fx);
}

Test (score, gpu_watts_count_in_energy)
{
    fx_t *fx = fx_new ("regions: [r]\npools:\n"
                       "  - {name: hot, site: onprem, region: r, gpu_watts: 700}\n"
                       "  - {name: cool, site: onprem, region: r, gpu_watts: 300}\n");
    fx_node (fx, "h", "hot", "A100", 16, 8, NULL);
    fx_node (fx, "c", "cool", "A100", 16, 8, NULL);
    cr_assert_str_eq (s_choose (fx, (sp_weights_t) { .energy = 1 }), "cool");
    fx_free (fx);
}

Test (score, packing_prefers_the_fuller_node)
{
    fx_t *fx = fx_new (NULL);
    sp_node_t *busy = fx_node (fx, "busy", "p1", "A100", 16, 8, NULL);
    fx_node (fx, "idle", "p2", "A100", 16, 8, NULL);
    busy->used_gpus = 6;
    cr_assert_str_eq (s_choose (fx, (sp_weights_t) { .packing = 1 }), "p1", "2 of 8 left beats 7 of 8");
    /*  Inside one pool too: the fullest node that fits.  */
    fx_node (fx, "half", "p1", "A100", 16, 8, NULL)->used_gpus = 4;
    sp_job_t *j = fx_job (fx, 1, 2);
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert_str_eq (fx_placement (fx, j)->nodes[0]->name, "busy");
    fx_free (fx);
}

Test (score, profiles)
{
    sp_weights_t w;
    const char *names[] = { "cost", "latency", "energy", "balanced", NULL };
    for (int i = 0; i < 5; i++) {
        cr_assert_eq (sp_weights_for_prefer (names[i], &w), 0);
        cr_assert_float_eq (w.cost + w.latency + w.energy + w.carbon + w.packing, 1.0, 1e-9, "%s sums to 1",
                            names[i] ? names[i] : "NULL");
    }
    cr_assert_eq (sp_weights_for_prefer ("speed", &w), -1);
    sp_weights_t bal, nul;
    sp_weights_for_prefer ("balanced", &bal);
    sp_weights_for_prefer (NULL, &nul);
    cr_assert (memcmp (&bal, &nul, sizeof bal) == 0, "NULL is balanced");

    fx_t *fx = s_pair_fx ();
    sp_weights_for_prefer ("cost", &w);
    cr_assert_str_eq (s_choose (fx, w), "cheap");
    sp_weights_for_prefer ("latency", &w);
    cr_assert_str_eq (s_choose (fx, w), "close");
    sp_weights_for_prefer ("energy", &w);
    cr_assert_str_eq (s_choose (fx, w), "close");
    fx_free (fx);
}

Test (score, zero_weights_mean_balanced)
{
    fx_t *fx = s_pair_fx ();
    sp_job_t *j = fx_job (fx, 1, 1);
    j->near = "near";
    fx_cycle (fx, SP_POLICY_FIFO);
    const sp_placement_t *p = fx_placement (fx, j);
    sp_weights_t bal;
    sp_weights_for_prefer ("balanced", &bal);
    double expect = bal.cost * p->score.cost + bal.latency * p->score.latency + bal.energy * p->score.energy
                    + bal.carbon * p->score.carbon + bal.packing * p->score.packing;
    cr_assert_float_eq (p->score.total, expect, 1e-9);
    fx_free (fx);
}

Test (score, terms_are_normalised_over_the_candidates)
{
    fx_t *fx = s_pair_fx ();
    sp_job_t *j = fx_job (fx, 2, 1);
    j->near = "near";
    j->weights = (sp_weights_t) { .cost = 1 };
    fx_cycle (fx, SP_POLICY_FIFO);
    const sp_placement_t *p = fx_placement (fx, j);
    cr_assert_eq (p->nrunners_up, 1);
    const sp_score_t *w = &p->score, *l = &p->runners_up[0];
    cr_assert_float_eq (w->cost, 0, 1e-12);
    cr_assert_float_eq (l->cost, 1, 1e-12);
    cr_assert_float_eq (w->latency, 1, 1e-12, "the far pool is the worst on latency");
    cr_assert_float_eq (w->cost_per_hour, 2 * 1.0 + 2 * 1 * 0, 1e-9, "2 tasks x 1 GPU x 1/h");
    cr_assert_float_eq (w->latency_ms, 100, 1e-9);
    cr_assert_float_eq (l->latency_ms, 0, 1e-9);
    cr_assert_float_eq (w->kwh_per_hour, (2 * 400 + 2 * 10) * 2.0 / 1000, 1e-9);
    cr_assert_float_eq (w->co2_g_per_hour, w->kwh_per_hour * 800, 1e-9);
    cr_assert_lt (w->total, l->total);
    fx_free (fx);
}

Test (score, equal_scores_go_to_the_pool_named_first)
{
    fx_t *fx = fx_new ("regions: [r]\npools:\n"
                       "  - {name: zulu, site: onprem, region: r, cost_gpu_hour: 1}\n"
                       "  - {name: alpha, site: onprem, region: r, cost_gpu_hour: 1}\n"
                       "  - {name: mike, site: onprem, region: r, cost_gpu_hour: 1}\n");
    fx_node (fx, "z", "zulu", "A100", 16, 8, NULL);
    fx_node (fx, "m", "mike", "A100", 16, 8, NULL);
    fx_node (fx, "a", "alpha", "A100", 16, 8, NULL);
    for (int i = 0; i < 3; i++)
        cr_assert_str_eq (s_choose (fx, (sp_weights_t) { 0 }), "alpha");
    sp_job_t *j = fx_job (fx, 1, 1);
    fx_cycle (fx, SP_POLICY_FIFO);
    const sp_placement_t *p = fx_placement (fx, j);
    cr_assert_str_eq (fx->c->pools[p->runners_up[0].pool].name, "mike");
    cr_assert_str_eq (fx->c->pools[p->runners_up[1].pool].name, "zulu");
    fx_free (fx);
}

Test (score, estimate_formula)
{
    sp_cluster_t *c = fx_cluster ("regions: [r]\npools: [{name: p, site: onprem, region: r, cost_gpu_hour: 1.5, "
                                  "cost_cpu_hour: 0.1, pue: 1.5, carbon_g_per_kwh: 200}]\n");
    sp_job_t j = { .ntasks = 2, .gpus = 2, .cpus_milli = 1000, .mem_mb = 1 };
    double cost, kwh, co2;
    sp_estimate (c, 0, &j, 7200, &cost, &kwh, &co2);
    cr_assert_float_eq (cost, (4 * 1.5 + 2 * 0.1) * 2, 1e-9);
    cr_assert_float_eq (kwh, (4 * 400 + 2 * 10) * 2 * 1.5 / 1000, 1e-9);
    cr_assert_float_eq (co2, kwh * 200, 1e-9);
    sp_estimate (c, 0, &j, 0, &cost, &kwh, &co2);
    cr_assert_float_eq (cost, 0, 1e-12);
    sp_cluster_free (&c);
}

Test (score, placement_estimate_uses_the_time_limit_or_one_hour)
{
    fx_t *fx = fx_new ("regions: [r]\npools: [{name: p, site: onprem, region: r, cost_gpu_hour: 2}]\n");
    fx_node (fx, "n", "p", "A100", 16, 8, NULL);
    sp_job_t *a = fx_job (fx, 1, 1);
    sp_job_t *b = fx_job (fx, 1, 1);
    b->time_limit_s = 1800;
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert_float_eq (fx_placement (fx, a)->est_cost, 2 + 0, 1e-9, "one hour without a limit");
    cr_assert_float_eq (fx_placement (fx, b)->est_cost, 1, 1e-9, "half an hour");
    cr_assert (strstr (fx_placement (fx, a)->reason, "placed in pool p"), "%s", fx_placement (fx, a)->reason);
    fx_free (fx);
}
