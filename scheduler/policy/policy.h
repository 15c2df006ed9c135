/*  policy.h: libstrata-policy, Strata's placement engine.
 *
 *  Pure C over in-memory structs: no sockets, no SQL, no clock reads (time is
 *  passed in as seconds), so strata-scheduler, strata-sim and the tests run the
 *  same code. The caller owns every node and job struct and keeps them between
 *  cycles; the engine keeps only fair-share usage and its scratch memory.
 *
 *  One decision weighs, in this order:
 *
 *    1. hard constraints, never broken (sp_filter): data classification <= pool
 *       clearance; pool jurisdiction in the job's residency; allowed site kinds;
 *       pool name; node labels; GPU type in the job's list; max latency from the
 *       job's `near` region; a model variant allowed in the pool's jurisdiction.
 *    2. order of the pending jobs: priority, then the policy (weighted fair share
 *       with usage decay and queue weights for the default policy; submit time
 *       for FIFO; attained service for LAS; known duration for the SJF oracle).
 *       Per-tenant GPU quotas hold a job back whatever its place in the order.
 *    3. gangs: every task of a gang job in one pool, all at once or none; fewest
 *       nodes first, then one `rack` / `nvlink_domain` label value. Shards
 *       (gang == 0) are placed task by task and may spread over pools.
 *    4. score of each feasible pool (lower is better): cost, latency to `near`,
 *       energy, carbon, packing; each term normalised over the candidates and
 *       combined with the job's weights (sp_weights_for_prefer).
 *    5. preemption (when params->preempt): a job that cannot fit may stop the
 *       cheapest set of lower-priority preemptible running jobs in one pool;
 *       it waits for them with a reservation.
 *    6. EASY backfill: the first job that cannot start gets a reservation (the
 *       earliest time its resources free up, from running jobs' start +
 *       time_limit); a later job may start now only if it ends before that
 *       time or leaves the reserved resources alone.
 *
 *  Every job the cycle looks at gets a reason in words a user understands
 *  (with params->refresh below SP_REFRESH_ALL it stops looking once nothing
 *  further can start: docs/placement-internals.md),
 *  and every placement carries its score against the runners-up (sp_explain_*).
 *
 *  docs/placement.md is the reference (cluster file, rules, formulas),
 *  docs/placement-internals.md the code, docs/performance.md the figures.
 *
 *  Changes since the first version of this header (names and meanings kept):
 *    - sp_placement_t.variants: each task's model variant (shards spread over
 *      jurisdictions may differ); .variant stays task 0's.
 *    - sp_wait_t.reservation: 1 when resources are held back for the job.
 *    - sp_score_t.free_share: the raw packing figure.
 *    - sp_usage_charged_until(): where sp_schedule's charging of running jobs
 *      stopped, so a caller charges only the rest when an attempt ends.
 *    - sp_result_t is reused: zero it once; sp_schedule recycles its arrays.
 *    - sp_filter_pool/sp_filter_node accept buf == NULL (no words, just the verdict).
 *    - attained_gpu_s: attempts that have ended only (see sp_job_t).
 *    - a waiting job must not change between cycles (see sp_job_t).
 *    - sp_params_t.refresh and the early stop: a cycle examines jobs until
 *      none further can start, preempt or reserve, plus a refresh window;
 *      sp_result_t.jobs_needed, refresh_left. */
#ifndef SP_POLICY_H
#define SP_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "st_error.h"
#include "st_kv.h"
#include "st_vocab.h"

/*  -- vocabulary ------------------------------------------------------------ */

/*  Site kinds and data classifications are the base vocabulary (st_vocab.h);
 *  the sp_ names are kept for the engine's callers.  */
typedef st_site_t sp_site_t;
#define SP_SITE_ONPREM ST_SITE_ONPREM
#define SP_SITE_PRIVATE_CLOUD ST_SITE_PRIVATE_CLOUD
#define SP_SITE_PUBLIC_CLOUD ST_SITE_PUBLIC_CLOUD
#define SP_SITE_EDGE ST_SITE_EDGE
#define SP_SITE__COUNT ST_SITE__COUNT

/*  public < internal < confidential < restricted  */
typedef st_class_t sp_class_t;
#define SP_CLASS_PUBLIC ST_CLASS_PUBLIC
#define SP_CLASS_INTERNAL ST_CLASS_INTERNAL
#define SP_CLASS_CONFIDENTIAL ST_CLASS_CONFIDENTIAL
#define SP_CLASS_RESTRICTED ST_CLASS_RESTRICTED
#define SP_CLASS__COUNT ST_CLASS__COUNT

typedef enum {
    SP_POLICY_DEFAULT = 0, /*  priority, fair share, backfill, preemption  */
    SP_POLICY_FIFO,        /*  submit order, head-of-line blocking  */
    SP_POLICY_BACKFILL,    /*  FIFO with EASY backfill  */
    SP_POLICY_LAS,         /*  least attained service first, with preemption (Tiresias-like)  */
    SP_POLICY_SJF,         /*  shortest known duration first: an oracle, for comparison only  */
    SP_POLICY__COUNT
} sp_policy_t;

#define sp_site_name st_site_name
#define sp_site_parse st_site_parse /*  0 on success  */
#define sp_class_name st_class_name
#define sp_class_parse st_class_parse
const char *sp_policy_name (sp_policy_t p);
int sp_policy_parse (const char *name, sp_policy_t *out);

/*  -- cluster description (cluster.c) ---------------------------------------
 *
 *  A YAML or JSON file (docs/placement.md has the format, examples/cluster.yaml
 *  a sample): regions and their latency table, pools, the model registry,
 *  queues, tenants and fair-share settings. */

typedef struct {
    char *name;
    sp_site_t site;
    char *region;
    int region_idx;          /*  index into sp_cluster_t.regions  */
    char *jurisdiction;      /*  e.g. "EU", "US", "CN", "SA"  */
    sp_class_t clearance;    /*  highest data classification it may hold  */
    double cost_gpu_hour;    /*  price of one GPU for one hour  */
    double cost_cpu_hour;    /*  price of one CPU core for one hour  */
    double pue;              /*  power usage effectiveness, >= 1  */
    double carbon_g_per_kwh; /*  grid carbon intensity  */
    double gpu_watts;        /*  draw of one busy GPU  */
    double cpu_watts;        /*  draw of one busy CPU core  */
    char *storage_root;
    int implicit; /*  not in the file: added for a node's unknown pool, with safe defaults  */
} sp_pool_t;

typedef struct {
    char *name;           /*  unique across the registry  */
    char **jurisdictions; /*  where it may run  */
    size_t njurisdictions;
    char *uri; /*  weights location, or NULL  */
} sp_variant_t;

typedef struct {
    char *name;
    sp_variant_t *variants; /*  in order of preference  */
    size_t nvariants;
} sp_family_t;

typedef struct {
    char *name;
    double weight; /*  share of the cluster relative to other queues (> 0)  */
} sp_queue_t;

typedef struct {
    char *name;
    double weight;     /*  fair-share weight (> 0)  */
    int64_t gpu_quota; /*  most GPUs its running jobs may hold; -1: no quota  */
    /*  submission caps, enforced by the scheduler at submit (not by the engine)  */
    int has_max_priority;
    int32_t max_priority; /*  highest priority a submission may ask for, when has_max_priority  */
    int has_max_pending;
    int64_t max_pending; /*  most jobs not yet running (PENDING) at once, when has_max_pending  */
} sp_tenant_t;

typedef struct {
    char **regions;
    size_t nregions;
    double *latency_ms; /*  nregions x nregions, row = from; < 0: unknown  */
    sp_pool_t *pools;
    size_t npools;
    size_t cappools; /*  room in pools (st_vec)  */
    sp_family_t *families;
    size_t nfamilies;
    sp_queue_t *queues; /*  a queue not listed has weight 1  */
    size_t nqueues;
    sp_tenant_t *tenants; /*  a tenant not listed has weight 1 and no quota  */
    size_t ntenants;
    double usage_half_life_s; /*  fair-share usage decay (default 1 day)  */
} sp_cluster_t;

/*  Parses and validates a cluster file's text; every error names the field
 *  ("pools[2].clearance: ..."). Caller frees with sp_cluster_free.  */
sp_cluster_t *sp_cluster_parse (const char *text, size_t len, st_error_t *err);
sp_cluster_t *sp_cluster_load (const char *path, st_error_t *err);
/*  An empty cluster (no pools, no models): every pool is implicit.  */
sp_cluster_t *sp_cluster_new (void);
void sp_cluster_free (sp_cluster_t **self_p);
/*  Index of the pool, or -1.  */
int sp_cluster_pool (const sp_cluster_t *c, const char *name);
/*  Index of the pool, adding an implicit one (site onprem, clearance public,
 *  no jurisdiction, no region, zero prices) when the file does not name it.
 *  Returns -1 only when out of memory.  */
int sp_cluster_pool_add_implicit (sp_cluster_t *c, const char *name);
/*  Latency between two regions in ms, or -1 when unknown. A pair written one
 *  way in the file holds both ways; a region to itself is 0.  */
double sp_cluster_latency (const sp_cluster_t *c, const char *from_region, const char *to_region);
const sp_tenant_t *sp_cluster_tenant (const sp_cluster_t *c, const char *name); /*  or NULL  */
double sp_cluster_queue_weight (const sp_cluster_t *c, const char *name);

/*  The variant a job asking for `model` (a family, a variant name, or "auto")
 *  may use in a pool of jurisdiction `jur`, or NULL when none is allowed there.  */
const sp_variant_t *sp_cluster_variant (const sp_cluster_t *c, const char *model, const char *jur);

/*  -- nodes and jobs (owned by the caller) ---------------------------------- */

typedef struct sp_node {
    const char *name;
    int pool;              /*  index into the cluster's pools  */
    const char *gpu_type;  /*  "" when it has no GPU  */
    const st_kv_t *labels; /*  may be NULL; `rack` and `nvlink_domain` group gang ranks  */
    uint32_t cap_cpus_milli;
    uint64_t cap_mem_mb;
    uint32_t cap_gpus;
    uint32_t used_cpus_milli; /*  held by running/starting tasks (the caller keeps these)  */
    uint64_t used_mem_mb;
    uint32_t used_gpus;
    int schedulable;      /*  up, connected and taking tasks  */
    const char *refusing; /*  why an up node takes no new tasks (it is then not schedulable); NULL: none  */
    void *owner;          /*  the caller's node  */
} sp_node_t;

typedef struct {
    double cost;
    double latency;
    double energy;
    double carbon;
    double packing;
} sp_weights_t;

/*  prefer: "cost", "latency", "energy", "balanced" (also NULL). -1 if unknown.  */
int sp_weights_for_prefer (const char *prefer, sp_weights_t *out);

/*  While a job waits (between the cycles that see it pending) it must not
 *  change: the engine recognises it by its pointer, id and the fields up to
 *  `gpus` (read every cycle) and remembers the rest (its class, its place in
 *  the order). A job that comes back after running is read afresh. To change
 *  a waiting job's constraints, give it a new sp_job_t or a new id.  */
typedef struct sp_job {
    uint64_t id;
    const char *tenant;
    const char *queue;
    int32_t priority; /*  higher first (every policy)  */
    int preemptible;
    int gang;                     /*  1: all tasks at once in one pool; 0: independent shards (placed
                                    task by task, possibly over pools, but all in the same cycle)  */
    uint32_t ntasks;              /*  ranks or shards  */
    uint32_t cpus_milli;          /*  per task  */
    uint64_t mem_mb;              /*  per task  */
    uint32_t gpus;                /*  per task  */
    const char *const *gpu_types; /*  preference order; ngpu_types 0: any  */
    size_t ngpu_types;
    unsigned sites;          /*  bit (1u << sp_site_t) per allowed site kind; 0: any  */
    const char *pool;        /*  NULL: any pool  */
    const st_kv_t *labels;   /*  node labels that must match; may be NULL  */
    const char *near;        /*  region the job wants to be close to, or NULL  */
    uint32_t max_latency_ms; /*  0: no limit (needs near)  */
    sp_weights_t weights;    /*  all zero: balanced  */
    sp_class_t classification;
    const char *const *residency; /*  allowed jurisdictions; nresidency 0: any  */
    size_t nresidency;
    const char *model;     /*  NULL: none; "auto"; a family; or a variant  */
    uint32_t time_limit_s; /*  0: none (backfill cannot plan around it)  */
    double submit_s;
    double duration_s; /*  the true run time: read only by SP_POLICY_SJF (simulator)  */

    /*  Kept by the caller between cycles.  */
    int running;           /*  placed and holding its nodes' resources  */
    int stopping;          /*  a preemption was asked for; still holds its resources  */
    double start_s;        /*  when the current attempt started  */
    double attained_gpu_s; /*  GPU-seconds served by attempts that have ENDED (LAS, and the default
                                    policy's order); the engine adds a running job's current attempt
                                    (gpus x ntasks x (now - start_s)) itself  */
    sp_node_t **placed;    /*  ntasks entries while running; an entry may be NULL once that task
                                    has let go of its resources  */

    void *owner; /*  the caller's job  */
} sp_job_t;

/*  -- one scheduling cycle --------------------------------------------------- */

typedef struct {
    sp_policy_t policy;
    double now_s;
    int preempt;             /*  allow preemption (default policy, LAS)  */
    int backfill;            /*  EASY backfill (default, backfill, las, sjf). 0: jobs start strictly
                                    in order; the first that cannot start holds up the rest (fifo)  */
    uint32_t max_placements; /*  stop after this many placements in one cycle; 0: no limit  */
    uint32_t refresh;        /*  jobs examined past the point where no job further in the order can
                                    start, preempt or take a reservation, as a window that resumes
                                    where the last cycle's ended; SP_REFRESH_ALL: every job  */
} sp_params_t;

/*  sp_params_t.refresh. Where a cycle stops changes no decision: it only
 *  leaves the jobs it did not examine without a wait (their last reason
 *  stands). The defaults examine every job; the scheduler uses the window.  */
#define SP_REFRESH_ALL UINT32_MAX
#define SP_REFRESH_WINDOW 256

void sp_params_defaults (sp_params_t *p, sp_policy_t policy, double now_s);

/*  One scored term set. Terms are normalised to [0, 1] over the candidates
 *  (0 best); `total` is the weighted sum; raw figures are per hour of the
 *  whole job (all tasks) in that pool; latency_ms < 0: unknown.  */
typedef struct {
    int pool;
    double cost, latency, energy, carbon, packing, total;
    double cost_per_hour, latency_ms, kwh_per_hour, co2_g_per_hour;
    double free_share; /*  raw packing: mean share of the picked nodes left free (0: full)  */
    const sp_variant_t *variant;
} sp_score_t;

#define SP_RUNNERS_UP 3

typedef struct {
    sp_job_t *job;
    sp_node_t **nodes; /*  ntasks nodes (owned by the result)  */
    sp_score_t score;  /*  the chosen pool (gang; task 0 for shards)  */
    sp_score_t runners_up[SP_RUNNERS_UP];
    size_t nrunners_up;
    const sp_variant_t *variant;         /*  chosen model variant (task 0's), NULL when the job names none  */
    const sp_variant_t **variants;       /*  ntasks entries: each task's variant (shards in several
                                        jurisdictions may differ); owned by the result  */
    double est_cost, est_kwh, est_co2_g; /*  over time_limit, or one hour when none (each task
                                               priced in its own pool)  */
    int backfilled;                      /*  started ahead of a reserved job  */
    char reason[256];                    /*  "placed on pool X (cheapest of 3 allowed pools; ...)"  */
} sp_placement_t;

typedef struct {
    sp_job_t *victim;
    sp_job_t *for_job;
    char reason[256];
} sp_preemption_t;

typedef struct {
    sp_job_t *job;
    double expected_start_s; /*  < 0: unknown  */
    int reservation;         /*  resources are held back for it (EASY head, or its preemptions)  */
    char reason[256];        /*  "waiting: ..."  */
} sp_wait_t;

typedef struct {
    sp_placement_t *placements;
    size_t nplacements;
    sp_preemption_t *preemptions;
    size_t npreemptions;
    sp_wait_t *waits; /*  jobs the cycle looked at and left pending  */
    size_t nwaits;
    size_t jobs_considered; /*  jobs the cycle examined: each has a placement or a wait  */
    size_t jobs_needed;     /*  of those, the ones before the point where it could stop  */
    size_t refresh_left;    /*  jobs past this cycle's refresh window (0: the window reached the end)  */
    size_t caps[3];         /*  capacities (internal)  */
} sp_result_t;

/*  A result is zeroed once (sp_result_t r = {0}) and may then be passed to
 *  every cycle: sp_schedule empties it and reuses its arrays (with 50,000
 *  pending jobs the waits alone are 13 MB). sp_result_clear frees it all and
 *  zeroes it again; a caller that clears after each cycle is fine too.  */

typedef struct sp_engine sp_engine_t;

/*  The engine reads the cluster; the cluster must outlive it.  */
sp_engine_t *sp_engine_new (const sp_cluster_t *cluster);
void sp_engine_free (sp_engine_t **self_p);

/*  One cycle. nodes: every node (unschedulable ones are skipped); pending: the
 *  jobs waiting, in any order; running: jobs holding resources (their `placed`
 *  filled). Charges each running job's usage for [max(start_s, the previous
 *  cycle's now_s), params->now_s] (see sp_usage_charged_until).
 *  A pending job's shape and constraints must not change while it waits
 *  within one cycle (the engine groups identical jobs into classes).
 *  The engine does not change any node or job: the caller applies placements
 *  (setting used_*, running, placed, start_s) and preemptions.
 *  Returns 0, or -1 when out of memory (out is then empty).  */
int sp_schedule (sp_engine_t *e, const sp_params_t *params, sp_node_t *const *nodes, size_t nnodes,
                 sp_job_t *const *pending, size_t npending, sp_job_t *const *running, size_t nrunning,
                 sp_result_t *out);
void sp_result_clear (sp_result_t *r);

/*  One task of job takes its share of node (CPUs, memory, GPUs), or gives it
 *  back: how a caller keeps the used_* figures that sp_schedule reads.  */
void sp_node_take (sp_node_t *node, const sp_job_t *job);
void sp_node_give (sp_node_t *node, const sp_job_t *job);

/*  Records usage (call when an attempt ends or is preempted, with the GPU-
 *  seconds after sp_usage_charged_until(): running jobs are charged by
 *  sp_schedule up to its now_s). Usage decays with the cluster's half-life.  */
void sp_usage_charge (sp_engine_t *e, const char *tenant, double gpu_seconds, double now_s);
/*  The now_s of the last sp_schedule (running jobs are charged up to it), or
 *  -INFINITY before the first.  */
double sp_usage_charged_until (const sp_engine_t *e);
/*  The tenant's decayed usage in GPU-seconds at now_s.  */
double sp_usage (const sp_engine_t *e, const char *tenant, double now_s);

/*  Cost, energy and carbon of running job for `seconds` in pool.  */
void sp_estimate (const sp_cluster_t *c, int pool, const sp_job_t *job, double seconds, double *cost, double *kwh,
                  double *co2_g);

/*  -- explain ---------------------------------------------------------------- */

/*  A placement's score against its runners-up, as a JSON object (caller frees):
 *  {"pool":..., "variant":..., "terms":{...}, "weights":{...}, "runners_up":[...],
 *   "estimate":{"cost":..,"kwh":..,"co2_g":..}, "reason":...}  */
char *sp_explain_placement (const sp_cluster_t *c, const sp_placement_t *p);

/*  Why a pending job is not running now, as a JSON object (caller frees):
 *  {"job":..., "reason":..., "expected_start_s":...|null, "reserved_pool":...|null,
 *   "pools":[{"pool":..., "verdict":"excluded"|"short"|"fits", "why":...,
 *             "free_gpus":.., "held_gpus":.., "held_by_jobs":.., ...}, ...]}
 *  Per pool: the first hard constraint that rules it out, or what is short
 *  (free vs needed, and what holds it). expected_start_s is the reservation
 *  the last sp_schedule gave the job (null when it holds none or its start is
 *  unknown). Uses the engine's scratch memory: not during sp_schedule.  */
char *sp_explain_pending (sp_engine_t *e, const sp_params_t *params, sp_node_t *const *nodes, size_t nnodes,
                          sp_job_t *const *running, size_t nrunning, const sp_job_t *job);

/*  The first hard constraint that rules pool out for job, or NULL when none
 *  does; buf receives the words ("clearance internal is below the job's
 *  confidential data"). With buf NULL a refusal returns "" (no formatting).  */
const char *sp_filter_pool (const sp_cluster_t *c, int pool, const sp_job_t *job, char *buf, size_t size);
/*  Same for one node of an allowed pool (labels, GPU type, capacity even when idle).  */
const char *sp_filter_node (const sp_cluster_t *c, const sp_node_t *node, const sp_job_t *job, char *buf,
                            size_t size);

#endif
