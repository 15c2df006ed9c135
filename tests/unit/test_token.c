/*  test_token.c: API tokens: generation, SHA-256, constant-time compare, token files.  */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st_token.h"
#include "test_tmpdir.h"

static char s_dir[64];

static void
setup (void)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/strata-test-token-XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
}

static void
teardown (void)
{
    st_test_rmtree (s_dir);
}

TestSuite (token, .init = setup, .fini = teardown, .timeout = 30);

static void
s_write (const char *name, const char *text, mode_t mode, char *path, size_t size)
{
    snprintf (path, size, "%s/%s", s_dir, name);
    FILE *f = fopen (path, "w");
    cr_assert_not_null (f);
    fputs (text, f);
    fclose (f);
    cr_assert_eq (chmod (path, mode), 0);
}

Test (token, generated_tokens_have_the_prefix_and_256_bits)
{
    char a[ST_TOKEN_TEXT_SIZE], b[ST_TOKEN_TEXT_SIZE];
    cr_assert_eq (st_token_generate (a, sizeof a), ST_OK);
    cr_assert_eq (st_token_generate (b, sizeof b), ST_OK);
    /*  "strata_" + 43 characters of URL-safe base64 (32 bytes, no padding).  */
    cr_assert_eq (strlen (a), strlen (ST_TOKEN_PREFIX) + 43, "token %s", a);
    cr_assert_eq (strncmp (a, ST_TOKEN_PREFIX, strlen (ST_TOKEN_PREFIX)), 0);
    for (const char *p = a + strlen (ST_TOKEN_PREFIX); *p; p++)
        cr_assert (strchr ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p), "char %c", *p);
    cr_assert (st_token_well_formed (a, strlen (a)));
    cr_assert_neq (strcmp (a, b), 0, "two tokens are equal: %s", a);
}

Test (token, a_small_buffer_is_refused)
{
    char small[16];
    cr_assert_neq (st_token_generate (small, sizeof small), ST_OK);
}

Test (token, many_tokens_never_repeat)
{
    /*  A weak generator (a fixed seed, a short state) would repeat soon.  */
    enum { N = 2000 };
    static char seen[N][ST_TOKEN_TEXT_SIZE];
    for (int i = 0; i < N; i++) {
        cr_assert_eq (st_token_generate (seen[i], sizeof seen[i]), ST_OK);
        for (int k = 0; k < i; k++)
            cr_assert_neq (strcmp (seen[i], seen[k]), 0, "token %d repeats token %d", i, k);
    }
}

Test (token, hash_is_sha256)
{
    static const uint8_t abc[32] = { 0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
                                     0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
                                     0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
    uint8_t h[ST_TOKEN_HASH_BYTES];
    st_token_hash ("abc", 3, h);
    cr_assert_eq (memcmp (h, abc, 32), 0);
}

Test (token, hashes_compare_equal_only_when_equal)
{
    char t[ST_TOKEN_TEXT_SIZE];
    cr_assert_eq (st_token_generate (t, sizeof t), ST_OK);
    uint8_t a[32], b[32];
    st_token_hash (t, strlen (t), a);
    st_token_hash (t, strlen (t), b);
    cr_assert (st_token_hash_equal (a, b));
    /*  One bit anywhere makes them differ: first, middle and last byte.  */
    for (int i = 0; i < 32; i += 15) {
        b[i] ^= 1;
        cr_assert_not (st_token_hash_equal (a, b), "byte %d", i);
        b[i] ^= 1;
    }
    t[strlen (t) - 1] ^= 1;
    st_token_hash (t, strlen (t), b);
    cr_assert_not (st_token_hash_equal (a, b));
}

Test (token, well_formed)
{
    cr_assert (st_token_well_formed ("0123456789abcdef0123456789abcdef", 32));
    cr_assert (st_token_well_formed ("strata_ABC-def_ghi.jkl~mno+pqr/stu=", 35));
    cr_assert_not (st_token_well_formed ("0123456789abcdef0123456789abcde", 31), "31 characters");
    cr_assert_not (st_token_well_formed ("0123456789abcdef 123456789abcdef", 32), "a space");
    cr_assert_not (st_token_well_formed ("0123456789abcdef\n123456789abcdef", 32), "a newline");
    cr_assert_not (st_token_well_formed ("0123456789abcdef\0"
                                         "123456789abcdef",
                                         32),
                   "a NUL");
    cr_assert_not (st_token_well_formed ("0123456789abcdef\xff\xfe"
                                         "23456789abcdef",
                                         32),
                   "not UTF-8");
    cr_assert_not (st_token_well_formed ("0123456789abcdef\xc3\xa9"
                                         "23456789abcdef",
                                         32),
                   "not ASCII");
    char big[ST_TOKEN_MAX_LEN + 2];
    memset (big, 'a', sizeof big);
    cr_assert (st_token_well_formed (big, ST_TOKEN_MAX_LEN));
    cr_assert_not (st_token_well_formed (big, ST_TOKEN_MAX_LEN + 1));
    cr_assert_not (st_token_well_formed (NULL, 0));
}

Test (token, read_file)
{
    char path[128], out[ST_TOKEN_MAX_LEN + 1];
    st_error_t err = { 0 };
    s_write ("good", "0123456789abcdef0123456789abcdef\n", 0600, path, sizeof path);
    cr_assert_eq (st_token_read_file (path, out, sizeof out, &err), ST_OK, "%s", err.msg);
    cr_assert_str_eq (out, "0123456789abcdef0123456789abcdef");
    s_write ("crlf", "0123456789abcdef0123456789abcdef\r\n", 0400, path, sizeof path);
    cr_assert_eq (st_token_read_file (path, out, sizeof out, &err), ST_OK, "%s", err.msg);
    cr_assert_str_eq (out, "0123456789abcdef0123456789abcdef");
}

Test (token, read_file_refuses_a_file_others_may_read)
{
    char path[128], out[ST_TOKEN_MAX_LEN + 1];
    mode_t modes[] = { 0644, 0640, 0604, 0660, 0602 };
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        st_error_t err = { 0 };
        s_write ("open", "0123456789abcdef0123456789abcdef\n", modes[i], path, sizeof path);
        cr_assert_eq (st_token_read_file (path, out, sizeof out, &err), ST_EINVAL, "mode %o", modes[i]);
        cr_assert (strstr (err.msg, "accessible by group or others"), "%s", err.msg);
        cr_assert (strstr (err.hint, "chmod 600"), "%s", err.hint);
    }
}

Test (token, read_file_refuses_what_is_not_one_token)
{
    char path[128], out[ST_TOKEN_MAX_LEN + 1];
    const char *bad[] = { "", "\n", "short\n", "0123456789abcdef0123456789abcdef\nsecond line\n",
                          "0123456789abcdef 0123456789abcdef\n" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        st_error_t err = { 0 };
        s_write ("bad", bad[i], 0600, path, sizeof path);
        cr_assert_eq (st_token_read_file (path, out, sizeof out, &err), ST_EINVAL, "content %zu", i);
        cr_assert (strstr (err.msg, "does not hold a token"), "%s", err.msg);
    }
    st_error_t err = { 0 };
    snprintf (path, sizeof path, "%s/absent", s_dir);
    cr_assert_eq (st_token_read_file (path, out, sizeof out, &err), ST_ENOTFOUND);
    cr_assert_eq (st_token_read_file (s_dir, out, sizeof out, &err), ST_EINVAL, "a folder: %s", err.msg);
}
