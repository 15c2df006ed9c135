/*  auth.h: who sends a client request: users and API tokens in memory (scheduler/net/).
 *
 *  The scheduler is the only writer of the users and api_tokens tables
 *  (store_identity.c), so this copy, loaded at start-up and changed by the
 *  administration requests right after each committed statement, is what the
 *  tables hold: a request is authenticated without a query. A token is found
 *  by its SHA-256 and the hashes compared in constant time (st_token.h); the
 *  text of a token is never kept.
 *
 *  Users and tokens are never freed before the scheduler stops: a removed user
 *  is marked removed (its tokens revoked), so a principal handed to a handler
 *  stays valid while the handler runs, even when it removes its own user. */
#ifndef ST__AUTH_H
#define ST__AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "identity.h"
#include "st_map.h"

typedef struct {
    st__user_record_t rec;
    int removed; /*  removed while the scheduler ran: authenticates nothing  */
} st__auth_user_t;

typedef struct {
    st__apitoken_record_t rec;
    st__auth_user_t *user; /*  its user (not owned)  */
} st__auth_token_t;

/*  Why a request was not authenticated.  */
typedef enum {
    ST__AUTH_OK = 0,
    ST__AUTH_MISSING,   /*  no token, and this is not a development install  */
    ST__AUTH_MALFORMED, /*  not a token's characters or length (st_token_well_formed)  */
    ST__AUTH_UNKNOWN,   /*  no such token  */
    ST__AUTH_REVOKED,   /*  revoked, or its user removed  */
    ST__AUTH_EXPIRED,
} st__auth_result_t;

typedef struct {
    /*  -- configuration --  */
    int development; /*  single-user development install: a request without a token is the local admin  */
    /*  -- state --  */
    st__auth_user_t **users; /*  every user, removed ones included, in load-then-creation order  */
    size_t nusers, cap_users;
    st__auth_token_t **tokens; /*  every token, by increasing id  */
    size_t ntokens, cap_tokens;
    st_map_t *by_hash;         /*  SHA-256 -> st__auth_token_t  */
    st__principal_t principal; /*  the principal of the request being handled  */
    uint64_t refused;          /*  requests answered ERROR_UNAUTHENTICATED  */
} st__auth_t;

int st__auth_init (st__auth_t *a);
void st__auth_release (st__auth_t *a);
/*  Takes the records (their strings move here; the arrays stay the caller's to free).  */
void st__auth_load (st__auth_t *a, st__user_record_t *users, size_t nusers, const st__apitoken_record_t *tokens,
                    size_t ntokens);
/*  The live (not removed) user of that name, or NULL.  */
st__auth_user_t *st__auth_user_named (const st__auth_t *a, const char *name);
st__auth_user_t *st__auth_user_by_id (const st__auth_t *a, uint64_t id);
/*  Takes rec's strings; returns the new user.  */
st__auth_user_t *st__auth_user_add (st__auth_t *a, st__user_record_t *rec);
/*  Marks u removed and revokes its tokens.  */
void st__auth_user_remove (st__auth_t *a, st__auth_user_t *u);
st__auth_token_t *st__auth_token_add (st__auth_t *a, const st__apitoken_record_t *rec);
st__auth_token_t *st__auth_token_by_id (const st__auth_t *a, uint64_t id);
/*  The number of live users, and of live admins.  */
size_t st__auth_live_users (const st__auth_t *a, size_t *admins);
/*  Checks token (len bytes, as received) at now_unix_ms. ST__AUTH_OK sets
 *  *who to the request's principal (valid until the next check); an empty
 *  token in a development install is the development principal.  */
st__auth_result_t st__auth_check (st__auth_t *a, const char *token, size_t len, uint64_t now_unix_ms,
                                  const st__principal_t **who);
/*  The principal of a user (for the bootstrap's log line and tests).  */
const st__principal_t *st__auth_principal_of (st__auth_t *a, const st__auth_token_t *t);

#endif
