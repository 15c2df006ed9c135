/*  test_spec.c: job spec parsing, validation and canonical JSON (st_spec).  */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <glob.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_doc.h"
#include "st_spec.h"

static st_spec_t *
parse (const char *text, st_error_t *err)
{
    return st_spec_parse (text, strlen (text), err);
}

static st_spec_t *
parse_ok (const char *text)
{
    st_error_t err;
    st_spec_t *spec = parse (text, &err);
    cr_assert_not_null (spec, "spec refused: field=%s msg=%s", err.field, err.msg);
    cr_assert_eq (err.rc, ST_OK);
    return spec;
}

static st_error_t
parse_fail (const char *text)
{
    st_error_t err;
    st_spec_t *spec = parse (text, &err);
    cr_assert_null (spec, "spec accepted: <<%s>>", text);
    cr_assert_neq (err.rc, ST_OK);
    return err;
}

static int
kv_equal (const st_kv_t *a, const st_kv_t *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        const char *v = st_kv_get (b, a->keys[i]);
        if (!v || strcmp (v, a->vals[i]) != 0)
            return 0;
    }
    return 1;
}

static int
str_equal (const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp (a, b) == 0);
}

static int
list_equal (char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb || (na == 0 && (a || b)))
        return 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp (a[i], b[i]) != 0)
            return 0;
    return na == 0 || (a[na] == NULL && b[nb] == NULL);
}

static int
spec_equal (const st_spec_t *a, const st_spec_t *b)
{
    if (a->kind != b->kind || !str_equal (a->name, b->name) || !str_equal (a->tenant, b->tenant)
        || !str_equal (a->queue, b->queue) || a->priority != b->priority || a->ranks != b->ranks
        || a->cpus_milli != b->cpus_milli || a->mem_mb != b->mem_mb || a->gpus != b->gpus || a->argc != b->argc
        || !str_equal (a->workdir, b->workdir) || !str_equal (a->pool, b->pool) || a->time_limit_s != b->time_limit_s
        || a->retries != b->retries || !kv_equal (&a->env, &b->env) || !kv_equal (&a->labels, &b->labels))
        return 0;
    if (a->preemptible != b->preemptible || a->gang != b->gang
        || !list_equal (a->gpu_types, a->ngpu_types, b->gpu_types, b->ngpu_types) || a->nsites != b->nsites
        || (a->nsites && memcmp (a->sites, b->sites, a->nsites * sizeof *a->sites)) || !str_equal (a->near, b->near)
        || a->max_latency_ms != b->max_latency_ms || !str_equal (a->prefer, b->prefer)
        || a->has_weights != b->has_weights || a->weights.cost != b->weights.cost
        || a->weights.latency != b->weights.latency || a->weights.energy != b->weights.energy
        || a->weights.carbon != b->weights.carbon || a->weights.packing != b->weights.packing
        || !str_equal (a->data_uri, b->data_uri) || a->classification != b->classification
        || !list_equal (a->residency, a->nresidency, b->residency, b->nresidency) || !str_equal (a->model, b->model)
        || !str_equal (a->checkpoint_dir, b->checkpoint_dir) || a->simulate_ms != b->simulate_ms
        || a->model_version != b->model_version || a->launcher != b->launcher
        || !str_equal (a->output_model, b->output_model) || a->ndepends_on != b->ndepends_on)
        return 0;
    for (size_t i = 0; i < a->ndepends_on; i++)
        if (a->depends_on[i] != b->depends_on[i])
            return 0;
    for (size_t i = 0; i < a->argc; i++)
        if (strcmp (a->argv[i], b->argv[i]) != 0)
            return 0;
    return a->argv[a->argc] == NULL && b->argv[b->argc] == NULL;
}

/*  to_json, then parse again: must give an equal spec and the same text.  */
static void
assert_round_trip (const st_spec_t *spec)
{
    char *json = st_spec_to_json (spec);
    cr_assert_not_null (json);
    st_error_t err;
    st_spec_t *again = parse (json, &err);
    cr_assert_not_null (again, "canonical JSON refused: %s (%s)", err.msg, json);
    cr_assert (spec_equal (spec, again), "round trip changed the spec: %s", json);
    char *json2 = st_spec_to_json (again);
    cr_assert_str_eq (json, json2);
    free (json);
    free (json2);
    st_spec_destroy (&again);
}

static const char *full_yaml = "kind: finetune\n"
                               "name: llama-ft.v2\n"
                               "tenant: team_a\n"
                               "queue: gpu-long\n"
                               "priority: -5\n"
                               "command: [torchrun, train.py, --epochs, 3, \"--lr=0.1\"]\n"
                               "env:\n"
                               "  OMP_NUM_THREADS: 4\n"
                               "  HF_HOME: /data/hf\n"
                               "workdir: /scratch/job\n"
                               "resources:\n"
                               "  ranks: 8\n"
                               "  cpus_per_rank: 2.5\n"
                               "  mem_per_rank: 16Gi\n"
                               "  gpus_per_rank: 1\n"
                               "placement:\n"
                               "  pool: onprem-gpu\n"
                               "  labels: {rack: r1, nvlink_domain: \"2\"}\n"
                               "time_limit: 2h\n"
                               "retries: 3\n";

static const char *full_json =
    "{\"kind\": \"finetune\", \"name\": \"llama-ft.v2\", \"tenant\": \"team_a\", \"queue\": \"gpu-long\","
    " \"priority\": -5, \"command\": [\"torchrun\", \"train.py\", \"--epochs\", \"3\", \"--lr=0.1\"],"
    " \"env\": {\"OMP_NUM_THREADS\": \"4\", \"HF_HOME\": \"/data/hf\"}, \"workdir\": \"/scratch/job\","
    " \"resources\": {\"ranks\": 8, \"cpus_per_rank\": 2.5, \"mem_per_rank\": 16384, \"gpus_per_rank\": 1},"
    " \"placement\": {\"pool\": \"onprem-gpu\", \"labels\": {\"rack\": \"r1\", \"nvlink_domain\": \"2\"}},"
    " \"time_limit\": 7200, \"retries\": 3}";

Test (spec, full_spec_fields)
{
    st_spec_t *s = parse_ok (full_yaml);
    cr_assert_str_eq (st_kind_name (s->kind), "finetune");
    cr_assert_str_eq (s->name, "llama-ft.v2");
    cr_assert_str_eq (s->tenant, "team_a");
    cr_assert_str_eq (s->queue, "gpu-long");
    cr_assert_eq (s->priority, -5);
    cr_assert_eq (s->argc, 5);
    cr_assert_str_eq (s->argv[0], "torchrun");
    cr_assert_str_eq (s->argv[3], "3");
    cr_assert_str_eq (s->argv[4], "--lr=0.1");
    cr_assert_null (s->argv[5]);
    cr_assert_eq (s->env.n, 2);
    cr_assert_str_eq (st_kv_get (&s->env, "OMP_NUM_THREADS"), "4");
    cr_assert_str_eq (st_kv_get (&s->env, "HF_HOME"), "/data/hf");
    cr_assert_str_eq (s->workdir, "/scratch/job");
    cr_assert_eq (s->ranks, 8);
    cr_assert_eq (s->cpus_milli, 2500);
    cr_assert_eq (s->mem_mb, 16384);
    cr_assert_eq (s->gpus, 1);
    cr_assert_str_eq (s->pool, "onprem-gpu");
    cr_assert_str_eq (st_kv_get (&s->labels, "rack"), "r1");
    cr_assert_str_eq (st_kv_get (&s->labels, "nvlink_domain"), "2");
    cr_assert_eq (s->time_limit_s, 7200);
    cr_assert_eq (s->retries, 3);
    st_spec_destroy (&s);
    cr_assert_null (s);
}

Test (spec, yaml_and_json_give_equal_specs)
{
    st_spec_t *a = parse_ok (full_yaml), *b = parse_ok (full_json);
    cr_assert (spec_equal (a, b));
    char *ja = st_spec_to_json (a), *jb = st_spec_to_json (b);
    cr_assert_str_eq (ja, jb);
    free (ja);
    free (jb);
    st_spec_destroy (&a);
    st_spec_destroy (&b);
}

Test (spec, defaults)
{
    st_spec_t *s = parse_ok ("command: [echo, hi]\n");
    cr_assert_str_eq (st_kind_name (s->kind), "command");
    cr_assert_str_eq (s->name, "echo");
    cr_assert_str_eq (s->tenant, "default");
    cr_assert_str_eq (s->queue, "default");
    cr_assert_eq (s->priority, 0);
    cr_assert_eq (s->ranks, 1);
    cr_assert_eq (s->cpus_milli, 1000);
    cr_assert_eq (s->mem_mb, 256);
    cr_assert_eq (s->gpus, 0);
    cr_assert_eq (s->env.n, 0);
    cr_assert_null (s->workdir);
    cr_assert_null (s->pool);
    cr_assert_eq (s->labels.n, 0);
    cr_assert_eq (s->time_limit_s, 0);
    cr_assert_eq (s->retries, 0);
    st_spec_destroy (&s);
}

Test (spec, canonical_json_is_pinned)
{
    st_spec_t *s = parse_ok ("command: [echo, hi]\n");
    char *json = st_spec_to_json (s);
    cr_assert_str_eq (json,
                      "{\"checkpoint_dir\":null,\"command\":[\"echo\",\"hi\"],"
                      "\"data\":{\"classification\":\"public\",\"residency\":null,\"uri\":null},"
                      "\"depends_on\":null,\"env\":{},"
                      "\"kind\":\"command\",\"launcher\":\"direct\",\"model\":null,\"name\":\"echo\","
                      "\"output_model\":null,"
                      "\"placement\":{\"labels\":{},\"max_latency_ms\":null,\"near\":null,\"pool\":null,"
                      "\"prefer\":\"balanced\",\"sites\":null,\"weights\":null},\"preemptible\":false,"
                      "\"priority\":0,\"queue\":\"default\","
                      "\"resources\":{\"cpus_per_rank\":1,\"gpu_types\":null,\"gpus_per_rank\":0,"
                      "\"mem_per_rank\":256,\"ranks\":1},"
                      "\"retries\":0,\"simulate\":null,\"tenant\":\"default\",\"time_limit\":0,\"workdir\":null}");
    free (json);
    st_spec_destroy (&s);
    s = parse_ok ("command: [x]\nresources: {cpus_per_rank: 0.1}\n");
    json = st_spec_to_json (s);
    cr_assert (strstr (json, "\"cpus_per_rank\":0.1,"), "%s", json);
    free (json);
    st_spec_destroy (&s);
}

Test (spec, null_means_not_given)
{
    st_spec_t *s = parse_ok ("command: [echo]\nname: ~\nworkdir: null\nenv:\nresources:\nplacement: {pool: null}\n"
                             "time_limit: ~\nretries: ~\npriority: ~\nkind: ~\n");
    cr_assert_str_eq (st_kind_name (s->kind), "command");
    cr_assert_str_eq (s->name, "echo");
    cr_assert_null (s->workdir);
    cr_assert_null (s->pool);
    cr_assert_eq (s->ranks, 1);
    st_spec_destroy (&s);
}

Test (spec, default_name_comes_from_the_program)
{
    st_spec_t *s = parse_ok ("command: [/usr/bin/python3.11, x.py]\n");
    cr_assert_str_eq (s->name, "python3.11");
    st_spec_destroy (&s);
    s = parse_ok ("command: [\"./my prog!\"]\n");
    cr_assert_str_eq (s->name, "my_prog_");
    st_spec_destroy (&s);
    s = parse_ok ("command: [/]\n");
    cr_assert_str_eq (s->name, "job");
    st_spec_destroy (&s);
}

Test (spec, kinds)
{
    static const char *const kinds[] = { "command", "finetune", "inference" };
    for (int i = 0; i < 3; i++) {
        char text[64];
        snprintf (text, sizeof text, "kind: %s\ncommand: [x]\n", kinds[i]);
        st_spec_t *s = parse_ok (text);
        cr_assert_str_eq (st_kind_name (s->kind), kinds[i]);
        st_spec_destroy (&s);
    }
}

Test (spec, numbers_in_command_env_and_labels_become_text)
{
    st_spec_t *s = parse_ok ("command: [sleep, 10, -3]\nenv: {N: 4}\nplacement: {labels: {zone: 7}}\n");
    cr_assert_str_eq (s->argv[1], "10");
    cr_assert_str_eq (s->argv[2], "-3");
    cr_assert_str_eq (st_kv_get (&s->env, "N"), "4");
    cr_assert_str_eq (st_kv_get (&s->labels, "zone"), "7");
    st_spec_destroy (&s);
}

Test (spec, cpus_are_exact_thousandths)
{
    static const struct {
        const char *text;
        uint32_t milli;
    } cases[] = {
        { "1", 1000 },    { "0.5", 500 },      { "0.001", 1 },          { "0.1", 100 },
        { "2.25", 2250 }, { "1024", 1024000 }, { "1023.999", 1023999 }, { "0.3", 300 },
        { "1.0", 1000 },  { "3e-3", 3 },       { "0.0010", 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[96];
        snprintf (text, sizeof text, "command: [x]\nresources: {cpus_per_rank: %s}\n", cases[i].text);
        st_spec_t *s = parse_ok (text);
        cr_assert_eq (s->cpus_milli, cases[i].milli, "%s gave %u", cases[i].text, s->cpus_milli);
        st_spec_destroy (&s);
    }
}

Test (spec, cpu_precision_and_range)
{
    st_error_t err = parse_fail ("command: [x]\nresources: {cpus_per_rank: 0.0001}\n");
    cr_assert_str_eq (err.field, "resources.cpus_per_rank");
    cr_assert_str_eq (err.msg, "resources.cpus_per_rank: must be a number between 0.001 and 1024, got 0.0001");
    err = parse_fail ("command: [x]\nresources: {cpus_per_rank: 1.2345}\n");
    cr_assert_str_eq (err.msg, "resources.cpus_per_rank: must be a number with at most 3 decimal places "
                               "(thousandths of a cpu), got 1.2345");
    err = parse_fail ("command: [x]\nresources: {cpus_per_rank: lots}\n");
    cr_assert_str_eq (err.msg, "resources.cpus_per_rank: must be a number between 0.001 and 1024, got \"lots\"");
    parse_fail ("command: [x]\nresources: {cpus_per_rank: 1024.001}\n");
    parse_fail ("command: [x]\nresources: {cpus_per_rank: 0}\n");
    parse_fail ("command: [x]\nresources: {cpus_per_rank: -1}\n");
}

Test (spec, mem_field)
{
    st_spec_t *s = parse_ok ("command: [x]\nresources: {mem_per_rank: 16777216}\n");
    cr_assert_eq (s->mem_mb, 16777216);
    st_spec_destroy (&s);
    s = parse_ok ("command: [x]\nresources: {mem_per_rank: 1}\n");
    cr_assert_eq (s->mem_mb, 1);
    st_spec_destroy (&s);
    s = parse_ok ("command: [x]\nresources: {mem_per_rank: 1K}\n");
    cr_assert_eq (s->mem_mb, 1);
    st_spec_destroy (&s);
    static const char *const bad[] = {
        "0", "-1", "16777217", "17T", "16385G", "lots", "1.5", "\"0M\"", "[1]", "true"
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[96];
        snprintf (text, sizeof text, "command: [x]\nresources: {mem_per_rank: %s}\n", bad[i]);
        st_error_t err = parse_fail (text);
        cr_assert_str_eq (err.field, "resources.mem_per_rank", "%s", bad[i]);
        cr_assert (strncmp (err.msg, "resources.mem_per_rank: must be a size between 1M and 16T", 57) == 0, "%s",
                   err.msg);
    }
}

Test (spec, time_limit_field)
{
    st_spec_t *a = parse_ok ("command: [x]\ntime_limit: 5400\n");
    st_spec_t *b = parse_ok ("command: [x]\ntime_limit: 1h30m\n");
    st_spec_t *c = parse_ok ("command: [x]\ntime_limit: \"90m\"\n");
    cr_assert_eq (a->time_limit_s, 5400);
    cr_assert (spec_equal (a, b));
    cr_assert (spec_equal (a, c));
    st_spec_destroy (&a);
    st_spec_destroy (&b);
    st_spec_destroy (&c);
    a = parse_ok ("command: [x]\ntime_limit: 30d\n");
    cr_assert_eq (a->time_limit_s, 2592000);
    st_spec_destroy (&a);
}

/*  Every field's type and range errors name the field.  */
typedef struct {
    const char *yaml;
    const char *field;
    const char *msg; /*  the message must start with this  */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    { "kind: job\ncommand: [x]\n", "kind", "kind: must be one of command, finetune, inference, got \"job\"" },
    { "kind: 5\ncommand: [x]\n", "kind", "kind: must be one of command, finetune, inference, got 5" },
    { "name: 'a b'\ncommand: [x]\n", "name",
      "name: must be 1 to 128 characters of letters, digits, '.', '_' or '-', got \"a b\"" },
    { "name: ''\ncommand: [x]\n", "name", "name: must be 1 to 128 characters" },
    { "name: [x]\ncommand: [x]\n", "name",
      "name: must be 1 to 128 characters of letters, digits, '.', '_' or '-', got a list" },
    { "tenant: x/y\ncommand: [x]\n", "tenant", "tenant: must be 1 to 64 characters" },
    { "tenant: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\ncommand: [x]\n", "tenant",
      "tenant: must be 1 to 64" },
    { "queue: true\ncommand: [x]\n", "queue",
      "queue: must be 1 to 64 characters of letters, digits, '.', '_' or '-', got true" },
    { "priority: 1001\ncommand: [x]\n", "priority", "priority: must be an integer between -1000 and 1000, got 1001" },
    { "priority: -1001\ncommand: [x]\n", "priority",
      "priority: must be an integer between -1000 and 1000, got -1001" },
    { "priority: 1.5\ncommand: [x]\n", "priority", "priority: must be an integer between -1000 and 1000, got 1.5" },
    { "priority: high\ncommand: [x]\n", "priority",
      "priority: must be an integer between -1000 and 1000, got \"high\"" },
    { "name: x\n", "command", "command: required field is missing" },
    { "command: ~\n", "command", "command: required field is missing" },
    { "command: echo hi\n", "command", "command: must be a list of 1 to 256 strings, got \"echo hi\"" },
    { "command: []\n", "command", "command: must be a list of 1 to 256 strings, got a list" },
    { "command: {a: 1}\n", "command", "command: must be a list of 1 to 256 strings, got a mapping" },
    { "command: [echo, 1.5]\n", "command[1]", "command[1]: must be a string, got 1.5" },
    { "command: [echo, true]\n", "command[1]", "command[1]: must be a string, got true" },
    { "command: [echo, ~]\n", "command[1]", "command[1]: must be a string, got null" },
    { "command: [echo, [a]]\n", "command[1]", "command[1]: must be a string, got a list" },
    { "command: [echo, \"\"]\n", "command[1]",
      "command[1]: must be a string of 1 to 4096 bytes without NUL, got \"\"" },
    { "command: [echo, \"a\\0b\"]\n", "command[1]", "command[1]: must be a string of 1 to 4096 bytes without NUL" },
    { "command: [x]\nenv: [A=1]\n", "env", "env: must be a mapping, got a list" },
    { "command: [x]\nenv: {1A: x}\n", "env.1A", "env: invalid variable name \"1A\"" },
    { "command: [x]\nenv: {A-B: x}\n", "env.A-B", "env: invalid variable name \"A-B\"" },
    { "command: [x]\nenv: {STRATA_RANK: 1}\n", "env.STRATA_RANK",
      "env.STRATA_RANK: names starting with STRATA_ are reserved" },
    { "command: [x]\nenv: {A: [1]}\n", "env.A", "env.A: must be a string, got a list" },
    { "command: [x]\nenv: {A: true}\n", "env.A", "env.A: must be a string, got true" },
    { "command: [x]\nenv: {A: \"x\\0y\"}\n", "env.A", "env.A: must be a string of at most 4096 bytes without NUL" },
    { "command: [x]\nworkdir: relative/dir\n", "workdir",
      "workdir: must be an absolute path (starting with /), got \"relative/dir\"" },
    { "command: [x]\nworkdir: 5\n", "workdir", "workdir: must be an absolute path (starting with /), got 5" },
    { "command: [x]\nworkdir: ''\n", "workdir", "workdir: must be an absolute path" },
    { "command: [x]\nresources: 5\n", "resources", "resources: must be a mapping, got 5" },
    { "command: [x]\nresources: {ranks: 0}\n", "resources.ranks",
      "resources.ranks: must be an integer between 1 and 1024, got 0" },
    { "command: [x]\nresources: {ranks: 1025}\n", "resources.ranks",
      "resources.ranks: must be an integer between 1 and 1024, got 1025" },
    { "command: [x]\nresources: {ranks: \"2\"}\n", "resources.ranks",
      "resources.ranks: must be an integer between 1 and 1024, got \"2\"" },
    { "command: [x]\nresources: {cpus_per_rank: true}\n", "resources.cpus_per_rank",
      "resources.cpus_per_rank: must be a number between 0.001 and 1024, got true" },
    { "command: [x]\nresources: {cpus_per_rank: \"2\"}\n", "resources.cpus_per_rank",
      "resources.cpus_per_rank: must be a number between 0.001 and 1024, got \"2\"" },
    { "command: [x]\nresources: {gpus_per_rank: 65}\n", "resources.gpus_per_rank",
      "resources.gpus_per_rank: must be an integer between 0 and 64, got 65" },
    { "command: [x]\nresources: {gpus_per_rank: -1}\n", "resources.gpus_per_rank",
      "resources.gpus_per_rank: must be an integer between 0 and 64, got -1" },
    { "command: [x]\nplacement: [a]\n", "placement", "placement: must be a mapping, got a list" },
    { "command: [x]\nplacement: {pool: a b}\n", "placement.pool", "placement.pool: must be 1 to 64 characters" },
    { "command: [x]\nplacement: {pool: 3}\n", "placement.pool", "placement.pool: must be 1 to 64 characters" },
    { "command: [x]\nplacement: {labels: [a]}\n", "placement.labels",
      "placement.labels: must be a mapping, got a list" },
    { "command: [x]\nplacement: {labels: {a: [1]}}\n", "placement.labels.a",
      "placement.labels.a: must be a string, got a list" },
    { "command: [x]\nplacement: {labels: {\"bad key\": x}}\n", "placement.labels.bad key",
      "placement.labels: invalid label name \"bad key\"" },
    { "command: [x]\nplacement: {labels: {a: \"x\\ny\"}}\n", "placement.labels.a",
      "placement.labels.a: must be a string of at most 256 bytes without control characters" },
    { "command: [x]\ntime_limit: -1\n", "time_limit",
      "time_limit: must be seconds (0 to 2592000) or a duration like" },
    { "command: [x]\ntime_limit: abc\n", "time_limit", "time_limit: must be seconds" },
    { "command: [x]\ntime_limit: 31d\n", "time_limit", "time_limit: must be seconds" },
    { "command: [x]\ntime_limit: 2592001\n", "time_limit", "time_limit: must be seconds" },
    { "command: [x]\ntime_limit: 1.5\n", "time_limit", "time_limit: must be seconds" },
    { "command: [x]\ntime_limit: 1500ms\n", "time_limit", "time_limit: must be seconds" },
    { "command: [x]\nretries: 101\n", "retries", "retries: must be an integer between 0 and 100, got 101" },
    { "command: [x]\nretries: -1\n", "retries", "retries: must be an integer between 0 and 100, got -1" },
    { "command: [x]\nretries: \"3\"\n", "retries", "retries: must be an integer between 0 and 100, got \"3\"" },
    /*  the placement engine's fields  */
    { "command: [x]\npreemptible: yes\n", "preemptible", "preemptible: must be true or false, got \"yes\"" },
    { "command: [x]\npreemptible: 1\n", "preemptible", "preemptible: must be true or false, got 1" },
    { "kind: inference\ncommand: [x]\nresources: {ranks: 4}\n", "resources.ranks",
      "resources.ranks: inference jobs have shards, not ranks" },
    { "kind: inference\ncommand: [x]\nresources: {ranks: 1, shards: 2}\n", "resources.ranks",
      "resources.ranks: inference jobs have shards, not ranks" },
    { "command: [x]\nresources: {shards: 2}\n", "resources.shards",
      "resources.shards: only inference jobs have shards; a command job has ranks" },
    { "kind: finetune\ncommand: [x]\nresources: {shards: 2}\n", "resources.shards",
      "resources.shards: only inference jobs have shards; a finetune job has ranks" },
    { "kind: inference\ncommand: [x]\nresources: {shards: 0}\n", "resources.shards",
      "resources.shards: must be an integer between 1 and 1024, got 0" },
    { "kind: inference\ncommand: [x]\nresources: {shards: 1025}\n", "resources.shards",
      "resources.shards: must be an integer between 1 and 1024, got 1025" },
    { "command: [x]\nresources: {gpu_types: [H100]}\n", "resources.gpu_types",
      "resources.gpu_types: only meaningful when resources.gpus_per_rank is above 0" },
    { "command: [x]\nresources: {gpus_per_rank: 1, gpu_types: []}\n", "resources.gpu_types",
      "resources.gpu_types: must be a list of 1 to 8 GPU type names, got a list" },
    { "command: [x]\nresources: {gpus_per_rank: 1, gpu_types: H100}\n", "resources.gpu_types",
      "resources.gpu_types: must be a list of 1 to 8 GPU type names, got \"H100\"" },
    { "command: [x]\nresources: {gpus_per_rank: 1, gpu_types: [a, b, c, d, e, f, g, h, i]}\n", "resources.gpu_types",
      "resources.gpu_types: must be a list of 1 to 8" },
    { "command: [x]\nresources: {gpus_per_rank: 1, gpu_types: [H100, \"A 100\"]}\n", "resources.gpu_types[1]",
      "resources.gpu_types[1]: must be 1 to 64 characters of letters, digits, '.', '_' or '-', got \"A 100\"" },
    { "command: [x]\nresources: {gpus_per_rank: 1, gpu_types: [H100, 5]}\n", "resources.gpu_types[1]",
      "resources.gpu_types[1]: must be 1 to 64 characters" },
    { "command: [x]\nresources: {gpus_per_rank: 1, gpu_types: [H100, A100, H100]}\n", "resources.gpu_types[2]",
      "resources.gpu_types[2]: \"H100\" is listed twice" },
    { "command: [x]\nplacement: {sites: [onprem, moon]}\n", "placement.sites[1]",
      "placement.sites[1]: must be one of onprem, private_cloud, public_cloud, edge, got \"moon\"" },
    { "command: [x]\nplacement: {sites: [edge, edge]}\n", "placement.sites[1]",
      "placement.sites[1]: \"edge\" is listed twice" },
    { "command: [x]\nplacement: {sites: []}\n", "placement.sites", "placement.sites: must be a list of site kinds" },
    { "command: [x]\nplacement: {sites: edge}\n", "placement.sites",
      "placement.sites: must be a list of site kinds (onprem, private_cloud, public_cloud, edge), got \"edge\"" },
    { "command: [x]\nplacement: {near: EU-West}\n", "placement.near",
      "placement.near: must be 1 to 64 characters of lower-case letters, digits or '-', got \"EU-West\"" },
    { "command: [x]\nplacement: {near: eu_west}\n", "placement.near", "placement.near: must be 1 to 64 characters" },
    { "command: [x]\nplacement: {max_latency_ms: 20}\n", "placement.max_latency_ms",
      "placement.max_latency_ms: needs placement.near" },
    { "command: [x]\nplacement: {near: eu, max_latency_ms: 0}\n", "placement.max_latency_ms",
      "placement.max_latency_ms: must be an integer between 1 and 100000, got 0" },
    { "command: [x]\nplacement: {near: eu, max_latency_ms: 100001}\n", "placement.max_latency_ms",
      "placement.max_latency_ms: must be an integer between 1 and 100000, got 100001" },
    { "command: [x]\nplacement: {prefer: speed}\n", "placement.prefer",
      "placement.prefer: must be one of cost, latency, energy, balanced, got \"speed\"" },
    { "command: [x]\nplacement: {prefer: cost, weights: {cost: 1}}\n", "placement.weights",
      "placement.weights: give either placement.prefer or placement.weights, not both" },
    { "command: [x]\nplacement: {weights: {}}\n", "placement.weights",
      "placement.weights: at least one weight must be above 0" },
    { "command: [x]\nplacement: {weights: {cost: 0, carbon: 0.0000001}}\n", "placement.weights",
      "placement.weights: at least one weight must be above 0" },
    { "command: [x]\nplacement: {weights: {cost: -1}}\n", "placement.weights.cost",
      "placement.weights.cost: must be a number between 0 and 1000, got -1" },
    { "command: [x]\nplacement: {weights: {carbon: high}}\n", "placement.weights.carbon",
      "placement.weights.carbon: must be a number between 0 and 1000, got \"high\"" },
    { "command: [x]\nplacement: {weights: {energy: 1000.5}}\n", "placement.weights.energy",
      "placement.weights.energy: must be a number between 0 and 1000, got 1000.5" },
    { "command: [x]\nplacement: {weights: [1]}\n", "placement.weights",
      "placement.weights: must be a mapping, got a list" },
    { "command: [x]\ndata: s3://x\n", "data", "data: must be a mapping, got \"s3://x\"" },
    { "command: [x]\ndata: {uri: \"\"}\n", "data.uri",
      "data.uri: must be a string of 1 to 4096 bytes without control characters, got \"\"" },
    { "command: [x]\ndata: {uri: \"a\\nb\"}\n", "data.uri",
      "data.uri: must be a string of 1 to 4096 bytes without control characters" },
    { "command: [x]\ndata: {classification: secret}\n", "data.classification",
      "data.classification: must be one of public, internal, confidential, restricted, got \"secret\"" },
    { "command: [x]\ndata: {residency: EU}\n", "data.residency",
      "data.residency: must be a list of at most 64 jurisdiction codes, got \"EU\"" },
    { "command: [x]\ndata: {residency: [EU, eu]}\n", "data.residency[1]",
      "data.residency[1]: must be 1 to 16 characters of upper-case letters, digits or '-' (e.g. EU), got \"eu\"" },
    { "command: [x]\ndata: {residency: [EU, US, EU]}\n", "data.residency[2]",
      "data.residency[2]: \"EU\" is listed twice" },
    { "command: [x]\nmodel: \"llama 3\"\n", "model",
      "model: must be 1 to 128 characters of letters, digits, '.', '_', '/' or '-' (a model family" },
    { "command: [x]\nmodel: [auto]\n", "model", "model: must be 1 to 128 characters" },
    { "command: [x]\nmodel: \"acme:0\"\n", "model", "model: must be 1 to 128 characters" },
    { "command: [x]\nmodel: \"acme:01\"\n", "model", "model: must be 1 to 128 characters" },
    { "command: [x]\nmodel: \"acme:\"\n", "model", "model: must be 1 to 128 characters" },
    { "command: [x]\nmodel: \"acme:v2\"\n", "model", "model: must be 1 to 128 characters" },
    { "command: [x]\nmodel: \"acme:1:2\"\n", "model", "model: must be 1 to 128 characters" },
    { "command: [x]\nmodel: \"acme:1234567890\"\n", "model", "model: must be 1 to 128 characters" },
    { "command: [x]\nmodel: \":3\"\n", "model", "model: must be 1 to 128 characters" },
    { "command: [x]\nmodel: \"auto:1\"\n", "model", "model: must be 1 to 128 characters" },
    { "command: [x]\ndepends_on: 12\n", "depends_on", "depends_on: must be a list of at most 32 job ids, got 12" },
    { "command: [x]\ndepends_on: {a: 1}\n", "depends_on",
      "depends_on: must be a list of at most 32 job ids, got a mapping" },
    { "command: [x]\ndepends_on: [0]\n", "depends_on[0]",
      "depends_on[0]: must be a job id (a positive integer), got 0" },
    { "command: [x]\ndepends_on: [4, -2]\n", "depends_on[1]",
      "depends_on[1]: must be a job id (a positive integer), got -2" },
    { "command: [x]\ndepends_on: [\"12\"]\n", "depends_on[0]",
      "depends_on[0]: must be a job id (a positive integer), got \"12\"" },
    { "command: [x]\ndepends_on: [1.5]\n", "depends_on[0]",
      "depends_on[0]: must be a job id (a positive integer), got 1.5" },
    { "command: [x]\ndepends_on: [3, 4, 3]\n", "depends_on[2]", "depends_on[2]: job 3 is listed twice" },
    { "command: [x]\nlauncher: pbs\n", "launcher", "launcher: must be one of auto, mpirun, direct, got \"pbs\"" },
    { "command: [x]\nlauncher: true\n", "launcher", "launcher: must be one of auto, mpirun, direct, got true" },
    { "kind: inference\ncommand: [x]\nlauncher: mpirun\n", "launcher",
      "launcher: mpirun starts the ranks of a gang" },
    { "command: [x]\noutput_model: acme\n", "output_model",
      "output_model: only a finetune job registers a model version (this job's kind is command)" },
    { "kind: inference\ncommand: [x]\noutput_model: acme\n", "output_model", "output_model: only a finetune job" },
    { "kind: finetune\ncommand: [x]\noutput_model: \"a b\"\n", "output_model",
      "output_model: must be 1 to 128 characters of letters, digits, '.', '_', '/' or '-', got \"a b\"" },
    { "kind: finetune\ncommand: [x]\noutput_model: \"acme:2\"\n", "output_model",
      "output_model: must be 1 to 128 characters" },
    { "kind: finetune\ncommand: [x]\noutput_model: [acme]\n", "output_model",
      "output_model: must be 1 to 128 characters" },
    { "kind: finetune\ncommand: [x]\noutput_model: auto\n", "output_model", "output_model: \"auto\" is reserved" },
    { "command: [x]\ncheckpoint_dir: ckpt\n", "checkpoint_dir",
      "checkpoint_dir: must be an absolute path (starting with /), got \"ckpt\"" },
    { "command: [x]\nsimulate: 30s\n", "simulate", "simulate: must be a mapping, got \"30s\"" },
    { "command: [x]\nsimulate: {}\n", "simulate.duration", "simulate.duration: required field is missing" },
    { "command: [x]\nsimulate: {duration: 0}\n", "simulate.duration",
      "simulate.duration: must be seconds or a duration like" },
    { "command: [x]\nsimulate: {duration: 31d}\n", "simulate.duration",
      "simulate.duration: must be seconds or a duration like" },
    { "command: [x]\nsimulate: {duration: soon}\n", "simulate.duration",
      "simulate.duration: must be seconds or a duration like" },
    { "command: [x]\nsimulate: {duration: -5}\n", "simulate.duration",
      "simulate.duration: must be seconds or a duration like" },
};

/*  Parameters travel to the test process by value, so they are indices into
 *  bad_cases rather than pointers (the test runs in a freshly exec'd process).  */
#define N_BAD_CASES (sizeof bad_cases / sizeof bad_cases[0])

ParameterizedTestParameters (spec, bad_values_name_the_field)
{
    static size_t indices[N_BAD_CASES];
    for (size_t i = 0; i < N_BAD_CASES; i++)
        indices[i] = i;
    return cr_make_param_array (size_t, indices, N_BAD_CASES);
}

ParameterizedTest (size_t *index, spec, bad_values_name_the_field)
{
    const bad_case_t *c = &bad_cases[*index];
    st_error_t err = parse_fail (c->yaml);
    cr_assert_eq (err.rc, ST_EINVAL);
    cr_assert_str_eq (err.field, c->field, "for <<%s>>: field %s, msg %s", c->yaml, err.field, err.msg);
    cr_assert (strncmp (err.msg, c->msg, strlen (c->msg)) == 0, "for <<%s>>: got msg <<%s>>, expected <<%s...>>",
               c->yaml, err.msg, c->msg);
}

Test (spec, string_command_gets_a_hint)
{
    st_error_t err = parse_fail ("command: python train.py\n");
    cr_assert (strstr (err.hint, "[sh, -c"), "%s", err.hint);
}

Test (spec, long_values_are_shortened_in_messages)
{
    char text[600];
    snprintf (text, sizeof text, "command: [x]\ntenant: \"%0200d\"\n", 0);
    st_error_t err = parse_fail (text);
    cr_assert (strstr (err.msg, "got \"000000000000000000000000000000000000000000000000...\""), "%s", err.msg);
    cr_assert_lt (strlen (err.msg), 200);
}

/*  depends_on, launcher and output_model: parsed, resolved and written back.  */
Test (spec, depends_on_launcher_and_output_model)
{
    st_spec_t *s = parse_ok ("kind: finetune\ncommand: [x]\ndepends_on: [12, 7, 300]\noutput_model: acme/twin-1.0\n"
                             "model: llama-3\n");
    cr_assert_eq (s->ndepends_on, 3);
    cr_assert_eq (s->depends_on[0], 12, "in the spec's order");
    cr_assert_eq (s->depends_on[1], 7);
    cr_assert_eq (s->depends_on[2], 300);
    cr_assert_str_eq (s->output_model, "acme/twin-1.0");
    cr_assert_eq (s->launcher, ST_LAUNCHER_MPIRUN, "auto means mpirun for a finetune job");
    char *json = st_spec_to_json (s);
    cr_assert (strstr (json, "\"depends_on\":[12,7,300],"), "%s", json);
    cr_assert (strstr (json, "\"launcher\":\"mpirun\","), "auto is never written back: %s", json);
    cr_assert (strstr (json, "\"output_model\":\"acme/twin-1.0\","), "%s", json);
    free (json);
    assert_round_trip (s);
    st_spec_destroy (&s);

    /*  32 ids are fine, 33 are not; an empty list is no list.  */
    char text[512];
    size_t used = (size_t) snprintf (text, sizeof text, "command: [x]\ndepends_on: [1");
    for (int i = 2; i <= 32; i++)
        used += (size_t) snprintf (text + used, sizeof text - used, ", %d", i);
    snprintf (text + used, sizeof text - used, "]\n");
    s = parse_ok (text);
    cr_assert_eq (s->ndepends_on, 32);
    assert_round_trip (s);
    st_spec_destroy (&s);
    snprintf (text + used, sizeof text - used, ", 33]\n");
    st_error_t err = parse_fail (text);
    cr_assert_str_eq (err.field, "depends_on");
    s = parse_ok ("command: [x]\ndepends_on: []\nlauncher: ~\noutput_model: ~\n");
    cr_assert_eq (s->ndepends_on, 0);
    cr_assert_null (s->depends_on);
    cr_assert_null (s->output_model);
    cr_assert_eq (s->launcher, ST_LAUNCHER_DIRECT);
    st_spec_destroy (&s);
}

Test (spec, launcher_auto_follows_the_kind_and_gpus)
{
    static const struct {
        const char *yaml;
        st_launcher_t want;
    } cases[] = {
        { "kind: finetune\ncommand: [x]\n", ST_LAUNCHER_MPIRUN },
        { "kind: finetune\ncommand: [x]\nlauncher: auto\n", ST_LAUNCHER_MPIRUN },
        { "kind: finetune\ncommand: [x]\nlauncher: direct\n", ST_LAUNCHER_DIRECT },
        /*  a GPU fine-tune starts rank by rank (NCCL through the rendezvous)  */
        { "kind: finetune\ncommand: [x]\nresources: {gpus_per_rank: 1}\n", ST_LAUNCHER_DIRECT },
        { "kind: finetune\ncommand: [x]\nresources: {gpus_per_rank: 1}\nlauncher: mpirun\n", ST_LAUNCHER_MPIRUN },
        { "kind: command\ncommand: [x]\n", ST_LAUNCHER_DIRECT },
        { "kind: command\ncommand: [x]\nresources: {ranks: 4}\nlauncher: mpirun\n", ST_LAUNCHER_MPIRUN },
        { "kind: inference\ncommand: [x]\n", ST_LAUNCHER_DIRECT },
        { "kind: inference\ncommand: [x]\nlauncher: direct\n", ST_LAUNCHER_DIRECT },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st_spec_t *s = parse_ok (cases[i].yaml);
        cr_assert_eq (s->launcher, cases[i].want, "%s", cases[i].yaml);
        assert_round_trip (s);
        st_spec_destroy (&s);
    }
}

Test (spec, model_name_with_a_version)
{
    st_spec_t *s = parse_ok ("command: [x]\nmodel: \"acme-twin:12\"\n");
    cr_assert_str_eq (s->model, "acme-twin", "the name alone");
    cr_assert_eq (s->model_version, 12);
    char *json = st_spec_to_json (s);
    cr_assert (strstr (json, "\"model\":\"acme-twin:12\""), "%s", json);
    free (json);
    assert_round_trip (s);
    st_spec_destroy (&s);
    s = parse_ok ("command: [x]\nmodel: \"org/m:999999999\"\n");
    cr_assert_str_eq (s->model, "org/m");
    cr_assert_eq (s->model_version, 999999999);
    st_spec_destroy (&s);
    s = parse_ok ("command: [x]\nmodel: acme-twin\n");
    cr_assert_eq (s->model_version, 0, "no version: the latest, or a family of the cluster");
    assert_round_trip (s);
    st_spec_destroy (&s);
}

Test (spec, size_limits_of_lists)
{
    /*  257 arguments, 129 variables, 33 labels, one 4097-byte argument.  */
    size_t size = 64 * 1024;
    char *text = malloc (size);
    size_t used = (size_t) snprintf (text, size, "command: [x");
    for (int i = 0; i < 256; i++)
        used += (size_t) snprintf (text + used, size - used, ", a");
    snprintf (text + used, size - used, "]\n");
    st_error_t err = parse_fail (text);
    cr_assert_str_eq (err.field, "command");

    used = (size_t) snprintf (text, size, "command: [x]\nenv:\n");
    for (int i = 0; i < 129; i++)
        used += (size_t) snprintf (text + used, size - used, "  V%d: x\n", i);
    err = parse_fail (text);
    cr_assert_str_eq (err.field, "env");
    cr_assert_str_eq (err.msg, "env: must be a mapping of at most 128 entries, got 129");

    used = (size_t) snprintf (text, size, "command: [x]\nplacement:\n  labels:\n");
    for (int i = 0; i < 33; i++)
        used += (size_t) snprintf (text + used, size - used, "    l%d: x\n", i);
    err = parse_fail (text);
    cr_assert_str_eq (err.field, "placement.labels");

    used = (size_t) snprintf (text, size, "command: [x, \"");
    memset (text + used, 'a', 4097);
    snprintf (text + used + 4097, size - used - 4097, "\"]\n");
    err = parse_fail (text);
    cr_assert_str_eq (err.field, "command[1]");
    text[used + 4096] = '"';
    snprintf (text + used + 4097, size - used - 4097, "]\n");
    st_spec_t *s = parse_ok (text);
    cr_assert_eq (strlen (s->argv[1]), 4096);
    st_spec_destroy (&s);
    free (text);
}

Test (spec, unknown_fields_at_every_level)
{
    st_error_t err = parse_fail ("command: [x]\ncomand: [y]\n");
    cr_assert_str_eq (err.field, "comand");
    cr_assert_str_eq (err.msg, "unknown field \"comand\"");
    cr_assert_str_eq (err.hint, "allowed fields here: kind, name, tenant, queue, priority, preemptible, command, "
                                "env, workdir, resources, placement, data, model, checkpoint_dir, simulate, "
                                "time_limit, retries, depends_on, launcher, output_model");

    err = parse_fail ("command: [x]\nresources: {cpu: 2}\n");
    cr_assert_str_eq (err.field, "resources.cpu");
    cr_assert_str_eq (err.msg, "unknown field \"resources.cpu\"");
    cr_assert_str_eq (err.hint, "allowed fields here: ranks, shards, cpus_per_rank, mem_per_rank, gpus_per_rank, "
                                "gpu_types");

    err = parse_fail ("command: [x]\nplacement: {zone: eu}\n");
    cr_assert_str_eq (err.field, "placement.zone");
    cr_assert_str_eq (err.msg, "unknown field \"placement.zone\"");
    cr_assert_str_eq (err.hint, "allowed fields here: pool, labels, sites, near, max_latency_ms, prefer, weights");

    err = parse_fail ("command: [x]\nplacement: {weights: {speed: 1}}\n");
    cr_assert_str_eq (err.field, "placement.weights.speed");
    cr_assert_str_eq (err.hint, "allowed fields here: cost, latency, energy, carbon, packing");
    err = parse_fail ("command: [x]\ndata: {owner: me}\n");
    cr_assert_str_eq (err.field, "data.owner");
    cr_assert_str_eq (err.hint, "allowed fields here: uri, classification, residency");
    err = parse_fail ("command: [x]\nsimulate: {duration: 1s, exit: 1}\n");
    cr_assert_str_eq (err.field, "simulate.exit");

    /*  Unknown fields are found even when another field is also wrong.  */
    err = parse_fail ("priority: 5000\nbogus: 1\ncommand: [x]\n");
    cr_assert_str_eq (err.field, "bogus");
}

Test (spec, top_level_must_be_a_mapping)
{
    st_error_t err = parse_fail ("- a\n- b\n");
    cr_assert_str_eq (err.msg, "the spec must be a mapping of fields, got a list");
    err = parse_fail ("just a string\n");
    cr_assert_str_eq (err.msg, "the spec must be a mapping of fields, got \"just a string\"");
    err = parse_fail ("");
    cr_assert_str_eq (err.msg, "the spec is empty");
    err = parse_fail ("# nothing\n");
    cr_assert_str_eq (err.msg, "the spec is empty");
    st_spec_t *s = st_spec_from_json (NULL, &err);
    cr_assert_null (s);
}

Test (spec, bad_documents_are_refused)
{
    st_error_t err = parse_fail ("command: [x]\ncommand: [y]\n");
    cr_assert_str_eq (err.field, "command");
    cr_assert (strstr (err.msg, "duplicate key"), "%s", err.msg);
    err = parse_fail ("command: [x]\n---\ncommand: [y]\n");
    cr_assert (strstr (err.msg, "more than one document"), "%s", err.msg);
    err = parse_fail ("{\"command\": [\"x\"], \"command\": [\"y\"]}");
    cr_assert (strstr (err.msg, "duplicate"), "%s", err.msg);
    cr_assert_null (st_spec_parse ("command: [x]\0\x01\x02", 15, &err));
    cr_assert (strstr (err.msg, "NUL byte"), "%s", err.msg);
    err = parse_fail ("command: [x\n");
    cr_assert (strncmp (err.msg, "line ", 5) == 0, "%s", err.msg);

    size_t big = ST_DOC_MAX_BYTES + 1;
    char *text = malloc (big + 1);
    memset (text, ' ', big);
    memcpy (text, "command: [x]\n#", 14);
    text[big] = '\0';
    st_spec_t *s = st_spec_parse (text, big, &err);
    cr_assert_null (s);
    cr_assert_eq (err.rc, ST_ETOOBIG);
    free (text);

    /*  Random bytes never crash the parser and never pass.  */
    srand (42);
    for (int round = 0; round < 200; round++) {
        char noise[256];
        for (size_t i = 0; i < sizeof noise; i++)
            noise[i] = (char) (rand () & 0xff);
        s = st_spec_parse (noise, sizeof noise, &err);
        cr_assert_null (s);
    }
}

static const char *placement_yaml =
    "kind: finetune\n"
    "preemptible: true\n"
    "command: [python3, train.py]\n"
    "resources: {ranks: 4, gpus_per_rank: 2, gpu_types: [H100, A100]}\n"
    "placement:\n"
    "  sites: [onprem, private_cloud]\n"
    "  near: eu-west\n"
    "  max_latency_ms: 25\n"
    "  weights: {cost: 2, carbon: 0.5}\n"
    "data: {uri: \"s3://corp/tickets\", classification: confidential, residency: [EU, CH]}\n"
    "model: llama-3\n"
    "checkpoint_dir: /ckpt/llama\n"
    "simulate: {duration: 1500ms}\n";

Test (spec, placement_fields)
{
    st_spec_t *s = parse_ok (placement_yaml);
    cr_assert_eq (s->preemptible, 1);
    cr_assert_eq (s->gang, 1);
    cr_assert_eq (s->ranks, 4);
    cr_assert_eq (s->ngpu_types, 2);
    cr_assert_str_eq (s->gpu_types[0], "H100");
    cr_assert_str_eq (s->gpu_types[1], "A100");
    cr_assert_null (s->gpu_types[2]);
    cr_assert_eq (s->nsites, 2);
    cr_assert_str_eq (st_site_name (s->sites[1]), "private_cloud");
    cr_assert_eq (s->sites[2], ST_SITE__COUNT);
    cr_assert_str_eq (s->near, "eu-west");
    cr_assert_eq (s->max_latency_ms, 25);
    cr_assert_null (s->prefer);
    cr_assert_eq (s->has_weights, 1);
    cr_assert_eq (s->weights.cost, 2.0);
    cr_assert_eq (s->weights.carbon, 0.5);
    cr_assert_eq (s->weights.latency, 0.0);
    cr_assert_eq (s->weights.energy, 0.0);
    cr_assert_eq (s->weights.packing, 0.0);
    cr_assert_str_eq (s->data_uri, "s3://corp/tickets");
    cr_assert_str_eq (st_class_name (s->classification), "confidential");
    cr_assert_eq (s->nresidency, 2);
    cr_assert_str_eq (s->residency[0], "EU");
    cr_assert_str_eq (s->residency[1], "CH");
    cr_assert_null (s->residency[2]);
    cr_assert_str_eq (s->model, "llama-3");
    cr_assert_str_eq (s->checkpoint_dir, "/ckpt/llama");
    cr_assert_eq (s->simulate_ms, 1500);
    char *json = st_spec_to_json (s);
    cr_assert (strstr (json, "\"weights\":{\"carbon\":0.5,\"cost\":2,\"energy\":0,\"latency\":0,\"packing\":0}"),
               "%s", json);
    cr_assert (strstr (json, "\"prefer\":null"), "%s", json);
    cr_assert (strstr (json, "\"simulate\":{\"duration\":\"1500ms\"}"), "%s", json);
    cr_assert (strstr (json, "\"data\":{\"classification\":\"confidential\",\"residency\":[\"EU\",\"CH\"],"
                             "\"uri\":\"s3://corp/tickets\"}"),
               "%s", json);
    free (json);
    assert_round_trip (s);
    st_spec_destroy (&s);
}

Test (spec, placement_defaults)
{
    st_spec_t *s = parse_ok ("command: [x]\n");
    cr_assert_eq (s->preemptible, 0);
    cr_assert_eq (s->gang, 1);
    cr_assert_null (s->gpu_types);
    cr_assert_eq (s->ngpu_types, 0);
    cr_assert_null (s->sites);
    cr_assert_null (s->near);
    cr_assert_eq (s->max_latency_ms, 0);
    cr_assert_str_eq (s->prefer, "balanced");
    cr_assert_eq (s->has_weights, 0);
    cr_assert_null (s->data_uri);
    cr_assert_str_eq (st_class_name (s->classification), "public");
    cr_assert_null (s->residency);
    cr_assert_null (s->model);
    cr_assert_null (s->checkpoint_dir);
    cr_assert_eq (s->simulate_ms, 0);
    st_spec_destroy (&s);
    /*  Mappings given but empty, and nulls, mean the same.  */
    s = parse_ok ("command: [x]\nplacement: {prefer: ~, sites: ~, near: ~, weights: ~}\ndata: {}\nmodel: ~\n"
                  "simulate: ~\ncheckpoint_dir: ~\npreemptible: ~\nresources: {gpu_types: ~}\n");
    cr_assert_str_eq (s->prefer, "balanced");
    cr_assert_str_eq (st_class_name (s->classification), "public");
    cr_assert_null (s->gpu_types);
    st_spec_destroy (&s);
    /*  An empty residency is "anywhere", the same as none.  */
    s = parse_ok ("command: [x]\ndata: {residency: []}\n");
    cr_assert_null (s->residency);
    cr_assert_eq (s->nresidency, 0);
    assert_round_trip (s);
    st_spec_destroy (&s);
}

Test (spec, shards_for_inference_ranks_for_gangs)
{
    st_spec_t *s = parse_ok ("kind: inference\ncommand: [x]\nresources: {shards: 16}\n");
    cr_assert_eq (s->ranks, 16);
    cr_assert_eq (s->gang, 0);
    char *json = st_spec_to_json (s);
    cr_assert (strstr (json, "\"shards\":16"), "%s", json);
    cr_assert_null (strstr (json, "\"ranks\""), "%s", json);
    free (json);
    assert_round_trip (s);
    st_spec_destroy (&s);

    s = parse_ok ("kind: inference\ncommand: [x]\n");
    cr_assert_eq (s->ranks, 1);
    cr_assert_eq (s->gang, 0);
    st_spec_destroy (&s);

    /*  Specs stored by earlier versions carry ranks: 1 for every kind.  */
    s = parse_ok ("{\"kind\":\"inference\",\"command\":[\"x\"],\"resources\":{\"ranks\":1}}");
    cr_assert_eq (s->ranks, 1);
    cr_assert_eq (s->gang, 0);
    st_spec_destroy (&s);

    st_error_t err = parse_fail ("kind: inference\ncommand: [x]\nresources: {ranks: 2}\n");
    cr_assert (strstr (err.hint, "resources.shards"), "%s", err.hint);

    static const char *const gangs[] = { "command", "finetune" };
    for (size_t i = 0; i < 2; i++) {
        char text[96];
        snprintf (text, sizeof text, "kind: %s\ncommand: [x]\nresources: {ranks: 3}\n", gangs[i]);
        s = parse_ok (text);
        cr_assert_eq (s->ranks, 3);
        cr_assert_eq (s->gang, 1);
        st_spec_destroy (&s);
    }
}

Test (spec, prefer_presets)
{
    static const char *const prefers[] = { "cost", "latency", "energy", "balanced" };
    for (size_t i = 0; i < 4; i++) {
        char text[96];
        snprintf (text, sizeof text, "command: [x]\nplacement: {prefer: %s}\n", prefers[i]);
        st_spec_t *s = parse_ok (text);
        cr_assert_str_eq (s->prefer, prefers[i]);
        cr_assert_eq (s->has_weights, 0);
        assert_round_trip (s);
        st_spec_destroy (&s);
    }
}

Test (spec, weights_keep_six_decimals_and_round_trip)
{
    st_spec_t *s = parse_ok ("command: [x]\nplacement: {weights: {cost: 0.1234567, latency: 999.9999994, "
                             "energy: 1000, carbon: 0.000001, packing: 1e-7}}\n");
    cr_assert_eq (s->weights.cost, 0.123457);
    cr_assert_eq (s->weights.latency, 999.999999);
    cr_assert_eq (s->weights.energy, 1000.0);
    cr_assert_eq (s->weights.carbon, 0.000001);
    cr_assert_eq (s->weights.packing, 0.0);
    assert_round_trip (s);
    st_spec_destroy (&s);
    /*  Every 6-decimal value reads back exactly from the canonical text.  */
    s = parse_ok ("command: [x]\nplacement: {weights: {cost: 1}}\n");
    for (int64_t micro = 1; micro <= 1000000000; micro += micro < 2000 ? 1 : 999983) {
        s->weights.cost = (double) micro / 1e6;
        char *json = st_spec_to_json (s);
        st_error_t err;
        st_spec_t *again = parse (json, &err);
        cr_assert_not_null (again, "%s", err.msg);
        cr_assert_eq (again->weights.cost, s->weights.cost, "%lld: %s", (long long) micro, json);
        free (json);
        st_spec_destroy (&again);
    }
    st_spec_destroy (&s);
}

Test (spec, simulate_durations)
{
    static const struct {
        const char *text;
        uint64_t ms;
        const char *canonical;
    } cases[] = {
        { "30", 30000, "{\"duration\":30}" },
        { "30s", 30000, "{\"duration\":30}" },
        { "\"45\"", 45000, "{\"duration\":45}" },
        { "1ms", 1, "{\"duration\":\"1ms\"}" },
        { "2.5s", 2500, "{\"duration\":\"2500ms\"}" },
        { "1h30m", 5400000, "{\"duration\":5400}" },
        { "30d", 2592000000ull, "{\"duration\":2592000}" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[96];
        snprintf (text, sizeof text, "command: [x]\nsimulate: {duration: %s}\n", cases[i].text);
        st_spec_t *s = parse_ok (text);
        cr_assert_eq (s->simulate_ms, cases[i].ms, "%s gave %llu", cases[i].text,
                      (unsigned long long) s->simulate_ms);
        char *json = st_spec_to_json (s);
        char want[96];
        snprintf (want, sizeof want, "\"simulate\":%s", cases[i].canonical);
        cr_assert (strstr (json, want), "%s: %s", cases[i].text, json);
        free (json);
        assert_round_trip (s);
        st_spec_destroy (&s);
    }
}

Test (spec, words_take_their_whole_alphabet)
{
    st_spec_t *s = parse_ok ("command: [x]\nmodel: org/Llama-3.1_8B\nplacement: {near: ap-south-1}\n"
                             "data: {residency: [EU, US-CA, \"9\"], uri: \"file:///data/x y\"}\n"
                             "resources: {gpus_per_rank: 1, gpu_types: [nvidia.H100_80GB-sxm]}\n");
    cr_assert_str_eq (s->model, "org/Llama-3.1_8B");
    cr_assert_str_eq (s->near, "ap-south-1");
    cr_assert_str_eq (s->residency[1], "US-CA");
    cr_assert_str_eq (s->gpu_types[0], "nvidia.H100_80GB-sxm");
    assert_round_trip (s);
    st_spec_destroy (&s);
    s = parse_ok ("command: [x]\nmodel: auto\nplacement: {sites: [onprem, private_cloud, public_cloud, edge]}\n");
    cr_assert_eq (s->nsites, 4);
    st_spec_destroy (&s);
}

Test (spec, round_trip_is_exact)
{
    static const char *const specs[] = {
        "command: [echo, hi]\n",
        NULL, /*  full_yaml  */
        "command: [x, \"quote\\\"d\", \"uni \xc3\xa9\"]\nenv: {EMPTY: \"\"}\nplacement: {labels: {a/b: \"\"}}\n",
        "command: [x]\nresources: {cpus_per_rank: 0.001, mem_per_rank: 16T, ranks: 1024, gpus_per_rank: 64}\n"
        "priority: -1000\nretries: 100\ntime_limit: 30d\n",
        "kind: inference\ncommand: [x]\nresources: {shards: 1024, gpus_per_rank: 1, gpu_types: [L4]}\n"
        "placement: {prefer: energy, sites: [edge]}\ndata: {classification: restricted}\nmodel: auto\n",
        "command: [x]\nplacement: {weights: {packing: 0.000001}}\nsimulate: {duration: 1ms}\n",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        st_spec_t *s = parse_ok (specs[i] ? specs[i] : full_yaml);
        assert_round_trip (s);
        st_spec_destroy (&s);
    }
}

Test (spec, round_trip_of_every_cpu_value_class)
{
    st_spec_t *s = parse_ok ("command: [x]\n");
    for (uint32_t milli = 1; milli <= 1024000; milli += milli < 3000 ? 1 : 997) {
        s->cpus_milli = milli;
        char *json = st_spec_to_json (s);
        st_error_t err;
        st_spec_t *again = parse (json, &err);
        cr_assert_not_null (again, "%u: %s", milli, err.msg);
        cr_assert_eq (again->cpus_milli, milli, "%u came back as %u (%s)", milli, again->cpus_milli, json);
        free (json);
        st_spec_destroy (&again);
    }
    s->cpus_milli = 1024000;
    assert_round_trip (s);
    st_spec_destroy (&s);
}

Test (spec, from_json_does_not_steal_the_root)
{
    json_t *root = json_pack ("{s:[s]}", "command", "true");
    st_error_t err;
    st_spec_t *s = st_spec_from_json (root, &err);
    cr_assert_not_null (s);
    cr_assert_eq (root->refcount, 1);
    json_decref (root);
    st_spec_destroy (&s);
    st_spec_destroy (&s); /*  NULL-safe  */
    st_spec_destroy (NULL);
    cr_assert_null (st_spec_to_json (NULL));
}

Test (spec, kv_helpers)
{
    st_kv_t kv = { 0 };
    cr_assert_null (st_kv_get (&kv, "a"));
    cr_assert_eq (st_kv_add (&kv, "a", "1"), 0);
    cr_assert_eq (st_kv_add (&kv, "b", "2"), 0);
    cr_assert_eq (st_kv_add (&kv, "list-item", NULL), 0);
    cr_assert_eq (kv.n, 3);
    cr_assert_str_eq (st_kv_get (&kv, "a"), "1");
    cr_assert_str_eq (st_kv_get (&kv, "b"), "2");
    cr_assert_null (st_kv_get (&kv, "list-item"));
    cr_assert_null (st_kv_get (&kv, "c"));
    cr_assert_eq (st_kv_add (NULL, "a", "1"), -1);
    cr_assert_eq (st_kv_add (&kv, NULL, "1"), -1);
    st_kv_free (&kv);
    cr_assert_eq (kv.n, 0);
    cr_assert_null (kv.keys);
    st_kv_free (&kv);
    st_kv_free (NULL);
}

/*  Every job spec in examples/ is valid and round-trips (cluster descriptions
 *  there are not job specs).  */
Test (spec, the_examples_are_valid)
{
    const char *src = getenv ("STRATA_SOURCE_DIR");
    if (!src)
        cr_skip_test ("STRATA_SOURCE_DIR is not set (ctest sets it)");
    static const char *const patterns[] = { "%s/examples/*.yaml", "%s/examples/*.json" };
    size_t checked = 0;
    for (size_t p = 0; p < 2; p++) {
        char pattern[4096];
        glob_t g;
        snprintf (pattern, sizeof pattern, patterns[p], src);
        if (glob (pattern, 0, NULL, &g) != 0)
            continue;
        for (size_t i = 0; i < g.gl_pathc; i++) {
            const char *base = strrchr (g.gl_pathv[i], '/') + 1;
            if (strncmp (base, "cluster", 7) == 0)
                continue;
            st_error_t err;
            json_t *root = st_doc_load (g.gl_pathv[i], &err);
            cr_assert_not_null (root, "%s: %s", base, err.msg);
            st_spec_t *spec = st_spec_from_json (root, &err);
            cr_assert_not_null (spec, "%s: %s", base, err.msg);
            assert_round_trip (spec);
            st_spec_destroy (&spec);
            json_decref (root);
            checked++;
        }
        globfree (&g);
    }
    cr_assert_geq (checked, 4);
}
