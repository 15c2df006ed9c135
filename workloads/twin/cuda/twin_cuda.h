/*  twin_cuda.h: the twin transformer on one CUDA device.
 *
 *  The same model as twin.h/model.c (same layout, same maths), with its
 *  params, grads and AdamW moments in device memory. Matrix products go
 *  through cuBLAS (plain fp32: no TF32), everything else through the kernels
 *  of twin_cuda_kernels.cu. Built only where CMake finds CUDA; the training
 *  loop reaches it through the device table (../device.h,
 *  twin_cuda_device.c), never directly. This header
 *  needs no CUDA header: device pointers and the stream are plain pointers.
 *
 *  Device buffers (each ONE contiguous allocation of n_params floats, the
 *  host model's layout, so a whole-gradient allreduce is one NCCL call):
 *      params, grads, m, v
 *
 *  One data-parallel training step (rank r of world ranks, one GPU each),
 *  in train.c's terms (comm is its sc_comm_t, strata/collective.h):
 *
 *      twin_data_batch (&data, key, &cursor, T, B, rank, world, tokens);  host, as today
 *      float loss = twin_cuda_forward (g, tokens, B, T);    NAN on a CUDA error
 *      if (isnan (loss) && *twin_cuda_error (g)) -> error, twin_cuda_error (g) says why
 *      if (twin_cuda_backward (g) < 0) -> error          grads = d(mean local loss), complete
 *      sc_allreduce (comm, twin_cuda_grads (g), twin_cuda_n_params (g), SC_AVG, err, errlen);
 *                                                         <- THE allreduce: device buffer, so the
 *                                                            comm must have sc_device_buffers () == 1
 *                                                            (nccl); world == 1 / no comm: skip it
 *      float norm = twin_cuda_adamw_step (g, &hp, step);  clip + AdamW, as twin_adamw_step
 *
 *  Under nccl every sc_allreduce buffer is device memory, so train.c's
 *  {loss, stop} pair must live in sc_mem_alloc'd memory too (sc_mem_put
 *  before the SC_SUM, sc_mem_get after). With a host-memory comm (mpi) the
 *  grads go through the host instead:
 *      twin_cuda_get_grads (g, m->grads); sc_allreduce (comm, m->grads, ...);
 *      twin_cuda_set_grads (g, m->grads);
 *
 *  backward returns only once the grads are complete, and sc_allreduce waits
 *  for its own stream, so no extra synchronisation is needed on either side.
 *  Without libstrata-collective, the raw NCCL line is
 *      ncclAllReduce (twin_cuda_grads (g), twin_cuda_grads (g), twin_cuda_n_params (g),
 *                     ncclFloat, ncclAvg, nccl_comm, (cudaStream_t) twin_cuda_stream (g));
 *
 *  Setup and teardown:
 *      twin_cuda_device_count (err, errlen) < 0  -> "no CUDA device visible (...)", exit 2
 *      build and initialise (or load from a checkpoint) the host twin_model_t as today
 *      comm = sc_init (...)                      nccl makes this rank's device current
 *      g = twin_cuda_new (host, -1, err, errlen);   -1: the current device (the comm's);
 *                                                   or an ordinal, e.g. local_rank % count
 *      ... steps ...
 *      before twin_ckpt_save or twin_eval on the host model: twin_cuda_to_host (g, host)
 *      twin_cuda_destroy (&g);   before sc_finalize
 *
 *  Not thread-safe: one thread drives one twin_cuda_t.  */
#ifndef STRATA_TWIN_CUDA_H
#define STRATA_TWIN_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "twin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct twin_cuda twin_cuda_t;

/*  Number of visible CUDA devices (>= 1), or -1 with
 *  "no CUDA device visible (cudaGetDeviceCount: <reason>)" in err.  */
int twin_cuda_device_count (char *err, size_t errlen);

/*  A device copy of host (config, bmax, tmax, params, m, v) on device
 *  ordinal `device`, or on the calling thread's current device when device
 *  is -1. Returns NULL with a message in err on failure (no
 *  device, out of memory, cuBLAS failure). The caller owns the result; host
 *  is not referenced afterwards.  */
twin_cuda_t *twin_cuda_new (const twin_model_t *host, int device, char *err, size_t errlen);
/*  NULL-safe; sets *self_p to NULL.  */
void twin_cuda_destroy (twin_cuda_t **self_p);

/*  tokens (host memory): B rows of T+1 bytes, as twin_forward; 1 <= B <= bmax,
 *  1 <= T <= tmax of the host model. Returns the mean cross-entropy (nats),
 *  or NAN on failure (see twin_cuda_error).  */
float twin_cuda_forward (twin_cuda_t *self, const uint8_t *tokens, int B, int T);
/*  Overwrites the device grads with d(mean loss)/d(params) of the last
 *  forward (its tokens were kept on the device) and waits for them, so any
 *  stream may read them next. Once per forward. Returns 0 or -1.  */
int twin_cuda_backward (twin_cuda_t *self);
/*  twin_adamw_step on the device: clips the grads to global norm hp->clip
 *  (when > 0), one AdamW update, step 1-based. Returns the norm before
 *  clipping, or NAN on failure.  */
float twin_cuda_adamw_step (twin_cuda_t *self, const twin_adamw_t *hp, uint64_t step);

/*  Copies the device params, grads, m and v into host (which must have the
 *  same config; bmax/tmax may differ). Waits for queued work. Returns 0 or -1.  */
int twin_cuda_to_host (twin_cuda_t *self, twin_model_t *host);
/*  Replaces the device params, m and v with host's (e.g. after loading a
 *  checkpoint into host). Returns 0 or -1.  */
int twin_cuda_from_host (twin_cuda_t *self, const twin_model_t *host);

/*  The device grads to / from n_params host floats (allreduce on a host-memory
 *  comm). Return 0 or -1.  */
int twin_cuda_get_grads (twin_cuda_t *self, float *host_grads);
int twin_cuda_set_grads (twin_cuda_t *self, const float *host_grads);

/*  Device pointer to the grads buffer (n_params floats), for the allreduce.  */
float *twin_cuda_grads (twin_cuda_t *self);
size_t twin_cuda_n_params (const twin_cuda_t *self);
/*  The cudaStream_t everything runs on.  */
void *twin_cuda_stream (twin_cuda_t *self);
/*  The message of the last failure ("" when none).  */
const char *twin_cuda_error (const twin_cuda_t *self);

/* ---- CPU/GPU agreement (strata-twin-cuda-check, test_twin_cuda.c) ------ */

/*  Tolerances the comparison is held to (see docs/twin-internals.md, "CUDA path").  */
#define TWIN_CUDA_TOL_LOSS 1e-4   /*  |loss_gpu - loss_cpu| / loss_cpu, every step  */
#define TWIN_CUDA_TOL_GRAD 1e-3   /*  per tensor: max|g_gpu - g_cpu| / max|g_cpu|  */
#define TWIN_CUDA_TOL_NORM 1e-4   /*  |norm_gpu - norm_cpu| / norm_cpu, every step  */
#define TWIN_CUDA_TOL_PARAMS 1e-2 /*  |p_gpu - p_cpu| / |p_cpu - p_init| after the steps (L2)  */
#define TWIN_CUDA_CHECK_MAX_STEPS 64

typedef struct {
    twin_config_t cfg; /*  what was compared  */
    int B, T, steps;
    uint64_t seed;
    size_t n_params;
    double loss_cpu, loss_gpu;                       /*  first forward  */
    double grad_rel;                                 /*  worst tensor of TWIN_CUDA_TOL_GRAD's measure  */
    char grad_tensor[24];                            /*  that tensor's name  */
    double grad_l2_rel;                              /*  |g_gpu - g_cpu| / |g_cpu| over all params  */
    double step_loss_cpu[TWIN_CUDA_CHECK_MAX_STEPS]; /*  loss before update i  */
    double step_loss_gpu[TWIN_CUDA_CHECK_MAX_STEPS];
    double step_norm_cpu[TWIN_CUDA_CHECK_MAX_STEPS]; /*  grad norm of update i  */
    double step_norm_gpu[TWIN_CUDA_CHECK_MAX_STEPS];
    double loss_rel;       /*  worst over the first forward and all steps  */
    double norm_rel;       /*  worst over all steps  */
    double params_rel;     /*  after the steps  */
    double ms_cpu, ms_gpu; /*  mean wall time of one step (fwd+bwd+adamw)  */
} twin_cuda_check_t;

/*  Builds a host model of cfg (batch B, sequence T) from seed, copies it to
 *  device `device`, and runs both side by side on one fixed batch of tokens:
 *  forward + backward (loss and every gradient compared), then `steps` AdamW
 *  steps (lr 1e-2; losses, norms and the final params compared). Fills r;
 *  returns 0, or -1 with err when something could not run (no device, bad
 *  config). Whether the figures pass is twin_cuda_check_verdict's call.  */
int twin_cuda_check_run (const twin_config_t *cfg, int B, int T, int steps, uint64_t seed, int device,
                         twin_cuda_check_t *r, char *err, size_t errlen);
/*  0 when every figure is within its TWIN_CUDA_TOL_*; else -1 and the first
 *  figure out of tolerance in why.  */
int twin_cuda_check_verdict (const twin_cuda_check_t *r, char *why, size_t whylen);
/*  Prints the figures, one per line.  */
void twin_cuda_check_print (const twin_cuda_check_t *r, FILE *out);

#ifdef __cplusplus
}
#endif

#endif
