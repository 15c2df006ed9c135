/*  policy_cycle.c: how long one placement cycle takes on a big synthetic state.
 *
 *  strata-bench-policy-cycle [--nodes 5000] [--pools 20] [--jobs 50000] [--cycles 200]
 *                            [--policy default] [--seed 1] [--refresh 256]
 *
 *  Builds a hybrid cluster (pools of H100, A100, L4 and CPU-only nodes over
 *  four jurisdictions, with racks and NVLink domains) and a queue of pending
 *  jobs of mixed shapes and constraints, then measures:
 *
 *    cold   the first cycle on the empty cluster: how many jobs it places, how fast;
 *    steady cycles on the full cluster with the queue still long: before each,
 *           a few running jobs end (and as many new ones arrive), so each cycle
 *           places a handful and turns the rest away.
 *
 *  Prints p50/p99/max cycle milliseconds and placements per second, and how
 *  many jobs the steady cycles examined (sp_result_t.jobs_considered: the
 *  ones a cycle needed, jobs_needed, plus its refresh window; --refresh as
 *  the scheduler sets it, -1 for every job every cycle). Times are
 *  wall-clock around sp_schedule only; the state is rebuilt by the bench. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"
#include "st_config.h"

typedef struct {
    size_t nodes, pools, jobs, cycles;
    sp_policy_t policy;
    uint64_t seed;
} s_opts_t;

/*  The flags as st_config reads them; main checks the ranges as before.  */
typedef struct {
    int64_t nodes, pools, jobs, cycles;
    char *policy;
    int64_t seed;
    int64_t refresh;
} s_flags_t;

static const st_opt_t s_flag_table[] = {
    { "nodes", 0, ST_OPT_INT, offsetof (s_flags_t, nodes), 0, 0, "N", "nodes in the cluster (1..65536)", NULL, NULL },
    { "pools", 0, ST_OPT_INT, offsetof (s_flags_t, pools), 0, 0, "N", "pools (1..1000)", NULL, NULL },
    { "jobs", 0, ST_OPT_INT, offsetof (s_flags_t, jobs), 0, 0, "N", "pending jobs", NULL, NULL },
    { "cycles", 0, ST_OPT_INT, offsetof (s_flags_t, cycles), 0, 0, "N", "steady cycles timed", NULL, NULL },
    { "policy", 0, ST_OPT_STRING, offsetof (s_flags_t, policy), 0, 0, "P", "placement policy", "default", NULL },
    { "seed", 0, ST_OPT_INT, offsetof (s_flags_t, seed), 0, 0, "S", "random seed", NULL, NULL },
    { "refresh", 0, ST_OPT_INT, offsetof (s_flags_t, refresh), 0, 0, "N",
      "jobs examined past where a cycle may stop (-1: every job)", NULL, NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL },
};

static uint64_t s_rng;

static uint32_t
s_rand (void)
{
    /*  xorshift64*: deterministic from --seed  */
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return (uint32_t) ((s_rng * 0x2545F4914F6CDD1Dull) >> 32);
}

static uint32_t
s_pick (uint32_t n)
{
    return s_rand () % n;
}

static double
s_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *const s_regions[] = { "eu-central", "eu-west", "us-east", "me-central", "ap-east" };
static const char *const s_jurs[] = { "EU", "EU", "US", "SA", "CN" };

static sp_cluster_t *
s_cluster (size_t npools)
{
    size_t cap = 4096 + npools * 400, used = 0;
    char *y = malloc (cap);
    used += snprintf (y + used, cap - used,
                      "regions: [eu-central, eu-west, us-east, me-central, ap-east]\n"
                      "latency_ms:\n"
                      "  eu-central: {eu-west: 12, us-east: 95, me-central: 110, ap-east: 190}\n"
                      "  eu-west: {us-east: 80, me-central: 120, ap-east: 200}\n"
                      "  us-east: {me-central: 190, ap-east: 170}\n"
                      "  me-central: {ap-east: 140}\n"
                      "pools:\n");
    for (size_t p = 0; p < npools; p++) {
        size_t r = p % 5;
        used += snprintf (y + used, cap - used,
                          "  - {name: pool%02zu, site: %s, region: %s, jurisdiction: %s, clearance: %s, "
                          "cost_gpu_hour: %.2f, cost_cpu_hour: 0.0%zu, pue: %.2f, carbon_g_per_kwh: %zu}\n",
                          p, st_site_name ((st_site_t) (p % ST_SITE__COUNT)), s_regions[r], s_jurs[r],
                          st_class_name ((st_class_t) ((p / 2) % ST_CLASS__COUNT)),
                          0.5 + (double) (p * 37 % 30) / 10.0, 1 + p % 5, 1.1 + (double) (p % 5) / 10.0,
                          50 + p * 53 % 600);
    }
    used += snprintf (y + used, cap - used,
                      "models:\n"
                      "  - {name: euro, variants: [{name: euro-22b, jurisdictions: [EU]}, {name: euro-9b, "
                      "jurisdictions: [EU, SA]}]}\n"
                      "  - {name: world, variants: [{name: world-cn, jurisdictions: [CN]}, {name: world-us, "
                      "jurisdictions: [US, SA]}]}\n"
                      "queues: [{name: prod, weight: 4}, {name: research, weight: 2}, {name: default, weight: 1}]\n"
                      "tenants:\n");
    for (int t = 0; t < 20; t++)
        used += snprintf (y + used, cap - used, "  - {name: tenant%02d, weight: %d, gpu_quota: %d}\n", t, 1 + t % 3,
                          t == 19      ? 0
                          : t % 4 == 0 ? 256
                                       : -1);
    st_error_t err;
    sp_cluster_t *c = sp_cluster_parse (y, used, &err);
    if (!c)
        fprintf (stderr, "cluster: %s\n", err.msg);
    free (y);
    return c;
}

typedef struct {
    sp_node_t *nodes;
    st_kv_t *labels;
    size_t nnodes;
    sp_job_t *jobs;
    size_t njobs, cap;
    sp_node_t **placed_store;
    char (*tenants)[16];
} s_world_t;

static const char *const s_gpu_types[] = { "H100", "A100", "L4", "" };
static const char *const s_pref_h[] = { "H100", "A100" };
static const char *const s_pref_a[] = { "A100" };
static const char *const s_pref_l[] = { "L4", "A100" };
static const char *const s_res_eu[] = { "EU" };
static const char *const s_res_eu_us[] = { "EU", "US" };
static const char *const s_res_cn_sa[] = { "CN", "SA" };
static const char *const s_queues[] = { "prod", "research", "default" };
static char s_tenant_names[20][24];
static char s_node_names[65536][24];

static void
s_nodes (s_world_t *w, const s_opts_t *o)
{
    w->nnodes = o->nodes;
    w->nodes = calloc (o->nodes, sizeof *w->nodes);
    w->labels = calloc (o->nodes, sizeof *w->labels);
    for (size_t i = 0; i < o->nodes; i++) {
        sp_node_t *n = &w->nodes[i];
        size_t pool = i % o->pools, kind = (pool + i / o->pools % 7 / 6) % 4;
        char rack[32], nv[32];
        snprintf (s_node_names[i], sizeof s_node_names[i], "n%05u", (unsigned) i);
        snprintf (rack, sizeof rack, "r%zu", i / o->pools / 16);
        snprintf (nv, sizeof nv, "nv%zu", i / o->pools / 4);
        st_kv_add (&w->labels[i], "rack", rack);
        st_kv_add (&w->labels[i], "nvlink_domain", nv);
        *n = (sp_node_t) { .name = s_node_names[i],
                           .pool = (int) pool,
                           .gpu_type = s_gpu_types[kind],
                           .labels = &w->labels[i],
                           .cap_cpus_milli = kind == 3 ? 64000 : 96000,
                           .cap_mem_mb = 512 * 1024,
                           .cap_gpus = kind == 2   ? 4
                                       : kind == 3 ? 0
                                                   : 8,
                           .schedulable = 1 };
    }
}

/*  One job of a realistic mix.  */
static void
s_job (s_world_t *w, sp_job_t *j, uint64_t id, double now)
{
    memset (j, 0, sizeof *j);
    j->id = id;
    j->tenant = s_tenant_names[s_pick (20)];
    j->queue = s_queues[s_pick (3)];
    j->priority = s_pick (10) == 0 ? 10 : 0;
    j->preemptible = s_pick (3) != 0;
    j->gang = 1;
    j->ntasks = 1;
    j->cpus_milli = 4000;
    j->mem_mb = 16384;
    uint32_t r = s_pick (100);
    if (r < 55)
        j->gpus = 1;
    else if (r < 70)
        j->gpus = 1 + s_pick (8);
    else if (r < 80) {
        j->ntasks = 2 + s_pick (7);
        j->gpus = 8;
    }
    else if (r < 92) {
        j->gpus = 0;
        j->cpus_milli = 1000 * (1 + s_pick (16));
    }
    else {
        j->gang = 0;
        j->ntasks = 2 + s_pick (15);
        j->gpus = 1;
    }
    switch (s_pick (4)) {
    case 0:
        j->gpu_types = s_pref_h;
        j->ngpu_types = 2;
        break;
    case 1:
        j->gpu_types = s_pref_a;
        j->ngpu_types = 1;
        break;
    case 2:
        j->gpu_types = s_pref_l;
        j->ngpu_types = 2;
        break;
    default:
        break;
    }
    switch (s_pick (5)) {
    case 0:
        j->residency = s_res_eu;
        j->nresidency = 1;
        break;
    case 1:
        j->residency = s_res_eu_us;
        j->nresidency = 2;
        break;
    case 2:
        j->residency = s_res_cn_sa;
        j->nresidency = 2;
        break;
    default:
        break;
    }
    j->classification = (sp_class_t) (s_pick (8) < 6 ? s_pick (2) : 2 + s_pick (2));
    if (s_pick (4) == 0) {
        j->near = s_regions[s_pick (5)];
        j->max_latency_ms = s_pick (2) ? 150 : 0;
    }
    if (s_pick (5) == 0)
        j->model = s_pick (2) ? "auto" : "euro";
    sp_weights_for_prefer ((const char *[]) { "cost", "latency", "energy", "balanced" }[s_pick (4)], &j->weights);
    j->time_limit_s = s_pick (4) ? 600 * (1 + s_pick (36)) : 0;
    j->submit_s = now - s_pick (3600);
    j->placed = &w->placed_store[(id - 1) * 16];
    (void) w;
}

static void
s_add_job (s_world_t *w, double now)
{
    size_t i = w->njobs++;
    s_job (w, &w->jobs[i], i + 1, now);
}

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static void
s_apply (sp_result_t *res, double now)
{
    for (size_t i = 0; i < res->nplacements; i++) {
        sp_placement_t *p = &res->placements[i];
        sp_job_t *j = p->job;
        for (uint32_t t = 0; t < j->ntasks; t++) {
            sp_node_take (p->nodes[t], j);
            j->placed[t] = p->nodes[t];
        }
        j->running = 1;
        j->start_s = now;
    }
    for (size_t i = 0; i < res->npreemptions; i++)
        res->preemptions[i].victim->stopping = 1;
}

static void
s_end (sp_job_t *j)
{
    for (uint32_t t = 0; t < j->ntasks; t++) {
        sp_node_give (j->placed[t], j);
        j->placed[t] = NULL;
    }
    j->running = 0;
    j->stopping = 0;
}

int
main (int argc, char **argv)
{
    s_flags_t f = { 5000, 20, 50000, 200, NULL, 1, SP_REFRESH_WINDOW };
    st_error_t err = { 0 };
    st_rc_t rc = st_config_parse (s_flag_table, &f, argc, argv, "strata-bench-policy-cycle [OPTIONS]",
                                  "Times placement cycles on a synthetic hybrid cluster.", NULL, NULL, &err);
    if (rc != ST_OK) {
        if (rc != ST_EAGAIN)
            fprintf (stderr, "strata-bench-policy-cycle: %s\n", err.msg);
        st_config_free (s_flag_table, &f);
        return rc == ST_EAGAIN ? 0 : 2;
    }
    s_opts_t o = { (size_t) f.nodes,  (size_t) f.pools,  (size_t) f.jobs,
                   (size_t) f.cycles, SP_POLICY_DEFAULT, (uint64_t) f.seed };
    uint32_t refresh = f.refresh < 0 || f.refresh >= SP_REFRESH_ALL ? SP_REFRESH_ALL : (uint32_t) f.refresh;
    int bad_policy = sp_policy_parse (f.policy, &o.policy) != 0;
    if (bad_policy)
        fprintf (stderr, "unknown policy %s\n", f.policy);
    st_config_free (s_flag_table, &f);
    if (bad_policy)
        return 2;
    if (o.pools == 0 || o.nodes == 0 || o.nodes > 65536 || o.pools > 5 * 200 || o.cycles == 0) {
        fprintf (stderr, "nodes 1..65536, pools 1..1000, cycles 1 or more\n");
        return 2;
    }
    s_rng = o.seed * 0x9E3779B97F4A7C15ull + 1;
    for (int t = 0; t < 20; t++)
        snprintf (s_tenant_names[t], sizeof s_tenant_names[t], "tenant%02d", t);
    sp_cluster_t *c = s_cluster (o.pools);
    if (!c)
        return 1;
    s_world_t w = { 0 };
    s_nodes (&w, &o);
    /*  Every job ever made: the initial queue plus one arrival per ending.  */
    w.cap = 2 * o.jobs + o.cycles * 64 + 16;
    w.jobs = calloc (w.cap, sizeof *w.jobs);
    w.placed_store = calloc (w.cap * 16, sizeof *w.placed_store);
    double now = 100000;
    for (size_t i = 0; i < o.jobs; i++)
        s_add_job (&w, now);
    sp_engine_t *e = sp_engine_new (c);
    sp_node_t **nodes = malloc (w.nnodes * sizeof *nodes);
    sp_job_t **pending = malloc (w.cap * sizeof *pending), **running = malloc (w.cap * sizeof *running);
    for (size_t i = 0; i < w.nnodes; i++)
        nodes[i] = &w.nodes[i];
    double *ms = calloc (o.cycles + 1, sizeof *ms);
    sp_result_t res = { 0 };
    size_t steady_placed = 0, cold_placed = 0;
    double cold_ms = 0, steady_total = 0;
    size_t cycle_extra = 0;
    size_t examined = 0, examined_max = 0, needed = 0;
    for (size_t cycle = 0; cycle <= o.cycles + 1; cycle++) {
        size_t np = 0, nr = 0;
        for (size_t i = 0; i < w.njobs; i++) {
            sp_job_t *j = &w.jobs[i];
            if (j->id == 0)
                continue; /*  finished  */
            if (j->running)
                running[nr++] = j;
            else
                pending[np++] = j;
        }
        sp_params_t params;
        sp_params_defaults (&params, o.policy, now);
        params.refresh = refresh;
        double t0 = s_ms ();
        if (sp_schedule (e, &params, nodes, w.nnodes, pending, np, running, nr, &res) != 0) {
            fprintf (stderr, "out of memory\n");
            return 1;
        }
        double dt = s_ms () - t0;
        s_apply (&res, now);
        if (cycle == 0) {
            cold_ms = dt;
            cold_placed = res.nplacements;
            printf ("cold   1 cycle: %zu pending, %zu nodes in %zu pools: %.2f ms, %zu placed (%.0f placements/s), "
                    "%zu waiting\n",
                    np, w.nnodes, o.pools, dt, res.nplacements, res.nplacements / (dt / 1e3), res.nwaits);
            /*  Top the queue up to --jobs pending for the steady cycles.  */
            for (size_t k = 0; k < res.nplacements && w.njobs < w.cap; k++)
                s_add_job (&w, now);
            continue;
        }
        if (cycle == 1) {
            /*  The first cycle after the top-up meets every new job once.  */
            printf ("warm   1 cycle after %zu new jobs: %.2f ms, %zu placed\n", cold_placed, dt, res.nplacements);
            cycle_extra = 1;
            continue;
        }
        ms[cycle - 1 - cycle_extra] = dt;
        if (getenv ("STRATA_BENCH_VERBOSE")) {
            uint64_t free_gpus = 0, gpus = 0;
            for (size_t i = 0; i < w.nnodes; i++) {
                free_gpus += w.nodes[i].cap_gpus - w.nodes[i].used_gpus;
                gpus += w.nodes[i].cap_gpus;
            }
            fprintf (
                stderr,
                "cycle %zu: %.2f ms, %zu pending, %zu running, %zu placed, %zu preempted, %llu of %llu GPUs free\n",
                cycle, dt, np, nr, res.nplacements, res.npreemptions, (unsigned long long) free_gpus,
                (unsigned long long) gpus);
        }
        steady_total += dt;
        steady_placed += res.nplacements;
        examined += res.jobs_considered;
        needed += res.jobs_needed;
        examined_max = res.jobs_considered > examined_max ? res.jobs_considered : examined_max;
        /*  Between cycles: a minute passes, some running jobs end, as many arrive.  */
        now += 60;
        size_t ended = 0;
        for (size_t k = 0; k < nr && ended < 32; k++) {
            sp_job_t *j = running[s_pick ((uint32_t) nr)];
            if (!j->running || j->stopping)
                continue;
            s_end (j);
            j->id = 0;
            ended++;
        }
        for (size_t i = 0; i < res.npreemptions; i++)
            if (res.preemptions[i].victim->running) {
                s_end (res.preemptions[i].victim);
            }
        for (size_t k = 0; k < ended && w.njobs < w.cap; k++)
            s_add_job (&w, now);
    }
    (void) cold_ms;
    qsort (ms, o.cycles, sizeof *ms, s_cmp_double);
    size_t p99 = (size_t) ceil (o.cycles * 0.99) - 1;
    printf ("steady %zu cycles (full cluster, %zu pending, policy %s): p50 %.2f ms, p99 %.2f ms, max %.2f ms; "
            "%zu placed (%.0f placements/s of cycle time)\n",
            o.cycles, o.jobs, sp_policy_name (o.policy), ms[o.cycles / 2], ms[p99], ms[o.cycles - 1], steady_placed,
            steady_total > 0 ? steady_placed / (steady_total / 1e3) : 0.0);
    printf ("steady jobs examined per cycle: mean %.0f, max %zu (needed mean %.0f; refresh %s)\n",
            (double) examined / o.cycles, examined_max, (double) needed / o.cycles,
            refresh == SP_REFRESH_ALL ? "all" : "window");
    sp_result_clear (&res);
    sp_engine_free (&e);
    for (size_t i = 0; i < w.nnodes; i++)
        st_kv_free (&w.labels[i]);
    free (w.labels);
    free (w.nodes);
    free (w.jobs);
    free (w.placed_store);
    free (nodes);
    free (pending);
    free (running);
    free (ms);
    sp_cluster_free (&c);
    return 0;
}
