/*  runtime.c: the model side of what the ranks of a running job ask of the
 *  scheduler, through their workers (st_agent.h on the task's side,
 *  worker/agent.c in between, net/agent.c decoding and answering here).
 *
 *      RendezvousPut   key = value for the other ranks of this attempt
 *      RendezvousGet   the value, at once or when it is put; an error after
 *                      the request's timeout
 *      RemoteExec      mpirun's strata-rsh on one node asks for Open MPI's
 *                      daemon on another: sent as Exec to that node's held
 *                      rank; RemoteExited tells rank 0's worker when that
 *                      process ends (matched there by job, attempt and node,
 *                      so a scheduler restart in between loses nothing)
 *      Progress        step, loss and rate, kept on the job for `strata show`
 *
 *  Every request names a task; the worker has checked it is that task's
 *  (its token), and here the task must be live on the node that relays it, in
 *  the job's current attempt. Values are scoped to one attempt: a requeued
 *  job starts with none, so a retry never reads the NCCL id of the attempt
 *  before. They live in memory only: after a scheduler restart the ranks of a
 *  running attempt have already met, and a rank that had not times out and the
 *  attempt is retried.
 *
 *  Answers that cannot be given at once (a wait satisfied by a later put, a
 *  timeout, RemoteExited) are queued as intents for net/. */
#include "model.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_log.h"
#include "st_utf8.h"

#define S_KEYS_MAX 64
#define S_VALUE_MAX 4096u
#define S_KEY_MAX 128u
#define S_WAITS_MAX 4096u
#define S_TIMEOUT_MAX_MS (3600u * 1000u)

static char *
s_strdup (const char *str)
{
    char *d = strdup (str ? str : "");
    if (!d)
        abort ();
    return d;
}

/*  Queues an answer to the relayed request fwd_seq of node: the value (len
 *  bytes of val), or, when err is not NULL, that error.  */
static void
s_answer (st__model_t *s, const char *node, uint64_t fwd_seq, const uint8_t *val, size_t len, const char *err)
{
    st__intent_t in = { .kind = err ? ST__INTENT_AGENT_ERROR : ST__INTENT_AGENT_VALUE, .fwd_seq = fwd_seq };
    in.node = s_strdup (node);
    if (err) {
        in.data = (uint8_t *) s_strdup (err);
        in.len = strlen (err);
    }
    else {
        in.data = malloc (len ? len : 1);
        if (!in.data)
            abort ();
        if (len)
            memcpy (in.data, val, len);
        in.len = len;
    }
    st__intent_push (s, &in);
}

st__task_t *
st__runtime_task (st__model_t *s, const st__node_t *node, uint64_t job_id, uint32_t index, uint32_t attempt)
{
    st__task_t *t = st__model_find_task (s, job_id, index);
    if (!t || t->attempt != attempt || t->node != node || !st__task_live (t) || t->job->attempt != attempt)
        return NULL;
    return t;
}

/*  The job's values for its current attempt (reset when the attempt changed).  */
static st__rdzv_t *
s_rdzv (st__job_t *job)
{
    if (!job->rdzv && !(job->rdzv = calloc (1, sizeof *job->rdzv)))
        return NULL;
    st__rdzv_t *r = job->rdzv;
    if (r->attempt != job->attempt) {
        for (size_t i = 0; i < r->n; i++) {
            free (r->keys[i]);
            free (r->vals[i]);
        }
        r->n = 0;
        r->attempt = job->attempt;
    }
    return r;
}

static int
s_find_key (const st__rdzv_t *r, const char *key)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp (r->keys[i], key) == 0)
            return (int) i;
    return -1;
}

static void
s_wait_free (st__rdzv_wait_t *w)
{
    free (w->key);
    free (w->node);
}

static void
s_wait_remove (st__model_t *s, size_t i)
{
    s_wait_free (&s->rdzv_waits[i]);
    s->rdzv_waits[i] = s->rdzv_waits[--s->nrdzv_waits];
}

int
st__rdzv_put (st__model_t *s, st__task_t *t, const char *key, const uint8_t *data, size_t len, char *why, size_t size)
{
    if (!key || !*key || strlen (key) > S_KEY_MAX || len > S_VALUE_MAX) {
        snprintf (why, size, "a key is 1 to %u bytes and a value at most %u bytes", S_KEY_MAX, S_VALUE_MAX);
        return -1;
    }
    st__job_t *job = t->job;
    st__rdzv_t *r = s_rdzv (job);
    if (!r) {
        snprintf (why, size, "out of memory");
        return -1;
    }
    int i = s_find_key (r, key);
    if (i < 0 && r->n >= S_KEYS_MAX) {
        snprintf (why, size, "job %" PRIu64 " already has %d rendezvous keys in this attempt", job->id, S_KEYS_MAX);
        return -1;
    }
    uint8_t *val = malloc (len ? len : 1);
    char *k = i < 0 ? strdup (key) : NULL;
    if (!val || (i < 0 && !k)) {
        free (val);
        free (k);
        snprintf (why, size, "out of memory");
        return -1;
    }
    if (len)
        memcpy (val, data, len);
    if (i < 0) {
        i = (int) r->n++;
        r->keys[i] = k;
    }
    else
        free (r->vals[i]);
    r->vals[i] = val;
    r->lens[i] = len;
    st_debug ("job %" PRIu64 " attempt %u: rank %u published '%s' (%zu bytes)", job->id, job->attempt, t->index, key,
              len);

    /*  Ranks already waiting for it: answered after the put's own reply.  */
    for (size_t w = 0; w < s->nrdzv_waits;) {
        st__rdzv_wait_t *wt = &s->rdzv_waits[w];
        if (wt->job_id == job->id && wt->attempt == job->attempt && strcmp (wt->key, key) == 0) {
            s_answer (s, wt->node, wt->fwd_seq, val, len, NULL);
            s_wait_remove (s, w);
        }
        else
            w++;
    }
    return 0;
}

int
st__rdzv_get (st__model_t *s, st__task_t *t, const st__node_t *node, uint64_t fwd_seq, const char *key,
              uint32_t timeout_ms, const uint8_t **val, size_t *len, char *why, size_t size)
{
    if (!key || !*key || strlen (key) > S_KEY_MAX) {
        snprintf (why, size, "a key is 1 to %u bytes", S_KEY_MAX);
        return -1;
    }
    st__rdzv_t *r = s_rdzv (t->job);
    int i = r ? s_find_key (r, key) : -1;
    if (i >= 0) {
        *val = r->vals[i];
        *len = r->lens[i];
        return 1;
    }
    if (s->nrdzv_waits >= S_WAITS_MAX) {
        snprintf (why, size, "the scheduler has %u rendezvous waits already; try again", S_WAITS_MAX);
        return -1;
    }
    uint32_t timeout = timeout_ms < S_TIMEOUT_MAX_MS ? timeout_ms : S_TIMEOUT_MAX_MS;
    st__rdzv_wait_t w = {
        .job_id = t->job->id,
        .attempt = t->job->attempt,
        .key = strdup (key),
        .node = strdup (node->name),
        .fwd_seq = fwd_seq,
        .deadline_mono = s->now_mono + timeout,
        .timeout_ms = timeout,
    };
    if (!w.key || !w.node
        || st_vec_push ((void **) &s->rdzv_waits, &s->nrdzv_waits, &s->cap_rdzv_waits, sizeof w, ST__SCHED_ARRAY_MAX,
                        &w)) {
        s_wait_free (&w);
        snprintf (why, size, "out of memory");
        return -1;
    }
    return 0;
}

void
st__runtime_tick (st__model_t *s, uint64_t now)
{
    char msg[512];
    for (size_t k = 0; k < s->nrdzv_waits;) {
        st__rdzv_wait_t *w = &s->rdzv_waits[k];
        st__job_t *job = st_map_get_u64 (s->jobs, w->job_id);
        if (!job || job->attempt != w->attempt || st_job_state_terminal (job->state))
            st_utf8_fmt (msg, sizeof msg, "rendezvous: attempt %u of job %" PRIu64 " ended while waiting for '%s'",
                         w->attempt, w->job_id, w->key);
        else if (now >= w->deadline_mono)
            st_utf8_fmt (msg, sizeof msg,
                         "rendezvous: timed out after %.1f s waiting for '%s' (job %" PRIu64 " attempt %u): the rank "
                         "that publishes it has not; see its log (strata logs %" PRIu64 " --rank 0)",
                         w->timeout_ms / 1000.0, w->key, w->job_id, w->attempt, w->job_id);
        else {
            k++;
            continue;
        }
        s_answer (s, w->node, w->fwd_seq, NULL, 0, msg);
        s_wait_remove (s, k);
    }
}

int
st__runtime_exec_target (st__model_t *s, st__task_t *from, const char *node_name, st__task_t **target_out, char *why,
                         size_t size)
{
    (void) s;
    st__job_t *job = from->job;
    if (job->spec->launcher != ST_LAUNCHER_MPIRUN) {
        snprintf (why, size, "job %" PRIu64 " is not launched by mpirun", job->id);
        return -1;
    }
    /*  The lowest held rank of this attempt on that node with no process yet.
     *  One that has a process already means this is the same request again
     *  (its worker re-sends it after a reconnect): nothing to start, and
     *  RemoteExited answers it when that process ends.  */
    st__task_t *target = NULL, *running = NULL;
    for (uint32_t i = 1; i < job->ntasks && !target; i++) {
        st__task_t *t = &job->tasks[i];
        if (!st__task_live (t) || !t->node || strcmp (t->node->name, node_name) != 0)
            continue;
        if (!t->exec_sent && !t->pid)
            target = t;
        else if (!running)
            running = t;
    }
    if (!target && running) {
        st_debug ("job %" PRIu64 " attempt %u: remote start on %s asked again; rank %u runs it already", job->id,
                  job->attempt, node_name, running->index);
        return 0;
    }
    if (!target) {
        snprintf (why, size, "node %s holds no rank of job %" PRIu64 " attempt %u waiting for a process", node_name,
                  job->id, job->attempt);
        return -1;
    }
    if (!target->node->connected) {
        snprintf (why, size, "node %s is not connected", node_name);
        return -1;
    }
    *target_out = target;
    return 1;
}

void
st__runtime_task_ended (st__model_t *s, st__task_t *t)
{
    /*  A held rank of an mpirun-launched gang ended: rank 0's strata-rsh for
     *  that node may be waiting (also when it asked a scheduler before this one).  */
    st__job_t *job = t->job;
    if (job->spec->launcher != ST_LAUNCHER_MPIRUN || t->index == 0 || !t->node_name)
        return;
    const st__task_t *leader = &job->tasks[0];
    if (!st__task_live (leader) || !leader->node || !leader->node->connected)
        return;
    st__intent_t in = {
        .kind = ST__INTENT_REMOTE_EXITED, .job_id = job->id, .index = t->index, .attempt = t->attempt
    };
    in.node = s_strdup (t->node_name);
    if (t->has_exit || t->term_signal) {
        in.exit_code = t->exit_code;
        in.term_signal = t->term_signal;
    }
    else {
        char msg[200];
        snprintf (msg, sizeof msg, "rank %u on %s ended without an exit status (%s)", t->index, t->node_name,
                  st_task_state_name (t->state));
        in.data = (uint8_t *) s_strdup (msg);
        in.len = strlen (msg);
    }
    st__intent_push (s, &in);
}

void
st__runtime_progress (st__model_t *s, st__task_t *t, uint64_t step, uint64_t total, double loss, double rate,
                      const char *unit)
{
    (void) s;
    st__job_t *job = t->job;
    job->has_progress = 1;
    job->progress_step = step;
    job->progress_total = total;
    job->progress_loss = loss;
    job->progress_rate = rate;
    st_utf8_copy (job->progress_unit, sizeof job->progress_unit,
                  unit); /*  a task's words: valid, cut on a boundary  */
}

const char *
st__runtime_progress_text (const st__job_t *job, char *buf, size_t size)
{
    buf[0] = '\0';
    if (!job->has_progress)
        return buf;
    char total[32] = "";
    if (job->progress_total)
        snprintf (total, sizeof total, "/%" PRIu64, job->progress_total);
    char loss[40] = "";
    if (job->progress_loss != 0)
        snprintf (loss, sizeof loss, ", loss %.4f", job->progress_loss);
    snprintf (buf, size, "step %" PRIu64 "%s%s, %.1f %s", job->progress_step, total, loss, job->progress_rate,
              job->progress_unit[0] ? job->progress_unit : "items/s");
    return buf;
}

void
st__runtime_job_free (st__job_t *job)
{
    if (job->rdzv) {
        for (size_t i = 0; i < job->rdzv->n; i++) {
            free (job->rdzv->keys[i]);
            free (job->rdzv->vals[i]);
        }
        free (job->rdzv);
        job->rdzv = NULL;
    }
}

void
st__runtime_free (st__model_t *s)
{
    for (size_t i = 0; i < s->nrdzv_waits; i++)
        s_wait_free (&s->rdzv_waits[i]);
    free (s->rdzv_waits);
    s->rdzv_waits = NULL;
    s->nrdzv_waits = s->cap_rdzv_waits = 0;
}
