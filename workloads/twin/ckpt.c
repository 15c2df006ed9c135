/*  ckpt.c: checkpoint files (format in docs/twin-internals.md), written atomically.  */
#include "twin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st_vec.h"

#define CK_MAGIC "STRTWIN\x1a"
#define CK_VERSION 1u
#define CK_HEADER 88u
#define CK_FLAGS 0u /*  bit 0 would mean a tied head; none yet  */

/* ---- CRC-32 (IEEE, as zlib) ------------------------------------------ */

static uint32_t
s_crc (uint32_t crc, const void *buf, size_t n)
{
    static uint32_t table[256];
    static int ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    const uint8_t *p = buf;
    crc = ~crc;
    while (n--)
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void
s_put32 (uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static void
s_put64 (uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static uint32_t
s_get32 (const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t) p[i] << (8 * i);
    return v;
}

static uint64_t
s_get64 (const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t) p[i] << (8 * i);
    return v;
}

/*  Floats are stored as IEEE-754 binary32, little-endian: the host's own
 *  layout on every platform Strata runs on (x86-64, aarch64).  */
static int
s_host_ok (void)
{
    const uint32_t one = 1;
    return *(const uint8_t *) &one == 1 && sizeof (float) == 4;
}

/* ---- writing -------------------------------------------------------- */

static int
s_write (FILE *f, const void *buf, size_t n, uint32_t *crc)
{
    *crc = s_crc (*crc, buf, n);
    return fwrite (buf, 1, n, f) == n ? 0 : -1;
}

static int
s_fsync_dir (const char *dir)
{
    int fd = open (dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

static int
s_is_ckpt_name (const char *name, uint64_t *step)
{
    size_t len = strlen (name);
    if (len < 10 || strncmp (name, "ckpt-", 5) != 0 || strcmp (name + len - 4, ".bin") != 0)
        return 0;
    uint64_t v = 0;
    for (size_t i = 5; i < len - 4; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        v = v * 10 + (uint64_t) (name[i] - '0');
    }
    /*  Only the names s_name writes: "ckpt-5.bin" or a step past 2^64 would
     *  be listed as a file that is not there (and pruned as another one).  */
    char canon[40];
    snprintf (canon, sizeof canon, "ckpt-%012llu.bin", (unsigned long long) v);
    if (strcmp (canon, name) != 0)
        return 0;
    *step = v;
    return 1;
}

/*  Checkpoints listed in one directory: the trainer keeps a handful, and the
 *  count must fit the long s_list returns.  */
#define S_CKPTS_MAX ((size_t) 1 << 20)

/*  Steps of the checkpoints in dir, ascending. Returns the count or -1.  */
static long
s_list (const char *dir, uint64_t **steps)
{
    DIR *dh = opendir (dir);
    if (!dh)
        return -1;
    *steps = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir (dh))) {
        uint64_t s;
        if (!s_is_ckpt_name (e->d_name, &s))
            continue;
        if (st_vec_push ((void **) steps, &n, &cap, sizeof s, S_CKPTS_MAX, &s) != ST_OK) {
            closedir (dh);
            free (*steps);
            *steps = NULL;
            return -1;
        }
    }
    closedir (dh);
    for (size_t i = 1; i < n; i++) /*  insertion sort: a handful of files  */
        for (size_t j = i; j > 0 && (*steps)[j - 1] > (*steps)[j]; j--) {
            uint64_t t = (*steps)[j];
            (*steps)[j] = (*steps)[j - 1], (*steps)[j - 1] = t;
        }
    return (long) n;
}

static void
s_name (char *out, size_t len, const char *dir, uint64_t step)
{
    snprintf (out, len, "%s/ckpt-%012llu.bin", dir, (unsigned long long) step);
}

/*  mkdir -p: a job's checkpoint directory (under its pool's storage root)
 *  may not exist yet, nor its parents.  */
static int
s_mkdir_p (const char *dir)
{
    char path[4096];
    if (snprintf (path, sizeof path, "%s", dir) >= (int) sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir (path, 0777) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir (path, 0777) < 0 && errno != EEXIST ? -1 : 0;
}

int
twin_ckpt_save (const char *dir, const twin_model_t *m, const twin_ckpt_meta_t *meta, char *path_out, size_t pathlen,
                char *err, size_t errlen)
{
    if (!s_host_ok ()) {
        snprintf (err, errlen, "checkpoints need a little-endian host");
        return -1;
    }
    if (s_mkdir_p (dir) != 0) {
        snprintf (err, errlen, "cannot create %s: %s", dir, strerror (errno));
        return -1;
    }
    uint8_t h[CK_HEADER];
    memset (h, 0, sizeof h);
    memcpy (h, CK_MAGIC, 8);
    s_put32 (h + 8, CK_VERSION);
    s_put32 (h + 12, CK_HEADER);
    s_put32 (h + 16, (uint32_t) m->cfg.layers);
    s_put32 (h + 20, (uint32_t) m->cfg.dim);
    s_put32 (h + 24, (uint32_t) m->cfg.heads);
    s_put32 (h + 28, (uint32_t) m->cfg.ctx);
    s_put32 (h + 32, (uint32_t) m->cfg.vocab);
    s_put32 (h + 36, CK_FLAGS);
    s_put64 (h + 40, meta->step);
    s_put64 (h + 48, meta->rng);
    s_put64 (h + 56, meta->cursor);
    s_put64 (h + 64, meta->train_len);
    s_put64 (h + 72, (uint64_t) m->n_params);
    s_put64 (h + 80, meta->seed);

    size_t tlen = strlen (dir) + 32;
    char *tmp = malloc (tlen);
    if (!tmp) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    snprintf (tmp, tlen, "%s/.ckpt-XXXXXX", dir);
    int fd = mkstemp (tmp);
    if (fd < 0) {
        snprintf (err, errlen, "cannot create a file in %s: %s", dir, strerror (errno));
        free (tmp);
        return -1;
    }
    FILE *f = fdopen (fd, "wb");
    uint32_t crc = 0;
    size_t nb = m->n_params * sizeof (float);
    int rc = f ? 0 : -1;
    if (rc == 0)
        rc = s_write (f, h, sizeof h, &crc);
    if (rc == 0)
        rc = s_write (f, m->params, nb, &crc);
    if (rc == 0)
        rc = s_write (f, m->m, nb, &crc);
    if (rc == 0)
        rc = s_write (f, m->v, nb, &crc);
    uint8_t tr[4];
    s_put32 (tr, crc);
    if (rc == 0 && fwrite (tr, 1, 4, f) != 4)
        rc = -1;
    if (rc == 0 && fflush (f) != 0)
        rc = -1;
    if (rc == 0 && fsync (fileno (f)) != 0)
        rc = -1;
    int saved = errno;
    if (f) {
        if (fclose (f) != 0 && rc == 0)
            rc = -1, saved = errno;
    }
    else
        close (fd);
    char final[4096];
    s_name (final, sizeof final, dir, meta->step);
    if (rc == 0 && rename (tmp, final) != 0)
        rc = -1, saved = errno;
    if (rc == 0 && s_fsync_dir (dir) != 0)
        rc = -1, saved = errno;
    if (rc < 0) {
        snprintf (err, errlen, "cannot write checkpoint %s: %s", final, strerror (saved));
        unlink (tmp);
        free (tmp);
        return -1;
    }
    free (tmp);
    if (path_out)
        snprintf (path_out, pathlen, "%s", final);

    /*  Keep the newest two: the one just written and its predecessor.  */
    uint64_t *steps;
    long n = s_list (dir, &steps);
    for (long i = 0; i < n - 2; i++) {
        char old[4096];
        s_name (old, sizeof old, dir, steps[i]);
        unlink (old);
    }
    if (n > 0)
        free (steps);
    return 0;
}

int
twin_ckpt_latest (const char *dir, char *path, size_t pathlen, char *err, size_t errlen)
{
    uint64_t *steps;
    long n = s_list (dir, &steps);
    if (n < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf (err, errlen, "cannot list %s: %s", dir, strerror (errno));
        return -1;
    }
    if (n == 0)
        return 0;
    s_name (path, pathlen, dir, steps[n - 1]);
    free (steps);
    return 1;
}

/* ---- reading -------------------------------------------------------- */

/*  Reads the whole file and checks everything; *buf holds it on success.  */
static int
s_read_all (const char *path, uint8_t **buf, size_t *len, twin_ckpt_meta_t *meta, char *err, size_t errlen)
{
    *buf = NULL;
    if (!s_host_ok ()) {
        snprintf (err, errlen, "checkpoints need a little-endian host");
        return -1;
    }
    FILE *f = fopen (path, "rb");
    if (!f) {
        snprintf (err, errlen, "cannot open checkpoint %s: %s", path, strerror (errno));
        return -1;
    }
    struct stat st;
    if (fstat (fileno (f), &st) < 0 || st.st_size < (off_t) CK_HEADER + 4) {
        fclose (f);
        snprintf (err, errlen, "%s: not a checkpoint (too short)", path);
        return -1;
    }
    *len = (size_t) st.st_size;
    uint8_t *b = malloc (*len);
    if (!b || fread (b, 1, *len, f) != *len) {
        fclose (f);
        free (b);
        snprintf (err, errlen, "cannot read checkpoint %s", path);
        return -1;
    }
    fclose (f);
    const char *why = NULL;
    twin_config_t c = { 0 };
    if (memcmp (b, CK_MAGIC, 8) != 0)
        why = "bad magic number";
    else if (s_get32 (b + 8) != CK_VERSION)
        why = "unsupported format version";
    else if (s_get32 (b + 12) != CK_HEADER)
        why = "bad header size";
    else {
        c.layers = (int) s_get32 (b + 16), c.dim = (int) s_get32 (b + 20);
        c.heads = (int) s_get32 (b + 24), c.ctx = (int) s_get32 (b + 28);
        c.vocab = (int) s_get32 (b + 32);
        char cerr[128];
        if (twin_config_check (&c, cerr, sizeof cerr) < 0)
            why = "bad model config";
        else if (s_get32 (b + 36) != CK_FLAGS)
            why = "unsupported flags";
        else if (s_get64 (b + 72) != twin_param_count (&c))
            why = "parameter count does not match the config";
        else if (*len != CK_HEADER + 12 * twin_param_count (&c) + 4)
            why = "wrong size (truncated?)";
        else if (s_crc (0, b, *len - 4) != s_get32 (b + *len - 4))
            why = "CRC mismatch (corrupt)";
    }
    if (why) {
        snprintf (err, errlen, "%s: %s", path, why);
        free (b);
        return -1;
    }
    meta->cfg = c;
    meta->step = s_get64 (b + 40);
    meta->rng = s_get64 (b + 48);
    meta->cursor = s_get64 (b + 56);
    meta->train_len = s_get64 (b + 64);
    meta->seed = s_get64 (b + 80);
    *buf = b;
    return 0;
}

int
twin_ckpt_read_meta (const char *path, twin_ckpt_meta_t *meta, char *err, size_t errlen)
{
    uint8_t *b;
    size_t len;
    if (s_read_all (path, &b, &len, meta, err, errlen) < 0)
        return -1;
    free (b);
    return 0;
}

int
twin_ckpt_load (const char *path, twin_model_t *m, int with_optim, twin_ckpt_meta_t *meta, char *err, size_t errlen)
{
    uint8_t *b;
    size_t len;
    if (s_read_all (path, &b, &len, meta, err, errlen) < 0)
        return -1;
    const twin_config_t *c = &meta->cfg, *mc = &m->cfg;
    if (c->layers != mc->layers || c->dim != mc->dim || c->heads != mc->heads || c->ctx != mc->ctx) {
        snprintf (err, errlen, "%s: model config differs", path);
        free (b);
        return -1;
    }
    size_t nb = m->n_params * sizeof (float);
    memcpy (m->params, b + CK_HEADER, nb);
    if (with_optim) {
        memcpy (m->m, b + CK_HEADER + nb, nb);
        memcpy (m->v, b + CK_HEADER + 2 * nb, nb);
    }
    else {
        memset (m->m, 0, nb);
        memset (m->v, 0, nb);
    }
    free (b);
    return 0;
}
