/*  cmd_models.c: `strata models [--json]`: the model registry.  */
#include "cli.h"
#include "output.h"

static void
s_request (Strata__Envelope *req)
{
    static Strata__ModelsRequest models = STRATA__MODELS_REQUEST__INIT;
    req->body_case = STRATA__ENVELOPE__BODY_MODELS;
    req->models = &models;
}

static json_t *
s_json (const Strata__Envelope *reply)
{
    return st_output_models_json (reply->models_reply->families, reply->models_reply->n_families);
}

static int
s_print (FILE *out, const Strata__Envelope *reply)
{
    return st_output_model_table (out, reply->models_reply->families, reply->models_reply->n_families);
}

static const st_cli_listing_t s_listing = {
    .name = "models",
    .usage = "strata models [--json]",
    .description =
        "Lists the model registry of the scheduler's --cluster file: each family's variants\n"
        "in order of preference, and the jurisdictions each may run in. A job that names a\n"
        "family (or `model: auto`) gets the first variant allowed where it is placed.\n"
        "\n"
        "examples:\n"
        "  strata models\n"
        "  strata models --json | jq -r '.[].variants[] | select(.jurisdictions | index(\"EU\")) | .name'",
    .json_help = "print a JSON array of model families",
    .request = s_request,
    .reply = STRATA__ENVELOPE__BODY_MODELS_REPLY,
    .to_json = s_json,
    .print = s_print,
};

static int
s_exec (st_cli_ctx_t *ctx, int argc, char **argv)
{
    return st_cli_listing (ctx, &s_listing, argc, argv);
}

const st_cli_cmd_t st_cli_cmd_models = { "models", "list model families, their variants and where they may run",
                                         s_exec };
