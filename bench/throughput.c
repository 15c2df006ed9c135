/*  throughput.c: end-to-end job throughput of a real Strata deployment.
 *
 *  Starts strata-scheduler and W strata-workers as child processes against the
 *  given database, submits N no-op jobs (`true`) over one client connection with
 *  up to --window requests in flight, and waits until every job is recorded
 *  SUCCEEDED in PostgreSQL (with the server's default synchronous_commit, so
 *  each acknowledged submit is durable). Prints `key: value` lines.
 *
 *    jobs_per_s         N / (time from first submit to all N SUCCEEDED)
 *    submit_per_s       N / (time from first submit to last acknowledgement)
 *    submit_ack_p50_ms  latency from sending a submit to its acknowledgement
 *    submit_ack_p99_ms
 *
 *  bench/throughput (a script) starts a throwaway PostgreSQL and runs this. */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "st_config.h"
#include "st_time.h"
#include "st_wire.h"

typedef struct {
    int64_t jobs;
    int64_t workers;
    int64_t window;
    int64_t port;
    char *database;
    char *bindir;
    char *workdir;
    char *config;
} s_cfg_t;

static const st_opt_t s_opts[] = {
    { "jobs", 'n', ST_OPT_INT, offsetof (s_cfg_t, jobs), 1, 10000000, "N", "number of jobs", NULL },
    { "workers", 'w', ST_OPT_INT, offsetof (s_cfg_t, workers), 1, 64, "W", "number of worker processes", NULL },
    { "window", 0, ST_OPT_INT, offsetof (s_cfg_t, window), 1, 100000, "K", "submits in flight at once", NULL },
    { "port", 0, ST_OPT_INT, offsetof (s_cfg_t, port), 1024, 65000, "PORT",
      "first of three TCP ports for the scheduler", NULL },
    { "database", 'd', ST_OPT_STRING, offsetof (s_cfg_t, database), 0, 0, "DSN",
      "PostgreSQL connection string of an empty database", NULL },
    { "bin-dir", 0, ST_OPT_PATH, offsetof (s_cfg_t, bindir), 0, 0, "DIR", "where strata-scheduler and strata-worker are",
      NULL },
    { "work-dir", 0, ST_OPT_PATH, offsetof (s_cfg_t, workdir), 0, 0, "DIR", "logs and worker state go here",
      "/tmp/strata-bench" },
    { "config", 0, ST_OPT_PATH, offsetof (s_cfg_t, config), 0, 0, "FILE", "options from a file", NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

static pid_t s_children[80];
static int s_nchildren;

static pid_t
s_spawn (char *const argv[], const char *log)
{
    pid_t pid = fork ();
    if (pid == 0) {
        FILE *f = freopen (log, "w", stderr);
        (void) f;
        if (!freopen ("/dev/null", "w", stdout))
            _exit (127);
        execv (argv[0], argv);
        fprintf (stderr, "exec %s: %s\n", argv[0], strerror (errno));
        _exit (127);
    }
    s_children[s_nchildren++] = pid;
    return pid;
}

static void
s_stop_children (void)
{
    for (int i = s_nchildren - 1; i >= 0; i--)
        kill (s_children[i], SIGTERM);
    for (int i = 0; i < s_nchildren; i++)
        waitpid (s_children[i], NULL, 0);
    s_nchildren = 0;
}

static int
s_cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

static int64_t
s_count (PGconn *db, const char *sql)
{
    PGresult *r = PQexec (db, sql);
    int64_t n = PQresultStatus (r) == PGRES_TUPLES_OK ? strtoll (PQgetvalue (r, 0, 0), NULL, 10) : -1;
    PQclear (r);
    return n;
}

int
main (int argc, char **argv)
{
    s_cfg_t cfg = { .jobs = 2000, .workers = 2, .window = 256, .port = 27700 };
    st_error_t err = { 0 };
    st_rc_t rc = st_config_parse (s_opts, &cfg, argc, argv, "strata-bench-throughput --database DSN [OPTIONS]",
                                  "End-to-end throughput of no-op jobs through a real scheduler and workers.", NULL,
                                  NULL, &err);
    if (rc == ST_EAGAIN)
        return 0;
    if (rc != ST_OK || !cfg.database) {
        fprintf (stderr, "strata-bench-throughput: error: %s\n", rc != ST_OK ? err.msg : "--database is required");
        return 2;
    }
    char bindir[1024];
    if (cfg.bindir)
        snprintf (bindir, sizeof bindir, "%s", cfg.bindir);
    else {
        ssize_t n = readlink ("/proc/self/exe", bindir, sizeof bindir - 1);
        bindir[n > 0 ? n : 0] = '\0';
        char *slash = strrchr (bindir, '/');
        if (slash)
            *slash = '\0';
    }
    char cmd[2048];
    snprintf (cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", cfg.workdir, cfg.workdir);
    if (system (cmd) != 0)
        return 1;

    PGconn *db = PQconnectdb (cfg.database);
    if (PQstatus (db) != CONNECTION_OK) {
        fprintf (stderr, "strata-bench-throughput: error: %s", PQerrorMessage (db));
        return 1;
    }
    char ep_w[64], ep_c[64], ep_e[64], ep_wc[64], ep_cc[64];
    snprintf (ep_w, sizeof ep_w, "tcp://127.0.0.1:%" PRId64, cfg.port);
    snprintf (ep_c, sizeof ep_c, "tcp://127.0.0.1:%" PRId64, cfg.port + 1);
    snprintf (ep_e, sizeof ep_e, "tcp://127.0.0.1:%" PRId64, cfg.port + 2);
    snprintf (ep_wc, sizeof ep_wc, "%s", ep_w);
    snprintf (ep_cc, sizeof ep_cc, "%s", ep_c);

    char sched_bin[1100], worker_bin[1100], log[1200];
    snprintf (sched_bin, sizeof sched_bin, "%s/strata-scheduler", bindir);
    snprintf (worker_bin, sizeof worker_bin, "%s/strata-worker", bindir);
    snprintf (log, sizeof log, "%s/scheduler.log", cfg.workdir);
    char *sargv[] = { sched_bin, "--database", cfg.database, "--worker-endpoint", ep_w, "--client-endpoint", ep_c,
                      "--event-endpoint", ep_e, "--heartbeat-interval", "1s", "--node-timeout", "30s", NULL };
    s_spawn (sargv, log);
    for (int64_t w = 0; w < cfg.workers; w++) {
        char name[32], state[1200], wlog[1200];
        snprintf (name, sizeof name, "bench-%" PRId64, w);
        snprintf (state, sizeof state, "%s/%s", cfg.workdir, name);
        snprintf (wlog, sizeof wlog, "%s/%s.log", cfg.workdir, name);
        char *wargv[] = { worker_bin, "--scheduler", ep_wc, "--node", name, "--pool", "bench", "--cpus", "64",
                          "--memory", "64G", "--state-dir", state, NULL };
        s_spawn (wargv, wlog);
    }
    /*  Wait for every worker to register.  */
    uint64_t deadline = st_mono_ms () + 30000;
    while (s_count (db, "SELECT count (*) FROM nodes WHERE state = 'UP'") < cfg.workers) {
        if (st_mono_ms () > deadline) {
            fprintf (stderr, "strata-bench-throughput: error: workers did not register within 30 s (see %s)\n",
                     cfg.workdir);
            s_stop_children ();
            return 1;
        }
        st_sleep_ms (50);
    }

    void *ctx = zmq_ctx_new ();
    void *sock = zmq_socket (ctx, ZMQ_DEALER);
    st_wire_socket_defaults (sock);
    zmq_connect (sock, ep_cc);
    const char *spec = "{\"name\":\"noop\",\"command\":[\"true\"],\"resources\":{\"cpus_per_rank\":0.1,"
                       "\"mem_per_rank\":16}}";
    uint64_t *sent_at = calloc ((size_t) cfg.jobs + 1, sizeof *sent_at);
    uint64_t *lat_us = calloc ((size_t) cfg.jobs + 1, sizeof *lat_us);
    if (!sent_at || !lat_us)
        return 1;
    int64_t sent = 0, acked = 0, failed = 0;
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    uint64_t t0_us = (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
    uint64_t last_ack_us = t0_us;
    deadline = st_mono_ms () + 600000;
    while (acked + failed < cfg.jobs && st_mono_ms () < deadline) {
        while (sent < cfg.jobs && sent - acked - failed < cfg.window) {
            Strata__Envelope env;
            Strata__SubmitRequest sub = STRATA__SUBMIT_REQUEST__INIT;
            st_wire_envelope_init (&env, (uint64_t) sent + 1);
            sub.spec_json = (char *) spec;
            env.body_case = STRATA__ENVELOPE__BODY_SUBMIT;
            env.submit = &sub;
            clock_gettime (CLOCK_MONOTONIC, &ts);
            sent_at[sent] = (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
            if (st_wire_send (sock, NULL, &env) != ST_OK)
                break;
            sent++;
        }
        zmq_pollitem_t it = { sock, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&it, 1, 1000) <= 0)
            continue;
        Strata__Envelope *rep = NULL;
        st_error_t e2 = { 0 };
        while (st_wire_recv (sock, 0, ZMQ_DONTWAIT, NULL, &rep, &e2) == ST_OK) {
            clock_gettime (CLOCK_MONOTONIC, &ts);
            uint64_t now_us = (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
            uint64_t idx = rep->reply_to - 1;
            if (idx < (uint64_t) cfg.jobs)
                lat_us[acked + failed] = now_us - sent_at[idx];
            if (rep->body_case == STRATA__ENVELOPE__BODY_SUBMIT_REPLY)
                acked++;
            else {
                failed++;
                if (failed == 1 && rep->body_case == STRATA__ENVELOPE__BODY_ERROR)
                    fprintf (stderr, "submit refused: %s\n", rep->error->message);
            }
            last_ack_us = now_us;
            st_wire_free (rep);
        }
    }
    /*  Wait until PostgreSQL records every job as SUCCEEDED.  */
    int64_t done = 0;
    uint64_t end_us = 0;
    while (st_mono_ms () < deadline) {
        done = s_count (db, "SELECT count (*) FROM jobs WHERE state = 'SUCCEEDED'");
        clock_gettime (CLOCK_MONOTONIC, &ts);
        end_us = (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
        if (done >= acked)
            break;
        st_sleep_ms (5);
    }
    int64_t events = s_count (db, "SELECT count (*) FROM events");
    zmq_close (sock);
    zmq_ctx_term (ctx);
    s_stop_children ();
    PQfinish (db);

    int64_t n = acked + failed;
    qsort (lat_us, (size_t) n, sizeof *lat_us, s_cmp_u64);
    double total_s = (double) (end_us - t0_us) / 1e6;
    printf ("jobs: %" PRId64 "\n", cfg.jobs);
    printf ("workers: %" PRId64 "\n", cfg.workers);
    printf ("window: %" PRId64 "\n", cfg.window);
    printf ("acknowledged: %" PRId64 "\n", acked);
    printf ("refused: %" PRId64 "\n", failed);
    printf ("succeeded: %" PRId64 "\n", done);
    printf ("events_rows: %" PRId64 "\n", events);
    printf ("elapsed_s: %.3f\n", total_s);
    printf ("jobs_per_s: %.1f\n", total_s > 0 ? (double) done / total_s : 0.0);
    printf ("submit_per_s: %.1f\n", (double) acked / ((double) (last_ack_us - t0_us) / 1e6));
    printf ("submit_ack_p50_ms: %.3f\n", n ? (double) lat_us[n / 2] / 1000.0 : 0.0);
    printf ("submit_ack_p99_ms: %.3f\n", n ? (double) lat_us[(n * 99) / 100] / 1000.0 : 0.0);
    printf ("submit_ack_max_ms: %.3f\n", n ? (double) lat_us[n - 1] / 1000.0 : 0.0);
    free (sent_at);
    free (lat_us);
    st_config_free (s_opts, &cfg);
    return done == cfg.jobs ? 0 : 1;
}
