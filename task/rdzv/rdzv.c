/*  strata-rdzv: the rendezvous and progress of a Strata task, from a shell.
 *
 *      strata-rdzv put KEY VALUE            publish for the other ranks of this attempt
 *      strata-rdzv get KEY [--timeout S]    wait for it (default 60 s), print it
 *      strata-rdzv progress STEP [--total N] [--loss X] [--rate R] [--unit U]
 *
 *  For programs that do not link libstrata (a shell launcher, a Python
 *  script): the same calls as strata/agent.h. Exit 0, 1 on failure (the reason
 *  on stderr), 2 on bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/agent.h"

static void
s_usage (FILE *f)
{
    fprintf (f, "usage: strata-rdzv put KEY VALUE\n"
                "       strata-rdzv get KEY [--timeout SECONDS]   (default 60)\n"
                "       strata-rdzv progress STEP [--total N] [--loss X] [--rate R] [--unit UNIT]\n"
                "\n"
                "Runs inside a Strata task: values are shared by the ranks of one attempt of\n"
                "one job (rank 0 publishes, the others wait), through the task's worker and\n"
                "the scheduler. Progress is shown by `strata show`.\n");
}

static int
s_number (const char *flag, const char *text, double *out)
{
    char *end;
    errno = 0;
    *out = strtod (text, &end);
    if (errno || end == text || *end || *out < 0) {
        fprintf (stderr, "strata-rdzv: %s wants a non-negative number, not '%s'\n", flag, text);
        return -1;
    }
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0) {
        s_usage (argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    int put = strcmp (cmd, "put") == 0, get = strcmp (cmd, "get") == 0, prog = strcmp (cmd, "progress") == 0;
    if (!put && !get && !prog) {
        fprintf (stderr, "strata-rdzv: unknown command '%s'\n", cmd);
        s_usage (stderr);
        return 2;
    }
    if ((put && argc != 4) || ((get || prog) && argc < 3)) {
        s_usage (stderr);
        return 2;
    }
    double timeout_s = 60, total = 0, loss = 0, rate = 0, step = 0;
    const char *unit = "items/s";
    if (prog && s_number ("STEP", argv[2], &step) != 0)
        return 2;
    for (int i = 3; (get || prog) && i < argc; i += 2) {
        if (i + 1 >= argc) {
            fprintf (stderr, "strata-rdzv: %s needs a value\n", argv[i]);
            return 2;
        }
        const char *f = argv[i], *v = argv[i + 1];
        int bad = 0;
        if (get && strcmp (f, "--timeout") == 0)
            bad = s_number (f, v, &timeout_s);
        else if (prog && strcmp (f, "--total") == 0)
            bad = s_number (f, v, &total);
        else if (prog && strcmp (f, "--loss") == 0)
            bad = s_number (f, v, &loss);
        else if (prog && strcmp (f, "--rate") == 0)
            bad = s_number (f, v, &rate);
        else if (prog && strcmp (f, "--unit") == 0)
            unit = v;
        else {
            fprintf (stderr, "strata-rdzv: unknown option '%s' for %s\n", f, cmd);
            return 2;
        }
        if (bad)
            return 2;
    }
    if (timeout_s > 3600) {
        fprintf (stderr, "strata-rdzv: --timeout is at most 3600 seconds\n");
        return 2;
    }

    char err[700];
    st_agent_t *agent = st_agent_open (err, sizeof err);
    if (!agent) {
        fprintf (stderr, "strata-rdzv: %s\n", err);
        return 1;
    }
    int rc = 0;
    if (put) {
        if (st_agent_put (agent, argv[2], argv[3], strlen (argv[3]), err, sizeof err) != 0) {
            fprintf (stderr, "strata-rdzv: %s\n", err);
            rc = 1;
        }
    }
    else if (get) {
        static char value[ST_AGENT_VALUE_MAX + 1];
        size_t len = 0;
        if (st_agent_get (agent, argv[2], value, ST_AGENT_VALUE_MAX, &len, (uint32_t) (timeout_s * 1000), err,
                          sizeof err)
            != 0) {
            fprintf (stderr, "strata-rdzv: %s\n", err);
            rc = 1;
        }
        else {
            fwrite (value, 1, len < ST_AGENT_VALUE_MAX ? len : ST_AGENT_VALUE_MAX, stdout);
            fputc ('\n', stdout);
        }
    }
    else
        st_agent_progress (agent, (uint64_t) step, (uint64_t) total, loss, rate, unit);
    st_agent_close (agent);
    return rc;
}
