/*  st_wire.h: Envelopes on ZeroMQ sockets.
 *
 *  A message is one protobuf Strata__Envelope. On a ROUTER socket it is preceded
 *  by the peer's routing id (and, from REQ peers, an empty delimiter, which is
 *  echoed on reply). Receiving enforces ST_MAX_FRAME and the protocol version
 *  and always consumes every part of the message, so a bad message never leaves
 *  the socket out of step. Bad input is reported, never trusted. */
#ifndef ST_WIRE_H
#define ST_WIRE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "st_error.h"
#include "st_vocab.h"
#include "strata.pb-c.h"

/*  Checked on every message (st_wire_recv, the CLI's client): a peer of
 *  another version is answered with ERROR_VERSION.
 *    1: the first protocol.
 *    2: job and task states travel as the JobState enum (ListRequest,
 *       CancelReply, LogsReply, TaskInfo, JobInfo, ExplainReply, JobEvent)
 *       instead of free strings; the string fields' numbers are reserved.  */
#define ST_PROTOCOL_VERSION 2u
#define ST_MAX_FRAME (1u << 20) /*  1 MiB: larger payloads are dropped and counted  */
#define ST_MAX_ROUTING_ID 255

typedef struct {
    uint8_t id[ST_MAX_ROUTING_ID]; /*  ROUTER routing id of the peer  */
    size_t id_len;
    int delimited;    /*  the peer sent an empty delimiter part (REQ)  */
    char user_id[64]; /*  with CURVE: the name its key was enrolled under; else ""  */
} st_peer_t;

/*  Initialises env (protobuf init) and sets protocol_version and seq.  */
void st_wire_envelope_init (Strata__Envelope *env, uint64_t seq);

/*  Serialises and sends env. peer is NULL on DEALER/PUB sockets.
 *  Non-blocking (ZMQ_DONTWAIT): returns ST_EAGAIN when the peer is gone or its queue
 *  is full (the message is dropped; reliable messages are resent by their sender),
 *  ST_ETOOBIG when the encoding exceeds ST_MAX_FRAME.  */
st_rc_t st_wire_send (void *sock, const st_peer_t *peer, const Strata__Envelope *env);

/*  Same, with a topic part first (PUB socket).  */
st_rc_t st_wire_publish (void *sock, const char *topic, const Strata__Envelope *env);

/*  Receives one message. router: non-zero when sock is a ROUTER (peer is filled).
 *  flags: 0 or ZMQ_DONTWAIT.
 *  Returns ST_OK with *out set (free with st_wire_free), ST_EAGAIN when nothing
 *  is waiting, ST_ETOOBIG for an oversized payload, ST_EPROTO for a malformed
 *  message (wrong part count, undecodable protobuf, empty body), ST_EVERSION for an
 *  unknown protocol version (*out is then set so the caller can answer; free it).
 *  err says what was wrong.  */
st_rc_t st_wire_recv (void *sock, int router, int flags, st_peer_t *peer, Strata__Envelope **out, st_error_t *err);

void st_wire_free (Strata__Envelope *env);

/*  Sends an AgentReply (the answer to a task's rendezvous or remote-start
 *  request) with seq and reply_to; peer as for st_wire_send. The _error form
 *  sends a reply whose error is the formatted text (at most 600 bytes).  */
st_rc_t st_wire_agent_reply (void *sock, const st_peer_t *peer, uint64_t seq, uint64_t reply_to,
                             const Strata__AgentReply *reply);
st_rc_t st_wire_agent_error (void *sock, const st_peer_t *peer, uint64_t seq, uint64_t reply_to, const char *fmt,
                             va_list ap) __attribute__ ((format (printf, 5, 0)));

/*  The name of env's body ("submit", "task_update", ...) for logs.  */
const char *st_wire_body_name (const Strata__Envelope *env);

/*  Sets the socket options every Strata socket gets: linger 0, a receive cap of
 *  4 x ST_MAX_FRAME (a hard memory bound; frames over ST_MAX_FRAME but under it
 *  are received, counted and dropped), and bounded high-water marks.  */
void st_wire_socket_defaults (void *sock);

/*  Job and task states on the wire: JobState is st_job_state_t + 1, and
 *  JOB_STATE_UNSPECIFIED (0) is "not set".  */
Strata__JobState st_wire_job_state (st_job_state_t s);
/*  0 and fills *out, or -1 for JOB_STATE_UNSPECIFIED or a value not in the table.  */
int st_wire_job_state_from (Strata__JobState w, st_job_state_t *out);
/*  The state with this name (the scheduler's tables keep names), or
 *  JOB_STATE_UNSPECIFIED for NULL or an unknown name.  */
Strata__JobState st_wire_job_state_named (const char *name);
/*  The state's name for printing: "" when not set, "UNKNOWN" past the table.  */
const char *st_wire_job_state_name (Strata__JobState w);
/*  The job will not run again (SUCCEEDED, FAILED or CANCELLED); 0 when not set.  */
int st_wire_job_state_terminal (Strata__JobState w);

#endif
