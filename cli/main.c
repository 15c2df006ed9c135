/*  main.c: `strata [--scheduler ENDPOINT] [--timeout DUR] COMMAND ...`
 *
 *  Parses the global options (those before the command), then hands the rest
 *  of the command line to the command's exec function. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "st_config.h"
#include "st_wire.h"

static const cli_cmd_t *const s_commands[] = {
    &cli_cmd_submit, &cli_cmd_jobs,  &cli_cmd_show,  &cli_cmd_explain, &cli_cmd_logs,
    &cli_cmd_cancel, &cli_cmd_nodes, &cli_cmd_pools, &cli_cmd_models,  &cli_cmd_keygen,
    &cli_cmd_whoami, &cli_cmd_admin, NULL,
};

typedef struct {
    char *scheduler;     /*  client endpoint; NULL: $STRATA_SCHEDULER or the default  */
    uint64_t timeout_ms; /*  per-request reply timeout  */
    int version;         /*  --version  */
    char *curve_key;     /*  --curve-key FILE; NULL: $STRATA_CURVE_KEY  */
    char *scheduler_key; /*  --scheduler-key FILE; NULL: $STRATA_SCHEDULER_KEY  */
    char *token;         /*  --token TOKEN; NULL: $STRATA_TOKEN, else ~/.config/strata/token  */
} s_global_t;

static const st_opt_t s_global_opts[] = {
    { "scheduler", 's', ST_OPT_STRING, offsetof (s_global_t, scheduler), 0, 0, "ENDPOINT",
      "scheduler client endpoint (default $STRATA_SCHEDULER, else " CLI_DEFAULT_ENDPOINT ")", NULL },
    { "timeout", 't', ST_OPT_DURATION_MS, offsetof (s_global_t, timeout_ms), 1, 86400000, "DUR",
      "how long to wait for each reply, e.g. 300ms, 10s", NULL },
    { "version", 'V', ST_OPT_BOOL, offsetof (s_global_t, version), 0, 0, NULL, "print the version and exit", NULL },
    { "curve-key", 0, ST_OPT_PATH, offsetof (s_global_t, curve_key), 0, 0, "FILE",
      "your key pair (strata keygen NAME) when the scheduler uses CURVE (default $STRATA_CURVE_KEY)", NULL },
    { "scheduler-key", 0, ST_OPT_PATH, offsetof (s_global_t, scheduler_key), 0, 0, "FILE",
      "the scheduler's public key (default $STRATA_SCHEDULER_KEY)", NULL },
    { "token", 0, ST_OPT_STRING, offsetof (s_global_t, token), 0, 0, "TOKEN",
      "your API token (default $STRATA_TOKEN, else the file ~/.config/strata/token, mode 0600)", NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

static const cli_cmd_t *
s_find (const char *name)
{
    for (size_t i = 0; s_commands[i]; i++)
        if (!strcmp (s_commands[i]->name, name))
            return s_commands[i];
    return NULL;
}

static char *
s_description (void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&text, &len);
    if (!f)
        return NULL;
    fprintf (
        f, "Strata's command-line client: submit jobs, follow their logs, look at jobs, nodes, pools and models.\n\n"
           "commands:\n");
    for (size_t i = 0; s_commands[i]; i++)
        fprintf (f, "  %-8s %s\n", s_commands[i]->name, s_commands[i]->summary);
    fprintf (f, "\nRun 'strata COMMAND --help' for a command's options and examples.\n"
                "Exit status: 0 success, 1 error (or a --wait'ed job that did not succeed), 2 usage error.\n"
                "\nexample:\n  strata --scheduler tcp://sched.example:7701 jobs --state RUNNING");
    fclose (f);
    return text;
}

int
main (int argc, char **argv)
{
    s_global_t g = { NULL, CLI_DEFAULT_TIMEOUT_MS, 0 };
    cli_ctx_t ctx = { .out = stdout, .err = stderr };
    const char *usage_line = "strata [--scheduler ENDPOINT] [--timeout DUR] [--token TOKEN] COMMAND [ARGS...]";
    int rc = CLI_EXIT_OK;
    char *description = s_description ();

    /*  The global options end at the command word.  */
    int cmd_at = argc;
    int parsed =
        cli_parse_global (&ctx, s_global_opts, &g, argc, argv, usage_line, description ? description : "", &cmd_at);
    if (parsed >= 0) {
        rc = parsed;
        goto out;
    }
    if (g.version) {
        printf ("strata %s (protocol %u)\n", STRATA_VERSION, ST_PROTOCOL_VERSION);
        goto out;
    }
    if (cmd_at >= argc) {
        rc = cli_usage_error (&ctx, NULL, "missing command");
        goto out;
    }

    const char *name = argv[cmd_at];
    if (!strcmp (name, "help")) {
        /*  `strata help` and `strata help COMMAND`.  */
        if (cmd_at + 1 >= argc) {
            st_config_usage (stdout, usage_line, description ? description : "", s_global_opts);
            goto out;
        }
        name = argv[cmd_at + 1];
        const cli_cmd_t *cmd = s_find (name);
        if (!cmd) {
            rc = cli_usage_error (&ctx, NULL, "unknown command '%s'", name);
            goto out;
        }
        char *help_argv[] = { (char *) cmd->name, "--help", NULL };
        rc = cmd->exec (&ctx, 2, help_argv);
        goto out;
    }
    const cli_cmd_t *cmd = s_find (name);
    if (!cmd) {
        rc = cli_usage_error (&ctx, NULL, "unknown command '%s'", name);
        goto out;
    }

    const char *env = getenv ("STRATA_SCHEDULER");
    ctx.endpoint = g.scheduler && *g.scheduler ? g.scheduler : env && *env ? env : CLI_DEFAULT_ENDPOINT;
    ctx.timeout_ms = g.timeout_ms;
    const char *ck = getenv ("STRATA_CURVE_KEY"), *sk = getenv ("STRATA_SCHEDULER_KEY");
    ctx.curve_key = g.curve_key ? g.curve_key : ck && *ck ? ck : NULL;
    ctx.scheduler_key = g.scheduler_key ? g.scheduler_key : sk && *sk ? sk : NULL;
    const char *tk = getenv ("STRATA_TOKEN");
    ctx.token = g.token && *g.token ? g.token : tk && *tk ? tk : NULL;
    ctx.token_source = g.token && *g.token ? "--token" : tk && *tk ? "STRATA_TOKEN" : NULL;
    rc = cmd->exec (&ctx, argc - cmd_at, argv + cmd_at);

out:
    cli_ctx_close (&ctx);
    st_config_free (s_global_opts, &g);
    free (description);
    if (fflush (stdout) != 0 && rc == CLI_EXIT_OK)
        rc = CLI_EXIT_ERROR;
    return rc;
}
