/*  test_cli_output.c: what `strata` prints: tables, formats, JSON.  */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

/*  Runs fn into a memory stream and returns what it wrote (caller frees).  */
#define CAPTURE(text, call)                                   \
    do {                                                      \
        size_t cap_len_ = 0;                                  \
        FILE *out = open_memstream (&(text), &cap_len_);      \
        cr_assert_not_null (out);                             \
        cr_assert_eq ((call), 0);                             \
        fclose (out);                                         \
    } while (0)

Test (table, columns_are_as_wide_as_their_widest_cell)
{
    static const char *const heads[] = { "ID", "NAME", "STATE" };
    st_table_t *t = st_table_new (3, heads);
    cr_assert_not_null (t);
    st_table_align_right (t, 0);
    const char *r1[] = { "7", "hello", "RUNNING" };
    const char *r2[] = { "1234", "x", "PENDING" };
    cr_assert_eq (st_table_add (t, r1), 0);
    cr_assert_eq (st_table_add (t, r2), 0);
    char *text = st_table_render (t);
    cr_assert_str_eq (text,
                      "  ID  NAME   STATE\n"
                      "   7  hello  RUNNING\n"
                      "1234  x      PENDING\n");
    free (text);
    st_table_destroy (&t);
    cr_assert_null (t);
    st_table_destroy (&t);      /*  NULL-safe  */
}

Test (table, no_trailing_blanks_and_null_cells_print_a_dash)
{
    static const char *const heads[] = { "A", "REASON" };
    st_table_t *t = st_table_new (2, heads);
    const char *r1[] = { "long-cell", "" };
    const char *r2[] = { "b", NULL };
    st_table_add (t, r1);
    st_table_add (t, r2);
    char *text = st_table_render (t);
    cr_assert_str_eq (text,
                      "A          REASON\n"
                      "long-cell\n"
                      "b          -\n");
    free (text);
    st_table_destroy (&t);
}

Test (table, headerless_block_and_utf8_width)
{
    st_table_t *t = st_table_new (2, NULL);
    const char *r1[] = { "name:", "na\xC3\xAFve" };     /*  "naïve": 5 characters, 6 bytes  */
    const char *r2[] = { "n\xC3\xA9:", "x" };           /*  "né:": 3 characters  */
    st_table_add (t, r1);
    st_table_add (t, r2);
    char *text = st_table_render (t);
    cr_assert_str_eq (text, "name:  na\xC3\xAFve\nn\xC3\xA9:    x\n");
    free (text);
    st_table_destroy (&t);
}

Test (table, control_characters_never_reach_the_terminal)
{
    static const char *const heads[] = { "REASON" };
    st_table_t *t = st_table_new (1, heads);
    const char *r1[] = { "a\nb\x1b[2Jc\tz\xC2\x9B" };
    st_table_add (t, r1);
    char *text = st_table_render (t);
    cr_assert_str_eq (text, "REASON\na b [2Jc z\n");
    free (text);
    st_table_destroy (&t);
}

Test (text, fit_cuts_long_text_with_an_ellipsis)
{
    char buf[256];
    cr_assert_str_eq (st_text_fit ("short", 40, buf, sizeof buf), "short");
    const char *exact = "0123456789012345678901234567890123456789";   /*  40  */
    cr_assert_str_eq (st_text_fit (exact, 40, buf, sizeof buf), exact);
    const char *longer = "waiting for 4 GPUs in pool onprem-gpu: 2 nodes busy, 1 lost";
    st_text_fit (longer, 40, buf, sizeof buf);
    cr_assert_eq (st_text_width (buf), 40);
    cr_assert_str_eq (buf, "waiting for 4 GPUs in pool onprem-gpu...");
    /*  Multibyte characters count as one and are never split.  */
    st_text_fit ("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", 5, buf, sizeof buf);
    cr_assert_str_eq (buf, "\xC3\xA9\xC3\xA9...");
    /*  A small buffer cuts on a character boundary.  */
    st_text_fit ("\xC3\xA9\xC3\xA9\xC3\xA9", 0, buf, 4);
    cr_assert_str_eq (buf, "\xC3\xA9");
    cr_assert_str_eq (st_text_fit (NULL, 0, buf, sizeof buf), "");
}

Test (format, durations_read_like_a_person_would_say_them)
{
    char b[32];
    cr_assert_str_eq (st_format_duration (0, b, sizeof b), "0s");
    cr_assert_str_eq (st_format_duration (999, b, sizeof b), "0s");
    cr_assert_str_eq (st_format_duration (59999, b, sizeof b), "59s");
    cr_assert_str_eq (st_format_duration (60000, b, sizeof b), "1m00s");
    cr_assert_str_eq (st_format_duration (185000, b, sizeof b), "3m05s");
    cr_assert_str_eq (st_format_duration (3723000, b, sizeof b), "1h02m");
    cr_assert_str_eq (st_format_duration (86399000, b, sizeof b), "23h59m");
    cr_assert_str_eq (st_format_duration (90061000, b, sizeof b), "1d01h");
    cr_assert_str_eq (st_format_duration (400ull * 86400000, b, sizeof b), "400d00h");
}

Test (format, ages)
{
    char b[32];
    cr_assert_str_eq (st_format_age (1000000, 0, b, sizeof b), "-");
    cr_assert_str_eq (st_format_age (1000000, 1000000 - 42000, b, sizeof b), "42s");
    /*  A clock a little ahead of ours: never a negative age.  */
    cr_assert_str_eq (st_format_age (1000000, 1005000, b, sizeof b), "0s");
}

Test (format, byte_sizes)
{
    char b[32];
    cr_assert_str_eq (st_format_bytes (0, b, sizeof b), "0");
    cr_assert_str_eq (st_format_bytes (1023, b, sizeof b), "1023B");
    cr_assert_str_eq (st_format_bytes (1024, b, sizeof b), "1K");
    cr_assert_str_eq (st_format_bytes (1536, b, sizeof b), "1.5K");
    cr_assert_str_eq (st_format_mem_mb (256, b, sizeof b), "256M");
    cr_assert_str_eq (st_format_mem_mb (1024, b, sizeof b), "1G");
    cr_assert_str_eq (st_format_mem_mb (1536, b, sizeof b), "1.5G");
    cr_assert_str_eq (st_format_mem_mb (64 * 1024, b, sizeof b), "64G");
    cr_assert_str_eq (st_format_mem_mb (64304, b, sizeof b), "63G");
    cr_assert_str_eq (st_format_mem_mb (10239, b, sizeof b), "10G");      /*  9.999G rounds, no "10.0G"  */
    cr_assert_str_eq (st_format_mem_mb (2 * 1024 * 1024, b, sizeof b), "2T");
}

Test (format, cpus)
{
    char b[32];
    cr_assert_str_eq (st_format_cpus (0, b, sizeof b), "0");
    cr_assert_str_eq (st_format_cpus (2000, b, sizeof b), "2");
    cr_assert_str_eq (st_format_cpus (500, b, sizeof b), "0.5");
    cr_assert_str_eq (st_format_cpus (1250, b, sizeof b), "1.25");
    cr_assert_str_eq (st_format_cpus (1, b, sizeof b), "0.001");
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
    f->t1.state = "RUNNING";
    f->t1.node = "w2";
    f->t1.pid = 4242;
    f->t1.started_unix_ms = 1700000001000ull;
    f->t0.index = 0;
    f->t0.attempt = 2;
    f->t0.state = "FAILED";
    f->t0.node = "w1";
    f->t0.pid = 4141;
    f->t0.exit_code = 3;
    f->t0.term_signal = 0;
    f->t0.started_unix_ms = 1700000001000ull;
    f->t0.finished_unix_ms = 1700000061000ull;
    f->tasks[0] = &f->t1;       /*  out of order on purpose: NODE is rank 0's  */
    f->tasks[1] = &f->t0;
    f->job.id = 9007199254740993ull;    /*  2^53 + 1: must stay exact  */
    f->job.name = "train-llama";
    f->job.tenant = "research";
    f->job.queue = "gpu";
    f->job.kind = "finetune";
    f->job.state = "RUNNING";
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
    json_t *o = st_output_job_json (&f.job);
    cr_assert_not_null (o);

    static const char *const keys[] = {
        "id", "name", "tenant", "queue", "kind", "state", "reason", "priority", "attempt", "max_attempts",
        "exit_code", "ranks", "cpus_per_rank", "mem_per_rank_mb", "gpus_per_rank", "created_unix_ms",
        "started_unix_ms", "finished_unix_ms", "cancel_requested", "tasks", "spec",
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

    json_t *tasks = json_object_get (o, "tasks");
    cr_assert (json_is_array (tasks));
    cr_assert_eq (json_array_size (tasks), 2);
    json_t *t = json_array_get (tasks, 1);
    static const char *const tkeys[] = { "index", "attempt", "state", "node", "pid", "exit_code", "signal",
                                         "started_unix_ms", "finished_unix_ms" };
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

    json_t *spec = json_object_get (o, "spec");
    cr_assert (json_is_object (spec));
    cr_assert_str_eq (json_string_value (json_array_get (json_object_get (spec, "command"), 1)), "train.py");

    /*  Printed compact on one line, keys in the documented order, id exact.  */
    char *text = NULL;
    CAPTURE (text, st_output_json_print (out, o));
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
    job.name = "bad\xff" "name";        /*  not UTF-8: bytes replaced, never dropped  */
    json_t *o = st_output_job_json (&job);
    cr_assert_not_null (o);
    cr_assert (json_is_integer (json_object_get (o, "cpus_per_rank")));
    cr_assert_eq (json_integer_value (json_object_get (o, "cpus_per_rank")), 2);
    cr_assert (json_is_null (json_object_get (o, "spec")));
    cr_assert_eq (json_array_size (json_object_get (o, "tasks")), 0);
    cr_assert_str_eq (json_string_value (json_object_get (o, "name")), "bad?name");
    cr_assert (json_is_false (json_object_get (o, "cancel_requested")));
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
    json_t *o = st_output_node_json (&n);
    cr_assert_not_null (o);
    static const char *const keys[] = { "name", "pool", "state", "cpus", "cpus_used", "mem_mb", "mem_used_mb",
                                        "gpus", "gpus_used", "gpu_type", "labels", "running_tasks",
                                        "last_seen_unix_ms", "epoch" };
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
    pending.state = "PENDING";
    pending.ranks = 1;
    pending.created_unix_ms = 1700000000000ull - 5000;
    pending.reason = "waiting";
    Strata__JobInfo *jobs[] = { &f.job, &pending };
    char *text = NULL;
    CAPTURE (text, st_output_job_table (out, jobs, 2, 1700000000000ull + 65000));
    cr_assert_str_eq (text,
                      "              ID  NAME         TENANT    STATE    RANKS  NODE  AGE    REASON\n"
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
    CAPTURE (text, st_output_job_detail (out, &f.job, 1700000000000ull + 125000));
    cr_assert_not_null (strstr (text, "id:            9007199254740993\n"), "%s", text);
    cr_assert_not_null (strstr (text, "state:         RUNNING\n"));
    cr_assert_not_null (strstr (text, "reason:        placed on w1, w2"));
    cr_assert_not_null (strstr (text, "tenant/queue:  research/gpu\n"));
    cr_assert_not_null (strstr (text, "priority:      -5\n"));
    cr_assert_not_null (strstr (text, "attempts:      2 of 3\n"));
    cr_assert_not_null (strstr (text, "resources:     1.5 cpus, 4G memory, 1 gpu per rank x 2 ranks\n"));
    cr_assert_not_null (strstr (text, "created:       2023-11-14 22:13:20 UTC (2m05s ago)\n"));
    cr_assert_not_null (strstr (text, "finished:      -\n"));
    cr_assert_not_null (strstr (text, "exit code:     -\n"));
    cr_assert_not_null (strstr (text, "cancel:        requested\n"));
    cr_assert_not_null (strstr (text,
                                "\nRANK  ATTEMPT  STATE    NODE  PID   EXIT\n"
                                "1     2        RUNNING  w2    4242  -\n"
                                "0     2        FAILED   w1    4141  3\n"), "%s", text);
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
    CAPTURE (text, st_output_node_table (out, nodes, 2, 1700000000000ull + 3000));
    cr_assert_str_eq (text,
                      "NAME    POOL        STATE  CPUS    MEMORY  GPUS  TASKS  LAST SEEN  LABELS\n"
                      "gpu-01  onprem-gpu  UP     2.5/16  8G/64G  2/8       2  3s ago     nvlink_domain=a,rack=r1\n"
                      "edge-7  edge        LOST   0/0     0/0     0/0       0  -          -\n");
    free (text);
}
