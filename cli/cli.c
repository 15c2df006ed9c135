/*  cli.c: helpers every command uses: the lazily connected client, error and
 *  usage reporting, option parsing and JOB arguments. */
#include "cli.h"
#include "output.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "st_token.h"

cli_client_t *
cli_client (cli_ctx_t *ctx, st_error_t *err)
{
    if (ctx->client)
        return ctx->client;
    if (!ctx->curve_key != !ctx->scheduler_key) {
        st_error_set (err, ST_EINVAL, ctx->curve_key ? "scheduler-key" : "curve-key",
                      "--curve-key and --scheduler-key go together");
        st_error_hint (err, "or set STRATA_CURVE_KEY and STRATA_SCHEDULER_KEY");
        return NULL;
    }
    /*  The token: --token, STRATA_TOKEN, then the file (checked before anything is sent).  */
    char token[ST_TOKEN_MAX_LEN + 1] = "", path[4096] = "";
    const char *source = ctx->token_source;
    if (ctx->token && *ctx->token)
        snprintf (token, sizeof token, "%s", ctx->token);
    else {
        const char *home = getenv ("HOME");
        if (home && *home) {
            snprintf (path, sizeof path, "%s/%s", home, CLI_TOKEN_FILE);
            st_rc_t rc = st_token_read_file (path, token, sizeof token, err);
            if (rc == ST_ENOTFOUND) {
                st_error_clear (err);
                token[0] = '\0';
            }
            else if (rc != ST_OK)
                return NULL;
            source = path;
        }
    }
    if (!ctx->curve_key)
        ctx->client = cli_client_new (ctx->endpoint, ctx->timeout_ms, err);
    else {
        st_curve_keys_t own, server;
        if (st_curve_load (ctx->curve_key, &own, 1, err) == ST_OK
            && st_curve_load (ctx->scheduler_key, &server, 0, err) == ST_OK)
            ctx->client = cli_client_new_curve (ctx->endpoint, ctx->timeout_ms, &own, server.public_key, err);
        memset (&own, 0, sizeof own);
    }
    if (ctx->client)
        cli_client_set_token (ctx->client, token, source);
    memset (token, 0, sizeof token);
    return ctx->client;
}

void
cli_ctx_close (cli_ctx_t *ctx)
{
    cli_client_destroy (&ctx->client);
}

void
cli_print_error (FILE *out, const st_error_t *err)
{
    /*  One line each, whatever the text holds: messages may come from the
     *  scheduler, and scripts read stderr line by line.  */
    char msg[sizeof err->msg], hint[sizeof err->hint], top[sizeof err->field];
    cli_text_fit (err->msg[0] ? err->msg : st_strerror (err->rc), 0, msg, sizeof msg);
    cli_text_fit (err->hint, 0, hint, sizeof hint);
    /*  The message must name the offending field; most already do, at least
     *  by its top-level name ("env: invalid variable name ..." for env.1A).  */
    snprintf (top, sizeof top, "%.*s", (int) strcspn (err->field, ".["), err->field);
    if (top[0] && !strstr (msg, top))
        fprintf (out, "strata: error: %s: %s\n", err->field, msg);
    else
        fprintf (out, "strata: error: %s\n", msg);
    if (hint[0])
        fprintf (out, "hint: %s\n", hint);
    fflush (out);
}

int
cli_fail (cli_ctx_t *ctx, const st_error_t *err)
{
    cli_print_error (ctx->err, err);
    return CLI_EXIT_ERROR;
}

int
cli_usage_error (cli_ctx_t *ctx, const char *cmd, const char *fmt, ...)
{
    st_error_t err;
    st_error_clear (&err);
    err.rc = ST_EINVAL;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (err.msg, sizeof err.msg, fmt, ap);
    va_end (ap);
    if (cmd)
        st_error_hint (&err, "run 'strata %s --help' for usage", cmd);
    else
        st_error_hint (&err, "run 'strata --help' for usage");
    cli_print_error (ctx->err, &err);
    return CLI_EXIT_USAGE;
}

int
cli_parse_job_id (const char *text, uint64_t *id)
{
    if (!text || !*text)
        return -1;
    for (const char *p = text; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    errno = 0;
    unsigned long long v = strtoull (text, NULL, 10);
    if (errno == ERANGE || v == 0 || v > INT64_MAX)
        return -1;
    *id = v;
    return 0;
}

/*  The exit code for the parser's outcome rc, or -1 to go on.  */
static int
s_parsed (cli_ctx_t *ctx, const char *cmd, st_rc_t rc, st_error_t *err)
{
    if (rc == ST_OK)
        return -1;
    if (rc == ST_EAGAIN)
        return CLI_EXIT_OK; /*  --help printed the usage  */
    /*  The parser's generic "see --help" becomes the exact command to run.  */
    if (!err->hint[0] || !strcmp (err->hint, "see --help")) {
        if (cmd)
            st_error_hint (err, "run 'strata %s --help' for usage", cmd);
        else
            st_error_hint (err, "run 'strata --help' for usage");
    }
    cli_print_error (ctx->err, err);
    return CLI_EXIT_USAGE;
}

int
cli_parse_options (cli_ctx_t *ctx, const char *cmd, const st_opt_t *opts, void *cfg, int argc, char **argv,
                   const char *usage_line, const char *description, char ***positional, int *npositional)
{
    st_error_t err;
    st_error_clear (&err);
    st_rc_t rc = st_config_parse (opts, cfg, argc, argv, usage_line, description, positional, npositional, &err);
    return s_parsed (ctx, cmd, rc, &err);
}

int
cli_parse_global (cli_ctx_t *ctx, const st_opt_t *opts, void *cfg, int argc, char **argv, const char *usage_line,
                  const char *description, int *next)
{
    st_error_t err;
    st_error_clear (&err);
    st_rc_t rc = st_config_parse_head (opts, cfg, argc, argv, usage_line, description, next, &err);
    return s_parsed (ctx, NULL, rc, &err);
}

int
cli_state_is_terminal (Strata__JobState state)
{
    return st_wire_job_state_terminal (state);
}

st_rc_t
cli_request (cli_ctx_t *ctx, Strata__Envelope *req, Strata__Envelope__BodyCase expect, Strata__Envelope **reply,
             st_error_t *err)
{
    *reply = NULL;
    cli_client_t *client = cli_client (ctx, err);
    if (!client)
        return err->rc;
    return cli_client_request (client, req, expect, reply, err);
}

st_rc_t
cli_get_job (cli_ctx_t *ctx, uint64_t id, Strata__Envelope **reply, st_error_t *err)
{
    Strata__Envelope req;
    Strata__GetRequest get = STRATA__GET_REQUEST__INIT;
    st_wire_envelope_init (&req, 0);
    get.job_id = id;
    req.body_case = STRATA__ENVELOPE__BODY_GET;
    req.get = &get;
    st_rc_t rc = cli_request (ctx, &req, STRATA__ENVELOPE__BODY_JOB, reply, err);
    if (rc == ST_ENOTFOUND && !err->hint[0])
        st_error_hint (err, "run 'strata jobs' to list jobs");
    return rc;
}

int
cli_one_job_arg (cli_ctx_t *ctx, const char *cmd, char **positional, int npositional, uint64_t *id)
{
    if (npositional == 0)
        return cli_usage_error (ctx, cmd, "missing JOB argument");
    if (npositional > 1)
        return cli_usage_error (ctx, cmd, "unexpected argument '%s'", positional[1]);
    if (cli_parse_job_id (positional[0], id) != 0)
        return cli_usage_error (ctx, cmd, "JOB must be a positive integer, got '%s'", positional[0]);
    return -1;
}

int
cli_listing (cli_ctx_t *ctx, const cli_listing_t *l, int argc, char **argv)
{
    struct {
        int json;
    } o = { 0 };
    const st_opt_t opts[] = {
        { "json", 0, ST_OPT_BOOL, 0, 0, 0, NULL, l->json_help, NULL, NULL },
        { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL },
    };
    char **pos = NULL;
    int npos = 0;
    Strata__Envelope *reply = NULL;
    json_t *json = NULL;
    st_error_t err;
    st_error_clear (&err);

    int rc = cli_parse_options (ctx, l->name, opts, &o, argc, argv, l->usage, l->description, &pos, &npos);
    if (rc >= 0)
        goto out;
    if (npos > 0) {
        rc = cli_usage_error (ctx, l->name, "unexpected argument '%s'", pos[0]);
        goto out;
    }
    Strata__Envelope req;
    st_wire_envelope_init (&req, 0);
    l->request (&req);
    if (cli_request (ctx, &req, l->reply, &reply, &err) != ST_OK) {
        rc = cli_fail (ctx, &err);
        goto out;
    }
    rc = CLI_EXIT_ERROR;
    if (o.json) {
        if (!(json = l->to_json (reply)) || cli_output_json_print (ctx->out, json) != 0)
            goto out;
    }
    else if (l->print (ctx->out, reply) != 0)
        goto out;
    rc = CLI_EXIT_OK;
out:
    json_decref (json);
    st_wire_free (reply);
    free (pos);
    return rc;
}
