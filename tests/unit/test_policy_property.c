/*  test_policy_property.c: random worlds, thousands of cycles, and the rules
 *  that must hold after every one of them.
 *
 *  Each seed builds a cluster (pools over sites, regions, jurisdictions and
 *  clearances, a latency table, a model registry, quotas), nodes (GPU types,
 *  racks, NVLink domains, some in a pool the file does not name, some going
 *  down and up), and a stream of jobs with random shapes and constraints,
 *  then runs cycles under every policy, applying the results the way the
 *  daemon does: placements take resources, preempted jobs stop a little
 *  later, jobs end at random. After each cycle it checks:
 *
 *    - every task of every placement is on a schedulable node of a pool that
 *      passes every hard constraint for the job, with a node that passes the
 *      node constraints (labels, GPU type, capacity);
 *    - a gang has all its tasks in one pool on one GPU type; every placement
 *      has a node for every task (never a partial start);
 *    - the model variant of each task is one the job asked for and is allowed
 *      in that task's jurisdiction;
 *    - no node is ever over-committed; no tenant goes over its GPU quota;
 *    - every preemption stops a running, preemptible, not yet stopping job of
 *      lower priority (or, under LAS, of a higher attained-service queue), at
 *      most once;
 *    - every waiting job has a reason.
 *
 *  The same worlds, cycled with a second engine alongside that stops early
 *  (sp_params_t.refresh: a random window, 0 included), check that a cycle
 *  which stops walking the order decides exactly what a full cycle decides:
 *  the same placements on the same nodes, the same preemptions, and for each
 *  job it examined the same wait. Under the policies whose order needs no
 *  history (all but the default's fair share), a fresh engine each cycle
 *  decides the same again: the order kept between cycles is the order a
 *  fresh sort gives.
 *
 *  Deterministic: the generator is seeded. */
#include "test_policy_fixture.h"

static uint64_t s_state;

static uint32_t
s_rand (void)
{
    s_state ^= s_state << 13;
    s_state ^= s_state >> 7;
    s_state ^= s_state << 17;
    return (uint32_t) (s_state >> 11);
}

static uint32_t
s_below (uint32_t n)
{
    return n ? s_rand () % n : 0;
}

static const char *const s_jurs[] = { "EU", "US", "CN", "SA" };
static const char *const s_types[] = { "A100", "H100", "L4" };
static const char *const s_models[] = { "auto", "fam1", "fam2", "v1b", "v2a" };
static const char *const s_regions[] = { "r0", "r1", "r2", "r3" };
static const char *const s_tenants[] = { "t0", "t1", "t2", "t3" };
static const char *const s_pref_a[] = { "A100" };
static const char *const s_pref_ha[] = { "H100", "A100" };
static const char *const s_pref_l[] = { "L4", "H100" };
static const char *const s_res_eu[] = { "EU" };
static const char *const s_res_us_sa[] = { "US", "SA" };
static const char *const s_res_cn[] = { "CN" };
static char s_node_names[FX_MAX_NODES][16];

/*  What the worlds exercised, so the test cannot pass by doing nothing.  */
static struct {
    size_t placements, multi_node_gangs, multi_pool_shards, backfilled, preemptions, waits, reserved, variants;
} s_seen;

static char *
s_random_cluster (int npools)
{
    static char y[8192];
    size_t used = 0;
    used += snprintf (y + used, sizeof y - used,
                      "regions: [r0, r1, r2, r3]\n"
                      "latency_ms: {r0: {r1: %u, r2: %u}, r1: {r2: %u, r3: %u}}\n"
                      "pools:\n",
                      5 + s_below (100), 5 + s_below (200), 5 + s_below (100), 5 + s_below (200));
    for (int p = 0; p < npools; p++) {
        char jur[32] = "";
        if (s_below (5)) /*  some pools have no jurisdiction  */
            snprintf (jur, sizeof jur, "jurisdiction: %s, ", s_jurs[s_below (4)]);
        used += snprintf (y + used, sizeof y - used,
                          "  - {name: pool%d, site: %s, region: %s, %sclearance: %s, cost_gpu_hour: %u.%u, "
                          "cost_cpu_hour: 0.0%u, pue: 1.%u, carbon_g_per_kwh: %u, gpu_watts: %u}\n",
                          p, sp_site_name ((sp_site_t) s_below (4)), s_regions[s_below (4)], jur,
                          sp_class_name ((sp_class_t) s_below (4)), s_below (5), s_below (10), s_below (9),
                          s_below (9), s_below (800), 100 + s_below (600));
    }
    used += snprintf (
        y + used, sizeof y - used,
        "models:\n"
        "  - {name: fam1, variants: [{name: v1a, jurisdictions: [EU]}, {name: v1b, jurisdictions: [EU, SA]}]}\n"
        "  - {name: fam2, variants: [{name: v2a, jurisdictions: [CN]}, {name: v2b, jurisdictions: [US, SA]}]}\n"
        "tenants:\n"
        "  - {name: t0, weight: 2, gpu_quota: %u}\n"
        "  - {name: t1, gpu_quota: 0}\n"
        "  - {name: t2, weight: 0.5}\n",
        4 + s_below (12));
    return y;
}

static void
s_random_job (fx_t *fx, double now)
{
    if (fx->njobs >= FX_MAX_JOBS)
        return;
    sp_job_t *j = fx_job (fx, 1 + (s_below (4) == 0 ? s_below (5) : 0), s_below (3) ? s_below (3) : 0);
    j->gang = s_below (4) != 0;
    j->cpus_milli = 500 * (1 + s_below (8));
    j->mem_mb = 1024 * (1 + s_below (16));
    j->tenant = s_tenants[s_below (8) == 0 ? 1 : s_below (2) ? 0 : 2 + s_below (2)];
    j->priority = s_below (10) < 7 ? 0 : (int32_t) (1 + s_below (3));
    j->preemptible = j->priority == 0 ? s_below (4) != 0 : s_below (2);
    j->submit_s = now;
    j->time_limit_s = s_below (3) ? 300 * (1 + s_below (10)) : 0;
    j->duration_s = 600 + s_below (6000);
    if (s_below (2))
        return; /*  half the jobs have no constraints but their shape  */
    j->classification = (sp_class_t) s_below (4);
    switch (s_below (4)) {
    case 0:
        j->gpu_types = s_pref_a;
        j->ngpu_types = 1;
        break;
    case 1:
        j->gpu_types = s_pref_ha;
        j->ngpu_types = 2;
        break;
    case 2:
        j->gpu_types = s_pref_l;
        j->ngpu_types = 2;
        break;
    default:
        break;
    }
    switch (s_below (5)) {
    case 0:
        j->residency = s_res_eu;
        j->nresidency = 1;
        break;
    case 1:
        j->residency = s_res_us_sa;
        j->nresidency = 2;
        break;
    case 2:
        j->residency = s_res_cn;
        j->nresidency = 1;
        break;
    default:
        break;
    }
    if (s_below (4) == 0)
        j->sites = 1u + s_below (15);
    if (s_below (6) == 0)
        j->pool = s_below (2) ? "pool0" : "lab";
    if (s_below (5) == 0)
        st_kv_add (&fx->job_labels[j - fx->jobs], "rack", s_below (2) ? "r0" : "r1");
    if (s_below (4) == 0) {
        j->near = s_regions[s_below (4)];
        j->max_latency_ms = s_below (2) ? 60 + s_below (100) : 0;
    }
    if (s_below (4) == 0)
        j->model = s_models[s_below (5)];
    j->weights = (sp_weights_t) { .cost = s_below (3), .latency = s_below (3), .packing = s_below (2) };
}

static int
s_variant_ok (const sp_cluster_t *c, const char *model, const char *jur, const sp_variant_t *v)
{
    if (!v || !jur)
        return 0;
    int allowed = 0;
    for (size_t i = 0; i < v->njurisdictions; i++)
        allowed |= strcmp (v->jurisdictions[i], jur) == 0;
    if (!allowed)
        return 0;
    if (strcmp (model, "auto") == 0 || strcmp (model, v->name) == 0)
        return 1;
    for (size_t f = 0; f < c->nfamilies; f++)
        if (strcmp (c->families[f].name, model) == 0)
            for (size_t k = 0; k < c->families[f].nvariants; k++)
                if (&c->families[f].variants[k] == v)
                    return 1;
    return 0;
}

static int64_t
s_tenant_gpus (const fx_t *fx, const char *tenant)
{
    int64_t held = 0;
    for (size_t i = 0; i < fx->njobs; i++) {
        const sp_job_t *j = &fx->jobs[i];
        if (!fx->done[i] && j->running && strcmp (j->tenant, tenant) == 0)
            held += (int64_t) j->ntasks * j->gpus;
    }
    return held;
}

/*  Checks the cycle's result against the state before it was applied.  */
static void
s_check (fx_t *fx, int seed, int cycle, const int *was_running, const int *was_stopping, const int64_t *held_before)
{
    const sp_cluster_t *c = fx->c;
    char why[256];
    s_seen.placements += fx->res.nplacements;
    s_seen.preemptions += fx->res.npreemptions;
    s_seen.waits += fx->res.nwaits;
    for (size_t i = 0; i < fx->res.nwaits; i++)
        s_seen.reserved += fx->res.waits[i].reservation;
    for (size_t i = 0; i < fx->res.nplacements; i++) {
        const sp_placement_t *p = &fx->res.placements[i];
        const sp_job_t *j = p->job;
        size_t ji = (size_t) (j - fx->jobs);
        s_seen.backfilled += p->backfilled;
        s_seen.variants += p->variant != NULL;
        for (uint32_t t = 1; t < j->ntasks; t++) {
            if (j->gang && p->nodes[t] != p->nodes[0]) {
                s_seen.multi_node_gangs++;
                break;
            }
            if (!j->gang && p->nodes[t]->pool != p->nodes[0]->pool) {
                s_seen.multi_pool_shards++;
                break;
            }
        }
        cr_assert (!was_running[ji], "seed %d cycle %d: job %llu placed while running", seed, cycle,
                   (unsigned long long) j->id);
        for (size_t k = 0; k < i; k++)
            cr_assert_neq (fx->res.placements[k].job, j, "placed twice");
        for (uint32_t t = 0; t < j->ntasks; t++) {
            const sp_node_t *n = p->nodes[t];
            cr_assert (n, "seed %d cycle %d: a task without a node", seed, cycle);
            cr_assert (n->schedulable);
            cr_assert_null (sp_filter_pool (c, n->pool, j, why, sizeof why), "seed %d cycle %d job %llu pool %s: %s",
                            seed, cycle, (unsigned long long) j->id, c->pools[n->pool].name, why);
            cr_assert_null (sp_filter_node (c, n, j, why, sizeof why), "seed %d cycle %d: node %s: %s", seed, cycle,
                            n->name, why);
            if (j->gang) {
                cr_assert_eq (n->pool, p->nodes[0]->pool, "seed %d cycle %d: a gang over two pools", seed, cycle);
                if (j->gpus)
                    cr_assert_str_eq (n->gpu_type, p->nodes[0]->gpu_type, "a gang over two GPU types");
            }
            if (j->model)
                cr_assert (s_variant_ok (c, j->model, c->pools[n->pool].jurisdiction, p->variants[t]),
                           "seed %d cycle %d: variant %s for %s in %s", seed, cycle,
                           p->variants[t] ? p->variants[t]->name : "(none)", j->model,
                           c->pools[n->pool].jurisdiction ? c->pools[n->pool].jurisdiction : "-");
            else
                cr_assert_null (p->variants[t]);
        }
    }
    for (size_t i = 0; i < fx->nnodes; i++) {
        const sp_node_t *n = &fx->nodes[i];
        cr_assert_leq (n->used_gpus, n->cap_gpus, "seed %d cycle %d: node %s over-committed", seed, cycle, n->name);
        cr_assert_leq (n->used_cpus_milli, n->cap_cpus_milli, "seed %d cycle %d: node %s CPUs", seed, cycle, n->name);
        cr_assert_leq (n->used_mem_mb, n->cap_mem_mb);
    }
    for (int t = 0; t < 4; t++) {
        const sp_tenant_t *conf = sp_cluster_tenant (c, s_tenants[t]);
        if (conf && conf->gpu_quota >= 0) {
            int64_t now = s_tenant_gpus (fx, s_tenants[t]);
            cr_assert (now <= conf->gpu_quota || now <= held_before[t], "seed %d cycle %d: %s over its quota", seed,
                       cycle, s_tenants[t]);
        }
    }
    for (size_t i = 0; i < fx->res.npreemptions; i++) {
        const sp_preemption_t *pr = &fx->res.preemptions[i];
        size_t vi = (size_t) (pr->victim - fx->jobs);
        cr_assert (was_running[vi] && !was_stopping[vi], "seed %d cycle %d: victim not running or stopping", seed,
                   cycle);
        cr_assert (pr->victim->preemptible);
        int lower = pr->victim->priority < pr->for_job->priority;
        int las = fx->params.policy == SP_POLICY_LAS && pr->victim->priority <= pr->for_job->priority;
        cr_assert (lower || las, "seed %d cycle %d: victim of priority %d for %d", seed, cycle, pr->victim->priority,
                   pr->for_job->priority);
        for (size_t k = 0; k < i; k++)
            cr_assert_neq (fx->res.preemptions[k].victim, pr->victim, "preempted twice");
        cr_assert (!fx_placement (fx, pr->victim));
    }
    for (size_t i = 0; i < fx->res.nwaits; i++)
        cr_assert (strncmp (fx->res.waits[i].reason, "waiting: ", 9) == 0, "%s", fx->res.waits[i].reason);
}

/*  Two cycles' decisions are the same; `subset`: b may have examined fewer
 *  jobs than a (an early stop), each with the same wait.  */
static void
s_same (const fx_t *fx, const sp_result_t *a, const sp_result_t *b, int subset, const char *what, int seed, int cycle)
{
    static long wait_of[FX_MAX_JOBS];
    cr_assert_eq (a->nplacements, b->nplacements, "seed %d cycle %d %s: %zu placements, %zu", seed, cycle, what,
                  a->nplacements, b->nplacements);
    for (size_t i = 0; i < a->nplacements; i++) {
        const sp_placement_t *x = &a->placements[i], *y = &b->placements[i];
        cr_assert_eq (x->job, y->job, "seed %d cycle %d %s: placement %zu", seed, cycle, what, i);
        for (uint32_t t = 0; t < x->job->ntasks; t++)
            cr_assert_eq (x->nodes[t], y->nodes[t], "seed %d cycle %d %s: job %llu task %u", seed, cycle, what,
                          (unsigned long long) x->job->id, t);
        cr_assert_eq (x->backfilled, y->backfilled);
        cr_assert_str_eq (x->reason, y->reason);
    }
    cr_assert_eq (a->npreemptions, b->npreemptions, "seed %d cycle %d %s: preemptions", seed, cycle, what);
    for (size_t i = 0; i < a->npreemptions; i++) {
        cr_assert_eq (a->preemptions[i].victim, b->preemptions[i].victim);
        cr_assert_eq (a->preemptions[i].for_job, b->preemptions[i].for_job);
        cr_assert_str_eq (a->preemptions[i].reason, b->preemptions[i].reason);
    }
    if (subset)
        cr_assert_leq (b->nwaits, a->nwaits, "seed %d cycle %d %s: %zu waits, %zu", seed, cycle, what, a->nwaits,
                       b->nwaits);
    else
        cr_assert_eq (b->nwaits, a->nwaits, "seed %d cycle %d %s: waits", seed, cycle, what);
    for (size_t i = 0; i < fx->njobs; i++)
        wait_of[i] = -1;
    for (size_t i = 0; i < a->nwaits; i++)
        wait_of[a->waits[i].job - fx->jobs] = (long) i;
    for (size_t i = 0; i < b->nwaits; i++) {
        const sp_wait_t *y = &b->waits[i];
        long at = wait_of[y->job - fx->jobs];
        cr_assert (at >= 0, "seed %d cycle %d %s: job %llu waits in one only", seed, cycle, what,
                   (unsigned long long) y->job->id);
        const sp_wait_t *x = &a->waits[at];
        cr_assert_str_eq (x->reason, y->reason, "seed %d cycle %d %s: job %llu", seed, cycle, what,
                          (unsigned long long) y->job->id);
        cr_assert_eq (x->reservation, y->reservation);
        cr_assert (x->expected_start_s == y->expected_start_s);
    }
}

/*  What the twin checks saw, so they cannot pass by doing nothing.  */
static struct {
    size_t cycles, stopped_early, skipped, fresh_cycles;
} s_twin_seen;

static void
s_world_with (int seed, int cycles, int twin)
{
    s_state = 0x9E3779B97F4A7C15ull * (uint64_t) (seed + 1);
    int npools = 2 + (int) s_below (5);
    fx_t *fx = fx_new (s_random_cluster (npools));
    int nnodes = 6 + (int) s_below (30);
    for (int i = 0; i < nnodes; i++) {
        char pool[16], labels[64];
        snprintf (pool, sizeof pool, "pool%u", s_below ((uint32_t) npools));
        snprintf (s_node_names[i], sizeof s_node_names[i], "n%d", i);
        snprintf (labels, sizeof labels, "rack=r%u,nvlink_domain=d%u", s_below (2), s_below (3));
        int cpu_only = s_below (5) == 0;
        sp_node_t *n = fx_node (fx, s_node_names[i], s_below (8) == 0 ? "lab" : pool,
                                cpu_only ? "" : s_types[s_below (3)], 4 + s_below (60),
                                cpu_only ? 0 : 1 + s_below (8), s_below (3) ? labels : NULL);
        n->cap_mem_mb = 4096 + 1024 * s_below (100);
    }
    int stop_delay[FX_MAX_JOBS] = { 0 };
    sp_engine_t *twin_e = twin ? sp_engine_new (fx->c) : NULL;
    sp_result_t twin_res = { 0 }, fresh_res = { 0 };
    static int was_running[FX_MAX_JOBS], was_stopping[FX_MAX_JOBS];
    for (int cycle = 0; cycle < cycles; cycle++) {
        for (uint32_t k = s_below (10); k > 0; k--)
            s_random_job (fx, fx->now);
        /*  Nodes come and go (their tasks would be lost: only idle ones go down here).  */
        sp_node_t *flip = &fx->nodes[s_below ((uint32_t) fx->nnodes)];
        if (!flip->schedulable || flip->used_gpus + flip->used_cpus_milli == 0)
            flip->schedulable = !flip->schedulable || s_below (3) == 0 ? 1 : 0;
        int64_t held_before[4];
        for (int t = 0; t < 4; t++)
            held_before[t] = s_tenant_gpus (fx, s_tenants[t]);
        for (size_t i = 0; i < fx->njobs; i++) {
            was_running[i] = !fx->done[i] && fx->jobs[i].running;
            was_stopping[i] = was_running[i] && fx->jobs[i].stopping;
        }
        if (twin) {
            /*  More that changes between cycles: a waiting job's priority
             *  changes or it is cancelled; a node of a new pool registers.  */
            sp_job_t *j = &fx->jobs[s_below ((uint32_t) fx->njobs)];
            if (fx->njobs && !fx->done[j - fx->jobs] && !j->running) {
                if (s_below (2))
                    j->priority = 5 * (int32_t) s_below (3);
                else
                    fx->done[j - fx->jobs] = 1;
            }
            if (s_below (25) == 0 && fx->nnodes < FX_MAX_NODES) {
                size_t i = fx->nnodes;
                char pool[16];
                snprintf (pool, sizeof pool, "late%u", s_below (3));
                snprintf (s_node_names[i], sizeof s_node_names[i], "n%zu", i);
                fx_node (fx, s_node_names[i], pool, s_types[s_below (3)], 4 + s_below (60), 1 + s_below (8), NULL);
            }
        }
        sp_params_t params;
        sp_params_defaults (&params, (sp_policy_t) ((seed + cycle / 20) % SP_POLICY__COUNT), fx->now);
        params.max_placements = s_below (10) == 0 ? 1 + s_below (3) : 0;
        static sp_node_t *nodes[FX_MAX_NODES];
        static sp_job_t *pending[FX_MAX_JOBS], *running[FX_MAX_JOBS];
        size_t np = 0, nr = 0;
        sp_params_t early = params;
        int fresh_too = twin && params.policy != SP_POLICY_DEFAULT;
        if (twin) {
            /*  The early-stopping engine, and a fresh one, on the same inputs first.  */
            static const uint32_t windows[] = { 0, 0, 1, 3, 20 };
            early.refresh = windows[s_below (5)];
            fx_inputs (fx, nodes, pending, &np, running, &nr);
            cr_assert_eq (sp_schedule (twin_e, &early, nodes, fx->nnodes, pending, np, running, nr, &twin_res), 0);
            if (fresh_too) {
                /*  Its order is a fresh sort (no history: not the default's fair share).  */
                sp_engine_t *fresh = sp_engine_new (fx->c);
                cr_assert (fresh);
                cr_assert_eq (sp_schedule (fresh, &params, nodes, fx->nnodes, pending, np, running, nr, &fresh_res),
                              0);
                sp_engine_free (&fresh);
            }
        }
        fx_cycle_with (fx, &params);
        s_check (fx, seed, cycle, was_running, was_stopping, held_before);
        if (twin) {
            s_same (fx, &fx->res, &twin_res, 1, "early stop", seed, cycle);
            s_twin_seen.cycles++;
            s_twin_seen.stopped_early += twin_res.jobs_needed < np;
            s_twin_seen.skipped += np - twin_res.jobs_considered;
            if (fresh_too) {
                s_same (fx, &fx->res, &fresh_res, 0, "fresh engine", seed, cycle);
                s_twin_seen.fresh_cycles++;
            }
        }
        /*  Time passes: stopping jobs stop, some jobs end.  */
        fx->now += 30 + s_below (600);
        for (size_t i = 0; i < fx->njobs; i++) {
            sp_job_t *j = &fx->jobs[i];
            if (fx->done[i] || !j->running)
                continue;
            if (j->stopping) {
                if (++stop_delay[i] >= 2) {
                    stop_delay[i] = 0;
                    fx_end (fx, j, 1);
                }
            }
            else if (fx->now - j->start_s >= j->duration_s
                     || (j->time_limit_s && fx->now - j->start_s >= j->time_limit_s) || s_below (40) == 0)
                fx_end (fx, j, 0);
        }
    }
    sp_result_clear (&twin_res);
    sp_result_clear (&fresh_res);
    sp_engine_free (&twin_e);
    fx_free (fx);
}

static void
s_world (int seed, int cycles)
{
    s_world_with (seed, cycles, 0);
}

Test (property, no_cycle_ever_breaks_a_rule, .timeout = 300)
{
    for (int seed = 0; seed < 40; seed++)
        s_world (seed, 100);
    cr_log_info ("placements %zu (gangs over nodes %zu, shards over pools %zu, backfilled %zu, with a model %zu), "
                 "preemptions %zu, waits %zu (with a reservation %zu)",
                 s_seen.placements, s_seen.multi_node_gangs, s_seen.multi_pool_shards, s_seen.backfilled,
                 s_seen.variants, s_seen.preemptions, s_seen.waits, s_seen.reserved);
    cr_assert_gt (s_seen.placements, 2000);
    cr_assert_gt (s_seen.multi_node_gangs, 20);
    cr_assert_gt (s_seen.multi_pool_shards, 5);
    cr_assert_gt (s_seen.backfilled, 20);
    cr_assert_gt (s_seen.variants, 50);
    cr_assert_gt (s_seen.preemptions, 20);
    cr_assert_gt (s_seen.reserved, 50);
}

Test (property, a_cycle_that_stops_early_decides_as_a_full_one, .timeout = 300)
{
    for (int seed = 0; seed < 40; seed++)
        s_world_with (seed, 100, 1);
    cr_log_info ("twin cycles %zu, stopped early %zu, jobs not examined %zu, fresh-engine cycles %zu",
                 s_twin_seen.cycles, s_twin_seen.stopped_early, s_twin_seen.skipped, s_twin_seen.fresh_cycles);
    cr_assert_eq (s_twin_seen.cycles, 4000);
    cr_assert_gt (s_twin_seen.stopped_early, 400);
    cr_assert_gt (s_twin_seen.skipped, 10000);
    cr_assert_gt (s_twin_seen.fresh_cycles, 2000);
}
