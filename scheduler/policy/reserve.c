/*  reserve.c: reservations (EASY backfill) and preemption.
 *
 *  A reservation holds resources back on chosen nodes for a waiting job from
 *  a start time T on. For each node n it protects what the job will need
 *  there beyond what running jobs give back by T:
 *
 *      prot_n += max(0, need_n - released_n(T))       (per CPU, memory, GPU)
 *      rsv_n  += need_n
 *
 *  so a job placed later in the cycle sees free_n - prot_n on that node,
 *  unless it ends (start + time limit) by T, in which case its resources are
 *  back in time and it may use everything free now. A job without a time
 *  limit never counts as ending by T. When T is unknown (the releases that
 *  would make room have no time limits) the resources are held back all the
 *  same, no job counts as ending before it, and no start time is promised.
 *  A later plan (another reservation, a preemption) counts a node's room as
 *  free + released - rsv_n, so two reservations never count on the same
 *  released resources.
 *
 *  EASY: the first job in the order that cannot start gets the reservation at
 *  the earliest T its resources come back (running jobs' start + time limit,
 *  this cycle's placements' now + time limit, stopping jobs now), so jobs
 *  behind it can never delay it: no starvation.
 *
 *  Preemption: a job that cannot start may stop lower-priority preemptible
 *  running jobs (under LAS: jobs in a higher attained-service queue) in one
 *  pool. Per pool, stopping jobs count as released; if that is not enough,
 *  candidates are added cheapest first (fewest GPU-seconds of work lost since
 *  their start, then the larger release) until the job fits, then any victim
 *  whose release is not needed is dropped again, most expensive first. The
 *  cheapest pool's set wins (cost, then fewer jobs, then pool name). The job
 *  gets a reservation at T = now on the victims' nodes; while they stop, later
 *  cycles find the stopping jobs' release enough and preempt nobody else. */
#include "policy_int.h"

#include <stdlib.h>
#include <string.h>

/*  Preemption searches per cycle: each may scan every running job of every
 *  allowed pool; later cycles carry on where this one stopped.  */
#define S_MAX_PREEMPT_SEARCHES 4

typedef struct {
    double end;
    int cnode;
    int64_t cpu, mem, gpu;
} s_event_t;

/*  ---------------------------------------------------------------------------
 *  Plans: resources that some jobs would give back, on the cnodes' rel_*  */

static void
s_plan_reset (sp__run_t *run)
{
    for (size_t i = 0; i < run->ntouched; i++) {
        sp__cnode_t *n = &run->cy->cn[run->touched[i]];
        n->rel_cpu = n->rel_mem = n->rel_gpu = 0;
    }
    run->ntouched = 0;
    run->cy->stamp++;
}

static void
s_plan_add (sp__run_t *run, int cnode, int64_t cpu, int64_t mem, int64_t gpu, int sign)
{
    sp__cnode_t *n = &run->cy->cn[cnode];
    if (n->mark != run->cy->stamp) {
        n->mark = run->cy->stamp;
        n->rel_cpu = n->rel_mem = n->rel_gpu = 0;
        run->touched[run->ntouched++] = cnode;
    }
    n->rel_cpu += sign * cpu;
    n->rel_mem += sign * mem;
    n->rel_gpu += sign * gpu;
}

static int
s_is_victim (const sp__run_t *run, const sp_job_t *j)
{
    for (size_t i = 0; i < run->nvictims; i++)
        if (run->victims[i] == j)
            return 1;
    return 0;
}

/*  Does job fit in pool with the plan's releases (quick answer)?  */
static int
s_plan_fits (sp__run_t *run, int pool, const sp_job_t *job, const char *type)
{
    sp__choice_t ch;
    if (job->gang || job->ntasks == 1)
        return sp__fit_pool (run->cy, pool, job, type, job->ntasks, SP__AVAIL_PLAN, SP__NO_TIME, 0, &ch);
    /*  Shards wait for room in one pool here: a reservation is per pool.  */
    return sp__pool_capacity (run->cy, pool, job, SP__AVAIL_PLAN, job->ntasks, 0) >= job->ntasks;
}

/*  Holds the plan's nodes back for job from start_s.  */
static int
s_protect (sp__run_t *run, sp_job_t *job, int pool, const char *type, double start_s, sp_wait_t *w)
{
    sp__cycle_t *cy = run->cy;
    sp__choice_t ch;
    int gang = job->gang || job->ntasks == 1;
    if (!sp__fit_pool (cy, pool, job, type, job->ntasks, SP__AVAIL_PLAN, SP__NO_TIME, 1, &ch))
        return 0;
    if (!gang) {
        /*  Shards: the nodes one after another, as many tasks as each holds.  */
        uint32_t left = job->ntasks;
        size_t np = 0;
        for (int gi = 0; gi < cy->pool_ngroups[pool] && left; gi++) {
            const sp__group_t *g = &cy->groups[cy->pool_groups[pool][gi]];
            if (!sp__group_ok (g, job, NULL))
                continue;
            for (size_t i = 0; i < g->nnodes && left; i++) {
                const sp__cnode_t *n = &cy->cn[g->nodes[i]];
                uint32_t k = sp__node_matches (n, job) ? sp__node_tasks (cy, n, job, SP__AVAIL_PLAN, SP__NO_TIME) : 0;
                if (!k)
                    continue;
                k = k < left ? k : left;
                cy->pickbuf[np++] = (sp__pick_t) { g->nodes[i], k };
                left -= k;
            }
        }
        ch.picks = cy->pickbuf;
        ch.npicks = np;
    }
    for (size_t i = 0; i < ch.npicks; i++) {
        sp__cnode_t *n = &cy->cn[ch.picks[i].cnode];
        int64_t t = ch.picks[i].tasks;
        int64_t need_cpu = t * job->cpus_milli, need_mem = t * (int64_t) job->mem_mb, need_gpu = t * job->gpus;
        n->prot_cpu += need_cpu > n->rel_cpu ? need_cpu - n->rel_cpu : 0;
        n->prot_mem += need_mem > n->rel_mem ? need_mem - n->rel_mem : 0;
        n->prot_gpu += need_gpu > n->rel_gpu ? need_gpu - n->rel_gpu : 0;
        n->rsv_cpu += need_cpu;
        n->rsv_mem += need_mem;
        n->rsv_gpu += need_gpu;
        /*  An unknown start: no job can promise to end before it.  */
        double shadow = start_s == SP__NO_TIME ? run->now : start_s;
        if (shadow < n->shadow_s)
            n->shadow_s = shadow;
    }
    run->pool_prot_job[pool] = job->id;
    cy->pool_version[pool]++;
    if (st_vec_reserve ((void **) &run->rsv, &run->caprsv, run->nresv_cycle + 1, sizeof *run->rsv, SP__ARRAY_MAX)
        != 0)
        return -1;
    run->rsv[run->nresv_cycle++] = (sp__rsv_t) { job, pool, start_s, ch.npicks };
    w->reservation = 1;
    w->expected_start_s = start_s == SP__NO_TIME ? -1 : start_s;
    return 1;
}

/*  ---------------------------------------------------------------------------
 *  EASY: the earliest start  */

static int
s_by_end (const void *a, const void *b)
{
    const s_event_t *x = a, *y = b;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return x->cnode - y->cnode;
}

/*  Releases in pool: running tasks (stopping ones and this cycle's victims
 *  now) and this cycle's placements (now + time limit).  */
static s_event_t *
s_events (sp__run_t *run, int pool, size_t *n)
{
    sp__cycle_t *cy = run->cy;
    size_t cap = run->rel_first[pool + 1] - run->rel_first[pool];
    const sp_result_t *out = run->out;
    for (size_t i = 0; i < out->nplacements; i++)
        cap += out->placements[i].job->ntasks;
    s_event_t *ev = sp__alloc (cy->arena, (cap + 1) * sizeof *ev);
    if (!ev)
        return NULL;
    *n = 0;
    for (size_t i = run->rel_first[pool]; i < run->rel_first[pool + 1]; i++) {
        const sp__release_t *r = &cy->rel[run->rel_index[i]];
        double end = s_is_victim (run, r->job) ? run->now : r->end_s;
        ev[(*n)++] = (s_event_t) { end, r->cnode, r->cpu, r->mem, r->gpu };
    }
    for (size_t i = 0; i < out->nplacements; i++) {
        const sp_job_t *j = out->placements[i].job;
        double end = j->time_limit_s ? run->now + j->time_limit_s : SP__NO_TIME;
        for (uint32_t t = 0; t < j->ntasks; t++) {
            const sp_node_t *node = out->placements[i].nodes[t];
            if (node->pool != pool)
                continue;
            int idx = sp__cycle_node (cy, node);
            if (idx >= 0)
                ev[(*n)++] = (s_event_t) { end, idx, j->cpus_milli, (int64_t) j->mem_mb, j->gpus };
        }
    }
    qsort (ev, *n, sizeof *ev, s_by_end);
    return ev;
}

static void
s_plan_events (sp__run_t *run, const s_event_t *ev, size_t upto)
{
    s_plan_reset (run);
    for (size_t i = 0; i < upto; i++)
        s_plan_add (run, ev[i].cnode, ev[i].cpu, ev[i].mem, ev[i].gpu, 1);
}

/*  Earliest time job fits in pool; SP__NO_TIME when only releases without a
 *  time limit make room; -1 when even they do not. *upto: events used.  */
static double
s_earliest (sp__run_t *run, int pool, const sp_job_t *job, const char *type, const s_event_t *ev, size_t n,
            size_t *upto)
{
    size_t finite = 0;
    while (finite < n && ev[finite].end != SP__NO_TIME)
        finite++;
    s_plan_events (run, ev, 0);
    if (s_plan_fits (run, pool, job, type)) {
        *upto = 0;
        return run->now;
    }
    s_plan_events (run, ev, finite);
    if (!s_plan_fits (run, pool, job, type)) {
        s_plan_events (run, ev, n);
        if (n == finite || !s_plan_fits (run, pool, job, type))
            return -1;
        *upto = n;
        return SP__NO_TIME;
    }
    /*  Fitting only grows with more releases: binary search the prefix.  */
    size_t lo = 1, hi = finite;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        s_plan_events (run, ev, mid);
        if (s_plan_fits (run, pool, job, type))
            hi = mid;
        else
            lo = mid + 1;
    }
    /*  Everything released at that same instant counts.  */
    while (lo < finite && ev[lo].end == ev[lo - 1].end)
        lo++;
    *upto = lo;
    return ev[lo - 1].end > run->now ? ev[lo - 1].end : run->now;
}

static int
s_reserve_head (sp__run_t *run, sp_job_t *job, sp__class_t *k, sp_wait_t *w)
{
    const sp_cluster_t *c = run->c;
    size_t ntypes = job->gpus && job->ngpu_types ? job->ngpu_types : 1;
    double best_t = -1;
    int best_pool = -1;
    const char *best_type = NULL;
    for (size_t t = 0; t < ntypes; t++) {
        const char *type = job->gpus && job->ngpu_types ? job->gpu_types[t] : NULL;
        for (size_t p = 0; p < c->npools; p++) {
            if (!k->pools[p].ok)
                continue;
            size_t n, upto;
            s_event_t *ev = s_events (run, (int) p, &n);
            if (!ev)
                return -1;
            double at = s_earliest (run, (int) p, job, type, ev, n, &upto);
            if (at < 0)
                continue;
            if (best_pool < 0 || at < best_t) {
                best_t = at;
                best_pool = (int) p;
                best_type = type;
            }
        }
    }
    if (best_pool < 0)
        return 0;
    size_t n, upto;
    s_event_t *ev = s_events (run, best_pool, &n);
    if (!ev)
        return -1;
    s_earliest (run, best_pool, job, best_type, ev, n, &upto);
    s_plan_events (run, ev, upto);
    int rc = s_protect (run, job, best_pool, best_type, best_t, w);
    s_plan_reset (run);
    if (rc <= 0)
        return rc;
    char when[48];
    size_t used = strlen (w->reason);
    if (best_t == SP__NO_TIME)
        sp__catf (w->reason, sizeof w->reason, &used,
                  "; first in line for pool %s (no start time: the jobs there "
                  "have no time limit)",
                  c->pools[best_pool].name);
    else {
        sp__fmt_duration (when, sizeof when, best_t - run->now);
        sp__catf (w->reason, sizeof w->reason, &used, "; expected start in %s (pool %s)", when,
                  c->pools[best_pool].name);
    }
    return 1;
}

/*  ---------------------------------------------------------------------------
 *  Preemption  */

static double
s_las_attained (const sp_job_t *j, double now)
{
    return j->attained_gpu_s + sp__attempt_gpu_s (j, now);
}

/*  May job preempt victim?  */
static int
s_may_preempt (const sp__run_t *run, const sp_job_t *job, const sp_job_t *victim)
{
    if (!victim->preemptible || victim->stopping || victim == job || s_is_victim (run, victim))
        return 0;
    if (victim->priority < job->priority)
        return 1;
    if (run->params->policy == SP_POLICY_LAS && victim->priority <= job->priority)
        return sp__las_queue (s_las_attained (victim, run->now)) > sp__las_queue (job->attained_gpu_s);
    return 0;
}

typedef struct {
    sp_job_t *job;
    double cost;      /*  GPU-seconds lost  */
    int64_t gpu, cpu; /*  released in the pool (GPUs: of the types the job may use)  */
    size_t first, n;  /*  its releases: rel_index[first..first+n)  */
    int chosen;
} s_victim_t;

static int
s_by_cost (const void *a, const void *b)
{
    const s_victim_t *x = a, *y = b;
    if (x->cost != y->cost)
        return x->cost < y->cost ? -1 : 1;
    if (x->gpu != y->gpu)
        return x->gpu > y->gpu ? -1 : 1;
    if (x->cpu != y->cpu)
        return x->cpu > y->cpu ? -1 : 1;
    return x->job->id < y->job->id ? -1 : x->job->id > y->job->id;
}

static void
s_plan_victim (sp__run_t *run, const s_victim_t *v, int sign)
{
    for (size_t i = v->first; i < v->first + v->n; i++) {
        const sp__release_t *r = &run->cy->rel[run->rel_index[i]];
        s_plan_add (run, r->cnode, r->cpu, r->mem, r->gpu, sign);
    }
}

/*  Stopping jobs and this cycle's victims in pool release now.  */
static int
s_plan_stopping (sp__run_t *run, int pool)
{
    int any = 0;
    s_plan_reset (run);
    if (!run->pool_stopping[pool])
        return 0;
    for (size_t i = run->rel_first[pool]; i < run->rel_first[pool + 1]; i++) {
        const sp__release_t *r = &run->cy->rel[run->rel_index[i]];
        if (r->job->stopping || s_is_victim (run, r->job)) {
            s_plan_add (run, r->cnode, r->cpu, r->mem, r->gpu, 1);
            any = 1;
        }
    }
    return any;
}

/*  The cheapest victims in pool (into vs[0..*nv), chosen marked). Returns 1
 *  when the job fits with them, and their cost and count.  */
static int
s_victims_in (sp__run_t *run, int pool, const sp_job_t *job, const char *type, s_victim_t *vs, size_t *nv,
              double *cost, size_t *count)
{
    sp__cycle_t *cy = run->cy;
    int64_t releasable = 0;
    *nv = 0;
    *cost = 0;
    *count = 0;
    s_plan_stopping (run, pool);
    if (s_plan_fits (run, pool, job, type))
        return 1;
    /*  Releases of one job are adjacent in the pool's list (built job by job).  */
    for (size_t i = run->rel_first[pool]; i < run->rel_first[pool + 1]; i++) {
        const sp__release_t *r = &cy->rel[run->rel_index[i]];
        /*  GPUs that could serve this job: on nodes of a type it may use.  */
        int64_t useful = sp__group_ok (&cy->groups[cy->cn[r->cnode].group], job, type) ? r->gpu : 0;
        if (*nv && vs[*nv - 1].job == r->job) {
            vs[*nv - 1].n++;
            vs[*nv - 1].gpu += useful;
            vs[*nv - 1].cpu += r->cpu;
            releasable += useful;
            continue;
        }
        if (!s_may_preempt (run, job, r->job))
            continue;
        vs[(*nv)++] = (s_victim_t) { r->job, sp__attempt_gpu_s (r->job, run->now), useful, r->cpu, i, 1, 0 };
        releasable += useful;
    }
    int64_t need_gpu = (int64_t) sp__job_gpus (job), have_gpu = 0;
    for (int gi = 0; gi < cy->pool_ngroups[pool]; gi++) {
        const sp__group_t *g = &cy->groups[cy->pool_groups[pool][gi]];
        if (sp__group_ok (g, job, type))
            have_gpu += g->free_gpu_total;
    }
    /*  Even stopping every candidate would not free enough GPUs: no sort, no plan.  */
    if (*nv == 0 || have_gpu + releasable < need_gpu)
        return 0;
    qsort (vs, *nv, sizeof *vs, s_by_cost);
    int fits = 0;
    size_t last = 0;
    for (size_t i = 0; i < *nv && !fits; i++) {
        vs[i].chosen = 1;
        s_plan_victim (run, &vs[i], 1);
        have_gpu += vs[i].gpu;
        last = i;
        if (have_gpu >= need_gpu)
            fits = s_plan_fits (run, pool, job, type);
    }
    if (!fits)
        return 0;
    /*  Not more than needed: drop any victim the job fits without.  */
    for (size_t i = last + 1; i-- > 0;) {
        if (!vs[i].chosen)
            continue;
        s_plan_victim (run, &vs[i], -1);
        if (s_plan_fits (run, pool, job, type))
            vs[i].chosen = 0;
        else
            s_plan_victim (run, &vs[i], 1);
    }
    for (size_t i = 0; i < *nv; i++)
        if (vs[i].chosen) {
            *cost += vs[i].cost;
            (*count)++;
        }
    *nv = last + 1;
    return 1;
}

static int
s_add_preemption (sp__run_t *run, sp_job_t *victim, sp_job_t *job, const char *pool)
{
    sp_result_t *out = run->out;
    if (st_vec_reserve ((void **) &out->preemptions, &out->caps[1], out->npreemptions + 1, sizeof *out->preemptions,
                        SP__ARRAY_MAX)
        != 0)
        return -1;
    /*  Its resources come back now wherever it runs.  */
    for (uint32_t t = 0; victim->placed && t < victim->ntasks; t++)
        if (victim->placed[t] && victim->placed[t]->pool >= 0 && (size_t) victim->placed[t]->pool < run->c->npools)
            run->pool_stopping[victim->placed[t]->pool] = 1;
    if (st_vec_reserve ((void **) &run->victims, &run->capvictims, run->nvictims + 1, sizeof *run->victims,
                        SP__ARRAY_MAX)
        != 0)
        return -1;
    run->victims[run->nvictims++] = victim;
    sp_preemption_t *p = &out->preemptions[out->npreemptions++];
    p->victim = victim;
    p->for_job = job;
    if (victim->priority < job->priority)
        snprintf (p->reason, sizeof p->reason, "preempted in pool %s for job %llu (priority %d over %d)", pool,
                  (unsigned long long) job->id, job->priority, victim->priority);
    else
        snprintf (p->reason, sizeof p->reason,
                  "preempted in pool %s for job %llu, which has had less GPU service (%.1f vs %.1f GPU-hours)", pool,
                  (unsigned long long) job->id, job->attained_gpu_s / 3600.0,
                  s_las_attained (victim, run->now) / 3600.0);
    return 0;
}

/*  Returns 1 when job now holds a reservation on released (or releasing)
 *  resources, 0 when preemption cannot help, -1 when out of memory.  */
static int
s_preempt (sp__run_t *run, sp_job_t *job, sp__class_t *k, sp_wait_t *w)
{
    const sp_cluster_t *c = run->c;
    sp__cycle_t *cy = run->cy;
    if (run->preempt_searches >= S_MAX_PREEMPT_SEARCHES)
        return 0;
    if (k->preempt_tried && job->priority <= k->preempt_fail_prio
        && sp__las_queue (job->attained_gpu_s) >= k->preempt_fail_las)
        return 0;
    run->preempt_searches++;
    size_t ntypes = job->gpus && job->ngpu_types ? job->ngpu_types : 1;
    s_victim_t *vs = sp__alloc (cy->arena, (cy->nrel + 1) * sizeof *vs);
    s_victim_t *best_vs = sp__alloc (cy->arena, (cy->nrel + 1) * sizeof *best_vs);
    if (!vs || !best_vs)
        return -1;
    int best_pool = -1;
    const char *best_type = NULL;
    size_t best_nv = 0, best_count = 0;
    double best_cost = 0;
    for (size_t t = 0; t < ntypes && best_pool < 0; t++) {
        const char *type = job->gpus && job->ngpu_types ? job->gpu_types[t] : NULL;
        for (size_t p = 0; p < c->npools; p++) {
            size_t nv, count;
            double cost;
            if (!k->pools[p].ok || run->rel_first[p] == run->rel_first[p + 1])
                continue;
            /*  Nobody there it may stop, and nothing stopping: skip the pool.  */
            if (!run->pool_stopping[p] && run->pool_min_prio[p] >= job->priority
                && !(run->params->policy == SP_POLICY_LAS
                     && run->pool_max_las[p] > sp__las_queue (job->attained_gpu_s)))
                continue;
            if (!s_victims_in (run, (int) p, job, type, vs, &nv, &cost, &count))
                continue;
            if (best_pool < 0 || cost < best_cost || (cost == best_cost && count < best_count)) {
                best_pool = (int) p;
                best_type = type;
                best_cost = cost;
                best_count = count;
                best_nv = nv;
                memcpy (best_vs, vs, nv * sizeof *vs);
            }
        }
    }
    s_plan_reset (run);
    if (best_pool < 0) {
        k->preempt_tried = 1;
        k->preempt_fail_prio = job->priority;
        k->preempt_fail_las = sp__las_queue (job->attained_gpu_s);
        return 0;
    }
    /*  The plan again: stopping jobs, then the chosen victims; reserve on it.  */
    size_t stopping = 0;
    for (size_t i = run->rel_first[best_pool]; i < run->rel_first[best_pool + 1]; i++)
        stopping += cy->rel[run->rel_index[i]].job->stopping;
    for (size_t i = 0; i < best_nv; i++)
        if (best_vs[i].chosen && s_add_preemption (run, best_vs[i].job, job, c->pools[best_pool].name) != 0)
            return -1;
    s_plan_stopping (run, best_pool);
    int rc = s_protect (run, job, best_pool, best_type, run->now, w);
    s_plan_reset (run);
    if (rc <= 0)
        return rc;
    if (best_count)
        snprintf (w->reason, sizeof w->reason,
                  "waiting: preempting %zu job%s in pool %s (%.1f GPU-hours of work lost); starts when %s stopped",
                  best_count, best_count == 1 ? "" : "s", c->pools[best_pool].name, best_cost / 3600.0,
                  best_count == 1 ? "it has" : "they have");
    else
        snprintf (w->reason, sizeof w->reason,
                  "waiting: resources in pool %s are held for it while preempted jobs stop; starts when they have",
                  c->pools[best_pool].name);
    (void) stopping;
    return 1;
}

/*  ---------------------------------------------------------------------------
 *  Cycle hooks  */

int
sp__reserve_begin (sp__run_t *run)
{
    sp__cycle_t *cy = run->cy;
    size_t np = run->c->npools;
    run->pool_prot_job = sp__alloc (cy->arena, (np + 1) * sizeof *run->pool_prot_job);
    run->rel_first = sp__alloc (cy->arena, (np + 2) * sizeof *run->rel_first);
    run->rel_index = sp__alloc (cy->arena, (cy->nrel + 1) * sizeof *run->rel_index);
    run->touched = sp__alloc (cy->arena, (cy->ncn + 1) * sizeof *run->touched);
    run->pool_text = sp__alloc (cy->arena, (np + 1) * 2 * sizeof *run->pool_text);
    if (!run->pool_prot_job || !run->rel_first || !run->rel_index || !run->touched || !run->pool_text)
        return -1;
    /*  Counting sort of the running releases by pool (stable: a job's stay adjacent).  */
    for (size_t i = 0; i < cy->nrel; i++)
        run->rel_first[cy->cn[cy->rel[i].cnode].pool + 1]++;
    for (size_t p = 0; p < np; p++)
        run->rel_first[p + 1] += run->rel_first[p];
    size_t *at = sp__alloc (cy->arena, (np + 1) * sizeof *at);
    run->pool_min_prio = sp__alloc (cy->arena, (np + 1) * sizeof *run->pool_min_prio);
    run->pool_max_las = sp__alloc (cy->arena, (np + 1) * sizeof *run->pool_max_las);
    run->pool_stopping = sp__alloc (cy->arena, (np + 1) * sizeof *run->pool_stopping);
    if (!at || !run->pool_min_prio || !run->pool_max_las || !run->pool_stopping)
        return -1;
    /*  Who could be preempted where: the lowest priority and highest LAS
     *  queue among preemptible jobs still running, per pool.  */
    for (size_t p = 0; p < np; p++)
        run->pool_min_prio[p] = INT32_MAX;
    for (size_t i = 0; i < cy->nrel; i++) {
        const sp_job_t *j = cy->rel[i].job;
        int p = cy->cn[cy->rel[i].cnode].pool;
        if (j->stopping)
            run->pool_stopping[p] = 1;
        else if (j->preemptible) {
            if (j->priority < run->pool_min_prio[p])
                run->pool_min_prio[p] = j->priority;
            int q = sp__las_queue (s_las_attained (j, run->now));
            if (q > run->pool_max_las[p])
                run->pool_max_las[p] = q;
        }
    }
    memcpy (at, run->rel_first, np * sizeof *at);
    for (size_t i = 0; i < cy->nrel; i++)
        run->rel_index[at[cy->cn[cy->rel[i].cnode].pool]++] = i;
    run->rel_first[np + 1] = run->rel_first[np];
    return 0;
}

int
sp__reserve_wanted (const sp__run_t *run, const sp__class_t *k, const sp__entry_t *en)
{
    if (!run->head_reserved)
        return 1;
    if (!run->params->preempt || run->preempt_searches >= S_MAX_PREEMPT_SEARCHES)
        return 0;
    return !(k->preempt_tried && en->facts.prio <= k->preempt_fail_prio && en->facts.las >= k->preempt_fail_las);
}

int
sp__reserve_can_preempt (const sp__run_t *run, int32_t prio)
{
    if (!run->params->preempt || run->preempt_searches >= S_MAX_PREEMPT_SEARCHES)
        return 0;
    /*  A victim chosen in this cycle stops: its room may be held for a later job.  */
    if (run->out->npreemptions)
        return 1;
    for (size_t p = 0; p < run->c->npools; p++)
        if (run->pool_stopping[p] || run->pool_min_prio[p] < prio
            || (run->params->policy == SP_POLICY_LAS && run->pool_max_las[p] > 0))
            return 1;
    return 0;
}

int
sp__reserve_for (sp__run_t *run, sp_job_t *job, sp__class_t *k, sp_wait_t *w)
{
    int rc = 0;
    if (run->params->preempt && job->ntasks > 0) {
        rc = s_preempt (run, job, k, w);
        if (rc != 0) {
            run->head_reserved = 1;
            return rc < 0 ? -1 : 0;
        }
    }
    if (!run->head_reserved) {
        run->head_reserved = 1;
        rc = s_reserve_head (run, job, k, w);
    }
    return rc < 0 ? -1 : 0;
}

int
sp__reserve_end (sp__run_t *run)
{
    sp_engine_t *e = run->e;
    if (st_vec_reserve ((void **) &e->resv, &e->capresv, run->nresv_cycle, sizeof *e->resv, SP__ARRAY_MAX) != 0)
        return -1;
    e->nresv = run->nresv_cycle;
    for (size_t i = 0; i < run->nresv_cycle; i++)
        e->resv[i] = (sp__resv_t) { run->rsv[i].job->id,
                                    run->rsv[i].start_s == SP__NO_TIME ? -1 : run->rsv[i].start_s, run->rsv[i].pool };
    free (run->rsv);
    free (run->victims);
    run->rsv = NULL;
    run->victims = NULL;
    return 0;
}
