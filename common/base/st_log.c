/*  st_log.c: timestamped, levelled log lines on stderr.
 *  One write(2) per line, so lines from several processes sharing a file do not interleave. */
#include "st_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char s_component[64] = "strata";
static st_log_level_t s_level = ST_LOG_INFO;
static const char *s_names[] = { "DEBUG", "INFO ", "WARN ", "ERROR" };

void
st_log_init (const char *component, st_log_level_t level)
{
    snprintf (s_component, sizeof s_component, "%s", component);
    s_level = level;
}

void
st_log_set_level (st_log_level_t level)
{
    s_level = level;
}

int
st_log_enabled (st_log_level_t level)
{
    return level >= s_level;
}

int
st_log_level_parse (const char *text, st_log_level_t *out)
{
    static const char *names[] = { "debug", "info", "warn", "error" };
    for (int i = 0; i < 4; i++)
        if (strcasecmp (text, names[i]) == 0) {
            *out = (st_log_level_t) i;
            return 0;
        }
    if (strcasecmp (text, "warning") == 0) {
        *out = ST_LOG_WARN;
        return 0;
    }
    return -1;
}

void
st_log (st_log_level_t level, const char *fmt, ...)
{
    if (level < s_level)
        return;
    char line[4096];
    struct timeval tv;
    gettimeofday (&tv, NULL);
    struct tm tm;
    gmtime_r (&tv.tv_sec, &tm);
    int n = (int) strftime (line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf (line + n, sizeof line - (size_t) n, ".%03dZ %s[%d] %s ", (int) (tv.tv_usec / 1000), s_component,
                   (int) getpid (), s_names[level]);
    va_list ap;
    va_start (ap, fmt);
    int m = vsnprintf (line + n, sizeof line - (size_t) n, fmt, ap);
    va_end (ap);
    size_t len = (size_t) n + (m < 0 ? 0 : (size_t) m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write (STDERR_FILENO, line, len);
    (void) w;
}
