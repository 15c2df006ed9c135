/*  client.h: the CLI's connection to the scheduler's client endpoint.
 *
 *  One DEALER socket; each request is one Envelope with a fresh seq, and its
 *  reply is the Envelope whose reply_to equals that seq. Replies to other seqs
 *  (late answers to requests that already timed out) and malformed messages are
 *  dropped while waiting. An ErrorReply becomes an st_error_t with the
 *  scheduler's message and hint. */
#ifndef CLI_CLIENT_H
#define CLI_CLIENT_H

#include <stdint.h>
#include "st_curve.h"
#include "st_error.h"
#include "st_wire.h"

typedef struct cli_client cli_client_t;

/*  A request without a reply is sent again (same seq) this often until its timeout.  */
#define CLI_CLIENT_RESEND_MS 1000u

/*  Creates the socket and connects it (ZeroMQ connects in the background, so an
 *  absent scheduler shows up as a timeout on the first request). Returns NULL
 *  with err filled when the endpoint is not valid. timeout_ms bounds each
 *  request's wait for its reply. */
cli_client_t *cli_client_new (const char *endpoint, uint64_t timeout_ms, st_error_t *err);

/*  The same over CURVE: own is this user's key pair, server_public the
 *  scheduler's public key (Z85). own NULL: plaintext. */
cli_client_t *cli_client_new_curve (const char *endpoint, uint64_t timeout_ms, const st_curve_keys_t *own,
                                    const char *server_public, st_error_t *err);

/*  NULL-safe; sets *self_p = NULL.  */
void cli_client_destroy (cli_client_t **self_p);

/*  Sends req, whose body the caller has set (protocol_version and seq are set
 *  here; req is not freed), and waits for its reply.
 *  Returns ST_OK with *reply set (free with st_wire_free) and its body of case
 *  `expect`. Otherwise *reply is NULL and err is filled:
 *    ST_ETIMEDOUT  no reply within the timeout (message names the endpoint,
 *                  hint says how to point the CLI at a scheduler);
 *    ST_EVERSION   the scheduler speaks another protocol version, or said so;
 *    ST_EPROTO     the reply has an unexpected body;
 *    the code of an ErrorReply (see cli_client_error_rc), with its message/hint
 *                  (ERROR_UNAUTHENTICATED's message names where the token came from). */
st_rc_t cli_client_request (cli_client_t *self, Strata__Envelope *req, Strata__Envelope__BodyCase expect,
                            Strata__Envelope **reply, st_error_t *err);

/*  Sends token (copied; NULL or "": none) as Envelope.auth_token with every
 *  request; source says where it came from ("--token", "STRATA_TOKEN", a file),
 *  for the message when the scheduler refuses it.  */
void cli_client_set_token (cli_client_t *self, const char *token, const char *source);

/*  Messages dropped so far: replies to other requests, and malformed ones.  */
uint64_t cli_client_dropped (const cli_client_t *self);

/*  The endpoint this client connects to.  */
const char *cli_client_endpoint (const cli_client_t *self);

/*  ErrorReply code -> st_rc_t (ERROR_NOT_FOUND -> ST_ENOTFOUND, ...).  */
st_rc_t cli_client_error_rc (Strata__ErrorCode code);

#endif
