/*  housekeep.c: the worker's housekeeping, off the start path of tasks: a
 *  bounded step of it runs once per loop pass (st__housekeep_pass).
 *
 *  Retention (--task-retention): finished task folders, tasks/<job>.<index>.<attempt>/,
 *  not modified for that long are removed. tasks/ is read a few entries per
 *  pass (S_PRUNE_PER_PASS) from a held directory stream; a folder of a live
 *  task is never touched; once the stream ends, the next scan starts after
 *  min (retention / 2, S_PRUNE_RESCAN_MS). Removal never follows a link the
 *  task planted (unlinkat, openat with O_NOFOLLOW), and stops at
 *  S_PRUNE_DEPTH_MAX levels (what is deeper is left, and said).
 *
 *  Space (--min-free): every S_SPACE_CHECK_MS the state directory's file
 *  system is measured (statvfs). Below the floor the worker refuses new
 *  tasks: it says why in Register/Heartbeat.refusing, so the scheduler places
 *  nothing there, and a Launch that still arrives fails with that reason.
 *  Running tasks go on. Above it again, refusing is "" and tasks come back. */
#include "worker_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "st_log.h"

#define S_PRUNE_PER_PASS 8u        /*  entries of tasks/ looked at per loop pass  */
#define S_PRUNE_RESCAN_MS 600000u  /*  at most this long between two scans of tasks/  */
#define S_PRUNE_RESCAN_MIN_MS 500u /*  at least this long  */
#define S_PRUNE_DEPTH_MAX 32       /*  folder levels removed under a task folder  */
#define S_SPACE_CHECK_MS 5000u     /*  how often the free space is measured  */

/*  Removes name (in dirfd) and, for a folder, what it holds. 0, or -1 with errno.  */
static int
s_remove_tree (int dirfd, const char *name, int depth)
{
    if (unlinkat (dirfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -1;
    if (depth >= S_PRUNE_DEPTH_MAX) {
        errno = ELOOP;
        return -1;
    }
    int fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    DIR *d = fdopendir (fd);
    if (!d) {
        close (fd);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir (d)) != NULL) {
        if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
            continue;
        if (s_remove_tree (fd, e->d_name, depth + 1) != 0)
            rc = -1;
    }
    int saved = errno;
    closedir (d);
    if (rc != 0) {
        errno = saved;
        return -1;
    }
    return unlinkat (dirfd, name, AT_REMOVEDIR);
}

/*  Non-zero when name ("<job>.<index>.<attempt>") is a task this worker runs.  */
static int
s_live (st__worker_t *w, const char *name)
{
    st__wtask_key_t key;
    char tail;
    if (sscanf (name, "%" SCNu64 ".%" SCNu32 ".%" SCNu32 "%c", &key.job_id, &key.index, &key.attempt, &tail) != 3)
        return 0;
    for (size_t i = 0; i < w->nnodes; i++)
        if (st__node_find_live (&w->nodes[i], &key))
            return 1;
    return 0;
}

/*  The pause between two scans of tasks/: half the retention, within bounds.  */
static uint64_t
s_rescan_ms (const st__worker_t *w)
{
    uint64_t every = w->retention_ms / 2;
    return every < S_PRUNE_RESCAN_MIN_MS ? S_PRUNE_RESCAN_MIN_MS
           : every > S_PRUNE_RESCAN_MS   ? S_PRUNE_RESCAN_MS
                                         : every;
}

static void
s_prune_step (st__worker_t *w, uint64_t now)
{
    if (!w->retention_ms || now < w->prune_at)
        return;
    if (!w->prune_dir) {
        char path[4096];
        if (st__path_fmt (path, sizeof path, "%s/tasks", w->state_dir) != 0 || !(w->prune_dir = opendir (path))) {
            w->prune_at = now + s_rescan_ms (w); /*  no tasks/ yet  */
            return;
        }
    }
    struct timespec wall;
    clock_gettime (CLOCK_REALTIME, &wall);
    int tasks_fd = dirfd (w->prune_dir);
    for (unsigned k = 0; k < S_PRUNE_PER_PASS; k++) {
        errno = 0;
        struct dirent *e = readdir (w->prune_dir);
        if (!e) {
            closedir (w->prune_dir);
            w->prune_dir = NULL;
            w->prune_at = now + s_rescan_ms (w);
            return;
        }
        if (e->d_name[0] == '.' || s_live (w, e->d_name))
            continue;
        struct stat st;
        if (fstatat (tasks_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR (st.st_mode))
            continue;
        int64_t age_ms = ((int64_t) wall.tv_sec - (int64_t) st.st_mtim.tv_sec) * 1000
                         + ((int64_t) wall.tv_nsec - (int64_t) st.st_mtim.tv_nsec) / 1000000;
        if (age_ms < 0 || (uint64_t) age_ms < w->retention_ms)
            continue;
        if (s_remove_tree (tasks_fd, e->d_name, 0) == 0)
            st_info ("removed task folder %s/tasks/%s (unchanged for %" PRId64 " s)", w->state_dir, e->d_name,
                     age_ms / 1000);
        else
            st_warn ("cannot remove task folder %s/tasks/%s: %s", w->state_dir, e->d_name, strerror (errno));
    }
}

/*  "512 MiB", "3.2 GiB".  */
static const char *
s_size (uint64_t mb, char *buf, size_t size)
{
    if (mb >= 1024 && mb % 1024 == 0)
        snprintf (buf, size, "%" PRIu64 " GiB", mb / 1024);
    else if (mb >= 1024)
        snprintf (buf, size, "%.1f GiB", mb / 1024.0);
    else
        snprintf (buf, size, "%" PRIu64 " MiB", mb);
    return buf;
}

void
st__housekeep_space (st__worker_t *w)
{
    if (!w->min_free_mb || !w->state_dir)
        return;
    struct statvfs vfs;
    char why[sizeof w->refusing] = "";
    if (statvfs (w->state_dir, &vfs) != 0)
        snprintf (why, sizeof why, "cannot measure the free space of state directory %s: %s", w->state_dir,
                  strerror (errno));
    else {
        uint64_t free_mb = (uint64_t) vfs.f_bavail * (uint64_t) vfs.f_frsize / (1024u * 1024u);
        if (free_mb < w->min_free_mb) {
            char a[32], b[32];
            snprintf (why, sizeof why, "state directory %s has %s free, below --min-free %s", w->state_dir,
                      s_size (free_mb, a, sizeof a), s_size (w->min_free_mb, b, sizeof b));
        }
    }
    if (strcmp (why, w->refusing) == 0)
        return;
    if (why[0] && !w->refusing[0])
        st_warn ("refusing new tasks: %s", why);
    else if (!why[0])
        st_info ("taking tasks again: the state directory has room");
    snprintf (w->refusing, sizeof w->refusing, "%s", why);
}

void
st__housekeep_pass (st__worker_t *w, uint64_t now)
{
    if (w->hollow || !w->state_dir)
        return;
    if (now >= w->space_at) {
        st__housekeep_space (w);
        w->space_at = now + S_SPACE_CHECK_MS;
    }
    s_prune_step (w, now);
}

void
st__housekeep_release (st__worker_t *w)
{
    if (w->prune_dir)
        closedir (w->prune_dir);
    w->prune_dir = NULL;
}
