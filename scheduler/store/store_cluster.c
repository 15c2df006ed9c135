/*  store_cluster.c: the cluster description (--cluster FILE) in PostgreSQL.
 *
 *  The scheduler keeps the description in memory (s->m->cluster); these rows are
 *  for people, reports and other tools, and are rewritten at every start-up in
 *  one transaction, replacing what an earlier file wrote:
 *
 *    pools           upserted with the file's attributes (implicit = false). A
 *                    pool the file no longer names stays while a node belongs
 *                    to it, back to the defaults and implicit; otherwise it goes.
 *    regions,        replaced (latency rows only for known pairs).
 *    latency
 *    model_families, replaced; variants keep their order of preference.
 *    model_variants
 *    queues,         upserted with their weights; those the file does not name
 *    tenants         (jobs refer to them) get weight 1 and no GPU quota.
 *
 *  Every statement takes its rows as one JSON array (jsonb_to_recordset), as
 *  the batched writes in store.c do. */
#include "store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_log.h"

#define POOL_COLUMNS                                                                                          \
    "site, region, jurisdiction, clearance, cost_gpu_hour, cost_cpu_hour, pue, carbon_g_per_kwh, gpu_watts, " \
    "cpu_watts, storage_root, implicit"

static const char *SQL_POOLS_UPSERT =
    "INSERT INTO pools (name, " POOL_COLUMNS ", updated_at) SELECT name, " POOL_COLUMNS ", now () "
    "FROM jsonb_to_recordset ($1::jsonb) AS x (name text, site text, region text, jurisdiction text, "
    "clearance text, cost_gpu_hour float8, cost_cpu_hour float8, pue float8, carbon_g_per_kwh float8, "
    "gpu_watts float8, cpu_watts float8, storage_root text, implicit bool) "
    "ON CONFLICT (name) DO UPDATE SET site = EXCLUDED.site, region = EXCLUDED.region, "
    "jurisdiction = EXCLUDED.jurisdiction, clearance = EXCLUDED.clearance, cost_gpu_hour = EXCLUDED.cost_gpu_hour, "
    "cost_cpu_hour = EXCLUDED.cost_cpu_hour, pue = EXCLUDED.pue, carbon_g_per_kwh = EXCLUDED.carbon_g_per_kwh, "
    "gpu_watts = EXCLUDED.gpu_watts, cpu_watts = EXCLUDED.cpu_watts, storage_root = EXCLUDED.storage_root, "
    "implicit = EXCLUDED.implicit, updated_at = now ()";
/*  $1: the pools just written; the others either go or fall back to the defaults.  */
static const char *SQL_POOLS_DROP =
    "DELETE FROM pools p WHERE p.name NOT IN (SELECT x.name FROM jsonb_to_recordset ($1::jsonb) AS x (name text)) "
    "AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.pool = p.name)";
static const char *SQL_POOLS_RESET =
    "UPDATE pools SET site = DEFAULT, region = DEFAULT, jurisdiction = DEFAULT, clearance = DEFAULT, "
    "cost_gpu_hour = DEFAULT, cost_cpu_hour = DEFAULT, pue = DEFAULT, carbon_g_per_kwh = DEFAULT, "
    "gpu_watts = DEFAULT, cpu_watts = DEFAULT, storage_root = DEFAULT, implicit = true, updated_at = now () "
    "WHERE name NOT IN (SELECT x.name FROM jsonb_to_recordset ($1::jsonb) AS x (name text)) AND NOT implicit";
static const char *SQL_REGIONS = "INSERT INTO regions (name) SELECT jsonb_array_elements_text ($1::jsonb)";
static const char *SQL_LATENCY =
    "INSERT INTO latency (from_region, to_region, ms) SELECT from_region, to_region, ms "
    "FROM jsonb_to_recordset ($1::jsonb) AS x (from_region text, to_region text, ms float8)";
static const char *SQL_FAMILIES = "INSERT INTO model_families (name) SELECT jsonb_array_elements_text ($1::jsonb)";
static const char *SQL_VARIANTS =
    "INSERT INTO model_variants (name, family, position, jurisdictions, uri) "
    "SELECT name, family, position, jurisdictions, uri FROM jsonb_to_recordset ($1::jsonb) "
    "AS x (name text, family text, position int, jurisdictions text[], uri text)";
static const char *SQL_QUEUES =
    "WITH x AS (SELECT * FROM jsonb_to_recordset ($1::jsonb) AS x (name text, weight float8)), "
    "r AS (UPDATE queues SET weight = 1 WHERE name NOT IN (SELECT name FROM x) AND weight <> 1) "
    "INSERT INTO queues (name, weight) SELECT name, weight FROM x "
    "ON CONFLICT (name) DO UPDATE SET weight = EXCLUDED.weight";
static const char *SQL_TENANTS_UPSERT =
    "WITH x AS (SELECT * FROM jsonb_to_recordset ($1::jsonb) AS x (name text, weight float8, gpu_quota int)), "
    "r AS (UPDATE tenants SET weight = 1, gpu_quota = NULL WHERE name NOT IN (SELECT name FROM x) "
    "AND (weight <> 1 OR gpu_quota IS NOT NULL)) "
    "INSERT INTO tenants (name, weight, gpu_quota) SELECT name, weight, gpu_quota FROM x "
    "ON CONFLICT (name) DO UPDATE SET weight = EXCLUDED.weight, gpu_quota = EXCLUDED.gpu_quota";

/*  A name, or null when it is NULL or empty (the columns refuse '').  */
static json_t *
s_name_or_null (const char *name)
{
    return name && *name ? json_string (name) : json_null ();
}

/*  One row per item i < n of the description; NULL when out of memory.  */
static json_t *
s_rows (const sp_cluster_t *c, size_t n, json_t *(*row) (const sp_cluster_t *c, size_t i))
{
    json_t *rows = json_array ();
    for (size_t i = 0; rows && i < n; i++)
        if (json_array_append_new (rows, row (c, i)) != 0) {
            json_decref (rows);
            rows = NULL;
        }
    return rows;
}

static json_t *
s_pool_row (const sp_cluster_t *c, size_t i)
{
    const sp_pool_t *p = &c->pools[i];
    json_t *row = json_pack ("{s:s, s:s, s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:b}", "name", p->name, "site",
                             sp_site_name (p->site), "clearance", sp_class_name (p->clearance), "cost_gpu_hour",
                             p->cost_gpu_hour, "cost_cpu_hour", p->cost_cpu_hour, "pue", p->pue, "carbon_g_per_kwh",
                             p->carbon_g_per_kwh, "gpu_watts", p->gpu_watts, "cpu_watts", p->cpu_watts, "implicit",
                             p->implicit != 0);
    if (row
        && (json_object_set_new (row, "region", s_name_or_null (p->region)) != 0
            || json_object_set_new (row, "jurisdiction", s_name_or_null (p->jurisdiction)) != 0
            || json_object_set_new (row, "storage_root", s_name_or_null (p->storage_root)) != 0)) {
        json_decref (row);
        row = NULL;
    }
    return row;
}

static json_t *
s_region_row (const sp_cluster_t *c, size_t i)
{
    return json_string (c->regions[i]);
}

static json_t *
s_family_row (const sp_cluster_t *c, size_t i)
{
    return json_string (c->families[i].name);
}

static json_t *
s_queue_row (const sp_cluster_t *c, size_t i)
{
    return json_pack ("{s:s, s:f}", "name", c->queues[i].name, "weight", c->queues[i].weight);
}

static json_t *
s_tenant_row (const sp_cluster_t *c, size_t i)
{
    const sp_tenant_t *t = &c->tenants[i];
    return json_pack ("{s:s, s:f, s:o}", "name", t->name, "weight", t->weight, "gpu_quota",
                      t->gpu_quota < 0 ? json_null () : json_integer ((json_int_t) t->gpu_quota));
}

/*  Every known pair; a latency below 0 is unknown and has no row.  */
static json_t *
s_latency_rows (const sp_cluster_t *c)
{
    json_t *rows = json_array ();
    for (size_t i = 0; rows && i < c->nregions; i++)
        for (size_t j = 0; rows && j < c->nregions; j++) {
            double ms = c->latency_ms ? c->latency_ms[i * c->nregions + j] : -1;
            if (ms >= 0
                && json_array_append_new (rows, json_pack ("{s:s, s:s, s:f}", "from_region", c->regions[i],
                                                           "to_region", c->regions[j], "ms", ms))
                       != 0) {
                json_decref (rows);
                rows = NULL;
            }
        }
    return rows;
}

/*  Variants in their family's order of preference (position).  */
static json_t *
s_variant_rows (const sp_cluster_t *c)
{
    json_t *rows = json_array ();
    for (size_t f = 0; rows && f < c->nfamilies; f++)
        for (size_t v = 0; rows && v < c->families[f].nvariants; v++) {
            const sp_variant_t *var = &c->families[f].variants[v];
            json_t *jur = json_array ();
            for (size_t k = 0; jur && k < var->njurisdictions; k++)
                if (json_array_append_new (jur, json_string (var->jurisdictions[k])) != 0) {
                    json_decref (jur);
                    jur = NULL;
                }
            json_t *row = json_pack ("{s:s, s:s, s:I, s:o, s:o}", "name", var->name, "family", c->families[f].name,
                                     "position", (json_int_t) v, "jurisdictions", jur, "uri",
                                     s_name_or_null (var->uri));
            if (json_array_append_new (rows, row) != 0) {
                json_decref (rows);
                rows = NULL;
            }
        }
    return rows;
}

/*  ST_OK when res succeeded, else ST_EDB with the first line of the server's message.  */
static st_rc_t
s_check (PGresult *res, const char *what, st_error_t *err)
{
    if (PQresultStatus (res) == PGRES_COMMAND_OK || PQresultStatus (res) == PGRES_TUPLES_OK)
        return ST_OK;
    char msg[400];
    snprintf (msg, sizeof msg, "%s", PQresultErrorMessage (res));
    msg[strcspn (msg, "\n")] = '\0';
    return st_error_set (err, ST_EDB, NULL, "saving the cluster description (%s): %s", what, msg);
}

/*  Runs sql with rows (stolen) as $1.  */
static st_rc_t
s_run (st__store_t *s, const char *what, const char *sql, json_t *rows, st_error_t *err)
{
    char *param = rows ? json_dumps (rows, JSON_COMPACT) : NULL;
    json_decref (rows);
    if (!param)
        return st_error_set (err, ST_ENOMEM, NULL, "saving the cluster description (%s): out of memory", what);
    const char *params[] = { param };
    PGresult *res = PQexecParams (s->db, sql, 1, NULL, params, NULL, NULL, 0);
    free (param);
    st_rc_t rc = s_check (res, what, err);
    PQclear (res);
    return rc;
}

static st_rc_t
s_exec (st__store_t *s, const char *sql, st_error_t *err)
{
    PGresult *res = PQexec (s->db, sql);
    st_rc_t rc = s_check (res, sql, err);
    PQclear (res);
    return rc;
}

st_rc_t
st__store_save_cluster (st__store_t *s, const sp_cluster_t *c, st_error_t *err)
{
    st_rc_t rc = s_exec (s, "BEGIN", err);
    if (rc != ST_OK)
        return rc;
    /*  Regions and families are replaced (deleting them takes their latencies
     *  and variants along), then written in order: regions before their
     *  latencies, families before their variants.  */
    json_t *pools = s_rows (c, c->npools, s_pool_row);
    if ((rc = s_run (s, "pools", SQL_POOLS_UPSERT, json_incref (pools), err)) != ST_OK
        || (rc = s_run (s, "pools", SQL_POOLS_DROP, json_incref (pools), err)) != ST_OK
        || (rc = s_run (s, "pools", SQL_POOLS_RESET, json_incref (pools), err)) != ST_OK
        || (rc = s_exec (s, "DELETE FROM regions", err)) != ST_OK
        || (rc = s_run (s, "regions", SQL_REGIONS, s_rows (c, c->nregions, s_region_row), err)) != ST_OK
        || (rc = s_run (s, "latency", SQL_LATENCY, s_latency_rows (c), err)) != ST_OK
        || (rc = s_exec (s, "DELETE FROM model_families", err)) != ST_OK
        || (rc = s_run (s, "model families", SQL_FAMILIES, s_rows (c, c->nfamilies, s_family_row), err)) != ST_OK
        || (rc = s_run (s, "model variants", SQL_VARIANTS, s_variant_rows (c), err)) != ST_OK
        || (rc = s_run (s, "queues", SQL_QUEUES, s_rows (c, c->nqueues, s_queue_row), err)) != ST_OK
        || (rc = s_run (s, "tenants", SQL_TENANTS_UPSERT, s_rows (c, c->ntenants, s_tenant_row), err)) != ST_OK
        || (rc = s_exec (s, "COMMIT", err)) != ST_OK) {
        st_error_t ignored = { 0 };
        s_exec (s, "ROLLBACK", &ignored);
        json_decref (pools);
        return rc;
    }
    json_decref (pools);
    st_info ("cluster description saved: %zu pool(s), %zu region(s), %zu model famil%s, %zu queue(s), "
             "%zu tenant(s)",
             c->npools, c->nregions, c->nfamilies, c->nfamilies == 1 ? "y" : "ies", c->nqueues, c->ntenants);
    return ST_OK;
}
