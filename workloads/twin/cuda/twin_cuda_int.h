/*  twin_cuda_int.h: shared between twin_cuda.cu (the model) and
 *  twin_cuda_kernels.cu (the kernels). CUDA C++; not for C users.
 *
 *  Kernels are launched through TWIN_LAUNCH so that the same sources also
 *  build against emu/ (a CPU stand-in for the CUDA runtime and cuBLAS, see
 *  emu/cuda_runtime.h), which lets a machine without a GPU run the kernels'
 *  logic under ASan. With nvcc, TWIN_LAUNCH is a plain <<<>>> launch.  */
#ifndef STRATA_TWIN_CUDA_INT_H
#define STRATA_TWIN_CUDA_INT_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#ifdef TWIN_CUDA_EMU
#define TWIN_LAUNCH(kernel, grid, block, stream, ...) twin_emu_launch (kernel, (grid), (block), __VA_ARGS__)
#else
#define TWIN_LAUNCH(kernel, grid, block, stream, ...) kernel<<<(grid), (block), 0, (stream)>>> (__VA_ARGS__)
#endif

/*  Kernel launchers (twin_cuda_kernels.cu). All queue work on stream s and
 *  return at once; launch errors surface through cudaGetLastError. Shapes:
 *  N = B*T rows, D model width, V vocabulary; row-major throughout, as model.c.  */

/*  x[N,D] = wte[tok] + wpe[t]; tok: B rows of T+1 bytes (inputs 0..T-1)  */
void tk_embed_fwd (cudaStream_t s, float *x, const uint8_t *tok, const float *wte, const float *wpe, int B, int T,
                   int D);
/*  dwte[V,D] += sum of dx rows per input byte; dwpe[T,D] += sum over b  */
void tk_embed_bwd (cudaStream_t s, float *dwte, float *dwpe, const float *dx, const uint8_t *tok, int B, int T, int D,
                   int V);
/*  out[n,k] = b[k] for n < N  */
void tk_bias_broadcast (cudaStream_t s, float *out, const float *b, int N, int K);
/*  db[k] += sum_n dout[n,k]  */
void tk_bias_grad (cudaStream_t s, float *db, const float *dout, int N, int K);
/*  y[i] += x[i]  */
void tk_add (cudaStream_t s, float *y, const float *x, size_t n);
/*  out = LN(in) g + b, row-wise over D; mean, rstd [N]  */
void tk_layernorm_fwd (cudaStream_t s, float *out, float *mean, float *rstd, const float *in, const float *g,
                       const float *b, int N, int D);
/*  dx += dLN/dx; dg, db += their gradients  */
void tk_layernorm_bwd (cudaStream_t s, float *dx, float *dg, float *db, const float *dy, const float *in,
                       const float *mean, const float *rstd, const float *g, int N, int D);
/*  out = GELU(in) (tanh approximation)  */
void tk_gelu_fwd (cudaStream_t s, float *out, const float *in, size_t n);
/*  d *= GELU'(in)  */
void tk_gelu_bwd (cudaStream_t s, float *d, const float *in, size_t n);
/*  In place over rows [rows, T] of scores: causal softmax of row i%T over
 *  columns 0..i, zeros after.  */
void tk_softmax_causal_fwd (cudaStream_t s, float *P, int rows, int T);
/*  In place: dP = P * (dP - sum_j P dP) over columns 0..i, zeros after.  */
void tk_softmax_causal_bwd (cudaStream_t s, float *dP, const float *P, int rows, int T);
/*  In place over logits[N,V]: softmax probabilities; losses[n] = -log p[target]  */
void tk_crossentropy_fwd (cudaStream_t s, float *logits, double *losses, const uint8_t *tok, int B, int T, int V);
/*  In place over probs[N,V]: (probs - onehot(target)) * inv_n  */
void tk_crossentropy_bwd (cudaStream_t s, float *probs, const uint8_t *tok, int B, int T, int V, float inv_n);
/*  norm[0] = sqrt(sum g^2) as float, through partials[TK_NORM_BLOCKS] doubles  */
#define TK_NORM_BLOCKS 256
void tk_grad_norm (cudaStream_t s, float *norm, double *partials, const float *g, size_t n);
/*  One AdamW update of every element, clipping by *norm as twin_adamw_step;
 *  decay[i] != 0 where weight decay applies.  */
typedef struct {
    float lr, beta1, beta2, eps, weight_decay, clip;
    float b1c, b2c; /*  1 - beta^step, computed on the host as model.c does  */
} tk_adamw_args_t;
void tk_adamw (cudaStream_t s, float *p, const float *g, float *m, float *v, const uint8_t *decay, size_t n,
               const float *norm, tk_adamw_args_t a);

#endif
