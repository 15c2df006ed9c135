/*  st_token.c: API tokens: made by libsodium, kept as SHA-256, compared in constant time.  */
#include "st_token.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
st_token_init (void)
{
    /*  0: initialised now, 1: already; -1: failed.  */
    return sodium_init () < 0 ? -1 : 0;
}

st_rc_t
st_token_generate (char *out, size_t size)
{
    if (size < ST_TOKEN_TEXT_SIZE || st_token_init () != 0)
        return ST_EIO;
    unsigned char raw[ST_TOKEN_RANDOM_BYTES];
    randombytes_buf (raw, sizeof raw);
    size_t at = strlen (ST_TOKEN_PREFIX);
    memcpy (out, ST_TOKEN_PREFIX, at);
    sodium_bin2base64 (out + at, size - at, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero (raw, sizeof raw);
    return ST_OK;
}

void
st_token_hash (const char *token, size_t len, uint8_t hash[ST_TOKEN_HASH_BYTES])
{
    crypto_hash_sha256 (hash, (const unsigned char *) token, len);
}

int
st_token_hash_equal (const uint8_t a[ST_TOKEN_HASH_BYTES], const uint8_t b[ST_TOKEN_HASH_BYTES])
{
    return crypto_verify_32 (a, b) == 0;
}

int
st_token_well_formed (const char *token, size_t len)
{
    if (!token || len < ST_TOKEN_MIN_LEN || len > ST_TOKEN_MAX_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) token[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr ("._~+/=-", c))
            || c == '\0')
            return 0;
    }
    return 1;
}

st_rc_t
st_token_read_file (const char *path, char *out, size_t size, st_error_t *err)
{
    st_rc_t rc = ST_OK;
    char buf[ST_TOKEN_MAX_LEN + 2];
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return st_error_set (err, ST_ENOTFOUND, NULL, "token file %s does not exist", path);
        return st_error_set (err, ST_EIO, NULL, "cannot open token file %s: %s", path, strerror (errno));
    }
    struct stat st;
    if (fstat (fd, &st) != 0) {
        rc = st_error_set (err, ST_EIO, NULL, "cannot stat token file %s: %s", path, strerror (errno));
        goto out;
    }
    if (!S_ISREG (st.st_mode)) {
        rc = st_error_set (err, ST_EINVAL, NULL, "token file %s is not a regular file", path);
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        rc = st_error_set (err, ST_EINVAL, NULL, "token file %s is accessible by group or others (mode %04o)", path,
                           (unsigned) (st.st_mode & 07777));
        st_error_hint (err, "a token is a password: chmod 600 %s", path);
        goto out;
    }
    ssize_t n = read (fd, buf, sizeof buf);
    if (n < 0) {
        rc = st_error_set (err, ST_EIO, NULL, "cannot read token file %s: %s", path, strerror (errno));
        goto out;
    }
    size_t len = (size_t) n;
    if (len && buf[len - 1] == '\n')
        len--;
    if (len && buf[len - 1] == '\r')
        len--;
    if (!st_token_well_formed (buf, len) || len + 1 > size) {
        rc = st_error_set (err, ST_EINVAL, NULL,
                           "token file %s does not hold a token: %d-%d characters of letters, digits and \"._~+/=-\" "
                           "on one line are expected",
                           path, ST_TOKEN_MIN_LEN, ST_TOKEN_MAX_LEN);
        st_error_hint (err, "make one with `strata admin token create USER`, or `openssl rand -hex 32`");
        goto out;
    }
    memcpy (out, buf, len);
    out[len] = '\0';
out:
    sodium_memzero (buf, sizeof buf);
    close (fd);
    return rc;
}
