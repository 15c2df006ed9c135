/*  reason.c: why a job cannot start now, in words its owner understands.
 *
 *  Written once per class and cycle (the members share it):
 *
 *    waiting: needs 4 GPU (A100), 8 CPU, 65536 MiB in one pool; pool onprem-gpu
 *    has 2 GPU free (6 held by 3 jobs)
 *
 *    waiting: needs 16 ranks of 8 GPU in one pool; no allowed pool can hold
 *    that many even when idle (largest: onprem-gpu, room for 8)
 *
 *  Whether a class could run on idle nodes at all is remembered between
 *  cycles (classes.c) while the schedulable nodes stay the same (their
 *  fingerprint), so a full cluster with thousands of waiting jobs does not
 *  rescan every pool. */
#include "policy_int.h"

#include <stdlib.h>
#include <string.h>

/*  Fingerprint of the schedulable nodes: what decides a verdict on idle nodes.  */
static uint64_t
s_fingerprint (const sp__cycle_t *cy)
{
    uint64_t h = sp__hash_u64 (0xcbf29ce484222325ull, cy->ncn);
    for (size_t i = 0; i < cy->ncn; i++) {
        const sp_node_t *n = cy->cn[i].node;
        h = sp__hash_u64 (h, (uint64_t) (uintptr_t) n ^ ((uint64_t) n->pool << 48));
        h = sp__hash_u64 (h, ((uint64_t) n->cap_cpus_milli << 32) ^ n->cap_mem_mb ^ ((uint64_t) n->cap_gpus << 56));
        h = sp__hash_u64 (h, (uint64_t) (uintptr_t) n->labels ^ (uint64_t) (uintptr_t) n->gpu_type);
    }
    return sp__hash_u64 (h, cy->c->npools);
}

/*  Verdict on idle nodes; writes the words into buf when never.  */
static int
s_never (sp__run_t *run, const sp_job_t *job, const sp__class_t *k, char *buf, size_t size)
{
    sp__cycle_t *cy = run->cy;
    const sp_cluster_t *c = run->c;
    char need[160];
    uint32_t best = 0, total = 0;
    int best_pool = -1, gang = job->gang || job->ntasks == 1;
    for (size_t p = 0; p < c->npools; p++) {
        if (!k->pools[p].ok)
            continue;
        uint32_t cap = sp__pool_capacity (cy, (int) p, job, SP__AVAIL_IDLE, job->ntasks, gang);
        if (gang && cap >= job->ntasks)
            return 0;
        total = total + cap < job->ntasks ? total + cap : job->ntasks;
        if (best_pool < 0 || cap > best) {
            best = cap;
            best_pool = (int) p;
        }
    }
    if (!gang && total >= job->ntasks)
        return 0;
    sp__fmt_need (job, need, sizeof need);
    if (best == 0) {
        /*  Not one task fits anywhere: say why for the first node of an allowed pool.  */
        char why[160];
        const char *what = NULL;
        const sp_node_t *node = NULL;
        for (size_t i = 0; i < cy->ncn && !what; i++)
            if (k->pools[cy->cn[i].pool].ok) {
                node = cy->cn[i].node;
                what = sp_filter_node (c, node, job, why, sizeof why);
            }
        if (!node)
            snprintf (buf, size, "waiting: needs %s; no schedulable node in the %d allowed pool%s", need, k->nallowed,
                      k->nallowed == 1 ? "" : "s");
        else
            snprintf (buf, size,
                      "waiting: needs %s; no schedulable node of the allowed pools can hold one task "
                      "(e.g. %s: %s)",
                      need, node->name ? node->name : "?", what ? what : "too small");
    }
    else if (gang)
        snprintf (buf, size,
                  "waiting: needs %s in one pool; no allowed pool can hold that many even when idle "
                  "(largest: %s, room for %u)",
                  need, c->pools[best_pool].name, best);
    else
        snprintf (buf, size, "waiting: needs %s; the allowed pools hold at most %u even when idle", need, total);
    return 1;
}

/*  Free GPUs of the types job may use in pool.  */
static int64_t
s_free_gpu (const sp__cycle_t *cy, int pool, const sp_job_t *job)
{
    int64_t free = 0;
    for (int gi = 0; gi < cy->pool_ngroups[pool]; gi++) {
        const sp__group_t *g = &cy->groups[cy->pool_groups[pool][gi]];
        if (sp__group_ok (g, job, NULL))
            free += g->free_gpu_total;
    }
    return free;
}

/*  "pool X has 2 GPU free (6 held by 3 jobs)" for the pool as it is now:
 *  written once per pool and dimension, again only after the pool changed.  */
static const char *
s_pool_status (sp__run_t *run, int pool, int gpu)
{
    sp__cycle_t *cy = run->cy;
    const sp_cluster_t *c = run->c;
    sp__pool_text_t *pt = &run->pool_text[pool * 2 + gpu];
    if (pt->text && pt->version == cy->pool_version[pool])
        return pt->text;
    char buf[200];
    size_t used = 0;
    uint32_t jobs = cy->pool_held_jobs[pool];
    if (gpu)
        sp__catf (buf, sizeof buf, &used, "pool %s has %lld GPU free", c->pools[pool].name,
                  (long long) cy->pool_free_gpu[pool]);
    else
        sp__catf (buf, sizeof buf, &used, "pool %s has %g CPU free", c->pools[pool].name,
                  (double) cy->pool_free_cpu[pool] / 1000.0);
    if (jobs && gpu)
        sp__catf (buf, sizeof buf, &used, " (%lld held by %u job%s)", (long long) cy->pool_held_gpu[pool], jobs,
                  jobs == 1 ? "" : "s");
    else if (jobs)
        sp__catf (buf, sizeof buf, &used, " (%g held by %u job%s)", (double) cy->pool_held_cpu[pool] / 1000.0, jobs,
                  jobs == 1 ? "" : "s");
    if (run->pool_prot_job[pool])
        sp__catf (buf, sizeof buf, &used, ", some held back for job %llu",
                  (unsigned long long) run->pool_prot_job[pool]);
    pt->text = sp__strdup (cy->arena, buf);
    pt->version = cy->pool_version[pool];
    return pt->text ? pt->text : "";
}

/*  Does the pool have GPUs of more than one type (so its total misleads)?  */
static int
s_mixed_gpus (const sp__cycle_t *cy, int pool)
{
    int n = 0;
    for (int gi = 0; gi < cy->pool_ngroups[pool]; gi++)
        n += cy->groups[cy->pool_groups[pool][gi]].by_gpu;
    return n > 1;
}

int
sp__block_reason (sp__run_t *run, const sp_job_t *job, sp__class_t *k)
{
    sp__cycle_t *cy = run->cy;
    const sp_cluster_t *c = run->c;
    char buf[320];
    if (!run->never_fp)
        run->never_fp = s_fingerprint (cy) | 1;
    const char *known = NULL;
    int state = sp__class_idle_get (k, run->never_fp, &known);
    if (state)
        k->never = state == 2;
    else {
        k->never = s_never (run, job, k, buf, sizeof buf);
        sp__class_idle_set (k, run->never_fp, k->never ? 2 : 1, k->never ? buf : NULL);
        sp__class_idle_get (k, run->never_fp, &known);
    }
    if (k->never) {
        k->reason = (char *) (known ? known : "waiting: cannot fit even on idle nodes");
        return 0;
    }
    /*  Short now: the allowed pool with the most free room of what the job
     *  needs most, in words made once per pool and cycle.  */
    int best = -1;
    int64_t best_free = -1;
    for (size_t p = 0; p < c->npools; p++) {
        if (!k->pools[p].ok)
            continue;
        int64_t free = job->gpus ? (s_mixed_gpus (cy, (int) p) ? s_free_gpu (cy, (int) p, job) : cy->pool_free_gpu[p])
                                 : cy->pool_free_cpu[p];
        if (free > best_free) {
            best_free = free;
            best = (int) p;
        }
    }
    const char *need = sp__class_need_text (k, job);
    const char *status;
    char typed[240];
    if (job->gpus && s_mixed_gpus (cy, best)) {
        size_t used = 0;
        sp__catf (typed, sizeof typed, &used, "pool %s has %lld GPU of those types free", c->pools[best].name,
                  (long long) best_free);
        status = typed;
    }
    else
        status = s_pool_status (run, best, job->gpus > 0);
    size_t nn = strlen (need), ns = strlen (status);
    if (!need || !(k->reason = sp__alloc (cy->arena, nn + ns + 3)))
        return -1;
    memcpy (k->reason, need, nn);
    memcpy (k->reason + nn, "; ", 2);
    memcpy (k->reason + nn + 2, status, ns + 1);
    return 0;
}
