/*  pidfile.h: a record of each running task's process group, so that a worker
 *  that was killed (kill -9, OOM, crash) can stop what it left behind when it
 *  starts again.
 *
 *  <state_dir>/run/<name>.pid holds one line "PGID STARTTIME", where STARTTIME is
 *  field 22 of /proc/PGID/stat (clock ticks since boot) of the group leader.
 *  The start time is what makes cleanup safe: a recycled pid belongs to a
 *  process with a different start time, and is left alone. */
#ifndef ST_WORKER_PIDFILE_H
#define ST_WORKER_PIDFILE_H

#include <stdint.h>
#include <sys/types.h>

/*  Writes <state_dir>/run/<name>.pid atomically (temp file + rename), creating
 *  run/ if needed. Returns 0, or -1 with errno set.  */
int st__pidfile_write (const char *state_dir, const char *name, pid_t pgid, uint64_t start_time);

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
 *  Returns 0, or -1 when the process does not exist.  */
int st__proc_stat (pid_t pid, uint64_t *start_time, pid_t *pgrp);

#endif
