/*  test_worker_task.c: task processes, end to end with real programs.
 *
 *  Each test gets its own state directory. Tasks are driven the way the
 *  worker's loop drives them: st__wtask_tick + st__wtask_reap until the end. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pidfile.h"
#include "st_time.h"
#include "task.h"
#include "test_tmpdir.h"

static char s_dir[256]; /*  per-test state directory  */

static void
setup (void)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/strata-test-task-XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
}

static void
teardown (void)
{
    st_test_rmtree (s_dir);
}

TestSuite (worker_task, .init = setup, .fini = teardown, .timeout = 30);

/*  Starts argv as task (job, 0, 1) with the given options.  */
static st__wtask_t *
s_start (uint64_t job, const char *const *argv, const st_kv_t *env, const char *workdir, uint32_t limit_s,
         uint32_t grace_ms)
{
    st__wtask_spec_t spec = {
        .key = { .job_id = job, .index = 0, .attempt = 1 },
        .argv = argv,
        .env = env,
        .workdir = workdir,
        .time_limit_s = limit_s,
        .kill_grace_ms = grace_ms,
        .local_rank = -1,
    };
    st__wtask_t *t = st__wtask_start (s_dir, &spec);
    cr_assert_not_null (t);
    return t;
}

/*  Ticks and reaps until the task ends; fails the test after timeout_ms.  */
static const st__wtask_status_t *
s_wait_end (st__wtask_t *t, uint64_t timeout_ms)
{
    uint64_t until = st_mono_ms () + timeout_ms;
    while (!st__wtask_reap (t)) {
        cr_assert (st_mono_ms () < until, "task did not end within %llu ms", (unsigned long long) timeout_ms);
        st__wtask_tick (t, st_mono_ms ());
        usleep (5000);
    }
    return st__wtask_status (t);
}

/*  The whole file as a string (caller frees), or NULL.  */
static char *
s_slurp (const char *path)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return NULL;
    char *buf = calloc (1, 65536);
    size_t n = fread (buf, 1, 65535, f);
    buf[n] = '\0';
    fclose (f);
    return buf;
}

static char *
s_log (uint64_t job, int is_stderr)
{
    char path[4096];
    st__wtask_key_t key = { job, 0, 1 };
    cr_assert_eq (st__wtask_log_path (s_dir, &key, is_stderr, path, sizeof path), 0);
    return s_slurp (path);
}

/*  A zombie or a missing process both count as gone.  */
static int
s_gone (pid_t pid)
{
    return st__proc_stat (pid, NULL, NULL) != 0;
}

static int
s_wait_gone (pid_t pid, uint64_t timeout_ms)
{
    uint64_t until = st_mono_ms () + timeout_ms;
    while (!s_gone (pid)) {
        if (st_mono_ms () >= until)
            return 0;
        usleep (10000);
    }
    return 1;
}

/*  Waits for a file a task writes, then returns the pid number in it.  */
static pid_t
s_read_pid_file (const char *path)
{
    uint64_t until = st_mono_ms () + 5000;
    for (;;) {
        char *text = s_slurp (path);
        if (text && strchr (text, '\n')) {
            pid_t pid = (pid_t) atoi (text);
            free (text);
            return pid;
        }
        free (text);
        cr_assert (st_mono_ms () < until, "%s never appeared", path);
        usleep (10000);
    }
}

Test (worker_task, output_goes_to_log_files)
{
    const char *argv[] = { "sh", "-c", "echo out; echo err >&2", NULL };
    st__wtask_t *t = s_start (1, argv, NULL, NULL, 0, 0);
    const st__wtask_status_t *s = st__wtask_status (t);
    cr_assert_eq (s->state, STRATA__TASK_STATE__TASK_RUNNING, "start failed: %s", s->message);
    cr_assert_gt (s->pid, 0);
    cr_assert_gt (s->started_unix_ms, 0);

    s = s_wait_end (t, 5000);
    cr_assert_eq (s->state, STRATA__TASK_STATE__TASK_EXITED);
    cr_assert_eq (s->exit_code, 0);
    cr_assert_eq (s->term_signal, 0);
    cr_assert_geq (s->finished_unix_ms, s->started_unix_ms);

    char *out = s_log (1, 0), *err = s_log (1, 1);
    cr_assert_str_eq (out, "out\n");
    cr_assert_str_eq (err, "err\n");
    free (out);
    free (err);

    char path[4096];
    snprintf (path, sizeof path, "%s/logs/1/0.1.stdout", s_dir);
    struct stat st;
    cr_assert_eq (stat (path, &st), 0);
    cr_assert_eq (st.st_mode & 0777, 0600, "log mode %o", st.st_mode & 0777);
    st__wtask_destroy (&t);
    cr_assert_null (t);
}

Test (worker_task, logs_are_appended_not_truncated)
{
    const char *argv[] = { "echo", "again", NULL };
    st__wtask_t *t = s_start (2, argv, NULL, NULL, 0, 0);
    s_wait_end (t, 5000);
    st__wtask_destroy (&t);
    t = s_start (2, argv, NULL, NULL, 0, 0);
    s_wait_end (t, 5000);
    st__wtask_destroy (&t);
    char *out = s_log (2, 0);
    cr_assert_str_eq (out, "again\nagain\n");
    free (out);
}

Test (worker_task, exit_code_is_reported)
{
    const char *argv[] = { "sh", "-c", "exit 3", NULL };
    st__wtask_t *t = s_start (3, argv, NULL, NULL, 0, 0);
    const st__wtask_status_t *s = s_wait_end (t, 5000);
    cr_assert_eq (s->state, STRATA__TASK_STATE__TASK_EXITED);
    cr_assert_eq (s->exit_code, 3);
    cr_assert_eq (s->term_signal, 0);
    cr_assert_eq (s->timed_out, 0);
    st__wtask_destroy (&t);
}

Test (worker_task, terminating_signal_is_reported)
{
    const char *argv[] = { "sh", "-c", "kill -USR1 $$", NULL };
    st__wtask_t *t = s_start (4, argv, NULL, NULL, 0, 0);
    const st__wtask_status_t *s = s_wait_end (t, 5000);
    cr_assert_eq (s->state, STRATA__TASK_STATE__TASK_EXITED);
    cr_assert_eq (s->term_signal, SIGUSR1);
    st__wtask_destroy (&t);
}

/*  Returns non-zero when the NUL-separated/newline list text holds line.  */
static int
s_has_line (const char *text, const char *line)
{
    size_t len = strlen (line);
    for (const char *p = text; p && *p; p = strchr (p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp (p, line, len) == 0 && (p[len] == '\n' || p[len] == '\0'))
            return 1;
    return 0;
}

static int
s_count_lines (const char *text)
{
    int n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

Test (worker_task, environment_is_cleaned_and_extended)
{
    setenv ("STRATA_TEST_WORKER_SECRET", "leak", 1);
    setenv ("LD_PRELOAD_TEST_ONLY", "x", 1);
    st_kv_t env = { 0 };
    st_kv_add (&env, "STRATA_JOB_ID", "5");
    st_kv_add (&env, "RANK", "0");
    st_kv_add (&env, "FOO", "bar baz");
    const char *argv[] = { "env", NULL };
    st__wtask_spec_t spec = {
        .key = { 5, 0, 1 },
        .argv = argv,
        .env = &env,
        .gpu_list = "1,3",
        .local_rank = 2,
    };
    st__wtask_t *t = st__wtask_start (s_dir, &spec);
    cr_assert_eq (st__wtask_status (t)->state, STRATA__TASK_STATE__TASK_RUNNING, "%s", st__wtask_status (t)->message);
    s_wait_end (t, 5000);
    st__wtask_destroy (&t);

    char *out = s_log (5, 0);
    cr_assert (s_has_line (out, "PATH=/usr/local/bin:/usr/bin:/bin"), "env:\n%s", out);
    cr_assert (s_has_line (out, "LANG=C.UTF-8"), "env:\n%s", out);
    cr_assert (s_has_line (out, "STRATA_JOB_ID=5"), "env:\n%s", out);
    cr_assert (s_has_line (out, "RANK=0"), "env:\n%s", out);
    cr_assert (s_has_line (out, "FOO=bar baz"), "env:\n%s", out);
    cr_assert (s_has_line (out, "CUDA_VISIBLE_DEVICES=1,3"), "env:\n%s", out);
    cr_assert (s_has_line (out, "NVIDIA_VISIBLE_DEVICES=1,3"), "env:\n%s", out);
    cr_assert (s_has_line (out, "STRATA_LOCAL_RANK=2"), "env:\n%s", out);
    cr_assert (s_has_line (out, "LOCAL_RANK=2"), "env:\n%s", out);
    int expected = 9;
    const char *home = getenv ("HOME");
    if (home) {
        char line[4200];
        snprintf (line, sizeof line, "HOME=%s", home);
        cr_assert (s_has_line (out, line), "env:\n%s", out);
        expected++;
    }
    cr_assert_null (strstr (out, "STRATA_TEST_WORKER_SECRET"), "worker variable leaked:\n%s", out);
    cr_assert_null (strstr (out, "LD_PRELOAD_TEST_ONLY"), "worker variable leaked:\n%s", out);
    cr_assert_eq (s_count_lines (out), expected, "env:\n%s", out);
    free (out);
    st_kv_free (&env);
}

Test (worker_task, launch_env_overrides_base_but_not_gpus)
{
    st_kv_t env = { 0 };
    st_kv_add (&env, "PATH", "/bin:/usr/bin");
    st_kv_add (&env, "LOCAL_RANK", "7");
    st_kv_add (&env, "CUDA_VISIBLE_DEVICES", "0,1,2,3");
    const char *argv[] = { "env", NULL };
    st__wtask_spec_t spec = {
        .key = { 6, 0, 1 },
        .argv = argv,
        .env = &env,
        .gpu_list = "2",
        .local_rank = 0,
    };
    st__wtask_t *t = st__wtask_start (s_dir, &spec);
    s_wait_end (t, 5000);
    st__wtask_destroy (&t);
    char *out = s_log (6, 0);
    cr_assert (s_has_line (out, "PATH=/bin:/usr/bin"), "env:\n%s", out);
    cr_assert (s_has_line (out, "LOCAL_RANK=7"), "the scheduler's local rank wins:\n%s", out);
    cr_assert (s_has_line (out, "STRATA_LOCAL_RANK=0"), "env:\n%s", out);
    cr_assert (s_has_line (out, "CUDA_VISIBLE_DEVICES=2"), "the worker's GPU choice wins:\n%s", out);
    free (out);
    st_kv_free (&env);
}

Test (worker_task, workdir_is_used)
{
    char wd[512];
    snprintf (wd, sizeof wd, "%s/work dir", s_dir);
    cr_assert_eq (mkdir (wd, 0755), 0);
    const char *argv[] = { "pwd", NULL };
    st__wtask_t *t = s_start (7, argv, NULL, wd, 0, 0);
    s_wait_end (t, 5000);
    st__wtask_destroy (&t);
    char *out = s_log (7, 0);
    char want[600];
    snprintf (want, sizeof want, "%s\n", wd);
    cr_assert_str_eq (out, want);
    free (out);
}

Test (worker_task, default_workdir_is_the_task_dir)
{
    const char *argv[] = { "sh", "-c", "pwd; touch made-here", NULL };
    st__wtask_t *t = s_start (8, argv, NULL, NULL, 0, 0);
    s_wait_end (t, 5000);
    st__wtask_destroy (&t);
    char *out = s_log (8, 0);
    char want[600], made[600];
    snprintf (want, sizeof want, "%s/tasks/8.0.1\n", s_dir);
    cr_assert_str_eq (out, want);
    snprintf (made, sizeof made, "%s/tasks/8.0.1/made-here", s_dir);
    cr_assert_eq (access (made, F_OK), 0);
    free (out);
}

Test (worker_task, bad_workdir_is_a_start_failure)
{
    const char *argv[] = { "true", NULL };
    st__wtask_t *t = s_start (9, argv, NULL, "/nonexistent/strata/dir", 0, 0);
    const st__wtask_status_t *s = st__wtask_status (t);
    cr_assert_eq (s->state, STRATA__TASK_STATE__TASK_START_FAILED);
    cr_assert_not_null (strstr (s->message, "/nonexistent/strata/dir"), "message: %s", s->message);
    cr_assert_not_null (strstr (s->message, "No such file or directory"), "message: %s", s->message);
    cr_assert_eq (st__wtask_alive (t), 0);
    cr_assert_eq (st__wtask_reap (t), 0);
    char pidfile[600];
    snprintf (pidfile, sizeof pidfile, "%s/run/9.0.1.pid", s_dir);
    cr_assert_neq (access (pidfile, F_OK), 0, "no pid file for a task that never ran");
    st__wtask_destroy (&t);
}

Test (worker_task, unknown_program_is_a_start_failure)
{
    const char *argv[] = { "strata-no-such-program", "x", NULL };
    st__wtask_t *t = s_start (10, argv, NULL, NULL, 0, 0);
    const st__wtask_status_t *s = st__wtask_status (t);
    cr_assert_eq (s->state, STRATA__TASK_STATE__TASK_START_FAILED);
    cr_assert_not_null (strstr (s->message, "strata-no-such-program"), "message: %s", s->message);
    cr_assert_not_null (strstr (s->message, "not found"), "message: %s", s->message);
    st__wtask_destroy (&t);

    const char *argv2[] = { "/nonexistent/bin/prog", NULL };
    t = s_start (10, argv2, NULL, NULL, 0, 0);
    s = st__wtask_status (t);
    cr_assert_eq (s->state, STRATA__TASK_STATE__TASK_START_FAILED);
    cr_assert_not_null (strstr (s->message, "cannot execute /nonexistent/bin/prog"), "message: %s", s->message);
    st__wtask_destroy (&t);

    const char *argv3[] = { "", NULL };
    t = s_start (10, argv3, NULL, NULL, 0, 0);
    cr_assert_eq (st__wtask_status (t)->state, STRATA__TASK_STATE__TASK_START_FAILED);
    cr_assert_str_eq (st__wtask_status (t)->message, "empty command");
    st__wtask_destroy (&t);
}

Test (worker_task, script_without_shebang_runs_under_sh)
{
    char script[600];
    snprintf (script, sizeof script, "%s/plain-script", s_dir);
    FILE *f = fopen (script, "w");
    fputs ("echo from-script \"$1\"\n", f);
    fclose (f);
    chmod (script, 0755);
    const char *argv[] = { script, "arg1", NULL };
    st__wtask_t *t = s_start (11, argv, NULL, NULL, 0, 0);
    const st__wtask_status_t *s = s_wait_end (t, 5000);
    cr_assert_eq (s->exit_code, 0);
    char *out = s_log (11, 0);
    cr_assert_str_eq (out, "from-script arg1\n");
    free (out);
    st__wtask_destroy (&t);
}

Test (worker_task, pid_file_lives_while_the_task_runs)
{
    const char *argv[] = { "sleep", "100", NULL };
    st__wtask_t *t = s_start (12, argv, NULL, NULL, 0, 1000);
    const st__wtask_status_t *s = st__wtask_status (t);
    char path[600];
    snprintf (path, sizeof path, "%s/run/12.0.1.pid", s_dir);
    char *text = s_slurp (path);
    cr_assert_not_null (text);
    long long pgid = 0;
    unsigned long long start = 0;
    cr_assert_eq (sscanf (text, "%lld %llu", &pgid, &start), 2);
    free (text);
    cr_assert_eq (pgid, s->pid);
    uint64_t real_start = 0;
    pid_t grp = 0;
    cr_assert_eq (st__proc_stat (s->pid, &real_start, &grp), 0);
    cr_assert_eq (start, real_start);
    cr_assert_eq (grp, s->pid, "the task leads its own process group");

    st__wtask_kill (t);
    s = s_wait_end (t, 5000);
    cr_assert_eq (s->term_signal, SIGKILL);
    cr_assert_neq (access (path, F_OK), 0, "pid file removed after the end");
    st__wtask_destroy (&t);
}

Test (worker_task, terminate_ends_a_cooperative_task_at_once)
{
    const char *argv[] = { "sleep", "100", NULL };
    st__wtask_t *t = s_start (13, argv, NULL, NULL, 0, 5000);
    uint64_t t0 = st_mono_ms ();
    st__wtask_terminate (t, 0, t0);
    cr_assert (st__wtask_stopping (t));
    const st__wtask_status_t *s = s_wait_end (t, 5000);
    cr_assert_eq (s->term_signal, SIGTERM);
    cr_assert_eq (s->timed_out, 0);
    cr_assert_lt (st_mono_ms () - t0, 3000, "well before the 5 s grace");
    st__wtask_destroy (&t);
}

Test (worker_task, terminate_kills_an_ignoring_group_after_grace)
{
    char childfile[600];
    snprintf (childfile, sizeof childfile, "%s/child.pid", s_dir);
    char script[1024];
    snprintf (script, sizeof script, "trap '' TERM; sleep 100 & echo $! > '%s'; wait", childfile);
    const char *argv[] = { "sh", "-c", script, NULL };
    st__wtask_t *t = s_start (14, argv, NULL, NULL, 0, 10000);
    pid_t child = s_read_pid_file (childfile);
    cr_assert_gt (child, 0);

    uint64_t t0 = st_mono_ms ();
    st__wtask_terminate (t, 400, t0); /*  the Signal's grace overrides the Launch's  */
    cr_assert_eq (st__wtask_next_deadline (t), t0 + 400);
    const st__wtask_status_t *s = s_wait_end (t, 5000);
    uint64_t took = st_mono_ms () - t0;
    cr_assert_eq (s->term_signal, SIGKILL, "signal %d", s->term_signal);
    cr_assert_geq (took, 400, "SIGKILL only after the grace period (took %llu ms)", (unsigned long long) took);
    cr_assert_lt (took, 3000);
    cr_assert (s_wait_gone (child, 3000), "child %d of the group survived", (int) child);
    st__wtask_destroy (&t);
}

Test (worker_task, leftover_children_die_with_the_leader)
{
    char childfile[600];
    snprintf (childfile, sizeof childfile, "%s/bg.pid", s_dir);
    char script[1024];
    snprintf (script, sizeof script, "sleep 100 & echo $! > '%s'", childfile);
    const char *argv[] = { "sh", "-c", script, NULL };
    st__wtask_t *t = s_start (15, argv, NULL, NULL, 0, 0);
    const st__wtask_status_t *s = s_wait_end (t, 5000);
    cr_assert_eq (s->exit_code, 0);
    pid_t child = s_read_pid_file (childfile);
    cr_assert (s_wait_gone (child, 3000), "background process %d outlived its task", (int) child);
    st__wtask_destroy (&t);
}

Test (worker_task, time_limit_is_enforced)
{
    const char *argv[] = { "sleep", "100", NULL };
    uint64_t t0 = st_mono_ms ();
    st__wtask_t *t = s_start (16, argv, NULL, NULL, 1, 300);
    uint64_t deadline = st__wtask_next_deadline (t);
    cr_assert_geq (deadline, t0 + 1000);
    cr_assert_leq (deadline, st_mono_ms () + 1000);
    const st__wtask_status_t *s = s_wait_end (t, 5000);
    uint64_t took = st_mono_ms () - t0;
    cr_assert_eq (s->state, STRATA__TASK_STATE__TASK_EXITED);
    cr_assert_eq (s->timed_out, 1);
    cr_assert_eq (s->term_signal, SIGTERM);
    cr_assert_geq (took, 1000);
    cr_assert_lt (took, 4000);
    st__wtask_destroy (&t);
}

Test (worker_task, time_limit_escalates_to_sigkill)
{
    const char *argv[] = { "sh", "-c", "trap '' TERM; while :; do sleep 0.05; done", NULL };
    uint64_t t0 = st_mono_ms ();
    st__wtask_t *t = s_start (17, argv, NULL, NULL, 1, 300);
    const st__wtask_status_t *s = s_wait_end (t, 5000);
    uint64_t took = st_mono_ms () - t0;
    cr_assert_eq (s->timed_out, 1);
    cr_assert_eq (s->term_signal, SIGKILL);
    cr_assert_geq (took, 1300);
    cr_assert_lt (took, 4000);
    st__wtask_destroy (&t);
}

Test (worker_task, destroy_kills_a_live_task)
{
    const char *argv[] = { "sleep", "100", NULL };
    st__wtask_t *t = s_start (18, argv, NULL, NULL, 0, 0);
    pid_t pid = st__wtask_status (t)->pid;
    st__wtask_destroy (&t);
    cr_assert (s_gone (pid));
    char path[600];
    snprintf (path, sizeof path, "%s/run/18.0.1.pid", s_dir);
    cr_assert_neq (access (path, F_OK), 0);
}

Test (worker_task, leftover_cleanup_kills_a_stale_group)
{
    /*  A task of a "previous worker": its pid file is there; a new worker
     *  instance on the same state dir cleans it up.  */
    char childfile[600];
    snprintf (childfile, sizeof childfile, "%s/bg.pid", s_dir);
    char script[1024];
    snprintf (script, sizeof script, "sleep 100 & echo $! > '%s'; wait", childfile);
    const char *argv[] = { "sh", "-c", script, NULL };
    st__wtask_t *t = s_start (19, argv, NULL, NULL, 0, 0);
    pid_t child = s_read_pid_file (childfile);

    cr_assert_eq (st__pidfile_cleanup (s_dir), 1);
    const st__wtask_status_t *s = s_wait_end (t, 5000);
    cr_assert_eq (s->term_signal, SIGKILL);
    cr_assert (s_wait_gone (child, 3000), "group member %d survived", (int) child);
    char path[600];
    snprintf (path, sizeof path, "%s/run/19.0.1.pid", s_dir);
    cr_assert_neq (access (path, F_OK), 0, "pid file removed");
    st__wtask_destroy (&t);
}

/*  Forks a process that leads its own group and sleeps.  */
static pid_t
s_spawn_group_leader (void)
{
    pid_t pid = fork ();
    cr_assert_geq (pid, 0);
    if (pid == 0) {
        setpgid (0, 0);
        execlp ("sleep", "sleep", "100", (char *) NULL);
        _exit (127);
    }
    setpgid (pid, pid);
    return pid;
}

Test (worker_task, leftover_cleanup_spares_a_recycled_pid)
{
    pid_t pid = s_spawn_group_leader ();
    uint64_t start = 0;
    uint64_t until = st_mono_ms () + 2000;
    while (st__proc_stat (pid, &start, NULL) != 0 && st_mono_ms () < until)
        usleep (1000);
    /*  Same pid, different start time: another process now owns the number.  */
    cr_assert_eq (st__pidfile_write (s_dir, "20.0.1", pid, start + 12345), 0);
    cr_assert_eq (st__pidfile_cleanup (s_dir), 0);
    usleep (100000);
    cr_assert_not (s_gone (pid), "an unrelated process was killed");
    char path[600];
    snprintf (path, sizeof path, "%s/run/20.0.1.pid", s_dir);
    cr_assert_neq (access (path, F_OK), 0, "stale pid file removed");
    kill (pid, SIGKILL);
    waitpid (pid, NULL, 0);
}

Test (worker_task, leftover_cleanup_finds_members_of_a_leaderless_group)
{
    /*  Leader L starts member M in its group, reports M's pid, and exits once
     *  its own start time was read: then only M is left.  */
    int up[2], go[2];
    cr_assert_eq (pipe (up), 0);
    cr_assert_eq (pipe (go), 0);
    pid_t leader = fork ();
    cr_assert_geq (leader, 0);
    if (leader == 0) {
        setpgid (0, 0);
        pid_t m = fork ();
        if (m == 0) {
            execlp ("sleep", "sleep", "100", (char *) NULL);
            _exit (127);
        }
        if (write (up[1], &m, sizeof m) != sizeof m)
            _exit (1);
        char c;
        if (read (go[0], &c, 1) < 0)
            _exit (1);
        _exit (0);
    }
    setpgid (leader, leader);
    pid_t member = 0;
    cr_assert_eq (read (up[0], &member, sizeof member), (ssize_t) sizeof member);
    uint64_t start = 0;
    cr_assert_eq (st__proc_stat (leader, &start, NULL), 0);
    cr_assert_eq (st__pidfile_write (s_dir, "21.0.1", leader, start), 0);
    cr_assert_eq (write (go[1], "x", 1), 1);
    waitpid (leader, NULL, 0);
    cr_assert_not (s_gone (member));

    cr_assert_eq (st__pidfile_cleanup (s_dir), 1);
    cr_assert (s_wait_gone (member, 3000), "member %d of the leaderless group survived", (int) member);
    close (up[0]), close (up[1]), close (go[0]), close (go[1]);
}

/*  Starts argv as task (job, index, 1) with no options.  */
static st__wtask_t *
s_start_rank (uint64_t job, uint32_t index, const char *const *argv)
{
    st__wtask_spec_t spec = {
        .key = { .job_id = job, .index = index, .attempt = 1 },
        .argv = argv,
        .local_rank = -1,
    };
    st__wtask_t *t = st__wtask_start (s_dir, &spec);
    cr_assert_not_null (t);
    cr_assert_eq (st__wtask_status (t)->state, STRATA__TASK_STATE__TASK_RUNNING, "start failed: %s",
                  st__wtask_status (t)->message);
    return t;
}

/*  The worker holds logs/, run/ and tasks/ open between starts; one removed
 *  under it (an operator pruning, a wiped state directory) is made again by
 *  the next start, and the output lands where the docs say.  */
Test (worker_task, removed_state_folders_are_made_again)
{
    const char *argv[] = { "sh", "-c", "echo here; pwd", NULL };
    char want[600], path[600];

    st__wtask_t *t = s_start_rank (30, 0, argv);
    cr_assert_eq (s_wait_end (t, 5000)->exit_code, 0);
    st__wtask_destroy (&t);

    /*  The job's log folder, between two ranks of the same job.  */
    snprintf (path, sizeof path, "%s/logs/30", s_dir);
    st_test_rmtree (path);
    t = s_start_rank (30, 1, argv);
    cr_assert_eq (s_wait_end (t, 5000)->exit_code, 0);
    st__wtask_destroy (&t);
    st__wtask_key_t key = { 30, 1, 1 };
    cr_assert_eq (st__wtask_log_path (s_dir, &key, 0, path, sizeof path), 0);
    char *out = s_slurp (path);
    snprintf (want, sizeof want, "here\n%s/tasks/30.1.1\n", s_dir);
    cr_assert_str_eq (out, want);
    free (out);

    /*  Every folder at once, while a task runs: its pid file goes to a new run/.  */
    snprintf (path, sizeof path, "%s/logs", s_dir);
    st_test_rmtree (path);
    snprintf (path, sizeof path, "%s/tasks", s_dir);
    st_test_rmtree (path);
    snprintf (path, sizeof path, "%s/run", s_dir);
    st_test_rmtree (path);
    const char *sleeper[] = { "sleep", "100", NULL };
    t = s_start_rank (31, 0, sleeper);
    snprintf (path, sizeof path, "%s/run/31.0.1.pid", s_dir);
    cr_assert_eq (access (path, F_OK), 0, "pid file written to the new run/");
    st__wtask_kill (t);
    cr_assert_eq (s_wait_end (t, 5000)->term_signal, SIGKILL);
    cr_assert_neq (access (path, F_OK), 0, "pid file removed from the new run/");
    st__wtask_destroy (&t);

    t = s_start_rank (32, 0, argv);
    cr_assert_eq (s_wait_end (t, 5000)->exit_code, 0);
    st__wtask_destroy (&t);
    out = s_log (32, 0);
    snprintf (want, sizeof want, "here\n%s/tasks/32.0.1\n", s_dir);
    cr_assert_str_eq (out, want);
    free (out);
    snprintf (path, sizeof path, "%s/logs/32/0.1.stderr", s_dir);
    cr_assert_eq (access (path, F_OK), 0, "stderr log created too");
}

/*  "SigIgn:\t<hex>" and "SigCgt:\t<hex>" of the task's own /proc/self/status.  */
static void
s_task_signals (uint64_t job, unsigned long long *ign, unsigned long long *cgt)
{
    const char *argv[] = { "cat", "/proc/self/status", NULL };
    st__wtask_t *t = s_start (job, argv, NULL, NULL, 0, 0);
    cr_assert_eq (st__wtask_status (t)->state, STRATA__TASK_STATE__TASK_RUNNING);
    cr_assert_eq (s_wait_end (t, 5000)->exit_code, 0);
    st__wtask_destroy (&t);
    char *out = s_log (job, 0);
    cr_assert_not_null (out);
    char *p = strstr (out, "SigIgn:");
    char *q = strstr (out, "SigCgt:");
    cr_assert (p && q, "status: %s", out);
    *ign = strtoull (p + 7, NULL, 16);
    *cgt = strtoull (q + 7, NULL, 16);
    free (out);
}

static void
s_on_test_signal (int sig)
{
    (void) sig;
}

/*  The child resets only the signals that need it; the program still starts
 *  with every disposition at its default, whether the worker set it before
 *  its first task or later.  */
Test (worker_task, task_starts_with_default_signal_dispositions)
{
    signal (SIGPIPE, SIG_IGN);
    signal (SIGRTMIN + 3, SIG_IGN);
    signal (SIGWINCH, s_on_test_signal);
    unsigned long long ign = 1, cgt = 1;
    s_task_signals (40, &ign, &cgt);
    cr_assert_eq (ign, 0, "ignored signals reached the task: %llx", ign);
    cr_assert_eq (cgt, 0, "caught signals reached the task: %llx", cgt);

    /*  Set after the first start, as a daemon does on its way.  */
    signal (SIGUSR2, SIG_IGN);
    signal (SIGHUP, SIG_IGN);
    s_task_signals (41, &ign, &cgt);
    cr_assert_eq (ign, 0, "ignored signals reached the task: %llx", ign);
}

/*  A task that asked for no GPU sees none, whatever its Launch env says.  */
Test (worker_task, task_without_gpus_sees_none)
{
    st_kv_t env = { 0 };
    st_kv_add (&env, "CUDA_VISIBLE_DEVICES", "0,1");
    st_kv_add (&env, "NVIDIA_VISIBLE_DEVICES", "all");
    const char *argv[] = { "env", NULL };
    st__wtask_t *t = s_start (50, argv, &env, NULL, 0, 0);
    s_wait_end (t, 5000);
    st__wtask_destroy (&t);
    char *out = s_log (50, 0);
    cr_assert (s_has_line (out, "CUDA_VISIBLE_DEVICES="), "env:\n%s", out);
    cr_assert (s_has_line (out, "NVIDIA_VISIBLE_DEVICES=void"), "env:\n%s", out);
    free (out);
    st_kv_free (&env);
}

/*  Past the cap, a stream keeps its first bytes and a marker line counting
 *  what was dropped; the task ends as it would have, the other stream whole.  */
Test (worker_task, log_is_cut_at_the_cap_with_a_marker)
{
    st__wtask_set_log_max (1000);
    const char *argv[] = { "sh", "-c",
                           "i=0; while [ $i -lt 100 ]; do echo 0123456789012345678901234567890123456789012345678; "
                           "i=$((i+1)); done; echo kept >&2; exit 3",
                           NULL };
    st__wtask_t *t = s_start (51, argv, NULL, NULL, 0, 0);
    const st__wtask_status_t *s = s_wait_end (t, 5000);
    cr_assert_eq (s->exit_code, 3);
    st__wtask_destroy (&t);
    st__wtask_set_log_max (ST__WTASK_LOG_MAX_DEFAULT);
    char *out = s_log (51, 0), *err = s_log (51, 1);
    const char *marker = "\n[strata: output cut at 1000 bytes; 4000 bytes dropped]\n";
    cr_assert_eq (strlen (out), 1000 + strlen (marker), "log of %zu bytes:\n%s", strlen (out), out);
    cr_assert_str_eq (out + 1000, marker);
    cr_assert_eq (strncmp (out, "0123456789", 10), 0);
    cr_assert_str_eq (err, "kept\n");
    free (out);
    free (err);
}
