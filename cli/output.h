/*  output.h: what the CLI prints.
 *
 *  Tables are sized to their content; text from the scheduler is cleaned of
 *  control characters before it reaches the terminal (a job name or reason must
 *  not be able to move the cursor). JSON uses the key names that docs/cli.md
 *  documents; scripts depend on them, so keys are only ever added. */
#ifndef CLI_OUTPUT_H
#define CLI_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>
#include "strata.pb-c.h"

/*  -- tables ---------------------------------------------------------------  */

typedef struct cli_table cli_table_t;

/*  A table of ncols columns. headers: ncols strings, or NULL for a table
 *  without a header row (a key/value block). Returns NULL on allocation failure. */
cli_table_t *cli_table_new (size_t ncols, const char *const *headers);

/*  NULL-safe; sets *self_p = NULL.  */
void cli_table_destroy (cli_table_t **self_p);

/*  Right-aligns column col (numbers).  */
void cli_table_align_right (cli_table_t *self, size_t col);

/*  Appends a row of ncols cells (copied and cleaned; NULL prints as "-").
 *  Returns 0, or -1 on allocation failure. */
int cli_table_add (cli_table_t *self, const char *const *cells);

/*  Renders the table: columns separated by two spaces, each as wide as its
 *  widest cell, no trailing blanks, one '\n' per row. Caller frees. */
char *cli_table_render (const cli_table_t *self);

/*  Renders into out. Returns 0, or -1 on failure.  */
int cli_table_print (const cli_table_t *self, FILE *out);

/*  -- text -----------------------------------------------------------------  */

/*  Display width in characters (UTF-8 code points).  */
size_t cli_text_width (const char *text);

/*  Copies text into buf with control characters replaced by spaces, cut to at
 *  most max characters (the last three becoming "..." when cut; max 0 = no
 *  limit) and to what fits buf. Returns buf. */
char *cli_text_fit (const char *text, size_t max, char *buf, size_t size);

/*  "0s", "59s", "3m05s", "2h07m", "3d04h".  */
const char *cli_format_duration (uint64_t ms, char *buf, size_t size);

/*  Time elapsed since then_ms, as cli_format_duration; "-" when then_ms is 0.  */
const char *cli_format_age (uint64_t now_ms, uint64_t then_ms, char *buf, size_t size);

/*  "512B", "900K", "1.5G", "16G": powers of 1024, one decimal below 10.  */
const char *cli_format_bytes (uint64_t bytes, char *buf, size_t size);

/*  Same for a size in MiB ("512M", "4G").  */
const char *cli_format_mem_mb (uint64_t mb, char *buf, size_t size);

/*  Thousandths of a CPU as a number: "2", "0.5", "1.25".  */
const char *cli_format_cpus (uint32_t milli, char *buf, size_t size);
/*  A role's name: viewer, submitter, operator, admin ("none" for an unknown one).  */
const char *cli_role_name (Strata__Role r);

/*  -- JSON -----------------------------------------------------------------  */

/*  The job object (keys in docs/cli.md). New reference, NULL on allocation failure.  */
json_t *cli_output_job_json (const Strata__JobInfo *job);

/*  The node object (keys in docs/cli.md).  */
json_t *cli_output_node_json (const Strata__NodeInfo *node);

/*  A JSON string for text from the scheduler: bytes that are not valid UTF-8
 *  become '?'; NULL becomes "". New reference, NULL on allocation failure.  */
json_t *cli_output_json_str (const char *s);

/*  The pool object (keys in docs/cli.md).  */
json_t *cli_output_pool_json (const Strata__PoolInfo *pool);

/*  The model families as an array of {family, variants: [{name, jurisdictions, uri}]}.  */
json_t *cli_output_models_json (Strata__ModelFamily *const *families, size_t n);

/*  Prints v indented, with a final newline. Returns 0, or -1 on failure.  */
int cli_output_json_print (FILE *out, const json_t *v);

/*  -- human views ------------------------------------------------------------  */

/*  `strata show`: a key/value block, then the task table.  */
int cli_output_job_detail (FILE *out, const Strata__JobInfo *job, uint64_t now_ms);

/*  `strata jobs`: ID NAME TENANT STATE RANKS NODE AGE REASON.  */
int cli_output_job_table (FILE *out, Strata__JobInfo *const *jobs, size_t n, uint64_t now_ms);

/*  `strata nodes`: NAME POOL STATE CPUS MEMORY GPUS TASKS LAST SEEN LABELS.  */
int cli_output_node_table (FILE *out, Strata__NodeInfo *const *nodes, size_t n, uint64_t now_ms);

/*  `strata pools`: POOL SITE REGION JURISDICTION CLEARANCE $/GPU-H $/CPU-H PUE
 *  GCO2/KWH NODES GPUS, and a note under the table when a pool is implicit.  */
int cli_output_pool_table (FILE *out, Strata__PoolInfo *const *pools, size_t n);

/*  `strata models`: FAMILY VARIANT JURISDICTIONS, one row per variant.  */
int cli_output_model_table (FILE *out, Strata__ModelFamily *const *families, size_t n);

/*  The registered versions of fine-tuned models (sorted by tenant and name, as
 *  the scheduler sends them), one object per model: {family: NAME, fine_tuned:
 *  true, tenant, variants: [], versions: [{name, tenant, version, job, pool,
 *  jurisdiction, base_variant, classification, residency, checkpoint,
 *  created_unix_ms}]};
 *  `models --json` appends them to the families.  */
json_t *cli_output_model_versions_json (Strata__ModelVersion *const *versions, size_t n);

/*  MODEL VERSION JOB TENANT POOL CLASSIFICATION RESIDENCY CHECKPOINT.  */
int cli_output_model_versions_table (FILE *out, Strata__ModelVersion *const *versions, size_t n);

/*  `strata explain`: renders the policy library's explanation (the JSON text
 *  of ExplainReply): for a waiting job the reason, a POOL VERDICT WHY table and
 *  the expected start; for a placed job the chosen pool's score terms and raw
 *  figures against the runners-up, the weights and the estimate. Returns 0,
 *  or -1 when json is not a JSON object (nothing printed) or output fails.  */
int cli_output_explain (FILE *out, const char *json, uint64_t now_ms);

/*  A price, a factor or a rate with at most `places` decimals, trailing zeros
 *  dropped: "1.25", "0.02", "3", "0.0001".  */
const char *cli_format_number (double v, int places, char *buf, size_t size);

#define CLI_OUTPUT_REASON_WIDTH 40

#endif
