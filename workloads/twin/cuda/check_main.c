/*  strata-twin-cuda-check: runs the CPU and the CUDA twin model side by side
 *  and prints how far apart they are (twin_cuda_check_run).
 *
 *      strata-twin-cuda-check                 two shapes: a small one and the trainer's default
 *      strata-twin-cuda-check --layers 4 --dim 128 --heads 8 --seq 128 --batch 16 --steps 10
 *
 *  Exit status: 0 every shape within tolerance, 1 a figure out of tolerance
 *  or a CUDA failure, 2 bad flags, 77 no CUDA device (prints SKIP).  */
#include "twin_cuda.h"

#include <cblas.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "st_config.h"

#define EXIT_SKIP 77

typedef struct {
    int layers, dim, heads, seq, batch, steps;
} s_shape_t;

/*  The flags; a shape field left 0 takes the trainer's default, and any set
 *  one makes the run a single custom shape.  */
typedef struct {
    int64_t layers, dim, heads, seq, batch, steps, device, seed;
} s_flags_t;

#define S_SHAPE_FLAG(field, arg, help)                                                     \
    {                                                                                      \
#field, 0, ST_OPT_INT, offsetof(s_flags_t, field), 1, 65536, arg, help, NULL, NULL \
    }

static const st_opt_t s_flag_table[] = {
    S_SHAPE_FLAG (layers, "L", "layers (1..65536)"),
    S_SHAPE_FLAG (dim, "D", "model width"),
    S_SHAPE_FLAG (heads, "H", "attention heads"),
    S_SHAPE_FLAG (seq, "T", "sequence length"),
    S_SHAPE_FLAG (batch, "B", "batch size"),
    S_SHAPE_FLAG (steps, "S", "training steps compared"),
    { "seed", 0, ST_OPT_INT, offsetof (s_flags_t, seed), 0, 0, "N", "random seed (default 7)", NULL, NULL },
    { "device", 0, ST_OPT_INT, offsetof (s_flags_t, device), 0, 0, "K", "CUDA device (default 0)", NULL, NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL },
};

static int
s_run (const s_shape_t *sh, uint64_t seed, int device)
{
    twin_config_t cfg = { sh->layers, sh->dim, sh->heads, sh->seq, TWIN_VOCAB };
    twin_cuda_check_t r;
    char err[512], why[256];
    if (twin_cuda_check_run (&cfg, sh->batch, sh->seq, sh->steps, seed, device, &r, err, sizeof err) < 0) {
        printf ("FAIL: %s\n", err);
        return 1;
    }
    twin_cuda_check_print (&r, stdout);
    int ok = twin_cuda_check_verdict (&r, why, sizeof why) == 0;
    printf ("%s: %s\n\n", ok ? "PASS" : "FAIL", why);
    return ok ? 0 : 1;
}

int
main (int argc, char **argv)
{
    s_shape_t shapes[2] = {
        { 2, 48, 3, 40, 3, 5 }, /*  small, rows longer than a warp  */
        { 2, 64, 4, 64, 8, 5 }, /*  strata-twin-train's defaults  */
    };
    int n_shapes = 2;
    s_flags_t f = { .seed = 7 };
    st_error_t perr = { 0 };
    st_rc_t prc = st_config_parse (s_flag_table, &f, argc, argv,
                                   "strata-twin-cuda-check [--layers L --dim D --heads H --seq T --batch B --steps S]"
                                   " [--seed N] [--device K]",
                                   NULL, NULL, NULL, &perr);
    if (prc == ST_EAGAIN)
        return 0;
    if (prc != ST_OK) {
        fprintf (stderr, "strata-twin-cuda-check: %s\n", perr.msg);
        return 2;
    }
    s_shape_t one = shapes[1];
    int custom = 0;
    int64_t *given[] = { &f.layers, &f.dim, &f.heads, &f.seq, &f.batch, &f.steps };
    int *slot[] = { &one.layers, &one.dim, &one.heads, &one.seq, &one.batch, &one.steps };
    for (size_t k = 0; k < sizeof given / sizeof given[0]; k++)
        if (*given[k]) {
            *slot[k] = (int) *given[k];
            custom = 1;
        }
    int device = (int) f.device;
    unsigned long long seed = (unsigned long long) f.seed;
    if (custom) {
        shapes[0] = one;
        n_shapes = 1;
    }
    openblas_set_num_threads (1);
    char err[256];
    int count = twin_cuda_device_count (err, sizeof err);
    if (count < 0) {
        printf ("SKIP: %s: GPU training path not exercised\n", err);
        return EXIT_SKIP;
    }
    printf ("%d CUDA device(s) visible; comparing on device %d\n\n", count, device);
    int failed = 0;
    for (int k = 0; k < n_shapes; k++)
        failed |= s_run (&shapes[k], seed, device);
    return failed;
}
