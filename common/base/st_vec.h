/*  st_vec.h: the one growable array.
 *
 *  An array is three things the caller keeps side by side: a pointer, a count
 *  and a capacity (T *items; size_t nitems, capitems). st_vec_reserve and
 *  st_vec_push grow it by doubling, and every array has a hard maximum the
 *  caller names, as curl's dynbuf does: past it, or when memory runs out, they
 *  return an error and leave the array as it was. They never abort.
 *
 *      if (st_vec_push ((void **) &s->items, &s->nitems, &s->capitems,
 *                       sizeof *s->items, S_ITEMS_MAX, &item) != ST_OK)
 *          return ...;  */
#ifndef ST_VEC_H
#define ST_VEC_H

#include <stddef.h>
#include "st_error.h"

/*  Makes room for need elements of elem bytes. Returns ST_OK; ST_ETOOBIG when
 *  need is past max (or need * elem would not fit a size_t); ST_ENOMEM when
 *  the allocation fails. On error *arr and *cap are unchanged.  */
st_rc_t st_vec_reserve (void **arr, size_t *cap, size_t need, size_t elem, size_t max);

/*  Appends a copy of the elem bytes at item, then counts it in *n.  */
st_rc_t st_vec_push (void **arr, size_t *n, size_t *cap, size_t elem, size_t max, const void *item);

/*  Tests only: the allocator st_vec uses (NULL restores realloc), to reach
 *  the out-of-memory path.  */
void st_vec_set_realloc (void *(*fn) (void *p, size_t size));

#endif
