/*  cluster.c: the cluster description (YAML or JSON) and its lookups.
 *
 *  Validation is strict, in the manner of the job-spec validator: unknown keys
 *  are refused at every level with the allowed ones as a hint, every value is
 *  checked for its type and range, names must be unique, and every message
 *  starts with the dotted path of the field ("pools[2].clearance: ...") which
 *  also goes to err->field. Nothing is accepted half-read: on error the whole
 *  description is freed. docs/placement.md describes every key. */
#include "policy_int.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "st_doc.h"
#include "st_field.h"
#include "st_units.h"

#define S_NAME_MAX 64
#define S_JUR_MAX 16
#define S_MODEL_MAX 128
#define S_PATH_MAX 4096
#define S_MAX_ITEMS 4096  /*  pools, regions, tenants, ... in one file  */
#define S_MAX_POOLS 65536 /*  the file's pools and the implicit ones workers name  */

static const char *const s_top_keys[] = { "regions", "latency_ms", "pools",      "models",
                                          "queues",  "tenants",    "fair_share", NULL };
static const char *const s_pool_keys[] = {
    "name",          "site",          "region", "jurisdiction",     "clearance",
    "cost_gpu_hour", "cost_cpu_hour", "pue",    "carbon_g_per_kwh", "gpu_watts",
    "cpu_watts",     "storage_root",  NULL
};
static const char *const s_family_keys[] = { "name", "variants", NULL };
static const char *const s_variant_keys[] = { "name", "jurisdictions", "uri", NULL };
static const char *const s_queue_keys[] = { "name", "weight", NULL };
static const char *const s_tenant_keys[] = { "name", "weight", "gpu_quota", "max_priority", "max_pending", NULL };
static const char *const s_fair_keys[] = { "half_life", NULL };

#define S_DEFAULT_HALF_LIFE (24.0 * 3600.0)
#define S_DEFAULT_GPU_WATTS 400.0
#define S_DEFAULT_CPU_WATTS 10.0

/*  ---------------------------------------------------------------------------
 *  Checking values  */

/*  "FIELD: must be WHAT, got VALUE".  */
static int
s_reject (st_error_t *err, const char *field, const char *what, const json_t *v)
{
    char got[80];
    if (!v)
        snprintf (got, sizeof got, "nothing");
    else if (json_is_string (v)) {
        /*  Shortened on a character boundary, so the message stays UTF-8.  */
        const char *text = json_string_value (v);
        size_t cut = st_utf8_cut (text, strlen (text), 48);
        snprintf (got, sizeof got, "\"%.*s%s\"", (int) cut, text, json_string_length (v) > 48 ? "..." : "");
    }
    else if (json_is_integer (v))
        snprintf (got, sizeof got, "%lld", (long long) json_integer_value (v));
    else if (json_is_real (v))
        snprintf (got, sizeof got, "%g", json_real_value (v));
    else if (json_is_boolean (v))
        snprintf (got, sizeof got, "%s", json_is_true (v) ? "true" : "false");
    else if (json_is_null (v))
        snprintf (got, sizeof got, "null");
    else
        snprintf (got, sizeof got, "%s", json_is_array (v) ? "a list" : "a mapping");
    st_error_set (err, ST_EINVAL, field, "%s: must be %s, got %s", field, what, got);
    return -1;
}

static int
s_only_keys (const json_t *obj, const char *at, const char *const *allowed, st_error_t *err)
{
    const char *key;
    json_t *val;
    json_object_foreach ((json_t *) obj, key, val) {
        const char *const *a = allowed;
        while (*a && strcmp (*a, key) != 0)
            a++;
        if (*a)
            continue;
        char field[160], list[320];
        size_t used = 0;
        snprintf (field, sizeof field, "%s%s%.100s", at, *at ? "." : "", key);
        list[0] = '\0';
        for (a = allowed; *a; a++)
            sp__catf (list, sizeof list, &used, "%s%s", a == allowed ? "" : ", ", *a);
        st_error_set (err, ST_EINVAL, field, "unknown field \"%s\"", field);
        st_error_hint (err, "allowed fields here: %s", list);
        return -1;
    }
    return 0;
}

/*  1..max of letters, digits, '.', '_', '-' and extra (st_field).  */
static bool
s_name_ok (const char *s, size_t max, const char *extra)
{
    char allowed[16];
    snprintf (allowed, sizeof allowed, "._-%s", extra ? extra : "");
    st_field_t rule = { max, ST_FIELD_ALNUM, allowed };
    return st_field_ok_str (s, &rule);
}

/*  A required (def == NULL and !optional) or optional name; *out is strdup'ed or NULL.  */
static int
s_name (const json_t *obj, const char *key, const char *at, size_t max, const char *extra, bool required, char **out,
        st_error_t *err)
{
    char field[160], what[128];
    json_t *v = json_object_get (obj, key);
    snprintf (field, sizeof field, "%s.%s", at, key);
    *out = NULL;
    if (!v || json_is_null (v)) {
        if (required)
            return st_error_set (err, ST_EINVAL, field, "%s: required field is missing", field), -1;
        return 0;
    }
    snprintf (what, sizeof what, "1 to %zu characters of letters, digits, '.', '_', '-'%s%s", max,
              extra ? " or " : "", extra ? extra : "");
    if (!json_is_string (v) || strlen (json_string_value (v)) != json_string_length (v)
        || !s_name_ok (json_string_value (v), max, extra))
        return s_reject (err, field, what, v);
    if (!(*out = strdup (json_string_value (v))))
        return st_error_set (err, ST_ENOMEM, field, "%s: out of memory", field), -1;
    return 0;
}

static int
s_number (const json_t *obj, const char *key, const char *at, double lo, double hi, double def, double *out,
          st_error_t *err)
{
    char field[160], what[96];
    json_t *v = json_object_get (obj, key);
    *out = def;
    if (!v || json_is_null (v))
        return 0;
    snprintf (field, sizeof field, "%s%s%s", at, *at ? "." : "", key);
    snprintf (what, sizeof what, "a number between %g and %g", lo, hi);
    if (!json_is_number (v) || !(json_number_value (v) >= lo && json_number_value (v) <= hi))
        return s_reject (err, field, what, v);
    *out = json_number_value (v);
    return 0;
}

/*  One of names[0..n): *out gets the index.  */
static int
s_enum (const json_t *obj, const char *key, const char *at, const char *(*name_of) (int), int n, int def,
        bool required, int *out, st_error_t *err)
{
    char field[160], what[160];
    size_t used = 0;
    json_t *v = json_object_get (obj, key);
    snprintf (field, sizeof field, "%s.%s", at, key);
    *out = def;
    if (!v || json_is_null (v)) {
        if (required)
            return st_error_set (err, ST_EINVAL, field, "%s: required field is missing", field), -1;
        return 0;
    }
    for (int i = 0; i < n && json_is_string (v); i++)
        if (strcmp (name_of (i), json_string_value (v)) == 0) {
            *out = i;
            return 0;
        }
    what[0] = '\0';
    sp__catf (what, sizeof what, &used, "one of");
    for (int i = 0; i < n; i++)
        sp__catf (what, sizeof what, &used, "%s %s", i ? "," : "", name_of (i));
    return s_reject (err, field, what, v);
}

static const char *
s_site_at (int i)
{
    return sp_site_name ((sp_site_t) i);
}

static const char *
s_class_at (int i)
{
    return sp_class_name ((sp_class_t) i);
}

/*  A list of objects (or absent); *n = its size.  */
static int
s_list (const json_t *root, const char *key, json_t **out, size_t *n, st_error_t *err)
{
    json_t *v = json_object_get (root, key);
    *out = NULL;
    *n = 0;
    if (!v || json_is_null (v))
        return 0;
    if (!json_is_array (v) || json_array_size (v) > S_MAX_ITEMS)
        return s_reject (err, key, "a list (of at most 4096 entries)", v);
    *out = v;
    *n = json_array_size (v);
    return 0;
}

/*  list[i] must be a mapping with only `keys`.  */
static int
s_item (const json_t *list, size_t i, const char *key, const char *const *keys, char *at, size_t atsize, json_t **out,
        st_error_t *err)
{
    snprintf (at, atsize, "%s[%zu]", key, i);
    *out = json_array_get (list, i);
    if (!json_is_object (*out))
        return s_reject (err, at, "a mapping", *out);
    return s_only_keys (*out, at, keys, err);
}

/*  ---------------------------------------------------------------------------
 *  Sections  */

static int
s_regions (sp_cluster_t *c, const json_t *root, st_error_t *err)
{
    json_t *list = json_object_get (root, "regions");
    if (!list || json_is_null (list))
        return 0;
    if (!json_is_array (list) || json_array_size (list) > S_MAX_ITEMS)
        return s_reject (err, "regions", "a list of region names", list);
    size_t n = json_array_size (list);
    c->regions = calloc (n ? n : 1, sizeof *c->regions);
    c->latency_ms = malloc ((n ? n * n : 1) * sizeof *c->latency_ms);
    if (!c->regions || !c->latency_ms)
        return st_error_set (err, ST_ENOMEM, "regions", "regions: out of memory"), -1;
    for (size_t i = 0; i < n; i++) {
        char field[48];
        json_t *v = json_array_get (list, i);
        snprintf (field, sizeof field, "regions[%zu]", i);
        if (!json_is_string (v) || strlen (json_string_value (v)) != json_string_length (v)
            || !s_name_ok (json_string_value (v), S_NAME_MAX, NULL))
            return s_reject (err, field, "a region name (1 to 64 of letters, digits, '.', '_', '-')", v);
        if (sp__region_index (c, json_string_value (v)) >= 0)
            return st_error_set (err, ST_EINVAL, field, "%s: region \"%s\" is listed twice", field,
                                 json_string_value (v)),
                   -1;
        if (!(c->regions[i] = strdup (json_string_value (v))))
            return st_error_set (err, ST_ENOMEM, field, "%s: out of memory", field), -1;
        c->nregions = i + 1;
    }
    for (size_t i = 0; i < n * n; i++)
        c->latency_ms[i] = -1;
    for (size_t i = 0; i < n; i++)
        c->latency_ms[i * n + i] = 0;
    return 0;
}

/*  latency_ms: {from: {to: ms}}; a pair given one way holds both ways.  */
static int
s_latency (sp_cluster_t *c, const json_t *root, st_error_t *err)
{
    json_t *table = json_object_get (root, "latency_ms");
    const char *from, *to;
    json_t *row, *v;
    size_t n = c->nregions;
    if (!table || json_is_null (table))
        return 0;
    if (!json_is_object (table))
        return s_reject (err, "latency_ms", "a mapping of region to {region: milliseconds}", table);
    /*  given[] marks the entries written explicitly, so a symmetric fill never
     *  overwrites one.  */
    char *given = calloc (n * n + 1, 1);
    if (!given)
        return st_error_set (err, ST_ENOMEM, "latency_ms", "latency_ms: out of memory"), -1;
    int rc = 0;
    json_object_foreach (table, from, row) {
        char field[200];
        int f = sp__region_index (c, from);
        snprintf (field, sizeof field, "latency_ms.%.64s", from);
        if (f < 0) {
            rc = (st_error_set (err, ST_EINVAL, field, "%s: \"%.64s\" is not in regions", field, from), -1);
            break;
        }
        if (!json_is_object (row)) {
            rc = s_reject (err, field, "a mapping of region to milliseconds", row);
            break;
        }
        json_object_foreach (row, to, v) {
            int t = sp__region_index (c, to);
            snprintf (field, sizeof field, "latency_ms.%.64s.%.64s", from, to);
            if (t < 0) {
                rc = (st_error_set (err, ST_EINVAL, field, "%s: \"%.64s\" is not in regions", field, to), -1);
                break;
            }
            if (!json_is_number (v) || !(json_number_value (v) >= 0 && json_number_value (v) <= 100000)) {
                rc = s_reject (err, field, "a number of milliseconds between 0 and 100000", v);
                break;
            }
            c->latency_ms[f * n + t] = json_number_value (v);
            given[f * n + t] = 1;
            if (!given[t * n + f])
                c->latency_ms[t * n + f] = json_number_value (v);
        }
        if (rc)
            break;
    }
    free (given);
    return rc;
}

static int
s_pools (sp_cluster_t *c, const json_t *root, st_error_t *err)
{
    json_t *list, *obj;
    size_t n;
    char at[48];
    if (s_list (root, "pools", &list, &n, err))
        return -1;
    if (n && !(c->pools = calloc (n, sizeof *c->pools)))
        return st_error_set (err, ST_ENOMEM, "pools", "pools: out of memory"), -1;
    c->cappools = n;
    for (size_t i = 0; i < n; i++) {
        sp_pool_t *p = &c->pools[i];
        int e;
        if (s_item (list, i, "pools", s_pool_keys, at, sizeof at, &obj, err))
            return -1;
        c->npools = i + 1;
        p->region_idx = -1;
        if (s_name (obj, "name", at, S_NAME_MAX, NULL, true, &p->name, err))
            return -1;
        if (sp_cluster_pool (c, p->name) != (int) i) {
            char field[64];
            snprintf (field, sizeof field, "%s.name", at);
            return st_error_set (err, ST_EINVAL, field, "%s: pool \"%s\" is defined twice", field, p->name), -1;
        }
        if (s_enum (obj, "site", at, s_site_at, SP_SITE__COUNT, 0, true, &e, err))
            return -1;
        p->site = (sp_site_t) e;
        if (s_name (obj, "region", at, S_NAME_MAX, NULL, true, &p->region, err))
            return -1;
        if ((p->region_idx = sp__region_index (c, p->region)) < 0) {
            char field[64];
            snprintf (field, sizeof field, "%s.region", at);
            st_error_set (err, ST_EINVAL, field, "%s: region \"%s\" is not in regions", field, p->region);
            st_error_hint (err, "list every region under `regions:` at the top of the file");
            return -1;
        }
        if (s_name (obj, "jurisdiction", at, S_JUR_MAX, NULL, false, &p->jurisdiction, err))
            return -1;
        if (s_enum (obj, "clearance", at, s_class_at, SP_CLASS__COUNT, SP_CLASS_PUBLIC, false, &e, err))
            return -1;
        p->clearance = (sp_class_t) e;
        if (s_number (obj, "cost_gpu_hour", at, 0, 1e6, 0, &p->cost_gpu_hour, err)
            || s_number (obj, "cost_cpu_hour", at, 0, 1e6, 0, &p->cost_cpu_hour, err)
            || s_number (obj, "pue", at, 1, 10, 1, &p->pue, err)
            || s_number (obj, "carbon_g_per_kwh", at, 0, 5000, 0, &p->carbon_g_per_kwh, err)
            || s_number (obj, "gpu_watts", at, 0, 10000, S_DEFAULT_GPU_WATTS, &p->gpu_watts, err)
            || s_number (obj, "cpu_watts", at, 0, 1000, S_DEFAULT_CPU_WATTS, &p->cpu_watts, err))
            return -1;
        json_t *v = json_object_get (obj, "storage_root");
        if (v && !json_is_null (v)) {
            char field[64];
            snprintf (field, sizeof field, "%s.storage_root", at);
            if (!json_is_string (v) || json_string_length (v) > S_PATH_MAX
                || strlen (json_string_value (v)) != json_string_length (v)
                || (json_string_value (v)[0] != '/' && !strstr (json_string_value (v), "://")))
                return s_reject (err, field, "an absolute path or a URL such as s3://bucket/prefix", v);
            if (!(p->storage_root = strdup (json_string_value (v))))
                return st_error_set (err, ST_ENOMEM, field, "%s: out of memory", field), -1;
        }
    }
    return 0;
}

/*  Is `name` already a family or a variant name (among the first nf families)?  */
static bool
s_model_name_taken (const sp_cluster_t *c, const char *name)
{
    if (strcmp (name, "auto") == 0)
        return true;
    for (size_t f = 0; f < c->nfamilies; f++) {
        const sp_family_t *fam = &c->families[f];
        if (fam->name && strcmp (fam->name, name) == 0)
            return true;
        for (size_t v = 0; v < fam->nvariants; v++)
            if (fam->variants[v].name && strcmp (fam->variants[v].name, name) == 0)
                return true;
    }
    return false;
}

static int
s_variant (sp_cluster_t *c, sp_variant_t *var, const json_t *obj, const char *at, st_error_t *err)
{
    char field[224];
    if (s_name (obj, "name", at, S_MODEL_MAX, "/:", true, &var->name, err))
        return -1;
    snprintf (field, sizeof field, "%s.name", at);
    /*  var is counted in its family already: look for an earlier holder of the name.  */
    char *name = var->name;
    var->name = NULL;
    bool taken = s_model_name_taken (c, name);
    var->name = name;
    if (taken) {
        st_error_set (err, ST_EINVAL, field, "%s: model name \"%s\" is %s", field, name,
                      strcmp (name, "auto") == 0 ? "reserved" : "used twice");
        st_error_hint (err, "family and variant names share one namespace, so a job's model names one thing");
        return -1;
    }
    json_t *jl = json_object_get (obj, "jurisdictions");
    snprintf (field, sizeof field, "%s.jurisdictions", at);
    if (!jl || json_is_null (jl))
        return st_error_set (err, ST_EINVAL, field, "%s: required field is missing", field), -1;
    if (!json_is_array (jl) || json_array_size (jl) == 0 || json_array_size (jl) > 64)
        return s_reject (err, field, "a list of 1 to 64 jurisdictions", jl);
    var->jurisdictions = calloc (json_array_size (jl), sizeof *var->jurisdictions);
    if (!var->jurisdictions)
        return st_error_set (err, ST_ENOMEM, field, "%s: out of memory", field), -1;
    for (size_t j = 0; j < json_array_size (jl); j++) {
        json_t *v = json_array_get (jl, j);
        snprintf (field, sizeof field, "%s.jurisdictions[%zu]", at, j);
        if (!json_is_string (v) || strlen (json_string_value (v)) != json_string_length (v)
            || !s_name_ok (json_string_value (v), S_JUR_MAX, NULL))
            return s_reject (err, field, "a jurisdiction (1 to 16 of letters, digits, '.', '_', '-')", v);
        if (!(var->jurisdictions[j] = strdup (json_string_value (v))))
            return st_error_set (err, ST_ENOMEM, field, "%s: out of memory", field), -1;
        var->njurisdictions = j + 1;
    }
    json_t *uri = json_object_get (obj, "uri");
    if (uri && !json_is_null (uri)) {
        snprintf (field, sizeof field, "%s.uri", at);
        if (!json_is_string (uri) || json_string_length (uri) == 0 || json_string_length (uri) > S_PATH_MAX
            || strlen (json_string_value (uri)) != json_string_length (uri))
            return s_reject (err, field, "a non-empty string of at most 4096 bytes", uri);
        if (!(var->uri = strdup (json_string_value (uri))))
            return st_error_set (err, ST_ENOMEM, field, "%s: out of memory", field), -1;
    }
    return 0;
}

static int
s_models (sp_cluster_t *c, const json_t *root, st_error_t *err)
{
    json_t *list, *obj;
    size_t n;
    char at[48], vat[160], field[128];
    if (s_list (root, "models", &list, &n, err))
        return -1;
    if (n && !(c->families = calloc (n, sizeof *c->families)))
        return st_error_set (err, ST_ENOMEM, "models", "models: out of memory"), -1;
    for (size_t i = 0; i < n; i++) {
        sp_family_t *fam = &c->families[i];
        if (s_item (list, i, "models", s_family_keys, at, sizeof at, &obj, err))
            return -1;
        if (s_name (obj, "name", at, S_MODEL_MAX, "/:", true, &fam->name, err))
            return -1;
        snprintf (field, sizeof field, "%s.name", at);
        if (s_model_name_taken (c, fam->name)) {
            st_error_set (err, ST_EINVAL, field, "%s: model name \"%s\" is %s", field, fam->name,
                          strcmp (fam->name, "auto") == 0 ? "reserved" : "used twice");
            st_error_hint (err, "family and variant names share one namespace, so a job's model names one thing");
            c->nfamilies = i + 1;
            return -1;
        }
        c->nfamilies = i + 1;
        json_t *vl = json_object_get (obj, "variants");
        snprintf (field, sizeof field, "%s.variants", at);
        if (!vl || json_is_null (vl))
            return st_error_set (err, ST_EINVAL, field, "%s: required field is missing", field), -1;
        if (!json_is_array (vl) || json_array_size (vl) == 0 || json_array_size (vl) > 256)
            return s_reject (err, field, "a list of 1 to 256 variants", vl);
        if (!(fam->variants = calloc (json_array_size (vl), sizeof *fam->variants)))
            return st_error_set (err, ST_ENOMEM, field, "%s: out of memory", field), -1;
        for (size_t v = 0; v < json_array_size (vl); v++) {
            json_t *vobj;
            if (s_item (vl, v, field, s_variant_keys, vat, sizeof vat, &vobj, err))
                return -1;
            fam->nvariants = v + 1;
            if (s_variant (c, &fam->variants[v], vobj, vat, err))
                return -1;
        }
    }
    return 0;
}

static int
s_queues (sp_cluster_t *c, const json_t *root, st_error_t *err)
{
    json_t *list, *obj;
    size_t n;
    char at[48];
    if (s_list (root, "queues", &list, &n, err))
        return -1;
    if (n && !(c->queues = calloc (n, sizeof *c->queues)))
        return st_error_set (err, ST_ENOMEM, "queues", "queues: out of memory"), -1;
    for (size_t i = 0; i < n; i++) {
        sp_queue_t *q = &c->queues[i];
        if (s_item (list, i, "queues", s_queue_keys, at, sizeof at, &obj, err))
            return -1;
        c->nqueues = i + 1;
        if (s_name (obj, "name", at, S_NAME_MAX, NULL, true, &q->name, err))
            return -1;
        for (size_t k = 0; k < i; k++)
            if (strcmp (c->queues[k].name, q->name) == 0) {
                char field[64];
                snprintf (field, sizeof field, "%s.name", at);
                return st_error_set (err, ST_EINVAL, field, "%s: queue \"%s\" is defined twice", field, q->name), -1;
            }
        if (s_number (obj, "weight", at, 0.001, 1e6, 1, &q->weight, err))
            return -1;
    }
    return 0;
}

static int
s_tenants (sp_cluster_t *c, const json_t *root, st_error_t *err)
{
    json_t *list, *obj;
    size_t n;
    char at[48];
    if (s_list (root, "tenants", &list, &n, err))
        return -1;
    if (n && !(c->tenants = calloc (n, sizeof *c->tenants)))
        return st_error_set (err, ST_ENOMEM, "tenants", "tenants: out of memory"), -1;
    for (size_t i = 0; i < n; i++) {
        sp_tenant_t *t = &c->tenants[i];
        if (s_item (list, i, "tenants", s_tenant_keys, at, sizeof at, &obj, err))
            return -1;
        c->ntenants = i + 1;
        t->gpu_quota = -1;
        if (s_name (obj, "name", at, S_NAME_MAX, NULL, true, &t->name, err))
            return -1;
        for (size_t k = 0; k < i; k++)
            if (strcmp (c->tenants[k].name, t->name) == 0) {
                char field[64];
                snprintf (field, sizeof field, "%s.name", at);
                return st_error_set (err, ST_EINVAL, field, "%s: tenant \"%s\" is defined twice", field, t->name), -1;
            }
        if (s_number (obj, "weight", at, 0.001, 1e6, 1, &t->weight, err))
            return -1;
        json_t *q = json_object_get (obj, "gpu_quota");
        if (q && !json_is_null (q)) {
            char field[64];
            snprintf (field, sizeof field, "%s.gpu_quota", at);
            if (!json_is_integer (q) || json_integer_value (q) < -1 || json_integer_value (q) > 1000000)
                return s_reject (err, field, "an integer between -1 (no quota) and 1000000", q);
            t->gpu_quota = json_integer_value (q);
        }
        json_t *mp = json_object_get (obj, "max_priority");
        if (mp && !json_is_null (mp)) {
            char field[64];
            snprintf (field, sizeof field, "%s.max_priority", at);
            if (!json_is_integer (mp) || json_integer_value (mp) < -1000 || json_integer_value (mp) > 1000)
                return s_reject (err, field, "an integer between -1000 and 1000 (the range of a job's priority)", mp);
            t->has_max_priority = 1;
            t->max_priority = (int32_t) json_integer_value (mp);
        }
        json_t *mq = json_object_get (obj, "max_pending");
        if (mq && !json_is_null (mq)) {
            char field[64];
            snprintf (field, sizeof field, "%s.max_pending", at);
            if (!json_is_integer (mq) || json_integer_value (mq) < -1 || json_integer_value (mq) > 100000000)
                return s_reject (err, field, "an integer between -1 (no cap) and 100000000", mq);
            t->has_max_pending = json_integer_value (mq) >= 0;
            t->max_pending = json_integer_value (mq);
        }
    }
    return 0;
}

static int
s_fair_share (sp_cluster_t *c, const json_t *root, st_error_t *err)
{
    json_t *obj = json_object_get (root, "fair_share");
    if (!obj || json_is_null (obj))
        return 0;
    if (!json_is_object (obj))
        return s_reject (err, "fair_share", "a mapping", obj);
    if (s_only_keys (obj, "fair_share", s_fair_keys, err))
        return -1;
    json_t *v = json_object_get (obj, "half_life");
    if (!v || json_is_null (v))
        return 0;
    const char *what = "a duration like \"12h\", \"1d\", \"90m\" or seconds (1 to 365 days)";
    uint32_t s = 0;
    if (json_is_integer (v) && json_integer_value (v) > 0 && json_integer_value (v) <= 365 * 86400)
        s = (uint32_t) json_integer_value (v);
    else if (!json_is_string (v) || st_parse_duration_s (json_string_value (v), &s) != 0 || s == 0
             || s > 365u * 86400)
        return s_reject (err, "fair_share.half_life", what, v);
    c->usage_half_life_s = s;
    return 0;
}

/*  ---------------------------------------------------------------------------
 *  Public  */

sp_cluster_t *
sp_cluster_new (void)
{
    sp_cluster_t *c = calloc (1, sizeof *c);
    if (c)
        c->usage_half_life_s = S_DEFAULT_HALF_LIFE;
    return c;
}

sp_cluster_t *
sp_cluster_parse (const char *text, size_t len, st_error_t *err)
{
    st_error_clear (err);
    json_t *root = st_doc_parse (text, len, err);
    if (!root)
        return NULL;
    sp_cluster_t *c = NULL;
    if (!json_is_object (root)) {
        s_reject (err, "(top level)", "a mapping with regions, latency_ms, pools, models, queues, tenants", root);
        goto out;
    }
    if (!(c = sp_cluster_new ())) {
        st_error_set (err, ST_ENOMEM, NULL, "out of memory");
        goto out;
    }
    if (s_only_keys (root, "", s_top_keys, err) || s_regions (c, root, err) || s_latency (c, root, err)
        || s_pools (c, root, err) || s_models (c, root, err) || s_queues (c, root, err) || s_tenants (c, root, err)
        || s_fair_share (c, root, err))
        sp_cluster_free (&c);
out:
    json_decref (root);
    return c;
}

sp_cluster_t *
sp_cluster_load (const char *path, st_error_t *err)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        st_error_set (err, ST_EIO, NULL, "cannot open cluster file %s: %m", path);
        return NULL;
    }
    char *text = malloc (ST_DOC_MAX_BYTES + 1);
    size_t len = text ? fread (text, 1, ST_DOC_MAX_BYTES + 1, f) : 0;
    int bad = ferror (f);
    fclose (f);
    sp_cluster_t *c = NULL;
    if (!text)
        st_error_set (err, ST_ENOMEM, NULL, "out of memory");
    else if (bad)
        st_error_set (err, ST_EIO, NULL, "cannot read cluster file %s", path);
    else if (len > ST_DOC_MAX_BYTES)
        st_error_set (err, ST_ETOOBIG, NULL, "cluster file %s is larger than %u bytes", path, ST_DOC_MAX_BYTES);
    else if ((c = sp_cluster_parse (text, len, err)) == NULL && err && err->msg[0]) {
        /*  Name the file in front of the field's message.  */
        char msg[sizeof err->msg + 64];
        int n = snprintf (msg, sizeof msg, "%.60s: %s", path, err->msg);
        size_t cut = n < 0 ? 0 : (size_t) n < sizeof err->msg ? (size_t) n : sizeof err->msg - 1;
        memcpy (err->msg, msg, cut);
        err->msg[cut] = '\0';
    }
    free (text);
    return c;
}

void
sp_cluster_free (sp_cluster_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sp_cluster_t *c = *self_p;
    for (size_t i = 0; i < c->nregions; i++)
        free (c->regions[i]);
    free (c->regions);
    free (c->latency_ms);
    for (size_t i = 0; i < c->npools; i++) {
        free (c->pools[i].name);
        free (c->pools[i].region);
        free (c->pools[i].jurisdiction);
        free (c->pools[i].storage_root);
    }
    free (c->pools);
    for (size_t f = 0; f < c->nfamilies; f++) {
        sp_family_t *fam = &c->families[f];
        for (size_t v = 0; v < fam->nvariants; v++) {
            sp_variant_t *var = &fam->variants[v];
            for (size_t j = 0; j < var->njurisdictions; j++)
                free (var->jurisdictions[j]);
            free (var->jurisdictions);
            free (var->name);
            free (var->uri);
        }
        free (fam->variants);
        free (fam->name);
    }
    free (c->families);
    for (size_t i = 0; i < c->nqueues; i++)
        free (c->queues[i].name);
    free (c->queues);
    for (size_t i = 0; i < c->ntenants; i++)
        free (c->tenants[i].name);
    free (c->tenants);
    free (c);
    *self_p = NULL;
}

int
sp_cluster_pool (const sp_cluster_t *c, const char *name)
{
    if (!c || !name)
        return -1;
    for (size_t i = 0; i < c->npools; i++)
        if (c->pools[i].name && strcmp (c->pools[i].name, name) == 0)
            return (int) i;
    return -1;
}

int
sp_cluster_pool_add_implicit (sp_cluster_t *c, const char *name)
{
    int idx = sp_cluster_pool (c, name);
    if (idx >= 0 || !c || !name)
        return idx;
    if (st_vec_reserve ((void **) &c->pools, &c->cappools, c->npools + 1, sizeof *c->pools, S_MAX_POOLS) != ST_OK)
        return -1;
    sp_pool_t *p = &c->pools[c->npools];
    memset (p, 0, sizeof *p);
    if (!(p->name = strdup (name)))
        return -1;
    p->site = SP_SITE_ONPREM;
    p->region_idx = -1;
    p->clearance = SP_CLASS_PUBLIC;
    p->pue = 1;
    p->gpu_watts = S_DEFAULT_GPU_WATTS;
    p->cpu_watts = S_DEFAULT_CPU_WATTS;
    p->implicit = 1;
    return (int) c->npools++;
}

int
sp__region_index (const sp_cluster_t *c, const char *name)
{
    if (!c || !name)
        return -1;
    for (size_t i = 0; i < c->nregions; i++)
        if (c->regions[i] && strcmp (c->regions[i], name) == 0)
            return (int) i;
    return -1;
}

double
sp__latency_idx (const sp_cluster_t *c, int from, int to)
{
    if (from < 0 || to < 0 || (size_t) from >= c->nregions || (size_t) to >= c->nregions)
        return -1;
    return c->latency_ms[(size_t) from * c->nregions + (size_t) to];
}

double
sp_cluster_latency (const sp_cluster_t *c, const char *from_region, const char *to_region)
{
    return sp__latency_idx (c, sp__region_index (c, from_region), sp__region_index (c, to_region));
}

const sp_tenant_t *
sp_cluster_tenant (const sp_cluster_t *c, const char *name)
{
    for (size_t i = 0; c && name && i < c->ntenants; i++)
        if (strcmp (c->tenants[i].name, name) == 0)
            return &c->tenants[i];
    return NULL;
}

double
sp_cluster_queue_weight (const sp_cluster_t *c, const char *name)
{
    for (size_t i = 0; c && name && i < c->nqueues; i++)
        if (strcmp (c->queues[i].name, name) == 0)
            return c->queues[i].weight;
    return 1.0;
}

static bool
s_variant_allowed (const sp_variant_t *v, const char *jur)
{
    for (size_t i = 0; jur && i < v->njurisdictions; i++)
        if (strcmp (v->jurisdictions[i], jur) == 0)
            return true;
    return false;
}

const sp_variant_t *
sp_cluster_variant (const sp_cluster_t *c, const char *model, const char *jur)
{
    if (!c || !model || !jur)
        return NULL;
    bool any = strcmp (model, "auto") == 0;
    for (size_t f = 0; f < c->nfamilies; f++) {
        const sp_family_t *fam = &c->families[f];
        bool whole = any || strcmp (fam->name, model) == 0;
        for (size_t v = 0; v < fam->nvariants; v++) {
            const sp_variant_t *var = &fam->variants[v];
            if ((whole || strcmp (var->name, model) == 0) && s_variant_allowed (var, jur))
                return var;
        }
    }
    return NULL;
}

/*  Does the registry know `model` at all (a family, a variant, or auto)?  */
int
sp__model_known (const sp_cluster_t *c, const char *model)
{
    return model && (strcmp (model, "auto") == 0 || s_model_name_taken (c, model));
}
