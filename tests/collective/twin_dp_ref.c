/*  twin_dp_ref: the data-parallel step of strata-twin-train, emulated in one
 *  process, and a checkpoint comparison. tests/integration/test_twin_dp.sh
 *  holds `mpirun -np W strata-twin-train` against it.
 *
 *      twin_dp_ref train --data PATH --checkpoint-dir DIR --world W --batch B
 *                  [--steps N] [--seq T] [--seed S] [--layers L --dim D --heads H] [--lr X]
 *                  [--reduce avg|sum|rank0]
 *      twin_dp_ref diff A.bin B.bin
 *
 *  train: a fresh run, exactly as strata-twin-train starts one (same init,
 *  same data key, same AdamW), where each step computes the W ranks' slices of
 *  the global batch one after the other, keeps each rank's gradient, and
 *  combines them the way the MPI backend does for W = 2: (g0 + g1) / 2, an
 *  elementwise sum (IEEE addition is commutative, so any reduction order of
 *  two ranks gives these bits) followed by a correctly rounded division. The
 *  loss printed is (l0 + l1) / 2 likewise. So for W = 2 the printed losses
 *  and the final checkpoint file must equal the trainer's bit for bit. (For
 *  W > 2 MPI's order of additions is its own choice and the sums are made
 *  left to right here: not comparable bitwise.)
 *  --reduce sum and --reduce rank0 (rank 0's own gradient only: the
 *  allreduce skipped) are deliberately wrong, for the test to show that
 *  its comparisons see the difference.
 *
 *  diff: prints `params N max_abs X max_rel Y l2_rel Z step S cursor C` for
 *  two checkpoints of the same config: X = max |a - b|, Y = max |a - b| /
 *  max(|a|, |b|, 1e-3), Z = |a - b|_2 / |a|_2 over the parameters. Exit 2
 *  when they cannot be compared.
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twin.h"

static int
s_usage (void)
{
    fprintf (stderr, "usage: twin_dp_ref train --data PATH --checkpoint-dir DIR --world W --batch B [--steps N]\n"
                     "                        [--seq T] [--seed S] [--layers L --dim D --heads H] [--lr X]\n"
                     "                        [--reduce avg|sum|rank0]\n"
                     "       twin_dp_ref diff A.bin B.bin\n");
    return 2;
}

static int
s_diff (const char *a_path, const char *b_path)
{
    char err[512];
    twin_ckpt_meta_t ma, mb;
    if (twin_ckpt_read_meta (a_path, &ma, err, sizeof err) < 0
        || twin_ckpt_read_meta (b_path, &mb, err, sizeof err) < 0) {
        fprintf (stderr, "twin_dp_ref: %s\n", err);
        return 2;
    }
    if (memcmp (&ma.cfg, &mb.cfg, sizeof ma.cfg) != 0) {
        fprintf (stderr, "twin_dp_ref: %s and %s have different configs\n", a_path, b_path);
        return 2;
    }
    twin_model_t *a = twin_model_new (&ma.cfg, 1, 1), *b = twin_model_new (&mb.cfg, 1, 1);
    int rc = 2;
    if (!a || !b)
        fprintf (stderr, "twin_dp_ref: out of memory\n");
    else if (twin_ckpt_load (a_path, a, 0, &ma, err, sizeof err) < 0
             || twin_ckpt_load (b_path, b, 0, &mb, err, sizeof err) < 0)
        fprintf (stderr, "twin_dp_ref: %s\n", err);
    else {
        double max_abs = 0, max_rel = 0, d2 = 0, a2 = 0;
        for (size_t i = 0; i < a->n_params; i++) {
            double x = a->params[i], y = b->params[i], d = fabs (x - y);
            double scale = fmax (fmax (fabs (x), fabs (y)), 1e-3);
            max_abs = fmax (max_abs, d);
            max_rel = fmax (max_rel, d / scale);
            d2 += d * d, a2 += x * x;
        }
        printf ("params %zu max_abs %.3e max_rel %.3e l2_rel %.3e step %llu/%llu cursor %llu/%llu\n", a->n_params,
                max_abs, max_rel, sqrt (d2 / a2), (unsigned long long) ma.step, (unsigned long long) mb.step,
                (unsigned long long) ma.cursor, (unsigned long long) mb.cursor);
        rc = 0;
    }
    twin_model_free (a);
    twin_model_free (b);
    return rc;
}

static int
s_num (const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod (s, &end);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf (stderr, "twin_dp_ref: bad number '%s'\n", s);
        return -1;
    }
    *out = v;
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc == 4 && strcmp (argv[1], "diff") == 0)
        return s_diff (argv[2], argv[3]);
    if (argc < 2 || strcmp (argv[1], "train") != 0)
        return s_usage ();
    /*  One BLAS thread, as twin_train runs: the ranks' products must be split the
     *  same way here as in their own processes, or the bits differ.  */
    openblas_set_num_threads (1);

    const char *data_path = NULL, *dir = NULL, *reduce = "avg", *base = NULL;
    double steps = 5, world = 0, B = 0, T = 64, seed = 1, layers = 2, dim = 64, heads = 4, lr = 3e-3;
    for (int i = 2; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return s_usage ();
        i++;
        int bad = 0;
        if (strcmp (f, "--data") == 0)
            data_path = v;
        else if (strcmp (f, "--checkpoint-dir") == 0)
            dir = v;
        else if (strcmp (f, "--reduce") == 0)
            reduce = v;
        else if (strcmp (f, "--base") == 0)
            base = v;
        else if (strcmp (f, "--steps") == 0)
            bad = s_num (v, 1, 1e6, &steps);
        else if (strcmp (f, "--world") == 0)
            bad = s_num (v, 1, 64, &world);
        else if (strcmp (f, "--batch") == 0)
            bad = s_num (v, 1, 4096, &B);
        else if (strcmp (f, "--seq") == 0)
            bad = s_num (v, 1, 4096, &T);
        else if (strcmp (f, "--seed") == 0)
            bad = s_num (v, 0, 1e15, &seed);
        else if (strcmp (f, "--layers") == 0)
            bad = s_num (v, 1, 64, &layers);
        else if (strcmp (f, "--dim") == 0)
            bad = s_num (v, 1, 8192, &dim);
        else if (strcmp (f, "--heads") == 0)
            bad = s_num (v, 1, 1024, &heads);
        else if (strcmp (f, "--lr") == 0)
            bad = s_num (v, 1e-9, 10, &lr);
        else
            return s_usage ();
        if (bad)
            return 2;
    }
    if (!data_path || !dir || world < 1 || B < 1
        || (strcmp (reduce, "avg") && strcmp (reduce, "sum") && strcmp (reduce, "rank0")))
        return s_usage ();

    /*  As twin_train does for a fresh run (train.c).  */
    char err[512];
    twin_data_t data;
    if (twin_data_load (data_path, 0.1, &data, err, sizeof err) < 0) {
        fprintf (stderr, "twin_dp_ref: %s\n", err);
        return 2;
    }
    int W = (int) world, b = (int) B, t = (int) T;
    twin_config_t cfg = { (int) layers, (int) dim, (int) heads, t, TWIN_VOCAB };
    twin_ckpt_meta_t bmeta;
    if (base) {
        if (twin_ckpt_read_meta (base, &bmeta, err, sizeof err) < 0) {
            fprintf (stderr, "twin_dp_ref: %s\n", err);
            twin_data_free (&data);
            return 2;
        }
        cfg = bmeta.cfg;
    }
    if (twin_config_check (&cfg, err, sizeof err) < 0) {
        fprintf (stderr, "twin_dp_ref: %s\n", err);
        twin_data_free (&data);
        return 2;
    }
    twin_model_t *m = twin_model_new (&cfg, b, t);
    uint8_t *tokens = malloc ((size_t) b * (t + 1));
    float *acc = malloc (sizeof (float) * (m ? m->n_params : 1));
    int rc = 0;
    if (!m || !tokens || !acc) {
        fprintf (stderr, "twin_dp_ref: out of memory\n");
        rc = 1;
        goto out;
    }
    uint64_t rng = (uint64_t) seed, cursor = 0, step = 0;
    if (!base)
        twin_model_init (m, &rng);
    else if (twin_ckpt_load (base, m, 0, &bmeta, err, sizeof err) < 0) { /*  --base: weights only  */
        fprintf (stderr, "twin_dp_ref: %s\n", err);
        rc = 2;
        goto out;
    }
    uint64_t key = (uint64_t) seed ^ 0x5354524154415457ULL; /*  train.c's data key  */
    twin_adamw_t hp;
    twin_adamw_defaults (&hp);
    hp.lr = (float) lr;
    size_t n = m->n_params;
    for (; step < (uint64_t) steps; step++) {
        float loss_sum = 0;
        uint64_t next = cursor;
        for (int r = 0; r < W; r++) {
            uint64_t c = cursor;
            twin_data_batch (&data, key, &c, t, b, r, W, tokens);
            next = c;
            float loss = twin_forward (m, tokens, b, t);
            twin_backward (m, tokens);
            if (r == 0) {
                memcpy (acc, m->grads, n * sizeof *acc);
                loss_sum = loss;
            }
            else {
                for (size_t i = 0; i < n; i++)
                    acc[i] += m->grads[i];
                loss_sum += loss;
            }
            if (strcmp (reduce, "rank0") == 0)
                break; /*  each rank its own gradient: rank 0's  */
        }
        cursor = next;
        if (strcmp (reduce, "avg") == 0)
            for (size_t i = 0; i < n; i++)
                m->grads[i] = acc[i] / (float) W;
        else
            memcpy (m->grads, acc, n * sizeof *acc);
        float loss = strcmp (reduce, "rank0") == 0 ? loss_sum : loss_sum / (float) W;
        float norm = twin_adamw_step (m, &hp, step + 1);
        fprintf (stderr, "twin_dp_ref: step %llu gradient norm %.4f\n", (unsigned long long) step + 1, norm);
        printf ("step %llu loss %.6f tokens_per_s 0\n", (unsigned long long) step + 1, loss);
    }
    printf ("val_loss %.6f\n", twin_eval (m, &data, t, b, 1024)); /*  as train.c, batch B  */
    twin_ckpt_meta_t meta = { cfg, step, rng, cursor, data.train_len, (uint64_t) seed };
    char path[4096];
    if (twin_ckpt_save (dir, m, &meta, path, sizeof path, err, sizeof err) < 0) {
        fprintf (stderr, "twin_dp_ref: %s\n", err);
        rc = 1;
    }
    else
        fprintf (stderr, "twin_dp_ref: checkpoint %s\n", path);
out:
    free (acc);
    free (tokens);
    twin_model_free (m);
    twin_data_free (&data);
    return rc;
}
