/*  cmd_submit.c: `strata submit`: a job from a spec file or from flags.
 *
 *  Both ways meet in one validator: a file goes through st_spec_parse, flags
 *  become a JSON tree for st_spec_from_json. Only a spec that passed is sent,
 *  as canonical JSON (st_spec_to_json); an invalid one is reported with the
 *  field it names and nothing is sent. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sys/random.h>

#include "cli.h"
#include "output.h"
#include "st_doc.h"
#include "st_spec.h"
#include "st_time.h"

#define S_WAIT_POLL_MS 200

typedef struct {
    /*  Spec flags are kept as text so that the spec validator, not the option
     *  parser, judges their values: one set of rules and messages.  */
    char *name, *tenant, *queue, *kind, *priority, *ranks, *shards, *cpus, *memory, *gpus, *pool, *workdir,
        *time_limit, *retries, *prefer, *model, *launcher, *output_model;
    st_kv_t labels;     /*  --label k=v, as a list of "k=v"  */
    st_kv_t env;        /*  --env K=V, as a list of "K=V" (values may hold commas)  */
    st_kv_t gpu_types;  /*  --gpu-type T, in order of preference  */
    st_kv_t sites;      /*  --site S  */
    st_kv_t depends_on; /*  --depends-on ID, in order  */
    int preemptible;    /*  --preemptible  */
    int wait;           /*  wait until the job ends; exit 0 only if it succeeded  */
    int json;           /*  JSON output  */
} s_opts_t;

#define S_STR(flag, field, arg, help)                                             \
    {                                                                             \
        flag, 0, ST_OPT_STRING, offsetof (s_opts_t, field), 0, 0, arg, help, NULL \
    }

static const st_opt_t s_opts[] = {
    S_STR ("name", name, "NAME", "job name (default: the command's program name)"),
    S_STR ("tenant", tenant, "TENANT", "tenant (default \"default\")"),
    S_STR ("queue", queue, "QUEUE", "queue (default \"default\")"),
    S_STR ("kind", kind, "KIND", "command, finetune or inference (default command)"),
    S_STR ("priority", priority, "P", "priority, -1000..1000 (default 0)"),
    S_STR ("ranks", ranks, "R", "number of ranks started together as a gang (default 1)"),
    S_STR ("shards", shards, "N", "inference jobs: number of independent tasks (default 1)"),
    S_STR ("cpus", cpus, "C", "CPUs per rank, fractions allowed (default 1)"),
    S_STR ("memory", memory, "M", "memory per rank: MiB, or 512M, 4G (default 256M)"),
    S_STR ("gpus", gpus, "G", "GPUs per rank (default 0)"),
    { "gpu-type", 0, ST_OPT_STRINGS, offsetof (s_opts_t, gpu_types), 0, 0, "TYPE",
      "acceptable GPU type, most wanted first (repeatable)", NULL },
    S_STR ("pool", pool, "POOL", "run only in this pool"),
    { "site", 0, ST_OPT_STRINGS, offsetof (s_opts_t, sites), 0, 0, "KIND",
      "allowed site kind: onprem, private_cloud, public_cloud, edge (repeatable; default any)", NULL },
    S_STR ("prefer", prefer, "WHAT", "placement preference: cost, latency, energy or balanced (default)"),
    S_STR ("model", model, "MODEL",
           "model family, variant or auto (the scheduler picks the variant), or a fine-tuned "
           "model NAME or NAME:VERSION"),
    { "depends-on", 0, ST_OPT_STRINGS, offsetof (s_opts_t, depends_on), 0, 0, "ID",
      "start only after job ID has SUCCEEDED; fail if it fails (repeatable)", NULL },
    S_STR ("launcher", launcher, "HOW", "how a gang's ranks start: auto (default), mpirun or direct"),
    S_STR ("output-model", output_model, "NAME", "finetune: register the checkpoint as the next version of NAME"),
    { "preemptible", 0, ST_OPT_BOOL, offsetof (s_opts_t, preemptible), 0, 0, NULL,
      "may be stopped for a more urgent job and requeued", NULL },
    { "label", 0, ST_OPT_STRINGS, offsetof (s_opts_t, labels), 0, 0, "K=V",
      "run only on nodes with this label (repeatable)", NULL },
    { "env", 'e', ST_OPT_STRINGS, offsetof (s_opts_t, env), 0, 0, "K=V",
      "set an environment variable for the task (repeatable)", NULL },
    S_STR ("workdir", workdir, "DIR", "working directory, an absolute path (default: a fresh task directory)"),
    S_STR ("time-limit", time_limit, "DUR", "stop the job after DUR: seconds, or 90s, 30m, 2h, 1d (default none)"),
    S_STR ("retries", retries, "N", "run again up to N times after a failure (default 0)"),
    { "wait", 'w', ST_OPT_BOOL, offsetof (s_opts_t, wait), 0, 0, NULL,
      "wait until the job ends; exit 0 only if it SUCCEEDED", NULL },
    { "json", 0, ST_OPT_BOOL, offsetof (s_opts_t, json), 0, 0, NULL,
      "print {\"id\":N} (with --wait: the finished job's JSON object)", NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

static const char s_usage[] =
    "strata submit FILE [--wait] [--json]\n"
    "       strata submit [--name N] [--cpus C] [--memory M] [--gpus G] [--ranks R] ... [--wait] [--json] -- CMD "
    "[ARGS...]";
static const char s_description[] =
    "Submits a job. FILE is a YAML or JSON job spec ('-' reads stdin; docs/job-spec.md\n"
    "describes the format); or give the spec as flags and the command after '--'.\n"
    "The spec is checked here first: an invalid one is reported, naming the field, and\n"
    "not sent. Prints `submitted job 42` (or {\"id\":42} with --json).\n"
    "\n"
    "examples:\n"
    "  strata submit train.yaml\n"
    "  strata submit --name hello --cpus 0.5 --memory 128M -- echo hello world\n"
    "  strata submit --ranks 4 --gpus 1 --env EPOCHS=3 --wait -- python3 train.py\n"
    "  strata submit --kind inference --shards 8 --gpus 1 --gpu-type L4 --prefer cost -- ./score.sh\n"
    "  strata submit --depends-on 41 --model acme-twin -- ./evaluate.sh\n"
    "  cat job.json | strata submit - --json";

/*  Which flag sets which spec field (for messages in flag mode).  */
static const struct {
    const char *field;
    const char *flag;
} s_flag_of[] = {
    { "name", "--name" },
    { "tenant", "--tenant" },
    { "queue", "--queue" },
    { "kind", "--kind" },
    { "priority", "--priority" },
    { "resources.ranks", "--ranks" },
    { "resources.shards", "--shards" },
    { "resources.gpu_types", "--gpu-type" },
    { "placement.sites", "--site" },
    { "placement.prefer", "--prefer" },
    { "model", "--model" },
    { "depends_on", "--depends-on" },
    { "launcher", "--launcher" },
    { "output_model", "--output-model" },
    { "preemptible", "--preemptible" },
    { "resources.cpus_per_rank", "--cpus" },
    { "resources.mem_per_rank", "--memory" },
    { "resources.gpus_per_rank", "--gpus" },
    { "placement.pool", "--pool" },
    { "placement.labels", "--label" },
    { "env", "--env" },
    { "workdir", "--workdir" },
    { "time_limit", "--time-limit" },
    { "retries", "--retries" },
    { "command", "the command after --" },
};

static const char *
s_flag_for (const char *field)
{
    for (size_t i = 0; i < sizeof s_flag_of / sizeof s_flag_of[0]; i++) {
        size_t n = strlen (s_flag_of[i].field);
        if (!strncmp (field, s_flag_of[i].field, n) && (field[n] == '\0' || field[n] == '.' || field[n] == '['))
            return s_flag_of[i].flag;
    }
    return NULL;
}

/*  Prefixes err->msg with text ("train.yaml: ...", "--cpus: ...").  */
static void
s_prefix (st_error_t *err, const char *text)
{
    char msg[sizeof err->msg + 1024];
    snprintf (msg, sizeof msg, "%.1000s: %s", text, err->msg);
    size_t n = strlen (msg);
    if (n >= sizeof err->msg)
        n = sizeof err->msg - 1;
    memcpy (err->msg, msg, n);
    err->msg[n] = '\0';
}

/*  Reads all of path ("-": stdin), at most ST_DOC_MAX_BYTES. Caller frees.  */
static char *
s_read_spec (const char *path, size_t *len, st_error_t *err)
{
    FILE *f = strcmp (path, "-") ? fopen (path, "rb") : stdin;
    if (!f) {
        st_error_set (err, ST_EIO, NULL, "cannot open %s: %s", path, strerror (errno));
        return NULL;
    }
    char *text = malloc (ST_DOC_MAX_BYTES + 1);
    size_t n = 0;
    if (text) {
        size_t got;
        while (n <= ST_DOC_MAX_BYTES && (got = fread (text + n, 1, ST_DOC_MAX_BYTES + 1 - n, f)) > 0)
            n += got;
    }
    if (!text)
        st_error_set (err, ST_ENOMEM, NULL, "out of memory");
    else if (ferror (f))
        st_error_set (err, ST_EIO, NULL, "cannot read %s: %s", path, strerror (errno));
    else if (n > ST_DOC_MAX_BYTES) {
        st_error_set (err, ST_ETOOBIG, NULL, "%s: a job spec may be at most %u KiB", path, ST_DOC_MAX_BYTES / 1024);
    }
    if (f != stdin)
        fclose (f);
    if (err->rc != ST_OK) {
        free (text);
        return NULL;
    }
    text[n] = '\0';
    *len = n;
    return text;
}

/*  Integers go in as JSON integers; anything else as the text, for the
 *  validator to refuse with its message.  */
static json_t *
s_int_or_text (const char *text)
{
    const char *p = text;
    if (*p == '-')
        p++;
    if (*p && strspn (p, "0123456789") == strlen (p) && strlen (p) <= 18)
        return json_integer (strtoll (text, NULL, 10));
    return json_string (text);
}

/*  Same for numbers that may have a fraction ("0.5").  */
static json_t *
s_num_or_text (const char *text)
{
    const char *p = text;
    if (*p == '-')
        p++;
    size_t digits = strspn (p, "0123456789.");
    if (*p && digits == strlen (p) && strchr (p, '.') == strrchr (p, '.') && strcmp (p, ".") && digits <= 18) {
        if (!strchr (p, '.'))
            return json_integer (strtoll (text, NULL, 10));
        return json_real (strtod (text, NULL));
    }
    return json_string (text);
}

typedef struct {
    json_t *root;
    st_error_t *err;
    int failed;
} s_builder_t;

/*  Sets key in obj to v (a reference it takes, whatever happens); a NULL v means
 *  the text was not valid UTF-8.  */
static void
s_put (s_builder_t *b, json_t *obj, const char *key, json_t *v, const char *flag)
{
    if (b->failed) {
        json_decref (v);
        return;
    }
    if (!v) {
        st_error_set (b->err, ST_EINVAL, flag, "%s: not valid UTF-8 text", flag);
        b->failed = 1;
        return;
    }
    if (json_object_set_new (obj, key, v) != 0) {
        /*  a key (an --env or --label name) that is not valid UTF-8  */
        st_error_set (b->err, ST_EINVAL, flag, "%s: not valid UTF-8 text", flag);
        b->failed = 1;
    }
}

/*  A repeated flag's values as a JSON list; NULL when one is not valid UTF-8.  */
static json_t *
s_list (const st_kv_t *list)
{
    json_t *a = json_array ();
    for (size_t i = 0; a && i < list->n; i++)
        if (json_array_append_new (a, json_string (list->keys[i])) != 0) {
            json_decref (a);
            a = NULL;
        }
    return a;
}

/*  Splits each "K=V" of list into obj. Returns 0, or -1 with err filled.  */
static int
s_put_pairs (s_builder_t *b, json_t *obj, const st_kv_t *list, const char *flag)
{
    for (size_t i = 0; !b->failed && i < list->n; i++) {
        const char *item = list->keys[i];
        const char *eq = strchr (item, '=');
        if (!eq || eq == item) {
            st_error_set (b->err, ST_EINVAL, flag, "%s: expected KEY=VALUE, got '%s'", flag, item);
            b->failed = 1;
            break;
        }
        char *key = strndup (item, (size_t) (eq - item));
        if (key && json_object_get (obj, key)) {
            st_error_set (b->err, ST_EINVAL, flag, "%s: '%s' given twice", flag, key);
            b->failed = 1;
        }
        else if (key)
            s_put (b, obj, key, json_string (eq + 1), flag);
        free (key);
    }
    return b->failed ? -1 : 0;
}

/*  The spec tree for flag mode: only the fields the user gave, so defaults
 *  come from the validator. Returns NULL with err filled. */
static json_t *
s_spec_from_flags (const s_opts_t *o, char **cmd, int ncmd, st_error_t *err)
{
    s_builder_t b = { json_object (), err, 0 };
    json_t *res = json_object ();
    json_t *place = json_object ();
    json_t *command = json_array ();
    if (!b.root || !res || !place || !command) {
        st_error_set (err, ST_ENOMEM, NULL, "out of memory");
        b.failed = 1;
    }
    for (int i = 0; !b.failed && i < ncmd; i++) {
        json_t *arg = json_string (cmd[i]);
        if (!arg) {
            st_error_set (err, ST_EINVAL, "command", "command[%d]: not valid UTF-8 text", i);
            b.failed = 1;
        }
        else
            json_array_append_new (command, arg);
    }
    s_put (&b, b.root, "command", json_incref (command), "command");
    if (o->name)
        s_put (&b, b.root, "name", json_string (o->name), "--name");
    if (o->tenant)
        s_put (&b, b.root, "tenant", json_string (o->tenant), "--tenant");
    if (o->queue)
        s_put (&b, b.root, "queue", json_string (o->queue), "--queue");
    if (o->kind)
        s_put (&b, b.root, "kind", json_string (o->kind), "--kind");
    if (o->priority)
        s_put (&b, b.root, "priority", s_int_or_text (o->priority), "--priority");
    if (o->workdir)
        s_put (&b, b.root, "workdir", json_string (o->workdir), "--workdir");
    if (o->time_limit)
        s_put (&b, b.root, "time_limit", s_int_or_text (o->time_limit), "--time-limit");
    if (o->retries)
        s_put (&b, b.root, "retries", s_int_or_text (o->retries), "--retries");
    if (o->ranks)
        s_put (&b, res, "ranks", s_int_or_text (o->ranks), "--ranks");
    if (o->shards)
        s_put (&b, res, "shards", s_int_or_text (o->shards), "--shards");
    if (o->prefer)
        s_put (&b, place, "prefer", json_string (o->prefer), "--prefer");
    if (o->model)
        s_put (&b, b.root, "model", json_string (o->model), "--model");
    if (o->launcher)
        s_put (&b, b.root, "launcher", json_string (o->launcher), "--launcher");
    if (o->output_model)
        s_put (&b, b.root, "output_model", json_string (o->output_model), "--output-model");
    if (o->depends_on.n) {
        json_t *deps = json_array ();
        for (size_t i = 0; deps && i < o->depends_on.n; i++)
            if (json_array_append_new (deps, s_int_or_text (o->depends_on.keys[i])) != 0) {
                json_decref (deps);
                deps = NULL;
            }
        s_put (&b, b.root, "depends_on", deps, "--depends-on");
    }
    if (o->preemptible)
        s_put (&b, b.root, "preemptible", json_true (), "--preemptible");
    if (o->gpu_types.n)
        s_put (&b, res, "gpu_types", s_list (&o->gpu_types), "--gpu-type");
    if (o->sites.n)
        s_put (&b, place, "sites", s_list (&o->sites), "--site");
    if (o->cpus)
        s_put (&b, res, "cpus_per_rank", s_num_or_text (o->cpus), "--cpus");
    if (o->memory)
        s_put (&b, res, "mem_per_rank", s_int_or_text (o->memory), "--memory");
    if (o->gpus)
        s_put (&b, res, "gpus_per_rank", s_int_or_text (o->gpus), "--gpus");
    if (o->pool)
        s_put (&b, place, "pool", json_string (o->pool), "--pool");
    if (o->env.n) {
        json_t *env = json_object ();
        s_put_pairs (&b, env, &o->env, "--env");
        s_put (&b, b.root, "env", env, "--env");
    }
    if (o->labels.n) {
        json_t *labels = json_object ();
        s_put_pairs (&b, labels, &o->labels, "--label");
        s_put (&b, place, "labels", labels, "--label");
    }
    if (!b.failed && json_object_size (res))
        json_object_set (b.root, "resources", res);
    if (!b.failed && json_object_size (place))
        json_object_set (b.root, "placement", place);
    json_decref (res);
    json_decref (place);
    json_decref (command);
    if (b.failed) {
        json_decref (b.root);
        return NULL;
    }
    return b.root;
}

static int
s_any_spec_flag (const s_opts_t *o)
{
    return o->name || o->tenant || o->queue || o->kind || o->priority || o->ranks || o->cpus || o->memory || o->gpus
           || o->pool || o->workdir || o->time_limit || o->retries || o->labels.n || o->env.n || o->shards
           || o->prefer || o->model || o->preemptible || o->gpu_types.n || o->sites.n || o->depends_on.n
           || o->launcher || o->output_model;
}

/*  Polls the job until it ends. Returns the exit code.  */
static int
s_wait (cli_ctx_t *ctx, uint64_t id, int json_out)
{
    for (;;) {
        Strata__Envelope *reply = NULL;
        st_error_t err;
        st_error_clear (&err);
        if (cli_get_job (ctx, id, &reply, &err) != ST_OK)
            return cli_fail (ctx, &err);
        const Strata__JobInfo *job = reply->job;
        if (cli_state_is_terminal (job->state)) {
            int rc = job->state == STRATA__JOB_STATE__JOB_SUCCEEDED ? CLI_EXIT_OK : CLI_EXIT_ERROR;
            if (json_out) {
                json_t *j = cli_output_job_json (job);
                if (!j || cli_output_json_print (ctx->out, j) != 0)
                    rc = CLI_EXIT_ERROR;
                json_decref (j);
            }
            else
                fprintf (ctx->out, "job %llu %s\n", (unsigned long long) id, st_wire_job_state_name (job->state));
            st_wire_free (reply);
            return rc;
        }
        st_wire_free (reply);
        st_sleep_ms (S_WAIT_POLL_MS);
    }
}

/*  32 hex characters from the kernel's random source.  */
static int
s_new_token (char *buf, size_t size)
{
    unsigned char raw[16];
    if (size < 2 * sizeof raw + 1 || getrandom (raw, sizeof raw, 0) != (ssize_t) sizeof raw)
        return -1;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf (buf + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

/*  Takes "tenant" out of the canonical JSON of a spec that named none: the
 *  scheduler then submits to the user's first tenant (the canonical form always
 *  writes one, "default" when the spec has none). 0, or -1 out of memory.  */
static int
s_drop_tenant (char **json)
{
    json_t *root = json_loads (*json, 0, NULL);
    if (!root)
        return -1;
    json_object_del (root, "tenant");
    char *text = json_dumps (root, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref (root);
    if (!text)
        return -1;
    free (*json);
    *json = text;
    return 0;
}

static int
s_exec (cli_ctx_t *ctx, int argc, char **argv)
{
    s_opts_t o = { 0 };
    char **pos = NULL;
    int npos = 0;
    char *text = NULL, *spec_json = NULL;
    json_t *tree = NULL;
    st_spec_t *spec = NULL;
    Strata__Envelope *reply = NULL;
    st_error_t err;
    st_error_clear (&err);

    /*  Everything after "--" is the command, never options.  */
    int dashes = 1;
    while (dashes < argc && strcmp (argv[dashes], "--"))
        dashes++;
    char **cmd = dashes < argc ? argv + dashes + 1 : NULL;
    int ncmd = dashes < argc ? argc - dashes - 1 : 0;

    int rc = cli_parse_options (ctx, "submit", s_opts, &o, dashes, argv, s_usage, s_description, &pos, &npos);
    if (rc >= 0)
        goto out;
    if (cmd && npos > 0) {
        rc = cli_usage_error (ctx, "submit", "give either a spec FILE or '-- COMMAND', not both (got '%s')", pos[0]);
        goto out;
    }
    if (npos > 1) {
        rc = cli_usage_error (ctx, "submit", "unexpected argument '%s'; to run a command, put it after '--'", pos[1]);
        goto out;
    }
    if (npos == 1 && s_any_spec_flag (&o)) {
        rc = cli_usage_error (ctx, "submit", "spec flags cannot be combined with a spec FILE; write them in %s",
                              pos[0]);
        goto out;
    }
    if (npos == 0 && !cmd) {
        rc = cli_usage_error (ctx, "submit", "missing spec FILE or '-- COMMAND'");
        goto out;
    }
    if (cmd && ncmd == 0) {
        rc = cli_usage_error (ctx, "submit", "missing command after '--'");
        goto out;
    }

    if (npos == 1) {
        const char *path = pos[0];
        size_t len = 0;
        if (!(text = s_read_spec (path, &len, &err))) {
            rc = cli_fail (ctx, &err);
            goto out;
        }
        if (!(spec = st_spec_parse (text, len, &err))) {
            s_prefix (&err, strcmp (path, "-") ? path : "stdin");
            if (!err.hint[0])
                st_error_hint (&err, "docs/job-spec.md describes every field");
            rc = cli_fail (ctx, &err);
            goto out;
        }
    }
    else {
        if (!(tree = s_spec_from_flags (&o, cmd, ncmd, &err)) || !(spec = st_spec_from_json (tree, &err))) {
            const char *flag = err.field[0] ? s_flag_for (err.field) : NULL;
            if (flag && tree)
                s_prefix (&err, flag);
            if (!err.hint[0])
                st_error_hint (&err, "run 'strata submit --help' for the flags");
            rc = cli_fail (ctx, &err);
            goto out;
        }
    }
    if (!(spec_json = st_spec_to_json (spec)) || (!spec->tenant_given && s_drop_tenant (&spec_json) != 0)) {
        st_error_set (&err, ST_ENOMEM, NULL, "out of memory");
        rc = cli_fail (ctx, &err);
        goto out;
    }

    Strata__Envelope req;
    Strata__SubmitRequest submit = STRATA__SUBMIT_REQUEST__INIT;
    st_wire_envelope_init (&req, 0);
    submit.spec_json = spec_json;
    /*  Lets the client resend this submission safely: the scheduler answers a
     *  resend with the first job's id (see cli_client_request).  */
    char token[33];
    if (s_new_token (token, sizeof token) != 0) {
        st_error_set (&err, ST_EIO, NULL, "cannot draw a random submission token");
        rc = cli_fail (ctx, &err);
        goto out;
    }
    submit.client_token = token;
    req.body_case = STRATA__ENVELOPE__BODY_SUBMIT;
    req.submit = &submit;
    if (cli_request (ctx, &req, STRATA__ENVELOPE__BODY_SUBMIT_REPLY, &reply, &err) != ST_OK) {
        rc = cli_fail (ctx, &err);
        goto out;
    }
    uint64_t id = reply->submit_reply->job_id;
    if (!o.json)
        fprintf (ctx->out, "submitted job %llu\n", (unsigned long long) id);
    else if (!o.wait)
        fprintf (ctx->out, "{\"id\":%llu}\n", (unsigned long long) id);
    fflush (ctx->out);
    rc = o.wait ? s_wait (ctx, id, o.json) : CLI_EXIT_OK;
out:
    st_wire_free (reply);
    free (spec_json);
    st_spec_destroy (&spec);
    json_decref (tree);
    free (text);
    free (pos);
    st_config_free (s_opts, &o);
    return rc;
}

const cli_cmd_t cli_cmd_submit = { "submit", "submit a job from a spec file or from flags", s_exec };
