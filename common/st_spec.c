/*  st_spec.c: job spec validation (YAML/JSON tree -> st_spec_t) and its canonical JSON.
 *
 *  The validator is strict and complete: every field is checked for its type
 *  and range before the spec is accepted; unknown fields are refused at every
 *  level with the list of allowed ones as a hint. Messages start with the
 *  dotted field path ("resources.cpus_per_rank: must be ..."), the same path
 *  goes to err->field, and a rejected value is quoted back (shortened).
 *
 *  A YAML or JSON null means "not given" for every optional field, so the
 *  canonical JSON may write null for workdir and placement.pool and read back
 *  to an equal spec. Numbers in command, env and labels are accepted as their
 *  decimal text because YAML turns `[sleep, 10]` into a string and an integer. */
#include "st_spec.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_doc.h"
#include "st_field.h"
#include "st_units.h"

#define S_MAX_ARGS 256
#define S_MAX_ARG_BYTES 4096
#define S_MAX_ENV 128
#define S_MAX_ENV_KEY 256
#define S_MAX_ENV_VALUE 4096
#define S_MAX_LABELS 32
#define S_MAX_LABEL_KEY 128
#define S_MAX_LABEL_VALUE 256
#define S_MAX_PATH 4096
#define S_MAX_MEM_MB (16ull * 1024 * 1024) /*  16 TiB  */
#define S_MAX_TIME_LIMIT (30u * 24 * 3600) /*  30 days  */
#define S_MAX_TASKS 1024
#define S_MAX_GPU_TYPES 8
#define S_MAX_RESIDENCY 64
#define S_MAX_LATENCY_MS 100000
#define S_MAX_WEIGHT 1000.0
#define S_WEIGHT_SCALE 1e6 /*  weights keep 6 decimal places  */
#define S_MAX_URI 4096
#define S_MAX_DEPENDS 32
#define S_MAX_MODEL_VER 999999999u /*  a fine-tuned model's versions: 1..this  */

static const char *const s_top_fields[] = { "kind",        "name",    "tenant",     "queue",          "priority",
                                            "preemptible", "command", "env",        "workdir",        "resources",
                                            "placement",   "data",    "model",      "checkpoint_dir", "simulate",
                                            "time_limit",  "retries", "depends_on", "launcher",       "output_model",
                                            NULL };
static const char *const s_resource_fields[] = {
    "ranks", "shards", "cpus_per_rank", "mem_per_rank", "gpus_per_rank", "gpu_types", NULL
};
static const char *const s_placement_fields[] = { "pool",           "labels", "sites",   "near",
                                                  "max_latency_ms", "prefer", "weights", NULL };
static const char *const s_weight_fields[] = { "cost", "latency", "energy", "carbon", "packing", NULL };
static const char *const s_data_fields[] = { "uri", "classification", "residency", NULL };
static const char *const s_simulate_fields[] = { "duration", NULL };
static const char *const s_prefers[] = { "cost", "latency", "energy", "balanced", NULL };
static const char *const s_launchers[] = { "auto", "mpirun", "direct", NULL };

/*  ---------------------------------------------------------------------------
 *  Validation helpers  */

/*  A value as it is shown in a message: "lots" (quoted, shortened), 5, 0.5, true, a list.  */
static const char *
s_show (const json_t *v, char *buf, size_t size)
{
    if (!v)
        snprintf (buf, size, "nothing");
    else if (json_is_string (v)) {
        size_t len = json_string_length (v);
        const char *s = json_string_value (v);
        size_t cut = st_utf8_cut (s, len, 48);
        json_t *part = json_stringn (s, cut);
        char *dump = part ? json_dumps (part, JSON_ENCODE_ANY) : NULL;
        if (dump && cut < len)
            snprintf (buf, size, "%.*s...\"", (int) strlen (dump) - 1, dump);
        else
            snprintf (buf, size, "%s", dump ? dump : "a string");
        free (dump);
        json_decref (part);
    }
    else if (json_is_integer (v))
        snprintf (buf, size, "%lld", (long long) json_integer_value (v));
    else if (json_is_real (v)) {
        snprintf (buf, size, "%.15g", json_real_value (v));
        if (strtod (buf, NULL) != json_real_value (v))
            snprintf (buf, size, "%.17g", json_real_value (v));
    }
    else if (json_is_true (v))
        snprintf (buf, size, "true");
    else if (json_is_false (v))
        snprintf (buf, size, "false");
    else if (json_is_null (v))
        snprintf (buf, size, "null");
    else if (json_is_array (v))
        snprintf (buf, size, "a list");
    else
        snprintf (buf, size, "a mapping");
    return buf;
}

static void
s_join (const char *prefix, const char *key, char *buf, size_t size)
{
    if (prefix && *prefix)
        snprintf (buf, size, "%s.%s", prefix, key);
    else
        snprintf (buf, size, "%s", key);
}

/*  "FIELD: must be WHAT, got VALUE" with err->field = FIELD.  */
static st_rc_t
s_bad (st_error_t *err, const char *field, const char *what, const json_t *v)
{
    char shown[96];
    return st_error_set (err, ST_EINVAL, field, "%s: must be %s, got %s", field, what,
                         s_show (v, shown, sizeof shown));
}

static st_rc_t
s_check_fields (const json_t *obj, const char *prefix, const char *const *allowed, st_error_t *err)
{
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) obj, key, value) {
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp (*a, key) == 0;
        if (known)
            continue;
        char field[128], list[256];
        size_t used = 0;
        s_join (prefix, key, field, sizeof field);
        list[0] = '\0';
        for (const char *const *a = allowed; *a && used < sizeof list; a++)
            used += snprintf (list + used, sizeof list - used, "%s%s", a == allowed ? "" : ", ", *a);
        st_error_set (err, ST_EINVAL, field, "unknown field \"%.100s\"", field);
        st_error_hint (err, "allowed fields here: %s", list);
        return ST_EINVAL;
    }
    return ST_OK;
}

/*  Optional mapping: NULL result when absent or null.  */
static st_rc_t
s_get_object (const json_t *parent, const char *key, const char *field, json_t **out, st_error_t *err)
{
    json_t *v = json_object_get (parent, key);
    *out = NULL;
    if (!v || json_is_null (v))
        return ST_OK;
    if (!json_is_object (v))
        return s_bad (err, field, "a mapping", v);
    *out = v;
    return ST_OK;
}

static bool
s_is_name_char (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_'
           || c == '-';
}

/*  What a word may hold: 1..max characters of the allowed classes and
 *  punctuation, or exactly one of a list of choices.  */
typedef struct {
    size_t max;
    bool lower, upper, digit;
    const char *extra;                  /*  punctuation allowed besides the classes  */
    const char *const *choices;         /*  non-NULL: one of these  */
    const char *const *(*table) (void); /*  non-NULL: one of the names of this base table (st_vocab)  */
    const char *what;                   /*  for messages: "must be WHAT"  */
} s_word_t;

static const s_word_t s_w_kind = { 0,  false, false,         false,
                                   "", NULL,  st_kind_names, "one of command, finetune, inference" };
static const s_word_t s_w_site = { 0,  false, false,         false,
                                   "", NULL,  st_site_names, "one of onprem, private_cloud, public_cloud, edge" };
static const s_word_t s_w_prefer = { 0,  false,     false, false,
                                     "", s_prefers, NULL,  "one of cost, latency, energy, balanced" };
static const s_word_t s_w_class = { 0,  false, false,          false,
                                    "", NULL,  st_class_names, "one of public, internal, confidential, restricted" };
static const s_word_t s_w_launcher = { 0, false, false, false, "", s_launchers, NULL, "one of auto, mpirun, direct" };
static const s_word_t s_w_gpu_type = { 64,    true, true, true,
                                       "._-", NULL, NULL, "1 to 64 characters of letters, digits, '.', '_' or '-'" };
static const s_word_t s_w_region = { 64,  true, false, true,
                                     "-", NULL, NULL,  "1 to 64 characters of lower-case letters, digits or '-'" };
static const s_word_t s_w_jurisdiction = {
    16, false, true, true, "-", NULL, NULL, "1 to 16 characters of upper-case letters, digits or '-' (e.g. EU)"
};
static const s_word_t s_w_model = {
    128, true, true, true, "._/-", NULL, NULL, "1 to 128 characters of letters, digits, '.', '_', '/' or '-'"
};

/*  The first len bytes of text are a word of class w (choices aside).  */
static bool
s_chars_ok (const char *text, size_t len, const s_word_t *w)
{
    st_field_t rule = { w->max,
                        (w->lower ? ST_FIELD_LOWER : 0u) | (w->upper ? ST_FIELD_UPPER : 0u)
                            | (w->digit ? ST_FIELD_DIGIT : 0u),
                        w->extra };
    return w->max > 0 && st_field_ok (text, len, &rule);
}

static bool
s_word_ok (const json_t *v, const s_word_t *w)
{
    if (!json_is_string (v) || strlen (json_string_value (v)) != json_string_length (v))
        return false;
    const char *text = json_string_value (v);
    size_t len = json_string_length (v);
    const char *const *choices = w->table ? w->table () : w->choices;
    if (choices) {
        for (const char *const *c = choices; *c; c++)
            if (strcmp (*c, text) == 0)
                return true;
        return false;
    }
    return s_chars_ok (text, len, w);
}

/*  An optional word; def (copied) when absent or null.  */
static st_rc_t
s_word_field (const json_t *obj, const char *key, const char *field, const s_word_t *w, const char *def, char **out,
              st_error_t *err)
{
    json_t *v = json_object_get (obj, key);
    const char *text = def;
    *out = NULL;
    if (v && !json_is_null (v)) {
        if (!s_word_ok (v, w))
            return s_bad (err, field, w->what, v);
        text = json_string_value (v);
    }
    if (text && !(*out = strdup (text)))
        return st_error_set (err, ST_ENOMEM, field, "%s: out of memory", field);
    return ST_OK;
}

/*  kind/name/tenant/queue/pool-style strings: 1..max of [A-Za-z0-9._-].  */
static st_rc_t
s_name_field (const json_t *obj, const char *key, const char *field, size_t max, const char *def, char **out,
              st_error_t *err)
{
    char what[128];
    snprintf (what, sizeof what, "1 to %zu characters of letters, digits, '.', '_' or '-'", max);
    s_word_t w = { max, true, true, true, "._-", NULL, NULL, what };
    return s_word_field (obj, key, field, &w, def, out, err);
}

static void
s_free_list (char **list)
{
    for (size_t i = 0; list && list[i]; i++)
        free (list[i]);
    free (list);
}

/*  An optional list of min..max distinct words: *out NULL-terminated, or NULL
 *  when absent, null or empty.  */
static st_rc_t
s_word_list (const json_t *obj, const char *key, const char *field, const s_word_t *w, size_t min, size_t max,
             const char *list_what, char ***out, size_t *n, st_error_t *err)
{
    json_t *v = json_object_get (obj, key);
    *out = NULL;
    *n = 0;
    if (!v || json_is_null (v))
        return ST_OK;
    if (!json_is_array (v) || json_array_size (v) < min || json_array_size (v) > max)
        return s_bad (err, field, list_what, v);
    size_t count = json_array_size (v);
    if (count == 0)
        return ST_OK;
    if (!(*out = calloc (count + 1, sizeof **out)))
        return st_error_set (err, ST_ENOMEM, field, "%s: out of memory", field);
    for (size_t i = 0; i < count; i++) {
        json_t *item = json_array_get (v, i);
        char at[96];
        snprintf (at, sizeof at, "%s[%zu]", field, i);
        if (!s_word_ok (item, w))
            return s_bad (err, at, w->what, item);
        for (size_t k = 0; k < i; k++)
            if (strcmp ((*out)[k], json_string_value (item)) == 0)
                return st_error_set (err, ST_EINVAL, at, "%s: \"%s\" is listed twice", at, (*out)[k]);
        if (!((*out)[i] = strdup (json_string_value (item))))
            return st_error_set (err, ST_ENOMEM, field, "%s: out of memory", field);
        (*n)++;
    }
    return ST_OK;
}

static st_rc_t
s_bool_field (const json_t *obj, const char *key, const char *field, int *out, st_error_t *err)
{
    json_t *v = json_object_get (obj, key);
    *out = 0;
    if (!v || json_is_null (v))
        return ST_OK;
    if (!json_is_boolean (v))
        return s_bad (err, field, "true or false", v);
    *out = json_is_true (v);
    return ST_OK;
}

static st_rc_t
s_int_field (const json_t *obj, const char *key, const char *field, int64_t min, int64_t max, int64_t def,
             int64_t *out, st_error_t *err)
{
    json_t *v = json_object_get (obj, key);
    *out = def;
    if (!v || json_is_null (v))
        return ST_OK;
    if (!json_is_integer (v) || json_integer_value (v) < min || json_integer_value (v) > max) {
        char what[96];
        snprintf (what, sizeof what, "an integer between %lld and %lld", (long long) min, (long long) max);
        return s_bad (err, field, what, v);
    }
    *out = json_integer_value (v);
    return ST_OK;
}

/*  A string, or an integer taken as its decimal text; NULL when neither.  */
static char *
s_text (const json_t *v)
{
    char num[32];
    if (json_is_string (v))
        return strndup (json_string_value (v), json_string_length (v));
    if (json_is_integer (v)) {
        snprintf (num, sizeof num, "%lld", (long long) json_integer_value (v));
        return strdup (num);
    }
    return NULL;
}

static bool
s_has_control (const char *s)
{
    for (; *s; s++)
        if ((unsigned char) *s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/*  workdir, checkpoint_dir: optional absolute paths.  */
static st_rc_t
s_path_field (const json_t *obj, const char *key, const char *field, char **out, st_error_t *err)
{
    json_t *v = json_object_get (obj, key);
    *out = NULL;
    if (!v || json_is_null (v))
        return ST_OK;
    if (!json_is_string (v) || json_string_value (v)[0] != '/' || json_string_length (v) > S_MAX_PATH
        || strlen (json_string_value (v)) != json_string_length (v) || s_has_control (json_string_value (v)))
        return s_bad (err, field, "an absolute path (starting with /)", v);
    if (!(*out = strdup (json_string_value (v))))
        return st_error_set (err, ST_ENOMEM, field, "%s: out of memory", field);
    return ST_OK;
}

/*  A duration as time_limit takes it: integer seconds, or a string ("90",
 *  "1500ms", "2h", "1h30m"; digits alone are seconds). Returns 0 on success.  */
static int
s_duration_ms (const json_t *v, uint64_t *ms)
{
    if (json_is_integer (v)) {
        if (json_integer_value (v) < 0 || json_integer_value (v) > UINT32_MAX)
            return -1;
        *ms = (uint64_t) json_integer_value (v) * 1000;
        return 0;
    }
    if (!json_is_string (v) || strlen (json_string_value (v)) != json_string_length (v))
        return -1;
    const char *text = json_string_value (v);
    uint32_t seconds;
    if (*text && text[strspn (text, "0123456789")] == '\0') {
        if (st_parse_duration_s (text, &seconds) != 0)
            return -1;
        *ms = (uint64_t) seconds * 1000;
        return 0;
    }
    return st_parse_duration_ms (text, ms) == 0 ? 0 : -1;
}

/*  ---------------------------------------------------------------------------
 *  The sections of a spec  */

static st_rc_t
s_command (const json_t *root, st_spec_t *spec, st_error_t *err)
{
    json_t *cmd = json_object_get (root, "command");
    if (!cmd || json_is_null (cmd))
        return st_error_set (err, ST_EINVAL, "command", "command: required field is missing");
    if (!json_is_array (cmd) || json_array_size (cmd) == 0 || json_array_size (cmd) > S_MAX_ARGS) {
        s_bad (err, "command", "a list of 1 to 256 strings", cmd);
        if (json_is_string (cmd))
            st_error_hint (err, "write the program and its arguments as a list, e.g. [python, train.py]; "
                                "for a shell line use [sh, -c, \"...\"]");
        return ST_EINVAL;
    }
    spec->argc = json_array_size (cmd);
    spec->argv = calloc (spec->argc + 1, sizeof *spec->argv);
    if (!spec->argv)
        return st_error_set (err, ST_ENOMEM, "command", "command: out of memory");
    for (size_t i = 0; i < spec->argc; i++) {
        json_t *arg = json_array_get (cmd, i);
        char field[32];
        snprintf (field, sizeof field, "command[%zu]", i);
        if (!json_is_string (arg) && !json_is_integer (arg)) {
            s_bad (err, field, "a string", arg);
            if (json_is_real (arg) || json_is_boolean (arg))
                st_error_hint (err, "quote it to keep it as written, e.g. \"1.0\"");
            return ST_EINVAL;
        }
        if (json_is_string (arg)
            && (json_string_length (arg) == 0 || json_string_length (arg) > S_MAX_ARG_BYTES
                || strlen (json_string_value (arg)) != json_string_length (arg)))
            return s_bad (err, field, "a string of 1 to 4096 bytes without NUL", arg);
        if (!(spec->argv[i] = s_text (arg)))
            return st_error_set (err, ST_ENOMEM, field, "%s: out of memory", field);
    }
    return ST_OK;
}

/*  Variable names are [A-Za-z_][A-Za-z0-9_]*.  */
static bool
s_valid_env_name (const char *s)
{
    st_field_t rule = { S_MAX_ENV_KEY, ST_FIELD_ALNUM, "_" };
    return !(s[0] >= '0' && s[0] <= '9') && st_field_ok_str (s, &rule);
}

static bool
s_valid_label_key (const char *s)
{
    st_field_t rule = { S_MAX_LABEL_KEY, ST_FIELD_ALNUM, "._-/" };
    return st_field_ok_str (s, &rule);
}

/*  env and placement.labels: mappings of name -> string (or integer).  */
static st_rc_t
s_string_map (const json_t *parent, const char *key, const char *field, bool is_env, st_kv_t *out, st_error_t *err)
{
    json_t *obj;
    st_rc_t rc = s_get_object (parent, key, field, &obj, err);
    size_t max = is_env ? S_MAX_ENV : S_MAX_LABELS;
    size_t max_value = is_env ? S_MAX_ENV_VALUE : S_MAX_LABEL_VALUE;
    if (rc != ST_OK || !obj)
        return rc;
    if (json_object_size (obj) > max) {
        char what[64];
        snprintf (what, sizeof what, "a mapping of at most %zu entries", max);
        return st_error_set (err, ST_EINVAL, field, "%s: must be %s, got %zu", field, what, json_object_size (obj));
    }
    const char *name;
    json_t *value;
    json_object_foreach (obj, name, value) {
        char item[128];
        snprintf (item, sizeof item, "%s.%s", field, name);
        if (is_env && !s_valid_env_name (name)) {
            st_error_set (err, ST_EINVAL, item, "%s: invalid variable name \"%.64s\"", field, name);
            st_error_hint (err, "names are letters, digits and '_', not starting with a digit");
            return ST_EINVAL;
        }
        if (is_env && strncmp (name, "STRATA_", 7) == 0) {
            st_error_set (err, ST_EINVAL, item, "%s: names starting with STRATA_ are reserved", item);
            st_error_hint (err, "Strata sets STRATA_* variables itself for every rank");
            return ST_EINVAL;
        }
        if (!is_env && !s_valid_label_key (name))
            return st_error_set (err, ST_EINVAL, item,
                                 "%s: invalid label name \"%.64s\" (1 to 128 of letters, digits, '.', '_', '-', '/')",
                                 field, name);
        char *text = s_text (value);
        if (!text) {
            s_bad (err, item, "a string", value);
            if (json_is_real (value) || json_is_boolean (value))
                st_error_hint (err, "quote it to keep it as written, e.g. \"true\"");
            return ST_EINVAL;
        }
        if (strlen (text) > max_value || (json_is_string (value) && strlen (text) != json_string_length (value))
            || (!is_env && s_has_control (text))) {
            free (text);
            char what[80];
            snprintf (what, sizeof what, "a string of at most %zu bytes without %s", max_value,
                      is_env ? "NUL" : "control characters");
            return s_bad (err, item, what, value);
        }
        int added = st_kv_add (out, name, text);
        free (text);
        if (added != 0)
            return st_error_set (err, ST_ENOMEM, item, "%s: out of memory", item);
    }
    return ST_OK;
}

/*  The number of tasks: ranks (a gang) for command and finetune, shards
 *  (independent tasks) for inference; spec->ranks either way.  */
static st_rc_t
s_tasks (const json_t *res, st_spec_t *spec, st_error_t *err)
{
    json_t *ranks = json_object_get (res, "ranks"), *shards = json_object_get (res, "shards");
    bool has_ranks = ranks && !json_is_null (ranks), has_shards = shards && !json_is_null (shards);
    int64_t n;
    st_rc_t rc;
    if (spec->gang && has_shards) {
        st_error_set (err, ST_EINVAL, "resources.shards",
                      "resources.shards: only inference jobs have shards; a %s "
                      "job has ranks",
                      st_kind_name (spec->kind));
        st_error_hint (err, "write resources.ranks: N (all ranks start together), or kind: inference for "
                            "independent shards");
        return ST_EINVAL;
    }
    /*  ranks: 1 is accepted: specs stored by earlier versions carry it for every kind.  */
    if (!spec->gang && has_ranks && (has_shards || !json_is_integer (ranks) || json_integer_value (ranks) != 1)) {
        st_error_set (err, ST_EINVAL, "resources.ranks", "resources.ranks: inference jobs have shards, not ranks");
        st_error_hint (err, "write resources.shards: N (independent tasks that may run in different pools)");
        return ST_EINVAL;
    }
    if (spec->gang)
        rc = s_int_field (res, "ranks", "resources.ranks", 1, S_MAX_TASKS, 1, &n, err);
    else
        rc = s_int_field (res, "shards", "resources.shards", 1, S_MAX_TASKS, 1, &n, err);
    if (rc == ST_OK)
        spec->ranks = (uint32_t) n;
    return rc;
}

static st_rc_t
s_resources (const json_t *root, st_spec_t *spec, st_error_t *err)
{
    json_t *res, *v;
    int64_t n;
    st_rc_t rc = s_get_object (root, "resources", "resources", &res, err);
    spec->ranks = 1;
    spec->cpus_milli = 1000;
    spec->mem_mb = 256;
    spec->gpus = 0;
    if (rc != ST_OK || !res)
        return rc;
    if ((rc = s_check_fields (res, "resources", s_resource_fields, err)) != ST_OK
        || (rc = s_tasks (res, spec, err)) != ST_OK)
        return rc;

    v = json_object_get (res, "cpus_per_rank");
    if (v && !json_is_null (v)) {
        const char *field = "resources.cpus_per_rank";
        if (!json_is_number (v))
            return s_bad (err, field, "a number between 0.001 and 1024", v);
        /*  The text "0.001" reads back as the same double as the literal, so the
         *  bounds compare exactly; the scaled value is within 1e-9 of a whole
         *  number of thousandths when the input had at most 3 decimals.  */
        double x = json_number_value (v), scaled = x * 1000.0;
        if (!(x >= 0.001 && x <= 1024.0))
            return s_bad (err, field, "a number between 0.001 and 1024", v);
        double milli = (double) (int64_t) (scaled + 0.5), off = scaled - milli;
        if (off > 1e-8 || off < -1e-8)
            return s_bad (err, field, "a number with at most 3 decimal places (thousandths of a cpu)", v);
        spec->cpus_milli = (uint32_t) milli;
    }

    v = json_object_get (res, "mem_per_rank");
    if (v && !json_is_null (v)) {
        const char *what = "a size between 1M and 16T (integer MiB, or a string like \"512M\", \"2G\")";
        uint64_t mb = 0;
        if (json_is_integer (v) && json_integer_value (v) >= 1)
            mb = (uint64_t) json_integer_value (v);
        else if (!json_is_string (v) || st_parse_mem_mb (json_string_value (v), &mb) != 0)
            return s_bad (err, "resources.mem_per_rank", what, v);
        if (mb < 1 || mb > S_MAX_MEM_MB)
            return s_bad (err, "resources.mem_per_rank", what, v);
        spec->mem_mb = mb;
    }

    if ((rc = s_int_field (res, "gpus_per_rank", "resources.gpus_per_rank", 0, 64, 0, &n, err)) != ST_OK)
        return rc;
    spec->gpus = (uint32_t) n;

    if ((rc = s_word_list (res, "gpu_types", "resources.gpu_types", &s_w_gpu_type, 1, S_MAX_GPU_TYPES,
                           "a list of 1 to 8 GPU type names", &spec->gpu_types, &spec->ngpu_types, err))
        != ST_OK)
        return rc;
    if (spec->ngpu_types && spec->gpus == 0) {
        st_error_set (err, ST_EINVAL, "resources.gpu_types",
                      "resources.gpu_types: only meaningful when resources.gpus_per_rank is above 0");
        st_error_hint (err, "ask for GPUs with gpus_per_rank: N, or leave gpu_types out");
        return ST_EINVAL;
    }
    return ST_OK;
}

/*  placement.weights: 0..1000 each, kept to 6 decimal places so that the
 *  canonical JSON (10 significant digits) reads back to the same numbers.  */
static st_rc_t
s_weights (const json_t *place, st_spec_t *spec, st_error_t *err)
{
    json_t *w;
    st_rc_t rc = s_get_object (place, "weights", "placement.weights", &w, err);
    if (rc != ST_OK || !w || (rc = s_check_fields (w, "placement.weights", s_weight_fields, err)) != ST_OK)
        return rc;
    double *slots[] = { &spec->weights.cost, &spec->weights.latency, &spec->weights.energy, &spec->weights.carbon,
                        &spec->weights.packing };
    bool any = false;
    for (size_t i = 0; s_weight_fields[i]; i++) {
        json_t *v = json_object_get (w, s_weight_fields[i]);
        char field[64];
        snprintf (field, sizeof field, "placement.weights.%s", s_weight_fields[i]);
        *slots[i] = 0;
        if (!v || json_is_null (v))
            continue;
        if (!json_is_number (v) || !(json_number_value (v) >= 0 && json_number_value (v) <= S_MAX_WEIGHT))
            return s_bad (err, field, "a number between 0 and 1000", v);
        *slots[i] = (double) (int64_t) (json_number_value (v) * S_WEIGHT_SCALE + 0.5) / S_WEIGHT_SCALE;
        any = any || *slots[i] > 0;
    }
    if (!any) {
        st_error_set (err, ST_EINVAL, "placement.weights", "placement.weights: at least one weight must be above 0");
        st_error_hint (err,
                       "e.g. weights: {cost: 1, carbon: 1}; the keys are cost, latency, energy, carbon, packing");
        return ST_EINVAL;
    }
    spec->has_weights = 1;
    return ST_OK;
}

/*  placement.sites: the site kinds, in the spec's order.  */
static st_rc_t
s_sites (const json_t *place, st_spec_t *spec, st_error_t *err)
{
    char **names = NULL;
    size_t n = 0;
    st_rc_t rc = s_word_list (place, "sites", "placement.sites", &s_w_site, 1, 4,
                              "a list of site kinds (onprem, private_cloud, public_cloud, edge)", &names, &n, err);
    if (rc == ST_OK && n && !(spec->sites = calloc (n + 1, sizeof *spec->sites)))
        rc = st_error_set (err, ST_ENOMEM, "placement.sites", "placement.sites: out of memory");
    for (size_t i = 0; rc == ST_OK && i < n; i++)
        st_site_parse (names[i], &spec->sites[i]); /*  s_w_site took only the table's names  */
    if (rc == ST_OK && n) {
        spec->sites[n] = ST_SITE__COUNT;
        spec->nsites = n;
    }
    s_free_list (names);
    return rc;
}

static st_rc_t
s_placement (const json_t *root, st_spec_t *spec, st_error_t *err)
{
    json_t *place;
    int64_t n;
    st_rc_t rc = s_get_object (root, "placement", "placement", &place, err);
    if (rc != ST_OK)
        return rc;
    if (!place)
        return (spec->prefer = strdup ("balanced")) ? ST_OK
                                                    : st_error_set (err, ST_ENOMEM, "placement", "out of memory");
    if ((rc = s_check_fields (place, "placement", s_placement_fields, err)) != ST_OK)
        return rc;
    if ((rc = s_name_field (place, "pool", "placement.pool", 64, NULL, &spec->pool, err)) != ST_OK
        || (rc = s_string_map (place, "labels", "placement.labels", false, &spec->labels, err)) != ST_OK
        || (rc = s_sites (place, spec, err)) != ST_OK
        || (rc = s_word_field (place, "near", "placement.near", &s_w_region, NULL, &spec->near, err)) != ST_OK
        || (rc = s_int_field (place, "max_latency_ms", "placement.max_latency_ms", 1, S_MAX_LATENCY_MS, 0, &n, err))
               != ST_OK)
        return rc;
    spec->max_latency_ms = (uint32_t) n;
    if (spec->max_latency_ms && !spec->near) {
        st_error_set (err, ST_EINVAL, "placement.max_latency_ms",
                      "placement.max_latency_ms: needs placement.near, the region the latency is measured from");
        st_error_hint (err, "add near: REGION, e.g. near: eu-west");
        return ST_EINVAL;
    }
    if ((rc = s_weights (place, spec, err)) != ST_OK)
        return rc;
    json_t *prefer = json_object_get (place, "prefer");
    if (spec->has_weights && prefer && !json_is_null (prefer)) {
        st_error_set (err, ST_EINVAL, "placement.weights",
                      "placement.weights: give either placement.prefer or placement.weights, not both");
        st_error_hint (err, "prefer picks a preset set of weights; weights sets them one by one");
        return ST_EINVAL;
    }
    return s_word_field (place, "prefer", "placement.prefer", &s_w_prefer, spec->has_weights ? NULL : "balanced",
                         &spec->prefer, err);
}

static st_rc_t
s_data (const json_t *root, st_spec_t *spec, st_error_t *err)
{
    json_t *data, *v;
    char *word = NULL;
    st_rc_t rc = s_get_object (root, "data", "data", &data, err);
    if (rc != ST_OK || (data && (rc = s_check_fields (data, "data", s_data_fields, err)) != ST_OK))
        return rc;
    v = json_object_get (data, "uri");
    if (v && !json_is_null (v)) {
        if (!json_is_string (v) || json_string_length (v) == 0 || json_string_length (v) > S_MAX_URI
            || strlen (json_string_value (v)) != json_string_length (v) || s_has_control (json_string_value (v)))
            return s_bad (err, "data.uri", "a string of 1 to 4096 bytes without control characters", v);
        if (!(spec->data_uri = strdup (json_string_value (v))))
            return st_error_set (err, ST_ENOMEM, "data.uri", "data.uri: out of memory");
    }
    if ((rc = s_word_field (data, "classification", "data.classification", &s_w_class, "public", &word, err))
        != ST_OK)
        return rc;
    st_class_parse (word, &spec->classification); /*  s_w_class took only the table's names  */
    free (word);
    return s_word_list (data, "residency", "data.residency", &s_w_jurisdiction, 0, S_MAX_RESIDENCY,
                        "a list of at most 64 jurisdiction codes", &spec->residency, &spec->nresidency, err);
}

static st_rc_t
s_simulate (const json_t *root, st_spec_t *spec, st_error_t *err)
{
    json_t *sim, *v;
    uint64_t ms = 0;
    st_rc_t rc = s_get_object (root, "simulate", "simulate", &sim, err);
    if (rc != ST_OK || !sim || (rc = s_check_fields (sim, "simulate", s_simulate_fields, err)) != ST_OK)
        return rc;
    v = json_object_get (sim, "duration");
    if (!v || json_is_null (v))
        return st_error_set (err, ST_EINVAL, "simulate.duration", "simulate.duration: required field is missing");
    if (s_duration_ms (v, &ms) != 0 || ms < 1 || ms > S_MAX_TIME_LIMIT * 1000ull)
        return s_bad (err, "simulate.duration",
                      "seconds or a duration like \"500ms\", \"30s\", \"2h\" (1 ms to 30 days)", v);
    spec->simulate_ms = ms;
    return ST_OK;
}

static st_rc_t
s_time_limit (const json_t *root, st_spec_t *spec, st_error_t *err)
{
    json_t *v = json_object_get (root, "time_limit");
    const char *what = "seconds (0 to 2592000) or a duration like \"90s\", \"30m\", \"2h\", \"1d\" "
                       "(at most 30 days; 0 = none)";
    uint64_t ms = 0;
    spec->time_limit_s = 0;
    if (!v || json_is_null (v))
        return ST_OK;
    if (s_duration_ms (v, &ms) != 0 || ms % 1000 != 0 || ms / 1000 > S_MAX_TIME_LIMIT)
        return s_bad (err, "time_limit", what, v);
    spec->time_limit_s = (uint32_t) (ms / 1000);
    return ST_OK;
}

/*  model: a family, a variant or "auto" of the cluster's registry, or a
 *  fine-tuned model: NAME (its latest version) or NAME:VERSION. Which registry
 *  a bare NAME belongs to is the scheduler's business; here it is a word.  */
static st_rc_t
s_model (const json_t *root, st_spec_t *spec, st_error_t *err)
{
    json_t *v = json_object_get (root, "model");
    const char *what = "1 to 128 characters of letters, digits, '.', '_', '/' or '-' (a model family, variant, "
                       "\"auto\" or a fine-tuned model), or a fine-tuned model's NAME:VERSION (VERSION from 1)";
    if (!v || json_is_null (v))
        return ST_OK;
    if (!json_is_string (v) || strlen (json_string_value (v)) != json_string_length (v))
        return s_bad (err, "model", what, v);
    const char *text = json_string_value (v);
    const char *colon = strchr (text, ':');
    size_t len = colon ? (size_t) (colon - text) : strlen (text);
    if (!s_chars_ok (text, len, &s_w_model))
        return s_bad (err, "model", what, v);
    if (colon) {
        const char *ver = colon + 1;
        size_t digits = strspn (ver, "0123456789");
        if (digits == 0 || digits > 9 || ver[digits] != '\0' || ver[0] == '0'
            || (len == 4 && strncmp (text, "auto", 4) == 0))
            return s_bad (err, "model", what, v);
        spec->model_version = (uint32_t) strtoul (ver, NULL, 10);
    }
    if (!(spec->model = strndup (text, len)))
        return st_error_set (err, ST_ENOMEM, "model", "model: out of memory");
    return ST_OK;
}

/*  depends_on: job ids. Whether they exist is the scheduler's to say.  */
static st_rc_t
s_depends_on (const json_t *root, st_spec_t *spec, st_error_t *err)
{
    json_t *v = json_object_get (root, "depends_on");
    if (!v || json_is_null (v))
        return ST_OK;
    if (!json_is_array (v) || json_array_size (v) > S_MAX_DEPENDS)
        return s_bad (err, "depends_on", "a list of at most 32 job ids", v);
    size_t n = json_array_size (v);
    if (n == 0)
        return ST_OK;
    if (!(spec->depends_on = calloc (n, sizeof *spec->depends_on)))
        return st_error_set (err, ST_ENOMEM, "depends_on", "depends_on: out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get (v, i);
        char at[48];
        snprintf (at, sizeof at, "depends_on[%zu]", i);
        if (!json_is_integer (item) || json_integer_value (item) < 1)
            return s_bad (err, at, "a job id (a positive integer)", item);
        uint64_t id = (uint64_t) json_integer_value (item);
        for (size_t k = 0; k < i; k++)
            if (spec->depends_on[k] == id)
                return st_error_set (err, ST_EINVAL, at, "%s: job %llu is listed twice", at, (unsigned long long) id);
        spec->depends_on[spec->ndepends_on++] = id;
    }
    return ST_OK;
}

/*  launcher (auto is resolved here) and output_model; after kind and model.  */
static st_rc_t
s_launcher_and_output (const json_t *root, st_spec_t *spec, st_error_t *err)
{
    char *word = NULL;
    st_rc_t rc = s_word_field (root, "launcher", "launcher", &s_w_launcher, "auto", &word, err);
    if (rc != ST_OK)
        return rc;
    bool finetune = spec->kind == ST_KIND_FINETUNE;
    if (strcmp (word, "mpirun") == 0 && !spec->gang) {
        free (word);
        st_error_set (err, ST_EINVAL, "launcher",
                      "launcher: mpirun starts the ranks of a gang (kind command or finetune); an inference "
                      "job's shards are started each by its own worker");
        st_error_hint (err, "leave launcher out, or write launcher: direct");
        return ST_EINVAL;
    }
    /*  auto: a CPU fine-tune runs under mpirun (MPI collectives); a GPU one is
     *  started rank by rank and bootstraps NCCL through the rendezvous.  */
    spec->launcher = strcmp (word, "mpirun") == 0 || (strcmp (word, "auto") == 0 && finetune && spec->gpus == 0)
                         ? ST_LAUNCHER_MPIRUN
                         : ST_LAUNCHER_DIRECT;
    free (word);
    if ((rc = s_word_field (root, "output_model", "output_model", &s_w_model, NULL, &spec->output_model, err))
        != ST_OK)
        return rc;
    if (spec->output_model && strcmp (spec->output_model, "auto") == 0)
        return st_error_set (err, ST_EINVAL, "output_model",
                             "output_model: \"auto\" is reserved (model: auto picks a variant)");
    if (spec->output_model && !finetune) {
        st_error_set (err, ST_EINVAL, "output_model",
                      "output_model: only a finetune job registers a model version (this job's kind is %s)",
                      st_kind_name (spec->kind));
        st_error_hint (err, "write kind: finetune, or leave output_model out");
        return ST_EINVAL;
    }
    return ST_OK;
}

/*  The default name: command[0]'s base name, reduced to name characters.  */
static char *
s_default_name (const char *argv0)
{
    const char *base = strrchr (argv0, '/');
    base = base ? base + 1 : argv0;
    size_t len = strlen (base);
    if (len > 128)
        len = 128;
    char *name = strndup (len ? base : "job", len ? len : 3);
    if (!name)
        return NULL;
    for (char *p = name; *p; p++)
        if (!s_is_name_char (*p))
            *p = '_';
    return name;
}

st_spec_t *
st_spec_from_json (struct json_t *root, st_error_t *err)
{
    st_spec_t *spec = NULL;
    int64_t n;
    st_rc_t rc = ST_OK;
    st_error_clear (err);

    if (!root || json_is_null (root)) {
        st_error_set (err, ST_EINVAL, NULL, "the spec is empty");
        st_error_hint (err, "a spec needs at least a command, e.g. command: [echo, hello]");
        return NULL;
    }
    if (!json_is_object (root)) {
        char shown[96];
        st_error_set (err, ST_EINVAL, NULL, "the spec must be a mapping of fields, got %s",
                      s_show (root, shown, sizeof shown));
        return NULL;
    }
    spec = calloc (1, sizeof *spec);
    if (!spec) {
        st_error_set (err, ST_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    if ((rc = s_check_fields (root, "", s_top_fields, err)) != ST_OK)
        goto out;

    char *kind = NULL;
    if ((rc = s_word_field (root, "kind", "kind", &s_w_kind, "command", &kind, err)) != ST_OK)
        goto out;
    st_kind_parse (kind, &spec->kind); /*  s_w_kind took only the table's names  */
    free (kind);
    spec->gang = spec->kind != ST_KIND_INFERENCE;
    if ((rc = s_command (root, spec, err)) != ST_OK)
        goto out;
    if ((rc = s_name_field (root, "name", "name", 128, NULL, &spec->name, err)) != ST_OK)
        goto out;
    if (!spec->name && !(spec->name = s_default_name (spec->argv[0]))) {
        rc = st_error_set (err, ST_ENOMEM, "name", "name: out of memory");
        goto out;
    }
    json_t *tenant = json_object_get (root, "tenant");
    spec->tenant_given = tenant && !json_is_null (tenant);
    if ((rc = s_name_field (root, "tenant", "tenant", 64, "default", &spec->tenant, err)) != ST_OK
        || (rc = s_name_field (root, "queue", "queue", 64, "default", &spec->queue, err)) != ST_OK)
        goto out;
    if ((rc = s_int_field (root, "priority", "priority", -1000, 1000, 0, &n, err)) != ST_OK)
        goto out;
    spec->priority = (int32_t) n;
    if ((rc = s_bool_field (root, "preemptible", "preemptible", &spec->preemptible, err)) != ST_OK
        || (rc = s_string_map (root, "env", "env", true, &spec->env, err)) != ST_OK
        || (rc = s_path_field (root, "workdir", "workdir", &spec->workdir, err)) != ST_OK
        || (rc = s_resources (root, spec, err)) != ST_OK || (rc = s_placement (root, spec, err)) != ST_OK
        || (rc = s_data (root, spec, err)) != ST_OK || (rc = s_model (root, spec, err)) != ST_OK
        || (rc = s_path_field (root, "checkpoint_dir", "checkpoint_dir", &spec->checkpoint_dir, err)) != ST_OK
        || (rc = s_simulate (root, spec, err)) != ST_OK || (rc = s_time_limit (root, spec, err)) != ST_OK
        || (rc = s_depends_on (root, spec, err)) != ST_OK || (rc = s_launcher_and_output (root, spec, err)) != ST_OK)
        goto out;
    if ((rc = s_int_field (root, "retries", "retries", 0, 100, 0, &n, err)) != ST_OK)
        goto out;
    spec->retries = (uint32_t) n;
out:
    if (rc != ST_OK)
        st_spec_destroy (&spec);
    return spec;
}

st_spec_t *
st_spec_parse (const char *text, size_t len, st_error_t *err)
{
    json_t *root = st_doc_parse (text, len, err);
    if (!root)
        return NULL;
    st_spec_t *spec = st_spec_from_json (root, err);
    json_decref (root);
    return spec;
}

static json_t *
s_kv_to_json (const st_kv_t *kv)
{
    json_t *obj = json_object ();
    for (size_t i = 0; obj && i < kv->n; i++)
        if (json_object_set_new (obj, kv->keys[i], json_string (kv->vals[i] ? kv->vals[i] : "")) != 0) {
            json_decref (obj);
            obj = NULL;
        }
    return obj;
}

static json_t *
s_string_or_null (const char *s)
{
    return s ? json_string (s) : json_null ();
}

/*  Whole numbers as integers, others as the shortest decimal.  */
static json_t *
s_number_json (double x)
{
    if (x == (double) (json_int_t) x)
        return json_integer ((json_int_t) x);
    return json_real (x);
}

/*  A word list, or null when it is empty.  */
static json_t *
s_list_json (char *const *items, size_t n)
{
    if (n == 0)
        return json_null ();
    json_t *a = json_array ();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new (a, json_string (items[i])) != 0) {
            json_decref (a);
            a = NULL;
        }
    return a;
}

static json_t *
s_weights_json (const st_spec_t *spec)
{
    if (!spec->has_weights)
        return json_null ();
    return json_pack ("{s:o, s:o, s:o, s:o, s:o}", "carbon", s_number_json (spec->weights.carbon), "cost",
                      s_number_json (spec->weights.cost), "energy", s_number_json (spec->weights.energy), "latency",
                      s_number_json (spec->weights.latency), "packing", s_number_json (spec->weights.packing));
}

/*  {"duration": seconds} when whole, else {"duration": "NNNms"}; null when not simulated.  */
static json_t *
s_simulate_json (uint64_t ms)
{
    char text[32];
    if (ms == 0)
        return json_null ();
    if (ms % 1000 == 0)
        return json_pack ("{s:I}", "duration", (json_int_t) (ms / 1000));
    snprintf (text, sizeof text, "%llums", (unsigned long long) ms);
    return json_pack ("{s:s}", "duration", text);
}

/*  placement.sites as names, or null when any.  */
static json_t *
s_sites_json (const st_spec_t *spec)
{
    if (!spec->nsites)
        return json_null ();
    json_t *list = json_array ();
    for (size_t i = 0; list && i < spec->nsites; i++)
        if (json_array_append_new (list, json_string (st_site_name (spec->sites[i]))) != 0) {
            json_decref (list);
            return NULL;
        }
    return list;
}

char *
st_spec_to_json (const st_spec_t *spec)
{
    char *text = NULL;
    json_t *root = NULL, *argv = NULL;
    if (!spec)
        return NULL;
    bool shards = spec->kind == ST_KIND_INFERENCE;
    char model[160];
    if (spec->model && spec->model_version)
        snprintf (model, sizeof model, "%s:%u", spec->model, spec->model_version);
    else
        snprintf (model, sizeof model, "%s", spec->model ? spec->model : "");
    argv = json_array ();
    for (size_t i = 0; argv && i < spec->argc; i++)
        if (json_array_append_new (argv, json_string (spec->argv[i])) != 0)
            goto out;
    /*  Whole cpus are written as integers, others as the shortest decimal (at most
     *  3 places), so reading the text back gives the same thousandths.  */
    root = json_pack (
        "{s:o, s:o, s:s, s:s, s:s, s:s, s:i, s:b, s:o, s:s?, s:o, s:o, s:o, s:I, s:I, s:o}", "command", argv, "env",
        s_kv_to_json (&spec->env), "kind", st_kind_name (spec->kind), "name", spec->name ? spec->name : "job",
        "tenant", spec->tenant ? spec->tenant : "default", "queue", spec->queue ? spec->queue : "default", "priority",
        (int) spec->priority, "preemptible", spec->preemptible, "placement",
        json_pack ("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "labels", s_kv_to_json (&spec->labels), "max_latency_ms",
                   spec->max_latency_ms ? json_integer (spec->max_latency_ms) : json_null (), "near",
                   s_string_or_null (spec->near), "pool", s_string_or_null (spec->pool), "prefer",
                   s_string_or_null (spec->prefer        ? spec->prefer
                                     : spec->has_weights ? NULL
                                                         : "balanced"),
                   "sites", s_sites_json (spec), "weights", s_weights_json (spec)),
        "model", spec->model ? model : NULL, "data",
        json_pack ("{s:s, s:o, s:o}", "classification", st_class_name (spec->classification), "residency",
                   s_list_json (spec->residency, spec->nresidency), "uri", s_string_or_null (spec->data_uri)),
        "checkpoint_dir", s_string_or_null (spec->checkpoint_dir), "simulate", s_simulate_json (spec->simulate_ms),
        "retries", (json_int_t) spec->retries, "time_limit", (json_int_t) spec->time_limit_s, "workdir",
        s_string_or_null (spec->workdir));
    argv = NULL; /*  json_pack took it, or released it on failure  */
    json_t *res = root
                      ? json_pack ("{s:o, s:o, s:I, s:I}", "cpus_per_rank", s_number_json (spec->cpus_milli / 1000.0),
                                   "gpu_types", s_list_json (spec->gpu_types, spec->ngpu_types), "gpus_per_rank",
                                   (json_int_t) spec->gpus, "mem_per_rank", (json_int_t) spec->mem_mb)
                      : NULL;
    json_t *deps = spec->ndepends_on ? json_array () : json_null ();
    for (size_t i = 0; deps && i < spec->ndepends_on; i++)
        if (json_array_append_new (deps, json_integer ((json_int_t) spec->depends_on[i])) != 0) {
            json_decref (deps);
            deps = NULL;
        }
    if (root
        && (json_object_set_new (root, "depends_on", deps) != 0
            || json_object_set_new (root, "launcher", json_string (st_launcher_name (spec->launcher))) != 0
            || json_object_set_new (root, "output_model", s_string_or_null (spec->output_model)) != 0)) {
        json_decref (res);
        res = NULL;
    }
    if (res && json_object_set_new (res, shards ? "shards" : "ranks", json_integer (spec->ranks)) == 0
        && json_object_set_new (root, "resources", res) == 0)
        text = json_dumps (root, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION (10));
    else
        json_decref (res);
out:
    json_decref (argv);
    json_decref (root);
    return text;
}

void
st_spec_destroy (st_spec_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    st_spec_t *spec = *self_p;
    free (spec->name);
    free (spec->tenant);
    free (spec->queue);
    for (size_t i = 0; spec->argv && i < spec->argc; i++)
        free (spec->argv[i]);
    free (spec->argv);
    st_kv_free (&spec->env);
    free (spec->workdir);
    free (spec->pool);
    st_kv_free (&spec->labels);
    s_free_list (spec->gpu_types);
    free (spec->sites);
    free (spec->near);
    free (spec->prefer);
    free (spec->data_uri);
    s_free_list (spec->residency);
    free (spec->model);
    free (spec->checkpoint_dir);
    free (spec->depends_on);
    free (spec->output_model);
    free (spec);
    *self_p = NULL;
}
