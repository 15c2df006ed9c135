/*  identity.h: users and API tokens as plain records (scheduler/model/).
 *
 *  store/ reads and writes them (store_identity.c), net/ keeps the copy that
 *  authenticates each client request (auth.c), sched.c hands the one to the
 *  other at start-up. A token appears here only as its SHA-256: the token's
 *  text exists in the scheduler only while a request is checked or a new token
 *  is answered. */
#ifndef ST__IDENTITY_H
#define ST__IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define ST__IDENTITY_HASH_BYTES 32 /*  SHA-256 (st_token.h)  */
#define ST__USER_TENANTS_MAX 64    /*  tenants one user may belong to  */

/*  A user that exists (not removed).  */
typedef struct {
    uint64_t id;
    char *name;
    st__role_t role;
    char **tenants; /*  in order: tenants[0] is the default tenant  */
    size_t ntenants;
    uint64_t created_unix_ms;
} st__user_record_t;

/*  An API token's row: who it is for, and its hash, never its text.  */
typedef struct {
    uint64_t id;
    uint64_t user_id;
    uint8_t hash[ST__IDENTITY_HASH_BYTES];
    uint64_t created_unix_ms;
    uint64_t expires_unix_ms; /*  0: never  */
    int revoked;
} st__apitoken_record_t;

/*  "viewer", "submitter", "operator", "admin"; "" for ST__ROLE_NONE.  */
const char *st__role_name (st__role_t role);
/*  The role of a name; ST__ROLE_NONE for any other word.  */
st__role_t st__role_parse (const char *name);

void st__user_records_free (st__user_record_t *users, size_t n);

#endif
