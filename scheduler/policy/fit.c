/*  fit.c: which nodes of a pool a job's tasks go to.
 *
 *  Rules, in order (docs/placement.md "Gangs and shards"):
 *    - every task of a gang on nodes of one pool and one GPU type;
 *    - the fewest nodes (a node takes as many tasks as fit);
 *    - among node sets of that size, one whose nodes share an nvlink_domain
 *      label, else one whose nodes share a rack label;
 *    - then the fullest nodes (best fit), so free room stays in large pieces.
 *  A single task takes the fullest node that still fits it, found from the
 *  group's lowest usable bucket without scanning the pool.
 *
 *  Availability depends on why we ask (sp__avail_t): now (honouring the
 *  resources that reservations hold back unless the job ends before them), a
 *  plan (now plus what some jobs would release), or idle (whole capacity). */
#include "policy_int.h"

#include <stdlib.h>
#include <string.h>

static uint32_t
s_div (int64_t have, uint64_t need, uint32_t k)
{
    if (!need)
        return k;
    if (have < (int64_t) need)
        return 0;
    uint64_t q = (uint64_t) have / need;
    return q < k ? (uint32_t) q : k;
}

uint32_t
sp__node_tasks (const sp__cycle_t *cy, const sp__cnode_t *n, const sp_job_t *job, sp__avail_t mode, double end_s)
{
    int64_t cpu, mem, gpu;
    (void) cy;
    switch (mode) {
    case SP__AVAIL_NOW:
        cpu = n->free_cpu;
        mem = n->free_mem;
        gpu = n->free_gpu;
        /*  Room held for a reservation is usable only by a task known to end
         *  before the reservation starts (INFINITY compares false with itself:
         *  no time limit or no known start both mean "would delay it").  */
        if (end_s == SP__NO_TIME || n->shadow_s == SP__NO_TIME || end_s > n->shadow_s) {
            cpu -= n->prot_cpu;
            mem -= n->prot_mem;
            gpu -= n->prot_gpu;
        }
        break;
    case SP__AVAIL_PLAN:
        cpu = n->free_cpu + n->rel_cpu - n->rsv_cpu;
        mem = n->free_mem + n->rel_mem - n->rsv_mem;
        gpu = n->free_gpu + n->rel_gpu - n->rsv_gpu;
        break;
    default:
        cpu = n->node->cap_cpus_milli;
        mem = (int64_t) n->node->cap_mem_mb;
        gpu = n->node->cap_gpus;
        break;
    }
    uint32_t k = UINT32_MAX;
    k = s_div (gpu, job->gpus, k);
    k = s_div (cpu, job->cpus_milli, k);
    k = s_div (mem, job->mem_mb, k);
    return k;
}

int
sp__node_matches (const sp__cnode_t *n, const sp_job_t *job)
{
    if (!job->labels || job->labels->n == 0)
        return 1;
    return sp__node_kind_ok (n->node, job);
}

/*  May the job's tasks use group g with GPU type `type` (NULL: any allowed)?  */
int
sp__group_ok (const sp__group_t *g, const sp_job_t *job, const char *type)
{
    if (job->gpus == 0)
        return 1;
    if (!g->by_gpu)
        return 0;
    if (type)
        return strcmp (g->gpu_type, type) == 0;
    if (job->ngpu_types == 0)
        return 1;
    for (size_t i = 0; i < job->ngpu_types; i++)
        if (job->gpu_types[i] && strcmp (job->gpu_types[i], g->gpu_type) == 0)
            return 1;
    return 0;
}

/*  Share of the node's packing dimension free after `tasks` more tasks.  */
static double
s_left_after (const sp__cnode_t *n, const sp_job_t *job, uint32_t tasks, sp__avail_t mode)
{
    int64_t have, cap;
    uint64_t per;
    if (job->gpus) {
        have = n->free_gpu + (mode == SP__AVAIL_PLAN ? n->rel_gpu : 0);
        cap = n->node->cap_gpus;
        per = job->gpus;
    }
    else {
        have = n->free_cpu + (mode == SP__AVAIL_PLAN ? n->rel_cpu : 0);
        cap = n->node->cap_cpus_milli;
        per = job->cpus_milli;
    }
    if (mode == SP__AVAIL_IDLE)
        have = cap;
    if (cap <= 0)
        return 0;
    double left = (double) (have - (int64_t) (per * tasks)) / (double) cap;
    return left < 0 ? 0 : left;
}

/*  ---------------------------------------------------------------------------
 *  Quick answers, for scoring many pools: does it fit, in how many nodes, how full  */

/*  One task: the fullest fitting node of the group (bucket walk), or -1.  */
static int
s_best_single (sp__cycle_t *cy, const sp__group_t *g, const sp_job_t *job, double end_s)
{
    int64_t start = g->by_gpu ? job->gpus : job->cpus_milli / 1000;
    for (int64_t b = start; b < g->nbuckets; b++)
        for (int i = g->heads[b]; i >= 0; i = cy->cn[i].next) {
            const sp__cnode_t *n = &cy->cn[i];
            if (sp__node_tasks (cy, n, job, SP__AVAIL_NOW, end_s) && sp__node_matches (n, job))
                return i;
        }
    return -1;
}

/*  Several tasks, now: emptiest nodes first until *got reaches ntasks.  */
static int
s_quick_many (sp__cycle_t *cy, const sp__group_t *g, const sp_job_t *job, uint32_t ntasks, double end_s,
              uint32_t *got, uint32_t *nodes, double *left_sum)
{
    for (int b = g->nbuckets - 1; b >= 0 && *got < ntasks; b--) {
        if (g->by_gpu && b < (int) job->gpus)
            break;
        for (int i = g->heads[b]; i >= 0 && *got < ntasks; i = cy->cn[i].next) {
            const sp__cnode_t *n = &cy->cn[i];
            uint32_t k = sp__node_tasks (cy, n, job, SP__AVAIL_NOW, end_s);
            if (!k || !sp__node_matches (n, job))
                continue;
            if (k > ntasks - *got)
                k = ntasks - *got;
            *got += k;
            (*nodes)++;
            *left_sum += s_left_after (n, job, k, SP__AVAIL_NOW);
        }
    }
    return *got >= ntasks;
}

/*  Plan or idle: only whether ntasks fit in the group.  */
static int
s_scan_fits (sp__cycle_t *cy, const sp__group_t *g, const sp_job_t *job, uint32_t ntasks, sp__avail_t mode,
             uint32_t *got)
{
    for (size_t i = 0; i < g->nnodes && *got < ntasks; i++) {
        const sp__cnode_t *n = &cy->cn[g->nodes[i]];
        uint32_t k = sp__node_tasks (cy, n, job, mode, SP__NO_TIME);
        if (k && sp__node_matches (n, job))
            *got += k < ntasks - *got ? k : ntasks - *got;
    }
    return *got >= ntasks;
}

/*  ---------------------------------------------------------------------------
 *  Exact selection  */

static int
s_by_k (const void *a, const void *b)
{
    const sp__cand_t *x = a, *y = b;
    if (x->k != y->k)
        return x->k > y->k ? -1 : 1;
    if (x->left != y->left)
        return x->left < y->left ? -1 : 1;
    return x->cnode - y->cnode;
}

static int
s_by_label (const void *a, const void *b)
{
    const sp__cand_t *x = a, *y = b;
    if (!x->label || !y->label) {
        if (x->label != y->label)
            return x->label ? -1 : 1;
    }
    else {
        int c = strcmp (x->label, y->label);
        if (c)
            return c;
    }
    return s_by_k (a, b);
}

/*  Fewest nodes for ntasks from cands (sorted by k desc), or 0 when they cannot.  */
static size_t
s_min_nodes (const sp__cand_t *cands, size_t n, uint32_t ntasks)
{
    uint64_t got = 0;
    for (size_t i = 0; i < n; i++) {
        got += cands[i].k;
        if (got >= ntasks)
            return i + 1;
    }
    return 0;
}

/*  Picks m nodes from cands (sorted by k desc): the m-1 largest, then the
 *  fullest node that holds the rest. Returns the packing figure.  */
static double
s_pick (sp__cycle_t *cy, const sp__cand_t *cands, size_t n, size_t m, const sp_job_t *job, uint32_t ntasks,
        sp__avail_t mode, sp__pick_t *out)
{
    uint32_t left = ntasks;
    double sum = 0;
    for (size_t i = 0; i + 1 < m; i++) {
        uint32_t k = cands[i].k < left ? cands[i].k : left;
        out[i] = (sp__pick_t) { cands[i].cnode, k };
        left -= k;
    }
    size_t best = m - 1;
    for (size_t i = m - 1; i < n; i++) {
        if (cands[i].k < left)
            continue;
        if (cands[i].k < cands[best].k || (cands[i].k == cands[best].k && cands[i].left < cands[best].left))
            best = i;
    }
    out[m - 1] = (sp__pick_t) { cands[best].cnode, left };
    for (size_t i = 0; i < m; i++)
        sum += s_left_after (&cy->cn[out[i].cnode], job, out[i].tasks, mode);
    return sum / (double) m;
}

/*  Collects the candidate nodes of the eligible groups into cy->tmp.  */
static size_t
s_collect (sp__cycle_t *cy, const int *groups, size_t ng, const sp_job_t *job, uint32_t ntasks, sp__avail_t mode,
           double end_s)
{
    size_t n = 0;
    for (size_t gi = 0; gi < ng; gi++) {
        const sp__group_t *g = &cy->groups[groups[gi]];
        for (size_t i = 0; i < g->nnodes; i++) {
            const sp__cnode_t *node = &cy->cn[g->nodes[i]];
            uint32_t k = sp__node_tasks (cy, node, job, mode, end_s);
            if (!k || !sp__node_matches (node, job))
                continue;
            cy->tmp[n++] =
                (sp__cand_t) { g->nodes[i], k < ntasks ? k : ntasks, s_left_after (node, job, 0, mode), NULL };
        }
    }
    return n;
}

/*  Exact choice among the eligible groups' nodes. Returns the node count (0: no fit).  */
static size_t
s_exact (sp__cycle_t *cy, const int *groups, size_t ng, const sp_job_t *job, uint32_t ntasks, sp__avail_t mode,
         double end_s, sp__pick_t *out, double *packing)
{
    size_t n = s_collect (cy, groups, ng, job, ntasks, mode, end_s);
    sp__cand_t *cands = cy->tmp;
    qsort (cands, n, sizeof *cands, s_by_k);
    size_t m = s_min_nodes (cands, n, ntasks);
    if (!m)
        return 0;
    int topology = 0;
    for (size_t gi = 0; gi < ng; gi++)
        topology |= cy->groups[groups[gi]].has_topology;
    if (m > 1 && topology) {
        /*  nvlink_domain first, then rack: the run of one label value that
         *  needs no more nodes than the best overall, and packs fullest.  */
        for (int key = 0; key < 2; key++) {
            for (size_t i = 0; i < n; i++)
                cands[i].label = key == 0 ? cy->cn[cands[i].cnode].nvlink : cy->cn[cands[i].cnode].rack;
            qsort (cands, n, sizeof *cands, s_by_label);
            size_t best_at = 0, best_len = 0;
            double best_pack = INFINITY;
            for (size_t i = 0; i < n;) {
                size_t j = i;
                while (j < n && sp__streq (cands[j].label, cands[i].label))
                    j++;
                if (cands[i].label && s_min_nodes (cands + i, j - i, ntasks) == m) {
                    double pack = s_pick (cy, cands + i, j - i, m, job, ntasks, mode, out);
                    if (pack < best_pack) {
                        best_pack = pack;
                        best_at = i;
                        best_len = j - i;
                    }
                }
                i = j;
            }
            if (best_len) {
                *packing = s_pick (cy, cands + best_at, best_len, m, job, ntasks, mode, out);
                return m;
            }
        }
        qsort (cands, n, sizeof *cands, s_by_k);
    }
    *packing = s_pick (cy, cands, n, m, job, ntasks, mode, out);
    return m;
}

int
sp__fit_pool (sp__cycle_t *cy, int pool, const sp_job_t *job, const char *type, uint32_t ntasks, sp__avail_t mode,
              double end_s, int exact, sp__choice_t *out)
{
    const int *pg = cy->pool_groups[pool];
    int npg = cy->pool_ngroups[pool];
    memset (out, 0, sizeof *out);
    out->pool = pool;
    out->group = -1;
    if (ntasks == 0)
        return 1;
    if (mode == SP__AVAIL_NOW && job->gpus && cy->pool_free_gpu[pool] < (int64_t) job->gpus * ntasks)
        return 0;
    if (mode == SP__AVAIL_NOW && cy->pool_free_cpu[pool] < (int64_t) job->cpus_milli * ntasks)
        return 0;

    if (job->gpus == 0) {
        /*  GPU-less tasks may mix node types: all the pool's groups together,
         *  groups without GPUs first.  */
        if (!exact) {
            if (mode != SP__AVAIL_NOW) {
                uint32_t got = 0;
                for (int gi = 0; gi < npg; gi++)
                    if (s_scan_fits (cy, &cy->groups[pg[gi]], job, ntasks, mode, &got))
                        return 1;
                return 0;
            }
            if (ntasks == 1) {
                for (int gi = 0; gi < npg; gi++) {
                    int i = s_best_single (cy, &cy->groups[pg[gi]], job, end_s);
                    if (i >= 0) {
                        out->npicks = 1;
                        out->packing = s_left_after (&cy->cn[i], job, 1, mode);
                        return 1;
                    }
                }
                return 0;
            }
            uint32_t got = 0, nodes = 0;
            double left = 0;
            for (int gi = 0; gi < npg && got < ntasks; gi++)
                s_quick_many (cy, &cy->groups[pg[gi]], job, ntasks, end_s, &got, &nodes, &left);
            if (got < ntasks)
                return 0;
            out->npicks = nodes;
            out->packing = nodes ? left / nodes : 0;
            return 1;
        }
        size_t m = s_exact (cy, pg, (size_t) npg, job, ntasks, mode, end_s, cy->pickbuf, &out->packing);
        if (!m)
            return 0;
        out->picks = cy->pickbuf;
        out->npicks = m;
        return 1;
    }

    /*  GPU tasks: one group (one GPU type) for all of them; the best group.  */
    int found = 0;
    for (int gi = 0; gi < npg; gi++) {
        const sp__group_t *g = &cy->groups[pg[gi]];
        if (!sp__group_ok (g, job, type))
            continue;
        if (mode == SP__AVAIL_NOW && g->free_gpu_total < (int64_t) job->gpus * ntasks)
            continue;
        sp__choice_t c = { .pool = pool, .group = pg[gi] };
        if (!exact) {
            if (mode != SP__AVAIL_NOW) {
                uint32_t got = 0;
                if (!s_scan_fits (cy, g, job, ntasks, mode, &got))
                    continue;
            }
            else if (ntasks == 1) {
                int i = s_best_single (cy, g, job, end_s);
                if (i < 0)
                    continue;
                c.npicks = 1;
                c.packing = s_left_after (&cy->cn[i], job, 1, mode);
            }
            else {
                uint32_t got = 0, nodes = 0;
                double left = 0;
                if (!s_quick_many (cy, g, job, ntasks, end_s, &got, &nodes, &left))
                    continue;
                c.npicks = nodes;
                c.packing = left / nodes;
            }
        }
        else {
            /*  Exact: into pickbuf2, kept in pickbuf when better.  */
            sp__pick_t *buf = found ? cy->pickbuf2 : cy->pickbuf;
            int one = pg[gi];
            size_t m = s_exact (cy, &one, 1, job, ntasks, mode, end_s, buf, &c.packing);
            if (!m)
                continue;
            c.picks = buf;
            c.npicks = m;
        }
        if (!found || c.npicks < out->npicks || (c.npicks == out->npicks && c.packing < out->packing)) {
            if (exact && found) {
                memcpy (cy->pickbuf, cy->pickbuf2, c.npicks * sizeof *cy->pickbuf);
                c.picks = cy->pickbuf;
            }
            *out = c;
            found = 1;
        }
    }
    return found;
}

uint32_t
sp__pool_capacity (sp__cycle_t *cy, int pool, const sp_job_t *job, sp__avail_t mode, uint32_t limit, int one_group)
{
    uint32_t best = 0, sum = 0;
    for (int gi = 0; gi < cy->pool_ngroups[pool]; gi++) {
        const sp__group_t *g = &cy->groups[cy->pool_groups[pool][gi]];
        if (!sp__group_ok (g, job, NULL))
            continue;
        uint32_t got = 0;
        s_scan_fits (cy, g, job, limit, mode, &got);
        if (one_group && job->gpus)
            best = got > best ? got : best;
        else
            sum = sum + got < limit ? sum + got : limit;
    }
    return one_group && job->gpus ? best : sum;
}
