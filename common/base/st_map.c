/*  st_map.c: chained hash map, FNV-1a hashing, power-of-two bucket count that
 *  doubles when the load passes 1.  */
#include "st_map.h"

#include <stdlib.h>
#include <string.h>

typedef struct s_entry {
    struct s_entry *next;
    uint64_t hash;
    void *value;
    size_t len;
    unsigned char key[];
} s_entry_t;

struct st_map {
    s_entry_t **buckets;
    size_t nbuckets; /*  power of two  */
    size_t size;
};

static uint64_t
s_hash (const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

st_map_t *
st_map_new (void)
{
    st_map_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->nbuckets = 64;
    self->buckets = calloc (self->nbuckets, sizeof *self->buckets);
    if (!self->buckets) {
        free (self);
        return NULL;
    }
    return self;
}

void
st_map_destroy (st_map_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    st_map_t *self = *self_p;
    for (size_t i = 0; i < self->nbuckets; i++)
        for (s_entry_t *e = self->buckets[i], *next; e; e = next) {
            next = e->next;
            free (e);
        }
    free (self->buckets);
    free (self);
    *self_p = NULL;
}

static s_entry_t **
s_slot (const st_map_t *self, const void *key, size_t len, uint64_t hash)
{
    s_entry_t **pp = &self->buckets[hash & (self->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == hash && (*pp)->len == len && memcmp ((*pp)->key, key, len) == 0)
            break;
    return pp;
}

void *
st_map_get (const st_map_t *self, const void *key, size_t len)
{
    s_entry_t *e = *s_slot (self, key, len, s_hash (key, len));
    return e ? e->value : NULL;
}

static void
s_grow (st_map_t *self)
{
    size_t n = self->nbuckets * 2;
    s_entry_t **b = calloc (n, sizeof *b);
    if (!b)
        return; /*  stay at the current size: slower, still correct  */
    for (size_t i = 0; i < self->nbuckets; i++)
        for (s_entry_t *e = self->buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    free (self->buckets);
    self->buckets = b;
    self->nbuckets = n;
}

int
st_map_put (st_map_t *self, const void *key, size_t len, void *value)
{
    uint64_t h = s_hash (key, len);
    s_entry_t **pp = s_slot (self, key, len, h);
    if (*pp) {
        (*pp)->value = value;
        return 0;
    }
    s_entry_t *e = malloc (sizeof *e + len);
    if (!e)
        return -1;
    e->next = NULL;
    e->hash = h;
    e->value = value;
    e->len = len;
    memcpy (e->key, key, len);
    *pp = e;
    if (++self->size > self->nbuckets)
        s_grow (self);
    return 0;
}

void *
st_map_remove (st_map_t *self, const void *key, size_t len)
{
    s_entry_t **pp = s_slot (self, key, len, s_hash (key, len));
    s_entry_t *e = *pp;
    if (!e)
        return NULL;
    void *v = e->value;
    *pp = e->next;
    free (e);
    self->size--;
    return v;
}

size_t
st_map_size (const st_map_t *self)
{
    return self->size;
}

void
st_map_foreach (const st_map_t *self, void (*fn) (void *value, void *arg), void *arg)
{
    for (size_t i = 0; i < self->nbuckets; i++)
        for (s_entry_t *e = self->buckets[i]; e; e = e->next)
            fn (e->value, arg);
}
