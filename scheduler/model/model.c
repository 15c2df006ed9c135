/*  model.c: jobs, tasks and nodes in memory; the job state machine.
 *
 *  Legal job transitions (anything else is refused and logged as a bug):
 *
 *      FROM        TO                                        [function]
 *      PENDING     SCHEDULED                                 [st__place_pending]
 *      PENDING     CANCELLED                                 [client cancel]
 *      PENDING     FAILED                                    [deps.c: a dependency failed, or the
 *                                                             fine-tuned model it names cannot be used]
 *      SCHEDULED   STARTING                                  [net/dispatch.c: st__dispatch_send_launches]
 *      SCHEDULED   PENDING FAILED CANCELLED LOST PREEMPTED   [st__job_evaluate]
 *      STARTING    RUNNING SUCCEEDED FAILED CANCELLED LOST PENDING PREEMPTED [st__job_evaluate]
 *      RUNNING     SUCCEEDED FAILED CANCELLED LOST PREEMPTED PENDING [st__job_evaluate]
 *      LOST        PENDING FAILED                            [st__job_evaluate]
 *      PREEMPTED   PENDING                                   [st__job_evaluate]
 *
 *  ->PENDING from a running state is a retry: the attempt failed and attempts remain.
 *  ->PREEMPTED->PENDING: the placement engine stopped the job for a more urgent one;
 *  it resumes from its checkpoint and the preempted attempt does not use up a retry.
 *  A job whose attempt is ending waits until every rank has stopped before it moves on,
 *  so a requeued gang never overlaps its previous attempt.
 *
 *  Legal task transitions (the only door is st__task_set_state; anything else
 *  is a bug: an assertion in a debug build, logged and refused in release):
 *
 *      FROM        TO                                        [where]
 *      PENDING     SCHEDULED                                 [place.c: the engine placed it]
 *      PENDING     FAILED CANCELLED LOST                     [st__task_end]
 *      SCHEDULED   STARTING                                  [net/dispatch.c: Launch sent]
 *      SCHEDULED   RUNNING                                   [net/dispatch.c: the worker reports it]
 *      SCHEDULED   SUCCEEDED FAILED CANCELLED LOST           [st__task_end]
 *      STARTING    RUNNING                                   [net/dispatch.c: the worker reports it]
 *      STARTING    SCHEDULED                                 [net/dispatch.c: the Launch never arrived]
 *      STARTING    SUCCEEDED FAILED CANCELLED LOST           [st__task_end]
 *      RUNNING     SUCCEEDED FAILED CANCELLED LOST           [st__task_end]
 *      RUNNING     LOST                                      [store/: its node row is gone at load]
 *      any         PENDING                                   [s_requeue: a new attempt]
 *      X           X                                         (no change: allowed, does nothing)
 *
 *  A task's state on load is built from its row (store/), not moved. */
#include "model.h"
#include "st_utf8.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_log.h"

#define B(x) (1u << ST_JOB_##x)
static const unsigned s_allowed[ST_JOB__COUNT] = {
    [ST_JOB_PENDING] = B (SCHEDULED) | B (CANCELLED) | B (FAILED),
    [ST_JOB_SCHEDULED] = B (STARTING) | B (PENDING) | B (FAILED) | B (CANCELLED) | B (LOST) | B (PREEMPTED),
    [ST_JOB_STARTING] = B (RUNNING) | B (SUCCEEDED) | B (FAILED) | B (CANCELLED) | B (LOST) | B (PENDING)
                        | B (PREEMPTED),
    [ST_JOB_RUNNING] = B (SUCCEEDED) | B (FAILED) | B (CANCELLED) | B (LOST) | B (PREEMPTED) | B (PENDING),
    [ST_JOB_LOST] = B (PENDING) | B (FAILED),
    [ST_JOB_PREEMPTED] = B (PENDING),
};

#undef B

#define B(x) (1u << ST_TASK_##x)
static const unsigned s_task_allowed[ST_TASK__COUNT] = {
    [ST_TASK_PENDING] = B (SCHEDULED) | B (FAILED) | B (CANCELLED) | B (LOST),
    [ST_TASK_SCHEDULED] = B (STARTING) | B (RUNNING) | B (SUCCEEDED) | B (FAILED) | B (CANCELLED) | B (LOST)
                          | B (PENDING),
    [ST_TASK_STARTING] = B (RUNNING) | B (SCHEDULED) | B (SUCCEEDED) | B (FAILED) | B (CANCELLED) | B (LOST)
                         | B (PENDING),
    [ST_TASK_RUNNING] = B (SUCCEEDED) | B (FAILED) | B (CANCELLED) | B (LOST) | B (PENDING),
    [ST_TASK_SUCCEEDED] = B (PENDING),
    [ST_TASK_FAILED] = B (PENDING),
    [ST_TASK_CANCELLED] = B (PENDING),
    [ST_TASK_PREEMPTED] = B (PENDING),
    [ST_TASK_LOST] = B (PENDING),
};
#undef B

/*  The same word in both lists, row by row.  */
static const struct {
    st_task_state_t task;
    st_job_state_t job;
} s_task_job[] = {
    { ST_TASK_PENDING, ST_JOB_PENDING },     { ST_TASK_SCHEDULED, ST_JOB_SCHEDULED },
    { ST_TASK_STARTING, ST_JOB_STARTING },   { ST_TASK_RUNNING, ST_JOB_RUNNING },
    { ST_TASK_SUCCEEDED, ST_JOB_SUCCEEDED }, { ST_TASK_FAILED, ST_JOB_FAILED },
    { ST_TASK_CANCELLED, ST_JOB_CANCELLED }, { ST_TASK_PREEMPTED, ST_JOB_PREEMPTED },
    { ST_TASK_LOST, ST_JOB_LOST },
};
_Static_assert(sizeof s_task_job / sizeof s_task_job[0] == ST_TASK__COUNT, "a row per task state");

st_job_state_t
st__task_state_as_job (st_task_state_t s)
{
    for (size_t i = 0; i < sizeof s_task_job / sizeof s_task_job[0]; i++)
        if (s_task_job[i].task == s)
            return s_task_job[i].job;
    return ST_JOB__COUNT; /*  out of range: st_job_state_name says UNKNOWN  */
}

st_task_state_t
st__job_state_as_task (st_job_state_t s)
{
    for (size_t i = 0; i < sizeof s_task_job / sizeof s_task_job[0]; i++)
        if (s_task_job[i].job == s)
            return s_task_job[i].task;
    return ST_TASK__COUNT;
}

#define PUSH(s, field, item)                                                                           \
    do {                                                                                               \
        if (st_vec_push ((void **) &(s)->field, &(s)->n##field, &(s)->cap_##field, sizeof *(s)->field, \
                         ST__SCHED_ARRAY_MAX, &(item)))                                                \
            abort ();                                                                                  \
    } while (0)

void
st__batch_committed (st__model_t *s)
{
    for (size_t i = 0; i < s->ndirty_jobs; i++) {
        st__job_t *job = s->dirty_jobs[i];
        job->persisted = 1;
        job->db_state = job->state;
        job->dirty = 0;
    }
    for (size_t i = 0; i < s->ndirty_tasks; i++)
        s->dirty_tasks[i]->dirty = 0;
    for (size_t i = 0; i < s->ndirty_nodes; i++) {
        s->dirty_nodes[i]->dirty = 0;
        s->dirty_nodes[i]->persisted = 1;
    }
    s->ndirty_jobs = s->ndirty_tasks = s->ndirty_nodes = 0;
}

void
st__mark_job (st__model_t *s, st__job_t *job)
{
    if (!job->dirty) {
        job->dirty = 1;
        PUSH (s, dirty_jobs, job);
    }
}

void
st__mark_task (st__model_t *s, st__task_t *t)
{
    if (!t->dirty) {
        t->dirty = 1;
        PUSH (s, dirty_tasks, t);
    }
}

void
st__mark_node (st__model_t *s, st__node_t *n)
{
    if (!n->dirty) {
        n->dirty = 1;
        PUSH (s, dirty_nodes, n);
    }
}

void
st__add_event (st__model_t *s, uint64_t job_id, int32_t task_idx, uint32_t attempt, const char *kind,
               const char *from, const char *to, const char *node, const char *fmt, ...)
{
    st__event_t ev = { .job_id = job_id,
                       .task_idx = task_idx,
                       .attempt = attempt,
                       .kind = kind,
                       .from_state = from,
                       .to_state = to,
                       .at_wall = s->now_wall };
    ev.node = node ? strdup (node) : NULL;
    /*  Names, paths and workers' messages go into it: a long one is cut on a
     *  character boundary and bad bytes are replaced (st_utf8.h).  */
    char buf[1024];
    va_list ap;
    va_start (ap, fmt);
    st_utf8_vfmt (buf, sizeof buf, fmt, ap);
    va_end (ap);
    ev.message = strdup (buf);
    if (!ev.message)
        abort ();
    PUSH (s, events, ev);
}

st__job_t *
st__job_new (st__model_t *s, uint64_t id, st_spec_t *spec, char *spec_json, uint64_t created_wall)
{
    st__job_t *job = calloc (1, sizeof *job);
    if (!job)
        return NULL;
    job->id = id;
    job->spec = spec;
    job->spec_json = spec_json;
    job->state = job->db_state = ST_JOB_PENDING;
    job->max_attempts = spec->retries + 1;
    job->created_wall = created_wall;
    job->ntasks = spec->ranks;
    job->tasks = calloc (job->ntasks, sizeof *job->tasks);
    if (!job->tasks) {
        free (job);
        return NULL;
    }
    for (uint32_t i = 0; i < job->ntasks; i++) {
        job->tasks[i].job = job;
        job->tasks[i].index = i;
        job->tasks[i].state = ST_TASK_PENDING;
    }
    if (st__place_job_init (s, job) != 0) {
        st__job_free (job);
        return NULL;
    }
    return job;
}

void
st__job_free (st__job_t *job)
{
    if (!job)
        return;
    st__runtime_job_free (job);
    for (uint32_t i = 0; i < job->ntasks; i++) {
        free (job->tasks[i].node_name);
        free (job->tasks[i].reason);
    }
    free (job->tasks);
    free (job->placed);
    free (job->pool);
    free (job->variant);
    free (job->placement_json);
    free (job->model_ref);
    free ((void *) job->eff_residency);
    st_spec_destroy (&job->spec);
    free (job->spec_json);
    free (job->submit_token);
    free (job->submitted_by);
    free (job);
}

st_rc_t
st__job_set_state (st__model_t *s, st__job_t *job, st_job_state_t to, const char *reason_fmt, ...)
{
    st_job_state_t from = job->state;
    if (!(s_allowed[from] & (1u << to))) {
        st_error ("refused illegal transition of job %llu: %s -> %s", (unsigned long long) job->id,
                  st_job_state_name (from), st_job_state_name (to));
        return ST_ESTATE;
    }
    va_list ap;
    va_start (ap, reason_fmt);
    st_utf8_vfmt (job->reason, sizeof job->reason, reason_fmt, ap); /*  valid UTF-8, cut on a boundary  */
    va_end (ap);
    job->state = to;
    uint64_t now = s->now_wall;
    if (to == ST_JOB_RUNNING && !job->started_wall)
        job->started_wall = now;
    if (st_job_state_terminal (to)) {
        job->finished_wall = now;
        st_vec_push ((void **) &s->finished, &s->nfinished, &s->cap_finished, sizeof job, ST__SCHED_ARRAY_MAX, &job);
    }
    st_debug ("job %llu: %s -> %s (%s)", (unsigned long long) job->id, st_job_state_name (from),
              st_job_state_name (to), job->reason);
    st__add_event (s, job->id, -1, job->attempt, "state", st_job_state_name (from), st_job_state_name (to), NULL,
                   "%s", job->reason);
    st__mark_job (s, job);
    st__tenant_pending_sync (s, job); /*  its tenant's pending jobs (authz.c, max_pending)  */
    st__deps_on_state (s, job);       /*  entry action: model versions, dependents (deps.c)  */
    return ST_OK;
}

void
st__job_set_reason (st__model_t *s, st__job_t *job, const char *reason)
{
    if (strcmp (job->reason, reason) == 0)
        return;
    /*  A longer reason is cut on a character boundary, never mid-character,
     *  and any bad byte is replaced; the row is written only if that differs.  */
    char cut[sizeof job->reason];
    st_utf8_copy (cut, sizeof cut, reason);
    if (strcmp (job->reason, cut) == 0)
        return;
    memcpy (job->reason, cut, sizeof cut);
    st__mark_job (s, job);
}

st__node_t *
st__node_new (const char *name)
{
    st__node_t *n = calloc (1, sizeof *n);
    if (!n || !(n->name = strdup (name))) {
        free (n);
        return NULL;
    }
    n->state = ST__NODE_LOST;
    return n;
}

void
st__node_free (st__node_t *n)
{
    if (!n)
        return;
    free (n->name);
    free (n->pool);
    free (n->gpu_type);
    free (n->hostname);
    free (n->version);
    free (n->isolation);
    free (n->refusing);
    st_kv_free (&n->labels);
    free (n->launch_q);
    free (n);
}

void
st__task_assign (st__model_t *s, st__task_t *t, st__node_t *node)
{
    const st_spec_t *sp = t->job->spec;
    t->node = node;
    free (t->node_name);
    t->node_name = strdup (node->name);
    t->holds = 1;
    node->used_cpus_milli += sp->cpus_milli;
    node->used_mem_mb += sp->mem_mb;
    node->used_gpus += sp->gpus;
    t->node_prev = NULL;
    t->node_next = node->tasks;
    if (node->tasks)
        node->tasks->node_prev = t;
    node->tasks = t;
    node->ntasks++;
    st__job_t *job = t->job;
    job->placed[t->index] = &node->pn;
    if (job->nholding++ == 0) {
        sp_job_t *pj = &job->pj;
        job->running_idx = s->nrunning;
        if (st_vec_push ((void **) &s->running, &s->nrunning, &s->cap_running, sizeof pj, ST__SCHED_ARRAY_MAX, &pj))
            abort ();
        pj->running = 1;
    }
    st__mark_task (s, t);
}

void
st__task_release (st__model_t *s, st__task_t *t)
{
    if (!t->holds)
        return;
    st__node_t *node = t->node;
    const st_spec_t *sp = t->job->spec;
    node->used_cpus_milli -= sp->cpus_milli;
    node->used_mem_mb -= sp->mem_mb;
    node->used_gpus -= sp->gpus;
    if (t->node_prev)
        t->node_prev->node_next = t->node_next;
    else
        node->tasks = t->node_next;
    if (t->node_next)
        t->node_next->node_prev = t->node_prev;
    t->node_next = t->node_prev = NULL;
    node->ntasks--;
    t->holds = 0;
    st__job_t *job = t->job;
    job->placed[t->index] = NULL;
    if (--job->nholding == 0) {
        size_t i = job->running_idx;
        sp_job_t *last = s->running[--s->nrunning];
        s->running[i] = last;
        ((st__job_t *) last->owner)->running_idx = i;
        job->pj.running = 0;
        job->pj.stopping = 0;
    }
    if (t->launch_seq) {
        st_map_remove_u64 (s->launches, t->launch_seq);
        t->launch_seq = 0;
        if (node->launches_out)
            node->launches_out--; /*  its room goes to the next queued Launch (net/dispatch.c)  */
    }
    s->sched_needed = 1;
}

void
st__task_end (st__model_t *s, st__task_t *t, st_task_state_t state)
{
    st__task_set_state (s, t, state);
    if (!t->finished_wall)
        t->finished_wall = s->now_wall;
    st__task_release (s, t);
    st__mark_task (s, t);
    st__runtime_task_ended (s, t);
}

int
st__task_live (const st__task_t *t)
{
    return t->state == ST_TASK_SCHEDULED || t->state == ST_TASK_STARTING || t->state == ST_TASK_RUNNING;
}

void
st__job_stop_tasks (st__model_t *s, st__job_t *job)
{
    for (uint32_t i = 0; i < job->ntasks; i++) {
        st__task_t *t = &job->tasks[i];
        if (!st__task_live (t) || t->stop_sent)
            continue;
        /*  A task on a disconnected node gets its signal when it registers again.  */
        if (!t->node || !t->node->connected)
            continue;
        st__intent_t in = { .kind = ST__INTENT_SIGNAL, .job_id = job->id, .index = t->index, .attempt = t->attempt };
        st__intent_push (s, &in);
        t->stop_sent = 1;
    }
}

/*  Attempts used up by failures: preempted attempts do not count.  */
static uint32_t
s_attempts_used (const st__job_t *job)
{
    return job->attempt - job->preemptions;
}

/*  Puts the job back in the queue for a new attempt.  */
static void
s_requeue (st__model_t *s, st__job_t *job, const char *why)
{
    if (job->state == ST_JOB_PREEMPTED)
        st__job_set_state (s, job, ST_JOB_PENDING, "%s; requeued to resume from its checkpoint", why);
    else
        st__job_set_state (s, job, ST_JOB_PENDING, "%s; requeued for attempt %u of %u", why,
                           s_attempts_used (job) + 1, job->max_attempts);
    for (uint32_t i = 0; i < job->ntasks; i++) {
        st__task_t *t = &job->tasks[i];
        /*  The tasks row will hold the next attempt: this one's end and usage
         *  stay in an event (st__attempt_parse reads it back for show).  */
        if (t->started_wall || t->reason) {
            char exit_code[24] = "-", peak[24] = "-", cpu[24] = "-";
            if (t->has_exit && t->exit_code >= 0)
                snprintf (exit_code, sizeof exit_code, "%" PRId32, t->exit_code);
            if (t->has_peak)
                snprintf (peak, sizeof peak, "%" PRIu64, t->peak_mem_kib);
            if (t->has_cpu)
                snprintf (cpu, sizeof cpu, "%" PRIu64, t->cpu_ms);
            st__add_event (s, job->id, (int32_t) t->index, t->attempt, ST__ATTEMPT_EVENT, NULL, NULL, t->node_name,
                           "%s exit=%s signal=%" PRId32 " peak_mem_kib=%s cpu_ms=%s reason=%s",
                           st_task_state_name (t->state), exit_code, t->term_signal, peak, cpu,
                           t->reason ? t->reason : "");
        }
        free (t->reason);
        t->reason = NULL;
        t->has_peak = t->has_cpu = 0;
        t->peak_mem_kib = t->cpu_ms = 0;
        st__task_set_state (s, t, ST_TASK_PENDING);
        t->node = NULL;
        t->pid = 0;
        t->has_exit = 0;
        t->exit_code = t->term_signal = 0;
        t->started_wall = t->finished_wall = 0;
        t->stop_sent = 0;
        t->launch_acked = 0;
        t->exec_sent = 0;
        st__mark_task (s, t);
    }
    job->stopping = 0;
    job->preempt_requested = 0;
    job->pj.stopping = 0;
    job->failure[0] = '\0';
    st__pending_add (s, job);
}

void
st__job_evaluate (st__model_t *s, st__job_t *job)
{
    if (st_job_state_terminal (job->state) || job->state == ST_JOB_PENDING)
        return;
    /*  An mpirun-launched gang ends as its rank 0 (mpirun) ends: the other
     *  ranks only hold resources (and run Open MPI's daemons), and are stopped
     *  when mpirun is done. Their ends count only when lost.  */
    int mpirun = job->spec->launcher == ST_LAUNCHER_MPIRUN && job->ntasks > 1;
    uint32_t need = mpirun ? 1 : job->ntasks;
    uint32_t live = 0, running = 0, ok = 0, failed = 0, lost = 0;
    const st__task_t *first_failed = NULL;
    int checkpointed = 0; /*  a rank exited ST_EXIT_PREEMPTED  */
    for (uint32_t i = 0; i < job->ntasks; i++) {
        const st__task_t *t = &job->tasks[i];
        int counts = !mpirun || i == 0;
        switch (t->state) {
        case ST_TASK_SCHEDULED:
        case ST_TASK_STARTING:
            live++;
            break;
        case ST_TASK_RUNNING:
            live++;
            running++;
            break;
        case ST_TASK_SUCCEEDED:
            ok += counts;
            break;
        case ST_TASK_FAILED:
            if (!counts)
                break;
            failed++;
            if (!first_failed)
                first_failed = t;
            checkpointed |= t->has_exit && t->exit_code == ST_EXIT_PREEMPTED;
            break;
        case ST_TASK_LOST:
            lost++;
            break;
        default:
            break;
        }
    }
    int leader_done = mpirun && !st__task_live (&job->tasks[0]);

    if (live > 0) {
        if (leader_done && ok && !failed && !lost && !job->stopping) {
            job->stopping = 1;
            st__job_stop_tasks (s, job);
            st__job_set_reason (s, job, "mpirun (rank 0) exited with code 0: releasing the other ranks");
        }
        if ((failed || lost || job->cancel_requested || job->preempt_requested) && !job->stopping) {
            job->stopping = 1;
            st__job_stop_tasks (s, job);
            if (job->cancel_requested)
                st__job_set_reason (s, job, "cancel requested: stopping all ranks");
            else if (job->preempt_requested && !failed && !lost) {
                char r[600];
                snprintf (r, sizeof r, "%.500s: stopping all ranks (SIGTERM, then SIGKILL after the grace period)",
                          job->failure);
                st__job_set_reason (s, job, r);
            }
            else {
                char r[600];
                snprintf (r, sizeof r, "%.500s: stopping the other ranks", job->failure);
                st__job_set_reason (s, job, r);
            }
        }
        if (!job->stopping && running == job->ntasks && job->state == ST_JOB_STARTING)
            st__job_set_state (s, job, ST_JOB_RUNNING, "running on %s%s", job->tasks[0].node_name,
                               job->ntasks > 1 ? " and other nodes" : "");
        return;
    }

    /*  Every task of this attempt has stopped.  */
    st__place_attempt_ended (s, job);
    if (job->cancel_requested) {
        st__job_set_state (s, job, ST_JOB_CANCELLED, "cancelled by request");
        return;
    }
    char progress[160];
    st__runtime_progress_text (job, progress, sizeof progress);
    if (ok == need && !lost) {
        job->exit_code = 0;
        job->has_exit = 1;
        if (job->state == ST_JOB_SCHEDULED)
            st__job_set_state (s, job, ST_JOB_STARTING, "launched");
        if (job->state == ST_JOB_STARTING)
            st__job_set_state (s, job, ST_JOB_RUNNING, "running");
        if (mpirun)
            st__job_set_state (s, job, ST_JOB_SUCCEEDED, "mpirun exited with code 0 (%u ranks)%s%s", job->ntasks,
                               progress[0] ? "; last progress: " : "", progress);
        else
            st__job_set_state (s, job, ST_JOB_SUCCEEDED, "all %u %s exited with code 0%s%s", job->ntasks,
                               job->spec->gang ? "rank(s)" : "shard(s)", progress[0] ? "; last progress: " : "",
                               progress);
        return;
    }
    if (first_failed) {
        job->exit_code = first_failed->has_exit ? first_failed->exit_code : -1;
        job->has_exit = 1;
    }
    const char *why = job->failure[0] ? job->failure : "the attempt ended";
    /*  A workload that exits ST_EXIT_PREEMPTED has checkpointed because it was
     *  told to stop (SIGTERM from its node, an operator): it resumes later.  */
    int self_preempted = checkpointed && !lost && !job->cancel_requested && job->preemptions < ST__PREEMPTIONS_MAX;
    if (job->preempt_requested || self_preempted) {
        /*  However its ranks ended (a checkpoint and exit, or the signal), a
         *  preempted attempt goes back to the queue and does not use a retry.  */
        job->preemptions++;
        if (!job->preempt_requested) {
            char r[600];
            snprintf (r, sizeof r, "%.500s (checkpointed and stopped)", why);
            st__job_set_state (s, job, ST_JOB_PREEMPTED, "%s", r);
            s_requeue (s, job, r);
            return;
        }
        st__job_set_state (s, job, ST_JOB_PREEMPTED, "%s", why);
        s_requeue (s, job, why);
        return;
    }
    if (lost && !failed) {
        st__job_set_state (s, job, ST_JOB_LOST, "%s", why);
        if (s_attempts_used (job) < job->max_attempts)
            s_requeue (s, job, why);
        else
            st__job_set_state (s, job, ST_JOB_FAILED, "%s; no attempts left (%u of %u used)", why,
                               s_attempts_used (job), job->max_attempts);
        return;
    }
    if (s_attempts_used (job) < job->max_attempts)
        s_requeue (s, job, why);
    else
        st__job_set_state (s, job, ST_JOB_FAILED, "%s", why);
}

void
st__pending_add (st__model_t *s, st__job_t *job)
{
    if (job->in_pending)
        return;
    job->in_pending = 1;
    job->pending_idx = s->npending;
    sp_job_t *pj = &job->pj;
    st_vec_push ((void **) &s->pending, &s->npending, &s->cap_pending, sizeof pj, ST__SCHED_ARRAY_MAX, &pj);
    s->sched_needed = 1;
}

void
st__pending_remove (st__model_t *s, st__job_t *job)
{
    if (!job->in_pending)
        return;
    /*  Order does not matter (the engine orders): move the last one into the hole.  */
    size_t i = job->pending_idx;
    sp_job_t *last = s->pending[--s->npending];
    s->pending[i] = last;
    ((st__job_t *) last->owner)->pending_idx = i;
    job->in_pending = 0;
}

st__task_t *
st__model_find_task (st__model_t *s, uint64_t job_id, uint32_t index)
{
    st__job_t *job = st_map_get_u64 (s->jobs, job_id);
    if (!job || index >= job->ntasks)
        return NULL;
    return &job->tasks[index];
}

st_rc_t
st__task_set_state (st__model_t *s, st__task_t *t, st_task_state_t to)
{
    st_task_state_t from = t->state;
    if (from == to)
        return ST_OK;
    if ((unsigned) to >= ST_TASK__COUNT || !(s_task_allowed[from] & (1u << to))) {
        st_error ("refused illegal transition of job %" PRIu64 " rank %u: %s -> %s", t->job->id, t->index,
                  st_task_state_name (from), st_task_state_name (to));
        assert (!"illegal task transition");
        return ST_ESTATE;
    }
    (void) s;
    t->state = to; /*  the callers mark it dirty (st__mark_task) when the row must follow  */
    return ST_OK;
}

int
st__model_init (st__model_t *s)
{
    memset (s, 0, sizeof *s);
    s->next_job_id = 1;
    s->jobs = st_map_new ();
    s->nodes = st_map_new ();
    s->launches = st_map_new ();
    return s->jobs && s->nodes && s->launches ? 0 : -1;
}

void
st__model_clock (st__model_t *s, uint64_t now_wall, uint64_t now_mono)
{
    s->now_wall = now_wall;
    s->now_mono = now_mono;
}

void
st__intent_push (st__model_t *s, const st__intent_t *in)
{
    if (st_vec_push ((void **) &s->intents, &s->nintents, &s->cap_intents, sizeof *in, ST__SCHED_ARRAY_MAX, in) != 0)
        abort ();
}

void
st__intents_clear (st__model_t *s)
{
    for (size_t i = 0; i < s->nintents; i++) {
        free (s->intents[i].node);
        free (s->intents[i].data);
    }
    s->nintents = 0;
}

int
st__checkpoint_names_ok (const char *tenant, const char *model)
{
    if (!tenant || !model || !*tenant || strcmp (tenant, ".") == 0 || strcmp (tenant, "..") == 0
        || strchr (tenant, '/'))
        return 0;
    /*  Every '/'-separated segment of the model's name is a folder: none may
     *  be empty, "." or "..", so the path stays under <tenant>/models/.  */
    for (const char *p = model;;) {
        const char *end = strchr (p, '/');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (!end)
            return 1;
        p = end + 1;
    }
}

const char *
st__job_checkpoint_dir (const st__model_t *s, const st__job_t *job, char *buf, size_t size)
{
    const st_spec_t *sp = job->spec;
    int pool = job->pool ? sp_cluster_pool (s->cluster, job->pool) : -1;
    const char *root = pool >= 0 ? s->cluster->pools[pool].storage_root : NULL;
    size_t rlen = root ? strlen (root) : 0;
    while (rlen > 1 && root[rlen - 1] == '/')
        rlen--;
    if (sp->output_model && sp->kind == ST_KIND_FINETUNE) {
        /*  What becomes a model version is written where the scheduler says,
         *  never where the spec says (a spec's checkpoint_dir is refused with
         *  output_model at submission, and ignored here for a job stored before
         *  that): by tenant and model, one folder per job, since the version
         *  number is known only when the job succeeds.  */
        if (root && root[0] == '/' && st__checkpoint_names_ok (sp->tenant, sp->output_model)
            && snprintf (buf, size, "%.*s/%s/models/%s/job-%" PRIu64, (int) rlen, root, sp->tenant, sp->output_model,
                         job->id)
                   < (int) size)
            return buf;
        return NULL;
    }
    if (sp->checkpoint_dir)
        return sp->checkpoint_dir;
    /*  Without a checkpoint_dir, one per job under the pool's local storage root.  */
    if (root && root[0] == '/'
        && snprintf (buf, size, "%.*s/checkpoints/job-%" PRIu64, (int) rlen, root, job->id) < (int) size)
        return buf;
    return NULL;
}

unsigned
st__job_master_port (uint64_t job_id, uint32_t attempt)
{
    /*  In 29500..39499 (above torchrun's default), different for each attempt.  */
    return 29500u + (unsigned) ((job_id * 7919u + attempt * 104729u) % 10000u);
}

void
st__model_clear_events (st__model_t *s)
{
    for (size_t i = 0; i < s->nevents; i++) {
        free (s->events[i].node);
        free (s->events[i].message);
    }
    s->nevents = 0;
}

void
st__model_forget_finished (st__model_t *s)
{
    size_t keep = 0;
    for (size_t i = 0; i < s->nfinished; i++) {
        st__job_t *job = s->finished[i];
        if (job->dirty) {
            s->finished[keep++] = job;
            continue;
        }
        st__pending_remove (s, job);
        for (uint32_t r = 0; r < job->ntasks; r++)
            st__task_release (s, &job->tasks[r]);
        st_map_remove_u64 (s->jobs, job->id);
        st__job_free (job);
    }
    s->nfinished = keep;
}

static void
s_destroy_node (void *value, void *arg)
{
    (void) arg;
    st__node_free (value);
}

static void
s_destroy_job (void *value, void *arg)
{
    (void) arg;
    st__job_free (value);
}

void
st__model_release (st__model_t *s)
{
    if (s->nodes)
        st_map_foreach (s->nodes, s_destroy_node, NULL);
    if (s->jobs)
        st_map_foreach (s->jobs, s_destroy_job, NULL);
    st_map_destroy (&s->nodes);
    st_map_destroy (&s->jobs);
    st_map_destroy (&s->launches);
    st__model_clear_events (s);
    st__intents_clear (s);
    st__runtime_free (s);
    free (s->intents);
    free (s->events);
    free (s->pending);
    free (s->dirty_jobs);
    free (s->dirty_tasks);
    free (s->dirty_nodes);
    free (s->to_launch);
    free (s->finished);
    free (s->running);
    free (s->pnodes);
    st__deps_free (s); /*  the dependents' index and the fine-tuned model versions  */
    st__tenant_pending_free (s);
    sp_result_clear (&s->presult);
    sp_engine_free (&s->engine);
    sp_cluster_free (&s->cluster);
}
