/*  model.c: the transformer's parameters, forward, backward and AdamW.
 *
 *  Row-major throughout; a linear layer is out[N,O] = in[N,I] W[I,O] + b[O].
 *  N = B*T rows. Per block (pre-norm, as GPT-2):
 *      a   = LN1(x);  qkv = a Wqkv + bqkv;  o = causal_attention(qkv)
 *      x2  = x + o Wo + bo
 *      h   = GELU(LN2(x2) Wfc + bfc)        (tanh approximation, width 4D)
 *      x'  = x2 + h Wp + bp
 *  then logits = LNf(x) head^T, with an output head of its own (untied: a
 *  separate head learns byte bigrams much faster than a tied one).  */
#include "twin.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*  The stop flag both workloads poll (twin.h): set from their SIGTERM handlers.  */
volatile sig_atomic_t twin_stop_requested;

/* ---- configuration and layout ---------------------------------------- */

int
twin_config_check (const twin_config_t *c, char *err, size_t errlen)
{
    const char *why = NULL;
    if (c->layers < 1 || c->layers > 64)
        why = "layers must be 1..64";
    else if (c->dim < 2 || c->dim > 8192)
        why = "dim must be 2..8192";
    else if (c->heads < 1 || c->dim % c->heads != 0)
        why = "heads must divide dim";
    else if (c->ctx < 1 || c->ctx > 65536)
        why = "sequence length must be 1..65536";
    else if (c->vocab != TWIN_VOCAB)
        why = "vocab must be 256 (byte-level)";
    if (why) {
        snprintf (err, errlen, "%s", why);
        return -1;
    }
    return 0;
}

/*  Walks the layout in order; fills offsets (and the tensor table) when m is
 *  given. Returns the parameter count.  */
static size_t
s_layout (const twin_config_t *c, twin_model_t *m)
{
    size_t off = 0;
    size_t D = (size_t) c->dim;
    int k = 0;
#define T_(field, nm, count, dec)                              \
    do {                                                       \
        if (m) {                                               \
            field = off;                                       \
            twin_tensor_t *t_ = &m->tensor[k];                 \
            snprintf (t_->name, sizeof t_->name, "%s", nm);    \
            t_->off = off, t_->n = (count), t_->decay = (dec); \
        }                                                      \
        k++, off += (count);                                   \
    } while (0)
    size_t dummy = 0;
    T_ (*(m ? &m->wte : &dummy), "wte", (size_t) c->vocab * D, 1);
    T_ (*(m ? &m->wpe : &dummy), "wpe", (size_t) c->ctx * D, 1);
    for (int l = 0; l < c->layers; l++) {
        twin_layer_t scratch, *L = m ? &m->layer[l] : &scratch;
        char nm[24];
#define B_(field, suffix, count, dec)              \
    snprintf (nm, sizeof nm, "h%d.%s", l, suffix); \
    T_ (L->field, nm, count, dec)
        B_ (ln1g, "ln1.g", D, 0);
        B_ (ln1b, "ln1.b", D, 0);
        B_ (wqkv, "attn.wqkv", D * 3 * D, 1);
        B_ (bqkv, "attn.bqkv", 3 * D, 0);
        B_ (wo, "attn.wo", D * D, 1);
        B_ (bo, "attn.bo", D, 0);
        B_ (ln2g, "ln2.g", D, 0);
        B_ (ln2b, "ln2.b", D, 0);
        B_ (wfc, "mlp.wfc", D * 4 * D, 1);
        B_ (bfc, "mlp.bfc", 4 * D, 0);
        B_ (wp, "mlp.wp", 4 * D * D, 1);
        B_ (bp, "mlp.bp", D, 0);
#undef B_
    }
    T_ (*(m ? &m->lnfg : &dummy), "lnf.g", D, 0);
    T_ (*(m ? &m->lnfb : &dummy), "lnf.b", D, 0);
    T_ (*(m ? &m->head : &dummy), "head", (size_t) c->vocab * D, 1);
#undef T_
    if (m)
        m->n_tensors = k;
    return off;
}

size_t
twin_param_count (const twin_config_t *cfg)
{
    return s_layout (cfg, NULL);
}

/*  a * b * c, setting *big when it does not fit in size_t (the result is then meaningless).  */
static size_t
s_mul (int *big, size_t a, size_t b, size_t c)
{
    if ((b && a > SIZE_MAX / b) || (c && a * b > SIZE_MAX / c)) {
        *big = 1;
        return 0;
    }
    return a * b * c;
}

twin_model_t *
twin_model_new (const twin_config_t *cfg, int bmax, int tmax)
{
    char err[128];
    if (twin_config_check (cfg, err, sizeof err) < 0 || bmax < 1 || tmax < 1 || tmax > cfg->ctx)
        return NULL;
    twin_model_t *m = calloc (1, sizeof *m);
    if (!m)
        return NULL;
    m->cfg = *cfg;
    m->bmax = bmax, m->tmax = tmax;
    m->layer = calloc ((size_t) cfg->layers, sizeof *m->layer);
    m->tensor = calloc (5 + 12 * (size_t) cfg->layers, sizeof *m->tensor);
    size_t n = m->n_params = s_layout (cfg, m->layer && m->tensor ? m : NULL);
    m->params = calloc (n, sizeof (float));
    m->grads = calloc (n, sizeof (float));
    m->m = calloc (n, sizeof (float));
    m->v = calloc (n, sizeof (float));

    size_t L = (size_t) cfg->layers, D = (size_t) cfg->dim, H = (size_t) cfg->heads;
    int big = 0; /*  a product overflowed size_t  */
    size_t N = s_mul (&big, (size_t) bmax, (size_t) tmax, 1), TT = s_mul (&big, (size_t) tmax, (size_t) tmax, 1);
    size_t ND = s_mul (&big, N, D, 1), LN = s_mul (&big, L, N, 1), LND = s_mul (&big, LN, D, 1);
    size_t sizes[] = {
        s_mul (&big, L + 1, ND, 1),
        LND, /*  res, res2  */
        LND,
        LN,
        LN, /*  ln1, mean, rstd  */
        s_mul (&big, LND, 3, 1),
        s_mul (&big, L * (size_t) bmax, H, TT), /*  qkv, att  */
        LND,                                    /*  atto  */
        LND,
        LN,
        LN, /*  ln2, mean, rstd  */
        s_mul (&big, LND, 4, 1),
        s_mul (&big, LND, 4, 1), /*  fch, fcg  */
        ND,
        N,
        N,
        s_mul (&big, N, TWIN_VOCAB, 1), /*  lnf, mean, rstd, probs  */
        ND,
        ND,
        s_mul (&big, ND, 4, 1),
        s_mul (&big, ND, 3, 1),
        ND,
        TT, /*  dres dln dbig dqkv datto dp  */
    };
    float **slots[] = {
        &m->res,   &m->res2, &m->ln1,  &m->ln1m, &m->ln1r, &m->qkv,   &m->att,  &m->atto,
        &m->ln2,   &m->ln2m, &m->ln2r, &m->fch,  &m->fcg,  &m->lnf,   &m->lnfm, &m->lnfr,
        &m->probs, &m->dres, &m->dln,  &m->dbig, &m->dqkv, &m->datto, &m->dp,
    };
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        big |= total > SIZE_MAX / sizeof (float) - sizes[i];
        total += sizes[i];
    }
    m->act = big ? NULL : calloc (total, sizeof (float)); /*  too big: out of memory  */
    if (!m->layer || !m->tensor || !m->params || !m->grads || !m->m || !m->v || !m->act) {
        twin_model_free (m);
        return NULL;
    }
    float *p = m->act;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *slots[i] = p;
        p += sizes[i];
    }
    return m;
}

void
twin_model_free (twin_model_t *m)
{
    if (!m)
        return;
    free (m->layer);
    free (m->tensor);
    free (m->params);
    free (m->grads);
    free (m->m);
    free (m->v);
    free (m->act);
    free (m);
}

/* ---- RNG ---------------------------------------------------------------- */

uint64_t
twin_rng_next (uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

float
twin_rng_normal (uint64_t *s)
{
    /*  Box-Muller with 53-bit uniforms in (0, 1].  */
    double u1 = ((double) (twin_rng_next (s) >> 11) + 1.0) / 9007199254740992.0;
    double u2 = (double) (twin_rng_next (s) >> 11) / 9007199254740992.0;
    return (float) (sqrt (-2.0 * log (u1)) * cos (6.283185307179586 * u2));
}

void
twin_model_init (twin_model_t *m, uint64_t *rng)
{
    memset (m->params, 0, m->n_params * sizeof (float));
    memset (m->m, 0, m->n_params * sizeof (float));
    memset (m->v, 0, m->n_params * sizeof (float));
    float resid = 0.02f / sqrtf (2.0f * (float) m->cfg.layers);
    for (int i = 0; i < m->n_tensors; i++) {
        const twin_tensor_t *t = &m->tensor[i];
        float *p = m->params + t->off;
        const char *dot = strrchr (t->name, '.');
        int gain = dot && strcmp (dot, ".g") == 0;
        if (gain) {
            for (size_t j = 0; j < t->n; j++)
                p[j] = 1.0f;
        }
        else if (t->decay) {
            int residual = strstr (t->name, ".wo") || strstr (t->name, ".wp");
            float sd = residual ? resid : 0.02f;
            for (size_t j = 0; j < t->n; j++)
                p[j] = sd * twin_rng_normal (rng);
        }
    }
}

/* ---- building blocks ------------------------------------------------- */

/*  out[N,Ko] = in[N,Ki] W[Ki,Ko] + b  */
static void
s_linear_fwd (float *out, const float *in, const float *W, const float *b, int N, int Ki, int Ko)
{
    for (int n = 0; n < N; n++)
        memcpy (out + (size_t) n * Ko, b, (size_t) Ko * sizeof (float));
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, N, Ko, Ki, 1.0f, in, Ki, W, Ko, 1.0f, out, Ko);
}

/*  dW += in^T dout; db += colsum(dout); din = dout W^T  */
static void
s_linear_bwd (float *din, float *dW, float *db, const float *dout, const float *in, const float *W, int N, int Ki,
              int Ko)
{
    cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, Ki, Ko, N, 1.0f, in, Ki, dout, Ko, 1.0f, dW, Ko);
    for (int n = 0; n < N; n++) {
        const float *r = dout + (size_t) n * Ko;
        for (int o = 0; o < Ko; o++)
            db[o] += r[o];
    }
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, N, Ki, Ko, 1.0f, dout, Ko, W, Ko, 0.0f, din, Ki);
}

#define LN_EPS 1e-5f

static void
s_layernorm_fwd (float *out, float *mean, float *rstd, const float *in, const float *g, const float *b, int N, int D)
{
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t) n * D;
        float *y = out + (size_t) n * D;
        double s = 0;
        for (int i = 0; i < D; i++)
            s += x[i];
        float mu = (float) (s / D);
        double var = 0;
        for (int i = 0; i < D; i++) {
            float d = x[i] - mu;
            var += (double) d * d;
        }
        float r = 1.0f / sqrtf ((float) (var / D) + LN_EPS);
        for (int i = 0; i < D; i++)
            y[i] = (x[i] - mu) * r * g[i] + b[i];
        mean[n] = mu, rstd[n] = r;
    }
}

/*  dx += d LN / d x; dg, db accumulate.  */
static void
s_layernorm_bwd (float *dx, float *dg, float *db, const float *dy, const float *in, const float *mean,
                 const float *rstd, const float *g, int N, int D)
{
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t) n * D, *dyn = dy + (size_t) n * D;
        float *dxn = dx + (size_t) n * D;
        float mu = mean[n], r = rstd[n];
        double a = 0, c = 0;
        for (int i = 0; i < D; i++) {
            float xhat = (x[i] - mu) * r, dxh = dyn[i] * g[i];
            a += dxh;
            c += (double) dxh * xhat;
            dg[i] += dyn[i] * xhat;
            db[i] += dyn[i];
        }
        float am = (float) (a / D), cm = (float) (c / D);
        for (int i = 0; i < D; i++) {
            float xhat = (x[i] - mu) * r, dxh = dyn[i] * g[i];
            dxn[i] += r * (dxh - am - xhat * cm);
        }
    }
}

#define GELU_C 0.7978845608028654f /*  sqrt(2/pi)  */

/*  tanh through one expf: glibc's tanhf (via expm1f) was a third of the
 *  step time. Saturates correctly (expf overflow gives -1, underflow 1).  */
static inline float
s_tanh (float u)
{
    return 2.0f / (1.0f + expf (-2.0f * u)) - 1.0f;
}

static void
s_gelu_fwd (float *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        out[i] = 0.5f * x * (1.0f + s_tanh (GELU_C * (x + 0.044715f * x * x * x)));
    }
}

/*  d[i] *= gelu'(in[i])  */
static void
s_gelu_bwd (float *d, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        float th = s_tanh (GELU_C * (x + 0.044715f * x * x * x));
        float dth = GELU_C * (1.0f + 3.0f * 0.044715f * x * x) * (1.0f - th * th);
        d[i] *= 0.5f * (1.0f + th) + 0.5f * x * dth;
    }
}

/*  Per layer slices of the activation arrays.  */
#define SL(base, l, per) ((base) + (size_t) (l) * (per))

/*  Causal attention of one layer: att (probabilities) and atto from qkv.  */
static void
s_attention_fwd (twin_model_t *m, int l, int B, int T)
{
    int D = m->cfg.dim, H = m->cfg.heads, hd = D / H;
    size_t N = (size_t) m->bmax * m->tmax, TT = (size_t) m->tmax * m->tmax;
    float *qkv = SL (m->qkv, l, N * 3 * D), *atto = SL (m->atto, l, N * D);
    float *att = SL (m->att, l, (size_t) m->bmax * H * TT);
    float scale = 1.0f / sqrtf ((float) hd);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *q = qkv + (size_t) b * T * 3 * D + (size_t) h * hd;
            const float *k = q + D, *v = q + 2 * D;
            float *P = att + ((size_t) b * H + h) * T * T;
            cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, q, 3 * D, k, 3 * D, 0.0f, P, T);
            for (int i = 0; i < T; i++) {
                float *row = P + (size_t) i * T;
                float mx = row[0];
                for (int j = 1; j <= i; j++)
                    mx = row[j] > mx ? row[j] : mx;
                double s = 0;
                for (int j = 0; j <= i; j++) {
                    row[j] = expf (row[j] - mx);
                    s += row[j];
                }
                float inv = (float) (1.0 / s);
                for (int j = 0; j <= i; j++)
                    row[j] *= inv;
                for (int j = i + 1; j < T; j++)
                    row[j] = 0.0f;
            }
            cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, P, T, v, 3 * D, 0.0f,
                         atto + (size_t) b * T * D + (size_t) h * hd, D);
        }
}

/*  m->dqkv from m->datto (the gradient of atto) for layer l.  */
static void
s_attention_bwd (twin_model_t *m, int l, int B, int T)
{
    int D = m->cfg.dim, H = m->cfg.heads, hd = D / H;
    size_t N = (size_t) m->bmax * m->tmax, TT = (size_t) m->tmax * m->tmax;
    const float *qkv = SL (m->qkv, l, N * 3 * D);
    const float *att = SL (m->att, l, (size_t) m->bmax * H * TT);
    float scale = 1.0f / sqrtf ((float) hd);
    float *dP = m->dp;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            size_t o3 = (size_t) b * T * 3 * D + (size_t) h * hd;
            const float *q = qkv + o3, *k = q + D, *v = q + 2 * D;
            float *dq = m->dqkv + o3, *dk = dq + D, *dv = dq + 2 * D;
            const float *P = att + ((size_t) b * H + h) * T * T;
            const float *dO = m->datto + (size_t) b * T * D + (size_t) h * hd;
            /*  dP = dO V^T; dV = P^T dO  */
            cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, dO, D, v, 3 * D, 0.0f, dP, T);
            cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, P, T, dO, D, 0.0f, dv, 3 * D);
            /*  softmax backward, in place: dS = P * (dP - sum_j P dP)  */
            for (int i = 0; i < T; i++) {
                const float *p = P + (size_t) i * T;
                float *d = dP + (size_t) i * T;
                double s = 0;
                for (int j = 0; j <= i; j++)
                    s += (double) p[j] * d[j];
                for (int j = 0; j <= i; j++)
                    d[j] = p[j] * (d[j] - (float) s);
                for (int j = i + 1; j < T; j++)
                    d[j] = 0.0f;
            }
            /*  dQ = scale dS K; dK = scale dS^T Q  */
            cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, scale, dP, T, k, 3 * D, 0.0f, dq,
                         3 * D);
            cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, scale, dP, T, q, 3 * D, 0.0f, dk, 3 * D);
        }
}

/* ---- forward and backward ------------------------------------------- */

float
twin_forward (twin_model_t *m, const uint8_t *tokens, int B, int T)
{
    const twin_config_t *c = &m->cfg;
    int D = c->dim, V = c->vocab, L = c->layers;
    size_t Nmax = (size_t) m->bmax * m->tmax;
    int N = B * T;
    const float *P = m->params;
    m->fwd_b = B, m->fwd_t = T;

    float *x = m->res;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *te = P + m->wte + (size_t) tokens[(size_t) b * (T + 1) + t] * D;
            const float *pe = P + m->wpe + (size_t) t * D;
            float *row = x + ((size_t) b * T + t) * D;
            for (int i = 0; i < D; i++)
                row[i] = te[i] + pe[i];
        }
    for (int l = 0; l < L; l++) {
        const twin_layer_t *ly = &m->layer[l];
        float *xin = SL (m->res, l, Nmax * D), *xout = SL (m->res, l + 1, Nmax * D);
        float *x2 = SL (m->res2, l, Nmax * D);
        float *ln1 = SL (m->ln1, l, Nmax * D), *ln2 = SL (m->ln2, l, Nmax * D);
        float *qkv = SL (m->qkv, l, Nmax * 3 * D), *atto = SL (m->atto, l, Nmax * D);
        float *fch = SL (m->fch, l, Nmax * 4 * D), *fcg = SL (m->fcg, l, Nmax * 4 * D);

        s_layernorm_fwd (ln1, SL (m->ln1m, l, Nmax), SL (m->ln1r, l, Nmax), xin, P + ly->ln1g, P + ly->ln1b, N, D);
        s_linear_fwd (qkv, ln1, P + ly->wqkv, P + ly->bqkv, N, D, 3 * D);
        s_attention_fwd (m, l, B, T);
        s_linear_fwd (x2, atto, P + ly->wo, P + ly->bo, N, D, D);
        for (size_t i = 0; i < (size_t) N * D; i++)
            x2[i] += xin[i];
        s_layernorm_fwd (ln2, SL (m->ln2m, l, Nmax), SL (m->ln2r, l, Nmax), x2, P + ly->ln2g, P + ly->ln2b, N, D);
        s_linear_fwd (fch, ln2, P + ly->wfc, P + ly->bfc, N, D, 4 * D);
        s_gelu_fwd (fcg, fch, (size_t) N * 4 * D);
        s_linear_fwd (xout, fcg, P + ly->wp, P + ly->bp, N, 4 * D, D);
        for (size_t i = 0; i < (size_t) N * D; i++)
            xout[i] += x2[i];
    }
    s_layernorm_fwd (m->lnf, m->lnfm, m->lnfr, SL (m->res, L, Nmax * D), P + m->lnfg, P + m->lnfb, N, D);
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, N, V, D, 1.0f, m->lnf, D, P + m->head, D, 0.0f, m->probs,
                 V);

    double loss = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *row = m->probs + ((size_t) b * T + t) * V;
            int y = tokens[(size_t) b * (T + 1) + t + 1];
            float mx = row[0];
            for (int v = 1; v < V; v++)
                mx = row[v] > mx ? row[v] : mx;
            double s = 0;
            for (int v = 0; v < V; v++) {
                row[v] = expf (row[v] - mx);
                s += row[v];
            }
            loss += log (s) - log (row[y]); /*  -log softmax[y]  */
            float inv = (float) (1.0 / s);
            for (int v = 0; v < V; v++)
                row[v] *= inv;
        }
    return (float) (loss / N);
}

void
twin_backward (twin_model_t *m, const uint8_t *tokens)
{
    const twin_config_t *c = &m->cfg;
    int B = m->fwd_b, T = m->fwd_t;
    int D = c->dim, V = c->vocab, L = c->layers;
    size_t Nmax = (size_t) m->bmax * m->tmax;
    int N = B * T;
    const float *P = m->params;
    float *G = m->grads;
    memset (G, 0, m->n_params * sizeof (float));

    /*  d logits = (softmax - onehot) / N, in place over probs.  */
    float invN = 1.0f / (float) N;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *row = m->probs + ((size_t) b * T + t) * V;
            row[tokens[(size_t) b * (T + 1) + t + 1]] -= 1.0f;
            for (int v = 0; v < V; v++)
                row[v] *= invN;
        }
    /*  head: d head += dlogits^T lnf; d lnf = dlogits head  */
    cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, V, D, N, 1.0f, m->probs, V, m->lnf, D, 1.0f, G + m->head,
                 D);
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, N, D, V, 1.0f, m->probs, V, P + m->head, D, 0.0f, m->dln,
                 D);
    memset (m->dres, 0, (size_t) N * D * sizeof (float));
    s_layernorm_bwd (m->dres, G + m->lnfg, G + m->lnfb, m->dln, SL (m->res, L, Nmax * D), m->lnfm, m->lnfr,
                     P + m->lnfg, N, D);

    for (int l = L - 1; l >= 0; l--) {
        const twin_layer_t *ly = &m->layer[l];
        float *xin = SL (m->res, l, Nmax * D), *x2 = SL (m->res2, l, Nmax * D);
        float *ln1 = SL (m->ln1, l, Nmax * D), *ln2 = SL (m->ln2, l, Nmax * D);
        float *atto = SL (m->atto, l, Nmax * D);
        float *fch = SL (m->fch, l, Nmax * 4 * D), *fcg = SL (m->fcg, l, Nmax * 4 * D);

        /*  MLP: dres holds d x' = d x2 (direct path) + through the MLP.  */
        s_linear_bwd (m->dbig, G + ly->wp, G + ly->bp, m->dres, fcg, P + ly->wp, N, 4 * D, D);
        s_gelu_bwd (m->dbig, fch, (size_t) N * 4 * D);
        s_linear_bwd (m->dln, G + ly->wfc, G + ly->bfc, m->dbig, ln2, P + ly->wfc, N, D, 4 * D);
        s_layernorm_bwd (m->dres, G + ly->ln2g, G + ly->ln2b, m->dln, x2, SL (m->ln2m, l, Nmax),
                         SL (m->ln2r, l, Nmax), P + ly->ln2g, N, D);
        /*  attention: dres now holds d x2.  */
        s_linear_bwd (m->datto, G + ly->wo, G + ly->bo, m->dres, atto, P + ly->wo, N, D, D);
        s_attention_bwd (m, l, B, T);
        s_linear_bwd (m->dln, G + ly->wqkv, G + ly->bqkv, m->dqkv, ln1, P + ly->wqkv, N, D, 3 * D);
        s_layernorm_bwd (m->dres, G + ly->ln1g, G + ly->ln1b, m->dln, xin, SL (m->ln1m, l, Nmax),
                         SL (m->ln1r, l, Nmax), P + ly->ln1g, N, D);
    }
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *d = m->dres + ((size_t) b * T + t) * D;
            float *te = G + m->wte + (size_t) tokens[(size_t) b * (T + 1) + t] * D;
            float *pe = G + m->wpe + (size_t) t * D;
            for (int i = 0; i < D; i++) {
                te[i] += d[i];
                pe[i] += d[i];
            }
        }
}

/* ---- AdamW ---------------------------------------------------------- */

void
twin_adamw_defaults (twin_adamw_t *hp)
{
    hp->lr = 3e-3f;
    hp->beta1 = 0.9f;
    hp->beta2 = 0.95f;
    hp->eps = 1e-8f;
    hp->weight_decay = 0.01f;
    hp->clip = 1.0f;
}

float
twin_adamw_step (twin_model_t *m, const twin_adamw_t *hp, uint64_t step)
{
    double ss = 0;
    for (size_t i = 0; i < m->n_params; i++)
        ss += (double) m->grads[i] * m->grads[i];
    float norm = (float) sqrt (ss);
    float gs = hp->clip > 0 && norm > hp->clip ? hp->clip / norm : 1.0f;
    float b1c = (float) (1.0 - pow (hp->beta1, (double) step));
    float b2c = (float) (1.0 - pow (hp->beta2, (double) step));
    for (int k = 0; k < m->n_tensors; k++) {
        const twin_tensor_t *t = &m->tensor[k];
        float wd = t->decay ? hp->weight_decay : 0.0f;
        float *p = m->params + t->off, *g = m->grads + t->off, *mm = m->m + t->off, *vv = m->v + t->off;
        for (size_t i = 0; i < t->n; i++) {
            float gi = g[i] * gs;
            mm[i] = hp->beta1 * mm[i] + (1.0f - hp->beta1) * gi;
            vv[i] = hp->beta2 * vv[i] + (1.0f - hp->beta2) * gi * gi;
            float mhat = mm[i] / b1c, vhat = vv[i] / b2c;
            p[i] -= hp->lr * (mhat / (sqrtf (vhat) + hp->eps) + wd * p[i]);
        }
    }
    return norm;
}
