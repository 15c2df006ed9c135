/*  collective_check: libstrata-collective under real MPI processes.
 *  tests/integration/test_collective.sh runs it under `mpirun -np 1|2|3`.
 *
 *      collective_check [--backend auto|mpi|nccl] [--verbose] [--host-buffers] MODE [FILE]
 *
 *  MODE:
 *    info        prints `rank R size S backend B` (one line per rank)
 *    allreduce   sum and average of rank-dependent data, 0, 1, 7, 4097 and 1 Mi floats
 *    broadcast   0, 1, 4097 and 1 MiB + 3 bytes from root 0 and from the last rank
 *    agree       sc_agree_max of rank-dependent values
 *    barrier F   ordering through the file F (see s_barrier)
 *    all F       everything above
 *    features    prints `nccl built` or `nccl not built` (no communicator)
 *
 *  Every check compares exactly: the data are multiples of 1/8 small enough
 *  that float sums are exact in any order, and the average is the sum
 *  divided by the size, correctly rounded, which is what the MPI backend
 *  computes (NCCL's average may round differently: 1 ulp is allowed there).
 *  Exit status: 0 all checks passed; 1 a check failed (a `rank R: FAIL` line
 *  says which); 2 usage; 3 the communicator could not be made (its one-line
 *  error on stderr, prefixed `collective_check: `).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "strata/collective.h"

static sc_comm_t *s_comm;
static int s_rank, s_size, s_failed;

#define FAIL(...)                                    \
    do {                                             \
        fprintf (stderr, "rank %d: FAIL: ", s_rank); \
        fprintf (stderr, __VA_ARGS__);               \
        fprintf (stderr, "\n");                      \
        s_failed = 1;                                \
    } while (0)

/*  Element i of rank r: a multiple of 1/8 below 2^9 in magnitude, so a sum
 *  over a few ranks is exact whatever the order; the ranks' values are not
 *  related, so their sums are rarely divisible by the size, and the average
 *  tests the rounding of the division.  */
static float
s_value (size_t i, int r)
{
    return (float) ((long) ((i * 7 + (size_t) r * 13 + (size_t) r * r * 5) % 4093) - 2000) * 0.125f;
}

/*  Runs one allreduce of n floats through backend memory; out holds the result.  */
static int
s_allreduce_once (size_t n, sc_op_t op, float *host)
{
    char err[512];
    float *dev = sc_mem_alloc (s_comm, n * sizeof *dev);
    if (!dev) {
        FAIL ("cannot allocate %zu floats", n);
        return -1;
    }
    int rc = 0;
    if (sc_mem_put (s_comm, dev, host, n * sizeof *dev, err, sizeof err) < 0
        || sc_allreduce (s_comm, dev, n, op, err, sizeof err) < 0
        || sc_mem_get (s_comm, host, dev, n * sizeof *dev, err, sizeof err) < 0) {
        FAIL ("allreduce of %zu floats: %s", n, err);
        rc = -1;
    }
    sc_mem_free (s_comm, dev);
    return rc;
}

static void
s_allreduce (void)
{
    static const size_t sizes[] = { 0, 1, 7, 4097, (size_t) 1 << 20 };
    int nccl = sc_backend (s_comm) == SC_NCCL;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        float *buf = malloc ((n ? n : 1) * sizeof *buf);
        if (!buf) {
            FAIL ("out of memory");
            return;
        }
        for (int avg = 0; avg <= 1; avg++) {
            for (size_t i = 0; i < n; i++)
                buf[i] = s_value (i, s_rank);
            if (s_allreduce_once (n, avg ? SC_AVG : SC_SUM, buf) < 0)
                break;
            size_t bad = 0, first = 0;
            float want_first = 0;
            for (size_t i = 0; i < n; i++) {
                float sum = 0;
                for (int r = 0; r < s_size; r++)
                    sum += s_value (i, r);
                float want = avg ? sum / (float) s_size : sum;
                int ok = buf[i] == want || (nccl && avg && fabsf (buf[i] - want) <= fabsf (want) * 0x1p-23f);
                if (!ok && bad++ == 0)
                    first = i, want_first = want;
            }
            if (bad)
                FAIL ("allreduce %s of %zu floats: %zu wrong, first [%zu] = %.9g, want %.9g", avg ? "avg" : "sum", n,
                      bad, first, buf[first], want_first);
        }
        free (buf);
    }
    if (!s_failed)
        printf ("rank %d: allreduce ok (sum and avg of 0, 1, 7, 4097, 1048576 floats)\n", s_rank);
}

static void
s_broadcast (void)
{
    static const size_t sizes[] = { 0, 1, 4097, ((size_t) 1 << 20) + 3 };
    char err[512];
    int roots[2] = { 0, s_size - 1 };
    for (int j = 0; j < 2; j++) {
        int root = roots[j];
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            size_t n = sizes[k];
            unsigned char *host = malloc (n ? n : 1);
            unsigned char *dev = sc_mem_alloc (s_comm, n);
            if (!host || !dev) {
                FAIL ("out of memory");
                free (host);
                sc_mem_free (s_comm, dev);
                return;
            }
            /*  The root's pattern names the root; the others start with garbage.  */
            for (size_t i = 0; i < n; i++)
                host[i] = s_rank == root ? (unsigned char) (i * 31 + (size_t) root * 7 + 1) : (unsigned char) 0xa5;
            if (sc_mem_put (s_comm, dev, host, n, err, sizeof err) < 0
                || sc_broadcast (s_comm, dev, n, root, err, sizeof err) < 0
                || sc_mem_get (s_comm, host, dev, n, err, sizeof err) < 0)
                FAIL ("broadcast of %zu bytes from %d: %s", n, root, err);
            else
                for (size_t i = 0; i < n; i++)
                    if (host[i] != (unsigned char) (i * 31 + (size_t) root * 7 + 1)) {
                        FAIL ("broadcast of %zu bytes from root %d: byte %zu is %u", n, root, i, host[i]);
                        break;
                    }
            free (host);
            sc_mem_free (s_comm, dev);
        }
    }
    if (!s_failed)
        printf ("rank %d: broadcast ok (0, 1, 4097, 1048579 bytes from roots 0 and %d)\n", s_rank, s_size - 1);
}

static void
s_agree (void)
{
    char err[512];
    int64_t v = (int64_t) s_rank * 7 - 3;
    if (sc_agree_max (s_comm, &v, err, sizeof err) < 0)
        FAIL ("agree_max: %s", err);
    else if (v != (int64_t) (s_size - 1) * 7 - 3)
        FAIL ("agree_max gave %lld, want %lld", (long long) v, (long long) (s_size - 1) * 7 - 3);
    else
        printf ("rank %d: agree ok (max %lld)\n", s_rank, (long long) v);
}

static int
s_append (const char *path, const char *what)
{
    char line[64];
    int len = snprintf (line, sizeof line, "%s %d\n", what, s_rank);
    int fd = open (path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0)
        return -1;
    ssize_t w = write (fd, line, (size_t) len); /*  one short O_APPEND write: never interleaved  */
    close (fd);
    return w == len ? 0 : -1;
}

static int
s_count (const char *path, const char *what)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return -1;
    char line[128];
    int n = 0;
    while (fgets (line, sizeof line, f))
        if (strncmp (line, what, strlen (what)) == 0)
            n++;
    fclose (f);
    return n;
}

/*  Every rank appends `before R` to path, waits at the barrier, then counts
 *  the `before` lines (all size of them must be there) and appends `after R`.
 *  The last rank sleeps 200 ms before writing, so a barrier that let rank 0
 *  through early would show: rank 0 would count fewer lines. (The sleep only
 *  makes a broken barrier visible; nothing here measures time.) The script
 *  then checks that no `after` line precedes a `before` line.  */
static void
s_barrier (const char *path)
{
    char err[512];
    if (s_rank == s_size - 1 && s_size > 1)
        nanosleep (&(struct timespec) { 0, 200 * 1000 * 1000 }, NULL);
    if (s_append (path, "before") < 0) {
        FAIL ("cannot append to %s: %s", path, strerror (errno));
        return;
    }
    if (sc_barrier (s_comm, err, sizeof err) < 0) {
        FAIL ("barrier: %s", err);
        return;
    }
    int n = s_count (path, "before ");
    if (n != s_size)
        FAIL ("after the barrier %s holds %d `before` lines, want %d", path, n, s_size);
    if (s_append (path, "after") < 0)
        FAIL ("cannot append to %s: %s", path, strerror (errno));
    if (!s_failed)
        printf ("rank %d: barrier ok (%d `before` lines seen after it)\n", s_rank, n);
}

int
main (int argc, char **argv)
{
    sc_options_t o = { .backend = SC_AUTO, .argc = &argc, .argv = &argv };
    int i = 1;
    for (; i < argc && strncmp (argv[i], "--", 2) == 0; i++) {
        if (strcmp (argv[i], "--backend") == 0 && i + 1 < argc) {
            if (sc_backend_parse (argv[++i], &o.backend) < 0) {
                fprintf (stderr, "collective_check: --backend wants auto, mpi or nccl, not '%s'\n", argv[i]);
                return 2;
            }
        }
        else if (strcmp (argv[i], "--verbose") == 0)
            o.verbose = 1;
        else if (strcmp (argv[i], "--host-buffers") == 0)
            o.host_buffers = 1;
        else {
            fprintf (stderr, "collective_check: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    const char *mode = i < argc ? argv[i] : "";
    const char *file = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp (mode, "features") == 0) {
        printf ("nccl %s\n", sc_nccl_built () ? "built" : "not built");
        return 0;
    }
    int all = strcmp (mode, "all") == 0;
    if (!all && strcmp (mode, "info") && strcmp (mode, "allreduce") && strcmp (mode, "broadcast")
        && strcmp (mode, "agree") && strcmp (mode, "barrier")) {
        fprintf (stderr, "usage: collective_check [--backend B] [--verbose] [--host-buffers] "
                         "info|allreduce|broadcast|agree|barrier FILE|all FILE|features\n");
        return 2;
    }
    if ((all || strcmp (mode, "barrier") == 0) && !file) {
        fprintf (stderr, "collective_check: %s needs a FILE\n", mode);
        return 2;
    }

    char err[512];
    s_comm = sc_init (&o, err, sizeof err);
    if (!s_comm) {
        fprintf (stderr, "collective_check: %s\n", err);
        return 3;
    }
    s_rank = sc_rank (s_comm);
    s_size = sc_size (s_comm);
    printf ("rank %d size %d backend %s\n", s_rank, s_size, sc_backend_name (s_comm));
    if (all || strcmp (mode, "allreduce") == 0)
        s_allreduce ();
    if (all || strcmp (mode, "broadcast") == 0)
        s_broadcast ();
    if (all || strcmp (mode, "agree") == 0)
        s_agree ();
    if (all || strcmp (mode, "barrier") == 0)
        s_barrier (file);
    fflush (stdout);
    sc_finalize (&s_comm);
    return s_failed ? 1 : 0;
}
