/*  client_identity.c: who sends a client request, and the administration of users and tokens.
 *
 *  st__client_authenticate runs first for every client request (client.c):
 *  a missing, malformed, unknown, revoked or expired token is answered
 *  ERROR_UNAUTHENTICATED with a hint, and the request goes no further.
 *
 *  Who may administer (ERROR_PERMISSION_DENIED otherwise):
 *      whoami                          anyone authenticated
 *      user add, list, remove          admins
 *      token create                    admins
 *      token list, revoke              admins, any token; anyone else, their own tokens
 *  Each change is written first (one committed statement through
 *  st__net_store_t) and then made to the copy in memory (auth.c), so the copy
 *  never holds what the table does not. The text of a new token is answered
 *  once and wiped; only its hash is kept. */
#include "net.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_log.h"
#include "st_time.h"
#include "st_token.h"

#define S_MAX_EXPIRES_S (10ull * 366 * 24 * 3600) /*  ten years  */

static void
s_send (st__net_t *s, const st_peer_t *peer, Strata__Envelope *out)
{
    st_rc_t rc = st_wire_send (s->client_sock, peer, out);
    if (rc != ST_OK)
        st_debug ("could not reply %s to a client: %s", st_wire_body_name (out), st_strerror (rc));
}

static void
s_reply_init (st__net_t *s, Strata__Envelope *out, const Strata__Envelope *env)
{
    st_wire_envelope_init (out, st__net_next_seq (s));
    out->reply_to = env->seq;
}

static Strata__Role
s_wire_role (st__role_t r)
{
    switch (r) {
    case ST__ROLE_VIEWER:
        return STRATA__ROLE__ROLE_VIEWER;
    case ST__ROLE_SUBMITTER:
        return STRATA__ROLE__ROLE_SUBMITTER;
    case ST__ROLE_OPERATOR:
        return STRATA__ROLE__ROLE_OPERATOR;
    case ST__ROLE_ADMIN:
        return STRATA__ROLE__ROLE_ADMIN;
    default:
        return STRATA__ROLE__ROLE_UNSPECIFIED;
    }
}

static st__role_t
s_model_role (Strata__Role r)
{
    switch (r) {
    case STRATA__ROLE__ROLE_VIEWER:
        return ST__ROLE_VIEWER;
    case STRATA__ROLE__ROLE_SUBMITTER:
        return ST__ROLE_SUBMITTER;
    case STRATA__ROLE__ROLE_OPERATOR:
        return ST__ROLE_OPERATOR;
    case STRATA__ROLE__ROLE_ADMIN:
        return ST__ROLE_ADMIN;
    default:
        return ST__ROLE_NONE;
    }
}

/*  A user or tenant name: 1-64 characters of letters, digits, '.', '_', '-' (the tables' CHECK).  */
static int
s_valid_name (const char *name)
{
    size_t n = name ? strlen (name) : 0;
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_'
              || c == '-'))
            return 0;
    }
    return 1;
}

const st__principal_t *
st__client_authenticate (st__net_t *s, const st_peer_t *peer, const Strata__Envelope *env)
{
    const char *token = env->auth_token ? env->auth_token : "";
    const st__principal_t *who = NULL;
    st__auth_result_t r = st__auth_check (&s->auth, token, strlen (token), st_wall_ms (), &who);
    if (r == ST__AUTH_OK)
        return who;
    static const char *const where = "give it with --token, STRATA_TOKEN or ~/.config/strata/token (mode 0600)";
    const char *msg = "the API token is not valid",
               *hint = "ask an admin for a token: strata admin token create USER";
    char buf[256];
    switch (r) {
    case ST__AUTH_MISSING:
        msg = "this scheduler requires an API token and the request has none";
        snprintf (buf, sizeof buf, "%s; an admin makes one with `strata admin token create USER`", where);
        hint = buf;
        break;
    case ST__AUTH_MALFORMED:
        msg = "the API token is malformed";
        snprintf (buf, sizeof buf, "a token is %d-%d characters of letters, digits and \"._~+/=-\"; %s",
                  ST_TOKEN_MIN_LEN, ST_TOKEN_MAX_LEN, where);
        hint = buf;
        break;
    case ST__AUTH_REVOKED:
        msg = "the API token was revoked";
        hint = "ask an admin for a new one: strata admin token create USER";
        break;
    case ST__AUTH_EXPIRED:
        msg = "the API token has expired";
        hint = "ask an admin for a new one: strata admin token create USER";
        break;
    default:
        break;
    }
    s->auth.refused++;
    st_debug ("refused a %s request: %s (unauthenticated=%" PRIu64 ")", st_wire_body_name (env), msg,
              s->auth.refused);
    st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_UNAUTHENTICATED, msg, hint);
    return NULL;
}

void
st__client_whoami (st__net_t *s, const st_peer_t *peer, const st__principal_t *who, const Strata__Envelope *env)
{
    Strata__Envelope out;
    Strata__WhoamiReply rep = STRATA__WHOAMI_REPLY__INIT;
    s_reply_init (s, &out, env);
    rep.user = (char *) who->user;
    rep.role = s_wire_role (who->role);
    rep.tenants = (char **) who->tenants;
    rep.n_tenants = who->ntenants;
    rep.development = who->development != 0;
    rep.token_id = who->token_id;
    out.body_case = STRATA__ENVELOPE__BODY_WHOAMI_REPLY;
    out.whoami_reply = &rep;
    s_send (s, peer, &out);
}

static void
s_done (st__net_t *s, const st_peer_t *peer, const Strata__Envelope *env, const char *message)
{
    Strata__Envelope out;
    Strata__AdminReply rep = STRATA__ADMIN_REPLY__INIT;
    s_reply_init (s, &out, env);
    rep.message = (char *) message;
    out.body_case = STRATA__ENVELOPE__BODY_ADMIN_REPLY;
    out.admin_reply = &rep;
    s_send (s, peer, &out);
}

static int
s_is_admin (const st__principal_t *who)
{
    return who->role == ST__ROLE_ADMIN;
}

/*  Answers ERROR_PERMISSION_DENIED naming what was asked and who asked; returns 0.  */
static int
s_denied (st__net_t *s, const st_peer_t *peer, const st__principal_t *who, const Strata__Envelope *env,
          const char *what)
{
    char msg[256];
    snprintf (msg, sizeof msg, "permission denied: only an admin may %s (you are %s, role %s)", what, who->user,
              st__role_name (who->role));
    st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_PERMISSION_DENIED, msg,
                      "ask an admin; `strata whoami` shows your role");
    return 0;
}

static void
s_error (st__net_t *s, const st_peer_t *peer, const Strata__Envelope *env, const st_error_t *err)
{
    Strata__ErrorCode code = err->rc == ST_ECONFLICT   ? STRATA__ERROR_CODE__ERROR_CONFLICT
                             : err->rc == ST_EINVAL    ? STRATA__ERROR_CODE__ERROR_INVALID
                             : err->rc == ST_ENOTFOUND ? STRATA__ERROR_CODE__ERROR_NOT_FOUND
                                                       : STRATA__ERROR_CODE__ERROR_INTERNAL;
    st__client_error (s, peer, env->seq, code, err->msg, err->hint[0] ? err->hint : NULL);
}

static void
s_user_add (st__net_t *s, const st_peer_t *peer, const Strata__Envelope *env)
{
    const Strata__UserAddRequest *req = env->user_add;
    st_error_t err = { 0 };
    char msg[512];
    if (!s_valid_name (req->name)) {
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_INVALID,
                          "user name: must be 1-64 characters of letters, digits, '.', '_' or '-'", NULL);
        return;
    }
    st__role_t role = s_model_role (req->role);
    if (role == ST__ROLE_NONE) {
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_INVALID, "role: not set or unknown",
                          "roles: viewer, submitter, operator, admin");
        return;
    }
    static const char *const default_tenants[] = { "default" };
    const char *const *tenants = req->n_tenants ? (const char *const *) req->tenants : default_tenants;
    size_t ntenants = req->n_tenants ? req->n_tenants : 1;
    if (ntenants > ST__USER_TENANTS_MAX) {
        snprintf (msg, sizeof msg, "tenants: a user belongs to at most %d tenants", ST__USER_TENANTS_MAX);
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_INVALID, msg, NULL);
        return;
    }
    for (size_t i = 0; i < ntenants; i++) {
        if (!s_valid_name (tenants[i])) {
            st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_INVALID,
                              "tenant: must be 1-64 characters of letters, digits, '.', '_' or '-'", NULL);
            return;
        }
        for (size_t k = 0; k < i; k++)
            if (!strcmp (tenants[i], tenants[k])) {
                snprintf (msg, sizeof msg, "tenant %s is named twice", tenants[i]);
                st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_INVALID, msg, NULL);
                return;
            }
    }
    if (st__auth_user_named (&s->auth, req->name)) {
        snprintf (msg, sizeof msg, "user %s already exists", req->name);
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_CONFLICT, msg,
                          "see `strata admin user list`; remove it first to change it");
        return;
    }
    st__user_record_t rec = { 0 };
    st_rc_t rc = s->store.user_add ? s->store.user_add (s->store.ctx, req->name, role, tenants, ntenants, &rec.id,
                                                        &rec.created_unix_ms, &err)
                                   : st_error_set (&err, ST_EDB, NULL, "no database");
    if (rc != ST_OK) {
        s_error (s, peer, env, &err);
        return;
    }
    rec.name = strdup (req->name);
    rec.role = role;
    rec.tenants = calloc (ntenants, sizeof *rec.tenants);
    if (!rec.name || !rec.tenants)
        abort ();
    size_t at = 0;
    at += (size_t) snprintf (msg, sizeof msg, "user %s added (role %s, tenants ", req->name, st__role_name (role));
    for (size_t i = 0; i < ntenants; i++) {
        if (!(rec.tenants[i] = strdup (tenants[i])))
            abort ();
        if (at < sizeof msg)
            at += (size_t) snprintf (msg + at, sizeof msg - at, "%s%s", i ? ", " : "", tenants[i]);
    }
    rec.ntenants = ntenants;
    if (at < sizeof msg)
        snprintf (msg + at, sizeof msg - at, ")");
    st__auth_user_add (&s->auth, &rec);
    st_info ("%s", msg);
    if (s->auth.development)
        st_info ("development install: requests without a token are still the local admin until the scheduler "
                 "restarts; from then on every request needs a token");
    s_done (s, peer, env, msg);
}

static int
s_by_user_name (const void *a, const void *b)
{
    return strcmp ((*(Strata__UserInfo *const *) a)->name, (*(Strata__UserInfo *const *) b)->name);
}

static void
s_user_list (st__net_t *s, const st_peer_t *peer, const Strata__Envelope *env)
{
    size_t n = 0;
    Strata__UserInfo *infos = calloc (s->auth.nusers + 1, sizeof *infos);
    Strata__UserInfo **list = calloc (s->auth.nusers + 1, sizeof *list);
    if (!infos || !list)
        abort ();
    for (size_t i = 0; i < s->auth.nusers; i++) {
        const st__auth_user_t *u = s->auth.users[i];
        if (u->removed)
            continue;
        Strata__UserInfo *ui = &infos[n];
        strata__user_info__init (ui);
        ui->name = u->rec.name;
        ui->role = s_wire_role (u->rec.role);
        ui->tenants = u->rec.tenants;
        ui->n_tenants = u->rec.ntenants;
        ui->created_unix_ms = u->rec.created_unix_ms;
        list[n++] = ui;
    }
    qsort (list, n, sizeof *list, s_by_user_name);
    Strata__Envelope out;
    Strata__UserListReply rep = STRATA__USER_LIST_REPLY__INIT;
    s_reply_init (s, &out, env);
    rep.users = list;
    rep.n_users = n;
    out.body_case = STRATA__ENVELOPE__BODY_USER_LIST_REPLY;
    out.user_list_reply = &rep;
    if (st_wire_send (s->client_sock, peer, &out) == ST_ETOOBIG)
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_INTERNAL, "the user list is too large to send",
                          NULL);
    free (list);
    free (infos);
}

static void
s_user_remove (st__net_t *s, const st_peer_t *peer, const Strata__Envelope *env)
{
    const char *name = env->user_remove->name ? env->user_remove->name : "";
    char msg[256];
    st__auth_user_t *u = st__auth_user_named (&s->auth, name);
    if (!u) {
        snprintf (msg, sizeof msg, "no user %.64s", name);
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_NOT_FOUND, msg,
                          "list users with `strata admin user list`");
        return;
    }
    size_t admins = 0;
    st__auth_live_users (&s->auth, &admins);
    if (u->rec.role == ST__ROLE_ADMIN && admins == 1) {
        snprintf (msg, sizeof msg, "%s is the last admin: removing it would leave nobody to administer users", name);
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_CONFLICT, msg, "add another admin first");
        return;
    }
    st_error_t err = { 0 };
    st_rc_t rc = s->store.user_remove ? s->store.user_remove (s->store.ctx, u->rec.id, &err)
                                      : st_error_set (&err, ST_EDB, NULL, "no database");
    if (rc != ST_OK) {
        s_error (s, peer, env, &err);
        return;
    }
    size_t ntokens = 0;
    for (size_t i = 0; i < s->auth.ntokens; i++)
        ntokens += s->auth.tokens[i]->user == u && !s->auth.tokens[i]->rec.revoked;
    st__auth_user_remove (&s->auth, u);
    snprintf (msg, sizeof msg, "user %s removed; %zu token(s) revoked", name, ntokens);
    st_info ("%s", msg);
    s_done (s, peer, env, msg);
}

static void
s_token_info (Strata__TokenInfo *ti, const st__auth_token_t *t)
{
    strata__token_info__init (ti);
    ti->id = t->rec.id;
    ti->user = t->user->rec.name;
    ti->created_unix_ms = t->rec.created_unix_ms;
    ti->expires_unix_ms = t->rec.expires_unix_ms;
    ti->revoked = t->rec.revoked != 0;
}

static void
s_token_create (st__net_t *s, const st_peer_t *peer, const Strata__Envelope *env)
{
    const Strata__TokenCreateRequest *req = env->token_create;
    char msg[256];
    st__auth_user_t *u = st__auth_user_named (&s->auth, req->user ? req->user : "");
    if (!u) {
        snprintf (msg, sizeof msg, "no user %.64s", req->user ? req->user : "");
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_NOT_FOUND, msg,
                          "add it first with `strata admin user add`");
        return;
    }
    if (req->expires_in_s > S_MAX_EXPIRES_S) {
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_INVALID,
                          "expires: at most ten years (or never: leave it out)", NULL);
        return;
    }
    char token[ST_TOKEN_TEXT_SIZE];
    if (st_token_generate (token, sizeof token) != ST_OK) {
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_INTERNAL,
                          "cannot make a token: no source of randomness", NULL);
        return;
    }
    st__apitoken_record_t rec = { 0 };
    rec.user_id = u->rec.id;
    st_token_hash (token, strlen (token), rec.hash);
    rec.expires_unix_ms = req->expires_in_s ? st_wall_ms () + req->expires_in_s * 1000u : 0;
    st_error_t err = { 0 };
    st_rc_t rc = s->store.token_add ? s->store.token_add (s->store.ctx, rec.user_id, rec.hash, rec.expires_unix_ms,
                                                          &rec.id, &rec.created_unix_ms, &err)
                                    : st_error_set (&err, ST_EDB, NULL, "no database");
    if (rc != ST_OK) {
        sodium_memzero (token, sizeof token);
        s_error (s, peer, env, &err);
        return;
    }
    st__auth_token_t *t = st__auth_token_add (&s->auth, &rec);
    if (!t)
        abort (); /*  a 256-bit hash twice, or a user that vanished while the loop held it  */
    st_info ("API token %" PRIu64 " created for user %s%s", rec.id, u->rec.name,
             rec.expires_unix_ms ? " (it expires)" : "");
    Strata__Envelope out;
    Strata__TokenCreateReply rep = STRATA__TOKEN_CREATE_REPLY__INIT;
    Strata__TokenInfo ti;
    s_token_info (&ti, t);
    s_reply_init (s, &out, env);
    rep.info = &ti;
    rep.token = token;
    out.body_case = STRATA__ENVELOPE__BODY_TOKEN_CREATE_REPLY;
    out.token_create_reply = &rep;
    s_send (s, peer, &out);
    sodium_memzero (token, sizeof token);
}

static void
s_token_list (st__net_t *s, const st_peer_t *peer, const st__principal_t *who, const Strata__Envelope *env)
{
    const char *user = env->token_list->user ? env->token_list->user : "";
    /*  Anyone but an admin sees only their own tokens.  */
    if (!s_is_admin (who)) {
        if (*user && strcmp (user, who->user)) {
            s_denied (s, peer, who, env, "list another user's tokens");
            return;
        }
        user = who->user;
    }
    Strata__TokenInfo *infos = calloc (s->auth.ntokens + 1, sizeof *infos);
    Strata__TokenInfo **list = calloc (s->auth.ntokens + 1, sizeof *list);
    if (!infos || !list)
        abort ();
    size_t n = 0;
    for (size_t i = 0; i < s->auth.ntokens; i++) {
        const st__auth_token_t *t = s->auth.tokens[i];
        if (t->user->removed || (*user && strcmp (t->user->rec.name, user)))
            continue;
        s_token_info (&infos[n], t);
        list[n] = &infos[n];
        n++;
    }
    Strata__Envelope out;
    Strata__TokenListReply rep = STRATA__TOKEN_LIST_REPLY__INIT;
    s_reply_init (s, &out, env);
    rep.tokens = list;
    rep.n_tokens = n;
    out.body_case = STRATA__ENVELOPE__BODY_TOKEN_LIST_REPLY;
    out.token_list_reply = &rep;
    if (st_wire_send (s->client_sock, peer, &out) == ST_ETOOBIG)
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_INTERNAL,
                          "the token list is too large to send", "list one user's tokens");
    free (list);
    free (infos);
}

static void
s_token_revoke (st__net_t *s, const st_peer_t *peer, const st__principal_t *who, const Strata__Envelope *env)
{
    uint64_t id = env->token_revoke->id;
    char msg[256];
    st__auth_token_t *t = st__auth_token_by_id (&s->auth, id);
    if (!t || t->user->removed) {
        snprintf (msg, sizeof msg, "no API token %" PRIu64, id);
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_NOT_FOUND, msg,
                          "list tokens with `strata admin token list`");
        return;
    }
    if (!s_is_admin (who) && (who->development || strcmp (t->user->rec.name, who->user))) {
        s_denied (s, peer, who, env, "revoke another user's token");
        return;
    }
    if (t->rec.revoked) {
        snprintf (msg, sizeof msg, "API token %" PRIu64 " was already revoked", id);
        s_done (s, peer, env, msg);
        return;
    }
    st_error_t err = { 0 };
    st_rc_t rc = s->store.token_revoke ? s->store.token_revoke (s->store.ctx, id, &err)
                                       : st_error_set (&err, ST_EDB, NULL, "no database");
    if (rc != ST_OK) {
        s_error (s, peer, env, &err);
        return;
    }
    t->rec.revoked = 1;
    snprintf (msg, sizeof msg, "API token %" PRIu64 " of user %s revoked", id, t->user->rec.name);
    st_info ("%s", msg);
    s_done (s, peer, env, msg);
}

void
st__client_admin (st__net_t *s, const st_peer_t *peer, const st__principal_t *who, const Strata__Envelope *env)
{
    switch (env->body_case) {
    case STRATA__ENVELOPE__BODY_USER_ADD:
        if (s_is_admin (who) || s_denied (s, peer, who, env, "add users"))
            s_user_add (s, peer, env);
        return;
    case STRATA__ENVELOPE__BODY_USER_LIST:
        if (s_is_admin (who) || s_denied (s, peer, who, env, "list users"))
            s_user_list (s, peer, env);
        return;
    case STRATA__ENVELOPE__BODY_USER_REMOVE:
        if (s_is_admin (who) || s_denied (s, peer, who, env, "remove users"))
            s_user_remove (s, peer, env);
        return;
    case STRATA__ENVELOPE__BODY_TOKEN_CREATE:
        if (s_is_admin (who) || s_denied (s, peer, who, env, "create tokens"))
            s_token_create (s, peer, env);
        return;
    case STRATA__ENVELOPE__BODY_TOKEN_LIST:
        s_token_list (s, peer, who, env);
        return;
    case STRATA__ENVELOPE__BODY_TOKEN_REVOKE:
        s_token_revoke (s, peer, who, env);
        return;
    default:
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_INVALID, "not an administration request",
                          NULL);
        return;
    }
}
