/*  data.c: the byte corpus, its train/validation split, batches, evaluation.  */
#include "twin.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "st_vec.h"

/*  The corpus is held whole in memory: no twin host trains on more than
 *  64 GiB of bytes. A corpus directory holds at most a million files.  */
#define S_CORPUS_MAX ((size_t) 1 << 36)
#define S_DIR_FILES_MAX ((size_t) 1 << 20)

/*  Appends the whole file at path to d->bytes.  */
static int
s_append_file (const char *path, twin_data_t *d, size_t *cap, char *err, size_t errlen)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        snprintf (err, errlen, "cannot open %s: %s", path, strerror (errno));
        return -1;
    }
    for (;;) {
        st_rc_t grown = st_vec_reserve ((void **) &d->bytes, cap, d->len + 1, 1, S_CORPUS_MAX);
        if (grown != ST_OK) {
            fclose (f);
            if (grown == ST_ETOOBIG)
                snprintf (err, errlen, "%s: the corpus is larger than %zu bytes", path, S_CORPUS_MAX);
            else
                snprintf (err, errlen, "out of memory reading %s", path);
            return -1;
        }
        size_t got = fread (d->bytes + d->len, 1, *cap - d->len, f);
        d->len += got;
        if (got == 0)
            break;
    }
    int bad = ferror (f);
    fclose (f);
    if (bad) {
        snprintf (err, errlen, "cannot read %s", path);
        return -1;
    }
    return 0;
}

static int
s_cmp (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

static int
s_append_dir (const char *dir, twin_data_t *d, size_t *cap, char *err, size_t errlen)
{
    DIR *dh = opendir (dir);
    if (!dh) {
        snprintf (err, errlen, "cannot open directory %s: %s", dir, strerror (errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, ncap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir (dh))) {
        if (e->d_name[0] == '.')
            continue;
        char *name = strdup (e->d_name);
        if (!name || st_vec_push ((void **) &names, &n, &ncap, sizeof name, S_DIR_FILES_MAX, &name) != ST_OK) {
            free (name);
            rc = -1;
            break;
        }
    }
    closedir (dh);
    if (rc < 0)
        snprintf (err, errlen, "out of memory listing %s", dir);
    else if (n > 0)
        qsort (names, n, sizeof *names, s_cmp);
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t len = strlen (dir) + strlen (names[i]) + 2;
        char *p = malloc (len);
        if (!p) {
            snprintf (err, errlen, "out of memory");
            rc = -1;
            break;
        }
        snprintf (p, len, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat (p, &st) == 0 && S_ISREG (st.st_mode))
            rc = s_append_file (p, d, cap, err, errlen);
        free (p);
    }
    for (size_t i = 0; i < n; i++)
        free (names[i]);
    free (names);
    return rc;
}

int
twin_data_load (const char *path, double val_fraction, twin_data_t *d, char *err, size_t errlen)
{
    memset (d, 0, sizeof *d);
    struct stat st;
    if (stat (path, &st) < 0) {
        snprintf (err, errlen, "data %s: %s", path, strerror (errno));
        return -1;
    }
    size_t cap = 0;
    int rc = S_ISDIR (st.st_mode) ? s_append_dir (path, d, &cap, err, errlen)
                                  : s_append_file (path, d, &cap, err, errlen);
    if (rc < 0) {
        twin_data_free (d);
        return -1;
    }
    if (d->len == 0) {
        snprintf (err, errlen, "data %s: no bytes", path);
        twin_data_free (d);
        return -1;
    }
    size_t val = (size_t) ((double) d->len * val_fraction);
    d->train_len = d->len - val;
    return 0;
}

void
twin_data_free (twin_data_t *d)
{
    free (d->bytes);
    memset (d, 0, sizeof *d);
}

void
twin_data_batch (const twin_data_t *d, uint64_t key, uint64_t *cursor, int T, int batch, int rank, int world,
                 uint8_t *out)
{
    uint64_t starts = d->train_len - (uint64_t) T; /*  windows [s, s+T] with s < starts  */
    for (int j = 0; j < batch; j++) {
        uint64_t h = key ^ ((*cursor + (uint64_t) rank * batch + (uint64_t) j) * 0xd1b54a32d192ed03ULL);
        uint64_t start = twin_rng_next (&h) % starts;
        memcpy (out + (size_t) j * (T + 1), d->bytes + start, (size_t) T + 1);
    }
    *cursor += (uint64_t) batch * (uint64_t) world;
}

double
twin_eval (twin_model_t *m, const twin_data_t *d, int T, int B, int max_windows)
{
    size_t start = d->train_len, n = 0;
    double sum = 0;
    uint8_t *buf = malloc ((size_t) B * (T + 1));
    if (!buf)
        return NAN;
    for (;;) {
        int b = 0;
        while (b < B && (int) n < max_windows && start + (size_t) T + 1 <= d->len) {
            memcpy (buf + (size_t) b * (T + 1), d->bytes + start, (size_t) T + 1);
            start += (size_t) T, b++, n++;
        }
        if (b == 0)
            break;
        sum += (double) twin_forward (m, buf, b, T) * b;
    }
    free (buf);
    return n ? sum / (double) n : NAN;
}
