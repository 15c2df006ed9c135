/*  test_worker_outbox.c: reliable task updates: sent at once, resent with the
 *  same seq every interval until acknowledged, in seq order. Time is passed
 *  in, so the tests step a fake clock. */
#include <criterion/criterion.h>

#include <string.h>

#include "outbox.h"

#define MAX_SENT 64

typedef struct {
    uint64_t seq[MAX_SENT];
    st__wtask_status_t status[MAX_SENT];
    size_t n;
    int refuse_after; /*  > 0: the n-th send and later fail  */
} sink_t;

static int
s_send (void *arg, uint64_t seq, const st__wtask_status_t *status)
{
    sink_t *sink = arg;
    if (sink->refuse_after > 0 && (int) sink->n + 1 >= sink->refuse_after)
        return -1;
    cr_assert_lt (sink->n, MAX_SENT);
    sink->seq[sink->n] = seq;
    sink->status[sink->n] = *status;
    sink->n++;
    return 0;
}

static st__wtask_status_t
s_status (uint64_t job, Strata__TaskState state)
{
    st__wtask_status_t s;
    memset (&s, 0, sizeof s);
    s.key.job_id = job;
    s.key.index = 0;
    s.key.attempt = 1;
    s.state = state;
    s.pid = 100 + (int32_t) job;
    return s;
}

Test (worker_outbox, new_update_is_sent_at_once_then_resent_with_same_seq)
{
    st__outbox_t *ob = st__outbox_new (1000);
    cr_assert_not_null (ob);
    cr_assert_eq (st__outbox_next_due (ob), UINT64_MAX);

    st__wtask_status_t s = s_status (7, STRATA__TASK_STATE__TASK_RUNNING);
    cr_assert_eq (st__outbox_push (ob, 42, &s, 5000), 0);
    cr_assert_eq (st__outbox_next_due (ob), 5000);

    sink_t sink = { 0 };
    cr_assert_eq (st__outbox_due (ob, 5000, s_send, &sink), 1);
    cr_assert_eq (sink.seq[0], 42);
    cr_assert_eq (sink.status[0].key.job_id, 7);
    cr_assert_eq (sink.status[0].pid, 107);
    cr_assert_eq (st__outbox_next_due (ob), 6000);

    /*  Not again before the interval.  */
    cr_assert_eq (st__outbox_due (ob, 5999, s_send, &sink), 0);
    cr_assert_eq (sink.n, 1);

    /*  Resent, same seq, same content.  */
    cr_assert_eq (st__outbox_due (ob, 6000, s_send, &sink), 1);
    cr_assert_eq (sink.seq[1], 42);
    cr_assert_eq (memcmp (&sink.status[0], &sink.status[1], sizeof s), 0);
    cr_assert_eq (st__outbox_due (ob, 7500, s_send, &sink), 1);
    cr_assert_eq (sink.seq[2], 42);
    cr_assert_eq (st__outbox_next_due (ob), 8500);
    st__outbox_destroy (&ob);
    cr_assert_null (ob);
}

Test (worker_outbox, ack_stops_resending)
{
    st__outbox_t *ob = st__outbox_new (1000);
    st__wtask_status_t a = s_status (1, STRATA__TASK_STATE__TASK_RUNNING);
    st__wtask_status_t b = s_status (2, STRATA__TASK_STATE__TASK_EXITED);
    st__outbox_push (ob, 10, &a, 0);
    st__outbox_push (ob, 11, &b, 0);
    sink_t sink = { 0 };
    cr_assert_eq (st__outbox_due (ob, 0, s_send, &sink), 2);

    st__wtask_status_t acked;
    cr_assert_eq (st__outbox_ack (ob, 10, &acked), 1);
    cr_assert_eq (acked.key.job_id, 1);
    cr_assert_eq (st__outbox_ack (ob, 10, NULL), 0, "an ack twice is harmless");
    cr_assert_eq (st__outbox_ack (ob, 999, NULL), 0, "an ack for an unknown seq is ignored");
    cr_assert_eq (st__outbox_size (ob), 1);

    sink.n = 0;
    cr_assert_eq (st__outbox_due (ob, 1000, s_send, &sink), 1);
    cr_assert_eq (sink.seq[0], 11);

    cr_assert_eq (st__outbox_ack (ob, 11, NULL), 1);
    cr_assert_eq (st__outbox_size (ob), 0);
    cr_assert_eq (st__outbox_next_due (ob), UINT64_MAX);
    sink.n = 0;
    cr_assert_eq (st__outbox_due (ob, 5000, s_send, &sink), 0);
    st__outbox_destroy (&ob);
}

Test (worker_outbox, updates_go_out_in_seq_order)
{
    st__outbox_t *ob = st__outbox_new (1000);
    uint64_t seqs[] = { 5, 3, 9, 4 };
    for (size_t i = 0; i < 4; i++) {
        st__wtask_status_t s = s_status (seqs[i], STRATA__TASK_STATE__TASK_RUNNING);
        cr_assert_eq (st__outbox_push (ob, seqs[i], &s, 0), 0);
    }
    sink_t sink = { 0 };
    cr_assert_eq (st__outbox_due (ob, 0, s_send, &sink), 4);
    uint64_t want[] = { 3, 4, 5, 9 };
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq (sink.seq[i], want[i]);
        cr_assert_eq (sink.status[i].key.job_id, want[i], "content stays with its seq");
        uint64_t seq = 0;
        cr_assert_not_null (st__outbox_at (ob, i, &seq));
        cr_assert_eq (seq, want[i]);
    }
    cr_assert_null (st__outbox_at (ob, 4, NULL));
    st__outbox_destroy (&ob);
}

Test (worker_outbox, a_refused_send_stays_due)
{
    st__outbox_t *ob = st__outbox_new (1000);
    for (uint64_t i = 1; i <= 3; i++) {
        st__wtask_status_t s = s_status (i, STRATA__TASK_STATE__TASK_EXITED);
        st__outbox_push (ob, i, &s, 0);
    }
    sink_t sink = { .refuse_after = 2 };
    cr_assert_eq (st__outbox_due (ob, 0, s_send, &sink), 1, "the pass stops at the first refusal");
    cr_assert_eq (st__outbox_next_due (ob), 0, "the refused ones are still due");
    sink.refuse_after = 0;
    cr_assert_eq (st__outbox_due (ob, 10, s_send, &sink), 2);
    cr_assert_eq (sink.seq[1], 2);
    cr_assert_eq (sink.seq[2], 3);
    st__outbox_destroy (&ob);
}

Test (worker_outbox, rewind_makes_everything_due_now)
{
    st__outbox_t *ob = st__outbox_new (1000);
    st__wtask_status_t s = s_status (1, STRATA__TASK_STATE__TASK_EXITED);
    st__outbox_push (ob, 1, &s, 0);
    sink_t sink = { 0 };
    st__outbox_due (ob, 0, s_send, &sink);
    cr_assert_eq (st__outbox_next_due (ob), 1000);
    st__outbox_rewind (ob, 300);
    cr_assert_eq (st__outbox_next_due (ob), 300);
    cr_assert_eq (st__outbox_due (ob, 300, s_send, &sink), 1);
    cr_assert_eq (sink.seq[1], 1);
    st__outbox_destroy (&ob);
}

Test (worker_outbox, has_end_sees_only_unacked_ends)
{
    st__outbox_t *ob = st__outbox_new (0);
    st__wtask_status_t run = s_status (4, STRATA__TASK_STATE__TASK_RUNNING);
    st__wtask_status_t end = s_status (4, STRATA__TASK_STATE__TASK_EXITED);
    st__wtask_key_t key = run.key;
    st__outbox_push (ob, 1, &run, 0);
    cr_assert_eq (st__outbox_has_end (ob, &key), 0);
    st__outbox_push (ob, 2, &end, 0);
    cr_assert_eq (st__outbox_has_end (ob, &key), 1);
    st__wtask_key_t other = { 4, 1, 1 };
    cr_assert_eq (st__outbox_has_end (ob, &other), 0);
    st__outbox_ack (ob, 2, NULL);
    cr_assert_eq (st__outbox_has_end (ob, &key), 0);
    st__outbox_destroy (&ob);
}

Test (worker_outbox, default_interval_is_one_second)
{
    st__outbox_t *ob = st__outbox_new (0);
    st__wtask_status_t s = s_status (1, STRATA__TASK_STATE__TASK_RUNNING);
    st__outbox_push (ob, 1, &s, 100);
    sink_t sink = { 0 };
    st__outbox_due (ob, 100, s_send, &sink);
    cr_assert_eq (st__outbox_next_due (ob), 100 + ST__OUTBOX_RESEND_MS);
    cr_assert_eq (ST__OUTBOX_RESEND_MS, 1000);
    st__outbox_destroy (&ob);
    st__outbox_destroy (&ob); /*  NULL-safe  */
}
