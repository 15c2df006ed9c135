/*  store_identity.c: users, their tenants and API tokens in PostgreSQL (sql/004_identity.sql).
 *
 *  The scheduler is the only writer of these tables and keeps a copy in memory
 *  (net/auth.c), so they are read once, at start-up, and written only by the
 *  rare administration requests (a user added or removed, a token made or
 *  revoked): each is one synchronous statement, autocommitted, after the
 *  answer of the job batch in flight (which shares the connection), never
 *  inside the pipelined job batches. Tokens arrive here as their SHA-256 and
 *  travel as hex; the text of a token never reaches the database. */
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "st_log.h"

#define MS(col) "coalesce ((extract (epoch FROM " col ") * 1000)::bigint, 0)"

static st_rc_t
s_fail (st_error_t *err, PGresult *res, const char *what)
{
    const char *state = PQresultErrorField (res, PG_DIAG_SQLSTATE);
    char msg[400];
    snprintf (msg, sizeof msg, "%s", PQresultErrorMessage (res) ? PQresultErrorMessage (res) : "");
    size_t n = strlen (msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    /*  23505: a unique index (a user name taken); 23503: a reference (no such user).  */
    st_rc_t rc = state && !strcmp (state, "23505") ? ST_ECONFLICT : ST_EDB;
    return st_error_set (err, rc, NULL, "%s: %s", what, msg);
}

static uint64_t
s_u64 (PGresult *res, int row, int col)
{
    return PQgetisnull (res, row, col) ? 0 : strtoull (PQgetvalue (res, row, col), NULL, 10);
}

static char *
s_strdup (const char *text)
{
    char *p = strdup (text);
    if (!p)
        abort ();
    return p;
}

/*  "a,b,c" (tenant names hold no comma) into a new array.  */
static void
s_split_tenants (const char *text, st__user_record_t *u)
{
    size_t n = *text ? 1 : 0;
    for (const char *p = text; *p; p++)
        n += *p == ',';
    u->tenants = calloc (n + 1, sizeof *u->tenants);
    if (!u->tenants)
        abort ();
    u->ntenants = 0;
    const char *p = text;
    while (n && *p) {
        size_t len = strcspn (p, ",");
        char *t = strndup (p, len);
        if (!t)
            abort ();
        u->tenants[u->ntenants++] = t;
        p += len;
        if (*p == ',')
            p++;
    }
}

static void
s_hex (const uint8_t *bin, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bin[i] >> 4];
        out[2 * i + 1] = digits[bin[i] & 15];
    }
    out[2 * n] = '\0';
}

static int
s_unhex (const char *hex, uint8_t *bin, size_t n)
{
    if (strlen (hex) != 2 * n)
        return -1;
    for (size_t i = 0; i < 2 * n; i++) {
        char c = hex[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return -1;
        bin[i / 2] = (uint8_t) (i % 2 ? (bin[i / 2] | v) : v << 4);
    }
    return 0;
}

st_rc_t
st__store_identity_load (st__store_t *s, st__user_record_t **users, size_t *nusers, st__apitoken_record_t **tokens,
                         size_t *ntokens, st_error_t *err)
{
    *users = NULL;
    *tokens = NULL;
    *nusers = *ntokens = 0;
    st__store_settle (s);
    PGresult *res = PQexec (s->db,
                            "SELECT u.id, u.name, u.role, " MS (
                                "u.created_at") ", coalesce (string_agg (t.tenant, ',' ORDER BY t.position), '') "
                                                "FROM users u LEFT JOIN user_tenants t ON t.user_id = u.id "
                                                "WHERE u.removed_at IS NULL GROUP BY u.id ORDER BY u.name");
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        st_rc_t rc = s_fail (err, res, "reading the users");
        PQclear (res);
        return rc;
    }
    int n = PQntuples (res);
    st__user_record_t *u = calloc ((size_t) n + 1, sizeof *u);
    if (!u)
        abort ();
    for (int i = 0; i < n; i++) {
        u[i].id = s_u64 (res, i, 0);
        u[i].name = s_strdup (PQgetvalue (res, i, 1));
        u[i].role = st__role_parse (PQgetvalue (res, i, 2));
        u[i].created_unix_ms = s_u64 (res, i, 3);
        s_split_tenants (PQgetvalue (res, i, 4), &u[i]);
    }
    PQclear (res);
    res = PQexec (s->db, "SELECT t.id, t.user_id, encode (t.hash, 'hex'), " MS ("t.created_at") ", " MS (
                             "t.expires_at") ", t.revoked_at IS NOT NULL "
                                             "FROM api_tokens t JOIN users u ON u.id = t.user_id "
                                             "WHERE u.removed_at IS NULL ORDER BY t.id");
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        st_rc_t rc = s_fail (err, res, "reading the API tokens");
        PQclear (res);
        st__user_records_free (u, (size_t) n);
        return rc;
    }
    int nt = PQntuples (res);
    st__apitoken_record_t *t = calloc ((size_t) nt + 1, sizeof *t);
    if (!t)
        abort ();
    size_t kept = 0;
    for (int i = 0; i < nt; i++) {
        st__apitoken_record_t *r = &t[kept];
        r->id = s_u64 (res, i, 0);
        r->user_id = s_u64 (res, i, 1);
        if (s_unhex (PQgetvalue (res, i, 2), r->hash, sizeof r->hash) != 0) {
            st_warn ("API token %" PRIu64 " has a malformed hash: ignored", r->id);
            continue;
        }
        r->created_unix_ms = s_u64 (res, i, 3);
        r->expires_unix_ms = s_u64 (res, i, 4);
        r->revoked = !strcmp (PQgetvalue (res, i, 5), "t");
        kept++;
    }
    PQclear (res);
    *users = u;
    *nusers = (size_t) n;
    *tokens = t;
    *ntokens = kept;
    return ST_OK;
}

st_rc_t
st__store_user_add (st__store_t *s, const char *name, st__role_t role, const char *const *tenants, size_t ntenants,
                    uint64_t *id, uint64_t *created_unix_ms, st_error_t *err)
{
    st__store_settle (s);
    /*  The tenants as a text[] literal; names are [A-Za-z0-9._-] (checked by the caller and the table).  */
    size_t len = 3;
    for (size_t i = 0; i < ntenants; i++)
        len += strlen (tenants[i]) + 1;
    char *arr = malloc (len);
    if (!arr)
        abort ();
    size_t at = 0;
    arr[at++] = '{';
    for (size_t i = 0; i < ntenants; i++) {
        if (i)
            arr[at++] = ',';
        size_t l = strlen (tenants[i]);
        memcpy (arr + at, tenants[i], l);
        at += l;
    }
    arr[at++] = '}';
    arr[at] = '\0';
    const char *params[] = { name, st__role_name (role), arr };
    /*  One statement, so one transaction: the tenants it names, the user, its tenants in order.  */
    PGresult *res = PQexecParams (
        s->db,
        "WITH t AS (INSERT INTO tenants (name) SELECT unnest ($3::text[]) ON CONFLICT DO NOTHING), "
        "u AS (INSERT INTO users (name, role) VALUES ($1, $2) RETURNING id) "
        "INSERT INTO user_tenants (user_id, tenant, position) "
        "SELECT u.id, x.tenant, x.ord - 1 FROM u, unnest ($3::text[]) WITH ORDINALITY AS x (tenant, ord) "
        "RETURNING user_id, (extract (epoch FROM now ()) * 1000)::bigint",
        3, NULL, params, NULL, NULL, 0);
    free (arr);
    if (PQresultStatus (res) != PGRES_TUPLES_OK || PQntuples (res) < 1) {
        st_rc_t rc = PQresultStatus (res) == PGRES_TUPLES_OK
                         ? st_error_set (err, ST_EINVAL, NULL, "a user needs at least one tenant")
                         : s_fail (err, res, "adding a user");
        if (rc == ST_ECONFLICT)
            st_error_set (err, ST_ECONFLICT, NULL, "user %s already exists", name);
        PQclear (res);
        return rc;
    }
    *id = s_u64 (res, 0, 0);
    *created_unix_ms = s_u64 (res, 0, 1);
    PQclear (res);
    return ST_OK;
}

st_rc_t
st__store_user_remove (st__store_t *s, uint64_t user_id, st_error_t *err)
{
    st__store_settle (s);
    char ids[32];
    snprintf (ids, sizeof ids, "%" PRIu64, user_id);
    const char *params[] = { ids };
    /*  The rows stay, for audit: the user is marked removed and its tokens revoked, in one statement.  */
    PGresult *res = PQexecParams (s->db,
                                  "WITH u AS (UPDATE users SET removed_at = now () "
                                  "WHERE id = $1 AND removed_at IS NULL RETURNING id) "
                                  "UPDATE api_tokens SET revoked_at = now () "
                                  "WHERE user_id IN (SELECT id FROM u) AND revoked_at IS NULL",
                                  1, NULL, params, NULL, NULL, 0);
    st_rc_t rc = ST_OK;
    if (PQresultStatus (res) != PGRES_COMMAND_OK)
        rc = s_fail (err, res, "removing a user");
    PQclear (res);
    return rc;
}

st_rc_t
st__store_token_add (st__store_t *s, uint64_t user_id, const uint8_t hash[ST__IDENTITY_HASH_BYTES],
                     uint64_t expires_unix_ms, uint64_t *id, uint64_t *created_unix_ms, st_error_t *err)
{
    st__store_settle (s);
    char ids[32], hex[2 * ST__IDENTITY_HASH_BYTES + 1], exp[32];
    snprintf (ids, sizeof ids, "%" PRIu64, user_id);
    s_hex (hash, ST__IDENTITY_HASH_BYTES, hex);
    snprintf (exp, sizeof exp, "%" PRIu64, expires_unix_ms);
    const char *params[] = { ids, hex, exp };
    PGresult *res =
        PQexecParams (s->db,
                      "INSERT INTO api_tokens (user_id, hash, expires_at) VALUES ($1, decode ($2, 'hex'), "
                      "CASE WHEN $3::bigint = 0 THEN NULL ELSE to_timestamp ($3::bigint / 1000.0) END) "
                      "RETURNING id, " MS ("created_at"),
                      3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK || PQntuples (res) != 1) {
        st_rc_t rc = s_fail (err, res, "adding an API token");
        PQclear (res);
        return rc;
    }
    *id = s_u64 (res, 0, 0);
    *created_unix_ms = s_u64 (res, 0, 1);
    PQclear (res);
    return ST_OK;
}

st_rc_t
st__store_token_revoke (st__store_t *s, uint64_t token_id, st_error_t *err)
{
    st__store_settle (s);
    char ids[32];
    snprintf (ids, sizeof ids, "%" PRIu64, token_id);
    const char *params[] = { ids };
    PGresult *res = PQexecParams (s->db,
                                  "UPDATE api_tokens SET revoked_at = now () WHERE id = $1 AND revoked_at IS NULL", 1,
                                  NULL, params, NULL, NULL, 0);
    st_rc_t rc = ST_OK;
    if (PQresultStatus (res) != PGRES_COMMAND_OK)
        rc = s_fail (err, res, "revoking an API token");
    PQclear (res);
    return rc;
}
