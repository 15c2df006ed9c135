/*  test_config.c: table-driven options from flags and config files (st_config).  */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "st_config.h"

typedef struct {
    char *config;
    char *scheduler;
    char *node;
    int64_t gpus;
    int64_t priority;
    int verbose;
    int color;
    uint64_t heartbeat_ms;
    uint64_t memory_mb;
    uint32_t cpus_milli;
    st_kv_t labels;
    st_kv_t tags;
} cfg_t;

static const st_opt_t opts[] = {
    { "config", 'c', ST_OPT_PATH, offsetof (cfg_t, config), 0, 0, "FILE", "read options from FILE", NULL },
    { "scheduler", 's', ST_OPT_STRING, offsetof (cfg_t, scheduler), 0, 0, "ENDPOINT", "scheduler endpoint",
      "tcp://127.0.0.1:7700" },
    { "node", 0, ST_OPT_STRING, offsetof (cfg_t, node), 0, 0, "NAME", "node name", NULL },
    { "gpus", 'g', ST_OPT_INT, offsetof (cfg_t, gpus), 0, 64, "N", "GPUs to offer", NULL },
    { "priority", 0, ST_OPT_INT, offsetof (cfg_t, priority), 0, 0, "P", "priority", NULL },
    { "verbose", 'v', ST_OPT_BOOL, offsetof (cfg_t, verbose), 0, 0, NULL, "say more", NULL },
    { "color", 0, ST_OPT_BOOL, offsetof (cfg_t, color), 0, 0, NULL, "colour output", NULL },
    { "heartbeat-interval", 0, ST_OPT_DURATION_MS, offsetof (cfg_t, heartbeat_ms), 100, 60000, "DUR",
      "time between heartbeats", NULL },
    { "memory", 'm', ST_OPT_MEM_MB, offsetof (cfg_t, memory_mb), 1, 16ll * 1024 * 1024, "SIZE", "memory to offer",
      NULL },
    { "cpus", 0, ST_OPT_CPUS_MILLI, offsetof (cfg_t, cpus_milli), 1, 1024000, "N", "cpus to offer", NULL },
    { "label", 'l', ST_OPT_KV, offsetof (cfg_t, labels), 0, 0, "K=V", "node label (repeatable)", NULL, "labels" },
    { "tag", 't', ST_OPT_STRINGS, offsetof (cfg_t, tags), 0, 0, "TAG", "tag (repeatable)", NULL },
    { NULL },
};

static void
cfg_init (cfg_t *cfg)
{
    memset (cfg, 0, sizeof *cfg);
    cfg->gpus = 2;
    cfg->heartbeat_ms = 1000;
    cfg->memory_mb = 512;
    cfg->cpus_milli = 1500;
    cfg->color = 1;
}

/*  Runs the parser over a NULL-terminated list of arguments.  */
static st_rc_t
run (cfg_t *cfg, char ***positional, int *npositional, st_error_t *err, ...)
{
    char *argv[64] = { "prog" };
    int argc = 1;
    va_list ap;
    /*  The parser owns string and list fields; release a previous run's before reusing cfg.  */
    st_config_free (opts, cfg);
    va_start (ap, err);
    for (char *a; (a = va_arg (ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end (ap);
    return st_config_parse (opts, cfg, argc, argv, "prog [options]", "Does things.", positional, npositional, err);
}

#define RUN(cfg, err, ...) run (cfg, NULL, NULL, err, __VA_ARGS__, (char *) NULL)

static char *
temp_file (const char *suffix, const char *content)
{
    char *path = malloc (64);
    snprintf (path, 64, "/tmp/strata-test-config-XXXXXX%s", suffix);
    int fd = mkstemps (path, (int) strlen (suffix));
    cr_assert (fd >= 0);
    cr_assert_eq (write (fd, content, strlen (content)), (ssize_t) strlen (content));
    close (fd);
    return path;
}

Test (config, defaults_stay_when_nothing_is_given)
{
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    cr_assert_eq (st_config_parse (opts, &cfg, 1, (char *[]) { "prog", NULL }, "u", "d", NULL, NULL, &err), ST_OK);
    cr_assert_str_eq (cfg.scheduler, "tcp://127.0.0.1:7700");
    cr_assert_null (cfg.node);
    cr_assert_null (cfg.config);
    cr_assert_eq (cfg.gpus, 2);
    cr_assert_eq (cfg.heartbeat_ms, 1000);
    cr_assert_eq (cfg.memory_mb, 512);
    cr_assert_eq (cfg.cpus_milli, 1500);
    cr_assert_eq (cfg.verbose, 0);
    cr_assert_eq (cfg.color, 1);
    st_config_free (opts, &cfg);
    cr_assert_null (cfg.scheduler);
}

Test (config, flag_forms)
{
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    st_rc_t rc = RUN (&cfg, &err, "--scheduler", "tcp://a:1", "--node=w1", "-g", "4", "-m8G", "--cpus", "0.5",
                      "--heartbeat-interval=250ms", "--priority", "-5", "-v", "--no-color");
    cr_assert_eq (rc, ST_OK, "%s", err.msg);
    cr_assert_str_eq (cfg.scheduler, "tcp://a:1");
    cr_assert_str_eq (cfg.node, "w1");
    cr_assert_eq (cfg.gpus, 4);
    cr_assert_eq (cfg.memory_mb, 8192);
    cr_assert_eq (cfg.cpus_milli, 500);
    cr_assert_eq (cfg.heartbeat_ms, 250);
    cr_assert_eq (cfg.priority, -5);
    cr_assert_eq (cfg.verbose, 1);
    cr_assert_eq (cfg.color, 0);
    st_config_free (opts, &cfg);
}

Test (config, last_flag_wins)
{
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    cr_assert_eq (RUN (&cfg, &err, "--node", "a", "--node", "b", "-v", "--no-verbose", "--gpus=1", "-g3"), ST_OK);
    cr_assert_str_eq (cfg.node, "b");
    cr_assert_eq (cfg.verbose, 0);
    cr_assert_eq (cfg.gpus, 3);
    st_config_free (opts, &cfg);
}

Test (config, booleans)
{
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    cr_assert_eq (RUN (&cfg, &err, "--verbose=true", "--color=no"), ST_OK, "%s", err.msg);
    cr_assert_eq (cfg.verbose, 1);
    cr_assert_eq (cfg.color, 0);
    cr_assert_eq (RUN (&cfg, &err, "--verbose=maybe"), ST_EINVAL);
    cr_assert_str_eq (err.msg, "--verbose: must be true or false, got \"maybe\"");
    cr_assert_eq (RUN (&cfg, &err, "--no-verbose=1"), ST_EINVAL);
    cr_assert_str_eq (err.msg, "--no-verbose: takes no value");
    cr_assert_eq (RUN (&cfg, &err, "-vx"), ST_EINVAL);
    cr_assert_str_eq (err.field, "verbose");
    /*  --no- only exists for booleans.  */
    cr_assert_eq (RUN (&cfg, &err, "--no-node"), ST_EINVAL);
    cr_assert_str_eq (err.msg, "unknown option --no-node");
    st_config_free (opts, &cfg);
}

Test (config, bounds_and_bad_values_name_the_option)
{
    static const struct {
        const char *flag, *value, *msg;
    } cases[] = {
        { "--gpus", "65", "--gpus: must be an integer between 0 and 64, got \"65\"" },
        { "--gpus", "-1", "--gpus: must be an integer between 0 and 64, got \"-1\"" },
        { "--gpus", "two", "--gpus: must be an integer between 0 and 64, got \"two\"" },
        { "--gpus", "", "--gpus: must be an integer between 0 and 64, got \"\"" },
        { "--gpus", "1x", "--gpus: must be an integer between 0 and 64, got \"1x\"" },
        { "--priority", "abc", "--priority: must be an integer, got \"abc\"" },
        { "--priority", "99999999999999999999", "--priority: must be an integer, got \"99999999999999999999\"" },
        { "--heartbeat-interval", "abc", "--heartbeat-interval: invalid duration \"abc\" (examples: 500ms, 2s, 1m)" },
        { "--heartbeat-interval", "50ms", "--heartbeat-interval: must be between 100ms and 1m, got \"50ms\"" },
        { "--heartbeat-interval", "2m", "--heartbeat-interval: must be between 100ms and 1m, got \"2m\"" },
        { "--memory", "lots", "--memory: invalid size \"lots\" (examples: 512M, 4G, 1T)" },
        { "--memory", "0", "--memory: must be between 1M and 16T, got \"0\"" },
        { "--memory", "17T", "--memory: must be between 1M and 16T, got \"17T\"" },
        { "--cpus", "0.0005", "--cpus: at most 3 decimal places (thousandths of a cpu), got \"0.0005\"" },
        { "--cpus", "many", "--cpus: invalid cpu count \"many\" (examples: 2, 0.5)" },
        { "--cpus", "0", "--cpus: must be between 0.001 and 1024, got \"0\"" },
        { "--cpus", "1025", "--cpus: must be between 0.001 and 1024, got \"1025\"" },
        { "--label", "novalue", "--label: expected KEY=VALUE, got \"novalue\"" },
        { "--label", "=v", "--label: expected KEY=VALUE, got \"=v\"" },
        { "--config", "", "--config: must be a path, got \"\"" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cfg_t cfg;
        cfg_init (&cfg);
        st_error_t err;
        st_rc_t rc = RUN (&cfg, &err, (char *) cases[i].flag, (char *) cases[i].value);
        cr_assert_eq (rc, ST_EINVAL, "%s %s accepted", cases[i].flag, cases[i].value);
        cr_assert_str_eq (err.msg, cases[i].msg);
        cr_assert_str_eq (err.field, cases[i].flag + 2);
        st_config_free (opts, &cfg);
    }
}

Test (config, short_option_errors_use_the_short_name)
{
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    cr_assert_eq (RUN (&cfg, &err, "-g", "100"), ST_EINVAL);
    cr_assert_str_eq (err.msg, "-g: must be an integer between 0 and 64, got \"100\"");
    cr_assert_str_eq (err.field, "gpus");
    st_config_free (opts, &cfg);
}

Test (config, missing_value)
{
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    cr_assert_eq (RUN (&cfg, &err, "--gpus"), ST_EINVAL);
    cr_assert_str_eq (err.msg, "--gpus: missing value (N)");
    cr_assert_eq (RUN (&cfg, &err, "-s"), ST_EINVAL);
    cr_assert_str_eq (err.msg, "-s: missing value (ENDPOINT)");
    st_config_free (opts, &cfg);
}

Test (config, unknown_options)
{
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    cr_assert_eq (RUN (&cfg, &err, "--foo"), ST_EINVAL);
    cr_assert_str_eq (err.msg, "unknown option --foo");
    cr_assert_str_eq (err.hint, "see --help");
    cr_assert_eq (RUN (&cfg, &err, "--foo=bar"), ST_EINVAL);
    cr_assert_str_eq (err.msg, "unknown option --foo");
    cr_assert_eq (RUN (&cfg, &err, "-x"), ST_EINVAL);
    cr_assert_str_eq (err.msg, "unknown option -x");
    /*  Config-file spelling with '_' is for files only.  */
    cr_assert_eq (RUN (&cfg, &err, "--heartbeat_interval", "1s"), ST_EINVAL);
    st_config_free (opts, &cfg);
}

Test (config, kv_repeat_and_lists)
{
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    st_rc_t rc = RUN (&cfg, &err, "--label", "rack=r1", "-l", "zone=a,gpu=h100", "--label=rack=r2", "--label",
                      "PATH=/a,/b,x=1", "--label", "empty=", "-t", "one", "--tag", "two", "--tag=a,b");
    cr_assert_eq (rc, ST_OK, "%s", err.msg);
    cr_assert_eq (cfg.labels.n, 6);
    cr_assert_str_eq (st_kv_get (&cfg.labels, "rack"), "r2");
    cr_assert_str_eq (st_kv_get (&cfg.labels, "zone"), "a");
    cr_assert_str_eq (st_kv_get (&cfg.labels, "gpu"), "h100");
    cr_assert_str_eq (st_kv_get (&cfg.labels, "PATH"), "/a,/b");
    cr_assert_str_eq (st_kv_get (&cfg.labels, "x"), "1");
    cr_assert_str_eq (st_kv_get (&cfg.labels, "empty"), "");
    cr_assert_eq (cfg.tags.n, 3);
    cr_assert_str_eq (cfg.tags.keys[0], "one");
    cr_assert_str_eq (cfg.tags.keys[1], "two");
    cr_assert_str_eq (cfg.tags.keys[2], "a,b");
    cr_assert_null (cfg.tags.vals[0]);
    st_config_free (opts, &cfg);
    cr_assert_eq (cfg.labels.n, 0);
    cr_assert_eq (cfg.tags.n, 0);
}

Test (config, positional_arguments_and_double_dash)
{
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    char **pos = NULL;
    int npos = -1;
    st_rc_t rc =
        run (&cfg, &pos, &npos, &err, "a", "--gpus", "1", "b", "-", "--", "--gpus", "9", "-v", (char *) NULL);
    cr_assert_eq (rc, ST_OK, "%s", err.msg);
    cr_assert_eq (cfg.gpus, 1);
    cr_assert_eq (cfg.verbose, 0);
    cr_assert_eq (npos, 6);
    const char *expected[] = { "a", "b", "-", "--gpus", "9", "-v" };
    for (int i = 0; i < 6; i++)
        cr_assert_str_eq (pos[i], expected[i]);
    cr_assert_null (pos[6]);
    free (pos);
    /*  A second "--" after the first is an ordinary argument.  */
    rc = run (&cfg, &pos, &npos, &err, "--", "--", (char *) NULL);
    cr_assert_eq (rc, ST_OK);
    cr_assert_eq (npos, 1);
    cr_assert_str_eq (pos[0], "--");
    free (pos);
    rc = run (&cfg, &pos, &npos, &err, (char *) NULL);
    cr_assert_eq (rc, ST_OK);
    cr_assert_eq (npos, 0);
    free (pos);
    st_config_free (opts, &cfg);
}

Test (config, positional_refused_without_a_place_for_it)
{
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    cr_assert_eq (RUN (&cfg, &err, "stray"), ST_EINVAL);
    cr_assert_str_eq (err.msg, "unexpected argument \"stray\"");
    cr_assert_str_eq (err.hint, "see --help");
    st_config_free (opts, &cfg);
}

Test (config, positional_array_is_null_on_error)
{
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    char **pos = (char **) 1;
    int npos = 7;
    cr_assert_eq (run (&cfg, &pos, &npos, &err, "a", "--bogus", (char *) NULL), ST_EINVAL);
    cr_assert_null (pos);
    cr_assert_eq (npos, 0);
    st_config_free (opts, &cfg);
}

static const char *expected_usage =
    "usage: prog [options]\n"
    "\n"
    "Does things.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE              read options from FILE\n"
    "  -s, --scheduler ENDPOINT       scheduler endpoint (default: tcp://127.0.0.1:7700)\n"
    "      --node NAME                node name\n"
    "  -g, --gpus N                   GPUs to offer (default: 2)\n"
    "      --priority P               priority (default: 0)\n"
    "  -v, --verbose                  say more\n"
    "      --color                    colour output (default: on)\n"
    "      --heartbeat-interval DUR   time between heartbeats (default: 1s)\n"
    "  -m, --memory SIZE              memory to offer (default: 512M)\n"
    "      --cpus N                   cpus to offer (default: 1.5)\n"
    "  -l, --label K=V                node label (repeatable)\n"
    "  -t, --tag TAG                  tag (repeatable)\n"
    "  -h, --help                     show this help and exit\n";

Test (config, help_prints_usage_and_returns_eagain, .init = cr_redirect_stdout)
{
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    /*  --help wins even over a config file that does not exist and a bad flag after it.  */
    cr_assert_eq (RUN (&cfg, &err, "--config", "/nonexistent.yaml", "--help", "--bogus"), ST_EAGAIN);
    fflush (stdout);
    cr_assert_stdout_eq_str (expected_usage);
    st_config_free (opts, &cfg);
}

Test (config, short_help, .init = cr_redirect_stdout)
{
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    cr_assert_eq (RUN (&cfg, &err, "-h"), ST_EAGAIN);
    fflush (stdout);
    cr_assert_stdout_eq_str (expected_usage);
    st_config_free (opts, &cfg);
}

Test (config, help_after_double_dash_is_positional)
{
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    char **pos = NULL;
    int npos = 0;
    cr_assert_eq (run (&cfg, &pos, &npos, &err, "--", "--help", (char *) NULL), ST_OK);
    cr_assert_eq (npos, 1);
    free (pos);
    st_config_free (opts, &cfg);
}

Test (config, usage_without_a_config_struct, .init = cr_redirect_stdout)
{
    static const st_opt_t small[] = {
        { "database", 'd', ST_OPT_STRING, 0, 0, 0, "DSN", "PostgreSQL connection", "dbname=strata" },
        { "kill-grace", 0, ST_OPT_DURATION_MS, 0, 0, 0, NULL, "grace before SIGKILL", NULL },
        { NULL },
    };
    st_config_usage (stdout, "strata-scheduler [options]", NULL, small);
    fflush (stdout);
    cr_assert_stdout_eq_str ("usage: strata-scheduler [options]\n"
                             "\n"
                             "options:\n"
                             "  -d, --database DSN     PostgreSQL connection (default: dbname=strata)\n"
                             "      --kill-grace DUR   grace before SIGKILL\n"
                             "  -h, --help             show this help and exit\n");
}

Test (config, file_applies_and_flags_override)
{
    char *path = temp_file (".yaml", "# worker config\n"
                                     "scheduler: tcp://file:7700\n"
                                     "node: from-file\n"
                                     "gpus: 8\n"
                                     "heartbeat_interval: 2s\n"
                                     "memory: 4G\n"
                                     "cpus: 2.5\n"
                                     "verbose: true\n"
                                     "color: false\n"
                                     "label: {rack: r1, zone: a}\n"
                                     "tag: [x, y]\n");
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    st_rc_t rc = RUN (&cfg, &err, "--gpus", "1", "--config", path, "--label", "rack=r9", "--tag", "z");
    cr_assert_eq (rc, ST_OK, "%s", err.msg);
    cr_assert_str_eq (cfg.config, path);
    cr_assert_str_eq (cfg.scheduler, "tcp://file:7700");
    cr_assert_str_eq (cfg.node, "from-file");
    cr_assert_eq (cfg.gpus, 1, "flags win over the file, wherever they stand");
    cr_assert_eq (cfg.heartbeat_ms, 2000);
    cr_assert_eq (cfg.memory_mb, 4096);
    cr_assert_eq (cfg.cpus_milli, 2500);
    cr_assert_eq (cfg.verbose, 1);
    cr_assert_eq (cfg.color, 0);
    cr_assert_str_eq (st_kv_get (&cfg.labels, "rack"), "r9");
    cr_assert_str_eq (st_kv_get (&cfg.labels, "zone"), "a");
    cr_assert_eq (cfg.tags.n, 1, "a list given by flags replaces the file's");
    cr_assert_str_eq (cfg.tags.keys[0], "z");
    st_config_free (opts, &cfg);
    unlink (path);
    free (path);
}

Test (config, an_alias_names_the_same_option)
{
    char *path = temp_file (".yaml", "labels: {rack: r2}\n");
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    st_rc_t rc = RUN (&cfg, &err, "--config", path, "--labels", "zone=b");
    cr_assert_eq (rc, ST_OK, "%s", err.msg);
    cr_assert_str_eq (st_kv_get (&cfg.labels, "rack"), "r2", "the file's alias key sets the option");
    cr_assert_str_eq (st_kv_get (&cfg.labels, "zone"), "b", "so does the alias flag");
    st_config_free (opts, &cfg);
    unlink (path);
    free (path);

    path = temp_file (".yaml", "label: {rack: r1}\nlabels: {rack: r2}\n");
    cfg_init (&cfg);
    rc = RUN (&cfg, &err, "--config", path);
    cr_assert_eq (rc, ST_EINVAL, "a name and its alias in one file are the same option twice");
    cr_assert (strstr (err.msg, "name the same option"), "%s", err.msg);
    st_config_free (opts, &cfg);
    unlink (path);
    free (path);
}

Test (config, json_file_and_short_config_flag)
{
    char *path = temp_file (".json", "{\"node\": \"j\", \"heartbeat-interval\": 500, \"label\": [\"a=1\", \"b=2\"],"
                                     " \"tag\": \"solo\", \"priority\": -3}");
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    cr_assert_eq (RUN (&cfg, &err, "-c", path), ST_OK, "%s", err.msg);
    cr_assert_str_eq (cfg.node, "j");
    cr_assert_eq (cfg.heartbeat_ms, 500);
    cr_assert_eq (cfg.priority, -3);
    cr_assert_str_eq (st_kv_get (&cfg.labels, "a"), "1");
    cr_assert_str_eq (st_kv_get (&cfg.labels, "b"), "2");
    cr_assert_eq (cfg.tags.n, 1);
    st_config_free (opts, &cfg);
    cfg_init (&cfg);
    cr_assert_eq (RUN (&cfg, &err,
                       "--config="
                       "/nonexistent/x.yaml"),
                  ST_EIO);
    cr_assert_str_eq (err.msg, "/nonexistent/x.yaml: cannot open: No such file or directory");
    st_config_free (opts, &cfg);
    unlink (path);
    free (path);
}

Test (config, file_errors_name_the_file_and_key)
{
    static const struct {
        const char *content, *msg;
    } cases[] = {
        { "foo: 1\n", "unknown key \"foo\"" },
        { "help: true\n", "unknown key \"help\"" },
        { "config: /etc/x.yaml\n", "key \"config\" is not allowed in a config file" },
        { "gpus: 99\n", "gpus: must be an integer between 0 and 64, got \"99\"" },
        { "gpus: [1]\n", "gpus: must be a single value, got a list" },
        { "verbose: 5\n", "verbose: must be true or false, got a number" },
        { "verbose: perhaps\n", "verbose: must be true or false, got \"perhaps\"" },
        { "heartbeat-interval: abc\n", "heartbeat-interval: invalid duration \"abc\" (examples: 500ms, 2s, 1m)" },
        { "label: {a: [1]}\n", "label.a: must be a single value" },
        { "label: 5\n", "label: expected KEY=VALUE, got \"5\"" },
        { "tag: {a: 1}\n", "tag: must be a list, got a mapping" },
        { "node: {a: 1}\n", "node: must be a single value, got a mapping" },
        { "gpus: 1\ngpus: 2\n", "line 2, column 1: duplicate key \"gpus\"" },
        { "heartbeat-interval: 1s\nheartbeat_interval: 2s\n",
          "keys \"heartbeat-interval\" and \"heartbeat_interval\" name the same option" },
        { "- a\n- b\n", "must be a mapping of option names to values" },
        { "a: [\n", "line " },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = temp_file (".yaml", cases[i].content);
        cfg_t cfg;
        cfg_init (&cfg);
        st_error_t err;
        cr_assert_neq (RUN (&cfg, &err, "--config", path), ST_OK, "accepted <<%s>>", cases[i].content);
        char expected[512];
        snprintf (expected, sizeof expected, "%s: %s", path, cases[i].msg);
        cr_assert (strncmp (err.msg, expected, strlen (expected)) == 0, "got <<%s>>, expected <<%s>>", err.msg,
                   expected);
        st_config_free (opts, &cfg);
        unlink (path);
        free (path);
    }
}

Test (config, unknown_file_key_hint)
{
    char *path = temp_file (".yaml", "bogus: 1\n");
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    cr_assert_eq (st_config_apply_file (opts, &cfg, path, &err), ST_EINVAL);
    cr_assert_str_eq (err.field, "bogus");
    cr_assert (strstr (err.hint, "long option names"), "%s", err.hint);
    st_config_free (opts, &cfg);
    unlink (path);
    free (path);
}

Test (config, empty_file_and_null_values_set_nothing)
{
    char *empty = temp_file (".yaml", "# nothing yet\n");
    char *nulls = temp_file (".yaml", "node:\ngpus: ~\n");
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    cr_assert_eq (RUN (&cfg, &err, "--config", empty), ST_OK, "%s", err.msg);
    cr_assert_eq (cfg.gpus, 2);
    st_config_free (opts, &cfg);
    cfg_init (&cfg);
    cr_assert_eq (RUN (&cfg, &err, "--config", nulls), ST_OK, "%s", err.msg);
    cr_assert_null (cfg.node);
    cr_assert_eq (cfg.gpus, 2);
    st_config_free (opts, &cfg);
    unlink (empty);
    unlink (nulls);
    free (empty);
    free (nulls);
}

typedef struct {
    char *config;
    char *node;
} small_cfg_t;

Test (config, default_config_file_is_optional)
{
    char *path = temp_file (".yaml", "node: from-default-file\n");
    st_opt_t table[] = {
        { "config", 'c', ST_OPT_PATH, offsetof (small_cfg_t, config), 0, 0, "FILE", "config", path },
        { "node", 0, ST_OPT_STRING, offsetof (small_cfg_t, node), 0, 0, "NAME", "node", "default-node" },
        { NULL },
    };
    small_cfg_t cfg = { 0 };
    st_error_t err;
    char *argv[] = { "prog", NULL };
    cr_assert_eq (st_config_parse (table, &cfg, 1, argv, "u", NULL, NULL, NULL, &err), ST_OK, "%s", err.msg);
    cr_assert_str_eq (cfg.node, "from-default-file");
    st_config_free (table, &cfg);
    unlink (path);
    /*  Gone: silently skipped, because nobody asked for it.  */
    cr_assert_eq (st_config_parse (table, &cfg, 1, argv, "u", NULL, NULL, NULL, &err), ST_OK, "%s", err.msg);
    cr_assert_str_eq (cfg.node, "default-node");
    st_config_free (table, &cfg);
    free (path);
}

Test (config, free_is_safe_twice)
{
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    cr_assert_eq (RUN (&cfg, &err, "--node", "n", "--label", "a=b"), ST_OK);
    st_config_free (opts, &cfg);
    st_config_free (opts, &cfg);
    cr_assert_null (cfg.node);
    st_config_free (NULL, NULL);
}

Test (config, head_stops_at_the_command_word)
{
    cfg_t cfg;
    cfg_init (&cfg);
    st_error_t err;
    int next = -1;
    char *a1[] = { "prog", "-s", "tcp://x:1", "--gpus=4", "-v", "run", "--gpus", "9", "extra", NULL };
    cr_assert_eq (st_config_parse_head (opts, &cfg, 9, a1, "u", NULL, &next, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (next, 5, "the command word");
    cr_assert_str_eq (cfg.scheduler, "tcp://x:1");
    cr_assert_eq (cfg.gpus, 4, "options after the command word are the command's");
    cr_assert_eq (cfg.verbose, 1);
    st_config_free (opts, &cfg);

    /*  A value that looks like a word is still the option's value.  */
    cfg_init (&cfg);
    char *a2[] = { "prog", "--node", "run", "go", NULL };
    cr_assert_eq (st_config_parse_head (opts, &cfg, 4, a2, "u", NULL, &next, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (next, 3);
    cr_assert_str_eq (cfg.node, "run");
    st_config_free (opts, &cfg);

    /*  "--" ends the options; nothing after the options: argc.  */
    cfg_init (&cfg);
    char *a3[] = { "prog", "-v", "--", "-x", NULL };
    cr_assert_eq (st_config_parse_head (opts, &cfg, 4, a3, "u", NULL, &next, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (next, 3);
    st_config_free (opts, &cfg);
    cfg_init (&cfg);
    char *a4[] = { "prog", "-v", NULL };
    cr_assert_eq (st_config_parse_head (opts, &cfg, 2, a4, "u", NULL, &next, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (next, 2);
    st_config_free (opts, &cfg);

    /*  An unknown option before the command word is an error, as with st_config_parse.  */
    cfg_init (&cfg);
    char *a5[] = { "prog", "--bogus", "run", NULL };
    cr_assert_eq (st_config_parse_head (opts, &cfg, 3, a5, "u", NULL, &next, &err), ST_EINVAL);
    cr_assert_not_null (strstr (err.msg, "--bogus"), "%s", err.msg);
    st_config_free (opts, &cfg);
}
