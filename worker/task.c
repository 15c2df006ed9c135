/*  task.c: one task process. See task.h for the life cycle and the files.
 *
 *  Start-up handshake: the child is made with vfork, so it shares the worker's
 *  memory and the worker waits until it has exec'd or _exited. A failure before
 *  exec (chdir, dup2, exec itself) is written by the child into a record in the
 *  parent's frame before _exit; a record still clear when vfork returns means
 *  exec succeeded, so RUNNING is only reported for a program that really runs,
 *  and START_FAILED carries the reason. No pipe is needed for that.
 *
 *  Cgroup (cgroup.h): a task started with spec->cgroup takes a group last,
 *  after everything else that can fail; the group holds its cgroup.procs
 *  files open and the child writes "0" to them right after setpgid, so nothing the
 *  program runs is ever outside it. The reap reads the group's usage into the
 *  status and gives the group back.
 *
 *  Cost per start: the folders a start writes into (logs/, tasks/, run/) and
 *  /dev/null are held open (s_dirs), so each file is one *at call relative to
 *  them; the signals the child must reset are listed once (s_sigs). What is
 *  left is about twenty system calls in the worker and as many in the child
 *  (docs/worker-internals.md counts them). */
#include "task.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "pidfile.h"
#include "st_log.h"
#include "st_time.h"
#include "st_utf8.h"
#include "st_vec.h"
#include "strata/task.h"

extern char **environ;

struct st__wtask {
    st__wtask_status_t status; /*  what is reported  */
    char *state_dir;           /*  owned copy  */
    char name[64];             /*  "<job>.<index>.<attempt>"  */
    pid_t pid;                 /*  leader = group id; 0 when it never ran  */
    int alive;                 /*  forked and not yet reaped  */
    int has_pidfile;           /*  run/<name>.pid was written  */
    int stopping;              /*  SIGTERM or SIGKILL was sent  */
    int killed;                /*  SIGKILL was sent  */
    uint32_t grace_ms;         /*  SIGTERM -> SIGKILL delay from the Launch  */
    uint64_t limit_at;         /*  monotonic ms of the time limit, 0: none  */
    uint64_t kill_at;          /*  monotonic ms of the armed SIGKILL, 0: none  */
    uint64_t started_mono;     /*  monotonic ms of the start  */
    int simulated;             /*  st__wtask_simulate: no process, no files  */
    int sim_ended;             /*  simulated: ended (status filled), not yet reaped  */
    uint64_t end_at;           /*  simulated: monotonic ms of its normal end  */
    st__cgroup_t *cg;          /*  the node's parent group (borrowed), NULL: none  */
    st__cgroup_task_t *cgt;    /*  its own group while it runs  */
    /*  The log cap (st__wtask_set_log_max): per stream, 0 stdout, 1 stderr.  */
    uint64_t log_check_at;      /*  monotonic ms of the next size check, 0: none  */
    uint64_t log_dropped[2];    /*  bytes cut so far  */
    uint32_t log_marker_len[2]; /*  length of the marker line written at the cap, 0: not cut  */
};

/*  Bytes kept of each output stream, 0: no cap (st__wtask_set_log_max).  */
static uint64_t s_log_max = ST__WTASK_LOG_MAX_DEFAULT;

static void s_cap_logs (st__wtask_t *self);

/*  The failure record a child writes before _exit.  */
typedef struct {
    int stage; /*  S_STAGE_*  */
    int err;   /*  errno  */
} s_child_error_t;

enum { S_STAGE_SETUP = 1, S_STAGE_CHDIR, S_STAGE_EXEC, S_STAGE_CGROUP, S_STAGE_USER };

/*  Everything the child needs, prepared before vfork.  */
typedef struct {
    char **envp; /*  "K=V" strings, NULL-terminated  */
    size_t envc, envcap;
    char *program;  /*  resolved path passed to execve  */
    char **sh_argv; /*  /bin/sh fallback for ENOEXEC (execvp semantics)  */
    const char *workdir;
    int fd_in, fd_out, fd_err;
    int cg_fds[ST__CGROUP_HIER_MAX]; /*  cgroup.procs of the task's group, one per hierarchy (the group's)  */
    int ncg;
    const st__task_user_t *user; /*  switch to it before exec when user->switch_to; NULL: stay  */
    int own_dir;                 /*  workdir is the task's folder under tasks/, not the Launch's  */
} s_launch_t;

const char *
st__wtask_key_format (const st__wtask_key_t *key, char *buf, size_t size)
{
    snprintf (buf, size, "%" PRIu64 ".%" PRIu32 ".%" PRIu32, key->job_id, key->index, key->attempt);
    return buf;
}

int
st__wtask_key_eq (const st__wtask_key_t *a, const st__wtask_key_t *b)
{
    return a->job_id == b->job_id && a->index == b->index && a->attempt == b->attempt;
}

int
st__wtask_log_path (const char *state_dir, const st__wtask_key_t *key, int is_stderr, char *buf, size_t size)
{
    return st__path_fmt (buf, size, "%s/logs/%" PRIu64 "/%" PRIu32 ".%" PRIu32 ".%s", state_dir, key->job_id,
                         key->index, key->attempt, is_stderr ? "stderr" : "stdout");
}

/*  -- held folders ---------------------------------------------------------- */

/*  The folders of the state directory a task start writes into, held open so
 *  that each file is one openat/mkdirat relative to them instead of a walk
 *  (and a mkdir per path component) from the root. Opened at the first start
 *  under a state_dir, and again when state_dir changes or when a folder was
 *  removed under a running worker (an *at call then fails with ENOENT; the
 *  start reopens and tries once more).  */
typedef struct {
    char *state_dir;  /*  owned; NULL: nothing held  */
    int logs_fd;      /*  <state_dir>/logs  */
    int run_fd;       /*  <state_dir>/run  */
    int tasks_fd;     /*  <state_dir>/tasks; -1 until a task without workdir starts  */
    int null_fd;      /*  /dev/null, read-only: every task's stdin  */
    int job_known;    /*  logs/<job_dir>/ was made (or found) by this worker  */
    uint64_t job_dir; /*  that job  */
} s_dirs_t;

static s_dirs_t s_dirs = { NULL, -1, -1, -1, -1, 0, 0 };

static void
s_close_fd (int *fd)
{
    if (*fd >= 0)
        close (*fd);
    *fd = -1;
}

static void
s_dirs_close (void)
{
    s_close_fd (&s_dirs.logs_fd);
    s_close_fd (&s_dirs.run_fd);
    s_close_fd (&s_dirs.tasks_fd);
    s_close_fd (&s_dirs.null_fd);
    free (s_dirs.state_dir);
    s_dirs.state_dir = NULL;
    s_dirs.job_known = 0;
}

/*  <state_dir>/<sub>, created with its parents if needed, opened. -1 with errno.  */
static int
s_open_dir (const char *state_dir, const char *sub)
{
    char path[4096];
    if (st__path_fmt (path, sizeof path, "%s/%s", state_dir, sub) != 0 || st__mkdir_p (path, 0750) != 0)
        return -1;
    int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    /*  logs/ and tasks/ may be crossed by every task user (each reaches its
     *  own 0700 folder by its path) but listed by none.  */
    if (fd >= 0 && strcmp (sub, "run") != 0)
        fchmod (fd, 0711);
    return fd;
}

/*  Holds the folders of state_dir (logs/, run/ and /dev/null; tasks/ on demand).
 *  Returns 0, or -1 with errno and *what naming the folder that failed ("" for
 *  memory, NULL for /dev/null).  */
static int
s_dirs_hold (const char *state_dir, const char **what)
{
    if (s_dirs.state_dir && strcmp (s_dirs.state_dir, state_dir) == 0)
        return 0;
    s_dirs_close ();
    if (!(s_dirs.state_dir = strdup (state_dir)))
        *what = "";
    else if ((s_dirs.logs_fd = s_open_dir (state_dir, "logs")) < 0)
        *what = "logs";
    else if ((s_dirs.run_fd = s_open_dir (state_dir, "run")) < 0)
        *what = "run";
    else if ((s_dirs.null_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
        *what = NULL;
    else
        return 0;
    int saved = errno;
    s_dirs_close ();
    errno = saved;
    return -1;
}

/*  The held run/ folder when state_dir is the held one, else -1.  */
static int
s_dirs_run_fd (const char *state_dir)
{
    return s_dirs.state_dir && state_dir && strcmp (s_dirs.state_dir, state_dir) == 0 ? s_dirs.run_fd : -1;
}

/*  Gives name (relative to dirfd) to the task's user when the worker switches
 *  users; the worker itself, as root, still reads it. 0 or -1 with errno.  */
static int
s_chown_at (int dirfd, const char *name, const st__task_user_t *user)
{
    if (!user || !user->switch_to)
        return 0;
    return fchownat (dirfd, name, user->uid, user->gid, AT_SYMLINK_NOFOLLOW);
}

/*  Opens both log files of key relative to the held logs/ (making logs/<job>/
 *  unless this worker just did). Returns 0, or an errno with *failed set to
 *  what failed: S_LOG_DIR, S_LOG_STDOUT or S_LOG_STDERR.  */
enum { S_LOG_DIR = 0, S_LOG_STDOUT, S_LOG_STDERR };

static int
s_try_open_logs (const st__wtask_key_t *key, s_launch_t *l, int *failed)
{
    char job[24], file[80];
    snprintf (job, sizeof job, "%" PRIu64, key->job_id);
    *failed = S_LOG_DIR;
    if (!s_dirs.job_known || s_dirs.job_dir != key->job_id) {
        s_dirs.job_known = 0;
        /*  The worker's, crossed but not listed: the task's user owns its files
         *  in it, never the folder (it could plant links the worker would
         *  follow when it reads or cuts a log).  */
        if (mkdirat (s_dirs.logs_fd, job, 0711) != 0 && errno != EEXIST)
            return errno;
        s_dirs.job_known = 1;
        s_dirs.job_dir = key->job_id;
    }
    for (int is_err = 0; is_err <= 1; is_err++) {
        int *fd = is_err ? &l->fd_err : &l->fd_out;
        *failed = is_err ? S_LOG_STDERR : S_LOG_STDOUT;
        snprintf (file, sizeof file, "%s/%" PRIu32 ".%" PRIu32 ".%s", job, key->index, key->attempt,
                  is_err ? "stderr" : "stdout");
        *fd = openat (s_dirs.logs_fd, file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0600);
        if (*fd < 0 || (l->user && l->user->switch_to && fchown (*fd, l->user->uid, l->user->gid) != 0)) {
            int err = errno;
            s_close_fd (&l->fd_out);
            s_close_fd (&l->fd_err);
            return err;
        }
    }
    return 0;
}

/*  -- signals --------------------------------------------------------------- */

/*  The signals the child sets back to SIG_DFL: execve itself resets caught
 *  signals but keeps ignored ones, and a handler must not run in the child
 *  before exec either. Listed once per process, in the parent: the signals
 *  whose disposition was not SIG_DFL at the first start, and those a daemon
 *  may set later (the worker sets its own before it starts any task).
 *  Resetting all 64 in every child was most of its system calls.  */
static int s_sigs[NSIG];
static int s_nsigs = -1;

static void
s_sigs_list (void)
{
    static const int later[] = { SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGCHLD };
    int listed[NSIG] = { 0 };
    s_nsigs = 0;
    for (size_t i = 0; i < sizeof later / sizeof later[0]; i++) {
        listed[later[i]] = 1;
        s_sigs[s_nsigs++] = later[i];
    }
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction cur;
        if (listed[sig] || sig == SIGKILL || sig == SIGSTOP || sigaction (sig, NULL, &cur) != 0)
            continue;
        if (cur.sa_handler != SIG_DFL)
            s_sigs[s_nsigs++] = sig;
    }
}

/*  -- environment ---------------------------------------------------------- */

static void
s_env_free (s_launch_t *l)
{
    for (size_t i = 0; i < l->envc; i++)
        free (l->envp[i]);
    free (l->envp);
    l->envp = NULL;
    l->envc = l->envcap = 0;
}

/*  Entries of a task's environment with its NULL: the spec allows 128 of the
 *  user's, Strata adds its STRATA_* names and a few base ones; the rest is
 *  margin.  */
#define S_ENV_MAX 1024

/*  Sets key=val in l->envp, replacing an earlier value. Returns 0 or -1 (ENOMEM).  */
static int
s_env_set (s_launch_t *l, const char *key, const char *val)
{
    size_t klen = strlen (key);
    char *entry = malloc (klen + strlen (val) + 2);
    if (!entry)
        return -1;
    sprintf (entry, "%s=%s", key, val);
    for (size_t i = 0; i < l->envc; i++) {
        if (strncmp (l->envp[i], key, klen) == 0 && l->envp[i][klen] == '=') {
            free (l->envp[i]);
            l->envp[i] = entry;
            return 0;
        }
    }
    if (st_vec_reserve ((void **) &l->envp, &l->envcap, l->envc + 2, sizeof *l->envp, S_ENV_MAX) != ST_OK) {
        free (entry);
        return -1;
    }
    l->envp[l->envc++] = entry;
    l->envp[l->envc] = NULL;
    return 0;
}

static const char *
s_env_get (const s_launch_t *l, const char *key)
{
    size_t klen = strlen (key);
    for (size_t i = 0; i < l->envc; i++)
        if (strncmp (l->envp[i], key, klen) == 0 && l->envp[i][klen] == '=')
            return l->envp[i] + klen + 1;
    return NULL;
}

/*  Base (PATH, HOME, LANG), then the Launch env, then what the worker decides
 *  (local rank, GPUs): the worker's own choices win. Nothing else of the
 *  worker's environment reaches the task. Returns 0, or -1 with msg filled.  */
static int
s_build_env (s_launch_t *l, const st__wtask_spec_t *spec, char *msg, size_t msglen)
{
    if (st_vec_reserve ((void **) &l->envp, &l->envcap, 1, sizeof *l->envp, S_ENV_MAX) != ST_OK)
        goto nomem;
    l->envp[0] = NULL;
    const char *home = l->user && l->user->switch_to && l->user->home[0] ? l->user->home : getenv ("HOME");
    if (s_env_set (l, "PATH", ST__WTASK_PATH) != 0 || (home && s_env_set (l, "HOME", home) != 0)
        || s_env_set (l, "LANG", "C.UTF-8") != 0)
        goto nomem;
    for (size_t i = 0; spec->env && i < spec->env->n; i++) {
        const char *key = spec->env->keys[i];
        const char *val = spec->env->vals[i] ? spec->env->vals[i] : "";
        if (!key[0] || strchr (key, '=')) {
            st_utf8_fmt (msg, msglen, "invalid environment variable name '%s'", key);
            return -1;
        }
        if (s_env_set (l, key, val) != 0)
            goto nomem;
    }
    /*  The scheduler may know the local rank better (it sees the whole
     *  placement); the worker's count only fills in what the Launch left out.  */
    if (spec->local_rank >= 0) {
        char rank[16];
        snprintf (rank, sizeof rank, "%d", spec->local_rank);
        if ((!s_env_get (l, ST_ENV_LOCAL_RANK) && s_env_set (l, ST_ENV_LOCAL_RANK, rank) != 0)
            || (!s_env_get (l, "LOCAL_RANK") && s_env_set (l, "LOCAL_RANK", rank) != 0))
            goto nomem;
    }
    /*  Only its GPUs, whatever the Launch or the worker's environment says: a
     *  task without GPUs sees none, through CUDA and through the NVIDIA
     *  container runtime ("void": no device, no driver capability).  */
    if (s_env_set (l, "CUDA_VISIBLE_DEVICES", spec->gpu_list ? spec->gpu_list : "") != 0
        || s_env_set (l, "NVIDIA_VISIBLE_DEVICES", spec->gpu_list ? spec->gpu_list : "void") != 0)
        goto nomem;
    return 0;
nomem:
    snprintf (msg, msglen, "out of memory building the environment");
    return -1;
}

/*  -- program lookup ------------------------------------------------------- */

/*  execvp semantics, done in the parent with the task's PATH (not the worker's):
 *  a name with '/' is used as is (relative to the task's cwd); otherwise the
 *  first absolute PATH entry holding an executable regular file wins. Relative
 *  PATH entries are skipped on purpose. Returns a malloc'd path or NULL with msg.  */
static char *
s_resolve_program (const char *prog, const char *path_var, char *msg, size_t msglen)
{
    if (strchr (prog, '/'))
        return strdup (prog);
    if (!path_var)
        path_var = ST__WTASK_PATH;
    int saw_eacces = 0;
    const char *p = path_var;
    while (*p) {
        const char *colon = strchr (p, ':');
        size_t len = colon ? (size_t) (colon - p) : strlen (p);
        if (len > 0 && p[0] == '/') {
            char cand[4096];
            if (snprintf (cand, sizeof cand, "%.*s/%s", (int) len, p, prog) < (int) sizeof cand) {
                struct stat st;
                if (stat (cand, &st) == 0 && S_ISREG (st.st_mode)) {
                    if (access (cand, X_OK) == 0)
                        return strdup (cand);
                    saw_eacces = 1;
                }
            }
        }
        p += len;
        if (*p == ':')
            p++;
    }
    if (saw_eacces)
        st_utf8_fmt (msg, msglen, "cannot execute %s: permission denied", prog);
    else
        st_utf8_fmt (msg, msglen, "program not found: %s (PATH=%s)", prog, path_var);
    return NULL;
}

/*  -- the child ------------------------------------------------------------ */

/*  Writes the failure record into the parent's frame (vfork shares it) and ends.  */
static void __attribute__ ((noreturn)) s_child_fail (volatile s_child_error_t *rec, int stage, int err)
{
    rec->err = err;
    rec->stage = stage;
    _exit (127);
}

/*  Runs in the child between vfork and exec: async-signal-safe calls only, on
 *  its own frame, never returning.  */
static void __attribute__ ((noreturn))
s_child (const s_launch_t *l, char *const *argv, volatile s_child_error_t *rec, pid_t parent)
{
    /*  Before exec, so the group exists when the worker resumes: no setpgid
     *  in the parent is needed (vfork resumes it only after exec).  */
    setpgid (0, 0);

    /*  Into the task's cgroup before anything else runs, so all it forks is
     *  counted and limited there.  */
    if (l->ncg > 0) {
        int err = st__cgroup_join (l->cg_fds, l->ncg);
        if (err)
            s_child_fail (rec, S_STAGE_CGROUP, err);
    }

    /*  Dispositions and the mask survive exec: give the program a clean slate.  */
    struct sigaction dfl;
    memset (&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset (&dfl.sa_mask);
    for (int i = 0; i < s_nsigs; i++)
        sigaction (s_sigs[i], &dfl, NULL);

    /*  Dies with the worker, even on kill -9. The parent may already be gone.  */
    if (prctl (PR_SET_PDEATHSIG, SIGKILL) != 0)
        s_child_fail (rec, S_STAGE_SETUP, errno);
    if (getppid () != parent)
        s_child_fail (rec, S_STAGE_SETUP, ESRCH);

    if (dup2 (l->fd_in, 0) < 0 || dup2 (l->fd_out, 1) < 0 || dup2 (l->fd_err, 2) < 0)
        s_child_fail (rec, S_STAGE_SETUP, errno);

    /*  No descriptor of the worker's (sockets, pipes) may leak into the task.  */
    if (close_range (3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
        for (int fd = 3; fd < 4096; fd++)
            fcntl (fd, F_SETFD, FD_CLOEXEC);

    /*  The task's own folder is entered as the worker: its user owns it, but
     *  may not be able to cross the folders above the state directory. A
     *  workdir the Launch names is entered as the task's user (below), so
     *  that the user's own rights decide.  */
    if (l->own_dir && chdir (l->workdir) != 0)
        s_child_fail (rec, S_STAGE_CHDIR, errno);

    /*  Never as root: the task's user, by raw system calls. glibc's set*id
     *  wrappers signal every thread of the process to change them all (libzmq's
     *  I/O threads are the worker's) and must not run in a vfork child; the
     *  kernel changes only this one. The user was resolved in the parent. A
     *  change of credentials clears the parent-death signal: set it again.  */
    const st__task_user_t *u = l->user;
    if (u && u->switch_to) {
        if (syscall (SYS_setgroups, u->ngroups, u->groups) != 0
            || syscall (SYS_setresgid, u->gid, u->gid, u->gid) != 0
            || syscall (SYS_setresuid, u->uid, u->uid, u->uid) != 0)
            s_child_fail (rec, S_STAGE_USER, errno);
        if (prctl (PR_SET_PDEATHSIG, SIGKILL) != 0)
            s_child_fail (rec, S_STAGE_SETUP, errno);
        if (getppid () != parent)
            s_child_fail (rec, S_STAGE_SETUP, ESRCH);
    }

    if (!l->own_dir && chdir (l->workdir) != 0)
        s_child_fail (rec, S_STAGE_CHDIR, errno);

    sigset_t none;
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);

    execve (l->program, argv, l->envp);
    if (errno == ENOEXEC)
        execve ("/bin/sh", l->sh_argv, l->envp);
    s_child_fail (rec, S_STAGE_EXEC, errno);
}

/*  -- start ---------------------------------------------------------------- */

static void s_fail (st__wtask_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_fail (st__wtask_t *self, const char *fmt, ...)
{
    /*  Paths and names in it come from the job's spec: cut on a character
     *  boundary, bad bytes replaced, so the status packs as a valid string.  */
    va_list ap;
    va_start (ap, fmt);
    st_utf8_vfmt (self->status.message, sizeof self->status.message, fmt, ap);
    va_end (ap);
    self->status.state = STRATA__TASK_STATE__TASK_START_FAILED;
    self->status.finished_unix_ms = st_wall_ms ();
}

/*  vforks and execs; fills self->status. Descriptors in l stay the caller's.  */
static void
s_spawn (st__wtask_t *self, const s_launch_t *l, char *const *argv)
{
    /*  Signals stay blocked across the vfork so no worker handler runs in the
     *  child before it resets them.
     *
     *  vfork, not fork: the child borrows the worker's memory until it execs, so
     *  starting a task costs no page-table copy and no copy-on-write faults (fork
     *  was most of the worker's CPU time at a thousand tasks a second). That is
     *  safe because s_child only reads what was prepared above, makes
     *  async-signal-safe system calls on its own stack frame, writes nothing
     *  but rec, and never returns: it execs or _exits. posix_spawn would do the
     *  same but cannot set the parent-death signal.  */
    if (s_nsigs < 0)
        s_sigs_list ();
    volatile s_child_error_t rec = { 0, 0 };
    sigset_t all, old;
    sigfillset (&all);
    sigprocmask (SIG_SETMASK, &all, &old);
    pid_t parent = getpid ();
    pid_t pid = vfork ();
    if (pid == 0)
        s_child (l, argv, &rec, parent);
    int fork_errno = errno;
    sigprocmask (SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        s_fail (self, "cannot fork: %s", strerror (fork_errno));
        return;
    }

    if (rec.stage != 0) {
        int status;
        while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (rec.stage == S_STAGE_CHDIR)
            s_fail (self, "cannot change directory to %s: %s", l->workdir, strerror (rec.err));
        else if (rec.stage == S_STAGE_EXEC)
            s_fail (self, "cannot execute %s: %s", l->program, strerror (rec.err));
        else if (rec.stage == S_STAGE_CGROUP)
            s_fail (self, "cannot join the task's cgroup: %s", strerror (rec.err));
        else if (rec.stage == S_STAGE_USER)
            s_fail (self, "cannot switch to task user %s (uid %u): %s", l->user->name, (unsigned) l->user->uid,
                    strerror (rec.err));
        else
            s_fail (self, "cannot set up the task process: %s", strerror (rec.err));
        return;
    }

    self->pid = pid;
    self->alive = 1;
    self->status.state = STRATA__TASK_STATE__TASK_RUNNING;
    self->status.pid = (int32_t) pid;
    self->status.started_unix_ms = st_wall_ms ();

    /*  Relative to the held run/; by path (which makes run/ again) when that
     *  was removed, letting the held folders go so the next start reopens them.
     *  A leader that already ended (a zombie until the reap, which kills its
     *  group) has nothing to record: short tasks such as `true` often have.  */
    uint64_t start_time = 0;
    if (st__proc_stat (pid, &start_time, NULL) != 0) {
        if (errno != ESRCH)
            st_warn ("task %s: cannot read the start time of process %d: %s", self->name, (int) pid,
                     strerror (errno));
        return;
    }
    int run_fd = s_dirs_run_fd (self->state_dir);
    int rc = run_fd >= 0 ? st__pidfile_write_at (run_fd, self->name, pid, start_time) : -1;
    if (rc != 0) {
        if (run_fd >= 0)
            s_dirs_close ();
        rc = st__pidfile_write (self->state_dir, self->name, pid, start_time);
    }
    if (rc == 0)
        self->has_pidfile = 1;
    else
        st_warn ("task %s: cannot record process group %d in %s/run: %s", self->name, (int) pid, self->state_dir,
                 strerror (errno));
}

/*  Removes the task's pid file, relative to the held run/ when it can.  */
static void
s_remove_pidfile (st__wtask_t *self)
{
    if (!self->has_pidfile)
        return;
    self->has_pidfile = 0;
    int run_fd = s_dirs_run_fd (self->state_dir);
    if (run_fd >= 0)
        st__pidfile_remove_at (run_fd, self->name);
    else
        st__pidfile_remove (self->state_dir, self->name);
}

/*  What every task starts with. state_dir NULL: a simulated task.  */
static st__wtask_t *
s_new (const char *state_dir, const st__wtask_spec_t *spec)
{
    st__wtask_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (state_dir && !(self->state_dir = strdup (state_dir))) {
        free (self);
        return NULL;
    }
    self->status.key = spec->key;
    self->grace_ms = spec->kill_grace_ms ? spec->kill_grace_ms : ST__WTASK_DEFAULT_GRACE_MS;
    st__wtask_key_format (&spec->key, self->name, sizeof self->name);
    return self;
}

st__wtask_t *
st__wtask_start (const char *state_dir, const st__wtask_spec_t *spec)
{
    st__wtask_t *self = s_new (state_dir, spec);
    if (!self)
        return NULL;

    s_launch_t l = { .fd_in = -1, .fd_out = -1, .fd_err = -1, .user = spec->user };
    char **argv = NULL;
    char path[4096], taskdir[4096];
    char msg[ST__WTASK_MESSAGE_MAX];

    size_t argc = 0;
    while (spec->argv && spec->argv[argc])
        argc++;
    if (argc == 0 || !spec->argv[0][0]) {
        s_fail (self, "empty command");
        goto out;
    }

    /*  Log files first: a task whose output cannot be kept does not run. A
     *  folder removed under the worker (ENOENT) is made again: first the job's,
     *  then the whole held set.  */
    const char *what = NULL;
    int err = 0, failed = S_LOG_DIR, held = 1;
    for (int attempt = 0; attempt < 3; attempt++) {
        if (s_dirs_hold (state_dir, &what) != 0) {
            err = errno;
            held = 0;
            break;
        }
        err = s_try_open_logs (&spec->key, &l, &failed);
        if (err != ENOENT)
            break;
        if (attempt == 0)
            s_dirs.job_known = 0;
        else
            s_dirs_close ();
    }
    if (!held) {
        if (!what)
            s_fail (self, "cannot open /dev/null: %s", strerror (err));
        else if (!what[0])
            s_fail (self, "out of memory");
        else
            s_fail (self, "cannot create %s/%s: %s", state_dir, what, strerror (err));
        goto out;
    }
    if (err && failed == S_LOG_DIR) {
        st__path_fmt (path, sizeof path, "%s/logs/%" PRIu64, state_dir, spec->key.job_id);
        s_fail (self, "cannot create log directory %s: %s", path, strerror (err));
        goto out;
    }
    if (err) {
        st__wtask_log_path (state_dir, &spec->key, failed == S_LOG_STDERR, path, sizeof path);
        s_fail (self, "cannot open log file %s: %s", path, strerror (err));
        goto out;
    }
    l.fd_in = s_dirs.null_fd;

    if (spec->workdir && spec->workdir[0])
        l.workdir = spec->workdir;
    else {
        /*  tasks/<name>/; the child's chdir reports a name taken by a file.  */
        err = 0;
        for (int attempt = 0; attempt < 2; attempt++) {
            if (s_dirs.tasks_fd < 0 && (s_dirs.tasks_fd = s_open_dir (state_dir, "tasks")) < 0) {
                err = errno;
                break;
            }
            err = mkdirat (s_dirs.tasks_fd, self->name, 0700) != 0 && errno != EEXIST ? errno : 0;
            if (!err && s_chown_at (s_dirs.tasks_fd, self->name, spec->user) != 0)
                err = errno;
            if (err != ENOENT)
                break;
            s_close_fd (&s_dirs.tasks_fd);
        }
        if (err || st__path_fmt (taskdir, sizeof taskdir, "%s/tasks/%s", state_dir, self->name) != 0) {
            s_fail (self, "cannot create task directory %s/tasks/%s: %s", state_dir, self->name,
                    strerror (err ? err : errno));
            goto out;
        }
        l.workdir = taskdir;
        l.own_dir = 1;
    }

    if (s_build_env (&l, spec, msg, sizeof msg) != 0) {
        s_fail (self, "%s", msg);
        goto out;
    }
    l.program = s_resolve_program (spec->argv[0], s_env_get (&l, "PATH"), msg, sizeof msg);
    if (!l.program) {
        s_fail (self, "%s", msg);
        goto out;
    }

    /*  argv as execve wants it, and the /bin/sh form for scripts without #!.  */
    argv = calloc (argc + 1, sizeof *argv);
    l.sh_argv = calloc (argc + 2, sizeof *l.sh_argv);
    if (!argv || !l.sh_argv) {
        s_fail (self, "out of memory");
        goto out;
    }
    l.sh_argv[0] = (char *) "/bin/sh";
    l.sh_argv[1] = l.program;
    for (size_t i = 0; i < argc; i++) {
        argv[i] = (char *) spec->argv[i];
        if (i > 0)
            l.sh_argv[i + 1] = (char *) spec->argv[i];
    }

    /*  Its cgroup last: nothing above can leave one behind.  */
    if (spec->cgroup) {
        self->cg = spec->cgroup;
        self->cgt = st__cgroup_take (spec->cgroup, spec->mem_mb, spec->cpus_milli, msg, sizeof msg);
        if (!self->cgt) {
            s_fail (self, "%s", msg);
            goto out;
        }
        l.ncg = st__cgroup_join_fds (spec->cgroup, self->cgt, l.cg_fds, ST__CGROUP_HIER_MAX);
    }

    self->started_mono = st_mono_ms ();
    s_spawn (self, &l, argv);
    if (self->alive && spec->time_limit_s > 0)
        self->limit_at = self->started_mono + (uint64_t) spec->time_limit_s * 1000u;
    if (self->alive && s_log_max)
        self->log_check_at = self->started_mono + ST__WTASK_LOG_CHECK_MS;

out:
    if (!self->alive)
        st__cgroup_give_back (self->cg, &self->cgt, NULL);
    /*  l.fd_in is the held /dev/null.  */
    if (l.fd_out >= 0)
        close (l.fd_out);
    if (l.fd_err >= 0)
        close (l.fd_err);
    s_env_free (&l);
    free (l.program);
    free (l.sh_argv);
    free (argv);
    return self;
}

st__wtask_t *
st__wtask_simulate (const st__wtask_spec_t *spec, uint64_t simulated_ms, uint64_t now_ms)
{
    st__wtask_t *self = s_new (NULL, spec);
    if (!self)
        return NULL;
    self->simulated = 1;
    self->alive = 1;
    self->started_mono = now_ms;
    self->end_at = simulated_ms < UINT64_MAX - now_ms ? now_ms + simulated_ms : UINT64_MAX;
    if (spec->time_limit_s > 0)
        self->limit_at = now_ms + (uint64_t) spec->time_limit_s * 1000u;
    self->status.state = STRATA__TASK_STATE__TASK_RUNNING;
    self->status.started_unix_ms = st_wall_ms ();
    return self;
}

int
st__wtask_simulated (const st__wtask_t *self)
{
    return self->simulated;
}

/*  A simulated task ends: as if its program exited 0 (sig 0) or died of sig.
 *  st__wtask_reap reports it.  */
static void
s_sim_end (st__wtask_t *self, int sig)
{
    if (self->sim_ended)
        return;
    self->sim_ended = 1;
    self->status.term_signal = sig;
    self->status.exit_code = 0;
}

/*  Its run time or its time limit, whichever comes first.  */
static void
s_sim_advance (st__wtask_t *self, uint64_t now_ms)
{
    if (self->sim_ended)
        return;
    uint64_t limit = self->limit_at ? self->limit_at : UINT64_MAX;
    if (now_ms >= self->end_at && self->end_at < limit)
        s_sim_end (self, 0);
    else if (now_ms >= limit) {
        self->status.timed_out = 1;
        st_debug ("task %s: time limit of %" PRIu64 " s reached", self->name, (limit - self->started_mono) / 1000u);
        s_sim_end (self, SIGTERM);
    }
}

/*  -- running -------------------------------------------------------------- */

const st__wtask_status_t *
st__wtask_status (const st__wtask_t *self)
{
    return &self->status;
}

const st__wtask_key_t *
st__wtask_key (const st__wtask_t *self)
{
    return &self->status.key;
}

int
st__wtask_alive (const st__wtask_t *self)
{
    return self->alive;
}

uint32_t
st__wtask_grace_ms (const st__wtask_t *self)
{
    return self->grace_ms;
}

int
st__wtask_stopping (const st__wtask_t *self)
{
    return self->alive && self->stopping;
}

void
st__wtask_terminate (st__wtask_t *self, uint32_t grace_ms, uint64_t now_ms)
{
    if (!self->alive || self->killed)
        return;
    if (self->simulated) {
        s_sim_end (self, SIGTERM);
        self->stopping = 1;
        return;
    }
    if (grace_ms == 0)
        grace_ms = self->grace_ms;
    uint64_t at = now_ms + grace_ms;
    if (!self->stopping || at < self->kill_at) {
        st_info ("task %s: sending SIGTERM to process group %d, SIGKILL in %" PRIu32 " ms", self->name,
                 (int) self->pid, grace_ms);
        kill (-self->pid, SIGTERM);
        self->kill_at = at;
    }
    self->stopping = 1;
}

void
st__wtask_kill (st__wtask_t *self)
{
    if (!self->alive || self->killed)
        return;
    if (self->simulated)
        s_sim_end (self, SIGKILL);
    else {
        st_info ("task %s: sending SIGKILL to process group %d", self->name, (int) self->pid);
        kill (-self->pid, SIGKILL);
    }
    self->stopping = 1;
    self->killed = 1;
    self->kill_at = 0;
}

/*  The task ended: what its group measured goes into the status.  */
static void
s_give_back_cgroup (st__wtask_t *self)
{
    if (!self->cgt)
        return;
    st__cgroup_usage_t u;
    st__cgroup_give_back (self->cg, &self->cgt, &u);
    st__wtask_status_t *s = &self->status;
    s->has_peak = u.has_peak;
    s->peak_mem_kib = u.peak_kib;
    s->has_cpu = u.has_cpu;
    s->cpu_ms = u.cpu_ms;
    /*  A task that still succeeded survived its OOM kill (a child it could do
     *  without): that is not why anything ended.  */
    if (u.oom_killed && (s->term_signal || s->exit_code != 0)) {
        s->oom_killed = 1;
        if (u.mem_limit_mb)
            snprintf (s->message, sizeof s->message, "killed: out of memory (limit %" PRIu64 " MiB)", u.mem_limit_mb);
        else
            snprintf (s->message, sizeof s->message, "killed: out of memory");
    }
}

int
st__wtask_reap (st__wtask_t *self)
{
    if (!self->alive)
        return 0;
    if (self->simulated) {
        s_sim_advance (self, st_mono_ms ());
        if (!self->sim_ended)
            return 0;
        self->alive = 0;
        self->status.state = STRATA__TASK_STATE__TASK_EXITED;
        self->status.finished_unix_ms = st_wall_ms ();
        return 1;
    }
    int status = 0;
    pid_t r = waitpid (self->pid, &status, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR))
        return 0;
    self->alive = 0;
    self->status.state = STRATA__TASK_STATE__TASK_EXITED;
    self->status.finished_unix_ms = st_wall_ms ();
    if (r < 0) {
        /*  Someone else reaped it: the status is lost, not the fact that it ended.  */
        self->status.exit_code = -1;
        snprintf (self->status.message, sizeof self->status.message, "exit status lost: %s", strerror (errno));
    }
    else if (WIFSIGNALED (status))
        self->status.term_signal = WTERMSIG (status);
    else
        self->status.exit_code = WEXITSTATUS (status);
    /*  Whatever the program left in its group goes with it. The group id cannot
     *  have been reused while members remain, so this reaches only its processes.  */
    kill (-self->pid, SIGKILL);
    s_remove_pidfile (self);
    s_give_back_cgroup (self);
    /*  The last word on its logs: a burst just before the end is cut too.  */
    s_cap_logs (self);
    self->log_check_at = 0;
    return 1;
}

/*  -- the log cap ---------------------------------------------------------- */

void
st__wtask_set_log_max (uint64_t bytes)
{
    s_log_max = bytes;
}

/*  Cuts one stream back to s_log_max bytes followed by the marker line, which
 *  counts what was dropped so far. The task keeps its descriptor (O_APPEND):
 *  what it writes next lands after the marker and is cut at the next check.  */
static void
s_cap_stream (st__wtask_t *self, int is_err)
{
    char rel[96], path[4096];
    const st__wtask_key_t *k = &self->status.key;
    snprintf (rel, sizeof rel, "%" PRIu64 "/%" PRIu32 ".%" PRIu32 ".%s", k->job_id, k->index, k->attempt,
              is_err ? "stderr" : "stdout");
    int dirfd = s_dirs.state_dir && strcmp (s_dirs.state_dir, self->state_dir) == 0 ? s_dirs.logs_fd : -1;
    struct stat st;
    uint64_t keep = s_log_max + self->log_marker_len[is_err];
    if (dirfd >= 0) {
        if (fstatat (dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) != 0 || (uint64_t) st.st_size <= keep)
            return;
    }
    else if (st__wtask_log_path (self->state_dir, k, is_err, path, sizeof path) != 0 || lstat (path, &st) != 0
             || (uint64_t) st.st_size <= keep)
        return;
    int fd = dirfd >= 0 ? openat (dirfd, rel, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY)
                        : open (path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0)
        return;
    if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode) && st.st_nlink == 1 && (uint64_t) st.st_size > keep) {
        self->log_dropped[is_err] += (uint64_t) st.st_size - keep;
        char marker[192], size[32];
        if (s_log_max % (1024u * 1024u) == 0)
            snprintf (size, sizeof size, "%" PRIu64 " MiB", s_log_max / (1024u * 1024u));
        else
            snprintf (size, sizeof size, "%" PRIu64 " bytes", s_log_max);
        int len = snprintf (marker, sizeof marker, "\n[strata: output cut at %s; %" PRIu64 " bytes dropped]\n", size,
                            self->log_dropped[is_err]);
        if (ftruncate (fd, (off_t) s_log_max) == 0 && pwrite (fd, marker, (size_t) len, (off_t) s_log_max) == len) {
            if (!self->log_marker_len[is_err])
                st_info ("task %s: %s cut at %s", self->name, is_err ? "stderr" : "stdout", size);
            self->log_marker_len[is_err] = (uint32_t) len;
        }
    }
    close (fd);
}

/*  Both streams of a task with a real process, when a cap is set.  */
static void
s_cap_logs (st__wtask_t *self)
{
    if (!s_log_max || self->simulated || !self->state_dir)
        return;
    s_cap_stream (self, 0);
    s_cap_stream (self, 1);
}

void
st__wtask_tick (st__wtask_t *self, uint64_t now_ms)
{
    if (!self->alive)
        return;
    if (self->simulated) {
        s_sim_advance (self, now_ms);
        return;
    }
    if (self->limit_at && now_ms >= self->limit_at && !self->status.timed_out) {
        self->status.timed_out = 1;
        st_info ("task %s: time limit of %" PRIu64 " s reached", self->name,
                 (self->limit_at - self->started_mono) / 1000u);
        st__wtask_terminate (self, 0, now_ms);
    }
    if (self->kill_at && now_ms >= self->kill_at && !self->killed) {
        st_info ("task %s: still running after the grace period", self->name);
        st__wtask_kill (self);
    }
    if (self->log_check_at && now_ms >= self->log_check_at) {
        s_cap_logs (self);
        self->log_check_at = now_ms + ST__WTASK_LOG_CHECK_MS;
    }
}

uint64_t
st__wtask_next_deadline (const st__wtask_t *self)
{
    if (!self->alive)
        return UINT64_MAX;
    if (self->simulated) {
        if (self->sim_ended)
            return 0; /*  due for st__wtask_reap  */
        return self->limit_at && self->limit_at < self->end_at ? self->limit_at : self->end_at;
    }
    uint64_t next = UINT64_MAX;
    if (self->limit_at && !self->status.timed_out)
        next = self->limit_at;
    if (self->kill_at && !self->killed && self->kill_at < next)
        next = self->kill_at;
    if (self->log_check_at && self->log_check_at < next)
        next = self->log_check_at;
    return next;
}

void
st__wtask_destroy (st__wtask_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    st__wtask_t *self = *self_p;
    if (self->alive && !self->simulated) {
        kill (-self->pid, SIGKILL);
        int status;
        while (waitpid (self->pid, &status, 0) < 0 && errno == EINTR)
            ;
        s_remove_pidfile (self);
    }
    st__cgroup_give_back (self->cg, &self->cgt, NULL);
    free (self->state_dir);
    free (self);
    *self_p = NULL;
}
