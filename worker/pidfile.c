/*  pidfile.c: see pidfile.h.  */
#include "pidfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "st_log.h"

int
st__proc_stat (pid_t pid, uint64_t *start_time, pid_t *pgrp)
{
    /*  open + read + close: stdio would add an fstat, and a task start reads this.  */
    char path[64];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[1024];
    ssize_t n;
    do
        n = read (fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    close (fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';

    /*  "pid (comm) state ppid pgrp ...": comm may hold spaces and ')', so fields
     *  are counted from the last ')'. After it, field 3 (state) comes first.  */
    char *p = strrchr (buf, ')');
    if (!p)
        return -1;
    p++;
    char state = 0;
    long long grp = 0;
    unsigned long long start = 0;
    int field = 2;
    char *save = NULL;
    for (char *tok = strtok_r (p, " ", &save); tok; tok = strtok_r (NULL, " ", &save)) {
        field++;
        if (field == 3)
            state = tok[0];
        else if (field == 5)
            grp = strtoll (tok, NULL, 10);
        else if (field == 22) {
            start = strtoull (tok, NULL, 10);
            break;
        }
    }
    if (field != 22) {
        errno = EINVAL;
        return -1;
    }
    if (state == 'Z' || state == 'X') {
        errno = ESRCH;
        return -1;
    }
    if (start_time)
        *start_time = start;
    if (pgrp)
        *pgrp = (pid_t) grp;
    return 0;
}

int
st__pidfile_write_at (int run_fd, const char *name, pid_t pgid, uint64_t start_time)
{
    char file[300];
    if (st__path_fmt (file, sizeof file, "%s.pid", name) != 0)
        return -1;
    char line[64];
    int len = snprintf (line, sizeof line, "%d %" PRIu64 "\n", (int) pgid, start_time);
    int fd = openat (run_fd, file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0)
        return -1;
    int rc = write (fd, line, (size_t) len) == len ? 0 : -1;
    int saved = errno;
    if (close (fd) != 0 && rc == 0)
        rc = -1, saved = errno;
    if (rc != 0) {
        unlinkat (run_fd, file, 0);
        errno = saved;
    }
    return rc;
}

int
st__pidfile_write (const char *state_dir, const char *name, pid_t pgid, uint64_t start_time)
{
    char dir[4096];
    if (st__path_fmt (dir, sizeof dir, "%s/run", state_dir) != 0 || st__mkdir_p (dir, 0750) != 0)
        return -1;
    int run_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (run_fd < 0)
        return -1;
    int rc = st__pidfile_write_at (run_fd, name, pgid, start_time);
    int saved = errno;
    close (run_fd);
    errno = saved;
    return rc;
}

void
st__pidfile_remove_at (int run_fd, const char *name)
{
    char file[300];
    if (st__path_fmt (file, sizeof file, "%s.pid", name) == 0)
        unlinkat (run_fd, file, 0);
}

void
st__pidfile_remove (const char *state_dir, const char *name)
{
    char path[4096];
    if (st__path_fmt (path, sizeof path, "%s/run/%s.pid", state_dir, name) == 0)
        unlink (path);
}

/*  SIGKILLs the members of group pgid that started at or after start_time,
 *  one by one: used when the leader is gone, so the group id alone no longer
 *  proves the group is ours. Returns how many were signalled.  */
static int
s_kill_orphaned_members (pid_t pgid, uint64_t start_time)
{
    DIR *d = opendir ("/proc");
    if (!d)
        return 0;
    int killed = 0;
    struct dirent *de;
    while ((de = readdir (d)) != NULL) {
        char *end = NULL;
        long pid = strtol (de->d_name, &end, 10);
        if (pid <= 0 || !end || *end != '\0')
            continue;
        uint64_t st = 0;
        pid_t grp = 0;
        if (st__proc_stat ((pid_t) pid, &st, &grp) != 0 || grp != pgid || st < start_time)
            continue;
        if (kill ((pid_t) pid, SIGKILL) == 0)
            killed++;
    }
    closedir (d);
    return killed;
}

/*  Handles one pid file. Returns 1 when it killed something.  */
static int
s_cleanup_one (const char *path, const char *name)
{
    FILE *f = fopen (path, "re");
    if (!f)
        return 0;
    long long pgid = 0;
    unsigned long long start = 0;
    int fields = fscanf (f, "%lld %llu", &pgid, &start);
    fclose (f);
    if (fields != 2 || pgid <= 1 || pgid > INT32_MAX) {
        st_warn ("ignoring unreadable pid file %s", path);
        return 0;
    }

    uint64_t leader_start = 0;
    pid_t leader_grp = 0;
    if (st__proc_stat ((pid_t) pgid, &leader_start, &leader_grp) == 0) {
        if (leader_start != start || leader_grp != (pid_t) pgid) {
            st_info ("leftover task %s: pid %lld now belongs to another process; left alone", name, pgid);
            return 0;
        }
        if (kill (-(pid_t) pgid, SIGKILL) == 0) {
            st_warn ("killed leftover process group %lld of task %s from a previous worker", pgid, name);
            return 1;
        }
        return 0;
    }
    int n = s_kill_orphaned_members ((pid_t) pgid, start);
    if (n > 0) {
        st_warn ("killed %d leftover process(es) of group %lld of task %s from a previous worker", n, pgid, name);
        return 1;
    }
    return 0;
}

int
st__pidfile_cleanup (const char *state_dir)
{
    char dir[4096];
    if (st__path_fmt (dir, sizeof dir, "%s/run", state_dir) != 0)
        return 0;
    DIR *d = opendir (dir);
    if (!d)
        return 0;
    int killed = 0;
    struct dirent *de;
    while ((de = readdir (d)) != NULL) {
        size_t len = strlen (de->d_name);
        char path[4096];
        if (de->d_name[0] == '.' || st__path_fmt (path, sizeof path, "%s/%s", dir, de->d_name) != 0)
            continue;
        if (len > 8 && strcmp (de->d_name + len - 8, ".pid.tmp") == 0) {
            unlink (path);
            continue;
        }
        if (len <= 4 || strcmp (de->d_name + len - 4, ".pid") != 0)
            continue;
        char name[256];
        snprintf (name, sizeof name, "%.*s", (int) (len - 4), de->d_name);
        killed += s_cleanup_one (path, name);
        unlink (path);
    }
    closedir (d);
    return killed;
}
