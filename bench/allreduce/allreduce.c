/*  strata-bench-allreduce: allreduce bus bandwidth of libstrata-collective
 *  against the machine's memcpy bandwidth, size by size. Run it under mpirun
 *  (bench/allreduce/run does; docs/performance.md, "Allreduce bandwidth").
 *
 *      mpirun -np N strata-bench-allreduce [--backend auto|mpi|nccl] [--min BYTES] [--max BYTES]
 *                                          [--reps R] [--budget BYTES]
 *
 *  For each size S = min, 4 min, 16 min, ... <= max (default 1 KiB .. 64 MiB):
 *    allreduce  R timed runs (default 5) of k in-place sc_allreduce sums of S bytes of
 *               floats, k = clamp(budget / S, 2, 2000) (budget default 128 MiB), after a
 *               warm-up run; a run's time is the slowest rank's (the ranks start it
 *               together after a barrier). t = median over the runs of time / k.
 *               algbw = S / t; busbw = algbw * 2 (N - 1) / N, the figure nccl-tests
 *               prints: the bytes each rank must send and receive in a bandwidth-optimal
 *               allreduce, per second, comparable across N.
 *    memcpy     the same R x k schedule of memcpy of S bytes between two buffers on every
 *               rank at once (as the allreduce loads the memory system of all ranks at
 *               once); bandwidth = S / t of the slowest rank.
 *    ratio      busbw / memcpy.
 *  Prints a Markdown table on rank 0, then a correctness check of one allreduce.
 *  Exit status: 0; 1 when an operation or the check failed; 2 usage.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "st_config.h"
#include "strata/collective.h"

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/*  The slowest rank's seconds (sc_agree_max over nanoseconds).  */
static int
s_slowest (sc_comm_t *c, double *sec)
{
    char err[256];
    int64_t ns = (int64_t) (*sec * 1e9);
    if (sc_agree_max (c, &ns, err, sizeof err) < 0) {
        fprintf (stderr, "strata-bench-allreduce: %s\n", err);
        return -1;
    }
    *sec = (double) ns * 1e-9;
    return 0;
}

/*  One measurement: what = 0 allreduce, 1 memcpy. Median seconds per operation in *t.  */
static int
s_measure (sc_comm_t *c, int what, float *buf, void *dst, const void *src, size_t bytes, int k, int reps, double *t)
{
    char err[256];
    double runs[64];
    for (int r = -1; r < reps; r++) { /*  r = -1: warm-up, not kept  */
        if (sc_barrier (c, err, sizeof err) < 0) {
            fprintf (stderr, "strata-bench-allreduce: %s\n", err);
            return -1;
        }
        double t0 = s_now ();
        for (int i = 0; i < k; i++) {
            if (what == 1)
                memcpy (dst, src, bytes);
            else if (sc_allreduce (c, buf, bytes / sizeof (float), SC_SUM, err, sizeof err) < 0) {
                fprintf (stderr, "strata-bench-allreduce: %s\n", err);
                return -1;
            }
        }
        double dt = s_now () - t0;
        if (s_slowest (c, &dt) < 0)
            return -1;
        if (r >= 0)
            runs[r] = dt / k;
        /*  Keep the compiler from dropping the copies: read a byte back.  */
        if (what == 1 && ((volatile const char *) dst)[bytes - 1] != ((const char *) src)[bytes - 1])
            return -1;
    }
    qsort (runs, (size_t) reps, sizeof runs[0], s_cmp);
    *t = reps % 2 ? runs[reps / 2] : (runs[reps / 2 - 1] + runs[reps / 2]) / 2;
    return 0;
}

static int
s_size_arg (const char *s, size_t *out)
{
    char *end;
    if (*s < '0' || *s > '9') /*  strtoull takes "-1" (as ULLONG_MAX) and blanks  */
        return -1;
    errno = 0;
    unsigned long long v = strtoull (s, &end, 10);
    int shift = 0;
    if (errno || end == s)
        return -1;
    if (*end == 'K' || *end == 'k')
        shift = 10, end++;
    else if (*end == 'M' || *end == 'm')
        shift = 20, end++;
    else if (*end == 'G' || *end == 'g')
        shift = 30, end++;
    if (*end || v > (1ULL << 34) >> shift) /*  before the shift: "99999999999G" must not wrap  */
        return -1;
    v <<= shift;
    if (v < sizeof (float))
        return -1;
    *out = (size_t) v;
    return 0;
}

static void
s_human (size_t b, char *out, size_t len)
{
    if (b >= (1u << 20) && b % (1u << 20) == 0)
        snprintf (out, len, "%zu MiB", b >> 20);
    else if (b >= 1024 && b % 1024 == 0)
        snprintf (out, len, "%zu KiB", b >> 10);
    else
        snprintf (out, len, "%zu B", b);
}

/*  The flags: sizes and the backend are read as text and checked as before.  */
typedef struct {
    char *backend, *min, *max, *budget;
    int64_t reps;
} s_flags_t;

#define S_USAGE                                                                                  \
    "mpirun -np N strata-bench-allreduce [--backend auto|mpi|nccl] [--min BYTES] [--max BYTES] " \
    "[--reps 1..64] [--budget BYTES]"

static const st_opt_t s_flag_table[] = {
    { "backend", 0, ST_OPT_STRING, offsetof (s_flags_t, backend), 0, 0, "auto|mpi|nccl", "collective backend (mpi)",
      NULL, NULL },
    { "min", 0, ST_OPT_STRING, offsetof (s_flags_t, min), 0, 0, "BYTES", "smallest message (1K)", NULL, NULL },
    { "max", 0, ST_OPT_STRING, offsetof (s_flags_t, max), 0, 0, "BYTES", "largest message (64M)", NULL, NULL },
    { "reps", 0, ST_OPT_INT, offsetof (s_flags_t, reps), 1, 64, "N", "repetitions per size (5)", NULL, NULL },
    { "budget", 0, ST_OPT_STRING, offsetof (s_flags_t, budget), 0, 0, "BYTES", "bytes moved per size (128M)", NULL,
      NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL },
};

int
main (int argc, char **argv)
{
    sc_options_t o = { .backend = SC_MPI, .argc = &argc, .argv = &argv };
    size_t lo = 1024, hi = (size_t) 64 << 20, budget = (size_t) 128 << 20;
    int reps = 5;
    s_flags_t f = { .reps = 5 };
    st_error_t perr = { 0 };
    st_rc_t prc = st_config_parse (s_flag_table, &f, argc, argv, S_USAGE, NULL, NULL, NULL, &perr);
    int bad_flags = prc != ST_OK || (f.backend && sc_backend_parse (f.backend, &o.backend) < 0)
                    || (f.min && s_size_arg (f.min, &lo) < 0) || (f.max && s_size_arg (f.max, &hi) < 0)
                    || (f.budget && s_size_arg (f.budget, &budget) < 0);
    reps = (int) f.reps;
    st_config_free (s_flag_table, &f);
    if (prc == ST_EAGAIN)
        return 0;
    if (bad_flags) {
        if (prc != ST_OK)
            fprintf (stderr, "strata-bench-allreduce: %s\n", perr.msg);
        fprintf (stderr, "usage: %s   (sizes take K, M, G)\n", S_USAGE);
        return 2;
    }
    lo &= ~(sizeof (float) - 1);
    char err[512];
    sc_comm_t *c = sc_init (&o, err, sizeof err);
    if (!c) {
        fprintf (stderr, "strata-bench-allreduce: %s\n", err);
        return 2;
    }
    int rank = sc_rank (c), n = sc_size (c), rc = 0;
    float *buf = sc_mem_alloc (c, hi);
    char *src = malloc (hi), *dst = malloc (hi);
    if (!buf || !src || !dst) {
        fprintf (stderr, "strata-bench-allreduce: out of memory (%zu bytes)\n", hi);
        rc = 1;
        goto out;
    }
    /*  Zeros: sums stay zero (no overflow, no denormals), and every page is touched.  */
    float *zero = calloc (1, hi);
    if (!zero || sc_mem_put (c, buf, zero, hi, err, sizeof err) < 0) {
        fprintf (stderr, "strata-bench-allreduce: cannot fill the buffer%s%s\n", zero ? ": " : "", zero ? err : "");
        free (zero);
        rc = 1;
        goto out;
    }
    free (zero);
    memset (src, 1, hi);
    memset (dst, 0, hi);

    double factor = n > 1 ? 2.0 * (n - 1) / n : 0.0;
    if (rank == 0) {
        printf (
            "ranks: %d; backend: %s; median of %d runs, each k operations (k = clamp(%zu MiB / size, 2, 2000))\n\n",
            n, sc_backend_name (c), reps, budget >> 20);
        printf (
            "| size | k | allreduce time (us) | algbw (GB/s) | busbw (GB/s) | memcpy (GB/s) | busbw / memcpy |\n");
        printf ("|---:|---:|---:|---:|---:|---:|---:|\n");
        fflush (stdout);
    }
    for (size_t s = lo; s <= hi && s >= lo; s *= 4) {
        size_t kk = budget / s;
        int k = kk < 2 ? 2 : kk > 2000 ? 2000 : (int) kk;
        double t_ar, t_mc;
        if (s_measure (c, 0, buf, NULL, NULL, s, k, reps, &t_ar) < 0
            || s_measure (c, 1, NULL, dst, src, s, k, reps, &t_mc) < 0) {
            rc = 1;
            break;
        }
        if (rank == 0) {
            char h[32];
            s_human (s, h, sizeof h);
            double alg = (double) s / t_ar / 1e9, bus = alg * factor, mc = (double) s / t_mc / 1e9;
            printf ("| %s | %d | %.1f | %.2f | %.2f | %.2f | %.2f |\n", h, k, t_ar * 1e6, alg, bus, mc, bus / mc);
            fflush (stdout);
        }
    }

    /*  Correctness of what was timed: rank r contributes r + 1 everywhere.  */
    if (rc == 0) {
        size_t cnt = lo / sizeof (float);
        float *h = malloc (lo);
        int bad = !h;
        for (size_t i = 0; !bad && i < cnt; i++)
            h[i] = (float) (rank + 1);
        if (bad || sc_mem_put (c, buf, h, lo, err, sizeof err) < 0
            || sc_allreduce (c, buf, cnt, SC_SUM, err, sizeof err) < 0
            || sc_mem_get (c, h, buf, lo, err, sizeof err) < 0)
            bad = 1;
        for (size_t i = 0; !bad && i < cnt; i++)
            bad = h[i] != (float) (n * (n + 1) / 2);
        int64_t any = bad;
        if (sc_agree_max (c, &any, err, sizeof err) < 0)
            any = 1;
        if (rank == 0)
            printf ("\ncheck: allreduce sum of %zu floats over %d ranks %s\n", cnt, n, any ? "WRONG" : "correct");
        rc = any ? 1 : 0;
        free (h);
    }
out:
    sc_mem_free (c, buf);
    free (src);
    free (dst);
    sc_finalize (&c);
    return rc;
}
