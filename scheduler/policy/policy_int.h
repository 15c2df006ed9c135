/*  policy_int.h: what the files of libstrata-policy share, and nobody else.
 *
 *  One cycle (engine.c) builds a scratch model of the cluster in an arena that
 *  is reset at the start of the next cycle:
 *
 *    sp__cnode_t   one per schedulable node: free capacity now (after the
 *                  placements of this cycle), capacity protected by
 *                  reservations, and a place in its group's bucket list;
 *    sp__group_t   the nodes of one pool with one GPU type, in buckets by
 *                  free GPUs (or free whole CPUs for a group without GPUs), so
 *                  a best-fit node is found without scanning the pool;
 *    sp__class_t   pending jobs with the same shape and constraints: the pool
 *                  filter, the variant and the per-pool figures are computed
 *                  once per class, and once a class fails in a cycle its later
 *                  members fail at once (capacity only shrinks in a cycle);
 *    sp__release_t a running task's resources and when they come back (its
 *                  job's start + time limit), for reservations and preemption.
 *
 *  Names: sp__ is shared between the library's files, s_ is static. */
#ifndef SP_POLICY_INT_H
#define SP_POLICY_INT_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "policy.h"
#include "st_map.h"
#include "st_vec.h"

/*  -- arena: bump allocation, reset once per cycle ---------------------------- */

typedef struct sp__block sp__block_t;
typedef struct {
    sp__block_t *head; /*  blocks, newest first; the newest is being filled  */
    size_t used;       /*  bytes used in head  */
} sp__arena_t;

void *sp__alloc (sp__arena_t *a, size_t size);     /*  zeroed; NULL when out of memory  */
void *sp__alloc_raw (sp__arena_t *a, size_t size); /*  not zeroed: for arrays written in full  */
char *sp__strdup (sp__arena_t *a, const char *s);
void sp__arena_reset (sp__arena_t *a); /*  keeps the largest block  */
void sp__arena_free (sp__arena_t *a);

/*  -- small helpers ----------------------------------------------------------- */

/*  Mixes v into h (multiply-xorshift; not byte-wise: it runs per job per cycle).  */
static inline uint64_t
sp__hash_u64 (uint64_t h, uint64_t v)
{
    h = (h ^ v) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}
int sp__streq (const char *a, const char *b); /*  NULL-safe equality  */
/*  Appends printf text at buf[*used], never past size; keeps buf terminated.  */
void sp__catf (char *buf, size_t size, size_t *used, const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));
/*  The cap of the engine's growable arrays (st_vec), in elements: far past
 *  any cluster or queue, it stops a runaway loop before memory does.  */
#define SP__ARRAY_MAX ((size_t) 1 << 26)
/*  Copies src, cut to fit size (size > 0).  */
void sp__copy (char *dst, size_t size, const char *src);
/*  "12 min", "3.5 h", "40 s".  */
void sp__fmt_duration (char *buf, size_t size, double seconds);

/*  Does the registry know model (a family, a variant, or "auto")?  */
int sp__model_known (const sp_cluster_t *c, const char *model);

/*  Labels and GPU type of node suit job (filter.c, without formatting).  */
int sp__node_kind_ok (const sp_node_t *node, const sp_job_t *job);

/*  Region index of a name, or -1.  */
int sp__region_index (const sp_cluster_t *c, const char *name);
/*  Latency between region indices, or -1 when unknown (or either is -1).  */
double sp__latency_idx (const sp_cluster_t *c, int from, int to);

/*  -- per-job figures ----------------------------------------------------------- */

/*  Whole-job demand.  */
static inline uint64_t
sp__job_gpus (const sp_job_t *j)
{
    return (uint64_t) j->ntasks * j->gpus;
}

/*  The weights a job is scored with: its own, or balanced when all are zero.  */
sp_weights_t sp__job_weights (const sp_job_t *j);

/*  Discretised attained service (Tiresias-like queues): 0 below 1 GPU-hour,
 *  1 below 10, 2 below 100, 3 above.  */
int sp__las_queue (double attained_gpu_s);

/*  GPU-seconds of the job's current attempt at now (0 when not running).  */
double sp__attempt_gpu_s (const sp_job_t *j, double now_s);

/*  -- the cycle's scratch model ---------------------------------------------------- */

#define SP__NO_TIME INFINITY

typedef struct {
    sp_node_t *node;
    int pool;                             /*  cluster pool index  */
    int group;                            /*  index into cycle groups  */
    int64_t free_cpu, free_mem, free_gpu; /*  now, after this cycle's placements (may be < 0 if over-used)  */
    int64_t prot_cpu, prot_mem, prot_gpu; /*  held back now by reservations, from jobs that outlive them  */
    int64_t rsv_cpu, rsv_mem, rsv_gpu;    /*  everything reservations will take here (plans subtract it)  */
    double shadow_s;                      /*  earliest reservation start on this node, or SP__NO_TIME  */
    const char *rack, *nvlink;            /*  label values or NULL  */
    int bucket;                           /*  current bucket in its group  */
    int prev, next;                       /*  bucket list links (cycle node indices, -1 ends)  */
    int64_t rel_cpu, rel_mem, rel_gpu;    /*  scratch: what a plan adds (reservation, preemption)  */
    uint32_t take;                        /*  scratch: tasks a selection puts here  */
    uint32_t mark;                        /*  scratch: visited stamp  */
} sp__cnode_t;

typedef struct {
    int pool;
    const char *gpu_type; /*  "" for nodes without a GPU type  */
    int by_gpu;           /*  1: buckets by free GPUs; 0: by free whole CPUs  */
    int nbuckets;
    int *heads; /*  nbuckets list heads (-1 empty)  */
    int *nodes; /*  every node of the group (cycle indices)  */
    size_t nnodes;
    int has_topology;       /*  some node has a rack or nvlink_domain label  */
    int64_t free_gpu_total; /*  sum of max(0, free_gpu)  */
} sp__group_t;

/*  A task's resources on a node, coming back at end_s.  */
typedef struct {
    double end_s; /*  SP__NO_TIME: no time limit  */
    int cnode;
    int64_t cpu, mem, gpu;
    sp_job_t *job;
} sp__release_t;

typedef struct {
    int pool;
    int ok; /*  passes every pool-level hard constraint  */
    const sp_variant_t *variant;
    double cost_per_hour, latency_ms, kwh_per_hour, co2_g_per_hour;
} sp__pool_fig_t;

typedef struct sp__kentry sp__kentry_t; /*  classes.c: a class remembered between cycles  */
typedef struct sp__class sp__class_t;
struct sp__class {
    const sp_job_t *proto;       /*  the first member this cycle; its fields define the class  */
    sp__kentry_t *ent;           /*  the engine's cache entry  */
    const sp__pool_fig_t *pools; /*  cluster npools entries (the cache's)  */
    int nallowed;                /*  pools passing the pool filter  */
    int failed;                  /*  a member could not start now in this cycle:  */
    int fail_always;             /*  ...so none can (no reservation held anything back then)  */
    double fail_end_s;           /*  ...or none ending at or after this  */
    int never;                   /*  cannot fit even on idle nodes  */
    int preempt_tried;           /*  a member found no victims this cycle...  */
    int32_t preempt_fail_prio;   /*  ...at this priority...  */
    int preempt_fail_las;        /*  ...and this attained-service queue  */
    char *reason;                /*  the members' wait reason once failed  */
    size_t reason_len;
};

typedef struct {
    int cnode;
    uint32_t tasks;
} sp__pick_t;

/*  A choice for one gang (all tasks) or one shard task.  */
typedef struct {
    int pool;
    int group;         /*  -1 when the tasks span groups (GPU-less jobs)  */
    sp__pick_t *picks; /*  npicks distinct nodes  */
    size_t npicks;
    double packing; /*  mean free share left on the picked nodes (0 full)  */
} sp__choice_t;

typedef struct {
    uint64_t job_id;
    double start_s; /*  < 0 unknown  */
    int pool;
} sp__resv_t;

typedef struct {
    /*  inputs  */
    const sp_cluster_t *c;
    const sp_params_t *params;
    sp__arena_t *arena;
    double now;

    /*  nodes  */
    sp__cnode_t *cn;
    size_t ncn;
    void **ptr_keys; /*  node pointer -> cnode (open addressing)  */
    int *ptr_vals;
    size_t ptr_cap;
    sp__group_t *groups;
    size_t ngroups;
    int **pool_groups; /*  per pool: group indices  */
    int *pool_ngroups;
    int64_t *pool_free_gpu; /*  per pool, now  */
    uint32_t *pool_version; /*  per pool: bumped whenever its free room or reservations change  */
    int64_t *pool_free_cpu;

    /*  what running jobs hold, per pool  */
    int64_t *pool_held_gpu, *pool_held_cpu;
    uint32_t *pool_held_jobs;
    sp__release_t *rel; /*  every running task  */
    size_t nrel;
    sp_job_t *const *running;
    size_t nrunning;
    uint32_t *run_hold; /*  per running job: its tasks that still hold resources  */

    /*  undo log of tentative placements  */
    struct sp__undo {
        int cnode;
        int64_t cpu, mem, gpu;
    } * undo;
    size_t nundo, capundo;

    sp__pick_t *pickbuf, *pickbuf2; /*  ncn each: exact selections  */
    struct sp__cand *tmp;           /*  ncn: candidates of an exact selection  */
    uint32_t stamp;                 /*  for cnode.mark  */
} sp__cycle_t;

typedef struct sp__cand {
    int cnode;
    uint32_t k;        /*  tasks that fit there  */
    double left;       /*  share of the node's GPUs (or CPUs) free before placing  */
    const char *label; /*  the topology label being grouped on  */
} sp__cand_t;

/*  cycle.c: the scratch model  */
int sp__cycle_build (sp__cycle_t *cy, const sp_cluster_t *c, const sp_params_t *params, sp__arena_t *arena,
                     sp_node_t *const *nodes, size_t nnodes, sp_job_t *const *running, size_t nrunning);
int sp__cycle_node (const sp__cycle_t *cy, const sp_node_t *node); /*  cnode index or -1  */
/*  Takes (or, with negative amounts, gives back) resources on a cnode, keeping
 *  buckets and totals in step; logs to the undo list when `log`.  */
int sp__cycle_take (sp__cycle_t *cy, int cnode, int64_t cpu, int64_t mem, int64_t gpu, int log);
void sp__cycle_undo (sp__cycle_t *cy, size_t mark);

/*  fit.c: which nodes a job's tasks go to  */
typedef enum {
    SP__AVAIL_NOW = 0, /*  free now; reservations are honoured unless the job ends before them  */
    SP__AVAIL_PLAN,    /*  free now + rel_* (a plan's releases) - what reservations will take  */
    SP__AVAIL_IDLE,    /*  the whole capacity  */
} sp__avail_t;

/*  Tasks of job that fit on cnode.  */
uint32_t sp__node_tasks (const sp__cycle_t *cy, const sp__cnode_t *n, const sp_job_t *job, sp__avail_t mode,
                         double end_s);
/*  Does node n match the job's labels (and GPU type: group gpu_type)?  */
int sp__node_matches (const sp__cnode_t *n, const sp_job_t *job);
/*  Finds nodes for `ntasks` tasks of job in pool, all of one GPU type `type`
 *  (NULL: any, but one type for all; ignored for GPU-less jobs). `exact`:
 *  fewest nodes, then one nvlink_domain / rack, then the fullest nodes;
 *  otherwise a quick choice for scoring. Returns 1 when they fit.  */
int sp__fit_pool (sp__cycle_t *cy, int pool, const sp_job_t *job, const char *type, uint32_t ntasks, sp__avail_t mode,
                  double end_s, int exact, sp__choice_t *out);

int sp__group_ok (const sp__group_t *g, const sp_job_t *job, const char *type);
/*  Tasks of job (up to limit) that fit in pool; one_group: a gang's view (one
 *  GPU type: the best group), otherwise every group together.  */
uint32_t sp__pool_capacity (sp__cycle_t *cy, int pool, const sp_job_t *job, sp__avail_t mode, uint32_t limit,
                            int one_group);

/*  score.c  */
void sp__pool_figures (const sp_cluster_t *c, int pool, const sp_job_t *job, sp__pool_fig_t *out);
/*  Normalises the candidates' terms and fills totals (lower is better).  */
void sp__score_normalise (sp_score_t *s, size_t n, const sp_weights_t *w);
/*  Sorts scores best first (total, then pool name).  */
void sp__score_sort (const sp_cluster_t *c, sp_score_t *s, size_t n);

/*  share.c: fair-share usage  */
typedef struct sp__usage_tab sp__usage_tab_t;
sp__usage_tab_t *sp__usage_new (void);
void sp__usage_free (sp__usage_tab_t **t);
void sp__usage_add (sp__usage_tab_t *t, const char *tenant, double gpu_s, double now_s, double half_life_s);
double sp__usage_get (const sp__usage_tab_t *t, const char *tenant, double now_s, double half_life_s);

/*  share.c: the job order  */
typedef struct {
    const char *name;
    double weight;
    int64_t quota;      /*  -1: none  */
    int64_t held_gpu;   /*  by running jobs and this cycle's placements  */
    double usage;       /*  decayed GPU-seconds at now  */
    char *quota_reason; /*  cached wait reason, valid while held_gpu == quota_reason_held  */
    int64_t quota_reason_held;
    uint64_t quota_reason_need;
} sp__tenant_t;

/*  Interned names: a stable small id per tenant or queue name (order.c).  */
typedef struct {
    char **names; /*  by id  */
    size_t n, cap;
    st_map_t *ids; /*  name -> id + 1  */
} sp__intern_t;
void sp__intern_free (sp__intern_t *t);

/*  What the order needs of a job (read once while it waits).  */
typedef struct {
    int32_t prio;
    int las; /*  attained-service queue  */
    double submit;
    uint64_t gpus_total;
    uint32_t time_limit_s;
    double duration_s;
} sp__facts_t;

/*  What the engine remembers of a pending job from one cycle to the next,
 *  kept in that cycle's input order.  */
typedef struct {
    const sp_job_t *job; /*  identity: pointer, id and the fingerprint of its fields  */
    uint64_t id, shallow;
    uint64_t gkey; /*  the sort keys  */
    int32_t prio;
    int32_t tid, qid; /*  interned tenant and queue  */
    uint32_t names_gen;
    uint32_t rank; /*  its place in that cycle's order  */
    int placed;    /*  placed in that cycle: it comes back changed, if at all  */
    double k1, k2, k3, submit;
    sp__kentry_t *ent; /*  its class, valid while kgen holds  */
    uint32_t kgen;
    sp__facts_t facts;
} sp__memo_t;

/*  One pending job in this cycle's order. The fields the main loop reads
 *  for a job that cannot start come first: one cache line.  */
typedef struct {
    sp_job_t *job;
    sp__kentry_t *ent;   /*  its class from the memo, or NULL  */
    sp__memo_t *memo;    /*  this cycle's memo of the job  */
    uint64_t gpus_total; /*  what the hot path needs, so it reads no job  */
    double end_s;        /*  now + time limit, or SP__NO_TIME  */
    int32_t tenant;      /*  interned tenant id (index into the order's tenants)  */
    int group;           /*  (tenant, queue), default policy only  */
    int32_t prio;
    int32_t qid;
    /*  -- for the order only  */
    uint64_t gkey; /*  (tenant id, queue id): keeps a group together in the sort  */
    uint64_t shallow;
    uint32_t k;        /*  its index among this cycle's pending jobs  */
    double k1, k2, k3; /*  the policy's keys, smaller first  */
    double submit;     /*  then submit time and id (copied: the sort reads no job)  */
    uint64_t id;
    sp__facts_t facts;
} sp__entry_t;

typedef struct {
    int tenant;
    uint64_t gkey;
    const char *queue;
    double qweight;
    double key;       /*  fair-share key when pushed  */
    size_t next, end; /*  its entries in the current priority level  */
} sp__grp_t;

typedef struct {
    const sp_cluster_t *c;
    struct sp_engine *e;
    sp__arena_t *arena;
    sp_policy_t policy;
    double now, half_life;
    sp__tenant_t *tenants;
    size_t ntenants, tenants_cap, tcap;
    int *tslot;
    sp__entry_t *entries; /*  in order  */
    size_t nentries, pos, level_end;
    sp__grp_t *groups;
    size_t ngroups, groups_cap, gcap;
    int *gslot;
    int *heap;
    size_t nheap;
    int current; /*  the group the last job came from, out of the heap, or -1  */
} sp__order_t;

/*  Charges running jobs' usage since the last cycle, counts what tenants
 *  hold, and orders the pending jobs.  */
int sp__order_build (sp__order_t *o, struct sp_engine *e, sp__arena_t *arena, const sp_params_t *params,
                     sp_job_t *const *pending, size_t npending, sp_job_t *const *running, size_t nrunning,
                     const uint32_t *run_hold);
sp__entry_t *sp__order_next (sp__order_t *o); /*  NULL at the end  */
void sp__order_placed (sp__order_t *o, int tenant, int64_t gpus);

/*  -- the engine and one run of sp_schedule ------------------------------------ */

struct sp_engine {
    const sp_cluster_t *c;
    sp__arena_t arena; /*  the cycle's scratch, reset at each sp_schedule  */
    sp__cycle_t cy;    /*  keeps its undo buffer between cycles  */
    sp__usage_tab_t *usage;
    double last_charge_s; /*  running jobs are charged up to here  */
    sp__resv_t *resv;     /*  the last cycle's reservations (for explain)  */
    size_t nresv, capresv;
    st_map_t *kmap;  /*  class cache (classes.c): class key -> entry  */
    size_t k_npools; /*  the cluster's pool count the cache was built for  */
    uint32_t kgen;   /*  bumped when the cache is emptied (memos point into it)  */
    uint64_t cycle_no;
    sp__intern_t tenant_names, queue_names;
    uint32_t names_gen;           /*  bumped when the names are reset  */
    sp__memo_t *memo, *memo_next; /*  last cycle's pending jobs in order; the buffer for the next  */
    size_t nmemo, capmemo, capmemo_next;
    uint32_t *mslots; /*  job pointer -> memo index (open addressing)  */
    size_t nmslots;
    size_t refresh_pos;    /*  where the next refresh window starts in the walk of the order  */
    uint32_t stop_backoff; /*  cycles left that walk the whole order (engine.c)  */
};

typedef struct {
    char *text;
    uint32_t version; /*  the pool's version it describes  */
} sp__pool_text_t;

/*  A reservation made in this cycle: resources held back on nodes from start_s.  */
typedef struct {
    sp_job_t *job;
    int pool;
    double start_s; /*  SP__NO_TIME when unknown  */
    size_t npicks;  /*  nodes it holds room on  */
} sp__rsv_t;

typedef struct {
    sp_engine_t *e;
    const sp_cluster_t *c;
    const sp_params_t *params;
    double now;
    sp__cycle_t *cy;
    sp__order_t order;
    sp_result_t *out;
    sp_score_t *cands; /*  npools: candidates of one choice  */
    int *task_pool;    /*  the pool of each task of a placement  */
    uint32_t task_pool_cap;
    /*  reservations of this cycle (reserve.c)  */
    sp__rsv_t *rsv;
    size_t nresv_cycle, caprsv;
    int head_reserved; /*  the EASY reservation is taken  */
    uint32_t preempt_searches;
    sp_job_t **victims; /*  chosen in this cycle  */
    size_t nvictims, capvictims;
    uint64_t never_fp;
    uint64_t *pool_prot_job;    /*  per pool: a job for which resources there are held back, or 0  */
    sp__pool_text_t *pool_text; /*  per pool x (CPU, GPU): its state in words (reason.c)  */
    size_t *rel_first; /*  per pool + 1: running releases of pool p are rel_index[rel_first[p]..rel_first[p+1])  */
    size_t *rel_index;
    int32_t *pool_min_prio; /*  per pool: lowest priority of a preemptible running job  */
    int *pool_max_las;      /*  per pool: highest LAS queue of one  */
    char *pool_stopping;    /*  per pool: a stopping job (or this cycle's victim) holds resources there  */
    int *touched;           /*  cnodes whose rel_* a plan set  */
    size_t ntouched;
    /*  the early stop (classes.c): classes with members left that may still start; those
        classes (some may have died since), and where the walk checks their room again  */
    size_t live;
    sp__kentry_t **livek;
    size_t nlivek, next_scan, scan_gap;
    int64_t min_need_cpu, min_need_gpu; /*  the least any of them needs, at the last check  */
    size_t scan_placed;                 /*  placements when the walk last looked at free room  */
} sp__run_t;

/*  reserve.c: reservations (EASY backfill) and preemption  */
int sp__reserve_begin (sp__run_t *run);
/*  job could not start now: preempt for it and/or reserve for it; fills w's
 *  expected start and reason. Returns 0, or -1 when out of memory.  */
int sp__reserve_for (sp__run_t *run, sp_job_t *job, sp__class_t *k, sp_wait_t *w);
/*  Could sp__reserve_for do anything for this job (decided without reading it)?  */
int sp__reserve_wanted (const sp__run_t *run, const sp__class_t *k, const sp__entry_t *en);
int sp__reserve_end (sp__run_t *run);
/*  Could a job of priority prio, or any after it in the order, still preempt
 *  (or take a reservation on stopping jobs' room) in this cycle?  */
int sp__reserve_can_preempt (const sp__run_t *run, int32_t prio);

/*  classes.c  */
sp__class_t *sp__class_of (sp__run_t *run, sp__entry_t *en);
int sp__class_fails_fast (const sp__class_t *k, double end_s);
void sp__class_failed (sp__run_t *run, sp__class_t *k, double end_s);
int sp__class_idle_get (const sp__class_t *k, uint64_t fp, const char **reason);
void sp__class_idle_set (sp__class_t *k, uint64_t fp, int state, const char *reason);
const char *sp__class_need_text (sp__class_t *k, const sp_job_t *job); /*  NULL when out of memory  */
void sp__kcache_clear (sp_engine_t *e);
/*  The early stop: looks up the class of every job in the order and counts
 *  each class's members (run->live); then, once per examined job (ent0: its class before it was
 *  examined, k: its class this cycle or NULL), takes it off the count.  */
int sp__stop_count (sp__run_t *run); /*  0, or -1 when out of memory  */
void sp__stop_leave (sp__run_t *run, sp__kentry_t *ent0, const sp__class_t *k);
/*  Marks dead the classes left without room for a member now (called as the
 *  walk reaches run->next_scan; pos: where it is).  */
void sp__stop_rescan (sp__run_t *run, size_t pos);
/*  No pool has the room the least demanding class left needs (O(pools)): a
 *  rescan would find every class left dead.  */
int sp__stop_exhausted (const sp__run_t *run);
void sp__kcache_check (sp_engine_t *e);

/*  reason.c: why a class cannot start now (sets k->reason, k->never).  */
int sp__block_reason (sp__run_t *run, const sp_job_t *job, sp__class_t *k);

/*  explain.c shares these words with the engine's wait reasons.  */
void sp__fmt_need (const sp_job_t *job, char *buf, size_t size);

#endif
