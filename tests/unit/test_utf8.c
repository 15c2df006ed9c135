/*  test_utf8.c: st_utf8, the one rule for a string's bytes: cuts on a
 *  character boundary at 1- to 4-byte characters, each bad byte (truncated
 *  sequences, overlongs, surrogates, past U+10FFFF, stray bytes) replaced by
 *  one U+FFFD, exact-fit buffers, and formatting that ends valid.  */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_utf8.h"

#define R ST_UTF8_REPLACEMENT

/*  1, 2, 3 and 4 bytes: 'a', U+00E9, U+20AC, U+1F600.  */
#define C1 "a"
#define C2 "\xc3\xa9"
#define C3 "\xe2\x82\xac"
#define C4 "\xf0\x9f\x98\x80"

static void
s_expect_copy (const char *in, size_t size, const char *want)
{
    char buf[64];
    cr_assert_lt (size, sizeof buf);
    memset (buf, 'Z', sizeof buf);
    size_t n = st_utf8_copy (buf, size, in);
    cr_assert_str_eq (buf, want, "copy of size %zu", size);
    cr_assert_eq (n, strlen (want));
    cr_assert (st_utf8_valid (buf, n));
    cr_assert_eq (buf[size], 'Z', "nothing written past the buffer");
}

Test (utf8, copy_cuts_on_a_boundary_at_each_width)
{
    const char *s = C1 C2 C3 C4 C1;     /*  bytes: 1 + 2 + 3 + 4 + 1 = 11  */
    s_expect_copy (s, 12, s);           /*  exact fit: 11 bytes and the NUL  */
    s_expect_copy (s, 11, C1 C2 C3 C4); /*  one short: the last 'a' goes  */
    s_expect_copy (s, 10, C1 C2 C3);    /*  inside the 4-byte character: all of it goes  */
    s_expect_copy (s, 8, C1 C2 C3);
    s_expect_copy (s, 7, C1 C2 C3); /*  exact fit of the first three  */
    s_expect_copy (s, 6, C1 C2);    /*  inside the 3-byte one  */
    s_expect_copy (s, 5, C1 C2);
    s_expect_copy (s, 4, C1 C2); /*  exact fit  */
    s_expect_copy (s, 3, C1);    /*  inside the 2-byte one  */
    s_expect_copy (s, 2, C1);
    s_expect_copy (s, 1, "");
    cr_assert_eq (st_utf8_copy (NULL, 0, s), 0, "a zero-size buffer is not touched");
    s_expect_copy (NULL, 4, "");
}

Test (utf8, bad_bytes_become_one_replacement_each)
{
    s_expect_copy ("a\xff"
                   "b",
                   16, "a" R "b");
    s_expect_copy ("\x80\x80", 16, R R);      /*  stray continuation bytes  */
    s_expect_copy ("x\xe2\x82", 16, "x" R R); /*  a 3-byte character cut short  */
    s_expect_copy ("\xf0\x9f\x98"
                   "a",
                   16, R R R "a");                   /*  a 4-byte one cut short, then text  */
    s_expect_copy ("\xc0\xaf", 16, R R);             /*  overlong '/'  */
    s_expect_copy ("\xe0\x80\xaf", 16, R R R);       /*  overlong, 3 bytes  */
    s_expect_copy ("\xf0\x80\x80\xaf", 16, R R R R); /*  overlong, 4 bytes  */
    s_expect_copy ("\xed\xa0\x80", 16, R R R);       /*  a surrogate (U+D800)  */
    s_expect_copy ("\xf4\x90\x80\x80", 16, R R R R); /*  past U+10FFFF  */
    s_expect_copy ("\xfe\xfe", 16, R R);
    s_expect_copy (C2 "\xc3" C2, 16, C2 R C2); /*  a lead byte whose tail went  */
    /*  a replacement that does not fit is left out whole, like a character  */
    s_expect_copy ("ab\xff", 5, "ab");
    s_expect_copy ("ab\xff", 6, "ab" R);
}

typedef struct {
    char out[128];
    size_t len;
    int calls;
} s_sink_t;

static int
s_collect (void *arg, const char *run, size_t n)
{
    s_sink_t *k = arg;
    cr_assert (st_utf8_valid (run, n), "every run handed on is valid");
    cr_assert_lt (k->len + n, sizeof k->out);
    memcpy (k->out + k->len, run, n);
    k->len += n;
    k->calls++;
    return 0;
}

static int
s_stop (void *arg, const char *run, size_t n)
{
    (void) run;
    (void) n;
    return ++*(int *) arg >= 2;
}

Test (utf8, scrub_hands_on_runs_and_counts)
{
    s_sink_t k = { 0 };
    cr_assert_eq (st_utf8_scrub ("ok " C3 " \xff end", SIZE_MAX, s_collect, &k), 1);
    cr_assert_eq (k.len, strlen ("ok " C3 " " R " end"));
    cr_assert (memcmp (k.out, "ok " C3 " " R " end", k.len) == 0);
    cr_assert_eq (k.calls, 3, "run, replacement, run");

    memset (&k, 0, sizeof k);
    cr_assert_eq (st_utf8_scrub ("abc\0def", 7, s_collect, &k), 0, "a NUL ends the text");
    cr_assert_eq (k.len, 3);

    memset (&k, 0, sizeof k);
    cr_assert_eq (st_utf8_scrub ("abcdef", 3, s_collect, &k), 0, "len bounds it");
    cr_assert_eq (k.len, 3);

    memset (&k, 0, sizeof k);
    cr_assert_eq (st_utf8_scrub (C2, 1, s_collect, &k), 1, "a character cut short by len is a bad byte");
    cr_assert (memcmp (k.out, R, 3) == 0);

    int calls = 0;
    cr_assert_eq (st_utf8_scrub ("a\xff"
                                 "b",
                                 SIZE_MAX, s_stop, &calls),
                  -1, "the sink can stop it");
    cr_assert_eq (calls, 2);
}

Test (utf8, fmt_cuts_and_cleans)
{
    char buf[8];
    /*  "dir é" + "é" + ...: the cut falls inside the second é  */
    cr_assert_eq (st_utf8_fmt (buf, sizeof buf, "dir %s", C2 C2 C2), 6);
    cr_assert_str_eq (buf, "dir " C2);
    cr_assert_eq (st_utf8_fmt (buf, sizeof buf, "%s", "a\xff"), 4);
    cr_assert_str_eq (buf, "a" R);
    cr_assert_eq (st_utf8_fmt (buf, sizeof buf, "%d", 1234567), 7, "exact fit");
    cr_assert_str_eq (buf, "1234567");
    cr_assert_eq (st_utf8_fmt (buf, sizeof buf, "%d", 12345678), 7);
    cr_assert_str_eq (buf, "1234567");

    /*  The worker's failure message for the stuck-job spec: a workdir of 150
     *  'é' in a 300-byte reason. Every cut point gives valid text.  */
    char workdir[2 + 300 + 1] = "/x";
    for (int i = 0; i < 150; i++)
        memcpy (workdir + 2 + 2 * i, C2, 3);
    size_t full =
        (size_t) snprintf (NULL, 0, "cannot change directory to %s: %s", workdir, "No such file or directory");
    for (size_t size = 1; size < 400; size++) {
        char *m = malloc (size);
        cr_assert_not_null (m);
        size_t n = st_utf8_fmt (m, size, "cannot change directory to %s: %s", workdir, "No such file or directory");
        cr_assert_lt (n, size);
        cr_assert_eq (strlen (m), n);
        cr_assert (st_utf8_valid (m, n), "cut at %zu is valid", size);
        cr_assert (n == full || n + 2 >= size, "the whole text, or at most one character short of full");
        free (m);
    }
}

Test (utf8, dup_is_valid)
{
    char *d = st_utf8_dup ("h\xc3\x28st");
    cr_assert_not_null (d);
    cr_assert_str_eq (d, "h" R "(st");
    free (d);
    d = st_utf8_dup (NULL);
    cr_assert_str_eq (d, "");
    free (d);
    d = st_utf8_dup (C4 C3 C2 C1);
    cr_assert_str_eq (d, C4 C3 C2 C1, "valid text unchanged");
    free (d);
}

Test (utf8, char_valid_and_cut)
{
    cr_assert_eq (st_utf8_char ((const unsigned char *) C4, 4), 4);
    cr_assert_eq (st_utf8_char ((const unsigned char *) C4, 3), 0, "cut short by avail");
    cr_assert_eq (st_utf8_char ((const unsigned char *) "\xef\xbf\xbf", 3), 3, "U+FFFF is a character");
    cr_assert_eq (st_utf8_char ((const unsigned char *) "\xf4\x8f\xbf\xbf", 4), 4, "U+10FFFF is the last");
    cr_assert_eq (st_utf8_char ((const unsigned char *) "\xc2\x80", 2), 2, "U+0080, the first 2-byte");
    cr_assert_eq (st_utf8_char ((const unsigned char *) "\xc3\0", SIZE_MAX), 0, "a NUL stops the read");
    cr_assert (st_utf8_valid (C1 C2 C3 C4, 10));
    cr_assert_not (st_utf8_valid (C1 C2 C3 C4, 9));
    cr_assert_eq (st_utf8_cut (C1 C2 C3 C4, 10, 9), 6);
    cr_assert_eq (st_utf8_cut (C1 C2 C3 C4, 10, 6), 6);
    cr_assert_eq (st_utf8_cut (C1 C2 C3 C4, 10, 5), 3);
}
