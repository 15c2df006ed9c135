/*  worker_harness.h: what test_worker_protocol.c and test_worker_hollow.c
 *  share: a ROUTER socket playing the scheduler, a scratch directory, and a
 *  strata-worker process started and stopped around each test.  */
#ifndef ST_TEST_WORKER_HARNESS_H
#define ST_TEST_WORKER_HARNESS_H

#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "st_time.h"
#include "st_wire.h"
#include "test_tmpdir.h"

typedef struct {
    char dir[256];       /*  temp dir: state/ and worker.log  */
    char state_dir[300]; /*  given to the worker (not created here)  */
    void *ctx;
    void *router; /*  bound on loopback, at endpoint  */
    char endpoint[256];
    pid_t pid; /*  the worker, 0: none  */
} st_test_worker_t;

/*  Makes dir (from template, e.g. "/tmp/strata-test-proto-XXXXXX") and binds the router.  */
static inline void
st_test_worker_open (st_test_worker_t *w, const char *template)
{
    snprintf (w->dir, sizeof w->dir, "%s", template);
    cr_assert_not_null (mkdtemp (w->dir));
    /*  Open like /tmp (sticky): a worker run as root runs its tasks as
     *  strata-task, and they leave files here for the test.  */
    cr_assert_eq (chmod (w->dir, 01777), 0);
    snprintf (w->state_dir, sizeof w->state_dir, "%s/state", w->dir);
    w->ctx = zmq_ctx_new ();
    w->router = zmq_socket (w->ctx, ZMQ_ROUTER);
    st_wire_socket_defaults (w->router);
    cr_assert_eq (zmq_bind (w->router, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof w->endpoint;
    cr_assert_eq (zmq_getsockopt (w->router, ZMQ_LAST_ENDPOINT, w->endpoint, &len), 0);
}

/*  Stops the worker cleanly where possible (SIGTERM, 5 s, then SIGKILL), so
 *  sanitizer builds check its exit path too; closes the router; removes dir
 *  unless STRATA_TEST_KEEP=1.  */
static inline void
st_test_worker_close (st_test_worker_t *w)
{
    if (w->pid > 0) {
        kill (w->pid, SIGTERM);
        uint64_t until = st_mono_ms () + 5000;
        while (waitpid (w->pid, NULL, WNOHANG) == 0) {
            if (st_mono_ms () >= until) {
                kill (w->pid, SIGKILL);
                waitpid (w->pid, NULL, 0);
                break;
            }
            usleep (10000);
        }
    }
    zmq_close (w->router);
    zmq_ctx_term (w->ctx);
    const char *keep = getenv ("STRATA_TEST_KEEP");
    if (!keep || strcmp (keep, "1") != 0)
        st_test_rmtree (w->dir);
}

/*  The strata-worker binary ($STRATA_BIN_DIR, else build/bin).  */
static inline const char *
st_test_worker_bin (void)
{
    static char bin[512];
    const char *bindir = getenv ("STRATA_BIN_DIR");
    snprintf (bin, sizeof bin, "%s/strata-worker", bindir && bindir[0] ? bindir : "/work/main/build/bin");
    cr_assert_eq (access (bin, X_OK), 0, "no worker binary at %s", bin);
    return bin;
}

/*  Starts argv (argv[0] a path) with stderr appended to dir/worker.log. The
 *  worker dies with the test process, even when a failing test skips the
 *  teardown, and holds none of its output pipes.  */
static inline void
st_test_worker_spawn (st_test_worker_t *w, const char *const *argv)
{
    char logpath[400];
    snprintf (logpath, sizeof logpath, "%s/worker.log", w->dir);
    w->pid = fork ();
    cr_assert_geq (w->pid, 0);
    if (w->pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (!freopen (logpath, "a", stderr) || !freopen ("/dev/null", "w", stdout))
            _exit (126);
        execv (argv[0], (char *const *) argv);
        _exit (127);
    }
}

#endif
