/*  util.c: small helpers the twin programs share (twin.h, "Helpers").  */
#include "twin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>

double
twin_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

int
twin_usage_error (const char *prog, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    fprintf (stderr, "%s: ", prog);
    vfprintf (stderr, fmt, ap);
    fprintf (stderr, "\n(try --help)\n");
    va_end (ap);
    return TWIN_EXIT_USAGE;
}

int
twin_parse_long (const char *prog, const char *what, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol (s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        twin_usage_error (prog, "%s wants an integer in %ld..%ld, not '%s'", what, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}
