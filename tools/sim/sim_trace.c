/*  sim_trace.c: the CSV job trace for strata-sim (format in sim_trace.h).  */
#include "sim_trace.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "st_field.h"
#include "st_vec.h"

enum { C_ID, C_SUBMIT, C_DURATION, C_GPUS, C_GPU_TYPE, C_USER, C_QUEUE, C_STATUS, C__COUNT };
static const char *const s_colnames[C__COUNT] = {
    "job_id", "submit_s", "duration_s", "num_gpus", "gpu_type", "user", "queue", "status",
};
#define S_REQUIRED 4                  /*  the first four columns must be in the header  */
#define S_MAX_LINE ((size_t) 1 << 30) /*  bytes (and fields) of one line  */
#define S_MAX_ROWS ((size_t) 1 << 28) /*  jobs in one trace  */

/*  One line split into fields: NUL-terminated strings in buf at off[i].  */
typedef struct {
    char *buf;
    size_t len, cap;
    size_t *off;
    size_t n, ncap;
} s_fields_t;

static int
s_putc (s_fields_t *f, char ch)
{
    if (st_vec_reserve ((void **) &f->buf, &f->cap, f->len + 1, 1, S_MAX_LINE) != 0)
        return -1;
    f->buf[f->len++] = ch;
    return 0;
}

/*  Splits [p, end) (no line terminator) into fields. Returns 0, -1 when out of
 *  memory, or 1 with *why set and *bad_col (1-based) for a malformed quote.  */
static int
s_split (s_fields_t *f, const char *p, const char *end, const char **why, size_t *bad_col)
{
    f->len = 0;
    f->n = 0;
    for (;;) {
        if (st_vec_reserve ((void **) &f->off, &f->ncap, f->n + 1, sizeof *f->off, S_MAX_LINE) != 0)
            return -1;
        f->off[f->n++] = f->len;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p < end && *p == '"') {
            p++;
            for (;;) {
                if (p >= end) {
                    *why = "unterminated quoted field (a field may not span lines)";
                    *bad_col = f->n;
                    return 1;
                }
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        if (s_putc (f, '"') != 0)
                            return -1;
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                if (s_putc (f, *p++) != 0)
                    return -1;
            }
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            if (p < end && *p != ',') {
                *why = "text after the closing quote";
                *bad_col = f->n;
                return 1;
            }
        }
        else {
            const char *s = p;
            while (p < end && *p != ',')
                p++;
            const char *e = p;
            while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            for (; s < e; s++)
                if (s_putc (f, *s) != 0)
                    return -1;
        }
        if (s_putc (f, '\0') != 0)
            return -1;
        if (p >= end)
            return 0;
        p++; /*  the comma  */
    }
}

/*  A plain decimal number: digits, one optional sign, point and exponent.
 *  Refuses hex, inf and nan, which strtod would take.  */
static int
s_number (const char *s, double *out)
{
    if (!*s || strspn (s, "0123456789.eE+-") != strlen (s))
        return -1;
    char *end;
    errno = 0;
    double v = strtod (s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite (v))
        return -1;
    *out = v;
    return 0;
}

/*  A value as a message quotes it: at most 64 bytes, cut on a character boundary.  */
static const char *
s_shown (const char *v, char *buf, size_t size)
{
    size_t len = strlen (v), cut = st_utf8_cut (v, len, 64);
    snprintf (buf, size, "%.*s%s", (int) cut, v, cut < len ? "..." : "");
    return buf;
}

static char *
s_dup_or_null (const char *s)
{
    return *s ? strdup (s) : NULL;
}

static void
s_row_free (sim_row_t *r)
{
    free (r->id);
    free (r->gpu_type);
    free (r->user);
    free (r->queue);
    free (r->status);
}

static int
s_cmp_submit (const void *a, const void *b)
{
    const sim_row_t *x = a, *y = b;
    if (x->submit_s != y->submit_s)
        return x->submit_s < y->submit_s ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line; /*  stable  */
}

static int
s_cmp_id (const void *a, const void *b)
{
    const sim_row_t *x = *(const sim_row_t *const *) a, *y = *(const sim_row_t *const *) b;
    int c = strcmp (x->id, y->id);
    return c ? c : (x->line < y->line ? -1 : x->line > y->line);
}

/*  Refuses a job_id that appears twice (names both lines).  */
static st_rc_t
s_check_unique (const sim_trace_t *t, const char *name, st_error_t *err)
{
    if (t->nrows < 2)
        return ST_OK;
    const sim_row_t **idx = malloc (t->nrows * sizeof *idx);
    if (!idx)
        return st_error_set (err, ST_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; i < t->nrows; i++)
        idx[i] = &t->rows[i];
    qsort (idx, t->nrows, sizeof *idx, s_cmp_id);
    st_rc_t rc = ST_OK;
    char shown[80];
    for (size_t i = 1; i < t->nrows && rc == ST_OK; i++)
        if (strcmp (idx[i - 1]->id, idx[i]->id) == 0)
            rc = st_error_set (err, ST_EINVAL, "job_id", "%s:%d: column 1 (job_id): '%s' repeats line %d", name,
                               idx[i]->line, s_shown (idx[i]->id, shown, sizeof shown), idx[i - 1]->line);
    free (idx);
    return rc;
}

st_rc_t
sim_trace_parse (const char *text, size_t len, const char *name, sim_trace_t *out, st_error_t *err)
{
    memset (out, 0, sizeof *out);
    s_fields_t f = { 0 };
    int col[C__COUNT]; /*  field index of each known column, -1 when absent  */
    size_t ncols = 0, cap = 0;
    int line = 0, have_header = 0;
    st_rc_t rc = ST_OK;
    char shown[80]; /*  a value quoted in a message (s_shown)  */
    const char *p = text, *end = text + len;

    for (size_t i = 0; i < C__COUNT; i++)
        col[i] = -1;
    while (p < end && rc == ST_OK) {
        const char *nl = memchr (p, '\n', (size_t) (end - p));
        const char *le = nl ? nl : end, *next = nl ? nl + 1 : end;
        line++;
        if (le > p && le[-1] == '\r')
            le--;
        const char *q = p;
        while (q < le && (*q == ' ' || *q == '\t'))
            q++;
        if (q == le) { /*  blank line  */
            p = next;
            continue;
        }
        if (memchr (p, '\0', (size_t) (le - p))) {
            rc = st_error_set (err, ST_EINVAL, NULL, "%s:%d: a NUL byte (is this a text file?)", name, line);
            break;
        }
        const char *why = NULL;
        size_t bad = 0;
        int s = s_split (&f, p, le, &why, &bad);
        if (s < 0) {
            rc = st_error_set (err, ST_ENOMEM, NULL, "out of memory");
            break;
        }
        if (s > 0) {
            rc = st_error_set (err, ST_EINVAL, NULL, "%s:%d: column %zu: %s", name, line, bad, why);
            break;
        }
        p = next;
        if (!have_header) {
            ncols = f.n;
            for (size_t i = 0; i < f.n && rc == ST_OK; i++)
                for (size_t c = 0; c < C__COUNT; c++)
                    if (strcmp (f.buf + f.off[i], s_colnames[c]) == 0) {
                        if (col[c] >= 0) {
                            rc = st_error_set (err, ST_EINVAL, NULL, "%s:%d: column %zu: '%s' repeats column %d",
                                               name, line, i + 1, s_colnames[c], col[c] + 1);
                            break;
                        }
                        col[c] = (int) i;
                    }
            for (size_t c = 0; c < S_REQUIRED && rc == ST_OK; c++)
                if (col[c] < 0)
                    rc = st_error_set (err, ST_EINVAL, NULL,
                                       "%s:%d: the header has no column '%s' (it needs job_id,submit_s,duration_s,"
                                       "num_gpus; gpu_type,user,queue,status are optional)",
                                       name, line, s_colnames[c]);
            have_header = 1;
            continue;
        }
        if (f.n != ncols) {
            rc = st_error_set (err, ST_EINVAL, NULL, "%s:%d: %zu fields, but the header has %zu", name, line, f.n,
                               ncols);
            break;
        }
        if (st_vec_reserve ((void **) &out->rows, &cap, out->nrows + 1, sizeof *out->rows, S_MAX_ROWS) != 0) {
            rc = st_error_set (err, ST_ENOMEM, NULL, "out of memory");
            break;
        }
        sim_row_t *r = &out->rows[out->nrows];
        memset (r, 0, sizeof *r);
        r->line = line;
        const char *v[C__COUNT];
        for (size_t c = 0; c < C__COUNT; c++)
            v[c] = col[c] >= 0 ? f.buf + f.off[col[c]] : "";
        double *num[C__COUNT] = { [C_SUBMIT] = &r->submit_s, [C_DURATION] = &r->duration_s, [C_GPUS] = &r->num_gpus };
        if (!*v[C_ID])
            rc = st_error_set (err, ST_EINVAL, NULL, "%s:%d: column %d (job_id): blank; every job needs an id", name,
                               line, col[C_ID] + 1);
        for (int c = C_SUBMIT; c <= C_GPUS && rc == ST_OK; c++) {
            if (s_number (v[c], num[c]) != 0)
                rc = st_error_set (err, ST_EINVAL, NULL, "%s:%d: column %d (%s): '%s' is not a number", name, line,
                                   col[c] + 1, s_colnames[c], s_shown (v[c], shown, sizeof shown));
            else if (*num[c] < 0)
                rc = st_error_set (err, ST_EINVAL, NULL, "%s:%d: column %d (%s): %s is negative", name, line,
                                   col[c] + 1, s_colnames[c], s_shown (v[c], shown, sizeof shown));
        }
        if (rc == ST_OK && r->num_gpus > SIM_MAX_GPUS)
            rc = st_error_set (err, ST_EINVAL, NULL, "%s:%d: column %d (num_gpus): %s is more than %.0f", name, line,
                               col[C_GPUS] + 1, s_shown (v[C_GPUS], shown, sizeof shown), SIM_MAX_GPUS);
        if (rc != ST_OK)
            break;
        r->id = strdup (v[C_ID]);
        r->gpu_type = s_dup_or_null (v[C_GPU_TYPE]);
        r->user = s_dup_or_null (v[C_USER]);
        r->queue = s_dup_or_null (v[C_QUEUE]);
        r->status = s_dup_or_null (v[C_STATUS]);
        out->nrows++; /*  counted now so that sim_trace_free frees it  */
        if (!r->id || (*v[C_GPU_TYPE] && !r->gpu_type) || (*v[C_USER] && !r->user) || (*v[C_QUEUE] && !r->queue)
            || (*v[C_STATUS] && !r->status)) {
            rc = st_error_set (err, ST_ENOMEM, NULL, "out of memory");
            break;
        }
        if (r->num_gpus != floor (r->num_gpus))
            out->nfractional++;
    }
    free (f.buf);
    free (f.off);
    if (rc == ST_OK && !have_header)
        rc = st_error_set (err, ST_EINVAL, NULL, "%s: empty file: no header line", name);
    if (rc == ST_OK && out->nrows == 0)
        rc = st_error_set (err, ST_EINVAL, NULL, "%s: no jobs after the header", name);
    if (rc == ST_OK) {
        qsort (out->rows, out->nrows, sizeof *out->rows, s_cmp_submit);
        rc = s_check_unique (out, name, err);
    }
    if (rc != ST_OK)
        sim_trace_free (out);
    return rc;
}

char *
sim_read_file (const char *path, size_t *len, st_error_t *err)
{
    FILE *fp = fopen (path, "rb");
    if (!fp) {
        st_error_set (err, ST_ENOTFOUND, NULL, "%s: %s", path, strerror (errno));
        return NULL;
    }
    struct stat st;
    if (fstat (fileno (fp), &st) != 0 || !S_ISREG (st.st_mode)) {
        st_error_set (err, ST_EIO, NULL, "%s: not a regular file", path);
        fclose (fp);
        return NULL;
    }
    size_t n = (size_t) st.st_size;
    char *buf = malloc (n + 1);
    if (!buf) {
        st_error_set (err, ST_ENOMEM, NULL, "%s: out of memory for %zu bytes", path, n);
        fclose (fp);
        return NULL;
    }
    size_t got = fread (buf, 1, n, fp);
    int bad = ferror (fp);
    fclose (fp);
    if (bad || got != n) {
        st_error_set (err, ST_EIO, NULL, "%s: read error", path);
        free (buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

st_rc_t
sim_trace_load (const char *path, sim_trace_t *out, st_error_t *err)
{
    size_t len = 0;
    memset (out, 0, sizeof *out);
    char *text = sim_read_file (path, &len, err);
    if (!text)
        return err->rc;
    st_rc_t rc = sim_trace_parse (text, len, path, out, err);
    free (text);
    return rc;
}

void
sim_trace_free (sim_trace_t *t)
{
    for (size_t i = 0; i < t->nrows; i++)
        s_row_free (&t->rows[i]);
    free (t->rows);
    memset (t, 0, sizeof *t);
}
