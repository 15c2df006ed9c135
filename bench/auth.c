/*  auth.c: strata-bench-auth: what authenticating a client request costs the scheduler.
 *
 *  Builds the scheduler's in-memory copy of users and API tokens (net/auth.c)
 *  with --tokens tokens, then times st__auth_check, the call at the top of
 *  every client request: for a valid token (SHA-256 of the token, a hash
 *  lookup, a constant-time compare), an unknown token, and the empty token of
 *  a development install. Also times making a token (randombytes_buf + base64).
 *  Prints one line per case: nanoseconds per call, calls per second. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "st_config.h"
#include "st_time.h"
#include "st_token.h"

typedef struct {
    int64_t tokens;
    int64_t calls;
} s_cfg_t;

static const st_opt_t s_opts[] = {
    { "tokens", 0, ST_OPT_INT, offsetof (s_cfg_t, tokens), 1, 1000000, "N", "tokens in memory (default 10000)",
      NULL },
    { "calls", 0, ST_OPT_INT, offsetof (s_cfg_t, calls), 1, 100000000, "N", "checks timed per case (default 1000000)",
      NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

static void
s_report (const char *what, uint64_t us, int64_t calls)
{
    double ns = (double) us * 1000.0 / (double) calls;
    printf ("%-28s %8.1f ns/call  %12.0f calls/s\n", what, ns, 1e9 / ns);
}

int
main (int argc, char **argv)
{
    s_cfg_t cfg = { 10000, 1000000 };
    st_error_t err = { 0 };
    st_rc_t rc = st_config_parse (s_opts, &cfg, argc, argv, "strata-bench-auth [--tokens N] [--calls N]",
                                  "Times the authentication of one client request (st__auth_check).", NULL, NULL,
                                  &err);
    if (rc == ST_EAGAIN)
        return 0;
    if (rc != ST_OK) {
        fprintf (stderr, "strata-bench-auth: error: %s\n", err.msg);
        return 2;
    }
    st__auth_t a;
    memset (&a, 0, sizeof a);
    if (st__auth_init (&a) != 0 || st_token_init () != 0)
        return 1;
    size_t n = (size_t) cfg.tokens;
    char (*texts)[ST_TOKEN_TEXT_SIZE] = calloc (n, sizeof *texts);
    if (!texts)
        return 1;
    uint64_t t0 = st_mono_us ();
    for (size_t i = 0; i < n; i++)
        st_token_generate (texts[i], sizeof texts[i]);
    s_report ("make a token", st_mono_us () - t0, (int64_t) n);
    /*  One user per 10 tokens, in 1-3 tenants.  */
    for (size_t u = 0; u < (n + 9) / 10; u++) {
        st__user_record_t r = { 0 };
        char name[32];
        snprintf (name, sizeof name, "user%zu", u);
        r.id = u + 1;
        r.name = strdup (name);
        r.role = ST__ROLE_SUBMITTER;
        r.tenants = calloc (3, sizeof *r.tenants);
        for (size_t k = 0; k <= u % 3; k++)
            r.tenants[r.ntenants++] = strdup (k ? "shared" : "team");
        st__auth_user_add (&a, &r);
    }
    for (size_t i = 0; i < n; i++) {
        st__apitoken_record_t r = { 0 };
        r.id = i + 1;
        r.user_id = i / 10 + 1;
        st_token_hash (texts[i], strlen (texts[i]), r.hash);
        st__auth_token_add (&a, &r);
    }
    const st__principal_t *who = NULL;
    size_t ok = 0;
    t0 = st_mono_us ();
    for (int64_t c = 0; c < cfg.calls; c++) {
        const char *t = texts[(size_t) c * 7919 % n];
        ok += st__auth_check (&a, t, strlen (t), 1, &who) == ST__AUTH_OK;
    }
    s_report ("check a valid token", st_mono_us () - t0, cfg.calls);
    char unknown[ST_TOKEN_TEXT_SIZE];
    st_token_generate (unknown, sizeof unknown);
    t0 = st_mono_us ();
    for (int64_t c = 0; c < cfg.calls; c++)
        ok += st__auth_check (&a, unknown, strlen (unknown), 1, &who) == ST__AUTH_OK;
    s_report ("check an unknown token", st_mono_us () - t0, cfg.calls);
    a.development = 1;
    t0 = st_mono_us ();
    for (int64_t c = 0; c < cfg.calls; c++)
        ok += st__auth_check (&a, "", 0, 1, &who) == ST__AUTH_OK;
    s_report ("no token (development)", st_mono_us () - t0, cfg.calls);
    printf ("tokens=%zu calls=%" PRId64 " accepted=%zu\n", n, cfg.calls, ok);
    st__auth_release (&a);
    free (texts);
    return ok == (size_t) cfg.calls * 2 ? 0 : 1;
}
