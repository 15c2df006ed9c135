/*  test_policy_constraints.c: the hard constraints, each on its own.
 *
 *  Every test offers a cheaper or otherwise better pool that breaks the rule
 *  under test, so a placement there would win on score alone. */
#include "test_policy_fixture.h"

static const char *s_world =
    "regions: [eu, us, sa, cn]\n"
    "latency_ms: {eu: {us: 80, sa: 120, cn: 200}, us: {sa: 150, cn: 180}, sa: {cn: 160}}\n"
    "pools:\n"
    "  - {name: eu-restricted, site: onprem, region: eu, jurisdiction: EU, clearance: restricted, cost_gpu_hour: 3}\n"
    "  - {name: eu-internal, site: public_cloud, region: eu, jurisdiction: EU, clearance: internal, cost_gpu_hour: 1}\n"
    "  - {name: us-cheap, site: public_cloud, region: us, jurisdiction: US, clearance: restricted, cost_gpu_hour: 0.1}\n"
    "  - {name: sa-pool, site: public_cloud, region: sa, jurisdiction: SA, clearance: restricted, cost_gpu_hour: 0.5}\n"
    "  - {name: cn-pool, site: private_cloud, region: cn, jurisdiction: CN, clearance: restricted, cost_gpu_hour: 0.2}\n"
    "  - {name: edge, site: edge, region: eu, jurisdiction: EU, clearance: restricted, cost_gpu_hour: 5}\n"
    "models:\n"
    "  - name: euro\n"
    "    variants: [{name: euro-7b, jurisdictions: [EU]}]\n"
    "  - name: global\n"
    "    variants: [{name: global-cn, jurisdictions: [CN]}, {name: global-sa, jurisdictions: [SA]}]\n";

static fx_t *
s_world_fx (void)
{
    fx_t *fx = fx_new (s_world);
    const char *pools[] = { "eu-restricted", "eu-internal", "us-cheap", "sa-pool", "cn-pool", "edge" };
    static const char *names[] = { "n-eu-r", "n-eu-i", "n-us", "n-sa", "n-cn", "n-edge" };
    for (int i = 0; i < 6; i++)
        fx_node (fx, names[i], pools[i], "A100", 32, 8, "rack=r1");
    /*  An implicit pool: a node whose pool the file does not name.  */
    fx_node (fx, "n-lab", "lab", "A100", 32, 8, NULL);
    return fx;
}

static const char *
s_placed_pool (fx_t *fx, sp_job_t *j)
{
    fx_cycle (fx, SP_POLICY_FIFO);
    const sp_placement_t *p = fx_placement (fx, j);
    if (!p)
        return NULL;
    for (uint32_t t = 1; t < j->ntasks; t++)
        cr_assert_eq (p->nodes[t]->pool, p->nodes[0]->pool, "a gang in one pool");
    return fx_pool_of (fx, p->nodes[0]);
}

Test (constraints, classification_needs_clearance)
{
    fx_t *fx = s_world_fx ();
    sp_job_t *j = fx_job (fx, 1, 1);
    j->classification = SP_CLASS_CONFIDENTIAL;
    j->residency = (const char *const[]) { "EU" };
    j->nresidency = 1;
    /*  eu-internal (1.0/h) is cheaper than eu-restricted (3.0/h) but only cleared for internal.  */
    cr_assert_str_eq (s_placed_pool (fx, j), "eu-restricted");
    char why[200];
    cr_assert_not_null (sp_filter_pool (fx->c, sp_cluster_pool (fx->c, "eu-internal"), j, why, sizeof why));
    cr_assert (strstr (why, "clearance internal is below the job's confidential data"), "%s", why);
    cr_assert_null (sp_filter_pool (fx->c, sp_cluster_pool (fx->c, "eu-restricted"), j, why, sizeof why));
    fx_free (fx);
}

Test (constraints, public_data_may_go_anywhere_cheapest_wins)
{
    fx_t *fx = s_world_fx ();
    sp_job_t *j = fx_job (fx, 1, 1);
    j->weights = (sp_weights_t) { .cost = 1 };
    cr_assert_str_eq (s_placed_pool (fx, j), "lab", "implicit pool: zero prices");
    fx_free (fx);
}

Test (constraints, residency_keeps_data_in_its_jurisdictions)
{
    fx_t *fx = s_world_fx ();
    sp_job_t *j = fx_job (fx, 1, 1);
    j->residency = (const char *const[]) { "SA", "CN" };
    j->nresidency = 2;
    j->weights = (sp_weights_t) { .cost = 1 };
    cr_assert_str_eq (s_placed_pool (fx, j), "cn-pool", "cheapest of SA/CN; never us-cheap nor the implicit pool");
    char why[200];
    sp_filter_pool (fx->c, sp_cluster_pool (fx->c, "us-cheap"), j, why, sizeof why);
    cr_assert_str_eq (why, "jurisdiction US is not in the job's residency (SA, CN)");
    sp_filter_pool (fx->c, sp_cluster_pool (fx->c, "lab"), j, why, sizeof why);
    cr_assert (strstr (why, "no jurisdiction"), "%s", why);
    fx_free (fx);
}

Test (constraints, residency_never_runs_in_an_implicit_pool_even_when_it_is_all_there_is)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "n1", "lab", "", 8, 0, NULL);
    sp_job_t *j = fx_job (fx, 1, 0);
    j->residency = (const char *const[]) { "EU" };
    j->nresidency = 1;
    cr_assert_eq (fx_cycle (fx, SP_POLICY_DEFAULT), 0);
    const sp_wait_t *w = fx_wait (fx, j);
    cr_assert (w && strstr (w->reason, "no pool is allowed"), "%s", w ? w->reason : "-");
    cr_assert (strstr (w->reason, "no jurisdiction"), "%s", w->reason);
    fx_free (fx);
}

Test (constraints, site_kinds)
{
    fx_t *fx = s_world_fx ();
    sp_job_t *j = fx_job (fx, 1, 1);
    j->sites = 1u << SP_SITE_EDGE;
    cr_assert_str_eq (s_placed_pool (fx, j), "edge", "the dearest pool, the only edge one");
    sp_job_t *k = fx_job (fx, 1, 1);
    k->sites = (1u << SP_SITE_ONPREM) | (1u << SP_SITE_PRIVATE_CLOUD);
    k->weights = (sp_weights_t) { .cost = 1 };
    cr_assert_str_eq (s_placed_pool (fx, k), "lab", "an implicit pool counts as onprem");
    sp_job_t *m = fx_job (fx, 1, 1);
    m->sites = 1u << SP_SITE_PRIVATE_CLOUD;
    cr_assert_str_eq (s_placed_pool (fx, m), "cn-pool");
    char why[200];
    sp_filter_pool (fx->c, sp_cluster_pool (fx->c, "us-cheap"), k, why, sizeof why);
    cr_assert_str_eq (why, "site kind public_cloud is not among the job's sites (onprem, private_cloud)");
    fx_free (fx);
}

Test (constraints, pool_name)
{
    fx_t *fx = s_world_fx ();
    sp_job_t *j = fx_job (fx, 1, 1);
    j->pool = "sa-pool";
    cr_assert_str_eq (s_placed_pool (fx, j), "sa-pool");
    sp_job_t *k = fx_job (fx, 1, 1);
    k->pool = "no-such-pool";
    cr_assert_null (s_placed_pool (fx, k));
    fx_free (fx);
}

Test (constraints, labels_match_exactly)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "a", "p", "A100", 8, 8, "rack=r1,zone=z1");
    fx_node (fx, "b", "p", "A100", 8, 8, "rack=r10");
    fx_node (fx, "c", "p", "A100", 8, 8, NULL);
    sp_job_t *j = fx_job (fx, 1, 1);
    st_kv_add (&fx->job_labels[0], "rack", "r10");
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert_str_eq (fx_placement (fx, j)->nodes[0]->name, "b");
    char why[200];
    cr_assert_not_null (sp_filter_node (fx->c, &fx->nodes[0], j, why, sizeof why));
    cr_assert_str_eq (why, "node label rack is r1, the job needs r10");
    sp_filter_node (fx->c, &fx->nodes[2], j, why, sizeof why);
    cr_assert (strstr (why, "node has no label rack"), "%s", why);
    sp_job_t *k = fx_job (fx, 1, 0);
    st_kv_add (&fx->job_labels[1], "zone", "z2");
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert_null (fx_placement (fx, k));
    fx_free (fx);
}

Test (constraints, gpu_type_first_that_fits)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "h", "p1", "H100", 8, 2, NULL);
    fx_node (fx, "a", "p2", "A100", 8, 8, NULL);
    fx_node (fx, "t", "p3", "T4", 8, 8, NULL);
    static const char *const prefs[] = { "H100", "A100" };
    sp_job_t *j1 = fx_job (fx, 1, 2);
    j1->gpu_types = prefs;
    j1->ngpu_types = 2;
    sp_job_t *j2 = fx_job (fx, 1, 2);
    j2->gpu_types = prefs;
    j2->ngpu_types = 2;
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert_str_eq (fx_placement (fx, j1)->nodes[0]->gpu_type, "H100", "the first type while it fits");
    cr_assert_str_eq (fx_placement (fx, j2)->nodes[0]->gpu_type, "A100", "the next type once H100 is full");
    sp_job_t *j3 = fx_job (fx, 1, 8);
    j3->gpu_types = prefs;
    j3->ngpu_types = 2;
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert_null (fx_placement (fx, j3), "T4 is never used");
    char why[200];
    sp_filter_node (fx->c, &fx->nodes[2], j3, why, sizeof why);
    cr_assert_str_eq (why, "GPU type T4 is not in the job's list (H100, A100)");
    fx_free (fx);
}

Test (constraints, gpu_jobs_never_land_on_gpu_less_nodes)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "cpu", "p", "", 64, 0, NULL);
    sp_job_t *j = fx_job (fx, 1, 1);
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert_null (fx_placement (fx, j));
    const sp_wait_t *w = fx_wait (fx, j);
    cr_assert (strstr (w->reason, "node has no GPU"), "%s", w->reason);
    fx_free (fx);
}

Test (constraints, max_latency_from_near)
{
    fx_t *fx = s_world_fx ();
    sp_job_t *j = fx_job (fx, 1, 1);
    j->near = "us";
    j->max_latency_ms = 130;
    j->weights = (sp_weights_t) { .cost = 1 };
    j->residency = (const char *const[]) { "EU", "SA", "CN" };
    j->nresidency = 3;
    /*  From us: eu 80, sa 150, cn 180. cn-pool (0.2/h) and sa-pool are out of reach.  */
    cr_assert_str_eq (s_placed_pool (fx, j), "eu-internal");
    char why[200];
    sp_filter_pool (fx->c, sp_cluster_pool (fx->c, "cn-pool"), j, why, sizeof why);
    cr_assert_str_eq (why, "latency from us is 180 ms, over the job's limit of 130 ms");
    j->nresidency = 0;
    sp_filter_pool (fx->c, sp_cluster_pool (fx->c, "lab"), j, why, sizeof why);
    cr_assert (strstr (why, "latency from us to this pool is unknown"), "%s", why);
    fx_free (fx);
}

Test (constraints, model_auto_family_and_variant)
{
    fx_t *fx = s_world_fx ();
    /*  auto: whatever variant the pool's jurisdiction allows; the cheapest pool with one.  */
    sp_job_t *a = fx_job (fx, 1, 1);
    a->model = "auto";
    a->weights = (sp_weights_t) { .cost = 1 };
    fx_cycle (fx, SP_POLICY_FIFO);
    const sp_placement_t *p = fx_placement (fx, a);
    cr_assert_str_eq (fx_pool_of (fx, p->nodes[0]), "cn-pool", "us-cheap has no variant for US");
    cr_assert_str_eq (p->variant->name, "global-cn");
    cr_assert_str_eq (p->variants[0]->name, "global-cn");

    /*  A family: its variant allowed where it runs.  */
    sp_job_t *f = fx_job (fx, 1, 1);
    f->model = "euro";
    f->weights = (sp_weights_t) { .cost = 1 };
    fx_cycle (fx, SP_POLICY_FIFO);
    p = fx_placement (fx, f);
    cr_assert_str_eq (fx_pool_of (fx, p->nodes[0]), "eu-internal");
    cr_assert_str_eq (p->variant->name, "euro-7b");

    /*  A variant: only where that variant is allowed.  */
    sp_job_t *v = fx_job (fx, 1, 1);
    v->model = "global-sa";
    fx_cycle (fx, SP_POLICY_FIFO);
    p = fx_placement (fx, v);
    cr_assert_str_eq (fx_pool_of (fx, p->nodes[0]), "sa-pool");
    cr_assert_str_eq (p->variant->name, "global-sa");

    /*  No model: no variant.  */
    sp_job_t *n = fx_job (fx, 1, 1);
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert_null (fx_placement (fx, n)->variant);

    char why[200];
    sp_filter_pool (fx->c, sp_cluster_pool (fx->c, "us-cheap"), f, why, sizeof why);
    cr_assert_str_eq (why, "no variant of model euro may run in jurisdiction US");
    sp_job_t *u = fx_job (fx, 1, 1);
    u->model = "gpt-unknown";
    sp_filter_pool (fx->c, 0, u, why, sizeof why);
    cr_assert (strstr (why, "not in the model registry"), "%s", why);
    fx_free (fx);
}

Test (constraints, capacity_when_idle)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "small", "p", "A100", 4, 2, NULL);
    sp_job_t *j = fx_job (fx, 1, 4);
    char why[200];
    sp_filter_node (fx->c, &fx->nodes[0], j, why, sizeof why);
    cr_assert_str_eq (why, "a task needs 4 GPU, the node has 2");
    j->gpus = 1;
    j->cpus_milli = 8000;
    sp_filter_node (fx->c, &fx->nodes[0], j, why, sizeof why);
    cr_assert_str_eq (why, "a task needs 8 CPU, the node has 4");
    j->cpus_milli = 1000;
    j->mem_mb = 1024 * 1024;
    sp_filter_node (fx->c, &fx->nodes[0], j, why, sizeof why);
    cr_assert (strstr (why, "MiB"), "%s", why);
    j->mem_mb = 1;
    cr_assert_null (sp_filter_node (fx->c, &fx->nodes[0], j, why, sizeof why));
    fx->nodes[0].schedulable = 0;
    cr_assert_not_null (sp_filter_node (fx->c, &fx->nodes[0], j, why, sizeof why));
    fx_free (fx);
}

Test (constraints, no_overcommit_within_a_cycle)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "n1", "p", "A100", 16, 4, NULL);
    fx_node (fx, "n2", "p", "A100", 16, 4, NULL);
    for (int i = 0; i < 5; i++)
        fx_job (fx, 1, 2);
    cr_assert_eq (fx_cycle (fx, SP_POLICY_FIFO), 4);
    cr_assert_eq (fx->nodes[0].used_gpus, 4);
    cr_assert_eq (fx->nodes[1].used_gpus, 4);
    fx_free (fx);
}

Test (constraints, node_unschedulable_between_cycles)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "n1", "p", "A100", 16, 8, NULL);
    fx_node (fx, "n2", "p", "A100", 16, 8, NULL);
    sp_job_t *a = fx_job (fx, 1, 8);
    fx_cycle (fx, SP_POLICY_FIFO);
    sp_node_t *used = fx_placement (fx, a)->nodes[0];
    sp_node_t *other = used == &fx->nodes[0] ? &fx->nodes[1] : &fx->nodes[0];
    other->schedulable = 0;
    sp_job_t *b = fx_job (fx, 1, 1);
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert_null (fx_placement (fx, b), "the only free node is down");
    other->schedulable = 1;
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert_eq (fx_placement (fx, b)->nodes[0], other);
    fx_free (fx);
}

/*  A node that refuses new tasks (its worker is short of space) is not
 *  schedulable, and the filter gives the worker's reason, not "down".  */
Test (constraints, refusing_node_says_why)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "n1", "p", "A100", 16, 8, NULL);
    sp_job_t *j = fx_job (fx, 1, 1);
    char why[200];
    fx->nodes[0].schedulable = 0;
    fx->nodes[0].refusing = "state directory /x has 512 MiB free, below --min-free 1 GiB";
    cr_assert_not_null (sp_filter_node (fx->c, &fx->nodes[0], j, why, sizeof why));
    cr_assert_str_eq (why, "node n1 takes no new tasks: state directory /x has 512 MiB free, below --min-free 1 GiB");
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert_null (fx_placement (fx, j), "placed on a refusing node");
    fx_free (fx);
}
