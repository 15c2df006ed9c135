/*  spawn.c: the machine's spawn ceiling, the fastest rate at which it can start
 *  and reap processes; the reference line of bench/backlog.
 *
 *  Keeps --in-flight children of --program (default /bin/true) running with
 *  posix_spawn, starting a new one as each is reaped, for --duration, and prints
 *  `key: value` lines:
 *
 *    spawns          children started and reaped in the measured time
 *    elapsed_s       first spawn to the last reap
 *    spawns_per_s    spawns / elapsed_s
 *
 *  No end-to-end job run can start tasks faster than this on the same cores: a
 *  worker does at least this much per task (posix_spawn or vfork + exec, then
 *  wait), plus its own bookkeeping. The children's stdout and stderr go to
 *  /dev/null, as a no-op job's output costs nothing here.  */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "st_config.h"

extern char **environ;

typedef struct {
    int64_t in_flight;    /*  children alive at once  */
    uint64_t duration_ms; /*  how long to keep spawning  */
    char *program;        /*  what each child runs (no arguments)  */
    char *config;
} s_cfg_t;

static const st_opt_t s_opts[] = {
    { "in-flight", 'j', ST_OPT_INT, offsetof (s_cfg_t, in_flight), 1, 256, "N", "children running at once", NULL },
    { "duration", 't', ST_OPT_DURATION_MS, offsetof (s_cfg_t, duration_ms), 100, 600000, "DUR",
      "how long to keep spawning", NULL },
    { "program", 0, ST_OPT_PATH, offsetof (s_cfg_t, program), 0, 0, "PATH", "what each child runs", "/bin/true" },
    { "config", 0, ST_OPT_PATH, offsetof (s_cfg_t, config), 0, 0, "FILE", "options from a file", NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

static uint64_t
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/*  Starts one child of program with stdout and stderr on /dev/null; 0 or an
 *  errno value.  */
static int
s_spawn_one (const char *program, const posix_spawn_file_actions_t *fa)
{
    pid_t pid;
    char *argv[] = { (char *) program, NULL };
    return posix_spawn (&pid, program, fa, NULL, argv, environ);
}

int
main (int argc, char **argv)
{
    s_cfg_t cfg = { .in_flight = 4, .duration_ms = 3000 };
    st_error_t err = { 0 };
    st_rc_t rc = st_config_parse (s_opts, &cfg, argc, argv, "strata-bench-spawn [OPTIONS]",
                                  "The spawn ceiling: posix_spawn of a program with N children in flight.", NULL,
                                  NULL, &err);
    if (rc == ST_EAGAIN)
        return 0;
    if (rc != ST_OK) {
        fprintf (stderr, "strata-bench-spawn: error: %s\n", err.msg);
        return 2;
    }
    int ret = 1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init (&fa);
    posix_spawn_file_actions_addopen (&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen (&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);

    int64_t alive = 0, reaped = 0, failed = 0;
    uint64_t t0 = s_now_us (), stop = t0 + cfg.duration_ms * 1000u, last = t0;
    for (; alive < cfg.in_flight; alive++) {
        int e = s_spawn_one (cfg.program, &fa);
        if (e != 0) {
            fprintf (stderr, "strata-bench-spawn: error: cannot start %s: %s\n", cfg.program, strerror (e));
            goto out;
        }
    }
    /*  Reap one, start one, until the time is up; then drain.  */
    while (alive > 0) {
        int status;
        pid_t pid = waitpid (-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        alive--;
        last = s_now_us ();
        if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
            reaped++;
        else
            failed++;
        if (last < stop) {
            if (s_spawn_one (cfg.program, &fa) != 0)
                failed++;
            else
                alive++;
        }
    }
    double elapsed_s = (double) (last - t0) / 1e6;
    printf ("program: %s\n", cfg.program);
    printf ("in_flight: %" PRId64 "\n", cfg.in_flight);
    printf ("spawns: %" PRId64 "\n", reaped);
    printf ("spawn_failures: %" PRId64 "\n", failed);
    printf ("elapsed_s: %.3f\n", elapsed_s);
    printf ("spawns_per_s: %.1f\n", elapsed_s > 0 ? (double) reaped / elapsed_s : 0.0);
    ret = failed == 0 && reaped > 0 ? 0 : 1;
out:
    posix_spawn_file_actions_destroy (&fa);
    st_config_free (s_opts, &cfg);
    return ret;
}
