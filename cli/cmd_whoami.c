/*  cmd_whoami.c: `strata whoami [--json]`: who the scheduler takes you for.  */
#include "cli.h"
#include "output.h"

static void
s_request (Strata__Envelope *req)
{
    static Strata__WhoamiRequest whoami = STRATA__WHOAMI_REQUEST__INIT;
    req->body_case = STRATA__ENVELOPE__BODY_WHOAMI;
    req->whoami = &whoami;
}

static json_t *
s_json (const Strata__Envelope *reply)
{
    const Strata__WhoamiReply *w = reply->whoami_reply;
    json_t *tenants = json_array ();
    for (size_t i = 0; tenants && i < w->n_tenants; i++)
        json_array_append_new (tenants, cli_output_json_str (w->tenants[i]));
    return json_pack ("{s:o, s:s, s:o, s:b, s:I}", "user", cli_output_json_str (w->user), "role",
                      cli_role_name (w->role), "tenants", tenants ? tenants : json_array (), "development",
                      w->development, "token_id", (json_int_t) w->token_id);
}

static int
s_print (FILE *out, const Strata__Envelope *reply)
{
    const Strata__WhoamiReply *w = reply->whoami_reply;
    char buf[256];
    fprintf (out, "user:     %s\n", cli_text_fit (w->user, 64, buf, sizeof buf));
    fprintf (out, "role:     %s\n", cli_role_name (w->role));
    fprintf (out, "tenants:  ");
    if (w->development && !w->n_tenants)
        fprintf (out, "(every tenant)");
    for (size_t i = 0; i < w->n_tenants; i++)
        fprintf (out, "%s%s", i ? ", " : "", cli_text_fit (w->tenants[i], 64, buf, sizeof buf));
    fprintf (out, "\n");
    if (w->development)
        fprintf (out, "development install: the scheduler takes every request without a token for its local "
                      "admin\n");
    else
        fprintf (out, "token:    %llu\n", (unsigned long long) w->token_id);
    return ferror (out) ? -1 : 0;
}

static const cli_listing_t s_listing = {
    .name = "whoami",
    .usage = "strata whoami [--json]",
    .description = "Shows who the scheduler takes you for: your user, role (viewer, submitter,\n"
                   "operator or admin), the tenants you belong to (the first is the default tenant\n"
                   "of your submissions) and the id of the API token you used. On a single-user\n"
                   "development install (no users, loopback only) it says so: every request there is\n"
                   "the local admin.\n"
                   "\n"
                   "The token comes from --token, else $STRATA_TOKEN, else ~/.config/strata/token\n"
                   "(which must be readable by you only).\n"
                   "\n"
                   "examples:\n"
                   "  strata whoami\n"
                   "  STRATA_TOKEN=$(cat alice.token) strata whoami --json | jq -r .role",
    .json_help = "print a JSON object: user, role, tenants, development, token_id",
    .request = s_request,
    .reply = STRATA__ENVELOPE__BODY_WHOAMI_REPLY,
    .to_json = s_json,
    .print = s_print,
};

static int
s_exec (cli_ctx_t *ctx, int argc, char **argv)
{
    return cli_listing (ctx, &s_listing, argc, argv);
}

const cli_cmd_t cli_cmd_whoami = { "whoami", "show your user, role and tenants", s_exec };
