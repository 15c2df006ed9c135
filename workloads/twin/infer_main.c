/*  strata-twin-infer: flags, signals, progress to the worker, then twin_infer (infer.c).  */
#include "twin.h"

#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "strata/agent.h"
#include "strata/task.h"

static const char s_usage[] =
    "usage: strata-twin-infer --model PATH --data FILE --out FILE [options]\n"
    "\n"
    "Batch inference with a strata-twin-train checkpoint: for every line of FILE, its\n"
    "perplexity under the model and a greedy continuation, as one JSON line in OUT:\n"
    "  {\"line\":N,\"bytes\":B,\"ppl\":X,\"continuation\":\"...\"}\n"
    "\n"
    "  --model PATH     a checkpoint file, or a checkpoint directory (its newest checkpoint)\n"
    "  --data FILE      one document or prompt per line (at most 1 GiB)\n"
    "  --out FILE       the merged output, written once all shards are done\n"
    "  --shard I        this process's shard: input lines k (0-based) with k % N == I\n"
    "                   [$STRATA_RANK, else 0]\n"
    "  --shards N       number of shards [$STRATA_WORLD_SIZE, else 1]\n"
    "  --max-new N      greedy bytes per line, 0..4096 [32]\n"
    "  --help           this text\n"
    "\n"
    "Each shard writes OUT.shard-I-of-N; the last shard to finish merges them into OUT.\n"
    "Prints `items N items_per_s X` when its shard is written.\n"
    "Exit status: 0 done; 1 I/O or internal error; 2 bad flags or input (a missing or\n"
    "corrupt model, shard >= shards); 75 (EX_TEMPFAIL) stopped by SIGTERM, nothing\n"
    "written: rerun the shard. One BLAS thread per process. See docs/twin.md.\n";

#define S_NAME "strata-twin-infer"

static int
s_int (const char *what, const char *s, long lo, long hi, int *out)
{
    long v;
    if (twin_parse_long (S_NAME, what, s, lo, hi, &v) < 0)
        return -1;
    *out = (int) v;
    return 0;
}

static void
s_on_term (int sig)
{
    (void) sig;
    twin_stop_requested = 1;
}

/*  Progress goes to the Strata worker that started us, when there is one.  */
static void
s_progress (void *arg, uint64_t done, uint64_t total, double items_per_s)
{
    st_agent_progress (arg, done, total, 0.0, items_per_s, "items/s");
}

int
main (int argc, char **argv)
{
    twin_infer_opts_t o;
    twin_infer_opts_defaults (&o);
    enum { O_MODEL = 256, O_DATA, O_OUT, O_SHARD, O_SHARDS, O_MAXNEW, O_HELP };
    static const struct option opts[] = {
        { "model", required_argument, NULL, O_MODEL },   { "data", required_argument, NULL, O_DATA },
        { "out", required_argument, NULL, O_OUT },       { "shard", required_argument, NULL, O_SHARD },
        { "shards", required_argument, NULL, O_SHARDS }, { "max-new", required_argument, NULL, O_MAXNEW },
        { "help", no_argument, NULL, O_HELP },           { NULL, 0, NULL, 0 },
    };
    /*  Defaults from the environment a Strata worker gives a shard.  */
    const char *env_rank = getenv (ST_ENV_RANK), *env_world = getenv (ST_ENV_WORLD_SIZE);
    if (env_rank && *env_rank && s_int (ST_ENV_RANK, env_rank, 0, INT_MAX - 1, &o.shard) < 0)
        return TWIN_EXIT_USAGE;
    if (env_world && *env_world && s_int (ST_ENV_WORLD_SIZE, env_world, 1, INT_MAX, &o.shards) < 0)
        return TWIN_EXIT_USAGE;
    opterr = 0;
    int c;
    while ((c = getopt_long (argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case O_MODEL:
            o.model = optarg;
            break;
        case O_DATA:
            o.data = optarg;
            break;
        case O_OUT:
            o.out = optarg;
            break;
        case O_HELP:
            fputs (s_usage, stdout);
            return 0;
        case O_SHARD:
            if (s_int ("--shard", optarg, 0, INT_MAX - 1, &o.shard) < 0)
                return TWIN_EXIT_USAGE;
            break;
        case O_SHARDS:
            if (s_int ("--shards", optarg, 1, INT_MAX, &o.shards) < 0)
                return TWIN_EXIT_USAGE;
            break;
        case O_MAXNEW:
            if (s_int ("--max-new", optarg, 0, TWIN_INFER_MAX_NEW, &o.max_new) < 0)
                return TWIN_EXIT_USAGE;
            break;
        case ':':
            return twin_usage_error (S_NAME, "%s needs a value", argv[optind - 1]);
        default:
            return twin_usage_error (S_NAME, "unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return twin_usage_error (S_NAME, "unexpected argument '%s'", argv[optind]);
    if (!o.model)
        return twin_usage_error (S_NAME, "--model is required");
    if (!o.data)
        return twin_usage_error (S_NAME, "--data is required");
    if (!o.out || !*o.out)
        return twin_usage_error (S_NAME, "--out is required");
    if (o.shard >= o.shards) {
        return twin_usage_error (S_NAME, "shard %d is not below shards %d (shards are numbered from 0)", o.shard,
                                 o.shards);
    }

    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_term; /*  no SA_RESTART: a wait for a lock ends on SIGTERM  */
    sigemptyset (&sa.sa_mask);
    sigaction (SIGTERM, &sa, NULL);

    char err[256];
    st_agent_t *agent = st_agent_open (err, sizeof err);
    if (agent) {
        o.progress = s_progress;
        o.progress_arg = agent;
    }
    else if (getenv (ST_ENV_RENDEZVOUS))
        fprintf (stderr, "strata-twin-infer: no progress reports: %s\n", err);
    int rc = twin_infer (&o, stdout, stderr);
    st_agent_close (agent);
    return rc;
}
