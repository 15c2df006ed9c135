/*  place.c: the scheduler's side of placement, over libstrata-policy.
 *
 *  The engine (scheduler/policy/) decides; this file keeps the engine's view of
 *  every node (st__node_t.pn) and job (st__job_t.pj) in step with the model, runs
 *  one cycle when something changed, and applies what the cycle decided:
 *
 *    placements   tasks assigned to nodes, the job SCHEDULED with the engine's
 *                 reason; pool, model variant, estimated cost/energy/carbon and
 *                 the score against the runners-up recorded; Launches queued.
 *    preemptions  the victim's ranks are stopped (SIGTERM, then SIGKILL after the
 *                 grace period); it ends PREEMPTED and goes back to PENDING
 *                 without using a retry (model.c), to resume from its checkpoint.
 *    waits        the job's reason says why it waits and when it may start. A
 *                 cycle stops examining jobs once none further can start; a
 *                 window of the rest is examined per cycle, so reasons are
 *                 refreshed a slice at a time (docs/placement-internals.md).
 *
 *  Everything it changes is committed by the same batch as the rest of the pass
 *  (sched.c), so a placement is durable before its Launch is sent. */
#include "model.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_log.h"
#include "st_utf8.h"

int
st__place_job_init (st__model_t *s, st__job_t *job)
{
    const st_spec_t *sp = job->spec;
    sp_job_t *pj = &job->pj;
    memset (pj, 0, sizeof *pj);
    job->placed = calloc (job->ntasks ? job->ntasks : 1, sizeof *job->placed);
    if (!job->placed)
        return -1;
    pj->id = job->id;
    pj->tenant = sp->tenant;
    pj->queue = sp->queue;
    pj->priority = sp->priority;
    pj->preemptible = sp->preemptible;
    pj->gang = sp->gang;
    pj->ntasks = sp->ranks;
    pj->cpus_milli = sp->cpus_milli;
    pj->mem_mb = sp->mem_mb;
    pj->gpus = sp->gpus;
    pj->gpu_types = (const char *const *) sp->gpu_types;
    pj->ngpu_types = sp->ngpu_types;
    for (size_t i = 0; i < sp->nsites; i++)
        pj->sites |= 1u << sp->sites[i];
    pj->pool = sp->pool;
    pj->labels = &sp->labels;
    pj->near = sp->near;
    pj->max_latency_ms = sp->max_latency_ms;
    if (sp->has_weights) {
        pj->weights.cost = sp->weights.cost;
        pj->weights.latency = sp->weights.latency;
        pj->weights.energy = sp->weights.energy;
        pj->weights.carbon = sp->weights.carbon;
        pj->weights.packing = sp->weights.packing;
    }
    else if (sp_weights_for_prefer (sp->prefer, &pj->weights) != 0)
        sp_weights_for_prefer (NULL, &pj->weights);
    pj->classification = sp->classification;
    pj->residency = (const char *const *) sp->residency;
    pj->nresidency = sp->nresidency;
    /*  A fine-tuned model is not the engine's: once its version is fixed,
     *  st__registry_apply narrows this view to where that version may be used.  */
    pj->model = st__registry_is_finetune (s, sp) ? NULL : sp->model;
    pj->time_limit_s = sp->time_limit_s;
    pj->submit_s = job->created_wall / 1000.0;
    pj->placed = job->placed;
    pj->owner = job;
    return 0;
}

/*  -- the engine's view of the nodes ------------------------------------------ */

static void
s_collect_node (void *value, void *arg)
{
    st__model_t *s = arg;
    st__node_t *n = value;
    sp_node_t *pn = &n->pn;
    if (!pn->owner) {
        pn->owner = n;
        n->pn_stale = 1;
    }
    if (st_vec_push ((void **) &s->pnodes, &s->npnodes, &s->cap_pnodes, sizeof pn, ST__SCHED_ARRAY_MAX, &pn))
        abort ();
}

/*  Brings every pn up to date: pool, capacity and labels after a registration,
 *  what its tasks hold and whether it can take work, every cycle.  */
static void
s_sync_nodes (st__model_t *s)
{
    if (s->npnodes != st_map_size (s->nodes)) {
        s->npnodes = 0;
        st_map_foreach (s->nodes, s_collect_node, s);
    }
    for (size_t i = 0; i < s->npnodes; i++) {
        sp_node_t *pn = s->pnodes[i];
        st__node_t *n = pn->owner;
        if (n->pn_stale) {
            pn->name = n->name;
            pn->pool = sp_cluster_pool_add_implicit (s->cluster, n->pool ? n->pool : "default");
            if (pn->pool < 0)
                abort ();
            pn->gpu_type = n->gpu_type ? n->gpu_type : "";
            pn->labels = &n->labels;
            pn->cap_cpus_milli = n->cap_cpus_milli;
            pn->cap_mem_mb = n->cap_mem_mb;
            pn->cap_gpus = n->cap_gpus;
            n->pn_stale = 0;
        }
        pn->used_cpus_milli = n->used_cpus_milli;
        pn->used_mem_mb = n->used_mem_mb;
        pn->used_gpus = n->used_gpus;
        /*  A node that refuses new tasks (short of space: Heartbeat.refusing)
         *  keeps its running ones but is offered nothing; filter.c says why.  */
        pn->refusing = n->refusing;
        pn->schedulable = n->state == ST__NODE_UP && n->connected && !n->refusing;
    }
}

/*  -- applying a cycle ----------------------------------------------------------- */

static void
s_replace (char **field, const char *value)
{
    free (*field);
    *field = value ? strdup (value) : NULL;
    if (value && !*field)
        abort ();
}

static void
s_apply_placement (st__model_t *s, const sp_placement_t *p, double now_s)
{
    st__job_t *job = p->job->owner;
    const sp_pool_t *pool = &s->cluster->pools[p->score.pool];
    st__pending_remove (s, job);
    job->attempt++;
    for (uint32_t r = 0; r < job->ntasks; r++) {
        st__task_t *t = &job->tasks[r];
        t->attempt = job->attempt;
        st__task_set_state (s, t, ST_TASK_SCHEDULED);
        st__task_assign (s, t, p->nodes[r]->owner);
        st_vec_push ((void **) &s->to_launch, &s->nto_launch, &s->cap_to_launch, sizeof t, ST__SCHED_ARRAY_MAX, &t);
    }
    job->pj.start_s = now_s;
    s_replace (&job->pool, pool->name);
    s_replace (&job->variant, p->variant ? p->variant->name : NULL);
    free (job->placement_json);
    job->placement_json = sp_explain_placement (s->cluster, p);
    if (!job->placement_json)
        /*  Not a reason to hold the job: strata explain falls back to its reason.  */
        st_warn ("job %llu placed without an explanation: its JSON could not be built (json_failures=%" PRIu64 ")",
                 (unsigned long long) job->id, ++s->counters.json_failures);
    job->has_estimate = 1;
    job->est_cost = p->est_cost;
    job->est_kwh = p->est_kwh;
    job->est_co2_g = p->est_co2_g;
    st__job_set_state (s, job, ST_JOB_SCHEDULED, "%s; attempt %u of %u", p->reason, job->attempt - job->preemptions,
                       job->max_attempts);
    s->counters.placed++;
}

static void
s_apply_preemption (st__model_t *s, const sp_preemption_t *pr)
{
    st__job_t *victim = pr->victim->owner;
    if (victim->preempt_requested || victim->stopping || st_job_state_terminal (victim->state))
        return;
    const st__job_t *for_job = pr->for_job->owner;
    victim->preempt_requested = 1;
    victim->pj.stopping = 1;
    st_utf8_fmt (victim->failure, sizeof victim->failure, "preempted for job %llu: %s",
                 (unsigned long long) for_job->id, pr->reason); /*  a long reason is cut on a character boundary  */
    st__add_event (s, victim->id, -1, victim->attempt, "preempt", NULL, NULL, NULL, "%s", victim->failure);
    st_info ("job %llu: %s", (unsigned long long) victim->id, victim->failure);
    st__job_evaluate (s, victim);
}

void
st__place_attempt_ended (st__model_t *s, st__job_t *job)
{
    if (job->attempt == 0 || job->accounted_attempt == job->attempt || !job->pool)
        return;
    job->accounted_attempt = job->attempt;
    /*  From the first rank's start to the last rank's end.  */
    uint64_t start = 0, end = 0;
    for (uint32_t i = 0; i < job->ntasks; i++) {
        const st__task_t *t = &job->tasks[i];
        if (t->started_wall && (!start || t->started_wall < start))
            start = t->started_wall;
        if (t->finished_wall > end)
            end = t->finished_wall;
    }
    double seconds = start && end > start ? (end - start) / 1000.0 : 0.0;
    int pool = sp_cluster_pool (s->cluster, job->pool);
    if (pool >= 0) {
        double cost = 0, kwh = 0, co2 = 0;
        sp_estimate (s->cluster, pool, &job->pj, seconds, &cost, &kwh, &co2);
        job->cost += cost;
        job->kwh += kwh;
        job->co2_g += co2;
        job->has_actual = 1;
    }
    /*  Attained service (LAS order) counts ended attempts; fair-share usage was
     *  charged by the cycles up to sp_usage_charged_until: charge the rest.  */
    double gpus = (double) job->pj.gpus * job->pj.ntasks;
    job->pj.attained_gpu_s += seconds * gpus;
    double end_s = end ? end / 1000.0 : s->now_wall / 1000.0;
    double from_s = job->pj.start_s > sp_usage_charged_until (s->engine) ? job->pj.start_s
                                                                         : sp_usage_charged_until (s->engine);
    if (gpus > 0 && end_s > from_s)
        sp_usage_charge (s->engine, job->pj.tenant, gpus * (end_s - from_s), end_s);
    st__mark_job (s, job);
}

/*  A cycle examines the jobs up to where none further can start, plus a
 *  window of SP_REFRESH_WINDOW more whose reasons it refreshes; while the
 *  windows have not gone round the whole queue, another cycle runs this often
 *  even when nothing changed, so every waiting job's reason is recent.  */
#define S_REFRESH_EVERY_MS 1000

int
st__place_pending (st__model_t *s)
{
    int refresh = s->refresh_due_ms && s->now_mono >= s->refresh_due_ms;
    if ((!s->sched_needed && !refresh) || s->npending == 0) {
        s->sched_needed = 0;
        if (s->npending == 0)
            s->refresh_due_ms = 0;
        return 0;
    }
    s->sched_needed = 0;
    double now_s = s->now_wall / 1000.0;
    s_sync_nodes (s);
    sp_params_t params;
    sp_params_defaults (&params, s->policy, now_s);
    params.refresh = SP_REFRESH_WINDOW;
    /*  One result for the model's life: its arrays (the waits alone are 13 MB
     *  at 50,000 pending) are reused, not allocated and freed every cycle.  */
    sp_result_t *r = &s->presult;
    if (sp_schedule (s->engine, &params, s->pnodes, s->npnodes, s->pending, s->npending, s->running, s->nrunning, r)
        != 0)
        abort ();
    for (size_t i = 0; i < r->nplacements; i++)
        s_apply_placement (s, &r->placements[i], now_s);
    for (size_t i = 0; i < r->npreemptions; i++)
        s_apply_preemption (s, &r->preemptions[i]);
    /*  Only the jobs the cycle examined: the others keep their reason, and
     *  their rows are not written again (st__job_set_reason skips one that
     *  says the same).  */
    for (size_t i = 0; i < r->nwaits; i++)
        st__job_set_reason (s, r->waits[i].job->owner, r->waits[i].reason);
    s->refresh_due_ms = r->refresh_left ? s->now_mono + S_REFRESH_EVERY_MS : 0;
    return 1;
}

/*  -- strata explain ---------------------------------------------------------- */

char *
st__place_reason_json (uint64_t id, const char *state, const char *reason)
{
    /*  json_pack refuses (NULL) a string that is not valid UTF-8: the reason
     *  may hold a worker's or a database row's bytes, so it is made valid first.  */
    char *clean = st_utf8_dup (reason);
    json_t *o =
        clean ? json_pack ("{s:I, s:s, s:s}", "job", (json_int_t) id, "state", state ? state : "", "reason", clean)
              : NULL;
    char *text = o ? json_dumps (o, JSON_COMPACT) : NULL;
    json_decref (o);
    free (clean);
    if (!text)
        st_error ("could not build the explanation of job %llu (out of memory)", (unsigned long long) id);
    return text;
}

char *
st__place_explain (st__model_t *s, st__job_t *job, const char **state)
{
    char *json;
    *state = st_job_state_name (job->state);
    if (job->state == ST_JOB_PENDING && !job->in_pending)
        /*  Not offered to the engine: it waits for its dependencies (deps.c).  */
        json = st__place_reason_json (job->id, *state, job->reason);
    else if (job->state == ST_JOB_PENDING) {
        /*  Why it waits, against the cluster as it is now.  */
        s_sync_nodes (s);
        sp_params_t params;
        sp_params_defaults (&params, s->policy, s->now_wall / 1000.0);
        json = sp_explain_pending (s->engine, &params, s->pnodes, s->npnodes, s->running, s->nrunning, &job->pj);
    }
    else
        json = job->placement_json ? strdup (job->placement_json)
                                   : st__place_reason_json (job->id, *state, job->reason);
    return json; /*  NULL: out of memory, said in the log; the caller answers an error  */
}
