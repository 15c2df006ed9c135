/*  engine.c: one scheduling cycle (sp_schedule) and the engine's lifetime.
 *
 *  A cycle:
 *    1. builds the scratch model of the nodes (cycle.c) and the order of the
 *       pending jobs (share.c), charging running jobs' fair-share usage;
 *    2. takes the jobs in that order. For each: quota; its class (jobs with
 *       the same shape and constraints share the pool filter and, once one of
 *       them could not start, the verdict); the feasible pools, scored
 *       (score.c) for the first GPU type in the job's list that fits
 *       anywhere; the best pool's nodes (fit.c). A gang takes every task at
 *       once or nothing; shards take a pool each, all of them or none;
 *    3. a job that cannot start may preempt (reserve.c) and, the first such
 *       job, gets the EASY reservation that later jobs must respect;
 *    4. writes placements, preemptions and the waits with their reasons.
 *  Nothing the caller owns is changed: the caller applies the result. */
#include "policy_int.h"

#include <stdlib.h>
#include <string.h>

/*  ---------------------------------------------------------------------------
 *  Engine  */

sp_engine_t *
sp_engine_new (const sp_cluster_t *cluster)
{
    if (!cluster)
        return NULL;
    sp_engine_t *e = calloc (1, sizeof *e);
    if (!e)
        return NULL;
    e->c = cluster;
    e->last_charge_s = -INFINITY;
    if (!(e->usage = sp__usage_new ())) {
        free (e);
        return NULL;
    }
    return e;
}

void
sp_engine_free (sp_engine_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sp_engine_t *e = *self_p;
    sp__arena_free (&e->arena);
    sp__usage_free (&e->usage);
    free (e->cy.undo);
    free (e->resv);
    sp__kcache_clear (e);
    sp__intern_free (&e->tenant_names);
    sp__intern_free (&e->queue_names);
    free (e->memo);
    free (e->memo_next);
    free (e->mslots);
    free (e);
    *self_p = NULL;
}

void
sp_params_defaults (sp_params_t *p, sp_policy_t policy, double now_s)
{
    memset (p, 0, sizeof *p);
    p->policy = policy;
    p->now_s = now_s;
    p->preempt = policy == SP_POLICY_DEFAULT || policy == SP_POLICY_LAS;
    p->backfill = policy != SP_POLICY_FIFO;
    p->refresh = SP_REFRESH_ALL;
}

void
sp_usage_charge (sp_engine_t *e, const char *tenant, double gpu_seconds, double now_s)
{
    if (e)
        sp__usage_add (e->usage, tenant ? tenant : "default", gpu_seconds, now_s, e->c->usage_half_life_s);
}

double
sp_usage (const sp_engine_t *e, const char *tenant, double now_s)
{
    return e ? sp__usage_get (e->usage, tenant ? tenant : "default", now_s, e->c->usage_half_life_s) : 0;
}

double
sp_usage_charged_until (const sp_engine_t *e)
{
    return e ? e->last_charge_s : -INFINITY;
}

void
sp_result_clear (sp_result_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nplacements; i++)
        free (r->placements[i].nodes);
    free (r->placements);
    free (r->preemptions);
    free (r->waits);
    memset (r, 0, sizeof *r);
}

/*  ---------------------------------------------------------------------------
 *  Choosing pools  */

/*  Scores every allowed pool where ntasks tasks of job fit now, for the first
 *  GPU type in the job's list that fits anywhere. Returns the count, best first.  */
static size_t
s_candidates (sp__run_t *run, const sp_job_t *job, const sp__class_t *k, uint32_t ntasks, double end_s,
              const char **type_out)
{
    const sp_cluster_t *c = run->c;
    size_t ntypes = job->gpus && job->ngpu_types ? job->ngpu_types : 1;
    size_t n = 0;
    for (size_t t = 0; t < ntypes && n == 0; t++) {
        const char *type = job->gpus && job->ngpu_types ? job->gpu_types[t] : NULL;
        for (size_t p = 0; p < c->npools; p++) {
            const sp__pool_fig_t *f = &k->pools[p];
            sp__choice_t ch;
            if (!f->ok || !sp__fit_pool (run->cy, (int) p, job, type, ntasks, SP__AVAIL_NOW, end_s, 0, &ch))
                continue;
            sp_score_t *s = &run->cands[n++];
            memset (s, 0, sizeof *s);
            s->pool = (int) p;
            s->cost_per_hour = f->cost_per_hour;
            s->latency_ms = f->latency_ms;
            s->kwh_per_hour = f->kwh_per_hour;
            s->co2_g_per_hour = f->co2_g_per_hour;
            s->free_share = ch.packing;
            s->variant = f->variant;
        }
        *type_out = type;
    }
    if (n) {
        sp_weights_t w = sp__job_weights (job);
        sp__score_normalise (run->cands, n, &w);
        sp__score_sort (c, run->cands, n);
    }
    return n;
}

static int
s_commit (sp__run_t *run, const sp_job_t *job, const sp__choice_t *ch, sp_node_t **nodes, uint32_t *filled)
{
    for (size_t i = 0; i < ch->npicks; i++) {
        const sp__pick_t *pk = &ch->picks[i];
        uint32_t t = pk->tasks;
        if (sp__cycle_take (run->cy, pk->cnode, (int64_t) job->cpus_milli * t, (int64_t) job->mem_mb * t,
                            (int64_t) job->gpus * t, 1)
            != 0)
            return -1;
        for (uint32_t r = 0; r < t; r++)
            nodes[(*filled)++] = run->cy->cn[pk->cnode].node;
    }
    return 0;
}

static sp_placement_t *
s_new_placement (sp__run_t *run, sp_job_t *job)
{
    sp_result_t *out = run->out;
    if (st_vec_reserve ((void **) &out->placements, &out->caps[0], out->nplacements + 1, sizeof *out->placements,
                        SP__ARRAY_MAX)
        != 0)
        return NULL;
    sp_placement_t *p = &out->placements[out->nplacements];
    memset (p, 0, sizeof *p);
    /*  One block: ntasks node pointers, then ntasks variant pointers.  */
    size_t n = job->ntasks ? job->ntasks : 1;
    void *block = calloc (n, sizeof (sp_node_t *) + sizeof (sp_variant_t *));
    if (!block)
        return NULL;
    p->nodes = block;
    p->variants = (const sp_variant_t **) (p->nodes + n);
    p->job = job;
    out->nplacements++;
    return p;
}

static void
s_placement_reason (sp__run_t *run, sp_placement_t *pl, size_t ncand, size_t npools_used, size_t nnodes)
{
    const sp_cluster_t *c = run->c;
    const sp_score_t *s = &pl->score;
    size_t used = 0;
    char *r = pl->reason;
    const sp_job_t *job = pl->job;
    if (npools_used > 1)
        sp__catf (r, sizeof pl->reason, &used, "placed %u shards over %zu pools, first in %s", job->ntasks,
                  npools_used, c->pools[s->pool].name);
    else
        sp__catf (r, sizeof pl->reason, &used, "placed in pool %s on %zu node%s", c->pools[s->pool].name, nnodes,
                  nnodes == 1 ? "" : "s");
    if (ncand > 1)
        sp__catf (r, sizeof pl->reason, &used, " (best of %zu pools, score %.2f; next %s %.2f)", ncand, s->total,
                  c->pools[pl->runners_up[0].pool].name, pl->runners_up[0].total);
    else
        sp__catf (r, sizeof pl->reason, &used, " (the only pool with room)");
    sp__catf (r, sizeof pl->reason, &used, "; %.2f/h", s->cost_per_hour);
    if (job->near && s->latency_ms >= 0)
        sp__catf (r, sizeof pl->reason, &used, ", %g ms from %s", s->latency_ms, job->near);
    sp__catf (r, sizeof pl->reason, &used, ", %.0f g CO2/h", s->co2_g_per_hour);
    if (pl->variant)
        sp__catf (r, sizeof pl->reason, &used, "; model %s", pl->variant->name);
    if (pl->backfilled)
        sp__catf (r, sizeof pl->reason, &used, "; backfilled ahead of a reserved job");
}

static void
s_fill_estimate (sp__run_t *run, sp_placement_t *pl, const int *task_pool)
{
    sp_job_t *job = pl->job;
    double secs = job->time_limit_s ? job->time_limit_s : 3600.0;
    for (uint32_t t = 0; t < job->ntasks; t++) {
        double cost, kwh, co2;
        sp_estimate (run->c, task_pool[t], job, secs, &cost, &kwh, &co2);
        pl->est_cost += cost / job->ntasks;
        pl->est_kwh += kwh / job->ntasks;
        pl->est_co2_g += co2 / job->ntasks;
    }
}

/*  Places job now if it fits. Returns 1 placed, 0 not, -1 out of memory.  */
static int
s_try_place (sp__run_t *run, sp_job_t *job, sp__class_t *k)
{
    sp__cycle_t *cy = run->cy;
    double end_s = job->time_limit_s ? run->now + job->time_limit_s : SP__NO_TIME;
    const char *type;
    if (job->ntasks == 0)
        return 0;
    if (job->ntasks > run->task_pool_cap) {
        /*  Sized for the largest job seen so far; a larger one gets a larger array.  */
        int *bigger = sp__alloc_raw (cy->arena, job->ntasks * sizeof *bigger);
        if (!bigger)
            return -1;
        run->task_pool = bigger;
        run->task_pool_cap = job->ntasks;
    }
    if (job->gang || job->ntasks == 1) {
        size_t n = s_candidates (run, job, k, job->ntasks, end_s, &type);
        for (size_t i = 0; i < n; i++) {
            sp__choice_t ch;
            if (!sp__fit_pool (cy, run->cands[i].pool, job, type, job->ntasks, SP__AVAIL_NOW, end_s, 1, &ch))
                continue; /*  the quick look was optimistic; try the next pool  */
            sp_placement_t *pl = s_new_placement (run, job);
            if (!pl)
                return -1;
            uint32_t filled = 0;
            size_t mark = cy->nundo;
            if (s_commit (run, job, &ch, pl->nodes, &filled) != 0) {
                sp__cycle_undo (cy, mark);
                return -1;
            }
            cy->nundo = mark;
            pl->score = run->cands[i];
            pl->score.free_share = ch.packing;
            for (size_t r = 0; r < n && pl->nrunners_up < SP_RUNNERS_UP; r++)
                if (r != i)
                    pl->runners_up[pl->nrunners_up++] = run->cands[r];
            pl->variant = pl->score.variant;
            for (uint32_t t = 0; t < job->ntasks; t++)
                pl->variants[t] = pl->variant;
            int *pools = run->task_pool;
            for (uint32_t t = 0; t < job->ntasks; t++)
                pools[t] = pl->score.pool;
            s_fill_estimate (run, pl, pools);
            pl->backfilled = run->nresv_cycle > 0;
            s_placement_reason (run, pl, n, 1, ch.npicks);
            return 1;
        }
        return 0;
    }

    /*  Shards: task by task, each on the best pool with room; all or none.  */
    size_t mark = cy->nundo;
    sp_placement_t *pl = s_new_placement (run, job);
    if (!pl)
        return -1;
    uint32_t filled = 0;
    size_t npools_used = 0, ncand0 = 0;
    for (uint32_t t = 0; t < job->ntasks; t++) {
        size_t n = s_candidates (run, job, k, 1, end_s, &type);
        sp__choice_t ch;
        size_t i = 0;
        while (i < n && !sp__fit_pool (cy, run->cands[i].pool, job, type, 1, SP__AVAIL_NOW, end_s, 1, &ch))
            i++;
        if (i == n) {
            sp__cycle_undo (cy, mark);
            free (pl->nodes);
            run->out->nplacements--;
            return 0;
        }
        if (s_commit (run, job, &ch, pl->nodes, &filled) != 0) {
            sp__cycle_undo (cy, mark);
            free (pl->nodes);
            run->out->nplacements--;
            return -1;
        }
        int pool = run->cands[i].pool;
        run->task_pool[t] = pool;
        pl->variants[t] = run->cands[i].variant;
        int seen = 0;
        for (uint32_t u = 0; u < t && !seen; u++)
            seen = run->task_pool[u] == pool;
        npools_used += !seen;
        if (t == 0) {
            pl->score = run->cands[i];
            pl->score.free_share = ch.packing;
            for (size_t r = 0; r < n && pl->nrunners_up < SP_RUNNERS_UP; r++)
                if (r != i)
                    pl->runners_up[pl->nrunners_up++] = run->cands[r];
            ncand0 = n;
        }
    }
    cy->nundo = mark;
    pl->variant = pl->variants[0];
    s_fill_estimate (run, pl, run->task_pool);
    pl->backfilled = run->nresv_cycle > 0;
    s_placement_reason (run, pl, ncand0, npools_used, filled);
    return 1;
}

/*  ---------------------------------------------------------------------------
 *  Waiting  */

/*  A wait with the reason (len: its length when known, else SIZE_MAX).  */
static sp_wait_t *
s_wait_n (sp__run_t *run, sp_job_t *job, const char *reason, size_t len)
{
    sp_result_t *out = run->out;
    sp_wait_t *w = &out->waits[out->nwaits++];
    w->job = job;
    w->expected_start_s = -1;
    w->reservation = 0;
    if (len >= sizeof w->reason)
        sp__copy (w->reason, sizeof w->reason, reason);
    else
        memcpy (w->reason, reason, len + 1);
    return w;
}

static sp_wait_t *
s_wait (sp__run_t *run, sp_job_t *job, const char *reason)
{
    return s_wait_n (run, job, reason, SIZE_MAX);
}

/*  The tenant's quota stops a job needing `need` GPUs: the reason (cached per tenant), or NULL.  */
static const char *
s_quota_block (sp__run_t *run, sp__tenant_t *t, uint64_t need)
{
    if (t->quota < 0 || need == 0 || t->held_gpu + (int64_t) need <= t->quota)
        return NULL;
    if (t->quota_reason && t->quota_reason_held == t->held_gpu && t->quota_reason_need == need)
        return t->quota_reason;
    char buf[256];
    if (t->quota == 0)
        snprintf (buf, sizeof buf, "waiting: tenant %s has no GPU quota (0), so it may run only jobs without GPUs",
                  t->name);
    else if ((int64_t) need > t->quota)
        snprintf (buf, sizeof buf, "waiting: needs %llu GPU, more than tenant %s's GPU quota of %lld",
                  (unsigned long long) need, t->name, (long long) t->quota);
    else
        snprintf (buf, sizeof buf,
                  "waiting: tenant %s's GPU quota is %lld; its jobs hold %lld and this one needs %llu", t->name,
                  (long long) t->quota, (long long) t->held_gpu, (unsigned long long) need);
    t->quota_reason = sp__strdup (run->cy->arena, buf);
    t->quota_reason_held = t->held_gpu;
    t->quota_reason_need = need;
    return t->quota_reason ? t->quota_reason : "waiting: GPU quota";
}

static const char *
s_no_pool_reason (sp__run_t *run, const sp_job_t *job)
{
    const sp_cluster_t *c = run->c;
    char buf[512], why[200];
    size_t used = 0;
    if (c->npools == 0)
        return "waiting: the cluster has no pools (no node has registered)";
    sp__catf (buf, sizeof buf, &used, "waiting: no pool is allowed for this job");
    for (size_t p = 0; p < c->npools && p < 3; p++) {
        sp_filter_pool (c, (int) p, job, why, sizeof why);
        sp__catf (buf, sizeof buf, &used, "%s%s: %s", p ? "; " : " (", c->pools[p].name, why);
    }
    sp__catf (buf, sizeof buf, &used, "%s)", c->npools > 3 ? "; ..." : "");
    char *s = sp__strdup (run->cy->arena, buf);
    return s ? s : "waiting: no pool is allowed for this job";
}

/*  ---------------------------------------------------------------------------
 *  The cycle  */

static int
s_prepare_out (sp_result_t *out, size_t npending)
{
    for (size_t i = 0; i < out->nplacements; i++)
        free (out->placements[i].nodes);
    out->nplacements = out->npreemptions = out->nwaits = 0;
    out->jobs_considered = out->jobs_needed = out->refresh_left = 0;
    return st_vec_reserve ((void **) &out->waits, &out->caps[2], npending + 1, sizeof *out->waits, SP__ARRAY_MAX)
                   == ST_OK
               ? 0
               : -1;
}

/*  A cycle in a queue of at least S_BACKOFF_MIN_JOBS that needed 90% of it
 *  before it could stop makes the next S_BACKOFF_CYCLES walk all of it.  */
#define S_BACKOFF_MIN_JOBS 1000
#define S_BACKOFF_CYCLES 7

/*  The state of one walk of the order.  */
typedef struct {
    size_t placed;
    const sp_job_t *line_head; /*  strict order: the job everything waits behind  */
    char line_reason[160];
} s_walk_t;

/*  Can the walk stop before en? Exactly when no job from en on can start,
 *  preempt or take a reservation, so that stopping changes no placement,
 *  preemption or reservation (the order is by priority first: en's is the
 *  highest left). Under strict order, everything behind the line's head
 *  only waits. Otherwise: the EASY reservation is taken, every class with
 *  members left is dead (classes.c), and no preemption is possible.  */
static int
s_can_stop (const sp__run_t *run, const s_walk_t *wk, const sp__entry_t *en)
{
    if (wk->line_head)
        return 1;
    return run->head_reserved && run->live == 0 && !sp__reserve_can_preempt (run, en->prio);
}

/*  One job in the order: placed, or a wait with its reason (and maybe a
 *  reservation or preemptions). *kp: its class when it got that far.
 *  Returns 0, or -1 when out of memory.  */
static int
s_examine (sp__run_t *run, s_walk_t *wk, sp__entry_t *en, sp__class_t **kp)
{
    const sp_params_t *params = run->params;
    sp_job_t *job = en->job;
    if (wk->line_head) {
        s_wait (run, job, wk->line_reason);
        return 0;
    }
    sp__tenant_t *t = &run->order.tenants[en->tenant];
    const char *why = s_quota_block (run, t, en->gpus_total);
    if (why) {
        s_wait (run, job, why);
        return 0;
    }
    sp__class_t *k = sp__class_of (run, en);
    if (!k)
        return -1;
    *kp = k;
    if (k->nallowed == 0) {
        if (!k->reason)
            k->reason = (char *) s_no_pool_reason (run, job);
        s_wait (run, job, k->reason);
        return 0;
    }
    double end_s = en->end_s;
    if (!sp__class_fails_fast (k, end_s)) {
        int rc = s_try_place (run, job, k);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            wk->placed++;
            en->memo->placed = 1;
            sp__order_placed (&run->order, en->tenant, (int64_t) en->gpus_total);
            return 0;
        }
        /*  With reservations in place, would a member that ends before them
         *  fit? If not even that, no member can.  */
        const char *ignored;
        int always = run->nresv_cycle == 0
                     || s_candidates (run, job, k, job->gang ? job->ntasks : 1, run->now, &ignored) == 0;
        sp__class_failed (run, k, always ? SP__NO_TIME : end_s);
        k->fail_always |= always;
        if (!k->reason && sp__block_reason (run, job, k) != 0)
            return -1;
    }
    if (!k->reason_len)
        k->reason_len = strlen (k->reason);
    sp_wait_t *w = s_wait_n (run, job, k->reason, k->reason_len);
    if (k->never)
        return 0; /*  it could not run even on an idle cluster: it holds nobody up  */
    if (sp__reserve_wanted (run, k, en) && sp__reserve_for (run, job, k, w) < 0)
        return -1;
    if (!params->backfill) {
        wk->line_head = job;
        snprintf (wk->line_reason, sizeof wk->line_reason,
                  "waiting: jobs start in order and job %llu is first in line", (unsigned long long) job->id);
    }
    return 0;
}

int
sp_schedule (sp_engine_t *e, const sp_params_t *params, sp_node_t *const *nodes, size_t nnodes,
             sp_job_t *const *pending, size_t npending, sp_job_t *const *running, size_t nrunning, sp_result_t *out)
{
    sp__run_t run_, *run = &run_;
    memset (run, 0, sizeof *run);
    if (!e || !params || !out)
        return -1;
    sp__arena_reset (&e->arena);
    if (s_prepare_out (out, npending) != 0)
        goto oom;
    memset (run, 0, sizeof *run);
    run->e = e;
    run->c = e->c;
    run->params = params;
    run->now = params->now_s;
    run->cy = &e->cy;
    run->out = out;
    if (sp__cycle_build (&e->cy, e->c, params, &e->arena, nodes, nnodes, running, nrunning) != 0)
        goto oom;
    e->cycle_no++;
    sp__kcache_check (e);
    if (sp__order_build (&run->order, e, &e->arena, params, pending, npending, running, nrunning, e->cy.run_hold)
        != 0)
        goto oom;
    e->last_charge_s = params->now_s > e->last_charge_s ? params->now_s : e->last_charge_s;
    run->cands = sp__alloc (&e->arena, (e->c->npools + 1) * sizeof *run->cands);
    run->task_pool_cap = 64;
    run->task_pool = sp__alloc (&e->arena, run->task_pool_cap * sizeof *run->task_pool);
    if (!run->cands || !run->task_pool)
        goto oom;
    if (sp__reserve_begin (run) != 0)
        goto oom;

    /*  A long queue that could stop only near its end paid for the counting
     *  for nothing: the next cycles walk all of it, as with SP_REFRESH_ALL (the
     *  same decisions, and every job gets a wait).  */
    int stop_mode = params->refresh != SP_REFRESH_ALL && e->stop_backoff == 0;
    if (e->stop_backoff)
        e->stop_backoff--;
    if (stop_mode && sp__stop_count (run) != 0)
        goto oom;
    s_walk_t wk = { 0 };
    size_t pos = 0, win_lo = 0, win_hi = SIZE_MAX;
    int stopped = stop_mode ? 0 : -1; /*  -1: never stops  */
    sp__entry_t *en;
    while ((en = sp__order_next (&run->order)) != NULL) {
        if (params->max_placements && wk.placed >= params->max_placements) {
            out->refresh_left = run->order.nentries - pos;
            break;
        }
        if (stopped == 0 && run->live) {
            /*  Classes left without room die: look again as the walk goes,
             *  and at once when a placement has used up the room.  */
            int exhausted = 0;
            if (wk.placed != run->scan_placed) {
                run->scan_placed = wk.placed;
                exhausted = sp__stop_exhausted (run);
            }
            if (exhausted || pos >= run->next_scan)
                sp__stop_rescan (run, pos);
        }
        if (stopped == 0 && s_can_stop (run, &wk, en)) {
            /*  Nothing from here on can start, preempt or reserve: what is left
             *  is only each job's reason. Refresh a window of them.  */
            stopped = 1;
            out->jobs_needed = out->jobs_considered;
            win_lo = e->refresh_pos > pos && run->order.nentries - pos > params->refresh ? e->refresh_pos : pos;
            win_hi = win_lo + params->refresh < win_lo ? SIZE_MAX : win_lo + params->refresh;
        }
        /*  Past the stop, only the refresh window is examined.  */
        if (stopped == 1 && (pos < win_lo || pos >= win_hi)) {
            if (pos >= win_hi) {
                out->refresh_left = run->order.nentries - pos;
                break;
            }
            pos++;
            continue;
        }
        pos++;
        out->jobs_considered++;
        sp__kentry_t *ent0 = en->ent;
        sp__class_t *k = NULL;
        if (s_examine (run, &wk, en, &k) != 0)
            goto oom;
        if (stopped == 0)
            sp__stop_leave (run, ent0, k);
    }
    if (stopped != 1)
        out->jobs_needed = out->jobs_considered;
    if (stop_mode && run->order.nentries >= S_BACKOFF_MIN_JOBS && out->jobs_needed * 10 >= run->order.nentries * 9)
        e->stop_backoff = S_BACKOFF_CYCLES;
    /*  The next window starts where this one ended; a window that reached the
     *  end of the order starts the next round at the head.  */
    if (stopped == 1)
        e->refresh_pos = out->refresh_left ? win_hi : 0;
    else if (!out->refresh_left)
        e->refresh_pos = 0;
    if (sp__reserve_end (run) != 0)
        goto oom;
    return 0;
oom:
    free (run_.rsv);
    free (run_.victims);
    for (size_t i = 0; i < out->nplacements; i++)
        free (out->placements[i].nodes);
    out->nplacements = out->npreemptions = out->nwaits = 0;
    return -1;
}
