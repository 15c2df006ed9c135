/*  test_policy_incremental.c: a cycle's work is bounded by what it can place.
 *
 *  With sp_params_t.refresh below SP_REFRESH_ALL the engine stops walking the
 *  order as soon as no job further on can start, preempt or take a
 *  reservation (engine.c): the jobs it did not examine get no wait, so the
 *  caller leaves their reasons (and their rows) alone. Here a cluster is full
 *  of running single-slot jobs with 10,000 more waiting; one slot frees and
 *  the cycle must place exactly the head of the policy's order while
 *  examining a handful of jobs, not 10,000, under every policy. The refresh
 *  window then walks the rest of the order a slice per cycle. With a job of
 *  its own class each, the walk stops as early: no class has room.
 *
 *  test_policy_property.c checks, on random worlds, that such cycles decide
 *  exactly what full ones do. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

#define S_NODES 100
#define S_SLOTS 8 /*  CPUs per node, one per job  */
#define S_RUNNING (S_NODES * S_SLOTS)
#define S_PENDING 10000

typedef struct {
    sp_cluster_t *c;
    sp_engine_t *e;
    sp_node_t nodes[S_NODES];
    sp_node_t *node_ptrs[S_NODES];
    sp_job_t jobs[S_RUNNING + S_PENDING];
    sp_node_t *placed[S_RUNNING + S_PENDING];
    sp_job_t *pending[S_PENDING], *running[S_RUNNING + 1];
    size_t npending, nrunning;
    sp_result_t res;
} s_world_t;

static void
s_job (s_world_t *w, size_t i, int running)
{
    sp_job_t *j = &w->jobs[i];
    memset (j, 0, sizeof *j);
    j->id = i + 1;
    j->tenant = "t";
    j->queue = "default";
    j->gang = 1;
    j->ntasks = 1;
    j->cpus_milli = 1000;
    j->mem_mb = 64;
    j->time_limit_s = 3600;
    j->duration_s = 600;
    /*  A scrambled submit order, so the head is not the first in the input.  */
    j->submit_s = (double) ((i * 7919 + 13) % (S_RUNNING + S_PENDING));
    j->placed = &w->placed[i];
    if (running) {
        sp_node_t *n = &w->nodes[i / S_SLOTS];
        sp_node_take (n, j);
        j->placed[0] = n;
        j->running = 1;
        j->start_s = 0;
    }
}

static s_world_t *
s_world_new (void)
{
    s_world_t *w = calloc (1, sizeof *w);
    cr_assert (w);
    w->c = sp_cluster_new ();
    w->e = sp_engine_new (w->c);
    cr_assert (w->c && w->e);
    int pool = sp_cluster_pool_add_implicit (w->c, "default");
    cr_assert (pool >= 0);
    for (size_t n = 0; n < S_NODES; n++) {
        w->nodes[n] = (sp_node_t) { .name = "n",
                                    .pool = pool,
                                    .gpu_type = "",
                                    .cap_cpus_milli = S_SLOTS * 1000,
                                    .cap_mem_mb = 1 << 20,
                                    .schedulable = 1 };
        w->node_ptrs[n] = &w->nodes[n];
    }
    for (size_t i = 0; i < S_RUNNING; i++) {
        s_job (w, i, 1);
        w->running[w->nrunning++] = &w->jobs[i];
    }
    for (size_t i = S_RUNNING; i < S_RUNNING + S_PENDING; i++) {
        s_job (w, i, 0);
        w->pending[w->npending++] = &w->jobs[i];
    }
    return w;
}

static void
s_world_free (s_world_t *w)
{
    sp_result_clear (&w->res);
    sp_engine_free (&w->e);
    sp_cluster_free (&w->c);
    free (w);
}

static void
s_cycle (s_world_t *w, sp_policy_t policy, double now, uint32_t refresh)
{
    sp_params_t p;
    sp_params_defaults (&p, policy, now);
    p.refresh = refresh;
    cr_assert_eq (
        sp_schedule (w->e, &p, w->node_ptrs, S_NODES, w->pending, w->npending, w->running, w->nrunning, &w->res), 0);
    /*  Apply: placed jobs leave the pending list and hold their node.  */
    for (size_t i = 0; i < w->res.nplacements; i++) {
        sp_job_t *j = w->res.placements[i].job;
        sp_node_take (w->res.placements[i].nodes[0], j);
        j->placed[0] = w->res.placements[i].nodes[0];
        j->running = 1;
        j->start_s = now;
        for (size_t k = 0; k < w->npending; k++)
            if (w->pending[k] == j) {
                w->pending[k] = w->pending[--w->npending];
                break;
            }
        w->running[w->nrunning++] = j;
    }
}

/*  The pending job the policy takes first: every key but submit time ties.  */
static const sp_job_t *
s_head (const s_world_t *w)
{
    const sp_job_t *head = NULL;
    for (size_t k = 0; k < w->npending; k++)
        if (!head || w->pending[k]->submit_s < head->submit_s)
            head = w->pending[k];
    return head;
}

Test (incremental, a_freed_slot_costs_what_it_can_place)
{
    for (int policy = 0; policy < SP_POLICY__COUNT; policy++) {
        s_world_t *w = s_world_new ();
        /*  The first cycle meets 10,000 jobs on a full cluster: the first one
         *  fails, its class (all of them) with it, and the walk ends there.  */
        s_cycle (w, (sp_policy_t) policy, 100, 0);
        cr_assert_eq (w->res.nplacements, 0, "%s", sp_policy_name ((sp_policy_t) policy));
        cr_assert_leq (w->res.jobs_considered, 2, "%s: examined %zu", sp_policy_name ((sp_policy_t) policy),
                       w->res.jobs_considered);
        cr_assert_eq (w->res.jobs_needed, w->res.jobs_considered);
        cr_assert_geq (w->res.refresh_left, S_PENDING - 2);

        for (int round = 0; round < 5; round++) {
            /*  One running job ends: one slot is free.  */
            sp_job_t *gone = w->running[round];
            sp_node_t *freed = gone->placed[0];
            sp_node_give (gone->placed[0], gone);
            gone->placed[0] = NULL;
            gone->running = 0;
            w->running[round] = w->running[--w->nrunning];
            const sp_job_t *head = s_head (w);
            s_cycle (w, (sp_policy_t) policy, 200 + round, 0);
            cr_assert_eq (w->res.nplacements, 1, "%s round %d", sp_policy_name ((sp_policy_t) policy), round);
            cr_assert_eq (w->res.placements[0].job, head, "%s round %d: placed job %llu, head is %llu",
                          sp_policy_name ((sp_policy_t) policy), round,
                          (unsigned long long) w->res.placements[0].job->id, (unsigned long long) head->id);
            cr_assert_eq (w->res.placements[0].nodes[0], freed);
            cr_assert_leq (w->res.jobs_considered, 3, "%s round %d: examined %zu",
                           sp_policy_name ((sp_policy_t) policy), round, w->res.jobs_considered);
            /*  Only examined jobs get a wait: the others keep their reason.  */
            cr_assert_leq (w->res.nwaits, w->res.jobs_considered);
        }

        /*  A full cycle still examines every job and gives each a wait.  */
        s_cycle (w, (sp_policy_t) policy, 300, SP_REFRESH_ALL);
        cr_assert_eq (w->res.jobs_considered, w->npending);
        cr_assert_eq (w->res.nwaits, w->npending);
        cr_assert_eq (w->res.refresh_left, 0);
        s_world_free (w);
    }
}

Test (incremental, the_refresh_window_walks_the_whole_order)
{
    s_world_t *w = s_world_new ();
    /*  256 jobs past the stop per cycle: every job is examined within
     *  ceil(10,000 / 256) cycles, and each cycle stays bounded.  */
    static unsigned char seen[S_RUNNING + S_PENDING];
    size_t cycles = 0;
    for (;;) {
        s_cycle (w, SP_POLICY_DEFAULT, 100 + (double) cycles, 256);
        cycles++;
        cr_assert_leq (w->res.jobs_considered, 256 + 2);
        for (size_t i = 0; i < w->res.nwaits; i++)
            seen[w->res.waits[i].job - w->jobs] = 1;
        if (w->res.refresh_left == 0)
            break;
        cr_assert_lt (cycles, 60, "the refresh never completes");
    }
    size_t nseen = 0;
    for (size_t i = S_RUNNING; i < S_RUNNING + S_PENDING; i++)
        nseen += seen[i];
    cr_assert_eq (nseen, S_PENDING);
    cr_assert_geq (cycles, S_PENDING / 256);
    s_world_free (w);
}

Test (incremental, a_full_cluster_stops_the_walk_whatever_the_queue)
{
    /*  Every waiting job of its own class (its memory differs): no class
     *  fails before the walk reaches it, but none has room in any pool, so
     *  the walk ends right after the head's reservation.  */
    for (int policy = 0; policy < SP_POLICY__COUNT; policy++) {
        s_world_t *w = s_world_new ();
        for (size_t k = 0; k < w->npending; k++)
            w->pending[k]->mem_mb = 64 + k;
        s_cycle (w, (sp_policy_t) policy, 100, SP_REFRESH_ALL);
        cr_assert_eq (w->res.jobs_considered, S_PENDING);
        s_cycle (w, (sp_policy_t) policy, 101, 0);
        cr_assert_eq (w->res.nplacements, 0);
        cr_assert_leq (w->res.jobs_considered, 2, "%s: examined %zu", sp_policy_name ((sp_policy_t) policy),
                       w->res.jobs_considered);
        /*  One slot frees: the head takes it, the walk stops after it.  */
        sp_job_t *gone = w->running[0];
        sp_node_t *freed = gone->placed[0];
        sp_node_give (freed, gone);
        gone->placed[0] = NULL;
        gone->running = 0;
        w->running[0] = w->running[--w->nrunning];
        const sp_job_t *head = s_head (w);
        s_cycle (w, (sp_policy_t) policy, 102, 0);
        cr_assert_eq (w->res.nplacements, 1);
        cr_assert_eq (w->res.placements[0].job, head);
        cr_assert_eq (w->res.placements[0].nodes[0], freed);
        cr_assert_leq (w->res.jobs_considered, 3, "%s: examined %zu", sp_policy_name ((sp_policy_t) policy),
                       w->res.jobs_considered);
        s_world_free (w);
    }
}
