/*  outbox.h: task updates that must reach the scheduler.
 *
 *  Each update gets its envelope seq once, when it is pushed, and keeps it: the
 *  worker resends it (same seq, same content) every resend interval until an
 *  Ack with that ack_seq arrives. The scheduler treats a repeated seq as the
 *  same update, so resending is always safe. Updates are kept in seq order and
 *  resent in that order.
 *
 *  The outbox does no I/O: st__outbox_due () hands each update that is due to a
 *  callback that sends it. Capacity is bounded (ST__OUTBOX_MAX): an update that
 *  does not fit is refused, which the worker logs. */
#ifndef ST_WORKER_OUTBOX_H
#define ST_WORKER_OUTBOX_H

#include <stddef.h>
#include <stdint.h>
#include "task.h"

#define ST__OUTBOX_MAX 65536u
#define ST__OUTBOX_RESEND_MS 1000u

typedef struct st__outbox st__outbox_t;

/*  Called for each update that is due. Returns 0 when it was handed to the
 *  socket; any other value stops the pass (the update stays due).  */
typedef int (st__outbox_send_fn) (void *arg, uint64_t seq, const st__wtask_status_t *status);

/*  resend_ms 0: ST__OUTBOX_RESEND_MS. Returns NULL when memory runs out.  */
st__outbox_t *st__outbox_new (uint64_t resend_ms);

/*  NULL-safe; sets *self_p = NULL.  */
void st__outbox_destroy (st__outbox_t **self_p);

/*  Adds an update under seq, due at now_ms. Returns 0, or -1 when the outbox
 *  is full or memory runs out.  */
int st__outbox_push (st__outbox_t *self, uint64_t seq, const st__wtask_status_t *status, uint64_t now_ms);

/*  Removes the update sent under seq. Returns 1 and copies it to *acked (if not
 *  NULL) when there was one, 0 when seq is not (or no longer) pending.  */
int st__outbox_ack (st__outbox_t *self, uint64_t seq, st__wtask_status_t *acked);

/*  Sends every update due at now_ms, in seq order; each one sent is next due at
 *  now_ms + resend interval. Returns how many were sent.  */
size_t st__outbox_due (st__outbox_t *self, uint64_t now_ms, st__outbox_send_fn *send, void *arg);

/*  Makes every pending update due now (after a fresh registration).  */
void st__outbox_rewind (st__outbox_t *self, uint64_t now_ms);

/*  Monotonic ms when the next update is due, UINT64_MAX when none is pending.  */
uint64_t st__outbox_next_due (const st__outbox_t *self);

size_t st__outbox_size (const st__outbox_t *self);

/*  The i-th pending update in seq order (i < size); seq_out may be NULL.  */
const st__wtask_status_t *st__outbox_at (const st__outbox_t *self, size_t i, uint64_t *seq_out);

/*  Non-zero when an update about key with a state other than TASK_RUNNING is
 *  pending: the task ended and the scheduler has not heard it yet.  */
int st__outbox_has_end (const st__outbox_t *self, const st__wtask_key_t *key);

#endif
