/*  test_twin_infer.c: strata-twin-infer end to end, against the model itself.
 *
 *    shards          1, 2 and 3 shards (3 as concurrent processes racing to merge) write the same
 *                    bytes; shard files appear, and go only when OUT is in place; nothing else is left
 *    stale shards    a shard file from another run (other --max-new) is not merged
 *    perplexity      ppl == exp(mean NLL) computed from twin_forward's own loss, for a short line,
 *                    the empty line and a line longer than the context (the documented windows)
 *    greedy          the continuation is the argmax of twin_forward's next-byte distribution, step
 *                    by step, with the context cut to the model's ctx
 *    UTF-8           bytes that are not UTF-8 become U+FFFD; the output is JSON Lines
 *    bad input       bad flags, a missing, empty or corrupt model, shard >= shards: exit 2, no OUT
 *    SIGTERM         exit 75, no OUT and no temporary or shard file; a rerun completes
 *
 *  The model is a tiny strata-twin-train checkpoint (ctx 16) trained in process;
 *  the binary comes from $STRATA_BIN_DIR; the text from /usr/share/common-licenses.  */
#include <criterion/criterion.h>

#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "twin.h"
#include "test_tmpdir.h"

#define CORPUS "/usr/share/common-licenses"
#define CTX 16

static char s_dir[256];

static char *
s_sub (const char *name)
{
    static char path[32][300]; /*  a ring: a test holds at most a dozen at once  */
    static int k;
    k = (k + 1) % 32;
    snprintf (path[k], sizeof path[k], "%s/%s", s_dir, name);
    return path[k];
}

/*  A tiny model, trained for a few steps: ctx 16, so most lines need windows.  */
static void
s_train (void)
{
    twin_opts_t o;
    twin_opts_defaults (&o);
    o.data = CORPUS;
    o.checkpoint_dir = s_sub ("ck");
    o.steps = 80;
    o.batch = 16;
    o.seq = CTX;
    o.layers = 1, o.dim = 32, o.heads = 4;
    o.lr = 0.01f;
    o.seed = 3;
    o.val_windows = 8;
    FILE *null = fopen ("/dev/null", "w");
    cr_assert_eq (twin_train (&o, null, null), 0);
    fclose (null);
}

static void
setup (void)
{
    openblas_set_num_threads (1);
    snprintf (s_dir, sizeof s_dir, "/tmp/strata-test-infer-XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
    s_train ();
}

static void
teardown (void)
{
    st_test_rmtree (s_dir);
}

TestSuite (twin_infer, .init = setup, .fini = teardown, .timeout = 90);

static const char *
s_bin (void)
{
    static char path[512];
    const char *dir = getenv ("STRATA_BIN_DIR");
    snprintf (path, sizeof path, "%s/strata-twin-infer", dir ? dir : "build/bin");
    return path;
}

/* ---- processes -------------------------------------------------------- */

/*  Starts the binary with args (NULL-terminated, no argv[0]); stdout to
 *  DIR/<tag>.out, stderr to DIR/<tag>.err. env: "NAME=VALUE" pairs or NULL.
 *  STRATA_RANK and STRATA_WORLD_SIZE are cleared unless env sets them.  */
static pid_t
s_start (const char *tag, const char *const *env, const char *const *args)
{
    char outp[300], errp[300];
    snprintf (outp, sizeof outp, "%s/%s.out", s_dir, tag);
    snprintf (errp, sizeof errp, "%s/%s.err", s_dir, tag);
    pid_t pid = fork ();
    cr_assert (pid >= 0);
    if (pid == 0) {
        if (!freopen (outp, "w", stdout) || !freopen (errp, "w", stderr))
            _exit (126);
        unsetenv ("STRATA_RANK");
        unsetenv ("STRATA_WORLD_SIZE");
        unsetenv ("STRATA_RENDEZVOUS");
        for (int i = 0; env && env[i]; i++)
            putenv ((char *) env[i]);
        const char *argv[64] = { s_bin () };
        for (int i = 0; args[i]; i++)
            argv[i + 1] = args[i];
        execv (argv[0], (char *const *) argv);
        _exit (127);
    }
    return pid;
}

static int
s_wait (pid_t pid)
{
    int st;
    cr_assert_eq (waitpid (pid, &st, 0), pid);
    return WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
}

/*  Whole file (malloc'd, NUL-terminated; *len without it), or NULL (*len 0).  */
static char *
s_slurp (const char *path, size_t *len)
{
    if (len)
        *len = 0;
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0, got;
    char *b = malloc (cap);
    while ((got = fread (b + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 2)
            b = realloc (b, cap *= 2);
    }
    fclose (f);
    b[n] = 0;
    if (len)
        *len = n;
    return b;
}

static char *
s_log (const char *tag, const char *ext)
{
    static char *last;
    free (last);
    char p[300];
    snprintf (p, sizeof p, "%s/%s.%s", s_dir, tag, ext);
    last = s_slurp (p, NULL);
    return last ? last : (last = strdup (""));
}

static int
s_run (const char *tag, const char *const *env, const char *const *args)
{
    return s_wait (s_start (tag, env, args));
}

static int
s_exists (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0;
}

/*  The names in dir, sorted, space-separated.  */
static char *
s_listing (const char *dir)
{
    static char buf[2048];
    char cmd[400];
    snprintf (cmd, sizeof cmd, "ls -A %s | sort | tr '\\n' ' '", dir);
    FILE *p = popen (cmd, "r");
    buf[0] = 0;
    if (!fgets (buf, sizeof buf, p))
        buf[0] = 0;
    pclose (p);
    return buf;
}

/* ---- the input -------------------------------------------------------- */

/*  The first 12 lines of a few license texts, a long line (well past ctx), an
 *  empty line, bytes that are not UTF-8, JSON's special characters and a last
 *  line without its newline. Returns the number of lines.  */
static int
s_make_input (const char *path)
{
    static const char *files[] = { "Apache-2.0", "BSD", "GPL-3", "MPL-2.0", "Artistic" };
    FILE *w = fopen (path, "wb");
    cr_assert_not_null (w);
    int lines = 0;
    char buf[1024];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[256];
        snprintf (p, sizeof p, "%s/%s", CORPUS, files[i]);
        FILE *f = fopen (p, "r");
        cr_assert_not_null (f, "%s", p);
        for (int k = 0; k < 12 && fgets (buf, sizeof buf, f); k++, lines++)
            fputs (buf, w);
        fclose (f);
    }
    fputs ("This program is free software: you can redistribute it and/or modify it under the terms of the GNU "
           "General Public License as published by the Free Software Foundation, either version 3 of the License, "
           "or (at your option) any later version.\n",
           w);
    fputs ("\n", w);
    fputs ("caf\xc3\xa9 \xff\xfe bytes \xed\xa0\x80 and a cut \xe2\x82\n", w);
    fputs ("\"quoted\" back\\slash\ttab \x01 control\n", w);
    fputs ("the end, without a newline", w);
    fclose (w);
    return lines + 5;
}

/*  Lines of a file: pointers into buf (modified), count in *n.  */
static char **
s_split (char *buf, size_t len, int *n)
{
    char **v = calloc (len + 2, sizeof *v);
    *n = 0;
    char *p = buf, *end = buf + len;
    while (p < end) {
        char *eol = memchr (p, '\n', (size_t) (end - p));
        v[(*n)++] = p;
        if (!eol)
            break;
        *eol = 0;
        p = eol + 1;
    }
    return v;
}

/*  Input line k (0-based) as bytes.  */
static const char *
s_input_line (const char *path, int k, size_t *len)
{
    static char *buf;
    static char **v;
    free (buf), free (v);
    size_t n;
    buf = s_slurp (path, &n);
    int count;
    v = s_split (buf, n, &count);
    cr_assert_lt (k, count);
    /*  NUL-terminated by s_split (no NULs in the test input)  */
    *len = strlen (v[k]);
    return v[k];
}

/*  Parses OUT: checks every line is a JSON object with line k+1 and the
 *  input's byte count; returns the objects (json_decref each).  */
static json_t **
s_parse_out (const char *out, const char *input, int lines)
{
    size_t olen, ilen;
    char *ob = s_slurp (out, &olen), *ib = s_slurp (input, &ilen);
    cr_assert_not_null (ob, "%s missing", out);
    int on, in;
    char **ov = s_split (ob, olen, &on), **iv = s_split (ib, ilen, &in);
    cr_assert_eq (in, lines);
    cr_assert_eq (on, lines, "%d output lines for %d input lines", on, lines);
    cr_assert_eq (ob[olen - 1], 0, "output ends with a newline"); /*  s_split turned it into 0  */
    json_t **objs = calloc ((size_t) lines, sizeof *objs);
    for (int k = 0; k < lines; k++) {
        json_error_t e;
        objs[k] = json_loads (ov[k], JSON_REJECT_DUPLICATES, &e);
        cr_assert_not_null (objs[k], "line %d is not JSON (%s): %s", k + 1, e.text, ov[k]);
        cr_assert_eq (json_integer_value (json_object_get (objs[k], "line")), k + 1);
        cr_assert_eq (json_integer_value (json_object_get (objs[k], "bytes")), (json_int_t) strlen (iv[k]));
        cr_assert (json_is_string (json_object_get (objs[k], "continuation")));
        cr_assert (json_is_real (json_object_get (objs[k], "ppl")), "line %d: %s", k + 1, ov[k]);
    }
    free (ov), free (iv), free (ob), free (ib);
    return objs;
}

static void
s_free_objs (json_t **o, int n)
{
    for (int k = 0; k < n; k++)
        json_decref (o[k]);
    free (o);
}

/* ---- sharding ------------------------------------------------------------ */

Test (twin_infer, one_two_and_three_shards_write_the_same_bytes)
{
    const char *in = s_sub ("in.txt"), *ck = s_sub ("ck");
    int lines = s_make_input (in);
    char o1[400], o2[400], o3[400], d1[300], d2[300], d3[300];
    snprintf (d1, sizeof d1, "%s/one", s_dir), snprintf (o1, sizeof o1, "%s/out.jsonl", d1);
    snprintf (d2, sizeof d2, "%s/two", s_dir), snprintf (o2, sizeof o2, "%s/out.jsonl", d2);
    snprintf (d3, sizeof d3, "%s/three", s_dir), snprintf (o3, sizeof o3, "%s/out.jsonl", d3);
    mkdir (d1, 0777), mkdir (d2, 0777), mkdir (d3, 0777);

    /*  one shard (a checkpoint directory as --model: its newest checkpoint)  */
    int rc =
        s_run ("one", NULL, (const char *[]) { "--model", ck, "--data", in, "--out", o1, "--max-new", "16", NULL });
    cr_assert_eq (rc, 0, "exit %d: %s", rc, s_log ("one", "err"));
    char want[64];
    snprintf (want, sizeof want, "items %d items_per_s ", lines);
    cr_assert (strstr (s_log ("one", "out"), want), "%s", s_log ("one", "out"));
    cr_assert_str_eq (s_listing (d1), "out.jsonl ");
    s_free_objs (s_parse_out (o1, in, lines), lines);

    /*  two shards one after the other, told by the worker's environment  */
    rc = s_run ("two1", (const char *[]) { "STRATA_RANK=1", "STRATA_WORLD_SIZE=2", NULL },
                (const char *[]) { "--model", ck, "--data", in, "--out", o2, "--max-new", "16", NULL });
    cr_assert_eq (rc, 0, "exit %d: %s", rc, s_log ("two1", "err"));
    snprintf (want, sizeof want, "items %d items_per_s ", lines / 2);
    cr_assert (strstr (s_log ("two1", "out"), want), "%s", s_log ("two1", "out"));
    cr_assert_str_eq (s_listing (d2), "out.jsonl.shard-1-of-2 ", "one shard of two: no OUT yet");
    rc = s_run ("two0", (const char *[]) { "STRATA_RANK=0", "STRATA_WORLD_SIZE=2", NULL },
                (const char *[]) { "--model", ck, "--data", in, "--out", o2, "--max-new", "16", NULL });
    cr_assert_eq (rc, 0, "exit %d: %s", rc, s_log ("two0", "err"));
    cr_assert_str_eq (s_listing (d2), "out.jsonl ", "merged: shard files removed");

    /*  three shards at once: they finish together and race to merge  */
    pid_t pid[3];
    for (int i = 0; i < 3; i++) {
        char tag[16], shard[8];
        snprintf (tag, sizeof tag, "three%d", i);
        snprintf (shard, sizeof shard, "%d", i);
        pid[i] = s_start (tag, NULL,
                          (const char *[]) { "--model", ck, "--data", in, "--out", o3, "--shard", shard, "--shards",
                                             "3", "--max-new", "16", NULL });
    }
    for (int i = 0; i < 3; i++) {
        char tag[16];
        snprintf (tag, sizeof tag, "three%d", i);
        rc = s_wait (pid[i]);
        cr_assert_eq (rc, 0, "shard %d: exit %d: %s", i, rc, s_log (tag, "err"));
    }
    cr_assert_str_eq (s_listing (d3), "out.jsonl ");

    size_t l1, l2, l3;
    char *b1 = s_slurp (o1, &l1), *b2 = s_slurp (o2, &l2), *b3 = s_slurp (o3, &l3);
    cr_assert (l1 == l2 && memcmp (b1, b2, l1) == 0, "1 and 2 shards differ");
    cr_assert (l1 == l3 && memcmp (b1, b3, l1) == 0, "1 and 3 shards differ");
    free (b1), free (b2), free (b3);
}

Test (twin_infer, shard_files_of_another_run_are_not_merged)
{
    const char *in = s_sub ("in.txt"), *ck = s_sub ("ck"), *out = s_sub ("out.jsonl");
    s_make_input (in);
    const char *shard1 = s_sub ("out.jsonl.shard-1-of-2");
    /*  shard 1 of a run with --max-new 4, then shard 0 of a run with 8  */
    cr_assert_eq (s_run ("a1", NULL,
                         (const char *[]) { "--model", ck, "--data", in, "--out", out, "--shard", "1", "--shards",
                                            "2", "--max-new", "4", NULL }),
                  0);
    cr_assert (s_exists (shard1));
    cr_assert_eq (s_run ("b0", NULL,
                         (const char *[]) { "--model", ck, "--data", in, "--out", out, "--shard", "0", "--shards",
                                            "2", "--max-new", "8", NULL }),
                  0);
    cr_assert (!s_exists (out), "merged shard files of two different runs");
    cr_assert (strstr (s_log ("b0", "err"), "is not there"), "%s", s_log ("b0", "err"));
    /*  shard 1 of the second run completes it  */
    cr_assert_eq (s_run ("b1", NULL,
                         (const char *[]) { "--model", ck, "--data", in, "--out", out, "--shard", "1", "--shards",
                                            "2", "--max-new", "8", NULL }),
                  0);
    cr_assert (s_exists (out), "%s", s_log ("b1", "err"));
    cr_assert (!s_exists (shard1));
    char ref[300];
    snprintf (ref, sizeof ref, "%s/ref.jsonl", s_dir);
    cr_assert_eq (
        s_run ("ref", NULL, (const char *[]) { "--model", ck, "--data", in, "--out", ref, "--max-new", "8", NULL }),
        0);
    size_t la, lb;
    char *a = s_slurp (out, &la), *b = s_slurp (ref, &lb);
    cr_assert (la == lb && memcmp (a, b, la) == 0);
    free (a), free (b);
}

/* ---- against the model ------------------------------------------------ */

static twin_model_t *
s_load (void)
{
    char path[4096], err[512];
    cr_assert_eq (twin_ckpt_latest (s_sub ("ck"), path, sizeof path, err, sizeof err), 1);
    twin_ckpt_meta_t meta;
    cr_assert_eq (twin_ckpt_read_meta (path, &meta, err, sizeof err), 0, "%s", err);
    cr_assert_eq (meta.cfg.ctx, CTX);
    twin_model_t *m = twin_model_new (&meta.cfg, 1, meta.cfg.ctx);
    cr_assert_not_null (m);
    cr_assert_eq (twin_ckpt_load (path, m, 0, &meta, err, sizeof err), 0, "%s", err);
    return m;
}

/*  Summed NLL of the targets of "\n" + line + "\n" in [a + skip + 1, a + T],
 *  from twin_forward's mean loss alone: causal attention makes the first
 *  `skip` positions of a window the same as those of a window of length skip.  */
static double
s_window_nll (twin_model_t *m, const uint8_t *seq, size_t a, size_t T, size_t skip)
{
    double all = (double) twin_forward (m, seq + a, 1, (int) T) * (double) T;
    double pre = skip ? (double) twin_forward (m, seq + a, 1, (int) skip) * (double) skip : 0.0;
    return all - pre;
}

/*  Perplexity of a line computed here: one window when the line fits, else
 *  windows of CTX inputs every CTX/2 bytes, each scoring what is new.  */
static double
s_expected_ppl (twin_model_t *m, const char *line, size_t len)
{
    uint8_t *seq = malloc (len + 2);
    seq[0] = '\n';
    memcpy (seq + 1, line, len);
    seq[len + 1] = '\n';
    size_t targets = len + 1, done = 0;
    double sum = 0;
    for (size_t a = 0; done < targets; a += CTX / 2) {
        size_t T = targets - a < CTX ? targets - a : CTX;
        sum += s_window_nll (m, seq, a, T, done - a);
        done = a + T;
    }
    free (seq);
    return exp (sum / (double) targets);
}

Test (twin_infer, perplexity_is_exp_of_the_mean_nll_from_twin_forward)
{
    const char *in = s_sub ("in.txt"), *out = s_sub ("out.jsonl");
    int lines = s_make_input (in);
    int rc = s_run ("ppl", NULL,
                    (const char *[]) { "--model", s_sub ("ck"), "--data", in, "--out", out, "--max-new", "0", NULL });
    cr_assert_eq (rc, 0, "%s", s_log ("ppl", "err"));
    json_t **objs = s_parse_out (out, in, lines);
    twin_model_t *m = s_load ();

    /*  every line: short ones (one window), the empty one, long ones (windows)  */
    int checked_short = 0, checked_long = 0, checked_empty = 0;
    for (int k = 0; k < lines; k++) {
        size_t len;
        const char *line = s_input_line (in, k, &len);
        double got = json_real_value (json_object_get (objs[k], "ppl"));
        double want = s_expected_ppl (m, line, len);
        cr_assert (fabs (got - want) <= 1e-4 * want, "line %d (%zu bytes): ppl %.9g, twin_forward says %.9g", k + 1,
                   len, got, want);
        cr_assert_str_eq (json_string_value (json_object_get (objs[k], "continuation")), "");
        checked_short += len > 0 && len + 1 <= CTX;
        checked_long += len + 1 > 2 * CTX;
        checked_empty += len == 0;
    }
    cr_assert (checked_short > 0 && checked_long > 0 && checked_empty > 0);

    /*  and a trained model is better than chance on licence text (ln 256 is 5.5 nats)  */
    size_t len;
    const char *gpl = s_input_line (in, lines - 5, &len);
    cr_assert_gt (len, 200);
    cr_assert_lt (twin_infer_nll (m, (const uint8_t *) gpl, len), 4.0);
    twin_model_free (m);
    s_free_objs (objs, lines);
}

/*  The greedy continuation computed here, one twin_forward per byte.  */
static void
s_expected_greedy (twin_model_t *m, const char *line, size_t len, int n, uint8_t *out)
{
    uint8_t *hist = malloc (len + 1 + (size_t) n + 1);
    hist[0] = '\n';
    memcpy (hist + 1, line, len);
    size_t have = len + 1;
    for (int k = 0; k < n; k++) {
        size_t T = have < CTX ? have : CTX;
        uint8_t tok[CTX + 1];
        memcpy (tok, hist + have - T, T);
        tok[T] = 0;
        twin_forward (m, tok, 1, (int) T);
        const float *p = m->probs + (T - 1) * TWIN_VOCAB;
        int best = 0;
        for (int v = 0; v < TWIN_VOCAB; v++)
            if (p[v] > p[best])
                best = v;
        out[k] = hist[have++] = (uint8_t) best;
    }
    free (hist);
}

Test (twin_infer, greedy_continuation_is_the_argmax_step_by_step)
{
    const char *in = s_sub ("in.txt"), *out = s_sub ("out.jsonl");
    int lines = s_make_input (in);
    int rc =
        s_run ("greedy", NULL,
               (const char *[]) { "--model", s_sub ("ck"), "--data", in, "--out", out, "--max-new", "24", NULL });
    cr_assert_eq (rc, 0, "%s", s_log ("greedy", "err"));
    json_t **objs = s_parse_out (out, in, lines);
    twin_model_t *m = s_load ();
    int distinct_lines = 0;
    /*  the long line (context cut to ctx), the empty one, a licence line  */
    int pick[] = { lines - 5, lines - 4, 2, 13 };
    for (size_t i = 0; i < sizeof pick / sizeof pick[0]; i++) {
        int k = pick[i];
        size_t len;
        const char *line = s_input_line (in, k, &len);
        uint8_t want[24], lib[24];
        char clean[3 * 24 + 1];
        s_expected_greedy (m, line, len, 24, want);
        size_t cl = twin_utf8_sanitize (want, 24, clean);
        clean[cl] = 0;
        json_t *c = json_object_get (objs[k], "continuation");
        cr_assert_eq (json_string_length (c), cl);
        cr_assert (memcmp (json_string_value (c), clean, cl) == 0, "line %d: got '%s', argmax gives '%s'", k + 1,
                   json_string_value (c), clean);
        cr_assert_eq (twin_infer_greedy (m, (const uint8_t *) line, len, 24, lib), 0);
        cr_assert (memcmp (lib, want, 24) == 0);
        int distinct = 0;
        for (int j = 1; j < 24; j++)
            distinct |= want[j] != want[0];
        distinct_lines += distinct;
    }
    /*  the check means something: the model does not just repeat one byte  */
    cr_assert_gt (distinct_lines, 0);
    twin_model_free (m);
    s_free_objs (objs, lines);
}

Test (twin_infer, bytes_that_are_not_utf8_become_replacement_characters)
{
    char out[64];
    struct {
        const char *in, *want;
    } cases[] = {
        { "plain", "plain" },
        { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
        { "a\xff"
          "b",
          "a\xef\xbf\xbd"
          "b" },
        { "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd" },                                 /*  overlong '/'  */
        { "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },                 /*  a surrogate  */
        { "\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" }, /*  past U+10FFFF  */
        { "cut \xe2\x82", "cut \xef\xbf\xbd\xef\xbf\xbd" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = twin_utf8_sanitize ((const uint8_t *) cases[i].in, strlen (cases[i].in), out);
        out[n] = 0;
        cr_assert_str_eq (out, cases[i].want, "case %zu", i);
    }
}

/* ---- bad input ------------------------------------------------------------ */

static void
s_expect_usage_error (const char *needle, const char *const *env, const char *const *args)
{
    int rc = s_run ("bad", env, args);
    cr_assert_eq (rc, 2, "exit %d for %s (stderr: %s)", rc, args[0], s_log ("bad", "err"));
    cr_assert (strstr (s_log ("bad", "err"), needle), "stderr lacks '%s': %s", needle, s_log ("bad", "err"));
}

Test (twin_infer, bad_flags_and_inputs_exit_2)
{
    const char *in = s_sub ("in.txt"), *ck = s_sub ("ck"), *out = s_sub ("o/out.jsonl"), *empty = s_sub ("empty");
    s_make_input (in);
    mkdir (s_sub ("o"), 0777);
    mkdir (empty, 0777);
    char path[4096], err[512];
    cr_assert_eq (twin_ckpt_latest (ck, path, sizeof path, err, sizeof err), 1);
    /*  a copy with one byte flipped, and one cut short  */
    size_t len;
    char *ckb = s_slurp (path, &len);
    const char *flipped = s_sub ("flipped.bin"), *cut = s_sub ("cut.bin");
    ckb[len / 2] ^= 0x10;
    FILE *f = fopen (flipped, "wb");
    fwrite (ckb, 1, len, f);
    fclose (f);
    ckb[len / 2] ^= 0x10;
    f = fopen (cut, "wb");
    fwrite (ckb, 1, len - 100, f);
    fclose (f);
    free (ckb);

    s_expect_usage_error ("unknown option", NULL, (const char *[]) { "--frobnicate", NULL });
    s_expect_usage_error ("needs a value", NULL, (const char *[]) { "--model", NULL });
    s_expect_usage_error ("unexpected argument", NULL, (const char *[]) { "--model", ck, "extra", NULL });
    s_expect_usage_error ("--model is required", NULL, (const char *[]) { "--data", in, "--out", out, NULL });
    s_expect_usage_error ("--data is required", NULL, (const char *[]) { "--model", ck, "--out", out, NULL });
    s_expect_usage_error ("--out is required", NULL, (const char *[]) { "--model", ck, "--data", in, NULL });
    s_expect_usage_error ("--max-new wants", NULL,
                          (const char *[]) { "--model", ck, "--data", in, "--out", out, "--max-new", "99999", NULL });
    s_expect_usage_error ("--shards wants", NULL,
                          (const char *[]) { "--model", ck, "--data", in, "--out", out, "--shards", "0", NULL });
    s_expect_usage_error (
        "shard 3 is not below shards 3", NULL,
        (const char *[]) { "--model", ck, "--data", in, "--out", out, "--shard", "3", "--shards", "3", NULL });
    s_expect_usage_error ("shard 2 is not below shards 2",
                          (const char *[]) { "STRATA_RANK=2", "STRATA_WORLD_SIZE=2", NULL },
                          (const char *[]) { "--model", ck, "--data", in, "--out", out, NULL });
    s_expect_usage_error ("STRATA_WORLD_SIZE wants", (const char *[]) { "STRATA_WORLD_SIZE=many", NULL },
                          (const char *[]) { "--model", ck, "--data", in, "--out", out, NULL });
    s_expect_usage_error ("/nonexistent/model", NULL,
                          (const char *[]) { "--model", "/nonexistent/model", "--data", in, "--out", out, NULL });
    s_expect_usage_error ("no checkpoint", NULL,
                          (const char *[]) { "--model", empty, "--data", in, "--out", out, NULL });
    s_expect_usage_error ("CRC mismatch", NULL,
                          (const char *[]) { "--model", flipped, "--data", in, "--out", out, NULL });
    s_expect_usage_error ("wrong size", NULL, (const char *[]) { "--model", cut, "--data", in, "--out", out, NULL });
    s_expect_usage_error ("bad magic", NULL, (const char *[]) { "--model", in, "--data", in, "--out", out, NULL });
    s_expect_usage_error ("/nonexistent/data", NULL,
                          (const char *[]) { "--model", ck, "--data", "/nonexistent/data", "--out", out, NULL });
    s_expect_usage_error ("is not a file", NULL,
                          (const char *[]) { "--model", ck, "--data", empty, "--out", out, NULL });
    s_expect_usage_error ("is a directory", NULL,
                          (const char *[]) { "--model", ck, "--data", in, "--out", s_sub ("o"), NULL });
    s_expect_usage_error ("no directory", NULL,
                          (const char *[]) { "--model", ck, "--data", in, "--out", s_sub ("nodir/out"), NULL });
    cr_assert_str_eq (s_listing (s_sub ("o")), "", "nothing written for bad input");

    cr_assert_eq (s_run ("help", NULL, (const char *[]) { "--help", NULL }), 0);
    cr_assert (strstr (s_log ("help", "out"), "usage: strata-twin-infer") && strstr (s_log ("help", "out"), "75"));
}

/* ---- SIGTERM -------------------------------------------------------------- */

Test (twin_infer, sigterm_exits_75_leaves_nothing_and_a_rerun_completes)
{
    /*  400 lines of licence text: seconds of work, stopped after the first  */
    const char *in = s_sub ("big.txt"), *ck = s_sub ("ck"), *out = s_sub ("o/out.jsonl");
    mkdir (s_sub ("o"), 0777);
    char cmd[600];
    snprintf (cmd, sizeof cmd, "cat %s/GPL-3 %s/Apache-2.0 | head -n 400 > %s", CORPUS, CORPUS, in);
    cr_assert_eq (system (cmd), 0);
    const char *args[] = { "--model", ck, "--data", in, "--out", out, "--max-new", "32", NULL };
    pid_t pid = s_start ("term", NULL, args);
    /*  wait until the shard's temporary file holds a line beyond its header  */
    char tmp[300];
    snprintf (tmp, sizeof tmp, "%s.shard-0-of-1.tmp", out);
    for (;;) {
        size_t n = 0;
        char *b = s_slurp (tmp, &n);
        int lines = 0;
        for (size_t i = 0; b && i < n; i++)
            lines += b[i] == '\n';
        free (b);
        if (lines >= 2)
            break;
        int st;
        cr_assert_eq (waitpid (pid, &st, WNOHANG), 0, "ended before it could be stopped: %s", s_log ("term", "err"));
        usleep (1000);
    }
    kill (pid, SIGTERM);
    int rc = s_wait (pid);
    cr_assert_eq (rc, TWIN_EXIT_PREEMPTED, "exit %d: %s", rc, s_log ("term", "err"));
    cr_assert (strstr (s_log ("term", "err"), "stopped by signal"), "%s", s_log ("term", "err"));
    cr_assert_str_eq (s_listing (s_sub ("o")), "", "a stopped shard leaves no file");
    cr_assert (!strstr (s_log ("term", "out"), "items "), "no summary for a stopped shard");

    /*  the rerun redoes the shard  */
    rc = s_run ("rerun", NULL, args);
    cr_assert_eq (rc, 0, "%s", s_log ("rerun", "err"));
    cr_assert_str_eq (s_listing (s_sub ("o")), "out.jsonl ");
    s_free_objs (s_parse_out (out, in, 400), 400);
}
