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
    const Strata__ModelsReply *r = reply->models_reply;
    json_t *all = cli_output_models_json (r->families, r->n_families);
    json_t *tuned = cli_output_model_versions_json (r->versions, r->n_versions);
    if (!all || !tuned || json_array_extend (all, tuned) != 0) {
        json_decref (all);
        all = NULL;
    }
    json_decref (tuned);
    return all;
}

static int
s_print (FILE *out, const Strata__Envelope *reply)
{
    const Strata__ModelsReply *r = reply->models_reply;
    if (cli_output_model_table (out, r->families, r->n_families) != 0)
        return -1;
    if (r->n_versions == 0)
        return 0;
    fputc ('\n', out);
    return cli_output_model_versions_table (out, r->versions, r->n_versions);
}

static const cli_listing_t s_listing = {
    .name = "models",
    .usage = "strata models [--json]",
    .description = "Lists the model registry of the scheduler's --cluster file: each family's variants\n"
                   "in order of preference, and the jurisdictions each may run in. A job that names a\n"
                   "family (or `model: auto`) gets the first variant allowed where it is placed.\n"
                   "Then the registered versions of fine-tuned models (a finetune job with output_model\n"
                   "registers one when it succeeds): a job may name NAME (the latest) or NAME:VERSION.\n"
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
s_exec (cli_ctx_t *ctx, int argc, char **argv)
{
    return cli_listing (ctx, &s_listing, argc, argv);
}

const cli_cmd_t cli_cmd_models = { "models", "list model families and variants, and fine-tuned model versions",
                                   s_exec };
