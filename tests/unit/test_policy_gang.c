/*  test_policy_gang.c: gangs (all tasks in one pool, all or none, fewest
 *  nodes, one nvlink domain or rack) and shards (task by task, over pools).  */
#include "test_policy_fixture.h"

static int
s_distinct_nodes (const sp_placement_t *p)
{
    int n = 0;
    for (uint32_t t = 0; t < p->job->ntasks; t++) {
        int seen = 0;
        for (uint32_t u = 0; u < t; u++)
            seen |= p->nodes[u] == p->nodes[t];
        n += !seen;
    }
    return n;
}

Test (gang, larger_than_any_pool_waits_and_says_so)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "a1", "a", "A100", 64, 8, NULL);
    fx_node (fx, "b1", "b", "A100", 64, 8, NULL);
    sp_job_t *j = fx_job (fx, 3, 4); /*  12 GPUs: each pool has 8, both together 16  */
    cr_assert_eq (fx_cycle (fx, SP_POLICY_DEFAULT), 0);
    const sp_wait_t *w = fx_wait (fx, j);
    cr_assert (w);
    cr_assert (strstr (w->reason, "in one pool"), "%s", w->reason);
    cr_assert (strstr (w->reason, "no allowed pool can hold that many even when idle"), "%s", w->reason);
    cr_assert (strstr (w->reason, "room for 2"), "%s", w->reason);
    cr_assert_eq (fx->nodes[0].used_gpus + fx->nodes[1].used_gpus, 0, "nothing half-started");
    fx_free (fx);
}

Test (gang, all_or_nothing_never_partial)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "n1", "p", "A100", 64, 2, NULL);
    fx_node (fx, "n2", "p", "A100", 64, 2, NULL);
    sp_job_t *busy = fx_job (fx, 1, 1);
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert (busy->running);
    sp_job_t *g = fx_job (fx, 4, 1); /*  needs 4, 3 free  */
    cr_assert_eq (fx_cycle (fx, SP_POLICY_FIFO), 0);
    cr_assert_eq (fx->nodes[0].used_gpus + fx->nodes[1].used_gpus, 1);
    const sp_wait_t *w = fx_wait (fx, g);
    cr_assert (strstr (w->reason, "has 3 GPU free (1 held by 1 job)"), "%s", w->reason);
    fx_end (fx, busy, 0);
    cr_assert_eq (fx_cycle (fx, SP_POLICY_FIFO), 1);
    cr_assert_eq (fx->nodes[0].used_gpus + fx->nodes[1].used_gpus, 4);
    fx_free (fx);
}

Test (gang, two_half_fitting_gangs_do_not_deadlock)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "n1", "p", "A100", 64, 4, NULL);
    fx_node (fx, "n2", "p", "A100", 64, 4, NULL);
    sp_job_t *a = fx_job (fx, 6, 1);
    sp_job_t *b = fx_job (fx, 6, 1);
    a->time_limit_s = b->time_limit_s = 600;
    cr_assert_eq (fx_cycle (fx, SP_POLICY_DEFAULT), 1);
    cr_assert (a->running != b->running, "exactly one holds resources");
    cr_assert_eq (fx->nodes[0].used_gpus + fx->nodes[1].used_gpus, 6);
    sp_job_t *first = a->running ? a : b, *second = a->running ? b : a;
    const sp_wait_t *w = fx_wait (fx, second);
    cr_assert (w->reservation, "the waiting gang holds the reservation");
    cr_assert_float_eq (w->expected_start_s, fx->now + 600, 1e-9);
    fx->now += 600;
    fx_end (fx, first, 0);
    cr_assert_eq (fx_cycle (fx, SP_POLICY_DEFAULT), 1);
    cr_assert (second->running);
    fx_free (fx);
}

Test (gang, fewest_nodes_first)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "small1", "p", "A100", 64, 2, NULL);
    fx_node (fx, "small2", "p", "A100", 64, 2, NULL);
    fx_node (fx, "big", "p", "A100", 64, 8, NULL);
    fx_node (fx, "small3", "p", "A100", 64, 2, NULL);
    sp_job_t *j = fx_job (fx, 4, 1);
    fx_cycle (fx, SP_POLICY_FIFO);
    const sp_placement_t *p = fx_placement (fx, j);
    cr_assert_eq (s_distinct_nodes (p), 1);
    cr_assert_str_eq (p->nodes[0]->name, "big");
    sp_job_t *k = fx_job (fx, 8, 1); /*  big has 4 left: 4 + 2 + 2 -> 3 nodes  */
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert_eq (s_distinct_nodes (fx_placement (fx, k)), 3);
    fx_free (fx);
}

Test (gang, same_rack_among_equal_node_counts)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "a", "p", "A100", 64, 4, "rack=r1");
    fx_node (fx, "b", "p", "A100", 64, 4, "rack=r2");
    fx_node (fx, "c", "p", "A100", 64, 4, "rack=r3");
    fx_node (fx, "d", "p", "A100", 64, 4, "rack=r2");
    sp_job_t *j = fx_job (fx, 2, 4);
    fx_cycle (fx, SP_POLICY_FIFO);
    const sp_placement_t *p = fx_placement (fx, j);
    cr_assert_eq (s_distinct_nodes (p), 2);
    cr_assert_str_eq (st_kv_get (p->nodes[0]->labels, "rack"), "r2");
    cr_assert_str_eq (st_kv_get (p->nodes[1]->labels, "rack"), "r2");
    fx_free (fx);
}

Test (gang, nvlink_domain_before_rack)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "a", "p", "H100", 64, 4, "rack=r1,nvlink_domain=x");
    fx_node (fx, "b", "p", "H100", 64, 4, "rack=r1,nvlink_domain=y");
    fx_node (fx, "c", "p", "H100", 64, 4, "rack=r2,nvlink_domain=z");
    fx_node (fx, "d", "p", "H100", 64, 4, "rack=r3,nvlink_domain=z");
    sp_job_t *j = fx_job (fx, 2, 4);
    fx_cycle (fx, SP_POLICY_FIFO);
    const sp_placement_t *p = fx_placement (fx, j);
    cr_assert_str_eq (st_kv_get (p->nodes[0]->labels, "nvlink_domain"), "z");
    cr_assert_str_eq (st_kv_get (p->nodes[1]->labels, "nvlink_domain"), "z");
    fx_free (fx);
}

Test (gang, fewer_nodes_beat_one_rack)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "a", "p", "A100", 64, 2, "rack=r1");
    fx_node (fx, "b", "p", "A100", 64, 2, "rack=r1");
    fx_node (fx, "c", "p", "A100", 64, 4, "rack=r2");
    sp_job_t *j = fx_job (fx, 4, 1);
    fx_cycle (fx, SP_POLICY_FIFO);
    const sp_placement_t *p = fx_placement (fx, j);
    cr_assert_eq (s_distinct_nodes (p), 1);
    cr_assert_str_eq (p->nodes[0]->name, "c");
    fx_free (fx);
}

Test (gang, one_gpu_type_for_the_whole_gang)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "h", "p", "H100", 64, 2, NULL);
    fx_node (fx, "a", "p", "A100", 64, 2, NULL);
    sp_job_t *j = fx_job (fx, 4, 1); /*  any type, but 2 + 2 of different types is not a gang  */
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert_null (fx_placement (fx, j));
    sp_job_t *k = fx_job (fx, 2, 1);
    fx_cycle (fx, SP_POLICY_FIFO);
    const sp_placement_t *p = fx_placement (fx, k);
    cr_assert_str_eq (p->nodes[0]->gpu_type, p->nodes[1]->gpu_type);
    fx_free (fx);
}

static const char *s_two_jurisdictions =
    "regions: [eu, sa]\n"
    "pools:\n"
    "  - {name: eu-pool, site: public_cloud, region: eu, jurisdiction: EU, cost_gpu_hour: 1}\n"
    "  - {name: sa-pool, site: public_cloud, region: sa, jurisdiction: SA, cost_gpu_hour: 3}\n"
    "models:\n"
    "  - {name: fam, variants: [{name: fam-eu, jurisdictions: [EU]}, {name: fam-sa, jurisdictions: [SA]}]}\n";

Test (shards, spread_over_pools_when_the_best_is_full)
{
    fx_t *fx = fx_new (s_two_jurisdictions);
    fx_node (fx, "e1", "eu-pool", "L4", 16, 4, NULL);
    fx_node (fx, "s1", "sa-pool", "L4", 16, 4, NULL);
    sp_job_t *j = fx_job (fx, 6, 1);
    j->gang = 0;
    j->model = "fam";
    j->weights = (sp_weights_t) { .cost = 1 };
    cr_assert_eq (fx_cycle (fx, SP_POLICY_FIFO), 1);
    const sp_placement_t *p = fx_placement (fx, j);
    int eu = 0, sa = 0;
    for (uint32_t t = 0; t < 6; t++) {
        const char *pool = fx_pool_of (fx, p->nodes[t]);
        if (strcmp (pool, "eu-pool") == 0) {
            eu++;
            cr_assert_str_eq (p->variants[t]->name, "fam-eu");
        }
        else {
            sa++;
            cr_assert_str_eq (p->variants[t]->name, "fam-sa", "each shard's variant fits its jurisdiction");
        }
    }
    cr_assert_eq (eu, 4, "the cheap pool first");
    cr_assert_eq (sa, 2);
    cr_assert (strstr (p->reason, "over 2 pools"), "%s", p->reason);
    cr_assert_float_eq (p->est_cost, 4 * 1.0 + 2 * 3.0, 1e-9, "each shard priced where it runs");
    fx_free (fx);
}

Test (shards, all_or_none_in_one_cycle)
{
    fx_t *fx = fx_new (s_two_jurisdictions);
    fx_node (fx, "e1", "eu-pool", "L4", 16, 4, NULL);
    fx_node (fx, "s1", "sa-pool", "L4", 16, 4, NULL);
    sp_job_t *j = fx_job (fx, 9, 1);
    j->gang = 0;
    cr_assert_eq (fx_cycle (fx, SP_POLICY_FIFO), 0);
    cr_assert_eq (fx->nodes[0].used_gpus + fx->nodes[1].used_gpus, 0);
    const sp_wait_t *w = fx_wait (fx, j);
    cr_assert (strstr (w->reason, "hold at most 8 even when idle"), "%s", w->reason);
    fx_free (fx);
}

Test (shards, respect_constraints_per_shard)
{
    fx_t *fx = fx_new (s_two_jurisdictions);
    fx_node (fx, "e1", "eu-pool", "L4", 16, 2, NULL);
    fx_node (fx, "s1", "sa-pool", "L4", 16, 8, NULL);
    sp_job_t *j = fx_job (fx, 4, 1);
    j->gang = 0;
    j->model = "fam-eu";
    cr_assert_eq (fx_cycle (fx, SP_POLICY_FIFO), 0, "only 2 shards fit where fam-eu may run");
    j->ntasks = 2;
    cr_assert_eq (fx_cycle (fx, SP_POLICY_FIFO), 1);
    fx_free (fx);
}
