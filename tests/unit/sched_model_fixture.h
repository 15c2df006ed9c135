/*  sched_model_fixture.h: the scheduler's model alone (scheduler/model/ and
 *  libstrata-policy), for test_sched_deps, test_sched_registry and
 *  test_sched_runtime: no database, no sockets, no protobuf.
 *
 *  Each step of a test goes through mf_step (or the helpers built on it): it
 *  sets the model's clock first and checks the model's invariants
 *  (st__model_check) after, as the loop does in a debug build. */
#ifndef ST_SCHED_MODEL_FIXTURE_H
#define ST_SCHED_MODEL_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static uint64_t mf_now_wall = 1800000000000ull; /*  a fixed clock the tests move  */
static uint64_t mf_now_mono = 1000000ull;

static inline void
mf_check (st__model_t *m)
{
    char why[512];
    cr_assert_eq (st__model_check (m, why, sizeof why), 0, "model invariant broken: %s", why);
}

/*  Before a step: the clock. After it: mf_check.  */
#define mf_step(m, call)                                 \
    do {                                                 \
        st__model_clock ((m), mf_now_wall, mf_now_mono); \
        call;                                            \
        mf_check (m);                                    \
    } while (0)

static inline void
mf_init (st__model_t *m)
{
    cr_assert_eq (st__model_init (m), 0);
    m->cluster = sp_cluster_new ();
    cr_assert_not_null (m->cluster);
    m->engine = sp_engine_new (m->cluster);
    cr_assert_not_null (m->engine);
    m->policy = SP_POLICY_DEFAULT;
    st__model_clock (m, mf_now_wall, mf_now_mono);
}

static inline void
mf_fini (st__model_t *m)
{
    st__model_release (m);
}

static inline st__node_t *
mf_node (st__model_t *m, const char *name, double cpus, uint64_t mem_mb)
{
    st__node_t *n = st__node_new (name);
    cr_assert_not_null (n);
    n->pool = strdup ("p");
    n->cap_cpus_milli = (uint32_t) (cpus * 1000 + 0.5);
    n->cap_mem_mb = mem_mb;
    n->state = ST__NODE_UP;
    n->connected = 1;
    st_map_put (m->nodes, n->name, strlen (n->name), n);
    return n;
}

/*  What a submission does to the model (net/client.c's s_on_submit without
 *  the message): a new job from JSON, checked, admitted. Returns the job, or
 *  NULL with err filled when st__deps_check refuses it.  */
static inline st__job_t *
mf_submit_err (st__model_t *m, const char *json, st_error_t *err)
{
    st_spec_t *spec = st_spec_parse (json, strlen (json), err);
    cr_assert_not_null (spec, "%s: %s", json, err->msg);
    char *text = st_spec_to_json (spec);
    cr_assert_not_null (text);
    st__model_clock (m, mf_now_wall, mf_now_mono);
    uint64_t id = m->next_job_id++;
    st__job_t *job = st__job_new (m, id, spec, text, mf_now_wall);
    cr_assert_not_null (job);
    if (st__deps_check (m, job, err) != ST_OK) {
        m->next_job_id--;
        st__job_free (job);
        return NULL;
    }
    st_map_put_u64 (m->jobs, id, job);
    snprintf (job->reason, sizeof job->reason, "queued");
    st__add_event (m, id, -1, 0, "submitted", NULL, "PENDING", NULL, "submitted");
    st__mark_job (m, job);
    st__deps_admit (m, job);
    mf_check (m);
    return job;
}

static inline st__job_t *
mf_submit (st__model_t *m, const char *json)
{
    st_error_t err = { 0 };
    st__job_t *job = mf_submit_err (m, json, &err);
    cr_assert_not_null (job, "refused: %s: %s", json, err.msg);
    return job;
}

/*  A placement pass, then what net/ does when it launches the placed tasks
 *  and their workers report them running.  */
static inline void
mf_place_and_run (st__model_t *m)
{
    mf_step (m, st__place_pending (m));
    for (size_t i = 0; i < m->nto_launch; i++) {
        st__task_t *t = m->to_launch[i];
        if (t->state != ST_TASK_SCHEDULED)
            continue;
        mf_step (m, {
            cr_assert_eq (st__task_set_state (m, t, ST_TASK_STARTING), ST_OK);
            st__mark_task (m, t);
            if (t->job->state == ST_JOB_SCHEDULED)
                st__job_set_state (m, t->job, ST_JOB_STARTING, "launching");
            cr_assert_eq (st__task_set_state (m, t, ST_TASK_RUNNING), ST_OK);
            st__mark_task (m, t);
            st__job_evaluate (m, t->job);
        });
    }
    m->nto_launch = 0;
}

/*  Every task of job ends with state (as its worker reports); the job follows.  */
static inline void
mf_end (st__model_t *m, st__job_t *job, st_job_state_t state)
{
    for (uint32_t i = 0; i < job->ntasks; i++) {
        st__task_t *t = &job->tasks[i];
        if (!st__task_live (t))
            continue;
        t->has_exit = 1;
        t->exit_code = state == ST_JOB_SUCCEEDED ? 0 : 1;
        mf_step (m, {
            st__task_end (m, t, st__job_state_as_task (state));
            st__job_evaluate (m, job);
        });
    }
}

#endif
