/*  twin_cuda_check.c: the CPU model (model.c) and the device model
 *  (twin_cuda.cu) side by side from one initialisation on one batch: the
 *  comparison behind strata-twin-cuda-check and tests/unit/test_twin_cuda.c.  */
#include "twin_cuda.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double
s_rel (double got, double want)
{
    if (!isfinite (got) || !isfinite (want))
        return INFINITY;
    double d = fabs (got - want);
    return d == 0 ? 0 : d / fmax (fabs (want), 1e-30);
}

/*  TWIN_CUDA_TOL_GRAD's measure for every tensor; the worst goes into r.  */
static void
s_compare_grads (const twin_model_t *cpu, const float *gpu_grads, twin_cuda_check_t *r)
{
    double d2 = 0, g2 = 0;
    r->grad_rel = 0;
    snprintf (r->grad_tensor, sizeof r->grad_tensor, "%s", "-");
    for (int k = 0; k < cpu->n_tensors; k++) {
        const twin_tensor_t *t = &cpu->tensor[k];
        double dmax = 0, gmax = 0;
        for (size_t i = t->off; i < t->off + t->n; i++) {
            double d = fabs ((double) gpu_grads[i] - cpu->grads[i]);
            if (!isfinite (d))
                d = INFINITY;
            dmax = fmax (dmax, d);
            gmax = fmax (gmax, fabs ((double) cpu->grads[i]));
            d2 += d * d;
            g2 += (double) cpu->grads[i] * cpu->grads[i];
        }
        double rel = dmax == 0 ? 0 : gmax > 0 ? dmax / gmax : INFINITY;
        if (!(rel <= r->grad_rel)) {
            r->grad_rel = rel;
            snprintf (r->grad_tensor, sizeof r->grad_tensor, "%s", t->name);
        }
    }
    r->grad_l2_rel = g2 > 0 ? sqrt (d2 / g2) : (d2 > 0 ? INFINITY : 0);
}

int
twin_cuda_check_run (const twin_config_t *cfg, int B, int T, int steps, uint64_t seed, int device,
                     twin_cuda_check_t *r, char *err, size_t errlen)
{
    memset (r, 0, sizeof *r);
    r->cfg = *cfg;
    r->B = B, r->T = T, r->steps = steps, r->seed = seed;
    if (twin_config_check (cfg, err, errlen) < 0)
        return -1;
    if (B < 1 || T < 1 || T > cfg->ctx || steps < 1 || steps > TWIN_CUDA_CHECK_MAX_STEPS) {
        snprintf (err, errlen, "batch, sequence or steps out of range");
        return -1;
    }
    int rc = -1;
    twin_cuda_t *gpu = NULL;
    uint8_t *tok = malloc ((size_t) B * (T + 1));
    float *p0 = NULL;
    twin_model_t *cpu = twin_model_new (cfg, B, T);
    twin_model_t *mirror = twin_model_new (cfg, B, T); /*  the device state, copied back  */
    if (!tok || !cpu || !mirror) {
        snprintf (err, errlen, "out of host memory");
        goto out;
    }
    r->n_params = cpu->n_params;
    uint64_t rng = seed;
    twin_model_init (cpu, &rng);
    p0 = malloc (cpu->n_params * sizeof (float));
    if (!p0) {
        snprintf (err, errlen, "out of host memory");
        goto out;
    }
    memcpy (p0, cpu->params, cpu->n_params * sizeof (float));
    /*  Text-like batch: 40 distinct bytes with a repeating motif, so a few
     *  steps visibly lower the loss.  */
    for (int i = 0; i < B * (T + 1); i++) {
        int noise = twin_rng_next (&rng) % 4 == 0;
        tok[i] = noise ? (uint8_t) ('a' + twin_rng_next (&rng) % 40) : (uint8_t) "the cat "[i % 8];
    }

    gpu = twin_cuda_new (cpu, device, err, errlen);
    if (!gpu)
        goto out;

    twin_adamw_t hp;
    twin_adamw_defaults (&hp);
    hp.lr = 1e-2f;
    double t_cpu = 0, t_gpu = 0;
    for (int s = 0; s < steps; s++) {
        double t0 = twin_now ();
        float lc = twin_forward (cpu, tok, B, T);
        twin_backward (cpu, tok);
        double t1 = twin_now ();
        float lg = twin_cuda_forward (gpu, tok, B, T);
        if (!isfinite (lg) && *twin_cuda_error (gpu)) {
            snprintf (err, errlen, "%s", twin_cuda_error (gpu));
            goto out;
        }
        if (twin_cuda_backward (gpu) < 0) {
            snprintf (err, errlen, "%s", twin_cuda_error (gpu));
            goto out;
        }
        double t2 = twin_now ();
        if (s == 0) {
            r->loss_cpu = lc, r->loss_gpu = lg;
            if (twin_cuda_to_host (gpu, mirror) < 0) {
                snprintf (err, errlen, "%s", twin_cuda_error (gpu));
                goto out;
            }
            s_compare_grads (cpu, mirror->grads, r);
        }
        double t3 = twin_now ();
        float nc = twin_adamw_step (cpu, &hp, (uint64_t) s + 1);
        double t4 = twin_now ();
        float ng = twin_cuda_adamw_step (gpu, &hp, (uint64_t) s + 1);
        if (isnan (ng) && *twin_cuda_error (gpu)) {
            snprintf (err, errlen, "%s", twin_cuda_error (gpu));
            goto out;
        }
        double t5 = twin_now ();
        t_cpu += (t1 - t0) + (t4 - t3);
        t_gpu += (t2 - t1) + (t5 - t4);
        r->step_loss_cpu[s] = lc, r->step_loss_gpu[s] = lg;
        r->step_norm_cpu[s] = nc, r->step_norm_gpu[s] = ng;
        r->loss_rel = fmax (r->loss_rel, s_rel (lg, lc));
        r->norm_rel = fmax (r->norm_rel, s_rel (ng, nc));
    }
    r->ms_cpu = 1e3 * t_cpu / steps;
    r->ms_gpu = 1e3 * t_gpu / steps;
    if (twin_cuda_to_host (gpu, mirror) < 0) {
        snprintf (err, errlen, "%s", twin_cuda_error (gpu));
        goto out;
    }
    double d2 = 0, u2 = 0;
    for (size_t i = 0; i < cpu->n_params; i++) {
        double d = (double) mirror->params[i] - cpu->params[i], u = (double) cpu->params[i] - p0[i];
        d2 += d * d, u2 += u * u;
    }
    r->params_rel = isfinite (d2) && u2 > 0 ? sqrt (d2 / u2) : INFINITY;
    rc = 0;
out:
    twin_cuda_destroy (&gpu);
    twin_model_free (mirror);
    twin_model_free (cpu);
    free (p0);
    free (tok);
    return rc;
}

int
twin_cuda_check_verdict (const twin_cuda_check_t *r, char *why, size_t whylen)
{
    if (!(r->loss_rel <= TWIN_CUDA_TOL_LOSS))
        snprintf (why, whylen, "loss differs: relative %.3g > %.0e", r->loss_rel, TWIN_CUDA_TOL_LOSS);
    else if (!(r->grad_rel <= TWIN_CUDA_TOL_GRAD))
        snprintf (why, whylen, "gradient of %s differs: relative %.3g > %.0e", r->grad_tensor, r->grad_rel,
                  TWIN_CUDA_TOL_GRAD);
    else if (!(r->norm_rel <= TWIN_CUDA_TOL_NORM))
        snprintf (why, whylen, "gradient norm differs: relative %.3g > %.0e", r->norm_rel, TWIN_CUDA_TOL_NORM);
    else if (!(r->params_rel <= TWIN_CUDA_TOL_PARAMS))
        snprintf (why, whylen, "parameters after %d steps differ: relative %.3g > %.0e", r->steps, r->params_rel,
                  TWIN_CUDA_TOL_PARAMS);
    else {
        snprintf (why, whylen, "within tolerance");
        return 0;
    }
    return -1;
}

void
twin_cuda_check_print (const twin_cuda_check_t *r, FILE *out)
{
    fprintf (out, "config      layers %d dim %d heads %d seq %d batch %d, %zu parameters, seed %llu\n", r->cfg.layers,
             r->cfg.dim, r->cfg.heads, r->T, r->B, r->n_params, (unsigned long long) r->seed);
    fprintf (out, "loss        cpu %.7f gpu %.7f\n", r->loss_cpu, r->loss_gpu);
    fprintf (out, "grads       worst tensor %s: max|diff|/max|cpu| %.3g (tol %.0e); all: L2 rel %.3g\n",
             r->grad_tensor, r->grad_rel, TWIN_CUDA_TOL_GRAD, r->grad_l2_rel);
    for (int s = 0; s < r->steps; s++)
        fprintf (out, "step %-6d loss cpu %.7f gpu %.7f   norm cpu %.6f gpu %.6f\n", s + 1, r->step_loss_cpu[s],
                 r->step_loss_gpu[s], r->step_norm_cpu[s], r->step_norm_gpu[s]);
    fprintf (out, "worst       loss rel %.3g (tol %.0e), norm rel %.3g (tol %.0e)\n", r->loss_rel, TWIN_CUDA_TOL_LOSS,
             r->norm_rel, TWIN_CUDA_TOL_NORM);
    fprintf (out, "params      after %d steps: L2 rel to the update %.3g (tol %.0e)\n", r->steps, r->params_rel,
             TWIN_CUDA_TOL_PARAMS);
    fprintf (out, "time        per step (fwd+bwd+adamw): cpu %.2f ms, gpu %.2f ms\n", r->ms_cpu, r->ms_gpu);
}
