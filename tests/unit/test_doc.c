/*  test_doc.c: YAML/JSON text to jansson trees (st_doc).  */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "st_doc.h"

static json_t *
parse (const char *text, st_error_t *err)
{
    return st_doc_parse (text, strlen (text), err);
}

/*  Parses text that must fail; returns the error.  */
static st_error_t
parse_fail (const char *text)
{
    st_error_t err;
    json_t *root = parse (text, &err);
    cr_assert_null (root, "expected an error for <<%s>>", text);
    cr_assert_neq (err.rc, ST_OK);
    return err;
}

static void
assert_tree (const char *text, const char *expected_json)
{
    st_error_t err;
    json_t *root = parse (text, &err);
    cr_assert_not_null (root, "parse failed: %s", err.msg);
    json_error_t jerr;
    json_t *expected = json_loads (expected_json, JSON_DECODE_ANY, &jerr);
    cr_assert_not_null (expected, "bad expectation: %s", jerr.text);
    char *got = json_dumps (root, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert (json_equal (root, expected), "got %s, expected %s", got, expected_json);
    free (got);
    json_decref (expected);
    json_decref (root);
}

static char *
temp_file (const char *content, size_t len)
{
    char *path = strdup ("/tmp/strata-test-doc-XXXXXX");
    int fd = mkstemp (path);
    cr_assert (fd >= 0);
    cr_assert_eq (write (fd, content, len), (ssize_t) len);
    close (fd);
    return path;
}

Test (doc, plain_scalars_follow_the_core_schema)
{
    assert_tree ("a: ~\nb:\nc: null\nd: NULL\ne: true\nf: False\ng: 42\nh: -7\ni: +3\nj: 1.5\nk: 1e3\n"
                 "l: -.5\nm: yes\nn: no\no: on\np: 0x10\nq: 0o17\nr: .inf\ns: .nan\nt: hello world\nu: 007\n",
                 "{\"a\":null,\"b\":null,\"c\":null,\"d\":null,\"e\":true,\"f\":false,\"g\":42,\"h\":-7,\"i\":3,"
                 "\"j\":1.5,\"k\":1000.0,\"l\":-0.5,\"m\":\"yes\",\"n\":\"no\",\"o\":\"on\",\"p\":\"0x10\","
                 "\"q\":\"0o17\",\"r\":\".inf\",\"s\":\".nan\",\"t\":\"hello world\",\"u\":7}");
}

Test (doc, quoted_and_block_scalars_stay_strings)
{
    assert_tree ("a: \"5\"\nb: 'true'\nc: \"\"\nd: ''\ne: |\n  line1\n  line2\nf: >\n  folded\n  text\n"
                 "g: \"tab\\there\"\n",
                 "{\"a\":\"5\",\"b\":\"true\",\"c\":\"\",\"d\":\"\",\"e\":\"line1\\nline2\\n\","
                 "\"f\":\"folded text\\n\",\"g\":\"tab\\there\"}");
}

Test (doc, explicit_tags)
{
    assert_tree ("a: !!str 5\nb: !!int \"7\"\nc: !!float 3\nd: !!bool \"true\"\ne: !!null ''\nf: ! 12\n"
                 "g: !!seq [1]\nh: !!map {x: 1}\n",
                 "{\"a\":\"5\",\"b\":7,\"c\":3.0,\"d\":true,\"e\":null,\"f\":\"12\",\"g\":[1],\"h\":{\"x\":1}}");
    st_error_t err = parse_fail ("a: !!int x\n");
    cr_assert (strstr (err.msg, "does not match tag !!int"), "%s", err.msg);
    err = parse_fail ("a: !custom x\n");
    cr_assert (strstr (err.msg, "unsupported tag !custom"), "%s", err.msg);
    err = parse_fail ("a: !!map [1]\n");
    cr_assert (strstr (err.msg, "unsupported tag !!map"), "%s", err.msg);
}

Test (doc, integers_are_exact_64_bit)
{
    assert_tree ("a: 9007199254740993\nb: -9223372036854775808\n",
                 "{\"a\":9007199254740993,\"b\":-9223372036854775808}");
    assert_tree ("{\"a\": 9007199254740993}", "{\"a\":9007199254740993}");
    st_error_t err = parse_fail ("a: 9223372036854775808\n");
    cr_assert_str_eq (err.msg, "line 1, column 4: integer 9223372036854775808 is out of range");
    err = parse_fail ("a: 1e999\n");
    cr_assert (strstr (err.msg, "out of range"), "%s", err.msg);
    err = parse_fail ("{\"a\": 99999999999999999999}");
    cr_assert (strstr (err.msg, "line 1, column"), "%s", err.msg);
}

Test (doc, yaml_and_json_give_the_same_tree)
{
    const char *yaml = "name: train\ncommand: [python, train.py, --lr, \"0.1\"]\nresources:\n  ranks: 4\n"
                       "  cpus_per_rank: 0.5\n  mem_per_rank: 2G\nenv:\n  A: \"1\"\nflag: true\nnothing: null\n";
    const char *json = "{\"name\":\"train\",\"command\":[\"python\",\"train.py\",\"--lr\",\"0.1\"],"
                       "\"resources\":{\"ranks\":4,\"cpus_per_rank\":0.5,\"mem_per_rank\":\"2G\"},"
                       "\"env\":{\"A\":\"1\"},\"flag\":true,\"nothing\":null}";
    st_error_t err;
    json_t *a = parse (yaml, &err), *b = parse (json, &err);
    cr_assert_not_null (a);
    cr_assert_not_null (b);
    cr_assert (json_equal (a, b));
    json_decref (a);
    json_decref (b);
}

Test (doc, yaml_flow_mapping_that_is_not_json_still_parses)
{
    assert_tree ("{a: 1, b: [x, y]}", "{\"a\":1,\"b\":[\"x\",\"y\"]}");
    assert_tree ("  [1, two]\n", "[1,\"two\"]");
}

Test (doc, json_errors_name_line_and_column)
{
    st_error_t err = parse_fail ("{\n  \"a\": [1, 2\n}");
    cr_assert_eq (err.rc, ST_EINVAL);
    cr_assert (strncmp (err.msg, "line 3, column", 14) == 0, "%s", err.msg);
    err = parse_fail ("{\"a\": 1} trailing");
    cr_assert (strncmp (err.msg, "line 1, column", 14) == 0, "%s", err.msg);
}

Test (doc, yaml_errors_name_line_and_column, .init = cr_redirect_stderr)
{
    st_error_t err = parse_fail ("a: 1\nb: \"unterminated\n");
    cr_assert (strncmp (err.msg, "line 2, column", 14) == 0, "%s", err.msg);
    cr_assert (strstr (err.msg, "double-quoted scalar without closing quote"), "%s", err.msg);
    err = parse_fail ("a:\n  - 1\n  b: 2\n");
    cr_assert (strncmp (err.msg, "line 3, column 3: ", 18) == 0, "%s", err.msg);
    /*  libfyaml's diagnostics are collected, never printed.  */
    fflush (stderr);
    cr_assert_stderr_eq_str ("");
}

Test (doc, duplicate_keys_are_refused)
{
    st_error_t err = parse_fail ("a: 1\nb:\n  c: 1\n  c: 2\n");
    cr_assert_str_eq (err.msg, "line 4, column 3: duplicate key \"c\"");
    cr_assert_str_eq (err.field, "b.c");
    err = parse_fail ("a: 1\na: 2\n");
    cr_assert_str_eq (err.field, "a");
    err = parse_fail ("list:\n  - x: 1\n    x: 2\n");
    cr_assert_str_eq (err.field, "list[0].x");
    err = parse_fail ("{\"a\": 1, \"a\": 2}");
    cr_assert (strstr (err.msg, "duplicate object key"), "%s", err.msg);
    cr_assert (strncmp (err.msg, "line 1, column", 14) == 0, "%s", err.msg);
}

Test (doc, more_than_one_document_is_refused)
{
    st_error_t err = parse_fail ("a: 1\n---\nb: 2\n");
    cr_assert_str_eq (err.msg, "line 2, column 1: more than one document in the input (one spec or config per file)");
    parse_fail ("---\na: 1\n...\n---\nb: 2\n");
    /*  One explicit document is fine.  */
    assert_tree ("---\na: 1\n...\n", "{\"a\":1}");
}

Test (doc, keys_must_be_strings)
{
    st_error_t err = parse_fail ("1: x\n");
    cr_assert_str_eq (err.msg, "line 1, column 1: mapping keys must be strings, got 1 (quote the key)");
    parse_fail ("true: x\n");
    parse_fail ("~: x\n");
    err = parse_fail ("? [a, b]\n: 1\n");
    cr_assert (strstr (err.msg, "mapping keys must be strings, got a list"), "%s", err.msg);
    parse_fail ("? {a: 1}\n: 1\n");
    parse_fail ("a: {\"x\\u0000y\": 1}\n");
    assert_tree ("\"1\": x\n", "{\"1\":\"x\"}");
}

Test (doc, anchors_and_aliases_are_resolved)
{
    assert_tree ("base: &b {x: 1, y: [1, 2]}\ncopy: *b\ns: &s hello\nt: *s\n",
                 "{\"base\":{\"x\":1,\"y\":[1,2]},\"copy\":{\"x\":1,\"y\":[1,2]},\"s\":\"hello\",\"t\":\"hello\"}");
    st_error_t err = parse_fail ("a: *nope\n");
    cr_assert_str_eq (err.msg, "line 1, column 5: unknown alias *nope");
}

Test (doc, alias_expansion_is_bounded)
{
    /*  The "billion laughs": each level multiplies by ten.  */
    char text[2048];
    size_t used = (size_t) snprintf (text, sizeof text, "a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (char c = 'b'; c <= 'j'; c++) {
        used += (size_t) snprintf (text + used, sizeof text - used, "%c: &%c [", c, c);
        for (int i = 0; i < 10; i++)
            used += (size_t) snprintf (text + used, sizeof text - used, "%s*%c", i ? ", " : "", c - 1);
        used += (size_t) snprintf (text + used, sizeof text - used, "]\n");
    }
    st_error_t err = parse_fail (text);
    cr_assert_eq (err.rc, ST_ETOOBIG);
    cr_assert (strstr (err.msg, "too many nodes"), "%s", err.msg);
}

static char *
nested (const char *prefix, int depth)
{
    size_t plen = strlen (prefix);
    char *text = malloc (plen + 2 * (size_t) depth + 1);
    memcpy (text, prefix, plen);
    memset (text + plen, '[', (size_t) depth);
    memset (text + plen + depth, ']', (size_t) depth);
    text[plen + 2 * (size_t) depth] = '\0';
    return text;
}

Test (doc, nesting_is_bounded)
{
    st_error_t err;
    /*  64 levels in all are fine, 65 are not: YAML (a mapping plus 63 lists) and JSON alike.  */
    char *ok_yaml = nested ("a: ", 63), *bad_yaml = nested ("a: ", 64);
    char *ok_json = nested ("", 64), *bad_json = nested ("", 65);
    json_t *root = parse (ok_yaml, &err);
    cr_assert_not_null (root, "%s", err.msg);
    json_decref (root);
    root = parse (ok_json, &err);
    cr_assert_not_null (root, "%s", err.msg);
    json_decref (root);
    err = parse_fail (bad_yaml);
    cr_assert (strstr (err.msg, "nesting is deeper than 64 levels"), "%s", err.msg);
    err = parse_fail (bad_json);
    cr_assert (strstr (err.msg, "nesting is deeper than 64 levels"), "%s", err.msg);
    free (ok_yaml);
    free (bad_yaml);
    free (ok_json);
    free (bad_json);
}

Test (doc, size_limit)
{
    size_t len = ST_DOC_MAX_BYTES;
    char *text = malloc (len + 2);
    memset (text, '#', len + 1);
    memcpy (text, "a: 1\n", 5);
    text[len + 1] = '\0';
    st_error_t err;
    json_t *root = st_doc_parse (text, len, &err);
    cr_assert_not_null (root, "exactly the limit must parse: %s", err.msg);
    json_decref (root);
    root = st_doc_parse (text, len + 1, &err);
    cr_assert_null (root);
    cr_assert_eq (err.rc, ST_ETOOBIG);
    cr_assert_str_eq (err.msg, "input is 262145 bytes, more than the limit of 262144 bytes");
    free (text);
}

Test (doc, binary_input_is_refused)
{
    st_error_t err;
    json_t *root = st_doc_parse ("a: b\0c\n", 7, &err);
    cr_assert_null (root);
    cr_assert_str_eq (err.msg, "line 1, column 5: NUL byte in input (is this a binary file?)");
    err = parse_fail ("a: 1\nb: \xff\xfe\n");
    cr_assert_str_eq (err.msg, "line 2, column 4: invalid UTF-8 byte 0xff (is this a binary file?)");
    err = parse_fail ("a: \x01\n");
    cr_assert_str_eq (err.msg, "line 1, column 4: control character 0x01 in input");
    parse_fail ("a: \xc0\xaf\n");     /*  overlong encoding  */
    parse_fail ("a: \xed\xa0\x80\n"); /*  UTF-16 surrogate  */
    parse_fail ("a: \xe2\x82\n");     /*  truncated sequence  */
    assert_tree ("a: h\xc3\xa9llo \xe2\x82\xac\n", "{\"a\":\"h\\u00e9llo \\u20ac\"}");
}

Test (doc, garbage_is_refused)
{
    static const char *const garbage[] = {
        "{",
        "}",
        "[",
        "]]",
        "a: [1, 2",
        "a: {b: 1",
        "- a\nb: c\n",
        ": :\n  - ]\n",
        "\"abc",
        "a: 'x\n",
        "{\"a\" 1}",
        "key: value\n\tbad: tab\n",
        "a: &x\n  *x\n",
        "@foo",
        "`cmd`",
    };
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        st_error_t err;
        json_t *root = parse (garbage[i], &err);
        cr_assert_null (root, "accepted garbage <<%s>>", garbage[i]);
        cr_assert (strncmp (err.msg, "line ", 5) == 0, "no position for <<%s>>: %s", garbage[i], err.msg);
    }
}

Test (doc, empty_input_is_a_null_document)
{
    st_error_t err;
    json_t *root = st_doc_parse ("", 0, &err);
    cr_assert (json_is_null (root));
    json_decref (root);
    root = parse ("# only a comment\n\n", &err);
    cr_assert (json_is_null (root));
    json_decref (root);
    root = st_doc_parse (NULL, 0, &err);
    cr_assert (json_is_null (root));
    json_decref (root);
}

Test (doc, byte_order_mark_is_ignored)
{
    assert_tree ("\xef\xbb\xbf{\"a\": 1}", "{\"a\":1}");
    assert_tree ("\xef\xbb\xbf"
                 "a: 1\n",
                 "{\"a\":1}");
}

Test (doc, load_reads_a_file)
{
    const char *text = "a: 1\nb: [x]\n";
    char *path = temp_file (text, strlen (text));
    st_error_t err;
    json_t *root = st_doc_load (path, &err);
    cr_assert_not_null (root, "%s", err.msg);
    cr_assert_eq (json_integer_value (json_object_get (root, "a")), 1);
    json_decref (root);
    unlink (path);
    free (path);
}

Test (doc, load_errors_name_the_file)
{
    st_error_t err;
    json_t *root = st_doc_load ("/nonexistent/strata.yaml", &err);
    cr_assert_null (root);
    cr_assert_eq (err.rc, ST_EIO);
    cr_assert_str_eq (err.msg, "/nonexistent/strata.yaml: cannot open: No such file or directory");

    char *path = temp_file ("a: [1\n", 6);
    root = st_doc_load (path, &err);
    cr_assert_null (root);
    cr_assert_eq (strncmp (err.msg, path, strlen (path)), 0, "%s", err.msg);
    cr_assert (strstr (err.msg, ": line "), "%s", err.msg);
    unlink (path);
    free (path);

    char *big = calloc (1, ST_DOC_MAX_BYTES + 10);
    memset (big, ' ', ST_DOC_MAX_BYTES + 10);
    path = temp_file (big, ST_DOC_MAX_BYTES + 10);
    root = st_doc_load (path, &err);
    cr_assert_null (root);
    cr_assert_eq (err.rc, ST_ETOOBIG);
    cr_assert (strstr (err.msg, "larger than the limit"), "%s", err.msg);
    unlink (path);
    free (path);
    free (big);

    root = st_doc_load ("/tmp", &err);
    cr_assert_null (root);
    cr_assert_eq (err.rc, ST_EIO);
}

Test (doc, null_error_pointer_is_allowed)
{
    cr_assert_null (st_doc_parse ("a: [", 4, NULL));
    cr_assert_null (st_doc_load ("/nonexistent", NULL));
}
