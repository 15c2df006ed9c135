/*  cycle.c: the scratch model of the cluster that one cycle works on.
 *
 *  Built at the start of sp_schedule from the caller's nodes and running jobs,
 *  in the cycle's arena. Nodes are grouped by (pool, GPU type); inside a group
 *  they sit in buckets by free GPUs (or free whole CPUs in a group without
 *  GPUs), so "the fullest node that still fits a task" is the first fitting
 *  node of the lowest usable bucket, and "the emptiest" is found from the top.
 *  Every change of a node's free capacity goes through sp__cycle_take, which
 *  keeps the buckets and the pool totals in step and can log for undo (a gang
 *  or a set of shards is placed tentatively and undone when it cannot finish). */
#include "policy_int.h"

#include <stdlib.h>
#include <string.h>

#define S_MAX_BUCKETS 4097

static size_t
s_ptr_slot (const sp__cycle_t *cy, const void *p)
{
    uintptr_t h = (uintptr_t) p;
    h ^= h >> 17;
    h *= 0xed5ad4bbu;
    h ^= h >> 11;
    return (size_t) h & (cy->ptr_cap - 1);
}

int
sp__cycle_node (const sp__cycle_t *cy, const sp_node_t *node)
{
    if (!node || cy->ptr_cap == 0)
        return -1;
    for (size_t i = s_ptr_slot (cy, node);; i = (i + 1) & (cy->ptr_cap - 1)) {
        if (cy->ptr_keys[i] == node)
            return cy->ptr_vals[i];
        if (!cy->ptr_keys[i])
            return -1;
    }
}

static int
s_bucket_of (const sp__group_t *g, const sp__cnode_t *n)
{
    int64_t key = g->by_gpu ? n->free_gpu : n->free_cpu / 1000;
    if (key < 0)
        key = 0;
    if (key >= g->nbuckets)
        key = g->nbuckets - 1;
    return (int) key;
}

static void
s_link (sp__cycle_t *cy, int idx)
{
    sp__cnode_t *n = &cy->cn[idx];
    sp__group_t *g = &cy->groups[n->group];
    n->bucket = s_bucket_of (g, n);
    n->prev = -1;
    n->next = g->heads[n->bucket];
    if (n->next >= 0)
        cy->cn[n->next].prev = idx;
    g->heads[n->bucket] = idx;
}

static void
s_unlink (sp__cycle_t *cy, int idx)
{
    sp__cnode_t *n = &cy->cn[idx];
    sp__group_t *g = &cy->groups[n->group];
    if (n->prev >= 0)
        cy->cn[n->prev].next = n->next;
    else
        g->heads[n->bucket] = n->next;
    if (n->next >= 0)
        cy->cn[n->next].prev = n->prev;
    n->prev = n->next = -1;
}

static int64_t
s_pos (int64_t x)
{
    return x > 0 ? x : 0;
}

int
sp__cycle_take (sp__cycle_t *cy, int idx, int64_t cpu, int64_t mem, int64_t gpu, int log)
{
    sp__cnode_t *n = &cy->cn[idx];
    sp__group_t *g = &cy->groups[n->group];
    if (log) {
        if (st_vec_reserve ((void **) &cy->undo, &cy->capundo, cy->nundo + 1, sizeof *cy->undo, SP__ARRAY_MAX) != 0)
            return -1;
        cy->undo[cy->nundo++] = (struct sp__undo) { idx, cpu, mem, gpu };
    }
    cy->pool_version[n->pool]++;
    cy->pool_free_gpu[n->pool] -= s_pos (n->free_gpu);
    cy->pool_free_cpu[n->pool] -= s_pos (n->free_cpu);
    g->free_gpu_total -= s_pos (n->free_gpu);
    n->free_cpu -= cpu;
    n->free_mem -= mem;
    n->free_gpu -= gpu;
    cy->pool_free_gpu[n->pool] += s_pos (n->free_gpu);
    cy->pool_free_cpu[n->pool] += s_pos (n->free_cpu);
    g->free_gpu_total += s_pos (n->free_gpu);
    if (s_bucket_of (g, n) != n->bucket) {
        s_unlink (cy, idx);
        s_link (cy, idx);
    }
    return 0;
}

void
sp__cycle_undo (sp__cycle_t *cy, size_t mark)
{
    while (cy->nundo > mark) {
        struct sp__undo *u = &cy->undo[--cy->nundo];
        sp__cycle_take (cy, u->cnode, -u->cpu, -u->mem, -u->gpu, 0);
    }
}

/*  Groups: (pool, GPU type). Returns the group index for node idx, making one.  */
static int
s_group_for (sp__cycle_t *cy, int *pool_first, int *group_next, const sp__cnode_t *n)
{
    const char *type = n->node->gpu_type ? n->node->gpu_type : "";
    for (int g = pool_first[n->pool]; g >= 0; g = group_next[g])
        if (strcmp (cy->groups[g].gpu_type, type) == 0)
            return g;
    int g = (int) cy->ngroups++;
    cy->groups[g].pool = n->pool;
    cy->groups[g].gpu_type = type;
    group_next[g] = pool_first[n->pool];
    pool_first[n->pool] = g;
    cy->pool_ngroups[n->pool]++;
    return g;
}

static int
s_build_nodes (sp__cycle_t *cy, sp_node_t *const *nodes, size_t nnodes)
{
    const sp_cluster_t *c = cy->c;
    size_t np = c->npools;
    cy->cn = sp__alloc (cy->arena, (nnodes + 1) * sizeof *cy->cn);
    cy->ptr_cap = 16;
    while (cy->ptr_cap < nnodes * 2 + 2)
        cy->ptr_cap *= 2;
    cy->ptr_keys = sp__alloc (cy->arena, cy->ptr_cap * sizeof *cy->ptr_keys);
    cy->ptr_vals = sp__alloc (cy->arena, cy->ptr_cap * sizeof *cy->ptr_vals);
    cy->groups = sp__alloc (cy->arena, (nnodes + 1) * sizeof *cy->groups);
    cy->pool_ngroups = sp__alloc (cy->arena, (np + 1) * sizeof *cy->pool_ngroups);
    cy->pool_groups = sp__alloc (cy->arena, (np + 1) * sizeof *cy->pool_groups);
    cy->pool_free_gpu = sp__alloc (cy->arena, (np + 1) * sizeof *cy->pool_free_gpu);
    cy->pool_free_cpu = sp__alloc (cy->arena, (np + 1) * sizeof *cy->pool_free_cpu);
    cy->pool_version = sp__alloc (cy->arena, (np + 1) * sizeof *cy->pool_version);
    int *pool_first = sp__alloc (cy->arena, (np + 1) * sizeof *pool_first);
    int *group_next = sp__alloc (cy->arena, (nnodes + 1) * sizeof *group_next);
    if (!cy->cn || !cy->ptr_keys || !cy->ptr_vals || !cy->groups || !cy->pool_ngroups || !cy->pool_groups
        || !cy->pool_free_gpu || !cy->pool_free_cpu || !cy->pool_version || !pool_first || !group_next)
        return -1;
    for (size_t p = 0; p < np; p++)
        pool_first[p] = -1;

    for (size_t i = 0; i < nnodes; i++) {
        sp_node_t *node = nodes[i];
        if (!node || !node->schedulable || node->pool < 0 || (size_t) node->pool >= np)
            continue;
        if (sp__cycle_node (cy, node) >= 0)
            continue; /*  listed twice: count it once  */
        int idx = (int) cy->ncn++;
        sp__cnode_t *n = &cy->cn[idx];
        n->node = node;
        n->pool = node->pool;
        n->free_cpu = (int64_t) node->cap_cpus_milli - node->used_cpus_milli;
        n->free_mem = (int64_t) node->cap_mem_mb - (int64_t) node->used_mem_mb;
        n->free_gpu = (int64_t) node->cap_gpus - node->used_gpus;
        n->shadow_s = SP__NO_TIME;
        n->rack = node->labels ? st_kv_get (node->labels, "rack") : NULL;
        n->nvlink = node->labels ? st_kv_get (node->labels, "nvlink_domain") : NULL;
        n->prev = n->next = -1;
        size_t slot = s_ptr_slot (cy, node);
        while (cy->ptr_keys[slot])
            slot = (slot + 1) & (cy->ptr_cap - 1);
        cy->ptr_keys[slot] = node;
        cy->ptr_vals[slot] = idx;
        n->group = s_group_for (cy, pool_first, group_next, n);
        sp__group_t *g = &cy->groups[n->group];
        g->nnodes++;
        if (node->cap_gpus > 0)
            g->by_gpu = 1;
        if (n->rack || n->nvlink)
            g->has_topology = 1;
    }
    /*  Per-group node lists and bucket sizes.  */
    for (size_t g = 0; g < cy->ngroups; g++) {
        cy->groups[g].nodes = sp__alloc (cy->arena, cy->groups[g].nnodes * sizeof (int));
        if (!cy->groups[g].nodes)
            return -1;
        cy->groups[g].nnodes = 0;
    }
    for (size_t i = 0; i < cy->ncn; i++) {
        sp__cnode_t *n = &cy->cn[i];
        sp__group_t *g = &cy->groups[n->group];
        g->nodes[g->nnodes++] = (int) i;
        int64_t top = g->by_gpu ? n->node->cap_gpus : n->node->cap_cpus_milli / 1000;
        if (top + 1 > g->nbuckets)
            g->nbuckets = top + 1 > S_MAX_BUCKETS ? S_MAX_BUCKETS : (int) top + 1;
    }
    for (size_t g = 0; g < cy->ngroups; g++) {
        sp__group_t *gr = &cy->groups[g];
        if (gr->nbuckets < 1)
            gr->nbuckets = 1;
        gr->heads = sp__alloc (cy->arena, (size_t) gr->nbuckets * sizeof *gr->heads);
        if (!gr->heads)
            return -1;
        for (int b = 0; b < gr->nbuckets; b++)
            gr->heads[b] = -1;
    }
    /*  Link in reverse so each bucket lists its nodes in the caller's order.  */
    for (size_t i = cy->ncn; i-- > 0;) {
        sp__cnode_t *n = &cy->cn[i];
        s_link (cy, (int) i);
        cy->pool_free_gpu[n->pool] += s_pos (n->free_gpu);
        cy->pool_free_cpu[n->pool] += s_pos (n->free_cpu);
        cy->groups[n->group].free_gpu_total += s_pos (n->free_gpu);
    }
    for (size_t p = 0; p < np; p++) {
        cy->pool_groups[p] = sp__alloc (cy->arena, ((size_t) cy->pool_ngroups[p] + 1) * sizeof (int));
        if (!cy->pool_groups[p])
            return -1;
        /*  Groups without GPUs first: GPU-less jobs try them before GPU nodes.  */
        int k = 0;
        for (int pass = 0; pass < 2; pass++)
            for (int g = pool_first[p]; g >= 0; g = group_next[g])
                if (cy->groups[g].by_gpu == pass)
                    cy->pool_groups[p][k++] = g;
    }
    return 0;
}

static int
s_build_running (sp__cycle_t *cy, sp_job_t *const *running, size_t nrunning)
{
    size_t np = cy->c->npools;
    cy->running = running;
    cy->nrunning = nrunning;
    cy->pool_held_gpu = sp__alloc (cy->arena, (np + 1) * sizeof *cy->pool_held_gpu);
    cy->pool_held_cpu = sp__alloc (cy->arena, (np + 1) * sizeof *cy->pool_held_cpu);
    cy->pool_held_jobs = sp__alloc (cy->arena, (np + 1) * sizeof *cy->pool_held_jobs);
    size_t *last_job = sp__alloc (cy->arena, (np + 1) * sizeof *last_job);
    if (!cy->pool_held_gpu || !cy->pool_held_cpu || !cy->pool_held_jobs || !last_job)
        return -1;
    size_t ntasks = 0;
    for (size_t j = 0; j < nrunning; j++)
        if (running[j] && running[j]->placed)
            ntasks += running[j]->ntasks;
    cy->rel = sp__alloc (cy->arena, (ntasks + 1) * sizeof *cy->rel);
    cy->run_hold = sp__alloc (cy->arena, (nrunning + 1) * sizeof *cy->run_hold);
    if (!cy->rel || !cy->run_hold)
        return -1;
    for (size_t j = 0; j < nrunning; j++) {
        sp_job_t *job = running[j];
        if (!job || !job->placed)
            continue;
        double end = SP__NO_TIME;
        if (job->stopping)
            end = cy->now;
        else if (job->time_limit_s)
            end = job->start_s + job->time_limit_s > cy->now ? job->start_s + job->time_limit_s : cy->now;
        for (uint32_t t = 0; t < job->ntasks; t++) {
            sp_node_t *node = job->placed[t];
            if (!node)
                continue; /*  this task has already let go of its resources  */
            cy->run_hold[j]++;
            if (node->pool >= 0 && (size_t) node->pool < np) {
                cy->pool_held_gpu[node->pool] += job->gpus;
                cy->pool_held_cpu[node->pool] += job->cpus_milli;
                if (last_job[node->pool] != j + 1) {
                    last_job[node->pool] = j + 1;
                    cy->pool_held_jobs[node->pool]++;
                }
            }
            int idx = sp__cycle_node (cy, node);
            if (idx < 0)
                continue;
            cy->rel[cy->nrel++] =
                (sp__release_t) { end, idx, job->cpus_milli, (int64_t) job->mem_mb, job->gpus, job };
        }
    }
    return 0;
}

int
sp__cycle_build (sp__cycle_t *cy, const sp_cluster_t *c, const sp_params_t *params, sp__arena_t *arena,
                 sp_node_t *const *nodes, size_t nnodes, sp_job_t *const *running, size_t nrunning)
{
    void *undo = cy->undo;
    size_t capundo = cy->capundo;
    memset (cy, 0, sizeof *cy);
    cy->undo = undo;
    cy->capundo = capundo;
    cy->c = c;
    cy->params = params;
    cy->arena = arena;
    cy->now = params->now_s;
    if (s_build_nodes (cy, nodes, nnodes) != 0 || s_build_running (cy, running, nrunning) != 0)
        return -1;
    cy->pickbuf = sp__alloc (arena, (cy->ncn + 1) * sizeof *cy->pickbuf);
    cy->pickbuf2 = sp__alloc (arena, (cy->ncn + 1) * sizeof *cy->pickbuf2);
    cy->tmp = sp__alloc (arena, (cy->ncn + 1) * sizeof *cy->tmp);
    return cy->pickbuf && cy->pickbuf2 && cy->tmp ? 0 : -1;
}
