/*  cmd_admin.c: `strata admin user|token ...`: users, their roles and tenants, and API tokens.
 *
 *      strata admin user add NAME --role ROLE --tenant T [--tenant T2 ...]
 *      strata admin user list [--json]
 *      strata admin user remove NAME
 *      strata admin token create USER [--expires DUR]
 *      strata admin token list [--user NAME] [--json]
 *      strata admin token revoke ID
 *
 *  Admins only, except that anyone may list and revoke their own tokens. A new
 *  token is printed once, alone on stdout, so `> alice.token` captures it; the
 *  scheduler keeps only its hash. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "output.h"
#include "st_time.h"

static const char s_admin_usage[] =
    "usage: strata admin user add NAME --role ROLE --tenant T [--tenant T2 ...]\n"
    "       strata admin user list [--json]\n"
    "       strata admin user remove NAME\n"
    "       strata admin token create USER [--expires DUR]\n"
    "       strata admin token list [--user NAME] [--json]\n"
    "       strata admin token revoke ID\n"
    "\n"
    "Manages who may use the scheduler. A user has one role (viewer < submitter <\n"
    "operator < admin) and belongs to one or more tenants, the first being the\n"
    "default tenant of its submissions. A user proves who it is with an API token\n"
    "(strata --token, $STRATA_TOKEN or ~/.config/strata/token). Only admins may run\n"
    "these commands, except that anyone may list and revoke their own tokens.\n"
    "\n"
    "Run 'strata admin user add --help' (or any other) for a command's options.\n"
    "\n"
    "examples:\n"
    "  strata admin user add alice --role submitter --tenant vision --tenant shared\n"
    "  strata admin token create alice --expires 90d > alice.token && chmod 600 alice.token\n"
    "  strata admin token list --user alice\n";

static Strata__Role
s_role_parse (const char *name)
{
    static const Strata__Role roles[] = { STRATA__ROLE__ROLE_VIEWER, STRATA__ROLE__ROLE_SUBMITTER,
                                          STRATA__ROLE__ROLE_OPERATOR, STRATA__ROLE__ROLE_ADMIN };
    for (size_t i = 0; name && i < sizeof roles / sizeof *roles; i++)
        if (!strcmp (name, cli_role_name (roles[i])))
            return roles[i];
    return STRATA__ROLE__ROLE_UNSPECIFIED;
}

/*  Sends req and prints the AdminReply's message on stdout.  */
static int
s_simple (cli_ctx_t *ctx, Strata__Envelope *req)
{
    Strata__Envelope *reply = NULL;
    st_error_t err;
    st_error_clear (&err);
    if (cli_request (ctx, req, STRATA__ENVELOPE__BODY_ADMIN_REPLY, &reply, &err) != ST_OK)
        return cli_fail (ctx, &err);
    char buf[512];
    fprintf (ctx->out, "%s\n", cli_text_fit (reply->admin_reply->message, 0, buf, sizeof buf));
    st_wire_free (reply);
    return CLI_EXIT_OK;
}

/*  -- user add ---------------------------------------------------------------  */

typedef struct {
    char *role;
    st_kv_t tenants;
} s_user_add_t;

static const st_opt_t s_user_add_opts[] = {
    { "role", 0, ST_OPT_STRING, offsetof (s_user_add_t, role), 0, 0, "ROLE",
      "viewer, submitter, operator or admin (required)", NULL, NULL },
    { "tenant", 0, ST_OPT_STRINGS, offsetof (s_user_add_t, tenants), 0, 0, "TENANT",
      "a tenant the user belongs to; repeat for several, the first is the default (default: default)", NULL, NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL },
};

static int
s_user_add (cli_ctx_t *ctx, int argc, char **argv)
{
    static const char cmd[] = "admin user add";
    s_user_add_t o = { 0 };
    char **pos = NULL;
    int npos = 0;
    int rc = cli_parse_options (ctx, cmd, s_user_add_opts, &o, argc, argv,
                                "strata admin user add NAME --role ROLE --tenant T [--tenant T2 ...]",
                                "Adds a user: its role (viewer < submitter < operator < admin) and the tenants it\n"
                                "belongs to, in order (the first is the default tenant of its submissions;\n"
                                "tenants are created as needed). The user can do nothing until it has a token:\n"
                                "`strata admin token create NAME`. Admins only.\n"
                                "\n"
                                "examples:\n"
                                "  strata admin user add alice --role submitter --tenant vision\n"
                                "  strata admin user add ops --role operator --tenant vision --tenant speech",
                                &pos, &npos);
    if (rc >= 0)
        goto out;
    if (npos != 1) {
        rc = npos ? cli_usage_error (ctx, cmd, "unexpected argument '%s'", pos[1])
                  : cli_usage_error (ctx, cmd, "missing NAME argument");
        goto out;
    }
    if (!o.role || !*o.role) {
        rc = cli_usage_error (ctx, cmd, "--role is required (viewer, submitter, operator or admin)");
        goto out;
    }
    Strata__Role role = s_role_parse (o.role);
    if (role == STRATA__ROLE__ROLE_UNSPECIFIED) {
        rc = cli_usage_error (ctx, cmd, "--role: unknown role '%s' (viewer, submitter, operator or admin)", o.role);
        goto out;
    }
    Strata__Envelope req;
    Strata__UserAddRequest add = STRATA__USER_ADD_REQUEST__INIT;
    st_wire_envelope_init (&req, 0);
    add.name = pos[0];
    add.role = role;
    add.tenants = o.tenants.keys;
    add.n_tenants = o.tenants.n;
    req.body_case = STRATA__ENVELOPE__BODY_USER_ADD;
    req.user_add = &add;
    rc = s_simple (ctx, &req);
out:
    free (pos);
    st_config_free (s_user_add_opts, &o);
    return rc;
}

/*  -- user list --------------------------------------------------------------  */

static void
s_user_list_request (Strata__Envelope *req)
{
    static Strata__UserListRequest list = STRATA__USER_LIST_REQUEST__INIT;
    req->body_case = STRATA__ENVELOPE__BODY_USER_LIST;
    req->user_list = &list;
}

static json_t *
s_user_list_json (const Strata__Envelope *reply)
{
    const Strata__UserListReply *r = reply->user_list_reply;
    json_t *a = json_array ();
    for (size_t i = 0; a && i < r->n_users; i++) {
        const Strata__UserInfo *u = r->users[i];
        json_t *tenants = json_array ();
        for (size_t k = 0; tenants && k < u->n_tenants; k++)
            json_array_append_new (tenants, cli_output_json_str (u->tenants[k]));
        json_t *o = json_pack ("{s:o, s:s, s:o, s:I}", "name", cli_output_json_str (u->name), "role",
                               cli_role_name (u->role), "tenants", tenants ? tenants : json_array (),
                               "created_unix_ms", (json_int_t) u->created_unix_ms);
        if (!o || json_array_append_new (a, o) != 0) {
            json_decref (a);
            return NULL;
        }
    }
    return a;
}

static int
s_user_list_print (FILE *out, const Strata__Envelope *reply)
{
    const Strata__UserListReply *r = reply->user_list_reply;
    static const char *const headers[] = { "NAME", "ROLE", "TENANTS", "CREATED" };
    cli_table_t *t = cli_table_new (4, headers);
    int rc = t ? 0 : -1;
    uint64_t now = st_wall_ms ();
    for (size_t i = 0; rc == 0 && i < r->n_users; i++) {
        const Strata__UserInfo *u = r->users[i];
        char tenants[1024] = "", age[32], when[48];
        size_t at = 0;
        for (size_t k = 0; k < u->n_tenants && at < sizeof tenants; k++)
            at += (size_t) snprintf (tenants + at, sizeof tenants - at, "%s%s", k ? "," : "", u->tenants[k]);
        snprintf (when, sizeof when, "%s ago", cli_format_age (now, u->created_unix_ms, age, sizeof age));
        const char *cells[] = { u->name, cli_role_name (u->role), tenants, when };
        rc = cli_table_add (t, cells);
    }
    if (rc == 0)
        rc = cli_table_print (t, out);
    cli_table_destroy (&t);
    return rc;
}

static const cli_listing_t s_user_list = {
    .name = "admin user list",
    .usage = "strata admin user list [--json]",
    .description = "Lists the users: name, role, tenants (the first is the default) and when each\n"
                   "was added. Admins only.\n"
                   "\n"
                   "examples:\n"
                   "  strata admin user list\n"
                   "  strata admin user list --json | jq -r '.[] | select(.role == \"admin\") | .name'",
    .json_help = "print a JSON array of users: name, role, tenants, created_unix_ms",
    .request = s_user_list_request,
    .reply = STRATA__ENVELOPE__BODY_USER_LIST_REPLY,
    .to_json = s_user_list_json,
    .print = s_user_list_print,
};

/*  -- user remove ------------------------------------------------------------  */

static const st_opt_t s_no_opts[] = {
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL },
};

/*  Parses a command whose only argument is one word; returns -1 to go on.  */
static int
s_one_arg (cli_ctx_t *ctx, const char *cmd, int argc, char **argv, const char *usage, const char *description,
           const char *what, char ***pos)
{
    int npos = 0, unused = 0;
    int rc = cli_parse_options (ctx, cmd, s_no_opts, &unused, argc, argv, usage, description, pos, &npos);
    if (rc >= 0)
        return rc;
    if (npos == 0)
        return cli_usage_error (ctx, cmd, "missing %s argument", what);
    if (npos > 1)
        return cli_usage_error (ctx, cmd, "unexpected argument '%s'", (*pos)[1]);
    return -1;
}

static int
s_user_remove (cli_ctx_t *ctx, int argc, char **argv)
{
    char **pos = NULL;
    int rc = s_one_arg (ctx, "admin user remove", argc, argv, "strata admin user remove NAME",
                        "Removes a user and revokes every token it has. Its jobs stay; the rows of\n"
                        "the user and its tokens are kept for audit. The last admin cannot be\n"
                        "removed. Admins only.\n"
                        "\n"
                        "example:\n"
                        "  strata admin user remove alice",
                        "NAME", &pos);
    if (rc < 0) {
        Strata__Envelope req;
        Strata__UserRemoveRequest rm = STRATA__USER_REMOVE_REQUEST__INIT;
        st_wire_envelope_init (&req, 0);
        rm.name = pos[0];
        req.body_case = STRATA__ENVELOPE__BODY_USER_REMOVE;
        req.user_remove = &rm;
        rc = s_simple (ctx, &req);
    }
    free (pos);
    return rc;
}

/*  -- token create -----------------------------------------------------------  */

typedef struct {
    uint64_t expires_ms;
} s_token_create_t;

static const st_opt_t s_token_create_opts[] = {
    { "expires", 0, ST_OPT_DURATION_MS, offsetof (s_token_create_t, expires_ms), 1000, 316224000000, "DUR",
      "the token stops working after this long, e.g. 1h, 90d (default: never)", NULL, NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL },
};

static int
s_token_create (cli_ctx_t *ctx, int argc, char **argv)
{
    static const char cmd[] = "admin token create";
    s_token_create_t o = { 0 };
    char **pos = NULL;
    int npos = 0;
    int rc = cli_parse_options (ctx, cmd, s_token_create_opts, &o, argc, argv,
                                "strata admin token create USER [--expires DUR]",
                                "Makes a new API token for USER and prints it, alone on one line of stdout. It\n"
                                "is shown this once: the scheduler keeps only its SHA-256. Give it to the user,\n"
                                "who passes it with --token, STRATA_TOKEN or the file ~/.config/strata/token\n"
                                "(mode 0600). Admins only.\n"
                                "\n"
                                "examples:\n"
                                "  strata admin token create alice > alice.token && chmod 600 alice.token\n"
                                "  strata admin token create ci-bot --expires 30d",
                                &pos, &npos);
    if (rc >= 0)
        goto out;
    if (npos != 1) {
        rc = npos ? cli_usage_error (ctx, cmd, "unexpected argument '%s'", pos[1])
                  : cli_usage_error (ctx, cmd, "missing USER argument");
        goto out;
    }
    Strata__Envelope req, *reply = NULL;
    Strata__TokenCreateRequest create = STRATA__TOKEN_CREATE_REQUEST__INIT;
    st_wire_envelope_init (&req, 0);
    create.user = pos[0];
    create.expires_in_s = (o.expires_ms + 999) / 1000;
    req.body_case = STRATA__ENVELOPE__BODY_TOKEN_CREATE;
    req.token_create = &create;
    st_error_t err;
    st_error_clear (&err);
    if (cli_request (ctx, &req, STRATA__ENVELOPE__BODY_TOKEN_CREATE_REPLY, &reply, &err) != ST_OK) {
        rc = cli_fail (ctx, &err);
        goto out;
    }
    const Strata__TokenCreateReply *r = reply->token_create_reply;
    fprintf (ctx->out, "%s\n", r->token);
    fflush (ctx->out);
    if (r->info)
        fprintf (ctx->err, "strata: token %llu for user %s; it is shown only this once\n",
                 (unsigned long long) r->info->id, pos[0]);
    memset (r->token, 0, strlen (r->token));
    st_wire_free (reply);
    rc = CLI_EXIT_OK;
out:
    free (pos);
    st_config_free (s_token_create_opts, &o);
    return rc;
}

/*  -- token list -------------------------------------------------------------  */

typedef struct {
    char *user;
    int json;
} s_token_list_t;

static const st_opt_t s_token_list_opts[] = {
    { "user", 0, ST_OPT_STRING, offsetof (s_token_list_t, user), 0, 0, "NAME", "only this user's tokens", NULL,
      NULL },
    { "json", 0, ST_OPT_BOOL, offsetof (s_token_list_t, json), 0, 0, NULL,
      "print a JSON array of tokens: id, user, created_unix_ms, expires_unix_ms (0: never), revoked", NULL, NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL },
};

static int
s_token_list (cli_ctx_t *ctx, int argc, char **argv)
{
    static const char cmd[] = "admin token list";
    s_token_list_t o = { 0 };
    char **pos = NULL;
    int npos = 0;
    json_t *json = NULL;
    Strata__Envelope *reply = NULL;
    int rc = cli_parse_options (
        ctx, cmd, s_token_list_opts, &o, argc, argv, "strata admin token list [--user NAME] [--json]",
        "Lists API tokens: id, user, age, expiry and whether each is active, expired\n"
        "or revoked. Never the tokens themselves: the scheduler does not have them.\n"
        "An admin sees every user's tokens; anyone else sees their own.\n"
        "\n"
        "examples:\n"
        "  strata admin token list\n"
        "  strata admin token list --user alice --json | jq '.[] | select(.revoked | not) | .id'",
        &pos, &npos);
    if (rc >= 0)
        goto out;
    if (npos) {
        rc = cli_usage_error (ctx, cmd, "unexpected argument '%s'", pos[0]);
        goto out;
    }
    Strata__Envelope req;
    Strata__TokenListRequest list = STRATA__TOKEN_LIST_REQUEST__INIT;
    st_wire_envelope_init (&req, 0);
    list.user = o.user ? o.user : "";
    req.body_case = STRATA__ENVELOPE__BODY_TOKEN_LIST;
    req.token_list = &list;
    st_error_t err;
    st_error_clear (&err);
    if (cli_request (ctx, &req, STRATA__ENVELOPE__BODY_TOKEN_LIST_REPLY, &reply, &err) != ST_OK) {
        rc = cli_fail (ctx, &err);
        goto out;
    }
    const Strata__TokenListReply *r = reply->token_list_reply;
    uint64_t now = st_wall_ms ();
    rc = CLI_EXIT_ERROR;
    if (o.json) {
        json = json_array ();
        for (size_t i = 0; json && i < r->n_tokens; i++) {
            const Strata__TokenInfo *t = r->tokens[i];
            json_t *e = json_pack ("{s:I, s:o, s:I, s:I, s:b}", "id", (json_int_t) t->id, "user",
                                   cli_output_json_str (t->user), "created_unix_ms", (json_int_t) t->created_unix_ms,
                                   "expires_unix_ms", (json_int_t) t->expires_unix_ms, "revoked", t->revoked);
            if (!e || json_array_append_new (json, e) != 0)
                goto out;
        }
        if (!json || cli_output_json_print (ctx->out, json) != 0)
            goto out;
    }
    else {
        static const char *const headers[] = { "ID", "USER", "CREATED", "EXPIRES", "STATE" };
        cli_table_t *t = cli_table_new (5, headers);
        int trc = t ? 0 : -1;
        if (t)
            cli_table_align_right (t, 0);
        for (size_t i = 0; trc == 0 && i < r->n_tokens; i++) {
            const Strata__TokenInfo *ti = r->tokens[i];
            char id[24], age[32], created[48], left[32], expires[48];
            snprintf (id, sizeof id, "%llu", (unsigned long long) ti->id);
            snprintf (created, sizeof created, "%s ago", cli_format_age (now, ti->created_unix_ms, age, sizeof age));
            int expired = ti->expires_unix_ms && ti->expires_unix_ms <= now;
            if (!ti->expires_unix_ms)
                snprintf (expires, sizeof expires, "never");
            else if (expired)
                snprintf (expires, sizeof expires, "%s ago",
                          cli_format_age (now, ti->expires_unix_ms, left, sizeof left));
            else
                snprintf (expires, sizeof expires, "in %s",
                          cli_format_duration (ti->expires_unix_ms - now, left, sizeof left));
            const char *cells[] = { id, ti->user, created, expires,
                                    ti->revoked ? "revoked"
                                    : expired   ? "expired"
                                                : "active" };
            trc = cli_table_add (t, cells);
        }
        if (trc == 0)
            trc = cli_table_print (t, ctx->out);
        cli_table_destroy (&t);
        if (trc != 0)
            goto out;
    }
    rc = CLI_EXIT_OK;
out:
    json_decref (json);
    st_wire_free (reply);
    free (pos);
    st_config_free (s_token_list_opts, &o);
    return rc;
}

/*  -- token revoke -----------------------------------------------------------  */

static int
s_token_revoke (cli_ctx_t *ctx, int argc, char **argv)
{
    static const char cmd[] = "admin token revoke";
    char **pos = NULL;
    int rc = s_one_arg (ctx, cmd, argc, argv, "strata admin token revoke ID",
                        "Revokes an API token at once: the next request that carries it is refused.\n"
                        "ID is from `strata admin token list`. An admin may revoke any token; anyone\n"
                        "else, their own.\n"
                        "\n"
                        "example:\n"
                        "  strata admin token revoke 7",
                        "ID", &pos);
    if (rc < 0) {
        uint64_t id = 0;
        if (cli_parse_job_id (pos[0], &id) != 0)
            rc = cli_usage_error (ctx, cmd, "ID must be a positive integer, got '%s'", pos[0]);
        else {
            Strata__Envelope req;
            Strata__TokenRevokeRequest rv = STRATA__TOKEN_REVOKE_REQUEST__INIT;
            st_wire_envelope_init (&req, 0);
            rv.id = id;
            req.body_case = STRATA__ENVELOPE__BODY_TOKEN_REVOKE;
            req.token_revoke = &rv;
            rc = s_simple (ctx, &req);
        }
    }
    free (pos);
    return rc;
}

/*  -- dispatch ---------------------------------------------------------------  */

static int
s_exec (cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc < 2 || !strcmp (argv[1], "--help") || !strcmp (argv[1], "-h") || !strcmp (argv[1], "help")) {
        fputs (s_admin_usage, argc < 2 ? ctx->err : ctx->out);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    const char *noun = argv[1];
    const char *verb = argc > 2 ? argv[2] : NULL;
    int is_user = !strcmp (noun, "user"), is_token = !strcmp (noun, "token");
    if (!is_user && !is_token)
        return cli_usage_error (ctx, "admin", "unknown admin command '%s' (user or token)", noun);
    if (!verb || !strcmp (verb, "--help") || !strcmp (verb, "-h")) {
        fputs (s_admin_usage, verb ? ctx->out : ctx->err);
        return verb ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    /*  argv + 2: the verb is the sub-command's argv[0].  */
    if (is_user && !strcmp (verb, "add"))
        return s_user_add (ctx, argc - 2, argv + 2);
    if (is_user && !strcmp (verb, "list"))
        return cli_listing (ctx, &s_user_list, argc - 2, argv + 2);
    if (is_user && !strcmp (verb, "remove"))
        return s_user_remove (ctx, argc - 2, argv + 2);
    if (is_token && !strcmp (verb, "create"))
        return s_token_create (ctx, argc - 2, argv + 2);
    if (is_token && !strcmp (verb, "list"))
        return s_token_list (ctx, argc - 2, argv + 2);
    if (is_token && !strcmp (verb, "revoke"))
        return s_token_revoke (ctx, argc - 2, argv + 2);
    return cli_usage_error (ctx, "admin", "unknown command 'admin %s %s' (%s)", noun, verb,
                            is_user ? "add, list or remove" : "create, list or revoke");
}

const cli_cmd_t cli_cmd_admin = { "admin", "manage users and API tokens (admins)", s_exec };
