/*  device.h: where strata-twin-train's steps run, when not on the CPU.
 *
 *  The training loop (train.c) is written once, against this table: the
 *  steps that differ between the CPU (model.c, in place on the host model)
 *  and an accelerator are the ones below; everything else (data, the
 *  plan, broadcasts, checkpoints, evaluation) works on the host model in
 *  both cases. train.c is compiled once, into strata_twin_loop, and never
 *  sees a CUDA header; the CUDA step lives in cuda/ (twin_cuda.cu, its
 *  kernels) and reaches the loop only through twin_device_cuda (), as
 *  llm.c keeps train_gpt2.c and train_gpt2.cu apart.
 *
 *  A device holds its own copy of the model (params, grads, AdamW moments,
 *  each ONE contiguous buffer of n_params floats in the host layout), made
 *  from the host model after it is loaded and broadcast. One step is
 *
 *      loss = forward (g, tokens, B, T);       NAN and a non-empty error () on failure
 *      backward (g);                           the grads, complete
 *      allreduce of the grads:                 in place on grads (g) when the communicator
 *                                              reduces device memory (nccl); else through
 *                                              the host: get_grads, reduce, set_grads
 *      adamw_step (g, &hp, step);              NAN and a non-empty error () on failure
 *
 *  and to_host copies the device state back into the host model before a
 *  checkpoint or the evaluation.
 *
 *  Which devices a program has is decided when it is linked: strata-twin-train
 *  links strata_twin_cuda (cuda/twin_cuda_device.c) where CMake finds CUDA,
 *  and device_none.c elsewhere; programs that call twin_train themselves (the
 *  tests, twin_dp_ref) leave twin_opts_t.cuda NULL and run on the CPU.
 */
#ifndef STRATA_TWIN_DEVICE_H
#define STRATA_TWIN_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "twin.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  One model on one device; what it is belongs to the device's ops.  */
typedef struct twin_device twin_device_t;

typedef struct twin_device_ops {
    const char *name; /*  "cuda"  */
    /*  Devices visible (>= 1), or -1 with the reason in err.  */
    int (*count) (char *err, size_t errlen);
    /*  A device copy of host on device ordinal (-1: the calling thread's
     *  current device), or NULL with the reason in err.  */
    twin_device_t *(*open) (const twin_model_t *host, int ordinal, char *err, size_t errlen);
    /*  NULL-safe; sets *g to NULL.  */
    void (*close) (twin_device_t **g);
    float (*forward) (twin_device_t *g, const uint8_t *tokens, int B, int T);
    int (*backward) (twin_device_t *g); /*  0 or -1  */
    float (*adamw_step) (twin_device_t *g, const twin_adamw_t *hp, uint64_t step);
    int (*to_host) (twin_device_t *g, twin_model_t *host); /*  0 or -1  */
    /*  The grads through n_params host floats (a host-memory allreduce). 0 or -1.  */
    int (*get_grads) (twin_device_t *g, float *host_grads);
    int (*set_grads) (twin_device_t *g, const float *host_grads);
    /*  The grads buffer in device memory (a device-memory allreduce).  */
    float *(*grads) (twin_device_t *g);
    size_t (*n_params) (const twin_device_t *g);
    /*  The message of the last failure ("" when none).  */
    const char *(*error) (const twin_device_t *g);
} twin_device_ops_t;

/*  The CUDA device of this program, or NULL when it was built without CUDA.  */
const twin_device_ops_t *twin_device_cuda (void);

#ifdef __cplusplus
}
#endif

#endif
