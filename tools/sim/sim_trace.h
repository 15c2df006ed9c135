/*  sim_trace.h: a job trace (CSV) for strata-sim.
 *
 *      job_id,submit_s,duration_s,num_gpus,gpu_type,user,queue,status
 *
 *  The first non-blank line is the header; columns are found by name, so their
 *  order is free. job_id, submit_s, duration_s and num_gpus are required; the
 *  other four may be left out, and a blank cell means "absent". Columns with
 *  other names are ignored. Fields may be double-quoted ("" inside a quoted
 *  field is one quote); blank lines are skipped; CRLF line ends are accepted.
 *  Numbers are decimal (num_gpus may be fractional); none may be negative.
 *  Rows are kept in file order after a stable sort by submit_s. */
#ifndef SIM_TRACE_H
#define SIM_TRACE_H

#include <stddef.h>

#include "st_error.h"

#define SIM_MAX_GPUS 65536.0 /*  num_gpus above this is refused  */

typedef struct {
    char *id; /*  job_id, never NULL or empty  */
    int line; /*  1-based line in the file  */
    double submit_s;
    double duration_s;
    double num_gpus; /*  as written; may be fractional  */
    char *gpu_type;  /*  NULL when blank or absent  */
    char *user;
    char *queue;
    char *status; /*  read and kept, not used by the replay  */
} sim_row_t;

typedef struct {
    sim_row_t *rows;
    size_t nrows;
    size_t nfractional; /*  rows whose num_gpus is not a whole number  */
} sim_trace_t;

/*  Parses CSV text; `name` prefixes error messages ("trace.csv:17: ...").
 *  Returns ST_OK or an error code with err->msg naming the line and column.  */
st_rc_t sim_trace_parse (const char *text, size_t len, const char *name, sim_trace_t *out, st_error_t *err);
st_rc_t sim_trace_load (const char *path, sim_trace_t *out, st_error_t *err);
void sim_trace_free (sim_trace_t *t);

/*  Reads a whole file into a NUL-terminated buffer (caller frees).  */
char *sim_read_file (const char *path, size_t *len, st_error_t *err);

#endif
