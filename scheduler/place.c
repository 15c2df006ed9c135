/*  place.c: the core's placement pass.
 *
 *  Jobs are taken in (priority desc, id asc) order. A job's ranks are placed all
 *  at once or not at all (a gang), first fit over the connected nodes that match
 *  its pool and labels, never beyond a node's advertised CPUs, memory or GPUs.
 *  A job that does not fit keeps waiting with a reason that says what is short;
 *  jobs behind it may still start (the placement engine adds reservations so a
 *  large job cannot starve). */
#include "sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_log.h"

typedef struct {
    st_node_t **nodes;
    size_t n;
} s_nodes_t;

static void
s_collect (void *value, void *arg)
{
    s_nodes_t *c = arg;
    st_node_t *node = value;
    if (node->state == ST_NODE_UP && node->connected)
        c->nodes[c->n++] = node;
}

static int
s_by_name (const void *a, const void *b)
{
    return strcmp ((*(st_node_t *const *) a)->name, (*(st_node_t *const *) b)->name);
}

static int
s_by_priority (const void *a, const void *b)
{
    const st_job_t *x = *(st_job_t *const *) a, *y = *(st_job_t *const *) b;
    if (x->spec->priority != y->spec->priority)
        return x->spec->priority > y->spec->priority ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int
s_matches (const st_node_t *node, const st_spec_t *sp)
{
    if (sp->pool && strcmp (sp->pool, node->pool) != 0)
        return 0;
    for (size_t i = 0; i < sp->labels.n; i++) {
        const char *v = st_kv_get (&node->labels, sp->labels.keys[i]);
        if (!v || strcmp (v, sp->labels.vals[i]) != 0)
            return 0;
    }
    return 1;
}

/*  How many ranks of sp fit on node's free capacity; `cap` uses the whole capacity.  */
static uint32_t
s_fits (const st_node_t *node, const st_spec_t *sp, int cap)
{
    /*  A worker may come back advertising less than its tasks still hold.  */
    if (!cap && (node->used_cpus_milli > node->cap_cpus_milli || node->used_mem_mb > node->cap_mem_mb
                 || node->used_gpus > node->cap_gpus))
        return 0;
    uint64_t cpus = node->cap_cpus_milli - (cap ? 0 : node->used_cpus_milli);
    uint64_t mem = node->cap_mem_mb - (cap ? 0 : node->used_mem_mb);
    uint64_t gpus = node->cap_gpus - (cap ? 0 : node->used_gpus);
    uint64_t k = UINT32_MAX;
    if (sp->cpus_milli)
        k = cpus / sp->cpus_milli < k ? cpus / sp->cpus_milli : k;
    if (sp->mem_mb)
        k = mem / sp->mem_mb < k ? mem / sp->mem_mb : k;
    if (sp->gpus)
        k = gpus / sp->gpus < k ? gpus / sp->gpus : k;
    return (uint32_t) k;
}

static void
s_format_need (const st_spec_t *sp, char *buf, size_t size)
{
    snprintf (buf, size, "%u rank(s) of %g CPU, %llu MiB, %u GPU", sp->ranks, sp->cpus_milli / 1000.0,
              (unsigned long long) sp->mem_mb, sp->gpus);
}

/*  Says why job cannot start now.  */
static void
s_explain (st_sched_t *s, st_job_t *job, const s_nodes_t *up)
{
    const st_spec_t *sp = job->spec;
    char need[128], r[512];
    s_format_need (sp, need, sizeof need);
    size_t matching = 0;
    uint64_t total_cap = 0;
    for (size_t i = 0; i < up->n; i++)
        if (s_matches (up->nodes[i], sp)) {
            matching++;
            total_cap += s_fits (up->nodes[i], sp, 1);
        }
    if (up->n == 0)
        snprintf (r, sizeof r, "waiting: no worker node is connected");
    else if (matching == 0 && sp->pool)
        snprintf (r, sizeof r, "waiting: no connected node in pool %s matches the job", sp->pool);
    else if (matching == 0)
        snprintf (r, sizeof r, "waiting: no connected node has the required labels");
    else if (total_cap < sp->ranks)
        snprintf (r, sizeof r, "waiting: needs %s; the matching nodes could hold only %llu even when idle", need,
                  (unsigned long long) total_cap);
    else
        snprintf (r, sizeof r, "waiting for resources: needs %s; %zu matching node(s) are busy", need, matching);
    st_job_set_reason (s, job, r);
}

/*  Tries to place every rank of job; on success assigns them and returns 1.  */
static int
s_place_gang (st_sched_t *s, st_job_t *job, const s_nodes_t *up, st_node_t **chosen)
{
    const st_spec_t *sp = job->spec;
    uint32_t placed = 0;
    /*  First fit, packing several ranks on a node when they fit.  Counts are
     *  tentative until every rank has a node, so a gang never half-starts.  */
    for (size_t i = 0; i < up->n && placed < sp->ranks; i++) {
        st_node_t *node = up->nodes[i];
        if (!s_matches (node, sp))
            continue;
        uint32_t k = s_fits (node, sp, 0);
        for (uint32_t j = 0; j < k && placed < sp->ranks; j++)
            chosen[placed++] = node;
    }
    if (placed < sp->ranks)
        return 0;
    job->attempt++;
    for (uint32_t r = 0; r < sp->ranks; r++) {
        st_task_t *t = &job->tasks[r];
        t->attempt = job->attempt;
        t->state = ST_JOB_SCHEDULED;
        st_task_assign (s, t, chosen[r]);
    }
    if (sp->ranks == 1)
        st_job_set_state (s, job, ST_JOB_SCHEDULED, "placed on %s (pool %s), attempt %u of %u", chosen[0]->name,
                          chosen[0]->pool, job->attempt, job->max_attempts);
    else
        st_job_set_state (s, job, ST_JOB_SCHEDULED, "placed %u ranks from %s (pool %s), attempt %u of %u",
                          sp->ranks, chosen[0]->name, chosen[0]->pool, job->attempt, job->max_attempts);
    for (uint32_t r = 0; r < sp->ranks; r++) {
        st_task_t *t = &job->tasks[r];
        st_push ((void **) &s->to_launch, &s->nto_launch, &s->cap_to_launch, sizeof t, &t);
    }
    return 1;
}

int
st_place_pending (st_sched_t *s)
{
    if (!s->sched_needed || s->npending == 0) {
        s->sched_needed = 0;
        return 0;
    }
    s->sched_needed = 0;
    if (s->pending_unsorted) {
        qsort (s->pending, s->npending, sizeof *s->pending, s_by_priority);
        s->pending_unsorted = 0;
    }
    s_nodes_t up = { .nodes = malloc ((st_map_size (s->nodes) + 1) * sizeof (st_node_t *)), .n = 0 };
    uint32_t max_ranks = 0;
    for (size_t i = 0; i < s->npending; i++)
        if (s->pending[i]->spec->ranks > max_ranks)
            max_ranks = s->pending[i]->spec->ranks;
    st_node_t **chosen = malloc ((max_ranks + 1) * sizeof *chosen);
    if (!up.nodes || !chosen)
        abort ();
    st_map_foreach (s->nodes, s_collect, &up);
    qsort (up.nodes, up.n, sizeof *up.nodes, s_by_name);

    size_t keep = 0;
    int full = 0;
    for (size_t i = 0; i < s->npending; i++) {
        st_job_t *job = s->pending[i];
        if (!full && s_place_gang (s, job, &up, chosen)) {
            job->in_pending = 0;
            s->counters.placed++;
            continue;
        }
        /*  With the cluster full the answer rarely changes: explain each job once.  */
        if (!full || strncmp (job->reason, "waiting", 7) != 0)
            s_explain (s, job, &up);
        s->pending[keep++] = job;
        /*  Once no node has any room left, the rest can only wait: stop trying.  */
        if (!full) {
            full = 1;
            for (size_t n = 0; n < up.n && full; n++)
                if (up.nodes[n]->used_cpus_milli < up.nodes[n]->cap_cpus_milli
                    && up.nodes[n]->used_mem_mb < up.nodes[n]->cap_mem_mb)
                    full = 0;
        }
    }
    s->npending = keep;
    free (chosen);
    free (up.nodes);
    return 1;
}
