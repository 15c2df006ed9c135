/*  pidfile.h: a record of each running task's process group, so that a worker
 *  that was killed (kill -9, OOM, crash) can stop what it left behind when it
 *  starts again.
 *
 *  <state_dir>/run/<name>.pid holds one line "PGID STARTTIME", where STARTTIME is
 *  field 22 of /proc/PGID/stat (clock ticks since boot) of the group leader.
 *  The start time is what makes cleanup safe: a recycled pid belongs to a
 *  process with a different start time, and is left alone.
 *
 *  The file is written in place, without a temporary file, a rename or an
 *  fsync: it only has to outlive a crash of the worker, not of the machine
 *  (a reboot ends every task anyway), and a file cut short by a crash while it
 *  was written is as good as no file: either way the worker died before it
 *  knew the task ran, and PR_SET_PDEATHSIG has already killed the leader. */
#ifndef ST_WORKER_PIDFILE_H
#define ST_WORKER_PIDFILE_H

#include <stdint.h>
#include <sys/types.h>

/*  Writes <state_dir>/run/<name>.pid, creating run/ if needed. Returns 0, or -1
 *  with errno set.  */
int st__pidfile_write (const char *state_dir, const char *name, pid_t pgid, uint64_t start_time);

/*  The same relative to run_fd, an open run/ directory: one open, one write and
 *  one close, the cost a task start pays. Returns 0, or -1 with errno set.  */
int st__pidfile_write_at (int run_fd, const char *name, pid_t pgid, uint64_t start_time);

/*  Removes <name>.pid from the open run/ directory run_fd; a missing file is fine.  */
void st__pidfile_remove_at (int run_fd, const char *name);

/*  Removes <state_dir>/run/<name>.pid; a missing file is fine.  */
void st__pidfile_remove (const char *state_dir, const char *name);

/*  For every pid file left in <state_dir>/run: SIGKILLs the group it names when
 *  it is still the same group (the leader's start time matches, or, when the
 *  leader is gone, members of that group started no earlier than it), then
 *  removes the file. Logs each group it kills. Returns the number of groups
 *  killed.  */
int st__pidfile_cleanup (const char *state_dir);

/*  Reads the start time (field 22) and process group (field 5) of pid from
 *  /proc/<pid>/stat. Either out pointer may be NULL. A zombie counts as gone.
 *  Returns 0, or -1 with errno set: ESRCH for a zombie, ENOENT when the
 *  process does not exist.  */
int st__proc_stat (pid_t pid, uint64_t *start_time, pid_t *pgrp);

#endif
