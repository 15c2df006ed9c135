/*  check.c: the model's invariants, checked between steps.
 *
 *  What must hold whenever the loop is between two steps (after a message,
 *  a tick, a placement pass or a flush), the way SQLite checks its pager
 *  state: the unit tests call st__model_check after every step, and the loop
 *  does in builds without NDEBUG (or with STRATA_MODEL_CHECK).
 *
 *   1. a node's used cpus, memory and GPUs are the sums over the tasks on its
 *      list, each of which holds resources there and is live; its ntasks
 *      counts that list;
 *   2. no live task is on a LOST node;
 *   3. a job's nholding counts its tasks that hold resources, and the job is
 *      in the running array (at running_idx) exactly while nholding > 0;
 *   4. the pending array lists exactly the jobs marked in_pending, at their
 *      pending_idx, and every one of them is PENDING;
 *   5. every PENDING job held back from the engine (waiting for its
 *      dependencies) has a reason, naming what it waits for (a job offered to
 *      the engine gets its reason from the engine's verdict; one loaded from a
 *      row written without a reason keeps the empty one until then);
 *   6. a job's state agrees with its tasks: a PENDING job or one that has
 *      ended has no live task;
 *   7. the dirty lists (rows for the next flush) hold only dirty rows;
 *   8. every job in memory is its own map entry, and each task points back
 *      at its job with its own index.
 *   9. a job counted in its tenant's pending jobs (max_pending, authz.c) is
 *      PENDING, and the tenants' counts add up to the jobs counted.
 *
 *  Pure: reads the model, changes nothing. */
#include "model.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const st__model_t *s;
    char *why;
    size_t size;
    int bad;
    uint64_t counted; /*  jobs counted in their tenant's pending jobs  */
    uint64_t counts;  /*  the sum of the tenants' pending counts  */
} s_ctx_t;

static void s_fail (s_ctx_t *c, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_fail (s_ctx_t *c, const char *fmt, ...)
{
    if (c->bad++)
        return;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (c->why, c->size, fmt, ap);
    va_end (ap);
}

static void
s_check_node (void *value, void *arg)
{
    const st__node_t *n = value;
    s_ctx_t *c = arg;
    uint64_t cpus = 0, mem = 0, gpus = 0;
    uint32_t count = 0;
    for (const st__task_t *t = n->tasks; t; t = t->node_next) {
        const st_spec_t *sp = t->job->spec;
        cpus += sp->cpus_milli;
        mem += sp->mem_mb;
        gpus += sp->gpus;
        count++;
        if (!t->holds || t->node != n)
            s_fail (c, "node %s lists job %" PRIu64 " rank %u, which does not hold resources there", n->name,
                    t->job->id, t->index);
        if (!st__task_live (t))
            s_fail (c, "node %s holds resources for job %" PRIu64 " rank %u, which is %s", n->name, t->job->id,
                    t->index, st_task_state_name (t->state));
        if (n->state == ST__NODE_LOST)
            s_fail (c, "node %s is LOST but job %" PRIu64 " rank %u is live on it", n->name, t->job->id, t->index);
    }
    if (cpus != n->used_cpus_milli || mem != n->used_mem_mb || gpus != n->used_gpus)
        s_fail (c,
                "node %s: used %u mCPU, %" PRIu64 " MB, %u GPU but its tasks hold %" PRIu64 ", %" PRIu64 ", %" PRIu64,
                n->name, n->used_cpus_milli, n->used_mem_mb, n->used_gpus, cpus, mem, gpus);
    if (count != n->ntasks)
        s_fail (c, "node %s: ntasks %u but %u tasks on its list", n->name, n->ntasks, count);
}

static void
s_check_job (void *value, void *arg)
{
    const st__job_t *job = value;
    s_ctx_t *c = arg;
    const st__model_t *s = c->s;
    uint32_t holding = 0, live = 0;
    for (uint32_t i = 0; i < job->ntasks; i++) {
        const st__task_t *t = &job->tasks[i];
        if (t->job != job || t->index != i)
            s_fail (c, "job %" PRIu64 ": task %u does not point back at it", job->id, i);
        holding += t->holds ? 1u : 0u;
        live += st__task_live (t) ? 1u : 0u;
        if (st__task_live (t) && t->node && t->node->state == ST__NODE_LOST)
            s_fail (c, "job %" PRIu64 " rank %u is live on LOST node %s", job->id, i, t->node->name);
    }
    if (holding != job->nholding)
        s_fail (c, "job %" PRIu64 ": nholding %u but %u tasks hold resources", job->id, job->nholding, holding);
    if (job->nholding > 0 && (job->running_idx >= s->nrunning || s->running[job->running_idx] != &job->pj))
        s_fail (c, "job %" PRIu64 " holds resources but is not in the running array", job->id);
    if (job->in_pending && (job->pending_idx >= s->npending || s->pending[job->pending_idx] != &job->pj))
        s_fail (c, "job %" PRIu64 " is marked pending but is not in the pending array", job->id);
    if (job->in_pending && job->state != ST_JOB_PENDING)
        s_fail (c, "job %" PRIu64 " is in the pending array but %s", job->id, st_job_state_name (job->state));
    if (job->state == ST_JOB_PENDING && !job->in_pending && !job->reason[0])
        s_fail (c, "job %" PRIu64 " waits for its dependencies without a reason", job->id);
    if ((job->state == ST_JOB_PENDING || st_job_state_terminal (job->state)) && live)
        s_fail (c, "job %" PRIu64 " is %s but %u of its tasks are live", job->id, st_job_state_name (job->state),
                live);
    if (st_map_get_u64 (s->jobs, job->id) != job)
        s_fail (c, "job %" PRIu64 " is not its own map entry", job->id);
    if (job->tenant_counted && job->state != ST_JOB_PENDING)
        s_fail (c, "job %" PRIu64 " is counted pending in tenant %s but %s", job->id, job->spec->tenant,
                st_job_state_name (job->state));
    c->counted += job->tenant_counted ? 1u : 0u;
}

static void
s_sum_count (void *value, void *arg)
{
    ((s_ctx_t *) arg)->counts += *(const uint64_t *) value;
}

int
st__model_check (const st__model_t *s, char *why, size_t size)
{
    s_ctx_t c = { .s = s, .why = why, .size = size };
    if (size)
        why[0] = '\0';
    if (s->nodes)
        st_map_foreach (s->nodes, s_check_node, &c);
    if (s->jobs)
        st_map_foreach (s->jobs, s_check_job, &c);
    if (s->tenant_pending)
        st_map_foreach (s->tenant_pending, s_sum_count, &c);
    if (c.counts != c.counted)
        s_fail (&c, "the tenants' pending counts add up to %" PRIu64 " but %" PRIu64 " jobs are counted", c.counts,
                c.counted);
    for (size_t i = 0; i < s->npending; i++) {
        const st__job_t *job = s->pending[i]->owner;
        if (!job->in_pending || job->pending_idx != i)
            s_fail (&c, "pending[%zu] (job %" PRIu64 ") is not marked pending there", i, job->id);
    }
    for (size_t i = 0; i < s->nrunning; i++) {
        const st__job_t *job = s->running[i]->owner;
        if (job->nholding == 0 || job->running_idx != i)
            s_fail (&c, "running[%zu] (job %" PRIu64 ") holds nothing or is listed elsewhere", i, job->id);
    }
    for (size_t i = 0; i < s->ndirty_jobs; i++)
        if (!s->dirty_jobs[i]->dirty)
            s_fail (&c, "dirty_jobs[%zu] (job %" PRIu64 ") is not dirty", i, s->dirty_jobs[i]->id);
    for (size_t i = 0; i < s->ndirty_tasks; i++)
        if (!s->dirty_tasks[i]->dirty)
            s_fail (&c, "dirty_tasks[%zu] is not dirty", i);
    for (size_t i = 0; i < s->ndirty_nodes; i++)
        if (!s->dirty_nodes[i]->dirty)
            s_fail (&c, "dirty_nodes[%zu] (node %s) is not dirty", i, s->dirty_nodes[i]->name);
    return c.bad ? -1 : 0;
}
