/*  test_base_kv.c: ordered string pairs (st_kv), growing through st_vec.  */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "st_kv.h"

Test (kv, add_get_in_order_and_free)
{
    st_kv_t kv = { 0 };
    char k[16], v[16];
    for (int i = 0; i < 100; i++) {
        snprintf (k, sizeof k, "k%d", i);
        snprintf (v, sizeof v, "v%d", i);
        cr_assert_eq (st_kv_add (&kv, k, v), 0);
    }
    cr_assert_eq (kv.n, 100);
    cr_assert_geq (kv.cap, 100);
    cr_assert_str_eq (kv.keys[0], "k0");
    cr_assert_str_eq (kv.keys[99], "k99");
    cr_assert_str_eq (st_kv_get (&kv, "k42"), "v42");
    cr_assert_null (st_kv_get (&kv, "nope"));
    cr_assert_null (st_kv_get (NULL, "k1"));
    st_kv_free (&kv);
    cr_assert_eq (kv.n, 0);
    cr_assert_eq (kv.cap, 0);
    cr_assert_null (kv.keys);
    st_kv_free (&kv); /*  twice is fine  */
    /*  and it grows again from empty  */
    cr_assert_eq (st_kv_add (&kv, "a", NULL), 0, "a list of strings: vals NULL");
    cr_assert_null (kv.vals[0]);
    cr_assert_eq (st_kv_add (&kv, NULL, "x"), -1);
    cr_assert_eq (st_kv_add (NULL, "a", "b"), -1);
    st_kv_free (&kv);
}
