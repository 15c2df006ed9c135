/*  task.h: one task process on a worker, from fork/exec to reaping.
 *
 *  A task is one rank (or shard) of a job: (job_id, index, attempt). The worker
 *  starts it as its own process group so that every signal reaches the whole
 *  tree the program builds:
 *
 *      st__wtask_start ()  ->  RUNNING  --exit-->  EXITED      (st__wtask_reap)
 *                         \->  START_FAILED                   (nothing was left running)
 *
 *  RUNNING tasks may be asked to stop: st__wtask_terminate () sends SIGTERM to the
 *  group and arms a SIGKILL deadline; st__wtask_tick () fires that deadline and the
 *  time limit. Nothing here blocks except st__wtask_start (until exec succeeded or
 *  failed, a few ms) and st__wtask_destroy on a live task (SIGKILL, then wait).
 *
 *  Files (state_dir is the worker's --state-dir):
 *      logs/<job>/                                  0711, the worker's
 *      logs/<job>/<index>.<attempt>.stdout|stderr   output, appended, 0600, the task user's
 *      tasks/<job>.<index>.<attempt>/               cwd when the Launch names none, 0700, the task user's
 *      run/<job>.<index>.<attempt>.pid              the group, while it runs (pidfile.h)
 *
 *  logs/, run/, tasks/ and /dev/null are held open by the process from the first
 *  start under a state_dir on (each file is then one *at call), and reopened
 *  when state_dir changes or a folder was removed under it.
 *
 *  The worker is single-threaded but libzmq runs I/O threads, so the child does
 *  only async-signal-safe work between vfork and exec: everything it needs
 *  (argv, envp, resolved program path, open fds, the signals to reset) is
 *  prepared before.
 *
 *  Simulated tasks (st__wtask_simulate, for hollow nodes) have the same life
 *  cycle and the same calls, with no process and no files behind them: RUNNING
 *  at once with pid 0, EXITED with code 0 when their simulated run time is up,
 *  and every stop (terminate, kill, time limit) ends them at once, as if the
 *  program died of the signal (SIGTERM, or SIGKILL for st__wtask_kill). */
#ifndef ST_WORKER_TASK_H
#define ST_WORKER_TASK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "cgroup.h"
#include "st_spec.h"
#include "strata.pb-c.h"
#include "taskuser.h"

#define ST__WTASK_DEFAULT_GRACE_MS 10000u /*  when a Launch says kill_grace_ms = 0  */
#define ST__WTASK_MESSAGE_MAX 512
#define ST__WTASK_LOG_MAX_DEFAULT (64ull * 1024u * 1024u) /*  bytes kept of each output stream  */
#define ST__WTASK_LOG_CHECK_MS 1000u                      /*  how often a live task's logs are measured  */

/*  Environment: PATH=ST__WTASK_PATH, HOME (the worker's, when set), LANG=C.UTF-8;
 *  then Launch.env; then CUDA_VISIBLE_DEVICES (the worker's GPU choice wins) and
 *  the local rank. Nothing else of the worker's environment reaches a task.  */
#define ST__WTASK_PATH "/usr/local/bin:/usr/bin:/bin"

typedef struct {
    uint64_t job_id;
    uint32_t index;   /*  rank or shard, 0-based  */
    uint32_t attempt; /*  1-based  */
} st__wtask_key_t;

/*  What the worker tells the scheduler about a task (mirrors Strata__TaskStatus).  */
typedef struct {
    st__wtask_key_t key;
    Strata__TaskState state;             /*  RUNNING, EXITED or START_FAILED  */
    int32_t pid;                         /*  0 when it never started  */
    int32_t exit_code;                   /*  EXITED without a signal  */
    int32_t term_signal;                 /*  EXITED by a signal, else 0  */
    int timed_out;                       /*  the worker stopped it at its time limit  */
    char message[ST__WTASK_MESSAGE_MAX]; /*  why it did not start, or ""  */
    uint64_t started_unix_ms;
    uint64_t finished_unix_ms;
    /*  What its cgroup measured (EXITED tasks that ran in one).  */
    int has_peak;          /*  peak_mem_kib is known  */
    uint64_t peak_mem_kib; /*  peak memory of the group, KiB  */
    int has_cpu;           /*  cpu_ms is known  */
    uint64_t cpu_ms;       /*  user + system CPU time of the group, ms  */
    int oom_killed;        /*  it failed and the OOM killer struck in its group (message says so)  */
} st__wtask_status_t;

/*  What to run. Borrowed by st__wtask_start, which copies what it keeps.  */
typedef struct {
    st__wtask_key_t key;
    const char *const *argv;     /*  NULL-terminated, at least one element  */
    const st_kv_t *env;          /*  Launch.env (NULL: none); overrides the base env  */
    const char *workdir;         /*  NULL or "": the task dir under state_dir  */
    uint32_t time_limit_s;       /*  0: none  */
    uint32_t kill_grace_ms;      /*  0: ST__WTASK_DEFAULT_GRACE_MS  */
    const char *gpu_list;        /*  CUDA_VISIBLE_DEVICES value ("0,2"), NULL: no GPUs  */
    int local_rank;              /*  STRATA_LOCAL_RANK / LOCAL_RANK unless env has them; < 0: not set  */
    st__cgroup_t *cgroup;        /*  the node's parent group: the task runs in a child of it; NULL: none  */
    uint64_t mem_mb;             /*  its memory limit, MiB (0: none); with cgroup only  */
    uint32_t cpus_milli;         /*  its CPU quota, thousandths of a CPU (0: none); with cgroup only  */
    const st__task_user_t *user; /*  who it runs as (taskuser.h); NULL: the worker's user, files unchanged  */
} st__wtask_spec_t;

typedef struct st__wtask st__wtask_t;

/*  Starts spec under state_dir. Returns NULL only when memory runs out; otherwise
 *  check st__wtask_status ()->state: TASK_RUNNING, or TASK_START_FAILED with a
 *  message that names what failed (nothing is left running then).
 *  Caller owns the result.  */
st__wtask_t *st__wtask_start (const char *state_dir, const st__wtask_spec_t *spec);

/*  A task that runs nothing (a hollow node's): RUNNING from now_ms (pid 0, no
 *  files), ends with exit code 0 at now_ms + simulated_ms (0: at the next
 *  st__wtask_reap), or earlier when stopped or at spec's time limit. Only key,
 *  time_limit_s and kill_grace_ms of spec are used. NULL when memory runs out.  */
st__wtask_t *st__wtask_simulate (const st__wtask_spec_t *spec, uint64_t simulated_ms, uint64_t now_ms);

/*  Non-zero for a task made by st__wtask_simulate.  */
int st__wtask_simulated (const st__wtask_t *self);

/*  Kills a live task's group (SIGKILL) and waits for the leader, removes its pid
 *  file. NULL-safe; sets *self_p = NULL.  */
void st__wtask_destroy (st__wtask_t **self_p);

const st__wtask_status_t *st__wtask_status (const st__wtask_t *self);
const st__wtask_key_t *st__wtask_key (const st__wtask_t *self);

/*  Non-zero while the process has not been reaped.  */
int st__wtask_alive (const st__wtask_t *self);

/*  The SIGTERM -> SIGKILL delay the task was launched with.  */
uint32_t st__wtask_grace_ms (const st__wtask_t *self);

/*  Non-zero once st__wtask_terminate / st__wtask_kill was called on a live task.  */
int st__wtask_stopping (const st__wtask_t *self);

/*  SIGTERM to the group now, SIGKILL at now_ms + grace_ms unless it ended
 *  (grace_ms 0: the task's kill grace). A second call never delays an armed
 *  SIGKILL.  */
void st__wtask_terminate (st__wtask_t *self, uint32_t grace_ms, uint64_t now_ms);

/*  SIGKILL to the group now.  */
void st__wtask_kill (st__wtask_t *self);

/*  Checks (without blocking) whether the leader ended. Returns 1 when it just
 *  did: the status is then TASK_EXITED, the rest of the group has been sent
 *  SIGKILL (no stray processes outlive a task) and the pid file is removed;
 *  a task in a cgroup has its usage in the status and its group given back
 *  (a failed task the OOM killer struck gets oom_killed and the message
 *  "killed: out of memory (limit N MiB)"). Returns 0 otherwise.  */
int st__wtask_reap (st__wtask_t *self);

/*  Fires due deadlines (time limit: SIGTERM and timed_out; grace: SIGKILL).
 *  now_ms is st_mono_ms ().  */
void st__wtask_tick (st__wtask_t *self, uint64_t now_ms);

/*  Monotonic ms of the next deadline st__wtask_tick must see, UINT64_MAX if none.  */
uint64_t st__wtask_next_deadline (const st__wtask_t *self);

/*  Caps each output stream of every task of this process at bytes (0: no
 *  cap; default ST__WTASK_LOG_MAX_DEFAULT). Checked every
 *  ST__WTASK_LOG_CHECK_MS by st__wtask_tick and once more at the reap: past
 *  the cap the file is cut back to it and ends with a marker line
 *  "[strata: output cut at SIZE; N bytes dropped]". The task is not stopped,
 *  and what it writes elsewhere is not limited.  */
void st__wtask_set_log_max (uint64_t bytes);

/*  "<job>.<index>.<attempt>" into buf.  */
const char *st__wtask_key_format (const st__wtask_key_t *key, char *buf, size_t size);

/*  Equality of keys.  */
int st__wtask_key_eq (const st__wtask_key_t *a, const st__wtask_key_t *b);

/*  Log file path of a task: <state_dir>/logs/<job>/<index>.<attempt>.stdout|stderr.
 *  Returns 0, or -1 when it does not fit.  */
int st__wtask_log_path (const char *state_dir, const st__wtask_key_t *key, int is_stderr, char *buf, size_t size);

#endif
