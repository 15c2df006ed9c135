/*  cmd_cancel.c: `strata cancel JOB...`: asks the scheduler to stop jobs.
 *
 *  A running job's tasks get SIGTERM, then SIGKILL after the kill grace period;
 *  the job ends CANCELLED. Cancelling a job that already ended is an error. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct {
    int unused; /*  no options but --help  */
} s_opts_t;

static const st_opt_t s_opts[] = {
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

static const char s_usage[] = "strata cancel JOB [JOB...]";
static const char s_description[] =
    "Cancels jobs. A pending job is cancelled at once; a running job's tasks are sent\n"
    "SIGTERM, then SIGKILL after the scheduler's kill grace period. Prints\n"
    "`cancelled job 42`, or `cancel requested for job 42 (state RUNNING)` while its\n"
    "tasks are being stopped. Exits 1 if any job could not be cancelled (unknown,\n"
    "or already ended).\n"
    "\n"
    "examples:\n"
    "  strata cancel 42\n"
    "  strata jobs --state PENDING --json | jq '.[].id' | xargs strata cancel";

static int
s_exec (cli_ctx_t *ctx, int argc, char **argv)
{
    s_opts_t o = { 0 };
    char **pos = NULL;
    int npos = 0;
    uint64_t *ids = NULL;

    int rc = cli_parse_options (ctx, "cancel", s_opts, &o, argc, argv, s_usage, s_description, &pos, &npos);
    if (rc >= 0)
        goto out;
    if (npos == 0) {
        rc = cli_usage_error (ctx, "cancel", "missing JOB argument");
        goto out;
    }
    /*  Check every argument before cancelling anything.  */
    ids = calloc ((size_t) npos, sizeof *ids);
    if (!ids) {
        rc = CLI_EXIT_ERROR;
        goto out;
    }
    for (int i = 0; i < npos; i++)
        if (cli_parse_job_id (pos[i], &ids[i]) != 0) {
            rc = cli_usage_error (ctx, "cancel", "JOB must be a positive integer, got '%s'", pos[i]);
            goto out;
        }

    rc = CLI_EXIT_OK;
    for (int i = 0; i < npos; i++) {
        Strata__Envelope req, *reply = NULL;
        Strata__CancelRequest cancel = STRATA__CANCEL_REQUEST__INIT;
        st_error_t err;
        st_error_clear (&err);
        st_wire_envelope_init (&req, 0);
        cancel.job_id = ids[i];
        req.body_case = STRATA__ENVELOPE__BODY_CANCEL;
        req.cancel = &cancel;
        st_rc_t r = cli_request (ctx, &req, STRATA__ENVELOPE__BODY_CANCEL_REPLY, &reply, &err);
        if (r != ST_OK) {
            if (r == ST_ENOTFOUND && !err.hint[0])
                st_error_hint (&err, "run 'strata jobs' to list jobs");
            rc = cli_fail (ctx, &err);
            if (r == ST_ETIMEDOUT || r == ST_EVERSION)
                break; /*  the others would fail the same way  */
            continue;
        }
        Strata__JobState state = reply->cancel_reply->state;
        if (state == STRATA__JOB_STATE__JOB_CANCELLED)
            fprintf (ctx->out, "cancelled job %llu\n", (unsigned long long) ids[i]);
        else
            fprintf (ctx->out, "cancel requested for job %llu (state %s)\n", (unsigned long long) ids[i],
                     *st_wire_job_state_name (state) ? st_wire_job_state_name (state) : "unknown");
        fflush (ctx->out);
        st_wire_free (reply);
    }
out:
    free (ids);
    free (pos);
    st_config_free (s_opts, &o);
    return rc;
}

const cli_cmd_t cli_cmd_cancel = { "cancel", "cancel jobs", s_exec };
