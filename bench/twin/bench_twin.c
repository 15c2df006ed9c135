/*  bench_twin.c: strata-bench-twin, the CPU training and inference throughput
 *  of the reference workloads, against this machine's own sgemm peak.
 *
 *  strata-bench-twin [--quick] [--seconds S] [--data PATH] [--infer-lines N] [--max-new N]
 *
 *  In one run, on one machine:
 *
 *    sgemm      cblas_sgemm on square n x n matrices (n = 512, 1024, 2048), best of
 *               3 repetitions, 2 n^3 FLOP each; with 1 BLAS thread and with all.
 *               The 1-thread best is the peak: the trainer runs one BLAS thread.
 *    training   the steps strata-twin-train runs (twin_data_batch, twin_forward,
 *               twin_backward, twin_adamw_step), one BLAS thread, for three model
 *               sizes; 2 warm-up steps, then steps for at least S seconds.
 *               FLOP per token = 6 (12 L D^2 + 256 D) + 12 L T D: the weight
 *               matrices (Wqkv 3D^2, Wo D^2, Wfc 4D^2, Wp 4D^2 per layer, the
 *               256 x D head) cost 2 FLOP per weight and token forward and 4
 *               backward; attention's QK^T and PV cost 4 T D per layer and token
 *               forward (the full T x T product: the causal mask is applied
 *               after it) and twice that backward. Embedding lookups, layer
 *               norms, GELU, softmax and AdamW are not counted.
 *               MFU = achieved GFLOP/s / the 1-thread sgemm peak.
 *    inference  twin_infer (strata-twin-infer's path: one shard, model loaded
 *               from a checkpoint, JSON Lines out) over the first lines of the
 *               data (N for the default size, N/4 and N/20 for the bigger
 *               ones), on each model after its training steps.
 *
 *  Prints the machine, its load average before and after, and three tables. */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ftw.h>

#include "st_config.h"
#include "twin.h"

typedef struct {
    const char *name;
    int layers, dim, heads, seq, batch;
    int infer_div; /*  inference over --infer-lines / this many lines  */
} s_size_t;

/*  default: strata-twin-train's defaults. A line costs 1 + max-new forward
 *  passes of up to ctx bytes (no KV cache), so the bigger models read fewer.  */
static const s_size_t s_sizes[] = {
    { "default", 2, 64, 4, 64, 8, 1 },
    { "medium", 4, 128, 4, 128, 8, 4 },
    { "large", 4, 256, 8, 128, 8, 20 },
};

static int
s_rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st, (void) flag, (void) ftw;
    remove (path);
    return 0;
}

static void
s_loadavg (char *buf, size_t len)
{
    FILE *f = fopen ("/proc/loadavg", "r");
    buf[0] = 0;
    if (f) {
        if (fgets (buf, (int) len, f))
            buf[strcspn (buf, "\n")] = 0;
        fclose (f);
    }
}

static void
s_cpu_model (char *buf, size_t len)
{
    FILE *f = fopen ("/proc/cpuinfo", "r");
    char line[512];
    snprintf (buf, len, "unknown CPU");
    while (f && fgets (line, sizeof line, f))
        if (strncmp (line, "model name", 10) == 0) {
            const char *c = strchr (line, ':');
            if (c) {
                snprintf (buf, len, "%s", c + 2);
                buf[strcspn (buf, "\n")] = 0;
            }
            break;
        }
    if (f)
        fclose (f);
}

/*  Best GFLOP/s of reps products of n x n matrices.  */
static double
s_sgemm (int n, int reps)
{
    size_t nn = (size_t) n * n;
    float *a = malloc (nn * sizeof *a), *b = malloc (nn * sizeof *b), *c = malloc (nn * sizeof *c);
    if (!a || !b || !c) {
        free (a), free (b), free (c);
        return 0;
    }
    uint64_t rng = 42;
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float) (twin_rng_next (&rng) >> 40) / 16777216.0f - 0.5f;
        b[i] = (float) (twin_rng_next (&rng) >> 40) / 16777216.0f - 0.5f;
        c[i] = 0;
    }
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /*  warm-up  */
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = twin_now ();
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double dt = twin_now () - t0;
        best = dt < best ? dt : best;
    }
    free (a), free (b), free (c);
    return 2.0 * n * (double) n * n / best / 1e9;
}

static double
s_flop_per_token (const s_size_t *z)
{
    double L = z->layers, D = z->dim, T = z->seq;
    return 6.0 * (12.0 * L * D * D + TWIN_VOCAB * D) + 12.0 * L * T * D;
}

typedef struct {
    double tokens_per_s, ms_per_step, first_loss, last_loss;
    long steps;
    size_t params;
    double infer_items_per_s, infer_wall_s;
    long infer_items;
} s_result_t;

/*  Lines [0, n) of the data (a directory: its first file in name order is
 *  enough) into path. Returns the count written.  */
static long
s_write_lines (const twin_data_t *d, long n, const char *path)
{
    FILE *f = fopen (path, "wb");
    if (!f)
        return -1;
    long k = 0;
    size_t i = 0;
    while (k < n && i < d->len) {
        const uint8_t *eol = memchr (d->bytes + i, '\n', d->len - i);
        size_t len = eol ? (size_t) (eol - (d->bytes + i)) + 1 : d->len - i;
        fwrite (d->bytes + i, 1, len, f);
        i += len, k++;
    }
    fclose (f);
    return k;
}

static int
s_measure (const s_size_t *z, const twin_data_t *d, double seconds, long infer_lines, int max_new, const char *dir,
           s_result_t *res)
{
    memset (res, 0, sizeof *res);
    twin_config_t cfg = { z->layers, z->dim, z->heads, z->seq, TWIN_VOCAB };
    twin_model_t *m = twin_model_new (&cfg, z->batch, z->seq);
    uint8_t *tok = malloc ((size_t) z->batch * (z->seq + 1));
    if (!m || !tok) {
        twin_model_free (m);
        free (tok);
        return -1;
    }
    res->params = m->n_params;
    uint64_t rng = 1, key = 1 ^ 0x5354524154415457ULL, cursor = 0, step = 0;
    twin_model_init (m, &rng);
    twin_adamw_t hp;
    twin_adamw_defaults (&hp);
    double t0 = 0;
    for (long i = 0;; i++) {
        if (i == 2)
            t0 = twin_now (); /*  after 2 warm-up steps  */
        twin_data_batch (d, key, &cursor, z->seq, z->batch, 0, 1, tok);
        float loss = twin_forward (m, tok, z->batch, z->seq);
        twin_backward (m, tok);
        twin_adamw_step (m, &hp, ++step);
        if (i == 0)
            res->first_loss = loss;
        res->last_loss = loss;
        if (i >= 2) {
            res->steps = i - 1;
            if (res->steps >= 3 && twin_now () - t0 >= seconds)
                break;
        }
    }
    double dt = twin_now () - t0;
    res->tokens_per_s = (double) res->steps * z->batch * z->seq / dt;
    res->ms_per_step = dt * 1e3 / (double) res->steps;

    if (infer_lines > 0) {
        char ckdir[512], path[4096], data[512], out[512], err[512];
        snprintf (ckdir, sizeof ckdir, "%s/%s", dir, z->name);
        snprintf (data, sizeof data, "%s/%s.txt", dir, z->name);
        snprintf (out, sizeof out, "%s/%s.jsonl", dir, z->name);
        twin_ckpt_meta_t meta = { cfg, step, rng, cursor, d->train_len, 1 };
        res->infer_items = s_write_lines (d, infer_lines, data);
        if (twin_ckpt_save (ckdir, m, &meta, path, sizeof path, err, sizeof err) < 0) {
            fprintf (stderr, "strata-bench-twin: %s\n", err);
            twin_model_free (m), free (tok);
            return -1;
        }
        twin_infer_opts_t o;
        twin_infer_opts_defaults (&o);
        o.model = ckdir, o.data = data, o.out = out, o.max_new = max_new;
        char *text = NULL;
        size_t tlen = 0;
        FILE *cap = open_memstream (&text, &tlen), *null = fopen ("/dev/null", "w");
        double w0 = twin_now ();
        int rc = twin_infer (&o, cap, null);
        res->infer_wall_s = twin_now () - w0;
        fclose (cap), fclose (null);
        long items = 0;
        if (rc != 0 || sscanf (text, "items %ld items_per_s %lf", &items, &res->infer_items_per_s) != 2) {
            fprintf (stderr, "strata-bench-twin: inference failed (exit %d)\n", rc);
            free (text);
            twin_model_free (m), free (tok);
            return -1;
        }
        free (text);
    }
    twin_model_free (m);
    free (tok);
    return 0;
}

/*  The flags (--seconds is read as text: the table parser has no fractional type).  */
typedef struct {
    int quick;
    char *seconds, *data;
    int64_t infer_lines, max_new;
} s_flags_t;

static const st_opt_t s_flag_table[] = {
    { "quick", 0, ST_OPT_BOOL, offsetof (s_flags_t, quick), 0, 0, NULL, "1 s per figure, at most 50 lines", NULL,
      NULL },
    { "seconds", 0, ST_OPT_STRING, offsetof (s_flags_t, seconds), 0, 0, "S", "seconds per figure (default 5)", NULL,
      NULL },
    { "data", 0, ST_OPT_PATH, offsetof (s_flags_t, data), 0, 0, "PATH", "the corpus", "/usr/share/common-licenses",
      NULL },
    { "infer-lines", 0, ST_OPT_INT, offsetof (s_flags_t, infer_lines), 0, 0, "N", "lines inferred (default 200)",
      NULL, NULL },
    { "max-new", 0, ST_OPT_INT, offsetof (s_flags_t, max_new), 0, 0, "N", "bytes generated per line (default 32)",
      NULL, NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL },
};

int
main (int argc, char **argv)
{
    s_flags_t fl = { .infer_lines = 200, .max_new = 32 };
    st_error_t perr = { 0 };
    st_rc_t prc = st_config_parse (s_flag_table, &fl, argc, argv,
                                   "strata-bench-twin [--quick] [--seconds S] [--data PATH] [--infer-lines N] "
                                   "[--max-new N]",
                                   NULL, NULL, NULL, &perr);
    if (prc != ST_OK) {
        if (prc != ST_EAGAIN)
            fprintf (stderr, "strata-bench-twin: %s\n", perr.msg);
        st_config_free (s_flag_table, &fl);
        return prc == ST_EAGAIN ? 0 : 2;
    }
    double seconds = fl.seconds ? atof (fl.seconds) : 5;
    static char corpus[4096];
    snprintf (corpus, sizeof corpus, "%s", fl.data ? fl.data : "");
    long infer_lines = (long) fl.infer_lines;
    int max_new = fl.max_new < INT_MIN || fl.max_new > INT_MAX ? -1 : (int) fl.max_new, quick = fl.quick;
    st_config_free (s_flag_table, &fl);
    if (quick)
        seconds = 1, infer_lines = infer_lines > 50 ? 50 : infer_lines;
    if (!(seconds > 0) || infer_lines < 0 || max_new < 0 || max_new > TWIN_INFER_MAX_NEW) {
        fprintf (stderr, "strata-bench-twin: bad --seconds, --infer-lines or --max-new\n");
        return 2;
    }
    char err[512], cpu[256], load0[128], load1[128];
    twin_data_t d;
    if (twin_data_load (corpus, 0.1, &d, err, sizeof err) < 0) {
        fprintf (stderr, "strata-bench-twin: %s\n", err);
        return 2;
    }
    char dir[] = "/tmp/strata-bench-twin-XXXXXX";
    if (!mkdtemp (dir)) {
        perror ("strata-bench-twin: mkdtemp");
        return 1;
    }
    s_loadavg (load0, sizeof load0);
    s_cpu_model (cpu, sizeof cpu);
    int procs = openblas_get_num_procs ();
    printf ("machine: %s, %ld online CPUs; BLAS: %s (core %s)\n", cpu, sysconf (_SC_NPROCESSORS_ONLN),
            openblas_get_config (), openblas_get_corename ());
    printf ("load average before: %s\n", load0);
    printf ("data: %s (%zu bytes)\n\n", corpus, d.len);

    /*  sgemm  */
    static const int ns[] = { 512, 1024, 2048 };
    int nsz = quick ? 2 : 3, threads[2] = { 1, procs };
    double peak = 0;
    printf ("### sgemm (square n x n, best of 3, 2 n^3 FLOP)\n\n| n | BLAS threads | GFLOP/s |\n|---|---|---|\n");
    for (int t = 0; t < (procs > 1 ? 2 : 1); t++) {
        openblas_set_num_threads (threads[t]);
        for (int i = 0; i < nsz; i++) {
            double g = s_sgemm (ns[i], 3);
            if (threads[t] == 1 && g > peak)
                peak = g;
            printf ("| %d | %d | %.1f |\n", ns[i], threads[t], g);
            fflush (stdout);
        }
    }
    printf ("\npeak (1 thread, the trainer's setting): %.1f GFLOP/s\n\n", peak);

    /*  training, then inference on the trained model  */
    openblas_set_num_threads (1);
    s_result_t r[sizeof s_sizes / sizeof s_sizes[0]];
    size_t nsizes = sizeof s_sizes / sizeof s_sizes[0];
    int rc = 0;
    for (size_t i = 0; i < nsizes; i++) {
        const s_size_t *z = &s_sizes[i];
        if (s_measure (z, &d, seconds, infer_lines / z->infer_div, max_new, dir, &r[i]) < 0) {
            rc = 1;
            nsizes = i;
            break;
        }
        fprintf (stderr, "strata-bench-twin: %s done\n", z->name);
    }
    printf ("### training (one BLAS thread; FLOP/token = 6 (12 L D^2 + 256 D) + 12 L T D)\n\n");
    printf ("| model | L | D | H | B x T | params | MFLOP/token | steps | ms/step | tokens/s | GFLOP/s | MFU | "
            "loss first -> last |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < nsizes; i++) {
        const s_size_t *z = &s_sizes[i];
        double f = s_flop_per_token (z), g = r[i].tokens_per_s * f / 1e9;
        printf ("| %s | %d | %d | %d | %d x %d | %zu | %.2f | %ld | %.1f | %.0f | %.1f | %.1f%% | %.3f -> %.3f |\n",
                z->name, z->layers, z->dim, z->heads, z->batch, z->seq, r[i].params, f / 1e6, r[i].steps,
                r[i].ms_per_step, r[i].tokens_per_s, g, 100.0 * g / peak, r[i].first_loss, r[i].last_loss);
    }
    printf ("\n### inference (twin_infer: batch 1, %d greedy bytes per line, one BLAS thread)\n\n", max_new);
    printf ("| model | ctx | lines | items/s | wall s (load, read, write, merge) |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < nsizes; i++)
        if (r[i].infer_items > 0)
            printf ("| %s | %d | %ld | %.1f | %.2f |\n", s_sizes[i].name, s_sizes[i].seq, r[i].infer_items,
                    r[i].infer_items_per_s, r[i].infer_wall_s);
    s_loadavg (load1, sizeof load1);
    printf ("\nload average after: %s\n", load1);
    twin_data_free (&d);
    nftw (dir, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
