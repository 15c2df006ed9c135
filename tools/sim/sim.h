/*  sim.h: trace replay through libstrata-policy in virtual time.
 *
 *  Events are job arrivals, job ends and (with tick_s) a periodic tick while
 *  jobs wait. All events at one instant are applied, then sp_schedule runs once
 *  with now_s = that instant; its placements and preemptions are applied as the
 *  policy.h contract says (the caller sets used_*, running, placed, start_s,
 *  attained_gpu_s). A preemption stops its victim at once (the checkpoint is
 *  taken at that instant) and the engine runs again at the same instant, so the
 *  job that asked for it can take the freed GPUs. A resumed job runs its
 *  remaining time plus restart_overhead_s.
 *
 *  Each trace row becomes one gang job (sim_shape): G GPUs (a fraction rounded
 *  up) on nodes of at most P GPUs is ceil(G/P) tasks of ceil(G/ntasks) GPUs. */
#ifndef SIM_H
#define SIM_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "sim_cluster.h"
#include "sim_trace.h"
#include "st_error.h"

typedef enum {
    SIM_LIMITS_NONE = 0, /*  time_limit_s = 0: backfill cannot plan around running jobs  */
    SIM_LIMITS_BUCKET,   /*  true duration + overhead rounded up to 1, 2, 4, 8... hours  */
} sim_limits_t;

typedef struct {
    sp_policy_t policy;
    double restart_overhead_s; /*  added to every resumed attempt  */
    double tick_s;             /*  > 0: also a cycle every tick_s while jobs wait  */
    sim_limits_t limits;
    int hide_durations;       /*  duration_s = 0 in every sp_job_t (check that only SJF reads it)  */
    int ignore_gpu_type;      /*  the trace's gpu_type column is not a constraint  */
    uint32_t task_cpus_milli; /*  per task  */
    uint64_t task_mem_mb;     /*  per task  */
} sim_opts_t;

void sim_opts_defaults (sim_opts_t *o, sp_policy_t policy);

/*  Tasks and GPUs per task for a job of `gpus` whole GPUs on nodes of at most
 *  node_gpus GPUs (node_gpus > 0).  */
void sim_shape (uint32_t gpus, uint32_t node_gpus, uint32_t *ntasks, uint32_t *gpus_per_task);

typedef struct {
    size_t jobs; /*  in the trace  */
    size_t finished;
    double avg_jct_s, median_jct_s, p99_jct_s;
    double avg_wait_s, p99_wait_s; /*  wait: first start - submit  */
    double makespan_s;             /*  last end - first submit  */
    double utilization;            /*  busy GPU-seconds / (GPUs x makespan)  */
    double busy_gpu_s;             /*  GPUs held x time held, restart overhead included  */
    uint32_t total_gpus;
    size_t rounded_up; /*  jobs whose fractional num_gpus was rounded up  */
    uint64_t preemptions;
    uint64_t cycles; /*  sp_schedule calls  */
    uint64_t placements;
    uint64_t backfilled; /*  placements the engine marked backfilled  */
    uint64_t stalls;     /*  instants where the engine kept preempting without end (cut at 100 cycles)  */
    double cycle_avg_ms, cycle_max_ms; /*  wall time inside sp_schedule  */
    double wall_s;                     /*  wall time of sim_run  */
} sim_summary_t;

typedef struct sim sim_t;

/*  Builds the jobs; refuses a job that no pool of the cluster could ever hold
 *  (naming its trace line). trace and cluster must outlive the sim.  */
sim_t *sim_new (const sim_trace_t *trace, sim_cluster_t *cluster, const sim_opts_t *opts, st_error_t *err);
void sim_free (sim_t **self_p);

/*  Replays the whole trace. ST_OK when every job finished; ST_ESTATE when
 *  some never could (err says which and why); other codes on an engine
 *  error or a broken engine contract (an over-full node, a stale job).  */
st_rc_t sim_run (sim_t *s, st_error_t *err);

void sim_summary (const sim_t *s, sim_summary_t *out);

/*  One CSV line per job: job_id,submit_s,start_s,end_s,jct_s,wait_s,gpus,
 *  preemptions,tasks,run_s (blank start/end/jct/wait for a job that never ran).  */
st_rc_t sim_write_jobs (const sim_t *s, const char *path, st_error_t *err);

#endif
