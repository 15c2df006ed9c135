/*  test_policy_explain.c: the JSON that says why a job is where it is, or
 *  why it still waits.  */
#include <jansson.h>

#include "test_policy_fixture.h"

static const char *s_world =
    "regions: [eu, us]\n"
    "latency_ms: {eu: {us: 90}}\n"
    "pools:\n"
    "  - {name: eu-onprem, site: onprem, region: eu, jurisdiction: EU, clearance: restricted, cost_gpu_hour: 1,"
    " carbon_g_per_kwh: 300}\n"
    "  - {name: eu-cloud, site: public_cloud, region: eu, jurisdiction: EU, clearance: internal, cost_gpu_hour: 3,"
    " carbon_g_per_kwh: 50}\n"
    "  - {name: us-cloud, site: public_cloud, region: us, jurisdiction: US, clearance: internal, cost_gpu_hour: 2}\n"
    "models:\n"
    "  - {name: llm, variants: [{name: llm-eu, jurisdictions: [EU]}, {name: llm-us, jurisdictions: [US]}]}\n";

static json_t *
s_parse (char *text)
{
    cr_assert (text);
    json_error_t jerr;
    json_t *root = json_loads (text, 0, &jerr);
    cr_assert (root, "%s: %s", jerr.text, text);
    free (text);
    return root;
}

static json_t *
s_pool_entry (json_t *pools, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach (pools, i, v)
        if (strcmp (json_string_value (json_object_get (v, "pool")), name) == 0)
            return v;
    cr_assert_fail ("pool %s missing", name);
    return NULL;
}

Test (explain, placement_shows_terms_weights_runners_up_and_estimate)
{
    fx_t *fx = fx_new (s_world);
    fx_node (fx, "a", "eu-onprem", "A100", 32, 8, NULL);
    fx_node (fx, "b", "eu-cloud", "A100", 32, 8, NULL);
    fx_node (fx, "c", "us-cloud", "A100", 32, 8, NULL);
    sp_job_t *j = fx_job (fx, 2, 1);
    j->model = "auto";
    j->near = "eu";
    j->time_limit_s = 7200;
    sp_weights_for_prefer ("cost", &j->weights);
    fx_cycle (fx, SP_POLICY_DEFAULT);
    const sp_placement_t *p = fx_placement (fx, j);
    json_t *root = s_parse (sp_explain_placement (fx->c, p));
    cr_assert_str_eq (json_string_value (json_object_get (root, "pool")), "eu-onprem");
    cr_assert_str_eq (json_string_value (json_object_get (root, "variant")), "llm-eu");
    cr_assert_eq (json_integer_value (json_object_get (root, "job")), (json_int_t) j->id);
    json_t *terms = json_object_get (root, "terms"), *fig = json_object_get (root, "figures");
    cr_assert_float_eq (json_real_value (json_object_get (terms, "cost")), 0, 1e-9);
    cr_assert_float_eq (json_real_value (json_object_get (fig, "cost_per_hour")), 2 * 1.0, 1e-9);
    cr_assert_float_eq (json_real_value (json_object_get (fig, "latency_ms")), 0, 1e-9);
    cr_assert_float_eq (json_real_value (json_object_get (json_object_get (root, "weights"), "cost")), 0.7, 1e-9);
    json_t *ru = json_object_get (root, "runners_up");
    cr_assert_eq (json_array_size (ru), 2);
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (ru, 0), "pool")), "us-cloud");
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (ru, 0), "variant")), "llm-us");
    cr_assert_float_eq (
        json_real_value (json_object_get (json_object_get (json_array_get (ru, 0), "figures"), "latency_ms")), 90,
        1e-9);
    json_t *est = json_object_get (root, "estimate");
    cr_assert_float_eq (json_real_value (json_object_get (est, "hours")), 2, 1e-9);
    cr_assert_float_eq (json_real_value (json_object_get (est, "cost")), 4, 1e-9);
    cr_assert_gt (json_real_value (json_object_get (est, "co2_g")), 0);
    cr_assert (strstr (json_string_value (json_object_get (root, "reason")), "placed in pool eu-onprem"));
    cr_assert_eq (json_array_size (json_object_get (root, "nodes")), 1, "both ranks on one node");
    json_decref (root);
    fx_free (fx);
}

Test (explain, pending_says_per_pool_what_rules_it_out_or_what_is_short)
{
    fx_t *fx = fx_new (s_world);
    fx_node (fx, "a", "eu-onprem", "A100", 32, 4, NULL);
    fx_node (fx, "b", "eu-cloud", "T4", 32, 8, NULL);
    fx_node (fx, "c", "us-cloud", "A100", 32, 8, NULL);
    sp_job_t *busy = fx_job (fx, 1, 3);
    busy->pool = "eu-onprem";
    busy->time_limit_s = 1800;
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert (busy->running);
    static const char *const a100[] = { "A100" };
    sp_job_t *j = fx_job (fx, 1, 2);
    j->classification = SP_CLASS_CONFIDENTIAL;
    j->gpu_types = a100;
    j->ngpu_types = 1;
    fx_cycle (fx, SP_POLICY_DEFAULT);
    cr_assert (!j->running);

    sp_node_t *nodes[3] = { &fx->nodes[0], &fx->nodes[1], &fx->nodes[2] };
    sp_job_t *running[1] = { busy };
    json_t *root = s_parse (sp_explain_pending (fx->e, &fx->params, nodes, 3, running, 1, j));
    cr_assert_eq (json_integer_value (json_object_get (root, "job")), (json_int_t) j->id);
    json_t *pools = json_object_get (root, "pools");
    json_t *onprem = s_pool_entry (pools, "eu-onprem"), *cloud = s_pool_entry (pools, "eu-cloud"),
           *us = s_pool_entry (pools, "us-cloud");
    cr_assert_str_eq (json_string_value (json_object_get (cloud, "verdict")), "excluded");
    cr_assert (strstr (json_string_value (json_object_get (cloud, "why")), "clearance internal"));
    cr_assert_str_eq (json_string_value (json_object_get (us, "verdict")), "excluded");
    cr_assert_str_eq (json_string_value (json_object_get (onprem, "verdict")), "short");
    const char *why = json_string_value (json_object_get (onprem, "why"));
    cr_assert (strstr (why, "1 GPU free (3 held by 1 job), room for 0 of 1 tasks"), "%s", why);
    cr_assert_eq (json_integer_value (json_object_get (onprem, "free_gpus")), 1);
    cr_assert_eq (json_integer_value (json_object_get (onprem, "held_gpus")), 3);
    /*  The last cycle reserved eu-onprem for it from busy's end.  */
    cr_assert_float_eq (json_real_value (json_object_get (root, "expected_start_s")), fx->now + 1800, 1e-9);
    cr_assert_str_eq (json_string_value (json_object_get (root, "reserved_pool")), "eu-onprem");
    cr_assert (strstr (json_string_value (json_object_get (root, "reason")), "busy"), "%s",
               json_string_value (json_object_get (root, "reason")));
    json_decref (root);

    /*  A job that fits somewhere now says so; the T4 pool rules out an A100 job by node.  */
    sp_job_t *k = fx_job (fx, 1, 1);
    k->gpu_types = a100;
    k->ngpu_types = 1;
    root = s_parse (sp_explain_pending (fx->e, &fx->params, nodes, 3, running, 1, k));
    cr_assert_str_eq (
        json_string_value (json_object_get (s_pool_entry (json_object_get (root, "pools"), "us-cloud"), "verdict")),
        "fits");
    why = json_string_value (json_object_get (s_pool_entry (json_object_get (root, "pools"), "eu-cloud"), "why"));
    cr_assert (strstr (why, "GPU type T4 is not in the job's list (A100)"), "%s", why);
    cr_assert (json_is_null (json_object_get (root, "expected_start_s")));
    json_decref (root);
    fx_free (fx);
}

Test (explain, every_wait_has_a_reason)
{
    fx_t *fx = fx_new (s_world);
    static const char *const cn[] = { "CN" };
    fx_node (fx, "a", "eu-onprem", "A100", 8, 2, NULL);
    for (int i = 0; i < 10; i++) {
        sp_job_t *j = fx_job (fx, 1 + i % 3, i % 2);
        j->gang = i % 4 != 3;
        j->residency = i % 5 == 0 ? cn : NULL;
        j->nresidency = i % 5 == 0;
    }
    for (int c = 0; c < 3; c++) {
        fx_cycle (fx, SP_POLICY_DEFAULT);
        for (size_t i = 0; i < fx->res.nwaits; i++)
            cr_assert (strncmp (fx->res.waits[i].reason, "waiting: ", 9) == 0, "%s", fx->res.waits[i].reason);
        for (size_t i = 0; i < fx->res.nplacements; i++)
            cr_assert (strncmp (fx->res.placements[i].reason, "placed ", 7) == 0);
    }
    fx_free (fx);
}
