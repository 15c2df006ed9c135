/*  st_field.c: field rules and UTF-8 checks (RFC 3629: no overlongs, no
 *  surrogates, nothing past U+10FFFF).  */
#include "st_field.h"

#include <stdint.h>
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

static bool
s_char_ok (unsigned char c, const st_field_t *rule)
{
    return (rule->classes & ST_FIELD_ANY) || ((rule->classes & ST_FIELD_LOWER) && c >= 'a' && c <= 'z')
           || ((rule->classes & ST_FIELD_UPPER) && c >= 'A' && c <= 'Z')
           || ((rule->classes & ST_FIELD_DIGIT) && c >= '0' && c <= '9')
           || (rule->extra && c < 0x80 && strchr (rule->extra, c));
}

bool
st_field_ok (const char *text, size_t len, const st_field_t *rule)
{
    if (!text || len == 0 || (rule->max && len > rule->max) || memchr (text, '\0', len))
        return false;
    const unsigned char *p = (const unsigned char *) text;
    for (size_t i = 0, n; i < len; i += n) {
        if ((n = st_utf8_char (p + i, len - i)) == 0)
            return false;
        if (n > 1 ? !(rule->classes & ST_FIELD_ANY) : !s_char_ok (p[i], rule))
            return false;
    }
    return true;
}

bool
st_field_ok_str (const char *text, const st_field_t *rule)
{
    return text && st_field_ok (text, strlen (text), rule);
}
