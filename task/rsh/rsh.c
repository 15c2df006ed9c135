/*  strata-rsh: Open MPI's remote-start agent inside a Strata job, and the
 *  wrapper that gives each MPI process the rank variables.
 *
 *  strata-worker starts rank 0 of an mpirun-launched gang as
 *
 *      mpirun ... --host a:2,b:2 --mca plm_rsh_agent strata-rsh \
 *             strata-rsh --rank -- PROGRAM ARGS
 *
 *  1. `strata-rsh HOST COMMAND...` (as mpirun calls ssh): on this task's own
 *     node (HOST = STRATA_NODE) it runs `sh -c "COMMAND"` here; on another
 *     node it asks this worker, through the scheduler, to run it as the
 *     process of the job's held task on HOST, and waits until that process
 *     ends. Exit status: the remote command's (code, or 128 + signal); 255
 *     when it could not be started, as ssh does.
 *  2. `strata-rsh --rank -- PROGRAM ARGS`: sets RANK, LOCAL_RANK,
 *     WORLD_SIZE, LOCAL_WORLD_SIZE and their STRATA_ twins from Open MPI's
 *     OMPI_COMM_WORLD_* variables, then execs PROGRAM. So a program written for
 *     torchrun's variables runs unchanged under mpirun.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/agent.h"
#include "strata/task.h"

static void
s_usage (FILE *f)
{
    fprintf (f, "usage: strata-rsh HOST COMMAND...        (Open MPI's plm_rsh_agent inside a Strata job)\n"
                "       strata-rsh --rank -- PROGRAM ARGS  (set RANK etc. from Open MPI, then exec)\n"
                "\n"
                "strata-worker runs this for mpirun-launched gangs (spec `launcher: mpirun`).\n"
                "HOST is a Strata node name; the command runs there as the process of the\n"
                "job's held task, started by that node's worker. Needs STRATA_RENDEZVOUS,\n"
                "STRATA_TASK_TOKEN and STRATA_NODE, which every Strata task has.\n");
}

static int
s_copy_var (const char *from, const char *to1, const char *to2)
{
    const char *v = getenv (from);
    if (!v)
        return 0;
    if (setenv (to1, v, 1) != 0 || setenv (to2, v, 1) != 0)
        return -1;
    return 0;
}

static int
s_rank (int argc, char **argv)
{
    int i = 0;
    if (i < argc && strcmp (argv[i], "--") == 0)
        i++;
    if (i >= argc) {
        fprintf (stderr, "strata-rsh --rank: no program given\n");
        return 2;
    }
    if (!getenv ("OMPI_COMM_WORLD_RANK")) {
        fprintf (stderr, "strata-rsh --rank: not started by mpirun (OMPI_COMM_WORLD_RANK is not set)\n");
        return 2;
    }
    if (s_copy_var ("OMPI_COMM_WORLD_RANK", "RANK", ST_ENV_RANK) != 0
        || s_copy_var ("OMPI_COMM_WORLD_SIZE", "WORLD_SIZE", ST_ENV_WORLD_SIZE) != 0
        || s_copy_var ("OMPI_COMM_WORLD_LOCAL_RANK", "LOCAL_RANK", ST_ENV_LOCAL_RANK) != 0
        || s_copy_var ("OMPI_COMM_WORLD_LOCAL_SIZE", "LOCAL_WORLD_SIZE", ST_ENV_LOCAL_WORLD_SIZE) != 0) {
        fprintf (stderr, "strata-rsh --rank: out of memory\n");
        return 1;
    }
    execvp (argv[i], argv + i);
    fprintf (stderr, "strata-rsh --rank: cannot run %s: %s\n", argv[i], strerror (errno));
    return errno == ENOENT ? 127 : 126;
}

int
main (int argc, char **argv)
{
    if (argc >= 2 && (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)) {
        s_usage (stdout);
        return 0;
    }
    if (argc >= 2 && strcmp (argv[1], "--rank") == 0)
        return s_rank (argc - 2, argv + 2);

    /*  HOST, then the command words (mpirun may pass empty words: skipped).
     *  Not the st_config table parser, on purpose: mpirun calls its rsh agent
     *  with ssh's arguments (-x, -o Name=value, ...), which are ignored here,
     *  and the command words after HOST must reach the remote shell untouched.  */
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        fprintf (stderr, "strata-rsh: option %s ignored\n", argv[i]);
        i++;
    }
    if (argc - i < 2) {
        s_usage (stderr);
        return 255;
    }
    const char *host = argv[i++];
    if (strspn (host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != strlen (host)
        || strlen (host) > 128 || strcmp (host, ".") == 0 || strcmp (host, "..") == 0) {
        fprintf (stderr, "strata-rsh: '%s' is not a Strata node name\n", host);
        return 255;
    }
    /*  Each daemon gets its own TMPDIR: Open MPI's daemons of one job on one
     *  machine (several Strata nodes may share one) would race for one
     *  session directory. mktemp makes it new and the task user's: a
     *  fixed name could be taken first by another user (tasks run as
     *  several) or left over by an earlier run.  */
    const char *job = getenv (ST_ENV_JOB_ID), *attempt = getenv (ST_ENV_ATTEMPT);
    char prefix[600];
    snprintf (
        prefix, sizeof prefix,
        "export TMPDIR=\"$(mktemp -d /tmp/strata-mpi.%.40s.%.20s.%.200s.XXXXXX)\" && [ -n \"$TMPDIR\" ] || exit 255; ",
        job ? job : "0", attempt ? attempt : "0", host);
    const char *suffix = "; rc=$?; rm -rf \"$TMPDIR\"; exit $rc";
    size_t len = strlen (prefix) + strlen (suffix) + 1;
    for (int k = i; k < argc; k++)
        len += strlen (argv[k]) + 1;
    char *cmd = malloc (len);
    if (!cmd)
        return 255;
    strcpy (cmd, prefix);
    size_t words = 0;
    for (int k = i; k < argc; k++) {
        if (!argv[k][0])
            continue;
        if (words++)
            strcat (cmd, " ");
        strcat (cmd, argv[k]);
    }
    strcat (cmd, suffix);
    const char *self_node = getenv (ST_ENV_NODE);
    if (self_node && strcmp (self_node, host) == 0) {
        execl ("/bin/sh", "sh", "-c", cmd, (char *) NULL);
        fprintf (stderr, "strata-rsh: cannot run /bin/sh: %s\n", strerror (errno));
        return 255;
    }
    char err[600];
    st_agent_t *agent = st_agent_open (err, sizeof err);
    if (!agent) {
        fprintf (stderr, "strata-rsh: cannot start a process on %s: %s\n", host, err);
        free (cmd);
        return 255;
    }
    char *rargv[] = { "/bin/sh", "-c", cmd, NULL };
    int status = st_agent_remote_exec (agent, host, 3, rargv, err, sizeof err);
    if (status < 0) {
        fprintf (stderr, "strata-rsh: %s\n", err);
        status = 255;
    }
    st_agent_close (agent);
    free (cmd);
    return status;
}
