/*  sched_identity.c: users and API tokens at start-up: load, bootstrap, development install.
 *
 *  store/ reads the users and tokens, net/ keeps them (auth.c); this file
 *  hands the one to the other, as sched.c does for the rest of the model, and
 *  decides how requests are authenticated for this run:
 *
 *    --bootstrap-token-file FILE   the token in FILE becomes user admin's
 *                                  (role admin, tenant default) when no admin
 *                                  exists; ignored (with a line saying so) once
 *                                  one does. Tokens are required.
 *    no file, no user in the table, and the client and event endpoints on
 *    loopback (or ipc://)          single-user development install: a request
 *                                  without a token is the local admin; said
 *                                  at start-up with how to leave it.
 *    anything else                 tokens are required (a warning with a hint
 *                                  when there is no user at all).
 *
 *  The worker endpoint does not count: it carries no client request (workers
 *  are authenticated by CURVE), and a development install may well have its
 *  workers elsewhere. The mode is fixed for the run: a user added in a
 *  development install needs a token from the next start on. */
#include "sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_log.h"
#include "st_token.h"

/*  The endpoint is reachable only from this machine: loopback TCP, ipc or inproc.  */
static int
s_endpoint_local (const char *ep)
{
    if (!ep)
        return 0;
    if (!strncmp (ep, "ipc://", 6) || !strncmp (ep, "inproc://", 9))
        return 1;
    if (strncmp (ep, "tcp://", 6))
        return 0;
    const char *host = ep + 6;
    return !strncmp (host, "127.", 4) || !strncmp (host, "localhost:", 10) || !strncmp (host, "[::1]:", 6);
}

static st_rc_t
s_bootstrap (st__sched_t *s, st_error_t *err)
{
    char token[ST_TOKEN_MAX_LEN + 1];
    st_rc_t rc = st_token_read_file (s->cfg.bootstrap_token_file, token, sizeof token, err);
    if (rc != ST_OK) {
        /*  Name the option: the file's own message says only what is wrong with it.  */
        char msg[sizeof err->msg - 32];
        snprintf (msg, sizeof msg, "%.*s", (int) sizeof msg - 1, err->msg);
        snprintf (err->msg, sizeof err->msg, "--bootstrap-token-file: %s", msg);
        return rc;
    }
    st__apitoken_record_t rec = { 0 };
    st_token_hash (token, strlen (token), rec.hash);
    memset (token, 0, sizeof token);
    size_t admins = 0;
    st__auth_live_users (&s->net.auth, &admins);
    if (admins) {
        st_info ("--bootstrap-token-file: an admin exists already, the file's token is not added "
                 "(manage tokens with `strata admin token`)");
        return ST_OK;
    }
    st__user_record_t user = { 0 };
    st__auth_user_t *u = st__auth_user_named (&s->net.auth, "admin");
    if (u) {
        st_error_set (err, ST_ECONFLICT, NULL,
                      "--bootstrap-token-file: no admin exists, but user \"admin\" does, with role %s",
                      st__role_name (u->rec.role));
        st_error_hint (err, "remove that user, or make another admin, then start again");
        return ST_ECONFLICT;
    }
    const char *tenants[] = { "default" };
    if ((rc = st__store_user_add (&s->store, "admin", ST__ROLE_ADMIN, tenants, 1, &user.id, &user.created_unix_ms,
                                  err))
        != ST_OK)
        return rc;
    user.name = strdup ("admin");
    user.tenants = calloc (1, sizeof *user.tenants);
    if (!user.name || !user.tenants || !(user.tenants[0] = strdup ("default")))
        abort ();
    user.ntenants = 1;
    user.role = ST__ROLE_ADMIN;
    rec.user_id = user.id;
    st__auth_user_add (&s->net.auth, &user);
    if ((rc = st__store_token_add (&s->store, rec.user_id, rec.hash, 0, &rec.id, &rec.created_unix_ms, err)) != ST_OK)
        return rc;
    if (!st__auth_token_add (&s->net.auth, &rec))
        abort ();
    st_info ("--bootstrap-token-file: user admin (role admin, tenant default) created with the file's token "
             "(token %llu)",
             (unsigned long long) rec.id);
    return ST_OK;
}

st_rc_t
st__sched_identity (st__sched_t *s, st_error_t *err)
{
    s->net.auth.development = 0;
    if (st_token_init () != 0)
        return st_error_set (err, ST_EIO, NULL, "cannot initialise libsodium (no source of randomness)");
    st__user_record_t *users = NULL;
    st__apitoken_record_t *tokens = NULL;
    size_t nusers = 0, ntokens = 0;
    st_rc_t rc = st__store_identity_load (&s->store, &users, &nusers, &tokens, &ntokens, err);
    if (rc != ST_OK)
        return rc;
    st__auth_load (&s->net.auth, users, nusers, tokens, ntokens);
    free (users); /*  the strings moved to net/  */
    free (tokens);
    if (s->cfg.bootstrap_token_file && (rc = s_bootstrap (s, err)) != ST_OK)
        return rc;
    size_t admins = 0, live = st__auth_live_users (&s->net.auth, &admins);
    int local = s_endpoint_local (s->cfg.client_endpoint) && s_endpoint_local (s->cfg.event_endpoint);
    if (!s->cfg.bootstrap_token_file && live == 0 && local) {
        s->net.auth.development = 1;
        st_info ("single-user development install: no users, no --bootstrap-token-file and clients only on "
                 "loopback, so every request without a token is the local admin; to require tokens, start with "
                 "--bootstrap-token-file FILE (docs/operations.md)");
        return ST_OK;
    }
    if (live == 0)
        st_warn ("no users, and the client endpoint %s is not loopback only: every client request will be refused; "
                 "start once with --bootstrap-token-file FILE to create the admin (docs/operations.md)",
                 s->cfg.client_endpoint);
    else
        st_info ("API tokens required: %zu user(s), %zu admin(s)", live, admins);
    return ST_OK;
}
