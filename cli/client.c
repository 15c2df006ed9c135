/*  client.c: request/reply with the scheduler over one DEALER socket.
 *
 *  DEALER rather than REQ: REQ locks up when a reply never comes, while DEALER
 *  lets a timed-out request be abandoned and its late reply recognised (by
 *  reply_to) and dropped. */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "st_time.h"

struct cli_client {
    void *ctx;           /*  ZeroMQ context, owned  */
    void *sock;          /*  DEALER, owned  */
    char *endpoint;      /*  owned copy  */
    uint64_t timeout_ms; /*  per-request reply timeout  */
    uint64_t next_seq;   /*  seq of the next request  */
    uint64_t dropped;    /*  replies to other seqs and malformed messages  */
    int curve;           /*  connected with CURVE keys  */
    uint64_t resent;     /*  requests sent again for want of a reply  */
    char *token;         /*  Envelope.auth_token of every request (owned; wiped when freed); NULL: none  */
    char *token_source;  /*  where it came from, for messages  */
};

cli_client_t *
cli_client_new (const char *endpoint, uint64_t timeout_ms, st_error_t *err)
{
    return cli_client_new_curve (endpoint, timeout_ms, NULL, NULL, err);
}

cli_client_t *
cli_client_new_curve (const char *endpoint, uint64_t timeout_ms, const st_curve_keys_t *own,
                      const char *server_public, st_error_t *err)
{
    cli_client_t *self = calloc (1, sizeof *self);
    if (!self) {
        st_error_set (err, ST_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    self->timeout_ms = timeout_ms;
    self->next_seq = 1;
    self->endpoint = strdup (endpoint);
    self->ctx = zmq_ctx_new ();
    if (!self->endpoint || !self->ctx) {
        st_error_set (err, ST_ENOMEM, NULL, "cannot create a messaging context");
        goto fail;
    }
    self->sock = zmq_socket (self->ctx, ZMQ_DEALER);
    if (!self->sock) {
        st_error_set (err, ST_EIO, NULL, "cannot create a socket: %s", zmq_strerror (errno));
        goto fail;
    }
    st_wire_socket_defaults (self->sock);
    if (own && st_curve_client (self->sock, own, server_public, err) != ST_OK)
        goto fail;
    self->curve = own != NULL;
    if (zmq_connect (self->sock, endpoint) != 0) {
        st_error_set (err, ST_EINVAL, "scheduler", "invalid scheduler endpoint '%s': %s", endpoint,
                      zmq_strerror (errno));
        st_error_hint (err, "an endpoint looks like tcp://HOST:PORT, e.g. %s", "tcp://127.0.0.1:7701");
        goto fail;
    }
    return self;
fail:
    cli_client_destroy (&self);
    return NULL;
}

void
cli_client_destroy (cli_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cli_client_t *self = *self_p;
    if (self->sock)
        zmq_close (self->sock);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    free (self->endpoint);
    if (self->token) {
        memset (self->token, 0, strlen (self->token));
        free (self->token);
    }
    free (self->token_source);
    free (self);
    *self_p = NULL;
}

void
cli_client_set_token (cli_client_t *self, const char *token, const char *source)
{
    if (self->token) {
        memset (self->token, 0, strlen (self->token));
        free (self->token);
    }
    free (self->token_source);
    self->token = token && *token ? strdup (token) : NULL;
    self->token_source = self->token && source ? strdup (source) : NULL;
}

uint64_t
cli_client_dropped (const cli_client_t *self)
{
    return self->dropped;
}

const char *
cli_client_endpoint (const cli_client_t *self)
{
    return self->endpoint;
}

st_rc_t
cli_client_error_rc (Strata__ErrorCode code)
{
    switch (code) {
    case STRATA__ERROR_CODE__ERROR_INVALID:
        return ST_EINVAL;
    case STRATA__ERROR_CODE__ERROR_NOT_FOUND:
        return ST_ENOTFOUND;
    case STRATA__ERROR_CODE__ERROR_CONFLICT:
        return ST_ECONFLICT;
    case STRATA__ERROR_CODE__ERROR_UNAVAILABLE:
        return ST_EUNAVAIL;
    case STRATA__ERROR_CODE__ERROR_VERSION:
        return ST_EVERSION;
    case STRATA__ERROR_CODE__ERROR_UNAUTHENTICATED:
        return ST_EAUTH;
    case STRATA__ERROR_CODE__ERROR_PERMISSION_DENIED:
        return ST_EPERM;
    case STRATA__ERROR_CODE__ERROR_LIMIT:
        return ST_ELIMIT;
    case STRATA__ERROR_CODE__ERROR_INTERNAL:
    default:
        return ST_EIO;
    }
}

/*  "10s", "1m", "300ms", "1500ms": how the timeout reads in the error message.  */
static void
s_format_timeout (uint64_t ms, char *buf, size_t size)
{
    if (ms >= 60000 && ms % 60000 == 0)
        snprintf (buf, size, "%llum", (unsigned long long) (ms / 60000));
    else if (ms >= 1000 && ms % 1000 == 0)
        snprintf (buf, size, "%llus", (unsigned long long) (ms / 1000));
    else
        snprintf (buf, size, "%llums", (unsigned long long) ms);
}

static st_rc_t
s_timed_out (cli_client_t *self, const st_error_t *last_bad, st_error_t *err)
{
    char when[32];
    s_format_timeout (self->timeout_ms, when, sizeof when);
    if (last_bad->rc != ST_OK)
        st_error_set (err, ST_ETIMEDOUT, NULL, "no valid reply from scheduler at %s within %s (dropped: %s)",
                      self->endpoint, when, last_bad->msg);
    else
        st_error_set (err, ST_ETIMEDOUT, NULL, "no reply from scheduler at %s within %s", self->endpoint, when);
    /*  A refused CURVE handshake looks exactly like silence from here.  */
    if (self->curve)
        st_error_hint (err,
                       "is strata-scheduler running, is your key enrolled, and is --scheduler-key its public key?");
    else
        st_error_hint (err, "is strata-scheduler running? set --scheduler or STRATA_SCHEDULER");
    return ST_ETIMEDOUT;
}

/*  Queues req for sending, waiting (bounded by deadline) while the socket
 *  cannot take it.  */
static st_rc_t
s_send (cli_client_t *self, const Strata__Envelope *req, uint64_t deadline, st_error_t *err)
{
    for (;;) {
        st_rc_t rc = st_wire_send (self->sock, NULL, req);
        if (rc == ST_OK)
            return ST_OK;
        if (rc == ST_ETOOBIG)
            return st_error_set (err, ST_ETOOBIG, NULL, "request too large: the limit is %u bytes", ST_MAX_FRAME);
        if (rc != ST_EAGAIN)
            return st_error_set (err, rc, NULL, "cannot send request: %s", st_strerror (rc));
        uint64_t now = st_mono_ms ();
        if (now >= deadline)
            return ST_ETIMEDOUT;
        zmq_pollitem_t item = { .socket = self->sock, .events = ZMQ_POLLOUT };
        if (zmq_poll (&item, 1, (long) (deadline - now)) < 0 && errno != EINTR)
            return st_error_set (err, ST_EIO, NULL, "poll failed: %s", zmq_strerror (errno));
    }
}

st_rc_t
cli_client_request (cli_client_t *self, Strata__Envelope *req, Strata__Envelope__BodyCase expect,
                    Strata__Envelope **reply, st_error_t *err)
{
    *reply = NULL;
    st_error_t last_bad;
    st_error_clear (&last_bad);
    uint64_t seq = self->next_seq++;
    req->protocol_version = ST_PROTOCOL_VERSION;
    req->seq = seq;
    req->reply_to = 0;
    req->auth_token = self->token ? self->token : "";

    uint64_t deadline = st_mono_ms () + self->timeout_ms;
    st_rc_t rc = s_send (self, req, deadline, err);
    if (rc == ST_ETIMEDOUT)
        return s_timed_out (self, &last_bad, err);
    if (rc != ST_OK)
        return rc;

    /*  Every request is safe to repeat (reads, cancels, submits carrying a token),
     *  so a request the scheduler lost, in a crash or a restart, is sent again
     *  with the same seq until a reply comes or the timeout passes.  */
    uint64_t resend_at = st_mono_ms () + CLI_CLIENT_RESEND_MS;
    for (;;) {
        uint64_t now = st_mono_ms ();
        if (now >= deadline)
            return s_timed_out (self, &last_bad, err);
        if (now >= resend_at) {
            st_wire_send (self->sock, NULL, req); /*  not connected: it waits in the queue or is dropped  */
            self->resent++;
            resend_at = now + CLI_CLIENT_RESEND_MS;
        }
        uint64_t until = deadline < resend_at ? deadline : resend_at;
        zmq_pollitem_t item = { .socket = self->sock, .events = ZMQ_POLLIN };
        int n = zmq_poll (&item, 1, (long) (until - now));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return st_error_set (err, ST_EIO, NULL, "poll failed: %s", zmq_strerror (errno));
        }
        if (n == 0)
            continue;

        Strata__Envelope *env = NULL;
        st_error_t rerr;
        st_error_clear (&rerr);
        rc = st_wire_recv (self->sock, 0, ZMQ_DONTWAIT, NULL, &env, &rerr);
        if (rc == ST_EAGAIN)
            continue;
        if (rc == ST_EVERSION && env && env->reply_to == seq) {
            /*  A scheduler of another protocol generation answered us: its
             *  message cannot be trusted to mean what ours would.  */
            uint32_t theirs = env->protocol_version;
            st_wire_free (env);
            st_error_set (err, ST_EVERSION, NULL, "scheduler at %s speaks protocol version %u, this strata speaks %u",
                          self->endpoint, theirs, ST_PROTOCOL_VERSION);
            st_error_hint (err, "use a strata client from the same release as the scheduler");
            return ST_EVERSION;
        }
        if (rc != ST_OK) {
            st_wire_free (env);
            self->dropped++;
            last_bad = rerr;
            continue;
        }
        if (env->reply_to != seq) {
            st_wire_free (env);
            self->dropped++;
            continue;
        }
        if (env->body_case == STRATA__ENVELOPE__BODY_ERROR) {
            const Strata__ErrorReply *er = env->error;
            rc = cli_client_error_rc (er->code);
            const char *text = er->message && *er->message ? er->message : st_strerror (rc);
            if (rc == ST_EAUTH)
                /*  Say which token was refused: the user may hold several.  */
                st_error_set (err, rc, NULL, "not authenticated: %s (%s%s)", text,
                              self->token_source ? "the token from " : "no token given",
                              self->token_source ? self->token_source : "");
            else
                st_error_set (err, rc, NULL, "%s", text);
            if (er->hint && *er->hint)
                st_error_hint (err, "%s", er->hint);
            else if (rc == ST_EVERSION)
                st_error_hint (err, "use a strata client from the same release as the scheduler");
            st_wire_free (env);
            return rc;
        }
        if (env->body_case != expect) {
            const char *got = st_wire_body_name (env);
            const char *sent = st_wire_body_name (req);
            st_error_set (err, ST_EPROTO, NULL, "unexpected reply '%s' to a '%s' request", got, sent);
            st_wire_free (env);
            return ST_EPROTO;
        }
        *reply = env;
        return ST_OK;
    }
}
