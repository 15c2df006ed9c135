/*  test_sched_auth.c: the scheduler's copy of users and API tokens (net/auth.c).  */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "st_token.h"

static st__auth_t s_auth;

static void
setup (void)
{
    memset (&s_auth, 0, sizeof s_auth);
    cr_assert_eq (st__auth_init (&s_auth), 0);
}

static void
teardown (void)
{
    st__auth_release (&s_auth);
}

TestSuite (auth, .init = setup, .fini = teardown, .timeout = 30);

static st__auth_user_t *
s_user (uint64_t id, const char *name, st__role_t role, const char *t1, const char *t2)
{
    st__user_record_t r = { 0 };
    r.id = id;
    r.name = strdup (name);
    r.role = role;
    r.tenants = calloc (2, sizeof *r.tenants);
    r.tenants[r.ntenants++] = strdup (t1);
    if (t2)
        r.tenants[r.ntenants++] = strdup (t2);
    return st__auth_user_add (&s_auth, &r);
}

/*  Makes a token for user_id, returns its id; its text goes to text.  */
static uint64_t
s_token (uint64_t id, uint64_t user_id, uint64_t expires, char text[ST_TOKEN_TEXT_SIZE])
{
    cr_assert_eq (st_token_generate (text, ST_TOKEN_TEXT_SIZE), ST_OK);
    st__apitoken_record_t r = { 0 };
    r.id = id;
    r.user_id = user_id;
    r.expires_unix_ms = expires;
    st_token_hash (text, strlen (text), r.hash);
    cr_assert_not_null (st__auth_token_add (&s_auth, &r));
    return id;
}

static st__auth_result_t
s_check (const char *token, uint64_t now, const st__principal_t **who)
{
    return st__auth_check (&s_auth, token, strlen (token), now, who);
}

Test (auth, a_token_is_its_user)
{
    s_user (1, "alice", ST__ROLE_SUBMITTER, "vision", "shared");
    s_user (2, "bob", ST__ROLE_VIEWER, "speech", NULL);
    char a[ST_TOKEN_TEXT_SIZE], b[ST_TOKEN_TEXT_SIZE];
    s_token (10, 1, 0, a);
    s_token (11, 2, 0, b);
    const st__principal_t *who = NULL;
    cr_assert_eq (s_check (a, 1000, &who), ST__AUTH_OK);
    cr_assert_str_eq (who->user, "alice");
    cr_assert_eq (who->role, ST__ROLE_SUBMITTER);
    cr_assert_eq (who->ntenants, 2);
    cr_assert_str_eq (who->tenants[0], "vision");
    cr_assert_str_eq (who->tenants[1], "shared");
    cr_assert_eq (who->token_id, 10);
    cr_assert_not (who->development);
    cr_assert_eq (s_check (b, 1000, &who), ST__AUTH_OK);
    cr_assert_str_eq (who->user, "bob");
    cr_assert_eq (who->token_id, 11);
}

Test (auth, refusals)
{
    s_user (1, "alice", ST__ROLE_ADMIN, "default", NULL);
    char a[ST_TOKEN_TEXT_SIZE], e[ST_TOKEN_TEXT_SIZE], other[ST_TOKEN_TEXT_SIZE];
    s_token (1, 1, 0, a);
    s_token (2, 1, 5000, e);
    cr_assert_eq (st_token_generate (other, sizeof other), ST_OK);
    const st__principal_t *who = (const st__principal_t *) 1;
    cr_assert_eq (s_check ("", 1000, &who), ST__AUTH_MISSING);
    cr_assert_null (who);
    cr_assert_eq (s_check ("garbage", 1000, &who), ST__AUTH_MALFORMED);
    cr_assert_eq (s_check ("strata_\xff\xfe\xfd\xfc\xff\xfe\xfd\xfc\xff\xfe\xfd\xfc\xff\xfe\xfd\xfc\xff\xfe\xfd\xfc"
                           "\xff\xfe\xfd\xfc\xff\xfe\xfd\xfc",
                           1000, &who),
                  ST__AUTH_MALFORMED);
    cr_assert_eq (s_check (other, 1000, &who), ST__AUTH_UNKNOWN);
    /*  One character off is another token.  */
    char saved = a[10];
    a[10] = saved == 'A' ? 'B' : 'A';
    cr_assert_eq (s_check (a, 1000, &who), ST__AUTH_UNKNOWN);
    a[10] = saved;
    cr_assert_eq (s_check (a, 1000, &who), ST__AUTH_OK);
    /*  Expiry: valid before, refused at and after.  */
    cr_assert_eq (s_check (e, 4999, &who), ST__AUTH_OK);
    cr_assert_eq (s_check (e, 5000, &who), ST__AUTH_EXPIRED);
    cr_assert_null (who);
    st__auth_token_by_id (&s_auth, 1)->rec.revoked = 1;
    cr_assert_eq (s_check (a, 1000, &who), ST__AUTH_REVOKED);
}

Test (auth, removing_a_user_revokes_its_tokens_and_keeps_its_record)
{
    st__auth_user_t *u = s_user (1, "alice", ST__ROLE_SUBMITTER, "vision", NULL);
    s_user (2, "root", ST__ROLE_ADMIN, "default", NULL);
    char a[ST_TOKEN_TEXT_SIZE], b[ST_TOKEN_TEXT_SIZE];
    s_token (1, 1, 0, a);
    s_token (2, 1, 0, b);
    size_t admins = 0;
    cr_assert_eq (st__auth_live_users (&s_auth, &admins), 2);
    cr_assert_eq (admins, 1);
    const st__principal_t *who = NULL;
    cr_assert_eq (s_check (a, 1, &who), ST__AUTH_OK);
    st__auth_user_remove (&s_auth, u);
    /*  The principal handed out before stays readable.  */
    cr_assert_str_eq (who->user, "alice");
    cr_assert_eq (s_check (a, 1, &who), ST__AUTH_REVOKED);
    cr_assert_eq (s_check (b, 1, &who), ST__AUTH_REVOKED);
    cr_assert_null (st__auth_user_named (&s_auth, "alice"));
    cr_assert_eq (st__auth_live_users (&s_auth, NULL), 1);
    /*  The name may be taken again by a new user.  */
    s_user (3, "alice", ST__ROLE_VIEWER, "vision", NULL);
    cr_assert_eq (st__auth_user_named (&s_auth, "alice")->rec.id, 3);
}

Test (auth, development_install)
{
    const st__principal_t *who = NULL;
    cr_assert_eq (s_check ("", 1, &who), ST__AUTH_MISSING);
    s_auth.development = 1;
    cr_assert_eq (s_check ("", 1, &who), ST__AUTH_OK);
    cr_assert_eq (who, &st__principal_development);
    cr_assert_eq (who->role, ST__ROLE_ADMIN);
    cr_assert (who->development);
    /*  A token given there is still checked.  */
    cr_assert_eq (s_check ("0123456789abcdef0123456789abcdef", 1, &who), ST__AUTH_UNKNOWN);
}

Test (auth, a_token_of_no_known_user_or_a_hash_twice_is_not_added)
{
    s_user (1, "alice", ST__ROLE_VIEWER, "vision", NULL);
    st__apitoken_record_t r = { 0 };
    r.id = 1;
    r.user_id = 99;
    cr_assert_null (st__auth_token_add (&s_auth, &r));
    r.user_id = 1;
    cr_assert_not_null (st__auth_token_add (&s_auth, &r));
    r.id = 2;
    cr_assert_null (st__auth_token_add (&s_auth, &r));
}

Test (auth, roles_by_name)
{
    cr_assert_str_eq (st__role_name (ST__ROLE_OPERATOR), "operator");
    cr_assert_eq (st__role_parse ("viewer"), ST__ROLE_VIEWER);
    cr_assert_eq (st__role_parse ("admin"), ST__ROLE_ADMIN);
    cr_assert_eq (st__role_parse ("root"), ST__ROLE_NONE);
    cr_assert_eq (st__role_parse (NULL), ST__ROLE_NONE);
    cr_assert_str_eq (st__role_name (ST__ROLE_NONE), "");
}
