/*  task_start.c: what a task's cgroup adds to starting and reaping it, in the
 *  worker's own code (worker/task.c, worker/cgroup.c) with nothing else around.
 *
 *  Runs --tasks no-op tasks (/bin/true, 16 MiB and 0.1 CPU, as bench/throughput's
 *  jobs) through st__wtask_start and st__wtask_reap, --in-flight at a time,
 *  alternating rounds without and with a cgroup (A B A B ...) so that drift on
 *  a shared machine hits both alike, and prints per round and then the median
 *  of each mode:
 *
 *    tasks_per_s     tasks started and reaped per second of wall time
 *    cpu_us_per_task CPU time (user + system) of this process and its children per task
 *
 *  Needs what the worker needs for cgroups (root, v1 or v2 with memory, cpu and
 *  pids); without them it runs mode A only and says why.  */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "st_config.h"
#include "task.h"

typedef struct {
    int64_t tasks;
    int64_t in_flight;
    int64_t rounds;
    char *state_dir;
    char *config;
} s_cfg_t;

static const st_opt_t s_opts[] = {
    { "tasks", 'n', ST_OPT_INT, offsetof (s_cfg_t, tasks), 1, 10000000, "N", "tasks per round", NULL },
    { "in-flight", 'j', ST_OPT_INT, offsetof (s_cfg_t, in_flight), 1, 1024, "N", "tasks running at once", NULL },
    { "rounds", 'r', ST_OPT_INT, offsetof (s_cfg_t, rounds), 1, 100, "N", "rounds of each mode", NULL },
    { "state-dir", 0, ST_OPT_PATH, offsetof (s_cfg_t, state_dir), 0, 0, "DIR", "the tasks' logs and directories",
      "/tmp/strata-bench-task-start" },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static double
s_cpu (void)
{
    struct rusage self, kids;
    getrusage (RUSAGE_SELF, &self);
    getrusage (RUSAGE_CHILDREN, &kids);
    double s = 0;
    const struct rusage *r[] = { &self, &kids };
    for (int i = 0; i < 2; i++)
        s += (double) (r[i]->ru_utime.tv_sec + r[i]->ru_stime.tv_sec)
             + (double) (r[i]->ru_utime.tv_usec + r[i]->ru_stime.tv_usec) / 1e6;
    return s;
}

/*  One round: n tasks, k at a time. Returns 0, or -1 when a start failed.  */
static int
s_round (const s_cfg_t *cfg, st__cgroup_t *cg, uint64_t job, double *per_s, double *cpu_us)
{
    const char *argv[] = { "/bin/true", NULL };
    st__wtask_t **live = calloc ((size_t) cfg->in_flight, sizeof *live);
    if (!live)
        return -1;
    int64_t started = 0, done = 0;
    double t0 = s_now (), c0 = s_cpu ();
    int rc = 0;
    while (done < cfg->tasks) {
        for (int64_t i = 0; i < cfg->in_flight; i++) {
            if (live[i] && st__wtask_reap (live[i])) {
                st__wtask_destroy (&live[i]);
                done++;
            }
            if (!live[i] && started < cfg->tasks) {
                st__wtask_spec_t spec = { .key = { job, (uint32_t) started, 1 },
                                          .argv = argv,
                                          .local_rank = -1,
                                          .cgroup = cg,
                                          .mem_mb = 16,
                                          .cpus_milli = 100 };
                live[i] = st__wtask_start (cfg->state_dir, &spec);
                started++;
                if (!live[i] || st__wtask_status (live[i])->state != STRATA__TASK_STATE__TASK_RUNNING) {
                    fprintf (stderr, "task-start: %s\n", live[i] ? st__wtask_status (live[i])->message : "no memory");
                    st__wtask_destroy (&live[i]);
                    rc = -1;
                    goto out;
                }
            }
        }
        if (cg)
            st__cgroup_tick (cg);
        usleep (100);
    }
    *per_s = (double) cfg->tasks / (s_now () - t0);
    *cpu_us = (s_cpu () - c0) * 1e6 / (double) cfg->tasks;
out:
    for (int64_t i = 0; i < cfg->in_flight; i++)
        st__wtask_destroy (&live[i]);
    free (live);
    return rc;
}

static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static double
s_median (double *v, int n)
{
    qsort (v, (size_t) n, sizeof *v, s_cmp);
    return v[(n - 1) / 2];
}

int
main (int argc, char **argv)
{
    s_cfg_t cfg = { .tasks = 2000, .in_flight = 32, .rounds = 3 };
    st_error_t err;
    st_error_clear (&err);
    st_rc_t rc = st_config_parse (s_opts, &cfg, argc, argv, "strata-bench-task-start [OPTIONS]",
                                  "Starts and reaps no-op tasks with the worker's code, without and with a cgroup.",
                                  NULL, NULL, &err);
    if (rc == ST_EAGAIN)
        return 0;
    if (rc != ST_OK) {
        fprintf (stderr, "strata-bench-task-start: %s\n", err.msg);
        return 2;
    }
    char why[256];
    char name[64];
    snprintf (name, sizeof name, "bench-task-start.%d", (int) getpid ());
    st__cgroup_t *cg = st__cgroup_open (ST__CGROUP_DEFAULT_ROOT, name, 0, why, sizeof why);
    printf ("isolation: %s%s\n", cg ? st__cgroup_kind (cg) : "none: ", cg ? "" : why);
    double ps[2][100], cu[2][100];
    int status = 0;
    for (int r = 0; r < cfg.rounds && !status; r++)
        for (int mode = 0; mode < (cg ? 2 : 1) && !status; mode++) {
            double per_s = 0, cpu_us = 0;
            if (s_round (&cfg, mode ? cg : NULL, (uint64_t) (r * 2 + mode + 1), &per_s, &cpu_us) != 0) {
                status = 1;
                break;
            }
            ps[mode][r] = per_s;
            cu[mode][r] = cpu_us;
            printf ("round %d %s: tasks_per_s: %.0f cpu_us_per_task: %.0f\n", r + 1, mode ? "B (cgroup)" : "A (none)",
                    per_s, cpu_us);
            fflush (stdout);
        }
    if (!status)
        for (int mode = 0; mode < (cg ? 2 : 1); mode++)
            printf ("median_%s: tasks_per_s: %.0f cpu_us_per_task: %.0f\n", mode ? "B" : "A",
                    s_median (ps[mode], (int) cfg.rounds), s_median (cu[mode], (int) cfg.rounds));
    st__cgroup_close (&cg);
    st_config_free (s_opts, &cfg);
    return status;
}
