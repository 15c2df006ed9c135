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

#include "st_config.h"
#include "st_doc.h"

#define S_MAX_ARGS        256
#define S_MAX_ARG_BYTES   4096
#define S_MAX_ENV         128
#define S_MAX_ENV_KEY     256
#define S_MAX_ENV_VALUE   4096
#define S_MAX_LABELS      32
#define S_MAX_LABEL_KEY   128
#define S_MAX_LABEL_VALUE 256
#define S_MAX_PATH        4096
#define S_MAX_MEM_MB      (16ull * 1024 * 1024)     /*  16 TiB  */
#define S_MAX_TIME_LIMIT  (30u * 24 * 3600)         /*  30 days  */

static const char *const s_top_fields [] = {"kind", "name", "tenant", "queue", "priority", "command", "env",
                                            "workdir", "resources", "placement", "time_limit", "retries",
                                            NULL};
static const char *const s_resource_fields [] = {"ranks", "cpus_per_rank", "mem_per_rank", "gpus_per_rank",
                                                 NULL};
static const char *const s_placement_fields [] = {"pool", "labels", NULL};
static const char *const s_kinds [] = {"command", "finetune", "inference", NULL};

/*  ---------------------------------------------------------------------------
 *  Key/value lists  */

void
st_kv_free (st_kv_t *kv)
{
    if (!kv)
        return;
    for (size_t i = 0; i < kv->n; i++) {
        free (kv->keys [i]);
        if (kv->vals)
            free (kv->vals [i]);
    }
    free (kv->keys);
    free (kv->vals);
    kv->keys = NULL;
    kv->vals = NULL;
    kv->n = 0;
}

const char *
st_kv_get (const st_kv_t *kv, const char *key)
{
    if (!kv || !key)
        return NULL;
    for (size_t i = 0; i < kv->n; i++)
        if (strcmp (kv->keys [i], key) == 0)
            return kv->vals [i];
    return NULL;
}

int
st_kv_add (st_kv_t *kv, const char *key, const char *val)
{
    if (!kv || !key)
        return -1;
    char *k = strdup (key);
    char *v = val ? strdup (val) : NULL;
    char **keys = realloc (kv->keys, (kv->n + 1) * sizeof *keys);
    if (keys)
        kv->keys = keys;
    char **vals = keys ? realloc (kv->vals, (kv->n + 1) * sizeof *vals) : NULL;
    if (vals)
        kv->vals = vals;
    if (!k || (val && !v) || !keys || !vals) {
        free (k);
        free (v);
        return -1;
    }
    kv->keys [kv->n] = k;
    kv->vals [kv->n] = v;
    kv->n++;
    return 0;
}

/*  ---------------------------------------------------------------------------
 *  Value parsers shared with st_config  */

int
st_spec_parse_mem (const char *text, uint64_t *mb)
{
    /*  Exact decimal arithmetic in KiB: "1.5G" is 1536 MiB, "1K" rounds up to 1 MiB.  */
    const uint64_t limit_kib = 1ull << 50;   /*  1 EiB: far past any range, small enough not to overflow  */
    uint64_t whole = 0, frac = 0, frac_scale = 1, unit_kib = 1024;
    const char *p = text;
    int digits = 0;
    bool has_unit = true;
    if (!text || !mb)
        return -1;
    while (*p >= '0' && *p <= '9') {
        whole = whole * 10 + (uint64_t) (*p++ - '0');
        if (whole > limit_kib)
            return -1;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (frac_scale < 1000000000ull) {
                frac = frac * 10 + (uint64_t) (*p - '0');
                frac_scale *= 10;
            }
            else if (*p != '0')
                return -1;   /*  more precision than a KiB can carry  */
            p++;
            digits++;
        }
    }
    if (digits == 0)
        return -1;
    switch (*p) {
    case 'k': case 'K': unit_kib = 1; p++; break;
    case 'm': case 'M': unit_kib = 1024; p++; break;
    case 'g': case 'G': unit_kib = 1024ull * 1024; p++; break;
    case 't': case 'T': unit_kib = 1024ull * 1024 * 1024; p++; break;
    default: has_unit = false; break;
    }
    /*  "M", "Mi", "MB" and "MiB" all mean mebibytes; a bare "B" would mean bytes and is refused.  */
    if (has_unit && *p == 'i')
        p++;
    if (has_unit && (*p == 'B' || *p == 'b'))
        p++;
    if (*p != '\0')
        return -1;
    if (whole > limit_kib / unit_kib)
        return -1;
    uint64_t kib = whole * unit_kib + (frac * unit_kib + frac_scale - 1) / frac_scale;
    *mb = (kib + 1023) / 1024;
    return 0;
}

int
st_spec_parse_duration (const char *text, uint32_t *seconds)
{
    uint64_t value = 0, ms;
    if (!text || !seconds || !*text)
        return -1;
    if (text [strspn (text, "0123456789")] == '\0') {
        /*  A bare number is seconds here, where st_config takes milliseconds.  */
        for (const char *p = text; *p; p++) {
            value = value * 10 + (uint64_t) (*p - '0');
            if (value > UINT32_MAX)
                return -1;
        }
        *seconds = (uint32_t) value;
        return 0;
    }
    if (st_config_parse_duration_ms (text, &ms) != 0 || ms % 1000 != 0 || ms / 1000 > UINT32_MAX)
        return -1;
    *seconds = (uint32_t) (ms / 1000);
    return 0;
}

/*  ---------------------------------------------------------------------------
 *  Validation helpers  */

/*  A value as it is shown in a message: "lots" (quoted, shortened), 5, 0.5, true, a list.  */
static const char *
s_show (const json_t *v, char *buf, size_t size)
{
    if (!v)
        snprintf (buf, size, "nothing");
    else if (json_is_string (v)) {
        size_t len = json_string_length (v), cut = len;
        const char *s = json_string_value (v);
        if (cut > 48) {
            cut = 48;
            while (cut > 0 && ((unsigned char) s [cut] & 0xc0) == 0x80)
                cut--;
        }
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
    char shown [96];
    return st_error_set (err, ST_EINVAL, field, "%s: must be %s, got %s", field, what, s_show (v, shown, sizeof shown));
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
        char field [128], list [256];
        size_t used = 0;
        s_join (prefix, key, field, sizeof field);
        list [0] = '\0';
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

static bool
s_valid_name (const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max || strlen (s) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!s_is_name_char (s [i]))
            return false;
    return true;
}

/*  kind/name/tenant/queue/pool-style strings: 1..max of [A-Za-z0-9._-].  */
static st_rc_t
s_name_field (const json_t *obj, const char *key, const char *field, size_t max, const char *def, char **out,
              st_error_t *err)
{
    json_t *v = json_object_get (obj, key);
    char what [128];
    *out = NULL;
    if (!v || json_is_null (v)) {
        if (def && !(*out = strdup (def)))
            return st_error_set (err, ST_ENOMEM, field, "%s: out of memory", field);
        return ST_OK;
    }
    snprintf (what, sizeof what, "1 to %zu characters of letters, digits, '.', '_' or '-'", max);
    if (!json_is_string (v) || !s_valid_name (json_string_value (v), json_string_length (v), max))
        return s_bad (err, field, what, v);
    if (!(*out = strdup (json_string_value (v))))
        return st_error_set (err, ST_ENOMEM, field, "%s: out of memory", field);
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
        char what [96];
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
    char num [32];
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
        char field [32];
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
        if (!(spec->argv [i] = s_text (arg)))
            return st_error_set (err, ST_ENOMEM, field, "%s: out of memory", field);
    }
    return ST_OK;
}

/*  Variable names are [A-Za-z_][A-Za-z0-9_]*.  */
static bool
s_valid_env_name (const char *s)
{
    size_t len = strlen (s);
    if (len == 0 || len > S_MAX_ENV_KEY || (s [0] >= '0' && s [0] <= '9'))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s [i] >= 'a' && s [i] <= 'z') || (s [i] >= 'A' && s [i] <= 'Z') || (s [i] >= '0' && s [i] <= '9')
              || s [i] == '_'))
            return false;
    return true;
}

static bool
s_valid_label_key (const char *s)
{
    size_t len = strlen (s);
    if (len == 0 || len > S_MAX_LABEL_KEY)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!s_is_name_char (s [i]) && s [i] != '/')
            return false;
    return true;
}

/*  env and placement.labels: mappings of name -> string (or integer).  */
static st_rc_t
s_string_map (const json_t *parent, const char *key, const char *field, bool is_env, st_kv_t *out,
              st_error_t *err)
{
    json_t *obj;
    st_rc_t rc = s_get_object (parent, key, field, &obj, err);
    size_t max = is_env ? S_MAX_ENV : S_MAX_LABELS;
    size_t max_value = is_env ? S_MAX_ENV_VALUE : S_MAX_LABEL_VALUE;
    if (rc != ST_OK || !obj)
        return rc;
    if (json_object_size (obj) > max) {
        char what [64];
        snprintf (what, sizeof what, "a mapping of at most %zu entries", max);
        return st_error_set (err, ST_EINVAL, field, "%s: must be %s, got %zu", field, what, json_object_size (obj));
    }
    const char *name;
    json_t *value;
    json_object_foreach (obj, name, value) {
        char item [128];
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
            char what [80];
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
    if ((rc = s_check_fields (res, "resources", s_resource_fields, err)) != ST_OK)
        return rc;
    if ((rc = s_int_field (res, "ranks", "resources.ranks", 1, 1024, 1, &n, err)) != ST_OK)
        return rc;
    spec->ranks = (uint32_t) n;

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
        else if (!json_is_string (v) || st_spec_parse_mem (json_string_value (v), &mb) != 0)
            return s_bad (err, "resources.mem_per_rank", what, v);
        if (mb < 1 || mb > S_MAX_MEM_MB)
            return s_bad (err, "resources.mem_per_rank", what, v);
        spec->mem_mb = mb;
    }

    if ((rc = s_int_field (res, "gpus_per_rank", "resources.gpus_per_rank", 0, 64, 0, &n, err)) != ST_OK)
        return rc;
    spec->gpus = (uint32_t) n;
    return ST_OK;
}

static st_rc_t
s_placement (const json_t *root, st_spec_t *spec, st_error_t *err)
{
    json_t *place;
    st_rc_t rc = s_get_object (root, "placement", "placement", &place, err);
    if (rc != ST_OK || !place)
        return rc;
    if ((rc = s_check_fields (place, "placement", s_placement_fields, err)) != ST_OK)
        return rc;
    if ((rc = s_name_field (place, "pool", "placement.pool", 64, NULL, &spec->pool, err)) != ST_OK)
        return rc;
    return s_string_map (place, "labels", "placement.labels", false, &spec->labels, err);
}

static st_rc_t
s_time_limit (const json_t *root, st_spec_t *spec, st_error_t *err)
{
    json_t *v = json_object_get (root, "time_limit");
    const char *what = "seconds (0 to 2592000) or a duration like \"90s\", \"30m\", \"2h\", \"1d\" "
                       "(at most 30 days; 0 = none)";
    uint32_t s = 0;
    spec->time_limit_s = 0;
    if (!v || json_is_null (v))
        return ST_OK;
    if (json_is_integer (v) && json_integer_value (v) >= 0 && json_integer_value (v) <= S_MAX_TIME_LIMIT)
        s = (uint32_t) json_integer_value (v);
    else if (!json_is_string (v) || st_spec_parse_duration (json_string_value (v), &s) != 0 || s > S_MAX_TIME_LIMIT)
        return s_bad (err, "time_limit", what, v);
    spec->time_limit_s = s;
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
    json_t *v;
    int64_t n;
    st_rc_t rc = ST_OK;
    st_error_clear (err);

    if (!root || json_is_null (root)) {
        st_error_set (err, ST_EINVAL, NULL, "the spec is empty");
        st_error_hint (err, "a spec needs at least a command, e.g. command: [echo, hello]");
        return NULL;
    }
    if (!json_is_object (root)) {
        char shown [96];
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

    v = json_object_get (root, "kind");
    if (v && !json_is_null (v)) {
        bool known = false;
        for (const char *const *k = s_kinds; json_is_string (v) && *k && !known; k++)
            known = strcmp (*k, json_string_value (v)) == 0;
        if (!known) {
            rc = s_bad (err, "kind", "one of command, finetune, inference", v);
            goto out;
        }
    }
    if ((rc = s_name_field (root, "kind", "kind", 16, "command", &spec->kind, err)) != ST_OK)
        goto out;
    if ((rc = s_command (root, spec, err)) != ST_OK)
        goto out;
    if ((rc = s_name_field (root, "name", "name", 128, NULL, &spec->name, err)) != ST_OK)
        goto out;
    if (!spec->name && !(spec->name = s_default_name (spec->argv [0]))) {
        rc = st_error_set (err, ST_ENOMEM, "name", "name: out of memory");
        goto out;
    }
    if ((rc = s_name_field (root, "tenant", "tenant", 64, "default", &spec->tenant, err)) != ST_OK
        || (rc = s_name_field (root, "queue", "queue", 64, "default", &spec->queue, err)) != ST_OK)
        goto out;
    if ((rc = s_int_field (root, "priority", "priority", -1000, 1000, 0, &n, err)) != ST_OK)
        goto out;
    spec->priority = (int32_t) n;
    if ((rc = s_string_map (root, "env", "env", true, &spec->env, err)) != ST_OK)
        goto out;

    v = json_object_get (root, "workdir");
    if (v && !json_is_null (v)) {
        if (!json_is_string (v) || json_string_value (v) [0] != '/' || json_string_length (v) > S_MAX_PATH
            || strlen (json_string_value (v)) != json_string_length (v) || s_has_control (json_string_value (v))) {
            rc = s_bad (err, "workdir", "an absolute path (starting with /)", v);
            goto out;
        }
        if (!(spec->workdir = strdup (json_string_value (v)))) {
            rc = st_error_set (err, ST_ENOMEM, "workdir", "workdir: out of memory");
            goto out;
        }
    }
    if ((rc = s_resources (root, spec, err)) != ST_OK || (rc = s_placement (root, spec, err)) != ST_OK
        || (rc = s_time_limit (root, spec, err)) != ST_OK)
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
        if (json_object_set_new (obj, kv->keys [i], json_string (kv->vals [i] ? kv->vals [i] : "")) != 0) {
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

char *
st_spec_to_json (const st_spec_t *spec)
{
    char *text = NULL;
    json_t *root = NULL, *argv = NULL, *cpus = NULL;
    if (!spec)
        return NULL;
    argv = json_array ();
    for (size_t i = 0; argv && i < spec->argc; i++)
        if (json_array_append_new (argv, json_string (spec->argv [i])) != 0)
            goto out;
    /*  Whole cpus are written as integers, others as the shortest decimal (at most
     *  3 places), so reading the text back gives the same thousandths.  */
    cpus = spec->cpus_milli % 1000 == 0 ? json_integer (spec->cpus_milli / 1000)
                                                : json_real (spec->cpus_milli / 1000.0);
    root = json_pack ("{s:o, s:o, s:s, s:s, s:s, s:s, s:i, s:o, s:{s:o, s:I, s:I, s:I}, s:I, s:I, s:o}",
                      "command", argv,
                      "env", s_kv_to_json (&spec->env),
                      "kind", spec->kind ? spec->kind : "command",
                      "name", spec->name ? spec->name : "job",
                      "tenant", spec->tenant ? spec->tenant : "default",
                      "queue", spec->queue ? spec->queue : "default",
                      "priority", (int) spec->priority,
                      "placement", json_pack ("{s:o, s:o}", "labels", s_kv_to_json (&spec->labels),
                                              "pool", s_string_or_null (spec->pool)),
                      "resources",
                      "cpus_per_rank", cpus,
                      "gpus_per_rank", (json_int_t) spec->gpus,
                      "mem_per_rank", (json_int_t) spec->mem_mb,
                      "ranks", (json_int_t) spec->ranks,
                      "retries", (json_int_t) spec->retries,
                      "time_limit", (json_int_t) spec->time_limit_s,
                      "workdir", s_string_or_null (spec->workdir));
    argv = NULL;   /*  json_pack took it, or released it on failure  */
    if (root)
        text = json_dumps (root, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION (10));
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
    free (spec->kind);
    free (spec->name);
    free (spec->tenant);
    free (spec->queue);
    for (size_t i = 0; spec->argv && i < spec->argc; i++)
        free (spec->argv [i]);
    free (spec->argv);
    st_kv_free (&spec->env);
    free (spec->workdir);
    free (spec->pool);
    st_kv_free (&spec->labels);
    free (spec);
    *self_p = NULL;
}
