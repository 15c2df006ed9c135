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
#include <stdlib.h>
#include <string.h>

#define EXIT_SKIP 77

typedef struct {
    int layers, dim, heads, seq, batch, steps;
} s_shape_t;

static int
s_int_flag (const char *name, const char *val, int *out)
{
    char *end;
    long v = val ? strtol (val, &end, 10) : 0;
    if (!val || *end || v < 1 || v > 65536) {
        fprintf (stderr, "strata-twin-cuda-check: %s needs a number in 1..65536\n", name);
        return -1;
    }
    *out = (int) v;
    return 0;
}

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
    int n_shapes = 2, device = 0, custom = 0;
    unsigned long long seed = 7;
    s_shape_t one = shapes[1];
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int *slot = !strcmp (f, "--layers")  ? &one.layers
                    : !strcmp (f, "--dim")   ? &one.dim
                    : !strcmp (f, "--heads") ? &one.heads
                    : !strcmp (f, "--seq")   ? &one.seq
                    : !strcmp (f, "--batch") ? &one.batch
                    : !strcmp (f, "--steps") ? &one.steps
                                             : NULL;
        if (slot) {
            if (s_int_flag (f, val, slot) < 0)
                return 2;
            custom = 1, i++;
        }
        else if (!strcmp (f, "--device") && val) {
            device = atoi (val), i++;
        }
        else if (!strcmp (f, "--seed") && val) {
            seed = strtoull (val, NULL, 10), i++;
        }
        else {
            fprintf (stderr,
                     "usage: strata-twin-cuda-check [--layers L --dim D --heads H --seq T --batch B --steps S]"
                     " [--seed N] [--device K]\n");
            return 2;
        }
    }
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
