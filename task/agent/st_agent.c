/*  st_agent.c: a task's line to its worker (strata/agent.h).
 *
 *  One DEALER socket to the worker's agent endpoint. A request is one
 *  Envelope; its reply carries reply_to = the request's seq. Replies to
 *  earlier requests that gave up (a timeout) are read and dropped.
 */
#include "strata/agent.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "st_time.h"
#include "st_wire.h"
#include "strata/task.h"

/*  Margin over a rendezvous timeout for the round trip through the worker
 *  and the scheduler; a request with no deadline of its own gets this.  */
#define S_MARGIN_MS 10000u

struct st_agent {
    void *ctx;
    void *sock;
    Strata__TaskRef task;
    char token[80];
    uint64_t seq;
};

static int
s_env_u64 (const char *name, uint64_t *out)
{
    const char *v = getenv (name);
    char *end;
    if (!v || !*v)
        return -1;
    errno = 0;
    unsigned long long n = strtoull (v, &end, 10);
    if (errno || *end)
        return -1;
    *out = n;
    return 0;
}

st_agent_t *
st_agent_open (char *err, size_t errlen)
{
    const char *endpoint = getenv (ST_ENV_RENDEZVOUS);
    const char *token = getenv (ST_ENV_TASK_TOKEN);
    uint64_t job, rank, attempt;
    if (!endpoint || !*endpoint) {
        snprintf (err, errlen, "not started by a Strata worker (" ST_ENV_RENDEZVOUS " is not set)");
        return NULL;
    }
    if (!token || !*token || strlen (token) >= sizeof ((st_agent_t *) 0)->token) {
        snprintf (err, errlen, ST_ENV_RENDEZVOUS " is set but " ST_ENV_TASK_TOKEN " is missing or malformed");
        return NULL;
    }
    /*  The token names the task to its worker; these only label requests.  */
    if (s_env_u64 (ST_ENV_JOB_ID, &job) != 0)
        job = 0;
    if (s_env_u64 (ST_ENV_RANK, &rank) != 0 || rank > UINT32_MAX)
        rank = 0;
    if (s_env_u64 (ST_ENV_ATTEMPT, &attempt) != 0 || attempt > UINT32_MAX)
        attempt = 0;
    st_agent_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    strata__task_ref__init (&self->task);
    self->task.job_id = job;
    self->task.index = (uint32_t) rank;
    self->task.attempt = (uint32_t) attempt;
    snprintf (self->token, sizeof self->token, "%s", token);
    self->ctx = zmq_ctx_new ();
    if (self->ctx)
        self->sock = zmq_socket (self->ctx, ZMQ_DEALER);
    if (!self->sock) {
        snprintf (err, errlen, "cannot create a socket: %s", zmq_strerror (errno));
        st_agent_close (self);
        return NULL;
    }
    st_wire_socket_defaults (self->sock);
    if (zmq_connect (self->sock, endpoint) != 0) {
        snprintf (err, errlen, "cannot connect to the worker at %s: %s", endpoint, zmq_strerror (errno));
        st_agent_close (self);
        return NULL;
    }
    /*  Distinct seqs across the processes of one task (mpirun's ranks share
     *  its environment): the low bits are the pid.  */
    self->seq = ((uint64_t) getpid () & 0xffffffu) << 32;
    return self;
}

void
st_agent_close (st_agent_t *self)
{
    if (!self)
        return;
    if (self->sock) {
        /*  A progress report just queued still goes out (bounded wait).  */
        int linger = 2000;
        zmq_setsockopt (self->sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close (self->sock);
    }
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    free (self);
}

/*  Sends env and waits up to wait_ms for its reply. Returns the reply (free
 *  with st_wire_free) or NULL with err.  */
static Strata__Envelope *
s_call (st_agent_t *self, Strata__Envelope *env, uint64_t wait_ms, const char *what, char *err, size_t errlen)
{
    st_rc_t rc = st_wire_send (self->sock, NULL, env);
    if (rc != ST_OK) {
        snprintf (err, errlen, "%s: cannot send to the worker (%s)", what,
                  rc == ST_ETOOBIG ? "request too large" : "worker not reachable");
        return NULL;
    }
    uint64_t deadline = st_mono_ms () + wait_ms;
    for (;;) {
        uint64_t now = st_mono_ms ();
        if (now >= deadline) {
            snprintf (err, errlen, "%s: no answer from the worker in %" PRIu64 " ms", what, wait_ms);
            return NULL;
        }
        zmq_pollitem_t item = { .socket = self->sock, .events = ZMQ_POLLIN };
        uint64_t left = deadline - now;
        int n = zmq_poll (&item, 1, left > 1000 ? 1000 : (long) left);
        if (n < 0 && errno != EINTR) {
            snprintf (err, errlen, "%s: %s", what, zmq_strerror (errno));
            return NULL;
        }
        if (n <= 0)
            continue;
        Strata__Envelope *in = NULL;
        st_error_t e;
        rc = st_wire_recv (self->sock, 0, ZMQ_DONTWAIT, NULL, &in, &e);
        if (rc != ST_OK) {
            if (in)
                st_wire_free (in);
            continue;
        }
        if (in->reply_to == env->seq && in->body_case == STRATA__ENVELOPE__BODY_AGENT_REPLY)
            return in;
        st_wire_free (in); /*  the answer to a request that gave up  */
    }
}

/*  The reply's error, or NULL.  */
static const char *
s_reply_error (const Strata__Envelope *in)
{
    const char *e = in->agent_reply->error;
    return e && *e ? e : NULL;
}

int
st_agent_put (st_agent_t *self, const char *key, const void *value, size_t len, char *err, size_t errlen)
{
    if (!key || !*key || strlen (key) > ST_AGENT_KEY_MAX || len > ST_AGENT_VALUE_MAX) {
        snprintf (err, errlen, "rendezvous: key must be 1..%d bytes and value at most %d bytes", ST_AGENT_KEY_MAX,
                  ST_AGENT_VALUE_MAX);
        return -1;
    }
    Strata__Envelope env;
    Strata__RendezvousPut put = STRATA__RENDEZVOUS_PUT__INIT;
    st_wire_envelope_init (&env, ++self->seq);
    put.task = &self->task;
    put.token = self->token;
    put.key = (char *) key;
    put.value.data = (uint8_t *) value;
    put.value.len = len;
    env.body_case = STRATA__ENVELOPE__BODY_RDZV_PUT;
    env.rdzv_put = &put;
    char what[200];
    snprintf (what, sizeof what, "rendezvous put of '%s'", key);
    Strata__Envelope *in = s_call (self, &env, S_MARGIN_MS, what, err, errlen);
    if (!in)
        return -1;
    const char *e = s_reply_error (in);
    if (e)
        snprintf (err, errlen, "%s: %s", what, e);
    st_wire_free (in);
    return e ? -1 : 0;
}

int
st_agent_get (st_agent_t *self, const char *key, void *value, size_t cap, size_t *len, uint32_t timeout_ms, char *err,
              size_t errlen)
{
    if (!key || !*key || strlen (key) > ST_AGENT_KEY_MAX) {
        snprintf (err, errlen, "rendezvous: key must be 1..%d bytes", ST_AGENT_KEY_MAX);
        return -1;
    }
    Strata__Envelope env;
    Strata__RendezvousGet get = STRATA__RENDEZVOUS_GET__INIT;
    st_wire_envelope_init (&env, ++self->seq);
    get.task = &self->task;
    get.token = self->token;
    get.key = (char *) key;
    get.timeout_ms = timeout_ms;
    env.body_case = STRATA__ENVELOPE__BODY_RDZV_GET;
    env.rdzv_get = &get;
    char what[200];
    snprintf (what, sizeof what, "rendezvous get of '%s'", key);
    Strata__Envelope *in = s_call (self, &env, (uint64_t) timeout_ms + S_MARGIN_MS, what, err, errlen);
    if (!in)
        return -1;
    const char *e = s_reply_error (in);
    if (e)
        snprintf (err, errlen, "%s", e);
    else {
        const ProtobufCBinaryData *v = &in->agent_reply->value;
        memcpy (value, v->data, v->len < cap ? v->len : cap);
        if (len)
            *len = v->len;
    }
    st_wire_free (in);
    return e ? -1 : 0;
}

void
st_agent_progress (st_agent_t *self, uint64_t step, uint64_t total_steps, double loss, double rate, const char *unit)
{
    if (!self)
        return;
    Strata__Envelope env;
    Strata__Progress p = STRATA__PROGRESS__INIT;
    st_wire_envelope_init (&env, ++self->seq);
    p.task = &self->task;
    p.token = self->token;
    p.step = step;
    p.total_steps = total_steps;
    p.loss = loss;
    p.rate = rate;
    p.unit = (char *) (unit ? unit : "");
    env.body_case = STRATA__ENVELOPE__BODY_PROGRESS;
    env.progress = &p;
    (void) st_wire_send (self->sock, NULL, &env); /*  best effort  */
}

int
st_agent_remote_exec (st_agent_t *self, const char *node, int argc, char **argv, char *err, size_t errlen)
{
    if (!node || !*node || argc < 1) {
        snprintf (err, errlen, "remote exec: a node and a command are needed");
        return -1;
    }
    Strata__Envelope env;
    Strata__RemoteExec rx = STRATA__REMOTE_EXEC__INIT;
    st_wire_envelope_init (&env, ++self->seq);
    rx.task = &self->task;
    rx.token = self->token;
    rx.node = (char *) node;
    rx.n_argv = (size_t) argc;
    rx.argv = argv;
    env.body_case = STRATA__ENVELOPE__BODY_REMOTE_EXEC;
    env.remote_exec = &rx;
    char what[200];
    snprintf (what, sizeof what, "remote start on node %s", node);
    /*  The answer comes when the remote process ends: as long as the job runs.  */
    Strata__Envelope *in = s_call (self, &env, UINT64_MAX / 2, what, err, errlen);
    if (!in)
        return -1;
    const char *e = s_reply_error (in);
    int status = -1;
    if (e)
        snprintf (err, errlen, "%s: %s", what, e);
    else
        status = in->agent_reply->term_signal ? 128 + in->agent_reply->term_signal : in->agent_reply->exit_code;
    st_wire_free (in);
    return status;
}
