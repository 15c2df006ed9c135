/*  auth.c: users and API tokens in memory, and the authentication of a client request.
 *
 *  A request's Envelope.auth_token is checked here: its SHA-256 is looked up
 *  in by_hash and the stored hash compared with crypto_verify_32, then the
 *  token's revocation, expiry and user are checked. The map's own key compare
 *  is not constant-time, but what it compares is a hash: timing reveals bits
 *  of SHA-256 (token), which says nothing usable about another token. */
#include "auth.h"

#include <stdlib.h>
#include <string.h>

#include "st_token.h"
#include "st_vec.h"

#define S_MAX 1000000 /*  users or tokens kept at once  */

int
st__auth_init (st__auth_t *a)
{
    a->by_hash = st_map_new ();
    return a->by_hash ? 0 : -1;
}

void
st__auth_release (st__auth_t *a)
{
    for (size_t i = 0; i < a->nusers; i++) {
        st__user_record_t *u = &a->users[i]->rec;
        free (u->name);
        for (size_t k = 0; k < u->ntenants; k++)
            free (u->tenants[k]);
        free (u->tenants);
        free (a->users[i]);
    }
    free (a->users);
    for (size_t i = 0; i < a->ntokens; i++)
        free (a->tokens[i]);
    free (a->tokens);
    st_map_destroy (&a->by_hash);
    a->users = NULL;
    a->tokens = NULL;
    a->nusers = a->ntokens = a->cap_users = a->cap_tokens = 0;
}

st__auth_user_t *
st__auth_user_add (st__auth_t *a, st__user_record_t *rec)
{
    st__auth_user_t *u = calloc (1, sizeof *u);
    if (!u)
        abort ();
    u->rec = *rec;
    memset (rec, 0, sizeof *rec);
    if (st_vec_push ((void **) &a->users, &a->nusers, &a->cap_users, sizeof *a->users, S_MAX, &u))
        abort ();
    return u;
}

st__auth_user_t *
st__auth_user_named (const st__auth_t *a, const char *name)
{
    for (size_t i = 0; i < a->nusers; i++)
        if (!a->users[i]->removed && !strcmp (a->users[i]->rec.name, name))
            return a->users[i];
    return NULL;
}

st__auth_user_t *
st__auth_user_by_id (const st__auth_t *a, uint64_t id)
{
    for (size_t i = 0; i < a->nusers; i++)
        if (a->users[i]->rec.id == id)
            return a->users[i];
    return NULL;
}

void
st__auth_user_remove (st__auth_t *a, st__auth_user_t *u)
{
    u->removed = 1;
    for (size_t i = 0; i < a->ntokens; i++)
        if (a->tokens[i]->user == u)
            a->tokens[i]->rec.revoked = 1;
}

st__auth_token_t *
st__auth_token_add (st__auth_t *a, const st__apitoken_record_t *rec)
{
    st__auth_user_t *u = st__auth_user_by_id (a, rec->user_id);
    if (!u || st_map_get (a->by_hash, rec->hash, sizeof rec->hash))
        return NULL; /*  a token of no known user, or a hash twice (the table's UNIQUE forbids it)  */
    st__auth_token_t *t = calloc (1, sizeof *t);
    if (!t)
        abort ();
    t->rec = *rec;
    t->user = u;
    if (st_vec_push ((void **) &a->tokens, &a->ntokens, &a->cap_tokens, sizeof *a->tokens, S_MAX, &t)
        || st_map_put (a->by_hash, t->rec.hash, sizeof t->rec.hash, t) != 0)
        abort ();
    return t;
}

st__auth_token_t *
st__auth_token_by_id (const st__auth_t *a, uint64_t id)
{
    for (size_t i = 0; i < a->ntokens; i++)
        if (a->tokens[i]->rec.id == id)
            return a->tokens[i];
    return NULL;
}

void
st__auth_load (st__auth_t *a, st__user_record_t *users, size_t nusers, const st__apitoken_record_t *tokens,
               size_t ntokens)
{
    for (size_t i = 0; i < nusers; i++)
        st__auth_user_add (a, &users[i]);
    for (size_t i = 0; i < ntokens; i++)
        st__auth_token_add (a, &tokens[i]);
}

size_t
st__auth_live_users (const st__auth_t *a, size_t *admins)
{
    size_t n = 0, na = 0;
    for (size_t i = 0; i < a->nusers; i++) {
        if (a->users[i]->removed)
            continue;
        n++;
        na += a->users[i]->rec.role == ST__ROLE_ADMIN;
    }
    if (admins)
        *admins = na;
    return n;
}

const st__principal_t *
st__auth_principal_of (st__auth_t *a, const st__auth_token_t *t)
{
    const st__user_record_t *u = &t->user->rec;
    a->principal = (st__principal_t) {
        .user = u->name,
        .role = u->role,
        .tenants = (const char *const *) u->tenants,
        .ntenants = u->ntenants,
        .development = 0,
        .token_id = t->rec.id,
    };
    return &a->principal;
}

st__auth_result_t
st__auth_check (st__auth_t *a, const char *token, size_t len, uint64_t now_unix_ms, const st__principal_t **who)
{
    *who = NULL;
    if (len == 0) {
        if (!a->development)
            return ST__AUTH_MISSING;
        *who = &st__principal_development;
        return ST__AUTH_OK;
    }
    if (!st_token_well_formed (token, len))
        return ST__AUTH_MALFORMED;
    uint8_t hash[ST_TOKEN_HASH_BYTES];
    st_token_hash (token, len, hash);
    st__auth_token_t *t = st_map_get (a->by_hash, hash, sizeof hash);
    if (!t || !st_token_hash_equal (t->rec.hash, hash))
        return ST__AUTH_UNKNOWN;
    if (t->rec.revoked || t->user->removed)
        return ST__AUTH_REVOKED;
    if (t->rec.expires_unix_ms && now_unix_ms >= t->rec.expires_unix_ms)
        return ST__AUTH_EXPIRED;
    *who = st__auth_principal_of (a, t);
    return ST__AUTH_OK;
}
