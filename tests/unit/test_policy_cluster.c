/*  test_policy_cluster.c: the cluster description and its lookups.  */
#include "test_policy_fixture.h"

#include "st_field.h"

static sp_cluster_t *
s_parse_err (const char *yaml, st_error_t *err)
{
    return sp_cluster_parse (yaml, strlen (yaml), err);
}

/*  The file must be refused, err->field must be `field`, the message must contain `words`.  */
static void
s_refused (const char *yaml, const char *field, const char *words)
{
    st_error_t err;
    sp_cluster_t *c = s_parse_err (yaml, &err);
    cr_assert_null (c, "accepted: %s", yaml);
    cr_assert_str_eq (err.field, field, "field %s, message %s", err.field, err.msg);
    cr_assert (strstr (err.msg, words), "message \"%s\" lacks \"%s\"", err.msg, words);
}

Test (cluster, example_file_loads)
{
    char path[512];
    const char *src = getenv ("STRATA_SOURCE_DIR");
    snprintf (path, sizeof path, "%s/examples/cluster.yaml", src ? src : ".");
    st_error_t err;
    sp_cluster_t *c = sp_cluster_load (path, &err);
    cr_assert (c, "%s", err.msg);
    cr_assert_eq (c->npools, 6);
    int fra = sp_cluster_pool (c, "onprem-fra");
    cr_assert_geq (fra, 0);
    cr_assert_eq (c->pools[fra].site, SP_SITE_ONPREM);
    cr_assert_eq (c->pools[fra].clearance, SP_CLASS_RESTRICTED);
    cr_assert_str_eq (c->pools[fra].jurisdiction, "EU");
    cr_assert_float_eq (c->pools[fra].gpu_watts, 700, 1e-9);
    int ams = sp_cluster_pool (c, "private-ams");
    cr_assert_float_eq (c->pools[ams].cpu_watts, 10, 1e-9, "default cpu_watts");
    cr_assert_float_eq (c->usage_half_life_s, 86400, 1e-9);
    cr_assert_float_eq (sp_cluster_queue_weight (c, "prod"), 4, 1e-9);
    cr_assert_float_eq (sp_cluster_queue_weight (c, "unknown"), 1, 1e-9);
    cr_assert_eq (sp_cluster_tenant (c, "reporting")->gpu_quota, 0);
    cr_assert_null (sp_cluster_tenant (c, "nobody"));
    sp_cluster_free (&c);
    cr_assert_null (c);
}

Test (cluster, latency_is_symmetric_when_one_way_and_zero_to_self)
{
    sp_cluster_t *c = fx_cluster ("regions: [a, b, c]\n"
                                  "latency_ms: {a: {b: 10, c: 30}, c: {a: 35}}\n");
    cr_assert_float_eq (sp_cluster_latency (c, "a", "b"), 10, 1e-9);
    cr_assert_float_eq (sp_cluster_latency (c, "b", "a"), 10, 1e-9, "filled from a->b");
    cr_assert_float_eq (sp_cluster_latency (c, "a", "c"), 30, 1e-9);
    cr_assert_float_eq (sp_cluster_latency (c, "c", "a"), 35, 1e-9, "both given: each kept");
    cr_assert_float_eq (sp_cluster_latency (c, "b", "b"), 0, 1e-9);
    cr_assert_float_eq (sp_cluster_latency (c, "b", "c"), -1, 1e-9, "unknown");
    cr_assert_float_eq (sp_cluster_latency (c, "a", "zz"), -1, 1e-9);
    sp_cluster_free (&c);
}

Test (cluster, defaults_of_a_pool)
{
    sp_cluster_t *c = fx_cluster ("regions: [r]\npools: [{name: p, site: edge, region: r}]\n");
    const sp_pool_t *p = &c->pools[0];
    cr_assert_eq (p->clearance, SP_CLASS_PUBLIC);
    cr_assert_null (p->jurisdiction);
    cr_assert_float_eq (p->pue, 1, 1e-9);
    cr_assert_float_eq (p->gpu_watts, 400, 1e-9);
    cr_assert_float_eq (p->cpu_watts, 10, 1e-9);
    cr_assert_eq (p->region_idx, 0);
    cr_assert_eq (p->implicit, 0);
    sp_cluster_free (&c);
}

Test (cluster, json_is_accepted_too)
{
    sp_cluster_t *c = fx_cluster ("{\"regions\": [\"r\"], \"pools\": [{\"name\": \"p\", \"site\": \"onprem\", "
                                  "\"region\": \"r\", \"cost_gpu_hour\": 2}]}");
    cr_assert_float_eq (c->pools[0].cost_gpu_hour, 2, 1e-9);
    sp_cluster_free (&c);
}

Test (cluster, unknown_keys_are_refused_at_every_level)
{
    s_refused ("regions: [r]\nnodes: []\n", "nodes", "unknown field");
    s_refused ("regions: [r]\npools: [{name: p, site: onprem, region: r, gpus: 4}]\n", "pools[0].gpus",
               "unknown field");
    s_refused ("models: [{name: m, variants: [{name: v, jurisdictions: [EU], size: 7}]}]\n",
               "models[0].variants[0].size", "unknown field");
    s_refused ("queues: [{name: q, weight: 1, prio: 2}]\n", "queues[0].prio", "unknown field");
    s_refused ("tenants: [{name: t, quota: 2}]\n", "tenants[0].quota", "unknown field");
    s_refused ("fair_share: {halflife: 1d}\n", "fair_share.halflife", "unknown field");
    st_error_t err;
    cr_assert_null (s_parse_err ("tenants: [{name: t, quota: 2}]\n", &err));
    cr_assert (strstr (err.hint, "gpu_quota"), "hint lists allowed keys: %s", err.hint);
}

Test (cluster, wrong_types_and_ranges_name_the_field)
{
    s_refused ("regions: [r]\npools: [{name: p, site: moon, region: r}]\n", "pools[0].site", "one of onprem");
    s_refused ("regions: [r]\npools: [{name: p, site: onprem, region: r, clearance: secret}]\n", "pools[0].clearance",
               "restricted");
    s_refused ("regions: [r]\npools: [{name: p, site: onprem, region: r, pue: 0.5}]\n", "pools[0].pue",
               "between 1 and 10");
    s_refused ("regions: [r]\npools: [{name: p, site: onprem, region: r, cost_gpu_hour: cheap}]\n",
               "pools[0].cost_gpu_hour", "a number");
    s_refused ("regions: [r]\npools: [{name: p, site: onprem, region: r, storage_root: data}]\n",
               "pools[0].storage_root", "absolute path");
    s_refused ("regions: [r]\npools: [{site: onprem, region: r}]\n", "pools[0].name", "required");
    s_refused ("regions: [r]\npools: [{name: p, region: r}]\n", "pools[0].site", "required");
    s_refused ("tenants: [{name: t, gpu_quota: 1.5}]\n", "tenants[0].gpu_quota", "integer");
    s_refused ("tenants: [{name: t, weight: 0}]\n", "tenants[0].weight", "between");
    s_refused ("queues: [{name: 'a b'}]\n", "queues[0].name", "letters");
    s_refused ("fair_share: {half_life: soon}\n", "fair_share.half_life", "duration");
    s_refused ("regions: [r]\nlatency_ms: {r: {r: -1}}\n", "latency_ms.r.r", "milliseconds");
    s_refused ("regions: r\n", "regions", "a list");
    s_refused ("pools: {name: p}\n", "pools", "a list");
    s_refused ("models: [{name: m, variants: []}]\n", "models[0].variants", "1 to 256");
    s_refused ("models: [{name: m, variants: [{name: v}]}]\n", "models[0].variants[0].jurisdictions", "required");
}

Test (cluster, duplicates_are_refused)
{
    s_refused ("regions: [r, r]\n", "regions[1]", "twice");
    s_refused ("regions: [r]\npools: [{name: p, site: onprem, region: r}, {name: p, site: edge, region: r}]\n",
               "pools[1].name", "twice");
    s_refused ("queues: [{name: q}, {name: q}]\n", "queues[1].name", "twice");
    s_refused ("tenants: [{name: t}, {name: t}]\n", "tenants[1].name", "twice");
    s_refused ("models: [{name: m, variants: [{name: v, jurisdictions: [EU]}]},"
               " {name: n, variants: [{name: v, jurisdictions: [US]}]}]\n",
               "models[1].variants[0].name", "used twice");
    s_refused ("models: [{name: m, variants: [{name: m, jurisdictions: [EU]}]}]\n", "models[0].variants[0].name",
               "used twice");
    s_refused ("models: [{name: auto, variants: [{name: v, jurisdictions: [EU]}]}]\n", "models[0].name", "reserved");
}

Test (cluster, pool_region_must_be_listed)
{
    s_refused ("regions: [eu]\npools: [{name: p, site: onprem, region: us}]\n", "pools[0].region", "not in regions");
    s_refused ("pools: [{name: p, site: onprem, region: us}]\n", "pools[0].region", "not in regions");
    s_refused ("regions: [eu]\nlatency_ms: {eu: {us: 5}}\n", "latency_ms.eu.us", "not in regions");
    s_refused ("regions: [eu]\nlatency_ms: {us: {eu: 5}}\n", "latency_ms.us", "not in regions");
}

Test (cluster, load_names_the_file)
{
    st_error_t err;
    cr_assert_null (sp_cluster_load ("/nonexistent/cluster.yaml", &err));
    cr_assert (strstr (err.msg, "/nonexistent/cluster.yaml"), "%s", err.msg);
}

Test (cluster, implicit_pools_are_safe)
{
    sp_cluster_t *c = sp_cluster_new ();
    cr_assert_eq (sp_cluster_pool (c, "x"), -1);
    int p = sp_cluster_pool_add_implicit (c, "x");
    cr_assert_eq (p, 0);
    cr_assert_eq (sp_cluster_pool_add_implicit (c, "x"), 0, "added once");
    cr_assert (c->pools[p].implicit);
    cr_assert_eq (c->pools[p].clearance, SP_CLASS_PUBLIC);
    cr_assert_null (c->pools[p].jurisdiction);
    cr_assert_eq (c->pools[p].region_idx, -1);
    sp_cluster_free (&c);
}

Test (cluster, model_variant_lookup)
{
    sp_cluster_t *c = fx_cluster (
        "models:\n"
        "  - name: euro\n"
        "    variants: [{name: euro-big, jurisdictions: [EU]}, {name: euro-small, jurisdictions: [EU, SA]}]\n"
        "  - name: world\n"
        "    variants: [{name: world-cn, jurisdictions: [CN]}, {name: world-sa, jurisdictions: [SA]}]\n");
    cr_assert_str_eq (sp_cluster_variant (c, "auto", "EU")->name, "euro-big");
    cr_assert_str_eq (sp_cluster_variant (c, "auto", "CN")->name, "world-cn");
    cr_assert_str_eq (sp_cluster_variant (c, "auto", "SA")->name, "euro-small", "first allowed, registry order");
    cr_assert_str_eq (sp_cluster_variant (c, "world", "SA")->name, "world-sa");
    cr_assert_null (sp_cluster_variant (c, "world", "EU"));
    cr_assert_str_eq (sp_cluster_variant (c, "euro-small", "SA")->name, "euro-small");
    cr_assert_null (sp_cluster_variant (c, "euro-big", "SA"), "a named variant only where it is allowed");
    cr_assert_null (sp_cluster_variant (c, "nothing", "EU"));
    cr_assert_null (sp_cluster_variant (c, "auto", "US"));
    cr_assert_null (sp_cluster_variant (c, "auto", NULL));
    sp_cluster_free (&c);
}

Test (cluster, names_round_trip)
{
    for (int i = 0; i < SP_SITE__COUNT; i++) {
        sp_site_t s;
        cr_assert_eq (sp_site_parse (sp_site_name ((sp_site_t) i), &s), 0);
        cr_assert_eq ((int) s, i);
    }
    for (int i = 0; i < SP_POLICY__COUNT; i++) {
        sp_policy_t p;
        cr_assert_eq (sp_policy_parse (sp_policy_name ((sp_policy_t) i), &p), 0);
        cr_assert_eq ((int) p, i);
    }
    sp_class_t k;
    cr_assert_eq (sp_class_parse ("secret", &k), -1);
}

Test (cluster, a_refused_name_is_shown_cut_on_a_character_boundary)
{
    /*  47 ASCII bytes, then a 3-byte euro sign across the 48-byte cut.  */
    char yaml[256];
    snprintf (yaml, sizeof yaml, "regions: [r]\npools: [{name: \"%s\xe2\x82\xac tail\", site: onprem, region: r}]\n",
              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    st_error_t err;
    cr_assert_null (s_parse_err (yaml, &err));
    cr_assert_str_eq (err.field, "pools[0].name", "%s", err.msg);
    cr_assert (st_utf8_valid (err.msg, strlen (err.msg)), "message is not UTF-8: %s", err.msg);
    cr_assert (strstr (err.msg, "aaa...\""), "the euro sign is left out whole: %s", err.msg);
}
