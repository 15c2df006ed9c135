/*  test_wire.c: Envelopes over real ZeroMQ sockets, and every kind of bad frame.  */
#include <criterion/criterion.h>
#include <string.h>
#include <zmq.h>

#include "st_wire.h"

static void *ctx, *router, *dealer;

static void
setup (void)
{
    static int n;
    char ep[64];
    snprintf (ep, sizeof ep, "inproc://wire-%d", n++);
    ctx = zmq_ctx_new ();
    router = zmq_socket (ctx, ZMQ_ROUTER);
    dealer = zmq_socket (ctx, ZMQ_DEALER);
    st_wire_socket_defaults (router);
    st_wire_socket_defaults (dealer);
    cr_assert_eq (zmq_bind (router, ep), 0);
    cr_assert_eq (zmq_connect (dealer, ep), 0);
}

static void
teardown (void)
{
    zmq_close (dealer);
    zmq_close (router);
    zmq_ctx_term (ctx);
}

TestSuite (wire, .init = setup, .fini = teardown, .timeout = 20);

static st_rc_t
recv_router (Strata__Envelope **out, st_peer_t *peer, st_error_t *err)
{
    zmq_pollitem_t it = { router, 0, ZMQ_POLLIN, 0 };
    cr_assert_eq (zmq_poll (&it, 1, 2000), 1, "nothing arrived");
    return st_wire_recv (router, 1, 0, peer, out, err);
}

Test (wire, round_trip_and_reply_by_routing_id)
{
    Strata__Envelope env;
    Strata__SubmitRequest sub = STRATA__SUBMIT_REQUEST__INIT;
    st_wire_envelope_init (&env, 41);
    sub.spec_json = "{\"command\":[\"true\"]}";
    env.body_case = STRATA__ENVELOPE__BODY_SUBMIT;
    env.submit = &sub;
    cr_assert_eq (st_wire_send (dealer, NULL, &env), ST_OK);
    Strata__Envelope *got = NULL;
    st_peer_t peer;
    st_error_t err = { 0 };
    cr_assert_eq (recv_router (&got, &peer, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (got->seq, 41);
    cr_assert_eq (got->protocol_version, ST_PROTOCOL_VERSION);
    cr_assert_str_eq (got->submit->spec_json, "{\"command\":[\"true\"]}");
    cr_assert_str_eq (st_wire_body_name (got), "submit");
    st_wire_free (got);

    Strata__Envelope rep;
    Strata__SubmitReply sr = STRATA__SUBMIT_REPLY__INIT;
    st_wire_envelope_init (&rep, 1);
    rep.reply_to = 41;
    sr.job_id = 7;
    rep.body_case = STRATA__ENVELOPE__BODY_SUBMIT_REPLY;
    rep.submit_reply = &sr;
    cr_assert_eq (st_wire_send (router, &peer, &rep), ST_OK);
    zmq_pollitem_t it = { dealer, 0, ZMQ_POLLIN, 0 };
    cr_assert_eq (zmq_poll (&it, 1, 2000), 1);
    cr_assert_eq (st_wire_recv (dealer, 0, 0, NULL, &got, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (got->reply_to, 41);
    cr_assert_eq (got->submit_reply->job_id, 7);
    st_wire_free (got);
}

Test (wire, garbage_is_refused_and_the_socket_stays_usable)
{
    const char garbage[] = "\xff\xff\xff\xff\x0f this is not protobuf";
    zmq_send (dealer, garbage, sizeof garbage, 0);
    Strata__Envelope *got = NULL;
    st_peer_t peer;
    st_error_t err = { 0 };
    cr_assert_eq (recv_router (&got, &peer, &err), ST_EPROTO);
    cr_assert_null (got);
    cr_assert (strstr (err.msg, "undecodable"), "%s", err.msg);

    /*  The next good message still gets through.  */
    Strata__Envelope env;
    Strata__NodesRequest nr = STRATA__NODES_REQUEST__INIT;
    st_wire_envelope_init (&env, 2);
    env.body_case = STRATA__ENVELOPE__BODY_NODES;
    env.nodes = &nr;
    st_wire_send (dealer, NULL, &env);
    cr_assert_eq (recv_router (&got, &peer, &err), ST_OK, "%s", err.msg);
    st_wire_free (got);
}

Test (wire, truncated_message_is_refused)
{
    Strata__Envelope env;
    Strata__SubmitRequest sub = STRATA__SUBMIT_REQUEST__INIT;
    st_wire_envelope_init (&env, 3);
    sub.spec_json = "{\"command\":[\"a long enough argument to be cut in half\"]}";
    env.body_case = STRATA__ENVELOPE__BODY_SUBMIT;
    env.submit = &sub;
    uint8_t buf[256];
    size_t len = strata__envelope__pack (&env, buf);
    zmq_send (dealer, buf, len / 2, 0);
    Strata__Envelope *got = NULL;
    st_peer_t peer;
    st_error_t err = { 0 };
    cr_assert_eq (recv_router (&got, &peer, &err), ST_EPROTO);
}

Test (wire, oversized_payload_is_refused)
{
    size_t len = ST_MAX_FRAME + 1;
    char *big = calloc (1, len);
    cr_assert_not_null (big);
    zmq_send (dealer, big, len, 0);
    free (big);
    Strata__Envelope *got = NULL;
    st_peer_t peer;
    st_error_t err = { 0 };
    cr_assert_eq (recv_router (&got, &peer, &err), ST_ETOOBIG);
    cr_assert (strstr (err.msg, "exceeds"), "%s", err.msg);
}

Test (wire, empty_and_bodiless_messages_are_refused)
{
    zmq_send (dealer, "", 0, 0);
    Strata__Envelope *got = NULL;
    st_peer_t peer;
    st_error_t err = { 0 };
    cr_assert_eq (recv_router (&got, &peer, &err), ST_EPROTO);
    Strata__Envelope env;
    st_wire_envelope_init (&env, 4);
    uint8_t buf[64];
    size_t len = strata__envelope__pack (&env, buf);
    zmq_send (dealer, buf, len, 0);
    cr_assert_eq (recv_router (&got, &peer, &err), ST_EPROTO);
    cr_assert (strstr (err.msg, "without a body"), "%s", err.msg);
}

Test (wire, other_protocol_versions_are_reported_with_the_envelope)
{
    Strata__Envelope env;
    Strata__NodesRequest nr = STRATA__NODES_REQUEST__INIT;
    st_wire_envelope_init (&env, 5);
    env.protocol_version = 99;
    env.body_case = STRATA__ENVELOPE__BODY_NODES;
    env.nodes = &nr;
    st_wire_send (dealer, NULL, &env);
    Strata__Envelope *got = NULL;
    st_peer_t peer;
    st_error_t err = { 0 };
    cr_assert_eq (recv_router (&got, &peer, &err), ST_EVERSION);
    cr_assert_not_null (got, "the caller gets the envelope so it can answer");
    cr_assert_eq (got->seq, 5);
    st_wire_free (got);
}

Test (wire, extra_parts_are_drained_as_one_bad_message)
{
    zmq_send (dealer, "a", 1, ZMQ_SNDMORE);
    zmq_send (dealer, "b", 1, ZMQ_SNDMORE);
    zmq_send (dealer, "c", 1, 0);
    Strata__Envelope *got = NULL;
    st_peer_t peer;
    st_error_t err = { 0 };
    cr_assert_eq (recv_router (&got, &peer, &err), ST_EPROTO);
    /*  Nothing of it is left on the socket.  */
    cr_assert_eq (st_wire_recv (router, 1, ZMQ_DONTWAIT, &peer, &got, &err), ST_EAGAIN);
}

Test (wire, req_peers_get_their_delimiter_back)
{
    void *req = zmq_socket (ctx, ZMQ_REQ);
    char ep[64];
    size_t sz = sizeof ep;
    zmq_getsockopt (router, ZMQ_LAST_ENDPOINT, ep, &sz);
    cr_assert_eq (zmq_connect (req, ep), 0);
    Strata__Envelope env;
    Strata__NodesRequest nr = STRATA__NODES_REQUEST__INIT;
    st_wire_envelope_init (&env, 6);
    env.body_case = STRATA__ENVELOPE__BODY_NODES;
    env.nodes = &nr;
    st_wire_send (req, NULL, &env);
    Strata__Envelope *got = NULL;
    st_peer_t peer;
    st_error_t err = { 0 };
    cr_assert_eq (recv_router (&got, &peer, &err), ST_OK, "%s", err.msg);
    cr_assert (peer.delimited);
    st_wire_free (got);
    cr_assert_eq (st_wire_send (router, &peer, &env), ST_OK);
    zmq_pollitem_t it = { req, 0, ZMQ_POLLIN, 0 };
    cr_assert_eq (zmq_poll (&it, 1, 2000), 1);
    cr_assert_eq (st_wire_recv (req, 0, 0, NULL, &got, &err), ST_OK, "%s", err.msg);
    st_wire_free (got);
    int zero = 0;
    zmq_setsockopt (req, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close (req);
}

Test (wire_states, job_states_round_trip_with_their_names)
{
    for (int i = 0; i < ST_JOB__COUNT; i++) {
        st_job_state_t s = (st_job_state_t) i, back = ST_JOB_LOST;
        Strata__JobState w = st_wire_job_state (s);
        cr_assert_neq (w, STRATA__JOB_STATE__JOB_STATE_UNSPECIFIED, "0 stays \"not set\"");
        cr_assert_eq (st_wire_job_state_from (w, &back), 0);
        cr_assert_eq (back, s);
        cr_assert_str_eq (st_wire_job_state_name (w), st_job_state_name (s));
        cr_assert_eq (st_wire_job_state_named (st_job_state_name (s)), w);
        cr_assert_eq (st_wire_job_state_terminal (w), st_job_state_terminal (s));
    }
    cr_assert_eq (st_wire_job_state (ST_JOB_PENDING), STRATA__JOB_STATE__JOB_PENDING);
    cr_assert_eq (st_wire_job_state (ST_JOB_LOST), STRATA__JOB_STATE__JOB_LOST);
}

Test (wire_states, unset_and_unknown)
{
    st_job_state_t s = ST_JOB_RUNNING;
    cr_assert_neq (st_wire_job_state_from (STRATA__JOB_STATE__JOB_STATE_UNSPECIFIED, &s), 0);
    cr_assert_neq (st_wire_job_state_from ((Strata__JobState) 99, &s), 0);
    cr_assert_eq (s, ST_JOB_RUNNING, "a refused value leaves *out alone");
    cr_assert_str_eq (st_wire_job_state_name (STRATA__JOB_STATE__JOB_STATE_UNSPECIFIED), "");
    cr_assert_str_eq (st_wire_job_state_name ((Strata__JobState) 99), "UNKNOWN");
    cr_assert_eq (st_wire_job_state_named (NULL), STRATA__JOB_STATE__JOB_STATE_UNSPECIFIED);
    cr_assert_eq (st_wire_job_state_named ("SLEEPING"), STRATA__JOB_STATE__JOB_STATE_UNSPECIFIED);
    cr_assert_eq (st_wire_job_state_named ("running"), STRATA__JOB_STATE__JOB_STATE_UNSPECIFIED);
    cr_assert_eq (st_wire_job_state (ST_JOB__COUNT), STRATA__JOB_STATE__JOB_STATE_UNSPECIFIED);
    cr_assert_eq (st_wire_job_state_terminal (STRATA__JOB_STATE__JOB_STATE_UNSPECIFIED), 0);
}
