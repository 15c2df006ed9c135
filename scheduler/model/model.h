/*  model.h: the scheduler's in-memory model of the cluster (scheduler/model/).
 *
 *  Jobs, tasks and nodes, their state machines, dependencies, the fine-tuned
 *  model registry, rendezvous values and progress, and the bridge to
 *  libstrata-policy. Pure like policy/: no libpq, no ZeroMQ, no protobuf and no
 *  clock reads. The loop (sched.c) sets the time (st__model_clock) before each
 *  step; what the model wants done outside it queues, and sched.c drains the
 *  queues after each step and hands them to net/ or store/:
 *
 *      dirty_jobs, dirty_tasks, dirty_nodes, events, new_versions
 *                              rows for store/ to write in the next flush
 *      to_launch               SCHEDULED tasks for net/ to Launch once committed
 *      finished                jobs to drop from memory after the flush
 *      intents                 signals, agent replies and RemoteExited for net/
 *                              (st__intent_t below)
 *
 *  Job states (the only door is st__job_set_state, table in model.c):
 *
 *      PENDING -> SCHEDULED -> STARTING -> RUNNING -> SUCCEEDED | FAILED | CANCELLED
 *         ^          |            |          |
 *         +----------+------------+----------+---- LOST (node gone) / PREEMPTED / retry
 *
 *  Tasks use the same vocabulary: a task is PENDING until placed, SCHEDULED
 *  when its placement is committed, STARTING once Launch is sent, RUNNING when
 *  the worker reports the process, and ends SUCCEEDED, FAILED, CANCELLED or
 *  LOST (the only door is st__task_set_state, table in model.c). A job's state
 *  follows from its tasks (st__job_evaluate). */
#ifndef ST__MODEL_H
#define ST__MODEL_H

#include <stdint.h>
#include <stddef.h>

#include "policy.h"
#include "strata/task.h"
#include "st_error.h"
#include "st_map.h"
#include "st_spec.h"
#include "st_vec.h"
#include "st_vocab.h"

/*  A worker's ROUTER routing id, as plain bytes: the same fields as st_wire.h's
 *  st_peer_t, which the model must not include (it drags in protobuf). net/
 *  converts between the two (st__net_peer_of).  */
#define ST__NODE_PEER_ID_MAX 255
typedef struct {
    uint8_t id[ST__NODE_PEER_ID_MAX];
    size_t id_len;
    int delimited;
    char user_id[64];
} st__node_peer_t;

/*  st_job_state_t, st_task_state_t, their names and st_job_state_terminal
 *  come from the base vocabulary (st_vocab.h).  */

/*  A task's state as the job state of the same word, and back (by a table in
 *  model.c, not by equal numbers).  */
st_job_state_t st__task_state_as_job (st_task_state_t s);
st_task_state_t st__job_state_as_task (st_job_state_t s);

/*  The cap of the model's growable arrays (st_vec_push), in elements.  */
#define ST__SCHED_ARRAY_MAX ((size_t) 1 << 26)

typedef enum { ST__NODE_UP = 0, ST__NODE_LOST } st__node_state_t;

typedef struct st__model st__model_t;
typedef struct st__job st__job_t;

/*  Launch flow control (net/dispatch.c): a worker advertises how many Launches
 *  it may have outstanding (sent, not yet acknowledged); without one it gets
 *  the default. Whatever it says is bounded by the maximum.  */
#define ST__LAUNCH_CAP_DEFAULT 64u
#define ST__LAUNCH_CAP_MAX 4096u

/*  A placed task waiting in its node's launch queue, by name: the task may
 *  have moved on (ended, a new attempt) by the time room frees.  */
typedef struct {
    uint64_t job_id;
    uint32_t index;
    uint32_t attempt;
} st__launch_ref_t;
typedef struct st__task st__task_t;
typedef struct st__node st__node_t;

#define ST__NODE_STATUS_MAX 256 /*  bytes kept of a node's isolation and refusing texts  */

struct st__node {
    /*  identity and configuration, as the worker registered it  */
    char *name;
    char *pool;
    char *gpu_type;
    char *hostname;
    char *version;
    st_kv_t labels;
    uint32_t cap_cpus_milli;
    uint64_t cap_mem_mb;
    uint32_t cap_gpus;
    /*  connection  */
    st__node_peer_t peer;    /*  ROUTER routing id of the worker's DEALER (net/ fills and reads it)  */
    int connected;           /*  a worker instance is registered on peer  */
    uint64_t instance;       /*  worker process instance (random per start)  */
    uint64_t epoch;          /*  bumped for each new instance  */
    uint64_t last_seen_mono; /*  monotonic ms of the last message  */
    uint64_t last_seen_wall;
    st__node_state_t state;
    /*  accounting: sums over the tasks in tasks list that hold resources  */
    uint32_t used_cpus_milli;
    uint64_t used_mem_mb;
    uint32_t used_gpus;
    st__task_t *tasks; /*  tasks placed here and not yet released (list via node_next)  */
    uint32_t ntasks;
    int dirty;       /*  needs writing to the nodes table  */
    int persisted;   /*  row exists  */
    sp_node_t pn;    /*  the placement engine's view (place.c keeps it in step)  */
    int pn_stale;    /*  registered anew: refresh pn's pool, capacity and labels  */
    char *isolation; /*  Register.isolation ("cgroup v1", "none: WHY"); NULL: not said  */
    char *refusing;  /*  why the node takes no new tasks (Register/Heartbeat.refusing); NULL: it takes them  */
    /*  launch flow control (net/dispatch.c)  */
    uint32_t launch_cap;        /*  the worker's cap on Launches outstanding, when launch_cap_known  */
    int launch_cap_known;       /*  0: the worker advertised none (ST__LAUNCH_CAP_DEFAULT)  */
    uint32_t launches_out;      /*  Launches sent and not acknowledged (its tasks in the launches map)  */
    st__launch_ref_t *launch_q; /*  committed placements waiting for room, FIFO from launch_q_head  */
    size_t launch_q_head, launch_q_n, launch_q_cap;
};

struct st__task {
    st__job_t *job;
    uint32_t index;
    uint32_t attempt;
    st_task_state_t state;
    st__node_t *node; /*  where it is placed; NULL while PENDING  */
    char *node_name;  /*  last node (kept after release, for logs)  */
    int holds;        /*  its resources are counted on node  */
    st__task_t *node_next, *node_prev;
    int32_t pid;
    int32_t exit_code;
    int32_t term_signal;
    int has_exit;
    uint64_t started_wall;
    uint64_t finished_wall;
    /*  What the attempt used, as its worker's cgroup measured it (has_*: known).  */
    int has_peak, has_cpu;
    uint64_t peak_mem_kib;
    uint64_t cpu_ms;
    char *reason;        /*  why the attempt failed (owned), NULL: it did not, or not yet  */
    uint64_t launch_seq; /*  envelope seq of the last Launch sent; 0: none outstanding  */
    uint64_t launch_sent_mono;
    int launch_acked;
    uint32_t launch_resends; /*  resends of this attempt's Launch (the backoff's exponent)  */
    uint32_t queued_attempt; /*  the attempt that waits in node's launch queue; 0: none  */
    int stop_sent;           /*  a terminate signal went out for this attempt  */
    int dirty;
    /*  a held rank of an mpirun-launched gang (runtime.c)  */
    int exec_sent; /*  an Exec went out to give it its process (Open MPI's daemon)  */
};

/*  Rendezvous values of one attempt of a job (runtime.c).  */
typedef struct {
    uint32_t attempt;
    size_t n;
    char *keys[64];
    uint8_t *vals[64];
    size_t lens[64];
} st__rdzv_t;

/*  A RendezvousGet waiting for its key.  */
typedef struct {
    uint64_t job_id;
    uint32_t attempt;
    char *key;        /*  owned  */
    char *node;       /*  owned: the asking rank's node  */
    uint64_t fwd_seq; /*  the relayed request's seq: the reply's reply_to  */
    uint64_t deadline_mono;
    uint32_t timeout_ms;
} st__rdzv_wait_t;

struct st__job {
    uint64_t id;
    st_spec_t *spec;
    char *spec_json;    /*  canonical spec, as stored  */
    char *submit_token; /*  the client's idempotency token, or NULL  */
    char *submitted_by; /*  the user who submitted it (jobs.submitted_by); NULL: not recorded  */
    st_job_state_t state;
    st_job_state_t db_state; /*  the state the database holds (guard for updates)  */
    int persisted;           /*  row exists  */
    int dirty;
    char reason[512];
    uint32_t attempt; /*  current attempt, 0 before the first placement  */
    uint32_t max_attempts;
    int32_t exit_code;
    int has_exit;
    int cancel_requested;
    int stopping;      /*  a rank failed or was lost: the other ranks are being stopped  */
    char failure[512]; /*  why the current attempt is ending  */
    uint64_t created_wall;
    uint64_t started_wall;
    uint64_t finished_wall;
    st__task_t *tasks;
    uint32_t ntasks;
    int in_pending;     /*  listed in the model's pending array at pending_idx  */
    int tenant_counted; /*  counted in its tenant's pending jobs (st__tenant_pending_sync)  */
    size_t pending_idx;
    /*  placement (place.c)  */
    sp_job_t pj;                /*  the placement engine's view, filled from spec  */
    sp_node_t **placed;         /*  ntasks: where the current attempt's tasks hold resources  */
    uint32_t nholding;          /*  tasks whose resources are counted on a node  */
    size_t running_idx;         /*  in the model's running array while nholding > 0  */
    uint32_t accounted_attempt; /*  the last attempt whose cost was added to the actual figures  */
    int preempt_requested;      /*  the engine chose it as a preemption victim: stopping  */
    uint32_t preemptions;       /*  attempts ended by preemption (they do not use up retries)  */
    char *pool;                 /*  pool of the current or last placement  */
    char *variant;              /*  model variant chosen there, or NULL  */
    char *placement_json;       /*  the placement's score against its runners-up (sp_explain_placement)  */
    int has_estimate;
    double est_cost, est_kwh, est_co2_g; /*  at placement, over the time limit (or 1 h)  */
    int has_actual;
    double cost, kwh, co2_g; /*  actual, summed over attempts, at the end  */
    /*  dependencies and fine-tuned models (deps.c, registry.c)  */
    uint32_t deps_waiting;      /*  dependencies not yet SUCCEEDED: not offered to the engine  */
    uint32_t ft_version;        /*  the fine-tuned model version it uses; 0: none (yet)  */
    char *model_ref;            /*  that version as "NAME:VERSION" (jobs.model_ref); NULL: none  */
    const char *model_uri;      /*  its checkpoint (the registry's string); NULL: none  */
    const char **eff_residency; /*  pj.residency narrowed by that version (strings not owned)  */
    /*  multi-rank runtime (runtime.c)  */
    st__rdzv_t *rdzv; /*  the current attempt's rendezvous values, NULL: none yet  */
    int has_progress; /*  the latest Progress of a rank, in memory only  */
    uint64_t progress_step, progress_total;
    double progress_loss, progress_rate;
    char progress_unit[16];
};

/*  A registered version of a fine-tuned model (registry.c): the checkpoint of a
 *  finetune job that named output_model and SUCCEEDED. Never changes; kept in
 *  memory for the scheduler's life (model_versions has every one).  */
typedef struct {
    char *tenant; /*  names are per tenant: (tenant, name, version) is the key  */
    char *name;
    uint32_t version; /*  1, 2, ... per (tenant, name)  */
    uint64_t job_id;
    char *checkpoint;          /*  the job's STRATA_CHECKPOINT_DIR; NULL: it had none  */
    char *pool;                /*  where it was trained  */
    char *jurisdiction;        /*  that pool's jurisdiction at the time; NULL: none  */
    char *variant;             /*  the base model variant it was trained from; NULL: none  */
    sp_class_t classification; /*  of the job's data (the stricter of its own and its model's)  */
    char **residency;          /*  where that data may go, nresidency entries; NULL: anywhere  */
    size_t nresidency;
    uint64_t created_wall;
} st__model_version_t;

/*  One row for the events table.  */
typedef struct {
    uint64_t job_id;
    int32_t task_idx; /*  -1: about the job  */
    uint32_t attempt;
    const char *kind;       /*  static: "submitted", "state", "task", "node"  */
    const char *from_state; /*  static or NULL  */
    const char *to_state;
    char *node;    /*  owned  */
    char *message; /*  owned  */
    uint64_t at_wall;
} st__event_t;

/*  What the scheduler has counted since start-up (logged at shutdown; plain numbers).  */
typedef struct {
    uint64_t bad_frames;
    uint64_t oversized_frames;
    uint64_t version_mismatches;
    uint64_t duplicate_registrations;
    uint64_t refused_registrations; /*  CURVE key enrolled for another node name  */
    uint64_t refused_pools;         /*  CURVE key enrolled for another pool  */
    uint64_t unknown_peer_messages;
    uint64_t stale_updates;
    uint64_t submits;
    uint64_t flushes;
    uint64_t placed;            /*  jobs placed  */
    uint64_t launch_resends;    /*  Launches sent again to a silent worker  */
    uint64_t json_failures;     /*  explanations that could not be built: logged, the job goes on without one  */
    uint64_t foreign_replies;   /*  Acks and LogData from a node the Launch or LogRequest did not go to  */
    uint64_t oversized_reports; /*  Registers refused and Heartbeats dropped for too many labels or tasks  */
} st__counters_t;

/*  What the model wants done outside it, for net/ (sched.c drains them after
 *  each step with st__net_drain_intents). Tasks are named by (job, index,
 *  attempt), never by pointer: net/ looks them up again and skips an intent
 *  whose task has moved on.  */
typedef enum {
    ST__INTENT_SIGNAL = 1,    /*  Signal TERMINATE to a live task's worker (deferred until committed)  */
    ST__INTENT_AGENT_VALUE,   /*  answer a relayed agent request on node with value (rendezvous)  */
    ST__INTENT_AGENT_ERROR,   /*  answer a relayed agent request on node with an error  */
    ST__INTENT_REMOTE_EXITED, /*  a held rank of an mpirun gang ended: tell rank 0's worker  */
} st__intent_kind_t;

typedef struct {
    st__intent_kind_t kind;
    uint64_t job_id;
    uint32_t index; /*  SIGNAL, REMOTE_EXITED: the task's rank  */
    uint32_t attempt;
    char *node;       /*  owned. AGENT_*: the asking node; REMOTE_EXITED: the node the rank ran on  */
    uint64_t fwd_seq; /*  AGENT_*: the relayed request's seq (the reply's reply_to)  */
    uint8_t *data;    /*  owned. AGENT_VALUE: the value; AGENT_ERROR, REMOTE_EXITED: the message or NULL  */
    size_t len;
    int32_t exit_code; /*  REMOTE_EXITED, when data is NULL  */
    int32_t term_signal;
} st__intent_t;

struct st__model {
    /*  -- time, set by the loop before each step (the model reads no clock) --  */
    uint64_t now_wall; /*  ms since the epoch  */
    uint64_t now_mono; /*  monotonic ms  */
    /*  -- jobs, tasks and nodes --  */
    uint64_t next_job_id; /*  the id the next submission gets  */
    st_map_t *jobs;       /*  id -> st__job_t, unfinished jobs only  */
    st_map_t *nodes;      /*  name -> st__node_t  */
    st_map_t *launches;   /*  launch seq -> st__task_t awaiting Ack (net/ fills it; release empties it)  */
    /*  -- placement (place.c, libstrata-policy) --  */
    sp_job_t **pending; /*  jobs waiting for placement (unordered: the engine orders them)  */
    size_t npending, cap_pending;
    sp_job_t **running; /*  jobs holding resources (nholding > 0)  */
    size_t nrunning, cap_running;
    sp_cluster_t *cluster; /*  pools, regions, models, queues, tenants (--cluster; never NULL when running)  */
    sp_engine_t *engine;   /*  the placement engine over cluster  */
    sp_policy_t policy;    /*  --policy  */
    sp_node_t **pnodes;    /*  every node's pn, for the engine  */
    size_t npnodes, cap_pnodes;
    int sched_needed;        /*  something changed that could let a pending job start  */
    sp_result_t presult;     /*  the last cycle's result, its arrays reused by the next (place.c)  */
    uint64_t refresh_due_ms; /*  monotonic: a cycle to refresh more waiting jobs' reasons, or 0  */
    /*  -- queues for store/: rows to write in the next flush --  */
    st__job_t **dirty_jobs;
    size_t ndirty_jobs, cap_dirty_jobs;
    st__task_t **dirty_tasks;
    size_t ndirty_tasks, cap_dirty_tasks;
    st__node_t **dirty_nodes;
    size_t ndirty_nodes, cap_dirty_nodes;
    st__event_t *events; /*  rows for the events table; net/ publishes them after the flush  */
    size_t nevents, cap_events;
    /*  -- queues for net/ and the loop --  */
    st__task_t **to_launch; /*  SCHEDULED tasks to launch once committed  */
    size_t nto_launch, cap_to_launch;
    st__job_t **finished; /*  jobs that ended: dropped from memory after the flush  */
    size_t nfinished, cap_finished;
    st__intent_t *intents; /*  see st__intent_t  */
    size_t nintents, cap_intents;
    /*  -- multi-rank runtime (runtime.c) --  */
    st__rdzv_wait_t *rdzv_waits; /*  RendezvousGets waiting for their key  */
    size_t nrdzv_waits, cap_rdzv_waits;
    st__counters_t counters;
    /*  -- dependencies and fine-tuned models (deps.c, registry.c); created on first use --  */
    st_map_t *dependents; /*  job id -> the ids of waiting jobs that depend on it  */
    st_map_t *dep_states; /*  finished jobs' state and tenant read from the database by store/ (a cache
                                    for one submit, or for st__store_load); st__deps_note_state fills it  */
    uint64_t *settle;     /*  (job id, state) pairs whose dependents are to be settled  */
    size_t nsettle, cap_settle;
    int settling;
    st_map_t *ftmodels;       /*  "tenant\0name" -> its versions  */
    st_map_t *tenant_pending; /*  tenant -> uint64_t count of its PENDING jobs (authz.c); created on first use  */
    st__model_version_t **new_versions; /*  registered since the last flush: written by the next one  */
    size_t nnew_versions, cap_new_versions;
};

/*  -- model.c -----------------------------------------------------------  */
/*  Sets up an empty model (jobs, nodes, launches; next_job_id 1). The cluster,
 *  engine and policy are the caller's to set. Returns 0, or -1 out of memory.  */
int st__model_init (st__model_t *s);
/*  Frees the model: jobs, nodes, queues, intents, the cluster and the engine.  */
void st__model_release (st__model_t *s);
/*  Drops jobs that ended from memory (after a flush); they stay in the
 *  database. A job that ended after the flush is still to be written (dirty):
 *  it stays until the next pass has.  */
void st__model_forget_finished (st__model_t *s);
/*  Frees the queued events (after the loop has published them).  */
void st__model_clear_events (st__model_t *s);
/*  The loop's clock for the next step.  */
void st__model_clock (st__model_t *s, uint64_t now_wall, uint64_t now_mono);
st__job_t *st__job_new (st__model_t *s, uint64_t id, st_spec_t *spec, char *spec_json, uint64_t created_wall);
void st__job_free (st__job_t *job);
/*  Moves job from its current state to `to`, records an event and marks it dirty.
 *  Refuses (returns ST_ESTATE, logs) a transition the table does not allow.  */
st_rc_t st__job_set_state (st__model_t *s, st__job_t *job, st_job_state_t to, const char *reason_fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
void st__job_set_reason (st__model_t *s, st__job_t *job, const char *reason);
/*  Derives the job's state from its tasks after any task change.  */
void st__job_evaluate (st__model_t *s, st__job_t *job);
/*  The only door for a task's state: moves t to `to` (the caller marks it dirty).
 *  Refuses (returns ST_ESTATE; asserts in a debug build) a transition the
 *  task table in model.c does not allow.  */
st_rc_t st__task_set_state (st__model_t *s, st__task_t *t, st_task_state_t to);
/*  Ends a task of the current attempt; releases its resources.  */
void st__task_end (st__model_t *s, st__task_t *t, st_task_state_t state);
void st__task_assign (st__model_t *s, st__task_t *t, st__node_t *node);
void st__task_release (st__model_t *s, st__task_t *t);
/*  Queues a Signal TERMINATE intent for every live task of job that has not
 *  had one yet (tasks on a disconnected node get theirs when it registers again).  */
void st__job_stop_tasks (st__model_t *s, st__job_t *job);
/*  After a successful flush: the rows now match memory; nothing is dirty.  */
void st__batch_committed (st__model_t *s);
/*  SCHEDULED, STARTING or RUNNING: placed and not yet ended.  */
int st__task_live (const st__task_t *t);
void st__mark_job (st__model_t *s, st__job_t *job);
void st__mark_task (st__model_t *s, st__task_t *t);
void st__mark_node (st__model_t *s, st__node_t *n);
void st__add_event (st__model_t *s, uint64_t job_id, int32_t task_idx, uint32_t attempt, const char *kind,
                    const char *from, const char *to, const char *node, const char *fmt, ...)
    __attribute__ ((format (printf, 9, 10)));
void st__pending_add (st__model_t *s, st__job_t *job);
void st__pending_remove (st__model_t *s, st__job_t *job);
st__node_t *st__node_new (const char *name);
void st__node_free (st__node_t *n);
st__task_t *st__model_find_task (st__model_t *s, uint64_t job_id, uint32_t index);
/*  Queues an intent (takes node and data). Aborts when out of memory, like the other queues.  */
void st__intent_push (st__model_t *s, const st__intent_t *in);
/*  Frees the queued intents' strings and empties the queue.  */
void st__intents_clear (st__model_t *s);
/*  The job's STRATA_CHECKPOINT_DIR (into buf when made here; NULL: none). A
 *  finetune with output_model: <storage_root>/<tenant>/models/<output_model>/job-<id>
 *  of its pool, whatever the spec says (NULL where the pool has no local storage
 *  root); another job: its spec's checkpoint_dir, else
 *  <storage_root>/checkpoints/job-<id>.  */
const char *st__job_checkpoint_dir (const st__model_t *s, const st__job_t *job, char *buf, size_t size);
/*  1 when tenant and model name make folders that stay under
 *  <storage_root>/<tenant>/models/ (no empty, "." or ".." segment).  */
int st__checkpoint_names_ok (const char *tenant, const char *model);
/*  MASTER_PORT of an attempt of a job.  */
unsigned st__job_master_port (uint64_t job_id, uint32_t attempt);

/*  -- check.c: the model's invariants ------------------------------------  */
/*  Checks what must always hold between steps (listed in check.c). Returns 0,
 *  or -1 with the first broken invariant in why. Run after every step in the
 *  unit tests and, in builds without NDEBUG or with STRATA_MODEL_CHECK, by the loop.  */
int st__model_check (const st__model_t *s, char *why, size_t size);

/*  -- place.c: the bridge to libstrata-policy ---------------------------  */
/*  Fills job->pj (the engine's view) from its spec. Returns 0, or -1 when out of memory.  */
int st__place_job_init (st__model_t *s, st__job_t *job);
/*  An attempt of job has ended (every task stopped): adds its cost, energy and
 *  carbon to the actual figures and its GPU time to the attained service.  */
void st__place_attempt_ended (st__model_t *s, st__job_t *job);
/*  One placement pass over the pending jobs. Returns 1 when it ran a cycle,
 *  0 when nothing had changed since the last one.  */
int st__place_pending (st__model_t *s);
/*  strata explain for a job in memory: why it waits, or its score against the
 *  runners-up, as JSON (caller frees); *state is its state's name. NULL, said
 *  in the log, when the JSON could not be built (out of memory).  */
char *st__place_explain (st__model_t *s, st__job_t *job, const char **state);
/*  The same JSON for a job that has no placement to show: its state and reason
 *  (any bytes: made valid UTF-8 first). NULL, logged, without memory.  */
char *st__place_reason_json (uint64_t id, const char *state, const char *reason);

/*  -- runtime.c: rendezvous values and progress of multi-rank jobs --------  */
/*  A workload that exits ST_EXIT_PREEMPTED (strata/task.h) checkpointed and
 *  stopped when asked: its attempt ends PREEMPTED and the job goes back to the
 *  queue (no retry used).  */
/*  Past this many preemptions an attempt that exits ST_EXIT_PREEMPTED fails
 *  like any other exit code (a program that always says so must not loop).  */
#define ST__PREEMPTIONS_MAX 100u
/*  The live task of the job's current attempt (job_id, index, attempt) on
 *  node, or NULL: the only tasks whose requests are answered.  */
st__task_t *st__runtime_task (st__model_t *s, const st__node_t *node, uint64_t job_id, uint32_t index,
                              uint32_t attempt);
/*  RendezvousPut of t: key = value for its attempt. Ranks waiting for the key
 *  get AGENT_VALUE intents. Returns 0, or -1 with why (answer with an error).  */
int st__rdzv_put (st__model_t *s, st__task_t *t, const char *key, const uint8_t *val, size_t len, char *why,
                  size_t size);
/*  RendezvousGet of t on node: 1 with *val and *len (the model's bytes) when the
 *  key is there; 0 when it waits (answered by a later put or st__runtime_tick,
 *  as an intent); -1 with why when refused.  */
int st__rdzv_get (st__model_t *s, st__task_t *t, const st__node_t *node, uint64_t fwd_seq, const char *key,
                  uint32_t timeout_ms, const uint8_t **val, size_t *len, char *why, size_t size);
/*  RemoteExec from t for node_name: the held rank there to give the process
 *  to. 1 with *target; 0 when it is the same request again (nothing to do);
 *  -1 with why.  */
int st__runtime_exec_target (st__model_t *s, st__task_t *from, const char *node_name, st__task_t **target, char *why,
                             size_t size);
/*  Progress of t: kept on its job for `strata show`.  */
void st__runtime_progress (st__model_t *s, st__task_t *t, uint64_t step, uint64_t total, double loss, double rate,
                           const char *unit);
/*  A task ended: a held rank's end goes to rank 0's worker (REMOTE_EXITED intent).  */
void st__runtime_task_ended (st__model_t *s, st__task_t *t);
/*  Times out rendezvous waits; answers waits whose attempt ended (AGENT_ERROR intents).  */
void st__runtime_tick (st__model_t *s, uint64_t now_mono);
void st__runtime_job_free (st__job_t *job);
void st__runtime_free (st__model_t *s);
/*  "step 120/500, loss 2.310, 5,400 tokens/s" into buf; "" when none.  */
const char *st__runtime_progress_text (const st__job_t *job, char *buf, size_t size);

/*  -- deps.c: job dependencies (depends_on) ----------------------------  */
/*  A new job's depends_on, model and output_model against what exists: refuses
 *  (ST_EINVAL, err naming the field) jobs that do not exist or belong to
 *  another tenant, a fine-tuned model nobody registered that no dependency can
 *  register, an output_model that names a model of the cluster's registry. No
 *  side effects. Finished dependencies are looked up in s->dep_states, which
 *  store/ fills first (st__store_dep_states) for the ids st__deps_missing names.  */
st_rc_t st__deps_check (st__model_t *s, const st__job_t *job, st_error_t *err);
/*  The dependencies of job that are not in memory (finished, or never
 *  existed), into ids (at most max). Returns how many.  */
size_t st__deps_missing (const st__model_t *s, const st__job_t *job, uint64_t *ids, size_t max);
/*  Notes a finished job's state and tenant read from the database.  */
void st__deps_note_state (st__model_t *s, uint64_t id, st_job_state_t state, const char *tenant);
/*  A new or loaded PENDING job: fails when a dependency failed or was
 *  cancelled, waits (not offered to the engine) while one has not SUCCEEDED,
 *  else resolves its fine-tuned model and joins the pending jobs.  */
void st__deps_admit (st__model_t *s, st__job_t *job);
/*  st__job_set_state's entry action: a finetune that SUCCEEDED registers its
 *  model version; a job that ended releases or fails the jobs waiting for it
 *  (cascading, without recursion); other moves refresh their reasons.  */
void st__deps_on_state (st__model_t *s, st__job_t *job);
void st__deps_forget_states (st__model_t *s);
void st__deps_free (st__model_t *s);

/*  -- registry.c: fine-tuned model versions -----------------------------  */
/*  spec names a fine-tuned model (NAME:VERSION, or a NAME the cluster's model
 *  registry does not know) rather than a family, variant or auto.  */
int st__registry_is_finetune (const st__model_t *s, const st_spec_t *spec);
/*  name is a family, a variant or auto of the cluster's model registry.  */
int st__registry_cluster_model (const st__model_t *s, const char *name);
/*  The version of (tenant, name): `version`, or the latest when 0; NULL when none.  */
const st__model_version_t *st__registry_find (st__model_t *s, const char *tenant, const char *name, uint32_t version);
/*  job, a finetune with output_model, SUCCEEDED: registers its checkpoint as
 *  the next version (written by the next flush, with the job's state).  */
void st__registry_register (st__model_t *s, st__job_t *job);
/*  Adds a version read from the database; takes it.  */
void st__registry_add (st__model_t *s, st__model_version_t *v);
/*  Binds job to version v and narrows its placement view: the stricter
 *  classification, residency within both the job's and the model's, only
 *  where the checkpoint may be read, and the base variant's jurisdictions.
 *  Returns 0, or -1 with why (the job can run nowhere).  */
int st__registry_apply (st__model_t *s, st__job_t *job, const st__model_version_t *v, char *why, size_t size);
/*  The same verdict for a spec, changing nothing.  */
int st__registry_check (const st_spec_t *spec, const st__model_version_t *v, char *why, size_t size);
/*  Every version, sorted by tenant, name and version (caller frees the array).  */
size_t st__registry_list (st__model_t *s, const st__model_version_t ***out);
void st__model_version_free (st__model_version_t *v);
void st__registry_free (st__model_t *s);

/*  -- who asks: the principal of a client request ---------------------------
 *  net/ authenticates each client request (Envelope.auth_token) and hands the
 *  handlers who sent it; every decision about what that user may see or do is
 *  made from it, in one place (authz.c).  */
typedef enum {
    ST__ROLE_NONE = 0,
    ST__ROLE_VIEWER = 1,    /*  sees, explains, reads logs of its tenants' jobs  */
    ST__ROLE_SUBMITTER = 2, /*  and submits; cancels its own jobs  */
    ST__ROLE_OPERATOR = 3,  /*  and cancels any job of its tenants  */
    ST__ROLE_ADMIN = 4,     /*  everything, every tenant, users and tokens  */
} st__role_t;

typedef struct {
    const char *user; /*  user name  */
    st__role_t role;
    const char *const *tenants; /*  in order: tenants[0] is the default tenant of a submission  */
    size_t ntenants;
    int development;   /*  single-user development install: the local admin, every tenant  */
    uint64_t token_id; /*  the token that authenticated the request; 0 in development  */
} st__principal_t;

/*  The principal of every request in a development install (no tokens).  */
extern const st__principal_t st__principal_development;

/*  What a request does to a job: see it (show, explain, logs, a line of jobs),
 *  submit one, cancel it.  */
typedef enum {
    ST__ACT_SEE = 0,
    ST__ACT_SUBMIT,
    ST__ACT_CANCEL,
} st__action_t;

/*  The answer to "may who do this to that job?".  */
typedef enum {
    ST__AUTHZ_ALLOW = 0,
    ST__AUTHZ_HIDDEN, /*  not a job of who's tenants: answer exactly as for a job that does not exist  */
    ST__AUTHZ_DENIED, /*  a job who sees, an action its role does not allow: ERROR_PERMISSION_DENIED  */
} st__authz_t;

/*  1 when who sees every tenant (an admin, or the development install).  */
int st__authz_all_tenants (const st__principal_t *who);
/*  1 when who belongs to tenant (or sees every tenant).  */
int st__authz_member (const st__principal_t *who, const char *tenant);
/*  May who do act to job id of tenant, submitted by submitted_by ("" when unknown)?
 *  DENIED fills err with a message naming the role the action needs.  */
st__authz_t st__authz_job (const st__principal_t *who, st__action_t act, uint64_t id, const char *tenant,
                           const char *submitted_by, st_error_t *err);
/*  May who list jobs, of tenant when not NULL or "" (else of all its tenants)? 0, or -1
 *  with err: a role below viewer, or a tenant who does not belong to (refused rather
 *  than answered with an empty list, which would read as "that tenant has no jobs").  */
int st__authz_list (const st__principal_t *who, const char *tenant, st_error_t *err);
/*  The tenant of a submission by who: spec_tenant when the spec named one
 *  (NULL: it did not) and who belongs to it, else who's first tenant ("default"
 *  for an admin without tenants). Returns 0 with *tenant set (a string of who's
 *  or spec_tenant), or -1 with err naming the role or the tenant refused.  */
int st__authz_submit (const st__principal_t *who, const char *spec_tenant, const char **tenant, st_error_t *err);
/*  1 when who may read the values of the env of a job submitted by submitted_by:
 *  its submitter and admins.  */
int st__authz_sees_env (const st__principal_t *who, const char *submitted_by);
/*  spec_json with every env value replaced by "(hidden)": a new string (caller
 *  frees), or NULL when there is nothing to hide (no env, or text that is not a
 *  JSON object).  */
char *st__authz_hide_env (const char *spec_json);
/*  The tenant caps of the cluster file (sp_tenant_t max_priority, max_pending)
 *  against a submission at priority to tenant, which has pending jobs not yet
 *  running: 0 when within them, -1 with err naming the limit and its value.  */
int st__authz_caps (const sp_cluster_t *cluster, const char *tenant, int32_t priority, uint64_t pending,
                    st_error_t *err);
/*  Jobs of tenant that are PENDING (queued, waiting for dependencies, requeued),
 *  counted as they move (st__tenant_pending_sync): O(1) per submit.  */
uint64_t st__tenant_pending (const st__model_t *s, const char *tenant);
/*  Brings job's count in step with its state: called on admission and on every
 *  state change. Aborts when out of memory.  */
void st__tenant_pending_sync (st__model_t *s, st__job_t *job);
/*  Frees the counts (st__model_release).  */
void st__tenant_pending_free (st__model_t *s);

/*  -- record.c: plain rows read back for clients (store/ fills them, net/ sends them) --  */
/*  A task row of a job, as the database holds it.  */
typedef struct {
    uint32_t index;
    uint32_t attempt;
    char *state;
    char *node;
    int32_t pid;
    int32_t exit_code; /*  -1: none  */
    int32_t term_signal;
    uint64_t started_unix_ms;
    uint64_t finished_unix_ms;
    int has_peak, has_cpu; /*  the figures below are known  */
    uint64_t peak_mem_kib;
    uint64_t cpu_ms;
    char *reason; /*  why it ended ("" when it did not fail)  */
} st__task_record_t;

/*  The event of an earlier attempt of a task (kind ST__ATTEMPT_EVENT), written
 *  when its job is requeued: "<STATE> exit=<N|-> signal=<N> peak_mem_kib=<N|-> cpu_ms=<N|-> reason=<text>".
 *  st__attempt_parse reads one back into r (state and reason malloc'd);
 *  returns 0, or -1 when message is not of that form.  */
#define ST__ATTEMPT_EVENT "attempt"
int st__attempt_parse (const char *message, st__task_record_t *r);

/*  A job row, as the database holds it (strings owned; "" for NULL columns).  */
typedef struct {
    uint64_t id;
    char *name, *tenant, *queue, *kind, *state, *reason;
    int32_t priority;
    uint32_t attempt, max_attempts;
    int32_t exit_code; /*  -1: none  */
    uint32_t cpus_milli;
    uint64_t mem_mb;
    uint32_t gpus;
    uint32_t ranks;
    uint64_t created_unix_ms, started_unix_ms, finished_unix_ms;
    char *spec_json;
    int cancel_requested;
    char *pool, *variant;
    int has_est_cost, has_est_kwh, has_est_co2_g, has_cost, has_kwh, has_co2_g;
    double est_cost, est_kwh, est_co2_g, cost, kwh, co2_g;
    uint32_t preemptions;
    char *placement_json;
    char *model_version;
    char *registered_version;
    char *submitted_by; /*  "" for a job submitted before users were recorded  */
    st__task_record_t *tasks;
    size_t ntasks, cap_tasks;
    st__task_record_t *earlier; /*  earlier attempts of its tasks, by rank then attempt (show only)  */
    size_t nearlier, cap_earlier;
} st__job_record_t;

void st__job_record_free (st__job_record_t *r);
void st__job_records_free (st__job_record_t *r, size_t n);

#endif
