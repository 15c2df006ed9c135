/*  twin_cuda_device.c: twin_device_cuda (device.h), the CUDA model of
 *  twin_cuda.h behind the device table the training loop is written
 *  against. Linked into strata_twin_cuda, and into strata_twin_cuda_emu
 *  (the same kernels on the CPU), so the loop runs unchanged on either.  */
#include "device.h"
#include "twin_cuda.h"

/*  The table's opaque twin_device_t is a twin_cuda_t.  */
#define S_G(g) ((twin_cuda_t *) (g))

static twin_device_t *
s_open (const twin_model_t *host, int ordinal, char *err, size_t errlen)
{
    return (twin_device_t *) twin_cuda_new (host, ordinal, err, errlen);
}

static void
s_close (twin_device_t **g)
{
    twin_cuda_t *c = S_G (*g);
    twin_cuda_destroy (&c);
    *g = NULL;
}

static float
s_forward (twin_device_t *g, const uint8_t *tokens, int B, int T)
{
    return twin_cuda_forward (S_G (g), tokens, B, T);
}

static int
s_backward (twin_device_t *g)
{
    return twin_cuda_backward (S_G (g));
}

static float
s_adamw_step (twin_device_t *g, const twin_adamw_t *hp, uint64_t step)
{
    return twin_cuda_adamw_step (S_G (g), hp, step);
}

static int
s_to_host (twin_device_t *g, twin_model_t *host)
{
    return twin_cuda_to_host (S_G (g), host);
}

static int
s_get_grads (twin_device_t *g, float *host_grads)
{
    return twin_cuda_get_grads (S_G (g), host_grads);
}

static int
s_set_grads (twin_device_t *g, const float *host_grads)
{
    return twin_cuda_set_grads (S_G (g), host_grads);
}

static float *
s_grads (twin_device_t *g)
{
    return twin_cuda_grads (S_G (g));
}

static size_t
s_n_params (const twin_device_t *g)
{
    return twin_cuda_n_params ((const twin_cuda_t *) g);
}

static const char *
s_error (const twin_device_t *g)
{
    return twin_cuda_error ((const twin_cuda_t *) g);
}

static const twin_device_ops_t s_cuda = {
    .name = "cuda",
    .count = twin_cuda_device_count,
    .open = s_open,
    .close = s_close,
    .forward = s_forward,
    .backward = s_backward,
    .adamw_step = s_adamw_step,
    .to_host = s_to_host,
    .get_grads = s_get_grads,
    .set_grads = s_set_grads,
    .grads = s_grads,
    .n_params = s_n_params,
    .error = s_error,
};

const twin_device_ops_t *
twin_device_cuda (void)
{
    return &s_cuda;
}
