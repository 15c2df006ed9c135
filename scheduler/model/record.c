/*  record.c: plain job and task rows read back for clients (st__job_record_t).
 *
 *  store/ fills them from the database, net/ turns them into JobInfo
 *  messages: the two layers share these plain structs, never each other's
 *  headers. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  "123" or "-" (unknown).  */
static int
s_opt_u64 (const char *text, int *has, uint64_t *value)
{
    if (strcmp (text, "-") == 0) {
        *has = 0;
        return 0;
    }
    char *end;
    unsigned long long v = strtoull (text, &end, 10);
    if (end == text || *end)
        return -1;
    *has = 1;
    *value = v;
    return 0;
}

int
st__attempt_parse (const char *message, st__task_record_t *r)
{
    char state[32], exit_code[32], peak[32], cpu[32];
    int off = -1, has_exit = 0, sig = 0;
    uint64_t code = 0;
    if (sscanf (message, "%31s exit=%31s signal=%d peak_mem_kib=%31s cpu_ms=%31s reason=%n", state, exit_code, &sig,
                peak, cpu, &off)
            != 5
        || off < 0 || s_opt_u64 (exit_code, &has_exit, &code) != 0
        || s_opt_u64 (peak, &r->has_peak, &r->peak_mem_kib) != 0 || s_opt_u64 (cpu, &r->has_cpu, &r->cpu_ms) != 0)
        return -1;
    r->exit_code = has_exit ? (int32_t) code : -1;
    r->term_signal = sig;
    r->state = strdup (state);
    r->reason = strdup (message + off);
    return r->state && r->reason ? 0 : -1;
}

static void
s_record_clear (st__job_record_t *r)
{
    free (r->name);
    free (r->tenant);
    free (r->queue);
    free (r->kind);
    free (r->state);
    free (r->reason);
    free (r->spec_json);
    free (r->pool);
    free (r->variant);
    free (r->placement_json);
    free (r->model_version);
    free (r->registered_version);
    free (r->submitted_by);
    for (size_t i = 0; i < r->ntasks; i++) {
        free (r->tasks[i].state);
        free (r->tasks[i].node);
        free (r->tasks[i].reason);
    }
    free (r->tasks);
    for (size_t i = 0; i < r->nearlier; i++) {
        free (r->earlier[i].state);
        free (r->earlier[i].node);
        free (r->earlier[i].reason);
    }
    free (r->earlier);
}

void
st__job_record_free (st__job_record_t *r)
{
    if (!r)
        return;
    s_record_clear (r);
    free (r);
}

void
st__job_records_free (st__job_record_t *r, size_t n)
{
    if (!r)
        return;
    for (size_t i = 0; i < n; i++)
        s_record_clear (&r[i]);
    free (r);
}
