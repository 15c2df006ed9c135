/*  output.c: tables, human formats and JSON for the CLI.
 *
 *  Everything printed here came from the scheduler, so strings are cleaned of
 *  control characters (C0, DEL and C1) before they reach a terminal, and JSON
 *  strings that are not valid UTF-8 have the bad bytes replaced. */
#include "output.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "st_field.h"
#include "st_time.h"
#include "st_vec.h"
#include "st_wire.h"

#define S_TABLE_MAX_ROWS ((size_t) 1 << 24) /*  rows in one printed table  */

/*  -- text -----------------------------------------------------------------  */

/*  Length of the UTF-8 sequence that starts with byte c (1 for stray bytes).  */
static size_t
s_seq_len (unsigned char c)
{
    if (c >= 0xF0 && c <= 0xF7)
        return 4;
    if (c >= 0xE0)
        return c <= 0xEF ? 3 : 1;
    if (c >= 0xC0)
        return 2;
    return 1;
}

size_t
cli_text_width (const char *text)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        if ((*p & 0xC0) != 0x80)
            w++;
    return w;
}

char *
cli_text_fit (const char *text, size_t max, char *buf, size_t size)
{
    if (size == 0)
        return buf;
    const unsigned char *p = (const unsigned char *) (text ? text : "");
    size_t len = 0;    /*  bytes written  */
    size_t width = 0;  /*  characters written  */
    size_t cut_at = 0; /*  bytes of the first max - 3 characters  */
    int over = 0;      /*  text has more than max characters  */
    while (*p) {
        size_t n = s_seq_len (*p);
        for (size_t i = 1; i < n; i++)
            if ((p[i] & 0xC0) != 0x80) {
                n = i; /*  a broken sequence: copy what is there  */
                break;
            }
        int control = *p < 0x20 || *p == 0x7F || (n == 2 && p[0] == 0xC2 && p[1] < 0xA0);
        size_t out_n = control ? 1 : n;
        if (max && width == max) {
            over = 1;
            break;
        }
        if (len + out_n >= size)
            break; /*  the buffer is full: cut there  */
        if (control)
            buf[len] = ' ';
        else
            memcpy (buf + len, p, n);
        len += out_n;
        width++;
        if (max > 3 && width == max - 3)
            cut_at = len;
        p += n;
    }
    if (over && max > 3) {
        /*  The three characters after cut_at took at least three bytes.  */
        len = cut_at;
        memcpy (buf + len, "...", 3);
        len += 3;
    }
    buf[len] = '\0';
    return buf;
}

const char *
cli_format_duration (uint64_t ms, char *buf, size_t size)
{
    unsigned long long s = ms / 1000;
    if (s < 60)
        snprintf (buf, size, "%llus", s);
    else if (s < 3600)
        snprintf (buf, size, "%llum%02llus", s / 60, s % 60);
    else if (s < 86400)
        snprintf (buf, size, "%lluh%02llum", s / 3600, (s % 3600) / 60);
    else
        snprintf (buf, size, "%llud%02lluh", s / 86400, (s % 86400) / 3600);
    return buf;
}

const char *
cli_format_age (uint64_t now_ms, uint64_t then_ms, char *buf, size_t size)
{
    if (then_ms == 0) {
        snprintf (buf, size, "-");
        return buf;
    }
    /*  Clocks of two machines disagree a little: a future time reads as 0s.  */
    return cli_format_duration (now_ms > then_ms ? now_ms - then_ms : 0, buf, size);
}

const char *
cli_format_bytes (uint64_t bytes, char *buf, size_t size)
{
    static const char units[] = "BKMGTPE";
    unsigned u = 0;
    uint64_t whole = bytes;
    while (whole >= 1024 && units[u + 1]) {
        whole /= 1024;
        u++;
    }
    if (u == 0) {
        /*  "0/64G" reads better than "0B/64G".  */
        snprintf (buf, size, bytes ? "%lluB" : "0", (unsigned long long) bytes);
        return buf;
    }
    double v = (double) bytes / (double) (1ull << (10 * u));
    if (v < 10 && bytes % (1ull << (10 * u)) != 0) {
        snprintf (buf, size, "%.1f%c", v, units[u]);
        /*  "10.0G" after rounding reads better as "10G"; "4.0G" as "4G".  */
        char *dot = strstr (buf, ".0");
        if (dot)
            memmove (dot, dot + 2, strlen (dot + 2) + 1);
    }
    else
        snprintf (buf, size, "%.0f%c", v, units[u]);
    return buf;
}

const char *
cli_format_mem_mb (uint64_t mb, char *buf, size_t size)
{
    if (mb > (UINT64_MAX >> 20))
        mb = UINT64_MAX >> 20;
    return cli_format_bytes (mb << 20, buf, size);
}

const char *
cli_format_cpus (uint32_t milli, char *buf, size_t size)
{
    if (milli % 1000 == 0) {
        snprintf (buf, size, "%u", milli / 1000);
        return buf;
    }
    snprintf (buf, size, "%u.%03u", milli / 1000, milli % 1000);
    size_t n = strlen (buf);
    while (n > 0 && buf[n - 1] == '0')
        buf[--n] = '\0';
    return buf;
}

const char *
cli_format_number (double v, int places, char *buf, size_t size)
{
    snprintf (buf, size, "%.*f", places, v);
    if (strchr (buf, '.')) {
        size_t n = strlen (buf);
        while (n > 0 && buf[n - 1] == '0')
            buf[--n] = '\0';
        if (n > 0 && buf[n - 1] == '.')
            buf[--n] = '\0';
    }
    if (!strcmp (buf, "-0"))
        snprintf (buf, size, "0");
    return buf;
}

/*  -- tables ---------------------------------------------------------------  */

struct cli_table {
    size_t ncols;
    char **headers; /*  ncols cleaned copies, or NULL: no header row  */
    char *right;    /*  ncols flags: right-aligned  */
    char ***rows;   /*  nrows arrays of ncols cleaned copies  */
    size_t nrows, cap;
};

static char *
s_clean_dup (const char *text)
{
    if (!text)
        text = "-";
    size_t size = strlen (text) + 1;
    char *copy = malloc (size);
    return copy ? cli_text_fit (text, 0, copy, size) : NULL;
}

static void
s_free_row (char **row, size_t ncols)
{
    if (!row)
        return;
    for (size_t i = 0; i < ncols; i++)
        free (row[i]);
    free (row);
}

static char **
s_dup_row (const char *const *cells, size_t ncols)
{
    char **row = calloc (ncols, sizeof *row);
    if (!row)
        return NULL;
    for (size_t i = 0; i < ncols; i++)
        if (!(row[i] = s_clean_dup (cells[i]))) {
            s_free_row (row, ncols);
            return NULL;
        }
    return row;
}

cli_table_t *
cli_table_new (size_t ncols, const char *const *headers)
{
    cli_table_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->ncols = ncols;
    self->right = calloc (ncols ? ncols : 1, 1);
    if (!self->right || (headers && !(self->headers = s_dup_row (headers, ncols)))) {
        cli_table_destroy (&self);
        return NULL;
    }
    return self;
}

void
cli_table_destroy (cli_table_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cli_table_t *self = *self_p;
    s_free_row (self->headers, self->ncols);
    for (size_t r = 0; r < self->nrows; r++)
        s_free_row (self->rows[r], self->ncols);
    free (self->rows);
    free (self->right);
    free (self);
    *self_p = NULL;
}

void
cli_table_align_right (cli_table_t *self, size_t col)
{
    if (col < self->ncols)
        self->right[col] = 1;
}

int
cli_table_add (cli_table_t *self, const char *const *cells)
{
    if (st_vec_reserve ((void **) &self->rows, &self->cap, self->nrows + 1, sizeof *self->rows, S_TABLE_MAX_ROWS)
        != ST_OK)
        return -1;
    char **row = s_dup_row (cells, self->ncols);
    if (!row)
        return -1;
    self->rows[self->nrows++] = row;
    return 0;
}

static void
s_render_row (FILE *f, char *const *row, const size_t *widths, const char *right, size_t ncols)
{
    /*  Build the line first so trailing blanks can be trimmed.  */
    char *line = NULL;
    size_t len = 0;
    FILE *lf = open_memstream (&line, &len);
    if (!lf)
        return;
    for (size_t c = 0; c < ncols; c++) {
        size_t pad = widths[c] - cli_text_width (row[c]);
        if (c > 0)
            fputs ("  ", lf);
        if (right[c])
            fprintf (lf, "%*s%s", (int) pad, "", row[c]);
        else
            fprintf (lf, "%s%*s", row[c], (int) pad, "");
    }
    fclose (lf);
    while (len > 0 && line[len - 1] == ' ')
        line[--len] = '\0';
    fprintf (f, "%s\n", line);
    free (line);
}

char *
cli_table_render (const cli_table_t *self)
{
    size_t *widths = calloc (self->ncols ? self->ncols : 1, sizeof *widths);
    if (!widths)
        return NULL;
    for (size_t c = 0; c < self->ncols; c++) {
        if (self->headers)
            widths[c] = cli_text_width (self->headers[c]);
        for (size_t r = 0; r < self->nrows; r++) {
            size_t w = cli_text_width (self->rows[r][c]);
            if (w > widths[c])
                widths[c] = w;
        }
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&text, &len);
    if (f) {
        if (self->headers)
            s_render_row (f, self->headers, widths, self->right, self->ncols);
        for (size_t r = 0; r < self->nrows; r++)
            s_render_row (f, self->rows[r], widths, self->right, self->ncols);
        if (fclose (f) != 0) {
            free (text);
            text = NULL;
        }
    }
    free (widths);
    return text;
}

int
cli_table_print (const cli_table_t *self, FILE *out)
{
    char *text = cli_table_render (self);
    if (!text)
        return -1;
    int rc = fputs (text, out) < 0 ? -1 : 0;
    free (text);
    return rc;
}

/*  -- JSON -----------------------------------------------------------------  */

/*  A JSON string; bytes that are not valid UTF-8 become '?'.  */
static json_t *
s_json_str (const char *s)
{
    if (!s)
        s = "";
    json_t *v = json_string (s);
    if (v)
        return v;
    char *copy = strdup (s);
    if (!copy)
        return NULL;
    unsigned char *end = (unsigned char *) copy + strlen (copy);
    for (unsigned char *p = (unsigned char *) copy; *p;) {
        size_t n = st_utf8_char (p, (size_t) (end - p));
        if (n == 0)
            *p++ = '?';
        else
            p += n;
    }
    v = json_string (copy);
    free (copy);
    return v;
}

json_t *
cli_output_json_str (const char *s)
{
    return s_json_str (s);
}

static json_t *
s_json_cpus (uint32_t milli)
{
    if (milli % 1000 == 0)
        return json_integer (milli / 1000);
    return json_real (milli / 1000.0);
}

/*  Sets key to v (stealing it); clears *ok when v is NULL or the set fails.  */
static void
s_set (json_t *obj, const char *key, json_t *v, int *ok)
{
    if (!v || json_object_set_new (obj, key, v) != 0)
        *ok = 0;
}

/*  t's object; with job, also "earlier_attempts": the job's earlier attempts of
 *  the same rank, objects of the same keys but that one.  */
static json_t *
s_task_json (const Strata__TaskInfo *t, const Strata__JobInfo *job)
{
    json_t *o = json_object ();
    int ok = o != NULL;
    if (!ok)
        return NULL;
    s_set (o, "index", json_integer (t->index), &ok);
    s_set (o, "attempt", json_integer (t->attempt), &ok);
    s_set (o, "state", s_json_str (st_wire_job_state_name (t->state)), &ok);
    s_set (o, "node", s_json_str (t->node), &ok);
    s_set (o, "pid", json_integer (t->pid), &ok);
    s_set (o, "exit_code", json_integer (t->exit_code), &ok);
    s_set (o, "signal", json_integer (t->term_signal), &ok);
    s_set (o, "started_unix_ms", json_integer ((json_int_t) t->started_unix_ms), &ok);
    s_set (o, "finished_unix_ms", json_integer ((json_int_t) t->finished_unix_ms), &ok);
    s_set (o, "peak_mem_kib", t->peak_mem_kib_opt_case ? json_integer ((json_int_t) t->peak_mem_kib) : json_null (),
           &ok);
    s_set (o, "cpu_ms", t->cpu_ms_opt_case ? json_integer ((json_int_t) t->cpu_ms) : json_null (), &ok);
    s_set (o, "reason", s_json_str (t->reason), &ok);
    if (job) {
        json_t *earlier = json_array ();
        for (size_t i = 0; earlier && i < job->n_earlier_attempts; i++)
            if (job->earlier_attempts[i]->index == t->index
                && json_array_append_new (earlier, s_task_json (job->earlier_attempts[i], NULL)) != 0)
                ok = 0;
        s_set (o, "earlier_attempts", earlier, &ok);
    }
    if (!ok)
        json_decref (o);
    return ok ? o : NULL;
}

/*  A figure the scheduler may not have: its value when the oneof is set, else null.  */
static json_t *
s_json_opt (int present, double v)
{
    return present ? json_real (v) : json_null ();
}

json_t *
cli_output_job_json (const Strata__JobInfo *job)
{
    json_t *o = json_object ();
    if (!o)
        return NULL;
    int ok = 1;
    const Strata__Resources *r = job->per_rank;
    s_set (o, "id", json_integer ((json_int_t) job->id), &ok);
    s_set (o, "name", s_json_str (job->name), &ok);
    s_set (o, "tenant", s_json_str (job->tenant), &ok);
    s_set (o, "queue", s_json_str (job->queue), &ok);
    s_set (o, "kind", s_json_str (job->kind), &ok);
    s_set (o, "state", s_json_str (st_wire_job_state_name (job->state)), &ok);
    s_set (o, "reason", s_json_str (job->reason), &ok);
    s_set (o, "priority", json_integer (job->priority), &ok);
    s_set (o, "attempt", json_integer (job->attempt), &ok);
    s_set (o, "max_attempts", json_integer (job->max_attempts), &ok);
    s_set (o, "exit_code", json_integer (job->exit_code), &ok);
    s_set (o, "ranks", json_integer (job->ranks), &ok);
    s_set (o, "cpus_per_rank", s_json_cpus (r ? r->cpus_milli : 0), &ok);
    s_set (o, "mem_per_rank_mb", json_integer ((json_int_t) (r ? r->mem_mb : 0)), &ok);
    s_set (o, "gpus_per_rank", json_integer (r ? r->gpus : 0), &ok);
    s_set (o, "created_unix_ms", json_integer ((json_int_t) job->created_unix_ms), &ok);
    s_set (o, "started_unix_ms", json_integer ((json_int_t) job->started_unix_ms), &ok);
    s_set (o, "finished_unix_ms", json_integer ((json_int_t) job->finished_unix_ms), &ok);
    s_set (o, "cancel_requested", json_boolean (job->cancel_requested), &ok);
    s_set (o, "pool", job->pool && *job->pool ? s_json_str (job->pool) : json_null (), &ok);
    s_set (o, "variant", job->variant && *job->variant ? s_json_str (job->variant) : json_null (), &ok);
    s_set (o, "est_cost", s_json_opt (job->est_cost_opt_case, job->est_cost), &ok);
    s_set (o, "est_kwh", s_json_opt (job->est_kwh_opt_case, job->est_kwh), &ok);
    s_set (o, "est_co2_g", s_json_opt (job->est_co2_g_opt_case, job->est_co2_g), &ok);
    s_set (o, "cost", s_json_opt (job->cost_opt_case, job->cost), &ok);
    s_set (o, "kwh", s_json_opt (job->kwh_opt_case, job->kwh), &ok);
    s_set (o, "co2_g", s_json_opt (job->co2_g_opt_case, job->co2_g), &ok);
    s_set (o, "preemptions", json_integer (job->preemptions), &ok);
    s_set (o, "model_version",
           job->model_version && *job->model_version ? s_json_str (job->model_version) : json_null (), &ok);
    s_set (o, "registered_version",
           job->registered_version && *job->registered_version ? s_json_str (job->registered_version) : json_null (),
           &ok);
    s_set (o, "submitted_by", job->submitted_by && *job->submitted_by ? s_json_str (job->submitted_by) : json_null (),
           &ok);
    s_set (o, "env_hidden", json_boolean (job->env_hidden), &ok);
    if (job->progress)
        s_set (o, "progress",
               json_pack ("{s:I, s:I, s:f, s:f, s:s}", "step", (json_int_t) job->progress->step, "total_steps",
                          (json_int_t) job->progress->total_steps, "loss", job->progress->loss, "rate",
                          job->progress->rate, "unit", job->progress->unit ? job->progress->unit : ""),
               &ok);
    json_t *placement = NULL;
    if (job->placement_json && *job->placement_json)
        placement = json_loads (job->placement_json, JSON_REJECT_DUPLICATES, NULL);
    s_set (o, "placement", placement ? placement : json_null (), &ok);

    json_t *tasks = json_array ();
    for (size_t i = 0; tasks && i < job->n_tasks; i++)
        if (json_array_append_new (tasks, s_task_json (job->tasks[i], job)) != 0)
            ok = 0;
    s_set (o, "tasks", tasks, &ok);

    /*  The spec as the scheduler stored it; null when it sent none (lists may
     *  leave it out) or it does not parse.  */
    json_t *spec = NULL;
    if (job->spec_json && *job->spec_json)
        spec = json_loads (job->spec_json, JSON_REJECT_DUPLICATES, NULL);
    s_set (o, "spec", spec ? spec : json_null (), &ok);
    if (!ok) {
        json_decref (o);
        return NULL;
    }
    return o;
}

static int
s_cmp_label (const void *a, const void *b)
{
    const Strata__NodeInfo__LabelsEntry *x = *(Strata__NodeInfo__LabelsEntry *const *) a;
    const Strata__NodeInfo__LabelsEntry *y = *(Strata__NodeInfo__LabelsEntry *const *) b;
    return strcmp (x->key ? x->key : "", y->key ? y->key : "");
}

/*  The node's labels sorted by key, so output does not depend on wire order.
 *  Caller frees the array (not the entries). */
static Strata__NodeInfo__LabelsEntry **
s_sorted_labels (const Strata__NodeInfo *node)
{
    Strata__NodeInfo__LabelsEntry **v = calloc (node->n_labels + 1, sizeof *v);
    if (!v)
        return NULL;
    if (node->n_labels)
        memcpy (v, node->labels, node->n_labels * sizeof *v);
    qsort (v, node->n_labels, sizeof *v, s_cmp_label);
    return v;
}

json_t *
cli_output_node_json (const Strata__NodeInfo *node)
{
    json_t *o = json_object ();
    if (!o)
        return NULL;
    int ok = 1;
    const Strata__Resources *cap = node->capacity;
    const Strata__Resources *used = node->used;
    s_set (o, "name", s_json_str (node->name), &ok);
    s_set (o, "pool", s_json_str (node->pool), &ok);
    s_set (o, "state", s_json_str (node->state), &ok);
    s_set (o, "cpus", s_json_cpus (cap ? cap->cpus_milli : 0), &ok);
    s_set (o, "cpus_used", s_json_cpus (used ? used->cpus_milli : 0), &ok);
    s_set (o, "mem_mb", json_integer ((json_int_t) (cap ? cap->mem_mb : 0)), &ok);
    s_set (o, "mem_used_mb", json_integer ((json_int_t) (used ? used->mem_mb : 0)), &ok);
    s_set (o, "gpus", json_integer (cap ? cap->gpus : 0), &ok);
    s_set (o, "gpus_used", json_integer (used ? used->gpus : 0), &ok);
    s_set (o, "gpu_type", s_json_str (node->gpu_type), &ok);
    json_t *labels = json_object ();
    Strata__NodeInfo__LabelsEntry **sorted = s_sorted_labels (node);
    if (!sorted)
        ok = 0;
    for (size_t i = 0; labels && sorted && i < node->n_labels; i++)
        if (json_object_set_new (labels, sorted[i]->key ? sorted[i]->key : "", s_json_str (sorted[i]->value)) != 0)
            ok = 0;
    free (sorted);
    s_set (o, "labels", labels, &ok);
    s_set (o, "running_tasks", json_integer (node->running_tasks), &ok);
    s_set (o, "last_seen_unix_ms", json_integer ((json_int_t) node->last_seen_unix_ms), &ok);
    s_set (o, "epoch", json_integer ((json_int_t) node->epoch), &ok);
    s_set (o, "isolation", s_json_str (node->isolation), &ok);
    s_set (o, "refusing", s_json_str (node->refusing), &ok);
    if (!ok) {
        json_decref (o);
        return NULL;
    }
    return o;
}

int
cli_output_json_print (FILE *out, const json_t *v)
{
    /*  Compact, one document per line: easy for jq, grep and line readers.  */
    if (json_dumpf (v, out, JSON_COMPACT | JSON_REAL_PRECISION (12)) != 0)
        return -1;
    return fputc ('\n', out) == EOF ? -1 : 0;
}

/*  -- human views ------------------------------------------------------------  */

static const char *
s_or_dash (const char *s)
{
    return s && *s ? s : "-";
}

static int
s_is_terminal (Strata__JobState state)
{
    return st_wire_job_state_terminal (state);
}

/*  "2026-11-21 14:50:01 UTC (5m02s ago)", or "-".  */
static const char *
s_when (uint64_t now_ms, uint64_t unix_ms, char *buf, size_t size)
{
    if (unix_ms == 0) {
        snprintf (buf, size, "-");
        return buf;
    }
    char t[32], age[32];
    st_format_time (unix_ms, t, sizeof t);
    cli_format_age (now_ms, unix_ms, age, sizeof age);
    snprintf (buf, size, "%s UTC (%s ago)", t, age);
    return buf;
}

/*  A task's EXIT column: "-" while it runs, "signal 9", or the exit code.  */
static const char *
s_task_exit (const Strata__TaskInfo *t, char *buf, size_t size)
{
    if (t->term_signal)
        snprintf (buf, size, "signal %d", t->term_signal);
    else if (t->finished_unix_ms || s_is_terminal (t->state))
        snprintf (buf, size, "%d", t->exit_code);
    else
        snprintf (buf, size, "-");
    return buf;
}

/*  "cost 12.5, 4.2 kWh, 1050 g CO2", leaving out what is absent; NULL when all are.  */
static const char *
s_figures (int has_cost, double cost, int has_kwh, double kwh, int has_co2, double co2_g, char *buf, size_t size)
{
    char a[48], b[48], c[48];
    size_t used = 0;
    buf[0] = '\0';
    if (has_cost)
        used += (size_t) snprintf (buf + used, size - used, "cost %s", cli_format_number (cost, 2, a, sizeof a));
    if (has_kwh && used < size)
        used += (size_t) snprintf (buf + used, size - used, "%s%s kWh", used ? ", " : "",
                                   cli_format_number (kwh, 3, b, sizeof b));
    if (has_co2 && used < size)
        used += (size_t) snprintf (buf + used, size - used, "%s%s g CO2", used ? ", " : "",
                                   cli_format_number (co2_g, 1, c, sizeof c));
    return used ? buf : NULL;
}

/*  "12, 13" from the stored spec's depends_on; NULL when it has none.  */
static const char *
s_spec_depends_on (const json_t *spec, char *buf, size_t size)
{
    json_t *deps = json_object_get (spec, "depends_on");
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; json_is_array (deps) && i < json_array_size (deps) && used < size; i++)
        used += (size_t) snprintf (buf + used, size - used, "%s%lld", i ? ", " : "",
                                   (long long) json_integer_value (json_array_get (deps, i)));
    return buf[0] ? buf : NULL;
}

/*  "acme-twin (registered as acme-twin:2)" from the spec's output_model and
 *  the version the job registered; NULL when it names none.  */
static const char *
s_spec_output_model (const json_t *spec, const Strata__JobInfo *job, char *buf, size_t size)
{
    const char *name = json_string_value (json_object_get (spec, "output_model"));
    if (name && job->registered_version && *job->registered_version)
        snprintf (buf, size, "%s (registered as %s)", name, job->registered_version);
    else if (name)
        snprintf (buf, size, "%s (registered when the job succeeds)", name);
    return name ? buf : NULL;
}

int
cli_output_job_detail (FILE *out, const Strata__JobInfo *job, uint64_t now_ms)
{
    char id[32], prio[32], attempts[48], res[160], created[80], started[80], finished[80], runtime[32], exitc[32],
        cpus[32], mem[32], tq[160], est[160], actual[160], preempted[16];
    const Strata__Resources *r = job->per_rank;
    uint32_t milli = r ? r->cpus_milli : 0;
    uint32_t gpus = r ? r->gpus : 0;

    snprintf (id, sizeof id, "%llu", (unsigned long long) job->id);
    snprintf (prio, sizeof prio, "%d", job->priority);
    if (job->max_attempts)
        snprintf (attempts, sizeof attempts, "%u of %u", job->attempt, job->max_attempts);
    else
        snprintf (attempts, sizeof attempts, "%u", job->attempt);
    cli_format_cpus (milli, cpus, sizeof cpus);
    cli_format_mem_mb (r ? r->mem_mb : 0, mem, sizeof mem);
    snprintf (res, sizeof res, "%s cpu%s, %s memory, %u gpu%s per rank x %u rank%s", cpus, milli == 1000 ? "" : "s",
              mem, gpus, gpus == 1 ? "" : "s", job->ranks, job->ranks == 1 ? "" : "s");
    snprintf (tq, sizeof tq, "%s/%s", s_or_dash (job->tenant), s_or_dash (job->queue));
    s_when (now_ms, job->created_unix_ms, created, sizeof created);
    s_when (now_ms, job->started_unix_ms, started, sizeof started);
    s_when (now_ms, job->finished_unix_ms, finished, sizeof finished);
    if (job->started_unix_ms == 0)
        snprintf (runtime, sizeof runtime, "-");
    else
        cli_format_age (job->finished_unix_ms ? job->finished_unix_ms : now_ms, job->started_unix_ms, runtime,
                        sizeof runtime);
    if (job->started_unix_ms && s_is_terminal (job->state))
        snprintf (exitc, sizeof exitc, "%d", job->exit_code);
    else
        snprintf (exitc, sizeof exitc, "-");

    snprintf (preempted, sizeof preempted, "%u", job->preemptions);
    char deps[400], outm[300];
    json_t *spec = job->spec_json && *job->spec_json ? json_loads (job->spec_json, 0, NULL) : NULL;
    char progress[200] = "";
    if (job->progress) {
        const Strata__Progress *p = job->progress;
        char total[32] = "", loss[48] = "";
        if (p->total_steps)
            snprintf (total, sizeof total, " of %" PRIu64, p->total_steps);
        if (p->loss != 0)
            snprintf (loss, sizeof loss, ", loss %.4f", p->loss);
        snprintf (progress, sizeof progress, "step %" PRIu64 "%s%s, %.1f %s", p->step, total, loss, p->rate,
                  p->unit && *p->unit ? p->unit : "items/s");
    }
    const char *kv[][2] = {
        { "id:", id },
        { "name:", s_or_dash (job->name) },
        { "kind:", s_or_dash (job->kind) },
        { "state:", s_or_dash (st_wire_job_state_name (job->state)) },
        { "reason:", s_or_dash (job->reason) },
        { "tenant/queue:", tq },
        { "submitted by:", job->submitted_by && *job->submitted_by ? job->submitted_by : NULL },
        { "priority:", prio },
        { "attempts:", attempts },
        { "resources:", res },
        { "pool:", job->pool && *job->pool ? job->pool : NULL },
        { "model variant:", job->variant && *job->variant ? job->variant : NULL },
        { "model:", job->model_version && *job->model_version ? job->model_version : NULL },
        { "depends on:", s_spec_depends_on (spec, deps, sizeof deps) },
        { "output model:", s_spec_output_model (spec, job, outm, sizeof outm) },
        { "estimate:", s_figures (job->est_cost_opt_case != 0, job->est_cost, job->est_kwh_opt_case != 0,
                                  job->est_kwh, job->est_co2_g_opt_case != 0, job->est_co2_g, est, sizeof est) },
        { "actual:", s_figures (job->cost_opt_case != 0, job->cost, job->kwh_opt_case != 0, job->kwh,
                                job->co2_g_opt_case != 0, job->co2_g, actual, sizeof actual) },
        { "preemptions:", job->preemptions ? preempted : NULL },
        { "progress:", progress[0] ? progress : NULL },
        { "created:", created },
        { "started:", started },
        { "finished:", finished },
        { "runtime:", runtime },
        { "exit code:", exitc },
        { "cancel:", job->cancel_requested ? "requested" : NULL },
    };
    json_decref (spec); /*  what kv took from it was copied into deps and outm  */
    int rc = -1;
    cli_table_t *block = cli_table_new (2, NULL);
    cli_table_t *tasks = NULL;
    const Strata__TaskInfo **rows = NULL;
    if (!block)
        goto out;
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (kv[i][1] && cli_table_add (block, kv[i]) != 0)
            goto out;

    /*  PEAK MEM and CPU when some attempt was measured (its node had cgroups),
     *  REASON when one failed: a plain run shows the six columns it always had.  */
    int usage = 0, reasons = 0;
    for (size_t i = 0; i < job->n_tasks + job->n_earlier_attempts; i++) {
        const Strata__TaskInfo *t = i < job->n_tasks ? job->tasks[i] : job->earlier_attempts[i - job->n_tasks];
        usage |= t->peak_mem_kib_opt_case || t->cpu_ms_opt_case;
        reasons |= t->reason && t->reason[0];
    }
    static const char *const heads[] = { "RANK", "ATTEMPT",  "STATE", "NODE",  "PID",
                                         "EXIT", "PEAK MEM", "CPU",   "REASON" };
    static const char *const heads_reason[] = { "RANK", "ATTEMPT", "STATE", "NODE", "PID", "EXIT", "REASON" };
    size_t ncols = 6 + (usage ? 2 : 0) + (reasons ? 1 : 0);
    tasks = cli_table_new (ncols, usage ? heads : heads_reason);
    /*  A row per attempt: each rank's earlier attempts, then its latest.  */
    size_t nrows = 0;
    rows = calloc (job->n_tasks + job->n_earlier_attempts + 1, sizeof *rows);
    if (!tasks || !rows)
        goto out;
    for (size_t i = 0; i < job->n_tasks; i++) {
        for (size_t e = 0; e < job->n_earlier_attempts; e++)
            if (job->earlier_attempts[e]->index == job->tasks[i]->index)
                rows[nrows++] = job->earlier_attempts[e];
        rows[nrows++] = job->tasks[i];
    }
    for (size_t i = 0; i < nrows; i++) {
        const Strata__TaskInfo *t = rows[i];
        char rank[16], att[16], pid[16], ex[32], peak[32] = "-", cpu[32] = "-";
        if (t->peak_mem_kib_opt_case)
            snprintf (peak, sizeof peak, "%.1f MiB", (double) t->peak_mem_kib / 1024.0);
        if (t->cpu_ms_opt_case)
            snprintf (cpu, sizeof cpu, "%.2f s", (double) t->cpu_ms / 1000.0);
        snprintf (rank, sizeof rank, "%u", t->index);
        snprintf (att, sizeof att, "%u", t->attempt);
        if (t->pid > 0)
            snprintf (pid, sizeof pid, "%d", t->pid);
        else
            snprintf (pid, sizeof pid, "-");
        const char *row[] = { rank,
                              att,
                              s_or_dash (st_wire_job_state_name (t->state)),
                              s_or_dash (t->node),
                              pid,
                              s_task_exit (t, ex, sizeof ex),
                              usage ? peak : s_or_dash (t->reason),
                              cpu,
                              s_or_dash (t->reason) };
        if (cli_table_add (tasks, row) != 0)
            goto out;
    }
    if (cli_table_print (block, out) != 0)
        goto out;
    if (job->n_tasks) {
        fputc ('\n', out);
        if (cli_table_print (tasks, out) != 0)
            goto out;
    }
    rc = 0;
out:
    cli_table_destroy (&block);
    cli_table_destroy (&tasks);
    free (rows);
    return rc;
}

/*  The node of rank 0 (or of the first task listed), or NULL.  */
static const char *
s_first_node (const Strata__JobInfo *job)
{
    const Strata__TaskInfo *first = job->n_tasks ? job->tasks[0] : NULL;
    for (size_t i = 0; i < job->n_tasks; i++)
        if (job->tasks[i]->index == 0) {
            first = job->tasks[i];
            break;
        }
    return first && first->node && *first->node ? first->node : NULL;
}

int
cli_output_job_table (FILE *out, Strata__JobInfo *const *jobs, size_t n, uint64_t now_ms)
{
    static const char *const heads[] = { "ID", "NAME", "TENANT", "STATE", "RANKS", "NODE", "AGE", "REASON" };
    cli_table_t *t = cli_table_new (8, heads);
    if (!t)
        return -1;
    int rc = -1;
    cli_table_align_right (t, 0);
    cli_table_align_right (t, 4);
    for (size_t i = 0; i < n; i++) {
        const Strata__JobInfo *j = jobs[i];
        char id[32], ranks[16], age[32], reason[4 * CLI_OUTPUT_REASON_WIDTH + 4];
        snprintf (id, sizeof id, "%llu", (unsigned long long) j->id);
        snprintf (ranks, sizeof ranks, "%u", j->ranks);
        cli_format_age (now_ms, j->created_unix_ms, age, sizeof age);
        cli_text_fit (s_or_dash (j->reason), CLI_OUTPUT_REASON_WIDTH, reason, sizeof reason);
        const char *row[] = { id,
                              s_or_dash (j->name),
                              s_or_dash (j->tenant),
                              s_or_dash (st_wire_job_state_name (j->state)),
                              ranks,
                              s_first_node (j),
                              age,
                              reason };
        if (cli_table_add (t, row) != 0)
            goto out;
    }
    rc = cli_table_print (t, out);
out:
    cli_table_destroy (&t);
    return rc;
}

/*  "used/total" with a formatter for both.  */
static const char *
s_used_total (const char *used, const char *total, char *buf, size_t size)
{
    snprintf (buf, size, "%s/%s", used, total);
    return buf;
}

int
cli_output_node_table (FILE *out, Strata__NodeInfo *const *nodes, size_t n, uint64_t now_ms)
{
    static const char *const heads[] = { "NAME", "POOL",  "STATE",     "CPUS",  "MEMORY",
                                         "GPUS", "TASKS", "LAST SEEN", "LABELS" };
    cli_table_t *t = cli_table_new (9, heads);
    if (!t)
        return -1;
    int rc = -1;
    char *labels = NULL;
    cli_table_align_right (t, 6);
    for (size_t i = 0; i < n; i++) {
        const Strata__NodeInfo *node = nodes[i];
        static const Strata__Resources none = STRATA__RESOURCES__INIT;
        const Strata__Resources *cap = node->capacity ? node->capacity : &none;
        const Strata__Resources *used = node->used ? node->used : &none;
        char a[32], b[32], cpus[72], mem[72], gpus[40], tasks[16], seen[32];
        s_used_total (cli_format_cpus (used->cpus_milli, a, sizeof a), cli_format_cpus (cap->cpus_milli, b, sizeof b),
                      cpus, sizeof cpus);
        s_used_total (cli_format_mem_mb (used->mem_mb, a, sizeof a), cli_format_mem_mb (cap->mem_mb, b, sizeof b),
                      mem, sizeof mem);
        snprintf (gpus, sizeof gpus, "%u/%u", used->gpus, cap->gpus);
        snprintf (tasks, sizeof tasks, "%u", node->running_tasks);
        cli_format_age (now_ms, node->last_seen_unix_ms, seen, sizeof seen);
        if (node->last_seen_unix_ms)
            strncat (seen, " ago", sizeof seen - strlen (seen) - 1);

        size_t len = 0;
        FILE *lf = open_memstream (&labels, &len);
        Strata__NodeInfo__LabelsEntry **sorted = s_sorted_labels (node);
        if (!lf || !sorted) {
            if (lf)
                fclose (lf);
            free (sorted);
            goto out;
        }
        for (size_t k = 0; k < node->n_labels; k++)
            fprintf (lf, "%s%s=%s", k ? "," : "", s_or_dash (sorted[k]->key),
                     sorted[k]->value ? sorted[k]->value : "");
        free (sorted);
        fclose (lf);

        const char *row[] = { s_or_dash (node->name),
                              s_or_dash (node->pool),
                              s_or_dash (node->state),
                              cpus,
                              mem,
                              gpus,
                              tasks,
                              seen,
                              node->n_labels ? labels : "-" };
        int added = cli_table_add (t, row);
        free (labels);
        labels = NULL;
        if (added != 0)
            goto out;
    }
    rc = cli_table_print (t, out);
    /*  What the table has no column for: a node that takes no new tasks, and
     *  one whose tasks run without limits, each on a note line under it.  */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const Strata__NodeInfo *node = nodes[i];
        if (node->refusing && node->refusing[0])
            fprintf (out, "note: node %s takes no new tasks: %s\n", s_or_dash (node->name), node->refusing);
        if (node->isolation && strncmp (node->isolation, "none", 4) == 0)
            fprintf (out, "note: node %s runs tasks without isolation (%s)\n", s_or_dash (node->name),
                     node->isolation);
    }
out:
    free (labels);
    cli_table_destroy (&t);
    return rc;
}

const char *
cli_role_name (Strata__Role r)
{
    switch (r) {
    case STRATA__ROLE__ROLE_VIEWER:
        return "viewer";
    case STRATA__ROLE__ROLE_SUBMITTER:
        return "submitter";
    case STRATA__ROLE__ROLE_OPERATOR:
        return "operator";
    case STRATA__ROLE__ROLE_ADMIN:
        return "admin";
    default:
        return "none";
    }
}
