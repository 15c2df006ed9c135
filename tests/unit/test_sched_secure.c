/*  test_sched_secure.c: what the scheduler counts as a loopback endpoint (it binds
 *  nothing else without CURVE unless --insecure), worker keys bound to a pool, and
 *  where a fine-tune's checkpoint goes (the scheduler's folder, never the spec's). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "sched.h"
#include "st_curve.h"

TestSuite (sched_secure, .timeout = 30);

Test (sched_secure, loopback_endpoints_are_local)
{
    const char *local[] = { "tcp://127.0.0.1:7700", "tcp://127.5.6.7:1",      "tcp://localhost:7701",
                            "tcp://[::1]:7702",     "ipc:///run/strata.sock", "inproc://sched" };
    for (size_t i = 0; i < sizeof local / sizeof *local; i++)
        cr_assert (st__sched_endpoint_local (local[i]), "%s", local[i]);
}

Test (sched_secure, anything_else_is_not)
{
    const char *remote[] = { "tcp://*:7700",
                             "tcp://0.0.0.0:7701",
                             "tcp://10.0.0.5:7700",
                             "tcp://[::]:7700",
                             "tcp://eth0:7700",
                             "tcp://lo:7700",
                             "tcp://128.0.0.1:7700",
                             "tcp://127.0.0.1;10.0.0.5:1",
                             "tcp://localhost.evil:7700",
                             "tcp://127.0.0.1",
                             "ws://127.0.0.1:7700",
                             "pgm://127.0.0.1;239.1.1.1:5555",
                             "udp://127.0.0.1:7700",
                             "tcp://[::ffff:10.0.0.1]:1",
                             "" };
    for (size_t i = 0; i < sizeof remote / sizeof *remote; i++)
        cr_assert_not (st__sched_endpoint_local (remote[i]), "%s", remote[i]);
}

Test (sched_secure, a_worker_key_is_bound_to_its_pool)
{
    char dir[] = "/tmp/strata-test-secure-XXXXXX", base[128], cmd[160];
    cr_assert_not_null (mkdtemp (dir));
    snprintf (base, sizeof base, "%s/gpu-07", dir);
    st_error_t err = { 0 };
    cr_assert_eq (st_curve_generate_pool (base, "cleared", &err), ST_OK, "%s", err.msg);
    snprintf (base, sizeof base, "%s/old", dir);
    cr_assert_eq (st_curve_generate (base, &err), ST_OK, "%s", err.msg);
    snprintf (base, sizeof base, "%s/bad", dir);
    cr_assert_eq (st_curve_generate_pool (base, "a/b", &err), ST_EINVAL);
    snprintf (base, sizeof base, "%s/bad.key", dir);
    cr_assert_eq (access (base, F_OK), -1, "nothing written");

    st_curve_keys_t k;
    snprintf (base, sizeof base, "%s/gpu-07.pub", dir);
    cr_assert_eq (st_curve_load (base, &k, 0, &err), ST_OK, "%s", err.msg);
    cr_assert_str_eq (k.pool, "cleared");
    snprintf (base, sizeof base, "%s/gpu-07.key", dir);
    cr_assert_eq (st_curve_load (base, &k, 1, &err), ST_OK, "the key pair reads too: %s", err.msg);
    cr_assert_str_eq (k.pool, "cleared");

    void *zctx = zmq_ctx_new ();
    st_zap_t *zap = st_zap_new (zctx, &err);
    cr_assert_not_null (zap, "%s", err.msg);
    int n = 0;
    /*  Only the .pub files are enrolled: gpu-07 (pool cleared) and old (no pool line).  */
    cr_assert_eq (st_zap_allow_dir (zap, "workers", dir, &n, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (n, 2);
    cr_assert_str_eq (st_zap_pool_of (zap, "workers", "gpu-07"), "cleared");
    cr_assert_str_eq (st_zap_pool_of (zap, "workers", "old"), "default", "no pool line: the default pool only");
    cr_assert_null (st_zap_pool_of (zap, "workers", "w9"));
    cr_assert_null (st_zap_pool_of (zap, "clients", "gpu-07"));
    cr_assert_eq (st_zap_without_pool (zap, "workers"), 1);
    st_zap_destroy (&zap);
    zmq_ctx_term (zctx);

    /*  A hand-written pool line that is not a pool name is refused.  */
    snprintf (base, sizeof base, "%s/hand.pub", dir);
    FILE *f = fopen (base, "w");
    cr_assert_not_null (f);
    fprintf (f, "public-key = %s\npool = ../x\n", k.public_key);
    fclose (f);
    cr_assert_eq (st_curve_load (base, &k, 0, &err), ST_EINVAL);
    cr_assert (strstr (err.msg, "pool must be"), "%s", err.msg);
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq (system (cmd), 0);
}

Test (sched_secure, checkpoint_folders_stay_under_the_tenant)
{
    cr_assert (st__checkpoint_names_ok ("acme", "twin"));
    cr_assert (st__checkpoint_names_ok ("acme", "org/twin.v2"));
    cr_assert_not (st__checkpoint_names_ok ("acme", "../other/models/twin"));
    cr_assert_not (st__checkpoint_names_ok ("acme", "a/../../b"));
    cr_assert_not (st__checkpoint_names_ok ("acme", "a//b"));
    cr_assert_not (st__checkpoint_names_ok ("acme", "/abs"));
    cr_assert_not (st__checkpoint_names_ok ("acme", "twin/"));
    cr_assert_not (st__checkpoint_names_ok ("acme", "./twin"));
    cr_assert_not (st__checkpoint_names_ok ("..", "twin"));
    cr_assert_not (st__checkpoint_names_ok (".", "twin"));
}
