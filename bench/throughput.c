/*  throughput.c: end-to-end job throughput of a real Strata deployment; the
 *  driver of bench/throughput and bench/scale.
 *
 *  Starts strata-scheduler and W strata-workers as child processes against the
 *  given database, submits N no-op jobs (`true`) over one client connection with
 *  up to --window requests in flight, and waits until every job is recorded
 *  SUCCEEDED in PostgreSQL (with the server's default synchronous_commit, so
 *  each acknowledged submit is durable). Prints `key: value` lines.
 *
 *    jobs_per_s         succeeded / (time from first submit to all N ended)
 *    submit_per_s       N / (time from first submit to last acknowledgement)
 *    submit_ack_p50_ms  latency from sending a submit to its acknowledgement
 *    submit_ack_p99_ms
 *    placements_per_s   placements / (first to last placement), from the
 *                       SCHEDULED transitions in PostgreSQL's events table
 *    scheduler_rss_mb, scheduler_peak_rss_mb
 *                       VmRSS and VmHWM of the scheduler once every job ended
 *    decision_p50_ms, decision_p99_ms, decision_max_ms
 *                       placement pass durations from the scheduler's
 *                       `cycle_stats:` line at exit ("unavailable" without it)
 *
 *  --timeout DUR bounds the run from the first submit (default 30 min): when
 *  it expires, the figures cover what ended by then (jobs_per_s is then a
 *  partial rate) and `timed_out: yes` says so; bench/backlog uses it so that a
 *  pathological point cannot run for ever.
 *
 *  For scale (bench/scale): --hollow K makes each worker process emulate K
 *  nodes (strata-worker --hollow K), --submit-first queues every job before any
 *  worker starts (so the scheduler holds all N pending when the nodes come),
 *  --simulate DUR gives each job `simulate: {duration: DUR}` (hollow nodes hold
 *  it that long), and --heartbeat / --node-timeout set the scheduler's timers.
 *
 *  bench/throughput and bench/scale (scripts) start a throwaway PostgreSQL and
 *  run this. */
#include <errno.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
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
    int64_t hollow;
    uint32_t node_cpus_milli;
    uint64_t node_mem_mb;
    int submit_first;
    char *simulate;
    uint64_t heartbeat_ms;
    uint64_t node_timeout_ms;
    uint64_t launch_timeout_ms;
    uint64_t timeout_ms;
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
    { "hollow", 0, ST_OPT_INT, offsetof (s_cfg_t, hollow), 0, 100000, "K",
      "each worker process emulates K nodes (strata-worker --hollow K); 0: real workers", NULL },
    { "node-cpus", 0, ST_OPT_CPUS_MILLI, offsetof (s_cfg_t, node_cpus_milli), 1, 100000000, "N",
      "CPUs each node offers", NULL },
    { "node-memory", 0, ST_OPT_MEM_MB, offsetof (s_cfg_t, node_mem_mb), 1, (int64_t) 1 << 30, "SIZE",
      "memory each node offers", NULL },
    { "submit-first", 0, ST_OPT_BOOL, offsetof (s_cfg_t, submit_first), 0, 0, NULL,
      "submit every job before starting the workers", NULL },
    { "simulate", 0, ST_OPT_STRING, offsetof (s_cfg_t, simulate), 0, 0, "DUR",
      "give each job simulate: {duration: DUR} (hollow nodes hold it that long)", NULL },
    { "heartbeat", 0, ST_OPT_DURATION_MS, offsetof (s_cfg_t, heartbeat_ms), 10, 600000, "DUR",
      "the scheduler's --heartbeat-interval", NULL },
    { "node-timeout", 0, ST_OPT_DURATION_MS, offsetof (s_cfg_t, node_timeout_ms), 50, 86400000, "DUR",
      "the scheduler's --node-timeout (and the workers' --scheduler-timeout)", NULL },
    { "launch-timeout", 0, ST_OPT_DURATION_MS, offsetof (s_cfg_t, launch_timeout_ms), 10, 600000, "DUR",
      "the scheduler's --launch-timeout", NULL },
    { "timeout", 0, ST_OPT_DURATION_MS, offsetof (s_cfg_t, timeout_ms), 1000, 86400000, "DUR",
      "stop waiting after DUR from the first submit and report what ended by then (timed_out: yes)", NULL },
    { "database", 'd', ST_OPT_STRING, offsetof (s_cfg_t, database), 0, 0, "DSN",
      "PostgreSQL connection string of an empty database", NULL },
    { "bin-dir", 0, ST_OPT_PATH, offsetof (s_cfg_t, bindir), 0, 0, "DIR",
      "where strata-scheduler and strata-worker are", NULL },
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

static uint64_t
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/*  The submit loop: N submits over one DEALER, at most window unacknowledged.  */
typedef struct {
    uint64_t *sent_at; /*  per submit, µs  */
    uint64_t *lat_us;  /*  per reply  */
    int64_t acked, failed;
    uint64_t t0_us, last_ack_us;
} s_submits_t;

static void
s_submit_all (const s_cfg_t *cfg, void *sock, const char *spec, s_submits_t *r, uint64_t deadline)
{
    int64_t sent = 0;
    r->t0_us = r->last_ack_us = s_now_us ();
    while (r->acked + r->failed < cfg->jobs && st_mono_ms () < deadline) {
        while (sent < cfg->jobs && sent - r->acked - r->failed < cfg->window) {
            Strata__Envelope env;
            Strata__SubmitRequest sub = STRATA__SUBMIT_REQUEST__INIT;
            st_wire_envelope_init (&env, (uint64_t) sent + 1);
            sub.spec_json = (char *) spec;
            env.body_case = STRATA__ENVELOPE__BODY_SUBMIT;
            env.submit = &sub;
            r->sent_at[sent] = s_now_us ();
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
            uint64_t now_us = s_now_us ();
            uint64_t idx = rep->reply_to - 1;
            if (idx < (uint64_t) cfg->jobs)
                r->lat_us[r->acked + r->failed] = now_us - r->sent_at[idx];
            if (rep->body_case == STRATA__ENVELOPE__BODY_SUBMIT_REPLY)
                r->acked++;
            else {
                r->failed++;
                if (r->failed == 1 && rep->body_case == STRATA__ENVELOPE__BODY_ERROR)
                    fprintf (stderr, "submit refused: %s\n", rep->error->message);
            }
            r->last_ack_us = now_us;
            st_wire_free (rep);
        }
    }
}

/*  Starts the worker processes: real ones with their own state directory, or
 *  hollow ones with cfg->hollow nodes each.  */
static void
s_start_workers (const s_cfg_t *cfg, const char *worker_bin, const char *endpoint)
{
    char cpus[32], mem[32], hollow[32], timeout[32];
    snprintf (cpus, sizeof cpus, "%.3f", cfg->node_cpus_milli / 1000.0);
    snprintf (mem, sizeof mem, "%" PRIu64 "M", cfg->node_mem_mb);
    snprintf (hollow, sizeof hollow, "%" PRId64, cfg->hollow);
    snprintf (timeout, sizeof timeout, "%" PRIu64 "ms", cfg->node_timeout_ms);
    for (int64_t w = 0; w < cfg->workers; w++) {
        char name[32], state[1200], wlog[1200];
        snprintf (name, sizeof name, "bench-%" PRId64, w);
        snprintf (state, sizeof state, "%s/%s", cfg->workdir, name);
        snprintf (wlog, sizeof wlog, "%s/%s.log", cfg->workdir, name);
        char *wargv[24] = { (char *) worker_bin,
                            "--scheduler",
                            (char *) endpoint,
                            "--node",
                            name,
                            "--pool",
                            "bench",
                            "--cpus",
                            cpus,
                            "--memory",
                            mem,
                            "--scheduler-timeout",
                            timeout,
                            NULL };
        int n = 13;
        if (cfg->hollow > 0) {
            wargv[n++] = "--hollow";
            wargv[n++] = hollow;
        }
        else {
            wargv[n++] = "--state-dir";
            wargv[n++] = state;
        }
        wargv[n] = NULL;
        s_spawn (wargv, wlog);
    }
}

/*  Whether nothing listens on 127.0.0.1:port. With SO_REUSEADDR, as ZeroMQ
 *  binds, only a listener makes bind fail (not connections left in TIME_WAIT).  */
static int
s_port_free (int64_t port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0)
        return 1;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int free_ = bind (fd, (struct sockaddr *) &sa, sizeof sa) == 0;
    close (fd);
    return free_;
}

/*  VmRSS and VmHWM of pid in MiB (-1 when unknown).  */
static void
s_rss_mb (pid_t pid, double *rss, double *hwm)
{
    char path[64], line[256];
    *rss = *hwm = -1;
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return;
    long kb;
    while (fgets (line, sizeof line, f)) {
        if (sscanf (line, "VmRSS: %ld kB", &kb) == 1)
            *rss = kb / 1024.0;
        else if (sscanf (line, "VmHWM: %ld kB", &kb) == 1)
            *hwm = kb / 1024.0;
    }
    fclose (f);
}

/*  CPU seconds (user + system) pid has used so far, -1 when unknown.  */
static double
s_cpu_s (pid_t pid)
{
    char path[64], buf[2048];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *f = fopen (path, "r");
    size_t n = f ? fread (buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose (f);
    buf[n] = '\0';
    char *p = strrchr (buf, ')');
    unsigned long long ut, st;
    /*  After "(comm)": state and 10 more fields, then utime and stime.  */
    if (!p || sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double) (ut + st) / (double) sysconf (_SC_CLK_TCK);
}

/*  Lines of the file at path that contain needle (0 when it cannot be read).  */
static int64_t
s_count_lines (const char *path, const char *needle)
{
    FILE *f = fopen (path, "r");
    char line[1024];
    int64_t n = 0;
    while (f && fgets (line, sizeof line, f))
        n += strstr (line, needle) != NULL;
    if (f)
        fclose (f);
    return n;
}

/*  Prints the decision latency from the last `cycle_stats:` line of the
 *  scheduler's log (written when it stops).  */
static void
s_print_cycle_stats (const char *log)
{
    FILE *f = fopen (log, "r");
    char line[1024], found[1024] = "";
    while (f && fgets (line, sizeof line, f))
        if (strstr (line, "cycle_stats:"))
            snprintf (found, sizeof found, "%s", line);
    if (f)
        fclose (f);
    unsigned long long cycles = 0, placed = 0;
    double p50, p99, max;
    const char *at = strstr (found, "cycle_stats:");
    if (!at
        || sscanf (at, "cycle_stats: cycles=%llu placed=%llu p50_ms=%lf p99_ms=%lf max_ms=%lf", &cycles, &placed,
                   &p50, &p99, &max)
               != 5) {
        printf ("decision_p50_ms: unavailable\n");
        return;
    }
    printf ("decision_cycles: %llu\n", cycles);
    printf ("decision_placed: %llu\n", placed);
    printf ("decision_p50_ms: %.1f\n", p50);
    printf ("decision_p99_ms: %.1f\n", p99);
    printf ("decision_max_ms: %.1f\n", max);
}

/*  Placements per second from the SCHEDULED transitions PostgreSQL recorded.  */
static void
s_print_placements (PGconn *db)
{
    PGresult *r = PQexec (db, "SELECT count (*), coalesce (extract (epoch FROM max (at) - min (at)), 0) FROM events "
                              "WHERE kind = 'state' AND to_state = 'SCHEDULED'");
    if (PQresultStatus (r) != PGRES_TUPLES_OK) {
        printf ("placements_per_s: unavailable\n");
        PQclear (r);
        return;
    }
    double n = strtod (PQgetvalue (r, 0, 0), NULL), span = strtod (PQgetvalue (r, 0, 1), NULL);
    printf ("placements: %.0f\n", n);
    printf ("placement_span_s: %.3f\n", span);
    printf ("placements_per_s: %.1f\n", span > 0 ? n / span : 0.0);
    PQclear (r);
}

int
main (int argc, char **argv)
{
    s_cfg_t cfg = { .jobs = 2000,
                    .workers = 2,
                    .window = 256,
                    .port = 27700,
                    .node_cpus_milli = 64000,
                    .node_mem_mb = 65536,
                    .heartbeat_ms = 1000,
                    .node_timeout_ms = 30000,
                    .launch_timeout_ms = 5000,
                    .timeout_ms = 1800000 };
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
    /*  The scheduler holds one connection per node: let it (and everything
     *  else started here) open as many files as the hard limit allows.  */
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit (RLIMIT_NOFILE, &rl);
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

    /*  Another run on this machine may hold the ports: its scheduler would take
     *  this run's workers and submits. Refuse rather than measure it.  */
    for (int64_t p = cfg.port; p < cfg.port + 3; p++)
        if (!s_port_free (p)) {
            fprintf (stderr,
                     "strata-bench-throughput: error: port %" PRId64 " is in use (another run?); pick --port\n", p);
            return 1;
        }
    PGconn *db = PQconnectdb (cfg.database);
    if (PQstatus (db) != CONNECTION_OK) {
        fprintf (stderr, "strata-bench-throughput: error: %s", PQerrorMessage (db));
        return 1;
    }
    char ep_w[64], ep_c[64], ep_e[64], hb[32], nt[32], lt[32];
    snprintf (ep_w, sizeof ep_w, "tcp://127.0.0.1:%" PRId64, cfg.port);
    snprintf (ep_c, sizeof ep_c, "tcp://127.0.0.1:%" PRId64, cfg.port + 1);
    snprintf (ep_e, sizeof ep_e, "tcp://127.0.0.1:%" PRId64, cfg.port + 2);
    snprintf (hb, sizeof hb, "%" PRIu64 "ms", cfg.heartbeat_ms);
    snprintf (nt, sizeof nt, "%" PRIu64 "ms", cfg.node_timeout_ms);
    snprintf (lt, sizeof lt, "%" PRIu64 "ms", cfg.launch_timeout_ms);

    char sched_bin[1100], worker_bin[1100], log[1200];
    snprintf (sched_bin, sizeof sched_bin, "%s/strata-scheduler", bindir);
    snprintf (worker_bin, sizeof worker_bin, "%s/strata-worker", bindir);
    snprintf (log, sizeof log, "%s/scheduler.log", cfg.workdir);
    char *sargv[] = { sched_bin, "--database",           cfg.database, "--worker-endpoint",
                      ep_w,      "--client-endpoint",    ep_c,         "--event-endpoint",
                      ep_e,      "--heartbeat-interval", hb,           "--node-timeout",
                      nt,        "--launch-timeout",     lt,           NULL };
    pid_t sched_pid = s_spawn (sargv, log);
    int64_t nodes = cfg.workers * (cfg.hollow > 0 ? cfg.hollow : 1);
    uint64_t register_ms = 30000 + (uint64_t) nodes * 20;

    void *ctx = zmq_ctx_new ();
    void *sock = zmq_socket (ctx, ZMQ_DEALER);
    st_wire_socket_defaults (sock);
    zmq_connect (sock, ep_c);
    char spec[512];
    snprintf (spec, sizeof spec,
              "{\"name\":\"noop\",\"command\":[\"true\"],\"resources\":{\"cpus_per_rank\":0.1,\"mem_per_rank\":16}"
              "%s%s%s}",
              cfg.simulate ? ",\"simulate\":{\"duration\":\"" : "", cfg.simulate ? cfg.simulate : "",
              cfg.simulate ? "\"}" : "");
    s_submits_t sub = { .sent_at = calloc ((size_t) cfg.jobs + 1, sizeof (uint64_t)),
                        .lat_us = calloc ((size_t) cfg.jobs + 1, sizeof (uint64_t)) };
    if (!sub.sent_at || !sub.lat_us)
        return 1;

    uint64_t deadline = st_mono_ms () + cfg.timeout_ms;
    if (cfg.submit_first)
        s_submit_all (&cfg, sock, spec, &sub, deadline);
    s_start_workers (&cfg, worker_bin, ep_w);
    /*  Wait for every node to register.  */
    uint64_t until = st_mono_ms () + register_ms;
    while (s_count (db, "SELECT count (*) FROM nodes WHERE state = 'UP'") < nodes) {
        if (st_mono_ms () > until) {
            fprintf (stderr,
                     "strata-bench-throughput: error: %" PRId64 " nodes did not register within %" PRIu64
                     " s (see %s)\n",
                     nodes, register_ms / 1000, cfg.workdir);
            s_stop_children ();
            return 1;
        }
        st_sleep_ms (50);
    }
    uint64_t registered_us = s_now_us ();
    if (!cfg.submit_first)
        s_submit_all (&cfg, sock, spec, &sub, deadline);

    /*  Wait until PostgreSQL records every job as ended (SUCCEEDED unless
     *  something went wrong: a run that fails jobs must not hang here).  */
    int64_t done = 0, ended = 0;
    uint64_t end_us = 0;
    int timed_out = 1;
    while (st_mono_ms () < deadline) {
        ended = s_count (db, "SELECT count (*) FROM jobs WHERE state IN ('SUCCEEDED', 'FAILED', 'CANCELLED')");
        end_us = s_now_us ();
        if (ended >= sub.acked && sub.acked + sub.failed == cfg.jobs) {
            timed_out = 0;
            break;
        }
        st_sleep_ms (cfg.jobs > 10000 ? 50 : 5);
    }
    done = s_count (db, "SELECT count (*) FROM jobs WHERE state = 'SUCCEEDED'");
    if (timed_out) {
        /*  A partial point: the rate is what succeeded by now over the time so far.  */
        ended = s_count (db, "SELECT count (*) FROM jobs WHERE state IN ('SUCCEEDED', 'FAILED', 'CANCELLED')");
        end_us = s_now_us ();
    }
    int64_t events = s_count (db, "SELECT count (*) FROM events");
    double rss, hwm, sched_cpu = s_cpu_s (sched_pid), worker_cpu = 0, worker_hwm = 0;
    s_rss_mb (sched_pid, &rss, &hwm);
    for (int i = 0; i < s_nchildren; i++) {
        if (s_children[i] == sched_pid)
            continue;
        double r, h;
        s_rss_mb (s_children[i], &r, &h);
        worker_hwm = h > worker_hwm ? h : worker_hwm;
        worker_cpu += s_cpu_s (s_children[i]);
    }
    zmq_close (sock);
    zmq_ctx_term (ctx);
    s_stop_children ();

    int64_t n = sub.acked + sub.failed;
    qsort (sub.lat_us, (size_t) n, sizeof *sub.lat_us, s_cmp_u64);
    double total_s = (double) (end_us - sub.t0_us) / 1e6;
    printf ("jobs: %" PRId64 "\n", cfg.jobs);
    printf ("workers: %" PRId64 "\n", cfg.workers);
    printf ("nodes: %" PRId64 "\n", nodes);
    printf ("window: %" PRId64 "\n", cfg.window);
    printf ("acknowledged: %" PRId64 "\n", sub.acked);
    printf ("refused: %" PRId64 "\n", sub.failed);
    printf ("succeeded: %" PRId64 "\n", done);
    printf ("failed: %" PRId64 "\n", ended - done);
    printf ("events_rows: %" PRId64 "\n", events);
    printf ("elapsed_s: %.3f\n", total_s);
    printf ("timed_out: %s\n", timed_out ? "yes" : "no");
    if (cfg.submit_first)
        printf ("after_registration_s: %.3f\n", (double) (end_us - registered_us) / 1e6);
    printf ("jobs_per_s: %.1f\n", total_s > 0 ? (double) done / total_s : 0.0);
    printf ("submit_per_s: %.1f\n", (double) sub.acked / ((double) (sub.last_ack_us - sub.t0_us) / 1e6));
    printf ("submit_ack_p50_ms: %.3f\n", n ? (double) sub.lat_us[n / 2] / 1000.0 : 0.0);
    printf ("submit_ack_p99_ms: %.3f\n", n ? (double) sub.lat_us[(n * 99) / 100] / 1000.0 : 0.0);
    printf ("submit_ack_max_ms: %.3f\n", n ? (double) sub.lat_us[n - 1] / 1000.0 : 0.0);
    s_print_placements (db);
    printf ("scheduler_rss_mb: %.1f\n", rss);
    printf ("scheduler_peak_rss_mb: %.1f\n", hwm);
    printf ("scheduler_cpu_s: %.1f\n", sched_cpu);
    printf ("worker_peak_rss_mb: %.1f\n", worker_hwm);
    printf ("workers_cpu_s: %.1f\n", worker_cpu);
    s_print_cycle_stats (log);
    /*  Signs of overload: launches the workers did not acknowledge in time, and
     *  workers that heard nothing from the scheduler for --node-timeout.  */
    int64_t reconnects = 0;
    for (int64_t w = 0; w < cfg.workers; w++) {
        char wlog[1200];
        snprintf (wlog, sizeof wlog, "%s/bench-%" PRId64 ".log", cfg.workdir, w);
        reconnects += s_count_lines (wlog, "reconnecting");
    }
    printf ("launch_resends: %" PRId64 "\n", s_count_lines (log, "resending launch"));
    printf ("nodes_lost: %" PRId64 "\n", s_count_lines (log, "lost: no heartbeat"));
    printf ("worker_reconnects: %" PRId64 "\n", reconnects);
    PQfinish (db);
    free (sub.sent_at);
    free (sub.lat_us);
    st_config_free (s_opts, &cfg);
    return done == cfg.jobs ? 0 : 1;
}
