/*  cmd_pools.c: `strata pools [--json]`: the cluster's pools, their attributes
 *  and what their nodes have free.  */
#include "cli.h"
#include "output.h"

static void
s_request (Strata__Envelope *req)
{
    static Strata__PoolsRequest pools = STRATA__POOLS_REQUEST__INIT;
    req->body_case = STRATA__ENVELOPE__BODY_POOLS;
    req->pools = &pools;
}

static json_t *
s_json (const Strata__Envelope *reply)
{
    const Strata__PoolsReply *pr = reply->pools_reply;
    json_t *a = json_array ();
    for (size_t i = 0; a && i < pr->n_pools; i++)
        if (json_array_append_new (a, cli_output_pool_json (pr->pools[i])) != 0) {
            json_decref (a);
            a = NULL;
        }
    return a;
}

static int
s_print (FILE *out, const Strata__Envelope *reply)
{
    return cli_output_pool_table (out, reply->pools_reply->pools, reply->pools_reply->n_pools);
}

static const cli_listing_t s_listing = {
    .name = "pools",
    .usage = "strata pools [--json]",
    .description = "Lists the pools: site kind, region, jurisdiction, the highest data classification\n"
                   "they may hold, prices per GPU-hour and CPU-hour, PUE and grid carbon intensity\n"
                   "(from the scheduler's --cluster file), then nodes up/known and GPUs free/total.\n"
                   "A pool marked * is not in the cluster file: a node named it, and it has the\n"
                   "placement engine's defaults.\n"
                   "\n"
                   "examples:\n"
                   "  strata pools\n"
                   "  strata pools --json | jq -r '.[] | select(.gpus_free > 0) | .name'",
    .json_help = "print a JSON array of pools",
    .request = s_request,
    .reply = STRATA__ENVELOPE__BODY_POOLS_REPLY,
    .to_json = s_json,
    .print = s_print,
};

static int
s_exec (cli_ctx_t *ctx, int argc, char **argv)
{
    return cli_listing (ctx, &s_listing, argc, argv);
}

const cli_cmd_t cli_cmd_pools = { "pools", "list pools: site, jurisdiction, prices, carbon, free GPUs", s_exec };
