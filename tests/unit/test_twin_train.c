/*  test_twin_train.c: strata-twin-train end to end, and its checkpoints.
 *
 *    checkpoint round trip   save/load is bit-exact; corruption and truncation are refused; pruning
 *    flags                   bad flags, paths and shapes exit 2 with a message; --help exits 0
 *    determinism             two runs with one seed print the same losses
 *    resume                  N steps == N/2 steps + --resume to N (every loss line and val_loss)
 *    SIGTERM                 exit 75 with a checkpoint; resuming from it continues the exact run
 *    learning                held-out loss below a bigram model fitted on the same training split
 *
 *  The binary comes from $STRATA_BIN_DIR; the corpus is /usr/share/common-licenses.  */
#include <criterion/criterion.h>

#include <cblas.h>
#include <errno.h>
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
/*  A tiny model: fast enough for ASan builds.  */
#define TINY "--layers", "1", "--dim", "16", "--heads", "2", "--seq", "16", "--batch", "4"

static char s_dir[256];

static void
setup (void)
{
    openblas_set_num_threads (1);
    snprintf (s_dir, sizeof s_dir, "/tmp/strata-test-twin-XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
}

static void
teardown (void)
{
    st_test_rmtree (s_dir);
}

TestSuite (twin_train, .init = setup, .fini = teardown, .timeout = 60);

static const char *
s_bin (void)
{
    static char path[512];
    const char *dir = getenv ("STRATA_BIN_DIR");
    snprintf (path, sizeof path, "%s/strata-twin-train", dir ? dir : "build/bin");
    return path;
}

/*  Starts the trainer with argv (NULL-terminated, without argv[0]); its stdout
 *  comes back on *out_fd, stderr goes to DIR/stderr.log.  */
static pid_t
s_start (const char *const *args, int *out_fd, const char *ckpt_env)
{
    int p[2];
    cr_assert_eq (pipe (p), 0);
    pid_t pid = fork ();
    cr_assert (pid >= 0);
    if (pid == 0) {
        char log[300];
        snprintf (log, sizeof log, "%s/stderr.log", s_dir);
        if (!freopen (log, "a", stderr))
            _exit (126);
        dup2 (p[1], 1);
        close (p[0]), close (p[1]);
        if (ckpt_env)
            setenv ("STRATA_CHECKPOINT_DIR", ckpt_env, 1);
        else
            unsetenv ("STRATA_CHECKPOINT_DIR");
        const char *argv[64] = { s_bin () };
        for (int i = 0; args[i]; i++)
            argv[i + 1] = args[i];
        execv (argv[0], (char *const *) argv);
        _exit (127);
    }
    close (p[1]);
    *out_fd = p[0];
    return pid;
}

static int
s_wait (pid_t pid)
{
    int st;
    cr_assert_eq (waitpid (pid, &st, 0), pid);
    return WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
}

/*  Runs to the end; returns the exit status, stdout in *out (malloc'd).  */
static int
s_run (char **out, const char *const *args)
{
    int fd;
    pid_t pid = s_start (args, &fd, NULL);
    size_t len = 0, cap = 4096;
    char *buf = malloc (cap);
    ssize_t n;
    while ((n = read (fd, buf + len, cap - len - 1)) > 0 || (n < 0 && errno == EINTR)) {
        if (n > 0)
            len += (size_t) n;
        if (cap - len < 512)
            buf = realloc (buf, cap *= 2);
    }
    buf[len] = 0;
    close (fd);
    *out = buf;
    return s_wait (pid);
}

static char *
s_stderr (void)
{
    static char buf[8192];
    char path[300];
    snprintf (path, sizeof path, "%s/stderr.log", s_dir);
    FILE *f = fopen (path, "r");
    size_t n = f ? fread (buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = 0;
    if (f)
        fclose (f);
    return buf;
}

/*  The loss lines without the timing: "step N loss X" ... and "val_loss X".  */
static char *
s_losses (const char *out)
{
    char *res = calloc (1, strlen (out) + 1);
    const char *p = out;
    while (*p) {
        const char *eol = strchr (p, '\n');
        size_t len = eol ? (size_t) (eol - p) : strlen (p);
        const char *cut = memmem (p, len, " tokens_per_s ", 14);
        strncat (res, p, cut ? (size_t) (cut - p) : len);
        strcat (res, "\n");
        p += len + (eol ? 1 : 0);
    }
    return res;
}

static char *
s_sub (const char *name)
{
    static char path[2][300];
    static int k;
    k ^= 1;
    snprintf (path[k], sizeof path[k], "%s/%s", s_dir, name);
    return path[k];
}

/* ---- checkpoint files, in process ---------------------------------- */

Test (twin_train, checkpoint_round_trip_is_exact)
{
    twin_config_t c = { 2, 16, 2, 8, TWIN_VOCAB };
    twin_model_t *a = twin_model_new (&c, 2, 8), *b = twin_model_new (&c, 2, 8);
    uint64_t rng = 11;
    twin_model_init (a, &rng);
    for (size_t i = 0; i < a->n_params; i++)
        a->m[i] = twin_rng_normal (&rng), a->v[i] = fabsf (twin_rng_normal (&rng));
    twin_ckpt_meta_t meta = { c, 123, 0xfeedfacecafebeefULL, 987654321, 4242, 7 }, got;
    char err[512], path[4096], latest[4096];
    const char *dir = s_sub ("ck");
    cr_assert_eq (twin_ckpt_latest (dir, latest, sizeof latest, err, sizeof err), 0, "no dir: no checkpoint");
    cr_assert_eq (twin_ckpt_save (dir, a, &meta, path, sizeof path, err, sizeof err), 0, "%s", err);
    cr_assert_eq (twin_ckpt_latest (dir, latest, sizeof latest, err, sizeof err), 1);
    cr_assert_str_eq (latest, path);
    cr_assert_eq (twin_ckpt_load (path, b, 1, &got, err, sizeof err), 0, "%s", err);
    size_t nb = a->n_params * sizeof (float);
    cr_assert_eq (memcmp (a->params, b->params, nb), 0);
    cr_assert_eq (memcmp (a->m, b->m, nb), 0);
    cr_assert_eq (memcmp (a->v, b->v, nb), 0);
    cr_assert (got.step == 123 && got.rng == meta.rng && got.cursor == 987654321 && got.train_len == 4242
               && got.seed == 7);
    cr_assert (got.cfg.layers == 2 && got.cfg.dim == 16 && got.cfg.heads == 2 && got.cfg.ctx == 8);
    /*  without the optimizer (--base): fresh moments  */
    cr_assert_eq (twin_ckpt_load (path, b, 0, &got, err, sizeof err), 0);
    cr_assert (b->m[0] == 0.0f && b->v[a->n_params - 1] == 0.0f);

    /*  a flipped byte, a truncation, another config: refused with a reason  */
    FILE *f = fopen (path, "r+b");
    fseek (f, 200, SEEK_SET);
    int ch = fgetc (f);
    fseek (f, 200, SEEK_SET);
    fputc (ch ^ 0x40, f);
    fclose (f);
    cr_assert_eq (twin_ckpt_read_meta (path, &got, err, sizeof err), -1);
    cr_assert (strstr (err, "CRC"), "%s", err);
    cr_assert_eq (truncate (path, 500), 0);
    cr_assert_eq (twin_ckpt_read_meta (path, &got, err, sizeof err), -1);
    cr_assert (strstr (err, "size"), "%s", err);
    twin_config_t c2 = { 1, 16, 2, 8, TWIN_VOCAB };
    twin_model_t *other = twin_model_new (&c2, 2, 8);
    meta.step = 124;
    cr_assert_eq (twin_ckpt_save (dir, a, &meta, path, sizeof path, err, sizeof err), 0);
    cr_assert_eq (twin_ckpt_load (path, other, 1, &got, err, sizeof err), -1);

    /*  pruning keeps the newest two; no temporary files are left behind  */
    for (uint64_t s = 125; s <= 128; s++) {
        meta.step = s;
        cr_assert_eq (twin_ckpt_save (dir, a, &meta, path, sizeof path, err, sizeof err), 0);
    }
    char cmd[600], listing[256] = "";
    snprintf (cmd, sizeof cmd, "ls -A %s | tr '\\n' ' '", dir);
    FILE *ls = popen (cmd, "r");
    cr_assert_not_null (fgets (listing, sizeof listing, ls));
    pclose (ls);
    cr_assert_str_eq (listing, "ckpt-000000000127.bin ckpt-000000000128.bin ");
    twin_model_free (a);
    twin_model_free (b);
    twin_model_free (other);
}

/* ---- the command line ---------------------------------------------- */

static void
s_expect_usage_error (const char *needle, const char *const *args)
{
    char *out;
    char log[300];
    snprintf (log, sizeof log, "%s/stderr.log", s_dir);
    unlink (log);
    int rc = s_run (&out, args);
    cr_assert_eq (rc, 2, "exit %d for %s (stderr: %s)", rc, args[0], s_stderr ());
    cr_assert (strstr (s_stderr (), needle), "stderr lacks '%s': %s", needle, s_stderr ());
    free (out);
}

Test (twin_train, bad_flags_and_inputs_exit_2)
{
    const char *ck = s_sub ("ck");
    s_expect_usage_error ("unknown option", (const char *[]) { "--frobnicate", NULL });
    s_expect_usage_error ("--data is required", (const char *[]) { "--steps", "1", NULL });
    s_expect_usage_error ("--steps wants an integer", (const char *[]) { "--data", CORPUS, "--steps", "x1", NULL });
    s_expect_usage_error ("--lr wants a number", (const char *[]) { "--data", CORPUS, "--lr", "-1", NULL });
    s_expect_usage_error ("needs a value", (const char *[]) { "--data", NULL });
    s_expect_usage_error ("no checkpoint directory", (const char *[]) { "--data", CORPUS, NULL });
    s_expect_usage_error ("/nonexistent/corpus",
                          (const char *[]) { "--data", "/nonexistent/corpus", "--checkpoint-dir", ck, NULL });
    s_expect_usage_error ("heads must divide dim",
                          (const char *[]) { "--data", CORPUS, "--checkpoint-dir", ck, "--dim", "10", "--heads", "4",
                                             NULL });
    s_expect_usage_error ("/nonexistent.bin", (const char *[]) { "--data", CORPUS, "--checkpoint-dir", ck, "--base",
                                                         "/nonexistent.bin", NULL });
    char *out;
    cr_assert_eq (s_run (&out, (const char *[]) { "--help", NULL }), 0);
    cr_assert (strstr (out, "usage: strata-twin-train") && strstr (out, "75"));
    free (out);
}

/* ---- runs ------------------------------------------------------------ */

/*  A tiny run of `steps` steps into ckpt dir; returns its loss lines.  */
static char *
s_tiny (const char *dir, const char *steps, int resume)
{
    char *out;
    const char *args[] = { "--data", CORPUS, "--checkpoint-dir", dir, "--steps", steps, "--seed", "5", TINY,
                           resume ? "--resume" : NULL, NULL };
    int rc = s_run (&out, args);
    cr_assert_eq (rc, 0, "exit %d: %s", rc, s_stderr ());
    char *l = s_losses (out);
    free (out);
    return l;
}

Test (twin_train, same_seed_same_losses)
{
    char *a = s_tiny (s_sub ("a"), "8", 0), *b = s_tiny (s_sub ("b"), "8", 0);
    cr_assert (strstr (a, "step 8 loss ") && strstr (a, "val_loss "), "%s", a);
    cr_assert_str_eq (a, b);
    free (a);
    free (b);
}

Test (twin_train, resume_continues_bit_for_bit)
{
    char *whole = s_tiny (s_sub ("whole"), "12", 0);
    char *first = s_tiny (s_sub ("split"), "6", 0);
    char *rest = s_tiny (s_sub ("split"), "12", 1);
    cr_assert (strstr (s_stderr (), "resuming from"), "%s", s_stderr ());
    /*  first half without its val_loss line, then the resumed half  */
    *strstr (first, "val_loss") = 0;
    char joined[8192];
    snprintf (joined, sizeof joined, "%s%s", first, rest);
    cr_assert_str_eq (joined, whole);
    /*  nothing left to do: resuming at the end only evaluates  */
    char *again = s_tiny (s_sub ("split"), "12", 1);
    cr_assert_str_eq (again, strstr (whole, "val_loss"));
    free (whole), free (first), free (rest), free (again);
}

Test (twin_train, sigterm_checkpoints_exits_75_and_resumes)
{
    const char *dir = s_sub ("pre");
    const char *args[] = { "--data", CORPUS, "--steps", "1000000", "--seed", "5", TINY, NULL };
    int fd;
    pid_t pid = s_start (args, &fd, dir);                 /*  the directory through STRATA_CHECKPOINT_DIR  */
    FILE *out = fdopen (fd, "r");
    char line[256];
    long last = 0;
    while (fgets (line, sizeof line, out)) {
        sscanf (line, "step %ld", &last);
        if (last == 5)
            kill (pid, SIGTERM);
    }
    fclose (out);
    cr_assert_eq (s_wait (pid), TWIN_EXIT_PREEMPTED, "stderr: %s", s_stderr ());
    cr_assert_geq (last, 5);
    char path[4096], err[512];
    cr_assert_eq (twin_ckpt_latest (dir, path, sizeof path, err, sizeof err), 1);
    twin_ckpt_meta_t meta;
    cr_assert_eq (twin_ckpt_read_meta (path, &meta, err, sizeof err), 0, "%s", err);
    cr_assert_eq (meta.step, (uint64_t) last, "checkpoint at %llu, last step printed %ld",
                  (unsigned long long) meta.step, last);

    /*  resume to last+4 and compare with an uninterrupted run of last+4 steps  */
    char total[32];
    snprintf (total, sizeof total, "%ld", last + 4);
    char *ref = s_tiny (s_sub ("ref"), total, 0);
    char *rest = s_tiny (dir, total, 1);
    char from[64];
    snprintf (from, sizeof from, "step %ld loss", last + 1);
    cr_assert_not_null (strstr (ref, from));
    cr_assert_str_eq (rest, strstr (ref, from));
    free (ref);
    free (rest);
}

/*  Held-out loss of a bigram model (add-one smoothing) fitted on the training
 *  split, on the same windows twin_eval scores: the first `windows` windows of
 *  T+1 bytes, stride T, of the validation split.  */
static double
s_bigram_val (const twin_data_t *d, int T, int windows)
{
    static double count[256][256], row[256];
    for (int a = 0; a < 256; a++) {
        row[a] = 256;
        for (int b = 0; b < 256; b++)
            count[a][b] = 1;
    }
    for (size_t i = 0; i + 1 < d->train_len; i++)
        count[d->bytes[i]][d->bytes[i + 1]]++, row[d->bytes[i]]++;
    double sum = 0;
    long n = 0;
    for (size_t s = d->train_len; s + (size_t) T + 1 <= d->len && n < (long) windows * T; s += (size_t) T)
        for (int t = 0; t < T; t++, n++)
            sum -= log (count[d->bytes[s + t]][d->bytes[s + t + 1]] / row[d->bytes[s + t]]);
    return sum / (double) n;
}

Test (twin_train, held_out_loss_beats_a_bigram_model, .timeout = 120)
{
    char *out;
    const char *args[] = { "--data", CORPUS, "--checkpoint-dir", s_sub ("learn"), "--steps", "500", "--seed", "1",
                           "--layers", "1", "--dim", "32", "--heads", "4", "--seq", "32", "--batch", "16",
                           "--lr", "0.01", NULL };
    cr_assert_eq (s_run (&out, args), 0, "%s", s_stderr ());
    const char *v = strstr (out, "val_loss ");
    cr_assert_not_null (v);
    double val = strtod (v + 9, NULL);
    double first = strtod (strstr (out, "step 1 loss ") + 12, NULL);

    twin_data_t d;
    char err[256];
    cr_assert_eq (twin_data_load (CORPUS, 0.1, &d, err, sizeof err), 0, "%s", err);
    double bigram = s_bigram_val (&d, 32, 1024);
    twin_data_free (&d);
    cr_log_info ("step 1 loss %.4f; after 500 steps val_loss %.4f; bigram %.4f", first, val, bigram);
    cr_assert_gt (first, 5.0, "starts near ln 256");
    cr_assert_lt (val, bigram, "val_loss %.4f is not below the bigram model's %.4f", val, bigram);
    free (out);
}

Test (twin_train, base_starts_from_a_checkpoints_weights)
{
    char *trained = s_tiny (s_sub ("pre"), "30", 0);
    char path[4096], err[512];
    cr_assert_eq (twin_ckpt_latest (s_sub ("pre"), path, sizeof path, err, sizeof err), 1);
    char *out;
    const char *args[] = { "--data", CORPUS, "--checkpoint-dir", s_sub ("tuned"), "--steps", "2", "--seed", "5",
                           "--seq", "16", "--batch", "4", "--base", path, NULL };
    cr_assert_eq (s_run (&out, args), 0, "%s", s_stderr ());
    cr_assert (strstr (s_stderr (), "fine-tuning"), "%s", s_stderr ());
    /*  the fine-tuning run starts where the base left off, not at ln 256  */
    double base_first = strtod (strstr (trained, "step 1 loss ") + 12, NULL);
    double tuned_first = strtod (strstr (out, "step 1 loss ") + 12, NULL);
    cr_assert_lt (tuned_first, base_first - 0.3, "fine-tuning starts at %g, fresh at %g", tuned_first, base_first);
    free (out);
    /*  a shape that contradicts the base is refused  */
    s_expect_usage_error ("differs", (const char *[]) { "--data", CORPUS, "--checkpoint-dir", s_sub ("t2"), "--base",
                                                          path, "--dim", "32", NULL });
    free (trained);
}
