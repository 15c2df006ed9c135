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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_config.h"
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

/*  Each subcommand's flags, read by st_config as text and checked by s_number
 *  (the table parser has no fractional type).  */
typedef struct {
    char *timeout, *total, *loss, *rate, *unit;
} s_flags_t;

#define S_USAGE_GET "strata-rdzv get KEY [--timeout SECONDS]"
#define S_USAGE_PROGRESS "strata-rdzv progress STEP [--total N] [--loss X] [--rate R] [--unit UNIT]"

static const st_opt_t s_get_flags[] = {
    { "timeout", 0, ST_OPT_STRING, offsetof (s_flags_t, timeout), 0, 0, "SECONDS",
      "wait at most (default 60, at most 3600)", NULL, NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL },
};

static const st_opt_t s_progress_flags[] = {
    { "total", 0, ST_OPT_STRING, offsetof (s_flags_t, total), 0, 0, "N", "steps in all", NULL, NULL },
    { "loss", 0, ST_OPT_STRING, offsetof (s_flags_t, loss), 0, 0, "X", "the current loss", NULL, NULL },
    { "rate", 0, ST_OPT_STRING, offsetof (s_flags_t, rate), 0, 0, "R", "items per second", NULL, NULL },
    { "unit", 0, ST_OPT_STRING, offsetof (s_flags_t, unit), 0, 0, "UNIT", "the rate's unit", "items/s", NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL },
};

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
    if (prog && s_number ("STEP", argv[2], &step) != 0)
        return 2;
    s_flags_t f = { 0 };
    if (get || prog) {
        /*  The flags follow KEY or STEP, which stands where a program name would.  */
        st_error_t perr = { 0 };
        const st_opt_t *table = get ? s_get_flags : s_progress_flags;
        st_rc_t prc = st_config_parse (table, &f, argc - 2, argv + 2, get ? S_USAGE_GET : S_USAGE_PROGRESS, NULL,
                                       NULL, NULL, &perr);
        int bad = prc != ST_OK;
        if (prc != ST_OK && prc != ST_EAGAIN)
            fprintf (stderr, "strata-rdzv: %s\n", perr.msg);
        bad = bad || (f.timeout && s_number ("--timeout", f.timeout, &timeout_s) != 0)
              || (f.total && s_number ("--total", f.total, &total) != 0)
              || (f.loss && s_number ("--loss", f.loss, &loss) != 0)
              || (f.rate && s_number ("--rate", f.rate, &rate) != 0);
        if (bad) {
            st_config_free (table, &f);
            return prc == ST_EAGAIN ? 0 : 2;
        }
    }
    const char *unit = f.unit ? f.unit : "items/s";
    const st_opt_t *table = get ? s_get_flags : s_progress_flags;
    if (timeout_s > 3600) {
        fprintf (stderr, "strata-rdzv: --timeout is at most 3600 seconds\n");
        st_config_free (table, &f);
        return 2;
    }

    char err[700];
    st_agent_t *agent = st_agent_open (err, sizeof err);
    if (!agent) {
        fprintf (stderr, "strata-rdzv: %s\n", err);
        st_config_free (table, &f);
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
    st_config_free (table, &f);
    return rc;
}
