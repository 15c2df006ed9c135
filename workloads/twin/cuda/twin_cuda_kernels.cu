/*  twin_cuda_kernels.cu: every non-GEMM operation of the twin model on the
 *  device. Each kernel follows the loop of the same name in model.c, with the
 *  same expressions in the same order and double accumulators where model.c
 *  sums in double; the library is built with --fmad=false so nvcc does not
 *  fuse a*b+c where gcc (x86-64 baseline) would not either.
 *
 *  Determinism: no atomics. Every sum is reduced in an order fixed by the
 *  launch shape alone, so a run repeats bit for bit on one GPU model.
 *
 *  Shapes of the launches:
 *    element-wise     grid-stride loops, 256 threads a block
 *    row-wise         one warp per row (layer norm, softmax, cross-entropy)
 *    column sums      32 columns x 8 row-slices a block, slices combined in
 *                     shared memory (bias and layer-norm parameter grads)
 *    gradient norm    TK_NORM_BLOCKS fixed partials, then one block  */
#include "twin_cuda_int.h"

#include <math.h>

#define TK_THREADS 256
#define TK_WARP 32
#define TK_ROWS_PER_BLOCK (TK_THREADS / TK_WARP)
#define TK_FULL_MASK 0xffffffffu
#define TK_MAX_GRID 65535u
#define TK_LN_EPS 1e-5f               /*  model.c LN_EPS  */
#define TK_GELU_C 0.7978845608028654f /*  sqrt(2/pi), model.c GELU_C  */
#define TK_COL_ROWS 8                 /*  row slices of a column-sum block  */

/*  Blocks for a grid-stride loop over n items (capped: the loop covers the rest).  */
static unsigned
s_grid (size_t n, unsigned per_block)
{
    size_t b = (n + per_block - 1) / per_block;
    return b > TK_MAX_GRID ? TK_MAX_GRID : (unsigned) (b ? b : 1);
}

/*  Blocks of TK_ROWS_PER_BLOCK warps for one warp per row (no cap: rows
 *  <= bmax * heads * tmax fits the 2^31 - 1 blocks of gridDim.x).  */
static unsigned
s_grid_rows (size_t rows)
{
    size_t b = (rows + TK_ROWS_PER_BLOCK - 1) / TK_ROWS_PER_BLOCK;
    return (unsigned) (b ? b : 1);
}

/* ---- reductions ------------------------------------------------------ */

/*  Butterfly sums: every lane ends with the same value (a + b == b + a).  */
template <typename F>
__device__ __forceinline__ F
s_warp_sum (F v)
{
    for (int o = TK_WARP / 2; o > 0; o >>= 1)
        v += __shfl_xor_sync (TK_FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ float
s_warp_max (float v)
{
    for (int o = TK_WARP / 2; o > 0; o >>= 1)
        v = fmaxf (v, __shfl_xor_sync (TK_FULL_MASK, v, o));
    return v;
}

/*  Sum over a block of TK_THREADS threads; the result is valid in thread 0.  */
__device__ __forceinline__ double
s_block_sum (double v)
{
    __shared__ double warp_sums[TK_ROWS_PER_BLOCK];
    int lane = threadIdx.x % TK_WARP, w = threadIdx.x / TK_WARP;
    v = s_warp_sum (v);
    if (lane == 0)
        warp_sums[w] = v;
    __syncthreads ();
    double t = 0;
    if (w == 0) {
        t = lane < TK_ROWS_PER_BLOCK ? warp_sums[lane] : 0.0;
        t = s_warp_sum (t);
    }
    return t;
}

/* ---- embedding ------------------------------------------------------- */

static __global__ void
k_embed_fwd (float *x, const uint8_t *tok, const float *wte, const float *wpe, int B, int T, int D)
{
    size_t n_all = (size_t) B * T * D;
    for (size_t k = (size_t) blockIdx.x * blockDim.x + threadIdx.x; k < n_all; k += (size_t) gridDim.x * blockDim.x) {
        size_t n = k / D;
        int i = (int) (k % D), b = (int) (n / T), t = (int) (n % T);
        int byte = tok[(size_t) b * (T + 1) + t];
        x[k] = wte[(size_t) byte * D + i] + wpe[(size_t) t * D + i];
    }
}

/*  One thread per wte element: sums, in row order, the gradient rows of the
 *  positions holding that byte (model.c's loop order, without atomics).  */
static __global__ void
k_embed_bwd_wte (float *dwte, const float *dx, const uint8_t *tok, int B, int T, int D, int V)
{
    size_t n_all = (size_t) V * D;
    for (size_t k = (size_t) blockIdx.x * blockDim.x + threadIdx.x; k < n_all; k += (size_t) gridDim.x * blockDim.x) {
        int byte = (int) (k / D), i = (int) (k % D);
        float acc = dwte[k];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                if (tok[(size_t) b * (T + 1) + t] == byte)
                    acc += dx[((size_t) b * T + t) * D + i];
        dwte[k] = acc;
    }
}

static __global__ void
k_embed_bwd_wpe (float *dwpe, const float *dx, int B, int T, int D)
{
    size_t n_all = (size_t) T * D;
    for (size_t k = (size_t) blockIdx.x * blockDim.x + threadIdx.x; k < n_all; k += (size_t) gridDim.x * blockDim.x) {
        int t = (int) (k / D), i = (int) (k % D);
        float acc = dwpe[k];
        for (int b = 0; b < B; b++)
            acc += dx[((size_t) b * T + t) * D + i];
        dwpe[k] = acc;
    }
}

void
tk_embed_fwd (cudaStream_t s, float *x, const uint8_t *tok, const float *wte, const float *wpe, int B, int T, int D)
{
    TWIN_LAUNCH (k_embed_fwd, s_grid ((size_t) B * T * D, TK_THREADS), TK_THREADS, s, x, tok, wte, wpe, B, T, D);
}

void
tk_embed_bwd (cudaStream_t s, float *dwte, float *dwpe, const float *dx, const uint8_t *tok, int B, int T, int D,
              int V)
{
    TWIN_LAUNCH (k_embed_bwd_wte, s_grid ((size_t) V * D, TK_THREADS), TK_THREADS, s, dwte, dx, tok, B, T, D, V);
    TWIN_LAUNCH (k_embed_bwd_wpe, s_grid ((size_t) T * D, TK_THREADS), TK_THREADS, s, dwpe, dx, B, T, D);
}

/* ---- element-wise ---------------------------------------------------- */

static __global__ void
k_bias_broadcast (float *out, const float *b, int N, int K)
{
    size_t n_all = (size_t) N * K;
    for (size_t k = (size_t) blockIdx.x * blockDim.x + threadIdx.x; k < n_all; k += (size_t) gridDim.x * blockDim.x)
        out[k] = b[k % K];
}

static __global__ void
k_add (float *y, const float *x, size_t n)
{
    for (size_t k = (size_t) blockIdx.x * blockDim.x + threadIdx.x; k < n; k += (size_t) gridDim.x * blockDim.x)
        y[k] += x[k];
}

/*  model.c s_tanh: one expf, saturating.  */
__device__ __forceinline__ float
s_tanh (float u)
{
    return 2.0f / (1.0f + expf (-2.0f * u)) - 1.0f;
}

static __global__ void
k_gelu_fwd (float *out, const float *in, size_t n)
{
    for (size_t k = (size_t) blockIdx.x * blockDim.x + threadIdx.x; k < n; k += (size_t) gridDim.x * blockDim.x) {
        float x = in[k];
        out[k] = 0.5f * x * (1.0f + s_tanh (TK_GELU_C * (x + 0.044715f * x * x * x)));
    }
}

static __global__ void
k_gelu_bwd (float *d, const float *in, size_t n)
{
    for (size_t k = (size_t) blockIdx.x * blockDim.x + threadIdx.x; k < n; k += (size_t) gridDim.x * blockDim.x) {
        float x = in[k];
        float th = s_tanh (TK_GELU_C * (x + 0.044715f * x * x * x));
        float dth = TK_GELU_C * (1.0f + 3.0f * 0.044715f * x * x) * (1.0f - th * th);
        d[k] *= 0.5f * (1.0f + th) + 0.5f * x * dth;
    }
}

void
tk_bias_broadcast (cudaStream_t s, float *out, const float *b, int N, int K)
{
    TWIN_LAUNCH (k_bias_broadcast, s_grid ((size_t) N * K, TK_THREADS), TK_THREADS, s, out, b, N, K);
}

void
tk_add (cudaStream_t s, float *y, const float *x, size_t n)
{
    TWIN_LAUNCH (k_add, s_grid (n, TK_THREADS), TK_THREADS, s, y, x, n);
}

void
tk_gelu_fwd (cudaStream_t s, float *out, const float *in, size_t n)
{
    TWIN_LAUNCH (k_gelu_fwd, s_grid (n, TK_THREADS), TK_THREADS, s, out, in, n);
}

void
tk_gelu_bwd (cudaStream_t s, float *d, const float *in, size_t n)
{
    TWIN_LAUNCH (k_gelu_bwd, s_grid (n, TK_THREADS), TK_THREADS, s, d, in, n);
}

/* ---- column sums: bias and layer-norm parameter gradients ------------- */

/*  Block (32, TK_COL_ROWS): thread (x, y) sums rows y, y+8, ... of column
 *  blockIdx.x*32 + x; thread (x, 0) adds the 8 partial sums in order.  */
static __global__ void
k_bias_grad (float *db, const float *dout, int N, int K)
{
    __shared__ float part[TK_COL_ROWS][TK_WARP];
    int col = blockIdx.x * TK_WARP + threadIdx.x;
    float acc = 0.0f;
    if (col < K)
        for (int n = threadIdx.y; n < N; n += TK_COL_ROWS)
            acc += dout[(size_t) n * K + col];
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads ();
    if (threadIdx.y == 0 && col < K) {
        float sum = 0.0f;
        for (int r = 0; r < TK_COL_ROWS; r++)
            sum += part[r][threadIdx.x];
        db[col] += sum;
    }
}

static __global__ void
k_layernorm_bwd_params (float *dg, float *db, const float *dy, const float *in, const float *mean, const float *rstd,
                        int N, int D)
{
    __shared__ float part_g[TK_COL_ROWS][TK_WARP], part_b[TK_COL_ROWS][TK_WARP];
    int col = blockIdx.x * TK_WARP + threadIdx.x;
    float ag = 0.0f, ab = 0.0f;
    if (col < D)
        for (int n = threadIdx.y; n < N; n += TK_COL_ROWS) {
            size_t k = (size_t) n * D + col;
            float xhat = (in[k] - mean[n]) * rstd[n];
            ag += dy[k] * xhat;
            ab += dy[k];
        }
    part_g[threadIdx.y][threadIdx.x] = ag;
    part_b[threadIdx.y][threadIdx.x] = ab;
    __syncthreads ();
    if (threadIdx.y == 0 && col < D) {
        float sg = 0.0f, sb = 0.0f;
        for (int r = 0; r < TK_COL_ROWS; r++) {
            sg += part_g[r][threadIdx.x];
            sb += part_b[r][threadIdx.x];
        }
        dg[col] += sg;
        db[col] += sb;
    }
}

void
tk_bias_grad (cudaStream_t s, float *db, const float *dout, int N, int K)
{
    TWIN_LAUNCH (k_bias_grad, s_grid ((size_t) K, TK_WARP), dim3 (TK_WARP, TK_COL_ROWS), s, db, dout, N, K);
}

/* ---- layer norm ------------------------------------------------------ */

/*  One warp per row; mean and variance in double, as model.c.  */
static __global__ void
k_layernorm_fwd (float *out, float *mean, float *rstd, const float *in, const float *g, const float *b, int N, int D)
{
    int row = blockIdx.x * TK_ROWS_PER_BLOCK + threadIdx.x / TK_WARP, lane = threadIdx.x % TK_WARP;
    if (row >= N)
        return; /*  whole warps only  */
    const float *x = in + (size_t) row * D;
    float *y = out + (size_t) row * D;
    double s = 0;
    for (int i = lane; i < D; i += TK_WARP)
        s += x[i];
    s = s_warp_sum (s);
    float mu = (float) (s / D);
    double var = 0;
    for (int i = lane; i < D; i += TK_WARP) {
        float d = x[i] - mu;
        var += (double) d * d;
    }
    var = s_warp_sum (var);
    float r = 1.0f / sqrtf ((float) (var / D) + TK_LN_EPS);
    for (int i = lane; i < D; i += TK_WARP)
        y[i] = (x[i] - mu) * r * g[i] + b[i];
    if (lane == 0) {
        mean[row] = mu;
        rstd[row] = r;
    }
}

static __global__ void
k_layernorm_bwd_dx (float *dx, const float *dy, const float *in, const float *mean, const float *rstd, const float *g,
                    int N, int D)
{
    int row = blockIdx.x * TK_ROWS_PER_BLOCK + threadIdx.x / TK_WARP, lane = threadIdx.x % TK_WARP;
    if (row >= N)
        return;
    const float *x = in + (size_t) row * D, *dyn = dy + (size_t) row * D;
    float *dxn = dx + (size_t) row * D;
    float mu = mean[row], r = rstd[row];
    double a = 0, c = 0;
    for (int i = lane; i < D; i += TK_WARP) {
        float xhat = (x[i] - mu) * r, dxh = dyn[i] * g[i];
        a += dxh;
        c += (double) dxh * xhat;
    }
    a = s_warp_sum (a);
    c = s_warp_sum (c);
    float am = (float) (a / D), cm = (float) (c / D);
    for (int i = lane; i < D; i += TK_WARP) {
        float xhat = (x[i] - mu) * r, dxh = dyn[i] * g[i];
        dxn[i] += r * (dxh - am - xhat * cm);
    }
}

void
tk_layernorm_fwd (cudaStream_t s, float *out, float *mean, float *rstd, const float *in, const float *g,
                  const float *b, int N, int D)
{
    TWIN_LAUNCH (k_layernorm_fwd, s_grid_rows ((size_t) N), TK_THREADS, s, out, mean, rstd, in, g, b, N, D);
}

void
tk_layernorm_bwd (cudaStream_t s, float *dx, float *dg, float *db, const float *dy, const float *in,
                  const float *mean, const float *rstd, const float *g, int N, int D)
{
    TWIN_LAUNCH (k_layernorm_bwd_dx, s_grid_rows ((size_t) N), TK_THREADS, s, dx, dy, in, mean, rstd, g, N, D);
    TWIN_LAUNCH (k_layernorm_bwd_params, s_grid ((size_t) D, TK_WARP), dim3 (TK_WARP, TK_COL_ROWS), s, dg, db, dy, in,
                 mean, rstd, N, D);
}

/* ---- causal softmax (attention) ---------------------------------------- */

/*  One warp per row r of [rows, T]; the row's query position is r % T.  */
static __global__ void
k_softmax_causal_fwd (float *P, int rows, int T)
{
    int r = blockIdx.x * TK_ROWS_PER_BLOCK + threadIdx.x / TK_WARP, lane = threadIdx.x % TK_WARP;
    if (r >= rows)
        return;
    float *p = P + (size_t) r * T;
    int i = r % T;
    float mx = -INFINITY;
    for (int j = lane; j <= i; j += TK_WARP)
        mx = fmaxf (mx, p[j]);
    mx = s_warp_max (mx);
    double s = 0;
    for (int j = lane; j <= i; j += TK_WARP) {
        p[j] = expf (p[j] - mx);
        s += p[j];
    }
    s = s_warp_sum (s);
    float inv = (float) (1.0 / s);
    for (int j = lane; j <= i; j += TK_WARP)
        p[j] *= inv;
    for (int j = i + 1 + lane; j < T; j += TK_WARP)
        p[j] = 0.0f;
}

static __global__ void
k_softmax_causal_bwd (float *dP, const float *P, int rows, int T)
{
    int r = blockIdx.x * TK_ROWS_PER_BLOCK + threadIdx.x / TK_WARP, lane = threadIdx.x % TK_WARP;
    if (r >= rows)
        return;
    const float *p = P + (size_t) r * T;
    float *d = dP + (size_t) r * T;
    int i = r % T;
    double s = 0;
    for (int j = lane; j <= i; j += TK_WARP)
        s += (double) p[j] * d[j];
    s = s_warp_sum (s);
    for (int j = lane; j <= i; j += TK_WARP)
        d[j] = p[j] * (d[j] - (float) s);
    for (int j = i + 1 + lane; j < T; j += TK_WARP)
        d[j] = 0.0f;
}

void
tk_softmax_causal_fwd (cudaStream_t s, float *P, int rows, int T)
{
    TWIN_LAUNCH (k_softmax_causal_fwd, s_grid_rows ((size_t) rows), TK_THREADS, s, P, rows, T);
}

void
tk_softmax_causal_bwd (cudaStream_t s, float *dP, const float *P, int rows, int T)
{
    TWIN_LAUNCH (k_softmax_causal_bwd, s_grid_rows ((size_t) rows), TK_THREADS, s, dP, P, rows, T);
}

/* ---- cross-entropy --------------------------------------------------- */

/*  One warp per row n = b*T + t; the target is byte t+1 of sequence b.
 *  losses[n] = log(sum) - log(exp(l_y - max)), model.c's expression.  */
static __global__ void
k_crossentropy_fwd (float *logits, double *losses, const uint8_t *tok, int B, int T, int V)
{
    int n = blockIdx.x * TK_ROWS_PER_BLOCK + threadIdx.x / TK_WARP, lane = threadIdx.x % TK_WARP;
    if (n >= B * T)
        return;
    float *row = logits + (size_t) n * V;
    int y = tok[(size_t) (n / T) * (T + 1) + n % T + 1];
    float ly = row[y];
    float mx = -INFINITY;
    for (int v = lane; v < V; v += TK_WARP)
        mx = fmaxf (mx, row[v]);
    mx = s_warp_max (mx);
    __syncwarp (); /*  row[y] read by all lanes before it is overwritten  */
    double s = 0;
    for (int v = lane; v < V; v += TK_WARP) {
        row[v] = expf (row[v] - mx);
        s += row[v];
    }
    s = s_warp_sum (s);
    if (lane == 0)
        losses[n] = log (s) - log ((double) expf (ly - mx));
    float inv = (float) (1.0 / s);
    for (int v = lane; v < V; v += TK_WARP)
        row[v] *= inv;
}

static __global__ void
k_crossentropy_bwd (float *probs, const uint8_t *tok, int B, int T, int V, float inv_n)
{
    size_t n_all = (size_t) B * T * V;
    for (size_t k = (size_t) blockIdx.x * blockDim.x + threadIdx.x; k < n_all; k += (size_t) gridDim.x * blockDim.x) {
        size_t n = k / V;
        int v = (int) (k % V);
        int y = tok[(n / T) * (T + 1) + n % T + 1];
        float p = probs[k];
        if (v == y)
            p -= 1.0f;
        probs[k] = p * inv_n;
    }
}

void
tk_crossentropy_fwd (cudaStream_t s, float *logits, double *losses, const uint8_t *tok, int B, int T, int V)
{
    TWIN_LAUNCH (k_crossentropy_fwd, s_grid_rows ((size_t) B * T), TK_THREADS, s, logits, losses, tok, B, T, V);
}

void
tk_crossentropy_bwd (cudaStream_t s, float *probs, const uint8_t *tok, int B, int T, int V, float inv_n)
{
    TWIN_LAUNCH (k_crossentropy_bwd, s_grid ((size_t) B * T * V, TK_THREADS), TK_THREADS, s, probs, tok, B, T, V,
                 inv_n);
}

/* ---- AdamW ----------------------------------------------------------- */

static __global__ void
k_sumsq_partial (double *partials, const float *g, size_t n)
{
    double s = 0;
    for (size_t k = (size_t) blockIdx.x * blockDim.x + threadIdx.x; k < n; k += (size_t) gridDim.x * blockDim.x)
        s += (double) g[k] * g[k];
    s = s_block_sum (s);
    if (threadIdx.x == 0)
        partials[blockIdx.x] = s;
}

static __global__ void
k_sumsq_final (float *norm, const double *partials)
{
    double s = 0;
    for (int k = threadIdx.x; k < TK_NORM_BLOCKS; k += blockDim.x)
        s += partials[k];
    s = s_block_sum (s);
    if (threadIdx.x == 0)
        norm[0] = (float) sqrt (s);
}

/*  model.c twin_adamw_step, element by element.  */
static __global__ void
k_adamw (float *p, const float *g, float *m, float *v, const uint8_t *decay, size_t n, const float *norm,
         tk_adamw_args_t a)
{
    float nrm = norm[0];
    float gs = a.clip > 0 && nrm > a.clip ? a.clip / nrm : 1.0f;
    for (size_t k = (size_t) blockIdx.x * blockDim.x + threadIdx.x; k < n; k += (size_t) gridDim.x * blockDim.x) {
        float wd = decay[k] ? a.weight_decay : 0.0f;
        float gi = g[k] * gs;
        float mk = a.beta1 * m[k] + (1.0f - a.beta1) * gi;
        float vk = a.beta2 * v[k] + (1.0f - a.beta2) * gi * gi;
        m[k] = mk;
        v[k] = vk;
        float mhat = mk / a.b1c, vhat = vk / a.b2c;
        p[k] -= a.lr * (mhat / (sqrtf (vhat) + a.eps) + wd * p[k]);
    }
}

void
tk_grad_norm (cudaStream_t s, float *norm, double *partials, const float *g, size_t n)
{
    TWIN_LAUNCH (k_sumsq_partial, TK_NORM_BLOCKS, TK_THREADS, s, partials, g, n);
    TWIN_LAUNCH (k_sumsq_final, 1, TK_THREADS, s, norm, partials);
}

void
tk_adamw (cudaStream_t s, float *p, const float *g, float *m, float *v, const uint8_t *decay, size_t n,
          const float *norm, tk_adamw_args_t a)
{
    TWIN_LAUNCH (k_adamw, s_grid (n, TK_THREADS), TK_THREADS, s, p, g, m, v, decay, n, norm, a);
}
