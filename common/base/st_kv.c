/*  st_kv.c: ordered string pairs.  */
#include "st_kv.h"

#include <stdlib.h>
#include <string.h>

#include "st_vec.h"

void
st_kv_free (st_kv_t *kv)
{
    if (!kv)
        return;
    for (size_t i = 0; i < kv->n; i++) {
        free (kv->keys[i]);
        if (kv->vals)
            free (kv->vals[i]);
    }
    free (kv->keys);
    free (kv->vals);
    kv->keys = NULL;
    kv->vals = NULL;
    kv->n = 0;
    kv->cap = 0;
}

const char *
st_kv_get (const st_kv_t *kv, const char *key)
{
    if (!kv || !key)
        return NULL;
    for (size_t i = 0; i < kv->n; i++)
        if (strcmp (kv->keys[i], key) == 0)
            return kv->vals[i];
    return NULL;
}

int
st_kv_add (st_kv_t *kv, const char *key, const char *val)
{
    if (!kv || !key)
        return -1;
    char *k = strdup (key);
    char *v = val ? strdup (val) : NULL;
    /*  keys and vals grow together: cap counts what both hold.  */
    size_t kcap = kv->cap, vcap = kv->cap;
    int grown = st_vec_reserve ((void **) &kv->keys, &kcap, kv->n + 1, sizeof *kv->keys, ST_KV_MAX) == ST_OK
                && st_vec_reserve ((void **) &kv->vals, &vcap, kv->n + 1, sizeof *kv->vals, ST_KV_MAX) == ST_OK;
    if (grown)
        kv->cap = kcap < vcap ? kcap : vcap;
    if (!k || (val && !v) || !grown) {
        free (k);
        free (v);
        return -1;
    }
    kv->keys[kv->n] = k;
    kv->vals[kv->n] = v;
    kv->n++;
    return 0;
}
