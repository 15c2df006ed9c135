/*  st_token.h: API tokens, the bearer secrets that say who sends a client request.
 *
 *  A token is "strata_" followed by 43 characters of URL-safe base64: 256 bits
 *  from libsodium's randombytes_buf (the kernel's CSPRNG). The prefix makes a
 *  token recognisable in a leaked file or a log, for scanners and for people.
 *  The scheduler keeps only the SHA-256 of a token (crypto_hash_sha256): a
 *  token is random and long, so nobody can guess one to test against the hash,
 *  and no salt or slow KDF is needed (those protect low-entropy passwords).
 *  Hashes are compared in constant time (crypto_verify_32).
 *
 *  A token given by an operator (the bootstrap file) need not be one Strata
 *  made: any 32-256 characters of letters, digits and "._~+/=-" are accepted,
 *  so `openssl rand -hex 32` works too. */
#ifndef ST_TOKEN_H
#define ST_TOKEN_H

#include <stddef.h>
#include <stdint.h>
#include "st_error.h"

#define ST_TOKEN_PREFIX "strata_"
#define ST_TOKEN_RANDOM_BYTES 32 /*  256 bits  */
#define ST_TOKEN_HASH_BYTES 32   /*  SHA-256  */
#define ST_TOKEN_MIN_LEN 32      /*  shortest token accepted: 32 base64 characters carry 192 bits  */
#define ST_TOKEN_MAX_LEN 256     /*  longest token accepted  */
#define ST_TOKEN_TEXT_SIZE 64    /*  a generated token with its NUL: 7 + 43 + 1, rounded up  */

/*  Initialises libsodium (once; thread-safe). Returns 0, or -1 when it cannot
 *  (no source of randomness).  */
int st_token_init (void);

/*  Writes a new random token into out (size >= ST_TOKEN_TEXT_SIZE). Returns
 *  ST_OK, or ST_EIO when libsodium could not be initialised.  */
st_rc_t st_token_generate (char *out, size_t size);

/*  The SHA-256 of the token's len bytes.  */
void st_token_hash (const char *token, size_t len, uint8_t hash[ST_TOKEN_HASH_BYTES]);

/*  1 when the two hashes are equal, compared in constant time; 0 otherwise.  */
int st_token_hash_equal (const uint8_t a[ST_TOKEN_HASH_BYTES], const uint8_t b[ST_TOKEN_HASH_BYTES]);

/*  1 when token's len bytes look like a token: ST_TOKEN_MIN_LEN..ST_TOKEN_MAX_LEN
 *  characters of letters, digits and "._~+/=-" (so never a NUL, a control
 *  character, a space or a byte that is not ASCII). 0 otherwise.  */
int st_token_well_formed (const char *token, size_t len);

/*  Reads a token from a file that only its owner may read: refuses (ST_EINVAL,
 *  with a hint naming chmod) a file readable or writable by group or others,
 *  and (ST_EINVAL) one whose content, less one trailing newline, is not a
 *  well-formed token. out must hold ST_TOKEN_MAX_LEN + 1 bytes. A missing file
 *  is ST_ENOTFOUND.  */
st_rc_t st_token_read_file (const char *path, char *out, size_t size, st_error_t *err);

#endif
