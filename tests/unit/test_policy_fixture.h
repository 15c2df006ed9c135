/*  test_policy_fixture.h: a small world for libstrata-policy tests.
 *
 *  A cluster from YAML text, nodes and jobs the fixture owns, and cycles that
 *  apply their result the way the daemon and the simulator do: a placement
 *  takes the nodes' resources and marks the job running; a preemption marks
 *  the victim stopping; fx_end() gives a job's resources back. */
#ifndef TEST_POLICY_FIXTURE_H
#define TEST_POLICY_FIXTURE_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

#define FX_MAX_NODES 512
#define FX_MAX_JOBS 4096

typedef struct {
    sp_cluster_t *c;
    sp_engine_t *e;
    sp_node_t nodes[FX_MAX_NODES];
    st_kv_t node_labels[FX_MAX_NODES];
    size_t nnodes;
    sp_job_t jobs[FX_MAX_JOBS];
    st_kv_t job_labels[FX_MAX_JOBS];
    int done[FX_MAX_JOBS];
    size_t njobs;
    sp_result_t res;
    sp_params_t params;
    double now;
} fx_t;

static inline sp_cluster_t *
fx_cluster (const char *yaml)
{
    st_error_t err;
    sp_cluster_t *c = sp_cluster_parse (yaml, strlen (yaml), &err);
    cr_assert (c, "cluster: %s (%s)", err.msg, err.hint);
    return c;
}

static inline fx_t *
fx_new (const char *yaml)
{
    fx_t *fx = calloc (1, sizeof *fx);
    cr_assert (fx);
    fx->c = yaml ? fx_cluster (yaml) : sp_cluster_new ();
    fx->e = sp_engine_new (fx->c);
    cr_assert (fx->e);
    fx->now = 1000;
    return fx;
}

static inline void
fx_free (fx_t *fx)
{
    sp_result_clear (&fx->res);
    sp_engine_free (&fx->e);
    for (size_t i = 0; i < fx->nnodes; i++)
        st_kv_free (&fx->node_labels[i]);
    for (size_t i = 0; i < fx->njobs; i++) {
        st_kv_free (&fx->job_labels[i]);
        free (fx->jobs[i].placed);
    }
    sp_cluster_free (&fx->c);
    free (fx);
}

/*  labels: "rack=r1,nvlink_domain=a" or NULL.  */
static inline void
fx_labels (st_kv_t *kv, const char *labels)
{
    char buf[256];
    if (!labels)
        return;
    snprintf (buf, sizeof buf, "%s", labels);
    for (char *tok = strtok (buf, ","); tok; tok = strtok (NULL, ",")) {
        char *eq = strchr (tok, '=');
        cr_assert (eq);
        *eq = '\0';
        cr_assert (st_kv_add (kv, tok, eq + 1) == 0);
    }
}

static inline sp_node_t *
fx_node (fx_t *fx, const char *name, const char *pool, const char *gpu_type, uint32_t cpus, uint32_t gpus,
         const char *labels)
{
    cr_assert (fx->nnodes < FX_MAX_NODES);
    size_t i = fx->nnodes++;
    sp_node_t *n = &fx->nodes[i];
    int p = sp_cluster_pool_add_implicit (fx->c, pool);
    cr_assert (p >= 0);
    fx_labels (&fx->node_labels[i], labels);
    *n = (sp_node_t) { .name = name,
                       .pool = p,
                       .gpu_type = gpu_type ? gpu_type : "",
                       .labels = &fx->node_labels[i],
                       .cap_cpus_milli = cpus * 1000,
                       .cap_mem_mb = 256 * 1024,
                       .cap_gpus = gpus,
                       .schedulable = 1 };
    return n;
}

/*  A gang of ntasks tasks, each with gpus GPUs and 1 CPU, 1 GiB.  */
static inline sp_job_t *
fx_job (fx_t *fx, uint32_t ntasks, uint32_t gpus)
{
    cr_assert (fx->njobs < FX_MAX_JOBS);
    size_t i = fx->njobs++;
    sp_job_t *j = &fx->jobs[i];
    memset (j, 0, sizeof *j);
    j->id = i + 1;
    j->tenant = "t";
    j->queue = "default";
    j->gang = 1;
    j->ntasks = ntasks;
    j->gpus = gpus;
    j->cpus_milli = 1000;
    j->mem_mb = 1024;
    j->submit_s = (double) i;
    j->labels = &fx->job_labels[i];
    j->placed = calloc (ntasks ? ntasks : 1, sizeof *j->placed);
    cr_assert (j->placed);
    return j;
}

static inline const sp_placement_t *
fx_placement (const fx_t *fx, const sp_job_t *j)
{
    for (size_t i = 0; i < fx->res.nplacements; i++)
        if (fx->res.placements[i].job == j)
            return &fx->res.placements[i];
    return NULL;
}

static inline const sp_wait_t *
fx_wait (const fx_t *fx, const sp_job_t *j)
{
    for (size_t i = 0; i < fx->res.nwaits; i++)
        if (fx->res.waits[i].job == j)
            return &fx->res.waits[i];
    return NULL;
}

static inline int
fx_preempted (const fx_t *fx, const sp_job_t *j)
{
    for (size_t i = 0; i < fx->res.npreemptions; i++)
        if (fx->res.preemptions[i].victim == j)
            return 1;
    return 0;
}

static inline const char *
fx_pool_of (const fx_t *fx, const sp_node_t *n)
{
    return fx->c->pools[n->pool].name;
}

/*  One cycle with `policy` at fx->now; applies the result. Returns placements.  */
/*  The nodes, and the pending and running jobs, as a cycle is given them.  */
static inline void
fx_inputs (fx_t *fx, sp_node_t **nodes, sp_job_t **pending, size_t *np, sp_job_t **running, size_t *nr)
{
    *np = *nr = 0;
    for (size_t i = 0; i < fx->nnodes; i++)
        nodes[i] = &fx->nodes[i];
    for (size_t i = 0; i < fx->njobs; i++) {
        if (fx->done[i])
            continue;
        if (fx->jobs[i].running)
            running[(*nr)++] = &fx->jobs[i];
        else
            pending[(*np)++] = &fx->jobs[i];
    }
}

static inline size_t
fx_cycle_with (fx_t *fx, const sp_params_t *params)
{
    sp_node_t *nodes[FX_MAX_NODES];
    sp_job_t *pending[FX_MAX_JOBS], *running[FX_MAX_JOBS];
    size_t np, nr;
    fx_inputs (fx, nodes, pending, &np, running, &nr);
    fx->params = *params;
    cr_assert (sp_schedule (fx->e, params, nodes, fx->nnodes, pending, np, running, nr, &fx->res) == 0);
    for (size_t i = 0; i < fx->res.nplacements; i++) {
        const sp_placement_t *p = &fx->res.placements[i];
        sp_job_t *j = p->job;
        for (uint32_t t = 0; t < j->ntasks; t++) {
            sp_node_take (p->nodes[t], j);
            j->placed[t] = p->nodes[t];
        }
        j->running = 1;
        j->start_s = fx->now;
    }
    for (size_t i = 0; i < fx->res.npreemptions; i++)
        fx->res.preemptions[i].victim->stopping = 1;
    return fx->res.nplacements;
}

static inline size_t
fx_cycle (fx_t *fx, sp_policy_t policy)
{
    sp_params_t params;
    sp_params_defaults (&params, policy, fx->now);
    return fx_cycle_with (fx, &params);
}

/*  The job ends (or finishes stopping): its resources come back.  */
static inline void
fx_end (fx_t *fx, sp_job_t *j, int requeue)
{
    cr_assert (j->running);
    for (uint32_t t = 0; t < j->ntasks; t++) {
        sp_node_give (j->placed[t], j);
        j->placed[t] = NULL;
    }
    double gpu_s = (double) j->ntasks * j->gpus * (fx->now - j->start_s);
    j->attained_gpu_s += gpu_s;
    j->running = 0;
    j->stopping = 0;
    if (!requeue)
        fx->done[j - fx->jobs] = 1;
}

#endif
