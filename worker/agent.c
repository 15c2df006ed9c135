/*  agent.c: the worker's agent socket, where its tasks reach it.
 *
 *  A ROUTER socket bound at ipc://<state_dir>/agent.sock (given to every task
 *  as STRATA_RENDEZVOUS). A task sends one Envelope per request (strata/agent.h):
 *
 *      rdzv_put, rdzv_get, remote_exec   relayed to the scheduler; its
 *                                        AgentReply is passed back
 *      progress                          relayed, never answered
 *
 *  The request's token (STRATA_TASK_TOKEN) must be that of a task live on this
 *  worker; the worker replaces the request's task reference with that task's,
 *  so a task can only speak for itself, and clears the token before relaying.
 *  A request that fails these checks gets an AgentReply with the reason and
 *  goes no further. Relayed calls wait in w->calls until the answer comes or
 *  the task's own deadline passes. A reset of the scheduler connection fails
 *  the rendezvous calls (the task may ask again) and asks the remote starts
 *  again (st__agent_reconnected): they are answered by RemoteExited, matched
 *  by job, attempt and node, whichever scheduler sends it.
 */
#include "worker_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "fsutil.h"
#include "st_log.h"
#include "st_time.h"
#include "st_vec.h"

#define S_CALLS_MAX 4096u  /*  relayed calls waiting at once  */
#define S_MARGIN_MS 15000u /*  kept past the task's own deadline  */
#define S_DRAIN_MAX 256    /*  requests handled per pass  */

static void s_forget_call (st__worker_t *w, size_t i);

void
st__agent_token (char *out)
{
    uint8_t raw[ST__TOKEN_LEN / 2];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom (raw + got, sizeof raw - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            abort (); /*  no randomness: a guessable token must never be handed out  */
        got += (size_t) n;
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf (out + 2 * i, 3, "%02x", raw[i]);
}

void
st__held_free (st__held_t *held)
{
    if (!held)
        return;
    st_kv_free (&held->env);
    free (held->workdir);
    free (held);
}

void
st__agent_open (st__worker_t *w)
{
    if (!w->state_dir || w->hollow)
        return;
    char path[4096];
    if (st__path_fmt (path, sizeof path, "%s/agent.sock", w->state_dir) != 0
        || snprintf (w->agent_endpoint, sizeof w->agent_endpoint, "ipc://%s", path) >= (int) sizeof w->agent_endpoint
        || strlen (path) >= 100) {
        st_warn ("state directory path too long for the agent socket (%s): tasks get no rendezvous", path);
        w->agent_endpoint[0] = '\0';
        return;
    }
    unlink (path); /*  left by a previous worker: the state dir is ours (flock)  */
    w->agent_sock = zmq_socket (w->ctx, ZMQ_ROUTER);
    if (!w->agent_sock) {
        st_warn ("cannot create the agent socket: %s; tasks get no rendezvous", zmq_strerror (errno));
        w->agent_endpoint[0] = '\0';
        return;
    }
    st_wire_socket_defaults (w->agent_sock);
    int one = 1;
    zmq_setsockopt (w->agent_sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    size_t fdlen = sizeof w->agent_fd;
    if (zmq_bind (w->agent_sock, w->agent_endpoint) != 0
        || zmq_getsockopt (w->agent_sock, ZMQ_FD, &w->agent_fd, &fdlen) != 0) {
        st_warn ("cannot bind the agent socket at %s: %s; tasks get no rendezvous", w->agent_endpoint,
                 zmq_strerror (errno));
        st__agent_close (w);
        return;
    }
    /*  When every task runs as one user, the socket is that user's alone (the
     *  worker, as root, still serves it). With a user per tenant, every task
     *  user must reach it: it is open to all, and each request is guarded by
     *  its task's token (STRATA_TASK_TOKEN, in that task's environment only).  */
    const st__task_user_t *u = w->users ? st__task_users_for (w->users, NULL) : NULL;
    if (u && !st__task_users_several (w->users) && (!u->switch_to || chown (path, u->uid, u->gid) == 0))
        chmod (path, 0600);
    else
        chmod (path, 0666);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };
    if (epoll_ctl (w->epfd, EPOLL_CTL_ADD, w->agent_fd, &ev) != 0) {
        st_warn ("cannot watch the agent socket: %s; tasks get no rendezvous", strerror (errno));
        st__agent_close (w);
        return;
    }
    st_debug ("agent socket at %s", w->agent_endpoint);
}

void
st__agent_close (st__worker_t *w)
{
    if (w->agent_sock) {
        zmq_close (w->agent_sock);
        w->agent_sock = NULL;
    }
    w->agent_endpoint[0] = '\0';
    while (w->ncalls)
        s_forget_call (w, w->ncalls - 1);
    free (w->calls);
    w->calls = NULL;
    w->ncalls = w->calls_cap = 0;
}

/*  Answers a task's request (reply_to = its seq). A task that left is not waiting.  */
static void
s_reply (st__worker_t *w, const st_peer_t *peer, uint64_t client_seq, const Strata__AgentReply *r)
{
    (void) st_wire_agent_reply (w->agent_sock, peer, 0, client_seq, r);
}

static void s_reply_error (st__worker_t *w, const st_peer_t *peer, uint64_t client_seq, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_reply_error (st__worker_t *w, const st_peer_t *peer, uint64_t client_seq, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    (void) st_wire_agent_error (w->agent_sock, peer, 0, client_seq, fmt, ap);
    va_end (ap);
}

/*  The live task whose token this is, and its node; NULL when none.  */
static st__slot_t *
s_find_token (st__worker_t *w, const char *token, st__node_t **node)
{
    if (!token || strlen (token) != ST__TOKEN_LEN)
        return NULL;
    for (size_t n = 0; n < w->nnodes; n++)
        for (size_t i = 0; i < w->nodes[n].nslots; i++) {
            st__slot_t *slot = &w->nodes[n].slots[i];
            /*  Constant-time compare: the token is a secret.  */
            unsigned diff = 0;
            for (size_t k = 0; k < ST__TOKEN_LEN; k++)
                diff |= (unsigned) (slot->token[k] ^ token[k]);
            if (slot->token[0] && !diff) {
                *node = &w->nodes[n];
                return slot;
            }
        }
    return NULL;
}

static void
s_forget_call (st__worker_t *w, size_t i)
{
    if (w->calls[i].remote)
        strata__envelope__free_unpacked (w->calls[i].remote, NULL);
    w->calls[i] = w->calls[--w->ncalls];
}

/*  An owned copy of env (a relayed RemoteExec, kept to ask again), or NULL.  */
static Strata__Envelope *
s_copy (const Strata__Envelope *env)
{
    size_t len = strata__envelope__get_packed_size (env);
    uint8_t *buf = malloc (len ? len : 1);
    if (!buf)
        return NULL;
    strata__envelope__pack (env, buf);
    Strata__Envelope *copy = strata__envelope__unpack (NULL, len, buf);
    free (buf);
    return copy;
}

/*  Non-zero while a task of the job's attempt lives on this worker.  */
static int
s_attempt_live (st__worker_t *w, uint64_t job_id, uint32_t attempt)
{
    for (size_t n = 0; n < w->nnodes; n++)
        for (size_t i = 0; i < w->nodes[n].nslots; i++) {
            const st__wtask_key_t *k = st__wtask_key (w->nodes[n].slots[i].task);
            if (k->job_id == job_id && k->attempt == attempt)
                return 1;
        }
    return 0;
}

/*  Handles one request from a task.  */
static void
s_on_request (st__worker_t *w, const st_peer_t *peer, Strata__Envelope *in, uint64_t now)
{
    char **token = NULL;
    Strata__TaskRef **task = NULL;
    uint64_t wait_ms = 0;
    switch (in->body_case) {
    case STRATA__ENVELOPE__BODY_RDZV_PUT:
        token = &in->rdzv_put->token, task = &in->rdzv_put->task;
        break;
    case STRATA__ENVELOPE__BODY_RDZV_GET:
        token = &in->rdzv_get->token, task = &in->rdzv_get->task;
        wait_ms = in->rdzv_get->timeout_ms;
        break;
    case STRATA__ENVELOPE__BODY_REMOTE_EXEC:
        token = &in->remote_exec->token, task = &in->remote_exec->task;
        wait_ms = UINT64_MAX / 4; /*  answered when the remote process ends  */
        break;
    case STRATA__ENVELOPE__BODY_PROGRESS:
        token = &in->progress->token, task = &in->progress->task;
        break;
    default:
        w->agent_bad++;
        st_warn ("agent socket: dropped unexpected %s request (agent_bad=%" PRIu64 ")", st_wire_body_name (in),
                 w->agent_bad);
        s_reply_error (w, peer, in->seq, "the worker does not take %s requests", st_wire_body_name (in));
        return;
    }
    st__node_t *node = NULL;
    st__slot_t *slot = s_find_token (w, *token, &node);
    if (!slot) {
        w->agent_bad++;
        st_warn ("agent socket: refused a %s request with an unknown task token (agent_bad=%" PRIu64 ")",
                 st_wire_body_name (in), w->agent_bad);
        if (in->body_case != STRATA__ENVELOPE__BODY_PROGRESS)
            s_reply_error (w, peer, in->seq, "the task token is not that of a task running on this worker");
        return;
    }
    if (node->state != ST__CONN_REGISTERED) {
        if (in->body_case != STRATA__ENVELOPE__BODY_PROGRESS)
            s_reply_error (w, peer, in->seq, "the worker is not connected to the scheduler; try again");
        return;
    }
    /*  The request speaks for the token's task, whatever it claimed.  */
    const st__wtask_key_t *key = st__wtask_key (slot->task);
    Strata__TaskRef ref = STRATA__TASK_REF__INIT;
    ref.job_id = key->job_id;
    ref.index = key->index;
    ref.attempt = key->attempt;
    Strata__TaskRef *claimed = *task;
    char *claimed_token = *token;
    *task = &ref;
    *token = (char *) "";
    uint64_t client_seq = in->seq;
    in->seq = st__node_next_seq (node);
    if (in->body_case == STRATA__ENVELOPE__BODY_PROGRESS) {
        /*  A trainer may report every few milliseconds: keep the latest and
         *  relay at most one a second per task.  */
        const Strata__Progress *p = in->progress;
        slot->progress_pending = 1;
        slot->progress_step = p->step;
        slot->progress_total = p->total_steps;
        slot->progress_loss = p->loss;
        slot->progress_rate = p->rate;
        snprintf (slot->progress_unit, sizeof slot->progress_unit, "%s", p->unit ? p->unit : "");
        if (now >= slot->progress_sent_ms + ST__PROGRESS_EVERY_MS)
            st__agent_flush_progress (node, slot, now);
        goto restore;
    }
    if (w->ncalls >= S_CALLS_MAX) {
        s_reply_error (w, peer, client_seq, "the worker has too many requests waiting; try again");
        goto restore;
    }
    if (st_vec_reserve ((void **) &w->calls, &w->calls_cap, w->ncalls + 1, sizeof *w->calls, S_CALLS_MAX) != ST_OK) {
        s_reply_error (w, peer, client_seq, "out of memory");
        goto restore;
    }
    Strata__Envelope *remote = NULL;
    if (in->body_case == STRATA__ENVELOPE__BODY_REMOTE_EXEC && !(remote = s_copy (in))) {
        s_reply_error (w, peer, client_seq, "out of memory");
        goto restore;
    }
    if (st__node_send (node, in) != ST_OK) {
        if (remote)
            strata__envelope__free_unpacked (remote, NULL);
        s_reply_error (w, peer, client_seq, "cannot reach the scheduler; try again");
        goto restore;
    }
    w->calls[w->ncalls++] = (st__agent_call_t) {
        .fwd_seq = in->seq,
        .client_seq = client_seq,
        .peer = *peer,
        .deadline_ms = now + wait_ms + S_MARGIN_MS,
        .remote = remote,
        .node = node,
    };
restore:
    /*  in is freed by st_wire_free: put back what it owns.  */
    *task = claimed;
    *token = claimed_token;
}

void
st__agent_drain (st__worker_t *w, uint64_t now)
{
    /*  A remote start waits as long as its job's attempt runs here.  */
    for (size_t i = 0; i < w->ncalls;) {
        const st__agent_call_t *c = &w->calls[i];
        const Strata__TaskRef *r = c->remote ? c->remote->remote_exec->task : NULL;
        if (c->deadline_ms <= now || (r && !s_attempt_live (w, r->job_id, r->attempt)))
            s_forget_call (w, i);
        else
            i++;
    }
    for (size_t n = 0; w->agent_sock && n < w->nnodes; n++)
        for (size_t i = 0; i < w->nodes[n].nslots; i++) {
            st__slot_t *slot = &w->nodes[n].slots[i];
            if (slot->progress_pending && now >= slot->progress_sent_ms + ST__PROGRESS_EVERY_MS)
                st__agent_flush_progress (&w->nodes[n], slot, now);
        }
    if (!w->agent_sock)
        return;
    for (int k = 0; k < S_DRAIN_MAX; k++) {
        st_peer_t peer;
        Strata__Envelope *in = NULL;
        st_error_t err;
        st_rc_t rc = st_wire_recv (w->agent_sock, 1, ZMQ_DONTWAIT, &peer, &in, &err);
        if (rc == ST_EAGAIN)
            return;
        if (rc != ST_OK) {
            w->agent_bad++;
            st_warn ("agent socket: dropped a malformed request: %s (agent_bad=%" PRIu64 ")", err.msg, w->agent_bad);
            if (in)
                st_wire_free (in);
            continue;
        }
        s_on_request (w, &peer, in, now);
        st_wire_free (in);
    }
}

void
st__agent_on_reply (st__worker_t *w, const Strata__Envelope *env)
{
    for (size_t i = 0; i < w->ncalls; i++)
        if (w->calls[i].fwd_seq == env->reply_to) {
            s_reply (w, &w->calls[i].peer, w->calls[i].client_seq, env->agent_reply);
            s_forget_call (w, i);
            return;
        }
    st_debug ("agent reply to %" PRIu64 ": nobody waits for it any more", env->reply_to);
}

void
st__agent_reconnected (st__worker_t *w, const char *why)
{
    for (size_t i = 0; i < w->ncalls;) {
        st__agent_call_t *c = &w->calls[i];
        if (c->remote) {
            /*  Asked again under a new seq: a scheduler that already started the
             *  process starts nothing, and RemoteExited answers by job and node.  */
            c->remote->seq = st__node_next_seq (c->node);
            c->fwd_seq = c->remote->seq;
            st__node_send (c->node, c->remote);
            i++;
            continue;
        }
        s_reply_error (w, &c->peer, c->client_seq, "%s", why);
        s_forget_call (w, i);
    }
}

void
st__agent_on_remote_exited (st__worker_t *w, const Strata__RemoteExited *rx)
{
    if (!rx->task || !rx->node)
        return;
    for (size_t i = 0; i < w->ncalls;) {
        const st__agent_call_t *c = &w->calls[i];
        const Strata__RemoteExec *x = c->remote ? c->remote->remote_exec : NULL;
        if (!x || !x->task || x->task->job_id != rx->task->job_id || x->task->attempt != rx->task->attempt
            || strcmp (x->node, rx->node) != 0) {
            i++;
            continue;
        }
        Strata__AgentReply r = STRATA__AGENT_REPLY__INIT;
        r.exit_code = rx->exit_code;
        r.term_signal = rx->term_signal;
        r.error = rx->error;
        s_reply (w, &c->peer, c->client_seq, &r);
        s_forget_call (w, i);
    }
}

void
st__agent_flush_progress (st__node_t *node, st__slot_t *slot, uint64_t now)
{
    if (!slot->progress_pending)
        return;
    const st__wtask_key_t *key = st__wtask_key (slot->task);
    Strata__TaskRef ref = STRATA__TASK_REF__INIT;
    ref.job_id = key->job_id;
    ref.index = key->index;
    ref.attempt = key->attempt;
    Strata__Progress p = STRATA__PROGRESS__INIT;
    p.task = &ref;
    p.step = slot->progress_step;
    p.total_steps = slot->progress_total;
    p.loss = slot->progress_loss;
    p.rate = slot->progress_rate;
    p.unit = slot->progress_unit;
    Strata__Envelope env;
    st_wire_envelope_init (&env, st__node_next_seq (node));
    env.body_case = STRATA__ENVELOPE__BODY_PROGRESS;
    env.progress = &p;
    if (node->state == ST__CONN_REGISTERED)
        st__node_send (node, &env); /*  best effort, never acknowledged  */
    slot->progress_pending = 0;
    slot->progress_sent_ms = now;
}
