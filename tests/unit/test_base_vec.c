/*  test_base_vec.c: the capped growable array (st_vec): growth, the cap, and
 *  the out-of-memory path leaving the array as it was.  */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "st_vec.h"

Test (vec, push_grows_and_keeps_order)
{
    int *v = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; i < 1000; i++)
        cr_assert_eq (st_vec_push ((void **) &v, &n, &cap, sizeof *v, 1000, &i), ST_OK, "push %d", i);
    cr_assert_eq (n, 1000);
    cr_assert_geq (cap, 1000);
    cr_assert_leq (cap, 1000, "capacity never passes the cap");
    for (int i = 0; i < 1000; i++)
        cr_assert_eq (v[i], i);
    free (v);
}

Test (vec, cap_refuses_and_keeps_the_array)
{
    uint64_t *v = NULL;
    size_t n = 0, cap = 0;
    for (uint64_t i = 0; i < 20; i++)
        cr_assert_eq (st_vec_push ((void **) &v, &n, &cap, sizeof *v, 20, &i), ST_OK);
    uint64_t *before = v;
    size_t cap_before = cap;
    uint64_t x = 99;
    cr_assert_eq (st_vec_push ((void **) &v, &n, &cap, sizeof *v, 20, &x), ST_ETOOBIG);
    cr_assert_eq (n, 20);
    cr_assert_eq (v, before);
    cr_assert_eq (cap, cap_before);
    for (uint64_t i = 0; i < 20; i++)
        cr_assert_eq (v[i], i);
    free (v);
}

Test (vec, reserve)
{
    char *b = NULL;
    size_t cap = 0;
    cr_assert_eq (st_vec_reserve ((void **) &b, &cap, 0, 1, 10), ST_OK);
    cr_assert_null (b, "nothing needed: nothing allocated");
    cr_assert_eq (st_vec_reserve ((void **) &b, &cap, 5, 1, 10), ST_OK);
    cr_assert_eq (cap, 10, "the first allocation stops at the cap");
    cr_assert_eq (st_vec_reserve ((void **) &b, &cap, 11, 1, 10), ST_ETOOBIG);
    cr_assert_eq (cap, 10);
    free (b);
    b = NULL;
    cap = 0;
    cr_assert_eq (st_vec_reserve ((void **) &b, &cap, 17, 1, 1000), ST_OK);
    cr_assert_eq (cap, 32, "doubling from 16");
    free (b);
    /*  need * elem past SIZE_MAX is refused before any arithmetic wraps.  */
    b = NULL;
    cap = 0;
    cr_assert_eq (st_vec_reserve ((void **) &b, &cap, SIZE_MAX / 2, 4, SIZE_MAX), ST_ETOOBIG);
    cr_assert_null (b);
}

static int s_fail_after;

static void *
s_failing_realloc (void *p, size_t size)
{
    if (s_fail_after-- <= 0)
        return NULL;
    return realloc (p, size);
}

Test (vec, out_of_memory_is_an_error_not_an_abort)
{
    int *v = NULL;
    size_t n = 0, cap = 0;
    s_fail_after = 1; /*  the first allocation works, the second fails  */
    st_vec_set_realloc (s_failing_realloc);
    st_rc_t rc = ST_OK;
    int i = 0;
    for (; i < 100 && rc == ST_OK; i++)
        rc = st_vec_push ((void **) &v, &n, &cap, sizeof *v, 1000, &i);
    st_vec_set_realloc (NULL);
    cr_assert_eq (rc, ST_ENOMEM);
    cr_assert_eq (n, 16, "the first 16 went in");
    cr_assert_eq (cap, 16);
    for (int k = 0; k < 16; k++)
        cr_assert_eq (v[k], k, "what was there survives");
    cr_assert_eq (st_vec_push ((void **) &v, &n, &cap, sizeof *v, 1000, &i), ST_OK, "and it grows again after");
    free (v);
}
