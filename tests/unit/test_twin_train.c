/*  test_twin_train.c: strata-twin-train end to end, and its checkpoints.
 *
 *    checkpoint round trip   save/load is bit-exact; corruption and truncation are refused; pruning
 *    flags                   bad flags, paths and shapes exit 2 with a message; --help exits 0
 *    determinism             two runs with one seed print the same losses
 *    resume                  N steps == N/2 steps + --resume to N (every loss line and val_loss)
 *    SIGTERM                 exit 75 with a checkpoint; resuming from it continues the exact run
 *    learning                held-out loss below a bigram model fitted on the same training split
 *    --device                cuda: exit 2 with twin_cuda_device_count's line where no device is
 *                            visible (here), else within 1e-3 of the CPU over 20 steps; auto: the
 *                            CPU here, bit for bit; bogus: exit 2; the device path itself on the
 *                            emulated CUDA runtime (twin_train_emu): one rank, resume, two ranks
 *
 *  The binaries come from $STRATA_BIN_DIR; the corpus is /usr/share/common-licenses.  */
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

/*  Starts prog (a path, or a name looked up in PATH) with argv
 *  (NULL-terminated, without argv[0]); its stdout comes back on *out_fd,
 *  stderr goes to DIR/stderr.log.  */
static pid_t
s_start_prog (const char *prog, const char *const *args, int *out_fd, const char *ckpt_env)
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
        const char *argv[64] = { prog };
        for (int i = 0; args[i]; i++)
            argv[i + 1] = args[i];
        execvp (argv[0], (char *const *) argv);
        _exit (127);
    }
    close (p[1]);
    *out_fd = p[0];
    return pid;
}

/*  The trainer.  */
static pid_t
s_start (const char *const *args, int *out_fd, const char *ckpt_env)
{
    return s_start_prog (s_bin (), args, out_fd, ckpt_env);
}

static int
s_wait (pid_t pid)
{
    int st;
    cr_assert_eq (waitpid (pid, &st, 0), pid);
    return WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
}

/*  Runs prog to the end; returns the exit status, stdout in *out (malloc'd).  */
static int
s_run_prog (const char *prog, char **out, const char *const *args)
{
    int fd;
    pid_t pid = s_start_prog (prog, args, &fd, NULL);
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

static int
s_run (char **out, const char *const *args)
{
    return s_run_prog (s_bin (), out, args);
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
    cr_assert (strstr (err, "config differs"), "%s", err); /*  not merely some other failure  */
    /*  not a checkpoint at all: the magic number, checked before anything the header claims  */
    f = fopen (path, "r+b");
    fputc ('X', f);
    fclose (f);
    cr_assert_eq (twin_ckpt_read_meta (path, &got, err, sizeof err), -1);
    cr_assert (strstr (err, "magic"), "%s", err);

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

Test (twin_train, only_canonical_checkpoint_names_count)
{
    /*  Names that are not "ckpt-%012llu.bin" (a hand-made one, a step past
     *  2^64) are no checkpoints: listing them would name a file that is not
     *  there, and pruning would remove another.  */
    const char *dir = s_sub ("ck");
    char err[512], latest[4096], p[4096];
    mkdir (dir, 0777);
    const char *names[] = { "ckpt-7.bin", "ckpt-99999999999999999999999.bin", "ckpt-0000000000x1.bin" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf (p, sizeof p, "%s/%s", dir, names[i]);
        FILE *f = fopen (p, "wb");
        cr_assert_not_null (f);
        fclose (f);
    }
    cr_assert_eq (twin_ckpt_latest (dir, latest, sizeof latest, err, sizeof err), 0, "%s", latest);
    snprintf (p, sizeof p, "%s/ckpt-000000000003.bin", dir);
    FILE *f = fopen (p, "wb");
    cr_assert_not_null (f);
    fclose (f);
    cr_assert_eq (twin_ckpt_latest (dir, latest, sizeof latest, err, sizeof err), 1);
    cr_assert_str_eq (latest, p);
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
    s_expect_usage_error ("heads must divide dim", (const char *[]) { "--data", CORPUS, "--checkpoint-dir", ck,
                                                                      "--dim", "10", "--heads", "4", NULL });
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
    const char *args[] = { "--data", CORPUS, "--checkpoint-dir",         dir, "--steps", steps, "--seed",
                           "5",      TINY,   resume ? "--resume" : NULL, NULL };
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
    pid_t pid = s_start (args, &fd, dir); /*  the directory through STRATA_CHECKPOINT_DIR  */
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
    const char *args[] = { "--data",
                           CORPUS,
                           "--checkpoint-dir",
                           s_sub ("learn"),
                           "--steps",
                           "500",
                           "--seed",
                           "1",
                           "--layers",
                           "1",
                           "--dim",
                           "32",
                           "--heads",
                           "4",
                           "--seq",
                           "32",
                           "--batch",
                           "16",
                           "--lr",
                           "0.01",
                           NULL };
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
    const char *args[] = { "--data",
                           CORPUS,
                           "--checkpoint-dir",
                           s_sub ("tuned"),
                           "--steps",
                           "2",
                           "--seed",
                           "5",
                           "--seq",
                           "16",
                           "--batch",
                           "4",
                           "--base",
                           path,
                           NULL };
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

/* ---- --device cpu|cuda|auto ------------------------------------------ */

/*  A program next to the trainer (STRATA_BIN_DIR).  */
static const char *
s_bin_named (const char *name)
{
    static char path[2][512];
    static int k;
    k ^= 1;
    const char *dir = getenv ("STRATA_BIN_DIR");
    snprintf (path[k], sizeof path[k], "%s/%s", dir ? dir : "build/bin", name);
    return path[k];
}

/*  What CUDA runs in the children need under ASan on a GPU machine (as ctest
 *  gives test_twin_cuda): the driver maps memory in ASan's shadow gap, and
 *  keeps allocations for the life of the process. Nothing without ASan.  */
static void
s_cuda_child_env (void)
{
    char buf[2048];
    const char *a = getenv ("ASAN_OPTIONS");
    snprintf (buf, sizeof buf, "%s%sprotect_shadow_gap=0", a ? a : "", a && *a ? ":" : "");
    setenv ("ASAN_OPTIONS", buf, 1);
    const char *src = getenv ("STRATA_SOURCE_DIR");
    char supp[1024];
    snprintf (supp, sizeof supp, "%s/workloads/twin/cuda/lsan.supp", src ? src : ".");
    if (access (supp, R_OK) == 0) {
        const char *l = getenv ("LSAN_OPTIONS");
        snprintf (buf, sizeof buf, "%s%ssuppressions=%s", l ? l : "", l && *l ? ":" : "", supp);
        setenv ("LSAN_OPTIONS", buf, 1);
    }
}

/*  Whether this build has CUDA and a device is visible, asked of a program
 *  other than the trainer: strata-twin-cuda-check, built exactly when the
 *  trainer gets CUDA (workloads/twin/cuda/CMakeLists.txt), which calls
 *  twin_cuda_device_count and, without a device, prints
 *  "SKIP: <its message>: GPU training path not exercised" and exits 77.
 *  (This test links strata_twin_core only, and keeps CUDA out of its own
 *  process.) Returns -1 built without CUDA, 0 no device (why: the message),
 *  1 a device is visible.  */
static int
s_cuda_devices (char *why, size_t whylen)
{
    *why = 0;
    const char *check = s_bin_named ("strata-twin-cuda-check");
    if (access (check, X_OK) != 0)
        return -1;
    s_cuda_child_env ();
    char *out;
    /*  The smallest comparison: on a GPU it takes a moment; without one it stops at the count.  */
    int rc = s_run_prog (check, &out,
                         (const char *[]) { "--layers", "1", "--dim", "16", "--heads", "2", "--seq", "8", "--batch",
                                            "1", "--steps", "1", NULL });
    int res = 1;
    if (rc == 77) {
        const char *tail = ": GPU training path not exercised";
        char *end = strstr (out, tail);
        cr_assert (!strncmp (out, "SKIP: ", 6) && end, "strata-twin-cuda-check says: %s", out);
        snprintf (why, whylen, "%.*s", (int) (end - out - 6), out + 6);
        res = 0;
    }
    else
        cr_assert (rc == 0 || rc == 1, "strata-twin-cuda-check: exit %d: %s%s", rc, out, s_stderr ());
    free (out);
    return res;
}

/*  The "step N loss X" values of a run (N must count first, first + 1, ...)
 *  and its val_loss (NAN when absent); returns the number of steps.  */
static int
s_loss_values (const char *out, int first, double *loss, int max, double *val)
{
    int n = 0;
    *val = NAN;
    for (const char *p = out; p && *p; p = strchr (p, '\n'), p = p ? p + 1 : NULL) {
        long step;
        double x;
        if (sscanf (p, "step %ld loss %lf", &step, &x) == 2) {
            cr_assert_eq (step, (long) first + n, "step %ld after %d steps from step %d", step, n, first);
            cr_assert_lt (n, max);
            loss[n++] = x;
        }
        else if (sscanf (p, "val_loss %lf", &x) == 1)
            *val = x;
    }
    return n;
}

/*  Every step's loss and the val_loss of run b within rel_tol (relative) of
 *  run a's, from step `first` of a on (b may be a resumed run); both have
 *  `steps` steps from there. Returns the largest relative difference.  */
static double
s_expect_close (const char *a, const char *b, int first, int steps, double rel_tol, const char *what)
{
    double la[256], lb[256], va, vb;
    int na = s_loss_values (a, 1, la, 256, &va), nb = s_loss_values (b, first, lb, 256, &vb);
    cr_assert_eq (na, first - 1 + steps, "%s: %d steps in\n%s", what, na, a);
    cr_assert_eq (nb, steps, "%s: %d steps in\n%s", what, nb, b);
    cr_assert (isfinite (va) && isfinite (vb), "%s: no val_loss:\n%s\n%s", what, a, b);
    double worst = 0;
    for (int i = 0; i <= steps; i++) {
        double x = i < steps ? la[first - 1 + i] : va, y = i < steps ? lb[i] : vb;
        double rel = fabs (x - y) / fabs (x);
        cr_assert (rel <= rel_tol, "%s: %s %d: %.6f against %.6f (relative %.2e > %.0e)", what,
                   i < steps ? "step" : "val_loss after step", first + (i < steps ? i : steps - 1), y, x, rel,
                   rel_tol);
        worst = rel > worst ? rel : worst;
    }
    return worst;
}

/*  The line the trainer printed about its device ("" when none).  */
static const char *
s_device_line (void)
{
    static char line[1024];
    const char *p = strstr (s_stderr (), "strata-twin-train: device ");
    size_t n = p ? strcspn (p, "\n") : 0;
    snprintf (line, sizeof line, "%.*s", (int) n, p ? p : "");
    return line;
}

#define DEV_STEPS "20"
#define DEV_TOL 1e-3 /*  GPU against CPU: per-step loss, relative  */

/*  A tiny run of DEV_STEPS steps on `device` into dir; the exit status, stdout in *out.  */
static int
s_device_run (const char *prog, const char *device, const char *dir, char **out)
{
    char log[300];
    snprintf (log, sizeof log, "%s/stderr.log", s_dir);
    unlink (log);
    return s_run_prog (prog, out,
                       (const char *[]) { "--data", CORPUS, "--checkpoint-dir", dir, "--steps", DEV_STEPS, "--seed",
                                          "5", TINY, "--device", device, NULL });
}

Test (twin_train, device_cuda_exits_2_without_a_device_or_matches_cpu, .timeout = 120)
{
    char why[512], *out, *cpu;
    int devices = s_cuda_devices (why, sizeof why);
    const char *dir = s_sub ("cuda");
    int rc = s_device_run (s_bin (), "cuda", dir, &out);
    if (devices <= 0) {
        /*  Refused before anything is read or written: one line, exit 2.  */
        char want[700];
        if (devices < 0)
            snprintf (want, sizeof want,
                      "strata-twin-train: --device cuda: this strata-twin-train was built without "
                      "CUDA (CMake found no CUDA compiler and toolkit)\n");
        else
            snprintf (want, sizeof want, "strata-twin-train: --device cuda: %s\n", why);
        cr_assert_eq (rc, 2, "exit %d (stderr: %s)", rc, s_stderr ());
        cr_assert_str_eq (s_stderr (), want);
        cr_assert_str_eq (out, "");
        struct stat st;
        cr_assert_neq (stat (dir, &st), 0, "--device cuda created %s", dir);
        cr_log_info ("--device cuda here: %s", want);
        free (out);
        return;
    }
    /*  A GPU: the same 20 steps on the CPU and on the device.  */
    cr_assert_eq (rc, 0, "exit %d: %s", rc, s_stderr ());
    cr_assert (!strncmp (s_device_line (), "strata-twin-train: device cuda", 30), "%s", s_stderr ());
    cr_assert_eq (s_device_run (s_bin (), "cpu", s_sub ("cpu"), &cpu), 0, "%s", s_stderr ());
    double worst = s_expect_close (cpu, out, 1, 20, DEV_TOL, "cuda against cpu");
    cr_log_info ("cuda against cpu, 20 steps: largest relative loss difference %.2e", worst);
    free (cpu);
    free (out);
}

Test (twin_train, device_bogus_exits_2_naming_the_flag)
{
    const char *dir = s_sub ("bogus");
    s_expect_usage_error ("--device wants cpu, cuda or auto, not 'bogus'",
                          (const char *[]) { "--data", CORPUS, "--checkpoint-dir", dir, "--device", "bogus", NULL });
    s_expect_usage_error ("--device needs a value", (const char *[]) { "--data", CORPUS, "--device", NULL });
    struct stat st;
    cr_assert_neq (stat (dir, &st), 0);
}

Test (twin_train, device_auto_takes_the_cpu_without_a_device, .timeout = 120)
{
    char why[512], *cpu, *autod;
    int devices = s_cuda_devices (why, sizeof why);
    cr_assert_eq (s_device_run (s_bin (), "cpu", s_sub ("cpu"), &cpu), 0, "%s", s_stderr ());
    cr_assert_str_eq (s_device_line (), "strata-twin-train: device cpu");
    cr_assert_eq (s_device_run (s_bin (), "auto", s_sub ("auto"), &autod), 0, "%s", s_stderr ());
    if (devices <= 0) {
        char want[700];
        snprintf (want, sizeof want, "strata-twin-train: device cpu (--device auto: %s)",
                  devices < 0 ? "built without CUDA" : why);
        cr_assert_str_eq (s_device_line (), want);
        /*  The CPU step itself: the very same losses, bit for bit.  */
        char *a = s_losses (cpu), *b = s_losses (autod);
        cr_assert (strstr (a, "step 20 loss ") && strstr (a, "val_loss "), "%s", a);
        cr_assert_str_eq (b, a);
        free (a), free (b);
    }
    else {
        cr_assert (!strncmp (s_device_line (), "strata-twin-train: device cuda", 30), "%s", s_stderr ());
        s_expect_close (cpu, autod, 1, 20, DEV_TOL, "auto (cuda) against cpu");
    }
    free (cpu), free (autod);
}

/*  The trainer's --device cuda path on the emulated CUDA runtime
 *  (twin_train_emu: main.c and train.c on strata_twin_cuda_emu, whose
 *  kernels run on the CPU; built where STRATA_TWIN_CUDA_EMU is on). The
 *  emulation differs from model.c by float rounding only (about 1e-7), so
 *  the bounds here are tight: a missing copy between host and device, or
 *  a lost optimizer state, is far outside them.  */
#define EMU_TOL 1e-5

static const char *
s_emu (void)
{
    const char *emu = s_bin_named ("twin_train_emu");
    if (access (emu, X_OK) != 0)
        cr_skip_test ("%s not built (STRATA_TWIN_CUDA_EMU off): the emulated device path is not exercised", emu);
    return emu;
}

/*  Relative L2 distance of two checkpoints' params, m and v (the worst).  */
static double
s_ckpt_distance (const char *dir_a, const char *dir_b)
{
    char pa[4096], pb[4096], err[512];
    cr_assert_eq (twin_ckpt_latest (dir_a, pa, sizeof pa, err, sizeof err), 1, "%s", err);
    cr_assert_eq (twin_ckpt_latest (dir_b, pb, sizeof pb, err, sizeof err), 1, "%s", err);
    twin_ckpt_meta_t ma, mb;
    cr_assert_eq (twin_ckpt_read_meta (pa, &ma, err, sizeof err), 0, "%s", err);
    cr_assert_eq (twin_ckpt_read_meta (pb, &mb, err, sizeof err), 0, "%s", err);
    cr_assert (ma.step == mb.step && ma.cursor == mb.cursor && ma.rng == mb.rng && ma.seed == mb.seed);
    twin_model_t *a = twin_model_new (&ma.cfg, 1, ma.cfg.ctx), *b = twin_model_new (&mb.cfg, 1, mb.cfg.ctx);
    cr_assert_eq (twin_ckpt_load (pa, a, 1, &ma, err, sizeof err), 0, "%s", err);
    cr_assert_eq (twin_ckpt_load (pb, b, 1, &mb, err, sizeof err), 0, "%s", err);
    double worst = 0;
    const float *xa[3] = { a->params, a->m, a->v }, *xb[3] = { b->params, b->m, b->v };
    for (int k = 0; k < 3; k++) {
        double d = 0, n = 0;
        for (size_t i = 0; i < a->n_params; i++)
            d += ((double) xa[k][i] - xb[k][i]) * ((double) xa[k][i] - xb[k][i]), n += (double) xa[k][i] * xa[k][i];
        cr_assert_gt (n, 0.0, "checkpoint buffer %d is all zero", k);
        double rel = sqrt (d / n);
        worst = rel > worst ? rel : worst;
    }
    twin_model_free (a), twin_model_free (b);
    return worst;
}

Test (twin_train, device_cuda_emulated_matches_cpu_and_resumes, .timeout = 120)
{
    const char *emu = s_emu ();
    char *cpu, *dev, *half, *rest, d_cpu[300], d_emu[300], d_split[300];
    snprintf (d_cpu, sizeof d_cpu, "%s/cpu", s_dir);
    snprintf (d_emu, sizeof d_emu, "%s/emu", s_dir);
    snprintf (d_split, sizeof d_split, "%s/split", s_dir);
    /*  10 steps, a checkpoint at 5 and 10, on both.  */
    const char *on_cpu[] = { "--data", CORPUS,   "--steps", "10", "--checkpoint-every",
                             "5",      "--seed", "5",       TINY, "--checkpoint-dir",
                             d_cpu,    NULL };
    const char *on_emu[] = { "--data", CORPUS, "--steps",          "10",  "--checkpoint-every", "5",    "--seed",
                             "5",      TINY,   "--checkpoint-dir", d_emu, "--device",           "cuda", NULL };
    cr_assert_eq (s_run (&cpu, on_cpu), 0, "%s", s_stderr ());
    unlink (s_sub ("stderr.log"));
    cr_assert_eq (s_run_prog (emu, &dev, on_emu), 0, "%s", s_stderr ());
    cr_assert_str_eq (s_device_line (), "strata-twin-train: device cuda:0 (local rank 0, 1 visible)");
    double loss_rel = s_expect_close (cpu, dev, 1, 10, EMU_TOL, "emulated cuda against cpu");
    /*  The checkpoint holds the device's params and AdamW moments.  */
    double ck_rel = s_ckpt_distance (d_cpu, d_emu);
    cr_assert_lt (ck_rel, 1e-4, "checkpoints of the cpu and the emulated cuda run: relative L2 %.2e", ck_rel);

    /*  A CPU checkpoint (step 5) resumed on the device: loaded on the host, then
     *  copied over, moments included; steps 6..10 as the CPU run's.  */
    const char *first[] = {
        "--data", CORPUS, "--steps", "5", "--seed", "5", TINY, "--checkpoint-dir", d_split, NULL
    };
    cr_assert_eq (s_run (&half, first), 0, "%s", s_stderr ());
    const char *second[] = { "--data",           CORPUS,  "--steps",  "10",       "--seed", "5", TINY,
                             "--checkpoint-dir", d_split, "--resume", "--device", "cuda",   NULL };
    cr_assert_eq (s_run_prog (emu, &rest, second), 0, "%s", s_stderr ());
    cr_assert (strstr (s_stderr (), "resuming from"), "%s", s_stderr ());
    double resume_rel = s_expect_close (cpu, rest, 6, 5, EMU_TOL, "cpu 5 steps + emulated cuda --resume to 10");
    cr_log_info ("emulated cuda against cpu: losses %.2e, checkpoint %.2e, resumed %.2e", loss_rel, ck_rel,
                 resume_rel);
    free (cpu), free (dev), free (half), free (rest);
}

/*  Two ranks under mpirun on a host-memory backend (mpi): the device grads
 *  go through the host for the allreduce (get_grads, allreduce, set_grads).  */
Test (twin_train, device_cuda_emulated_two_ranks_average_through_the_host, .timeout = 120)
{
    const char *emu = s_emu ();
    if (system ("command -v mpirun >/dev/null 2>&1") != 0)
        cr_skip_test ("mpirun not found: two ranks on the emulated device not exercised");
    setenv ("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv ("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
    unsetenv ("STRATA_RANK"), unsetenv ("STRATA_WORLD_SIZE"), unsetenv ("STRATA_LOCAL_RANK");
    char *cpu, *dev, d_cpu[300], d_emu[300];
    snprintf (d_cpu, sizeof d_cpu, "%s/cpu2", s_dir);
    snprintf (d_emu, sizeof d_emu, "%s/emu2", s_dir);
    const char *on_cpu[] = { "-np",    "2", s_bin (), "--data",           CORPUS, "--steps", "8",
                             "--seed", "5", TINY,     "--checkpoint-dir", d_cpu,  NULL };
    const char *on_emu[] = { "-np",    "2", emu,  "--data",           CORPUS, "--steps",  "8",
                             "--seed", "5", TINY, "--checkpoint-dir", d_emu,  "--device", "cuda",
                             NULL };
    cr_assert_eq (s_run_prog ("mpirun", &cpu, on_cpu), 0, "%s", s_stderr ());
    unlink (s_sub ("stderr.log"));
    cr_assert_eq (s_run_prog ("mpirun", &dev, on_emu), 0, "%s", s_stderr ());
    cr_assert (strstr (s_stderr (), "2 ranks (mpi)"), "%s", s_stderr ());
    cr_assert (!strncmp (s_device_line (), "strata-twin-train: device cuda:0", 32), "%s", s_stderr ());
    s_expect_close (cpu, dev, 1, 8, EMU_TOL, "2 ranks: emulated cuda against cpu");
    double ck_rel = s_ckpt_distance (d_cpu, d_emu);
    cr_assert_lt (ck_rel, 1e-4, "2 ranks: checkpoints differ by %.2e", ck_rel);
    free (cpu), free (dev);
}
