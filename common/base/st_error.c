/*  st_error.c: error codes and records.  */
#include "st_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "st_utf8.h"

const char *
st_strerror (st_rc_t rc)
{
    switch (rc) {
#define ST__TEXT(name, val, text) \
    case ST_##name:               \
        return text;
        ST_ERRNO_MAP (ST__TEXT)
#undef ST__TEXT
    }
    return "unknown error";
}

st_rc_t
st_error_set (st_error_t *err, st_rc_t rc, const char *field, const char *fmt, ...)
{
    if (!err)
        return rc;
    err->rc = rc;
    snprintf (err->field, sizeof err->field, "%s", field ? field : "");
    va_list ap;
    va_start (ap, fmt);
    st_utf8_vfmt (err->msg, sizeof err->msg, fmt, ap); /*  it reaches clients and JSON: valid UTF-8  */
    va_end (ap);
    err->hint[0] = '\0';
    return rc;
}

void
st_error_hint (st_error_t *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start (ap, fmt);
    st_utf8_vfmt (err->hint, sizeof err->hint, fmt, ap);
    va_end (ap);
}

void
st_error_clear (st_error_t *err)
{
    if (err)
        memset (err, 0, sizeof *err);
}
