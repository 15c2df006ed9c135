/*  outbox.c: see outbox.h. A plain array in seq order: the outbox holds a
 *  handful of updates in normal operation (they are acked within one round
 *  trip), so linear scans are the simple and fast choice.  */
#include "outbox.h"

#include <stdlib.h>
#include <string.h>

#include "st_vec.h"

typedef struct {
    uint64_t seq;    /*  envelope seq, fixed at push  */
    uint64_t due_ms; /*  monotonic ms of the next (re)send  */
    st__wtask_status_t status;
} s_entry_t;

struct st__outbox {
    s_entry_t *items; /*  pending updates, ascending seq  */
    size_t n;
    size_t cap;
    uint64_t resend_ms;
};

st__outbox_t *
st__outbox_new (uint64_t resend_ms)
{
    st__outbox_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->resend_ms = resend_ms ? resend_ms : ST__OUTBOX_RESEND_MS;
    return self;
}

void
st__outbox_destroy (st__outbox_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->items);
    free (*self_p);
    *self_p = NULL;
}

int
st__outbox_push (st__outbox_t *self, uint64_t seq, const st__wtask_status_t *status, uint64_t now_ms)
{
    if (self->n >= ST__OUTBOX_MAX)
        return -1;
    if (st_vec_reserve ((void **) &self->items, &self->cap, self->n + 1, sizeof *self->items, ST__OUTBOX_MAX)
        != ST_OK)
        return -1;
    /*  seqs come from one increasing counter, so this is nearly always an append.  */
    size_t at = self->n;
    while (at > 0 && self->items[at - 1].seq > seq)
        at--;
    memmove (&self->items[at + 1], &self->items[at], (self->n - at) * sizeof *self->items);
    self->items[at] = (s_entry_t) { .seq = seq, .due_ms = now_ms, .status = *status };
    self->n++;
    return 0;
}

int
st__outbox_ack (st__outbox_t *self, uint64_t seq, st__wtask_status_t *acked)
{
    for (size_t i = 0; i < self->n; i++) {
        if (self->items[i].seq != seq)
            continue;
        if (acked)
            *acked = self->items[i].status;
        memmove (&self->items[i], &self->items[i + 1], (self->n - i - 1) * sizeof *self->items);
        self->n--;
        return 1;
    }
    return 0;
}

size_t
st__outbox_due (st__outbox_t *self, uint64_t now_ms, st__outbox_send_fn *send, void *arg)
{
    size_t sent = 0;
    for (size_t i = 0; i < self->n; i++) {
        s_entry_t *e = &self->items[i];
        if (e->due_ms > now_ms)
            continue;
        if (send (arg, e->seq, &e->status) != 0)
            break;
        e->due_ms = now_ms + self->resend_ms;
        sent++;
    }
    return sent;
}

void
st__outbox_rewind (st__outbox_t *self, uint64_t now_ms)
{
    for (size_t i = 0; i < self->n; i++)
        self->items[i].due_ms = now_ms;
}

uint64_t
st__outbox_next_due (const st__outbox_t *self)
{
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < self->n; i++)
        if (self->items[i].due_ms < next)
            next = self->items[i].due_ms;
    return next;
}

size_t
st__outbox_size (const st__outbox_t *self)
{
    return self->n;
}

const st__wtask_status_t *
st__outbox_at (const st__outbox_t *self, size_t i, uint64_t *seq_out)
{
    if (i >= self->n)
        return NULL;
    if (seq_out)
        *seq_out = self->items[i].seq;
    return &self->items[i].status;
}

int
st__outbox_has_end (const st__outbox_t *self, const st__wtask_key_t *key)
{
    for (size_t i = 0; i < self->n; i++)
        if (self->items[i].status.state != STRATA__TASK_STATE__TASK_RUNNING
            && st__wtask_key_eq (&self->items[i].status.key, key))
            return 1;
    return 0;
}
