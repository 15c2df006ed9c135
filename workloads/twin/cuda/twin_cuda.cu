/*  twin_cuda.cu: the twin model on one CUDA device (see twin_cuda.h).
 *
 *  This file is model.c's forward and backward with every cblas_sgemm turned
 *  into s_gemm (same arguments, row-major; cuBLAS is column-major, so s_gemm
 *  computes C^T = B^T A^T) and every other loop into a kernel launcher of
 *  twin_cuda_kernels.cu. Attention runs one cuBLAS strided-batched call per
 *  sequence, batched over the heads (head h of a sequence sits hd floats
 *  after head h-1 in qkv and atto, T*T floats after it in att).
 *
 *  Device memory mirrors the host model: one allocation holds params, grads,
 *  m and v (n_params floats each, the host layout), one the activations
 *  (sized for the host model's bmax x tmax, carved as model.c carves them).
 *
 *  Errors: a failing CUDA or cuBLAS call records a message in self->err and
 *  sets self->rc; later steps of the same API call are skipped, and the call
 *  reports failure. Kernel faults surface at the next synchronisation
 *  (forward and adamw_step synchronise once each, to return their number).  */
extern "C" {
#include "twin.h"
}
#include "twin_cuda.h"
#include "twin_cuda_int.h"

#include <cublas_v2.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct twin_cuda {
    /*  configuration (copied from the host model)  */
    twin_config_t cfg;
    int bmax, tmax; /*  activations are sized for these  */
    int device;     /*  CUDA ordinal  */
    size_t n_params;
    size_t wte, wpe, lnfg, lnfb, head; /*  offsets, as twin_model_t  */
    twin_layer_t *layer;               /*  host array [layers] of block offsets  */

    /*  device memory  */
    float *state;                  /*  params | grads | m | v  */
    float *params, *grads, *m, *v; /*  each n_params floats, host layout  */
    uint8_t *decay;                /*  [n_params] 1 where AdamW weight decay applies  */
    float *act;                    /*  all activations, carved below  */
    float *res, *res2, *ln1, *ln1m, *ln1r, *qkv, *att, *atto, *ln2, *ln2m, *ln2r, *fch, *fcg;
    float *lnf, *lnfm, *lnfr, *probs;
    float *dres, *dln, *dbig, *dqkv, *datto, *dp; /*  dp: one sequence, all heads  */
    uint8_t *tok;                                 /*  tokens of the last forward, bmax rows of tmax+1  */
    double *losses;                               /*  [bmax*tmax] per-position loss  */
    double *norm_partials;                        /*  [TK_NORM_BLOCKS]  */
    float *norm;                                  /*  [1] gradient norm of the last adamw_step  */

    /*  host side  */
    double *losses_host; /*  [bmax*tmax]  */
    cudaStream_t stream;
    cublasHandle_t blas;

    /*  state  */
    int fwd_b, fwd_t; /*  shape of the last forward; 0 when backward has nothing  */
    int rc;           /*  0, or -1 once a step of the current call failed  */
    char err[256];    /*  the first failure of the last call that failed  */
};

/* ---- errors ---------------------------------------------------------- */

static void
s_fail (twin_cuda_t *self, const char *fmt, ...)
{
    if (self->rc < 0)
        return; /*  keep the first message  */
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (self->err, sizeof self->err, fmt, ap);
    va_end (ap);
    self->rc = -1;
}

static int
s_cuda (twin_cuda_t *self, cudaError_t e, const char *what)
{
    if (e != cudaSuccess) {
        s_fail (self, "%s: %s", what, cudaGetErrorString (e));
        cudaGetLastError (); /*  clear a non-sticky error  */
    }
    return self->rc;
}

/*  Starts an API call: the device is per host thread, the error per call.  */
static int
s_enter (twin_cuda_t *self)
{
    self->rc = 0;
    self->err[0] = '\0';
    return s_cuda (self, cudaSetDevice (self->device), "cudaSetDevice");
}

/*  Launch errors of the kernels queued so far.  */
static int
s_launched (twin_cuda_t *self, const char *what)
{
    return s_cuda (self, cudaGetLastError (), what);
}

/* ---- row-major GEMM on cuBLAS ----------------------------------------- */

/*  cblas_sgemm (CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)  */
static void
s_gemm (twin_cuda_t *self, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
        int ldb, float beta, float *C, int ldc)
{
    if (self->rc < 0)
        return;
    cublasStatus_t st = cublasSgemm (self->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M,
                                     K, &alpha, B, ldb, A, lda, &beta, C, ldc);
    if (st != CUBLAS_STATUS_SUCCESS)
        s_fail (self, "cublasSgemm (%dx%dx%d): %s", M, N, K, cublasGetStatusString (st));
}

/*  s_gemm over `batch` problems; problem i uses A + i*sA, B + i*sB, C + i*sC.  */
static void
s_gemm_batched (twin_cuda_t *self, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                long long sA, const float *B, int ldb, long long sB, float beta, float *C, int ldc, long long sC,
                int batch)
{
    if (self->rc < 0)
        return;
    cublasStatus_t st = cublasSgemmStridedBatched (self->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                                   ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha, B, ldb, sB, A,
                                                   lda, sA, &beta, C, ldc, sC, batch);
    if (st != CUBLAS_STATUS_SUCCESS)
        s_fail (self, "cublasSgemmStridedBatched (%dx%dx%d x%d): %s", M, N, K, batch, cublasGetStatusString (st));
}

/*  out[N,Ko] = in[N,Ki] W[Ki,Ko] + b  */
static void
s_linear_fwd (twin_cuda_t *self, float *out, const float *in, const float *W, const float *b, int N, int Ki, int Ko)
{
    tk_bias_broadcast (self->stream, out, b, N, Ko);
    s_gemm (self, 0, 0, N, Ko, Ki, 1.0f, in, Ki, W, Ko, 1.0f, out, Ko);
}

/*  dW += in^T dout; db += colsum(dout); din = dout W^T  */
static void
s_linear_bwd (twin_cuda_t *self, float *din, float *dW, float *db, const float *dout, const float *in, const float *W,
              int N, int Ki, int Ko)
{
    s_gemm (self, 1, 0, Ki, Ko, N, 1.0f, in, Ki, dout, Ko, 1.0f, dW, Ko);
    tk_bias_grad (self->stream, db, dout, N, Ko);
    s_gemm (self, 0, 1, N, Ki, Ko, 1.0f, dout, Ko, W, Ko, 0.0f, din, Ki);
}

/*  Per layer slices of the activation arrays (model.c SL).  */
#define SL(base, l, per) ((base) + (size_t) (l) * (per))

/*  Causal attention of layer l: att (probabilities) and atto from qkv.  */
static void
s_attention_fwd (twin_cuda_t *self, int l, int B, int T)
{
    int D = self->cfg.dim, H = self->cfg.heads, hd = D / H;
    size_t N = (size_t) self->bmax * self->tmax, TT = (size_t) self->tmax * self->tmax;
    float *qkv = SL (self->qkv, l, N * 3 * D), *atto = SL (self->atto, l, N * D);
    float *att = SL (self->att, l, (size_t) self->bmax * H * TT);
    float scale = 1.0f / sqrtf ((float) hd);
    long long tt = (long long) T * T;
    for (int b = 0; b < B; b++) {
        const float *q = qkv + (size_t) b * T * 3 * D, *k = q + D;
        /*  S = scale Q K^T, per head  */
        s_gemm_batched (self, 0, 1, T, T, hd, scale, q, 3 * D, hd, k, 3 * D, hd, 0.0f, att + (size_t) b * H * T * T,
                        T, tt, H);
    }
    tk_softmax_causal_fwd (self->stream, att, B * H * T, T);
    for (int b = 0; b < B; b++) {
        const float *v = qkv + (size_t) b * T * 3 * D + 2 * D;
        /*  O = P V, per head, into the head's columns of atto  */
        s_gemm_batched (self, 0, 0, T, hd, T, 1.0f, att + (size_t) b * H * T * T, T, tt, v, 3 * D, hd, 0.0f,
                        atto + (size_t) b * T * D, D, hd, H);
    }
}

/*  self->dqkv from self->datto (the gradient of atto) for layer l.  */
static void
s_attention_bwd (twin_cuda_t *self, int l, int B, int T)
{
    int D = self->cfg.dim, H = self->cfg.heads, hd = D / H;
    size_t N = (size_t) self->bmax * self->tmax, TT = (size_t) self->tmax * self->tmax;
    const float *qkv = SL (self->qkv, l, N * 3 * D);
    const float *att = SL (self->att, l, (size_t) self->bmax * H * TT);
    float scale = 1.0f / sqrtf ((float) hd);
    long long tt = (long long) T * T;
    float *dP = self->dp; /*  [H, T, T], reused per sequence (one stream: in order)  */
    for (int b = 0; b < B; b++) {
        size_t o3 = (size_t) b * T * 3 * D;
        const float *q = qkv + o3, *k = q + D, *v = q + 2 * D;
        float *dq = self->dqkv + o3, *dk = dq + D, *dv = dq + 2 * D;
        const float *P = att + (size_t) b * H * T * T;
        const float *dO = self->datto + (size_t) b * T * D;
        /*  dP = dO V^T; dV = P^T dO  */
        s_gemm_batched (self, 0, 1, T, T, hd, 1.0f, dO, D, hd, v, 3 * D, hd, 0.0f, dP, T, tt, H);
        s_gemm_batched (self, 1, 0, T, hd, T, 1.0f, P, T, tt, dO, D, hd, 0.0f, dv, 3 * D, hd, H);
        /*  softmax backward, in place: dS = P * (dP - sum_j P dP)  */
        tk_softmax_causal_bwd (self->stream, dP, P, H * T, T);
        /*  dQ = scale dS K; dK = scale dS^T Q  */
        s_gemm_batched (self, 0, 0, T, hd, T, scale, dP, T, tt, k, 3 * D, hd, 0.0f, dq, 3 * D, hd, H);
        s_gemm_batched (self, 1, 0, T, hd, T, scale, dP, T, tt, q, 3 * D, hd, 0.0f, dk, 3 * D, hd, H);
    }
}

/* ---- life cycle ------------------------------------------------------ */

int
twin_cuda_device_count (char *err, size_t errlen)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount (&n);
    if (e != cudaSuccess) {
        snprintf (err, errlen, "no CUDA device visible (cudaGetDeviceCount: %s)", cudaGetErrorString (e));
        cudaGetLastError ();
        return -1;
    }
    if (n < 1) {
        snprintf (err, errlen, "no CUDA device visible (cudaGetDeviceCount: 0 devices)");
        return -1;
    }
    return n;
}

static int
s_same_config (const twin_config_t *a, const twin_config_t *b)
{
    return a->layers == b->layers && a->dim == b->dim && a->heads == b->heads && a->ctx == b->ctx
           && a->vocab == b->vocab;
}

twin_cuda_t *
twin_cuda_new (const twin_model_t *host, int device, char *err, size_t errlen)
{
    int count = twin_cuda_device_count (err, errlen);
    if (count < 0)
        return NULL;
    if (device < 0 && cudaGetDevice (&device) != cudaSuccess) {
        cudaGetLastError ();
        snprintf (err, errlen, "no current CUDA device");
        return NULL;
    }
    if (device >= count) {
        snprintf (err, errlen, "CUDA device %d does not exist (%d visible)", device, count);
        return NULL;
    }
    if (twin_config_check (&host->cfg, err, errlen) < 0)
        return NULL;
    twin_cuda_t *self = (twin_cuda_t *) calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of host memory");
        return NULL;
    }
    const twin_config_t *c = &host->cfg;
    self->cfg = *c;
    self->bmax = host->bmax, self->tmax = host->tmax;
    self->device = device;
    self->n_params = host->n_params;
    self->wte = host->wte, self->wpe = host->wpe;
    self->lnfg = host->lnfg, self->lnfb = host->lnfb, self->head = host->head;

    size_t n = self->n_params;
    size_t L = (size_t) c->layers, D = (size_t) c->dim, H = (size_t) c->heads;
    size_t N = (size_t) self->bmax * (size_t) self->tmax, TT = (size_t) self->tmax * (size_t) self->tmax;
    size_t sizes[] = {
        (L + 1) * N * D,
        L * N * D, /*  res, res2  */
        L * N * D,
        L * N,
        L * N, /*  ln1, mean, rstd  */
        L * N * 3 * D,
        L * (size_t) self->bmax * H * TT, /*  qkv, att  */
        L * N * D,                        /*  atto  */
        L * N * D,
        L * N,
        L * N, /*  ln2, mean, rstd  */
        L * N * 4 * D,
        L * N * 4 * D, /*  fch, fcg  */
        N * D,
        N,
        N,
        N * TWIN_VOCAB, /*  lnf, mean, rstd, probs  */
        N * D,
        N * D,
        N * 4 * D,
        N * 3 * D,
        N * D,
        H * TT, /*  dres dln dbig dqkv datto dp  */
    };
    float **slots[] = {
        &self->res,   &self->res2, &self->ln1,  &self->ln1m, &self->ln1r, &self->qkv,   &self->att,  &self->atto,
        &self->ln2,   &self->ln2m, &self->ln2r, &self->fch,  &self->fcg,  &self->lnf,   &self->lnfm, &self->lnfr,
        &self->probs, &self->dres, &self->dln,  &self->dbig, &self->dqkv, &self->datto, &self->dp,
    };
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        total += sizes[i];

    uint8_t *decay_host = (uint8_t *) calloc (n, 1);
    self->layer = (twin_layer_t *) malloc (L * sizeof *self->layer);
    self->losses_host = (double *) malloc (N * sizeof (double));
    if (!decay_host || !self->layer || !self->losses_host) {
        free (decay_host);
        twin_cuda_destroy (&self);
        snprintf (err, errlen, "out of host memory");
        return NULL;
    }
    memcpy (self->layer, host->layer, L * sizeof *self->layer);
    for (int k = 0; k < host->n_tensors; k++)
        if (host->tensor[k].decay)
            memset (decay_host + host->tensor[k].off, 1, host->tensor[k].n);

    s_enter (self);
    s_cuda (self, cudaStreamCreateWithFlags (&self->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    if (self->rc == 0) {
        cublasStatus_t st = cublasCreate (&self->blas);
        if (st != CUBLAS_STATUS_SUCCESS) {
            self->blas = NULL;
            s_fail (self, "cublasCreate: %s", cublasGetStatusString (st));
        }
        else if (cublasSetStream (self->blas, self->stream) != CUBLAS_STATUS_SUCCESS
                 || cublasSetMathMode (self->blas, CUBLAS_DEFAULT_MATH) != CUBLAS_STATUS_SUCCESS) {
            s_fail (self, "cublas: cannot set the stream and fp32 math mode");
        }
    }
    if (self->rc == 0)
        s_cuda (self, cudaMalloc ((void **) &self->state, 4 * n * sizeof (float)), "cudaMalloc (params)");
    if (self->rc == 0)
        s_cuda (self, cudaMalloc ((void **) &self->act, total * sizeof (float)), "cudaMalloc (activations)");
    if (self->rc == 0)
        s_cuda (self, cudaMalloc ((void **) &self->decay, n), "cudaMalloc");
    if (self->rc == 0)
        s_cuda (self, cudaMalloc ((void **) &self->tok, (size_t) self->bmax * (self->tmax + 1)), "cudaMalloc");
    if (self->rc == 0)
        s_cuda (self, cudaMalloc ((void **) &self->losses, N * sizeof (double)), "cudaMalloc");
    if (self->rc == 0)
        s_cuda (self, cudaMalloc ((void **) &self->norm_partials, TK_NORM_BLOCKS * sizeof (double)), "cudaMalloc");
    if (self->rc == 0)
        s_cuda (self, cudaMalloc ((void **) &self->norm, sizeof (float)), "cudaMalloc");
    if (self->rc == 0) {
        self->params = self->state;
        self->grads = self->state + n;
        self->m = self->state + 2 * n;
        self->v = self->state + 3 * n;
        float *p = self->act;
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            *slots[i] = p;
            p += sizes[i];
        }
        /*  Zeroed like the host's calloc: a backward before any forward reads nothing stale.  */
        s_cuda (self, cudaMemsetAsync (self->act, 0, total * sizeof (float), self->stream), "cudaMemset");
        s_cuda (self, cudaMemsetAsync (self->grads, 0, n * sizeof (float), self->stream), "cudaMemset");
        s_cuda (self, cudaMemcpyAsync (self->decay, decay_host, n, cudaMemcpyHostToDevice, self->stream),
                "cudaMemcpy (decay mask)");
        s_cuda (self, cudaStreamSynchronize (self->stream), "cudaStreamSynchronize");
    }
    free (decay_host);
    if (self->rc == 0)
        twin_cuda_from_host (self, host); /*  on failure its message is in self->err  */
    if (self->rc < 0) {
        snprintf (err, errlen, "%s", self->err);
        twin_cuda_destroy (&self);
        return NULL;
    }
    return self;
}

void
twin_cuda_destroy (twin_cuda_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    twin_cuda_t *self = *self_p;
    if (self->stream || self->state || self->act) {
        cudaSetDevice (self->device);
        if (self->stream)
            cudaStreamSynchronize (self->stream);
        if (self->blas)
            cublasDestroy (self->blas);
        cudaFree (self->state);
        cudaFree (self->act);
        cudaFree (self->decay);
        cudaFree (self->tok);
        cudaFree (self->losses);
        cudaFree (self->norm_partials);
        cudaFree (self->norm);
        if (self->stream)
            cudaStreamDestroy (self->stream);
    }
    free (self->layer);
    free (self->losses_host);
    free (self);
    *self_p = NULL;
}

int
twin_cuda_from_host (twin_cuda_t *self, const twin_model_t *host)
{
    if (s_enter (self) < 0)
        return -1;
    if (!s_same_config (&self->cfg, &host->cfg) || host->n_params != self->n_params) {
        s_fail (self, "host model has another shape");
        return -1;
    }
    size_t bytes = self->n_params * sizeof (float);
    s_cuda (self, cudaMemcpyAsync (self->params, host->params, bytes, cudaMemcpyHostToDevice, self->stream),
            "cudaMemcpy (params)");
    s_cuda (self, cudaMemcpyAsync (self->m, host->m, bytes, cudaMemcpyHostToDevice, self->stream), "cudaMemcpy (m)");
    s_cuda (self, cudaMemcpyAsync (self->v, host->v, bytes, cudaMemcpyHostToDevice, self->stream), "cudaMemcpy (v)");
    s_cuda (self, cudaStreamSynchronize (self->stream), "cudaStreamSynchronize");
    return self->rc;
}

int
twin_cuda_to_host (twin_cuda_t *self, twin_model_t *host)
{
    if (s_enter (self) < 0)
        return -1;
    if (!s_same_config (&self->cfg, &host->cfg) || host->n_params != self->n_params) {
        s_fail (self, "host model has another shape");
        return -1;
    }
    size_t bytes = self->n_params * sizeof (float);
    s_cuda (self, cudaMemcpyAsync (host->params, self->params, bytes, cudaMemcpyDeviceToHost, self->stream),
            "cudaMemcpy (params)");
    s_cuda (self, cudaMemcpyAsync (host->grads, self->grads, bytes, cudaMemcpyDeviceToHost, self->stream),
            "cudaMemcpy (grads)");
    s_cuda (self, cudaMemcpyAsync (host->m, self->m, bytes, cudaMemcpyDeviceToHost, self->stream), "cudaMemcpy (m)");
    s_cuda (self, cudaMemcpyAsync (host->v, self->v, bytes, cudaMemcpyDeviceToHost, self->stream), "cudaMemcpy (v)");
    s_cuda (self, cudaStreamSynchronize (self->stream), "cudaStreamSynchronize");
    return self->rc;
}

int
twin_cuda_get_grads (twin_cuda_t *self, float *host_grads)
{
    if (s_enter (self) < 0)
        return -1;
    s_cuda (self,
            cudaMemcpyAsync (host_grads, self->grads, self->n_params * sizeof (float), cudaMemcpyDeviceToHost,
                             self->stream),
            "cudaMemcpy (grads)");
    s_cuda (self, cudaStreamSynchronize (self->stream), "cudaStreamSynchronize");
    return self->rc;
}

int
twin_cuda_set_grads (twin_cuda_t *self, const float *host_grads)
{
    if (s_enter (self) < 0)
        return -1;
    s_cuda (self,
            cudaMemcpyAsync (self->grads, host_grads, self->n_params * sizeof (float), cudaMemcpyHostToDevice,
                             self->stream),
            "cudaMemcpy (grads)");
    s_cuda (self, cudaStreamSynchronize (self->stream), "cudaStreamSynchronize");
    return self->rc;
}

/* ---- forward, backward, AdamW ------------------------------------------ */

float
twin_cuda_forward (twin_cuda_t *self, const uint8_t *tokens, int B, int T)
{
    self->fwd_b = self->fwd_t = 0;
    if (s_enter (self) < 0)
        return NAN;
    if (B < 1 || B > self->bmax || T < 1 || T > self->tmax) {
        s_fail (self, "batch %d x %d outside the model's %d x %d", B, T, self->bmax, self->tmax);
        return NAN;
    }
    const twin_config_t *c = &self->cfg;
    int D = c->dim, V = c->vocab, L = c->layers;
    size_t Nmax = (size_t) self->bmax * self->tmax;
    int N = B * T;
    const float *P = self->params;
    cudaStream_t s = self->stream;

    s_cuda (self, cudaMemcpyAsync (self->tok, tokens, (size_t) B * (T + 1), cudaMemcpyHostToDevice, s),
            "cudaMemcpy (tokens)");
    tk_embed_fwd (s, self->res, self->tok, P + self->wte, P + self->wpe, B, T, D);
    for (int l = 0; l < L; l++) {
        const twin_layer_t *ly = &self->layer[l];
        float *xin = SL (self->res, l, Nmax * D), *xout = SL (self->res, l + 1, Nmax * D);
        float *x2 = SL (self->res2, l, Nmax * D);
        float *ln1 = SL (self->ln1, l, Nmax * D), *ln2 = SL (self->ln2, l, Nmax * D);
        float *qkv = SL (self->qkv, l, Nmax * 3 * D), *atto = SL (self->atto, l, Nmax * D);
        float *fch = SL (self->fch, l, Nmax * 4 * D), *fcg = SL (self->fcg, l, Nmax * 4 * D);

        tk_layernorm_fwd (s, ln1, SL (self->ln1m, l, Nmax), SL (self->ln1r, l, Nmax), xin, P + ly->ln1g, P + ly->ln1b,
                          N, D);
        s_linear_fwd (self, qkv, ln1, P + ly->wqkv, P + ly->bqkv, N, D, 3 * D);
        s_attention_fwd (self, l, B, T);
        s_linear_fwd (self, x2, atto, P + ly->wo, P + ly->bo, N, D, D);
        tk_add (s, x2, xin, (size_t) N * D);
        tk_layernorm_fwd (s, ln2, SL (self->ln2m, l, Nmax), SL (self->ln2r, l, Nmax), x2, P + ly->ln2g, P + ly->ln2b,
                          N, D);
        s_linear_fwd (self, fch, ln2, P + ly->wfc, P + ly->bfc, N, D, 4 * D);
        tk_gelu_fwd (s, fcg, fch, (size_t) N * 4 * D);
        s_linear_fwd (self, xout, fcg, P + ly->wp, P + ly->bp, N, 4 * D, D);
        tk_add (s, xout, x2, (size_t) N * D);
    }
    tk_layernorm_fwd (s, self->lnf, self->lnfm, self->lnfr, SL (self->res, L, Nmax * D), P + self->lnfg,
                      P + self->lnfb, N, D);
    s_gemm (self, 0, 1, N, V, D, 1.0f, self->lnf, D, P + self->head, D, 0.0f, self->probs, V);
    tk_crossentropy_fwd (s, self->probs, self->losses, self->tok, B, T, V);
    s_launched (self, "forward kernels");
    s_cuda (
        self,
        cudaMemcpyAsync (self->losses_host, self->losses, (size_t) N * sizeof (double), cudaMemcpyDeviceToHost, s),
        "cudaMemcpy (losses)");
    s_cuda (self, cudaStreamSynchronize (s), "forward");
    if (self->rc < 0)
        return NAN;
    double loss = 0;
    for (int n = 0; n < N; n++) /*  model.c's order: b, then t  */
        loss += self->losses_host[n];
    self->fwd_b = B, self->fwd_t = T;
    return (float) (loss / N);
}

int
twin_cuda_backward (twin_cuda_t *self)
{
    if (s_enter (self) < 0)
        return -1;
    int B = self->fwd_b, T = self->fwd_t;
    if (B == 0) {
        s_fail (self, "backward without a successful forward");
        return -1;
    }
    self->fwd_b = self->fwd_t = 0; /*  the probabilities are consumed below  */
    const twin_config_t *c = &self->cfg;
    int D = c->dim, V = c->vocab, L = c->layers;
    size_t Nmax = (size_t) self->bmax * self->tmax;
    int N = B * T;
    const float *P = self->params;
    float *G = self->grads;
    cudaStream_t s = self->stream;

    s_cuda (self, cudaMemsetAsync (G, 0, self->n_params * sizeof (float), s), "cudaMemset (grads)");
    /*  d logits = (softmax - onehot) / N, in place over probs.  */
    tk_crossentropy_bwd (s, self->probs, self->tok, B, T, V, 1.0f / (float) N);
    /*  head: d head += dlogits^T lnf; d lnf = dlogits head  */
    s_gemm (self, 1, 0, V, D, N, 1.0f, self->probs, V, self->lnf, D, 1.0f, G + self->head, D);
    s_gemm (self, 0, 0, N, D, V, 1.0f, self->probs, V, P + self->head, D, 0.0f, self->dln, D);
    s_cuda (self, cudaMemsetAsync (self->dres, 0, (size_t) N * D * sizeof (float), s), "cudaMemset");
    tk_layernorm_bwd (s, self->dres, G + self->lnfg, G + self->lnfb, self->dln, SL (self->res, L, Nmax * D),
                      self->lnfm, self->lnfr, P + self->lnfg, N, D);

    for (int l = L - 1; l >= 0; l--) {
        const twin_layer_t *ly = &self->layer[l];
        float *xin = SL (self->res, l, Nmax * D), *x2 = SL (self->res2, l, Nmax * D);
        float *ln1 = SL (self->ln1, l, Nmax * D), *ln2 = SL (self->ln2, l, Nmax * D);
        float *atto = SL (self->atto, l, Nmax * D);
        float *fch = SL (self->fch, l, Nmax * 4 * D), *fcg = SL (self->fcg, l, Nmax * 4 * D);

        /*  MLP: dres holds d x' = d x2 (direct path) + through the MLP.  */
        s_linear_bwd (self, self->dbig, G + ly->wp, G + ly->bp, self->dres, fcg, P + ly->wp, N, 4 * D, D);
        tk_gelu_bwd (s, self->dbig, fch, (size_t) N * 4 * D);
        s_linear_bwd (self, self->dln, G + ly->wfc, G + ly->bfc, self->dbig, ln2, P + ly->wfc, N, D, 4 * D);
        tk_layernorm_bwd (s, self->dres, G + ly->ln2g, G + ly->ln2b, self->dln, x2, SL (self->ln2m, l, Nmax),
                          SL (self->ln2r, l, Nmax), P + ly->ln2g, N, D);
        /*  attention: dres now holds d x2.  */
        s_linear_bwd (self, self->datto, G + ly->wo, G + ly->bo, self->dres, atto, P + ly->wo, N, D, D);
        s_attention_bwd (self, l, B, T);
        s_linear_bwd (self, self->dln, G + ly->wqkv, G + ly->bqkv, self->dqkv, ln1, P + ly->wqkv, N, D, 3 * D);
        tk_layernorm_bwd (s, self->dres, G + ly->ln1g, G + ly->ln1b, self->dln, xin, SL (self->ln1m, l, Nmax),
                          SL (self->ln1r, l, Nmax), P + ly->ln1g, N, D);
    }
    tk_embed_bwd (s, G + self->wte, G + self->wpe, self->dres, self->tok, B, T, D, V);
    s_launched (self, "backward kernels");
    /*  Return with the grads complete: the allreduce that follows may run on
     *  another stream (libstrata-collective's NCCL backend has its own).  */
    s_cuda (self, cudaStreamSynchronize (s), "backward");
    return self->rc;
}

float
twin_cuda_adamw_step (twin_cuda_t *self, const twin_adamw_t *hp, uint64_t step)
{
    if (s_enter (self) < 0)
        return NAN;
    cudaStream_t s = self->stream;
    tk_adamw_args_t a;
    a.lr = hp->lr, a.beta1 = hp->beta1, a.beta2 = hp->beta2, a.eps = hp->eps;
    a.weight_decay = hp->weight_decay, a.clip = hp->clip;
    a.b1c = (float) (1.0 - pow (hp->beta1, (double) step));
    a.b2c = (float) (1.0 - pow (hp->beta2, (double) step));
    tk_grad_norm (s, self->norm, self->norm_partials, self->grads, self->n_params);
    tk_adamw (s, self->params, self->grads, self->m, self->v, self->decay, self->n_params, self->norm, a);
    s_launched (self, "adamw kernels");
    float norm = NAN;
    s_cuda (self, cudaMemcpyAsync (&norm, self->norm, sizeof norm, cudaMemcpyDeviceToHost, s), "cudaMemcpy (norm)");
    s_cuda (self, cudaStreamSynchronize (s), "adamw step");
    return self->rc < 0 ? NAN : norm;
}

/* ---- accessors ------------------------------------------------------- */

float *
twin_cuda_grads (twin_cuda_t *self)
{
    return self->grads;
}

size_t
twin_cuda_n_params (const twin_cuda_t *self)
{
    return self->n_params;
}

void *
twin_cuda_stream (twin_cuda_t *self)
{
    return (void *) self->stream;
}

const char *
twin_cuda_error (const twin_cuda_t *self)
{
    return self->err;
}
