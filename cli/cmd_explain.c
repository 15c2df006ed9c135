/*  cmd_explain.c: `strata explain JOB [--json]`: why a job waits, or why it
 *  was placed where it was.  */
#include <stddef.h>
#include <stdlib.h>

#include "cli.h"
#include "output.h"
#include "st_time.h"

typedef struct {
    int json; /*  --json: the scheduler's explanation as is  */
} s_opts_t;

static const st_opt_t s_opts[] = {
    { "json", 0, ST_OPT_BOOL, offsetof (s_opts_t, json), 0, 0, NULL,
      "print the placement engine's explanation as one JSON object", NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

static const char s_usage[] = "strata explain JOB [--json]";
static const char s_description[] =
    "Explains a job's placement. For a waiting job: the reason, then every pool with\n"
    "its verdict (excluded: a hard constraint rules it out; short: allowed, but not\n"
    "enough is free now; fits) and why, and when its reservation expects it to start.\n"
    "For a placed job: the chosen pool's score terms (0 best .. 1 worst among the\n"
    "candidates) and raw figures (cost, latency, kWh, gCO2 per hour) against the\n"
    "runners-up, the job's weights and the estimate over its time limit.\n"
    "\n"
    "examples:\n"
    "  strata explain 42\n"
    "  strata explain 42 --json | jq '.pools[] | select(.verdict == \"excluded\")'";

static int
s_exec (cli_ctx_t *ctx, int argc, char **argv)
{
    s_opts_t o = { 0 };
    char **pos = NULL;
    int npos = 0;
    uint64_t id = 0;
    Strata__Envelope *reply = NULL;
    json_t *json = NULL;
    st_error_t err;
    st_error_clear (&err);

    int rc = cli_parse_options (ctx, "explain", s_opts, &o, argc, argv, s_usage, s_description, &pos, &npos);
    if (rc >= 0)
        goto out;
    if ((rc = cli_one_job_arg (ctx, "explain", pos, npos, &id)) >= 0)
        goto out;

    Strata__Envelope req;
    Strata__ExplainRequest explain = STRATA__EXPLAIN_REQUEST__INIT;
    st_wire_envelope_init (&req, 0);
    explain.job_id = id;
    req.body_case = STRATA__ENVELOPE__BODY_EXPLAIN;
    req.explain = &explain;
    st_rc_t r = cli_request (ctx, &req, STRATA__ENVELOPE__BODY_EXPLAIN_REPLY, &reply, &err);
    if (r != ST_OK) {
        if (r == ST_ENOTFOUND && !err.hint[0])
            st_error_hint (&err, "run 'strata jobs' to list jobs");
        rc = cli_fail (ctx, &err);
        goto out;
    }
    const char *text = reply->explain_reply->json;
    rc = CLI_EXIT_OK;
    if (o.json) {
        json = text ? json_loads (text, JSON_REJECT_DUPLICATES, NULL) : NULL;
        if (json_is_object (json)) {
            if (cli_output_json_print (ctx->out, json) != 0)
                rc = CLI_EXIT_ERROR;
            goto out;
        }
    }
    else if (cli_output_explain (ctx->out, text, st_wall_ms ()) == 0)
        goto out;
    if (ferror (ctx->out))
        rc = CLI_EXIT_ERROR;
    else {
        st_error_set (&err, ST_EPROTO, NULL, "the scheduler's explanation of job %llu is not a JSON object",
                      (unsigned long long) id);
        st_error_hint (&err, "the scheduler and this strata may be of different versions");
        rc = cli_fail (ctx, &err);
    }
out:
    json_decref (json);
    st_wire_free (reply);
    free (pos);
    st_config_free (s_opts, &o);
    return rc;
}

const cli_cmd_t cli_cmd_explain = { "explain", "say why a job waits, or why it was placed where it is", s_exec };
