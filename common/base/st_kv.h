/*  st_kv.h: an ordered list of string pairs (env, labels), or of strings
 *  alone (vals NULL). Keys are not unique unless the caller keeps them so.
 *  Start from { 0 }; st_kv_free empties it. */
#ifndef ST_KV_H
#define ST_KV_H

#include <stddef.h>

#define ST_KV_MAX 65536 /*  pairs in one list: far past any spec or config limit  */

typedef struct {
    char **keys;
    char **vals;
    size_t n;
    size_t cap; /*  room in keys and in vals (st_vec)  */
} st_kv_t;

void st_kv_free (st_kv_t *kv);
/*  Returns the value for key or NULL.  */
const char *st_kv_get (const st_kv_t *kv, const char *key);
/*  Appends copies. Returns 0, or -1 on allocation failure or past ST_KV_MAX.  */
int st_kv_add (st_kv_t *kv, const char *key, const char *val);

#endif
