/*  cmd_keygen.c: `strata keygen NAME [--pool POOL]`: writes a CURVE key pair for
 *  a scheduler, a worker or a user; --pool binds a worker key to the one pool its
 *  node may register in (st_curve.h). Needs no scheduler. */
#include <stddef.h>
#include <stdlib.h>

#include "cli.h"
#include "st_curve.h"

typedef struct {
    char *pool; /*  --pool: the pool a worker key is enrolled for; NULL: none (the default pool)  */
} s_opts_t;

static const st_opt_t s_opts[] = {
    { "pool", 0, ST_OPT_STRING, offsetof (s_opts_t, pool), 0, 0, "POOL",
      "a worker key: the only pool its node may register in (written into NAME.pub)", NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

static const char s_usage[] = "strata keygen NAME [--pool POOL]";
static const char s_description[] =
    "Writes a CURVE key pair: NAME.key (public and secret key, mode 0600: keep it on\n"
    "the machine that uses it) and NAME.pub (the public key, to enrol). NAME may\n"
    "include a folder. Existing files are never overwritten.\n"
    "\n"
    "  the scheduler:  strata keygen scheduler      -> --curve-key scheduler.key;\n"
    "                  give scheduler.pub to workers and users (--scheduler-key)\n"
    "  a worker:       strata keygen gpu-07 --pool onprem-gpu\n"
    "                                               -> the worker's --curve-key gpu-07.key;\n"
    "                  copy gpu-07.pub into the scheduler's --worker-keys folder\n"
    "                  (the file name is the only node name that key may register,\n"
    "                  its pool line the only pool; without --pool: pool default)\n"
    "  a user:         strata keygen alice          -> STRATA_CURVE_KEY=alice.key;\n"
    "                  copy alice.pub into the scheduler's --client-keys folder\n"
    "\n"
    "examples:\n"
    "  strata keygen /etc/strata/keys/scheduler\n"
    "  strata keygen gpu-07 --pool onprem-gpu && scp gpu-07.pub scheduler-host:/etc/strata/workers/";

static int
s_exec (cli_ctx_t *ctx, int argc, char **argv)
{
    s_opts_t o = { 0 };
    char **pos = NULL;
    int npos = 0;
    int rc = cli_parse_options (ctx, "keygen", s_opts, &o, argc, argv, s_usage, s_description, &pos, &npos);
    if (rc >= 0)
        goto out;
    if (npos != 1) {
        rc = cli_usage_error (ctx, "keygen", npos ? "too many arguments" : "missing NAME argument");
        goto out;
    }
    st_error_t err = { 0 };
    if (st_curve_generate_pool (pos[0], o.pool, &err) != ST_OK) {
        rc = cli_fail (ctx, &err);
        goto out;
    }
    fprintf (ctx->out, "wrote %s.key (secret, mode 0600) and %s.pub%s%s\n", pos[0], pos[0],
             o.pool ? ", enrolled for pool " : "", o.pool ? o.pool : "");
    rc = CLI_EXIT_OK;
out:
    free (pos);
    st_config_free (s_opts, &o);
    return rc;
}

const cli_cmd_t cli_cmd_keygen = { "keygen", "write a CURVE key pair for a scheduler, worker or user", s_exec };
