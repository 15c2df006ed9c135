/*  cgroup.h: each task of a worker in its own control group, behind one small
 *  interface over cgroup v2 and v1.
 *
 *  The worker opens one parent group for its node (st__cgroup_open) and takes a
 *  child group for every task it starts (st__cgroup_take): memory limit = the
 *  task's mem_per_rank, CPU quota = its cpus_per_rank, and a process-count
 *  limit. The child process joins the group itself, between vfork and exec,
 *  through the cgroup.procs descriptors st__cgroup_join_fds opens. When the
 *  task has been reaped, st__cgroup_give_back reads what it used (peak memory,
 *  CPU time, whether the kernel's OOM killer struck inside it) and frees the
 *  group:
 *
 *      st__cgroup_take ()  ->  IN USE  --give_back, empty-->  IDLE (v1: reused by a later take)
 *                                      --give_back, busy--->  DRAINING (SIGKILLed; removed or
 *                                                             reused by st__cgroup_tick once empty)
 *
 *  Which hierarchy: v2 where a cgroup2 file system is mounted and its root
 *  lists the memory, cpu and pids controllers; otherwise v1 where memory, cpu
 *  and pids hierarchies are mounted (cpuacct, alone or as cpu,cpuacct, gives
 *  the CPU time when present); otherwise none, and st__cgroup_open says why.
 *
 *  Where: root (--cgroup-root) relative ("strata", the default) is under the
 *  worker's own group of each hierarchy (/proc/self/cgroup), so a worker
 *  started inside a limited group keeps its tasks inside that limit; absolute
 *  ("/strata") is from the hierarchy's root. The parent is <root>/<name>, where
 *  the worker makes name unique per state directory ("<node>.<hash>"): two
 *  workers on one host never share a parent, and a worker restarted on the
 *  same state directory finds (and clears) what its predecessor left.
 *
 *  Reuse (v1 only): creating a memory cgroup is the dearest step of a start in
 *  v1 (and removed ones linger in the kernel as offline memcgs), so an emptied
 *  group goes on an idle list with its counters reset (memory.max_usage_in_bytes,
 *  memory.failcnt, cpuacct.usage) and the next start only rewrites the limits
 *  that differ. v2 has no reset for memory.peak: each task gets a fresh group,
 *  removed when it is empty.
 *
 *  Everything here runs on the worker's loop thread; nothing blocks. */
#ifndef ST_WORKER_CGROUP_H
#define ST_WORKER_CGROUP_H

#include <stddef.h>
#include <stdint.h>

#define ST__CGROUP_DEFAULT_ROOT "strata"
#define ST__CGROUP_DEFAULT_PIDS_MAX 4096u
#define ST__CGROUP_IDLE_MAX 256u         /*  v1 idle groups kept for reuse; more are removed  */
#define ST__CGROUP_CPU_PERIOD_US 100000u /*  CFS period of every task group  */
#define ST__CGROUP_HIER_MAX 4            /*  v1: memory, cpu, cpuacct, pids  */

typedef struct st__cgroup st__cgroup_t;           /*  the node's parent group  */
typedef struct st__cgroup_task st__cgroup_task_t; /*  one task's group  */

/*  What a task's group measured, from its start to its reap.  */
typedef struct {
    int has_peak;          /*  peak_kib is known  */
    uint64_t peak_kib;     /*  peak memory charged to the group (v1: usage, page cache included), KiB  */
    int has_cpu;           /*  cpu_ms is known  */
    uint64_t cpu_ms;       /*  user + system CPU time of every process in it, ms  */
    int oom_killed;        /*  the kernel's OOM killer killed a process inside it  */
    uint64_t mem_limit_mb; /*  the memory limit it had (0: none), for the message  */
} st__cgroup_usage_t;

/*  Opens (creating it when needed) the node's parent group <root>/<name> and
 *  empties it of groups an earlier worker left (their processes SIGKILLed).
 *  pids_max is the per-task process limit (0: ST__CGROUP_DEFAULT_PIDS_MAX).
 *  Returns NULL with why filled ("not running as root", "no memory
 *  controller", ...) when no group can be made: tasks then run without one.
 *  Caller owns the result.  */
st__cgroup_t *st__cgroup_open (const char *root, const char *name, uint32_t pids_max, char *why, size_t whysize);

/*  "cgroup v1" or "cgroup v2" (Register.isolation).  */
const char *st__cgroup_kind (const st__cgroup_t *self);

/*  The node's parent group in the memory (v1) or unified (v2) hierarchy, for logs.  */
const char *st__cgroup_path (const st__cgroup_t *self);

/*  A group for one task, its limits written: mem_mb 0 and cpus_milli 0 mean no
 *  limit. Returns NULL with err filled when the group cannot be made or a
 *  limit cannot be written (the start then fails with that message).  */
st__cgroup_task_t *st__cgroup_take (st__cgroup_t *self, uint64_t mem_mb, uint32_t cpus_milli, char *err,
                                    size_t errsize);

/*  The cgroup.procs descriptors of task, one per hierarchy, into fds: the
 *  child writes "0" to each (st__cgroup_join) before exec. They stay the
 *  group's (held from its creation, O_CLOEXEC): the caller closes none.
 *  Returns how many.  */
int st__cgroup_join_fds (const st__cgroup_t *self, const st__cgroup_task_t *task, int *fds, size_t max);

/*  In the child, between vfork and exec: moves the calling process into the
 *  group. Async-signal-safe. Returns 0, or an errno.  */
int st__cgroup_join (const int *fds, int n);

/*  The task was reaped: fills usage (may be NULL), SIGKILLs whatever is still
 *  in the group, and frees it (idle for reuse, removed, or left to drain).
 *  NULL-safe; sets *task_p = NULL.  */
void st__cgroup_give_back (st__cgroup_t *self, st__cgroup_task_t **task_p, st__cgroup_usage_t *usage);

/*  Finishes groups that were still draining. Cheap when there are none.  */
void st__cgroup_tick (st__cgroup_t *self);

/*  Removes every group this worker made (their processes SIGKILLed), the parent
 *  included when empty. NULL-safe; sets *self_p = NULL.  */
void st__cgroup_close (st__cgroup_t **self_p);

/*  -- pure parts (unit-tested) ----------------------------------------------- */

/*  The value of "key N" in a flat-keyed file (memory.events, memory.oom_control,
 *  cpu.stat). Returns 1 and *value, or 0 when key is absent.  */
int st__cgroup_parse_kv (const char *text, const char *key, uint64_t *value);

/*  The path of the calling process's group in a /proc/self/cgroup text: for
 *  controller NULL the v2 line ("0::/path"), else the v1 line whose list names
 *  controller. Copies it into out; returns 0, or -1 when absent or too long.  */
int st__cgroup_parse_self (const char *text, const char *controller, char *out, size_t size);

/*  The mount point of a cgroup file system in a /proc/self/mountinfo text: for
 *  controller NULL the cgroup2 mount, else the v1 mount whose super options
 *  name controller; and the group it shows as its root ("/" unless the mount
 *  is of a sub-tree, as in a container). Returns 0, or -1 when absent or too
 *  long.  */
int st__cgroup_parse_mount (const char *text, const char *controller, char *mnt, size_t mntsize, char *root,
                            size_t rootsize);

/*  Whether a space-separated controller list (cgroup.controllers) names name.  */
int st__cgroup_list_has (const char *list, const char *name);

/*  cpu.max for cpus_milli ("max 100000" for 0; "25000 100000" for 250).  */
void st__cgroup_cpu_max (uint32_t cpus_milli, char *out, size_t size);

#endif
