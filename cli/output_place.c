/*  output_place.c: what `strata pools`, `strata models` and `strata explain`
 *  print. Like output.c, everything here came from the scheduler: table cells
 *  are cleaned by cli_table_add, JSON strings by cli_output_json_str.
 *
 *  The explanation is the policy library's JSON (policy.h, sp_explain_pending
 *  and sp_explain_placement), rendered as it comes: keys this renderer does not
 *  know are ignored, and missing ones print as "-", so the library may add to
 *  its shape without breaking the CLI. */
#include "output.h"

#include <stdlib.h>
#include <string.h>

#include "st_time.h"

static const char *
s_or_dash (const char *s)
{
    return s && *s ? s : "-";
}

/*  "" becomes null: region, jurisdiction and storage root are optional.  */
static json_t *
s_str_or_null (const char *s)
{
    return s && *s ? cli_output_json_str (s) : json_null ();
}

/*  -- pools ------------------------------------------------------------------  */

json_t *
cli_output_pool_json (const Strata__PoolInfo *p)
{
    json_t *o = json_pack ("{s:o, s:o, s:o, s:o, s:o, s:f, s:f, s:f, s:f, s:f, s:f, s:o, s:b}", "name",
                           cli_output_json_str (p->name), "site", cli_output_json_str (p->site), "region",
                           s_str_or_null (p->region), "jurisdiction", s_str_or_null (p->jurisdiction), "clearance",
                           cli_output_json_str (p->clearance), "cost_gpu_hour", p->cost_gpu_hour, "cost_cpu_hour",
                           p->cost_cpu_hour, "pue", p->pue, "carbon_g_per_kwh", p->carbon_g_per_kwh, "gpu_watts",
                           p->gpu_watts, "cpu_watts", p->cpu_watts, "storage_root", s_str_or_null (p->storage_root),
                           "implicit", p->implicit);
    json_t *live = json_pack ("{s:I, s:I, s:I, s:I, s:o, s:o, s:I, s:I}", "nodes", (json_int_t) p->nodes, "nodes_up",
                              (json_int_t) p->nodes_up, "gpus", (json_int_t) p->gpus_total, "gpus_free",
                              (json_int_t) p->gpus_free, "cpus",
                              p->cpus_total_milli % 1000 ? json_real (p->cpus_total_milli / 1000.0)
                                                         : json_integer (p->cpus_total_milli / 1000),
                              "cpus_free",
                              p->cpus_free_milli % 1000 ? json_real (p->cpus_free_milli / 1000.0)
                                                        : json_integer (p->cpus_free_milli / 1000),
                              "mem_mb", (json_int_t) p->mem_total_mb, "mem_free_mb", (json_int_t) p->mem_free_mb);
    if (!o || !live || json_object_update_new (o, live) != 0) {
        json_decref (o);
        return NULL;
    }
    return o;
}

int
cli_output_pool_table (FILE *out, Strata__PoolInfo *const *pools, size_t n)
{
    static const char *const heads[] = { "POOL",    "SITE", "REGION",   "JURISDICTION", "CLEARANCE", "$/GPU-H",
                                         "$/CPU-H", "PUE",  "GCO2/KWH", "NODES",        "GPUS" };
    cli_table_t *t = cli_table_new (11, heads);
    if (!t)
        return -1;
    int rc = -1, implicit = 0;
    for (size_t c = 5; c <= 10; c++)
        cli_table_align_right (t, c);
    for (size_t i = 0; i < n; i++) {
        const Strata__PoolInfo *p = pools[i];
        char name[160], gpu[32], cpu[32], pue[32], co2[32], nodes[32], gpus[32];
        snprintf (name, sizeof name, "%s%s", s_or_dash (p->name), p->implicit ? " *" : "");
        snprintf (nodes, sizeof nodes, "%u/%u", p->nodes_up, p->nodes);
        snprintf (gpus, sizeof gpus, "%u/%u", p->gpus_free, p->gpus_total);
        const char *row[] = { name,
                              s_or_dash (p->site),
                              s_or_dash (p->region),
                              s_or_dash (p->jurisdiction),
                              s_or_dash (p->clearance),
                              cli_format_number (p->cost_gpu_hour, 4, gpu, sizeof gpu),
                              cli_format_number (p->cost_cpu_hour, 4, cpu, sizeof cpu),
                              cli_format_number (p->pue, 2, pue, sizeof pue),
                              cli_format_number (p->carbon_g_per_kwh, 1, co2, sizeof co2),
                              nodes,
                              gpus };
        if (cli_table_add (t, row) != 0)
            goto out;
        implicit |= p->implicit;
    }
    if (cli_table_print (t, out) != 0)
        goto out;
    if (implicit
        && fputs ("* not in the cluster file: site onprem, clearance public, no prices "
                  "(the engine's defaults)\n",
                  out)
               < 0)
        goto out;
    rc = 0;
out:
    cli_table_destroy (&t);
    return rc;
}

/*  -- models -----------------------------------------------------------------  */

/*  items as a JSON list of strings.  */
static json_t *
s_str_list (char *const *items, size_t n)
{
    json_t *a = json_array ();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new (a, cli_output_json_str (items[i])) != 0) {
            json_decref (a);
            a = NULL;
        }
    return a;
}

/*  items joined with ",", or none when there are none (caller frees).  */
static char *
s_joined (char *const *items, size_t n, const char *none)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&text, &len);
    if (!f)
        return NULL;
    for (size_t i = 0; i < n; i++)
        fprintf (f, "%s%s", i ? "," : "", s_or_dash (items[i]));
    if (n == 0)
        fputs (none, f);
    if (fclose (f) != 0) {
        free (text);
        return NULL;
    }
    return text;
}

json_t *
cli_output_models_json (Strata__ModelFamily *const *families, size_t n)
{
    json_t *arr = json_array ();
    for (size_t f = 0; arr && f < n; f++) {
        const Strata__ModelFamily *fam = families[f];
        json_t *vars = json_array ();
        for (size_t v = 0; vars && v < fam->n_variants; v++) {
            const Strata__ModelVariant *var = fam->variants[v];
            json_t *jur = s_str_list (var->jurisdictions, var->n_jurisdictions);
            if (json_array_append_new (vars, json_pack ("{s:o, s:o, s:o}", "name", cli_output_json_str (var->name),
                                                        "jurisdictions", jur, "uri", s_str_or_null (var->uri)))
                != 0) {
                json_decref (vars);
                vars = NULL;
            }
        }
        if (json_array_append_new (
                arr, json_pack ("{s:o, s:o}", "family", cli_output_json_str (fam->name), "variants", vars))
            != 0) {
            json_decref (arr);
            arr = NULL;
        }
    }
    return arr;
}

int
cli_output_model_table (FILE *out, Strata__ModelFamily *const *families, size_t n)
{
    static const char *const heads[] = { "FAMILY", "VARIANT", "JURISDICTIONS" };
    cli_table_t *t = cli_table_new (3, heads);
    if (!t)
        return -1;
    int rc = -1;
    char *jur = NULL;
    for (size_t f = 0; f < n; f++) {
        const Strata__ModelFamily *fam = families[f];
        for (size_t v = 0; v < fam->n_variants; v++) {
            const Strata__ModelVariant *var = fam->variants[v];
            if (!(jur = s_joined (var->jurisdictions, var->n_jurisdictions, "")))
                goto out;
            /*  The family's name on its first variant only, as a heading.  */
            const char *row[] = { v == 0 ? s_or_dash (fam->name) : "", s_or_dash (var->name), s_or_dash (jur) };
            int added = cli_table_add (t, row);
            free (jur);
            jur = NULL;
            if (added != 0)
                goto out;
        }
        if (fam->n_variants == 0) {
            const char *row[] = { s_or_dash (fam->name), "-", "-" };
            if (cli_table_add (t, row) != 0)
                goto out;
        }
    }
    rc = cli_table_print (t, out);
out:
    free (jur);
    cli_table_destroy (&t);
    return rc;
}

/*  -- fine-tuned model versions -----------------------------------------------  */

json_t *
cli_output_model_versions_json (Strata__ModelVersion *const *versions, size_t n)
{
    json_t *arr = json_array ();
    json_t *versions_of = NULL; /*  the current model's "versions" (versions come sorted)  */
    for (size_t i = 0; arr && i < n; i++) {
        const Strata__ModelVersion *v = versions[i];
        const Strata__ModelVersion *prev = i ? versions[i - 1] : NULL;
        if (!prev || strcmp (s_or_dash (prev->tenant), s_or_dash (v->tenant)) != 0
            || strcmp (s_or_dash (prev->name), s_or_dash (v->name)) != 0) {
            versions_of = json_array ();
            json_t *model = json_pack ("{s:o, s:b, s:o, s:o, s:o}", "family", cli_output_json_str (v->name),
                                       "fine_tuned", 1, "tenant", cli_output_json_str (v->tenant), "variants",
                                       json_array (), "versions", json_incref (versions_of));
            json_decref (versions_of);
            if (!model || json_array_append_new (arr, model) != 0) {
                json_decref (arr);
                return NULL;
            }
        }
        json_t *o = json_pack (
            "{s:o, s:o, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:I}", "name", cli_output_json_str (v->name),
            "tenant", cli_output_json_str (v->tenant), "version", (json_int_t) v->version, "job",
            (json_int_t) v->job_id, "pool", cli_output_json_str (v->pool), "jurisdiction",
            s_str_or_null (v->jurisdiction), "base_variant", s_str_or_null (v->base_variant), "classification",
            cli_output_json_str (v->classification), "residency", s_str_list (v->residency, v->n_residency),
            "checkpoint", s_str_or_null (v->checkpoint), "created_unix_ms", (json_int_t) v->created_unix_ms);
        if (!o || json_array_append_new (versions_of, o) != 0) {
            json_decref (arr);
            return NULL;
        }
    }
    return arr;
}

int
cli_output_model_versions_table (FILE *out, Strata__ModelVersion *const *versions, size_t n)
{
    static const char *const heads[] = { "MODEL", "VERSION",        "JOB",       "TENANT",
                                         "POOL",  "CLASSIFICATION", "RESIDENCY", "CHECKPOINT" };
    cli_table_t *t = cli_table_new (8, heads);
    if (!t)
        return -1;
    int rc = -1;
    char *res = NULL;
    cli_table_align_right (t, 1);
    cli_table_align_right (t, 2);
    for (size_t i = 0; i < n; i++) {
        const Strata__ModelVersion *v = versions[i];
        char ver[16], job[32];
        snprintf (ver, sizeof ver, "%u", v->version);
        snprintf (job, sizeof job, "%llu", (unsigned long long) v->job_id);
        if (!(res = s_joined (v->residency, v->n_residency, "any")))
            goto out;
        const char *row[] = { s_or_dash (v->name),
                              ver,
                              job,
                              s_or_dash (v->tenant),
                              s_or_dash (v->pool),
                              s_or_dash (v->classification),
                              res,
                              s_or_dash (v->checkpoint) };
        int added = cli_table_add (t, row);
        free (res);
        res = NULL;
        if (added != 0)
            goto out;
    }
    rc = cli_table_print (t, out);
out:
    free (res);
    cli_table_destroy (&t);
    return rc;
}

/*  -- explain ----------------------------------------------------------------  */

/*  obj[key] as a number; *has = 0 when absent or not a number.  */
static double
s_num (const json_t *obj, const char *key, int *has)
{
    json_t *v = json_object_get (obj, key);
    *has = json_is_number (v);
    return *has ? json_number_value (v) : 0;
}

static const char *
s_str (const json_t *obj, const char *key)
{
    return json_string_value (json_object_get (obj, key));
}

/*  A figure of a candidate pool: in its `group` object ("terms"; raw figures in
 *  "figures", or "raw") or, failing that, on the candidate itself. "-" when
 *  none has it.  */
static const char *
s_figure (const json_t *cand, const char *group, const char *key, int places, int fixed, char *buf, size_t size)
{
    int has = 0;
    double v = s_num (json_object_get (cand, group), key, &has);
    if (!has && !strcmp (group, "figures"))
        v = s_num (json_object_get (cand, "raw"), key, &has);
    if (!has)
        v = s_num (cand, key, &has);
    if (!has || (v < 0 && !strcmp (key, "latency_ms"))) /*  latency < 0: unknown  */
        snprintf (buf, size, "-");
    else if (fixed)
        snprintf (buf, size, "%.*f", places, v);
    else
        cli_format_number (v, places, buf, size);
    return buf;
}

static int
s_candidate_row (cli_table_t *t, const json_t *cand, int chosen)
{
    char f[10][48];
    const char *row[] = {
        chosen ? "*" : "",
        s_or_dash (s_str (cand, "pool")),
        s_figure (cand, "terms", "total", 2, 1, f[0], sizeof f[0]),
        s_figure (cand, "terms", "cost", 2, 1, f[1], sizeof f[1]),
        s_figure (cand, "terms", "latency", 2, 1, f[2], sizeof f[2]),
        s_figure (cand, "terms", "energy", 2, 1, f[3], sizeof f[3]),
        s_figure (cand, "terms", "carbon", 2, 1, f[4], sizeof f[4]),
        s_figure (cand, "terms", "packing", 2, 1, f[5], sizeof f[5]),
        s_figure (cand, "figures", "cost_per_hour", 4, 0, f[6], sizeof f[6]),
        s_figure (cand, "figures", "latency_ms", 1, 0, f[7], sizeof f[7]),
        s_figure (cand, "figures", "kwh_per_hour", 3, 0, f[8], sizeof f[8]),
        s_figure (cand, "figures", "co2_g_per_hour", 1, 0, f[9], sizeof f[9]),
    };
    return cli_table_add (t, row);
}

/*  "cost 1, latency 0.5, ..." for the keys present, in the engine's order.  */
static void
s_weights_line (FILE *out, const json_t *w)
{
    static const char *const keys[] = { "cost", "latency", "energy", "carbon", "packing" };
    int n = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int has;
        char num[48];
        double v = s_num (w, keys[i], &has);
        if (has)
            fprintf (out, "%s%s %s", n++ ? ", " : "weights:  ", keys[i], cli_format_number (v, 6, num, sizeof num));
    }
    if (n)
        fputc ('\n', out);
}

static void
s_estimate_line (FILE *out, const json_t *e)
{
    int has_cost, has_kwh, has_co2, has_hours;
    char a[48], b[48], c[48], d[48];
    double cost = s_num (e, "cost", &has_cost), kwh = s_num (e, "kwh", &has_kwh), co2 = s_num (e, "co2_g", &has_co2);
    double hours = s_num (e, "hours", &has_hours);
    if (!has_cost && !has_kwh && !has_co2)
        return;
    fprintf (out, "estimate: cost %s, %s kWh, %s g CO2 ", has_cost ? cli_format_number (cost, 2, a, sizeof a) : "-",
             has_kwh ? cli_format_number (kwh, 3, b, sizeof b) : "-",
             has_co2 ? cli_format_number (co2, 1, c, sizeof c) : "-");
    if (has_hours)
        fprintf (out, "over %s h\n", cli_format_number (hours, 2, d, sizeof d));
    else
        fputs ("(over the time limit, or one hour without one)\n", out);
}

/*  The strings of a JSON list, joined with ", "; "" when there are none.  */
static void
s_join (const json_t *list, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < json_array_size (list) && used < size; i++) {
        const char *item = json_string_value (json_array_get (list, i));
        if (item)
            used += (size_t) snprintf (buf + used, size - used, "%s%s", used ? ", " : "", item);
    }
}

static int
s_explain_placed (FILE *out, const json_t *root)
{
    static const char *const heads[] = { "",       "POOL",    "SCORE",  "COST",       "LATENCY", "ENERGY",
                                         "CARBON", "PACKING", "COST/H", "LATENCY MS", "KWH/H",   "GCO2/H" };
    char line[1024], pools[512], nodes[1024];
    const char *variant = s_str (root, "variant");
    /*  Shards may be in several pools: `pools` lists them; `pool` is the first.  */
    s_join (json_object_get (root, "pools"), pools, sizeof pools);
    s_join (json_object_get (root, "nodes"), nodes, sizeof nodes);
    snprintf (line, sizeof line, "placed on pool%s %s%s%s%s", strchr (pools, ',') ? "s" : "",
              pools[0] ? pools : s_or_dash (s_str (root, "pool")), variant && *variant ? ", model variant " : "",
              variant && *variant ? variant : "",
              json_is_true (json_object_get (root, "backfilled")) ? " (backfilled ahead of a reserved job)" : "");
    const char *block[][2] = { { "placement:", line },
                               { "nodes:", nodes[0] ? nodes : NULL },
                               { "reason:", s_str (root, "reason") } };
    cli_table_t *kv = cli_table_new (2, NULL);
    cli_table_t *t = cli_table_new (12, heads);
    int rc = -1;
    if (!kv || !t)
        goto out;
    for (size_t i = 0; i < sizeof block / sizeof block[0]; i++)
        if (block[i][1] && cli_table_add (kv, block[i]) != 0)
            goto out;
    for (size_t c = 2; c < 12; c++)
        cli_table_align_right (t, c);
    if (s_candidate_row (t, root, 1) != 0)
        goto out;
    const json_t *runners = json_object_get (root, "runners_up");
    for (size_t i = 0; i < json_array_size (runners); i++)
        if (json_is_object (json_array_get (runners, i)) && s_candidate_row (t, json_array_get (runners, i), 0) != 0)
            goto out;
    if (cli_table_print (kv, out) != 0 || fputc ('\n', out) == EOF || cli_table_print (t, out) != 0)
        goto out;
    fputs ("\n* chosen. Terms run from 0 (best of the candidates) to 1 (worst); SCORE is their weighted sum, "
           "lower is better.\n",
           out);
    s_weights_line (out, json_object_get (root, "weights"));
    s_estimate_line (out, json_object_get (root, "estimate"));
    rc = ferror (out) ? -1 : 0;
out:
    cli_table_destroy (&kv);
    cli_table_destroy (&t);
    return rc;
}

static int
s_explain_pending (FILE *out, const json_t *root, uint64_t now_ms)
{
    static const char *const heads[] = { "POOL", "VERDICT", "WHY" };
    cli_table_t *t = cli_table_new (3, heads);
    if (!t)
        return -1;
    int rc = -1;
    const json_t *pools = json_object_get (root, "pools");
    for (size_t i = 0; i < json_array_size (pools); i++) {
        const json_t *p = json_array_get (pools, i);
        const char *row[] = { s_or_dash (s_str (p, "pool")), s_or_dash (s_str (p, "verdict")),
                              s_or_dash (s_str (p, "why")) };
        if (cli_table_add (t, row) != 0)
            goto out;
    }
    char reason[2048];
    fprintf (out, "reason: %s\n", cli_text_fit (s_or_dash (s_str (root, "reason")), 0, reason, sizeof reason));
    if (json_array_size (pools) && (fputc ('\n', out) == EOF || cli_table_print (t, out) != 0))
        goto out;
    int has;
    double start_s = s_num (root, "expected_start_s", &has);
    const char *reserved = s_str (root, "reserved_pool");
    char where[160] = "";
    if (reserved && *reserved)
        cli_text_fit (reserved, 64, where, sizeof where);
    if (!has || start_s < 0)
        fputs ("\nexpected start: unknown (no reservation: nothing running frees enough by a known time)\n", out);
    else {
        char when[40], left[32], in[40] = "any moment now";
        uint64_t start_ms = (uint64_t) (start_s * 1000.0);
        st_format_time (start_ms, when, sizeof when);
        if (start_ms > now_ms)
            snprintf (in, sizeof in, "in %s", cli_format_duration (start_ms - now_ms, left, sizeof left));
        fprintf (out, "\nexpected start: %s UTC (%s), the reservation's start%s%s\n", when, in,
                 where[0] ? " in pool " : "", where);
    }
    rc = ferror (out) ? -1 : 0;
out:
    cli_table_destroy (&t);
    return rc;
}

int
cli_output_explain (FILE *out, const char *json, uint64_t now_ms)
{
    json_t *root = json ? json_loads (json, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (!json_is_object (root)) {
        json_decref (root);
        return -1;
    }
    int rc;
    /*  A waiting job's explanation has an expected start and a verdict object per
     *  pool; a placement lists the pools it uses by name.  */
    const json_t *pools = json_object_get (root, "pools");
    if (json_object_get (root, "expected_start_s") || json_is_object (json_array_get (pools, 0)))
        rc = s_explain_pending (out, root, now_ms);
    else
        rc = s_explain_placed (out, root);
    json_decref (root);
    return rc;
}
