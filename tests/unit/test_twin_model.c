/*  test_twin_model.c: the twin transformer's maths (workloads/twin/model.c, data.c).
 *
 *    gradient check     backward against central finite differences, every tensor
 *    data parallel      2 ranks x batch B, gradients averaged == 1 rank x batch 2B
 *    determinism        same seed, same losses and weights, bit for bit
 *    learning           a few AdamW steps on a fixed batch drive its loss down  */
#include <criterion/criterion.h>

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "twin.h"

static void
init (void)
{
    openblas_set_num_threads (1);
}

/*  A tiny model with larger-than-usual weights (so every gradient is well
 *  above the finite-difference noise) and random tokens.  */
static twin_model_t *
tiny (int B, int T, uint8_t *tokens, uint64_t seed)
{
    twin_config_t c = { 2, 8, 2, T, TWIN_VOCAB };
    twin_model_t *m = twin_model_new (&c, B, T);
    cr_assert_not_null (m);
    uint64_t rng = seed;
    twin_model_init (m, &rng);
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] += 0.3f * twin_rng_normal (&rng);
    for (int i = 0; i < B * (T + 1); i++)
        tokens[i] = (uint8_t) (twin_rng_next (&rng) % 7); /*  few symbols: visible structure  */
    return m;
}

TestSuite (twin_model, .init = init);

Test (twin_model, gradient_matches_finite_differences)
{
    enum { B = 2, T = 5 };
    uint8_t tok[B * (T + 1)];
    twin_model_t *m = tiny (B, T, tok, 42);
    twin_forward (m, tok, B, T);
    twin_backward (m, tok);
    float *g = malloc (m->n_params * sizeof (float));
    memcpy (g, m->grads, m->n_params * sizeof (float));

    /*  Up to 12 entries of every tensor (evenly spaced), plus for the
     *  embedding the rows of the bytes that occur.  */
    int checked = 0, bad = 0;
    double worst = 0;
    for (int k = 0; k < m->n_tensors; k++) {
        const twin_tensor_t *t = &m->tensor[k];
        size_t stride = t->n / 12 ? t->n / 12 : 1;
        for (size_t j = 0; j < t->n; j += stride) {
            size_t i = t->off + j;
            if (k == 0) /*  wte: rows of bytes 0..6 only  */
                i = t->off + (j % (7 * (size_t) m->cfg.dim));
            float keep = m->params[i];
            const float h = 1e-2f;
            m->params[i] = keep + h;
            double lp = twin_forward (m, tok, B, T);
            m->params[i] = keep - h;
            double lm = twin_forward (m, tok, B, T);
            m->params[i] = keep;
            double num = (lp - lm) / (2.0 * h), ana = g[i];
            double err = fabs (num - ana) / fmax (1e-2, fabs (num) + fabs (ana));
            if (err > worst)
                worst = err;
            if (err > 2e-2) {
                bad++;
                cr_log_error ("%s[%zu]: analytic %.6g numeric %.6g", t->name, i - t->off, ana, num);
            }
            checked++;
        }
    }
    cr_log_info ("gradient check: %d entries, worst relative error %.3g", checked, worst);
    cr_assert_eq (bad, 0, "%d of %d gradient entries disagree (worst %.3g)", bad, checked, worst);
    cr_assert_gt (checked, 200);
    free (g);
    twin_model_free (m);
}

/*  The data-parallel contract: rank r of w takes the contiguous slice
 *  [r*B, (r+1)*B) of the global batch, and the average of the ranks' gradients
 *  is the gradient of the whole batch, so the AdamW updates agree.  */
Test (twin_model, two_ranks_average_to_one_rank_with_twice_the_batch)
{
    enum { B = 3, T = 6 };
    uint8_t text[4096];
    uint64_t r = 9;
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (uint8_t) ('a' + twin_rng_next (&r) % 26);
    twin_data_t d = { text, sizeof text, sizeof text - 200 };

    uint8_t whole[2 * B * (T + 1)], part[2][B * (T + 1)];
    uint64_t c1 = 0, c2 = 0, c3 = 0;
    for (int step = 0; step < 20; step++) {
        twin_data_batch (&d, 77, &c1, T, 2 * B, 0, 1, whole);
        twin_data_batch (&d, 77, &c2, T, B, 0, 2, part[0]);
        twin_data_batch (&d, 77, &c3, T, B, 1, 2, part[1]);
        cr_assert_eq (memcmp (whole, part[0], sizeof part[0]), 0);
        cr_assert_eq (memcmp (whole + sizeof part[0], part[1], sizeof part[1]), 0);
        cr_assert (c1 == c2 && c2 == c3 && c1 == (uint64_t) (step + 1) * 2 * B, "ranks' data state diverged");
    }

    uint8_t tok[2 * B * (T + 1)];
    twin_model_t *big = tiny (2 * B, T, tok, 7), *small = twin_model_new (&big->cfg, B, T);
    memcpy (small->params, big->params, big->n_params * sizeof (float));
    twin_forward (big, tok, 2 * B, T);
    twin_backward (big, tok);
    size_t n = big->n_params;
    float *avg = calloc (n, sizeof (float));
    for (int rank = 0; rank < 2; rank++) {
        twin_forward (small, tok + (size_t) rank * B * (T + 1), B, T);
        twin_backward (small, tok + (size_t) rank * B * (T + 1));
        for (size_t i = 0; i < n; i++)
            avg[i] += 0.5f * small->grads[i];
    }
    double worst = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax (worst, fabs (avg[i] - big->grads[i]));
        scale = fmax (scale, fabs (big->grads[i]));
    }
    cr_assert_lt (worst, 1e-5 * scale + 1e-7, "max |avg - whole| = %g (max grad %g)", worst, scale);

    /*  and the update from the averaged gradient matches the whole batch's.  */
    twin_adamw_t hp;
    twin_adamw_defaults (&hp);
    memcpy (small->grads, avg, n * sizeof (float));
    twin_adamw_step (small, &hp, 1);
    twin_adamw_step (big, &hp, 1);
    /*  (Adam's first step moves each weight by ~lr * sign(g): compare where g
     *  is clearly away from zero, elsewhere allow the two signs.)  */
    for (size_t i = 0; i < n; i++)
        cr_assert_float_eq (small->params[i], big->params[i], fabs (avg[i]) > 1e-3 * scale ? 1e-6f : 2.01f * hp.lr,
                            "param %zu", i);
    free (avg);
    twin_model_free (small);
    twin_model_free (big);
}

static float
train_a_bit (uint64_t seed, int steps, float *params_out, size_t *n_out)
{
    enum { B = 2, T = 8 };
    uint8_t tok[B * (T + 1)];
    twin_model_t *m = tiny (B, T, tok, seed);
    twin_adamw_t hp;
    twin_adamw_defaults (&hp);
    hp.lr = 1e-2f;
    float loss = 0;
    for (int s = 1; s <= steps; s++) {
        loss = twin_forward (m, tok, B, T);
        twin_backward (m, tok);
        twin_adamw_step (m, &hp, (uint64_t) s);
    }
    if (params_out)
        memcpy (params_out, m->params, m->n_params * sizeof (float));
    if (n_out)
        *n_out = m->n_params;
    twin_model_free (m);
    return loss;
}

Test (twin_model, same_seed_same_bits)
{
    size_t n;
    train_a_bit (3, 1, NULL, &n);
    float *a = malloc (n * sizeof (float)), *b = malloc (n * sizeof (float));
    float la = train_a_bit (3, 10, a, NULL), lb = train_a_bit (3, 10, b, NULL);
    cr_assert (memcmp (&la, &lb, sizeof la) == 0, "losses %.9g vs %.9g", la, lb);
    cr_assert_eq (memcmp (a, b, n * sizeof (float)), 0, "weights differ");
    float lc = train_a_bit (4, 10, b, NULL);
    cr_assert (memcmp (a, b, n * sizeof (float)) != 0 && la != lc, "another seed changed nothing");
    free (a);
    free (b);
}

Test (twin_model, adamw_fits_a_fixed_batch)
{
    float first = train_a_bit (5, 1, NULL, NULL), later = train_a_bit (5, 60, NULL, NULL);
    cr_assert_lt (later, 0.5f * first, "loss %g after 60 steps vs %g at the start", later, first);
}

Test (twin_model, bad_configs_are_refused)
{
    char err[128];
    twin_config_t ok = { 2, 64, 4, 64, TWIN_VOCAB };
    cr_assert_eq (twin_config_check (&ok, err, sizeof err), 0);
    twin_config_t bad_heads = { 2, 64, 5, 64, TWIN_VOCAB };
    cr_assert_eq (twin_config_check (&bad_heads, err, sizeof err), -1);
    cr_assert (strstr (err, "heads"));
    twin_config_t no_layers = { 0, 64, 4, 64, TWIN_VOCAB };
    cr_assert_eq (twin_config_check (&no_layers, err, sizeof err), -1);
    cr_assert_null (twin_model_new (&ok, 1, 65)); /*  longer than the context  */
    /*  wte + wpe + 12 per block + final LN + head; 2 blocks of dim 64: 136960  */
    cr_assert_eq (twin_param_count (&ok),
                  (size_t) 256 * 64 + 64 * 64 + 2 * (12 * 64 * 64 + 13 * 64) + 2 * 64 + 256 * 64);
}

Test (twin_model, activations_past_size_t_are_refused)
{
    /*  att alone is L * bmax * H * tmax^2 = (2^31 - 1) * 4 * 2^32 > 2^64 floats:
     *  the sizes must be checked, not wrapped (a wrapped total can be a small
     *  allocation that the forward writes past; under ASan, calloc of a
     *  wrapped but still huge total aborts).  */
    twin_config_t c = { 1, 4, 4, 65536, TWIN_VOCAB };
    cr_assert_null (twin_model_new (&c, INT_MAX, 65536));
}
