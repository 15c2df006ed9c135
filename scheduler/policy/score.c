/*  score.c: what a placement costs, and how pools compare.
 *
 *  Raw figures per hour of the whole job (every task) in a pool:
 *
 *      cost  = ntasks * (gpus * cost_gpu_hour + cpus * cost_cpu_hour)
 *      kWh   = ntasks * (gpus * gpu_watts + cpus * cpu_watts) * pue / 1000
 *      CO2 g = kWh * carbon_g_per_kwh
 *      latency = latency_ms from the job's `near` region (0 without near;
 *                unknown counts as the worst candidate)
 *      packing = mean share of the picked nodes left free after placing
 *                (GPUs for GPU jobs, CPUs otherwise): fuller nodes score better
 *
 *  Each term is normalised over the candidate pools to [0, 1] (0 = best of
 *  them; all equal = 0) and the total is the weighted sum. Lower wins; equal
 *  totals go to the pool whose name sorts first. */
#include "policy_int.h"

#include <stdlib.h>
#include <string.h>

/*  The profiles. Weights sum to 1 so totals compare across profiles.  */
static const struct {
    const char *name;
    sp_weights_t w;
} s_profiles[] = {
    { "balanced", { .cost = 0.30, .latency = 0.20, .energy = 0.15, .carbon = 0.15, .packing = 0.20 } },
    { "cost", { .cost = 0.70, .latency = 0.05, .energy = 0.05, .carbon = 0.05, .packing = 0.15 } },
    { "latency", { .cost = 0.10, .latency = 0.70, .energy = 0.025, .carbon = 0.025, .packing = 0.15 } },
    { "energy", { .cost = 0.10, .latency = 0.05, .energy = 0.35, .carbon = 0.35, .packing = 0.15 } },
};

int
sp_weights_for_prefer (const char *prefer, sp_weights_t *out)
{
    for (size_t i = 0; i < sizeof s_profiles / sizeof s_profiles[0]; i++)
        if (!prefer || strcmp (prefer, s_profiles[i].name) == 0) {
            *out = s_profiles[i].w;
            return 0;
        }
    return -1;
}

sp_weights_t
sp__job_weights (const sp_job_t *j)
{
    const sp_weights_t *w = &j->weights;
    if (w->cost > 0 || w->latency > 0 || w->energy > 0 || w->carbon > 0 || w->packing > 0)
        return *w;
    return s_profiles[0].w;
}

void
sp__pool_figures (const sp_cluster_t *c, int pool, const sp_job_t *job, sp__pool_fig_t *out)
{
    const sp_pool_t *p = &c->pools[pool];
    double gpus = (double) job->ntasks * job->gpus, cpus = (double) job->ntasks * job->cpus_milli / 1000.0;
    out->pool = pool;
    out->cost_per_hour = gpus * p->cost_gpu_hour + cpus * p->cost_cpu_hour;
    out->kwh_per_hour = (gpus * p->gpu_watts + cpus * p->cpu_watts) * p->pue / 1000.0;
    out->co2_g_per_hour = out->kwh_per_hour * p->carbon_g_per_kwh;
    out->latency_ms = job->near ? sp__latency_idx (c, sp__region_index (c, job->near), p->region_idx) : 0;
}

void
sp_estimate (const sp_cluster_t *c, int pool, const sp_job_t *job, double seconds, double *cost, double *kwh,
             double *co2_g)
{
    sp__pool_fig_t f = { 0 };
    double hours = seconds > 0 ? seconds / 3600.0 : 0;
    if (c && job && pool >= 0 && (size_t) pool < c->npools)
        sp__pool_figures (c, pool, job, &f);
    if (cost)
        *cost = f.cost_per_hour * hours;
    if (kwh)
        *kwh = f.kwh_per_hour * hours;
    if (co2_g)
        *co2_g = f.co2_g_per_hour * hours;
}

/*  (x - min) / (max - min) over the candidates; unknown (< 0) is the worst.  */
static void
s_norm (sp_score_t *s, size_t n, size_t raw_off, size_t term_off, int unknown_worst)
{
    double lo = INFINITY, hi = -INFINITY;
    int unknown = 0;
    for (size_t i = 0; i < n; i++) {
        double x = *(double *) ((char *) &s[i] + raw_off);
        if (unknown_worst && x < 0) {
            unknown = 1;
            continue;
        }
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
    }
    for (size_t i = 0; i < n; i++) {
        double x = *(double *) ((char *) &s[i] + raw_off), t;
        if (unknown_worst && x < 0)
            t = 1;
        else if (hi > lo)
            t = (x - lo) / (hi - lo);
        else
            t = 0;
        /*  With an unknown among them, a known value never ties with it.  */
        if (unknown && t >= 1 && !(unknown_worst && x < 0))
            t = 0.999;
        *(double *) ((char *) &s[i] + term_off) = t;
    }
}

void
sp__score_normalise (sp_score_t *s, size_t n, const sp_weights_t *w)
{
    s_norm (s, n, offsetof (sp_score_t, cost_per_hour), offsetof (sp_score_t, cost), 0);
    s_norm (s, n, offsetof (sp_score_t, latency_ms), offsetof (sp_score_t, latency), 1);
    s_norm (s, n, offsetof (sp_score_t, kwh_per_hour), offsetof (sp_score_t, energy), 0);
    s_norm (s, n, offsetof (sp_score_t, co2_g_per_hour), offsetof (sp_score_t, carbon), 0);
    s_norm (s, n, offsetof (sp_score_t, free_share), offsetof (sp_score_t, packing), 0);
    for (size_t i = 0; i < n; i++)
        s[i].total = w->cost * s[i].cost + w->latency * s[i].latency + w->energy * s[i].energy
                     + w->carbon * s[i].carbon + w->packing * s[i].packing;
}

void
sp__score_sort (const sp_cluster_t *c, sp_score_t *s, size_t n)
{
    /*  Insertion sort: n is the number of candidate pools (tens at most), and
     *  the comparison needs the cluster, which qsort cannot pass.  */
    for (size_t i = 1; i < n; i++) {
        sp_score_t x = s[i];
        size_t j = i;
        while (j > 0) {
            const sp_score_t *y = &s[j - 1];
            double d = y->total - x.total;
            int after = d > 1e-12 || (d >= -1e-12 && strcmp (c->pools[y->pool].name, c->pools[x.pool].name) > 0);
            if (!after)
                break;
            s[j] = s[j - 1];
            j--;
        }
        s[j] = x;
    }
}
