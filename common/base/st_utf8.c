/*  st_utf8.c: UTF-8 checks, boundary-safe cuts and the one replacement rule
 *  (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF; each byte
 *  that does not begin a valid character becomes one U+FFFD).  */
#include "st_utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t
st_utf8_char (const unsigned char *p, size_t avail)
{
    if (avail == 0)
        return 0;
    unsigned c = p[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    }
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    }
    else
        return 0;
    if (n > avail)
        return 0;
    /*  Byte by byte, so a NUL (not a continuation byte) stops the read.  */
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return 0;
    return n;
}

bool
st_utf8_valid (const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *) text;
    for (size_t i = 0, n; i < len; i += n)
        if ((n = st_utf8_char (p + i, len - i)) == 0)
            return false;
    return true;
}

size_t
st_utf8_cut (const char *text, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t cut = max;
    while (cut > 0 && ((unsigned char) text[cut] & 0xC0) == 0x80)
        cut--;
    return cut;
}

long
st_utf8_scrub (const char *text, size_t len, st_utf8_sink_fn sink, void *arg)
{
    const unsigned char *p = (const unsigned char *) text;
    size_t i = 0, run = 0;
    long bad = 0;
    while (i < len && p[i]) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = st_utf8_char (p + i, len - i);
        if (n) {
            i += n;
            continue;
        }
        if ((i > run && sink (arg, text + run, i - run)) || sink (arg, ST_UTF8_REPLACEMENT, ST_UTF8_REPLACEMENT_LEN))
            return -1;
        bad++;
        run = ++i;
    }
    if (i > run && sink (arg, text + run, i - run))
        return -1;
    return bad;
}

/*  -- into a fixed buffer -------------------------------------------------  */

typedef struct {
    char *dst;
    size_t size; /*  bytes at dst, NUL included (> 0)  */
    size_t len;  /*  written so far  */
} s_fixed_t;

static int
s_fixed_put (void *arg, const char *run, size_t n)
{
    s_fixed_t *f = arg;
    size_t room = f->size - 1 - f->len;
    /*  run is valid UTF-8 (or one replacement): a cut within it is a boundary.  */
    size_t take = st_utf8_cut (run, n, room);
    memcpy (f->dst + f->len, run, take);
    f->len += take;
    return take < n;
}

size_t
st_utf8_copy (char *dst, size_t size, const char *text)
{
    if (size == 0)
        return 0;
    s_fixed_t f = { dst, size, 0 };
    if (text)
        st_utf8_scrub (text, SIZE_MAX, s_fixed_put, &f);
    dst[f.len] = '\0';
    return f.len;
}

size_t
st_utf8_vfmt (char *dst, size_t size, const char *fmt, va_list ap)
{
    if (size == 0)
        return 0;
    va_list again;
    va_copy (again, ap);
    int n = vsnprintf (dst, size, fmt, ap);
    size_t len = n < 0 ? 0 : (size_t) n;
    if (n < 0)
        dst[0] = '\0';
    else if (len < size && st_utf8_valid (dst, len)) {
        va_end (again);
        return len; /*  the common case: it fits and is clean  */
    }
    /*  Too long or not clean: scrub and cut the whole text.  */
    char *full = malloc (len + 1);
    if (full && vsnprintf (full, len + 1, fmt, again) >= 0)
        len = st_utf8_copy (dst, size, full);
    else {
        /*  Without memory: cut what vsnprintf kept, '?' for bad bytes.  */
        len = strlen (dst);
        unsigned char *p = (unsigned char *) dst;
        for (size_t i = 0, k; i < len; i += k)
            if ((k = st_utf8_char (p + i, len - i)) == 0) {
                p[i] = '?';
                k = 1;
            }
        /*  a character vsnprintf cut short is now '?'s: fine without memory  */
    }
    free (full);
    va_end (again);
    return len;
}

size_t
st_utf8_fmt (char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    size_t n = st_utf8_vfmt (dst, size, fmt, ap);
    va_end (ap);
    return n;
}

/*  -- into a new string ---------------------------------------------------  */

typedef struct {
    char *p;
    size_t len, cap;
} s_grow_t;

static int
s_grow_put (void *arg, const char *run, size_t n)
{
    s_grow_t *g = arg;
    if (g->len + n + 1 > g->cap) {
        size_t cap = g->cap * 2 > g->len + n + 1 ? g->cap * 2 : g->len + n + 1;
        char *p = realloc (g->p, cap);
        if (!p)
            return 1;
        g->p = p;
        g->cap = cap;
    }
    memcpy (g->p + g->len, run, n);
    g->len += n;
    return 0;
}

char *
st_utf8_dup (const char *text)
{
    if (!text)
        text = "";
    size_t len = strlen (text);
    s_grow_t g = { malloc (len + 1), 0, len + 1 };
    if (!g.p)
        return NULL;
    if (st_utf8_scrub (text, len, s_grow_put, &g) < 0) {
        free (g.p);
        return NULL;
    }
    g.p[g.len] = '\0';
    return g.p;
}
