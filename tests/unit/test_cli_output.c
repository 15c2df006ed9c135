/*  test_cli_output.c: what `strata` prints: tables, formats, JSON.  */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

/*  Runs fn into a memory stream and returns what it wrote (caller frees).  */
#define CAPTURE(text, call)                              \
    do {                                                 \
        size_t cap_len_ = 0;                             \
        FILE *out = open_memstream (&(text), &cap_len_); \
        cr_assert_not_null (out);                        \
        cr_assert_eq ((call), 0);                        \
        fclose (out);                                    \
    } while (0)

Test (table, columns_are_as_wide_as_their_widest_cell)
{
    static const char *const heads[] = { "ID", "NAME", "STATE" };
    cli_table_t *t = cli_table_new (3, heads);
    cr_assert_not_null (t);
    cli_table_align_right (t, 0);
    const char *r1[] = { "7", "hello", "RUNNING" };
    const char *r2[] = { "1234", "x", "PENDING" };
    cr_assert_eq (cli_table_add (t, r1), 0);
    cr_assert_eq (cli_table_add (t, r2), 0);
    char *text = cli_table_render (t);
    cr_assert_str_eq (text, "  ID  NAME   STATE\n"
                            "   7  hello  RUNNING\n"
                            "1234  x      PENDING\n");
    free (text);
    cli_table_destroy (&t);
    cr_assert_null (t);
    cli_table_destroy (&t); /*  NULL-safe  */
}

Test (table, no_trailing_blanks_and_null_cells_print_a_dash)
{
    static const char *const heads[] = { "A", "REASON" };
    cli_table_t *t = cli_table_new (2, heads);
    const char *r1[] = { "long-cell", "" };
    const char *r2[] = { "b", NULL };
    cli_table_add (t, r1);
    cli_table_add (t, r2);
    char *text = cli_table_render (t);
    cr_assert_str_eq (text, "A          REASON\n"
                            "long-cell\n"
                            "b          -\n");
    free (text);
    cli_table_destroy (&t);
}

Test (table, headerless_block_and_utf8_width)
{
    cli_table_t *t = cli_table_new (2, NULL);
    const char *r1[] = { "name:", "na\xC3\xAFve" }; /*  "naïve": 5 characters, 6 bytes  */
    const char *r2[] = { "n\xC3\xA9:", "x" };       /*  "né:": 3 characters  */
    cli_table_add (t, r1);
    cli_table_add (t, r2);
    char *text = cli_table_render (t);
    cr_assert_str_eq (text, "name:  na\xC3\xAFve\nn\xC3\xA9:    x\n");
    free (text);
    cli_table_destroy (&t);
}

Test (table, control_characters_never_reach_the_terminal)
{
    static const char *const heads[] = { "REASON" };
    cli_table_t *t = cli_table_new (1, heads);
    const char *r1[] = { "a\nb\x1b[2Jc\tz\xC2\x9B" };
    cli_table_add (t, r1);
    char *text = cli_table_render (t);
    cr_assert_str_eq (text, "REASON\na b [2Jc z\n");
    free (text);
    cli_table_destroy (&t);
}

Test (text, fit_cuts_long_text_with_an_ellipsis)
{
    char buf[256];
    cr_assert_str_eq (cli_text_fit ("short", 40, buf, sizeof buf), "short");
    const char *exact = "0123456789012345678901234567890123456789"; /*  40  */
    cr_assert_str_eq (cli_text_fit (exact, 40, buf, sizeof buf), exact);
    const char *longer = "waiting for 4 GPUs in pool onprem-gpu: 2 nodes busy, 1 lost";
    cli_text_fit (longer, 40, buf, sizeof buf);
    cr_assert_eq (cli_text_width (buf), 40);
    cr_assert_str_eq (buf, "waiting for 4 GPUs in pool onprem-gpu...");
    /*  Multibyte characters count as one and are never split.  */
    cli_text_fit ("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", 5, buf, sizeof buf);
    cr_assert_str_eq (buf, "\xC3\xA9\xC3\xA9...");
    /*  A small buffer cuts on a character boundary.  */
    cli_text_fit ("\xC3\xA9\xC3\xA9\xC3\xA9", 0, buf, 4);
    cr_assert_str_eq (buf, "\xC3\xA9");
    cr_assert_str_eq (cli_text_fit (NULL, 0, buf, sizeof buf), "");
}

Test (format, durations_read_like_a_person_would_say_them)
{
    char b[32];
    cr_assert_str_eq (cli_format_duration (0, b, sizeof b), "0s");
    cr_assert_str_eq (cli_format_duration (999, b, sizeof b), "0s");
    cr_assert_str_eq (cli_format_duration (59999, b, sizeof b), "59s");
    cr_assert_str_eq (cli_format_duration (60000, b, sizeof b), "1m00s");
    cr_assert_str_eq (cli_format_duration (185000, b, sizeof b), "3m05s");
    cr_assert_str_eq (cli_format_duration (3723000, b, sizeof b), "1h02m");
    cr_assert_str_eq (cli_format_duration (86399000, b, sizeof b), "23h59m");
    cr_assert_str_eq (cli_format_duration (90061000, b, sizeof b), "1d01h");
    cr_assert_str_eq (cli_format_duration (400ull * 86400000, b, sizeof b), "400d00h");
}

Test (format, ages)
{
    char b[32];
    cr_assert_str_eq (cli_format_age (1000000, 0, b, sizeof b), "-");
    cr_assert_str_eq (cli_format_age (1000000, 1000000 - 42000, b, sizeof b), "42s");
    /*  A clock a little ahead of ours: never a negative age.  */
    cr_assert_str_eq (cli_format_age (1000000, 1005000, b, sizeof b), "0s");
}

Test (format, byte_sizes)
{
    char b[32];
    cr_assert_str_eq (cli_format_bytes (0, b, sizeof b), "0");
    cr_assert_str_eq (cli_format_bytes (1023, b, sizeof b), "1023B");
    cr_assert_str_eq (cli_format_bytes (1024, b, sizeof b), "1K");
    cr_assert_str_eq (cli_format_bytes (1536, b, sizeof b), "1.5K");
    cr_assert_str_eq (cli_format_mem_mb (256, b, sizeof b), "256M");
    cr_assert_str_eq (cli_format_mem_mb (1024, b, sizeof b), "1G");
    cr_assert_str_eq (cli_format_mem_mb (1536, b, sizeof b), "1.5G");
    cr_assert_str_eq (cli_format_mem_mb (64 * 1024, b, sizeof b), "64G");
    cr_assert_str_eq (cli_format_mem_mb (64304, b, sizeof b), "63G");
    cr_assert_str_eq (cli_format_mem_mb (10239, b, sizeof b), "10G"); /*  9.999G rounds, no "10.0G"  */
    cr_assert_str_eq (cli_format_mem_mb (2 * 1024 * 1024, b, sizeof b), "2T");
}

Test (format, cpus)
{
    char b[32];
    cr_assert_str_eq (cli_format_cpus (0, b, sizeof b), "0");
    cr_assert_str_eq (cli_format_cpus (2000, b, sizeof b), "2");
    cr_assert_str_eq (cli_format_cpus (500, b, sizeof b), "0.5");
    cr_assert_str_eq (cli_format_cpus (1250, b, sizeof b), "1.25");
    cr_assert_str_eq (cli_format_cpus (1, b, sizeof b), "0.001");
}

/*  -- a job built the way the scheduler would send it -------------------------  */

typedef struct {
    Strata__JobInfo job;
    Strata__Resources res;
    Strata__TaskInfo t0, t1;
    Strata__TaskInfo *tasks[2];
} s_job_fixture_t;

static void
s_job_fixture (s_job_fixture_t *f)
{
    strata__job_info__init (&f->job);
    strata__resources__init (&f->res);
    strata__task_info__init (&f->t0);
    strata__task_info__init (&f->t1);
    f->res.cpus_milli = 1500;
    f->res.mem_mb = 4096;
    f->res.gpus = 1;
    f->t1.index = 1;
    f->t1.attempt = 2;
    f->t1.state = STRATA__JOB_STATE__JOB_RUNNING;
    f->t1.node = "w2";
    f->t1.pid = 4242;
    f->t1.started_unix_ms = 1700000001000ull;
    f->t0.index = 0;
    f->t0.attempt = 2;
    f->t0.state = STRATA__JOB_STATE__JOB_FAILED;
    f->t0.node = "w1";
    f->t0.pid = 4141;
    f->t0.exit_code = 3;
    f->t0.term_signal = 0;
    f->t0.started_unix_ms = 1700000001000ull;
    f->t0.finished_unix_ms = 1700000061000ull;
    f->tasks[0] = &f->t1; /*  out of order on purpose: NODE is rank 0's  */
    f->tasks[1] = &f->t0;
    f->job.id = 9007199254740993ull; /*  2^53 + 1: must stay exact  */
    f->job.name = "train-llama";
    f->job.tenant = "research";
    f->job.queue = "gpu";
    f->job.submitted_by = "alice";
    f->job.kind = "finetune";
    f->job.state = STRATA__JOB_STATE__JOB_RUNNING;
    f->job.reason = "placed on w1, w2 (pool onprem-gpu): cheapest pool with 2 free GPUs";
    f->job.priority = -5;
    f->job.attempt = 2;
    f->job.max_attempts = 3;
    f->job.exit_code = 0;
    f->job.per_rank = &f->res;
    f->job.ranks = 2;
    f->job.created_unix_ms = 1700000000000ull;
    f->job.started_unix_ms = 1700000001000ull;
    f->job.finished_unix_ms = 0;
    f->job.spec_json = "{\"command\":[\"python3\",\"train.py\"],\"name\":\"train-llama\"}";
    f->job.n_tasks = 2;
    f->job.tasks = f->tasks;
    f->job.cancel_requested = 1;
}

Test (json, job_object_has_the_documented_keys_and_values)
{
    s_job_fixture_t f;
    s_job_fixture (&f);
    json_t *o = cli_output_job_json (&f.job);
    cr_assert_not_null (o);

    static const char *const keys[] = {
        "id",
        "name",
        "tenant",
        "queue",
        "kind",
        "state",
        "reason",
        "priority",
        "attempt",
        "max_attempts",
        "exit_code",
        "ranks",
        "cpus_per_rank",
        "mem_per_rank_mb",
        "gpus_per_rank",
        "created_unix_ms",
        "started_unix_ms",
        "finished_unix_ms",
        "cancel_requested",
        "tasks",
        "spec",
        "pool",
        "variant",
        "est_cost",
        "est_kwh",
        "est_co2_g",
        "cost",
        "kwh",
        "co2_g",
        "preemptions",
        "placement",
        "model_version",
        "registered_version",
        "submitted_by",
        "env_hidden",
    };
    cr_assert_eq (json_object_size (o), sizeof keys / sizeof keys[0]);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cr_assert_not_null (json_object_get (o, keys[i]), "missing key %s", keys[i]);

    cr_assert_eq (json_integer_value (json_object_get (o, "id")), 9007199254740993ll);
    cr_assert_str_eq (json_string_value (json_object_get (o, "name")), "train-llama");
    cr_assert_str_eq (json_string_value (json_object_get (o, "tenant")), "research");
    cr_assert_str_eq (json_string_value (json_object_get (o, "queue")), "gpu");
    cr_assert_str_eq (json_string_value (json_object_get (o, "kind")), "finetune");
    cr_assert_str_eq (json_string_value (json_object_get (o, "state")), "RUNNING");
    cr_assert_str_eq (json_string_value (json_object_get (o, "reason")), f.job.reason);
    cr_assert_eq (json_integer_value (json_object_get (o, "priority")), -5);
    cr_assert_eq (json_integer_value (json_object_get (o, "attempt")), 2);
    cr_assert_eq (json_integer_value (json_object_get (o, "max_attempts")), 3);
    cr_assert_eq (json_integer_value (json_object_get (o, "exit_code")), 0);
    cr_assert_eq (json_integer_value (json_object_get (o, "ranks")), 2);
    cr_assert (json_is_number (json_object_get (o, "cpus_per_rank")));
    cr_assert_float_eq (json_number_value (json_object_get (o, "cpus_per_rank")), 1.5, 1e-9);
    cr_assert_eq (json_integer_value (json_object_get (o, "mem_per_rank_mb")), 4096);
    cr_assert_eq (json_integer_value (json_object_get (o, "gpus_per_rank")), 1);
    cr_assert_eq (json_integer_value (json_object_get (o, "created_unix_ms")), 1700000000000ll);
    cr_assert_eq (json_integer_value (json_object_get (o, "started_unix_ms")), 1700000001000ll);
    cr_assert_eq (json_integer_value (json_object_get (o, "finished_unix_ms")), 0);
    cr_assert (json_is_true (json_object_get (o, "cancel_requested")));
    cr_assert_str_eq (json_string_value (json_object_get (o, "submitted_by")), "alice");
    cr_assert (json_is_false (json_object_get (o, "env_hidden")));

    json_t *tasks = json_object_get (o, "tasks");
    cr_assert (json_is_array (tasks));
    cr_assert_eq (json_array_size (tasks), 2);
    json_t *t = json_array_get (tasks, 1);
    static const char *const tkeys[] = {
        "index",           "attempt",          "state",        "node",   "pid",    "exit_code",       "signal",
        "started_unix_ms", "finished_unix_ms", "peak_mem_kib", "cpu_ms", "reason", "earlier_attempts"
    };
    cr_assert_eq (json_object_size (t), sizeof tkeys / sizeof tkeys[0]);
    for (size_t i = 0; i < sizeof tkeys / sizeof tkeys[0]; i++)
        cr_assert_not_null (json_object_get (t, tkeys[i]), "missing task key %s", tkeys[i]);
    cr_assert_eq (json_integer_value (json_object_get (t, "index")), 0);
    cr_assert_eq (json_integer_value (json_object_get (t, "attempt")), 2);
    cr_assert_str_eq (json_string_value (json_object_get (t, "state")), "FAILED");
    cr_assert_str_eq (json_string_value (json_object_get (t, "node")), "w1");
    cr_assert_eq (json_integer_value (json_object_get (t, "pid")), 4141);
    cr_assert_eq (json_integer_value (json_object_get (t, "exit_code")), 3);
    cr_assert_eq (json_integer_value (json_object_get (t, "signal")), 0);
    cr_assert_eq (json_integer_value (json_object_get (t, "finished_unix_ms")), 1700000061000ll);
    cr_assert (json_is_null (json_object_get (t, "peak_mem_kib")), "not measured: null");
    cr_assert (json_is_null (json_object_get (t, "cpu_ms")));
    cr_assert_eq (json_array_size (json_object_get (t, "earlier_attempts")), 0, "no retry: no earlier attempt");

    json_t *spec = json_object_get (o, "spec");
    cr_assert (json_is_object (spec));
    cr_assert_str_eq (json_string_value (json_array_get (json_object_get (spec, "command"), 1)), "train.py");

    /*  Printed compact on one line, keys in the documented order, id exact.  */
    char *text = NULL;
    CAPTURE (text, cli_output_json_print (out, o));
    cr_assert (!strncmp (text, "{\"id\":9007199254740993,\"name\":\"train-llama\",", 44), "got %s", text);
    cr_assert_eq (strchr (text, '\n'), text + strlen (text) - 1);
    cr_assert_not_null (strstr (text, "\"cpus_per_rank\":1.5,"));
    free (text);
    json_decref (o);
}

Test (json, whole_cpus_are_integers_and_missing_spec_is_null)
{
    Strata__JobInfo job = STRATA__JOB_INFO__INIT;
    Strata__Resources res = STRATA__RESOURCES__INIT;
    res.cpus_milli = 2000;
    job.per_rank = &res;
    job.id = 1;
    job.name = "bad\xff"
               "name"; /*  not UTF-8: bytes replaced, never dropped  */
    json_t *o = cli_output_job_json (&job);
    cr_assert_not_null (o);
    cr_assert (json_is_integer (json_object_get (o, "cpus_per_rank")));
    cr_assert_eq (json_integer_value (json_object_get (o, "cpus_per_rank")), 2);
    cr_assert (json_is_null (json_object_get (o, "spec")));
    cr_assert_eq (json_array_size (json_object_get (o, "tasks")), 0);
    cr_assert_str_eq (json_string_value (json_object_get (o, "name")), "bad?name");
    cr_assert (json_is_false (json_object_get (o, "cancel_requested")));
    /*  Not placed yet: the placement keys are there, and null.  */
    static const char *const nulls[] = { "pool", "variant", "est_cost",  "est_kwh",       "est_co2_g",         "cost",
                                         "kwh",  "co2_g",   "placement", "model_version", "registered_version" };
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        cr_assert (json_is_null (json_object_get (o, nulls[i])), "%s is not null", nulls[i]);
    cr_assert_eq (json_integer_value (json_object_get (o, "preemptions")), 0);
    json_decref (o);
}

/*  Placement figures: present ones (a zero too) as numbers, absent ones null.  */
static void
s_place_fixture (Strata__JobInfo *job)
{
    job->pool = "onprem-eu";
    job->variant = "llama-3-eu";
    job->est_cost_opt_case = STRATA__JOB_INFO__EST_COST_OPT_EST_COST;
    job->est_cost = 12.5;
    job->est_kwh_opt_case = STRATA__JOB_INFO__EST_KWH_OPT_EST_KWH;
    job->est_kwh = 4.25;
    job->est_co2_g_opt_case = STRATA__JOB_INFO__EST_CO2_G_OPT_EST_CO2_G;
    job->est_co2_g = 1062.5;
    job->cost_opt_case = STRATA__JOB_INFO__COST_OPT_COST;
    job->cost = 0;
    job->preemptions = 2;
    job->placement_json = "{\"pool\":\"onprem-eu\",\"terms\":{\"total\":0.1}}";
}

Test (json, job_object_carries_the_placement)
{
    s_job_fixture_t f;
    s_job_fixture (&f);
    s_place_fixture (&f.job);
    json_t *o = cli_output_job_json (&f.job);
    cr_assert_not_null (o);
    cr_assert_str_eq (json_string_value (json_object_get (o, "pool")), "onprem-eu");
    cr_assert_str_eq (json_string_value (json_object_get (o, "variant")), "llama-3-eu");
    cr_assert_float_eq (json_number_value (json_object_get (o, "est_cost")), 12.5, 1e-12);
    cr_assert_float_eq (json_number_value (json_object_get (o, "est_kwh")), 4.25, 1e-12);
    cr_assert_float_eq (json_number_value (json_object_get (o, "est_co2_g")), 1062.5, 1e-12);
    cr_assert (json_is_number (json_object_get (o, "cost")));
    cr_assert_float_eq (json_number_value (json_object_get (o, "cost")), 0.0, 1e-12);
    cr_assert (json_is_null (json_object_get (o, "kwh")));
    cr_assert (json_is_null (json_object_get (o, "co2_g")));
    cr_assert_eq (json_integer_value (json_object_get (o, "preemptions")), 2);
    json_t *pl = json_object_get (o, "placement");
    cr_assert (json_is_object (pl));
    cr_assert_str_eq (json_string_value (json_object_get (pl, "pool")), "onprem-eu");
    json_decref (o);
}

static void
s_node_fixture (Strata__NodeInfo *n, Strata__Resources *cap, Strata__Resources *used,
                Strata__NodeInfo__LabelsEntry *l, Strata__NodeInfo__LabelsEntry **lp)
{
    strata__node_info__init (n);
    strata__resources__init (cap);
    strata__resources__init (used);
    cap->cpus_milli = 16000;
    cap->mem_mb = 65536;
    cap->gpus = 8;
    used->cpus_milli = 2500;
    used->mem_mb = 8192;
    used->gpus = 2;
    strata__node_info__labels_entry__init (&l[0]);
    strata__node_info__labels_entry__init (&l[1]);
    l[0].key = "rack";
    l[0].value = "r1";
    l[1].key = "nvlink_domain";
    l[1].value = "a";
    lp[0] = &l[0];
    lp[1] = &l[1];
    n->name = "gpu-01";
    n->pool = "onprem-gpu";
    n->state = "UP";
    n->capacity = cap;
    n->used = used;
    n->gpu_type = "A100";
    n->n_labels = 2;
    n->labels = lp;
    n->running_tasks = 2;
    n->last_seen_unix_ms = 1700000000000ull;
    n->epoch = 7;
}

Test (json, node_object_has_the_documented_keys_and_values)
{
    Strata__NodeInfo n;
    Strata__Resources cap, used;
    Strata__NodeInfo__LabelsEntry l[2], *lp[2];
    s_node_fixture (&n, &cap, &used, l, lp);
    json_t *o = cli_output_node_json (&n);
    cr_assert_not_null (o);
    static const char *const keys[] = {
        "name",      "pool",     "state",  "cpus",          "cpus_used",         "mem_mb", "mem_used_mb", "gpus",
        "gpus_used", "gpu_type", "labels", "running_tasks", "last_seen_unix_ms", "epoch",  "isolation",   "refusing"
    };
    cr_assert_eq (json_object_size (o), sizeof keys / sizeof keys[0]);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cr_assert_not_null (json_object_get (o, keys[i]), "missing key %s", keys[i]);
    cr_assert_str_eq (json_string_value (json_object_get (o, "name")), "gpu-01");
    cr_assert_str_eq (json_string_value (json_object_get (o, "pool")), "onprem-gpu");
    cr_assert_str_eq (json_string_value (json_object_get (o, "state")), "UP");
    cr_assert_float_eq (json_number_value (json_object_get (o, "cpus")), 16.0, 1e-9);
    cr_assert_float_eq (json_number_value (json_object_get (o, "cpus_used")), 2.5, 1e-9);
    cr_assert_eq (json_integer_value (json_object_get (o, "mem_mb")), 65536);
    cr_assert_eq (json_integer_value (json_object_get (o, "mem_used_mb")), 8192);
    cr_assert_eq (json_integer_value (json_object_get (o, "gpus")), 8);
    cr_assert_eq (json_integer_value (json_object_get (o, "gpus_used")), 2);
    cr_assert_str_eq (json_string_value (json_object_get (o, "gpu_type")), "A100");
    json_t *labels = json_object_get (o, "labels");
    cr_assert (json_is_object (labels));
    cr_assert_eq (json_object_size (labels), 2);
    cr_assert_str_eq (json_string_value (json_object_get (labels, "rack")), "r1");
    cr_assert_eq (json_integer_value (json_object_get (o, "running_tasks")), 2);
    cr_assert_eq (json_integer_value (json_object_get (o, "last_seen_unix_ms")), 1700000000000ll);
    cr_assert_eq (json_integer_value (json_object_get (o, "epoch")), 7);
    json_decref (o);
}

/*  -- human views ------------------------------------------------------------  */

Test (view, job_table_shows_rank0_node_and_cuts_the_reason)
{
    s_job_fixture_t f;
    s_job_fixture (&f);
    Strata__JobInfo pending = STRATA__JOB_INFO__INIT;
    pending.id = 8;
    pending.name = "p";
    pending.tenant = "default";
    pending.state = STRATA__JOB_STATE__JOB_PENDING;
    pending.ranks = 1;
    pending.created_unix_ms = 1700000000000ull - 5000;
    pending.reason = "waiting";
    Strata__JobInfo *jobs[] = { &f.job, &pending };
    char *text = NULL;
    CAPTURE (text, cli_output_job_table (out, jobs, 2, 1700000000000ull + 65000));
    cr_assert_str_eq (text, "              ID  NAME         TENANT    STATE    RANKS  NODE  AGE    REASON\n"
                            "9007199254740993  train-llama  research  RUNNING      2  w1    1m05s  "
                            "placed on w1, w2 (pool onprem-gpu): c...\n"
                            "               8  p            default   PENDING      1  -     1m10s  waiting\n");
    free (text);
}

Test (view, job_detail_block_and_task_table)
{
    s_job_fixture_t f;
    s_job_fixture (&f);
    char *text = NULL;
    CAPTURE (text, cli_output_job_detail (out, &f.job, 1700000000000ull + 125000));
    cr_assert_not_null (strstr (text, "id:            9007199254740993\n"), "%s", text);
    cr_assert_not_null (strstr (text, "state:         RUNNING\n"));
    cr_assert_not_null (strstr (text, "reason:        placed on w1, w2"));
    cr_assert_not_null (strstr (text, "tenant/queue:  research/gpu\n"));
    cr_assert_not_null (strstr (text, "submitted by:  alice\n"), "%s", text);
    cr_assert_not_null (strstr (text, "priority:      -5\n"));
    cr_assert_not_null (strstr (text, "attempts:      2 of 3\n"));
    cr_assert_not_null (strstr (text, "resources:     1.5 cpus, 4G memory, 1 gpu per rank x 2 ranks\n"));
    cr_assert_not_null (strstr (text, "created:       2023-11-14 22:13:20 UTC (2m05s ago)\n"));
    cr_assert_not_null (strstr (text, "finished:      -\n"));
    cr_assert_not_null (strstr (text, "exit code:     -\n"));
    cr_assert_not_null (strstr (text, "cancel:        requested\n"));
    cr_assert_null (strstr (text, "pool:"), "nothing about placement before it: %s", text);
    cr_assert_null (strstr (text, "estimate:"));
    cr_assert_null (strstr (text, "preemptions:"));
    cr_assert_not_null (strstr (text, "\nRANK  ATTEMPT  STATE    NODE  PID   EXIT\n"
                                      "1     2        RUNNING  w2    4242  -\n"
                                      "0     2        FAILED   w1    4141  3\n"),
                        "%s", text);
    free (text);
}

Test (view, node_table)
{
    Strata__NodeInfo n;
    Strata__Resources cap, used;
    Strata__NodeInfo__LabelsEntry l[2], *lp[2];
    s_node_fixture (&n, &cap, &used, l, lp);
    Strata__NodeInfo lost = STRATA__NODE_INFO__INIT;
    lost.name = "edge-7";
    lost.pool = "edge";
    lost.state = "LOST";
    Strata__NodeInfo *nodes[] = { &n, &lost };
    char *text = NULL;
    CAPTURE (text, cli_output_node_table (out, nodes, 2, 1700000000000ull + 3000));
    cr_assert_str_eq (text,
                      "NAME    POOL        STATE  CPUS    MEMORY  GPUS  TASKS  LAST SEEN  LABELS\n"
                      "gpu-01  onprem-gpu  UP     2.5/16  8G/64G  2/8       2  3s ago     nvlink_domain=a,rack=r1\n"
                      "edge-7  edge        LOST   0/0     0/0     0/0       0  -          -\n");
    free (text);
}

/*  A node that takes no new tasks, or runs them without isolation, gets a
 *  note line under the table; the JSON carries both texts.  */
Test (view, node_table_notes_refusal_and_missing_isolation)
{
    Strata__NodeInfo n;
    Strata__Resources cap, used;
    Strata__NodeInfo__LabelsEntry l[2], *lp[2];
    s_node_fixture (&n, &cap, &used, l, lp);
    n.refusing = "state directory /x has 512 MiB free, below --min-free 1 GiB";
    n.isolation = "none: no cgroup controller";
    Strata__NodeInfo *nodes[] = { &n };
    char *text = NULL;
    CAPTURE (text, cli_output_node_table (out, nodes, 1, 1700000000000ull + 3000));
    cr_assert_not_null (
        strstr (text, "\nnote: node gpu-01 takes no new tasks: state directory /x has 512 MiB free, below --min-free "
                      "1 GiB\n"),
        "%s", text);
    cr_assert_not_null (
        strstr (text, "\nnote: node gpu-01 runs tasks without isolation (none: no cgroup controller)\n"), "%s", text);
    free (text);
    json_t *o = cli_output_node_json (&n);
    cr_assert_str_eq (json_string_value (json_object_get (o, "refusing")), n.refusing);
    cr_assert_str_eq (json_string_value (json_object_get (o, "isolation")), n.isolation);
    json_decref (o);
}

Test (view, job_detail_shows_pool_variant_estimate_and_actual)
{
    s_job_fixture_t f;
    s_job_fixture (&f);
    s_place_fixture (&f.job);
    f.job.kwh_opt_case = STRATA__JOB_INFO__KWH_OPT_KWH;
    f.job.kwh = 0.5;
    char *text = NULL;
    CAPTURE (text, cli_output_job_detail (out, &f.job, 1700000000000ull + 125000));
    cr_assert_not_null (strstr (text, "pool:           onprem-eu\n"), "%s", text);
    cr_assert_not_null (strstr (text, "model variant:  llama-3-eu\n"), "%s", text);
    cr_assert_not_null (strstr (text, "estimate:       cost 12.5, 4.25 kWh, 1062.5 g CO2\n"), "%s", text);
    cr_assert_not_null (strstr (text, "actual:         cost 0, 0.5 kWh\n"), "%s", text);
    cr_assert_not_null (strstr (text, "preemptions:    2\n"), "%s", text);
    /*  In that order, after the resources.  */
    cr_assert_lt (strstr (text, "resources:"), strstr (text, "pool:"));
    cr_assert_lt (strstr (text, "pool:"), strstr (text, "estimate:"));
    cr_assert_lt (strstr (text, "estimate:"), strstr (text, "created:"));
    free (text);
}

Test (format, numbers_drop_trailing_zeros)
{
    char b[48];
    cr_assert_str_eq (cli_format_number (1.25, 4, b, sizeof b), "1.25");
    cr_assert_str_eq (cli_format_number (0.02, 4, b, sizeof b), "0.02");
    cr_assert_str_eq (cli_format_number (3, 4, b, sizeof b), "3");
    cr_assert_str_eq (cli_format_number (0, 2, b, sizeof b), "0");
    cr_assert_str_eq (cli_format_number (-0.0001, 2, b, sizeof b), "0");
    cr_assert_str_eq (cli_format_number (0.00005, 4, b, sizeof b), "0.0001");
    cr_assert_str_eq (cli_format_number (1062.5, 1, b, sizeof b), "1062.5");
    cr_assert_str_eq (cli_format_number (250, 0, b, sizeof b), "250");
}

/*  -- pools and models ------------------------------------------------------------  */

static void
s_pool_fixture (Strata__PoolInfo *p, Strata__PoolInfo *q)
{
    strata__pool_info__init (p);
    p->name = "onprem-eu";
    p->site = "onprem";
    p->region = "eu-west";
    p->jurisdiction = "EU";
    p->clearance = "restricted";
    p->cost_gpu_hour = 1.25;
    p->cost_cpu_hour = 0.02;
    p->pue = 1.4;
    p->carbon_g_per_kwh = 250;
    p->gpu_watts = 350;
    p->cpu_watts = 8;
    p->storage_root = "/data/eu";
    p->nodes = 3;
    p->nodes_up = 2;
    p->gpus_total = 16;
    p->gpus_free = 6;
    p->cpus_total_milli = 64000;
    p->cpus_free_milli = 12500;
    p->mem_total_mb = 524288;
    p->mem_free_mb = 100000;
    strata__pool_info__init (q);
    q->name = "edge";
    q->site = "onprem";
    q->clearance = "public";
    q->pue = 1;
    q->gpu_watts = 400;
    q->cpu_watts = 10;
    q->implicit = 1;
    q->nodes = 1;
    q->nodes_up = 1;
    q->cpus_total_milli = 1000;
    q->cpus_free_milli = 1000;
}

Test (view, pool_table)
{
    Strata__PoolInfo p, q;
    s_pool_fixture (&p, &q);
    Strata__PoolInfo *pools[] = { &q, &p };
    char *text = NULL;
    CAPTURE (text, cli_output_pool_table (out, pools, 2));
    cr_assert_str_eq (
        text, "POOL       SITE    REGION   JURISDICTION  CLEARANCE   $/GPU-H  $/CPU-H  PUE  GCO2/KWH  NODES  GPUS\n"
              "edge *     onprem  -        -             public            0        0    1         0    1/1   0/0\n"
              "onprem-eu  onprem  eu-west  EU            restricted     1.25     0.02  1.4       250    2/3  6/16\n"
              "* not in the cluster file: site onprem, clearance public, no prices (the engine's defaults)\n");
    free (text);
    /*  Without implicit pools there is no note.  */
    CAPTURE (text, cli_output_pool_table (out, pools + 1, 1));
    cr_assert_null (strstr (text, "not in the cluster file"), "%s", text);
    free (text);
}

Test (json, pool_object_has_the_documented_keys_and_values)
{
    Strata__PoolInfo p, q;
    s_pool_fixture (&p, &q);
    json_t *o = cli_output_pool_json (&p);
    cr_assert_not_null (o);
    static const char *const keys[] = {
        "name",          "site",   "region",           "jurisdiction", "clearance", "cost_gpu_hour",
        "cost_cpu_hour", "pue",    "carbon_g_per_kwh", "gpu_watts",    "cpu_watts", "storage_root",
        "implicit",      "nodes",  "nodes_up",         "gpus",         "gpus_free", "cpus",
        "cpus_free",     "mem_mb", "mem_free_mb"
    };
    cr_assert_eq (json_object_size (o), sizeof keys / sizeof keys[0]);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cr_assert_not_null (json_object_get (o, keys[i]), "missing key %s", keys[i]);
    cr_assert_str_eq (json_string_value (json_object_get (o, "region")), "eu-west");
    cr_assert_str_eq (json_string_value (json_object_get (o, "clearance")), "restricted");
    cr_assert_float_eq (json_number_value (json_object_get (o, "cost_gpu_hour")), 1.25, 1e-12);
    cr_assert_float_eq (json_number_value (json_object_get (o, "pue")), 1.4, 1e-12);
    cr_assert (json_is_false (json_object_get (o, "implicit")));
    cr_assert_eq (json_integer_value (json_object_get (o, "gpus")), 16);
    cr_assert_eq (json_integer_value (json_object_get (o, "gpus_free")), 6);
    cr_assert (json_is_integer (json_object_get (o, "cpus")));
    cr_assert_eq (json_integer_value (json_object_get (o, "cpus")), 64);
    cr_assert_float_eq (json_number_value (json_object_get (o, "cpus_free")), 12.5, 1e-12);
    cr_assert_eq (json_integer_value (json_object_get (o, "nodes_up")), 2);
    json_decref (o);
    o = cli_output_pool_json (&q);
    cr_assert (json_is_null (json_object_get (o, "region")));
    cr_assert (json_is_null (json_object_get (o, "jurisdiction")));
    cr_assert (json_is_null (json_object_get (o, "storage_root")));
    cr_assert (json_is_true (json_object_get (o, "implicit")));
    json_decref (o);
}

static void
s_model_fixture (Strata__ModelFamily *f, Strata__ModelFamily **fp, Strata__ModelVariant *v, Strata__ModelVariant **vp)
{
    static char *eu[] = { "EU" }, *cn_sa[] = { "CN", "SA" };
    for (int i = 0; i < 3; i++) {
        strata__model_variant__init (&v[i]);
        vp[i] = &v[i];
    }
    v[0].name = "llama-3-eu";
    v[0].jurisdictions = eu;
    v[0].n_jurisdictions = 1;
    v[0].uri = "s3://models/llama-3-eu";
    v[1].name = "llama-3-asia";
    v[1].jurisdictions = cn_sa;
    v[1].n_jurisdictions = 2;
    v[2].name = "mistral-small";
    strata__model_family__init (&f[0]);
    strata__model_family__init (&f[1]);
    f[0].name = "llama-3";
    f[0].variants = vp;
    f[0].n_variants = 2;
    f[1].name = "mistral";
    f[1].variants = vp + 2;
    f[1].n_variants = 1;
    fp[0] = &f[0];
    fp[1] = &f[1];
}

Test (view, model_table)
{
    Strata__ModelFamily f[2], *fp[2];
    Strata__ModelVariant v[3], *vp[3];
    s_model_fixture (f, fp, v, vp);
    char *text = NULL;
    CAPTURE (text, cli_output_model_table (out, fp, 2));
    cr_assert_str_eq (text, "FAMILY   VARIANT        JURISDICTIONS\n"
                            "llama-3  llama-3-eu     EU\n"
                            "         llama-3-asia   CN,SA\n"
                            "mistral  mistral-small  -\n");
    free (text);
}

Test (json, models_are_families_of_variants)
{
    Strata__ModelFamily f[2], *fp[2];
    Strata__ModelVariant v[3], *vp[3];
    s_model_fixture (f, fp, v, vp);
    json_t *a = cli_output_models_json (fp, 2);
    cr_assert_not_null (a);
    char *text = json_dumps (a, JSON_COMPACT);
    cr_assert_str_eq (
        text, "[{\"family\":\"llama-3\",\"variants\":[{\"name\":\"llama-3-eu\",\"jurisdictions\":[\"EU\"],"
              "\"uri\":\"s3://models/llama-3-eu\"},{\"name\":\"llama-3-asia\",\"jurisdictions\":[\"CN\",\"SA\"],"
              "\"uri\":null}]},{\"family\":\"mistral\",\"variants\":[{\"name\":\"mistral-small\","
              "\"jurisdictions\":[],\"uri\":null}]}]");
    free (text);
    json_decref (a);
}

/*  -- fine-tuned model versions and dependencies ----------------------------------  */

static void
s_version_fixture (Strata__ModelVersion *v, Strata__ModelVersion **vp)
{
    static char *eu[] = { "EU" };
    for (int i = 0; i < 3; i++) {
        strata__model_version__init (&v[i]);
        vp[i] = &v[i];
        v[i].tenant = "acme";
        v[i].name = "acme-twin";
        v[i].version = (uint32_t) i + 1;
        v[i].job_id = 40 + (uint64_t) i;
        v[i].pool = "vault";
        v[i].jurisdiction = "EU";
        v[i].base_variant = "twin-eu";
        v[i].classification = "restricted";
        v[i].residency = eu;
        v[i].n_residency = 1;
        v[i].checkpoint = "/srv/ckpt/job-40";
        v[i].created_unix_ms = 1700000000000ull;
    }
    v[2].name = "other";
    v[2].version = 1;
    v[2].jurisdiction = "";
    v[2].base_variant = "";
    v[2].classification = "public";
    v[2].residency = NULL;
    v[2].n_residency = 0;
    v[2].checkpoint = "";
}

Test (view, model_versions_table)
{
    Strata__ModelVersion v[3], *vp[3];
    s_version_fixture (v, vp);
    char *text = NULL;
    CAPTURE (text, cli_output_model_versions_table (out, vp, 3));
    cr_assert_str_eq (text, "MODEL      VERSION  JOB  TENANT  POOL   CLASSIFICATION  RESIDENCY  CHECKPOINT\n"
                            "acme-twin        1   40  acme    vault  restricted      EU         /srv/ckpt/job-40\n"
                            "acme-twin        2   41  acme    vault  restricted      EU         /srv/ckpt/job-40\n"
                            "other            1   42  acme    vault  public          any        -\n");
    free (text);
}

Test (json, model_versions_are_fine_tuned_models)
{
    Strata__ModelVersion v[3], *vp[3];
    s_version_fixture (v, vp);
    json_t *a = cli_output_model_versions_json (vp, 3);
    cr_assert_not_null (a);
    cr_assert_eq (json_array_size (a), 2, "one object per model, its versions inside");
    char *text = json_dumps (json_array_get (a, 1), JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_str_eq (text, "{\"family\":\"other\",\"fine_tuned\":true,\"tenant\":\"acme\",\"variants\":[],"
                            "\"versions\":[{\"base_variant\":null,\"checkpoint\":null,\"classification\":\"public\","
                            "\"created_unix_ms\":1700000000000,\"job\":42,\"jurisdiction\":null,\"name\":\"other\","
                            "\"pool\":\"vault\",\"residency\":[],\"tenant\":\"acme\",\"version\":1}]}");
    free (text);
    json_t *first = json_array_get (a, 0);
    cr_assert_str_eq (json_string_value (json_object_get (first, "family")), "acme-twin");
    json_t *versions = json_object_get (first, "versions");
    cr_assert_eq (json_array_size (versions), 2);
    json_t *v2 = json_array_get (versions, 1);
    cr_assert_eq (json_integer_value (json_object_get (v2, "version")), 2);
    cr_assert_eq (json_integer_value (json_object_get (v2, "job")), 41);
    cr_assert_str_eq (json_string_value (json_object_get (v2, "jurisdiction")), "EU");
    cr_assert_str_eq (json_string_value (json_array_get (json_object_get (v2, "residency"), 0)), "EU");
    cr_assert_str_eq (json_string_value (json_object_get (v2, "checkpoint")), "/srv/ckpt/job-40");
    json_decref (a);
}

Test (view, job_detail_shows_dependencies_and_models)
{
    s_job_fixture_t f;
    s_job_fixture (&f);
    s_place_fixture (&f.job); /*  "model variant:" sets the width of the keys  */
    f.job.spec_json = "{\"command\":[\"x\"],\"depends_on\":[12,7],\"output_model\":\"acme-twin\"}";
    f.job.model_version = "base-twin:3";
    f.job.registered_version = "acme-twin:2";
    char *text = NULL;
    CAPTURE (text, cli_output_job_detail (out, &f.job, 1700000000000ull + 125000));
    cr_assert_not_null (strstr (text, "model:          base-twin:3\n"), "%s", text);
    cr_assert_not_null (strstr (text, "depends on:     12, 7\n"), "%s", text);
    cr_assert_not_null (strstr (text, "output model:   acme-twin (registered as acme-twin:2)\n"), "%s", text);
    free (text);
    f.job.registered_version = "";
    f.job.spec_json = "{\"command\":[\"x\"],\"depends_on\":null,\"output_model\":\"acme-twin\"}";
    CAPTURE (text, cli_output_job_detail (out, &f.job, 1700000000000ull + 125000));
    cr_assert_null (strstr (text, "depends on:"), "%s", text);
    cr_assert_not_null (strstr (text, "output model:   acme-twin (registered when the job succeeds)\n"), "%s", text);
    free (text);
    json_t *o = cli_output_job_json (&f.job);
    cr_assert_str_eq (json_string_value (json_object_get (o, "model_version")), "base-twin:3");
    cr_assert (json_is_null (json_object_get (o, "registered_version")));
    json_decref (o);
}
