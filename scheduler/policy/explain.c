/*  explain.c: why a job was placed where it was, or why it still waits, as JSON.
 *
 *  The placement's explanation is read from the placement itself (scores of
 *  the chosen pool and runners-up, weights, estimate). The pending job's is
 *  computed afresh against the nodes and running jobs passed in, with the same
 *  filter and fit code the cycle uses, plus the reservation the last cycle
 *  gave the job, if any. docs/placement.md shows both shapes. */
#include "policy_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *
s_terms (const sp_score_t *s)
{
    return json_pack ("{s:f, s:f, s:f, s:f, s:f, s:f}", "cost", s->cost, "latency", s->latency, "energy", s->energy,
                      "carbon", s->carbon, "packing", s->packing, "total", s->total);
}

static json_t *
s_figures (const sp_score_t *s)
{
    return json_pack ("{s:f, s:o, s:f, s:f, s:f}", "cost_per_hour", s->cost_per_hour, "latency_ms",
                      s->latency_ms >= 0 ? json_real (s->latency_ms) : json_null (), "kwh_per_hour", s->kwh_per_hour,
                      "co2_g_per_hour", s->co2_g_per_hour, "free_share", s->free_share);
}

static json_t *
s_str_or_null (const char *s)
{
    return s ? json_string (s) : json_null ();
}

static char *
s_dump (json_t *root)
{
    char *text = root ? json_dumps (root, JSON_COMPACT | JSON_REAL_PRECISION (6)) : NULL;
    json_decref (root);
    return text;
}

char *
sp_explain_placement (const sp_cluster_t *c, const sp_placement_t *p)
{
    if (!c || !p || !p->job || p->score.pool < 0 || (size_t) p->score.pool >= c->npools)
        return NULL;
    const sp_job_t *job = p->job;
    sp_weights_t w = sp__job_weights (job);
    json_t *nodes = json_array (), *runners = json_array (), *pools = json_array ();
    /*  Distinct nodes and pools, in task order.  */
    for (uint32_t t = 0; nodes && pools && t < job->ntasks; t++) {
        const sp_node_t *n = p->nodes[t];
        int seen_node = 0, seen_pool = 0;
        for (uint32_t u = 0; u < t; u++) {
            seen_node |= p->nodes[u] == n;
            seen_pool |= p->nodes[u]->pool == n->pool;
        }
        if (!seen_node)
            json_array_append_new (nodes, json_string (n->name ? n->name : "?"));
        if (!seen_pool && n->pool >= 0 && (size_t) n->pool < c->npools)
            json_array_append_new (pools, json_string (c->pools[n->pool].name));
    }
    for (size_t i = 0; runners && i < p->nrunners_up; i++) {
        const sp_score_t *r = &p->runners_up[i];
        json_array_append_new (runners, json_pack ("{s:s, s:o, s:o, s:o}", "pool", c->pools[r->pool].name, "variant",
                                                   s_str_or_null (r->variant ? r->variant->name : NULL), "terms",
                                                   s_terms (r), "figures", s_figures (r)));
    }
    json_t *root = json_pack (
        "{s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:{s:f, s:f, s:f, s:f, s:f}, s:o, s:{s:f, s:f, s:f, s:f}, s:b, s:s}",
        "job", (json_int_t) job->id, "pool", c->pools[p->score.pool].name, "pools", pools, "variant",
        s_str_or_null (p->variant ? p->variant->name : NULL), "nodes", nodes, "terms", s_terms (&p->score), "figures",
        s_figures (&p->score), "weights", "cost", w.cost, "latency", w.latency, "energy", w.energy, "carbon",
        w.carbon, "packing", w.packing, "runners_up", runners, "estimate", "hours",
        job->time_limit_s ? job->time_limit_s / 3600.0 : 1.0, "cost", p->est_cost, "kwh", p->est_kwh, "co2_g",
        p->est_co2_g, "backfilled", p->backfilled, "reason", p->reason);
    return s_dump (root);
}

/*  One pool's verdict for a pending job.  */
static json_t *
s_pool_verdict (sp__cycle_t *cy, sp_node_t *const *nodes, size_t nnodes, int pool, const sp_job_t *job, int *fits_now,
                int *short_now)
{
    const sp_cluster_t *c = cy->c;
    char why[320], need[160];
    const char *verdict = "excluded";
    size_t used = 0;
    int gang = job->gang || job->ntasks == 1;
    double end_s = job->time_limit_s ? cy->now + job->time_limit_s : SP__NO_TIME;
    json_t *extra = json_object ();
    sp__fmt_need (job, need, sizeof need);
    why[0] = '\0';
    if (sp_filter_pool (c, pool, job, why, sizeof why))
        goto out;
    uint32_t idle = sp__pool_capacity (cy, pool, job, SP__AVAIL_IDLE, job->ntasks, gang);
    if (idle == 0) {
        const char *node_why = NULL;
        for (size_t i = 0; i < cy->ncn && !node_why; i++)
            if (cy->cn[i].pool == pool)
                node_why = sp_filter_node (c, cy->cn[i].node, job, why, sizeof why);
        /*  A pool whose nodes all refuse new tasks: say why, from the first one.  */
        for (size_t i = 0; i < nnodes && !node_why; i++)
            if (nodes[i] && nodes[i]->pool == pool && nodes[i]->refusing)
                node_why = sp_filter_node (c, nodes[i], job, why, sizeof why);
        if (!node_why)
            snprintf (why, sizeof why, "no schedulable node in the pool can hold a task");
        goto out;
    }
    if (gang && idle < job->ntasks) {
        snprintf (why, sizeof why, "holds at most %u of the %u ranks even when idle", idle, job->ntasks);
        goto out;
    }
    sp__choice_t ch;
    uint32_t now = sp__pool_capacity (cy, pool, job, SP__AVAIL_NOW, job->ntasks, gang);
    int64_t free_gpu = cy->pool_free_gpu[pool], held_gpu = cy->pool_held_gpu[pool];
    json_object_set_new (extra, "free_gpus", json_integer (free_gpu));
    json_object_set_new (extra, "free_cpus", json_real (cy->pool_free_cpu[pool] / 1000.0));
    json_object_set_new (extra, "held_gpus", json_integer (held_gpu));
    json_object_set_new (extra, "held_by_jobs", json_integer (cy->pool_held_jobs[pool]));
    json_object_set_new (extra, "tasks_that_fit_now", json_integer (now));
    if (sp__fit_pool (cy, pool, job, NULL, job->ntasks, SP__AVAIL_NOW, end_s, 0, &ch)
        || (!gang && now >= job->ntasks)) {
        verdict = "fits";
        *fits_now = 1;
        sp__catf (why, sizeof why, &used, "room for %s now", need);
        goto out;
    }
    verdict = "short";
    *short_now = 1;
    if (job->gpus)
        sp__catf (why, sizeof why, &used, "needs %s; %lld GPU free (%lld held by %u job%s), room for %u of %u tasks",
                  need, (long long) free_gpu, (long long) held_gpu, cy->pool_held_jobs[pool],
                  cy->pool_held_jobs[pool] == 1 ? "" : "s", now, job->ntasks);
    else
        sp__catf (why, sizeof why, &used, "needs %s; %g CPU free (%g held by %u job%s), room for %u of %u tasks",
                  need, cy->pool_free_cpu[pool] / 1000.0, cy->pool_held_cpu[pool] / 1000.0, cy->pool_held_jobs[pool],
                  cy->pool_held_jobs[pool] == 1 ? "" : "s", now, job->ntasks);
out:
    json_object_set_new (extra, "pool", json_string (c->pools[pool].name));
    json_object_set_new (extra, "verdict", json_string (verdict));
    json_object_set_new (extra, "why", json_string (why));
    return extra;
}

char *
sp_explain_pending (sp_engine_t *e, const sp_params_t *params, sp_node_t *const *nodes, size_t nnodes,
                    sp_job_t *const *running, size_t nrunning, const sp_job_t *job)
{
    if (!e || !params || !job)
        return NULL;
    sp__arena_reset (&e->arena);
    if (sp__cycle_build (&e->cy, e->c, params, &e->arena, nodes, nnodes, running, nrunning) != 0)
        return NULL;
    json_t *pools = json_array ();
    int fits = 0, shorts = 0, allowed = 0;
    for (size_t p = 0; pools && p < e->c->npools; p++) {
        int f = 0, s = 0;
        json_t *v = s_pool_verdict (&e->cy, nodes, nnodes, (int) p, job, &f, &s);
        allowed += f || s;
        fits += f;
        shorts += s;
        json_array_append_new (pools, v);
    }
    double start = -1;
    const char *resv_pool = NULL;
    for (size_t i = 0; i < e->nresv; i++)
        if (e->resv[i].job_id == job->id) {
            start = e->resv[i].start_s;
            if (e->resv[i].pool >= 0 && (size_t) e->resv[i].pool < e->c->npools)
                resv_pool = e->c->pools[e->resv[i].pool].name;
        }
    char reason[320], need[160];
    sp__fmt_need (job, need, sizeof need);
    if (e->c->npools == 0)
        snprintf (reason, sizeof reason, "waiting: the cluster has no pools");
    else if (fits)
        snprintf (reason, sizeof reason,
                  "room for %s now in %d pool%s: it starts at the next cycle unless jobs "
                  "ahead of it take the room",
                  need, fits, fits == 1 ? "" : "s");
    else if (shorts)
        snprintf (reason, sizeof reason, "waiting: needs %s; %d allowed pool%s could hold it but %s busy", need,
                  shorts, shorts == 1 ? "" : "s", shorts == 1 ? "it is" : "they are");
    else
        snprintf (reason, sizeof reason, "waiting: needs %s; no pool can hold it (see pools)", need);
    (void) allowed;
    json_t *root = json_pack ("{s:I, s:s, s:o, s:o, s:o}", "job", (json_int_t) job->id, "reason", reason,
                              "expected_start_s", start >= 0 ? json_real (start) : json_null (), "reserved_pool",
                              s_str_or_null (resv_pool), "pools", pools);
    return s_dump (root);
}
