/*  cmd_logs.c: `strata logs JOB [--rank N] [--stderr] [-f]`: a task's output.
 *
 *  The scheduler fetches log bytes from the worker holding them; the CLI asks
 *  for successive ranges (LogsRequest.offset) and writes the bytes unchanged
 *  to stdout. With --follow it keeps asking, every 200 ms rising to 500 ms while
 *  nothing new arrives, until the job has ended and the log is read to its end.
 *
 *  Ending a follow is subtle: a reply's data and its job_state may be read at
 *  different moments, so a reply saying "terminal, no new data" could still
 *  miss the last bytes. The follow ends only on an empty reply to a request
 *  sent after a terminal state was already seen: the task had exited by then,
 *  so its log could not grow any more. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "st_time.h"

#define S_MAX_BYTES (256u * 1024u) /*  per request; the worker caps it there too  */
#define S_POLL_MIN_MS 200
#define S_POLL_MAX_MS 500
#define S_POLL_STEP_MS 100

typedef struct {
    int64_t rank; /*  which rank's log  */
    int err;      /*  --stderr: the task's stderr instead of stdout  */
    int follow;   /*  -f: keep reading until the job ends  */
} s_opts_t;

static const st_opt_t s_opts[] = {
    { "rank", 'r', ST_OPT_INT, offsetof (s_opts_t, rank), 0, 1023, "N", "the rank (task index) to read", NULL },
    { "stderr", 0, ST_OPT_BOOL, offsetof (s_opts_t, err), 0, 0, NULL, "read the task's stderr instead of stdout",
      NULL },
    { "follow", 'f', ST_OPT_BOOL, offsetof (s_opts_t, follow), 0, 0, NULL,
      "keep printing new output until the job has ended", NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

static const char s_usage[] = "strata logs JOB [--rank N] [--stderr] [-f|--follow]";
static const char s_description[] =
    "Prints the output of one task of a job (rank 0 unless --rank), byte for byte, as\n"
    "written by its current attempt. With -f, waits for more output until the job has\n"
    "ended and everything is printed; a job that is still pending is waited for.\n"
    "\n"
    "examples:\n"
    "  strata logs 42\n"
    "  strata logs 42 --rank 3 --stderr\n"
    "  strata logs -f 42";

/*  Writes all of data to out. Returns 0, or -1 when stdout is gone.  */
static int
s_write (FILE *out, const uint8_t *data, size_t len)
{
    if (len && fwrite (data, 1, len, out) != len)
        return -1;
    return fflush (out) == 0 ? 0 : -1;
}

static st_rc_t
s_request (cli_ctx_t *ctx, uint64_t id, const s_opts_t *o, uint64_t offset, Strata__Envelope **reply, st_error_t *err)
{
    Strata__Envelope req;
    Strata__LogsRequest logs = STRATA__LOGS_REQUEST__INIT;
    st_wire_envelope_init (&req, 0);
    logs.job_id = id;
    logs.rank = (uint32_t) o->rank;
    logs.stderr = o->err != 0;
    logs.offset = offset;
    logs.max_bytes = S_MAX_BYTES;
    req.body_case = STRATA__ENVELOPE__BODY_LOGS;
    req.logs = &logs;
    return cli_request (ctx, &req, STRATA__ENVELOPE__BODY_LOGS_REPLY, reply, err);
}

/*  While following, logs can be unavailable because the job has not started
 *  yet or its node is briefly away. Returns 1 to keep waiting (the job has not
 *  ended), 0 to give up, -1 when the job could not be fetched (err filled). */
static int
s_worth_waiting (cli_ctx_t *ctx, uint64_t id, st_error_t *err)
{
    Strata__Envelope *reply = NULL;
    st_error_t gerr;
    st_error_clear (&gerr);
    if (cli_get_job (ctx, id, &reply, &gerr) != ST_OK) {
        *err = gerr;
        return -1;
    }
    int wait = !cli_state_is_terminal (reply->job->state);
    st_wire_free (reply);
    return wait;
}

static int
s_exec (cli_ctx_t *ctx, int argc, char **argv)
{
    s_opts_t o = { 0 };
    char **pos = NULL;
    int npos = 0;
    uint64_t id = 0;
    Strata__Envelope *reply = NULL;
    st_error_t err;
    st_error_clear (&err);

    int rc = cli_parse_options (ctx, "logs", s_opts, &o, argc, argv, s_usage, s_description, &pos, &npos);
    if (rc >= 0)
        goto out;
    if ((rc = cli_one_job_arg (ctx, "logs", pos, npos, &id)) >= 0)
        goto out;

    uint64_t offset = 0;
    uint32_t attempt = 0;  /*  the attempt whose log we are printing; 0: none yet  */
    int terminal_seen = 0; /*  a reply before this request said the job ended  */
    uint64_t pause_ms = S_POLL_MIN_MS;
    rc = CLI_EXIT_OK;
    for (;;) {
        int ended_before = terminal_seen;
        st_rc_t r = s_request (ctx, id, &o, offset, &reply, &err);
        if (r == ST_EUNAVAIL && o.follow) {
            /*  err keeps the logs error unless fetching the job failed too.  */
            if (s_worth_waiting (ctx, id, &err) == 1) {
                st_sleep_ms (S_POLL_MAX_MS);
                continue;
            }
            rc = cli_fail (ctx, &err);
            goto out;
        }
        if (r != ST_OK) {
            rc = cli_fail (ctx, &err);
            goto out;
        }
        const Strata__LogsReply *lr = reply->logs_reply;
        if (attempt && lr->attempt && lr->attempt != attempt) {
            /*  A retry started a new log; this reply's bytes are at our old
             *  offset in it. Start over from its beginning.  */
            fprintf (ctx->err, "strata: job %llu attempt %u started; its log follows\n", (unsigned long long) id,
                     lr->attempt);
            fflush (ctx->err);
            attempt = lr->attempt;
            offset = 0;
            terminal_seen = 0;
            st_wire_free (reply);
            reply = NULL;
            continue;
        }
        if (lr->attempt)
            attempt = lr->attempt; /*  0: no attempt has started yet (pending)  */
        size_t len = lr->data.len;
        if (s_write (ctx->out, lr->data.data, len) != 0) {
            rc = errno == EPIPE ? CLI_EXIT_OK : CLI_EXIT_ERROR; /*  a closed pipe (| head) is fine  */
            goto out;
        }
        offset = lr->offset + len;
        int terminal = cli_state_is_terminal (lr->job_state);
        int at_end = len == 0 || offset >= lr->size;
        st_wire_free (reply);
        reply = NULL;
        if (len > 0 && !at_end) {
            pause_ms = S_POLL_MIN_MS;
            continue; /*  more is already there  */
        }
        if (!o.follow)
            break;
        if (len == 0 && ended_before)
            break;
        if (terminal) {
            terminal_seen = 1;
            continue; /*  one more read, sent after the end was seen  */
        }
        if (len > 0)
            pause_ms = S_POLL_MIN_MS;
        st_sleep_ms (pause_ms);
        if (len == 0 && pause_ms < S_POLL_MAX_MS)
            pause_ms += S_POLL_STEP_MS;
    }
out:
    st_wire_free (reply);
    free (pos);
    st_config_free (s_opts, &o);
    return rc;
}

const cli_cmd_t cli_cmd_logs = { "logs", "print (or follow) the output of a job's task", s_exec };
