/*  st_error.h: Strata's error codes and the error record that travels with them.
 *
 *  Functions that can fail return st_rc_t (ST_OK or a negative code) and, where a
 *  person will read the reason, fill an st_error_t: a short lowercase message,
 *  the offending field when there is one, and an optional hint. */
#ifndef ST_ERROR_H
#define ST_ERROR_H

#include <stddef.h>

#define ST_ERRNO_MAP(X)                            \
    X (OK, 0, "success")                           \
    X (EINVAL, -1, "invalid argument")             \
    X (ENOMEM, -2, "out of memory")                \
    X (EIO, -3, "input/output error")              \
    X (EPROTO, -4, "malformed message")            \
    X (ETOOBIG, -5, "message too large")           \
    X (ENOTFOUND, -6, "not found")                 \
    X (ECONFLICT, -7, "conflict")                  \
    X (EDB, -8, "database error")                  \
    X (ETIMEDOUT, -9, "timed out")                 \
    X (EUNAVAIL, -10, "unavailable")               \
    X (ESTATE, -11, "illegal state transition")    \
    X (EAGAIN, -12, "try again")                   \
    X (EVERSION, -13, "protocol version mismatch") \
    X (EAUTH, -14, "not authenticated")            \
    X (EPERM, -15, "permission denied")            \
    X (ELIMIT, -16, "over a limit")

typedef enum {
#define ST__RC(name, val, text) ST_##name = val,
    ST_ERRNO_MAP (ST__RC)
#undef ST__RC
} st_rc_t;

typedef struct {
    st_rc_t rc;      /*  the code, ST_OK when nothing went wrong  */
    char field[128]; /*  dotted path of the offending input field, or ""  */
    char msg[512];   /*  what went wrong, lowercase, no trailing period  */
    char hint[256];  /*  what to do about it, or ""  */
} st_error_t;

/*  Static text for a code; never NULL.  */
const char *st_strerror (st_rc_t rc);

/*  Fills err (if not NULL) and returns rc, so callers can `return st_error_set (...)`.
 *  field may be NULL. The message is formatted like printf.  */
st_rc_t st_error_set (st_error_t *err, st_rc_t rc, const char *field, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

/*  Sets err->hint.  */
void st_error_hint (st_error_t *err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

/*  Clears err to ST_OK.  */
void st_error_clear (st_error_t *err);

#endif
