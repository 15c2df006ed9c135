/*  worker.c: the worker process: its options, state directory and signals, and
 *  the event loop that drives its nodes (one on a real worker, N with --hollow
 *  N). What one node does is in node.c, the messages from the scheduler in
 *  dispatch.c.
 *
 *  One pass of the loop:
 *      stop signal?  -> terminate tasks (first), SIGKILL them (second)
 *      node passes   -> every node after a wake-up of the self-pipe (SIGCHLD,
 *                       SIGTERM) or a stop, else the nodes whose next timer is
 *                       due (a min-heap on st__node_next_due): reap, tick,
 *                       reconnect, register, heartbeat, resend (st__node_pass)
 *      read          -> the nodes whose socket may hold messages: dispatch
 *                       them, then that node's pass (so a Launch's RUNNING goes
 *                       out at once)
 *      epoll_wait    -> the self-pipe and every node's ZMQ_FD, until the
 *                       nearest timer
 *
 *  ZMQ_FD is edge-like: it becomes readable when the socket's state may have
 *  changed, and any zmq_send or zmq_recv may consume that wake-up. So a node is
 *  put on the unread list whenever its fd fires *and* whenever it sends (see
 *  st__node_send), and the loop reads every node on the list until EAGAIN
 *  before it waits. A read that finds nothing takes the node off the list.
 *
 *  A hollow worker (--hollow N) runs N nodes in this one loop: each has its own
 *  DEALER socket and so its own connection and routing id, and runs simulated
 *  tasks (no processes, no files; task.h). It needs about two descriptors per
 *  node (the connection and the socket's mailbox): st__worker_new raises the
 *  soft RLIMIT_NOFILE to the hard one and ZMQ_MAX_SOCKETS to fit, or fails.
 *  Its nodes connect ST__WORKER_HOLLOW_CONNECTS_PER_S at start (node.open_at). */
#include "worker_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "fsutil.h"
#include "pidfile.h"
#include "st_log.h"
#include "st_time.h"
#include "st_utf8.h"

#define S_MAX_POLL_MS 1000
#define S_EPOLL_EVENTS 256

/*  Signal handlers only set these and write a byte to the self-pipe.  */
static volatile sig_atomic_t s_stop_requested;
static volatile sig_atomic_t s_wake_fd = -1;

static void
s_on_signal (int sig)
{
    int saved = errno;
    if (sig == SIGTERM || sig == SIGINT)
        s_stop_requested = 1;
    int fd = s_wake_fd;
    if (fd >= 0) {
        char c = 0;
        ssize_t n = write (fd, &c, 1);
        (void) n;
    }
    errno = saved;
}

void
st__worker_config_defaults (st__worker_config_t *cfg)
{
    memset (cfg, 0, sizeof *cfg);
    cfg->gpus = -1;
    cfg->heartbeat_ms = 1000;
    cfg->scheduler_timeout_ms = 5000;
    cfg->cgroup_pids_max = ST__CGROUP_DEFAULT_PIDS_MAX;
    cfg->task_log_max_mb = ST__WORKER_LOG_MAX_MB;
    cfg->task_retention_ms = ST__WORKER_RETENTION_MS;
    cfg->min_free_mb = ST__WORKER_MIN_FREE_MB;
}

/*  -- life cycle ----------------------------------------------------------- */

static char *
s_strdup_or (const char *s, const char *fallback)
{
    return strdup (s && s[0] ? s : fallback);
}

/*  One worker per state directory: a second one would kill the first one's
 *  tasks as leftovers.  */
static st_rc_t
s_lock_state_dir (st__worker_t *self, st_error_t *err)
{
    char path[4096];
    if (st__path_fmt (path, sizeof path, "%s/worker.lock", self->state_dir) != 0)
        return st_error_set (err, ST_EINVAL, "state-dir", "state directory path too long");
    self->lock_fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (self->lock_fd < 0)
        return st_error_set (err, ST_EIO, "state-dir", "cannot open %s: %s", path, strerror (errno));
    if (flock (self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        char other[32] = "";
        ssize_t n = pread (self->lock_fd, other, sizeof other - 1, 0);
        other[n > 0 ? n : 0] = '\0';
        other[strcspn (other, "\n")] = '\0';
        st_error_set (err, ST_ECONFLICT, "state-dir", "state directory %s is in use by another worker%s%s%s",
                      self->state_dir, other[0] ? " (pid " : "", other, other[0] ? ")" : "");
        st_error_hint (err, "give each worker on a machine its own --state-dir");
        return ST_ECONFLICT;
    }
    char line[32];
    int len = snprintf (line, sizeof line, "%d\n", (int) getpid ());
    if (ftruncate (self->lock_fd, 0) != 0 || pwrite (self->lock_fd, line, (size_t) len, 0) != len)
        st_warn ("cannot write pid to %s: %s", path, strerror (errno));
    return ST_OK;
}

/*  What a node offers: a real worker detects what the flags leave at 0 (or -1
 *  GPUs); a hollow worker's nodes offer exactly what the flags declare.  */
static void
s_capacity (st__worker_t *self, const st__worker_config_t *cfg)
{
    const char *type = cfg->gpu_type && cfg->gpu_type[0] ? cfg->gpu_type : NULL;
    if (self->hollow) {
        self->capacity.cpus_milli = cfg->cpus_milli;
        self->capacity.mem_mb = cfg->mem_mb;
        self->capacity.gpus = cfg->gpus < 0 ? 0 : cfg->gpus > ST__MAX_GPUS ? ST__MAX_GPUS : (uint32_t) cfg->gpus;
        st_utf8_copy (self->capacity.gpu_type, sizeof self->capacity.gpu_type, type);
        return;
    }
    self->capacity.cpus_milli = cfg->cpus_milli ? cfg->cpus_milli : st__resources_cpus_milli ();
    self->capacity.mem_mb = cfg->mem_mb ? cfg->mem_mb : st__resources_mem_mb ();
    char nvml_type[sizeof self->capacity.gpu_type] = "";
    if (cfg->gpus < 0)
        self->capacity.gpus = st__resources_nvml_gpus (nvml_type, sizeof nvml_type);
    else {
        self->capacity.gpus = cfg->gpus > ST__MAX_GPUS ? ST__MAX_GPUS : (uint32_t) cfg->gpus;
        if (self->capacity.gpus > 0 && !type)
            st__resources_nvml_gpus (nvml_type, sizeof nvml_type);
    }
    /*  Cut on a character boundary: it travels in a protobuf string field.  */
    st_utf8_copy (self->capacity.gpu_type, sizeof self->capacity.gpu_type,
                  type                  ? type
                  : self->capacity.gpus ? nvml_type
                                        : "");
}

/*  A hollow worker holds about ST__WORKER_HOLLOW_FDS_PER_NODE descriptors per
 *  node. Raises the soft limit to the hard one; fails when even that is short.  */
static st_rc_t
s_hollow_limits (st__worker_t *self, st_error_t *err)
{
    uint64_t need = (uint64_t) self->nnodes * ST__WORKER_HOLLOW_FDS_PER_NODE + ST__WORKER_HOLLOW_FDS_SPARE;
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) != 0)
        return st_error_set (err, ST_EIO, NULL, "cannot read the open-file limit: %s", strerror (errno));
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need && rl.rlim_cur < rl.rlim_max) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit (RLIMIT_NOFILE, &rl) != 0)
            return st_error_set (err, ST_EIO, NULL, "cannot raise the open-file limit to %llu: %s",
                                 (unsigned long long) rl.rlim_max, strerror (errno));
        st_info ("raised the open-file limit from %llu to %llu", (unsigned long long) old,
                 (unsigned long long) rl.rlim_cur);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        st_error_set (err, ST_EINVAL, "hollow",
                      "--hollow %zu needs about %llu open files (%u per node), but the limit is %llu", self->nnodes,
                      (unsigned long long) need, ST__WORKER_HOLLOW_FDS_PER_NODE, (unsigned long long) rl.rlim_cur);
        st_error_hint (err, "raise the hard limit (ulimit -Hn, LimitNOFILE= under systemd), or spread the nodes "
                            "over several processes");
        return ST_EINVAL;
    }
    /*  A reconnecting node opens its new socket before the old one is reaped:
     *  room for two per node.  */
    int want = (int) self->nnodes * 2 + 16;
    int limit = zmq_ctx_get (self->ctx, ZMQ_SOCKET_LIMIT);
    if (limit > 0 && want > limit)
        want = limit;
    if (want < (int) self->nnodes + 16 || zmq_ctx_set (self->ctx, ZMQ_MAX_SOCKETS, want) != 0) {
        st_error_set (err, ST_EINVAL, "hollow", "--hollow %zu: ZeroMQ allows at most %d sockets per process",
                      self->nnodes, limit);
        st_error_hint (err, "spread the nodes over several processes");
        return ST_EINVAL;
    }
    return ST_OK;
}

/*  The node's parent cgroup, named <node>.<hash of the state directory>: one
 *  per worker on a host (the state directory is locked), found again by a
 *  worker restarted on the same directory. Fills self->isolation either way.  */
static void
s_open_cgroup (st__worker_t *self, const st__worker_config_t *cfg, const char *node)
{
    const char *root = cfg->cgroup_root && cfg->cgroup_root[0] ? cfg->cgroup_root : ST__CGROUP_DEFAULT_ROOT;
    char why[sizeof self->isolation - 8];
    if (self->hollow) {
        snprintf (self->isolation, sizeof self->isolation, "none: hollow nodes run no process");
        return;
    }
    if (strcmp (root, "none") == 0) {
        snprintf (self->isolation, sizeof self->isolation, "none: disabled by --cgroup-root none");
        return;
    }
    uint32_t hash = 2166136261u; /*  FNV-1a  */
    for (const char *p = self->state_dir; *p; p++)
        hash = (hash ^ (uint8_t) *p) * 16777619u;
    char name[300];
    snprintf (name, sizeof name, "%.250s.%08" PRIx32, node, hash);
    uint32_t pids = cfg->cgroup_pids_max > 0 ? (uint32_t) cfg->cgroup_pids_max : ST__CGROUP_DEFAULT_PIDS_MAX;
    self->cgroup = st__cgroup_open (root, name, pids, why, sizeof why);
    if (self->cgroup)
        snprintf (self->isolation, sizeof self->isolation, "%s", st__cgroup_kind (self->cgroup));
    else
        snprintf (self->isolation, sizeof self->isolation, "none: %s", why);
}

st__worker_t *
st__worker_new (const st__worker_config_t *cfg, st_error_t *err)
{
    st__worker_t *self = calloc (1, sizeof *self);
    if (!self) {
        st_error_set (err, ST_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    self->lock_fd = self->wake_rd = self->wake_wr = self->epfd = -1;
    self->hollow = cfg->hollow > 0;
    self->nnodes = self->hollow ? (size_t) cfg->hollow : 1;

    char host[256] = "localhost";
    if (gethostname (host, sizeof host - 1) != 0)
        snprintf (host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';

    self->endpoint = s_strdup_or (cfg->scheduler, ST__WORKER_DEFAULT_ENDPOINT);
    self->pool = s_strdup_or (cfg->pool, "default");
    self->hostname = st_utf8_dup (host); /*  a protobuf string: valid UTF-8 whatever the host is called  */
    if (!self->hollow)
        self->state_dir = s_strdup_or (cfg->state_dir, ST__WORKER_DEFAULT_STATE_DIR);
    if (!self->endpoint || !self->pool || !self->hostname || (!self->hollow && !self->state_dir)) {
        st_error_set (err, ST_ENOMEM, NULL, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->labels.n; i++)
        if (st_kv_add (&self->labels, cfg->labels.keys[i], cfg->labels.vals[i] ? cfg->labels.vals[i] : "") != 0) {
            st_error_set (err, ST_ENOMEM, NULL, "out of memory");
            goto fail;
        }
    if (self->hollow && (!cfg->cpus_milli || !cfg->mem_mb)) {
        st_error_set (err, ST_EINVAL, cfg->cpus_milli ? "memory" : "cpus",
                      "--hollow needs --cpus and --memory: hollow nodes declare their capacity, nothing is detected");
        goto fail;
    }
    s_capacity (self, cfg);
    self->hb_cfg_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : 1000;
    self->sched_timeout_ms = cfg->scheduler_timeout_ms ? cfg->scheduler_timeout_ms : 5000;

    if (!cfg->curve_key != !cfg->scheduler_key) {
        st_error_set (err, ST_EINVAL, cfg->curve_key ? "scheduler-key" : "curve-key",
                      "--curve-key and --scheduler-key go together");
        st_error_hint (err, "--curve-key is this node's NODE.key, --scheduler-key the scheduler's .pub file");
        goto fail;
    }
    if (cfg->curve_key) {
        st_curve_keys_t server;
        if (st_curve_load (cfg->curve_key, &self->keys, 1, err) != ST_OK
            || st_curve_load (cfg->scheduler_key, &server, 0, err) != ST_OK)
            goto fail;
        memcpy (self->scheduler_key, server.public_key, sizeof self->scheduler_key);
        self->curve = 1;
    }

    /*  A hollow worker writes no files: no state directory, no lock.  */
    if (!self->hollow) {
        if (st__mkdir_p (self->state_dir, 0750) != 0) {
            st_error_set (err, ST_EIO, "state-dir", "cannot create state directory %s: %s", self->state_dir,
                          strerror (errno));
            st_error_hint (err, "create it for the worker's user, or choose another with --state-dir");
            goto fail;
        }
        if (s_lock_state_dir (self, err) != ST_OK)
            goto fail;
        /*  Tasks run as other users: they cross the state directory to reach
         *  their own folders and the agent socket, and list nothing.  */
        if (!(self->users = st__task_users_new (cfg->task_user, &cfg->tenant_users, err)))
            goto fail;
        if (geteuid () == 0)
            chmod (self->state_dir, 0711);
        st__wtask_set_log_max (cfg->task_log_max_mb * 1024u * 1024u);
        self->retention_ms = cfg->task_retention_ms;
        self->min_free_mb = cfg->min_free_mb;
        st__housekeep_space (self);
    }

    int pipefd[2];
    if (pipe2 (pipefd, O_CLOEXEC | O_NONBLOCK) != 0) {
        st_error_set (err, ST_EIO, NULL, "cannot create a pipe: %s", strerror (errno));
        goto fail;
    }
    self->wake_rd = pipefd[0];
    self->wake_wr = pipefd[1];
    self->epfd = epoll_create1 (EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    if (self->epfd < 0 || epoll_ctl (self->epfd, EPOLL_CTL_ADD, self->wake_rd, &ev) != 0) {
        st_error_set (err, ST_EIO, NULL, "cannot create an epoll set: %s", strerror (errno));
        goto fail;
    }
    self->ctx = zmq_ctx_new ();
    if (!self->ctx) {
        st_error_set (err, ST_EIO, NULL, "cannot create a ZeroMQ context: %s", zmq_strerror (errno));
        goto fail;
    }
    if (self->hollow && s_hollow_limits (self, err) != ST_OK)
        goto fail;

    self->nodes = calloc (self->nnodes, sizeof *self->nodes);
    self->heap = calloc (self->nnodes, sizeof *self->heap);
    self->unread = calloc (self->nnodes * 2, sizeof *self->unread);
    if (!self->nodes || !self->heap || !self->unread) {
        st_error_set (err, ST_ENOMEM, NULL, "out of memory");
        goto fail;
    }
    const char *base = cfg->node && cfg->node[0] ? cfg->node : host;
    for (size_t i = 0; i < self->nnodes; i++) {
        char name[300];
        if (self->hollow)
            snprintf (name, sizeof name, "%.250s-%zu", base, i);
        else
            snprintf (name, sizeof name, "%s", base);
        if (st__node_init (&self->nodes[i], self, i, name) != ST_OK) {
            st__node_release (&self->nodes[i]);
            self->nnodes = i;
            st_error_set (err, ST_ENOMEM, NULL, "out of memory");
            goto fail;
        }
        self->heap[i] = &self->nodes[i];
        self->nodes[i].heap_pos = i;
    }
    s_open_cgroup (self, cfg, base);
    return self;
fail:
    st__worker_destroy (&self);
    return NULL;
}

void
st__worker_destroy (st__worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    st__worker_t *self = *self_p;
    memset (&self->keys, 0, sizeof self->keys);
    st__agent_close (self);
    for (size_t i = 0; self->nodes && i < self->nnodes; i++)
        st__node_release (&self->nodes[i]);
    st__cgroup_close (&self->cgroup); /*  after the tasks, which give their groups back  */
    free (self->nodes);
    free (self->heap);
    free (self->unread);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    if (s_wake_fd == self->wake_wr)
        s_wake_fd = -1;
    if (self->epfd >= 0)
        close (self->epfd);
    if (self->wake_rd >= 0)
        close (self->wake_rd);
    if (self->wake_wr >= 0)
        close (self->wake_wr);
    if (self->lock_fd >= 0)
        close (self->lock_fd);
    st_kv_free (&self->labels);
    free (self->endpoint);
    free (self->pool);
    free (self->hostname);
    free (self->state_dir);
    st__housekeep_release (self);
    st__task_users_destroy (&self->users);
    free (self);
    *self_p = NULL;
}

/*  -- timers: a min-heap of nodes by due_ms -------------------------------- */

static void
s_heap_put (st__worker_t *self, size_t i, st__node_t *node)
{
    self->heap[i] = node;
    node->heap_pos = i;
}

/*  Moves node to its place after its due_ms changed.  */
static void
s_heap_fix (st__worker_t *self, st__node_t *node)
{
    size_t i = node->heap_pos, n = self->nnodes;
    while (i > 0 && self->heap[(i - 1) / 2]->due_ms > node->due_ms) {
        s_heap_put (self, i, self->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && self->heap[c + 1]->due_ms < self->heap[c]->due_ms)
            c++;
        if (self->heap[c]->due_ms >= node->due_ms)
            break;
        s_heap_put (self, i, self->heap[c]);
        i = c;
    }
    s_heap_put (self, i, node);
}

static void
s_pass (st__worker_t *self, st__node_t *node, uint64_t now)
{
    st__node_pass (node, now);
    node->due_ms = st__node_next_due (node);
    s_heap_fix (self, node);
}

void
st__worker_mark_unread (st__worker_t *w, st__node_t *node)
{
    if (node->unread)
        return;
    node->unread = 1;
    w->unread[w->nunread++] = node;
}

/*  Reads the nodes on the unread list as it is now; those that still hold
 *  messages after a batch stay on it.  */
static void
s_read_unread (st__worker_t *self)
{
    size_t n = self->nunread;
    for (size_t i = 0; i < n; i++) {
        st__node_t *node = self->unread[i];
        node->unread = 0;
        int drained = 0;
        if (st__node_read (node, &drained) > 0)
            s_pass (self, node, st_mono_ms ());
        if (!drained)
            st__worker_mark_unread (self, node);
    }
    memmove (self->unread, self->unread + n, (self->nunread - n) * sizeof *self->unread);
    self->nunread -= n;
}

/*  -- stopping ------------------------------------------------------------- */

static size_t
s_live_tasks (const st__worker_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->nnodes; i++)
        n += self->nodes[i].nslots
             + st__node_launches_queued (&self->nodes[i]); /*  queued: reported as not started  */
    return n;
}

static void
s_begin_stop (st__worker_t *self, uint64_t now)
{
    self->stop_signals++;
    if (self->stop_signals == 1)
        st_info ("stop requested; terminating %zu task(s)", s_live_tasks (self));
    else
        st_warn ("second stop request; killing %zu task(s) now", s_live_tasks (self));
    for (size_t i = 0; i < self->nnodes; i++)
        st__node_stop_tasks (&self->nodes[i], self->stop_signals > 1, now);
}

/*  Done once no task is left and every end was acknowledged, or the flush
 *  window closed.  */
static int
s_stop_done (st__worker_t *self, uint64_t now)
{
    if (s_live_tasks (self) > 0)
        return 0;
    if (!self->flush_until)
        self->flush_until = now + ST__WORKER_FLUSH_MS;
    size_t pending = 0;
    for (size_t i = 0; i < self->nnodes; i++)
        pending += st__outbox_size (self->nodes[i].outbox);
    if (pending == 0) {
        st_info ("all tasks ended and reported; exiting");
        return 1;
    }
    if (now >= self->flush_until) {
        st_warn ("exiting with %zu task update(s) the scheduler did not acknowledge", pending);
        return 1;
    }
    return 0;
}

/*  -- the loop ------------------------------------------------------------- */

static long
s_wait_ms (st__worker_t *self, uint64_t now)
{
    if (self->nunread > 0)
        return 0;
    uint64_t next = self->heap[0]->due_ms;
    if (self->flush_until && self->flush_until < next)
        next = self->flush_until;
    if (next <= now)
        return 0;
    return (long) (next - now < S_MAX_POLL_MS ? next - now : S_MAX_POLL_MS);
}

static void
s_drain_wake_pipe (st__worker_t *self)
{
    char buf[64];
    while (read (self->wake_rd, buf, sizeof buf) > 0)
        ;
}

static int
s_install_signals (st__worker_t *self)
{
    s_wake_fd = self->wake_wr;
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset (&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction (SIGTERM, &sa, NULL) != 0 || sigaction (SIGINT, &sa, NULL) != 0)
        return -1;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    if (sigaction (SIGCHLD, &sa, NULL) != 0)
        return -1;
    signal (SIGPIPE, SIG_IGN);
    return 0;
}

static void
s_restore_signals (void)
{
    signal (SIGTERM, SIG_DFL);
    signal (SIGINT, SIG_DFL);
    signal (SIGCHLD, SIG_DFL);
    s_wake_fd = -1;
}

static void
s_log_start (const st__worker_t *self)
{
    const st__resources_t *c = &self->capacity;
    if (self->hollow)
        st_info ("hollow worker starting %zu nodes %s .. %s (pool %s): scheduler %s, each cpus %.3f, memory %" PRIu64
                 " MiB, gpus %" PRIu32 "%s%s; tasks are simulated",
                 self->nnodes, self->nodes[0].name, self->nodes[self->nnodes - 1].name, self->pool, self->endpoint,
                 c->cpus_milli / 1000.0, c->mem_mb, c->gpus, c->gpu_type[0] ? " " : "", c->gpu_type);
    else
        st_info ("worker %s (pool %s) starting: scheduler %s, cpus %.3f, memory %" PRIu64 " MiB, gpus %" PRIu32
                 "%s%s, state dir %s, task isolation: %s%s%s",
                 self->nodes[0].name, self->pool, self->endpoint, c->cpus_milli / 1000.0, c->mem_mb, c->gpus,
                 c->gpu_type[0] ? " " : "", c->gpu_type, self->state_dir, self->isolation,
                 self->cgroup ? " under " : "", self->cgroup ? st__cgroup_path (self->cgroup) : "");
}

st_rc_t
st__worker_run (st__worker_t *self, st_error_t *err)
{
    st_rc_t rc = ST_OK;
    if (s_install_signals (self) != 0) {
        rc = st_error_set (err, ST_EIO, NULL, "cannot install signal handlers: %s", strerror (errno));
        goto out;
    }
    if (self->state_dir) {
        int killed = st__pidfile_cleanup (self->state_dir);
        if (killed > 0)
            st_warn ("stopped %d process group(s) left by a previous worker", killed);
    }

    /*  The first node connects now, so that a bad endpoint fails the start;
     *  a hollow worker's other nodes follow at ST__WORKER_HOLLOW_CONNECTS_PER_S.  */
    uint64_t now = st_mono_ms ();
    if ((rc = st__node_open_socket (&self->nodes[0], now, err)) != ST_OK)
        goto out;
    for (size_t i = 1; i < self->nnodes; i++)
        self->nodes[i].open_at = now + i * 1000u / ST__WORKER_HOLLOW_CONNECTS_PER_S;
    st__agent_open (self);
    s_log_start (self);

    int all = 1; /*  every node gets a pass: first time round, after a signal  */
    for (;;) {
        now = st_mono_ms ();
        if (s_stop_requested) {
            s_stop_requested = 0;
            s_begin_stop (self, now);
            all = 1;
        }
        if (all) {
            for (size_t i = 0; i < self->nnodes; i++)
                s_pass (self, &self->nodes[i], now);
            all = 0;
        }
        else {
            /*  Bounded: a node that is still due after its pass waits for the next round.  */
            for (size_t k = 0; k < 2 * self->nnodes && self->heap[0]->due_ms <= now; k++)
                s_pass (self, self->heap[0], now);
        }
        s_read_unread (self);
        st__agent_drain (self, st_mono_ms ());
        st__housekeep_pass (self, st_mono_ms ());
        if (self->stop_signals && s_stop_done (self, st_mono_ms ()))
            break;

        struct epoll_event events[S_EPOLL_EVENTS];
        int n = epoll_wait (self->epfd, events, S_EPOLL_EVENTS, (int) s_wait_ms (self, st_mono_ms ()));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = st_error_set (err, ST_EIO, NULL, "poll failed: %s", strerror (errno));
            goto out;
        }
        for (int i = 0; i < n; i++) {
            void *ptr = events[i].data.ptr;
            if (ptr == self)
                continue; /*  the agent socket: drained every pass  */
            if (ptr)
                st__worker_mark_unread (self, ptr);
            else {
                s_drain_wake_pipe (self);
                all = 1;
            }
        }
    }
out:
    s_restore_signals ();
    return rc;
}
