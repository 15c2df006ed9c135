/*  st_doc.c: YAML or JSON text to a jansson tree.
 *
 *  Input is checked before any parser sees it: at most ST_DOC_MAX_BYTES, valid
 *  UTF-8, no NUL or other control bytes (tab, CR and LF aside). Text whose first
 *  non-blank character is '{' or '[' is tried as strict JSON with jansson first
 *  (exact 64-bit integers, duplicate keys refused); if jansson refuses it, the
 *  YAML parser gets a chance (a YAML flow mapping also starts with '{'), and if
 *  that fails too the JSON error is reported.
 *
 *  YAML goes through libfyaml's event parser, not its document API, so that this
 *  file decides every scalar's type, sees duplicate keys and anchors itself, and
 *  bounds the work an alias can cause: the tree never holds more nodes than the
 *  input has bytes. libfyaml's diagnostics are collected, never printed.
 *
 *  Plain scalars follow the YAML 1.2 core schema, restricted to what JSON can
 *  hold: null/Null/NULL/~/empty -> null; true/false (and capitalised) -> bool;
 *  [-+]?[0-9]+ -> integer (out of int64 range is an error); decimal floats ->
 *  real; everything else (hex, octal, .inf, .nan, yes/no) -> string. */
#include "st_doc.h"

#include <errno.h>
#include <fcntl.h>
#include <libfyaml.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "st_vec.h"

#define ST_DOC_MAX_DEPTH 64

typedef struct {
    json_t *node;          /*  the container being filled  */
    char *key;             /*  mappings: the key waiting for its value, or NULL  */
    char *anchor;          /*  anchor to register when the container ends, or NULL  */
    size_t nodes_at_start; /*  builder's node count when the container began  */
} s_frame_t;

typedef struct {
    char *name;
    json_t *value; /*  a reference we own  */
    size_t nodes;  /*  nodes in value, charged again for each alias  */
} s_anchor_t;

typedef struct {
    st_error_t *err;
    json_t *root;
    s_frame_t stack[ST_DOC_MAX_DEPTH];
    int depth;
    s_anchor_t *anchors;
    size_t nanchors, capanchors;
    size_t nodes; /*  nodes created so far, alias copies included  */
    size_t max_nodes;
    int documents;
    int line, column; /*  last known position, 0-based  */
    bool failed;
} s_builder_t;

/*  ---------------------------------------------------------------------------
 *  Input checks  */

static st_rc_t
s_check_bytes (const char *text, size_t len, st_error_t *err)
{
    const unsigned char *p = (const unsigned char *) text;
    int line = 1, column = 1;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t need = 0;
        uint32_t cp = 0;
        if (c < 0x80) {
            if (c == '\n') {
                line++;
                column = 1;
                i++;
                continue;
            }
            if (c == 0)
                return st_error_set (err, ST_EINVAL, NULL,
                                     "line %d, column %d: NUL byte in input (is this a binary file?)", line, column);
            if (c < 0x20 && c != '\t' && c != '\r')
                return st_error_set (err, ST_EINVAL, NULL, "line %d, column %d: control character 0x%02x in input",
                                     line, column, c);
            i++;
            column++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
        }
        else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
        }
        else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
        }
        else
            goto bad;
        for (size_t k = 1; k <= need; k++) {
            if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
                goto bad;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff))
            || (cp >= 0xd800 && cp <= 0xdfff))
            goto bad;
        i += need + 1;
        column++;
        continue;
    bad:
        return st_error_set (err, ST_EINVAL, NULL,
                             "line %d, column %d: invalid UTF-8 byte 0x%02x (is this a binary file?)", line, column,
                             c);
    }
    return ST_OK;
}

/*  Nesting deeper than ST_DOC_MAX_DEPTH is refused (JSON path; YAML checks as it goes).  */
static int
s_depth_ok (json_t *node, int depth)
{
    if (depth > ST_DOC_MAX_DEPTH)
        return 0;
    if (json_is_object (node)) {
        const char *key;
        json_t *value;
        json_object_foreach (node, key, value)
            if (!s_depth_ok (value, depth + 1))
                return 0;
    }
    else if (json_is_array (node)) {
        size_t i;
        json_t *value;
        json_array_foreach (node, i, value)
            if (!s_depth_ok (value, depth + 1))
                return 0;
    }
    return 1;
}

/*  ---------------------------------------------------------------------------
 *  YAML events to jansson  */

static st_rc_t
s_fail (s_builder_t *b, st_rc_t rc, const char *field, const char *fmt, const char *arg)
{
    char what[384];
    if (b->failed)
        return b->err ? b->err->rc : rc;
    b->failed = true;
    snprintf (what, sizeof what, fmt, arg ? arg : "");
    return st_error_set (b->err, rc, field, "line %d, column %d: %s", b->line + 1, b->column + 1, what);
}

static void
s_note_mark (s_builder_t *b, const struct fy_mark *mark)
{
    if (mark && mark->line >= 0) {
        b->line = mark->line;
        b->column = mark->column;
    }
}

/*  Dotted path of the container on top of the stack, e.g. "resources" or "command[2]".  */
static void
s_path (s_builder_t *b, const char *last_key, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < b->depth; i++) {
        s_frame_t *parent = i > 0 ? &b->stack[i - 1] : NULL;
        if (!parent)
            continue;
        if (json_is_object (parent->node) && parent->key)
            used += snprintf (buf + used, used < size ? size - used : 0, "%s%s", used ? "." : "", parent->key);
        else if (json_is_array (parent->node))
            used += snprintf (buf + used, used < size ? size - used : 0, "[%zu]", json_array_size (parent->node));
        if (used >= size)
            return;
    }
    if (last_key)
        snprintf (buf + used, used < size ? size - used : 0, "%s%s", used ? "." : "", last_key);
}

static bool
s_match_int (const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    if (i == len)
        return false;
    for (; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/*  [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?  */
static bool
s_match_float (const char *s, size_t len)
{
    size_t i = 0, digits = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        i++;
        digits++;
    }
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
            digits++;
        }
    }
    if (digits == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp_digits = 0;
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
            exp_digits++;
        }
        if (exp_digits == 0)
            return false;
    }
    return i == len;
}

static bool
s_is_one_of (const char *s, size_t len, const char *const *words)
{
    for (; *words; words++)
        if (strlen (*words) == len && memcmp (*words, s, len) == 0)
            return true;
    return false;
}

static const char *const s_null_words[] = { "~", "null", "Null", "NULL", NULL };
static const char *const s_true_words[] = { "true", "True", "TRUE", NULL };
static const char *const s_false_words[] = { "false", "False", "FALSE", NULL };

typedef enum {
    S_TAG_NONE,
    S_TAG_STR,
    S_TAG_INT,
    S_TAG_FLOAT,
    S_TAG_BOOL,
    S_TAG_NULL,
    S_TAG_SEQ,
    S_TAG_MAP,
    S_TAG_OTHER
} s_tag_t;

static s_tag_t
s_tag (struct fy_token *tag, char *text, size_t size)
{
    size_t len = 0;
    const char *t = tag ? fy_token_get_text (tag, &len) : NULL;
    static const char prefix[] = "tag:yaml.org,2002:";
    if (!t) {
        snprintf (text, size, "%s", "");
        return S_TAG_NONE;
    }
    /*  Shown in messages the way users write it: "!!int", not the resolved URI.  */
    if (len > sizeof prefix - 1 && memcmp (t, prefix, sizeof prefix - 1) == 0)
        snprintf (text, size, "!!%.*s", (int) (len - (sizeof prefix - 1) < 200 ? len - (sizeof prefix - 1) : 200),
                  t + sizeof prefix - 1);
    else
        snprintf (text, size, "%.*s", (int) (len < 200 ? len : 200), t);
    if (len == 1 && t[0] == '!')
        return S_TAG_STR; /*  the non-specific tag: a string for scalars  */
    if (len <= sizeof prefix - 1 || memcmp (t, prefix, sizeof prefix - 1) != 0)
        return S_TAG_OTHER;
    t += sizeof prefix - 1;
    len -= sizeof prefix - 1;
    static const struct {
        const char *name;
        s_tag_t tag;
    } known[] = {
        { "str", S_TAG_STR },   { "int", S_TAG_INT }, { "float", S_TAG_FLOAT }, { "bool", S_TAG_BOOL },
        { "null", S_TAG_NULL }, { "seq", S_TAG_SEQ }, { "map", S_TAG_MAP },
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen (known[i].name) == len && memcmp (known[i].name, t, len) == 0)
            return known[i].tag;
    return S_TAG_OTHER;
}

/*  Turns one scalar into a new json value, or NULL with the builder failed.  */
static json_t *
s_scalar (s_builder_t *b, struct fy_event *ev)
{
    size_t len = 0;
    const char *text = fy_token_get_text (ev->scalar.value, &len);
    bool plain = fy_token_scalar_style (ev->scalar.value) == FYSS_PLAIN;
    char tag_text[256];
    s_tag_t tag = s_tag (ev->scalar.tag, tag_text, sizeof tag_text);
    if (!text) {
        text = "";
        len = 0;
    }
    if (tag == S_TAG_OTHER || tag == S_TAG_SEQ || tag == S_TAG_MAP) {
        s_fail (b, ST_EINVAL, NULL, "unsupported tag %s on a scalar", tag_text);
        return NULL;
    }
    if (tag == S_TAG_STR || (tag == S_TAG_NONE && !plain)) {
        json_t *s = json_stringn (text, len);
        if (!s)
            s_fail (b, ST_EINVAL, NULL, "string is not valid UTF-8%s", NULL);
        return s;
    }
    if ((tag == S_TAG_NONE || tag == S_TAG_NULL) && (len == 0 || s_is_one_of (text, len, s_null_words)))
        return json_null ();
    if (tag == S_TAG_NONE || tag == S_TAG_BOOL) {
        if (s_is_one_of (text, len, s_true_words))
            return json_true ();
        if (s_is_one_of (text, len, s_false_words))
            return json_false ();
    }
    char num[64];
    bool is_int = s_match_int (text, len);
    if (len < sizeof num && (is_int || s_match_float (text, len))
        && (tag == S_TAG_NONE || tag == S_TAG_FLOAT || (tag == S_TAG_INT && is_int))) {
        memcpy (num, text, len);
        num[len] = '\0';
        errno = 0;
        if (is_int && tag != S_TAG_FLOAT) {
            long long v = strtoll (num, NULL, 10);
            if (errno == ERANGE) {
                s_fail (b, ST_EINVAL, NULL, "integer %s is out of range", num);
                return NULL;
            }
            return json_integer (v);
        }
        double d = strtod (num, NULL);
        if (!isfinite (d)) {
            s_fail (b, ST_EINVAL, NULL, "number %s is out of range", num);
            return NULL;
        }
        return json_real (d);
    }
    if (tag != S_TAG_NONE) {
        char shown[160];
        snprintf (shown, sizeof shown, "\"%.*s\" does not match tag %.80s", (int) (len < 40 ? len : 40), text,
                  tag_text);
        s_fail (b, ST_EINVAL, NULL, "%s", shown);
        return NULL;
    }
    if (len >= sizeof num && (is_int || s_match_float (text, len))) {
        s_fail (b, ST_EINVAL, NULL, "number is too long%s", NULL);
        return NULL;
    }
    json_t *s = json_stringn (text, len);
    if (!s)
        s_fail (b, ST_EINVAL, NULL, "string is not valid UTF-8%s", NULL);
    return s;
}

static st_rc_t
s_register_anchor (s_builder_t *b, char *name, json_t *value, size_t nodes)
{
    /*  An anchor takes at least two bytes ("&a"), so the input's cap bounds them.  */
    if (st_vec_reserve ((void **) &b->anchors, &b->capanchors, b->nanchors + 1, sizeof *b->anchors,
                        ST_DOC_MAX_BYTES / 2)
        != ST_OK) {
        free (name);
        return s_fail (b, ST_ENOMEM, NULL, "out of memory%s", NULL);
    }
    b->anchors[b->nanchors].name = name;
    b->anchors[b->nanchors].value = json_incref (value);
    b->anchors[b->nanchors].nodes = nodes;
    b->nanchors++;
    return ST_OK;
}

static char *
s_anchor_name (struct fy_token *anchor)
{
    size_t len = 0;
    const char *t = anchor ? fy_token_get_text (anchor, &len) : NULL;
    return t ? strndup (t, len) : NULL;
}

/*  Places a finished value (reference stolen) into the current container.  */
static st_rc_t
s_place (s_builder_t *b, json_t *value)
{
    if (b->depth == 0) {
        json_decref (b->root);
        b->root = value;
        return ST_OK;
    }
    s_frame_t *top = &b->stack[b->depth - 1];
    if (json_is_array (top->node)) {
        if (json_array_append_new (top->node, value) != 0)
            return s_fail (b, ST_ENOMEM, NULL, "out of memory%s", NULL);
        return ST_OK;
    }
    if (!top->key) {
        char path[128], shown[96];
        if (!json_is_string (value)) {
            char *dump = json_dumps (value, JSON_ENCODE_ANY | JSON_COMPACT);
            snprintf (shown, sizeof shown, "%.60s", dump ? dump : "?");
            free (dump);
            json_decref (value);
            return s_fail (b, ST_EINVAL, NULL, "mapping keys must be strings, got %s (quote the key)", shown);
        }
        const char *key = json_string_value (value);
        if (strlen (key) != json_string_length (value)) {
            json_decref (value);
            return s_fail (b, ST_EINVAL, NULL, "mapping key contains a NUL character%s", NULL);
        }
        if (json_object_get (top->node, key)) {
            s_path (b, key, path, sizeof path);
            snprintf (shown, sizeof shown, "%.80s", key);
            json_decref (value);
            return s_fail (b, ST_EINVAL, path, "duplicate key \"%s\"", shown);
        }
        top->key = strdup (key);
        json_decref (value);
        return top->key ? ST_OK : s_fail (b, ST_ENOMEM, NULL, "out of memory%s", NULL);
    }
    int rc = json_object_set_new (top->node, top->key, value);
    free (top->key);
    top->key = NULL;
    return rc == 0 ? ST_OK : s_fail (b, ST_ENOMEM, NULL, "out of memory%s", NULL);
}

static st_rc_t
s_count (s_builder_t *b, size_t nodes)
{
    b->nodes += nodes;
    if (b->nodes > b->max_nodes)
        return s_fail (b, ST_ETOOBIG, NULL, "document expands to too many nodes (aliases?)%s", NULL);
    return ST_OK;
}

static st_rc_t
s_event (s_builder_t *b, struct fy_event *ev)
{
    s_note_mark (b, fy_event_start_mark (ev));
    switch (ev->type) {
    case FYET_DOCUMENT_START:
        if (++b->documents > 1)
            return s_fail (b, ST_EINVAL, NULL, "more than one document in the input (one spec or config per file)%s",
                           NULL);
        return ST_OK;
    case FYET_SCALAR: {
        if (s_count (b, 1) != ST_OK)
            return b->err ? b->err->rc : ST_EINVAL;
        json_t *value = s_scalar (b, ev);
        if (!value)
            return b->err ? b->err->rc : ST_EINVAL;
        if (ev->scalar.anchor) {
            char *name = s_anchor_name (ev->scalar.anchor);
            if (!name || s_register_anchor (b, name, value, 1) != ST_OK) {
                json_decref (value);
                return s_fail (b, ST_ENOMEM, NULL, "out of memory%s", NULL);
            }
        }
        return s_place (b, value);
    }
    case FYET_ALIAS: {
        char *name = s_anchor_name (ev->alias.anchor);
        if (!name)
            return s_fail (b, ST_ENOMEM, NULL, "out of memory%s", NULL);
        s_anchor_t *found = NULL;
        for (size_t i = b->nanchors; i > 0 && !found; i--)
            if (strcmp (b->anchors[i - 1].name, name) == 0)
                found = &b->anchors[i - 1];
        if (!found) {
            st_rc_t rc = s_fail (b, ST_EINVAL, NULL, "unknown alias *%s", name);
            free (name);
            return rc;
        }
        free (name);
        if (s_count (b, found->nodes) != ST_OK)
            return b->err ? b->err->rc : ST_ETOOBIG;
        json_t *copy = json_deep_copy (found->value);
        if (!copy)
            return s_fail (b, ST_ENOMEM, NULL, "out of memory%s", NULL);
        return s_place (b, copy);
    }
    case FYET_SEQUENCE_START:
    case FYET_MAPPING_START: {
        bool is_map = ev->type == FYET_MAPPING_START;
        struct fy_token *tag_tok = is_map ? ev->mapping_start.tag : ev->sequence_start.tag;
        struct fy_token *anchor = is_map ? ev->mapping_start.anchor : ev->sequence_start.anchor;
        char tag_text[256];
        s_tag_t tag = s_tag (tag_tok, tag_text, sizeof tag_text);
        if (tag != S_TAG_NONE && tag != (is_map ? S_TAG_MAP : S_TAG_SEQ))
            return s_fail (b, ST_EINVAL, NULL, "unsupported tag %s here", tag_text);
        if (b->depth >= ST_DOC_MAX_DEPTH)
            return s_fail (b, ST_EINVAL, NULL, "nesting is deeper than 64 levels%s", NULL);
        if (s_count (b, 1) != ST_OK)
            return b->err ? b->err->rc : ST_ETOOBIG;
        if (b->depth > 0) {
            s_frame_t *top = &b->stack[b->depth - 1];
            if (json_is_object (top->node) && !top->key)
                return s_fail (b, ST_EINVAL, NULL, "mapping keys must be strings, got a %s",
                               is_map ? "mapping" : "list");
        }
        s_frame_t *frame = &b->stack[b->depth];
        memset (frame, 0, sizeof *frame);
        frame->node = is_map ? json_object () : json_array ();
        frame->nodes_at_start = b->nodes - 1;
        if (!frame->node)
            return s_fail (b, ST_ENOMEM, NULL, "out of memory%s", NULL);
        if (anchor && !(frame->anchor = s_anchor_name (anchor))) {
            json_decref (frame->node);
            return s_fail (b, ST_ENOMEM, NULL, "out of memory%s", NULL);
        }
        b->depth++;
        return ST_OK;
    }
    case FYET_SEQUENCE_END:
    case FYET_MAPPING_END: {
        if (b->depth == 0)
            return s_fail (b, ST_EINVAL, NULL, "unbalanced collection%s", NULL);
        s_frame_t frame = b->stack[--b->depth];
        free (frame.key);
        if (frame.anchor
            && s_register_anchor (b, frame.anchor, frame.node, b->nodes - frame.nodes_at_start) != ST_OK) {
            json_decref (frame.node);
            return b->err ? b->err->rc : ST_ENOMEM;
        }
        return s_place (b, frame.node);
    }
    default:
        return ST_OK;
    }
}

static void
s_builder_clear (s_builder_t *b)
{
    while (b->depth > 0) {
        s_frame_t *frame = &b->stack[--b->depth];
        json_decref (frame->node);
        free (frame->key);
        free (frame->anchor);
    }
    for (size_t i = 0; i < b->nanchors; i++) {
        free (b->anchors[i].name);
        json_decref (b->anchors[i].value);
    }
    free (b->anchors);
    b->anchors = NULL;
    b->nanchors = 0;
}

static json_t *
s_parse_yaml (const char *text, size_t len, st_error_t *err)
{
    s_builder_t b = { .err = err, .max_nodes = len + 16 };
    struct fy_diag_cfg dcfg;
    struct fy_diag *diag = NULL;
    struct fy_parser *parser = NULL;
    json_t *result = NULL;

    fy_diag_cfg_default (&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = NULL;
    dcfg.colorize = false;
    diag = fy_diag_create (&dcfg);
    if (!diag) {
        st_error_set (err, ST_ENOMEM, NULL, "cannot create the YAML parser");
        goto out;
    }
    fy_diag_set_collect_errors (diag, true);
    struct fy_parse_cfg pcfg = {
        .flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2 | FYPCF_JSON_NONE,
        .diag = diag,
    };
    parser = fy_parser_create (&pcfg);
    if (!parser || fy_parser_set_string (parser, text, len) != 0) {
        st_error_set (err, ST_ENOMEM, NULL, "cannot create the YAML parser");
        goto out;
    }
    struct fy_event *ev;
    while ((ev = fy_parser_parse (parser)) != NULL) {
        st_rc_t rc = s_event (&b, ev);
        fy_parser_event_free (parser, ev);
        if (rc != ST_OK)
            goto out;
    }
    if (fy_parser_get_stream_error (parser) || fy_diag_got_error (diag)) {
        void *iter = NULL;
        struct fy_diag_error *de;
        while ((de = fy_diag_errors_iterate (diag, &iter)) != NULL)
            if (de->type >= FYET_ERROR)
                break;
        if (de)
            st_error_set (err, ST_EINVAL, NULL, "line %d, column %d: %s", de->line, de->column,
                          de->msg ? de->msg : "invalid YAML");
        else
            st_error_set (err, ST_EINVAL, NULL, "line %d, column %d: invalid YAML", b.line + 1, b.column + 1);
        goto out;
    }
    /*  No document at all (empty input or only comments) is a null document.  */
    result = b.root ? b.root : json_null ();
    b.root = NULL;
out:
    s_builder_clear (&b);
    json_decref (b.root);
    if (parser)
        fy_parser_destroy (parser);
    if (diag)
        fy_diag_destroy (diag);
    return result;
}

static json_t *
s_parse_json (const char *text, size_t len, st_error_t *err)
{
    json_error_t jerr;
    json_t *root = json_loadb (text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        st_error_set (err, ST_EINVAL, NULL, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!s_depth_ok (root, 1)) {
        json_decref (root);
        st_error_set (err, ST_EINVAL, NULL, "nesting is deeper than %d levels", ST_DOC_MAX_DEPTH);
        return NULL;
    }
    return root;
}

json_t *
st_doc_parse (const char *text, size_t len, st_error_t *err)
{
    st_error_clear (err);
    if (!text && len > 0) {
        st_error_set (err, ST_EINVAL, NULL, "no input");
        return NULL;
    }
    if (len > ST_DOC_MAX_BYTES) {
        st_error_set (err, ST_ETOOBIG, NULL, "input is %zu bytes, more than the limit of %u bytes", len,
                      ST_DOC_MAX_BYTES);
        return NULL;
    }
    if (len == 0)
        return json_null ();
    if (s_check_bytes (text, len, err) != ST_OK)
        return NULL;
    /*  A UTF-8 byte order mark is allowed and ignored.  */
    if (len >= 3 && memcmp (text, "\xef\xbb\xbf", 3) == 0) {
        text += 3;
        len -= 3;
    }
    size_t first = 0;
    while (first < len && strchr (" \t\r\n", text[first]))
        first++;
    if (first < len && (text[first] == '{' || text[first] == '[')) {
        st_error_t json_err;
        st_error_clear (&json_err);
        json_t *root = s_parse_json (text, len, &json_err);
        if (root)
            return root;
        root = s_parse_yaml (text, len, err);
        if (root) {
            st_error_clear (err);
            return root;
        }
        if (err)
            *err = json_err;
        return NULL;
    }
    return s_parse_yaml (text, len, err);
}

json_t *
st_doc_load (const char *path, st_error_t *err)
{
    json_t *root = NULL;
    char *buf = NULL;
    size_t len = 0;
    int fd = -1;

    st_error_clear (err);
    if (!path || !*path) {
        st_error_set (err, ST_EINVAL, NULL, "no file name given");
        goto out;
    }
    fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        st_error_set (err, ST_EIO, NULL, "%s: cannot open: %s", path, strerror (errno));
        goto out;
    }
    /*  Read one byte past the limit so an oversized file is told apart.  */
    buf = malloc (ST_DOC_MAX_BYTES + 1);
    if (!buf) {
        st_error_set (err, ST_ENOMEM, NULL, "%s: out of memory", path);
        goto out;
    }
    while (len < ST_DOC_MAX_BYTES + 1) {
        ssize_t n = read (fd, buf + len, ST_DOC_MAX_BYTES + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            st_error_set (err, ST_EIO, NULL, "%s: cannot read: %s", path, strerror (errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t) n;
    }
    if (len > ST_DOC_MAX_BYTES) {
        st_error_set (err, ST_ETOOBIG, NULL, "%s: file is larger than the limit of %u bytes", path, ST_DOC_MAX_BYTES);
        goto out;
    }
    root = st_doc_parse (buf, len, err);
    if (!root && err) {
        char msg[sizeof err->msg];
        snprintf (msg, sizeof msg, "%.200s: %.300s", path, err->msg);
        memcpy (err->msg, msg, sizeof msg);
    }
out:
    if (fd >= 0)
        close (fd);
    free (buf);
    return root;
}
