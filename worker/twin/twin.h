/*  twin.h: strata-twin-train, Strata's reference fine-tuning workload.
 *
 *  A byte-level GPT-style transformer in plain C11 and fp32: token + position
 *  embedding, L pre-norm blocks (causal multi-head attention, GELU MLP), a
 *  final layer norm and a linear output head. Forward
 *  and backward are written by hand; matrix products go through CBLAS.
 *  The output head is its own V x D matrix (not tied to the embedding).
 *
 *  Data-parallel shape: every parameter lives in ONE contiguous float buffer
 *  (model->params) and every gradient in another of the same layout
 *  (model->grads), so a data-parallel step is
 *
 *      twin_data_batch (d, key, &cursor, T, B, rank, world, tokens);  contiguous slice
 *      twin_forward (m, tokens, B, T);
 *      twin_backward (m, tokens, B, T);               grads = d(mean loss of the local batch)
 *      allreduce_average (m->grads, m->n_params);     <- the only line to add
 *      twin_adamw_step (m, &hp, step);
 *
 *  Batches are a pure function of (seed, cursor), so all ranks keep the same
 *  data state and each reads only its own slice of the global batch.
 *  docs/twin.md describes the model, the checkpoint format and the exit codes. */
#ifndef STRATA_TWIN_H
#define STRATA_TWIN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TWIN_VOCAB 256                  /*  byte-level  */
#define TWIN_EXIT_PREEMPTED 75          /*  EX_TEMPFAIL: checkpoint written, requeue me  */
#define TWIN_EXIT_USAGE 2

typedef struct {
    int layers, dim, heads, ctx, vocab;  /*  ctx: longest sequence (rows of the position table)  */
} twin_config_t;

/*  One named tensor inside the contiguous buffers.  */
typedef struct {
    char name[24];
    size_t off, n;
    int decay;                          /*  1: AdamW weight decay applies (matrices)  */
} twin_tensor_t;

/*  Offsets of one block's tensors (the same for params and grads).  */
typedef struct {
    size_t ln1g, ln1b, wqkv, bqkv, wo, bo, ln2g, ln2b, wfc, bfc, wp, bp;
} twin_layer_t;

typedef struct twin_model {
    twin_config_t cfg;
    size_t n_params;
    float *params, *grads, *m, *v;      /*  each n_params floats, same layout  */
    size_t wte, wpe, lnfg, lnfb, head;  /*  offsets  */
    twin_layer_t *layer;
    twin_tensor_t *tensor;
    int n_tensors;
    int bmax, tmax;                     /*  activations are sized for these  */
    float *act;                         /*  one allocation, carved below  */
    float *res, *res2, *ln1, *ln1m, *ln1r, *qkv, *att, *atto, *ln2, *ln2m, *ln2r, *fch, *fcg;
    float *lnf, *lnfm, *lnfr, *probs;
    float *dres, *dln, *dbig, *dqkv, *datto, *dp;
    int fwd_b, fwd_t;                   /*  shape of the last forward (backward needs it)  */
} twin_model_t;

typedef struct {
    float lr, beta1, beta2, eps, weight_decay, clip;
} twin_adamw_t;

/*  config: returns 0 or -1 with a message in err.  */
int twin_config_check (const twin_config_t *cfg, char *err, size_t errlen);
size_t twin_param_count (const twin_config_t *cfg);

twin_model_t *twin_model_new (const twin_config_t *cfg, int bmax, int tmax);
void twin_model_free (twin_model_t *m);
/*  Weights ~ N(0, 0.02) (residual projections 0.02/sqrt(2L)), LN gain 1, biases 0; zero m, v.  */
void twin_model_init (twin_model_t *m, uint64_t *rng);

/*  tokens: B rows of T+1 bytes; inputs are bytes 0..T-1, targets 1..T.
 *  Returns the mean cross-entropy (nats) over the B*T targets.  */
float twin_forward (twin_model_t *m, const uint8_t *tokens, int B, int T);
/*  Overwrites m->grads with d(mean loss)/d(params) of the last twin_forward
 *  (same tokens). Destroys the forward's probabilities.  */
void twin_backward (twin_model_t *m, const uint8_t *tokens);
/*  Clips the gradient to global norm hp->clip (if > 0), then one AdamW update;
 *  step is 1-based (bias correction). Returns the gradient norm before clipping.  */
float twin_adamw_step (twin_model_t *m, const twin_adamw_t *hp, uint64_t step);
void twin_adamw_defaults (twin_adamw_t *hp);

/*  RNG: splitmix64; the whole state is one uint64_t.  */
uint64_t twin_rng_next (uint64_t *state);
float twin_rng_normal (uint64_t *state);

/*  Data: all bytes of a file, or of every regular file directly inside a
 *  directory (names in strcmp order, hidden files skipped; symlinks followed).
 *  train = bytes [0, train_len), validation = bytes [train_len, len).  */
typedef struct {
    uint8_t *bytes;
    size_t len, train_len;
} twin_data_t;

int twin_data_load (const char *path, double val_fraction, twin_data_t *d, char *err, size_t errlen);
void twin_data_free (twin_data_t *d);
/*  One training batch. Sequence number i of the run (0, 1, 2, ...) is the
 *  window of T+1 bytes starting at hash(key, i) mod (train_len - T): uniform
 *  random windows, a pure function of (key, i). *cursor is the number of
 *  sequences the run has consumed; the global batch of a step is sequences
 *  [*cursor, *cursor + batch*world), and rank r takes the CONTIGUOUS slice
 *  [*cursor + r*batch, *cursor + (r+1)*batch). out: batch*(T+1) bytes.
 *  Every rank advances *cursor by batch*world.  */
void twin_data_batch (const twin_data_t *d, uint64_t key, uint64_t *cursor, int T, int batch, int rank,
                      int world, uint8_t *out);
/*  Mean loss over consecutive windows (stride T) of the validation split, at
 *  most max_windows of them, evaluated B at a time (B <= m->bmax).  */
double twin_eval (twin_model_t *m, const twin_data_t *d, int T, int B, int max_windows);

/*  Checkpoints (docs/twin.md has the byte layout).  */
typedef struct {
    twin_config_t cfg;
    uint64_t step, rng, cursor, train_len, seed;
} twin_ckpt_meta_t;

/*  Writes DIR/ckpt-<step>.bin atomically (temp file, fsync, rename, fsync DIR)
 *  and removes all but the newest two checkpoints. Returns 0 or -1.  */
int twin_ckpt_save (const char *dir, const twin_model_t *m, const twin_ckpt_meta_t *meta,
                    char *path_out, size_t pathlen, char *err, size_t errlen);
/*  1 and the path of the newest checkpoint in dir, 0 when there is none, -1 on error.  */
int twin_ckpt_latest (const char *dir, char *path, size_t pathlen, char *err, size_t errlen);
/*  Reads and verifies a whole checkpoint (magic, version, size, CRC); fills meta.  */
int twin_ckpt_read_meta (const char *path, twin_ckpt_meta_t *meta, char *err, size_t errlen);
/*  Loads params (and m, v when with_optim) into a model of the same config.  */
int twin_ckpt_load (const char *path, twin_model_t *m, int with_optim, twin_ckpt_meta_t *meta,
                    char *err, size_t errlen);

/*  The training run (what strata-twin-train does after parsing its flags).  */
typedef struct {
    const char *data, *checkpoint_dir, *base;
    long steps;
    int batch, seq;
    uint64_t seed;
    int layers, dim, heads;             /*  0: not given (defaults, or the checkpoint's)  */
    float lr;
    double val_fraction;
    long checkpoint_every;              /*  0: only at the end (and on SIGTERM)  */
    int resume;
    int rank, world;                    /*  data slice; 0 and 1 until the collective is wired  */
    int val_windows;                    /*  cap on validation windows  */
} twin_opts_t;

void twin_opts_defaults (twin_opts_t *o);
/*  Set from a signal handler: the loop finishes the current step, writes a
 *  checkpoint and returns TWIN_EXIT_PREEMPTED.  */
extern volatile sig_atomic_t twin_stop_requested;
/*  Returns the process exit status: 0, 1 (I/O or internal error),
 *  TWIN_EXIT_USAGE (bad input), TWIN_EXIT_PREEMPTED.  */
int twin_train (const twin_opts_t *o, FILE *out, FILE *errf);

#endif
