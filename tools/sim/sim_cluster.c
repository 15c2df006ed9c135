/*  sim_cluster.c: the simulated cluster (format in sim_cluster.h).  */
#include "sim_cluster.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_doc.h"
#include "st_field.h"
#include "st_spec.h"
#include "st_units.h"
#include "st_vec.h"

#define S_DEFAULT_CPUS_MILLI 64000u
#define S_DEFAULT_MEM_MB (512ull * 1024)

/*  Each node keeps its name, and each `nodes:` entry its GPU type and at most
 *  one label list, so SIM_MAX_NODES bounds all three arrays (one more entry
 *  may be read before the node count is refused).  */
#define S_STRINGS_MAX (2 * (size_t) SIM_MAX_NODES + 1)
#define S_LABELS_MAX ((size_t) SIM_MAX_NODES + 1)

static char *
s_keep (sim_cluster_t *c, const char *s)
{
    if (st_vec_reserve ((void **) &c->strings, &c->cap_strings, c->nstrings + 1, sizeof *c->strings, S_STRINGS_MAX)
        != ST_OK)
        return NULL;
    char *d = strdup (s);
    if (d)
        c->strings[c->nstrings++] = d;
    return d;
}

/*  Appends n nodes; names are "<prefix>-0001"... or the prefix itself when one.  */
static st_rc_t
s_add_nodes (sim_cluster_t *c, const char *prefix, uint32_t n, int pool, uint32_t gpus, const char *gpu_type,
             uint32_t cpus_milli, uint64_t mem_mb, const st_kv_t *labels, st_error_t *err)
{
    if (c->nnodes + n > SIM_MAX_NODES)
        return st_error_set (err, ST_EINVAL, "nodes", "more than %d nodes", SIM_MAX_NODES);
    if (st_vec_reserve ((void **) &c->nodes, &c->cap_nodes, c->nnodes + n, sizeof *c->nodes, SIM_MAX_NODES) != ST_OK)
        return st_error_set (err, ST_ENOMEM, NULL, "out of memory");
    const char *type = s_keep (c, gpus > 0 ? (gpu_type ? gpu_type : SIM_DEFAULT_GPU_TYPE) : "");
    if (!type)
        return st_error_set (err, ST_ENOMEM, NULL, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
        char name[160];
        if (n == 1)
            snprintf (name, sizeof name, "%s", prefix);
        else
            snprintf (name, sizeof name, "%s-%04u", prefix, i + 1);
        const char *kept = s_keep (c, name);
        if (!kept)
            return st_error_set (err, ST_ENOMEM, NULL, "out of memory");
        c->nodes[c->nnodes++] = (sp_node_t) {
            .name = kept,
            .pool = pool,
            .gpu_type = type,
            .labels = labels,
            .cap_cpus_milli = cpus_milli,
            .cap_mem_mb = mem_mb,
            .cap_gpus = gpus,
            .schedulable = 1,
        };
    }
    return ST_OK;
}

st_rc_t
sim_cluster_uniform (sim_cluster_t *c, uint32_t nodes, uint32_t gpus, const char *gpu_type, uint32_t cpus_milli,
                     uint64_t mem_mb, st_error_t *err)
{
    memset (c, 0, sizeof *c);
    c->cluster = sp_cluster_new ();
    int pool = c->cluster ? sp_cluster_pool_add_implicit (c->cluster, "default") : -1;
    st_rc_t rc = pool < 0 ? st_error_set (err, ST_ENOMEM, NULL, "out of memory")
                          : s_add_nodes (c, "n", nodes, pool, gpus, gpu_type, cpus_milli, mem_mb, NULL, err);
    if (rc != ST_OK)
        sim_cluster_free (c);
    return rc;
}

/*  An integer field in [lo, hi], or def when absent.  */
static st_rc_t
s_int (json_t *o, const char *key, int64_t lo, int64_t hi, int64_t def, int64_t *out, const char *at, st_error_t *err)
{
    json_t *v = json_object_get (o, key);
    *out = def;
    if (!v)
        return ST_OK;
    if (!json_is_integer (v) || json_integer_value (v) < lo || json_integer_value (v) > hi)
        return st_error_set (err, ST_EINVAL, NULL, "%s.%s: must be an integer from %lld to %lld", at, key,
                             (long long) lo, (long long) hi);
    *out = json_integer_value (v);
    return ST_OK;
}

static st_rc_t
s_string (json_t *o, const char *key, const char **out, const char *at, st_error_t *err)
{
    json_t *v = json_object_get (o, key);
    *out = NULL;
    if (!v)
        return ST_OK;
    st_field_t rule = { 100, ST_FIELD_ANY, NULL };
    if (!json_is_string (v) || !st_field_ok (json_string_value (v), json_string_length (v), &rule))
        return st_error_set (err, ST_EINVAL, NULL, "%s.%s: must be a non-empty string of at most 100 characters", at,
                             key);
    *out = json_string_value (v);
    return ST_OK;
}

static st_rc_t
s_node_entry (sim_cluster_t *c, json_t *e, size_t idx, st_error_t *err)
{
    static const char *const known[] = { "name", "count", "pool", "gpus", "gpu_type", "cpus", "memory", "labels" };
    char at[48];
    snprintf (at, sizeof at, "nodes[%zu]", idx);
    if (!json_is_object (e))
        return st_error_set (err, ST_EINVAL, NULL, "%s: must be a mapping (name, count, pool, gpus, ...)", at);
    const char *key;
    json_t *v;
    json_object_foreach (e, key, v) {
        size_t k = 0;
        while (k < sizeof known / sizeof *known && strcmp (known[k], key) != 0)
            k++;
        if (k == sizeof known / sizeof *known)
            return st_error_set (err, ST_EINVAL, NULL,
                                 "%s.%s: unknown field (known: name, count, pool, gpus, gpu_type, cpus, memory, "
                                 "labels)",
                                 at, key);
    }
    const char *name, *pool_name, *gpu_type;
    int64_t count, gpus;
    st_rc_t rc;
    if ((rc = s_string (e, "name", &name, at, err)) != ST_OK || (rc = s_string (e, "pool", &pool_name, at, err))
        || (rc = s_string (e, "gpu_type", &gpu_type, at, err))
        || (rc = s_int (e, "count", 1, SIM_MAX_NODES, 1, &count, at, err))
        || (rc = s_int (e, "gpus", 0, SIM_MAX_NODE_GPUS, 0, &gpus, at, err)))
        return rc;
    if (!name)
        return st_error_set (err, ST_EINVAL, NULL, "%s.name: required", at);
    if (!pool_name)
        return st_error_set (err, ST_EINVAL, NULL, "%s.pool: required", at);
    uint32_t cpus_milli = S_DEFAULT_CPUS_MILLI;
    if ((v = json_object_get (e, "cpus"))) {
        double d = json_is_number (v) ? json_number_value (v) : -1;
        if (d <= 0 || d > 100000 || d * 1000 != floor (d * 1000))
            return st_error_set (err, ST_EINVAL, NULL, "%s.cpus: must be a number of CPUs above 0 (e.g. 64 or 0.5)",
                                 at);
        cpus_milli = (uint32_t) (d * 1000);
    }
    uint64_t mem_mb = S_DEFAULT_MEM_MB;
    if ((v = json_object_get (e, "memory"))) {
        if (json_is_integer (v) && json_integer_value (v) > 0)
            mem_mb = (uint64_t) json_integer_value (v);
        else if (!json_is_string (v) || st_parse_mem_mb (json_string_value (v), &mem_mb) != 0 || mem_mb == 0)
            return st_error_set (err, ST_EINVAL, NULL, "%s.memory: must be a size such as 512G or 65536 (MiB)", at);
    }
    const st_kv_t *labels = NULL;
    if ((v = json_object_get (e, "labels"))) {
        if (!json_is_object (v))
            return st_error_set (err, ST_EINVAL, NULL, "%s.labels: must be a mapping of strings", at);
        /*  Each list on its own: nodes point at it while the array grows.  */
        if (st_vec_reserve ((void **) &c->labels, &c->cap_labels, c->nlabels + 1, sizeof *c->labels, S_LABELS_MAX)
            != ST_OK)
            return st_error_set (err, ST_ENOMEM, NULL, "out of memory");
        st_kv_t *kv = calloc (1, sizeof *kv);
        if (!kv)
            return st_error_set (err, ST_ENOMEM, NULL, "out of memory");
        c->labels[c->nlabels++] = kv;
        const char *lk;
        json_t *lv;
        json_object_foreach (v, lk, lv) {
            if (!json_is_string (lv))
                return st_error_set (err, ST_EINVAL, NULL, "%s.labels.%s: must be a string", at, lk);
            if (st_kv_add (kv, lk, json_string_value (lv)) != 0)
                return st_error_set (err, ST_ENOMEM, NULL, "out of memory");
        }
        labels = kv;
    }
    int pool = sp_cluster_pool (c->cluster, pool_name);
    if (pool < 0)
        pool = sp_cluster_pool_add_implicit (c->cluster, pool_name);
    if (pool < 0)
        return st_error_set (err, ST_ENOMEM, NULL, "out of memory");
    return s_add_nodes (c, name, (uint32_t) count, pool, (uint32_t) gpus, gpu_type, cpus_milli, mem_mb, labels, err);
}

st_rc_t
sim_cluster_load (sim_cluster_t *c, const char *path, st_error_t *err)
{
    memset (c, 0, sizeof *c);
    json_t *root = st_doc_load (path, err);
    if (!root) {
        /*  st_doc_load names the line; add the file.  */
        char msg[sizeof err->msg];
        snprintf (msg, sizeof msg, "%s", err->msg);
        return st_error_set (err, err->rc ? err->rc : ST_EINVAL, NULL, "%.200s: %.300s", path, msg);
    }
    st_rc_t rc = ST_OK;
    json_t *nodes = json_object_get (root, "nodes");
    if (!json_is_object (root))
        rc = st_error_set (err, ST_EINVAL, NULL, "%s: must be a mapping (pools, nodes, ...)", path);
    else if (!nodes || !json_is_array (nodes) || json_array_size (nodes) == 0)
        rc = st_error_set (err, ST_EINVAL, NULL, "%s: nodes: a list of node groups is required (strata-sim --help)",
                           path);
    json_incref (nodes);
    if (rc == ST_OK) {
        json_object_del (root, "nodes");
        char *text = json_dumps (root, JSON_COMPACT);
        if (!text)
            rc = st_error_set (err, ST_ENOMEM, NULL, "out of memory");
        else {
            st_error_t perr = { 0 };
            c->cluster = sp_cluster_parse (text, strlen (text), &perr);
            if (!c->cluster) { /*  the engine's messages start with the field's path  */
                rc = st_error_set (err, perr.rc ? perr.rc : ST_EINVAL, NULL, "%.200s: %.300s", path, perr.msg);
                if (*perr.hint)
                    st_error_hint (err, "%s", perr.hint);
            }
            free (text);
        }
    }
    for (size_t i = 0; rc == ST_OK && i < json_array_size (nodes); i++)
        if ((rc = s_node_entry (c, json_array_get (nodes, i), i, err)) != ST_OK) {
            char msg[sizeof err->msg];
            snprintf (msg, sizeof msg, "%s", err->msg);
            st_error_set (err, rc, NULL, "%.200s: %.300s", path, msg);
        }
    json_decref (nodes);
    json_decref (root);
    if (rc != ST_OK)
        sim_cluster_free (c);
    return rc;
}

void
sim_cluster_free (sim_cluster_t *c)
{
    sp_cluster_free (&c->cluster);
    for (size_t i = 0; i < c->nstrings; i++)
        free (c->strings[i]);
    free (c->strings);
    for (size_t i = 0; i < c->nlabels; i++) {
        st_kv_free (c->labels[i]);
        free (c->labels[i]);
    }
    free (c->labels);
    free (c->nodes);
    memset (c, 0, sizeof *c);
}
