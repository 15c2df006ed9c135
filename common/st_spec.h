/*  st_spec.h: job specs. One parser and validator for YAML, JSON and CLI flags.
 *
 *  A spec is validated completely before anything is written anywhere: an unknown
 *  field, a wrong type or a value out of range is refused with err->field naming
 *  the field (dotted path, e.g. "resources.cpus_per_rank" or "command[2]").
 *
 *  Spec format (docs/job-spec.md is the reference; examples/ has samples):
 *
 *      kind: command            # command | finetune | inference        (default command)
 *      name: hello              # 1..128 chars [A-Za-z0-9._-]           (default: basename of command[0])
 *      tenant: default          # 1..64 chars [A-Za-z0-9._-]            (default: the submitter's first tenant)
 *      queue: default           # same rules                            (default "default")
 *      priority: 0              # integer -1000..1000                   (default 0)
 *      preemptible: false       # may be stopped for a higher-priority job, then requeued (default false)
 *      command: [echo, hi]      # 1..256 strings, each 1..4096 bytes, no NUL    (required)
 *      env: {KEY: value}        # up to 128; keys [A-Za-z_][A-Za-z0-9_]*, not STRATA_*; values strings
 *      workdir: /tmp            # absolute path                         (default: worker's task dir)
 *      resources:
 *        ranks: 1               # 1..1024: a gang, all ranks start together  (command, finetune; default 1)
 *        shards: 1              # 1..1024: independent tasks, may spread over pools (inference only; default 1)
 *        cpus_per_rank: 1       # 0.001..1024, number (fractional allowed)   (default 1)
 *        mem_per_rank: 512M     # integer MiB, or string with K/M/G/T (or Ki/Mi/Gi/Ti) suffix; 1 MiB..16 TiB (default 256 MiB)
 *        gpus_per_rank: 0       # 0..64                                 (default 0)
 *        gpu_types: [H100, A100]  # preference order, 1..8 of [A-Za-z0-9._-]{1,64}; needs gpus_per_rank > 0
 *      placement:
 *        pool: onprem-gpu       # run only in this pool                 (optional)
 *        labels: {rack: r1}     # node labels that must match exactly   (optional, up to 32)
 *        sites: [onprem, edge]  # allowed site kinds: onprem, private_cloud, public_cloud, edge (default any)
 *        near: eu-west          # region to be close to, [a-z0-9-]{1,64}  (optional)
 *        max_latency_ms: 20     # 1..100000, from `near` (needs near)   (optional)
 *        prefer: balanced       # cost | latency | energy | balanced    (default balanced)
 *        weights: {cost: 2, carbon: 1}   # instead of prefer: cost, latency, energy, carbon, packing;
 *                               #   0..1000 each (6 decimals), missing = 0, at least one > 0
 *      data:
 *        uri: s3://bucket/set   # 1..4096 bytes, no control characters  (optional)
 *        classification: public # public < internal < confidential < restricted (default public)
 *        residency: [EU]        # jurisdictions [A-Z0-9-]{1,16}, up to 64; empty or absent: any
 *      model: llama-3           # family, variant or "auto", [A-Za-z0-9._/-]{1,128}; or a fine-tuned
 *                               #   model NAME or NAME:VERSION (version 1..999999999) (optional)
 *      checkpoint_dir: /ckpt    # absolute path, given to ranks as STRATA_CHECKPOINT_DIR (optional)
 *      depends_on: [12, 13]     # up to 32 distinct job ids (positive integers): start only once
 *                               #   all of them SUCCEEDED (optional)
 *      launcher: auto           # auto | mpirun | direct; auto: mpirun for a CPU finetune (no
 *                               #   gpus_per_rank), else direct; mpirun only for gangs (command,
 *                               #   finetune)   (default auto)
 *      output_model: acme-twin  # finetune only: on success its checkpoint becomes the next version
 *                               #   of this model, [A-Za-z0-9._/-]{1,128}, not "auto" (optional)
 *      simulate: {duration: 30s}  # hollow nodes: the task "runs" this long (1 ms .. 30 days) (optional)
 *      time_limit: 3600         # seconds (integer), or "90s", "30m", "2h", "1d"; 0 = none; max 30 days
 *      retries: 0               # 0..100: attempts = retries + 1
 *
 *  For kind inference `ranks` is refused (write `shards`), except `ranks: 1`,
 *  which specs stored by earlier versions carry; for command and finetune
 *  `shards` is refused. Either way the number of tasks is spec->ranks. */
#ifndef ST_SPEC_H
#define ST_SPEC_H

#include <stddef.h>
#include <stdint.h>
#include "st_error.h"
#include "st_kv.h"
#include "st_vocab.h"

/*  placement.weights: how much each score term counts (0..1000 each).  */
typedef struct {
    double cost;
    double latency;
    double energy;
    double carbon;
    double packing;
} st_weights_t;

typedef struct {
    st_kind_t kind; /*  command, finetune or inference  */
    char *name;
    char *tenant;
    int tenant_given; /*  the text named a tenant (else tenant is "default", which the scheduler replaces)  */
    char *queue;
    int32_t priority;
    uint32_t ranks;
    uint32_t cpus_milli; /*  per rank, thousandths of a CPU  */
    uint64_t mem_mb;     /*  per rank, MiB  */
    uint32_t gpus;       /*  per rank  */
    char **argv;         /*  argc strings, NULL-terminated  */
    size_t argc;
    st_kv_t env;
    char *workdir; /*  NULL: the worker's default  */
    char *pool;    /*  NULL: any pool  */
    st_kv_t labels;
    uint32_t time_limit_s; /*  0: none  */
    uint32_t retries;
    /*  placement engine  */
    int preemptible;
    int gang;         /*  1: the ranks start together (command, finetune); 0: shards (inference)  */
    char **gpu_types; /*  ngpu_types names, NULL-terminated; NULL when none (any type)  */
    size_t ngpu_types;
    st_site_t *sites; /*  nsites site kinds, ended by ST_SITE__COUNT; NULL when any  */
    size_t nsites;
    char *near;              /*  region, or NULL  */
    uint32_t max_latency_ms; /*  0: no limit  */
    char *prefer;            /*  "cost", "latency", "energy" or "balanced"; NULL when has_weights  */
    int has_weights;
    st_weights_t weights;      /*  when has_weights  */
    char *data_uri;            /*  NULL: none  */
    st_class_t classification; /*  public (the default), internal, confidential or restricted  */
    char **residency;          /*  nresidency jurisdictions, NULL-terminated; NULL when any  */
    size_t nresidency;
    char *model;            /*  family, variant, "auto" or a fine-tuned model's name (without
                                :VERSION, see model_version); NULL: none  */
    char *checkpoint_dir;   /*  NULL: none  */
    uint64_t simulate_ms;   /*  0: a real task  */
    st_launcher_t launcher; /*  resolved (`auto` is never stored)  */
    uint32_t model_version; /*  `model: NAME:VERSION` (a fine-tuned model): VERSION; 0: none given  */
    uint64_t *depends_on;   /*  ndepends_on distinct job ids, in the spec's order; NULL when none  */
    size_t ndepends_on;
    char *output_model; /*  finetune: model its checkpoint is registered under; NULL: none  */
} st_spec_t;

/*  Parses and validates YAML or JSON text. Caller owns the result.  */
st_spec_t *st_spec_parse (const char *text, size_t len, st_error_t *err);

/*  Validates an already parsed tree (st_doc_parse output). Does not steal root.  */
struct json_t;
st_spec_t *st_spec_from_json (struct json_t *root, st_error_t *err);

/*  Canonical JSON with every field present (defaults filled in), keys sorted.
 *  st_spec_parse (st_spec_to_json (s)) yields an equal spec. Caller frees.  */
char *st_spec_to_json (const st_spec_t *spec);

void st_spec_destroy (st_spec_t **self_p);

#endif
