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
 *      sc_allreduce (comm, m->grads, m->n_params, SC_AVG, ...);   (train.c)
 *      twin_adamw_step (m, &hp, step);
 *
 *  Batches are a pure function of (seed, cursor), so all ranks keep the same
 *  data state and each reads only its own slice of the global batch.
 *  docs/twin.md describes the model and the exit codes, docs/twin-internals.md
 *  the checkpoint format. */
#ifndef STRATA_TWIN_H
#define STRATA_TWIN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "strata/task.h"

#define TWIN_VOCAB 256                        /*  byte-level  */
#define TWIN_EXIT_PREEMPTED ST_EXIT_PREEMPTED /*  75, EX_TEMPFAIL: checkpoint written, requeue me  */
#define TWIN_EXIT_USAGE 2

typedef struct {
    int layers, dim, heads, ctx, vocab; /*  ctx: longest sequence (rows of the position table)  */
} twin_config_t;

/*  One named tensor inside the contiguous buffers.  */
typedef struct {
    char name[24];
    size_t off, n;
    int decay; /*  1: AdamW weight decay applies (matrices)  */
} twin_tensor_t;

/*  Offsets of one block's tensors (the same for params and grads).  */
typedef struct {
    size_t ln1g, ln1b, wqkv, bqkv, wo, bo, ln2g, ln2b, wfc, bfc, wp, bp;
} twin_layer_t;

typedef struct twin_model {
    twin_config_t cfg;
    size_t n_params;
    float *params, *grads, *m, *v;     /*  each n_params floats, same layout  */
    size_t wte, wpe, lnfg, lnfb, head; /*  offsets  */
    twin_layer_t *layer;
    twin_tensor_t *tensor;
    int n_tensors;
    int bmax, tmax; /*  activations are sized for these  */
    float *act;     /*  one allocation, carved below  */
    float *res, *res2, *ln1, *ln1m, *ln1r, *qkv, *att, *atto, *ln2, *ln2m, *ln2r, *fch, *fcg;
    float *lnf, *lnfm, *lnfr, *probs;
    float *dres, *dln, *dbig, *dqkv, *datto, *dp;
    int fwd_b, fwd_t; /*  shape of the last forward (backward needs it)  */
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
void twin_data_batch (const twin_data_t *d, uint64_t key, uint64_t *cursor, int T, int batch, int rank, int world,
                      uint8_t *out);
/*  Mean loss over consecutive windows (stride T) of the validation split, at
 *  most max_windows of them, evaluated B at a time (B <= m->bmax).  */
double twin_eval (twin_model_t *m, const twin_data_t *d, int T, int B, int max_windows);

/*  Checkpoints (docs/twin-internals.md, "Checkpoint format", has the byte layout).  */
typedef struct {
    twin_config_t cfg;
    uint64_t step, rng, cursor, train_len, seed;
} twin_ckpt_meta_t;

/*  Writes DIR/ckpt-<step>.bin atomically (temp file, fsync, rename, fsync DIR)
 *  and removes all but the newest two checkpoints. Returns 0 or -1.  */
int twin_ckpt_save (const char *dir, const twin_model_t *m, const twin_ckpt_meta_t *meta, char *path_out,
                    size_t pathlen, char *err, size_t errlen);
/*  1 and the path of the newest checkpoint in dir, 0 when there is none, -1 on error.  */
int twin_ckpt_latest (const char *dir, char *path, size_t pathlen, char *err, size_t errlen);
/*  Reads and verifies a whole checkpoint (magic, version, size, CRC); fills meta.  */
int twin_ckpt_read_meta (const char *path, twin_ckpt_meta_t *meta, char *err, size_t errlen);
/*  Loads params (and m, v when with_optim) into a model of the same config.  */
int twin_ckpt_load (const char *path, twin_model_t *m, int with_optim, twin_ckpt_meta_t *meta, char *err,
                    size_t errlen);

/*  The training run (what strata-twin-train does after parsing its flags).  */
typedef struct {
    const char *data, *checkpoint_dir, *base;
    long steps;
    int batch, seq;
    uint64_t seed;
    int layers, dim, heads; /*  0: not given (defaults, or the checkpoint's)  */
    float lr;
    double val_fraction;
    long checkpoint_every; /*  0: only at the end (and on SIGTERM)  */
    int resume;
    int rank, world; /*  data slice when comm is NULL (default 0 of 1)  */
    /*  The ranks' communicator (strata/collective.h), or NULL for
     *  a process alone. With it, rank and world come from the communicator,
     *  gradients and losses are averaged over the ranks every step, rank 0
     *  alone writes checkpoints, and the ranks agree when to stop.  */
    struct sc_comm *comm;
    int val_windows; /*  cap on validation windows  */
    /*  Where the steps run (--device): TWIN_DEVICE_CPU (the default),
     *  TWIN_DEVICE_CUDA (the device `cuda`; TWIN_EXIT_USAGE without it or
     *  without a visible device), TWIN_DEVICE_AUTO (cuda when a device is
     *  visible, else cpu).  */
    int device;
    /*  The CUDA device (device.h): twin_device_cuda () in strata-twin-train,
     *  NULL (twin_opts_defaults) for a program that runs on the CPU only.  */
    const struct twin_device_ops *cuda;
} twin_opts_t;

#define TWIN_DEVICE_CPU 0
#define TWIN_DEVICE_CUDA 1
#define TWIN_DEVICE_AUTO 2

void twin_opts_defaults (twin_opts_t *o);
/*  Set from a signal handler: the loop finishes the current step, writes a
 *  checkpoint and returns TWIN_EXIT_PREEMPTED.  */
extern volatile sig_atomic_t twin_stop_requested;
/*  Returns the process exit status: 0, 1 (I/O or internal error),
 *  TWIN_EXIT_USAGE (bad input), TWIN_EXIT_PREEMPTED.  */
int twin_train (const twin_opts_t *o, FILE *out, FILE *errf);

/* ---- batch inference: strata-twin-infer (infer.c; docs/twin.md, "Inference") ----
 *  Every line is evaluated alone (batch 1), so its figures never depend on
 *  the lines evaluated with it. m must come from twin_model_new (cfg, 1, cfg.ctx).
 *  Both stop early (result meaningless) once twin_stop_requested is set.  */

#define TWIN_INFER_MAX_NEW 4096 /*  longest --max-new  */

/*  Mean negative log-likelihood (nats per byte) of one line: the model reads
 *  "\n" + line and predicts each byte of the line and the closing '\n'
 *  (len + 1 targets; so the perplexity is exp of it). Longer than the context
 *  C: windows of C inputs, starting every S = C/2 bytes; each window scores
 *  only the targets no earlier window scored, so every target is scored once,
 *  and with at least C - S bytes of context after the first window.  */
double twin_infer_nll (twin_model_t *m, const uint8_t *line, size_t len);
/*  Greedy continuation of "\n" + line: n bytes into out, each the most likely
 *  next byte (the lowest on a tie) given the last C bytes so far. 0, or -1
 *  when out of memory.  */
int twin_infer_greedy (twin_model_t *m, const uint8_t *line, size_t len, int n, uint8_t *out);
/*  Copies in as valid UTF-8 (RFC 3629: no overlongs, surrogates or code
 *  points past U+10FFFF): each byte that does not start a well-formed
 *  sequence becomes U+FFFD. out needs 3n bytes; returns the bytes written.  */
size_t twin_utf8_sanitize (const uint8_t *in, size_t n, char *out);

typedef struct {
    const char *model; /*  a checkpoint file, or a directory: its newest checkpoint  */
    const char *data;  /*  one document or prompt per line  */
    const char *out;   /*  JSON Lines, one per input line, in input order  */
    int shard, shards; /*  this process takes input lines k with k % shards == shard  */
    int max_new;       /*  greedy bytes per line, 0..TWIN_INFER_MAX_NEW  */
    /*  Called about once a second while lines are evaluated, and once when
     *  the shard file is written; may be NULL.  */
    void (*progress) (void *arg, uint64_t done, uint64_t total, double items_per_s);
    void *progress_arg;
} twin_infer_opts_t;

void twin_infer_opts_defaults (twin_infer_opts_t *o);
/*  Evaluates this shard's lines into OUT.shard-I-of-N, then merges all N into
 *  OUT when they are all there (docs/twin.md). Prints `items N items_per_s X`
 *  on out. Returns the exit status: 0, 1 (I/O or internal error),
 *  TWIN_EXIT_USAGE (bad flags or input, a model that fails verification),
 *  TWIN_EXIT_PREEMPTED (SIGTERM: no partial file is left; rerun the shard).  */
int twin_infer (const twin_infer_opts_t *o, FILE *out, FILE *errf);

/* ---- helpers the twin programs share (util.c) ---- */

/*  CLOCK_MONOTONIC in seconds (nanosecond resolution).  */
double twin_now (void);
/*  Prints "PROG: <fmt...>\n(try --help)\n" on stderr; returns TWIN_EXIT_USAGE.  */
int twin_usage_error (const char *prog, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/*  A whole decimal integer in lo..hi into *out: 0, or -1 after saying on
 *  stderr "PROG: WHAT wants an integer in LO..HI, not 'S'" (and the --help hint).  */
int twin_parse_long (const char *prog, const char *what, const char *s, long lo, long hi, long *out);

#endif
