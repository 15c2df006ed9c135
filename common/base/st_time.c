/*  st_time.c: clocks.  */
#include "st_time.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

uint64_t
st_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

uint64_t
st_mono_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

uint64_t
st_wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

void
st_sleep_ms (uint64_t ms)
{
    struct timespec ts = { .tv_sec = (time_t) (ms / 1000), .tv_nsec = (long) (ms % 1000) * 1000000L };
    while (nanosleep (&ts, &ts) == -1 && errno == EINTR)
        ;
}

const char *
st_format_time (uint64_t unix_ms, char *buf, unsigned size)
{
    if (unix_ms == 0) {
        snprintf (buf, size, "-");
        return buf;
    }
    time_t t = (time_t) (unix_ms / 1000);
    struct tm tm;
    gmtime_r (&t, &tm);
    strftime (buf, size, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}
