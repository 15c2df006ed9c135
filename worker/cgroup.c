/*  cgroup.c: a group per task, over cgroup v2 or v1. See cgroup.h for the life
 *  cycle, where groups live and why v1 groups are reused.
 *
 *  Files, per version (<g> is a task's group):
 *
 *      what              v2                         v1
 *      memory limit      <g>/memory.max              memory/<g>/memory.limit_in_bytes (+ memsw = the same)
 *      no swap           <g>/memory.swap.max = 0     memory.memsw.limit_in_bytes = the limit, when present
 *      CPU quota         <g>/cpu.max                 cpu/<g>/cpu.cfs_quota_us (period 100 ms)
 *      processes         <g>/pids.max                pids/<g>/pids.max
 *      peak memory       <g>/memory.peak (>= 5.19)   memory/<g>/memory.max_usage_in_bytes
 *      CPU time          <g>/cpu.stat usage_usec     cpuacct/<g>/cpuacct.usage (ns)
 *      OOM kills         <g>/memory.events oom_kill  memory/<g>/memory.oom_control oom_kill
 *
 *  v1 counters are cumulative over a reused group's life except those reset
 *  when it goes idle (max_usage, failcnt, cpuacct.usage); oom_kill cannot be
 *  reset, so each group remembers the count it had when it was last handed out.
 *
 *  Group names are "t<N>" (N counts up per worker) rather than task keys: a
 *  reused group outlives its task. */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "st_log.h"

#define S_PATH_MAX 4096
#define S_TEXT_MAX (1u << 20) /*  mountinfo of a busy host fits  */

enum { S_MEM = 0, S_CPU, S_ACCT, S_PIDS, S_ROLES };

struct st__cgroup_task {
    st__cgroup_task_t *next; /*  on the idle or draining list  */
    char name[24];           /*  "t<N>"  */
    int limits_set;          /*  mem_mb and cpus_milli below are written  */
    uint64_t mem_mb;         /*  the limits it holds now  */
    uint32_t cpus_milli;
    uint64_t oom_base; /*  v1: oom_kill count when it was handed out  */
    /*  Held open from the group's creation to its removal, so a start and a reap
     *  cost no open or close: cgroup.procs of each hierarchy (O_RDWR: the child
     *  writes "0" to join, the reap reads who is left), and the files the reap
     *  reads (and, v1, resets). -1: absent (no cpuacct; v2 before 5.19 has no
     *  memory.peak).  */
    int fd_procs[ST__CGROUP_HIER_MAX];
    int fd_peak; /*  v2 memory.peak, v1 memory.max_usage_in_bytes  */
    int fd_cpu;  /*  v2 cpu.stat, v1 cpuacct.usage  */
    int fd_oom;  /*  v2 memory.events, v1 memory.oom_control  */
};

struct st__cgroup {
    int version;                     /*  1 or 2  */
    char *dirs[ST__CGROUP_HIER_MAX]; /*  the parent group in each distinct hierarchy (owned)  */
    int ndirs;                       /*  v2: 1  */
    int role[S_ROLES];               /*  index in dirs of each role, -1: none (v1 cpuacct)  */
    uint32_t pids_max;
    uint64_t next_id;
    st__cgroup_task_t *idle; /*  v1: empty groups, counters reset, ready for reuse  */
    size_t nidle;
    st__cgroup_task_t *draining; /*  given back while processes remained  */
};

/*  -- pure parts ----------------------------------------------------------- */

int
st__cgroup_parse_kv (const char *text, const char *key, uint64_t *value)
{
    size_t klen = strlen (key);
    for (const char *p = text; p && *p;) {
        if (strncmp (p, key, klen) == 0 && p[klen] == ' ') {
            *value = strtoull (p + klen + 1, NULL, 10);
            return 1;
        }
        p = strchr (p, '\n');
        if (p)
            p++;
    }
    return 0;
}

int
st__cgroup_list_has (const char *list, const char *name)
{
    size_t n = strlen (name);
    for (const char *p = list; p && *p;) {
        p += strspn (p, " \t\n,");
        size_t len = strcspn (p, " \t\n,");
        if (len == n && strncmp (p, name, n) == 0)
            return 1;
        p += len;
    }
    return 0;
}

static int
s_copy (char *out, size_t size, const char *from, size_t len)
{
    if (len >= size)
        return -1;
    memcpy (out, from, len);
    out[len] = '\0';
    return 0;
}

int
st__cgroup_parse_self (const char *text, const char *controller, char *out, size_t size)
{
    for (const char *line = text; line && *line;) {
        const char *end = strchr (line, '\n');
        size_t len = end ? (size_t) (end - line) : strlen (line);
        const char *c1 = memchr (line, ':', len);
        const char *c2 = c1 ? memchr (c1 + 1, ':', len - (size_t) (c1 + 1 - line)) : NULL;
        if (c2) {
            char list[256];
            size_t llen = (size_t) (c2 - c1 - 1);
            const char *path = c2 + 1;
            size_t plen = len - (size_t) (path - line);
            int hit = 0;
            if (!controller)
                hit = llen == 0 && (size_t) (c1 - line) == 1 && line[0] == '0';
            else if (s_copy (list, sizeof list, c1 + 1, llen) == 0)
                hit = st__cgroup_list_has (list, controller);
            if (hit)
                return s_copy (out, size, path, plen);
        }
        line = end ? end + 1 : NULL;
    }
    return -1;
}

/*  The n-th space-separated field of line (0-based), its length in *len.  */
static const char *
s_field (const char *line, size_t linelen, int n, size_t *len)
{
    const char *p = line, *end = line + linelen;
    for (int i = 0; p < end; i++) {
        while (p < end && *p == ' ')
            p++;
        const char *q = p;
        while (q < end && *q != ' ')
            q++;
        if (i == n) {
            *len = (size_t) (q - p);
            return p < end ? p : NULL;
        }
        p = q;
    }
    return NULL;
}

int
st__cgroup_parse_mount (const char *text, const char *controller, char *mnt, size_t mntsize, char *root,
                        size_t rootsize)
{
    for (const char *line = text; line && *line;) {
        const char *end = strchr (line, '\n');
        size_t len = end ? (size_t) (end - line) : strlen (line);
        /*  "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER"  */
        const char *dash = NULL;
        for (const char *p = line; p + 2 < line + len; p++)
            if (p[0] == ' ' && p[1] == '-' && p[2] == ' ') {
                dash = p + 1;
                break;
            }
        if (dash) {
            size_t tlen = 0, slen = 0, rlen = 0, mlen = 0;
            size_t rest = len - (size_t) (dash - line);
            const char *type = s_field (dash, rest, 1, &tlen);
            const char *super = s_field (dash, rest, 3, &slen);
            const char *r = s_field (line, len, 3, &rlen);
            const char *m = s_field (line, len, 4, &mlen);
            int hit = 0;
            if (type && r && m) {
                if (!controller)
                    hit = tlen == 7 && strncmp (type, "cgroup2", 7) == 0;
                else if (tlen == 6 && strncmp (type, "cgroup", 6) == 0 && super) {
                    char opts[512];
                    hit = s_copy (opts, sizeof opts, super, slen) == 0 && st__cgroup_list_has (opts, controller);
                }
            }
            if (hit)
                return s_copy (mnt, mntsize, m, mlen) == 0 && s_copy (root, rootsize, r, rlen) == 0 ? 0 : -1;
        }
        line = end ? end + 1 : NULL;
    }
    return -1;
}

void
st__cgroup_cpu_max (uint32_t cpus_milli, char *out, size_t size)
{
    if (cpus_milli == 0)
        snprintf (out, size, "max %u", ST__CGROUP_CPU_PERIOD_US);
    else {
        /*  The kernel's floor is 1 ms per period.  */
        uint64_t quota = (uint64_t) cpus_milli * ST__CGROUP_CPU_PERIOD_US / 1000u;
        snprintf (out, size, "%" PRIu64 " %u", quota < 1000 ? 1000 : quota, ST__CGROUP_CPU_PERIOD_US);
    }
}

/*  -- files ---------------------------------------------------------------- */

/*  Writes text into a control file. Returns 0 or an errno.  */
static int
s_write (const char *path, const char *text)
{
    int fd = open (path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    size_t len = strlen (text);
    int rc = write (fd, text, len) == (ssize_t) len ? 0 : errno ? errno : EIO;
    close (fd);
    return rc;
}

/*  Reads a control file into buf (NUL-terminated). Returns its length or -1.  */
static ssize_t
s_read (const char *path, char *buf, size_t size)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = 0;
    for (;;) {
        ssize_t r = read (fd, buf + n, size - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t) r;
        if (n == size - 1)
            break;
    }
    close (fd);
    buf[n] = '\0';
    return (ssize_t) n;
}

/*  A whole /proc text (up to S_TEXT_MAX), malloc'd; NULL on failure.  */
static char *
s_slurp (const char *path)
{
    char *buf = malloc (S_TEXT_MAX);
    if (buf && s_read (path, buf, S_TEXT_MAX) < 0) {
        free (buf);
        return NULL;
    }
    return buf;
}

/*  A held control file's text from its start (NUL-terminated). Length or -1.  */
static ssize_t
s_pread (int fd, char *buf, size_t size)
{
    if (fd < 0)
        return -1;
    ssize_t n;
    while ((n = pread (fd, buf, size - 1, 0)) < 0 && errno == EINTR)
        ;
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

static int
s_pread_u64 (int fd, uint64_t *value)
{
    char buf[64];
    if (s_pread (fd, buf, sizeof buf) <= 0)
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull (buf, &end, 10);
    if (errno || end == buf)
        return 0;
    *value = v;
    return 1;
}

static int
s_pwrite (int fd, const char *text)
{
    size_t len = strlen (text);
    return fd >= 0 && pwrite (fd, text, len, 0) == (ssize_t) len ? 0 : -1;
}

/*  SIGKILLs every process a cgroup.procs text lists. Returns how many.  */
static size_t
s_kill_listed (char *buf)
{
    size_t n = 0;
    for (char *p = buf; *p;) {
        char *end;
        long pid = strtol (p, &end, 10);
        if (end == p)
            break;
        if (pid > 0) {
            kill ((pid_t) pid, SIGKILL);
            n++;
        }
        p = end;
        while (*p == '\n')
            p++;
    }
    return n;
}

/*  <dir>/<name>/<file> into path (name or file may be NULL).  */
static int
s_path (char *path, size_t size, const char *dir, const char *name, const char *file)
{
    return st__path_fmt (path, size, "%s%s%s%s%s", dir, name ? "/" : "", name ? name : "", file ? "/" : "",
                         file ? file : "");
}

/*  SIGKILLs every process listed in <dir>/cgroup.procs. Returns how many were listed.  */
static size_t
s_kill_all (const char *dir)
{
    char path[S_PATH_MAX], buf[8192];
    if (s_path (path, sizeof path, dir, NULL, "cgroup.procs") != 0 || s_read (path, buf, sizeof buf) < 0)
        return 0;
    return s_kill_listed (buf);
}

/*  -- groups --------------------------------------------------------------- */

static const char *
s_dir (const st__cgroup_t *self, int role)
{
    return self->role[role] >= 0 ? self->dirs[self->role[role]] : NULL;
}

static void
s_task_close_fds (st__cgroup_task_t *t)
{
    for (int i = 0; i < ST__CGROUP_HIER_MAX; i++)
        if (t->fd_procs[i] >= 0) {
            close (t->fd_procs[i]);
            t->fd_procs[i] = -1;
        }
    int *fds[] = { &t->fd_peak, &t->fd_cpu, &t->fd_oom };
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (*fds[i] >= 0) {
            close (*fds[i]);
            *fds[i] = -1;
        }
}

/*  <g>/<file> of role opened with flags, -1 when absent. *err: errno of a failure other than ENOENT.  */
static int
s_task_open (const st__cgroup_t *self, const st__cgroup_task_t *t, int role, const char *file, int flags, int *err)
{
    char path[S_PATH_MAX];
    if (!s_dir (self, role) || s_path (path, sizeof path, s_dir (self, role), t->name, file) != 0)
        return -1;
    int fd = open (path, flags | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT && !*err)
        *err = errno;
    return fd;
}

/*  Opens what a group holds (see st__cgroup_task). 0, or an errno.  */
static int
s_task_open_fds (const st__cgroup_t *self, st__cgroup_task_t *t)
{
    char path[S_PATH_MAX];
    for (int i = 0; i < self->ndirs; i++) {
        if (s_path (path, sizeof path, self->dirs[i], t->name, "cgroup.procs") != 0)
            return ENAMETOOLONG;
        if ((t->fd_procs[i] = open (path, O_RDWR | O_CLOEXEC)) < 0)
            return errno;
    }
    int err = 0, v2 = self->version == 2;
    t->fd_peak =
        s_task_open (self, t, S_MEM, v2 ? "memory.peak" : "memory.max_usage_in_bytes", v2 ? O_RDONLY : O_RDWR, &err);
    t->fd_cpu =
        s_task_open (self, t, v2 ? S_CPU : S_ACCT, v2 ? "cpu.stat" : "cpuacct.usage", v2 ? O_RDONLY : O_RDWR, &err);
    t->fd_oom = s_task_open (self, t, S_MEM, v2 ? "memory.events" : "memory.oom_control", O_RDONLY, &err);
    return err;
}

/*  Removes a task's group in every hierarchy (best effort) and frees it.  */
static void
s_remove (st__cgroup_t *self, st__cgroup_task_t *t)
{
    char path[S_PATH_MAX];
    s_task_close_fds (t);
    for (int i = 0; i < self->ndirs; i++)
        if (s_path (path, sizeof path, self->dirs[i], t->name, NULL) == 0 && rmdir (path) != 0 && errno != ENOENT)
            st_debug ("cannot remove cgroup %s: %s", path, strerror (errno));
    free (t);
}

/*  SIGKILLs the processes still in a group (any hierarchy: every task process
 *  is in each). Returns how many there were.  */
static size_t
s_task_kill (const st__cgroup_t *self, const st__cgroup_task_t *t)
{
    char buf[8192];
    (void) self;
    return s_pread (t->fd_procs[0], buf, sizeof buf) > 0 ? s_kill_listed (buf) : 0;
}

/*  An empty group is done with: v1 resets its counters and keeps it for the
 *  next start (up to ST__CGROUP_IDLE_MAX); otherwise it is removed.  */
static void
s_recycle (st__cgroup_t *self, st__cgroup_task_t *t)
{
    if (self->version != 1 || self->nidle >= ST__CGROUP_IDLE_MAX) {
        s_remove (self, t);
        return;
    }
    int ok = s_pwrite (t->fd_peak, "0") == 0 && (t->fd_cpu < 0 || s_pwrite (t->fd_cpu, "0") == 0);
    if (!ok) {
        s_remove (self, t);
        return;
    }
    t->next = self->idle;
    self->idle = t;
    self->nidle++;
}

/*  Writes the memory limit (v1: and memsw, in the order the kernel accepts:
 *  memsw never below the limit). 0 or an errno, with the file in *what.  */
static int
s_set_memory (st__cgroup_t *self, st__cgroup_task_t *t, uint64_t mem_mb, const char **what)
{
    char path[S_PATH_MAX], val[32];
    const char *dir = s_dir (self, S_MEM);
    if (self->version == 2) {
        if (mem_mb)
            snprintf (val, sizeof val, "%" PRIu64, mem_mb * 1024u * 1024u);
        else
            snprintf (val, sizeof val, "max");
        *what = "memory.max";
        if (s_path (path, sizeof path, dir, t->name, *what) != 0)
            return ENAMETOOLONG;
        int rc = s_write (path, val);
        if (rc)
            return rc;
        if (!t->limits_set && s_path (path, sizeof path, dir, t->name, "memory.swap.max") == 0)
            s_write (path, "0"); /*  absent without swap accounting: nothing to stop then  */
        return 0;
    }
    if (mem_mb)
        snprintf (val, sizeof val, "%" PRIu64, mem_mb * 1024u * 1024u);
    else
        snprintf (val, sizeof val, "-1");
    uint64_t old = t->limits_set ? t->mem_mb : 0;
    int raising = mem_mb == 0 || (old != 0 && mem_mb > old);
    char memsw[S_PATH_MAX];
    int has_memsw = s_path (memsw, sizeof memsw, dir, t->name, "memory.memsw.limit_in_bytes") == 0
                    && access (memsw, F_OK) == 0;
    *what = "memory.memsw.limit_in_bytes";
    if (has_memsw && raising) {
        int rc = s_write (memsw, val);
        if (rc)
            return rc;
    }
    *what = "memory.limit_in_bytes";
    if (s_path (path, sizeof path, dir, t->name, *what) != 0)
        return ENAMETOOLONG;
    int rc = s_write (path, val);
    if (rc)
        return rc;
    *what = "memory.memsw.limit_in_bytes";
    return has_memsw && !raising ? s_write (memsw, val) : 0;
}

static int
s_set_cpu (st__cgroup_t *self, st__cgroup_task_t *t, uint32_t cpus_milli, const char **what)
{
    char path[S_PATH_MAX], val[48];
    const char *dir = s_dir (self, S_CPU);
    if (self->version == 2) {
        st__cgroup_cpu_max (cpus_milli, val, sizeof val);
        *what = "cpu.max";
    }
    else {
        /*  The period is the kernel's default, 100 ms (ST__CGROUP_CPU_PERIOD_US).  */
        uint64_t quota = (uint64_t) cpus_milli * ST__CGROUP_CPU_PERIOD_US / 1000u;
        if (cpus_milli == 0)
            snprintf (val, sizeof val, "-1");
        else
            snprintf (val, sizeof val, "%" PRIu64, quota < 1000 ? 1000 : quota);
        *what = "cpu.cfs_quota_us";
    }
    if (s_path (path, sizeof path, dir, t->name, *what) != 0)
        return ENAMETOOLONG;
    return s_write (path, val);
}

st__cgroup_task_t *
st__cgroup_take (st__cgroup_t *self, uint64_t mem_mb, uint32_t cpus_milli, char *err, size_t errsize)
{
    char path[S_PATH_MAX];
    st__cgroup_task_t *t = self->idle;
    if (t) {
        self->idle = t->next;
        self->nidle--;
        t->next = NULL;
    }
    else {
        if (!(t = calloc (1, sizeof *t))) {
            snprintf (err, errsize, "out of memory");
            return NULL;
        }
        for (int i = 0; i < ST__CGROUP_HIER_MAX; i++)
            t->fd_procs[i] = -1;
        t->fd_peak = t->fd_cpu = t->fd_oom = -1;
        snprintf (t->name, sizeof t->name, "t%" PRIu64, ++self->next_id);
        for (int i = 0; i < self->ndirs; i++) {
            if (s_path (path, sizeof path, self->dirs[i], t->name, NULL) != 0 || mkdir (path, 0755) != 0) {
                snprintf (err, errsize, "cannot create cgroup %s/%s: %s", self->dirs[i], t->name, strerror (errno));
                s_remove (self, t);
                return NULL;
            }
        }
        char val[24];
        snprintf (val, sizeof val, "%" PRIu32, self->pids_max);
        int rc = s_path (path, sizeof path, s_dir (self, S_PIDS), t->name, "pids.max") == 0 ? s_write (path, val)
                                                                                            : ENAMETOOLONG;
        if (rc) {
            snprintf (err, errsize, "cannot write cgroup %s/%s/pids.max: %s", s_dir (self, S_PIDS), t->name,
                      strerror (rc));
            s_remove (self, t);
            return NULL;
        }
        if ((rc = s_task_open_fds (self, t)) != 0) {
            snprintf (err, errsize, "cannot open the files of cgroup %s/%s: %s", s_dir (self, S_MEM), t->name,
                      strerror (rc));
            s_remove (self, t);
            return NULL;
        }
    }
    const char *what = "";
    int rc = 0;
    if (!t->limits_set || t->mem_mb != mem_mb)
        rc = s_set_memory (self, t, mem_mb, &what);
    if (!rc && (!t->limits_set || t->cpus_milli != cpus_milli))
        rc = s_set_cpu (self, t, cpus_milli, &what);
    if (rc) {
        snprintf (err, errsize, "cannot write cgroup %s/%s/%s: %s",
                  s_dir (self, strncmp (what, "cpu", 3) == 0 ? S_CPU : S_MEM), t->name, what, strerror (rc));
        s_remove (self, t);
        return NULL;
    }
    t->limits_set = 1;
    t->mem_mb = mem_mb;
    t->cpus_milli = cpus_milli;
    return t;
}

int
st__cgroup_join_fds (const st__cgroup_t *self, const st__cgroup_task_t *task, int *fds, size_t max)
{
    int n = 0;
    for (int i = 0; i < self->ndirs && (size_t) n < max; i++)
        fds[n++] = task->fd_procs[i];
    return n;
}

int
st__cgroup_join (const int *fds, int n)
{
    /*  "0" names the writer: the child itself, before exec.  */
    for (int i = 0; i < n; i++)
        if (write (fds[i], "0", 1) != 1)
            return errno ? errno : EIO;
    return 0;
}

/*  What the group measured (it is empty or being emptied).  */
static void
s_measure (st__cgroup_t *self, st__cgroup_task_t *t, st__cgroup_usage_t *u)
{
    char buf[4096];
    uint64_t v = 0;
    int v2 = self->version == 2;
    memset (u, 0, sizeof *u);
    u->mem_limit_mb = t->mem_mb;
    if (s_pread_u64 (t->fd_peak, &v)) {
        u->has_peak = 1;
        u->peak_kib = v / 1024u;
    }
    if (v2 ? s_pread (t->fd_cpu, buf, sizeof buf) > 0 && st__cgroup_parse_kv (buf, "usage_usec", &v)
           : s_pread_u64 (t->fd_cpu, &v)) {
        u->has_cpu = 1;
        u->cpu_ms = v2 ? v / 1000u : v / 1000000u;
    }
    /*  v1 counts OOM kills over a reused group's life; a v2 group is fresh.  */
    if (s_pread (t->fd_oom, buf, sizeof buf) > 0 && st__cgroup_parse_kv (buf, "oom_kill", &v)) {
        u->oom_killed = v > t->oom_base;
        t->oom_base = v;
    }
}

void
st__cgroup_give_back (st__cgroup_t *self, st__cgroup_task_t **task_p, st__cgroup_usage_t *usage)
{
    if (!task_p || !*task_p)
        return;
    st__cgroup_task_t *t = *task_p;
    *task_p = NULL;
    st__cgroup_usage_t scratch;
    s_measure (self, t, usage ? usage : &scratch);
    /*  Processes that left the task's process group (setsid) are still here.  */
    if (s_task_kill (self, t) > 0) {
        t->next = self->draining;
        self->draining = t;
        return;
    }
    s_recycle (self, t);
}

void
st__cgroup_tick (st__cgroup_t *self)
{
    for (st__cgroup_task_t **p = &self->draining; *p;) {
        st__cgroup_task_t *t = *p;
        if (s_task_kill (self, t) > 0) {
            p = &t->next;
            continue;
        }
        *p = t->next;
        t->next = NULL;
        s_recycle (self, t);
    }
}

/*  -- the node's parent ---------------------------------------------------- */

const char *
st__cgroup_kind (const st__cgroup_t *self)
{
    return self->version == 2 ? "cgroup v2" : "cgroup v1";
}

const char *
st__cgroup_path (const st__cgroup_t *self)
{
    return s_dir (self, S_MEM);
}

/*  Kills and removes every child group of dir (an earlier worker's), waiting
 *  up to a second for their processes to go.  */
static void
s_sweep (const char *dir)
{
    for (int round = 0; round < 50; round++) {
        DIR *d = opendir (dir);
        if (!d)
            return;
        int left = 0;
        struct dirent *e;
        char path[S_PATH_MAX];
        while ((e = readdir (d))) {
            if (e->d_type != DT_DIR || e->d_name[0] == '.')
                continue;
            if (s_path (path, sizeof path, dir, e->d_name, NULL) != 0)
                continue;
            s_kill_all (path);
            if (rmdir (path) != 0) {
                if (round == 0)
                    st_info ("cgroup %s: killing what an earlier worker left running", path);
                left++;
            }
        }
        closedir (d);
        if (!left)
            return;
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep (&ts, NULL);
    }
    st_warn ("cgroup %s: groups of an earlier worker could not be removed", dir);
}

/*  base/<root>/<node> (root relative) or mnt/<root>/<node> (root absolute),
 *  made with its parents.  */
static int
s_make_parent (char *out, size_t size, const char *mnt, const char *self_path, const char *root, const char *node,
               char *why, size_t whysize)
{
    int rc = root[0] == '/'
                 ? st__path_fmt (out, size, "%s%s/%s", mnt, root, node)
                 : st__path_fmt (out, size, "%s%s/%s/%s", mnt, strcmp (self_path, "/") ? self_path : "", root, node);
    if (rc != 0) {
        snprintf (why, whysize, "cgroup path too long under %s", mnt);
        return -1;
    }
    if (st__mkdir_p (out, 0755) != 0) {
        snprintf (why, whysize, "cannot create %s: %s", out, strerror (errno));
        return -1;
    }
    return 0;
}

/*  The worker's own group in a hierarchy, relative to the mount's root.  */
static int
s_self_path (const char *cgroup_text, const char *controller, const char *mroot, char *out, size_t size)
{
    char full[S_PATH_MAX];
    if (st__cgroup_parse_self (cgroup_text, controller, full, sizeof full) != 0)
        return -1;
    size_t rlen = strlen (mroot);
    const char *rel = full;
    if (strcmp (mroot, "/") != 0 && strncmp (full, mroot, rlen) == 0 && (full[rlen] == '/' || !full[rlen]))
        rel = full + rlen;
    return s_copy (out, size, rel[0] ? rel : "/", strlen (rel[0] ? rel : "/"));
}

static int
s_open_v2 (st__cgroup_t *self, const char *mountinfo, const char *cgroup_text, const char *root, const char *node,
           char *why, size_t whysize)
{
    char mnt[S_PATH_MAX], mroot[S_PATH_MAX], own[S_PATH_MAX], path[S_PATH_MAX], buf[512];
    if (st__cgroup_parse_mount (mountinfo, NULL, mnt, sizeof mnt, mroot, sizeof mroot) != 0)
        return -1;
    if (s_self_path (cgroup_text, NULL, mroot, own, sizeof own) != 0)
        return -1;
    char base[S_PATH_MAX];
    if (root[0] == '/')
        snprintf (base, sizeof base, "%s", mnt);
    else if (st__path_fmt (base, sizeof base, "%s%s", mnt, strcmp (own, "/") ? own : "") != 0)
        return -1;
    if (s_path (path, sizeof path, base, NULL, "cgroup.controllers") != 0 || s_read (path, buf, sizeof buf) < 0)
        return -1;
    if (!st__cgroup_list_has (buf, "memory") || !st__cgroup_list_has (buf, "cpu")
        || !st__cgroup_list_has (buf, "pids"))
        return -1;
    char parent[S_PATH_MAX];
    if (s_make_parent (parent, sizeof parent, mnt, own, root, node, why, whysize) != 0)
        return 1;
    /*  Controllers reach a group's children only through each ancestor's
     *  subtree_control, and a group that has processes cannot hand them on
     *  ("no internal processes"): a worker that lives in base moves itself into
     *  a leaf beside <root> first.  */
    const char *want = "+memory +cpu +pids";
    if (s_path (path, sizeof path, base, NULL, "cgroup.subtree_control") != 0)
        return 1;
    int rc = s_write (path, want);
    if (rc == EBUSY) {
        char leaf[S_PATH_MAX], procs[S_PATH_MAX];
        if (st__path_fmt (leaf, sizeof leaf, "%s/%s-worker-%s", base, root[0] == '/' ? root + 1 : root, node) != 0
            || (mkdir (leaf, 0755) != 0 && errno != EEXIST)
            || s_path (procs, sizeof procs, leaf, NULL, "cgroup.procs") != 0 || s_write (procs, "0") != 0) {
            snprintf (why, whysize, "cannot move the worker out of %s to enable controllers: %s", base,
                      strerror (errno));
            return 1;
        }
        rc = s_write (path, want);
    }
    if (rc) {
        snprintf (why, whysize, "cannot enable memory, cpu and pids in %s: %s", path, strerror (rc));
        return 1;
    }
    /*  Every level from base down to the parent.  */
    size_t blen = strlen (base);
    for (char *p = parent + blen + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        rc = s_path (path, sizeof path, parent, NULL, "cgroup.subtree_control") == 0 ? s_write (path, want) : EINVAL;
        *p = '/';
        if (rc) {
            snprintf (why, whysize, "cannot enable memory, cpu and pids in %s: %s", path, strerror (rc));
            return 1;
        }
    }
    if (s_path (path, sizeof path, parent, NULL, "cgroup.subtree_control") != 0 || (rc = s_write (path, want)) != 0) {
        snprintf (why, whysize, "cannot enable memory, cpu and pids in %s: %s", path, strerror (rc));
        return 1;
    }
    self->version = 2;
    if (!(self->dirs[0] = strdup (parent)))
        return 1;
    self->ndirs = 1;
    for (int r = 0; r < S_ROLES; r++)
        self->role[r] = 0;
    return 0;
}

static int
s_open_v1 (st__cgroup_t *self, const char *mountinfo, const char *cgroup_text, const char *root, const char *node,
           char *why, size_t whysize)
{
    static const char *const names[S_ROLES] = { "memory", "cpu", "cpuacct", "pids" };
    char mnts[S_ROLES][S_PATH_MAX];
    for (int r = 0; r < S_ROLES; r++) {
        char mroot[S_PATH_MAX], own[S_PATH_MAX];
        self->role[r] = -1;
        if (st__cgroup_parse_mount (mountinfo, names[r], mnts[r], sizeof mnts[r], mroot, sizeof mroot) != 0) {
            if (r == S_ACCT)
                continue; /*  CPU time is then unknown; the limits still hold  */
            snprintf (why, whysize, "no cgroup2 with memory, cpu and pids controllers, and no cgroup v1 %s hierarchy",
                      names[r]);
            return -1;
        }
        int shared = -1;
        for (int q = 0; q < r; q++)
            if (self->role[q] >= 0 && strcmp (mnts[q], mnts[r]) == 0)
                shared = self->role[q];
        if (shared >= 0) {
            self->role[r] = shared; /*  cpu,cpuacct mounted together  */
            continue;
        }
        if (s_self_path (cgroup_text, names[r], mroot, own, sizeof own) != 0) {
            snprintf (why, whysize, "cannot find the worker's %s cgroup in /proc/self/cgroup", names[r]);
            return -1;
        }
        char parent[S_PATH_MAX];
        if (s_make_parent (parent, sizeof parent, mnts[r], own, root, node, why, whysize) != 0)
            return -1;
        if (!(self->dirs[self->ndirs] = strdup (parent))) {
            snprintf (why, whysize, "out of memory");
            return -1;
        }
        self->role[r] = self->ndirs++;
    }
    self->version = 1;
    return 0;
}

st__cgroup_t *
st__cgroup_open (const char *root, const char *node, uint32_t pids_max, char *why, size_t whysize)
{
    snprintf (why, whysize, "unknown");
    if (!root || !root[0])
        root = ST__CGROUP_DEFAULT_ROOT;
    if (strstr (root, "..") || !node || !node[0] || strchr (node, '/')) {
        snprintf (why, whysize, "invalid cgroup root or node name");
        return NULL;
    }
    st__cgroup_t *self = calloc (1, sizeof *self);
    char *mountinfo = s_slurp ("/proc/self/mountinfo");
    char *cgroup_text = s_slurp ("/proc/self/cgroup");
    if (!self || !mountinfo || !cgroup_text) {
        snprintf (why, whysize, "cannot read /proc/self/mountinfo or /proc/self/cgroup");
        goto fail;
    }
    self->pids_max = pids_max ? pids_max : ST__CGROUP_DEFAULT_PIDS_MAX;
    int rc = s_open_v2 (self, mountinfo, cgroup_text, root, node, why, whysize);
    if (rc > 0)
        goto fail; /*  v2 with controllers, but unusable: v1 cannot be mounted beside it for them  */
    if (rc < 0 && s_open_v1 (self, mountinfo, cgroup_text, root, node, why, whysize) != 0)
        goto fail;
    for (int i = 0; i < self->ndirs; i++)
        s_sweep (self->dirs[i]);
    /*  Each group holds a few descriptors (st__cgroup_task): the soft limit of
     *  open files goes up to the hard one.  */
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit (RLIMIT_NOFILE, &rl);
    }
    free (mountinfo);
    free (cgroup_text);
    return self;
fail:
    free (mountinfo);
    free (cgroup_text);
    st__cgroup_close (&self);
    return NULL;
}

void
st__cgroup_close (st__cgroup_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    st__cgroup_t *self = *self_p;
    while (self->idle) {
        st__cgroup_task_t *t = self->idle;
        self->idle = t->next;
        s_remove (self, t);
    }
    while (self->draining) {
        st__cgroup_task_t *t = self->draining;
        self->draining = t->next;
        s_task_kill (self, t);
        s_remove (self, t);
    }
    for (int i = 0; i < self->ndirs; i++) {
        s_sweep (self->dirs[i]);
        rmdir (self->dirs[i]);
        free (self->dirs[i]);
    }
    free (self);
    *self_p = NULL;
}
