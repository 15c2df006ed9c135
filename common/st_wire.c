/*  st_wire.c: Envelopes on ZeroMQ sockets.
 *
 *  Everything that arrives here comes from outside the process and is checked
 *  before anyone trusts it: part count, payload size, protobuf decoding, the
 *  protocol version and the presence of a body. A bad message is consumed whole,
 *  so the socket never gets out of step with its peer. */
#include "st_wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define ST_MAX_PARTS 8

void
st_wire_envelope_init (Strata__Envelope *env, uint64_t seq)
{
    strata__envelope__init (env);
    env->protocol_version = ST_PROTOCOL_VERSION;
    env->seq = seq;
}

void
st_wire_socket_defaults (void *sock)
{
    int zero = 0;
    int64_t maxmsg = 4 * (int64_t) ST_MAX_FRAME;
    int hwm = 100000;
    zmq_setsockopt (sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt (sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
}

static st_rc_t
s_send_parts (void *sock, const void *first, size_t first_len, int delimited, const void *second, size_t second_len,
              const Strata__Envelope *env)
{
    size_t len = protobuf_c_message_get_packed_size (&env->base);
    if (len > ST_MAX_FRAME)
        return ST_ETOOBIG;
    uint8_t stackbuf[4096];
    uint8_t *buf = len <= sizeof stackbuf ? stackbuf : malloc (len);
    if (!buf)
        return ST_ENOMEM;
    protobuf_c_message_pack (&env->base, buf);

    st_rc_t rc = ST_OK;
    if (first && zmq_send (sock, first, first_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        rc = ST_EAGAIN;
        goto out;
    }
    if (delimited && zmq_send (sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        rc = ST_EAGAIN;
        goto out;
    }
    if (second && zmq_send (sock, second, second_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        rc = ST_EAGAIN;
        goto out;
    }
    if (zmq_send (sock, buf, len, ZMQ_DONTWAIT) < 0)
        rc = ST_EAGAIN;
out:
    if (buf != stackbuf)
        free (buf);
    return rc;
}

st_rc_t
st_wire_send (void *sock, const st_peer_t *peer, const Strata__Envelope *env)
{
    if (peer)
        return s_send_parts (sock, peer->id, peer->id_len, peer->delimited, NULL, 0, env);
    return s_send_parts (sock, NULL, 0, 0, NULL, 0, env);
}

st_rc_t
st_wire_publish (void *sock, const char *topic, const Strata__Envelope *env)
{
    return s_send_parts (sock, topic, strlen (topic), 0, NULL, 0, env);
}

static void
s_drain (void *sock)
{
    int more = 1;
    size_t sz = sizeof more;
    while (zmq_getsockopt (sock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
        zmq_msg_t m;
        zmq_msg_init (&m);
        zmq_msg_recv (&m, sock, 0);
        zmq_msg_close (&m);
        sz = sizeof more;
    }
}

st_rc_t
st_wire_recv (void *sock, int router, int flags, st_peer_t *peer, Strata__Envelope **out, st_error_t *err)
{
    *out = NULL;
    zmq_msg_t parts[ST_MAX_PARTS];
    int nparts = 0;
    st_rc_t rc = ST_OK;

    /*  Gather the parts; a message with more than ST_MAX_PARTS is drained and refused.  */
    for (;;) {
        zmq_msg_init (&parts[nparts]);
        if (zmq_msg_recv (&parts[nparts], sock, nparts == 0 ? flags : 0) < 0) {
            int e = errno;
            zmq_msg_close (&parts[nparts]);
            if (nparts == 0)
                return e == EAGAIN ? ST_EAGAIN
                                   : st_error_set (err, ST_EIO, NULL, "receive failed: %s", zmq_strerror (e));
            rc = st_error_set (err, ST_EPROTO, NULL, "receive failed mid-message: %s", zmq_strerror (e));
            goto out;
        }
        int more = zmq_msg_more (&parts[nparts]);
        nparts++;
        if (!more)
            break;
        if (nparts == ST_MAX_PARTS) {
            s_drain (sock);
            rc = st_error_set (err, ST_EPROTO, NULL, "message has more than %d parts", ST_MAX_PARTS);
            goto out;
        }
    }

    int idx = 0;
    if (router) {
        size_t idlen = zmq_msg_size (&parts[0]);
        if (idlen > ST_MAX_ROUTING_ID)
            idlen = ST_MAX_ROUTING_ID;
        if (peer) {
            memcpy (peer->id, zmq_msg_data (&parts[0]), idlen);
            peer->id_len = idlen;
            peer->delimited = 0;
        }
        idx = 1;
        if (nparts == 3 && zmq_msg_size (&parts[1]) == 0) {
            if (peer)
                peer->delimited = 1;
            idx = 2;
        }
    }
    if (nparts != idx + 1) {
        rc = st_error_set (err, ST_EPROTO, NULL, "expected %d message part(s), got %d", idx + 1, nparts);
        goto out;
    }
    size_t len = zmq_msg_size (&parts[idx]);
    if (len > ST_MAX_FRAME) {
        rc =
            st_error_set (err, ST_ETOOBIG, NULL, "payload of %zu bytes exceeds the %u-byte limit", len, ST_MAX_FRAME);
        goto out;
    }
    if (len == 0) {
        rc = st_error_set (err, ST_EPROTO, NULL, "empty payload");
        goto out;
    }
    if (router && peer) {
        /*  Set by the ZAP handler when the connection authenticated (st_curve.h).  */
        const char *uid = zmq_msg_gets (&parts[idx], "User-Id");
        snprintf (peer->user_id, sizeof peer->user_id, "%s", uid ? uid : "");
    }
    Strata__Envelope *env = strata__envelope__unpack (NULL, len, zmq_msg_data (&parts[idx]));
    if (!env) {
        rc = st_error_set (err, ST_EPROTO, NULL, "undecodable payload of %zu bytes", len);
        goto out;
    }
    if (env->protocol_version != ST_PROTOCOL_VERSION) {
        rc = st_error_set (err, ST_EVERSION, NULL, "protocol version %u, this build speaks %u", env->protocol_version,
                           ST_PROTOCOL_VERSION);
        *out = env;
        goto out;
    }
    if (env->body_case == STRATA__ENVELOPE__BODY__NOT_SET) {
        strata__envelope__free_unpacked (env, NULL);
        rc = st_error_set (err, ST_EPROTO, NULL, "envelope without a body");
        goto out;
    }
    *out = env;
out:
    for (int i = 0; i < nparts; i++)
        zmq_msg_close (&parts[i]);
    return rc;
}

void
st_wire_free (Strata__Envelope *env)
{
    if (env)
        strata__envelope__free_unpacked (env, NULL);
}

const char *
st_wire_body_name (const Strata__Envelope *env)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field (&strata__envelope__descriptor, (unsigned) env->body_case);
    return f ? f->name : "none";
}

st_rc_t
st_wire_agent_reply (void *sock, const st_peer_t *peer, uint64_t seq, uint64_t reply_to,
                     const Strata__AgentReply *reply)
{
    Strata__Envelope env;
    st_wire_envelope_init (&env, seq);
    env.reply_to = reply_to;
    env.body_case = STRATA__ENVELOPE__BODY_AGENT_REPLY;
    env.agent_reply = (Strata__AgentReply *) reply;
    return st_wire_send (sock, peer, &env);
}

st_rc_t
st_wire_agent_error (void *sock, const st_peer_t *peer, uint64_t seq, uint64_t reply_to, const char *fmt, va_list ap)
{
    char msg[600];
    vsnprintf (msg, sizeof msg, fmt, ap);
    Strata__AgentReply r = STRATA__AGENT_REPLY__INIT;
    r.error = msg;
    return st_wire_agent_reply (sock, peer, seq, reply_to, &r);
}

/*  ---------------------------------------------------------------------------
 *  Job states  */

#define S_CHECK(id, text) _Static_assert((int) STRATA__JOB_STATE__JOB_##id == (int) ST_JOB_##id + 1, "JobState " #id);
ST_JOB_STATES (S_CHECK)
#undef S_CHECK

Strata__JobState
st_wire_job_state (st_job_state_t s)
{
    return (unsigned) s < ST_JOB__COUNT ? (Strata__JobState) (s + 1) : STRATA__JOB_STATE__JOB_STATE_UNSPECIFIED;
}

int
st_wire_job_state_from (Strata__JobState w, st_job_state_t *out)
{
    if ((int) w < 1 || (int) w > ST_JOB__COUNT)
        return -1;
    *out = (st_job_state_t) ((int) w - 1);
    return 0;
}

Strata__JobState
st_wire_job_state_named (const char *name)
{
    st_job_state_t s;
    return st_job_state_parse (name, &s) == 0 ? st_wire_job_state (s) : STRATA__JOB_STATE__JOB_STATE_UNSPECIFIED;
}

const char *
st_wire_job_state_name (Strata__JobState w)
{
    st_job_state_t s;
    if (w == STRATA__JOB_STATE__JOB_STATE_UNSPECIFIED)
        return "";
    return st_wire_job_state_from (w, &s) == 0 ? st_job_state_name (s) : "UNKNOWN";
}

int
st_wire_job_state_terminal (Strata__JobState w)
{
    st_job_state_t s;
    return st_wire_job_state_from (w, &s) == 0 && st_job_state_terminal (s);
}
