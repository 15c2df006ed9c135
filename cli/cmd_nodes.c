/*  cmd_nodes.c: `strata nodes [--json]`: the workers the scheduler knows.  */
#include <stddef.h>
#include <stdlib.h>

#include "cli.h"
#include "output.h"
#include "st_time.h"

typedef struct {
    int json;               /*  --json: an array of node objects  */
} s_opts_t;

static const st_opt_t s_opts[] = {
    { "json", 0, ST_OPT_BOOL, offsetof (s_opts_t, json), 0, 0, NULL, "print a JSON array of nodes", NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

static const char s_usage[] = "strata nodes [--json]";
static const char s_description[] =
    "Lists the worker nodes: pool, state (UP or LOST), CPUs, memory and GPUs as\n"
    "used/total, running tasks, when the node was last heard from, and its labels.\n"
    "\n"
    "examples:\n"
    "  strata nodes\n"
    "  strata nodes --json | jq -r '.[] | select(.state == \"UP\") | .name'";

static int
s_exec (st_cli_ctx_t *ctx, int argc, char **argv)
{
    s_opts_t o = { 0 };
    char **pos = NULL;
    int npos = 0;
    Strata__Envelope *reply = NULL;
    json_t *json = NULL;
    st_error_t err;
    st_error_clear (&err);

    int rc = st_cli_parse_options (ctx, "nodes", s_opts, &o, argc, argv, s_usage, s_description, &pos, &npos);
    if (rc >= 0)
        goto out;
    if (npos > 0) {
        rc = st_cli_usage_error (ctx, "nodes", "unexpected argument '%s'", pos[0]);
        goto out;
    }

    Strata__Envelope req;
    Strata__NodesRequest nodes = STRATA__NODES_REQUEST__INIT;
    st_wire_envelope_init (&req, 0);
    req.body_case = STRATA__ENVELOPE__BODY_NODES;
    req.nodes = &nodes;
    if (st_cli_request (ctx, &req, STRATA__ENVELOPE__BODY_NODES_REPLY, &reply, &err) != ST_OK) {
        rc = st_cli_fail (ctx, &err);
        goto out;
    }
    const Strata__NodesReply *nr = reply->nodes_reply;
    rc = ST_CLI_EXIT_ERROR;
    if (o.json) {
        json = json_array ();
        for (size_t i = 0; json && i < nr->n_nodes; i++)
            if (json_array_append_new (json, st_output_node_json (nr->nodes[i])) != 0)
                goto out;
        if (!json || st_output_json_print (ctx->out, json) != 0)
            goto out;
    }
    else if (st_output_node_table (ctx->out, nr->nodes, nr->n_nodes, st_wall_ms ()) != 0)
        goto out;
    rc = ST_CLI_EXIT_OK;
out:
    json_decref (json);
    st_wire_free (reply);
    free (pos);
    st_config_free (s_opts, &o);
    return rc;
}

const st_cli_cmd_t st_cli_cmd_nodes = { "nodes", "list worker nodes and their free resources", s_exec };
