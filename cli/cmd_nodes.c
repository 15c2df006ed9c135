/*  cmd_nodes.c: `strata nodes [--json]`: the workers the scheduler knows.  */
#include "cli.h"
#include "output.h"
#include "st_time.h"

static void
s_request (Strata__Envelope *req)
{
    static Strata__NodesRequest nodes = STRATA__NODES_REQUEST__INIT;
    req->body_case = STRATA__ENVELOPE__BODY_NODES;
    req->nodes = &nodes;
}

static json_t *
s_json (const Strata__Envelope *reply)
{
    const Strata__NodesReply *nr = reply->nodes_reply;
    json_t *a = json_array ();
    for (size_t i = 0; a && i < nr->n_nodes; i++)
        if (json_array_append_new (a, cli_output_node_json (nr->nodes[i])) != 0) {
            json_decref (a);
            a = NULL;
        }
    return a;
}

static int
s_print (FILE *out, const Strata__Envelope *reply)
{
    return cli_output_node_table (out, reply->nodes_reply->nodes, reply->nodes_reply->n_nodes, st_wall_ms ());
}

static const cli_listing_t s_listing = {
    .name = "nodes",
    .usage = "strata nodes [--json]",
    .description = "Lists the worker nodes: pool, state (UP or LOST), CPUs, memory and GPUs as\n"
                   "used/total, running tasks, when the node was last heard from, and its labels.\n"
                   "\n"
                   "examples:\n"
                   "  strata nodes\n"
                   "  strata nodes --json | jq -r '.[] | select(.state == \"UP\") | .name'",
    .json_help = "print a JSON array of nodes",
    .request = s_request,
    .reply = STRATA__ENVELOPE__BODY_NODES_REPLY,
    .to_json = s_json,
    .print = s_print,
};

static int
s_exec (cli_ctx_t *ctx, int argc, char **argv)
{
    return cli_listing (ctx, &s_listing, argc, argv);
}

const cli_cmd_t cli_cmd_nodes = { "nodes", "list worker nodes and their free resources", s_exec };
