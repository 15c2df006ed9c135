/*  test_curve.c: CURVE key files and the ZAP allow-list, over real sockets.  */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "st_curve.h"
#include "st_wire.h"

static char s_dir[64];

static void
setup (void)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/strata-test-curve-XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
}

static void
teardown (void)
{
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    cr_assert_eq (system (cmd), 0);
}

TestSuite (curve, .init = setup, .fini = teardown, .timeout = 30);

static void
path (char *buf, size_t size, const char *name)
{
    snprintf (buf, size, "%s/%s", s_dir, name);
}

static void
write_text (const char *name, const char *text)
{
    char p[256];
    path (p, sizeof p, name);
    FILE *f = fopen (p, "w");
    cr_assert_not_null (f);
    fputs (text, f);
    fclose (f);
}

Test (curve, generate_then_load)
{
    char base[256], key[256], pub[256];
    path (base, sizeof base, "w1");
    path (key, sizeof key, "w1.key");
    path (pub, sizeof pub, "w1.pub");
    st_error_t err = { 0 };
    cr_assert_eq (st_curve_generate (base, &err), ST_OK, "%s", err.msg);
    struct stat st;
    cr_assert_eq (stat (key, &st), 0);
    cr_assert_eq (st.st_mode & 0777, 0600, "the secret key is private");
    st_curve_keys_t k, p;
    cr_assert_eq (st_curve_load (key, &k, 1, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (st_curve_load (pub, &p, 0, &err), ST_OK, "%s", err.msg);
    cr_assert_str_eq (k.public_key, p.public_key);
    cr_assert_str_eq (p.secret_key, "", "a .pub file holds no secret");
    cr_assert_eq (st_curve_load (pub, &p, 1, &err), ST_EINVAL, "a .pub file is not a key pair");
    cr_assert (strstr (err.msg, "no secret-key"), "%s", err.msg);
    cr_assert_eq (st_curve_generate (base, &err), ST_ECONFLICT, "never overwrites");
}

Test (curve, bad_key_files_are_refused_with_the_file_named)
{
    char p[256];
    st_curve_keys_t k;
    st_error_t err = { 0 };
    write_text ("short.pub", "public-key = abc\n");
    path (p, sizeof p, "short.pub");
    cr_assert_eq (st_curve_load (p, &k, 0, &err), ST_EINVAL);
    cr_assert (strstr (err.msg, "short.pub: line 1") && strstr (err.msg, "40-character"), "%s", err.msg);
    write_text ("junk.pub", "this is not a key file\n");
    path (p, sizeof p, "junk.pub");
    cr_assert_eq (st_curve_load (p, &k, 0, &err), ST_EINVAL);
    write_text ("other.pub", "colour = blue\n");
    path (p, sizeof p, "other.pub");
    cr_assert_eq (st_curve_load (p, &k, 0, &err), ST_EINVAL);
    cr_assert (strstr (err.msg, "unknown entry"), "%s", err.msg);
    /*  A public key that does not belong to the secret one.  */
    char pub1[41], sec1[41], pub2[41], sec2[41], text[256];
    cr_assert_eq (zmq_curve_keypair (pub1, sec1), 0);
    cr_assert_eq (zmq_curve_keypair (pub2, sec2), 0);
    snprintf (text, sizeof text, "public-key = %s\nsecret-key = %s\n", pub2, sec1);
    write_text ("mixed.key", text);
    path (p, sizeof p, "mixed.key");
    cr_assert_eq (st_curve_load (p, &k, 1, &err), ST_EINVAL);
    cr_assert (strstr (err.msg, "does not match"), "%s", err.msg);
    path (p, sizeof p, "missing.key");
    cr_assert_eq (st_curve_load (p, &k, 1, &err), ST_EIO);
    cr_assert (strstr (err.msg, "missing.key"), "%s", err.msg);
}

/*  A CURVE ROUTER with the allow-list; a DEALER with `client` keys sends one message.
 *  Returns 1 when it arrived (user_id filled), 0 when it did not within 1 s.  */
static int
try_connect (const char *client, char *user_id, size_t size, uint64_t *refused)
{
    char p[300];
    st_error_t err = { 0 };
    void *ctx = zmq_ctx_new ();
    st_zap_t *zap = st_zap_new (ctx, &err);
    cr_assert_not_null (zap, "%s", err.msg);
    char dir[256];
    path (dir, sizeof dir, "enrolled");
    int n = 0;
    cr_assert_eq (st_zap_allow_dir (zap, "workers", dir, &n, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (n, 1);
    st_curve_keys_t server, own, server_pub;
    path (p, sizeof p, "server.key");
    cr_assert_eq (st_curve_load (p, &server, 1, &err), ST_OK, "%s", err.msg);
    snprintf (p, sizeof p, "%s/%s.key", s_dir, client);
    cr_assert_eq (st_curve_load (p, &own, 1, &err), ST_OK, "%s", err.msg);
    path (p, sizeof p, "server.pub");
    cr_assert_eq (st_curve_load (p, &server_pub, 0, &err), ST_OK, "%s", err.msg);

    void *router = zmq_socket (ctx, ZMQ_ROUTER);
    void *dealer = zmq_socket (ctx, ZMQ_DEALER);
    st_wire_socket_defaults (router);
    st_wire_socket_defaults (dealer);
    cr_assert_eq (st_curve_server (router, &server, "workers", &err), ST_OK);
    cr_assert_eq (zmq_bind (router, "tcp://127.0.0.1:*"), 0);
    char ep[128];
    size_t sz = sizeof ep;
    zmq_getsockopt (router, ZMQ_LAST_ENDPOINT, ep, &sz);
    cr_assert_eq (st_curve_client (dealer, &own, server_pub.public_key, &err), ST_OK);
    cr_assert_eq (zmq_connect (dealer, ep), 0);

    Strata__Envelope env;
    Strata__NodesRequest nr = STRATA__NODES_REQUEST__INIT;
    st_wire_envelope_init (&env, 1);
    env.body_case = STRATA__ENVELOPE__BODY_NODES;
    env.nodes = &nr;
    st_wire_send (dealer, NULL, &env);

    int arrived = 0;
    for (int i = 0; i < 20 && !arrived; i++) {
        zmq_pollitem_t items[] = { { router, 0, ZMQ_POLLIN, 0 }, { st_zap_socket (zap), 0, ZMQ_POLLIN, 0 } };
        zmq_poll (items, 2, 50);
        if (items[1].revents & ZMQ_POLLIN)
            st_zap_handle (zap);
        if (items[0].revents & ZMQ_POLLIN) {
            st_peer_t peer;
            Strata__Envelope *got = NULL;
            if (st_wire_recv (router, 1, ZMQ_DONTWAIT, &peer, &got, &err) == ST_OK) {
                arrived = 1;
                snprintf (user_id, size, "%s", peer.user_id);
            }
            st_wire_free (got);
        }
    }
    *refused = st_zap_refused (zap);
    zmq_close (dealer);
    zmq_close (router);
    st_zap_destroy (&zap);
    zmq_ctx_term (ctx);
    return arrived;
}

static void
make_keys (void)
{
    char base[256], dir[256], from[256], to[300];
    st_error_t err = { 0 };
    const char *names[] = { "server", "w1", "mallory" };
    for (int i = 0; i < 3; i++) {
        path (base, sizeof base, names[i]);
        cr_assert_eq (st_curve_generate (base, &err), ST_OK, "%s", err.msg);
    }
    path (dir, sizeof dir, "enrolled");
    cr_assert_eq (mkdir (dir, 0755), 0);
    path (from, sizeof from, "w1.pub");
    snprintf (to, sizeof to, "%s/w1.pub", dir);
    cr_assert_eq (link (from, to), 0);
}

Test (curve, an_enrolled_key_connects_and_carries_its_name)
{
    make_keys ();
    char user[64] = "";
    uint64_t refused = 0;
    cr_assert (try_connect ("w1", user, sizeof user, &refused), "the enrolled key was not let in");
    cr_assert_str_eq (user, "w1", "messages carry the enrolled name as User-Id");
    cr_assert_eq (refused, 0);
}

Test (curve, an_unknown_key_is_refused_and_counted)
{
    make_keys ();
    char user[64] = "";
    uint64_t refused = 0;
    cr_assert_not (try_connect ("mallory", user, sizeof user, &refused), "an unknown key got through");
    cr_assert_geq (refused, 1);
}
