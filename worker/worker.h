/*  worker.h: the strata-worker daemon: one event loop that keeps a node
 *  registered with the scheduler and runs the tasks the scheduler launches.
 *  With --hollow N the same loop keeps N emulated nodes, each with its own
 *  connection, whose tasks are simulated (for scale tests, as kubemark does).
 *
 *  Connection states (one DEALER socket per node, see node.c for the table):
 *
 *      CONNECTED --Register--> REGISTERING --RegisterReply accepted--> REGISTERED
 *          ^                       | refused: Register again in 2 s        |
 *          +-- no message from the scheduler for --scheduler-timeout, -----+
 *              or an Ack with ACK_UNKNOWN_NODE (fresh socket / re-Register)
 *
 *  Tasks keep running in every state; task updates wait in the outbox while
 *  the worker is not registered, and Register lists every task it still knows.
 *
 *  Signals: SIGTERM or SIGINT stops every task (SIGTERM, grace, SIGKILL),
 *  reports their ends for up to ST__WORKER_FLUSH_MS, and st__worker_run returns.
 *  A second SIGTERM/SIGINT SIGKILLs what is left at once. */
#ifndef ST_WORKER_WORKER_H
#define ST_WORKER_WORKER_H

#include <stdint.h>
#include "st_error.h"
#include "st_spec.h"

#define ST__WORKER_DEFAULT_ENDPOINT "tcp://127.0.0.1:7700"
#define ST__WORKER_DEFAULT_STATE_DIR "/var/lib/strata/worker"
#define ST__WORKER_REGISTER_RETRY_MS 2000u         /*  after a refused registration  */
#define ST__WORKER_STOP_GRACE_MAX_MS 10000u        /*  cap on a task's grace when the worker stops  */
#define ST__WORKER_FLUSH_MS 2000u                  /*  time to report task ends when stopping  */
#define ST__WORKER_LOG_MAX_BYTES (256u * 1024u)    /*  cap on one LogData  */
#define ST__WORKER_HOLLOW_MAX 100000               /*  --hollow at most  */
#define ST__WORKER_LOG_MAX_MB 64u                  /*  --task-log-max default  */
#define ST__WORKER_RETENTION_MS (7ull * 86400000u) /*  --task-retention default: a week  */
#define ST__WORKER_MIN_FREE_MB 1024u               /*  --min-free default  */
#define ST__WORKER_HOLLOW_FDS_PER_NODE 2u          /*  a hollow node's connection and its socket's mailbox  */
#define ST__WORKER_HOLLOW_FDS_SPARE 64u            /*  the process's own (ZeroMQ threads, epoll, pipe, stdio)  */
#define ST__WORKER_HOLLOW_CONNECTS_PER_S \
    500u /*  a hollow worker's nodes connect at this rate at start:
                                                 *  thousands of connects at once overflow the scheduler's
                                                 *  listen backlog, and dropped SYNs are retried 1, 3, 7, 15,
                                                 *  31 s later  */

/*  Options (flags and config-file keys). Fields the parser fills are owned by
 *  the struct; st_config_free releases them.  */
typedef struct {
    char *config;                  /*  --config FILE  */
    char *scheduler;               /*  --scheduler ENDPOINT  */
    char *node;                    /*  --node NAME; NULL: the host name  */
    char *pool;                    /*  --pool NAME  */
    st_kv_t labels;                /*  --label k=v, repeatable  */
    uint32_t cpus_milli;           /*  --cpus; 0: online CPUs  */
    uint64_t mem_mb;               /*  --memory; 0: MemTotal  */
    int64_t gpus;                  /*  --gpus; -1: NVML device count  */
    char *gpu_type;                /*  --gpu-type; NULL/"": NVML name of device 0  */
    char *state_dir;               /*  --state-dir DIR  */
    uint64_t heartbeat_ms;         /*  --heartbeat-interval; RegisterReply may override  */
    uint64_t scheduler_timeout_ms; /*  --scheduler-timeout  */
    char *log_level;               /*  --log-level  */
    char *curve_key;               /*  --curve-key FILE: this worker's key pair (strata keygen NODE)  */
    char *scheduler_key;           /*  --scheduler-key FILE: the scheduler's public key  */
    int64_t hollow;                /*  --hollow N: N emulated nodes, simulated tasks; 0: a real worker  */
    char *cgroup_root;             /*  --cgroup-root PATH: where task cgroups go; "none": no cgroups  */
    int64_t cgroup_pids_max;       /*  --cgroup-pids-max N: processes per task  */
    char *task_user;               /*  --task-user USER; NULL: strata-task as root, else the worker's user  */
    st_kv_t tenant_users;          /*  --tenant-user TENANT=USER, repeatable  */
    uint64_t task_log_max_mb;      /*  --task-log-max: MiB kept of each output stream of a task; 0: no cap  */
    uint64_t task_retention_ms;    /*  --task-retention: finished task folders removed after; 0: kept  */
    uint64_t min_free_mb;          /*  --min-free: below this free in the state dir, no new tasks; 0: off  */
} st__worker_config_t;

/*  Sets the non-string defaults (string defaults live in the option table).  */
void st__worker_config_defaults (st__worker_config_t *cfg);

typedef struct st__worker st__worker_t;

/*  Creates the state directory and takes its lock (one worker per state dir),
 *  resolves the defaults that depend on the machine (node name, CPUs, memory,
 *  GPUs). Returns NULL with err filled. Caller owns the result.
 *
 *  With cfg->hollow = N > 0: N hollow nodes named "<node>-0" .. "<node>-<N-1>",
 *  each registering on its own connection with the capacity the flags declare
 *  (--cpus and --memory are required; nothing is detected) and running
 *  simulated tasks: no process is started and no file written (no state
 *  directory). Raises the open-file limit for them, or fails when N cannot fit.  */
st__worker_t *st__worker_new (const st__worker_config_t *cfg, st_error_t *err);

/*  Kills leftover task groups of an earlier worker (pid files), connects, and
 *  runs until SIGTERM/SIGINT. Installs the worker's signal handlers.
 *  Returns ST_OK after a clean stop, or an error with err filled.  */
st_rc_t st__worker_run (st__worker_t *self, st_error_t *err);

/*  Kills any task still alive, closes the socket. NULL-safe; sets *self_p = NULL.  */
void st__worker_destroy (st__worker_t **self_p);

#endif
