/*  infer.c: strata-twin-infer, batch inference with a strata-twin-train
 *  checkpoint (docs/twin.md, "Inference").
 *
 *  Per input line: the perplexity of the line under the model and a greedy
 *  continuation. Every line is evaluated alone (batch 1, one BLAS thread), so
 *  its figures are a function of (model, line, --max-new) only: they do not
 *  depend on the shard that computed them, nor on the lines around it.
 *
 *  Files, for OUT = --out, shard i of N:
 *
 *      OUT.shard-i-of-N.tmp   this shard's lines while it runs (flock'ed by its writer)
 *      OUT.shard-i-of-N       the finished shard: renamed into place after fsync
 *      OUT.tmp                the merge in progress (flock'ed by the merging shard)
 *      OUT                    the merged output: all lines in input order
 *
 *  A shard's life:
 *
 *      compute -> OUT.shard-i-of-N.tmp -> fsync -> rename -> all N present with our key?
 *          no  -> exit 0 (the last shard to finish merges)
 *          yes -> lock OUT.tmp -> merge -> fsync -> rename to OUT -> remove the N shard files
 *
 *  A shard file starts with a header naming the run (a hash of the model's
 *  weights, the input bytes and --max-new), so shard files left by another
 *  run are never merged. Two shards that race to merge serialise on the lock;
 *  the second finds the shard files gone and stops. The bytes of OUT do not
 *  depend on which shard merged, nor on N.  */
#include "twin.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st_vec.h"

#define S_NAME "strata-twin-infer"
/*  Hard maximum on --data: it is read whole.  */
#define S_DATA_MAX ((size_t) 1 << 30)
/*  Seconds between two progress reports.  */
#define S_PROGRESS_S 1.0

void
twin_infer_opts_defaults (twin_infer_opts_t *o)
{
    memset (o, 0, sizeof *o);
    o->shards = 1;
    o->max_new = 32;
}

/* ---- one line ------------------------------------------------------- */

/*  Byte i of "\n" + line + tail: the scored or continued sequence.  */
static uint8_t
s_seq_at (const uint8_t *line, size_t len, const uint8_t *tail, size_t i)
{
    if (i == 0)
        return '\n';
    if (i <= len)
        return line[i - 1];
    return tail[i - 1 - len];
}

double
twin_infer_nll (twin_model_t *m, const uint8_t *line, size_t len)
{
    /*  The sequence is "\n" + line + "\n" (len + 2 bytes); targets are bytes
     *  1..len+1. Window k reads T <= C inputs from a = k*S and scores only the
     *  targets that no earlier window scored, so every target is scored once
     *  and, past the first window, with at least C - S bytes of context.  */
    static const uint8_t nl = '\n';
    size_t C = (size_t) m->tmax, S = C / 2 ? C / 2 : 1, targets = len + 1, done = 0;
    uint8_t *tok = malloc (C + 1);
    if (!tok)
        return NAN;
    double sum = 0;
    for (size_t a = 0; done < targets && !twin_stop_requested; a += S) {
        size_t T = targets - a < C ? targets - a : C;
        for (size_t i = 0; i <= T; i++)
            tok[i] = s_seq_at (line, len, &nl, a + i);
        twin_forward (m, tok, 1, (int) T);
        for (size_t t = done - a; t < T; t++) {
            /*  A probability that underflowed to 0 counts as the smallest
             *  float (about 103 nats) rather than infinity.  */
            float p = m->probs[t * TWIN_VOCAB + tok[t + 1]];
            sum -= log ((double) (p > FLT_TRUE_MIN ? p : FLT_TRUE_MIN));
        }
        done = a + T;
    }
    free (tok);
    return sum / (double) targets;
}

int
twin_infer_greedy (twin_model_t *m, const uint8_t *line, size_t len, int n, uint8_t *out)
{
    size_t C = (size_t) m->tmax;
    uint8_t *tok = malloc (C + 1);
    if (!tok)
        return -1;
    for (int k = 0; k < n && !twin_stop_requested; k++) {
        size_t have = 1 + len + (size_t) k, T = have < C ? have : C;
        for (size_t i = 0; i < T; i++)
            tok[i] = s_seq_at (line, len, out, have - T + i);
        tok[T] = 0; /*  a target twin_forward wants; unused  */
        twin_forward (m, tok, 1, (int) T);
        const float *row = m->probs + (T - 1) * TWIN_VOCAB;
        int best = 0;
        for (int v = 1; v < TWIN_VOCAB; v++)
            if (row[v] > row[best])
                best = v;
        out[k] = (uint8_t) best;
    }
    free (tok);
    return 0;
}

/*  Length of the well-formed UTF-8 sequence at p (RFC 3629), or 0.  */
static size_t
s_utf8_seq (const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf; /*  range of the second byte  */
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0; /*  no overlongs  */
        else if (c == 0xed)
            hi = 0x9f; /*  no surrogates  */
    }
    else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f; /*  nothing above U+10FFFF  */
    }
    else
        return 0;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return len;
}

size_t
twin_utf8_sanitize (const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = s_utf8_seq (in + i, n - i);
        if (k) {
            memcpy (out + o, in + i, k);
            o += k, i += k;
        }
        else {
            memcpy (out + o, "\xef\xbf\xbd", 3); /*  U+FFFD  */
            o += 3, i++;
        }
    }
    return o;
}

/*  The output line of one input line (malloc'd, with its '\n'), or NULL.  */
static char *
s_json_line (uint64_t lineno, size_t len, double ppl, const uint8_t *cont, int n)
{
    char *clean = malloc (3 * (size_t) n + 1);
    json_t *o = json_object ();
    char *s = NULL;
    if (clean && o) {
        size_t cl = twin_utf8_sanitize (cont, (size_t) n, clean);
        json_object_set_new (o, "line", json_integer ((json_int_t) lineno));
        json_object_set_new (o, "bytes", json_integer ((json_int_t) len));
        json_object_set_new (o, "ppl", isfinite (ppl) ? json_real (ppl) : json_null ());
        json_object_set_new (o, "continuation", json_stringn (clean, cl));
        if (json_object_size (o) == 4)
            s = json_dumps (o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION (9));
    }
    free (clean);
    json_decref (o);
    if (s) {
        size_t sl = strlen (s);
        char *t = realloc (s, sl + 2);
        if (!t) {
            free (s);
            return NULL;
        }
        t[sl] = '\n', t[sl + 1] = 0;
        s = t;
    }
    return s;
}

/* ---- files ---------------------------------------------------------- */

static int
s_fsync_dir_of (const char *path)
{
    char dir[4096];
    snprintf (dir, sizeof dir, "%s", path);
    char *slash = strrchr (dir, '/');
    if (!slash)
        snprintf (dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    int fd = open (dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

/*  Opens path (creating it) and takes an exclusive flock on it, making sure
 *  the lock is held on the file that path names now: a holder before us may
 *  have renamed or removed it. Returns the fd, -1 on error (errno), or -2
 *  when SIGTERM arrived while waiting.  */
static int
s_open_locked (const char *path)
{
    for (;;) {
        int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0)
            return -1;
        if (flock (fd, LOCK_EX) < 0) {
            int e = errno;
            close (fd);
            if (e == EINTR && twin_stop_requested)
                return -2;
            if (e == EINTR)
                continue;
            errno = e;
            return -1;
        }
        struct stat a, b;
        if (fstat (fd, &a) == 0 && stat (path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
            return fd;
        close (fd);
    }
}

/*  The first line of a shard file.  */
static void
s_header (char *buf, size_t len, int shard, int shards, uint64_t lines, uint64_t key)
{
    snprintf (buf, len, "# " S_NAME " shard %d of %d lines %llu key %016llx\n", shard, shards,
              (unsigned long long) lines, (unsigned long long) key);
}

static void
s_shard_path (char *buf, size_t len, const char *out, int shard, int shards, int tmp)
{
    snprintf (buf, len, "%s.shard-%d-of-%d%s", out, shard, shards, tmp ? ".tmp" : "");
}

/*  1 when path exists and starts with header, else 0.  */
static int
s_has_header (const char *path, const char *header)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return 0;
    char buf[256];
    int ok = fgets (buf, sizeof buf, f) && strcmp (buf, header) == 0;
    fclose (f);
    return ok;
}

/* ---- the merge -------------------------------------------------------- */

typedef struct {
    const twin_infer_opts_t *o;
    uint64_t lines, key;
    FILE *errf;
} s_run_t;

/*  Merges the N shard files into OUT when all are there (docs/twin.md).
 *  Returns 0 (merged, by us or by a racing shard, or not all there yet),
 *  1 on error, TWIN_EXIT_PREEMPTED on SIGTERM.  */
static int
s_merge (const s_run_t *r)
{
    const twin_infer_opts_t *o = r->o;
    int N = o->shards, rc = 0;
    size_t plen = strlen (o->out) + 64;
    char header[256], *path = malloc (plen), *tmp = malloc (plen);
    FILE **in = calloc ((size_t) N, sizeof *in);
    FILE *w = NULL;
    char *buf = NULL;
    size_t cap = 0;
    int fd = -1;
    if (!path || !tmp || !in) {
        fprintf (r->errf, S_NAME ": out of memory\n");
        rc = 1;
        goto out;
    }
    for (int j = 0; j < N; j++) {
        s_shard_path (path, plen, o->out, j, N, 0);
        s_header (header, sizeof header, j, N, r->lines, r->key);
        if (!s_has_header (path, header)) {
            fprintf (r->errf,
                     S_NAME ": %s is not there (not finished yet, from another run, or already merged): "
                            "the last shard to finish merges\n",
                     path);
            goto out;
        }
    }
    snprintf (tmp, plen, "%s.tmp", o->out);
    fd = s_open_locked (tmp);
    if (fd == -2) {
        rc = TWIN_EXIT_PREEMPTED;
        goto out;
    }
    if (fd < 0) {
        fprintf (r->errf, S_NAME ": cannot create %s: %s\n", tmp, strerror (errno));
        rc = 1;
        goto out;
    }
    /*  Under the lock: a shard that merged before us removed the shard files.  */
    for (int j = 0; j < N; j++) {
        s_shard_path (path, plen, o->out, j, N, 0);
        s_header (header, sizeof header, j, N, r->lines, r->key);
        in[j] = fopen (path, "rb");
        char got[256];
        if (!in[j] || !fgets (got, sizeof got, in[j]) || strcmp (got, header) != 0) {
            fprintf (r->errf, S_NAME ": %s was merged by another shard\n", o->out);
            unlink (tmp);
            goto out;
        }
    }
    w = fdopen (fd, "wb");
    if (!w || ftruncate (fd, 0) != 0) {
        fprintf (r->errf, S_NAME ": cannot write %s: %s\n", tmp, strerror (errno));
        unlink (tmp);
        rc = 1;
        goto out;
    }
    fd = -1; /*  w owns it  */
    /*  Round robin: input line k is line k / N of shard k % N.  */
    for (uint64_t k = 0; k < r->lines; k++) {
        int j = (int) (k % (uint64_t) N);
        ssize_t got = getline (&buf, &cap, in[j]);
        char want[48];
        int wl = snprintf (want, sizeof want, "{\"line\":%llu,", (unsigned long long) k + 1);
        if (got <= wl || strncmp (buf, want, (size_t) wl) != 0 || buf[got - 1] != '\n') {
            s_shard_path (path, plen, o->out, j, N, 0);
            fprintf (r->errf, S_NAME ": %s is damaged: no line %llu in it; remove it and rerun that shard\n", path,
                     (unsigned long long) k + 1);
            rc = 1;
            break;
        }
        if (fwrite (buf, 1, (size_t) got, w) != (size_t) got) {
            fprintf (r->errf, S_NAME ": cannot write %s: %s\n", tmp, strerror (errno));
            rc = 1;
            break;
        }
        if (twin_stop_requested) {
            rc = TWIN_EXIT_PREEMPTED;
            break;
        }
    }
    for (int j = 0; j < N && rc == 0; j++)
        if (getline (&buf, &cap, in[j]) > 0) {
            s_shard_path (path, plen, o->out, j, N, 0);
            fprintf (r->errf, S_NAME ": %s is damaged: more lines than its share\n", path);
            rc = 1;
        }
    if (rc == 0
        && (fflush (w) != 0 || fsync (fileno (w)) != 0 || rename (tmp, o->out) != 0
            || s_fsync_dir_of (o->out) != 0)) {
        fprintf (r->errf, S_NAME ": cannot write %s: %s\n", o->out, strerror (errno));
        rc = 1;
    }
    if (rc != 0) {
        unlink (tmp);
        goto out;
    }
    /*  Only after OUT is in place; still under the lock, so a shard waiting
     *  for it finds them gone.  */
    for (int j = 0; j < N; j++) {
        s_shard_path (path, plen, o->out, j, N, 0);
        unlink (path);
    }
    s_fsync_dir_of (o->out);
    fprintf (r->errf, S_NAME ": merged %d shard%s into %s (%llu lines)\n", N, N == 1 ? "" : "s", o->out,
             (unsigned long long) r->lines);
out:
    if (w)
        fclose (w); /*  releases the lock  */
    if (fd >= 0)
        close (fd);
    for (int j = 0; in && j < N; j++)
        if (in[j])
            fclose (in[j]);
    free (in);
    free (buf);
    free (path);
    free (tmp);
    return rc;
}

/* ---- the run -------------------------------------------------------- */

/*  FNV-1a, 64 bits: names a run (model weights, input, --max-new).  */
static uint64_t
s_fnv (uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static int
s_read_data (const char *path, uint8_t **bytes, size_t *len, char *err, size_t errlen)
{
    *bytes = NULL, *len = 0;
    FILE *f = fopen (path, "rb");
    if (!f) {
        snprintf (err, errlen, "cannot open --data %s: %s", path, strerror (errno));
        return -1;
    }
    struct stat st;
    if (fstat (fileno (f), &st) < 0 || S_ISDIR (st.st_mode)) {
        fclose (f);
        snprintf (err, errlen, "--data %s is not a file", path);
        return -1;
    }
    size_t cap = 0;
    for (;;) {
        if (st_vec_reserve ((void **) bytes, &cap, *len + 1, 1, S_DATA_MAX) != ST_OK) {
            fclose (f);
            free (*bytes);
            *bytes = NULL;
            snprintf (err, errlen, "--data %s: larger than %zu bytes, or out of memory", path, S_DATA_MAX);
            return -1;
        }
        size_t got = fread (*bytes + *len, 1, cap - *len, f);
        *len += got;
        if (got == 0)
            break;
    }
    int bad = ferror (f);
    fclose (f);
    if (bad || *len > S_DATA_MAX) {
        free (*bytes);
        *bytes = NULL;
        snprintf (err, errlen, "--data %s: %s", path, bad ? "read error" : "larger than the 1 GiB limit");
        return -1;
    }
    return 0;
}

/*  Loads the model named by --model: a checkpoint file, or a directory's
 *  newest checkpoint. Returns NULL with a message (always a usage error).  */
static twin_model_t *
s_load_model (const char *spec, twin_ckpt_meta_t *meta, char *path, size_t pathlen, FILE *errf)
{
    char err[512];
    struct stat st;
    if (stat (spec, &st) < 0) {
        fprintf (errf, S_NAME ": --model %s: %s\n", spec, strerror (errno));
        return NULL;
    }
    if (S_ISDIR (st.st_mode)) {
        int got = twin_ckpt_latest (spec, path, pathlen, err, sizeof err);
        if (got <= 0) {
            fprintf (errf, S_NAME ": --model %s: %s\n", spec, got < 0 ? err : "no checkpoint (ckpt-*.bin) in it");
            return NULL;
        }
    }
    else
        snprintf (path, pathlen, "%s", spec);
    if (twin_ckpt_read_meta (path, meta, err, sizeof err) < 0) {
        fprintf (errf, S_NAME ": --model: %s\n", err);
        return NULL;
    }
    twin_model_t *m = twin_model_new (&meta->cfg, 1, meta->cfg.ctx);
    if (!m) {
        fprintf (errf, S_NAME ": out of memory for the model of %s\n", path);
        return NULL;
    }
    if (twin_ckpt_load (path, m, 0, meta, err, sizeof err) < 0) {
        fprintf (errf, S_NAME ": --model: %s\n", err);
        twin_model_free (m);
        return NULL;
    }
    return m;
}

int
twin_infer (const twin_infer_opts_t *o, FILE *out, FILE *errf)
{
    /*  One BLAS thread: a product is never split differently between runs.  */
    openblas_set_num_threads (1);
    if (!o->model || !o->data || !o->out || !*o->out) {
        fprintf (errf, S_NAME ": --model, --data and --out are required\n");
        return TWIN_EXIT_USAGE;
    }
    if (o->shards < 1 || o->shard < 0 || o->shard >= o->shards) {
        fprintf (errf, S_NAME ": shard %d of %d: the shard must be in 0..shards-1\n", o->shard, o->shards);
        return TWIN_EXIT_USAGE;
    }
    if (o->max_new < 0 || o->max_new > TWIN_INFER_MAX_NEW) {
        fprintf (errf, S_NAME ": --max-new must be 0..%d\n", TWIN_INFER_MAX_NEW);
        return TWIN_EXIT_USAGE;
    }
    char err[512], ckpt[4096];
    struct stat st;
    snprintf (ckpt, sizeof ckpt, "%s", o->out);
    char *slash = strrchr (ckpt, '/'); /*  ckpt holds OUT's directory for a moment  */
    if (slash == ckpt)
        slash[1] = 0;
    else if (slash)
        *slash = 0;
    if (stat (o->out, &st) == 0 && S_ISDIR (st.st_mode)) {
        fprintf (errf, S_NAME ": --out %s is a directory\n", o->out);
        return TWIN_EXIT_USAGE;
    }
    if (slash && (stat (ckpt, &st) < 0 || !S_ISDIR (st.st_mode))) {
        fprintf (errf, S_NAME ": --out %s: no directory %s\n", o->out, ckpt);
        return TWIN_EXIT_USAGE;
    }
    twin_ckpt_meta_t meta;
    twin_model_t *m = s_load_model (o->model, &meta, ckpt, sizeof ckpt, errf);
    if (!m)
        return TWIN_EXIT_USAGE;
    uint8_t *data;
    size_t dlen;
    if (s_read_data (o->data, &data, &dlen, err, sizeof err) < 0) {
        fprintf (errf, S_NAME ": %s\n", err);
        twin_model_free (m);
        return TWIN_EXIT_USAGE;
    }

    int rc = 0, N = o->shards, me = o->shard;
    uint64_t lines = 0;
    for (size_t i = 0; i < dlen; i++)
        lines += data[i] == '\n';
    if (dlen > 0 && data[dlen - 1] != '\n')
        lines++; /*  a last line without its newline  */
    uint64_t mine = lines / (uint64_t) N + ((uint64_t) me < lines % (uint64_t) N);
    int32_t shape[5] = { m->cfg.layers, m->cfg.dim, m->cfg.heads, m->cfg.ctx, o->max_new };
    uint64_t key = s_fnv (0xcbf29ce484222325ULL, "strata-twin-infer/1", 19);
    key = s_fnv (key, shape, sizeof shape);
    key = s_fnv (key, m->params, m->n_params * sizeof (float));
    key = s_fnv (key, data, dlen);
    fprintf (errf,
             S_NAME ": %s: %d layers, dim %d, %d heads, ctx %d, step %llu; shard %d of %d: %llu of %llu lines\n",
             ckpt, m->cfg.layers, m->cfg.dim, m->cfg.heads, m->cfg.ctx, (unsigned long long) meta.step, me, N,
             (unsigned long long) mine, (unsigned long long) lines);

    size_t plen = strlen (o->out) + 64;
    char *tmp = malloc (plen), *fin = malloc (plen), header[256];
    uint8_t *cont = malloc ((size_t) o->max_new + 1);
    FILE *w = NULL;
    int fd = -1;
    uint64_t done_items = 0;
    double rate = 0;
    if (!tmp || !fin || !cont) {
        fprintf (errf, S_NAME ": out of memory\n");
        rc = 1;
        goto done;
    }
    s_shard_path (tmp, plen, o->out, me, N, 1);
    s_shard_path (fin, plen, o->out, me, N, 0);
    fd = s_open_locked (tmp);
    if (fd == -2) {
        rc = TWIN_EXIT_PREEMPTED;
        goto done;
    }
    if (fd < 0 || ftruncate (fd, 0) != 0 || !(w = fdopen (fd, "wb"))) {
        fprintf (errf, S_NAME ": cannot create %s: %s\n", tmp, strerror (errno));
        if (fd >= 0)
            unlink (tmp);
        rc = 1;
        goto done;
    }
    fd = -1; /*  w owns it (and the lock)  */
    s_header (header, sizeof header, me, N, lines, key);
    if (fputs (header, w) == EOF) {
        rc = 1;
        goto written;
    }

    double t0 = twin_now (), last = t0;
    const uint8_t *p = data, *end = data + dlen;
    for (uint64_t k = 0; k < lines && !twin_stop_requested; k++) {
        const uint8_t *eol = memchr (p, '\n', (size_t) (end - p));
        size_t len = eol ? (size_t) (eol - p) : (size_t) (end - p);
        const uint8_t *line = p;
        p += len + (eol ? 1 : 0);
        if (k % (uint64_t) N != (uint64_t) me)
            continue;
        double nll = twin_infer_nll (m, line, len);
        if (twin_infer_greedy (m, line, len, o->max_new, cont) < 0) {
            fprintf (errf, S_NAME ": out of memory\n");
            rc = 1;
            break;
        }
        if (twin_stop_requested)
            break;
        char *js = s_json_line (k + 1, len, exp (nll), cont, o->max_new);
        if (!js || fputs (js, w) == EOF) {
            if (!js)
                errno = ENOMEM;
            free (js);
            rc = 1;
            break;
        }
        free (js);
        done_items++;
        double now = twin_now ();
        if (o->progress && now - last >= S_PROGRESS_S) {
            o->progress (o->progress_arg, done_items, mine, (double) done_items / (now - t0));
            last = now;
        }
    }
    double dt = twin_now () - t0;
    rate = dt > 0 ? (double) done_items / dt : 0.0;
written:
    /*  A signal after the last line lets the shard finish.  */
    if (rc == 0 && twin_stop_requested && done_items < mine) {
        fprintf (errf, S_NAME ": stopped by signal after %llu of %llu lines; nothing written; exit %d (requeue me)\n",
                 (unsigned long long) done_items, (unsigned long long) mine, TWIN_EXIT_PREEMPTED);
        rc = TWIN_EXIT_PREEMPTED;
    }
    if (rc == 0
        && (fflush (w) != 0 || fsync (fileno (w)) != 0 || rename (tmp, fin) != 0 || s_fsync_dir_of (fin) != 0))
        rc = 1;
    if (rc == 1)
        fprintf (errf, S_NAME ": cannot write %s: %s\n", tmp, strerror (errno));
    if (rc != 0)
        unlink (tmp); /*  we hold its lock: it is ours  */
    fclose (w);       /*  releases the lock  */
    w = NULL;
    if (rc != 0)
        goto done;
    fprintf (errf, S_NAME ": wrote %s\n", fin);
    if (o->progress)
        o->progress (o->progress_arg, done_items, mine, rate);
    fprintf (out, "items %llu items_per_s %.1f\n", (unsigned long long) done_items, rate);
    fflush (out);
    s_run_t r = { o, lines, key, errf };
    rc = s_merge (&r);
done:
    if (w)
        fclose (w);
    free (tmp);
    free (fin);
    free (cont);
    free (data);
    twin_model_free (m);
    return rc;
}
