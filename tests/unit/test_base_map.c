/*  test_base_map.c: the hash map under jobs by id and nodes by name.  */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "st_map.h"

Test (map, put_get_replace_remove)
{
    st_map_t *m = st_map_new ();
    cr_assert_not_null (m);
    int a = 1, b = 2;
    cr_assert_eq (st_map_put (m, "w1", 2, &a), 0);
    cr_assert_eq (st_map_get (m, "w1", 2), &a);
    cr_assert_null (st_map_get (m, "w1x", 3), "keys are compared by length too");
    cr_assert_null (st_map_get (m, "w", 1));
    cr_assert_eq (st_map_put (m, "w1", 2, &b), 0);
    cr_assert_eq (st_map_get (m, "w1", 2), &b, "put replaces");
    cr_assert_eq (st_map_size (m), 1);
    cr_assert_eq (st_map_remove (m, "w1", 2), &b);
    cr_assert_null (st_map_remove (m, "w1", 2));
    cr_assert_eq (st_map_size (m), 0);
    st_map_destroy (&m);
    cr_assert_null (m, "destroy clears the caller's pointer");
    st_map_destroy (&m);
}

static void
sum (void *value, void *arg)
{
    *(uint64_t *) arg += *(uint64_t *) value;
}

Test (map, many_u64_keys_survive_growth)
{
    enum { N = 100000 };
    static uint64_t vals[N];
    st_map_t *m = st_map_new ();
    for (uint64_t i = 0; i < N; i++) {
        vals[i] = i;
        cr_assert_eq (st_map_put_u64 (m, i * 7919, &vals[i]), 0);
    }
    cr_assert_eq (st_map_size (m), N);
    for (uint64_t i = 0; i < N; i++)
        cr_assert_eq (st_map_get_u64 (m, i * 7919), &vals[i]);
    uint64_t total = 0;
    st_map_foreach (m, sum, &total);
    cr_assert_eq (total, (uint64_t) N * (N - 1) / 2, "foreach visits every entry once");
    for (uint64_t i = 0; i < N; i += 2)
        cr_assert_eq (st_map_remove_u64 (m, i * 7919), &vals[i]);
    cr_assert_eq (st_map_size (m), N / 2);
    for (uint64_t i = 0; i < N; i++)
        cr_assert_eq (st_map_get_u64 (m, i * 7919), i % 2 ? &vals[i] : NULL);
    st_map_destroy (&m);
}
