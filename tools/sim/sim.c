/*  sim.c: trace replay through libstrata-policy in virtual time (see sim.h).  */
#include "sim.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_time.h"

#define S_MAX_ROUNDS 100 /*  cycles at one instant before the sim moves on  */
#define S_DEFAULT_NAME "default"

typedef enum { J_FUTURE = 0, J_PENDING, J_RUNNING, J_DONE } s_state_t;

typedef struct {
    sp_job_t sp;
    const sim_row_t *row;
    const char *gpu_type[1];
    sp_node_t **placed; /*  ntasks slots; sp.placed points here while running  */
    s_state_t state;
    uint32_t gpus;        /*  held while running: ntasks x gpus per task  */
    double work_left_s;   /*  run time still to do  */
    double overhead_s;    /*  restart overhead of the current attempt  */
    double end_s;         /*  end of the current attempt; when done, the job's end  */
    double first_start_s; /*  < 0: never started  */
    double held_s;        /*  time holding GPUs, all attempts  */
    double prior_gpu_s;   /*  GPU-seconds of earlier attempts  */
    uint32_t preemptions;
    size_t slot; /*  index in pending or running  */
    size_t heap; /*  index in the end-time heap while running  */
} s_job_t;

struct sim {
    const sim_trace_t *trace;
    sim_cluster_t *cluster;
    sim_opts_t opts;
    sp_engine_t *engine;
    s_job_t *jobs;
    size_t njobs;
    size_t next_arrival;
    sp_node_t **nodes;
    size_t nnodes;
    sp_job_t **pending, **running;
    size_t npending, nrunning;
    s_job_t **heap; /*  running jobs, earliest end first  */
    size_t nheap;
    double now;
    sp_result_t res; /*  zeroed once, reused by every cycle  */
    sim_summary_t sum;
    uint64_t cycle_us, cycle_max_us;
    size_t rounded_up;
};

void
sim_opts_defaults (sim_opts_t *o, sp_policy_t policy)
{
    *o = (sim_opts_t) {
        .policy = policy,
        .restart_overhead_s = 30,
        .tick_s = 0,
        .limits = SIM_LIMITS_NONE,
        .task_cpus_milli = 1000,
        .task_mem_mb = 1024,
    };
}

void
sim_shape (uint32_t gpus, uint32_t node_gpus, uint32_t *ntasks, uint32_t *gpus_per_task)
{
    if (gpus <= node_gpus) {
        *ntasks = 1;
        *gpus_per_task = gpus;
        return;
    }
    *ntasks = (gpus + node_gpus - 1) / node_gpus;
    *gpus_per_task = (gpus + *ntasks - 1) / *ntasks;
}

/*  -- the end-time heap ----------------------------------------------------- */

static int
s_before (const s_job_t *a, const s_job_t *b)
{
    return a->end_s < b->end_s || (a->end_s == b->end_s && a->sp.id < b->sp.id);
}

static void
s_heap_set (sim_t *s, size_t i, s_job_t *j)
{
    s->heap[i] = j;
    j->heap = i;
}

static void
s_heap_up (sim_t *s, size_t i)
{
    s_job_t *j = s->heap[i];
    while (i > 0 && s_before (j, s->heap[(i - 1) / 2])) {
        s_heap_set (s, i, s->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    s_heap_set (s, i, j);
}

static void
s_heap_down (sim_t *s, size_t i)
{
    s_job_t *j = s->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->nheap)
            break;
        if (c + 1 < s->nheap && s_before (s->heap[c + 1], s->heap[c]))
            c++;
        if (!s_before (s->heap[c], j))
            break;
        s_heap_set (s, i, s->heap[c]);
        i = c;
    }
    s_heap_set (s, i, j);
}

static void
s_heap_push (sim_t *s, s_job_t *j)
{
    s->heap[s->nheap++] = j;
    s_heap_up (s, s->nheap - 1);
}

static void
s_heap_remove (sim_t *s, s_job_t *j)
{
    size_t i = j->heap;
    s_job_t *last = s->heap[--s->nheap];
    if (i == s->nheap)
        return;
    s_heap_set (s, i, last);
    s_heap_down (s, i);
    s_heap_up (s, last->heap);
}

/*  -- pending and running lists (order does not matter to the engine) -------- */

static void
s_list_add (sp_job_t **list, size_t *n, s_job_t *j)
{
    j->slot = *n;
    list[(*n)++] = &j->sp;
}

static void
s_list_remove (sp_job_t **list, size_t *n, s_job_t *j)
{
    sp_job_t *last = list[--*n];
    list[j->slot] = last;
    ((s_job_t *) last->owner)->slot = j->slot;
}

/*  -- building --------------------------------------------------------------- */

static uint32_t
s_limit_bucket (double seconds)
{
    double h = 3600;
    while (h < seconds && h < 1e9)
        h *= 2;
    return (uint32_t) h;
}

/*  Nodes of one pool that could hold one task of j when idle.  */
static size_t
s_fitting_nodes (const sim_t *s, const s_job_t *j, int pool)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nnodes; i++) {
        const sp_node_t *nd = s->nodes[i];
        if (nd->pool != pool || !nd->schedulable || nd->cap_gpus < j->sp.gpus || nd->cap_cpus_milli < j->sp.cpus_milli
            || nd->cap_mem_mb < j->sp.mem_mb)
            continue;
        if (j->sp.ngpu_types && j->sp.gpus > 0 && strcmp (nd->gpu_type, j->sp.gpu_types[0]) != 0)
            continue;
        n++;
    }
    return n;
}

static st_rc_t
s_check_feasible (const sim_t *s, const s_job_t *j, st_error_t *err)
{
    size_t best = 0;
    for (size_t p = 0; p < s->cluster->cluster->npools; p++) {
        size_t n = s_fitting_nodes (s, j, (int) p);
        best = n > best ? n : best;
    }
    if (best >= j->sp.ntasks)
        return ST_OK;
    char type[160] = "";
    if (j->sp.ngpu_types && j->sp.gpus > 0)
        snprintf (type, sizeof type, " of type '%s'", j->sp.gpu_types[0]);
    return st_error_set (err, ST_EINVAL, NULL,
                         "line %d: job %s can never run: it needs %u node%s with %u GPU%s%s, %.1f CPUs and %llu MiB "
                         "in one pool, and the best pool has %zu such node%s",
                         j->row->line, j->row->id, j->sp.ntasks, j->sp.ntasks == 1 ? "" : "s", j->sp.gpus,
                         j->sp.gpus == 1 ? "" : "s", type, j->sp.cpus_milli / 1000.0,
                         (unsigned long long) j->sp.mem_mb, best, best == 1 ? "" : "s");
}

/*  Shapes already found feasible (every task asks the same CPUs and memory).  */
typedef struct {
    uint32_t ntasks, gpus;
    const char *type; /*  NULL: any  */
} s_shape_t;

static int
s_shape_known (const s_shape_t *known, size_t n, const s_shape_t *sh)
{
    for (size_t i = 0; i < n; i++)
        if (known[i].ntasks == sh->ntasks && known[i].gpus == sh->gpus
            && (known[i].type == sh->type || (known[i].type && sh->type && strcmp (known[i].type, sh->type) == 0)))
            return 1;
    return 0;
}

sim_t *
sim_new (const sim_trace_t *trace, sim_cluster_t *cluster, const sim_opts_t *opts, st_error_t *err)
{
    s_shape_t feasible[32];
    size_t nfeasible = 0, ring = 0;
    sim_t *s = calloc (1, sizeof *s);
    if (!s) {
        st_error_set (err, ST_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    s->trace = trace;
    s->cluster = cluster;
    s->opts = *opts;
    s->njobs = trace->nrows;
    s->nnodes = cluster->nnodes;
    s->jobs = calloc (s->njobs ? s->njobs : 1, sizeof *s->jobs);
    s->nodes = calloc (s->nnodes ? s->nnodes : 1, sizeof *s->nodes);
    s->pending = calloc (s->njobs ? s->njobs : 1, sizeof *s->pending);
    s->running = calloc (s->njobs ? s->njobs : 1, sizeof *s->running);
    s->heap = calloc (s->njobs ? s->njobs : 1, sizeof *s->heap);
    s->engine = sp_engine_new (cluster->cluster);
    if (!s->jobs || !s->nodes || !s->pending || !s->running || !s->heap || !s->engine) {
        st_error_set (err, ST_ENOMEM, NULL, "out of memory");
        sim_free (&s);
        return NULL;
    }
    uint32_t node_gpus = 0;
    for (size_t i = 0; i < s->nnodes; i++) {
        s->nodes[i] = &cluster->nodes[i];
        if (cluster->nodes[i].schedulable) {
            s->sum.total_gpus += cluster->nodes[i].cap_gpus;
            node_gpus = cluster->nodes[i].cap_gpus > node_gpus ? cluster->nodes[i].cap_gpus : node_gpus;
        }
    }
    if (node_gpus == 0)
        node_gpus = 1; /*  no GPU anywhere: GPU jobs fail the feasibility check below  */
    for (size_t i = 0; i < s->njobs; i++) {
        s_job_t *j = &s->jobs[i];
        const sim_row_t *r = &trace->rows[i];
        uint32_t gpus = (uint32_t) ceil (r->num_gpus);
        if ((double) gpus != r->num_gpus)
            s->rounded_up++;
        j->row = r;
        j->first_start_s = -1;
        j->work_left_s = r->duration_s;
        sp_job_t *sp = &j->sp;
        sp->id = (uint64_t) i + 1;
        sp->tenant = r->user ? r->user : S_DEFAULT_NAME;
        sp->queue = r->queue ? r->queue : S_DEFAULT_NAME;
        sp->preemptible = 1;
        sp->gang = 1;
        sim_shape (gpus, node_gpus, &sp->ntasks, &sp->gpus);
        j->gpus = sp->ntasks * sp->gpus;
        sp->cpus_milli = opts->task_cpus_milli;
        sp->mem_mb = opts->task_mem_mb;
        if (r->gpu_type && !opts->ignore_gpu_type) {
            j->gpu_type[0] = r->gpu_type;
            sp->gpu_types = j->gpu_type;
            sp->ngpu_types = 1;
        }
        sp_weights_for_prefer ("balanced", &sp->weights);
        sp->classification = SP_CLASS_PUBLIC;
        if (opts->limits == SIM_LIMITS_BUCKET)
            sp->time_limit_s = s_limit_bucket (r->duration_s + opts->restart_overhead_s);
        sp->submit_s = r->submit_s;
        sp->duration_s = opts->hide_durations ? 0 : r->duration_s;
        sp->owner = j;
        j->placed = calloc (sp->ntasks, sizeof *j->placed);
        if (!j->placed) {
            st_error_set (err, ST_ENOMEM, NULL, "out of memory");
            sim_free (&s);
            return NULL;
        }
        s_shape_t sh = { sp->ntasks, sp->gpus, sp->ngpu_types && sp->gpus ? sp->gpu_types[0] : NULL };
        if (s_shape_known (feasible, nfeasible, &sh))
            continue;
        if (s_check_feasible (s, j, err) != ST_OK) {
            sim_free (&s);
            return NULL;
        }
        feasible[ring++ % 32] = sh;
        if (nfeasible < 32)
            nfeasible++;
    }
    return s;
}

void
sim_free (sim_t **self_p)
{
    sim_t *s = self_p ? *self_p : NULL;
    if (!s)
        return;
    for (size_t i = 0; s->jobs && i < s->njobs; i++)
        free (s->jobs[i].placed);
    free (s->jobs);
    free (s->nodes);
    free (s->pending);
    free (s->running);
    free (s->heap);
    sp_result_clear (&s->res);
    sp_engine_free (&s->engine);
    free (s);
    *self_p = NULL;
}

/*  -- applying the engine's decisions ------------------------------------------ */

/*  Fair-share usage of j's current attempt that sp_schedule has not charged yet.  */
static void
s_charge_rest (sim_t *s, s_job_t *j)
{
    double from = sp_usage_charged_until (s->engine);
    if (from < j->sp.start_s)
        from = j->sp.start_s;
    if (s->now > from)
        sp_usage_charge (s->engine, j->sp.tenant, (s->now - from) * j->gpus, s->now);
}

/*  Task t of j takes its node (placed[t]) or gives it back.  */
static void
s_task_hold (s_job_t *j, uint32_t t, int take)
{
    if (take) {
        sp_node_take (j->placed[t], &j->sp);
        return;
    }
    sp_node_give (j->placed[t], &j->sp);
    j->placed[t] = NULL;
}

/*  j leaves its nodes at s->now (it ended or was preempted).  */
static void
s_release (sim_t *s, s_job_t *j)
{
    for (uint32_t t = 0; t < j->sp.ntasks; t++)
        s_task_hold (j, t, 0);
    double held = s->now - j->sp.start_s;
    s_charge_rest (s, j);
    j->held_s += held;
    j->prior_gpu_s += held * j->gpus;
    s->sum.busy_gpu_s += held * j->gpus;
    j->sp.attained_gpu_s = j->prior_gpu_s;
    j->sp.running = 0;
    j->sp.stopping = 0;
    j->sp.placed = NULL;
    s_list_remove (s->running, &s->nrunning, j);
    s_heap_remove (s, j);
}

static void
s_finish (sim_t *s, s_job_t *j)
{
    s_release (s, j);
    j->work_left_s = 0;
    j->end_s = s->now;
    j->state = J_DONE;
    s->sum.finished++;
}

static st_rc_t
s_preempt (sim_t *s, const sp_preemption_t *p, st_error_t *err)
{
    s_job_t *j = p->victim ? p->victim->owner : NULL;
    if (!j || j->state != J_RUNNING)
        return st_error_set (err, ST_ESTATE, NULL, "t=%.0f: the engine preempted job %s, which is not running",
                             s->now, j ? j->row->id : "(null)");
    double done = s->now - j->sp.start_s - j->overhead_s; /*  useful work of this attempt  */
    if (done > 0)
        j->work_left_s = j->work_left_s > done ? j->work_left_s - done : 0;
    s_release (s, j);
    j->preemptions++;
    j->state = J_PENDING;
    s_list_add (s->pending, &s->npending, j);
    s->sum.preemptions++;
    return ST_OK;
}

static st_rc_t
s_place (sim_t *s, const sp_placement_t *p, st_error_t *err)
{
    s_job_t *j = p->job ? p->job->owner : NULL;
    if (!j || j->state != J_PENDING)
        return st_error_set (err, ST_ESTATE, NULL, "t=%.0f: the engine placed job %s, which is not pending", s->now,
                             j ? j->row->id : "(null)");
    for (uint32_t t = 0; t < j->sp.ntasks; t++) {
        sp_node_t *nd = p->nodes[t];
        if (!nd || !nd->schedulable || nd->used_gpus + j->sp.gpus > nd->cap_gpus
            || nd->used_cpus_milli + j->sp.cpus_milli > nd->cap_cpus_milli
            || nd->used_mem_mb + j->sp.mem_mb > nd->cap_mem_mb
            || (j->sp.ngpu_types && j->sp.gpus && strcmp (nd->gpu_type, j->sp.gpu_types[0]) != 0)) {
            /*  Undo the tasks already placed, then report.  */
            for (uint32_t u = 0; u < t; u++)
                s_task_hold (j, u, 0);
            return st_error_set (err, ST_ESTATE, NULL,
                                 "t=%.0f: the engine placed task %u of job %s (%u GPUs) on node %s, which cannot "
                                 "hold it (GPUs %u of %u used)",
                                 s->now, t, j->row->id, j->sp.gpus, nd ? nd->name : "(null)", nd ? nd->used_gpus : 0,
                                 nd ? nd->cap_gpus : 0);
        }
        j->placed[t] = nd;
        s_task_hold (j, t, 1);
    }
    s_list_remove (s->pending, &s->npending, j);
    j->state = J_RUNNING;
    j->sp.running = 1;
    j->sp.placed = j->placed;
    j->sp.start_s = s->now;
    j->overhead_s = j->first_start_s >= 0 ? s->opts.restart_overhead_s : 0;
    if (j->first_start_s < 0)
        j->first_start_s = s->now;
    j->end_s = s->now + j->work_left_s + j->overhead_s;
    s_list_add (s->running, &s->nrunning, j);
    s_heap_push (s, j);
    s->sum.placements++;
    if (p->backfilled)
        s->sum.backfilled++;
    return ST_OK;
}

/*  One instant: cycles until the engine has nothing more to do at s->now.  */
static st_rc_t
s_cycles (sim_t *s, st_error_t *err)
{
    for (int round = 0;; round++) {
        if (round == S_MAX_ROUNDS) {
            s->sum.stalls++;
            return ST_OK;
        }
        sp_params_t params;
        sp_params_defaults (&params, s->opts.policy, s->now);
        params.refresh = 0; /*  placements only: waits' reasons are read by s_stuck, a full cycle  */
        sp_result_t *res = &s->res;
        uint64_t t0 = st_mono_us ();
        int rc = sp_schedule (s->engine, &params, s->nodes, s->nnodes, s->pending, s->npending, s->running,
                              s->nrunning, res);
        uint64_t us = st_mono_us () - t0;
        s->cycle_us += us;
        s->cycle_max_us = us > s->cycle_max_us ? us : s->cycle_max_us;
        s->sum.cycles++;
        if (rc != 0)
            return st_error_set (err, ST_ENOMEM, NULL, "t=%.0f: sp_schedule failed (out of memory)", s->now);
        st_rc_t r = ST_OK;
        for (size_t i = 0; i < res->nplacements && r == ST_OK; i++)
            r = s_place (s, &res->placements[i], err);
        for (size_t i = 0; i < res->npreemptions && r == ST_OK; i++)
            r = s_preempt (s, &res->preemptions[i], err);
        int again = res->npreemptions > 0 || (params.max_placements && res->nplacements >= params.max_placements);
        if (r != ST_OK)
            return r;
        if (!again || s->npending == 0)
            return ST_OK;
    }
}

/*  Why the jobs still pending can never start: one more cycle's reasons.  */
static st_rc_t
s_stuck (sim_t *s, st_error_t *err)
{
    sp_params_t params;
    sp_params_defaults (&params, s->opts.policy, s->now);
    sp_result_t *res = &s->res;
    const s_job_t *j = s->pending[0]->owner;
    const char *why = "no reason given";
    if (sp_schedule (s->engine, &params, s->nodes, s->nnodes, s->pending, s->npending, s->running, s->nrunning, res)
        == 0)
        for (size_t i = 0; i < res->nwaits; i++)
            if (res->waits[i].job == &j->sp)
                why = res->waits[i].reason;
    st_error_set (err, ST_ESTATE, NULL,
                  "%zu job%s never started on an idle cluster (the policy left them waiting); e.g. line %d, job %s: "
                  "%s",
                  s->npending, s->npending == 1 ? "" : "s", j->row->line, j->row->id, why);
    return ST_ESTATE;
}

st_rc_t
sim_run (sim_t *s, st_error_t *err)
{
    uint64_t t0 = st_mono_us ();
    st_rc_t rc = ST_OK;
    double next_tick = INFINITY;
    while (rc == ST_OK) {
        double t = INFINITY;
        if (s->next_arrival < s->njobs)
            t = s->jobs[s->next_arrival].row->submit_s;
        if (s->nheap && s->heap[0]->end_s < t)
            t = s->heap[0]->end_s;
        if (isinf (t)) {
            if (s->npending)
                rc = s_stuck (s, err);
            break;
        }
        if (s->npending && s->opts.tick_s > 0 && next_tick < t)
            t = next_tick;
        s->now = t;
        while (s->nheap && s->heap[0]->end_s <= t)
            s_finish (s, s->heap[0]);
        while (s->next_arrival < s->njobs && s->jobs[s->next_arrival].row->submit_s <= t) {
            s_job_t *j = &s->jobs[s->next_arrival++];
            j->state = J_PENDING;
            s_list_add (s->pending, &s->npending, j);
        }
        rc = s_cycles (s, err);
        if (s->opts.tick_s > 0)
            next_tick = (floor (t / s->opts.tick_s) + 1) * s->opts.tick_s;
    }
    s->sum.wall_s = (double) (st_mono_us () - t0) / 1e6;
    return rc;
}

/*  -- results --------------------------------------------------------------------- */

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static double
s_median (const double *v, size_t n)
{
    return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*  Nearest rank: the smallest value with at least 99% of the values at or below it.  */
static double
s_p99 (const double *v, size_t n)
{
    if (n == 0)
        return 0;
    size_t k = (size_t) ceil (0.99 * (double) n);
    return v[k ? k - 1 : 0];
}

void
sim_summary (const sim_t *s, sim_summary_t *out)
{
    *out = s->sum;
    out->jobs = s->njobs;
    out->rounded_up = s->rounded_up;
    double *jct = calloc (s->njobs ? s->njobs : 1, sizeof *jct);
    double *wait = calloc (s->njobs ? s->njobs : 1, sizeof *wait);
    size_t n = 0;
    double first = INFINITY, last = 0, sum_jct = 0, sum_wait = 0;
    for (size_t i = 0; i < s->njobs; i++) {
        const s_job_t *j = &s->jobs[i];
        first = j->row->submit_s < first ? j->row->submit_s : first;
        if (j->state != J_DONE)
            continue;
        last = j->end_s > last ? j->end_s : last;
        if (jct && wait) {
            jct[n] = j->end_s - j->row->submit_s;
            wait[n] = j->first_start_s - j->row->submit_s;
            sum_jct += jct[n];
            sum_wait += wait[n];
        }
        n++;
    }
    if (jct && wait && n) {
        out->avg_jct_s = sum_jct / (double) n;
        out->avg_wait_s = sum_wait / (double) n;
        qsort (jct, n, sizeof *jct, s_cmp_double);
        qsort (wait, n, sizeof *wait, s_cmp_double);
        out->median_jct_s = s_median (jct, n);
        out->p99_jct_s = s_p99 (jct, n);
        out->p99_wait_s = s_p99 (wait, n);
    }
    out->makespan_s = n && last > first ? last - first : 0;
    out->utilization =
        out->makespan_s > 0 && out->total_gpus ? out->busy_gpu_s / ((double) out->total_gpus * out->makespan_s) : 0;
    out->cycle_avg_ms = s->sum.cycles ? (double) s->cycle_us / (double) s->sum.cycles / 1000 : 0;
    out->cycle_max_ms = (double) s->cycle_max_us / 1000;
    free (jct);
    free (wait);
}

/*  A CSV field: quoted when it holds a comma, quote or line break.  */
static void
s_csv_field (FILE *f, const char *v)
{
    if (!strpbrk (v, ",\"\r\n")) {
        fputs (v, f);
        return;
    }
    fputc ('"', f);
    for (; *v; v++) {
        if (*v == '"')
            fputc ('"', f);
        fputc (*v, f);
    }
    fputc ('"', f);
}

st_rc_t
sim_write_jobs (const sim_t *s, const char *path, st_error_t *err)
{
    FILE *f = fopen (path, "w");
    if (!f)
        return st_error_set (err, ST_EIO, NULL, "%s: %s", path, strerror (errno));
    fputs ("job_id,submit_s,start_s,end_s,jct_s,wait_s,gpus,preemptions,tasks,run_s\n", f);
    for (size_t i = 0; i < s->njobs; i++) {
        const s_job_t *j = &s->jobs[i];
        s_csv_field (f, j->row->id);
        fprintf (f, ",%.3f,", j->row->submit_s);
        if (j->state == J_DONE)
            fprintf (f, "%.3f,%.3f,%.3f,%.3f", j->first_start_s, j->end_s, j->end_s - j->row->submit_s,
                     j->first_start_s - j->row->submit_s);
        else
            fputs (",,,", f);
        fprintf (f, ",%u,%u,%u,%.3f\n", j->gpus, j->preemptions, j->sp.ntasks, j->held_s);
    }
    int bad = ferror (f);
    if (fclose (f) != 0 || bad)
        return st_error_set (err, ST_EIO, NULL, "%s: write error", path);
    return ST_OK;
}
