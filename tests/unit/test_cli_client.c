/*  test_cli_client.c: the CLI's protocol handling and the `strata` program.
 *
 *  The scheduler's part is played by a ZeroMQ ROUTER socket in a thread of the
 *  test, answering with real protocol messages: that is how timeouts, replies
 *  to other requests, malformed frames, ErrorReply and version mismatches are
 *  produced on demand. End-to-end behaviour against the real scheduler is
 *  covered by tests/integration. The `strata` binary comes from STRATA_BIN_DIR
 *  (default /work/main/build/bin). */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include <zmq.h>

#include "client.h"
#include "st_time.h"
#include "st_wire.h"

/*  -- the fake scheduler ------------------------------------------------------  */

typedef enum {
    FAKE_ANSWER,          /*  answer every request properly  */
    FAKE_SILENT,          /*  receive, never answer  */
    FAKE_NOISE_FIRST,     /*  a reply to the previous seq and a malformed frame, then the answer  */
    FAKE_ERROR,           /*  ErrorReply NOT_FOUND with a hint  */
    FAKE_ERROR_NO_HINT,   /*  ErrorReply CONFLICT without a hint  */
    FAKE_OTHER_VERSION,   /*  the answer, in protocol version 2  */
    FAKE_ERROR_VERSION,   /*  ErrorReply ERROR_VERSION  */
    FAKE_WRONG_BODY,      /*  a list_reply whatever was asked  */
    FAKE_LOGS,            /*  a log that a retry replaces (see s_answer_logs)  */
    FAKE_LOSE_FIRST,      /*  drop the first request (a scheduler that crashed), answer the rest  */
    FAKE_UNAUTHENTICATED, /*  ErrorReply ERROR_UNAUTHENTICATED with a hint  */
} fake_mode_t;

typedef struct {
    atomic_int mode; /*  fake_mode_t; the test may change it  */
    void *zctx;
    void *router;
    char endpoint[64];
    pthread_t thread;
    atomic_int stop;
    atomic_int received;  /*  messages received, good or bad  */
    char last_spec[4096]; /*  spec_json of the last submit  */
    char last_token[80];  /*  client_token of the last submit  */
    uint64_t seqs[8];     /*  seq of the first requests received  */
    uint32_t last_limit;  /*  limit of the last list  */
    int log_calls;        /*  logs requests answered  */
    char last_auth[300];  /*  auth_token of the last request  */
} fake_t;

/*  A job whose attempt 1 wrote "one\n" and failed, and whose attempt 2 writes
 *  "two\n" and succeeds; at most 2 bytes per reply. Call 1 sees attempt 1
 *  running, call 2 the job pending again (attempt 0: nothing started), calls
 *  3+ attempt 2, which has ended from call 5 on.  */
static void
s_answer_logs (fake_t *f, const st_peer_t *peer, const Strata__Envelope *req)
{
    int call = ++f->log_calls;
    Strata__Envelope env;
    Strata__LogsReply lr = STRATA__LOGS_REPLY__INIT;
    st_wire_envelope_init (&env, 1000 + req->seq);
    env.reply_to = req->seq;
    const char *text = call == 1 ? "one\n" : call == 2 ? "" : "two\n";
    lr.attempt = call == 1 ? 1 : call == 2 ? 0 : 2;
    lr.job_state = call == 1   ? STRATA__JOB_STATE__JOB_RUNNING
                   : call == 2 ? STRATA__JOB_STATE__JOB_PENDING
                   : call < 5  ? STRATA__JOB_STATE__JOB_RUNNING
                               : STRATA__JOB_STATE__JOB_SUCCEEDED;
    uint64_t off = req->logs->offset;
    size_t size = strlen (text);
    size_t n = off < size ? size - off : 0;
    if (n > 2)
        n = 2;
    lr.offset = off;
    lr.size = size;
    lr.data.data = (uint8_t *) text + (off < size ? off : size);
    lr.data.len = n;
    env.body_case = STRATA__ENVELOPE__BODY_LOGS_REPLY;
    env.logs_reply = &lr;
    st_wire_send (f->router, peer, &env);
}

static void
s_send_job (fake_t *f, const st_peer_t *peer, uint64_t reply_to, uint32_t version, uint64_t id)
{
    Strata__Envelope env;
    Strata__JobInfo job = STRATA__JOB_INFO__INIT;
    st_wire_envelope_init (&env, 1000 + reply_to);
    env.protocol_version = version;
    env.reply_to = reply_to;
    job.id = id;
    job.name = "fake";
    job.state = STRATA__JOB_STATE__JOB_SUCCEEDED;
    env.body_case = STRATA__ENVELOPE__BODY_JOB;
    env.job = &job;
    st_wire_send (f->router, peer, &env);
}

static void
s_send_error (fake_t *f, const st_peer_t *peer, uint64_t reply_to, Strata__ErrorCode code, const char *msg,
              const char *hint)
{
    Strata__Envelope env;
    Strata__ErrorReply er = STRATA__ERROR_REPLY__INIT;
    st_wire_envelope_init (&env, 1000 + reply_to);
    env.reply_to = reply_to;
    er.code = code;
    er.message = (char *) msg;
    er.hint = (char *) hint;
    env.body_case = STRATA__ENVELOPE__BODY_ERROR;
    env.error = &er;
    st_wire_send (f->router, peer, &env);
}

static void
s_answer (fake_t *f, const st_peer_t *peer, const Strata__Envelope *req)
{
    Strata__Envelope env;
    st_wire_envelope_init (&env, 1000 + req->seq);
    env.reply_to = req->seq;
    Strata__SubmitReply sr = STRATA__SUBMIT_REPLY__INIT;
    Strata__ListReply lr = STRATA__LIST_REPLY__INIT;
    Strata__NodesReply nr = STRATA__NODES_REPLY__INIT;
    switch (req->body_case) {
    case STRATA__ENVELOPE__BODY_SUBMIT:
        snprintf (f->last_spec, sizeof f->last_spec, "%s", req->submit->spec_json);
        snprintf (f->last_token, sizeof f->last_token, "%s", req->submit->client_token);
        sr.job_id = 42;
        env.body_case = STRATA__ENVELOPE__BODY_SUBMIT_REPLY;
        env.submit_reply = &sr;
        break;
    case STRATA__ENVELOPE__BODY_GET:
        s_send_job (f, peer, req->seq, ST_PROTOCOL_VERSION, req->get->job_id);
        return;
    case STRATA__ENVELOPE__BODY_LIST:
        f->last_limit = req->list->limit;
        env.body_case = STRATA__ENVELOPE__BODY_LIST_REPLY;
        env.list_reply = &lr;
        break;
    case STRATA__ENVELOPE__BODY_NODES:
        env.body_case = STRATA__ENVELOPE__BODY_NODES_REPLY;
        env.nodes_reply = &nr;
        break;
    default:
        s_send_error (f, peer, req->seq, STRATA__ERROR_CODE__ERROR_INVALID, "unsupported by the fake", "");
        return;
    }
    st_wire_send (f->router, peer, &env);
}

static void *
s_fake_run (void *arg)
{
    fake_t *f = arg;
    while (!atomic_load (&f->stop)) {
        zmq_pollitem_t item = { .socket = f->router, .events = ZMQ_POLLIN };
        if (zmq_poll (&item, 1, 20) <= 0)
            continue;
        st_peer_t peer;
        Strata__Envelope *req = NULL;
        st_error_t err;
        st_rc_t rc = st_wire_recv (f->router, 1, ZMQ_DONTWAIT, &peer, &req, &err);
        if (rc == ST_EAGAIN)
            continue;
        int nth = atomic_fetch_add (&f->received, 1);
        if (rc != ST_OK) {
            st_wire_free (req);
            continue;
        }
        if (nth < 8)
            f->seqs[nth] = req->seq;
        snprintf (f->last_auth, sizeof f->last_auth, "%s", req->auth_token ? req->auth_token : "");
        switch ((fake_mode_t) atomic_load (&f->mode)) {
        case FAKE_ANSWER:
            s_answer (f, &peer, req);
            break;
        case FAKE_SILENT:
            break;
        case FAKE_LOSE_FIRST:
            if (nth > 0)
                s_answer (f, &peer, req);
            break;
        case FAKE_NOISE_FIRST:
            s_send_job (f, &peer, req->seq - 1, ST_PROTOCOL_VERSION, 666);
            zmq_send (f->router, peer.id, peer.id_len, ZMQ_SNDMORE);
            zmq_send (f->router, "\xff\xff\xff garbage", 12, 0);
            s_answer (f, &peer, req);
            break;
        case FAKE_ERROR:
            s_send_error (f, &peer, req->seq, STRATA__ERROR_CODE__ERROR_NOT_FOUND, "job 42 not found",
                          "it may have been purged");
            break;
        case FAKE_ERROR_NO_HINT:
            s_send_error (f, &peer, req->seq, STRATA__ERROR_CODE__ERROR_CONFLICT, "job 42 already\nended", "");
            break;
        case FAKE_OTHER_VERSION:
            s_send_job (f, &peer, req->seq, ST_PROTOCOL_VERSION + 1, 1);
            break;
        case FAKE_ERROR_VERSION:
            s_send_error (f, &peer, req->seq, STRATA__ERROR_CODE__ERROR_VERSION,
                          "protocol version 1 not understood, this scheduler speaks 2", "");
            break;
        case FAKE_LOGS:
            if (req->body_case == STRATA__ENVELOPE__BODY_LOGS)
                s_answer_logs (f, &peer, req);
            else
                s_answer (f, &peer, req);
            break;
        case FAKE_UNAUTHENTICATED:
            s_send_error (f, &peer, req->seq, STRATA__ERROR_CODE__ERROR_UNAUTHENTICATED, "the API token has expired",
                          "ask an admin for a new one");
            break;
        case FAKE_WRONG_BODY: {
            Strata__Envelope env;
            Strata__ListReply lr = STRATA__LIST_REPLY__INIT;
            st_wire_envelope_init (&env, 1);
            env.reply_to = req->seq;
            env.body_case = STRATA__ENVELOPE__BODY_LIST_REPLY;
            env.list_reply = &lr;
            st_wire_send (f->router, &peer, &env);
            break;
        }
        }
        st_wire_free (req);
    }
    return NULL;
}

static fake_t *
s_fake_start (fake_mode_t mode)
{
    fake_t *f = calloc (1, sizeof *f);
    cr_assert_not_null (f);
    atomic_store (&f->mode, (int) mode);
    f->zctx = zmq_ctx_new ();
    f->router = zmq_socket (f->zctx, ZMQ_ROUTER);
    st_wire_socket_defaults (f->router);
    cr_assert_eq (zmq_bind (f->router, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof f->endpoint;
    zmq_getsockopt (f->router, ZMQ_LAST_ENDPOINT, f->endpoint, &len);
    cr_assert_eq (pthread_create (&f->thread, NULL, s_fake_run, f), 0);
    return f;
}

static void
s_fake_stop (fake_t *f)
{
    atomic_store (&f->stop, 1);
    pthread_join (f->thread, NULL);
    zmq_close (f->router);
    zmq_ctx_term (f->zctx);
    free (f);
}

static Strata__Envelope
s_get_request (Strata__GetRequest *get, uint64_t id)
{
    Strata__Envelope req;
    st_wire_envelope_init (&req, 0);
    strata__get_request__init (get);
    get->job_id = id;
    req.body_case = STRATA__ENVELOPE__BODY_GET;
    req.get = get;
    return req;
}

/*  -- cli_client_t --------------------------------------------------------------  */

Test (client, request_gets_its_reply)
{
    fake_t *f = s_fake_start (FAKE_ANSWER);
    st_error_t err;
    cli_client_t *c = cli_client_new (f->endpoint, 5000, &err);
    cr_assert_not_null (c);
    for (uint64_t id = 1; id <= 3; id++) {
        Strata__GetRequest get;
        Strata__Envelope req = s_get_request (&get, id), *reply = NULL;
        cr_assert_eq (cli_client_request (c, &req, STRATA__ENVELOPE__BODY_JOB, &reply, &err), ST_OK, "%s", err.msg);
        cr_assert_eq (reply->job->id, id);
        cr_assert_eq (reply->reply_to, req.seq);
        st_wire_free (reply);
    }
    cr_assert_eq (cli_client_dropped (c), 0);
    cli_client_destroy (&c);
    cr_assert_null (c);
    cli_client_destroy (&c);
    s_fake_stop (f);
}

Test (client, replies_to_other_requests_and_malformed_frames_are_dropped)
{
    fake_t *f = s_fake_start (FAKE_NOISE_FIRST);
    st_error_t err;
    cli_client_t *c = cli_client_new (f->endpoint, 5000, &err);
    Strata__GetRequest get;
    Strata__Envelope req = s_get_request (&get, 17), *reply = NULL;
    cr_assert_eq (cli_client_request (c, &req, STRATA__ENVELOPE__BODY_JOB, &reply, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (reply->job->id, 17); /*  not 666, the answer to another seq  */
    cr_assert_eq (cli_client_dropped (c), 2);
    st_wire_free (reply);
    cli_client_destroy (&c);
    s_fake_stop (f);
}

Test (client, silence_times_out_with_the_documented_message)
{
    fake_t *f = s_fake_start (FAKE_SILENT);
    st_error_t err;
    cli_client_t *c = cli_client_new (f->endpoint, 300, &err);
    Strata__GetRequest get;
    Strata__Envelope req = s_get_request (&get, 1), *reply = NULL;
    uint64_t t0 = st_mono_ms ();
    cr_assert_eq (cli_client_request (c, &req, STRATA__ENVELOPE__BODY_JOB, &reply, &err), ST_ETIMEDOUT);
    uint64_t took = st_mono_ms () - t0;
    cr_assert (took >= 290 && took < 2000, "took %llu ms", (unsigned long long) took);
    cr_assert_null (reply);
    char want[256];
    snprintf (want, sizeof want, "no reply from scheduler at %s within 300ms", f->endpoint);
    cr_assert_str_eq (err.msg, want);
    cr_assert_str_eq (err.hint, "is strata-scheduler running? set --scheduler or STRATA_SCHEDULER");
    cr_assert_eq (atomic_load (&f->received), 1);
    cli_client_destroy (&c);
    s_fake_stop (f);
}

Test (client, a_lost_request_is_sent_again_with_the_same_seq)
{
    fake_t *f = s_fake_start (FAKE_LOSE_FIRST);
    st_error_t err;
    cli_client_t *c = cli_client_new (f->endpoint, 5000, &err);
    cr_assert_not_null (c);
    Strata__GetRequest get;
    Strata__Envelope req = s_get_request (&get, 9);
    Strata__Envelope *reply = NULL;
    uint64_t t0 = st_mono_ms ();
    cr_assert_eq (cli_client_request (c, &req, STRATA__ENVELOPE__BODY_JOB, &reply, &err), ST_OK, "%s", err.msg);
    cr_assert_geq (st_mono_ms () - t0, CLI_CLIENT_RESEND_MS - 50, "answered by the resend");
    cr_assert_eq (reply->job->id, 9);
    cr_assert_eq (atomic_load (&f->received), 2);
    cr_assert_eq (f->seqs[0], f->seqs[1], "the resend carries the same seq");
    st_wire_free (reply);
    cli_client_destroy (&c);
    s_fake_stop (f);
}

Test (client, a_late_reply_is_not_taken_for_the_next_one)
{
    /*  The first request (seq 1) times out. The fake then answers it late,
     *  while the second request (seq 2) waits: that reply is dropped.  */
    fake_t *f = s_fake_start (FAKE_SILENT);
    st_error_t err;
    cli_client_t *c = cli_client_new (f->endpoint, 1000, &err);
    Strata__GetRequest get;
    Strata__Envelope req = s_get_request (&get, 1), *reply = NULL;
    cr_assert_eq (cli_client_request (c, &req, STRATA__ENVELOPE__BODY_JOB, &reply, &err), ST_ETIMEDOUT);
    cr_assert_eq (req.seq, 1);
    atomic_store (&f->mode, FAKE_NOISE_FIRST);
    Strata__Envelope req2 = s_get_request (&get, 5);
    cr_assert_eq (cli_client_request (c, &req2, STRATA__ENVELOPE__BODY_JOB, &reply, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (req2.seq, 2);
    cr_assert_eq (reply->job->id, 5);
    cr_assert_eq (cli_client_dropped (c), 2); /*  the late reply and the garbage  */
    st_wire_free (reply);
    cli_client_destroy (&c);
    s_fake_stop (f);
}

Test (client, error_reply_becomes_an_error_with_message_and_hint)
{
    fake_t *f = s_fake_start (FAKE_ERROR);
    st_error_t err;
    cli_client_t *c = cli_client_new (f->endpoint, 5000, &err);
    Strata__GetRequest get;
    Strata__Envelope req = s_get_request (&get, 42), *reply = NULL;
    cr_assert_eq (cli_client_request (c, &req, STRATA__ENVELOPE__BODY_JOB, &reply, &err), ST_ENOTFOUND);
    cr_assert_null (reply);
    cr_assert_str_eq (err.msg, "job 42 not found");
    cr_assert_str_eq (err.hint, "it may have been purged");
    cli_client_destroy (&c);
    s_fake_stop (f);

    f = s_fake_start (FAKE_ERROR_NO_HINT);
    c = cli_client_new (f->endpoint, 5000, &err);
    cr_assert_eq (cli_client_request (c, &req, STRATA__ENVELOPE__BODY_JOB, &reply, &err), ST_ECONFLICT);
    cr_assert_str_eq (err.msg, "job 42 already\nended");
    cr_assert_str_eq (err.hint, "");
    cli_client_destroy (&c);
    s_fake_stop (f);
}

Test (client, error_codes_map_to_rc)
{
    cr_assert_eq (cli_client_error_rc (STRATA__ERROR_CODE__ERROR_INVALID), ST_EINVAL);
    cr_assert_eq (cli_client_error_rc (STRATA__ERROR_CODE__ERROR_NOT_FOUND), ST_ENOTFOUND);
    cr_assert_eq (cli_client_error_rc (STRATA__ERROR_CODE__ERROR_CONFLICT), ST_ECONFLICT);
    cr_assert_eq (cli_client_error_rc (STRATA__ERROR_CODE__ERROR_UNAVAILABLE), ST_EUNAVAIL);
    cr_assert_eq (cli_client_error_rc (STRATA__ERROR_CODE__ERROR_INTERNAL), ST_EIO);
    cr_assert_eq (cli_client_error_rc (STRATA__ERROR_CODE__ERROR_VERSION), ST_EVERSION);
    cr_assert_eq (cli_client_error_rc (STRATA__ERROR_CODE__ERROR_UNSPECIFIED), ST_EIO);
}

Test (client, other_protocol_versions_are_reported)
{
    fake_t *f = s_fake_start (FAKE_OTHER_VERSION);
    st_error_t err;
    cli_client_t *c = cli_client_new (f->endpoint, 5000, &err);
    Strata__GetRequest get;
    Strata__Envelope req = s_get_request (&get, 1), *reply = NULL;
    cr_assert_eq (cli_client_request (c, &req, STRATA__ENVELOPE__BODY_JOB, &reply, &err), ST_EVERSION);
    cr_assert_null (reply);
    char speaks[96];
    snprintf (speaks, sizeof speaks, "speaks protocol version %u, this strata speaks %u", ST_PROTOCOL_VERSION + 1,
              ST_PROTOCOL_VERSION);
    cr_assert_not_null (strstr (err.msg, speaks), "%s", err.msg);
    cr_assert_neq (err.hint[0], '\0');
    cli_client_destroy (&c);
    s_fake_stop (f);

    f = s_fake_start (FAKE_ERROR_VERSION);
    c = cli_client_new (f->endpoint, 5000, &err);
    cr_assert_eq (cli_client_request (c, &req, STRATA__ENVELOPE__BODY_JOB, &reply, &err), ST_EVERSION);
    cr_assert_str_eq (err.msg, "protocol version 1 not understood, this scheduler speaks 2");
    cr_assert_neq (err.hint[0], '\0');
    cli_client_destroy (&c);
    s_fake_stop (f);
}

Test (client, unexpected_reply_body_is_an_error)
{
    fake_t *f = s_fake_start (FAKE_WRONG_BODY);
    st_error_t err;
    cli_client_t *c = cli_client_new (f->endpoint, 5000, &err);
    Strata__GetRequest get;
    Strata__Envelope req = s_get_request (&get, 1), *reply = NULL;
    cr_assert_eq (cli_client_request (c, &req, STRATA__ENVELOPE__BODY_JOB, &reply, &err), ST_EPROTO);
    cr_assert_str_eq (err.msg, "unexpected reply 'list_reply' to a 'get' request");
    cli_client_destroy (&c);
    s_fake_stop (f);
}

Test (client, bad_endpoint_is_refused)
{
    st_error_t err;
    st_error_clear (&err);
    cli_client_t *c = cli_client_new ("not-an-endpoint", 1000, &err);
    cr_assert_null (c);
    cr_assert_eq (err.rc, ST_EINVAL);
    cr_assert_not_null (strstr (err.msg, "not-an-endpoint"));
}

/*  -- the strata program -------------------------------------------------------  */

typedef struct {
    int status; /*  exit code, or 128 + signal  */
    char out[65536];
    char err[65536];
} run_t;

static const char *
s_bin (void)
{
    static char path[4096];
    const char *dir = getenv ("STRATA_BIN_DIR");
    snprintf (path, sizeof path, "%s/strata", dir && *dir ? dir : "/work/main/build/bin");
    return path;
}

/*  Runs strata with args (NULL-terminated), stdin from /dev/null.  */
static void
s_run (run_t *r, const char *const *args)
{
    const char *argv[64];
    int n = 0;
    argv[n++] = s_bin ();
    for (int i = 0; args[i] && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    memset (r, 0, sizeof *r);

    int po[2], pe[2];
    cr_assert_eq (pipe (po), 0);
    cr_assert_eq (pipe (pe), 0);
    pid_t pid = fork ();
    cr_assert_neq (pid, -1);
    if (pid == 0) {
        dup2 (po[1], 1);
        dup2 (pe[1], 2);
        close (po[0]);
        close (pe[0]);
        execv (argv[0], (char *const *) argv);
        _exit (127);
    }
    close (po[1]);
    close (pe[1]);
    size_t no = 0, ne = 0;
    struct pollfd fds[2] = { { .fd = po[0], .events = POLLIN }, { .fd = pe[0], .events = POLLIN } };
    int open_fds = 2;
    uint64_t deadline = st_mono_ms () + 20000;
    while (open_fds > 0 && st_mono_ms () < deadline) {
        if (poll (fds, 2, 100) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP)))
                continue;
            char *buf = i == 0 ? r->out : r->err;
            size_t *len = i == 0 ? &no : &ne;
            ssize_t got = read (fds[i].fd, buf + *len, sizeof r->out - 1 - *len);
            if (got <= 0) {
                close (fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
            else
                *len += (size_t) got;
        }
    }
    if (open_fds > 0)
        kill (pid, SIGKILL);
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close (fds[i].fd);
    int status = 0;
    waitpid (pid, &status, 0);
    r->status = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

static int
s_lines (const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

/*  The error contract: `strata: error: ...` and at most one `hint: ...` line.  */
static void
s_assert_error_lines (const run_t *r)
{
    cr_assert (!strncmp (r->err, "strata: error: ", 15), "stderr: %s", r->err);
    int lines = s_lines (r->err);
    cr_assert (lines == 1 || lines == 2, "stderr: %s", r->err);
    if (lines == 2)
        cr_assert_not_null (strstr (r->err, "\nhint: "), "stderr: %s", r->err);
}

/*  A TCP port nothing listens on (bound, read, released).  */
static int
s_unused_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    cr_assert_eq (bind (fd, (struct sockaddr *) &a, sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname (fd, (struct sockaddr *) &a, &len);
    close (fd);
    return ntohs (a.sin_port);
}

static void
s_init (void)
{
    unsetenv ("STRATA_SCHEDULER");
    cr_assert_eq (access (s_bin (), X_OK), 0, "no strata binary at %s (set STRATA_BIN_DIR)", s_bin ());
}

Test (program, usage_errors_exit_2, .init = s_init)
{
    static const char *const cases[][8] = {
        { NULL },
        { "frobnicate", NULL },
        { "--bogus", "jobs", NULL },
        { "--timeout", "soon", "jobs", NULL },
        { "show", NULL },
        { "show", "1", "2", NULL },
        { "jobs", "--limit", "0", NULL },
        { "jobs", "--state", "SLEEPING", NULL },
        { "jobs", "extra", NULL },
        { "logs", "1", "--rank", "x", NULL },
        { "cancel", NULL },
        { "submit", NULL },
        { "submit", "a.yaml", "b.yaml", NULL },
        { "submit", "--cpus", "2", "job.yaml", NULL },
        { "submit", "--", NULL },
        { "nodes", "--json", "x", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_t r;
        s_run (&r, cases[i]);
        cr_assert_eq (r.status, 2, "case %zu: status %d, stderr: %s", i, r.status, r.err);
        s_assert_error_lines (&r);
        cr_assert_str_eq (r.out, "", "case %zu", i);
    }
}

Test (program, job_arguments_must_be_positive_integers, .init = s_init)
{
    static const char *const bad[] = { "abc", "0", "-1", "1x", "+5", "99999999999999999999999", "" };
    static const char *const cmds[] = { "show", "logs", "cancel" };
    for (size_t c = 0; c < 3; c++)
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            run_t r;
            const char *args[] = { "--timeout", "200ms", cmds[c], "--", bad[i], NULL };
            s_run (&r, args);
            cr_assert_eq (r.status, 2, "%s '%s': status %d, stderr: %s", cmds[c], bad[i], r.status, r.err);
            s_assert_error_lines (&r);
            char want[128];
            snprintf (want, sizeof want, "JOB must be a positive integer, got '%s'", bad[i]);
            cr_assert_not_null (strstr (r.err, want), "stderr: %s", r.err);
        }
}

Test (program, help_exits_0_and_shows_an_example, .init = s_init)
{
    static const char *const cmds[] = { "submit", "jobs", "show", "logs", "cancel", "nodes" };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        run_t r;
        const char *args[] = { cmds[i], "--help", NULL };
        s_run (&r, args);
        cr_assert_eq (r.status, 0, "%s --help: %d %s", cmds[i], r.status, r.err);
        cr_assert_not_null (strstr (r.out, "usage: strata "), "%s", r.out);
        cr_assert_not_null (strstr (r.out, "example"), "%s", r.out);
        const char *args2[] = { "help", cmds[i], NULL };
        run_t r2;
        s_run (&r2, args2);
        cr_assert_eq (r2.status, 0);
        cr_assert_str_eq (r2.out, r.out);
    }
    run_t r;
    const char *args[] = { "--help", NULL };
    s_run (&r, args);
    cr_assert_eq (r.status, 0);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        cr_assert_not_null (strstr (r.out, cmds[i]));
    const char *vargs[] = { "--version", NULL };
    s_run (&r, vargs);
    cr_assert_eq (r.status, 0);
    cr_assert (!strncmp (r.out, "strata ", 7), "%s", r.out);
}

Test (program, unreachable_scheduler_exits_1_with_the_hint, .init = s_init)
{
    char endpoint[64], want[512];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", s_unused_port ());
    run_t r;
    const char *args[] = { "--scheduler", endpoint, "--timeout", "300ms", "jobs", NULL };
    uint64_t t0 = st_mono_ms ();
    s_run (&r, args);
    uint64_t took = st_mono_ms () - t0;
    cr_assert_eq (r.status, 1, "status %d: %s", r.status, r.err);
    snprintf (want, sizeof want,
              "strata: error: no reply from scheduler at %s within 300ms\n"
              "hint: is strata-scheduler running? set --scheduler or STRATA_SCHEDULER\n",
              endpoint);
    cr_assert_str_eq (r.err, want);
    cr_assert_str_eq (r.out, "");
    cr_assert (took < 5000, "took %llu ms", (unsigned long long) took);

    /*  STRATA_SCHEDULER is the default endpoint; --scheduler wins over it.  */
    setenv ("STRATA_SCHEDULER", endpoint, 1);
    const char *args2[] = { "--timeout=300ms", "nodes", NULL };
    s_run (&r, args2);
    cr_assert_eq (r.status, 1);
    cr_assert_str_eq (r.err, want);
}

static void
s_write_file (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    cr_assert_not_null (f);
    fputs (text, f);
    fclose (f);
}

Test (program, invalid_spec_exits_1_names_the_field_and_sends_nothing, .init = s_init)
{
    fake_t *f = s_fake_start (FAKE_ANSWER);
    char dir[] = "/tmp/strata-cli-test-XXXXXX";
    cr_assert_not_null (mkdtemp (dir));
    char path[256];
    snprintf (path, sizeof path, "%s/bad.yaml", dir);
    s_write_file (path, "name: bad\ncommand: [echo, hi]\nresources:\n  cpus_per_rank: -1\n");

    run_t r;
    const char *args[] = { "--scheduler", f->endpoint, "submit", path, NULL };
    s_run (&r, args);
    cr_assert_eq (r.status, 1, "status %d: %s", r.status, r.err);
    s_assert_error_lines (&r);
    cr_assert_not_null (strstr (r.err, "resources.cpus_per_rank"), "stderr: %s", r.err);
    cr_assert_not_null (strstr (r.err, "\nhint: "), "stderr: %s", r.err);

    /*  The same mistake made with flags names the flag and the field.  */
    const char *args2[] = { "--scheduler", f->endpoint, "submit", "--cpus", "abc", "--", "echo", "hi", NULL };
    s_run (&r, args2);
    cr_assert_eq (r.status, 1, "status %d: %s", r.status, r.err);
    s_assert_error_lines (&r);
    cr_assert_not_null (strstr (r.err, "--cpus"), "stderr: %s", r.err);
    cr_assert_not_null (strstr (r.err, "cpus_per_rank"), "stderr: %s", r.err);

    /*  An unknown field in the file.  */
    s_write_file (path, "command: [echo]\nrsources: {ranks: 2}\n");
    s_run (&r, args);
    cr_assert_eq (r.status, 1);
    cr_assert_not_null (strstr (r.err, "rsources"), "stderr: %s", r.err);

    /*  A file that is not there.  */
    snprintf (path, sizeof path, "%s/missing.yaml", dir);
    s_run (&r, args);
    cr_assert_eq (r.status, 1);
    s_assert_error_lines (&r);

    st_sleep_ms (200);
    cr_assert_eq (atomic_load (&f->received), 0, "the scheduler got a message");
    s_fake_stop (f);
    snprintf (path, sizeof path, "%s/bad.yaml", dir);
    unlink (path);
    rmdir (dir);
}

Test (program, submit_from_flags_sends_the_canonical_spec, .init = s_init)
{
    fake_t *f = s_fake_start (FAKE_ANSWER);
    run_t r;
    const char *args[] = { "--scheduler", f->endpoint,       "submit",  "--json",   "--name",
                           "hello",       "--cpus",          "0.5",     "--memory", "128M",
                           "--env",       "LIST=a,b",        "--label", "rack=r1",  "--",
                           "echo",        "--not-an-option", "hi",      NULL };
    s_run (&r, args);
    cr_assert_eq (r.status, 0, "status %d: %s", r.status, r.err);
    cr_assert_str_eq (r.out, "{\"id\":42}\n");
    json_error_t jerr;
    json_t *spec = json_loads (f->last_spec, 0, &jerr);
    cr_assert_not_null (spec, "spec_json: %s", f->last_spec);
    json_t *cmd = json_object_get (spec, "command");
    cr_assert_eq (json_array_size (cmd), 3);
    cr_assert_str_eq (json_string_value (json_array_get (cmd, 1)), "--not-an-option");
    cr_assert_str_eq (json_string_value (json_object_get (spec, "name")), "hello");
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (spec, "env"), "LIST")), "a,b");
    json_t *res = json_object_get (spec, "resources");
    cr_assert_float_eq (json_number_value (json_object_get (res, "cpus_per_rank")), 0.5, 1e-9);
    json_decref (spec);
    /*  Each submission carries a fresh token, so resending it cannot make two jobs.  */
    char first[80];
    snprintf (first, sizeof first, "%s", f->last_token);
    cr_assert_eq (strlen (first), 32, "token '%s'", first);
    cr_assert_eq (strspn (first, "0123456789abcdef"), 32, "token '%s'", first);

    const char *args2[] = { "--scheduler", f->endpoint, "submit", "--", "true", NULL };
    s_run (&r, args2);
    cr_assert_eq (r.status, 0);
    cr_assert_str_eq (r.out, "submitted job 42\n");
    cr_assert_str_neq (f->last_token, first, "a new submission, a new token");

    /*  --wait polls the job until it ends (the fake's jobs have SUCCEEDED).  */
    const char *args3[] = { "--scheduler", f->endpoint, "submit", "--wait", "--", "true", NULL };
    s_run (&r, args3);
    cr_assert_eq (r.status, 0, "%s", r.err);
    cr_assert_str_eq (r.out, "submitted job 42\njob 42 SUCCEEDED\n");
    s_fake_stop (f);
}

Test (program, show_and_jobs_talk_the_protocol, .init = s_init)
{
    fake_t *f = s_fake_start (FAKE_ANSWER);
    run_t r;
    const char *args[] = { "--scheduler", f->endpoint, "show", "7", "--json", NULL };
    s_run (&r, args);
    cr_assert_eq (r.status, 0, "%s", r.err);
    json_t *job = json_loads (r.out, 0, NULL);
    cr_assert_not_null (job, "%s", r.out);
    cr_assert_eq (json_integer_value (json_object_get (job, "id")), 7);
    json_decref (job);

    const char *args2[] = { "--scheduler", f->endpoint, "jobs", NULL };
    s_run (&r, args2);
    cr_assert_eq (r.status, 0, "%s", r.err);
    cr_assert_str_eq (r.out, "ID  NAME  TENANT  STATE  RANKS  NODE  AGE  REASON\n");
    cr_assert_eq (f->last_limit, 50);

    const char *args3[] = { "--scheduler", f->endpoint, "jobs", "--json", "--limit", "5", NULL };
    s_run (&r, args3);
    cr_assert_eq (r.status, 0, "%s", r.err);
    cr_assert_str_eq (r.out, "[]\n");
    cr_assert_eq (f->last_limit, 5);
    s_fake_stop (f);

    f = s_fake_start (FAKE_ERROR);
    const char *args4[] = { "--scheduler", f->endpoint, "show", "42", NULL };
    s_run (&r, args4);
    cr_assert_eq (r.status, 1);
    cr_assert_str_eq (r.err, "strata: error: job 42 not found\nhint: it may have been purged\n");
    s_fake_stop (f);
}

Test (program, scheduler_errors_print_as_one_line, .init = s_init)
{
    fake_t *f = s_fake_start (FAKE_ERROR_NO_HINT);
    run_t r;
    const char *args[] = { "--scheduler", f->endpoint, "cancel", "42", NULL };
    s_run (&r, args);
    cr_assert_eq (r.status, 1);
    cr_assert_str_eq (r.err, "strata: error: job 42 already ended\n");
    cr_assert_str_eq (r.out, "");
    s_fake_stop (f);
}

Test (program, logs_follow_reads_to_the_end_and_restarts_with_a_new_attempt, .init = s_init)
{
    fake_t *f = s_fake_start (FAKE_LOGS);
    run_t r;
    const char *args[] = { "--scheduler", f->endpoint, "logs", "-f", "3", NULL };
    s_run (&r, args);
    cr_assert_eq (r.status, 0, "%s", r.err);
    /*  "on" from attempt 1, then attempt 2's whole log from its start.  */
    cr_assert_str_eq (r.out, "ontwo\n");
    cr_assert_str_eq (r.err, "strata: job 3 attempt 2 started; its log follows\n");
    /*  The end is confirmed by one more (empty) read after SUCCEEDED was seen.  */
    cr_assert_eq (f->log_calls, 6);
    s_fake_stop (f);

    /*  Without -f: what is there now, then stop.  */
    f = s_fake_start (FAKE_LOGS);
    const char *args2[] = { "--scheduler", f->endpoint, "logs", "3", NULL };
    s_run (&r, args2);
    cr_assert_eq (r.status, 0, "%s", r.err);
    cr_assert_str_eq (r.out, "on");
    cr_assert_eq (f->log_calls, 2);
    s_fake_stop (f);
}

/*  -- API tokens ------------------------------------------------------------------  */

Test (client, the_token_goes_with_every_request)
{
    fake_t *f = s_fake_start (FAKE_ANSWER);
    st_error_t err;
    cli_client_t *c = cli_client_new (f->endpoint, 5000, &err);
    Strata__GetRequest get;
    Strata__Envelope req = s_get_request (&get, 42), *reply = NULL;
    cr_assert_eq (cli_client_request (c, &req, STRATA__ENVELOPE__BODY_JOB, &reply, &err), ST_OK);
    cr_assert_str_eq (f->last_auth, "", "no token set: none sent");
    st_wire_free (reply);
    cli_client_set_token (c, "strata_0123456789abcdef0123456789abcdef012", "STRATA_TOKEN");
    for (int i = 0; i < 2; i++) {
        cr_assert_eq (cli_client_request (c, &req, STRATA__ENVELOPE__BODY_JOB, &reply, &err), ST_OK);
        cr_assert_str_eq (f->last_auth, "strata_0123456789abcdef0123456789abcdef012");
        st_wire_free (reply);
    }
    cli_client_destroy (&c);
    s_fake_stop (f);
}

Test (client, identity_errors_map_to_rc_and_name_the_token_source)
{
    cr_assert_eq (cli_client_error_rc (STRATA__ERROR_CODE__ERROR_UNAUTHENTICATED), ST_EAUTH);
    cr_assert_eq (cli_client_error_rc (STRATA__ERROR_CODE__ERROR_PERMISSION_DENIED), ST_EPERM);
    cr_assert_eq (cli_client_error_rc (STRATA__ERROR_CODE__ERROR_LIMIT), ST_ELIMIT);
    fake_t *f = s_fake_start (FAKE_UNAUTHENTICATED);
    st_error_t err;
    cli_client_t *c = cli_client_new (f->endpoint, 5000, &err);
    Strata__GetRequest get;
    Strata__Envelope req = s_get_request (&get, 42), *reply = NULL;
    cr_assert_eq (cli_client_request (c, &req, STRATA__ENVELOPE__BODY_JOB, &reply, &err), ST_EAUTH);
    cr_assert_str_eq (err.msg, "not authenticated: the API token has expired (no token given)");
    cr_assert_str_eq (err.hint, "ask an admin for a new one");
    cli_client_set_token (c, "strata_0123456789abcdef0123456789abcdef012", "--token");
    cr_assert_eq (cli_client_request (c, &req, STRATA__ENVELOPE__BODY_JOB, &reply, &err), ST_EAUTH);
    cr_assert_str_eq (err.msg, "not authenticated: the API token has expired (the token from --token)");
    cli_client_destroy (&c);
    s_fake_stop (f);
}

Test (program, whoami_and_admin_have_help, .init = s_init)
{
    static const char *const cmds[][4] = { { "whoami", "--help" },
                                           { "admin", "user", "add", "--help" },
                                           { "admin", "user", "list", "--help" },
                                           { "admin", "user", "remove", "--help" },
                                           { "admin", "token", "create", "--help" },
                                           { "admin", "token", "list", "--help" },
                                           { "admin", "token", "revoke", "--help" } };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        run_t r;
        const char *args[5] = { 0 };
        for (int k = 0; k < 4 && cmds[i][k]; k++)
            args[k] = cmds[i][k];
        s_run (&r, args);
        cr_assert_eq (r.status, 0, "%s %s: %d %s", cmds[i][0], cmds[i][1], r.status, r.err);
        cr_assert_not_null (strstr (r.out, "usage: strata "), "%s", r.out);
        cr_assert_not_null (strstr (r.out, "example"), "%s", r.out);
    }
    run_t r;
    const char *args[] = { "admin", "user", "frobnicate", NULL };
    s_run (&r, args);
    cr_assert_eq (r.status, 2, "%s", r.err);
    cr_assert_not_null (strstr (r.err, "unknown command 'admin user frobnicate'"), "%s", r.err);
}

Test (program, a_token_file_others_may_read_is_refused_before_sending, .init = s_init)
{
    fake_t *f = s_fake_start (FAKE_ANSWER);
    char home[64], dir[128], path[160];
    snprintf (home, sizeof home, "/tmp/strata-test-home-XXXXXX");
    cr_assert_not_null (mkdtemp (home));
    snprintf (dir, sizeof dir, "%s/.config", home);
    mkdir (dir, 0700);
    snprintf (dir, sizeof dir, "%s/.config/strata", home);
    mkdir (dir, 0700);
    snprintf (path, sizeof path, "%s/token", dir);
    FILE *fp = fopen (path, "w");
    cr_assert_not_null (fp);
    fputs ("strata_0123456789abcdef0123456789abcdef012\n", fp);
    fclose (fp);
    chmod (path, 0644);
    char *old_home = getenv ("HOME") ? strdup (getenv ("HOME")) : NULL;
    setenv ("HOME", home, 1);
    unsetenv ("STRATA_TOKEN");
    run_t r;
    const char *args[] = { "--scheduler", f->endpoint, "--timeout", "2s", "jobs", NULL };
    s_run (&r, args);
    cr_assert_eq (r.status, 1, "%s", r.err);
    cr_assert_not_null (strstr (r.err, "is accessible by group or others (mode 0644)"), "%s", r.err);
    cr_assert_not_null (strstr (r.err, "hint: a token is a password: chmod 600"), "%s", r.err);
    cr_assert_eq (atomic_load (&f->received), 0, "a request was sent");
    chmod (path, 0600);
    s_run (&r, args);
    cr_assert_eq (r.status, 0, "%s", r.err);
    cr_assert_str_eq (f->last_auth, "strata_0123456789abcdef0123456789abcdef012");
    if (old_home)
        setenv ("HOME", old_home, 1);
    free (old_home);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", home);
    cr_assert_eq (system (cmd), 0);
    s_fake_stop (f);
}
