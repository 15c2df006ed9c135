/*  worker.c: the worker's event loop, its connection to the scheduler, and the
 *  bookkeeping of live and ended tasks. Messages from the scheduler are
 *  handled in dispatch.c.
 *
 *  One pass of the loop (bounded work each):
 *      stop signal?  -> terminate tasks (first), SIGKILL them (second)
 *      reap          -> every ended task becomes a TaskUpdate in the outbox
 *      tick          -> time limits (SIGTERM) and grace deadlines (SIGKILL)
 *      connection    -> reconnect after --scheduler-timeout of silence, Register,
 *                       heartbeat, resend due updates
 *      zmq_poll      -> the DEALER socket and the self-pipe the signal handlers
 *                       write to, until the nearest deadline
 *
 *  Connection transitions:
 *      REGISTERING -> REGISTERED    RegisterReply accepted            [dispatch.c]
 *      REGISTERING -> REGISTERING   refused: Register again in 2 s    [dispatch.c]
 *      any         -> REGISTERING   silence: new socket, Register     [s_reconnect]
 *      REGISTERED  -> REGISTERING   Ack ACK_UNKNOWN_NODE: Register    [dispatch.c] */
#include "worker_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <unistd.h>
#include <zmq.h>

#include "fsutil.h"
#include "pidfile.h"
#include "st_log.h"
#include "st_time.h"
#include "st_wire.h"

#define S_RECV_BATCH 64             /*  messages read per loop pass  */
#define S_MAX_POLL_MS 1000

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
st_worker_config_defaults (st_worker_config_t *cfg)
{
    memset (cfg, 0, sizeof *cfg);
    cfg->gpus = -1;
    cfg->heartbeat_ms = 1000;
    cfg->scheduler_timeout_ms = 5000;
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
s_lock_state_dir (st_worker_t *self, st_error_t *err)
{
    char path[4096];
    if (st_path_fmt (path, sizeof path, "%s/worker.lock", self->state_dir) != 0)
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

st_worker_t *
st_worker_new (const st_worker_config_t *cfg, st_error_t *err)
{
    st_worker_t *self = calloc (1, sizeof *self);
    if (!self) {
        st_error_set (err, ST_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    self->lock_fd = self->wake_rd = self->wake_wr = -1;

    char host[256] = "localhost";
    if (gethostname (host, sizeof host - 1) != 0)
        snprintf (host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';

    self->endpoint = s_strdup_or (cfg->scheduler, ST_WORKER_DEFAULT_ENDPOINT);
    self->node = s_strdup_or (cfg->node, host);
    self->pool = s_strdup_or (cfg->pool, "default");
    self->hostname = strdup (host);
    self->state_dir = s_strdup_or (cfg->state_dir, ST_WORKER_DEFAULT_STATE_DIR);
    self->done = calloc (ST_WORKER_DONE_MAX, sizeof *self->done);
    self->outbox = st_outbox_new (ST_OUTBOX_RESEND_MS);
    if (!self->endpoint || !self->node || !self->pool || !self->hostname || !self->state_dir
        || !self->done || !self->outbox) {
        st_error_set (err, ST_ENOMEM, NULL, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->labels.n; i++)
        if (st_kv_add (&self->labels, cfg->labels.keys[i], cfg->labels.vals[i] ? cfg->labels.vals[i] : "") != 0) {
            st_error_set (err, ST_ENOMEM, NULL, "out of memory");
            goto fail;
        }

    /*  Machine defaults, each overridable.  */
    self->capacity.cpus_milli = cfg->cpus_milli ? cfg->cpus_milli : st_resources_cpus_milli ();
    self->capacity.mem_mb = cfg->mem_mb ? cfg->mem_mb : st_resources_mem_mb ();
    char nvml_type[sizeof self->capacity.gpu_type] = "";
    if (cfg->gpus < 0)
        self->capacity.gpus = st_resources_nvml_gpus (nvml_type, sizeof nvml_type);
    else {
        self->capacity.gpus = cfg->gpus > ST_MAX_GPUS ? ST_MAX_GPUS : (uint32_t) cfg->gpus;
        if (self->capacity.gpus > 0 && !(cfg->gpu_type && cfg->gpu_type[0]))
            st_resources_nvml_gpus (nvml_type, sizeof nvml_type);
    }
    snprintf (self->capacity.gpu_type, sizeof self->capacity.gpu_type, "%s",
              cfg->gpu_type && cfg->gpu_type[0] ? cfg->gpu_type : self->capacity.gpus ? nvml_type : "");
    st_gpu_set_init (&self->gpus, self->capacity.gpus);

    self->hb_cfg_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : 1000;
    self->hb_ms = self->hb_cfg_ms;
    self->sched_timeout_ms = cfg->scheduler_timeout_ms ? cfg->scheduler_timeout_ms : 5000;
    if (getrandom (&self->instance, sizeof self->instance, 0) != (ssize_t) sizeof self->instance)
        self->instance = st_wall_ms () ^ ((uint64_t) getpid () << 32);

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

    if (st_mkdir_p (self->state_dir, 0750) != 0) {
        st_error_set (err, ST_EIO, "state-dir", "cannot create state directory %s: %s", self->state_dir,
                      strerror (errno));
        st_error_hint (err, "create it for the worker's user, or choose another with --state-dir");
        goto fail;
    }
    if (s_lock_state_dir (self, err) != ST_OK)
        goto fail;

    int pipefd[2];
    if (pipe2 (pipefd, O_CLOEXEC | O_NONBLOCK) != 0) {
        st_error_set (err, ST_EIO, NULL, "cannot create a pipe: %s", strerror (errno));
        goto fail;
    }
    self->wake_rd = pipefd[0];
    self->wake_wr = pipefd[1];
    self->ctx = zmq_ctx_new ();
    if (!self->ctx) {
        st_error_set (err, ST_EIO, NULL, "cannot create a ZeroMQ context: %s", zmq_strerror (errno));
        goto fail;
    }
    return self;
fail:
    st_worker_destroy (&self);
    return NULL;
}

void
st_worker_destroy (st_worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    st_worker_t *self = *self_p;
    memset (&self->keys, 0, sizeof self->keys);
    for (size_t i = 0; i < self->nslots; i++) {
        st_task_destroy (&self->slots[i].task);
        free (self->slots[i].gpu_idx);
    }
    free (self->slots);
    if (self->sock)
        zmq_close (self->sock);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    if (s_wake_fd == self->wake_wr)
        s_wake_fd = -1;
    if (self->wake_rd >= 0)
        close (self->wake_rd);
    if (self->wake_wr >= 0)
        close (self->wake_wr);
    if (self->lock_fd >= 0)
        close (self->lock_fd);
    st_outbox_destroy (&self->outbox);
    st_kv_free (&self->labels);
    free (self->done);
    free (self->endpoint);
    free (self->node);
    free (self->pool);
    free (self->hostname);
    free (self->state_dir);
    free (self);
    *self_p = NULL;
}

/*  -- sending -------------------------------------------------------------- */

uint64_t
st__worker_next_seq (st_worker_t *self)
{
    return ++self->seq;
}

st_rc_t
st__worker_send (st_worker_t *self, Strata__Envelope *env)
{
    st_rc_t rc = st_wire_send (self->sock, NULL, env);
    if (rc != ST_OK)
        st_debug ("%s (seq %" PRIu64 ") not sent: %s", st_wire_body_name (env), env->seq, st_strerror (rc));
    return rc;
}

void
st__worker_send_ack (st_worker_t *self, uint64_t ack_seq)
{
    Strata__Envelope env;
    st_wire_envelope_init (&env, st__worker_next_seq (self));
    Strata__Ack ack = STRATA__ACK__INIT;
    ack.ack_seq = ack_seq;
    env.body_case = STRATA__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    st__worker_send (self, &env);
}

void
st__status_to_pb (const st_task_status_t *in, Strata__TaskStatus *out, Strata__TaskRef *ref)
{
    strata__task_ref__init (ref);
    ref->job_id = in->key.job_id;
    ref->index = in->key.index;
    ref->attempt = in->key.attempt;
    strata__task_status__init (out);
    out->task = ref;
    out->state = in->state;
    out->pid = in->pid;
    out->exit_code = in->exit_code;
    out->term_signal = in->term_signal;
    out->timed_out = in->timed_out != 0;
    out->message = (char *) in->message;
    out->started_unix_ms = in->started_unix_ms;
    out->finished_unix_ms = in->finished_unix_ms;
}

/*  Register lists every task the scheduler must hear about: the live ones as
 *  RUNNING, and the ended ones whose update is still unacknowledged.  */
void
st__worker_send_register (st_worker_t *self, uint64_t now)
{
    size_t nout = st_outbox_size (self->outbox);
    size_t cap = self->nslots + nout;
    Strata__TaskStatus *st = calloc (cap ? cap : 1, sizeof *st);
    Strata__TaskRef *refs = calloc (cap ? cap : 1, sizeof *refs);
    Strata__TaskStatus **stp = calloc (cap ? cap : 1, sizeof *stp);
    Strata__Register__LabelsEntry *le = calloc (self->labels.n ? self->labels.n : 1, sizeof *le);
    Strata__Register__LabelsEntry **lep = calloc (self->labels.n ? self->labels.n : 1, sizeof *lep);
    if (!st || !refs || !stp || !le || !lep) {
        st_error ("out of memory building Register");
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < self->nslots; i++, n++) {
        st__status_to_pb (st_task_status (self->slots[i].task), &st[n], &refs[n]);
        stp[n] = &st[n];
    }
    for (size_t i = 0; i < nout; i++) {
        const st_task_status_t *s = st_outbox_at (self->outbox, i, NULL);
        if (s->state == STRATA__TASK_STATE__TASK_RUNNING)
            continue;
        st__status_to_pb (s, &st[n], &refs[n]);
        stp[n] = &st[n];
        n++;
    }
    for (size_t i = 0; i < self->labels.n; i++) {
        strata__register__labels_entry__init (&le[i]);
        le[i].key = self->labels.keys[i];
        le[i].value = self->labels.vals[i] ? self->labels.vals[i] : (char *) "";
        lep[i] = &le[i];
    }

    Strata__Resources capacity = STRATA__RESOURCES__INIT;
    capacity.cpus_milli = self->capacity.cpus_milli;
    capacity.mem_mb = self->capacity.mem_mb;
    capacity.gpus = self->capacity.gpus;
    Strata__Register reg = STRATA__REGISTER__INIT;
    reg.node = self->node;
    reg.pool = self->pool;
    reg.capacity = &capacity;
    reg.gpu_type = self->capacity.gpu_type;
    reg.n_labels = self->labels.n;
    reg.labels = lep;
    reg.instance = self->instance;
    reg.n_tasks = n;
    reg.tasks = stp;
    reg.version = (char *) STRATA_VERSION;
    reg.hostname = self->hostname;

    Strata__Envelope env;
    st_wire_envelope_init (&env, st__worker_next_seq (self));
    env.body_case = STRATA__ENVELOPE__BODY_REGISTER;
    env.register_ = &reg;
    st_info ("registering with scheduler at %s as node %s (%zu task(s) known)", self->endpoint, self->node, n);
    if (st__worker_send (self, &env) == ST_ETOOBIG)
        st_error ("Register with %zu tasks exceeds the frame limit", n);
    self->register_seq = env.seq;
out:
    self->state = ST__CONN_REGISTERING;
    self->next_register_ms = UINT64_MAX;
    /*  Nothing sent (no memory): try again after the refusal delay.  */
    if (!st || !refs || !stp || !le || !lep)
        self->next_register_ms = now + ST_WORKER_REGISTER_RETRY_MS;
    free (st);
    free (refs);
    free (stp);
    free (le);
    free (lep);
}

static void
s_send_heartbeat (st_worker_t *self)
{
    Strata__TaskRef *refs = calloc (self->nslots ? self->nslots : 1, sizeof *refs);
    Strata__TaskRef **refp = calloc (self->nslots ? self->nslots : 1, sizeof *refp);
    if (!refs || !refp)
        goto out;
    for (size_t i = 0; i < self->nslots; i++) {
        const st_task_key_t *k = st_task_key (self->slots[i].task);
        strata__task_ref__init (&refs[i]);
        refs[i].job_id = k->job_id;
        refs[i].index = k->index;
        refs[i].attempt = k->attempt;
        refp[i] = &refs[i];
    }
    Strata__Heartbeat hb = STRATA__HEARTBEAT__INIT;
    hb.node = self->node;
    hb.instance = self->instance;
    hb.n_running = self->nslots;
    hb.running = refp;
    Strata__Envelope env;
    st_wire_envelope_init (&env, st__worker_next_seq (self));
    env.body_case = STRATA__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    st__worker_send (self, &env);
out:
    free (refs);
    free (refp);
}

/*  Outbox callback. Always reports success: an update the socket refused is
 *  simply resent at its next due time, and the loop must not spin on it.  */
static int
s_send_update (void *arg, uint64_t seq, const st_task_status_t *status)
{
    st_worker_t *self = arg;
    Strata__TaskRef ref;
    Strata__TaskStatus ts;
    st__status_to_pb (status, &ts, &ref);
    Strata__TaskUpdate tu = STRATA__TASK_UPDATE__INIT;
    tu.status = &ts;
    Strata__Envelope env;
    st_wire_envelope_init (&env, seq);
    env.body_case = STRATA__ENVELOPE__BODY_TASK_UPDATE;
    env.task_update = &tu;
    st__worker_send (self, &env);
    return 0;
}

/*  -- connection ----------------------------------------------------------- */

static st_rc_t
s_open_socket (st_worker_t *self, uint64_t now, st_error_t *err)
{
    if (self->sock)
        zmq_close (self->sock);
    self->sock = zmq_socket (self->ctx, ZMQ_DEALER);
    if (!self->sock)
        return st_error_set (err, ST_EIO, NULL, "cannot create a socket: %s", zmq_strerror (errno));
    st_wire_socket_defaults (self->sock);
    if (self->curve && st_curve_client (self->sock, &self->keys, self->scheduler_key, err) != ST_OK)
        return err->rc;
    if (zmq_connect (self->sock, self->endpoint) != 0)
        return st_error_set (err, ST_EINVAL, "scheduler", "cannot connect to %s: %s", self->endpoint,
                             zmq_strerror (errno));
    self->state = ST__CONN_REGISTERING;
    self->next_register_ms = now;
    self->last_heard_ms = now;
    return ST_OK;
}

static void
s_reconnect (st_worker_t *self, uint64_t now)
{
    st_warn ("no message from scheduler at %s for %" PRIu64 " ms; reconnecting", self->endpoint,
             now - self->last_heard_ms);
    st_error_t err;
    if (s_open_socket (self, now, &err) != ST_OK) {
        /*  The endpoint was fine at start-up; try again after another timeout.  */
        st_error ("%s", err.msg);
        if (self->sock)
            zmq_close (self->sock);
        self->sock = NULL;
        self->last_heard_ms = now;
    }
}

static void
s_connection_timers (st_worker_t *self, uint64_t now)
{
    if (now >= self->last_heard_ms + self->sched_timeout_ms)
        s_reconnect (self, now);
    if (!self->sock)
        return;
    if (self->state == ST__CONN_REGISTERING && now >= self->next_register_ms)
        st__worker_send_register (self, now);
    if (self->state == ST__CONN_REGISTERED) {
        if (now >= self->next_hb_ms) {
            s_send_heartbeat (self);
            self->next_hb_ms = now + self->hb_ms;
        }
        st_outbox_due (self->outbox, now, s_send_update, self);
    }
}

/*  -- tasks ---------------------------------------------------------------- */

st__slot_t *
st__worker_find_live (st_worker_t *self, const st_task_key_t *key)
{
    for (size_t i = 0; i < self->nslots; i++)
        if (st_task_key_eq (st_task_key (self->slots[i].task), key))
            return &self->slots[i];
    return NULL;
}

int
st__worker_knows (st_worker_t *self, const st_task_key_t *key)
{
    if (st__worker_find_live (self, key))
        return 1;
    for (size_t i = 0; i < self->done_n; i++)
        if (st_task_key_eq (&self->done[i], key))
            return 1;
    return 0;
}

void
st__worker_forget (st_worker_t *self, const st_task_key_t *key)
{
    self->done[self->done_next] = *key;
    self->done_next = (self->done_next + 1) % ST_WORKER_DONE_MAX;
    if (self->done_n < ST_WORKER_DONE_MAX)
        self->done_n++;
}

int
st__worker_add_slot (st_worker_t *self, const st__slot_t *slot)
{
    if (self->nslots == self->slots_cap) {
        size_t cap = self->slots_cap ? self->slots_cap * 2 : 16;
        st__slot_t *grown = realloc (self->slots, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->slots = grown;
        self->slots_cap = cap;
    }
    self->slots[self->nslots++] = *slot;
    return 0;
}

void
st__worker_push_update (st_worker_t *self, const st_task_status_t *status, uint64_t now)
{
    char name[64];
    if (st_outbox_push (self->outbox, st__worker_next_seq (self), status, now) != 0)
        st_error ("task %s: outbox full (%zu updates); update lost", st_task_key_format (&status->key, name, sizeof name),
                  st_outbox_size (self->outbox));
}

static void
s_log_end (const st_task_status_t *s)
{
    char name[64];
    st_task_key_format (&s->key, name, sizeof name);
    if (s->term_signal)
        st_info ("task %s (pid %d) was killed by signal %d (%s)%s", name, (int) s->pid, (int) s->term_signal,
                 strsignal (s->term_signal), s->timed_out ? " at its time limit" : "");
    else
        st_info ("task %s (pid %d) exited with code %d%s", name, (int) s->pid, (int) s->exit_code,
                 s->timed_out ? " at its time limit" : "");
}

static void
s_reap_all (st_worker_t *self, uint64_t now)
{
    for (size_t i = 0; i < self->nslots;) {
        st__slot_t *slot = &self->slots[i];
        if (!st_task_reap (slot->task)) {
            i++;
            continue;
        }
        const st_task_status_t *s = st_task_status (slot->task);
        s_log_end (s);
        st__worker_push_update (self, s, now);
        st__worker_forget (self, &s->key);
        st_gpu_set_release (&self->gpus, slot->gpu_idx, slot->ngpus);
        free (slot->gpu_idx);
        st_task_destroy (&slot->task);
        self->slots[i] = self->slots[--self->nslots];
    }
}

static void
s_begin_stop (st_worker_t *self, uint64_t now)
{
    self->stop_signals++;
    if (self->stop_signals == 1) {
        st_info ("stop requested; terminating %zu task(s)", self->nslots);
        for (size_t i = 0; i < self->nslots; i++) {
            uint32_t grace = st_task_grace_ms (self->slots[i].task);
            st_task_terminate (self->slots[i].task, grace < ST_WORKER_STOP_GRACE_MAX_MS ? grace : ST_WORKER_STOP_GRACE_MAX_MS,
                               now);
        }
    }
    else {
        st_warn ("second stop request; killing %zu task(s) now", self->nslots);
        for (size_t i = 0; i < self->nslots; i++)
            st_task_kill (self->slots[i].task);
    }
}

/*  Done once no task is left and every end was acknowledged, or the flush
 *  window closed.  */
static int
s_stop_done (st_worker_t *self, uint64_t now)
{
    if (self->nslots > 0)
        return 0;
    if (!self->flush_until)
        self->flush_until = now + ST_WORKER_FLUSH_MS;
    size_t pending = st_outbox_size (self->outbox);
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

static uint64_t
s_min (uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static long
s_poll_timeout (st_worker_t *self, uint64_t now)
{
    uint64_t next = self->last_heard_ms + self->sched_timeout_ms;
    if (self->state == ST__CONN_REGISTERING)
        next = s_min (next, self->next_register_ms);
    else {
        next = s_min (next, self->next_hb_ms);
        next = s_min (next, st_outbox_next_due (self->outbox));
    }
    for (size_t i = 0; i < self->nslots; i++)
        next = s_min (next, st_task_next_deadline (self->slots[i].task));
    if (self->flush_until)
        next = s_min (next, self->flush_until);
    if (next <= now)
        return 0;
    return (long) s_min (next - now, S_MAX_POLL_MS);
}

static void
s_read_socket (st_worker_t *self)
{
    for (int i = 0; i < S_RECV_BATCH; i++) {
        Strata__Envelope *env = NULL;
        st_error_t err;
        st_error_clear (&err);
        st_rc_t rc = st_wire_recv (self->sock, 0, ZMQ_DONTWAIT, NULL, &env, &err);
        if (rc == ST_EAGAIN)
            return;
        if (rc == ST_EIO) {
            st_warn ("receive from scheduler failed: %s", err.msg);
            return;
        }
        if (rc != ST_OK) {
            self->bad_frames++;
            st_warn ("dropped malformed message from scheduler: %s (bad_frames=%" PRIu64 ")", err.msg,
                     self->bad_frames);
            st_wire_free (env);
            continue;
        }
        uint64_t now = st_mono_ms ();
        self->last_heard_ms = now;
        st__worker_dispatch (self, env, now);
        st_wire_free (env);
    }
}

static void
s_drain_wake_pipe (st_worker_t *self)
{
    char buf[64];
    while (read (self->wake_rd, buf, sizeof buf) > 0)
        ;
}

static int
s_install_signals (st_worker_t *self)
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

st_rc_t
st_worker_run (st_worker_t *self, st_error_t *err)
{
    st_rc_t rc = ST_OK;
    if (s_install_signals (self) != 0) {
        rc = st_error_set (err, ST_EIO, NULL, "cannot install signal handlers: %s", strerror (errno));
        goto out;
    }
    int killed = st_pidfile_cleanup (self->state_dir);
    if (killed > 0)
        st_warn ("stopped %d process group(s) left by a previous worker", killed);

    uint64_t now = st_mono_ms ();
    rc = s_open_socket (self, now, err);
    if (rc != ST_OK)
        goto out;
    st_info ("worker %s (pool %s) starting: scheduler %s, cpus %.3f, memory %" PRIu64 " MiB, gpus %" PRIu32
             "%s%s, state dir %s",
             self->node, self->pool, self->endpoint, self->capacity.cpus_milli / 1000.0, self->capacity.mem_mb,
             self->capacity.gpus, self->capacity.gpu_type[0] ? " " : "", self->capacity.gpu_type, self->state_dir);

    for (;;) {
        now = st_mono_ms ();
        if (s_stop_requested) {
            s_stop_requested = 0;
            s_begin_stop (self, now);
        }
        s_reap_all (self, now);
        for (size_t i = 0; i < self->nslots; i++)
            st_task_tick (self->slots[i].task, now);
        s_connection_timers (self, now);
        if (self->stop_signals && s_stop_done (self, now))
            break;

        /*  The pipe goes first: after a failed reconnect there may be no socket.  */
        zmq_pollitem_t items[2] = {
            { NULL, self->wake_rd, ZMQ_POLLIN, 0 },
            { self->sock, 0, ZMQ_POLLIN, 0 },
        };
        int n = zmq_poll (items, self->sock ? 2 : 1, s_poll_timeout (self, now));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = st_error_set (err, ST_EIO, NULL, "poll failed: %s", zmq_strerror (errno));
            goto out;
        }
        if (items[0].revents & ZMQ_POLLIN)
            s_drain_wake_pipe (self);
        if (self->sock && (items[1].revents & ZMQ_POLLIN))
            s_read_socket (self);
    }
out:
    s_restore_signals ();
    return rc;
}
