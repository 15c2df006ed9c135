/*  cmd_show.c: `strata show JOB [--json]`: one job in detail.  */
#include <stddef.h>
#include <stdlib.h>

#include "cli.h"
#include "output.h"
#include "st_time.h"

typedef struct {
    int json; /*  --json: one JSON object  */
} s_opts_t;

static const st_opt_t s_opts[] = {
    { "json", 0, ST_OPT_BOOL, offsetof (s_opts_t, json), 0, 0, NULL, "print the job as one JSON object", NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

static const char s_usage[] = "strata show JOB [--json]";
static const char s_description[] = "Shows one job: its state and the reason for it, resources, times, exit code,\n"
                                    "and a table of its tasks (RANK ATTEMPT STATE NODE PID EXIT).\n"
                                    "\n"
                                    "examples:\n"
                                    "  strata show 42\n"
                                    "  strata show 42 --json | jq -r .state";

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

    int rc = cli_parse_options (ctx, "show", s_opts, &o, argc, argv, s_usage, s_description, &pos, &npos);
    if (rc >= 0)
        goto out;
    if ((rc = cli_one_job_arg (ctx, "show", pos, npos, &id)) >= 0)
        goto out;
    if (cli_get_job (ctx, id, &reply, &err) != ST_OK) {
        rc = cli_fail (ctx, &err);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (o.json) {
        json = cli_output_job_json (reply->job);
        if (!json || cli_output_json_print (ctx->out, json) != 0)
            rc = CLI_EXIT_ERROR;
    }
    else if (cli_output_job_detail (ctx->out, reply->job, st_wall_ms ()) != 0)
        rc = CLI_EXIT_ERROR;
out:
    json_decref (json);
    st_wire_free (reply);
    free (pos);
    st_config_free (s_opts, &o);
    return rc;
}

const cli_cmd_t cli_cmd_show = { "show", "show one job in detail, with its tasks", s_exec };
