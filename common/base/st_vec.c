/*  st_vec.c: capped doubling growth for the arrays of every part.
 *  The first allocation holds 16 elements (fewer when max is smaller).  */
#include "st_vec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S_FIRST 16

static void *(*s_realloc) (void *p, size_t size) = realloc;

void
st_vec_set_realloc (void *(*fn) (void *p, size_t size))
{
    s_realloc = fn ? fn : realloc;
}

st_rc_t
st_vec_reserve (void **arr, size_t *cap, size_t need, size_t elem, size_t max)
{
    if (need <= *cap)
        return ST_OK;
    if (need > max || elem == 0 || need > SIZE_MAX / elem)
        return ST_ETOOBIG;
    size_t n = *cap ? *cap : S_FIRST;
    while (n < need)
        n = n > SIZE_MAX / 2 ? SIZE_MAX : n * 2;
    if (n > max)
        n = max;
    if (n > SIZE_MAX / elem)
        n = need;
    void *p = s_realloc (*arr, n * elem);
    if (!p)
        return ST_ENOMEM;
    *arr = p;
    *cap = n;
    return ST_OK;
}

st_rc_t
st_vec_push (void **arr, size_t *n, size_t *cap, size_t elem, size_t max, const void *item)
{
    if (*n == SIZE_MAX)
        return ST_ETOOBIG;
    st_rc_t rc = st_vec_reserve (arr, cap, *n + 1, elem, max);
    if (rc != ST_OK)
        return rc;
    memcpy ((char *) *arr + *n * elem, item, elem);
    (*n)++;
    return ST_OK;
}
