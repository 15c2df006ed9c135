/*  train.c: the training loop of strata-twin-train.  */
#include "twin.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

volatile sig_atomic_t twin_stop_requested;

#define DEF_LAYERS 2
#define DEF_DIM 64
#define DEF_HEADS 4

void
twin_opts_defaults (twin_opts_t *o)
{
    memset (o, 0, sizeof *o);
    o->steps = 200;
    o->batch = 8;
    o->seq = 64;
    o->seed = 1;
    o->lr = 3e-3f;
    o->val_fraction = 0.1;
    o->world = 1;
    o->val_windows = 1024;
}

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

/*  A flag given on the command line must agree with the checkpoint's config.  */
static int
s_agree (FILE *errf, const char *what, int given, int have, const char *path)
{
    if (given && given != have) {
        fprintf (errf, "strata-twin-train: --%s %d differs from %d in %s\n", what, given, have, path);
        return -1;
    }
    return 0;
}

static int
s_save (const twin_opts_t *o, const twin_model_t *m, twin_ckpt_meta_t *meta, FILE *errf)
{
    char err[512], path[4096];
    if (twin_ckpt_save (o->checkpoint_dir, m, meta, path, sizeof path, err, sizeof err) < 0) {
        fprintf (errf, "strata-twin-train: %s\n", err);
        return -1;
    }
    fprintf (errf, "strata-twin-train: checkpoint %s (step %llu)\n", path, (unsigned long long) meta->step);
    return 0;
}

int
twin_train (const twin_opts_t *o, FILE *out, FILE *errf)
{
    char err[512];
    /*  One BLAS thread: results must not depend on how OpenBLAS splits a
     *  product. Parallelism comes from data-parallel ranks.  */
    openblas_set_num_threads (1);

    if (!o->checkpoint_dir || !*o->checkpoint_dir) {
        fprintf (errf, "strata-twin-train: no checkpoint directory (--checkpoint-dir or STRATA_CHECKPOINT_DIR)\n");
        return TWIN_EXIT_USAGE;
    }
    if (o->world < 1 || o->rank < 0 || o->rank >= o->world) {
        fprintf (errf, "strata-twin-train: bad rank %d of world %d\n", o->rank, o->world);
        return TWIN_EXIT_USAGE;
    }
    twin_data_t data;
    if (twin_data_load (o->data, o->val_fraction, &data, err, sizeof err) < 0) {
        fprintf (errf, "strata-twin-train: %s\n", err);
        return TWIN_EXIT_USAGE;
    }
    int T = o->seq, B = o->batch, rc = 0;
    if (data.train_len < (size_t) T + 1 || data.len - data.train_len < (size_t) T + 1) {
        fprintf (errf, "strata-twin-train: %s: %zu bytes is too little for --seq %d with --val-fraction %g\n",
                 o->data, data.len, T, o->val_fraction);
        twin_data_free (&data);
        return TWIN_EXIT_USAGE;
    }

    /*  Where to start: the latest checkpoint (--resume), a base model
     *  (--base), or fresh weights.  */
    char from[4096] = "";
    int resuming = 0;
    if (o->resume) {
        int got = twin_ckpt_latest (o->checkpoint_dir, from, sizeof from, err, sizeof err);
        if (got < 0) {
            fprintf (errf, "strata-twin-train: %s\n", err);
            twin_data_free (&data);
            return 1;
        }
        resuming = got;
    } else {
        /*  A fresh run next to an older one would interleave their files
         *  (and pruning keeps the highest steps): refuse.  */
        int got = twin_ckpt_latest (o->checkpoint_dir, from, sizeof from, err, sizeof err);
        if (got != 0) {
            if (got > 0)
                fprintf (errf, "strata-twin-train: %s already holds checkpoints (%s); pass --resume or use an "
                         "empty directory\n", o->checkpoint_dir, from);
            else
                fprintf (errf, "strata-twin-train: %s\n", err);
            twin_data_free (&data);
            return got > 0 ? TWIN_EXIT_USAGE : 1;
        }
    }
    if (!resuming && o->base)
        snprintf (from, sizeof from, "%s", o->base);
    twin_ckpt_meta_t meta = { 0 };
    twin_config_t cfg = { o->layers ? o->layers : DEF_LAYERS, o->dim ? o->dim : DEF_DIM,
                          o->heads ? o->heads : DEF_HEADS, T, TWIN_VOCAB };
    if (*from) {
        if (twin_ckpt_read_meta (from, &meta, err, sizeof err) < 0) {
            fprintf (errf, "strata-twin-train: %s\n", err);
            twin_data_free (&data);
            return resuming ? 1 : TWIN_EXIT_USAGE;
        }
        cfg = meta.cfg;
        if (s_agree (errf, "layers", o->layers, cfg.layers, from) < 0 || s_agree (errf, "dim", o->dim, cfg.dim, from) < 0
            || s_agree (errf, "heads", o->heads, cfg.heads, from) < 0) {
            twin_data_free (&data);
            return TWIN_EXIT_USAGE;
        }
        if (T > cfg.ctx) {
            fprintf (errf, "strata-twin-train: --seq %d is longer than the model's context %d (%s)\n", T, cfg.ctx,
                     from);
            twin_data_free (&data);
            return TWIN_EXIT_USAGE;
        }
        if (resuming && meta.train_len != data.train_len) {
            fprintf (errf, "strata-twin-train: %s was trained on %llu training bytes, --data has %zu\n", from,
                     (unsigned long long) meta.train_len, data.train_len);
            twin_data_free (&data);
            return TWIN_EXIT_USAGE;
        }
    } else if (twin_config_check (&cfg, err, sizeof err) < 0) {
        fprintf (errf, "strata-twin-train: %s\n", err);
        twin_data_free (&data);
        return TWIN_EXIT_USAGE;
    }

    twin_model_t *m = twin_model_new (&cfg, B, T);
    uint8_t *tokens = malloc ((size_t) B * (T + 1));
    if (!m || !tokens) {
        fprintf (errf, "strata-twin-train: out of memory\n");
        twin_model_free (m);
        free (tokens);
        twin_data_free (&data);
        return 1;
    }
    uint64_t step = 0, rng = o->seed, cursor = 0, seed = o->seed;
    if (*from) {
        twin_ckpt_meta_t got;
        if (twin_ckpt_load (from, m, resuming, &got, err, sizeof err) < 0) {
            fprintf (errf, "strata-twin-train: %s\n", err);
            rc = 1;
            goto done;
        }
        if (resuming)
            step = got.step, rng = got.rng, cursor = got.cursor, seed = got.seed;
        fprintf (errf, "strata-twin-train: %s %s at step %llu\n", resuming ? "resuming from" : "fine-tuning", from,
                 (unsigned long long) got.step);
    } else
        twin_model_init (m, &rng);
    fprintf (errf, "strata-twin-train: %d layers, dim %d, %d heads, %zu parameters; %zu train / %zu val bytes\n",
             cfg.layers, cfg.dim, cfg.heads, m->n_params, data.train_len, data.len - data.train_len);

    twin_adamw_t hp;
    twin_adamw_defaults (&hp);
    hp.lr = o->lr;
    /*  The data order's key: a function of the run's seed, independent of the
     *  weight-init stream.  */
    uint64_t key = seed ^ 0x5354524154415457ULL;
    twin_ckpt_meta_t cm = { cfg, step, rng, cursor, data.train_len, seed };
    uint64_t saved_at = resuming ? step : UINT64_MAX;
    while (step < (uint64_t) o->steps && !twin_stop_requested) {
        double t0 = s_now ();
        twin_data_batch (&data, key, &cursor, T, B, o->rank, o->world, tokens);
        float loss = twin_forward (m, tokens, B, T);
        twin_backward (m, tokens);
        /*  data-parallel: allreduce-average m->grads (m->n_params floats) here.  */
        twin_adamw_step (m, &hp, step + 1);
        step++;
        double dt = s_now () - t0;
        fprintf (out, "step %llu loss %.6f tokens_per_s %.0f\n", (unsigned long long) step, loss,
                 dt > 0 ? (double) B * T / dt : 0.0);
        fflush (out);
        if (!isfinite (loss)) {
            fprintf (errf, "strata-twin-train: loss is not finite at step %llu\n", (unsigned long long) step);
            rc = 1;
            goto done;
        }
        if (o->checkpoint_every > 0 && step % (uint64_t) o->checkpoint_every == 0) {
            cm.step = step, cm.rng = rng, cm.cursor = cursor;
            if (s_save (o, m, &cm, errf) < 0) {
                rc = 1;
                goto done;
            }
            saved_at = step;
        }
    }
    cm.step = step, cm.rng = rng, cm.cursor = cursor;
    if (saved_at != step && s_save (o, m, &cm, errf) < 0) {
        rc = 1;
        goto done;
    }
    if (twin_stop_requested && step < (uint64_t) o->steps) {
        fprintf (errf, "strata-twin-train: stopped by signal at step %llu; exit %d (requeue me)\n",
                 (unsigned long long) step, TWIN_EXIT_PREEMPTED);
        rc = TWIN_EXIT_PREEMPTED;
        goto done;
    }
    fprintf (out, "val_loss %.6f\n", twin_eval (m, &data, T, B, o->val_windows));
    fflush (out);
done:
    twin_model_free (m);
    free (tokens);
    twin_data_free (&data);
    return rc;
}
