/*  record.c: plain job and task rows read back for clients (st__job_record_t).
 *
 *  store/ fills them from the database, net/ turns them into JobInfo
 *  messages: the two layers share these plain structs, never each other's
 *  headers. */
#include "model.h"

#include <stdlib.h>

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
    }
    free (r->tasks);
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
