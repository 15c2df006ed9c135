/*  cmd_jobs.c: `strata jobs`: the most recent jobs, newest first.  */
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "output.h"
#include "st_time.h"

#define S_DEFAULT_LIMIT 50
/*  --all: as many as the scheduler will give (it caps lists, at 10000 today).
 *  Kept within a signed 32-bit range so it binds as a plain SQL integer.  */
#define S_ALL_LIMIT 1000000

typedef struct {
    char *state;   /*  only jobs in this state  */
    char *tenant;  /*  only this tenant's jobs  */
    int64_t limit; /*  at most this many  */
    int all;       /*  no limit  */
    int active;    /*  only jobs that have not ended  */
    int json;      /*  a JSON array of job objects  */
} s_opts_t;

static const st_opt_t s_opts[] = {
    { "state", 0, ST_OPT_STRING, offsetof (s_opts_t, state), 0, 0, "STATE",
      "only jobs in STATE (PENDING, RUNNING, SUCCEEDED, FAILED, ...)", NULL },
    { "tenant", 0, ST_OPT_STRING, offsetof (s_opts_t, tenant), 0, 0, "TENANT", "only jobs of TENANT", NULL },
    { "limit", 'n', ST_OPT_INT, offsetof (s_opts_t, limit), 1, S_ALL_LIMIT, "N",
      "show the N most recent jobs (wins over --all)", NULL },
    { "all", 'a', ST_OPT_BOOL, offsetof (s_opts_t, all), 0, 0, NULL, "show every job, not only the most recent 50",
      NULL },
    { "active", 0, ST_OPT_BOOL, offsetof (s_opts_t, active), 0, 0, NULL,
      "only jobs that have not ended (not SUCCEEDED, FAILED or CANCELLED)", NULL },
    { "json", 0, ST_OPT_BOOL, offsetof (s_opts_t, json), 0, 0, NULL, "print a JSON array of jobs", NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

static const char s_usage[] = "strata jobs [--state STATE] [--tenant TENANT] [--limit N] [--all] [--active] [--json]";
static const char s_description[] =
    "Lists jobs, most recent first: ID NAME TENANT STATE RANKS NODE AGE REASON.\n"
    "NODE is where rank 0 runs (or ran); REASON says why a job waits or where it was placed.\n"
    "\n"
    "examples:\n"
    "  strata jobs\n"
    "  strata jobs --state PENDING --tenant research\n"
    "  strata jobs --all --json | jq '.[] | select(.state == \"FAILED\") | .id'";

static int
s_exec (cli_ctx_t *ctx, int argc, char **argv)
{
    s_opts_t o = { .limit = 0 }; /*  0 is below --limit's range: it stays 0 unless given  */
    char **pos = NULL;
    int npos = 0;
    Strata__Envelope *reply = NULL;
    json_t *json = NULL;
    st_error_t err;
    st_error_clear (&err);

    int rc = cli_parse_options (ctx, "jobs", s_opts, &o, argc, argv, s_usage, s_description, &pos, &npos);
    if (rc >= 0)
        goto out;
    if (npos > 0) {
        rc = cli_usage_error (ctx, "jobs", "unexpected argument '%s'", pos[0]);
        goto out;
    }
    st_job_state_t state = ST_JOB_PENDING;
    if (o.state && *o.state) {
        /*  State names are upper case; accept "running" too.  */
        for (char *p = o.state; *p; p++)
            *p = (char) toupper ((unsigned char) *p);
        if (st_job_state_parse (o.state, &state) != 0) {
            char names[160];
            size_t used = 0;
            for (const char *const *n = st_job_state_names (); *n && used < sizeof names; n++)
                used += (size_t) snprintf (names + used, sizeof names - used, "%s%s", used ? " " : "", *n);
            rc = cli_usage_error (ctx, "jobs", "--state: unknown state '%s' (one of %s)", o.state, names);
            goto out;
        }
    }

    Strata__Envelope req;
    Strata__ListRequest list = STRATA__LIST_REQUEST__INIT;
    st_wire_envelope_init (&req, 0);
    list.state = o.state && *o.state ? st_wire_job_state (state) : STRATA__JOB_STATE__JOB_STATE_UNSPECIFIED;
    list.tenant = o.tenant ? o.tenant : "";
    list.limit = o.limit ? (uint32_t) o.limit : o.all ? S_ALL_LIMIT : S_DEFAULT_LIMIT;
    list.active_only = o.active != 0;
    req.body_case = STRATA__ENVELOPE__BODY_LIST;
    req.list = &list;
    if (cli_request (ctx, &req, STRATA__ENVELOPE__BODY_LIST_REPLY, &reply, &err) != ST_OK) {
        rc = cli_fail (ctx, &err);
        goto out;
    }
    const Strata__ListReply *lr = reply->list_reply;
    rc = CLI_EXIT_ERROR;
    if (o.json) {
        json = json_array ();
        for (size_t i = 0; json && i < lr->n_jobs; i++)
            if (json_array_append_new (json, cli_output_job_json (lr->jobs[i])) != 0)
                goto out;
        if (!json || cli_output_json_print (ctx->out, json) != 0)
            goto out;
    }
    else if (cli_output_job_table (ctx->out, lr->jobs, lr->n_jobs, st_wall_ms ()) != 0)
        goto out;
    rc = CLI_EXIT_OK;
out:
    json_decref (json);
    st_wire_free (reply);
    free (pos);
    st_config_free (s_opts, &o);
    return rc;
}

const cli_cmd_t cli_cmd_jobs = { "jobs", "list the most recent jobs", s_exec };
