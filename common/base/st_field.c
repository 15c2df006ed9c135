/*  st_field.c: field rules; what counts as UTF-8 is st_utf8.c's.  */
#include "st_field.h"

#include <stdint.h>
#include <string.h>

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
