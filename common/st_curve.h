/*  st_curve.h: CURVE keys, and the allow-list that decides who may connect.
 *
 *  With CURVE on, the scheduler's sockets encrypt everything and accept only the
 *  public keys an administrator enrolled: one file NAME.pub per worker (NAME is the
 *  only node name that key may register) or per user in a keys folder. The ZAP
 *  handler here answers libzmq's authentication requests from the scheduler's loop
 *  and tags each accepted connection with NAME, which arrives with every message
 *  as its User-Id (st_peer_t.user_id).
 *
 *  Key files are text:
 *      NAME.key (mode 0600)   public-key = <40 Z85 chars>
 *                             secret-key = <40 Z85 chars>
 *      NAME.pub               public-key = <40 Z85 chars>
 *                             pool = POOL        (a worker's: optional, see below)
 *  `strata keygen NAME [--pool POOL]` writes both.
 *
 *  A worker key is enrolled for one node and one pool: the only pool its node may
 *  register in is the .pub file's `pool` line, and a .pub without one binds the
 *  key to pool `default` (the pool of a worker that names none), never to any
 *  pool, so a key enrolled before pools were bound cannot claim a restricted one. */
#ifndef ST_CURVE_H
#define ST_CURVE_H

#include <stdint.h>
#include "st_error.h"

#define ST_CURVE_KEY_LEN 40
#define ST_CURVE_POOL_MAX 128 /*  a pool name: 1-128 of [A-Za-z0-9._-], as a worker's --pool  */
#define ST_CURVE_DEFAULT_POOL "default"

typedef struct {
    char public_key[ST_CURVE_KEY_LEN + 1];
    char secret_key[ST_CURVE_KEY_LEN + 1]; /*  "" when loaded from a .pub file  */
    char pool[ST_CURVE_POOL_MAX + 1];      /*  the file's `pool` line; "" when it has none  */
} st_curve_keys_t;

/*  Writes base.key (mode 0600) and base.pub; refuses to overwrite either.  */
st_rc_t st_curve_generate (const char *base, st_error_t *err);
/*  The same, with pool (NULL: none) written into both files as `pool = POOL`:
 *  the pool a worker key is enrolled for. Refuses a pool that is not a valid name.  */
st_rc_t st_curve_generate_pool (const char *base, const char *pool, st_error_t *err);

/*  1 when name is a valid pool name (1-128 of letters, digits, '.', '_', '-').  */
int st_curve_pool_ok (const char *name);

/*  Reads a .key or .pub file. need_secret: a secret key must be present.  */
st_rc_t st_curve_load (const char *path, st_curve_keys_t *keys, int need_secret, st_error_t *err);

/*  Makes sock a CURVE server with keys, its connections checked in ZAP domain.  */
st_rc_t st_curve_server (void *sock, const st_curve_keys_t *keys, const char *domain, st_error_t *err);

/*  Makes sock a CURVE client with its own keys, trusting only server_public.  */
st_rc_t st_curve_client (void *sock, const st_curve_keys_t *own, const char *server_public, st_error_t *err);

typedef struct st_zap st_zap_t;

/*  Binds the ZAP handler (inproc://zeromq.zap.01) in zctx; one per context,
 *  before any CURVE server socket binds.  */
st_zap_t *st_zap_new (void *zctx, st_error_t *err);
void st_zap_destroy (st_zap_t **self_p);

/*  Enrols every NAME.pub in dir for domain. Returns ST_OK with *count set.  */
st_rc_t st_zap_allow_dir (st_zap_t *self, const char *domain, const char *dir, int *count, st_error_t *err);

/*  The pool that the key enrolled as name in domain is bound to: its .pub file's
 *  `pool` line, else ST_CURVE_DEFAULT_POOL. NULL when no key is enrolled as name.  */
const char *st_zap_pool_of (const st_zap_t *self, const char *domain, const char *name);

/*  How many keys enrolled in domain have no `pool` line (bound to the default pool).  */
size_t st_zap_without_pool (const st_zap_t *self, const char *domain);

/*  Lets domain accept any CURVE client key (traffic is still encrypted).  */
void st_zap_allow_any (st_zap_t *self, const char *domain);

/*  The REP socket to poll for requests.  */
void *st_zap_socket (st_zap_t *self);

/*  Answers every waiting request without blocking; logs and counts refusals.  */
void st_zap_handle (st_zap_t *self);

uint64_t st_zap_refused (const st_zap_t *self);

#endif
