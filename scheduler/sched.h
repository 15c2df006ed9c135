/*  sched.h: the scheduler's in-memory model of the cluster.
 *
 *  One thread owns everything here. PostgreSQL is the source of truth: every
 *  change to a job, task or node marks it dirty, and the loop writes all dirty
 *  rows in one transaction (st_store_flush) before it sends any reply or Launch
 *  that depends on them. After a restart the model is rebuilt from the database
 *  (st_store_load) and reconciled with the workers as they register again.
 *
 *  Job states (the only door is st_job_set_state, table in model.c):
 *
 *      PENDING -> SCHEDULED -> STARTING -> RUNNING -> SUCCEEDED | FAILED | CANCELLED
 *         ^          |            |          |
 *         +----------+------------+----------+---- LOST (node gone) / PREEMPTED / retry
 *
 *  Tasks use the same vocabulary: a task is PENDING until placed, SCHEDULED
 *  when its placement is committed, STARTING once Launch is sent, RUNNING when
 *  the worker reports the process, and ends SUCCEEDED, FAILED, CANCELLED or
 *  LOST. A job's state follows from its tasks (st_job_evaluate). */
#ifndef ST_SCHED_H
#define ST_SCHED_H

#include <stdint.h>
#include <stddef.h>
#include <libpq-fe.h>

#include "policy.h"
#include "st_curve.h"
#include "st_error.h"
#include "st_map.h"
#include "st_spec.h"
#include "st_vec.h"
#include "st_vocab.h"      /*  st_job_state_t and its names  */
#include "st_wire.h"


/*  The cap of the scheduler's growable arrays (st_vec_push), in elements.  */
#define ST_SCHED_ARRAY_MAX ((size_t) 1 << 26)

typedef enum { ST_NODE_UP = 0, ST_NODE_LOST } st_node_state_t;

typedef struct st_sched st_sched_t;
typedef struct st_job st_job_t;
typedef struct st_task st_task_t;
typedef struct st_node st_node_t;

struct st_node {
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
    st_peer_t peer;             /*  ROUTER routing id of the worker's DEALER  */
    int connected;              /*  a worker instance is registered on peer  */
    uint64_t instance;          /*  worker process instance (random per start)  */
    uint64_t epoch;             /*  bumped for each new instance  */
    uint64_t last_seen_mono;    /*  monotonic ms of the last message  */
    uint64_t last_seen_wall;
    st_node_state_t state;
    /*  accounting: sums over the tasks in tasks list that hold resources  */
    uint32_t used_cpus_milli;
    uint64_t used_mem_mb;
    uint32_t used_gpus;
    st_task_t *tasks;           /*  tasks placed here and not yet released (list via node_next)  */
    uint32_t ntasks;
    int dirty;                  /*  needs writing to the nodes table  */
    int persisted;              /*  row exists  */
    sp_node_t pn;               /*  the placement engine's view (place.c keeps it in step)  */
    int pn_stale;               /*  registered anew: refresh pn's pool, capacity and labels  */
};

struct st_task {
    st_job_t *job;
    uint32_t index;
    uint32_t attempt;
    st_job_state_t state;
    st_node_t *node;            /*  where it is placed; NULL while PENDING  */
    char *node_name;            /*  last node (kept after release, for logs)  */
    int holds;                  /*  its resources are counted on node  */
    st_task_t *node_next, *node_prev;
    int32_t pid;
    int32_t exit_code;
    int32_t term_signal;
    int has_exit;
    uint64_t started_wall;
    uint64_t finished_wall;
    uint64_t launch_seq;        /*  envelope seq of the last Launch sent; 0: none outstanding  */
    uint64_t launch_sent_mono;
    int launch_acked;
    int stop_sent;              /*  a terminate signal went out for this attempt  */
    int dirty;
    /*  a held rank of an mpirun-launched gang (runtime.c)  */
    int exec_sent;              /*  an Exec went out to give it its process (Open MPI's daemon)  */
};

/*  Rendezvous values of one attempt of a job (runtime.c).  */
typedef struct {
    uint32_t attempt;
    size_t n;
    char *keys[64];
    uint8_t *vals[64];
    size_t lens[64];
} st_rdzv_t;

/*  A RendezvousGet waiting for its key.  */
typedef struct {
    uint64_t job_id;
    uint32_t attempt;
    char *key;                  /*  owned  */
    char *node;                 /*  owned: the asking rank's node  */
    uint64_t fwd_seq;           /*  the relayed request's seq: the reply's reply_to  */
    uint64_t deadline_mono;
    uint32_t timeout_ms;
} st_rdzv_wait_t;

struct st_job {
    uint64_t id;
    st_spec_t *spec;
    char *spec_json;            /*  canonical spec, as stored  */
    char *submit_token;         /*  the client's idempotency token, or NULL  */
    st_job_state_t state;
    st_job_state_t db_state;    /*  the state the database holds (guard for updates)  */
    int persisted;              /*  row exists  */
    int dirty;
    char reason[512];
    uint32_t attempt;           /*  current attempt, 0 before the first placement  */
    uint32_t max_attempts;
    int32_t exit_code;
    int has_exit;
    int cancel_requested;
    int stopping;               /*  a rank failed or was lost: the other ranks are being stopped  */
    char failure[512];          /*  why the current attempt is ending  */
    uint64_t created_wall;
    uint64_t started_wall;
    uint64_t finished_wall;
    st_task_t *tasks;
    uint32_t ntasks;
    int in_pending;             /*  listed in sched->pending at pending_idx  */
    size_t pending_idx;
    /*  placement (place.c)  */
    sp_job_t pj;                /*  the placement engine's view, filled from spec  */
    sp_node_t **placed;         /*  ntasks: where the current attempt's tasks hold resources  */
    uint32_t nholding;          /*  tasks whose resources are counted on a node  */
    size_t running_idx;         /*  in sched->running while nholding > 0  */
    uint32_t accounted_attempt; /*  the last attempt whose cost was added to the actual figures  */
    int preempt_requested;      /*  the engine chose it as a preemption victim: stopping  */
    uint32_t preemptions;       /*  attempts ended by preemption (they do not use up retries)  */
    char *pool;                 /*  pool of the current or last placement  */
    char *variant;              /*  model variant chosen there, or NULL  */
    char *placement_json;       /*  the placement's score against its runners-up (sp_explain_placement)  */
    int has_estimate;
    double est_cost, est_kwh, est_co2_g;    /*  at placement, over the time limit (or 1 h)  */
    int has_actual;
    double cost, kwh, co2_g;    /*  actual, summed over attempts, at the end  */
    /*  dependencies and fine-tuned models (deps.c, registry.c)  */
    uint32_t deps_waiting;      /*  dependencies not yet SUCCEEDED: not offered to the engine  */
    uint32_t ft_version;        /*  the fine-tuned model version it uses; 0: none (yet)  */
    char *model_ref;            /*  that version as "NAME:VERSION" (jobs.model_ref); NULL: none  */
    const char *model_uri;      /*  its checkpoint (the registry's string); NULL: none  */
    const char **eff_residency; /*  pj.residency narrowed by that version (strings not owned)  */
    /*  multi-rank runtime (runtime.c)  */
    st_rdzv_t *rdzv;            /*  the current attempt's rendezvous values, NULL: none yet  */
    int has_progress;           /*  the latest Progress of a rank, in memory only  */
    uint64_t progress_step, progress_total;
    double progress_loss, progress_rate;
    char progress_unit[16];
};

/*  A registered version of a fine-tuned model (registry.c): the checkpoint of a
 *  finetune job that named output_model and SUCCEEDED. Never changes; kept in
 *  memory for the scheduler's life (model_versions has every one).  */
typedef struct {
    char *tenant;               /*  names are per tenant: (tenant, name, version) is the key  */
    char *name;
    uint32_t version;           /*  1, 2, ... per (tenant, name)  */
    uint64_t job_id;
    char *checkpoint;           /*  the job's STRATA_CHECKPOINT_DIR; NULL: it had none  */
    char *pool;                 /*  where it was trained  */
    char *jurisdiction;         /*  that pool's jurisdiction at the time; NULL: none  */
    char *variant;              /*  the base model variant it was trained from; NULL: none  */
    sp_class_t classification;  /*  of the job's data (the stricter of its own and its model's)  */
    char **residency;           /*  where that data may go, nresidency entries; NULL: anywhere  */
    size_t nresidency;
    uint64_t created_wall;
} st_model_version_t;

/*  One row for the events table.  */
typedef struct {
    uint64_t job_id;
    int32_t task_idx;           /*  -1: about the job  */
    uint32_t attempt;
    const char *kind;           /*  static: "submitted", "state", "task", "node"  */
    const char *from_state;     /*  static or NULL  */
    const char *to_state;
    char *node;                 /*  owned  */
    char *message;              /*  owned  */
    uint64_t at_wall;
} st_event_t;

typedef struct {
    char *database;
    char *worker_endpoint;
    char *client_endpoint;
    char *event_endpoint;
    uint64_t heartbeat_ms;
    uint64_t node_timeout_ms;
    uint64_t launch_timeout_ms;
    uint64_t kill_grace_ms;
    char *log_level;
    char *config;
    char *cluster_file;         /*  --cluster: pools, regions, models, queues, tenants  */
    char *policy;               /*  --policy: default, fifo, backfill, las  */
    char *curve_key;            /*  the scheduler's .key file: CURVE on both ROUTER sockets  */
    char *worker_keys;          /*  folder of NODE.pub files enrolled for workers  */
    char *client_keys;          /*  folder of USER.pub files enrolled for clients (NULL: any key)  */
} st_sched_config_t;

/*  A reply that must wait until the current batch is committed (packed already).  */
typedef struct {
    void *sock;
    st_peer_t peer;
    uint8_t *buf;
    size_t len;
} st_deferred_t;

/*  A remembered submission token: (tenant, token) -> job id, for an hour.  */
typedef struct st_token {
    uint64_t job_id;
    uint64_t expires_mono;
    size_t keylen;
    struct st_token *next;      /*  FIFO by expiry  */
    char key[];                 /*  "tenant\0token"  */
} st_token_t;

/*  A log request relayed from a client to a worker.  */
typedef struct st_logreq {
    uint64_t id;
    st_peer_t client;
    uint64_t client_seq;
    uint64_t deadline_mono;
    char job_state[16];
    uint32_t attempt;
    struct st_logreq *next;
} st_logreq_t;

typedef struct {
    uint64_t bad_frames;
    uint64_t oversized_frames;
    uint64_t version_mismatches;
    uint64_t duplicate_registrations;
    uint64_t refused_registrations;     /*  CURVE key enrolled for another node name  */
    uint64_t unknown_peer_messages;
    uint64_t stale_updates;
    uint64_t submits;
    uint64_t flushes;
    uint64_t placed;                    /*  jobs placed  */
} st_counters_t;

struct st_sched {
    st_sched_config_t cfg;
    PGconn *db;
    void *zctx;
    void *worker_sock;
    void *client_sock;
    void *event_sock;
    st_zap_t *zap;              /*  CURVE allow-list; NULL when authentication is off  */
    uint64_t seq;               /*  last envelope seq sent  */
    uint64_t next_job_id;
    st_map_t *jobs;             /*  id -> st_job_t, unfinished jobs only  */
    st_map_t *nodes;            /*  name -> st_node_t  */
    st_map_t *peers;            /*  routing id -> st_node_t, connected nodes only  */
    st_map_t *launches;         /*  launch seq -> st_task_t awaiting Ack  */
    st_map_t *tokens;           /*  "tenant\0token" -> st_token_t  */
    st_token_t *tokens_head, *tokens_tail;
    sp_job_t **pending;         /*  jobs waiting for placement (unordered: the engine orders them)  */
    size_t npending, cap_pending;
    sp_job_t **running;         /*  jobs holding resources (nholding > 0)  */
    size_t nrunning, cap_running;
    sp_cluster_t *cluster;      /*  pools, regions, models, queues, tenants (--cluster; never NULL when running)  */
    sp_engine_t *engine;
    sp_policy_t policy;
    sp_node_t **pnodes;         /*  every node's pn, for the engine  */
    size_t npnodes, cap_pnodes;
    int sched_needed;           /*  something changed that could let a pending job start  */
    st_job_t **dirty_jobs;      /*  jobs to write in the next flush  */
    size_t ndirty_jobs, cap_dirty_jobs;
    st_task_t **dirty_tasks;
    size_t ndirty_tasks, cap_dirty_tasks;
    st_node_t **dirty_nodes;
    size_t ndirty_nodes, cap_dirty_nodes;
    st_event_t *events;
    size_t nevents, cap_events;
    st_task_t **to_launch;      /*  SCHEDULED tasks to launch once committed  */
    size_t nto_launch, cap_to_launch;
    st_job_t **finished;        /*  jobs that ended: dropped from memory after the flush  */
    size_t nfinished, cap_finished;
    st_deferred_t *deferred;
    size_t ndeferred, cap_deferred;
    st_rdzv_wait_t *rdzv_waits; /*  RendezvousGets waiting for their key (runtime.c)  */
    size_t nrdzv_waits, cap_rdzv_waits;
    st_logreq_t *logreqs;
    size_t nlogreqs;
    uint64_t next_logreq;
    st_counters_t counters;
    /*  dependencies and fine-tuned models (deps.c, registry.c); created on first use  */
    st_map_t *dependents;       /*  job id -> the ids of waiting jobs that depend on it  */
    st_map_t *dep_states;       /*  finished jobs' state and tenant read from the database (a cache for
                                    one submit, or for st_store_load)  */
    uint64_t *settle;           /*  (job id, state) pairs whose dependents are to be settled  */
    size_t nsettle, cap_settle;
    int settling;
    st_map_t *ftmodels;         /*  "tenant\0name" -> its versions  */
    st_model_version_t **new_versions;  /*  registered since the last flush: written by the next one  */
    size_t nnew_versions, cap_new_versions;
};

/*  -- runtime.c: rendezvous, remote starts and progress of multi-rank jobs  -- */
/*  Exit code of a workload that checkpointed and stopped when asked: its
 *  attempt ends PREEMPTED and the job goes back to the queue (no retry used).  */
#define ST_EXIT_PREEMPTED 75
/*  Past this many preemptions an attempt that exits ST_EXIT_PREEMPTED fails
 *  like any other exit code (a program that always says so must not loop).  */
#define ST_PREEMPTIONS_MAX 100u
/*  RendezvousPut/Get, RemoteExec and Progress relayed by node's worker.  */
void       st_runtime_on_message (st_sched_t *s, st_node_t *node, const Strata__Envelope *env);
/*  A task ended: a held rank's end goes to rank 0's worker (RemoteExited).  */
void       st_runtime_task_ended (st_sched_t *s, st_task_t *t);
/*  Times out rendezvous waits; answers waits whose attempt ended.  */
void       st_runtime_tick (st_sched_t *s, uint64_t now_mono);
void       st_runtime_job_free (st_job_t *job);
/*  "step 120/500, loss 2.310, 5,400 tokens/s" into buf; "" when none.  */
const char *st_runtime_progress_text (const st_job_t *job, char *buf, size_t size);

/*  MASTER_PORT of an attempt of a job (dispatch.c).  */
unsigned   st_dispatch_master_port (uint64_t job_id, uint32_t attempt);

/*  -- model.c -----------------------------------------------------------  */
st_job_t  *st_job_new (st_sched_t *s, uint64_t id, st_spec_t *spec, char *spec_json, uint64_t created_wall);
void       st_job_free (st_job_t *job);
/*  Moves job from its current state to `to`, records an event and marks it dirty.
 *  Refuses (returns ST_ESTATE, logs) a transition the table does not allow.  */
st_rc_t    st_job_set_state (st_sched_t *s, st_job_t *job, st_job_state_t to, const char *reason_fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
void       st_job_set_reason (st_sched_t *s, st_job_t *job, const char *reason);
/*  Derives the job's state from its tasks after any task change.  */
void       st_job_evaluate (st_sched_t *s, st_job_t *job);
/*  Ends a task of the current attempt; releases its resources.  */
void       st_task_end (st_sched_t *s, st_task_t *t, st_job_state_t state);
void       st_task_assign (st_sched_t *s, st_task_t *t, st_node_t *node);
void       st_task_release (st_sched_t *s, st_task_t *t);
/*  Sends Signal TERMINATE to every live task of job that has not had one yet
 *  (tasks on a disconnected node get theirs when it registers again).  */
void       st_job_stop_tasks (st_sched_t *s, st_job_t *job);
/*  After a successful flush: the rows now match memory; nothing is dirty.  */
void       st_batch_committed (st_sched_t *s);
/*  SCHEDULED, STARTING or RUNNING: placed and not yet ended.  */
int        st_task_live (const st_task_t *t);
void       st_mark_job (st_sched_t *s, st_job_t *job);
void       st_mark_task (st_sched_t *s, st_task_t *t);
void       st_mark_node (st_sched_t *s, st_node_t *n);
void       st_add_event (st_sched_t *s, uint64_t job_id, int32_t task_idx, uint32_t attempt, const char *kind,
                         const char *from, const char *to, const char *node, const char *fmt, ...)
    __attribute__ ((format (printf, 9, 10)));
void       st_pending_add (st_sched_t *s, st_job_t *job);
void       st_pending_remove (st_sched_t *s, st_job_t *job);
st_node_t *st_node_new (const char *name);
void       st_node_free (st_node_t *n);
st_task_t *st_sched_find_task (st_sched_t *s, uint64_t job_id, uint32_t index);

/*  -- place.c -----------------------------------------------------------  */
/*  Fills job->pj (the engine's view) from its spec. Returns 0, or -1 when out of memory.  */
int st_place_job_init (st_sched_t *s, st_job_t *job);
/*  An attempt of job has ended (every task stopped): adds its cost, energy and
 *  carbon to the actual figures and its GPU time to the attained service.  */
void st_place_attempt_ended (st_sched_t *s, st_job_t *job);
/*  One placement pass over the pending jobs. Returns 1 when it ran a cycle,
 *  0 when nothing had changed since the last one.  */
int st_place_pending (st_sched_t *s);

/*  -- store.c -----------------------------------------------------------  */
st_rc_t st_store_connect (st_sched_t *s, st_error_t *err);
/*  Blocks until this scheduler holds the leader lock.  */
st_rc_t st_store_lead (st_sched_t *s, volatile int *stop, st_error_t *err);
st_rc_t st_store_migrate (st_sched_t *s, st_error_t *err);
st_rc_t st_store_load (st_sched_t *s, st_error_t *err);
/*  Writes every dirty row and queued event in one transaction.  */
st_rc_t st_store_flush (st_sched_t *s, st_error_t *err);
st_rc_t st_store_get_job (st_sched_t *s, uint64_t id, Strata__JobInfo **out, st_error_t *err);
st_rc_t st_store_list_jobs (st_sched_t *s, const Strata__ListRequest *req, Strata__ListReply **out, st_error_t *err);
void    st_store_free_job (Strata__JobInfo *job);
void    st_store_free_list (Strata__ListReply *list);
/*  Latest task row of (job, rank): node, attempt, job state. For log relays.  */
st_rc_t st_store_task_location (st_sched_t *s, uint64_t job_id, uint32_t rank, char *node, size_t node_size,
                                uint32_t *attempt, char *job_state, size_t state_size, st_error_t *err);

/*  -- dispatch.c (worker socket) ---------------------------------------  */
/*  The job's STRATA_CHECKPOINT_DIR: its spec's checkpoint_dir, else
 *  <storage_root>/checkpoints/job-<id> in its pool (into buf); NULL: none.  */
const char *st_job_checkpoint_dir (const st_sched_t *s, const st_job_t *job, char *buf, size_t size);
void st_dispatch_worker_message (st_sched_t *s, const st_peer_t *peer, Strata__Envelope *env);
void st_dispatch_send_launches (st_sched_t *s);
/*  Queues a Signal for t's worker; returns 0 when its node is not connected.  */
int  st_dispatch_signal (st_sched_t *s, st_task_t *t, Strata__SignalKind kind);
void st_dispatch_tick (st_sched_t *s, uint64_t now);
void st_dispatch_send_ack (st_sched_t *s, const st_peer_t *peer, uint64_t ack_seq, Strata__AckStatus status);

/*  -- client.c (client socket) -----------------------------------------  */
#define ST_TOKEN_TTL_MS (3600u * 1000u)
/*  Remembers (tenant, token) -> job_id until ttl_ms from now.  */
void st_token_remember (st_sched_t *s, const char *tenant, const char *token, uint64_t job_id, uint64_t ttl_ms);
void st_token_forget_all (st_sched_t *s);
void st_client_message (st_sched_t *s, const st_peer_t *peer, Strata__Envelope *env);
void st_client_error (st_sched_t *s, const st_peer_t *peer, uint64_t reply_to, Strata__ErrorCode code,
                      const char *msg, const char *hint);
void st_client_log_data (st_sched_t *s, const Strata__LogData *data);
/*  strata explain (place.c): why a job waits, or its score against the runners-up.  */
void st_client_explain (st_sched_t *s, const st_peer_t *peer, Strata__Envelope *env);
void st_client_tick (st_sched_t *s, uint64_t now);

/*  -- store_cluster.c ---------------------------------------------------  */
/*  Writes the cluster description c in one transaction, replacing the previous
 *  one: pools' attributes (upserted; a pool c no longer names stays, implicit
 *  and with the defaults, while a node belongs to it), regions and latencies,
 *  the model registry, and queue and tenant weights and quotas. For start-up.  */
st_rc_t st_store_save_cluster (st_sched_t *s, const sp_cluster_t *c, st_error_t *err);

/*  -- client_cluster.c (client socket) ---------------------------------  */
/*  Pools: every pool of s->cluster and of the known nodes, with live figures
 *  from the nodes. Models: the model registry, then the fine-tuned model
 *  versions (registry.c). Both answer at once.  */
void st_client_pools (st_sched_t *s, const st_peer_t *peer, const Strata__Envelope *env);
void st_client_models (st_sched_t *s, const st_peer_t *peer, const Strata__Envelope *env);

/*  -- sched.c -----------------------------------------------------------  */
uint64_t st_sched_next_seq (st_sched_t *s);
/*  Queues a reply to be sent after the next successful flush.  */
void st_sched_defer (st_sched_t *s, void *sock, const st_peer_t *peer, Strata__Envelope *env);
/*  Frees the model (nodes, jobs, queues, the cluster and the engine); sockets and the connection are the caller's.  */
void st_sched_release (st_sched_t *s);
/*  The whole daemon: options, start-up, the loop, clean shutdown. Returns the exit code.  */
int  st_sched_main (int argc, char **argv);

/*  -- deps.c: job dependencies (depends_on) ----------------------------  */
/*  A new job's depends_on, model and output_model against what exists: refuses
 *  (ST_EINVAL, err naming the field) jobs that do not exist or belong to
 *  another tenant, a fine-tuned model nobody registered that no dependency can
 *  register, an output_model that names a model of the cluster's registry. No
 *  side effects, except caching the states of finished dependencies.  */
st_rc_t st_deps_check (st_sched_t *s, const st_job_t *job, st_error_t *err);
/*  A new or loaded PENDING job: fails when a dependency failed or was
 *  cancelled, waits (not offered to the engine) while one has not SUCCEEDED,
 *  else resolves its fine-tuned model and joins the pending jobs.  */
void    st_deps_admit (st_sched_t *s, st_job_t *job);
/*  st_job_set_state's entry action: a finetune that SUCCEEDED registers its
 *  model version; a job that ended releases or fails the jobs waiting for it
 *  (cascading, without recursion); other moves refresh their reasons.  */
void    st_deps_on_state (st_sched_t *s, st_job_t *job);
/*  Reads the states of the finished jobs that unfinished jobs depend on (start-up).  */
st_rc_t st_deps_prefetch (st_sched_t *s, st_error_t *err);
void    st_deps_forget_states (st_sched_t *s);
void    st_deps_free (st_sched_t *s);

/*  -- registry.c: fine-tuned model versions -----------------------------  */
/*  spec names a fine-tuned model (NAME:VERSION, or a NAME the cluster's model
 *  registry does not know) rather than a family, variant or auto.  */
int     st_registry_is_finetune (const st_sched_t *s, const st_spec_t *spec);
/*  name is a family, a variant or auto of the cluster's model registry.  */
int     st_registry_cluster_model (const st_sched_t *s, const char *name);
/*  The version of (tenant, name): `version`, or the latest when 0; NULL when none.  */
const st_model_version_t *st_registry_find (st_sched_t *s, const char *tenant, const char *name, uint32_t version);
/*  job, a finetune with output_model, SUCCEEDED: registers its checkpoint as
 *  the next version (written by the next flush, with the job's state).  */
void    st_registry_register (st_sched_t *s, st_job_t *job);
/*  Adds a version read from the database; takes it.  */
void    st_registry_add (st_sched_t *s, st_model_version_t *v);
/*  Binds job to version v and narrows its placement view: the stricter
 *  classification, residency within both the job's and the model's, only
 *  where the checkpoint may be read, and the base variant's jurisdictions.
 *  Returns 0, or -1 with why (the job can run nowhere).  */
int     st_registry_apply (st_sched_t *s, st_job_t *job, const st_model_version_t *v, char *why, size_t size);
/*  The same verdict for a spec, changing nothing.  */
int     st_registry_check (const st_spec_t *spec, const st_model_version_t *v, char *why, size_t size);
/*  Every version, sorted by tenant, name and version (caller frees the array).  */
size_t  st_registry_list (st_sched_t *s, const st_model_version_t ***out);
void    st_model_version_free (st_model_version_t *v);
void    st_registry_free (st_sched_t *s);

#endif
