/*  st_curve.c: CURVE keys and the ZAP allow-list (ZeroMQ RFC 27).  */
#include "st_curve.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "st_log.h"
#include "st_vec.h"

#define ST_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ST_ZAP_MAX_KEYS 100000
#define ST_ZAP_MAX_DOMAINS 8

static int
s_valid_z85 (const char *key)
{
    static const char alphabet[] =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    if (strlen (key) != ST_CURVE_KEY_LEN)
        return 0;
    for (const char *p = key; *p; p++)
        if (!strchr (alphabet, *p))
            return 0;
    uint8_t bin[32];
    return zmq_z85_decode (bin, key) != NULL;
}

static st_rc_t
s_write_file (const char *path, mode_t mode, const char *text, st_error_t *err)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return st_error_set (err, ST_EIO, NULL, "%s: %s", path, strerror (errno));
    size_t len = strlen (text);
    ssize_t n = write (fd, text, len);
    int ok = n == (ssize_t) len && fsync (fd) == 0;
    int e = errno;
    if (close (fd) != 0)
        ok = 0;
    if (!ok) {
        unlink (path);
        return st_error_set (err, ST_EIO, NULL, "%s: %s", path, strerror (e));
    }
    return ST_OK;
}

int
st_curve_pool_ok (const char *name)
{
    size_t len = name ? strlen (name) : 0;
    if (len == 0 || len > ST_CURVE_POOL_MAX)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.'
              || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

st_rc_t
st_curve_generate (const char *base, st_error_t *err)
{
    return st_curve_generate_pool (base, NULL, err);
}

st_rc_t
st_curve_generate_pool (const char *base, const char *pool, st_error_t *err)
{
    if (pool && !st_curve_pool_ok (pool)) {
        st_error_set (err, ST_EINVAL, NULL, "pool \"%.200s\" is not a valid pool name", pool);
        st_error_hint (err, "a pool name is 1-128 characters of letters, digits, '.', '_' or '-'");
        return ST_EINVAL;
    }
    char pub[ST_CURVE_KEY_LEN + 1], sec[ST_CURVE_KEY_LEN + 1];
    if (zmq_curve_keypair (pub, sec) != 0)
        return st_error_set (err, ST_EIO, NULL, "cannot generate a key pair: %s", zmq_strerror (errno));
    char keypath[4096], pubpath[4096], text[1024], pool_line[ST_CURVE_POOL_MAX + 16] = "";
    const char *name = strrchr (base, '/') ? strrchr (base, '/') + 1 : base;
    if (snprintf (keypath, sizeof keypath, "%s.key", base) >= (int) sizeof keypath
        || snprintf (pubpath, sizeof pubpath, "%s.pub", base) >= (int) sizeof pubpath)
        return st_error_set (err, ST_EINVAL, NULL, "path too long: %s", base);
    if (access (keypath, F_OK) == 0 || access (pubpath, F_OK) == 0)
        return st_error_set (err, ST_ECONFLICT, NULL, "%s.key or %s.pub already exists; not overwriting it", base,
                             base);
    if (pool)
        snprintf (pool_line, sizeof pool_line, "pool = %s\n", pool);
    snprintf (text, sizeof text,
              "# Strata CURVE key pair of %.200s. Keep this file secret (mode 0600).\npublic-key = %s\nsecret-key = "
              "%s\n%s",
              name, pub, sec, pool_line);
    st_rc_t rc = s_write_file (keypath, 0600, text, err);
    if (rc != ST_OK)
        return rc;
    snprintf (text, sizeof text,
              "# Strata CURVE public key of %.200s. Enrol it by copying this file into the scheduler's\n"
              "# --worker-keys folder (a worker: the file name must be its node name%s) or --client-keys folder.\n"
              "public-key = %s\n%s",
              name, pool ? ", and it may register only in the pool below" : "", pub, pool_line);
    rc = s_write_file (pubpath, 0644, text, err);
    if (rc != ST_OK)
        unlink (keypath);
    memset (sec, 0, sizeof sec);
    memset (text, 0, sizeof text);
    return rc;
}

st_rc_t
st_curve_load (const char *path, st_curve_keys_t *keys, int need_secret, st_error_t *err)
{
    memset (keys, 0, sizeof *keys);
    FILE *f = fopen (path, "re");
    if (!f)
        return st_error_set (err, ST_EIO, NULL, "%s: %s", path, strerror (errno));
    char line[512];
    int lineno = 0;
    st_rc_t rc = ST_OK;
    while (fgets (line, sizeof line, f)) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\0')
            continue;
        char name[32], value[ST_CURVE_POOL_MAX + 2];
        if (sscanf (p, "%31[a-z-] = %129s", name, value) != 2) {
            rc = st_error_set (err, ST_EINVAL, NULL,
                               "%s: line %d: expected \"public-key = ...\" or \"secret-key = ...\"", path, lineno);
            goto out;
        }
        if (strcmp (name, "pool") == 0) {
            if (!st_curve_pool_ok (value)) {
                rc = st_error_set (err, ST_EINVAL, NULL,
                                   "%s: line %d: pool must be 1-128 characters of letters, digits, '.', '_' or '-'",
                                   path, lineno);
                goto out;
            }
            snprintf (keys->pool, sizeof keys->pool, "%s", value);
            continue;
        }
        char *dst = strcmp (name, "public-key") == 0   ? keys->public_key
                    : strcmp (name, "secret-key") == 0 ? keys->secret_key
                                                       : NULL;
        if (!dst) {
            rc = st_error_set (err, ST_EINVAL, NULL, "%s: line %d: unknown entry \"%s\"", path, lineno, name);
            goto out;
        }
        if (!s_valid_z85 (value)) {
            rc = st_error_set (err, ST_EINVAL, NULL, "%s: line %d: %s is not a 40-character Z85 key", path, lineno,
                               name);
            goto out;
        }
        memcpy (dst, value, ST_CURVE_KEY_LEN + 1);
    }
    if (!keys->public_key[0])
        rc = st_error_set (err, ST_EINVAL, NULL, "%s: no public-key", path);
    else if (need_secret && !keys->secret_key[0]) {
        rc = st_error_set (err, ST_EINVAL, NULL, "%s: no secret-key", path);
        st_error_hint (err, "give the NAME.key file written by `strata keygen NAME`, not NAME.pub");
    }
    else if (need_secret) {
        /*  The public key must belong to the secret one.  */
        char derived[ST_CURVE_KEY_LEN + 1];
        if (zmq_curve_public (derived, keys->secret_key) != 0 || strcmp (derived, keys->public_key) != 0)
            rc = st_error_set (err, ST_EINVAL, NULL, "%s: public-key does not match secret-key", path);
    }
out:
    fclose (f);
    if (rc != ST_OK)
        memset (keys, 0, sizeof *keys);
    return rc;
}

st_rc_t
st_curve_server (void *sock, const st_curve_keys_t *keys, const char *domain, st_error_t *err)
{
    int one = 1;
    if (zmq_setsockopt (sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0
        || zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, keys->secret_key, ST_CURVE_KEY_LEN) != 0
        || zmq_setsockopt (sock, ZMQ_ZAP_DOMAIN, domain, strlen (domain)) != 0)
        return st_error_set (err, ST_EIO, NULL, "cannot enable CURVE: %s", zmq_strerror (errno));
    return ST_OK;
}

st_rc_t
st_curve_client (void *sock, const st_curve_keys_t *own, const char *server_public, st_error_t *err)
{
    if (zmq_setsockopt (sock, ZMQ_CURVE_SERVERKEY, server_public, ST_CURVE_KEY_LEN) != 0
        || zmq_setsockopt (sock, ZMQ_CURVE_PUBLICKEY, own->public_key, ST_CURVE_KEY_LEN) != 0
        || zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, own->secret_key, ST_CURVE_KEY_LEN) != 0)
        return st_error_set (err, ST_EIO, NULL, "cannot enable CURVE: %s", zmq_strerror (errno));
    return ST_OK;
}

/*  -- the allow-list -------------------------------------------------------- */

typedef struct {
    uint8_t key[32];
    char name[64];
    char pool[ST_CURVE_POOL_MAX + 1]; /*  its .pub file's pool line; "": none (the default pool)  */
} s_entry_t;

typedef struct {
    char name[32];
    int any; /*  every key is welcome (encryption only)  */
    s_entry_t *keys;
    size_t nkeys, capkeys;
} s_domain_t;

struct st_zap {
    void *sock;
    s_domain_t domains[ST_ZAP_MAX_DOMAINS];
    size_t ndomains;
    uint64_t refused;
};

st_zap_t *
st_zap_new (void *zctx, st_error_t *err)
{
    st_zap_t *self = calloc (1, sizeof *self);
    if (!self) {
        st_error_set (err, ST_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    self->sock = zmq_socket (zctx, ZMQ_REP);
    int zero = 0;
    if (!self->sock || zmq_setsockopt (self->sock, ZMQ_LINGER, &zero, sizeof zero) != 0
        || zmq_bind (self->sock, ST_ZAP_ENDPOINT) != 0) {
        st_error_set (err, ST_EIO, NULL, "cannot start the authentication handler: %s", zmq_strerror (errno));
        if (self->sock)
            zmq_close (self->sock);
        free (self);
        return NULL;
    }
    return self;
}

void
st_zap_destroy (st_zap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    st_zap_t *self = *self_p;
    zmq_close (self->sock);
    for (size_t i = 0; i < self->ndomains; i++) {
        /*  Public keys are not secret, but leave no copies around anyway.  */
        if (self->domains[i].keys)
            memset (self->domains[i].keys, 0, self->domains[i].nkeys * sizeof (s_entry_t));
        free (self->domains[i].keys);
    }
    free (self);
    *self_p = NULL;
}

static s_domain_t *
s_domain (st_zap_t *self, const char *name, int create)
{
    for (size_t i = 0; i < self->ndomains; i++)
        if (strcmp (self->domains[i].name, name) == 0)
            return &self->domains[i];
    if (!create || self->ndomains == ST_ZAP_MAX_DOMAINS)
        return NULL;
    s_domain_t *d = &self->domains[self->ndomains++];
    snprintf (d->name, sizeof d->name, "%s", name);
    return d;
}

void
st_zap_allow_any (st_zap_t *self, const char *domain)
{
    s_domain_t *d = s_domain (self, domain, 1);
    if (d)
        d->any = 1;
}

st_rc_t
st_zap_allow_dir (st_zap_t *self, const char *domain, const char *dir, int *count, st_error_t *err)
{
    *count = 0;
    s_domain_t *d = s_domain (self, domain, 1);
    if (!d)
        return st_error_set (err, ST_EINVAL, NULL, "too many authentication domains");
    DIR *dh = opendir (dir);
    if (!dh)
        return st_error_set (err, ST_EIO, NULL, "%s: %s", dir, strerror (errno));
    st_rc_t rc = ST_OK;
    struct dirent *de;
    while ((de = readdir (dh)) != NULL) {
        size_t len = strlen (de->d_name);
        if (de->d_name[0] == '.' || len <= 4 || strcmp (de->d_name + len - 4, ".pub") != 0)
            continue;
        if (len - 4 >= sizeof d->keys[0].name) {
            rc = st_error_set (err, ST_EINVAL, NULL, "%s/%s: name too long", dir, de->d_name);
            break;
        }
        char path[4096];
        snprintf (path, sizeof path, "%s/%s", dir, de->d_name);
        st_curve_keys_t keys;
        if ((rc = st_curve_load (path, &keys, 0, err)) != ST_OK)
            break;
        if (d->nkeys == ST_ZAP_MAX_KEYS) {
            rc = st_error_set (err, ST_EINVAL, NULL, "%s: more than %d keys", dir, ST_ZAP_MAX_KEYS);
            break;
        }
        if (st_vec_reserve ((void **) &d->keys, &d->capkeys, d->nkeys + 1, sizeof *d->keys, ST_ZAP_MAX_KEYS)
            != ST_OK) {
            rc = st_error_set (err, ST_ENOMEM, NULL, "out of memory");
            break;
        }
        s_entry_t *e = &d->keys[d->nkeys++];
        zmq_z85_decode (e->key, keys.public_key);
        snprintf (e->name, sizeof e->name, "%.*s", (int) (len - 4), de->d_name);
        memcpy (e->pool, keys.pool, sizeof e->pool);
        (*count)++;
    }
    closedir (dh);
    return rc;
}

const char *
st_zap_pool_of (const st_zap_t *self, const char *domain, const char *name)
{
    const s_domain_t *d = s_domain ((st_zap_t *) self, domain, 0);
    if (!d)
        return NULL;
    for (size_t i = 0; i < d->nkeys; i++)
        if (strcmp (d->keys[i].name, name) == 0)
            return d->keys[i].pool[0] ? d->keys[i].pool : ST_CURVE_DEFAULT_POOL;
    return NULL;
}

size_t
st_zap_without_pool (const st_zap_t *self, const char *domain)
{
    const s_domain_t *d = s_domain ((st_zap_t *) self, domain, 0);
    size_t n = 0;
    for (size_t i = 0; d && i < d->nkeys; i++)
        n += d->keys[i].pool[0] == '\0';
    return n;
}

void *
st_zap_socket (st_zap_t *self)
{
    return self->sock;
}

uint64_t
st_zap_refused (const st_zap_t *self)
{
    return self->refused;
}

/*  Receives one request of up to 8 frames; returns the frame count, 0 when none waits.  */
static int
s_recv_request (void *sock, zmq_msg_t *frames, int max)
{
    int n = 0;
    for (;;) {
        zmq_msg_init (&frames[n]);
        if (zmq_msg_recv (&frames[n], sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close (&frames[n]);
            return n;
        }
        int more = zmq_msg_more (&frames[n]);
        if (n < max - 1)
            n++;
        else
            zmq_msg_close (&frames[n]); /*  too many: keep reading, drop the extras  */
        if (!more)
            return n;
    }
}

static void
s_send (void *sock, const void *data, size_t len, int more)
{
    zmq_send (sock, data, len, more ? ZMQ_SNDMORE : 0);
}

void
st_zap_handle (st_zap_t *self)
{
    for (;;) {
        zmq_msg_t f[8];
        int n = s_recv_request (self->sock, f, 8);
        if (n == 0)
            return;
        /*  version, request id, domain, address, identity, mechanism, credentials...  */
        const char *status = "400", *text = "malformed request";
        char user[64] = "", domain[32] = "", address[64] = "";
        if (n >= 7 && zmq_msg_size (&f[0]) == 3 && memcmp (zmq_msg_data (&f[0]), "1.0", 3) == 0) {
            snprintf (domain, sizeof domain, "%.*s", (int) zmq_msg_size (&f[2]), (char *) zmq_msg_data (&f[2]));
            snprintf (address, sizeof address, "%.*s", (int) zmq_msg_size (&f[3]), (char *) zmq_msg_data (&f[3]));
            int curve = zmq_msg_size (&f[5]) == 5 && memcmp (zmq_msg_data (&f[5]), "CURVE", 5) == 0;
            s_domain_t *d = s_domain (self, domain, 0);
            text = "key not enrolled";
            if (curve && d && zmq_msg_size (&f[6]) == 32) {
                const uint8_t *key = zmq_msg_data (&f[6]);
                for (size_t i = 0; i < d->nkeys; i++)
                    if (memcmp (d->keys[i].key, key, 32) == 0) {
                        snprintf (user, sizeof user, "%s", d->keys[i].name);
                        break;
                    }
                if (user[0] || d->any) {
                    status = "200";
                    text = "OK";
                }
            }
            else if (!curve)
                text = "CURVE required";
        }
        if (strcmp (status, "200") != 0) {
            self->refused++;
            st_warn ("refused connection from %s to the %s socket: %s (refused_keys=%" PRIu64 ")",
                     address[0] ? address : "?", domain[0] ? domain : "?", text, self->refused);
        }
        s_send (self->sock, "1.0", 3, 1);
        if (n >= 2)
            s_send (self->sock, zmq_msg_data (&f[1]), zmq_msg_size (&f[1]), 1);
        else
            s_send (self->sock, "", 0, 1);
        s_send (self->sock, status, 3, 1);
        s_send (self->sock, text, strlen (text), 1);
        s_send (self->sock, user, strlen (user), 1);
        s_send (self->sock, "", 0, 0);
        for (int i = 0; i < n; i++)
            zmq_msg_close (&f[i]);
    }
}
