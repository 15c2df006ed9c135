/*  dispatch.c: what the worker does with each message from the scheduler.
 *
 *  Input boundary: every field is checked here before use (a Launch without a
 *  task or with too many GPUs, a Signal for an unknown task, a LogRequest for a
 *  huge range). A message that cannot be used is logged and dropped; nothing
 *  the scheduler sends can crash the worker.
 *
 *      RegisterReply  accepted: REGISTERED, resend pending updates; refused: retry in 2 s
 *      Ack            removes the acknowledged update; ACK_STALE stops a task still
 *                     running; ACK_UNKNOWN_NODE registers again (the update stays)
 *      Launch         queue it and Ack it (with the node's launch cap); queued
 *                     Launches start in order, ST__WORKER_STARTS_PER_PASS per
 *                     loop pass (st__node_start_queued), once per (job, index,
 *                     attempt) -> TaskUpdate
 *      Signal         Ack; TERMINATE (SIGTERM, grace, SIGKILL) or KILL the group
 *      LogRequest     LogData with up to ST__WORKER_LOG_MAX_BYTES of the file
 *      Exec           Ack; a held task (Launch mode HOLD) starts its process
 *      AgentReply     passed back to the task that asked (agent.c)
 *      RemoteExited   answers the strata-rsh waiting for that node's daemon (agent.c)
 *
 *  Launch modes: RUN starts argv; MPIRUN (rank 0 of an mpirun-launched gang)
 *  starts mpirun over Launch.mpi_hosts; HOLD starts nothing until an Exec.
 *  Every task of a real worker gets STRATA_RENDEZVOUS, STRATA_TASK_TOKEN and
 *  STRATA_NODE (strata/task.h, strata/agent.h).
 *
 *  Each handler works on one node (worker_int.h). On a hollow worker the same
 *  handlers run for every node; only what a task is differs: a Launch makes a
 *  simulated task (st__wtask_simulate: no process, no files) that ends after
 *  Launch.simulated_ms, and a LogRequest is answered with empty data.
 *
 *  Accepting is not starting: the Ack of a Launch means "queued here, it will
 *  start (or be reported as not started)", so the scheduler hears about it
 *  at once however long the queue is, and heartbeats and updates keep flowing
 *  while a burst of starts is worked off over several passes. A Launch for a
 *  task the node runs, ran or has queued is acknowledged and dropped: a resend
 *  never starts anything twice. */
#include "worker_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "st_log.h"
#include "st_time.h"
#include "st_utf8.h"
#include "st_vec.h"
#include "st_wire.h"
#include "strata/task.h"

static void
s_on_register_reply (st__node_t *self, const Strata__RegisterReply *rr, uint64_t now)
{
    if (!rr->accepted) {
        st_error ("%sregistration refused by scheduler at %s: %s; retrying in %u s", self->who, self->w->endpoint,
                  rr->error && rr->error[0] ? rr->error : "no reason given", ST__WORKER_REGISTER_RETRY_MS / 1000u);
        self->state = ST__CONN_REGISTERING;
        self->next_register_ms = now + ST__WORKER_REGISTER_RETRY_MS;
        return;
    }
    int was_registered = self->state == ST__CONN_REGISTERED;
    self->state = ST__CONN_REGISTERED;
    self->epoch = rr->epoch;
    self->hb_ms = rr->heartbeat_ms ? rr->heartbeat_ms : self->w->hb_cfg_ms;
    self->next_register_ms = UINT64_MAX;
    if (!was_registered) {
        /*  Node i of N beats first at (i + 1) / N of the interval: N hollow
         *  nodes accepted at once spread their heartbeats over the interval
         *  instead of beating in lockstep. A real worker (N = 1) waits one.  */
        self->next_hb_ms = now + self->hb_ms * (self->index + 1) / self->w->nnodes;
        st__outbox_rewind (self->outbox, now);
        /*  Answers to requests relayed on an earlier connection will not come.  */
        st__agent_reconnected (self->w, "the worker's connection to the scheduler was reset; try again");
    }
    st_info ("registration accepted by scheduler at %s: node %s, epoch %" PRIu64 ", heartbeat %" PRIu64 " ms",
             self->w->endpoint, self->name, self->epoch, self->hb_ms);
}

static void
s_on_ack (st__node_t *self, const Strata__Ack *ack, uint64_t now)
{
    if (ack->status == STRATA__ACK_STATUS__ACK_UNKNOWN_NODE) {
        /*  The update (if this acked one) stays in the outbox: the scheduler did
         *  not take it. Acks for messages sent before the latest Register are
         *  answers to the old session and change nothing.  */
        if (self->state == ST__CONN_REGISTERED && ack->ack_seq > self->register_seq) {
            st_warn ("%sscheduler at %s does not know this worker; registering again", self->who, self->w->endpoint);
            self->state = ST__CONN_REGISTERING;
            self->next_register_ms = now;
        }
        return;
    }
    st__wtask_status_t acked;
    if (!st__outbox_ack (self->outbox, ack->ack_seq, &acked))
        return; /*  a heartbeat's, or an update acked twice  */
    if (ack->status != STRATA__ACK_STATUS__ACK_STALE)
        return;
    st__slot_t *slot = st__node_find_live (self, &acked.key);
    if (slot && !st__wtask_stopping (slot->task)) {
        char name[64];
        st_warn ("%sscheduler no longer runs task %s; stopping it", self->who,
                 st__wtask_key_format (&acked.key, name, sizeof name));
        st__wtask_terminate (slot->task, 0, now);
    }
}

static void
s_key_from_pb (const Strata__TaskRef *ref, st__wtask_key_t *key)
{
    key->job_id = ref->job_id;
    key->index = ref->index;
    key->attempt = ref->attempt;
}

/*  Reports a Launch that never became a process.  */
static void
s_launch_failed (st__node_t *self, const st__wtask_key_t *key, uint64_t now, const char *msg)
{
    st__wtask_status_t s;
    memset (&s, 0, sizeof s);
    s.key = *key;
    s.state = STRATA__TASK_STATE__TASK_START_FAILED;
    st_utf8_copy (s.message, sizeof s.message, msg);
    char name[64];
    st_warn ("%slaunch of task %s failed: %s", self->who, st__wtask_key_format (key, name, sizeof name), msg);
    st__node_push_update (self, &s, now);
    st__node_forget (self, key);
}

/*  The smallest local rank no live task of the same job attempt holds.  */
static int
s_local_rank (st__node_t *self, const st__wtask_key_t *key)
{
    for (int rank = 0;; rank++) {
        int taken = 0;
        for (size_t i = 0; i < self->nslots && !taken; i++) {
            const st__wtask_key_t *k = st__wtask_key (self->slots[i].task);
            taken = k->job_id == key->job_id && k->attempt == key->attempt && self->slots[i].local_rank == rank;
        }
        if (!taken)
            return rank;
    }
}

/*  The command line for the log, shortened to fit buf.  */
static void
s_format_argv (const Strata__Launch *l, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < l->n_argv && len + 1 < size; i++) {
        int w = snprintf (buf + len, size - len, "%s%s", i ? " " : "", l->argv[i]);
        if (w < 0 || (size_t) w >= size - len) {
            if (size > 4)
                memcpy (buf + size - 4, "...", 4);
            return;
        }
        len += (size_t) w;
    }
}

/*  The directory of this program (strata-rsh lives next to strata-worker).  */
static int
s_bin_dir (char *buf, size_t size)
{
    ssize_t n = readlink ("/proc/self/exe", buf, size - 1);
    if (n <= 0 || (size_t) n >= size - 1)
        return -1;
    buf[n] = '\0';
    char *slash = strrchr (buf, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return 0;
}

/*  argv of rank 0 of an mpirun-launched gang (Launch mode MPIRUN):
 *
 *      mpirun --np N --oversubscribe --bind-to none [--allow-run-as-root]
 *             [--host a:2,b:2 --mca plm_rsh_agent .../strata-rsh]
 *             .../strata-rsh --rank -- PROGRAM ARGS...
 *
 *  Several hosts: Open MPI starts its daemon on each through strata-rsh,
 *  which asks that node's worker, via the scheduler, to run it as the
 *  process of the job's held task there. `strata-rsh --rank` sets each
 *  process's RANK / LOCAL_RANK / ... from Open MPI's. Returns a malloc'd
 *  NULL-terminated array whose strings are in *store (free both), or NULL
 *  with msg.  */
static char **
s_mpirun_argv (const Strata__Launch *l, char **store, char *msg, size_t msglen)
{
    char dir[3000], rsh[3100], np[16];
    if (s_bin_dir (dir, sizeof dir) != 0) {
        snprintf (msg, msglen, "cannot find the worker's own directory (for strata-rsh)");
        return NULL;
    }
    snprintf (rsh, sizeof rsh, "%s/strata-rsh", dir);
    if (access (rsh, X_OK) != 0) {
        snprintf (msg, msglen, "strata-rsh is not installed next to strata-worker (%s): mpirun cannot be used", rsh);
        return NULL;
    }
    snprintf (np, sizeof np, "%u", l->world_size ? l->world_size : 1u);
    size_t hosts_len = 1;
    for (size_t i = 0; i < l->n_mpi_hosts; i++)
        hosts_len += strlen (l->mpi_hosts[i]) + 1;
    /*  One block holds the strings argv points to: hosts, rsh, np.  */
    *store = malloc (hosts_len + strlen (rsh) + 1 + sizeof np);
    char **argv = calloc (20 + l->n_argv, sizeof *argv);
    if (!*store || !argv) {
        free (argv);
        snprintf (msg, msglen, "out of memory");
        return NULL;
    }
    char *hosts = *store;
    hosts[0] = '\0';
    for (size_t i = 0; i < l->n_mpi_hosts; i++) {
        if (i)
            strcat (hosts, ",");
        strcat (hosts, l->mpi_hosts[i]);
    }
    char *rsh_copy = hosts + hosts_len;
    strcpy (rsh_copy, rsh);
    char *np_copy = rsh_copy + strlen (rsh) + 1;
    memcpy (np_copy, np, sizeof np);
    size_t n = 0;
    argv[n++] = "mpirun";
    argv[n++] = "--np";
    argv[n++] = np_copy;
    argv[n++] = "--oversubscribe";
    argv[n++] = "--bind-to";
    argv[n++] = "none";
    if (geteuid () == 0)
        argv[n++] = "--allow-run-as-root";
    if (l->n_mpi_hosts > 1) {
        argv[n++] = "--host";
        argv[n++] = hosts;
        argv[n++] = "--mca";
        argv[n++] = "plm_rsh_agent";
        argv[n++] = rsh_copy;
    }
    argv[n++] = rsh_copy;
    argv[n++] = "--rank";
    argv[n++] = "--";
    for (size_t i = 0; i < l->n_argv; i++)
        argv[n++] = l->argv[i];
    argv[n] = NULL;
    return argv;
}

/*  Adds what Open MPI needs to run as root (the worker runs tasks as itself).  */
static int
s_mpi_root_env (st_kv_t *env)
{
    if (geteuid () != 0)
        return 0;
    return st_kv_add (env, "OMPI_ALLOW_RUN_AS_ROOT", "1") != 0
                   || st_kv_add (env, "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1") != 0
               ? -1
               : 0;
}

/*  A fine-tune's checkpoint folder (STRATA_CHECKPOINT_DIR, chosen by the
 *  scheduler under its pool's storage root) is made by the worker for a task
 *  that runs as another user: the folders above it are the worker's, the
 *  folder itself (when the worker makes it now) belongs to the task's user,
 *  who writes the weights there. One that exists is left as it is. A
 *  failure is only logged: the task reports its own when it writes.  */
static void
s_prepare_checkpoint_dir (const st_kv_t *env, const st__task_user_t *user)
{
    const char *dir = st_kv_get (env, ST_ENV_CHECKPOINT_DIR);
    if (!user || !user->switch_to || !dir || dir[0] != '/')
        return;
    char parent[4096];
    const char *slash = strrchr (dir, '/');
    if (snprintf (parent, sizeof parent, "%.*s", (int) (slash - dir), dir) >= (int) sizeof parent)
        return;
    if ((parent[0] && st__mkdir_p (parent, 0755) != 0) || mkdir (dir, 0750) != 0) {
        if (errno != EEXIST)
            st_warn ("cannot create checkpoint folder %s: %s", dir, strerror (errno));
        return;
    }
    int fd = open (dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fchown (fd, user->uid, user->gid) != 0)
        st_warn ("cannot give checkpoint folder %s to task user %s: %s", dir, user->name, strerror (errno));
    if (fd >= 0)
        close (fd);
}

/*  Accepts a Launch: queues it and acknowledges it. Returns 1 when it kept env.  */
static int
s_on_launch (st__node_t *self, Strata__Envelope *env, uint64_t now)
{
    const Strata__Launch *l = env->launch;
    if (!l->task) {
        self->bad_frames++;
        st_warn ("%sdropped Launch without a task (seq %" PRIu64 ", bad_frames=%" PRIu64 ")", self->who, env->seq,
                 self->bad_frames);
        return 0;
    }
    st__wtask_key_t key;
    s_key_from_pb (l->task, &key);
    char name[64];
    st__wtask_key_format (&key, name, sizeof name);
    if (st__node_knows (self, &key)) {
        st__node_send_launch_ack (self, env->seq);
        st_info ("%sduplicate Launch of task %s acknowledged; not started again", self->who, name);
        return 0;
    }
    if (self->w->stop_signals) {
        st__node_send_launch_ack (self, env->seq);
        s_launch_failed (self, &key, now, "worker is shutting down");
        return 0;
    }
    if (self->launchq_n - self->launchq_head >= ST__WORKER_LAUNCH_QUEUE_MAX
        || st_vec_push ((void **) &self->launchq, &self->launchq_n, &self->launchq_cap, sizeof env,
                        ST__WORKER_LAUNCH_QUEUE_MAX * 2, &env)
               != ST_OK) {
        st__node_send_launch_ack (self, env->seq);
        s_launch_failed (self, &key, now, "the worker's launch queue is full");
        return 0;
    }
    st__node_send_launch_ack (self, env->seq);
    return 1;
}

/*  Starts one accepted Launch.  */
static void
s_start_launch (st__node_t *self, const Strata__Envelope *env, uint64_t now)
{
    const Strata__Launch *l = env->launch;
    int hollow = self->w->hollow;
    st__wtask_key_t key;
    s_key_from_pb (l->task, &key);
    char name[64];
    st__wtask_key_format (&key, name, sizeof name);
    if (self->w->stop_signals) {
        s_launch_failed (self, &key, now, "worker is shutting down");
        return;
    }
    if (!hollow && self->w->refusing[0]) {
        char msg[320];
        snprintf (msg, sizeof msg, "node refuses new tasks: %s", self->w->refusing);
        s_launch_failed (self, &key, now, msg);
        return;
    }
    /*  A hollow node runs nothing: its command and directory do not matter.  */
    if (!hollow && l->n_argv == 0) {
        s_launch_failed (self, &key, now, "empty command");
        return;
    }
    if (!hollow && l->workdir[0] && l->workdir[0] != '/') {
        s_launch_failed (self, &key, now, "workdir must be an absolute path");
        return;
    }

    st__slot_t slot = { .local_rank = s_local_rank (self, &key) };
    char gpu_list[ST__MAX_GPUS * 4 + 1] = "";
    char **argv = NULL, *argv_store = NULL;
    st_kv_t envkv = { 0 };
    uint32_t want = l->resources ? l->resources->gpus : 0;
    int held = !hollow && l->mode == STRATA__LAUNCH_MODE__LAUNCH_HOLD;
    if (!hollow && l->mode == STRATA__LAUNCH_MODE__LAUNCH_MPIRUN) {
        char msg[512];
        if (!(argv = s_mpirun_argv (l, &argv_store, msg, sizeof msg))) {
            s_launch_failed (self, &key, now, msg);
            goto out;
        }
    }
    else if (!hollow && !(argv = calloc (l->n_argv + 1, sizeof *argv))) {
        s_launch_failed (self, &key, now, "out of memory");
        goto out;
    }
    else
        for (size_t i = 0; argv && i < l->n_argv; i++)
            argv[i] = l->argv[i];
    for (size_t i = 0; !hollow && i < l->n_env; i++)
        if (st_kv_add (&envkv, l->env[i]->key, l->env[i]->value) != 0) {
            s_launch_failed (self, &key, now, "out of memory");
            goto out;
        }
    /*  The line to this worker: the token names the task on the agent socket.  */
    if (!hollow && self->w->agent_sock) {
        st__agent_token (slot.token);
        if (st_kv_add (&envkv, ST_ENV_RENDEZVOUS, self->w->agent_endpoint) != 0
            || st_kv_add (&envkv, ST_ENV_TASK_TOKEN, slot.token) != 0
            || st_kv_add (&envkv, ST_ENV_NODE, self->name) != 0) {
            s_launch_failed (self, &key, now, "out of memory");
            goto out;
        }
    }
    if (!hollow && (l->mode == STRATA__LAUNCH_MODE__LAUNCH_MPIRUN || held) && s_mpi_root_env (&envkv) != 0) {
        s_launch_failed (self, &key, now, "out of memory");
        goto out;
    }
    if (want > 0) {
        char msg[128];
        if (want <= self->gpus.count)
            slot.gpu_idx = calloc (want, sizeof *slot.gpu_idx);
        if (!slot.gpu_idx || st__gpu_set_take (&self->gpus, want, slot.gpu_idx, gpu_list, sizeof gpu_list) != 0) {
            snprintf (msg, sizeof msg, "not enough free GPUs: %" PRIu32 " wanted, %" PRIu32 " of %" PRIu32 " free",
                      want, st__gpu_set_free (&self->gpus), self->gpus.count);
            s_launch_failed (self, &key, now, msg);
            goto out;
        }
        slot.ngpus = want;
    }

    st__wtask_spec_t spec = {
        .key = key,
        .argv = (const char *const *) argv,
        .env = &envkv,
        .workdir = l->workdir,
        .time_limit_s = l->time_limit_s,
        .kill_grace_ms = l->kill_grace_ms,
        .gpu_list = slot.ngpus ? gpu_list : NULL,
        .local_rank = slot.local_rank,
        .cgroup = self->w->cgroup,
        .mem_mb = l->resources ? l->resources->mem_mb : 0,
        .cpus_milli = l->resources ? l->resources->cpus_milli : 0,
        .user = hollow ? NULL : st__task_users_for (self->w->users, l->tenant),
    };
    if (!hollow)
        s_prepare_checkpoint_dir (&envkv, spec.user);
    if (held) {
        /*  Runs nothing until an Exec; keeps what that process will need.  */
        slot.held = calloc (1, sizeof *slot.held);
        if (!slot.held || !(slot.held->workdir = strdup (l->workdir))) {
            s_launch_failed (self, &key, now, "out of memory");
            goto out;
        }
        slot.held->env = envkv;
        memset (&envkv, 0, sizeof envkv);
        spec.env = &slot.held->env;
        slot.held->time_limit_s = l->time_limit_s;
        slot.held->kill_grace_ms = l->kill_grace_ms;
        slot.held->mem_mb = spec.mem_mb;
        slot.held->cpus_milli = spec.cpus_milli;
        slot.held->user = spec.user;
        snprintf (slot.held->gpu_list, sizeof slot.held->gpu_list, "%s", gpu_list);
        slot.task = st__wtask_simulate (&spec, UINT64_MAX, now);
    }
    else
        slot.task = hollow ? st__wtask_simulate (&spec, l->simulated_ms, now)
                           : st__wtask_start (self->w->state_dir, &spec);
    if (!slot.task) {
        s_launch_failed (self, &key, now, "out of memory");
        goto out;
    }
    const st__wtask_status_t *s = st__wtask_status (slot.task);
    if (s->state != STRATA__TASK_STATE__TASK_RUNNING) {
        s_launch_failed (self, &key, now, s->message);
        st__wtask_destroy (&slot.task);
        goto out;
    }
    if (st__node_add_slot (self, &slot) != 0) {
        st__wtask_destroy (&slot.task); /*  SIGKILLs it: a task the worker cannot track must not run  */
        s_launch_failed (self, &key, now, "out of memory");
        goto out;
    }
    if (hollow)
        st_debug ("%ssimulating task %s for %" PRIu64 " ms%s%s", self->who, name, l->simulated_ms,
                  slot.ngpus ? ", GPUs " : "", slot.ngpus ? gpu_list : "");
    else if (held)
        st_info ("holding task %s for its gang's launcher%s%s", name, slot.ngpus ? ", GPUs " : "",
                 slot.ngpus ? gpu_list : "");
    else {
        char cmd[160];
        s_format_argv (l, cmd, sizeof cmd);
        st_info ("launched task %s (pid %d%s%s): %s", name, (int) s->pid, slot.ngpus ? ", GPUs " : "",
                 slot.ngpus ? gpu_list : "", cmd);
    }
    st__node_push_update (self, s, now);
    slot.gpu_idx = NULL; /*  the slot array owns them now  */
    slot.ngpus = 0;
    slot.held = NULL;
out:
    st__gpu_set_release (&self->gpus, slot.gpu_idx, slot.ngpus);
    free (slot.gpu_idx);
    st__held_free (slot.held);
    st_kv_free (&envkv);
    free (argv);
    free (argv_store);
}

size_t
st__node_start_queued (st__node_t *self, uint64_t now)
{
    size_t n = 0;
    uint64_t t0 = self->launchq_head < self->launchq_n ? st_mono_us () : 0;
    while (self->launchq_head < self->launchq_n && n < ST__WORKER_STARTS_PER_PASS) {
        Strata__Envelope *env = self->launchq[self->launchq_head];
        self->launchq[self->launchq_head++] = NULL;
        s_start_launch (self, env, now);
        st_wire_free (env);
        n++;
    }
    if (n)
        self->rate_busy_us += st_mono_us () - t0;
    if (self->launchq_head == self->launchq_n)
        self->launchq_head = self->launchq_n = 0;
    else if (self->launchq_head * 2 > self->launchq_n) {
        memmove (self->launchq, self->launchq + self->launchq_head,
                 (self->launchq_n - self->launchq_head) * sizeof *self->launchq);
        self->launchq_n -= self->launchq_head;
        self->launchq_head = 0;
    }
    /*  How fast it starts tasks when it has some to start (starts per second of
     *  time spent starting, not of wall time: a node the scheduler starves must
     *  not conclude it is slow) sets how many it asks for: half a second's worth.
     *  A window without starts keeps the target.  */
    self->rate_starts += (uint32_t) n;
    if (now >= self->rate_window_ms + ST__WORKER_RATE_WINDOW_MS) {
        if (self->rate_starts) {
            uint64_t busy = self->rate_busy_us ? self->rate_busy_us : 1;
            uint64_t want = (uint64_t) self->rate_starts * 500000u / busy;
            self->launch_target = want < ST__WORKER_LAUNCH_TARGET_MIN   ? ST__WORKER_LAUNCH_TARGET_MIN
                                  : want > ST__WORKER_LAUNCH_TARGET_MAX ? ST__WORKER_LAUNCH_TARGET_MAX
                                                                        : (uint32_t) want;
        }
        self->rate_window_ms = now;
        self->rate_starts = 0;
        self->rate_busy_us = 0;
    }
    return n;
}

void
st__node_launchq_free (st__node_t *self)
{
    for (size_t i = self->launchq_head; i < self->launchq_n; i++)
        st_wire_free (self->launchq[i]);
    free (self->launchq);
    self->launchq = NULL;
    self->launchq_head = self->launchq_n = self->launchq_cap = 0;
}

/*  Gives a held task its process (Open MPI's daemon, asked for by the gang's
 *  mpirun through strata-rsh and the scheduler).  */
static void
s_on_exec (st__node_t *self, const Strata__Envelope *env, uint64_t now)
{
    const Strata__Exec *x = env->exec;
    st__node_send_ack (self, env->seq);
    if (!x->task || x->n_argv == 0) {
        self->bad_frames++;
        st_warn ("%sdropped Exec without a task or command (bad_frames=%" PRIu64 ")", self->who, self->bad_frames);
        return;
    }
    st__wtask_key_t key;
    s_key_from_pb (x->task, &key);
    char name[64];
    st__wtask_key_format (&key, name, sizeof name);
    st__slot_t *slot = st__node_find_live (self, &key);
    if (!slot || !slot->held || st__wtask_stopping (slot->task)) {
        st_warn ("%sExec for task %s, which is not held here; ignored", self->who, name);
        return;
    }
    char **argv = calloc (x->n_argv + 1, sizeof *argv);
    if (!argv) {
        st__wtask_terminate (slot->task, 0, now);
        return;
    }
    for (size_t i = 0; i < x->n_argv; i++)
        argv[i] = x->argv[i];
    st__held_t *h = slot->held;
    st__wtask_spec_t spec = {
        .key = key,
        .argv = (const char *const *) argv,
        .env = &h->env,
        .workdir = h->workdir,
        .time_limit_s = h->time_limit_s,
        .kill_grace_ms = h->kill_grace_ms,
        .gpu_list = h->gpu_list[0] ? h->gpu_list : NULL,
        .local_rank = slot->local_rank,
        .cgroup = self->w->cgroup,
        .mem_mb = h->mem_mb,
        .cpus_milli = h->cpus_milli,
        .user = h->user,
    };
    st__wtask_t *task = st__wtask_start (self->w->state_dir, &spec);
    free (argv);
    if (!task || st__wtask_status (task)->state != STRATA__TASK_STATE__TASK_RUNNING) {
        /*  The held task ends as if killed: its gang's launcher sees the failure.  */
        st_warn ("%scannot start the process of held task %s: %s", self->who, name,
                 task ? st__wtask_status (task)->message : "out of memory");
        st__wtask_destroy (&task);
        st__wtask_terminate (slot->task, 0, now);
        return;
    }
    st__wtask_destroy (&slot->task);
    slot->task = task;
    st__held_free (slot->held);
    slot->held = NULL;
    st_info ("started the launcher's process for held task %s (pid %d): %.200s", name,
             (int) st__wtask_status (task)->pid, x->argv[x->n_argv - 1]);
    st__node_push_update (self, st__wtask_status (task), now);
}

static void
s_on_signal (st__node_t *self, const Strata__Envelope *env, uint64_t now)
{
    const Strata__Signal *sig = env->signal;
    st__node_send_ack (self, env->seq);
    if (!sig->task) {
        st_warn ("%sdropped Signal without a task (seq %" PRIu64 ")", self->who, env->seq);
        return;
    }
    st__wtask_key_t key;
    s_key_from_pb (sig->task, &key);
    char name[64];
    st__wtask_key_format (&key, name, sizeof name);
    st__slot_t *slot = st__node_find_live (self, &key);
    if (!slot) {
        st_info ("%ssignal for task %s, which is not running here; acknowledged", self->who, name);
        return;
    }
    switch (sig->kind) {
    case STRATA__SIGNAL_KIND__SIGNAL_TERMINATE:
        st_info ("%sscheduler asks to terminate task %s", self->who, name);
        st__wtask_terminate (slot->task, sig->grace_ms, now);
        break;
    case STRATA__SIGNAL_KIND__SIGNAL_KILL:
        st_info ("%sscheduler asks to kill task %s", self->who, name);
        st__wtask_kill (slot->task);
        break;
    default:
        st_warn ("%signored signal of unknown kind %d for task %s", self->who, (int) sig->kind, name);
        break;
    }
}

static void
s_on_log_request (st__node_t *self, const Strata__Envelope *env)
{
    const Strata__LogRequest *req = env->log_request;
    Strata__LogData ld = STRATA__LOG_DATA__INIT;
    ld.request_id = req->request_id;
    ld.offset = req->offset;
    char error[512] = "";
    uint8_t *buf = NULL;
    int fd = -1;

    if (!req->task) {
        snprintf (error, sizeof error, "log request names no task");
        goto reply;
    }
    /*  A hollow node's tasks print nothing: every log is empty.  */
    if (self->w->hollow)
        goto reply;
    st__wtask_key_t key;
    s_key_from_pb (req->task, &key);
    char path[4096];
    if (st__wtask_log_path (self->w->state_dir, &key, req->stderr, path, sizeof path) != 0) {
        snprintf (error, sizeof error, "log path too long");
        goto reply;
    }
    fd = open (path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat (fd, &st) != 0) {
        char name[64];
        if (errno == ENOENT)
            snprintf (error, sizeof error, "no %s log for task %s on node %s", req->stderr ? "stderr" : "stdout",
                      st__wtask_key_format (&key, name, sizeof name), self->name);
        else
            snprintf (error, sizeof error, "cannot read %.400s: %s", path, strerror (errno));
        goto reply;
    }
    ld.size = (uint64_t) st.st_size;
    uint64_t max = req->max_bytes && req->max_bytes < ST__WORKER_LOG_MAX_BYTES ? req->max_bytes
                                                                               : ST__WORKER_LOG_MAX_BYTES;
    if (req->offset >= ld.size)
        goto reply;
    size_t want = (size_t) (ld.size - req->offset < max ? ld.size - req->offset : max);
    buf = malloc (want);
    if (!buf) {
        snprintf (error, sizeof error, "out of memory");
        goto reply;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread (fd, buf + got, want - got, (off_t) (req->offset + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t) n;
    }
    ld.data.data = buf;
    ld.data.len = got;
reply:
    if (fd >= 0)
        close (fd);
    ld.error = error;
    Strata__Envelope out;
    st_wire_envelope_init (&out, st__node_next_seq (self));
    out.reply_to = env->seq;
    out.body_case = STRATA__ENVELOPE__BODY_LOG_DATA;
    out.log_data = &ld;
    st__node_send (self, &out);
    free (buf);
}

int
st__node_dispatch (st__node_t *self, Strata__Envelope *env, uint64_t now)
{
    switch (env->body_case) {
    case STRATA__ENVELOPE__BODY_REGISTER_REPLY:
        /*  A reply to an earlier Register (the scheduler echoes its seq) is old news.  */
        if (env->reply_to && env->reply_to != self->register_seq)
            st_debug ("ignored RegisterReply to an earlier Register (seq %" PRIu64 ")", env->reply_to);
        else
            s_on_register_reply (self, env->register_reply, now);
        break;
    case STRATA__ENVELOPE__BODY_ACK:
        s_on_ack (self, env->ack, now);
        break;
    case STRATA__ENVELOPE__BODY_LAUNCH:
        return s_on_launch (self, env, now);
    case STRATA__ENVELOPE__BODY_SIGNAL:
        s_on_signal (self, env, now);
        break;
    case STRATA__ENVELOPE__BODY_LOG_REQUEST:
        s_on_log_request (self, env);
        break;
    case STRATA__ENVELOPE__BODY_EXEC:
        if (self->w->hollow)
            st__node_send_ack (self, env->seq); /*  hollow tasks are never held  */
        else
            s_on_exec (self, env, now);
        break;
    case STRATA__ENVELOPE__BODY_AGENT_REPLY:
        st__agent_on_reply (self->w, env);
        break;
    case STRATA__ENVELOPE__BODY_REMOTE_EXITED:
        st__agent_on_remote_exited (self->w, env->remote_exited);
        break;
    default:
        self->bad_frames++;
        st_warn ("%sdropped unexpected %s message from scheduler (bad_frames=%" PRIu64 ")", self->who,
                 st_wire_body_name (env), self->bad_frames);
        break;
    }
    return 0;
}
