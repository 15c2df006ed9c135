/*  st_map.h: a hash map from byte-string keys to pointers.
 *  Keys are copied; values are borrowed (the map never frees them).
 *  Used for jobs by id (8-byte keys) and nodes by name. */
#ifndef ST_MAP_H
#define ST_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_map st_map_t;

st_map_t *st_map_new (void);
void st_map_destroy (st_map_t **self_p); /*  NULL-safe; frees entries, not values  */

void *st_map_get (const st_map_t *self, const void *key, size_t len);
/*  Inserts or replaces. Returns 0, or -1 when out of memory.  */
int st_map_put (st_map_t *self, const void *key, size_t len, void *value);
/*  Removes and returns the value, or NULL if absent.  */
void *st_map_remove (st_map_t *self, const void *key, size_t len);
size_t st_map_size (const st_map_t *self);

/*  Calls fn for every entry, in no particular order. fn must not change the map.  */
void st_map_foreach (const st_map_t *self, void (*fn) (void *value, void *arg), void *arg);

/*  Conveniences for the two key kinds Strata uses.  */
static inline void *
st_map_get_u64 (const st_map_t *m, uint64_t k)
{
    return st_map_get (m, &k, sizeof k);
}
static inline int
st_map_put_u64 (st_map_t *m, uint64_t k, void *v)
{
    return st_map_put (m, &k, sizeof k, v);
}
static inline void *
st_map_remove_u64 (st_map_t *m, uint64_t k)
{
    return st_map_remove (m, &k, sizeof k);
}

#endif
