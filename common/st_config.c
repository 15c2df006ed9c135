/*  st_config.c: table-driven options from flags and from a YAML/JSON file.
 *
 *  st_config_parse() walks argv twice. The first walk only looks for --help
 *  (usage is printed before any file is read, so a broken config file cannot
 *  hide the help) and for --config; the file is applied; the second walk
 *  applies every flag, so flags win over the file and the file over the
 *  defaults. Values from flags and from the file go through one text parser
 *  per type, so "2s" means the same in both; messages name the option the way
 *  it was written: "--heartbeat-interval: ..." or "worker.yaml: heartbeat-interval: ...".
 *
 *  Lists: a KV option merges key by key (the last value for a key wins); a
 *  STRINGS option given on the command line replaces the file's list. */
#include "st_config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "st_doc.h"
#include "st_units.h"

#define S_MAX_OPTS 128 /*  options in one table; more is a programming error  */

static void *
s_field (const st_opt_t *opt, void *cfg)
{
    return (char *) cfg + opt->offset;
}

static bool
s_has_bounds (const st_opt_t *opt)
{
    return opt->min != 0 || opt->max != 0;
}

/*  ---------------------------------------------------------------------------
 *  Key-value lists  */

/*  Sets key to val in kv, replacing an earlier value for the same key.  */
static int
s_kv_set (st_kv_t *kv, const char *key, size_t key_len, const char *val, size_t val_len)
{
    char *k = strndup (key, key_len), *v = strndup (val, val_len);
    int rc = -1;
    if (!k || !v)
        goto out;
    for (size_t i = 0; i < kv->n; i++)
        if (strcmp (kv->keys[i], k) == 0) {
            free (kv->vals[i]);
            kv->vals[i] = v;
            v = NULL;
            rc = 0;
            goto out;
        }
    rc = st_kv_add (kv, k, v);
out:
    free (k);
    free (v);
    return rc;
}

/*  "k=v" or "k=v,k2=v2". A comma starts a new pair only when what follows it
 *  looks like "key=", so "PATH=/a,/b" keeps its comma.  */
static st_rc_t
s_parse_kv (const char *text, st_kv_t *kv, const char *label, const char *field, st_error_t *err)
{
    const char *p = text;
    do {
        const char *eq = strchr (p, '=');
        size_t key_len = eq ? (size_t) (eq - p) : 0;
        if (!eq || key_len == 0 || memchr (p, ',', key_len))
            return st_error_set (err, ST_EINVAL, field, "%s: expected KEY=VALUE, got \"%.64s\"", label, text);
        const char *val = eq + 1, *end = val;
        for (;;) {
            const char *comma = strchr (end, ',');
            if (!comma) {
                end = val + strlen (val);
                break;
            }
            size_t span = strcspn (comma + 1, "=, \t");
            if (span > 0 && comma[1 + span] == '=') {
                end = comma;
                break;
            }
            end = comma + 1;
        }
        if (s_kv_set (kv, p, key_len, val, (size_t) (end - val)) != 0)
            return st_error_set (err, ST_ENOMEM, field, "%s: out of memory", label);
        p = *end == ',' ? end + 1 : end;
    } while (*p);
    return ST_OK;
}

static int
s_parse_bool (const char *text, int *out)
{
    static const char *const yes[] = { "true", "yes", "on", "1", NULL };
    static const char *const no[] = { "false", "no", "off", "0", NULL };
    for (int i = 0; yes[i]; i++)
        if (strcmp (text, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
    for (int i = 0; no[i]; i++)
        if (strcmp (text, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    return -1;
}

/*  Applies one textual value. label is how the option was written ("--gpus",
 *  "worker.yaml: gpus"); it starts every message.  */
static st_rc_t
s_set_text (const st_opt_t *opt, void *cfg, const char *text, const char *label, st_error_t *err)
{
    void *field = s_field (opt, cfg);
    char lo[32], hi[32];
    switch (opt->type) {
    case ST_OPT_STRING:
    case ST_OPT_PATH: {
        if (opt->type == ST_OPT_PATH && !*text)
            return st_error_set (err, ST_EINVAL, opt->name, "%s: must be a path, got \"\"", label);
        char *copy = strdup (text);
        if (!copy)
            return st_error_set (err, ST_ENOMEM, opt->name, "%s: out of memory", label);
        free (*(char **) field);
        *(char **) field = copy;
        return ST_OK;
    }
    case ST_OPT_INT: {
        char *end = NULL;
        errno = 0;
        long long v = strtoll (text, &end, 10);
        bool ok = *text && end && *end == '\0' && errno == 0 && !strchr (" \t\n", *text);
        if (ok && s_has_bounds (opt) && (v < opt->min || v > opt->max))
            ok = false;
        if (!ok) {
            if (s_has_bounds (opt))
                return st_error_set (err, ST_EINVAL, opt->name,
                                     "%s: must be an integer between %lld and %lld, got \"%.64s\"", label,
                                     (long long) opt->min, (long long) opt->max, text);
            return st_error_set (err, ST_EINVAL, opt->name, "%s: must be an integer, got \"%.64s\"", label, text);
        }
        *(int64_t *) field = v;
        return ST_OK;
    }
    case ST_OPT_BOOL:
        if (s_parse_bool (text, (int *) field) != 0)
            return st_error_set (err, ST_EINVAL, opt->name, "%s: must be true or false, got \"%.64s\"", label, text);
        return ST_OK;
    case ST_OPT_DURATION_MS: {
        uint64_t ms;
        if (st_parse_duration_ms (text, &ms) != 0)
            return st_error_set (err, ST_EINVAL, opt->name,
                                 "%s: invalid duration \"%.64s\" (examples: 500ms, 2s, 1m)", label, text);
        if (s_has_bounds (opt) && (ms < (uint64_t) opt->min || ms > (uint64_t) opt->max))
            return st_error_set (err, ST_EINVAL, opt->name, "%s: must be between %s and %s, got \"%.64s\"", label,
                                 st_format_ms ((uint64_t) opt->min, lo, sizeof lo),
                                 st_format_ms ((uint64_t) opt->max, hi, sizeof hi), text);
        *(uint64_t *) field = ms;
        return ST_OK;
    }
    case ST_OPT_MEM_MB: {
        uint64_t mb;
        if (st_parse_mem_mb (text, &mb) != 0)
            return st_error_set (err, ST_EINVAL, opt->name, "%s: invalid size \"%.64s\" (examples: 512M, 4G, 1T)",
                                 label, text);
        if (s_has_bounds (opt) && (mb < (uint64_t) opt->min || mb > (uint64_t) opt->max))
            return st_error_set (err, ST_EINVAL, opt->name, "%s: must be between %s and %s, got \"%.64s\"", label,
                                 st_format_mb ((uint64_t) opt->min, lo, sizeof lo),
                                 st_format_mb ((uint64_t) opt->max, hi, sizeof hi), text);
        *(uint64_t *) field = mb;
        return ST_OK;
    }
    case ST_OPT_CPUS_MILLI: {
        uint64_t milli = 0;
        int rc = st_parse_cpus_milli (text, &milli);
        if (rc == -2)
            return st_error_set (err, ST_EINVAL, opt->name,
                                 "%s: at most 3 decimal places (thousandths of a cpu), got \"%.64s\"", label, text);
        if (rc != 0 || milli > UINT32_MAX)
            return st_error_set (err, ST_EINVAL, opt->name, "%s: invalid cpu count \"%.64s\" (examples: 2, 0.5)",
                                 label, text);
        if (s_has_bounds (opt) && (milli < (uint64_t) opt->min || milli > (uint64_t) opt->max))
            return st_error_set (err, ST_EINVAL, opt->name, "%s: must be between %s and %s, got \"%.64s\"", label,
                                 st_format_milli ((uint64_t) opt->min, lo, sizeof lo),
                                 st_format_milli ((uint64_t) opt->max, hi, sizeof hi), text);
        *(uint32_t *) field = (uint32_t) milli;
        return ST_OK;
    }
    case ST_OPT_KV:
        return s_parse_kv (text, (st_kv_t *) field, label, opt->name, err);
    case ST_OPT_STRINGS:
        if (st_kv_add ((st_kv_t *) field, text, NULL) != 0)
            return st_error_set (err, ST_ENOMEM, opt->name, "%s: out of memory", label);
        return ST_OK;
    }
    return st_error_set (err, ST_EINVAL, opt->name, "%s: option has an unknown type", label);
}

/*  ---------------------------------------------------------------------------
 *  Config file  */

/*  True when name (len bytes) spells want; '_' in name matches '-' when from_file.  */
static bool
s_name_is (const char *want, const char *name, size_t len, bool from_file)
{
    if (!want || strlen (want) != len)
        return false;
    size_t i = 0;
    while (i < len && (want[i] == name[i] || (from_file && want[i] == '-' && name[i] == '_')))
        i++;
    return i == len;
}

/*  Finds a long option by its name or its alias.  */
static const st_opt_t *
s_find_long (const st_opt_t *opts, const char *name, size_t len, bool from_file)
{
    for (const st_opt_t *o = opts; o->name; o++)
        if (s_name_is (o->name, name, len, from_file) || s_name_is (o->alias, name, len, from_file))
            return o;
    return NULL;
}

/*  A scalar from the file as the text a flag would carry.  */
static bool
s_scalar_text (const json_t *v, char *buf, size_t size, const char **text)
{
    if (json_is_string (v))
        *text = json_string_value (v);
    else if (json_is_integer (v))
        snprintf (buf, size, "%lld", (long long) json_integer_value (v));
    else if (json_is_real (v)) {
        snprintf (buf, size, "%.15g", json_real_value (v));
        if (strtod (buf, NULL) != json_real_value (v))
            snprintf (buf, size, "%.17g", json_real_value (v));
    }
    else if (json_is_boolean (v))
        snprintf (buf, size, "%s", json_is_true (v) ? "true" : "false");
    else
        return false;
    if (!json_is_string (v))
        *text = buf;
    return true;
}

static st_rc_t
s_apply_file_value (const st_opt_t *opt, void *cfg, const json_t *v, const char *label, st_error_t *err)
{
    char buf[64];
    const char *text = NULL;
    if (json_is_null (v))
        return ST_OK; /*  "key:" with no value keeps the default  */
    if (opt->type == ST_OPT_BOOL && json_is_boolean (v)) {
        *(int *) s_field (opt, cfg) = json_is_true (v);
        return ST_OK;
    }
    if (opt->type == ST_OPT_BOOL && !json_is_string (v))
        goto bad;
    if (opt->type == ST_OPT_KV && json_is_object (v)) {
        const char *key;
        json_t *item;
        json_object_foreach ((json_t *) v, key, item) {
            if (!s_scalar_text (item, buf, sizeof buf, &text))
                return st_error_set (err, ST_EINVAL, opt->name, "%s.%s: must be a single value", label, key);
            if (s_kv_set ((st_kv_t *) s_field (opt, cfg), key, strlen (key), text, strlen (text)) != 0)
                return st_error_set (err, ST_ENOMEM, opt->name, "%s: out of memory", label);
        }
        return ST_OK;
    }
    if ((opt->type == ST_OPT_KV || opt->type == ST_OPT_STRINGS) && json_is_array (v)) {
        size_t i;
        json_t *item;
        json_array_foreach ((json_t *) v, i, item) {
            if (!s_scalar_text (item, buf, sizeof buf, &text))
                return st_error_set (err, ST_EINVAL, opt->name, "%s[%zu]: must be a single value", label, i);
            st_rc_t rc = s_set_text (opt, cfg, text, label, err);
            if (rc != ST_OK)
                return rc;
        }
        return ST_OK;
    }
    if (!s_scalar_text (v, buf, sizeof buf, &text))
        goto bad;
    return s_set_text (opt, cfg, text, label, err);
bad:
    return st_error_set (err, ST_EINVAL, opt->name, "%s: must be %s, got %s", label,
                         opt->type == ST_OPT_BOOL      ? "true or false"
                         : opt->type == ST_OPT_KV      ? "a mapping"
                         : opt->type == ST_OPT_STRINGS ? "a list"
                                                       : "a single value",
                         json_is_array (v)    ? "a list"
                         : json_is_object (v) ? "a mapping"
                                              : "a number");
}

st_rc_t
st_config_apply_file (const st_opt_t *opts, void *cfg, const char *path, st_error_t *err)
{
    st_rc_t rc = ST_OK;
    const st_opt_t *seen[S_MAX_OPTS] = { 0 };
    const char *seen_key[S_MAX_OPTS] = { 0 };
    size_t nseen = 0;
    st_error_clear (err);
    json_t *root = st_doc_load (path, err);
    if (!root)
        return err ? err->rc : ST_EINVAL;
    if (json_is_null (root))
        goto out; /*  an empty file sets nothing  */
    if (!json_is_object (root)) {
        rc = st_error_set (err, ST_EINVAL, NULL, "%s: must be a mapping of option names to values", path);
        goto out;
    }
    const char *key;
    json_t *value;
    json_object_foreach (root, key, value) {
        const st_opt_t *opt = s_find_long (opts, key, strlen (key), true);
        char label[320];
        if (!opt || strcmp (opt->name, "help") == 0) {
            rc = st_error_set (err, ST_EINVAL, key, "%.200s: unknown key \"%.64s\"", path, key);
            st_error_hint (err, "keys are the long option names (see --help), with '-' or '_'");
            goto out;
        }
        if (strcmp (opt->name, "config") == 0 && opt->type == ST_OPT_PATH) {
            rc = st_error_set (err, ST_EINVAL, key, "%.200s: key \"%.64s\" is not allowed in a config file", path,
                               key);
            goto out;
        }
        for (size_t i = 0; i < nseen; i++)
            if (seen[i] == opt) {
                rc = st_error_set (err, ST_EINVAL, opt->name,
                                   "%.200s: keys \"%.64s\" and \"%.64s\" name the same option", path, seen_key[i],
                                   key);
                goto out;
            }
        if (nseen < S_MAX_OPTS) {
            seen[nseen] = opt;
            seen_key[nseen++] = key;
        }
        snprintf (label, sizeof label, "%.200s: %s", path, opt->name);
        if (opt->type == ST_OPT_STRINGS && !json_is_null (value))
            st_kv_free ((st_kv_t *) s_field (opt, cfg)); /*  the file's list replaces the defaults  */
        if ((rc = s_apply_file_value (opt, cfg, value, label, err)) != ST_OK)
            goto out;
    }
out:
    json_decref (root);
    return rc;
}

/*  ---------------------------------------------------------------------------
 *  Usage  */

static void
s_default_text (const st_opt_t *opt, const void *cfg, char *buf, size_t size)
{
    const void *field = cfg ? (const char *) cfg + opt->offset : NULL;
    buf[0] = '\0';
    switch (opt->type) {
    case ST_OPT_STRING:
    case ST_OPT_PATH:
        if (opt->def && *opt->def)
            snprintf (buf, size, "%s", opt->def);
        break;
    case ST_OPT_INT:
        if (field)
            snprintf (buf, size, "%lld", (long long) *(const int64_t *) field);
        break;
    case ST_OPT_BOOL:
        if (field && *(const int *) field)
            snprintf (buf, size, "on");
        break;
    case ST_OPT_DURATION_MS:
        if (field)
            st_format_ms (*(const uint64_t *) field, buf, size);
        break;
    case ST_OPT_MEM_MB:
        if (field)
            st_format_mb (*(const uint64_t *) field, buf, size);
        break;
    case ST_OPT_CPUS_MILLI:
        if (field)
            st_format_milli (*(const uint32_t *) field, buf, size);
        break;
    case ST_OPT_KV:
    case ST_OPT_STRINGS: {
        const st_kv_t *kv = field;
        size_t used = 0;
        for (size_t i = 0; kv && i < kv->n && used < size; i++)
            used += snprintf (buf + used, size - used, "%s%s%s%s", i ? "," : "", kv->keys[i], kv->vals[i] ? "=" : "",
                              kv->vals[i] ? kv->vals[i] : "");
        break;
    }
    }
}

static const char *
s_arg_name (const st_opt_t *opt)
{
    if (opt->arg)
        return opt->arg;
    switch (opt->type) {
    case ST_OPT_PATH:
        return "FILE";
    case ST_OPT_INT:
        return "N";
    case ST_OPT_DURATION_MS:
        return "DUR";
    case ST_OPT_MEM_MB:
        return "SIZE";
    case ST_OPT_CPUS_MILLI:
        return "N";
    case ST_OPT_KV:
        return "K=V";
    case ST_OPT_BOOL:
        return "";
    default:
        return "VALUE";
    }
}

static bool
s_table_has_short (const st_opt_t *opts, char c)
{
    for (const st_opt_t *o = opts; o->name; o++)
        if (o->short_name == c)
            return true;
    return false;
}

static void
s_left_column (const st_opt_t *opt, char *buf, size_t size)
{
    const char *arg = s_arg_name (opt);
    if (opt->short_name)
        snprintf (buf, size, "  -%c, --%s%s%s", opt->short_name, opt->name, *arg ? " " : "", arg);
    else
        snprintf (buf, size, "      --%s%s%s", opt->name, *arg ? " " : "", arg);
}

static void
s_usage (FILE *out, const char *usage_line, const char *description, const st_opt_t *opts, const void *cfg)
{
    const st_opt_t help = { .name = "help",
                            .short_name = s_table_has_short (opts, 'h') ? 0 : 'h',
                            .type = ST_OPT_BOOL,
                            .help = "show this help and exit" };
    char left[160], def[160];
    size_t width = 0;
    for (const st_opt_t *o = opts;; o++) {
        const st_opt_t *opt = o->name ? o : &help;
        s_left_column (opt, left, sizeof left);
        if (strlen (left) > width)
            width = strlen (left);
        if (!o->name)
            break;
    }
    if (width > 36)
        width = 36;
    fprintf (out, "usage: %s\n\n", usage_line ? usage_line : "");
    if (description && *description)
        fprintf (out, "%s\n\n", description);
    fprintf (out, "options:\n");
    for (const st_opt_t *o = opts;; o++) {
        const st_opt_t *opt = o->name ? o : &help;
        s_left_column (opt, left, sizeof left);
        s_default_text (opt, o->name ? cfg : NULL, def, sizeof def);
        fprintf (out, "%-*s   %s", (int) width, left, opt->help ? opt->help : "");
        if (*def)
            fprintf (out, " (default: %s)", def);
        fprintf (out, "\n");
        if (!o->name)
            break;
    }
}

void
st_config_usage (FILE *out, const char *usage_line, const char *description, const st_opt_t *opts)
{
    s_usage (out, usage_line, description, opts, NULL);
}

/*  ---------------------------------------------------------------------------
 *  Flags  */

typedef enum { S_SCAN, S_APPLY } s_pass_t;

typedef struct {
    const st_opt_t *opts;
    void *cfg;
    st_error_t *err;
    const st_opt_t *config_opt; /*  the table's "config" PATH option, or NULL  */
    const char *config_path;    /*  SCAN: the last --config value  */
    bool help;                  /*  SCAN: --help seen  */
    bool replaced[S_MAX_OPTS];  /*  APPLY: STRINGS options already reset by a flag  */
    char **positional;
    int npositional;
    bool head; /*  options end at the first argument that is not one  */
    int next;  /*  head: index of that argument (argc: none)  */
} s_walk_t;

static st_rc_t
s_unknown (s_walk_t *w, const char *arg, size_t len)
{
    st_error_set (w->err, ST_EINVAL, NULL, "unknown option %.*s", (int) (len < 64 ? len : 64), arg);
    st_error_hint (w->err, "see --help");
    return ST_EINVAL;
}

static st_rc_t
s_apply_flag (s_walk_t *w, const st_opt_t *opt, const char *value, const char *label)
{
    size_t index = (size_t) (opt - w->opts);
    if (opt == w->config_opt)
        return ST_OK; /*  applied before the other flags  */
    if (opt->type == ST_OPT_STRINGS && index < S_MAX_OPTS && !w->replaced[index]) {
        st_kv_free ((st_kv_t *) s_field (opt, w->cfg));
        w->replaced[index] = true;
    }
    return s_set_text (opt, w->cfg, value, label, w->err);
}

static st_rc_t
s_walk (s_walk_t *w, s_pass_t pass, int argc, char **argv)
{
    bool options_done = false;
    w->next = argc;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const st_opt_t *opt = NULL;
        const char *value = NULL;
        bool negated = false;
        char label[96];

        if (!options_done && strcmp (arg, "--") == 0) {
            if (w->head) {
                w->next = i + 1;
                return ST_OK;
            }
            options_done = true;
            continue;
        }
        if (w->head && (arg[0] != '-' || arg[1] == '\0')) {
            w->next = i;
            return ST_OK;
        }
        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            if (pass == S_APPLY) {
                if (!w->positional) {
                    st_error_set (w->err, ST_EINVAL, NULL, "unexpected argument \"%.64s\"", arg);
                    st_error_hint (w->err, "see --help");
                    return ST_EINVAL;
                }
                w->positional[w->npositional++] = argv[i];
            }
            continue;
        }
        if (arg[1] == '-') {
            const char *name = arg + 2, *eq = strchr (name, '=');
            size_t len = eq ? (size_t) (eq - name) : strlen (name);
            opt = s_find_long (w->opts, name, len, false);
            if (!opt && len > 3 && strncmp (name, "no-", 3) == 0) {
                opt = s_find_long (w->opts, name + 3, len - 3, false);
                negated = opt && opt->type == ST_OPT_BOOL;
                if (!negated)
                    opt = NULL;
            }
            if (!opt && len == 4 && strncmp (name, "help", 4) == 0) {
                w->help = true;
                continue;
            }
            if (!opt) {
                if (pass == S_APPLY)
                    return s_unknown (w, arg, (size_t) (2 + len));
                continue;
            }
            snprintf (label, sizeof label, "--%s%s", negated ? "no-" : "", opt->name);
            if (opt->type == ST_OPT_BOOL) {
                if (pass == S_SCAN)
                    continue;
                if (eq && negated)
                    return st_error_set (w->err, ST_EINVAL, opt->name, "%s: takes no value", label);
                if (s_apply_flag (w, opt, eq ? eq + 1 : negated ? "false" : "true", label) != ST_OK)
                    return w->err ? w->err->rc : ST_EINVAL;
                continue;
            }
            if (eq)
                value = eq + 1;
        }
        else {
            char c = arg[1];
            for (const st_opt_t *o = w->opts; o->name && !opt; o++)
                if (o->short_name == c)
                    opt = o;
            if (!opt && c == 'h' && arg[2] == '\0') {
                w->help = true;
                continue;
            }
            if (!opt) {
                if (pass == S_APPLY)
                    return s_unknown (w, arg, 2);
                continue;
            }
            snprintf (label, sizeof label, "-%c", c);
            if (opt->type == ST_OPT_BOOL) {
                if (pass == S_SCAN)
                    continue;
                if (arg[2] != '\0')
                    return st_error_set (w->err, ST_EINVAL, opt->name, "%s: takes no value, got \"%.64s\"", label,
                                         arg);
                if (s_apply_flag (w, opt, "true", label) != ST_OK)
                    return w->err ? w->err->rc : ST_EINVAL;
                continue;
            }
            if (arg[2] != '\0')
                value = arg + 2;
        }
        if (!value) {
            if (i + 1 >= argc) {
                if (pass == S_SCAN)
                    continue;
                return st_error_set (w->err, ST_EINVAL, opt->name, "%s: missing value (%s)", label, s_arg_name (opt));
            }
            value = argv[++i]; /*  taken as is, even when it starts with '-' (--priority -5)  */
        }
        if (pass == S_SCAN) {
            if (opt == w->config_opt)
                w->config_path = value;
            continue;
        }
        if (s_apply_flag (w, opt, value, label) != ST_OK)
            return w->err ? w->err->rc : ST_EINVAL;
    }
    return ST_OK;
}

static st_rc_t
s_parse (const st_opt_t *opts, void *cfg, int argc, char **argv, const char *usage_line, const char *description,
         char ***positional, int *npositional, int *next, st_error_t *err)
{
    st_rc_t rc = ST_OK;
    s_walk_t *w = NULL;
    st_error_clear (err);
    if (positional)
        *positional = NULL;
    if (npositional)
        *npositional = 0;

    /*  String options start from their table default; whatever the struct held is not ours to free.  */
    size_t nopts = 0;
    for (const st_opt_t *o = opts; o->name; o++, nopts++)
        if (o->type == ST_OPT_STRING || o->type == ST_OPT_PATH) {
            char *copy = NULL;
            if (o->def && !(copy = strdup (o->def)))
                return st_error_set (err, ST_ENOMEM, o->name, "out of memory");
            *(char **) s_field (o, cfg) = copy;
        }
    if (nopts > S_MAX_OPTS)
        return st_error_set (err, ST_EINVAL, NULL, "option table has more than %d entries", S_MAX_OPTS);

    w = calloc (1, sizeof *w);
    if (!w)
        return st_error_set (err, ST_ENOMEM, NULL, "out of memory");
    w->opts = opts;
    w->cfg = cfg;
    w->err = err;
    w->head = next != NULL;
    for (const st_opt_t *o = opts; o->name && !w->config_opt; o++)
        if (strcmp (o->name, "config") == 0 && o->type == ST_OPT_PATH)
            w->config_opt = o;

    if ((rc = s_walk (w, S_SCAN, argc, argv)) != ST_OK)
        goto out;
    if (w->help) {
        s_usage (stdout, usage_line, description, opts, cfg);
        fflush (stdout);
        rc = ST_EAGAIN;
        goto out;
    }
    if (w->config_opt) {
        char **path = (char **) s_field (w->config_opt, cfg);
        bool explicit = w->config_path != NULL;
        if (explicit && !*w->config_path) {
            rc = st_error_set (err, ST_EINVAL, "config", "--config: must be a path, got \"\"");
            goto out;
        }
        if (explicit) {
            char *copy = strdup (w->config_path);
            if (!copy) {
                rc = st_error_set (err, ST_ENOMEM, "config", "out of memory");
                goto out;
            }
            free (*path);
            *path = copy;
        }
        /*  A default config file that does not exist is simply not there; a named one must be.  */
        if (*path && (explicit || access (*path, F_OK) == 0)
            && (rc = st_config_apply_file (opts, cfg, *path, err)) != ST_OK)
            goto out;
    }
    if (positional) {
        w->positional = calloc ((size_t) argc + 1, sizeof *w->positional);
        if (!w->positional) {
            rc = st_error_set (err, ST_ENOMEM, NULL, "out of memory");
            goto out;
        }
    }
    if ((rc = s_walk (w, S_APPLY, argc, argv)) != ST_OK)
        goto out;
    if (next)
        *next = w->next;
    if (positional) {
        *positional = w->positional;
        w->positional = NULL;
        if (npositional)
            *npositional = w->npositional;
    }
out:
    if (w)
        free (w->positional);
    free (w);
    return rc;
}

st_rc_t
st_config_parse (const st_opt_t *opts, void *cfg, int argc, char **argv, const char *usage_line,
                 const char *description, char ***positional, int *npositional, st_error_t *err)
{
    return s_parse (opts, cfg, argc, argv, usage_line, description, positional, npositional, NULL, err);
}

st_rc_t
st_config_parse_head (const st_opt_t *opts, void *cfg, int argc, char **argv, const char *usage_line,
                      const char *description, int *next, st_error_t *err)
{
    int at = argc;
    st_rc_t rc = s_parse (opts, cfg, argc, argv, usage_line, description, NULL, NULL, &at, err);
    *next = at;
    return rc;
}

void
st_config_free (const st_opt_t *opts, void *cfg)
{
    if (!opts || !cfg)
        return;
    for (const st_opt_t *o = opts; o->name; o++) {
        void *field = s_field (o, cfg);
        if (o->type == ST_OPT_STRING || o->type == ST_OPT_PATH) {
            free (*(char **) field);
            *(char **) field = NULL;
        }
        else if (o->type == ST_OPT_KV || o->type == ST_OPT_STRINGS)
            st_kv_free ((st_kv_t *) field);
    }
}
