/*  node.c: one node of a worker process: its connection to the scheduler and
 *  the bookkeeping of its live and ended tasks. A real worker has one node; a
 *  hollow worker (--hollow N) has N, each a whole protocol peer with its own
 *  socket. Messages from the scheduler are handled in dispatch.c, the loop that
 *  drives the nodes is in worker.c.
 *
 *  A node's part of a loop pass (st__node_pass), bounded work each:
 *      reap          -> every ended task becomes a TaskUpdate in the outbox
 *      start         -> up to ST__WORKER_STARTS_PER_PASS queued Launches; when
 *                       that reopens a launch cap it had closed, a Heartbeat
 *                       carries the new cap to the scheduler at once
 *      tick          -> time limits (SIGTERM) and grace deadlines (SIGKILL)
 *      connection    -> reconnect after --scheduler-timeout of silence, Register,
 *                       heartbeat, resend due updates
 *
 *  Connection transitions:
 *      REGISTERING -> REGISTERED    RegisterReply accepted            [dispatch.c]
 *      REGISTERING -> REGISTERING   refused: Register again in 2 s    [dispatch.c]
 *      any         -> REGISTERING   silence: new socket, Register     [s_reconnect]
 *      REGISTERED  -> REGISTERING   Ack ACK_UNKNOWN_NODE: Register    [dispatch.c] */
#include "worker_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>
#include <zmq.h>

#include "st_log.h"
#include "st_time.h"
#include "st_vec.h"
#include "st_wire.h"

#define S_RECV_BATCH 64 /*  messages read per node and loop pass  */

/*  -- life cycle ----------------------------------------------------------- */

st_rc_t
st__node_init (st__node_t *self, st__worker_t *w, size_t index, const char *name)
{
    memset (self, 0, sizeof *self);
    self->w = w;
    self->index = index;
    self->sock_fd = -1;
    self->name = strdup (name);
    size_t wholen = strlen (name) + 8;
    self->who = malloc (wholen);
    self->outbox = st__outbox_new (ST__OUTBOX_RESEND_MS);
    if (!self->name || !self->who || !self->outbox)
        return ST_ENOMEM;
    if (w->hollow)
        snprintf (self->who, wholen, "node %s: ", name);
    else
        self->who[0] = '\0';
    st__gpu_set_init (&self->gpus, w->capacity.gpus);
    self->hb_ms = w->hb_cfg_ms;
    self->launch_target = ST__WORKER_LAUNCH_TARGET_MIN;
    if (getrandom (&self->instance, sizeof self->instance, 0) != (ssize_t) sizeof self->instance)
        self->instance = st_wall_ms () ^ ((uint64_t) getpid () << 32) ^ ((uint64_t) index << 16);
    return ST_OK;
}

static void
s_close_socket (st__node_t *self)
{
    if (self->sock_fd >= 0 && self->w->epfd >= 0)
        epoll_ctl (self->w->epfd, EPOLL_CTL_DEL, self->sock_fd, NULL);
    self->sock_fd = -1;
    if (self->sock)
        zmq_close (self->sock);
    self->sock = NULL;
}

void
st__node_release (st__node_t *self)
{
    for (size_t i = 0; i < self->nslots; i++) {
        st__wtask_destroy (&self->slots[i].task);
        free (self->slots[i].gpu_idx);
        st__held_free (self->slots[i].held);
    }
    free (self->slots);
    st__node_launchq_free (self);
    s_close_socket (self);
    st__outbox_destroy (&self->outbox);
    free (self->done);
    free (self->name);
    free (self->who);
    memset (self, 0, sizeof *self);
    self->sock_fd = -1;
}

const char *
st__node_who (const st__node_t *self)
{
    return self->who;
}

/*  -- sending -------------------------------------------------------------- */

uint64_t
st__node_next_seq (st__node_t *self)
{
    return ++self->seq;
}

st_rc_t
st__node_send (st__node_t *self, Strata__Envelope *env)
{
    st_rc_t rc = st_wire_send (self->sock, NULL, env);
    if (rc != ST_OK)
        st_debug ("%s%s (seq %" PRIu64 ") not sent: %s", self->who, st_wire_body_name (env), env->seq,
                  st_strerror (rc));
    st__worker_mark_unread (self->w, self);
    return rc;
}

/*  with_cap: the Ack also carries the node's launch cap (an Ack of a Launch).  */
static void
s_send_ack (st__node_t *self, uint64_t ack_seq, int with_cap)
{
    Strata__Envelope env;
    st_wire_envelope_init (&env, st__node_next_seq (self));
    Strata__Ack ack = STRATA__ACK__INIT;
    ack.ack_seq = ack_seq;
    if (with_cap) {
        ack.launch_cap_opt_case = STRATA__ACK__LAUNCH_CAP_OPT_LAUNCH_CAP;
        ack.launch_cap = self->launch_cap_sent = st__node_launch_cap (self);
    }
    env.body_case = STRATA__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    st__node_send (self, &env);
}

void
st__node_send_ack (st__node_t *self, uint64_t ack_seq)
{
    s_send_ack (self, ack_seq, 0);
}

size_t
st__node_launches_queued (const st__node_t *self)
{
    return self->launchq_n - self->launchq_head;
}

uint32_t
st__node_launch_cap (const st__node_t *self)
{
    size_t queued = st__node_launches_queued (self);
    return queued < self->launch_target ? self->launch_target - (uint32_t) queued : 0;
}

void
st__node_send_launch_ack (st__node_t *self, uint64_t ack_seq)
{
    s_send_ack (self, ack_seq, 1);
}

void
st__status_to_pb (const st__wtask_status_t *in, Strata__TaskStatus *out, Strata__TaskRef *ref)
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
    if (in->has_peak) {
        out->peak_mem_kib_opt_case = STRATA__TASK_STATUS__PEAK_MEM_KIB_OPT_PEAK_MEM_KIB;
        out->peak_mem_kib = in->peak_mem_kib;
    }
    if (in->has_cpu) {
        out->cpu_ms_opt_case = STRATA__TASK_STATUS__CPU_MS_OPT_CPU_MS;
        out->cpu_ms = in->cpu_ms;
    }
    out->oom_killed = in->oom_killed != 0;
}

/*  Register lists every task the scheduler must hear about: the live ones as
 *  RUNNING, and the ended ones whose update is still unacknowledged.  */
void
st__node_send_register (st__node_t *self, uint64_t now)
{
    st__worker_t *w = self->w;
    size_t nout = st__outbox_size (self->outbox);
    size_t cap = self->nslots + nout;
    Strata__TaskStatus *st = calloc (cap ? cap : 1, sizeof *st);
    Strata__TaskRef *refs = calloc (cap ? cap : 1, sizeof *refs);
    Strata__TaskStatus **stp = calloc (cap ? cap : 1, sizeof *stp);
    Strata__Register__LabelsEntry *le = calloc (w->labels.n ? w->labels.n : 1, sizeof *le);
    Strata__Register__LabelsEntry **lep = calloc (w->labels.n ? w->labels.n : 1, sizeof *lep);
    if (!st || !refs || !stp || !le || !lep) {
        st_error ("%sout of memory building Register", self->who);
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < self->nslots; i++, n++) {
        st__status_to_pb (st__wtask_status (self->slots[i].task), &st[n], &refs[n]);
        stp[n] = &st[n];
    }
    for (size_t i = 0; i < nout; i++) {
        const st__wtask_status_t *s = st__outbox_at (self->outbox, i, NULL);
        if (s->state == STRATA__TASK_STATE__TASK_RUNNING)
            continue;
        st__status_to_pb (s, &st[n], &refs[n]);
        stp[n] = &st[n];
        n++;
    }
    for (size_t i = 0; i < w->labels.n; i++) {
        strata__register__labels_entry__init (&le[i]);
        le[i].key = w->labels.keys[i];
        le[i].value = w->labels.vals[i] ? w->labels.vals[i] : (char *) "";
        lep[i] = &le[i];
    }

    Strata__Resources capacity = STRATA__RESOURCES__INIT;
    capacity.cpus_milli = w->capacity.cpus_milli;
    capacity.mem_mb = w->capacity.mem_mb;
    capacity.gpus = w->capacity.gpus;
    Strata__Register reg = STRATA__REGISTER__INIT;
    reg.node = self->name;
    reg.pool = w->pool;
    reg.capacity = &capacity;
    reg.gpu_type = w->capacity.gpu_type;
    reg.n_labels = w->labels.n;
    reg.labels = lep;
    reg.instance = self->instance;
    reg.n_tasks = n;
    reg.tasks = stp;
    reg.version = (char *) STRATA_VERSION;
    reg.hostname = w->hostname;
    reg.launch_cap_opt_case = STRATA__REGISTER__LAUNCH_CAP_OPT_LAUNCH_CAP;
    reg.launch_cap = self->launch_cap_sent = st__node_launch_cap (self);
    reg.isolation = w->isolation;
    reg.refusing = w->refusing;

    Strata__Envelope env;
    st_wire_envelope_init (&env, st__node_next_seq (self));
    env.body_case = STRATA__ENVELOPE__BODY_REGISTER;
    env.register_ = &reg;
    st_info ("registering with scheduler at %s as node %s (%zu task(s) known)", w->endpoint, self->name, n);
    if (st__node_send (self, &env) == ST_ETOOBIG)
        st_error ("%sRegister with %zu tasks exceeds the frame limit", self->who, n);
    self->register_seq = env.seq;
out:
    self->state = ST__CONN_REGISTERING;
    self->next_register_ms = UINT64_MAX;
    /*  Nothing sent (no memory): try again after the refusal delay.  */
    if (!st || !refs || !stp || !le || !lep)
        self->next_register_ms = now + ST__WORKER_REGISTER_RETRY_MS;
    free (st);
    free (refs);
    free (stp);
    free (le);
    free (lep);
}

/*  A Heartbeat with the running tasks (the scheduler kills those it no longer
 *  assigns here) and the launch cap; with_running 0 sends only the cap.  */
static void
s_send_heartbeat (st__node_t *self, int with_running)
{
    size_t n = with_running ? self->nslots : 0;
    Strata__TaskRef *refs = calloc (n ? n : 1, sizeof *refs);
    Strata__TaskRef **refp = calloc (n ? n : 1, sizeof *refp);
    if (!refs || !refp)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const st__wtask_key_t *k = st__wtask_key (self->slots[i].task);
        strata__task_ref__init (&refs[i]);
        refs[i].job_id = k->job_id;
        refs[i].index = k->index;
        refs[i].attempt = k->attempt;
        refp[i] = &refs[i];
    }
    Strata__Heartbeat hb = STRATA__HEARTBEAT__INIT;
    hb.node = self->name;
    hb.instance = self->instance;
    hb.n_running = n;
    hb.running = refp;
    hb.launch_cap_opt_case = STRATA__HEARTBEAT__LAUNCH_CAP_OPT_LAUNCH_CAP;
    hb.launch_cap = self->launch_cap_sent = st__node_launch_cap (self);
    hb.refusing_opt_case = STRATA__HEARTBEAT__REFUSING_OPT_REFUSING;
    hb.refusing = self->w->refusing;
    Strata__Envelope env;
    st_wire_envelope_init (&env, st__node_next_seq (self));
    env.body_case = STRATA__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    st__node_send (self, &env);
out:
    free (refs);
    free (refp);
}

/*  Outbox callback. Always reports success: an update the socket refused is
 *  simply resent at its next due time, and the loop must not spin on it.  */
static int
s_send_update (void *arg, uint64_t seq, const st__wtask_status_t *status)
{
    st__node_t *self = arg;
    Strata__TaskRef ref;
    Strata__TaskStatus ts;
    st__status_to_pb (status, &ts, &ref);
    Strata__TaskUpdate tu = STRATA__TASK_UPDATE__INIT;
    tu.status = &ts;
    Strata__Envelope env;
    st_wire_envelope_init (&env, seq);
    env.body_case = STRATA__ENVELOPE__BODY_TASK_UPDATE;
    env.task_update = &tu;
    st__node_send (self, &env);
    return 0;
}

/*  -- connection ----------------------------------------------------------- */

st_rc_t
st__node_open_socket (st__node_t *self, uint64_t now, st_error_t *err)
{
    st__worker_t *w = self->w;
    s_close_socket (self);
    self->sock = zmq_socket (w->ctx, ZMQ_DEALER);
    if (!self->sock)
        return st_error_set (err, ST_EIO, NULL, "cannot create a socket: %s", zmq_strerror (errno));
    st_wire_socket_defaults (self->sock);
    if (w->curve && st_curve_client (self->sock, &w->keys, w->scheduler_key, err) != ST_OK)
        return err->rc;
    if (zmq_connect (self->sock, w->endpoint) != 0)
        return st_error_set (err, ST_EINVAL, "scheduler", "cannot connect to %s: %s", w->endpoint,
                             zmq_strerror (errno));
    /*  The loop sleeps in epoll_wait on the socket's ZMQ_FD, which signals that
     *  the socket's state may have changed (see worker.c).  */
    int fd = -1;
    size_t len = sizeof fd;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = self };
    if (zmq_getsockopt (self->sock, ZMQ_FD, &fd, &len) != 0 || epoll_ctl (w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        return st_error_set (err, ST_EIO, NULL, "cannot watch the scheduler socket: %s", strerror (errno));
    self->sock_fd = fd;
    self->state = ST__CONN_REGISTERING;
    self->next_register_ms = now;
    self->last_heard_ms = now;
    return ST_OK;
}

static void
s_reconnect (st__node_t *self, uint64_t now)
{
    st_warn ("%sno message from scheduler at %s for %" PRIu64 " ms; reconnecting", self->who, self->w->endpoint,
             now - self->last_heard_ms);
    st_error_t err;
    if (st__node_open_socket (self, now, &err) != ST_OK) {
        /*  The endpoint was fine at start-up; try again after another timeout.  */
        st_error ("%s%s", self->who, err.msg);
        s_close_socket (self);
        self->last_heard_ms = now;
    }
}

static void
s_connection_timers (st__node_t *self, uint64_t now)
{
    if (self->open_at) {
        /*  A hollow node waiting for its turn to connect (worker.c).  */
        if (now < self->open_at)
            return;
        self->open_at = 0;
        st_error_t err;
        if (st__node_open_socket (self, now, &err) != ST_OK) {
            st_error ("%s%s", self->who, err.msg);
            s_close_socket (self);
            self->last_heard_ms = now;
        }
    }
    if (now >= self->last_heard_ms + self->w->sched_timeout_ms)
        s_reconnect (self, now);
    if (!self->sock)
        return;
    if (self->state == ST__CONN_REGISTERING && now >= self->next_register_ms)
        st__node_send_register (self, now);
    if (self->state == ST__CONN_REGISTERED) {
        if (now >= self->next_hb_ms) {
            s_send_heartbeat (self, 1);
            self->next_hb_ms = now + self->hb_ms;
        }
        else if (self->launch_cap_sent * 2 < self->launch_target
                 && st__node_launch_cap (self) * 2 >= self->launch_target)
            /*  The cap it last advertised held the scheduler back and its queue
             *  has drained since: ask for more now, not at the next beat.  */
            s_send_heartbeat (self, 0);
        st__outbox_due (self->outbox, now, s_send_update, self);
    }
}

/*  -- tasks ---------------------------------------------------------------- */

st__slot_t *
st__node_find_live (st__node_t *self, const st__wtask_key_t *key)
{
    for (size_t i = 0; i < self->nslots; i++)
        if (st__wtask_key_eq (st__wtask_key (self->slots[i].task), key))
            return &self->slots[i];
    return NULL;
}

int
st__node_knows (st__node_t *self, const st__wtask_key_t *key)
{
    if (st__node_find_live (self, key))
        return 1;
    for (size_t i = self->launchq_head; i < self->launchq_n; i++) {
        const Strata__TaskRef *r = self->launchq[i]->launch->task;
        if (r->job_id == key->job_id && r->index == key->index && r->attempt == key->attempt)
            return 1;
    }
    for (size_t i = 0; i < self->done_n; i++)
        if (st__wtask_key_eq (&self->done[i], key))
            return 1;
    return 0;
}

/*  The ring starts small and doubles until it holds ST__WORKER_DONE_MAX keys
 *  (a hollow worker has thousands of nodes); only then does it wrap.  */
void
st__node_forget (st__node_t *self, const st__wtask_key_t *key)
{
    if (self->done_n == self->done_cap && self->done_cap < ST__WORKER_DONE_MAX
        && st_vec_reserve ((void **) &self->done, &self->done_cap, self->done_cap + 1, sizeof *self->done,
                           ST__WORKER_DONE_MAX)
               == ST_OK)
        self->done_next = self->done_n; /*  out of memory: the ring keeps its size and wraps  */
    if (self->done_cap == 0)
        return;
    self->done[self->done_next] = *key;
    self->done_next = (self->done_next + 1) % self->done_cap;
    if (self->done_n < self->done_cap)
        self->done_n++;
}

/*  Tasks running on one node at once: far more than any node's cores or
 *  GPUs allow; the cap only stops a runaway.  */
#define S_SLOTS_MAX ((size_t) 1 << 20)

int
st__node_add_slot (st__node_t *self, const st__slot_t *slot)
{
    if (st_vec_push ((void **) &self->slots, &self->nslots, &self->slots_cap, sizeof *slot, S_SLOTS_MAX, slot)
        != ST_OK)
        return -1;
    return 0;
}

void
st__node_push_update (st__node_t *self, const st__wtask_status_t *status, uint64_t now)
{
    char name[64];
    if (st__outbox_push (self->outbox, st__node_next_seq (self), status, now) != 0)
        st_error ("%stask %s: outbox full (%zu updates); update lost", self->who,
                  st__wtask_key_format (&status->key, name, sizeof name), st__outbox_size (self->outbox));
}

/*  A hollow worker's task ends are routine (thousands a second): debug level.  */
static void
s_log_end (const st__node_t *self, const st__wtask_status_t *s)
{
    char name[64];
    st__wtask_key_format (&s->key, name, sizeof name);
    st_log_level_t level = self->w->hollow ? ST_LOG_DEBUG : ST_LOG_INFO;
    if (!st_log_enabled (level))
        return;
    if (s->term_signal)
        st_log (level, "%stask %s (pid %d) was killed by signal %d (%s)%s", self->who, name, (int) s->pid,
                (int) s->term_signal, strsignal (s->term_signal), s->timed_out ? " at its time limit" : "");
    else
        st_log (level, "%stask %s (pid %d) exited with code %d%s", self->who, name, (int) s->pid, (int) s->exit_code,
                s->timed_out ? " at its time limit" : "");
}

static void
s_reap_all (st__node_t *self, uint64_t now)
{
    for (size_t i = 0; i < self->nslots;) {
        st__slot_t *slot = &self->slots[i];
        if (!st__wtask_reap (slot->task)) {
            i++;
            continue;
        }
        const st__wtask_status_t *s = st__wtask_status (slot->task);
        s_log_end (self, s);
        st__agent_flush_progress (self, slot, now); /*  its last figures go before its end  */
        st__node_push_update (self, s, now);
        st__node_forget (self, &s->key);
        st__gpu_set_release (&self->gpus, slot->gpu_idx, slot->ngpus);
        free (slot->gpu_idx);
        st__held_free (slot->held);
        st__wtask_destroy (&slot->task);
        self->slots[i] = self->slots[--self->nslots];
    }
}

void
st__node_stop_tasks (st__node_t *self, int second, uint64_t now)
{
    for (size_t i = 0; i < self->nslots; i++) {
        st__wtask_t *task = self->slots[i].task;
        if (second)
            st__wtask_kill (task);
        else {
            uint32_t grace = st__wtask_grace_ms (task);
            st__wtask_terminate (task, grace < ST__WORKER_STOP_GRACE_MAX_MS ? grace : ST__WORKER_STOP_GRACE_MAX_MS,
                                 now);
        }
    }
}

void
st__node_pass (st__node_t *self, uint64_t now)
{
    s_reap_all (self, now);
    if (self->w->cgroup)
        st__cgroup_tick (self->w->cgroup);
    st__node_start_queued (self, now);
    for (size_t i = 0; i < self->nslots; i++)
        st__wtask_tick (self->slots[i].task, now);
    s_connection_timers (self, now);
}

static uint64_t
s_min (uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

uint64_t
st__node_next_due (const st__node_t *self)
{
    if (self->open_at)
        return self->open_at;
    if (st__node_launches_queued (self) > 0)
        return 0; /*  Launches wait to start: the next pass is due now  */
    uint64_t next = self->last_heard_ms + self->w->sched_timeout_ms;
    if (!self->sock)
        ; /*  only the reconnect is due  */
    else if (self->state == ST__CONN_REGISTERING)
        next = s_min (next, self->next_register_ms);
    else {
        next = s_min (next, self->next_hb_ms);
        next = s_min (next, st__outbox_next_due (self->outbox));
    }
    for (size_t i = 0; i < self->nslots; i++)
        next = s_min (next, st__wtask_next_deadline (self->slots[i].task));
    return next;
}

/*  -- receiving ------------------------------------------------------------ */

size_t
st__node_read (st__node_t *self, int *drained)
{
    size_t got = 0;
    *drained = 1;
    for (int i = 0; i < S_RECV_BATCH; i++) {
        if (!self->sock)
            return got;
        Strata__Envelope *env = NULL;
        st_error_t err;
        st_error_clear (&err);
        st_rc_t rc = st_wire_recv (self->sock, 0, ZMQ_DONTWAIT, NULL, &env, &err);
        if (rc == ST_EAGAIN)
            return got;
        if (rc == ST_EIO) {
            st_warn ("%sreceive from scheduler failed: %s", self->who, err.msg);
            return got;
        }
        got++;
        if (rc != ST_OK) {
            self->bad_frames++;
            st_warn ("%sdropped malformed message from scheduler: %s (bad_frames=%" PRIu64 ")", self->who, err.msg,
                     self->bad_frames);
            st_wire_free (env);
            continue;
        }
        uint64_t now = st_mono_ms ();
        self->last_heard_ms = now;
        if (!st__node_dispatch (self, env, now))
            st_wire_free (env);
    }
    *drained = 0;
    return got;
}
