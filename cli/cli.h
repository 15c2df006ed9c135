/*  cli.h: what the `strata` commands share.
 *
 *  The CLI is a thin layer over libstrata, after tmux: each command lives in its
 *  own cmd_<name>.c as one cli_cmd_t table entry plus an exec function, and
 *  main.c holds the table. An exec function parses its own options (st_config
 *  table, with --help), talks to the scheduler through the context's client and
 *  returns the process exit code.
 *
 *  Exit codes: CLI_EXIT_OK (0), CLI_EXIT_ERROR (1: the request failed, the
 *  spec is invalid, the job did not succeed), CLI_EXIT_USAGE (2: bad command
 *  line). Errors are printed as exactly one line `strata: error: <message>` on
 *  stderr, optionally followed by one line `hint: <hint>`. */
#ifndef CLI_H
#define CLI_H

#include <stdint.h>
#include <stdio.h>
#include <jansson.h>
#include "st_config.h"
#include "st_error.h"
#include "client.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_ERROR 1
#define CLI_EXIT_USAGE 2

#define CLI_DEFAULT_ENDPOINT "tcp://127.0.0.1:7701"
#define CLI_DEFAULT_TIMEOUT_MS 10000u

/*  State shared by all commands of one invocation. */
typedef struct {
    const char *endpoint;      /*  scheduler client endpoint (borrowed)  */
    uint64_t timeout_ms;       /*  per-request reply timeout  */
    FILE *out;                 /*  results: stdout  */
    FILE *err;                 /*  errors: stderr  */
    const char *curve_key;     /*  the user's key pair file, or NULL: plaintext (borrowed)  */
    const char *scheduler_key; /*  the scheduler's public key file (borrowed)  */
    cli_client_t *client;      /*  connected on first use by cli_client(); owned here  */
    const char *token;         /*  --token, else $STRATA_TOKEN (borrowed); NULL: ~/.config/strata/token, if any  */
    const char *token_source;  /*  "--token" or "STRATA_TOKEN" with token  */
} cli_ctx_t;

typedef struct {
    const char *name;    /*  e.g. "submit"  */
    const char *summary; /*  one line for `strata --help`  */
    /*  argv[0] is the command name; returns an CLI_EXIT_* code.  */
    int (*exec) (cli_ctx_t *ctx, int argc, char **argv);
} cli_cmd_t;

extern const cli_cmd_t cli_cmd_submit;
extern const cli_cmd_t cli_cmd_jobs;
extern const cli_cmd_t cli_cmd_show;
extern const cli_cmd_t cli_cmd_logs;
extern const cli_cmd_t cli_cmd_cancel;
extern const cli_cmd_t cli_cmd_nodes;
extern const cli_cmd_t cli_cmd_pools;
extern const cli_cmd_t cli_cmd_models;
extern const cli_cmd_t cli_cmd_explain;
extern const cli_cmd_t cli_cmd_keygen;
extern const cli_cmd_t cli_cmd_whoami;
extern const cli_cmd_t cli_cmd_admin;

/*  The token file: $HOME/.config/strata/token.  */
#define CLI_TOKEN_FILE ".config/strata/token"

/*  The client for ctx->endpoint, created on first call. Every request carries
 *  the user's token: ctx->token, else the token file when it exists (refused,
 *  with err filled, when group or others may read it, or it holds no token). NULL with err filled
 *  when the socket cannot be created (a bad endpoint, for instance). */
cli_client_t *cli_client (cli_ctx_t *ctx, st_error_t *err);

/*  Sends req through the context's client (see cli_client_request).  */
st_rc_t cli_request (cli_ctx_t *ctx, Strata__Envelope *req, Strata__Envelope__BodyCase expect,
                     Strata__Envelope **reply, st_error_t *err);

/*  Fetches job id; on ST_OK (*reply)->job is the job (free with st_wire_free).
 *  A missing job gets a hint pointing at `strata jobs`. */
st_rc_t cli_get_job (cli_ctx_t *ctx, uint64_t id, Strata__Envelope **reply, st_error_t *err);

/*  Closes the client, if any.  */
void cli_ctx_close (cli_ctx_t *ctx);

/*  Prints `strata: error: <msg>` and, when err->hint is set, `hint: <hint>`.  */
void cli_print_error (FILE *out, const st_error_t *err);

/*  Prints the error and returns CLI_EXIT_ERROR (for `return cli_fail (...)`).  */
int cli_fail (cli_ctx_t *ctx, const st_error_t *err);

/*  Usage error: prints `strata: error: <message>` and the hint
 *  `run 'strata <cmd> --help' for usage`; returns CLI_EXIT_USAGE.  */
int cli_usage_error (cli_ctx_t *ctx, const char *cmd, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

/*  Parses a JOB argument: a positive decimal integer without sign or junk.
 *  Returns 0 on success, -1 otherwise. */
int cli_parse_job_id (const char *text, uint64_t *id);

/*  Checks the positional arguments of a command that takes exactly one JOB:
 *  returns -1 and sets *id when they are fine, otherwise reports a usage error
 *  naming the argument and returns CLI_EXIT_USAGE. */
int cli_one_job_arg (cli_ctx_t *ctx, const char *cmd, char **positional, int npositional, uint64_t *id);

/*  Runs st_config_parse for a command and maps its outcome: returns -1 when the
 *  caller should go on, otherwise the exit code to return (0 after --help,
 *  CLI_EXIT_USAGE after a bad option, already reported). */
int cli_parse_options (cli_ctx_t *ctx, const char *cmd, const st_opt_t *opts, void *cfg, int argc, char **argv,
                       const char *usage_line, const char *description, char ***positional, int *npositional);
/*  The same for the global options before the command (st_config_parse_head):
 *  *next gets the command's index in argv (argc when there is none).  */
int cli_parse_global (cli_ctx_t *ctx, const st_opt_t *opts, void *cfg, int argc, char **argv, const char *usage_line,
                      const char *description, int *next);

/*  A command that takes no argument but --json, sends one request and prints
 *  the reply as a table or as JSON (`nodes`, `pools`, `models`).  */
typedef struct {
    const char *name;  /*  "pools"  */
    const char *usage; /*  "strata pools [--json]"  */
    const char *description;
    const char *json_help;                   /*  the --json line of --help  */
    void (*request) (Strata__Envelope *req); /*  sets the request's body (case and message)  */
    Strata__Envelope__BodyCase reply;
    json_t *(*to_json) (const Strata__Envelope *reply);      /*  NULL on allocation failure  */
    int (*print) (FILE *out, const Strata__Envelope *reply); /*  0, or -1 on failure  */
} cli_listing_t;

/*  Runs a listing command (argv[0] is its name); returns the exit code.  */
int cli_listing (cli_ctx_t *ctx, const cli_listing_t *l, int argc, char **argv);

/*  True for SUCCEEDED, FAILED and CANCELLED.  */
int cli_state_is_terminal (Strata__JobState state);

#endif
