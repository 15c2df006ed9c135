/*  st_config.h: daemon and CLI options from a table, read from flags and from a
 *  YAML/JSON config file with the same names.
 *
 *  Each program declares a table of st_opt_t describing fields of its config
 *  struct. st_config_parse() applies, in order: the defaults already in the
 *  struct, the file named by --config (if the table has an option "config" of
 *  type ST_OPT_PATH), then the flags. Config-file keys are the long option names
 *  with '-' or '_' (both accepted). Unknown keys and flags, wrong types and
 *  values out of range are errors that name the option.
 *
 *  Flag syntax: --name value, --name=value, -x value; booleans take no value
 *  (--flag sets true, --no-flag sets false). "--" ends the options. */
#ifndef ST_CONFIG_H
#define ST_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "st_error.h"
#include "st_kv.h"

typedef enum {
    ST_OPT_STRING, /*  char *: st_config_parse sets it to strdup (def) first, then overrides (freeing the old)  */
    ST_OPT_PATH,   /*  char *, same as STRING; "config" of this type names the config file  */
    ST_OPT_INT,    /*  int64_t within [min, max]  */
    ST_OPT_BOOL,   /*  int (0/1)  */
    ST_OPT_DURATION_MS, /*  uint64_t milliseconds; text "250ms", "2s", "1m", or a number of ms  */
    ST_OPT_MEM_MB,      /*  uint64_t MiB; "512M", "2G" (st_parse_mem_mb)  */
    ST_OPT_CPUS_MILLI,  /*  uint32_t thousandths of a CPU; "2", "0.5"  */
    ST_OPT_KV,          /*  st_kv_t; flag repeated "k=v", or "k=v,k2=v2"; in a file, a mapping  */
    ST_OPT_STRINGS,     /*  st_kv_t used as a list: keys hold the strings, vals NULL; repeatable  */
} st_opt_type_t;

typedef struct {
    const char *name; /*  long name, e.g. "heartbeat-interval"; NULL ends the table  */
    char short_name;  /*  0 for none  */
    st_opt_type_t type;
    size_t offset;     /*  offsetof (config struct, field)  */
    int64_t min, max;  /*  ST_OPT_INT / DURATION_MS / MEM_MB / CPUS_MILLI bounds; both 0: no bounds  */
    const char *arg;   /*  argument name shown in --help, e.g. "DSN"  */
    const char *help;  /*  one line  */
    const char *def;   /*  STRING/PATH: default value (may be NULL); other types take their
                                default from the struct as the caller filled it  */
    const char *alias; /*  another long name, e.g. "labels" for a repeatable "label"; may be NULL  */
} st_opt_t;

/*  Parses argv[1..argc-1] (argv[0] is the program). Positional arguments are
 *  collected in order into *positional (array of argv pointers, caller frees the
 *  array only) when positional is not NULL; otherwise a positional is an error.
 *  Returns ST_OK; ST_EAGAIN when --help/-h was given (usage already printed to
 *  stdout, caller exits 0); other codes with err filled.  */
st_rc_t st_config_parse (const st_opt_t *opts, void *cfg, int argc, char **argv, const char *usage_line,
                         const char *description, char ***positional, int *npositional, st_error_t *err);

/*  The same for a program with subcommands (`strata [OPTIONS] COMMAND ...`):
 *  the options end at the first argument that is not one (or after "--"),
 *  whose index goes to *next (argc when there is none).  */
st_rc_t st_config_parse_head (const st_opt_t *opts, void *cfg, int argc, char **argv, const char *usage_line,
                              const char *description, int *next, st_error_t *err);

/*  Applies a parsed YAML/JSON mapping to cfg.  */
st_rc_t st_config_apply_file (const st_opt_t *opts, void *cfg, const char *path, st_error_t *err);

/*  Prints "usage: ..." then description then an aligned option list.  */
void st_config_usage (FILE *out, const char *usage_line, const char *description, const st_opt_t *opts);

/*  Frees strings and kv lists the parser allocated in cfg.  */
void st_config_free (const st_opt_t *opts, void *cfg);

#endif
