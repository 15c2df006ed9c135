/*  st_units.c: the unit parsers and formatters of specs, config files and flags.
 *  Exact decimal arithmetic throughout: no floating point, every overflow refused. */
#include "st_units.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int
st_parse_mem_mb (const char *text, uint64_t *mb)
{
    /*  Exact decimal arithmetic in KiB: "1.5G" is 1536 MiB, "1K" rounds up to 1 MiB.  */
    const uint64_t limit_kib = 1ull << 50; /*  1 EiB: far past any range, small enough not to overflow  */
    uint64_t whole = 0, frac = 0, frac_scale = 1, unit_kib = 1024;
    const char *p = text;
    int digits = 0;
    bool has_unit = true;
    if (!text || !mb)
        return -1;
    while (*p >= '0' && *p <= '9') {
        whole = whole * 10 + (uint64_t) (*p++ - '0');
        if (whole > limit_kib)
            return -1;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (frac_scale < 1000000000ull) {
                frac = frac * 10 + (uint64_t) (*p - '0');
                frac_scale *= 10;
            }
            else if (*p != '0')
                return -1; /*  more precision than a KiB can carry  */
            p++;
            digits++;
        }
    }
    if (digits == 0)
        return -1;
    switch (*p) {
    case 'k':
    case 'K':
        unit_kib = 1;
        p++;
        break;
    case 'm':
    case 'M':
        unit_kib = 1024;
        p++;
        break;
    case 'g':
    case 'G':
        unit_kib = 1024ull * 1024;
        p++;
        break;
    case 't':
    case 'T':
        unit_kib = 1024ull * 1024 * 1024;
        p++;
        break;
    default:
        has_unit = false;
        break;
    }
    /*  "M", "Mi", "MB" and "MiB" all mean mebibytes; a bare "B" would mean bytes and is refused.  */
    if (has_unit && *p == 'i')
        p++;
    if (has_unit && (*p == 'B' || *p == 'b'))
        p++;
    if (*p != '\0')
        return -1;
    if (whole > limit_kib / unit_kib)
        return -1;
    uint64_t kib = whole * unit_kib + (frac * unit_kib + frac_scale - 1) / frac_scale;
    *mb = (kib + 1023) / 1024;
    return 0;
}

int
st_parse_duration_s (const char *text, uint32_t *seconds)
{
    uint64_t value = 0, ms;
    if (!text || !seconds || !*text)
        return -1;
    if (text[strspn (text, "0123456789")] == '\0') {
        /*  A bare number is seconds here, where st_parse_duration_ms takes milliseconds.  */
        for (const char *p = text; *p; p++) {
            value = value * 10 + (uint64_t) (*p - '0');
            if (value > UINT32_MAX)
                return -1;
        }
        *seconds = (uint32_t) value;
        return 0;
    }
    if (st_parse_duration_ms (text, &ms) != 0 || ms % 1000 != 0 || ms / 1000 > UINT32_MAX)
        return -1;
    *seconds = (uint32_t) (ms / 1000);
    return 0;
}

int
st_parse_duration_ms (const char *text, uint64_t *ms)
{
    static const struct {
        const char *suffix;
        uint64_t ms;
    } units[] = {
        { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
    };
    uint64_t total = 0;
    const char *p = text;
    int segments = 0;
    if (!text || !ms || !*text)
        return -1;
    while (*p) {
        segments++;
        uint64_t whole = 0, frac = 0, scale = 1, unit = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (whole > (UINT64_MAX - 9) / 10)
                return -1;
            whole = whole * 10 + (uint64_t) (*p++ - '0');
            digits++;
        }
        if (*p == '.') {
            p++;
            while (*p >= '0' && *p <= '9') {
                if (scale >= 1000000000ull)
                    return -1; /*  finer than any unit can make whole milliseconds of  */
                frac = frac * 10 + (uint64_t) (*p++ - '0');
                scale *= 10;
                digits++;
            }
        }
        if (digits == 0)
            return -1;
        for (size_t i = 0; i < sizeof units / sizeof units[0] && !unit; i++) {
            size_t n = strlen (units[i].suffix);
            /*  "m" must not swallow the "m" of "ms".  */
            if (strncmp (p, units[i].suffix, n) == 0 && !(n == 1 && p[0] == 'm' && p[1] == 's')) {
                unit = units[i].ms;
                p += n;
            }
        }
        if (!unit) {
            if (*p != '\0' || segments != 1)
                return -1;
            unit = 1; /*  a bare number (only as the whole text) is milliseconds  */
        }
        if ((frac * unit) % scale != 0 || whole > UINT64_MAX / unit)
            return -1;
        uint64_t part = whole * unit + frac * unit / scale;
        if (part > UINT64_MAX - total)
            return -1;
        total += part;
    }
    *ms = total;
    return 0;
}

int
st_parse_cpus_milli (const char *text, uint64_t *milli)
{
    uint64_t whole = 0, frac = 0;
    int digits = 0, places = 0;
    const char *p = text;
    while (*p >= '0' && *p <= '9') {
        whole = whole * 10 + (uint64_t) (*p++ - '0');
        if (whole > UINT32_MAX)
            return -1;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (places < 3) {
                frac = frac * 10 + (uint64_t) (*p - '0');
                places++;
            }
            else if (*p != '0')
                return -2;
            p++;
            digits++;
        }
    }
    if (digits == 0 || *p != '\0')
        return -1;
    while (places++ < 3)
        frac *= 10;
    *milli = whole * 1000 + frac;
    return 0;
}

const char *
st_format_ms (uint64_t ms, char *buf, size_t size)
{
    static const struct {
        const char *suffix;
        uint64_t ms;
    } units[] = {
        { "d", 86400000 },
        { "h", 3600000 },
        { "m", 60000 },
        { "s", 1000 },
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf (buf, size, "%llu%s", (unsigned long long) (ms / units[i].ms), units[i].suffix);
            return buf;
        }
    snprintf (buf, size, "%llums", (unsigned long long) ms);
    return buf;
}

const char *
st_format_mb (uint64_t mb, char *buf, size_t size)
{
    if (mb != 0 && mb % (1024 * 1024) == 0)
        snprintf (buf, size, "%lluT", (unsigned long long) (mb / (1024 * 1024)));
    else if (mb != 0 && mb % 1024 == 0)
        snprintf (buf, size, "%lluG", (unsigned long long) (mb / 1024));
    else
        snprintf (buf, size, "%lluM", (unsigned long long) mb);
    return buf;
}

const char *
st_format_milli (uint64_t milli, char *buf, size_t size)
{
    if (milli % 1000 == 0)
        snprintf (buf, size, "%llu", (unsigned long long) (milli / 1000));
    else {
        snprintf (buf, size, "%llu.%03llu", (unsigned long long) (milli / 1000), (unsigned long long) (milli % 1000));
        char *end = buf + strlen (buf) - 1;
        while (*end == '0')
            *end-- = '\0';
    }
    return buf;
}
