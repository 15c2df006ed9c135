/*  test_twin_cuda.c: the twin model on a CUDA device (workloads/twin/cuda/) against
 *  the CPU model (model.c). Built only where strata_twin_cuda is.
 *
 *    matches_cpu_small     same init, same batch: loss, every gradient, 5 AdamW
 *                          steps (losses, norms, final params) within TWIN_CUDA_TOL_*
 *    matches_cpu_default   the same at strata-twin-train's default shape
 *    repeatable            two device runs agree bit for bit (no atomics)
 *    two_ranks_...         grads of two half batches, averaged through the host
 *                          (get/set_grads) == the whole batch's, and so is the step
 *    refuses_bad_input     no device / bad ordinal / oversized batch / backward
 *                          without forward: clear errors, no crash
 *
 *  Without a visible device the comparisons are skipped (cr_skip_test) with
 *  "SKIP: no CUDA device visible: GPU training path not exercised".  */
#include <criterion/criterion.h>

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "twin_cuda.h"

#define SKIP_LINE "SKIP: no CUDA device visible: GPU training path not exercised"

static void
init (void)
{
    openblas_set_num_threads (1);
}

TestSuite (twin_cuda, .init = init);

/*  Skips the calling test when no device is visible, after checking that
 *  the reason reads as documented.  */
static void
need_device (void)
{
    char err[256];
    if (twin_cuda_device_count (err, sizeof err) >= 1)
        return;
    cr_assert (strncmp (err, "no CUDA device visible (cudaGetDeviceCount: ", 44) == 0, "%s", err);
    fprintf (stderr, "%s (%s)\n", SKIP_LINE, err);
    cr_skip_test ("%s", SKIP_LINE);
}

static void
compare (int layers, int dim, int heads, int T, int B)
{
    need_device ();
    twin_config_t cfg = { layers, dim, heads, T, TWIN_VOCAB };
    twin_cuda_check_t r;
    char err[512], why[256];
    int rc = twin_cuda_check_run (&cfg, B, T, 5, 7, 0, &r, err, sizeof err);
    cr_assert_eq (rc, 0, "%s", err);
    twin_cuda_check_print (&r, stderr);
    cr_expect_leq (r.loss_rel, TWIN_CUDA_TOL_LOSS, "loss: cpu %.7f gpu %.7f", r.loss_cpu, r.loss_gpu);
    cr_expect_leq (r.grad_rel, TWIN_CUDA_TOL_GRAD, "gradient of %s: %.3g", r.grad_tensor, r.grad_rel);
    cr_expect_leq (r.norm_rel, TWIN_CUDA_TOL_NORM, "gradient norm: %.3g", r.norm_rel);
    cr_expect_leq (r.params_rel, TWIN_CUDA_TOL_PARAMS, "params after 5 steps: %.3g", r.params_rel);
    cr_expect_lt (r.step_loss_gpu[4], r.step_loss_gpu[0] - 0.1, "5 steps on one batch lower its loss");
    cr_assert_eq (twin_cuda_check_verdict (&r, why, sizeof why), 0, "%s", why);
}

Test (twin_cuda, matches_cpu_small)
{
    compare (2, 48, 3, 40, 3); /*  rows longer than a warp, head width 16  */
}

Test (twin_cuda, matches_cpu_default)
{
    compare (2, 64, 4, 64, 8); /*  strata-twin-train's defaults  */
}

/*  A host model of a small shape with a fixed init and batch.  */
static twin_model_t *
small_model (int B, int T, uint8_t *tok)
{
    twin_config_t cfg = { 1, 32, 2, T, TWIN_VOCAB };
    twin_model_t *m = twin_model_new (&cfg, B, T);
    cr_assert_not_null (m);
    uint64_t rng = 3;
    twin_model_init (m, &rng);
    for (int i = 0; i < B * (T + 1); i++)
        tok[i] = (uint8_t) (twin_rng_next (&rng) % 50);
    return m;
}

Test (twin_cuda, repeatable)
{
    need_device ();
    enum { B = 4, T = 33, STEPS = 3 };
    uint8_t tok[B * (T + 1)];
    twin_model_t *host = small_model (B, T, tok);
    twin_model_t *out[2] = { small_model (B, T, tok), small_model (B, T, tok) };
    float loss[2][STEPS], norm[2][STEPS];
    twin_adamw_t hp;
    twin_adamw_defaults (&hp);
    char err[256];
    for (int run = 0; run < 2; run++) {
        twin_cuda_t *g = twin_cuda_new (host, 0, err, sizeof err);
        cr_assert_not_null (g, "%s", err);
        for (int s = 0; s < STEPS; s++) {
            loss[run][s] = twin_cuda_forward (g, tok, B, T);
            cr_assert (isfinite (loss[run][s]), "%s", twin_cuda_error (g));
            cr_assert_eq (twin_cuda_backward (g), 0, "%s", twin_cuda_error (g));
            norm[run][s] = twin_cuda_adamw_step (g, &hp, (uint64_t) s + 1);
        }
        cr_assert_eq (twin_cuda_to_host (g, out[run]), 0, "%s", twin_cuda_error (g));
        twin_cuda_destroy (&g);
        cr_assert_null (g);
    }
    cr_assert (memcmp (loss[0], loss[1], sizeof loss[0]) == 0, "losses differ between two runs");
    cr_assert (memcmp (norm[0], norm[1], sizeof norm[0]) == 0, "norms differ between two runs");
    size_t bytes = host->n_params * sizeof (float);
    cr_assert (memcmp (out[0]->params, out[1]->params, bytes) == 0, "params differ between two runs");
    cr_assert (memcmp (out[0]->m, out[1]->m, bytes) == 0);
    cr_assert (memcmp (out[0]->v, out[1]->v, bytes) == 0);
    cr_assert (memcmp (out[0]->params, host->params, bytes) != 0, "the steps changed the params");
    twin_model_free (out[0]);
    twin_model_free (out[1]);
    twin_model_free (host);
}

/*  The data-parallel contract through the device: two "ranks" (two device
 *  models) with batch B, gradients fetched, averaged on the host and put back,
 *  == one device model with batch 2B; then one AdamW step from each.  */
Test (twin_cuda, two_ranks_average_to_one_rank_with_twice_the_batch)
{
    need_device ();
    enum { B = 3, T = 20 };
    uint8_t tok[2 * B * (T + 1)];
    twin_model_t *host = small_model (2 * B, T, tok);
    size_t n = host->n_params;
    char err[256];
    twin_cuda_t *whole = twin_cuda_new (host, 0, err, sizeof err);
    twin_cuda_t *rank[2] = { twin_cuda_new (host, 0, err, sizeof err), twin_cuda_new (host, 0, err, sizeof err) };
    cr_assert (whole && rank[0] && rank[1], "%s", err);
    float *g = malloc (n * sizeof (float)), *avg = calloc (n, sizeof (float)), *gw = malloc (n * sizeof (float));
    cr_assert (isfinite (twin_cuda_forward (whole, tok, 2 * B, T)));
    cr_assert_eq (twin_cuda_backward (whole), 0);
    cr_assert_eq (twin_cuda_get_grads (whole, gw), 0);
    for (int r = 0; r < 2; r++) {
        cr_assert (isfinite (twin_cuda_forward (rank[r], tok + (size_t) r * B * (T + 1), B, T)));
        cr_assert_eq (twin_cuda_backward (rank[r]), 0);
        cr_assert_eq (twin_cuda_get_grads (rank[r], g), 0);
        for (size_t i = 0; i < n; i++)
            avg[i] += 0.5f * g[i];
    }
    double worst = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax (worst, fabs (avg[i] - gw[i]));
        scale = fmax (scale, fabs (gw[i]));
    }
    cr_assert_lt (worst, 1e-5 * scale + 1e-7, "max |avg - whole| = %g (max grad %g)", worst, scale);

    twin_adamw_t hp;
    twin_adamw_defaults (&hp);
    for (int r = 0; r < 2; r++) {
        cr_assert_eq (twin_cuda_set_grads (rank[r], avg), 0);
        cr_assert (isfinite (twin_cuda_adamw_step (rank[r], &hp, 1)));
    }
    cr_assert (isfinite (twin_cuda_adamw_step (whole, &hp, 1)));
    twin_model_t *after[3] = { small_model (2 * B, T, tok), small_model (2 * B, T, tok),
                               small_model (2 * B, T, tok) };
    cr_assert_eq (twin_cuda_to_host (rank[0], after[0]), 0);
    cr_assert_eq (twin_cuda_to_host (rank[1], after[1]), 0);
    cr_assert_eq (twin_cuda_to_host (whole, after[2]), 0);
    cr_assert (memcmp (after[0]->params, after[1]->params, n * sizeof (float)) == 0, "the ranks stay identical");
    /*  (Adam's first step moves each weight by ~lr * sign(g): compare where g
     *  is clearly away from zero, elsewhere allow the two signs.)  */
    for (size_t i = 0; i < n; i++)
        cr_assert_float_eq (after[0]->params[i], after[2]->params[i],
                            fabs (avg[i]) > 1e-3 * scale ? 1e-6f : 2.01f * hp.lr, "param %zu", i);
    for (int k = 0; k < 3; k++)
        twin_model_free (after[k]);
    free (g);
    free (avg);
    free (gw);
    twin_cuda_destroy (&whole);
    twin_cuda_destroy (&rank[0]);
    twin_cuda_destroy (&rank[1]);
    twin_model_free (host);
}

Test (twin_cuda, refuses_bad_input)
{
    enum { B = 2, T = 8 };
    uint8_t tok[(B + 1) * (T + 2)];
    memset (tok, 'a', sizeof tok);
    twin_model_t *host = small_model (B, T, tok);
    char err[256];
    int count = twin_cuda_device_count (err, sizeof err);
    if (count < 0) {
        /*  No device: creating a model says so, in the documented words.  */
        err[0] = '\0';
        cr_assert_null (twin_cuda_new (host, 0, err, sizeof err));
        cr_assert (strncmp (err, "no CUDA device visible (cudaGetDeviceCount: ", 44) == 0, "%s", err);
        twin_model_free (host);
        return;
    }
    cr_assert_null (twin_cuda_new (host, count, err, sizeof err));
    cr_assert (strstr (err, "does not exist"), "%s", err);
    twin_cuda_t *g = twin_cuda_new (host, 0, err, sizeof err);
    cr_assert_not_null (g, "%s", err);
    cr_assert_eq (twin_cuda_backward (g), -1);
    cr_assert (strstr (twin_cuda_error (g), "without a successful forward"), "%s", twin_cuda_error (g));
    cr_assert (isnan (twin_cuda_forward (g, tok, B + 1, T)));
    cr_assert (strstr (twin_cuda_error (g), "outside"), "%s", twin_cuda_error (g));
    cr_assert (isnan (twin_cuda_forward (g, tok, B, T + 1)));
    cr_assert (isfinite (twin_cuda_forward (g, tok, B, T)), "%s", twin_cuda_error (g));
    cr_assert_str_empty (twin_cuda_error (g));
    cr_assert_eq (twin_cuda_backward (g), 0);
    cr_assert_eq (twin_cuda_backward (g), -1, "a second backward has no probabilities left");
    twin_config_t other = host->cfg;
    other.dim = 64;
    twin_model_t *wrong = twin_model_new (&other, B, T);
    cr_assert_eq (twin_cuda_to_host (g, wrong), -1);
    cr_assert_eq (twin_cuda_from_host (g, wrong), -1);
    twin_model_free (wrong);
    twin_cuda_destroy (&g);
    twin_cuda_destroy (&g); /*  NULL-safe  */
    twin_model_free (host);
}
