/*  dispatch.c: the scheduler's side of the worker protocol.
 *
 *  Workers register, heartbeat and report task updates; the scheduler launches,
 *  signals and asks for logs. Every state-changing message is acknowledged only
 *  after the change is committed (acks are deferred to the end of the batch), and
 *  workers resend until acknowledged, so updates are idempotent here: a task
 *  update is applied only to the attempt it names, on the node that runs it, and
 *  only moves a task forward. A worker that reports a task the scheduler no
 *  longer assigns to it is told to kill it.
 *
 *  Launch flow control. Each node has a cap on Launches outstanding (sent, not
 *  yet acknowledged): the worker advertises it in Register and updates it in
 *  Heartbeats and in the Ack of each Launch (ST__LAUNCH_CAP_DEFAULT when it
 *  says nothing, never more than ST__LAUNCH_CAP_MAX). Committed placements
 *  beyond the cap wait in the node's launch queue, FIFO in placement order, and
 *  go out as Acks free room (s_pump). The worker acknowledges a Launch when it
 *  accepts it and starts it at its own pace, so a slow worker lowers its cap
 *  and is fed no faster than it starts tasks, while other nodes keep running.
 *
 *      queued (SCHEDULED) --room--> sent (STARTING, outstanding) --Ack--> acked
 *                                     ^                |
 *                                     +--- resend -----+  worker silent
 *
 *  A Launch is resent only when its node has sent nothing at all (no Ack, no
 *  heartbeat, no update) for the launch timeout since it went out, and each
 *  further resend waits twice as long (up to S_RESEND_BACKOFF_MAX_MS): a worker
 *  that talks but is slow is never sent the same Launch twice. A resend never
 *  starts anything twice: the worker starts each (job, index, attempt) once.
 *  Launches lost with a connection are sent again when the worker registers
 *  (the reconciliation in s_on_register). */
#include "net.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_log.h"
#include "st_time.h"
#include "st_utf8.h"

#define ST_MAX_NODE_NAME 128
#define ST_MAX_NODE_CPUS_MILLI 100000000u /*  100,000 CPUs  */
#define ST_MAX_NODE_MEM_MB (1ull << 30)   /*  1 PiB  */
#define ST_MAX_NODE_GPUS 1024u

/*  The longest wait between resends of one Launch to a silent worker.  */
#define S_RESEND_BACKOFF_MAX_MS 60000u

/*  What a worker may say about itself. Labels: at most S_LABELS_MAX, keys of
 *  1-S_LABEL_KEY_MAX bytes, values of at most S_LABEL_VALUE_MAX (a job spec's
 *  placement.labels take the same sizes, common/st_spec.c). Task lists
 *  (Register.tasks, Heartbeat.running): every task holds at least a thousandth
 *  of a CPU, so a node runs at most cpus_milli tasks at once; twice that (plus
 *  S_TASKS_SLACK) leaves room for ended tasks not yet acknowledged, and no list
 *  is ever longer than S_TASKS_MAX. A longer list is a broken or hostile worker:
 *  reconciling it costs the loop O(list x node tasks).  */
#define S_LABELS_MAX 64u
#define S_LABEL_KEY_MAX 128u
#define S_LABEL_VALUE_MAX 256u
#define S_TASKS_SLACK 64u
#define S_TASKS_MAX 16384u

static int
s_peer_equal (const st_peer_t *a, const st_peer_t *b)
{
    return a->id_len == b->id_len && memcmp (a->id, b->id, a->id_len) == 0;
}

/*  The longest task list a node of cpus_milli may report (see S_TASKS_MAX).  */
static size_t
s_tasks_max (uint64_t cpus_milli)
{
    uint64_t n = 2 * cpus_milli + S_TASKS_SLACK;
    return n < S_TASKS_MAX ? (size_t) n : S_TASKS_MAX;
}

/*  Said at warn on the 1st, 2nd, 4th, 8th, ... time, at debug otherwise: a
 *  peer that repeats itself cannot fill the log.  */
static st_log_level_t
s_rate_level (uint64_t count)
{
    return (count & (count - 1)) == 0 ? ST_LOG_WARN : ST_LOG_DEBUG;
}

void
st__net_foreign_reply (st__net_t *s, uint64_t *kind_count, const char *what, const char *from, const char *to)
{
    uint64_t n = ++s->m->counters.foreign_replies;
    st_log (s_rate_level (++*kind_count),
            "dropped %s from %s: it answers what was sent to node %s (foreign_replies=%" PRIu64 ")", what, from, to,
            n);
}

/*  Why reg's labels are refused, or NULL.  */
static const char *
s_labels_invalid (const Strata__Register *reg)
{
    if (reg->n_labels > S_LABELS_MAX)
        return "too many labels: at most 64";
    for (size_t i = 0; i < reg->n_labels; i++) {
        const char *k = reg->labels[i]->key, *v = reg->labels[i]->value;
        if (!k || !*k || strlen (k) > S_LABEL_KEY_MAX)
            return "a label key must be 1-128 bytes";
        if (v && strlen (v) > S_LABEL_VALUE_MAX)
            return "a label value must be at most 256 bytes";
    }
    return NULL;
}

static int
s_valid_name (const char *name)
{
    size_t n = strlen (name);
    if (n == 0 || n > ST_MAX_NODE_NAME)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'
              || c == '.'))
            return 0;
    }
    return 1;
}

void
st__dispatch_send_ack (st__net_t *s, const st_peer_t *peer, uint64_t ack_seq, Strata__AckStatus status)
{
    Strata__Envelope env;
    Strata__Ack ack = STRATA__ACK__INIT;
    st_wire_envelope_init (&env, st__net_next_seq (s));
    ack.ack_seq = ack_seq;
    ack.status = status;
    env.body_case = STRATA__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    st__net_defer (s, s->worker_sock, peer, &env);
}

static void
s_send_now (st__net_t *s, const st__node_t *node, Strata__Envelope *env)
{
    st_rc_t rc = st_wire_send (s->worker_sock, st__net_peer_of (node), env);
    if (rc != ST_OK)
        st_debug ("could not send %s to node %s: %s", st_wire_body_name (env), node->name, st_strerror (rc));
}

/*  Tells a worker to kill a task it should not be running (sent after the batch commits).  */
static void
s_kill_stale (st__net_t *s, const st__node_t *node, const Strata__TaskRef *ref)
{
    Strata__Envelope env;
    Strata__Signal sig = STRATA__SIGNAL__INIT;
    Strata__TaskRef tr = *ref;
    st_wire_envelope_init (&env, st__net_next_seq (s));
    sig.task = &tr;
    sig.kind = STRATA__SIGNAL_KIND__SIGNAL_KILL;
    env.body_case = STRATA__ENVELOPE__BODY_SIGNAL;
    env.signal = &sig;
    st_warn ("node %s runs job %" PRIu64 " rank %u attempt %u, which is no longer assigned to it: killing it",
             node->name, ref->job_id, ref->index, ref->attempt);
    st__net_defer (s, s->worker_sock, st__net_peer_of (node), &env);
}

/*  The task that ref names, if node runs it now for the scheduler; NULL for anything stale.  */
static st__task_t *
s_current_task (st__net_t *s, const st__node_t *node, const Strata__TaskRef *ref)
{
    st__task_t *t = st__model_find_task (s->m, ref->job_id, ref->index);
    if (!t || t->attempt != ref->attempt || t->node != node)
        return NULL;
    return t;
}

int
st__dispatch_signal (st__net_t *s, st__task_t *t, Strata__SignalKind kind)
{
    if (!t->node || !t->node->connected)
        return 0; /*  sent when the worker registers again (s_on_register)  */
    Strata__Envelope env;
    Strata__Signal sig = STRATA__SIGNAL__INIT;
    Strata__TaskRef tr = STRATA__TASK_REF__INIT;
    st_wire_envelope_init (&env, st__net_next_seq (s));
    tr.job_id = t->job->id;
    tr.index = t->index;
    tr.attempt = t->attempt;
    sig.task = &tr;
    sig.kind = kind;
    sig.grace_ms = (uint32_t) s->cfg.kill_grace_ms;
    env.body_case = STRATA__ENVELOPE__BODY_SIGNAL;
    env.signal = &sig;
    /*  Signals go out after the batch that decided them is committed.  */
    st__net_defer (s, s->worker_sock, st__net_peer_of (t->node), &env);
    return 1;
}

#define S_HOST_MAX 160 /*  "name:slots": names are at most 128 characters  */

/*  "node:slots" for each node of job's ranks, rank 0's node first, then in
 *  rank order. The strings live in *buf; free both.  */
static char **
s_mpi_hosts (const st__job_t *job, size_t *n, char **buf)
{
    char **hosts = calloc (job->ntasks, sizeof *hosts);
    *buf = calloc (job->ntasks, S_HOST_MAX);
    if (!hosts || !*buf) {
        free (hosts);
        free (*buf);
        return NULL;
    }
    *n = 0;
    for (uint32_t i = 0; i < job->ntasks; i++) {
        const st__node_t *node = job->tasks[i].node;
        int seen = 0;
        for (uint32_t k = 0; k < i && !seen; k++)
            seen = job->tasks[k].node == node;
        if (seen || !node)
            continue;
        uint32_t slots = 0;
        for (uint32_t k = 0; k < job->ntasks; k++)
            slots += job->tasks[k].node == node;
        char *h = *buf + *n * (S_HOST_MAX);
        snprintf (h, S_HOST_MAX, "%s:%u", node->name, slots);
        hosts[(*n)++] = h;
    }
    return hosts;
}

/*  Forgets t's outstanding Launch (acknowledged, or lost with a connection):
 *  its room on the node is free again.  */
static void
s_launch_untrack (st__net_t *s, st__task_t *t)
{
    if (!t->launch_seq)
        return;
    st_map_remove_u64 (s->m->launches, t->launch_seq);
    t->launch_seq = 0;
    if (t->node && t->node->launches_out)
        t->node->launches_out--;
}

static uint32_t
s_launch_cap (const st__node_t *node)
{
    return node->launch_cap_known ? node->launch_cap : ST__LAUNCH_CAP_DEFAULT;
}

/*  A cap the worker advertised, bounded.  */
static void
s_set_launch_cap (st__node_t *node, uint32_t cap)
{
    node->launch_cap = cap < ST__LAUNCH_CAP_MAX ? cap : ST__LAUNCH_CAP_MAX;
    node->launch_cap_known = 1;
}

/*  Isolation and refusal texts come from the worker: kept to
 *  ST__NODE_STATUS_MAX bytes, "" and NULL alike.  */
static void
s_set_status_text (char **field, const char *text)
{
    char buf[ST__NODE_STATUS_MAX];
    st_utf8_copy (buf, sizeof buf, text); /*  the worker's words: cut on a boundary, bad bytes replaced  */
    if (*field && strcmp (*field, buf) == 0)
        return;
    free (*field);
    *field = buf[0] ? strdup (buf) : NULL;
}

/*  A node that starts or stops refusing new tasks: said once in the log and
 *  the events, and the next cycle sees it (place.c makes it unschedulable).  */
static void
s_set_refusing (st__net_t *s, st__node_t *node, const char *why)
{
    int was = node->refusing != NULL;
    s_set_status_text (&node->refusing, why);
    if (node->refusing && !was) {
        st_warn ("node %s refuses new tasks: %s", node->name, node->refusing);
        st__add_event (s->m, 0, -1, 0, "node", NULL, "REFUSING", node->name, "node %s refuses new tasks: %s",
                       node->name, node->refusing);
    }
    else if (!node->refusing && was) {
        st_info ("node %s takes tasks again", node->name);
        st__add_event (s->m, 0, -1, 0, "node", NULL, "UP", node->name, "node %s takes tasks again", node->name);
    }
    if (was != (node->refusing != NULL))
        s->m->sched_needed = 1;
}

static void
s_send_launch (st__net_t *s, st__task_t *t)
{
    st__job_t *job = t->job;
    const st_spec_t *sp = job->spec;
    Strata__Envelope env;
    Strata__Launch l = STRATA__LAUNCH__INIT;
    Strata__TaskRef tr = STRATA__TASK_REF__INIT;
    Strata__Resources res = STRATA__RESOURCES__INIT;
    /*  A resend keeps the seq: an Ack of any copy acknowledges the Launch.  */
    st_wire_envelope_init (&env, t->launch_seq ? t->launch_seq : st__net_next_seq (s));
    tr.job_id = job->id;
    tr.index = t->index;
    tr.attempt = t->attempt;
    l.task = &tr;
    l.n_argv = sp->argc;
    l.argv = sp->argv;
    /*  The spec's environment plus the variables every rank gets; a NULL value
     *  (no checkpoint directory, no model, ...) leaves the variable out.  */
    char vals[6][32], ckpt[4200];
    snprintf (vals[0], sizeof vals[0], "%" PRIu64, job->id);
    snprintf (vals[1], sizeof vals[1], "%u", t->index);
    snprintf (vals[2], sizeof vals[2], "%u", job->ntasks);
    snprintf (vals[3], sizeof vals[3], "%u", t->attempt);
    const char *checkpoint = st__job_checkpoint_dir (s->m, job, ckpt, sizeof ckpt);
    const sp_variant_t *variant = NULL;
    int pool = job->pool ? sp_cluster_pool (s->m->cluster, job->pool) : -1;
    if (pool >= 0 && job->variant)
        variant = sp_cluster_variant (s->m->cluster, job->variant, s->m->cluster->pools[pool].jurisdiction);
    /*  The rank's place among the job's ranks on its node, and where rank 0 is
     *  (torchrun's MASTER_ADDR / MASTER_PORT; the port is fresh per attempt).  */
    uint32_t local_rank = 0, local_world = 0;
    for (uint32_t i = 0; i < job->ntasks; i++)
        if (job->tasks[i].node == t->node) {
            if (i < t->index)
                local_rank++;
            local_world++;
        }
    const st__node_t *n0 = job->tasks[0].node;
    const char *master = n0 ? (n0->hostname && n0->hostname[0] ? n0->hostname : n0->name) : NULL;
    char local[2][16], port[16];
    snprintf (local[0], sizeof local[0], "%u", local_rank);
    snprintf (local[1], sizeof local[1], "%u", local_world);
    snprintf (port, sizeof port, "%u", st__job_master_port (job->id, t->attempt));
    const char *extra_k[] = { ST_ENV_JOB_ID,      ST_ENV_RANK,      ST_ENV_WORLD_SIZE,
                              ST_ENV_ATTEMPT,     "RANK",           "WORLD_SIZE",
                              ST_ENV_JOB_NAME,    ST_ENV_POOL,      ST_ENV_CHECKPOINT_DIR,
                              ST_ENV_MODEL,       ST_ENV_MODEL_URI, ST_ENV_DATA_URI,
                              ST_ENV_LOCAL_RANK,  "LOCAL_RANK",     ST_ENV_LOCAL_WORLD_SIZE,
                              "LOCAL_WORLD_SIZE", "MASTER_ADDR",    "MASTER_PORT" };
    const char *extra_v[] = { vals[0], vals[1], vals[2], vals[3], vals[1], vals[2], sp->name, job->pool, checkpoint,
                              /*  a fine-tuned model version (registry.c) is the model the task uses  */
                              job->model_ref ? job->model_ref : job->variant,
                              job->model_ref ? job->model_uri
                              : variant      ? variant->uri
                                             : NULL,
                              sp->data_uri, local[0], local[0], local[1], local[1], master, master ? port : NULL };
    size_t nextra = sizeof extra_k / sizeof *extra_k;
    Strata__Launch__EnvEntry *entries = calloc (sp->env.n + nextra, sizeof *entries);
    Strata__Launch__EnvEntry **eptrs = calloc (sp->env.n + nextra, sizeof *eptrs);
    if (!entries || !eptrs)
        abort ();
    size_t ne = 0;
    for (size_t i = 0; i < sp->env.n; i++, ne++) {
        strata__launch__env_entry__init (&entries[ne]);
        entries[ne].key = sp->env.keys[i];
        entries[ne].value = sp->env.vals[i];
        eptrs[ne] = &entries[ne];
    }
    for (size_t i = 0; i < nextra; i++) {
        if (!extra_v[i])
            continue;
        strata__launch__env_entry__init (&entries[ne]);
        entries[ne].key = (char *) extra_k[i];
        entries[ne].value = (char *) extra_v[i];
        eptrs[ne] = &entries[ne];
        ne++;
    }
    l.n_env = ne;
    l.env = eptrs;
    l.workdir = sp->workdir ? sp->workdir : "";
    res.cpus_milli = sp->cpus_milli;
    res.mem_mb = sp->mem_mb;
    res.gpus = sp->gpus;
    l.resources = &res;
    l.time_limit_s = sp->time_limit_s;
    l.kill_grace_ms = (uint32_t) s->cfg.kill_grace_ms;
    l.world_size = job->ntasks;
    l.tenant = sp->tenant ? sp->tenant : (char *) "";
    l.simulated_ms = sp->simulate_ms;
    /*  mpirun-launched gang: rank 0 runs mpirun over the ranks' nodes (its own
     *  first, in rank order), the others are held for Open MPI's daemons.  */
    char **hosts = NULL, *hosts_buf = NULL;
    if (sp->launcher == ST_LAUNCHER_MPIRUN) {
        l.mode = t->index == 0 ? STRATA__LAUNCH_MODE__LAUNCH_MPIRUN : STRATA__LAUNCH_MODE__LAUNCH_HOLD;
        if (t->index == 0 && !(hosts = s_mpi_hosts (job, &l.n_mpi_hosts, &hosts_buf)))
            abort ();
        l.mpi_hosts = hosts;
    }
    env.body_case = STRATA__ENVELOPE__BODY_LAUNCH;
    env.launch = &l;

    if (!t->launch_seq) {
        t->node->launches_out++; /*  a resend takes the same room  */
        st_map_put_u64 (s->m->launches, env.seq, t);
    }
    t->launch_seq = env.seq;
    t->launch_sent_mono = st_mono_ms ();
    t->launch_acked = 0;
    s_send_now (s, t->node, &env);
    free (entries);
    free (eptrs);
    free (hosts);
    free (hosts_buf);
}

/*  Sends the Launch of a queued task, or ends it when its job is being stopped.  */
static void
s_launch (st__net_t *s, st__task_t *t)
{
    if (t->job->cancel_requested || t->job->stopping) {
        /*  Its job is being stopped: never start it.  */
        st__task_end (s->m, t, t->job->cancel_requested ? ST_TASK_CANCELLED : ST_TASK_FAILED);
        st__job_evaluate (s->m, t->job);
        return;
    }
    t->launch_resends = 0;
    s_send_launch (s, t);
    st__task_set_state (s->m, t, ST_TASK_STARTING);
    st__mark_task (s->m, t);
    st_debug ("launched job %" PRIu64 " rank %u attempt %u on %s", t->job->id, t->index, t->attempt, t->node->name);
    if (t->job->state == ST_JOB_SCHEDULED)
        st__job_set_state (s->m, t->job, ST_JOB_STARTING, "launching on %s", t->node->name);
}

/*  Sends queued Launches to node while it has room, in queue order. An entry
 *  whose task moved on (ended, another attempt) is dropped without using room.  */
static void
s_pump (st__net_t *s, st__node_t *node)
{
    while (node->launch_q_head < node->launch_q_n && node->connected && node->state == ST__NODE_UP
           && node->launches_out < s_launch_cap (node)) {
        st__launch_ref_t ref = node->launch_q[node->launch_q_head++];
        st__task_t *t = st__model_find_task (s->m, ref.job_id, ref.index);
        if (!t || t->attempt != ref.attempt || t->node != node)
            continue;
        if (t->queued_attempt == ref.attempt)
            t->queued_attempt = 0;
        if (t->state == ST_TASK_SCHEDULED)
            s_launch (s, t);
    }
    if (node->launch_q_head == node->launch_q_n)
        node->launch_q_head = node->launch_q_n = 0;
    else if (node->launch_q_head > 1024 && node->launch_q_head * 2 > node->launch_q_n) {
        /*  Keep the ring's live part at the front: the array never outgrows twice the queue.  */
        memmove (node->launch_q, node->launch_q + node->launch_q_head,
                 (node->launch_q_n - node->launch_q_head) * sizeof *node->launch_q);
        node->launch_q_n -= node->launch_q_head;
        node->launch_q_head = 0;
    }
}

/*  Drops node's queue (lost: its tasks ended with it).  */
static void
s_queue_clear (st__node_t *node)
{
    node->launch_q_head = node->launch_q_n = 0;
}

void
st__dispatch_send_launches (st__net_t *s)
{
    for (size_t i = 0; i < s->m->nto_launch; i++) {
        st__task_t *t = s->m->to_launch[i];
        if (t->state != ST_TASK_SCHEDULED || !t->node)
            continue; /*  changed since it was placed (node lost)  */
        st__node_t *node = t->node;
        if (t->queued_attempt != t->attempt) {
            st__launch_ref_t ref = { .job_id = t->job->id, .index = t->index, .attempt = t->attempt };
            if (st_vec_push ((void **) &node->launch_q, &node->launch_q_n, &node->launch_q_cap, sizeof ref,
                             ST__SCHED_ARRAY_MAX, &ref)
                != ST_OK)
                abort (); /*  like the model's other queues  */
            t->queued_attempt = t->attempt;
        }
        s_pump (s, node);
    }
    s->m->nto_launch = 0;
}

/*  -- task reports ---------------------------------------------------------  */

/*  The message is the worker's: any bytes at all, as protobuf-c checks no
 *  string field. st_utf8_fmt cuts on a character boundary and replaces bad
 *  bytes, so the reason is valid UTF-8 for JSON, PostgreSQL and clients.  */
static void
s_describe_end (const Strata__TaskStatus *st, char *buf, size_t size)
{
    if (st->state == STRATA__TASK_STATE__TASK_START_FAILED)
        st_utf8_fmt (buf, size, "could not start: %s", st->message && *st->message ? st->message : "unknown error");
    else if (st->oom_killed && st->message && *st->message)
        st_utf8_fmt (buf, size, "%s", st->message); /*  "killed: out of memory (limit 256 MiB)"  */
    else if (st->timed_out)
        snprintf (buf, size, "exceeded its time limit");
    else if (st->term_signal)
        snprintf (buf, size, "was killed by signal %d", st->term_signal);
    else
        snprintf (buf, size, "exited with code %d", st->exit_code);
}

/*  Applies one task status from node. Returns the ack status to send.  */
static Strata__AckStatus
s_apply_status (st__net_t *s, st__node_t *node, const Strata__TaskStatus *st)
{
    if (!st->task)
        return STRATA__ACK_STATUS__ACK_STALE;
    const Strata__TaskRef *ref = st->task;
    st__task_t *t = s_current_task (s, node, ref);
    /*  Stale: another attempt, another node, or a task this scheduler already ended
     *  (cancelled before its Launch was acknowledged, lost with its node) that
     *  nevertheless runs.  */
    if (!t || (st->state == STRATA__TASK_STATE__TASK_RUNNING && !st__task_live (t))) {
        s->m->counters.stale_updates++;
        if (st->state == STRATA__TASK_STATE__TASK_RUNNING)
            s_kill_stale (s, node, ref);
        return STRATA__ACK_STATUS__ACK_STALE;
    }
    st__job_t *job = t->job;
    switch (st->state) {
    case STRATA__TASK_STATE__TASK_RUNNING:
        if (t->state == ST_TASK_SCHEDULED || t->state == ST_TASK_STARTING) {
            st__task_set_state (s->m, t, ST_TASK_RUNNING);
            t->pid = st->pid;
            t->started_wall = st->started_unix_ms ? st->started_unix_ms : st_wall_ms ();
            t->launch_acked = 1;
            st__mark_task (s->m, t);
            if (job->state == ST_JOB_SCHEDULED)
                st__job_set_state (s->m, job, ST_JOB_STARTING, "launching on %s", node->name);
            st__job_evaluate (s->m, job);
        }
        else if (t->state == ST_TASK_RUNNING && st->pid && st->pid != t->pid) {
            t->pid = st->pid; /*  a held rank got its process (Exec)  */
            st__mark_task (s->m, t);
        }
        break;
    case STRATA__TASK_STATE__TASK_EXITED:
    case STRATA__TASK_STATE__TASK_START_FAILED: {
        if (t->state != ST_TASK_SCHEDULED && t->state != ST_TASK_STARTING && t->state != ST_TASK_RUNNING)
            break; /*  already ended: a resend  */
        if (st->pid)
            t->pid = st->pid;
        if (!t->started_wall)
            t->started_wall = st->started_unix_ms ? st->started_unix_ms : st_wall_ms ();
        t->finished_wall = st->finished_unix_ms ? st->finished_unix_ms : st_wall_ms ();
        int ok = st->state == STRATA__TASK_STATE__TASK_EXITED && !st->term_signal && !st->timed_out
                 && st->exit_code == 0;
        t->has_exit = st->state == STRATA__TASK_STATE__TASK_EXITED && !st->term_signal;
        t->exit_code = st->state == STRATA__TASK_STATE__TASK_EXITED ? st->exit_code : 127;
        if (st->state == STRATA__TASK_STATE__TASK_START_FAILED)
            t->has_exit = 1;
        t->term_signal = st->term_signal;
        t->has_peak = st->peak_mem_kib_opt_case == STRATA__TASK_STATUS__PEAK_MEM_KIB_OPT_PEAK_MEM_KIB;
        t->peak_mem_kib = t->has_peak ? st->peak_mem_kib : 0;
        t->has_cpu = st->cpu_ms_opt_case == STRATA__TASK_STATUS__CPU_MS_OPT_CPU_MS;
        t->cpu_ms = t->has_cpu ? st->cpu_ms : 0;
        char what[300];
        s_describe_end (st, what, sizeof what);
        free (t->reason);
        t->reason = ok ? NULL : strdup (what); /*  NULL without memory: the event still says it  */
        if (job->state == ST_JOB_SCHEDULED)
            st__job_set_state (s->m, job, ST_JOB_STARTING, "launching on %s", node->name);
        if (ok)
            st__task_end (s->m, t, ST_TASK_SUCCEEDED);
        else {
            /*  The first failure of an attempt is its cause; ranks stopped because of it are not.  */
            if (!job->failure[0] && !job->cancel_requested)
                st_utf8_fmt (job->failure, sizeof job->failure, "rank %u %s on %s", t->index, what, node->name);
            st__add_event (s->m, job->id, (int32_t) t->index, t->attempt, "task", NULL, NULL, node->name,
                           "rank %u %s", t->index, what);
            st__task_end (s->m, t, job->cancel_requested ? ST_TASK_CANCELLED : ST_TASK_FAILED);
        }
        st__job_evaluate (s->m, job);
        break;
    }
    default:
        return STRATA__ACK_STATUS__ACK_STALE;
    }
    return STRATA__ACK_STATUS__ACK_OK;
}

/*  Marks every live task on node lost (the worker is gone or came back as a new process).  */
static void
s_lose_tasks (st__net_t *s, st__node_t *node, const char *why)
{
    while (node->tasks) {
        st__task_t *t = node->tasks;
        st__job_t *job = t->job;
        if (!job->failure[0])
            st_utf8_fmt (job->failure, sizeof job->failure, "node %s %s while rank %u was %s", node->name, why,
                         t->index, st_task_state_name (t->state));
        st__add_event (s->m, job->id, (int32_t) t->index, t->attempt, "task", NULL, "LOST", node->name,
                       "rank %u lost: node %s %s", t->index, node->name, why);
        st__task_end (s->m, t, ST_TASK_LOST);
        st__job_evaluate (s->m, job);
    }
}

static void
s_on_register (st__net_t *s, const st_peer_t *peer, const Strata__Envelope *env)
{
    const Strata__Register *reg = env->register_;
    Strata__Envelope out;
    Strata__RegisterReply rep = STRATA__REGISTER_REPLY__INIT;
    st_wire_envelope_init (&out, st__net_next_seq (s));
    out.reply_to = env->seq;
    out.body_case = STRATA__ENVELOPE__BODY_REGISTER_REPLY;
    out.register_reply = &rep;

    const char *pool = reg->pool && *reg->pool ? reg->pool : "default";
    if (!reg->node || !s_valid_name (reg->node) || !s_valid_name (pool)) {
        rep.error = "node and pool names must be 1-128 characters of letters, digits, '.', '_' or '-'";
        st_warn ("refused registration: invalid node or pool name");
        st__net_defer (s, s->worker_sock, peer, &out);
        return;
    }
    if (!reg->capacity || (reg->capacity->cpus_milli == 0 && reg->capacity->mem_mb == 0)) {
        rep.error = "a node must advertise some CPUs and memory";
        st_warn ("refused registration of node %s: no capacity advertised", reg->node);
        st__net_defer (s, s->worker_sock, peer, &out);
        return;
    }
    /*  Bounds keep every per-node sum far from overflow.  */
    if (reg->capacity->cpus_milli > ST_MAX_NODE_CPUS_MILLI || reg->capacity->mem_mb > ST_MAX_NODE_MEM_MB
        || reg->capacity->gpus > ST_MAX_NODE_GPUS) {
        rep.error = "advertised capacity out of range (at most 100000 CPUs, 1 PiB of memory, 1024 GPUs)";
        st_warn ("refused registration of node %s: capacity out of range", reg->node);
        st__net_defer (s, s->worker_sock, peer, &out);
        return;
    }
    const char *bad_labels = s_labels_invalid (reg);
    size_t tasks_max = s_tasks_max (reg->capacity->cpus_milli);
    if (bad_labels || reg->n_tasks > tasks_max) {
        uint64_t n = ++s->m->counters.oversized_reports;
        char why[160]; /*  packed by st__net_defer before it goes out of scope  */
        if (bad_labels)
            snprintf (why, sizeof why, "%s", bad_labels);
        else
            snprintf (why, sizeof why, "%zu tasks reported; a node of %g CPU reports at most %zu", reg->n_tasks,
                      reg->capacity->cpus_milli / 1000.0, tasks_max);
        st_log (s_rate_level (++s->oversized_registers),
                "refused registration of node %s: %s (oversized_reports=%" PRIu64 ")", reg->node, why, n);
        rep.error = why;
        st__net_defer (s, s->worker_sock, peer, &out);
        return;
    }
    /*  With CURVE, a key enrolled as NODE.pub may register only node NODE.  */
    if (s->zap && strcmp (peer->user_id, reg->node) != 0) {
        s->m->counters.refused_registrations++;
        st_warn ("refused registration of node %s by a worker whose key is enrolled as %s "
                 "(refused_registrations=%" PRIu64 ")",
                 reg->node, peer->user_id[0] ? peer->user_id : "(none)", s->m->counters.refused_registrations);
        rep.error = "this worker's key is enrolled under another node name";
        st__net_defer (s, s->worker_sock, peer, &out);
        return;
    }
    /*  ... and only in the pool it was enrolled for (its .pub's pool line, else
     *  the default pool): a node cannot claim a restricted pool.  */
    const char *bound = s->zap ? st_zap_pool_of (s->zap, "workers", peer->user_id) : NULL;
    if (s->zap && (!bound || strcmp (bound, pool) != 0)) {
        s->m->counters.refused_pools++;
        st_warn ("refused registration of node %s in pool %s: its key is enrolled for pool %s (refused_pools=%" PRIu64
                 ")",
                 reg->node, pool, bound ? bound : "(none)", s->m->counters.refused_pools);
        char why[700]; /*  packed by st__net_defer before it goes out of scope  */
        snprintf (why, sizeof why,
                  "this worker's key is enrolled for pool %.128s, not %.128s: start the worker with --pool %.128s, "
                  "or enrol a key for pool %.128s (strata keygen NODE --pool POOL)",
                  bound ? bound : "(none)", pool, bound ? bound : "(none)", pool);
        rep.error = why;
        st__net_defer (s, s->worker_sock, peer, &out);
        return;
    }
    uint64_t now = st_mono_ms ();
    st__node_t *node = st_map_get (s->m->nodes, reg->node, strlen (reg->node));
    if (node && node->connected && node->state == ST__NODE_UP && !s_peer_equal (st__net_peer_of (node), peer)
        && node->instance != reg->instance && now - node->last_seen_mono < s->cfg.node_timeout_ms) {
        s->m->counters.duplicate_registrations++;
        st_warn (
            "refused duplicate registration of node %s: another worker holds that name (duplicate_registrations=%" PRIu64
            ")",
            reg->node, s->m->counters.duplicate_registrations);
        rep.error = "another live worker is registered under this node name";
        st__net_defer (s, s->worker_sock, peer, &out);
        return;
    }
    if (!node) {
        node = st__node_new (reg->node);
        if (!node)
            abort ();
        st_map_put (s->m->nodes, node->name, strlen (node->name), node);
    }
    int new_instance = node->instance != reg->instance;
    if (new_instance)
        node->epoch++;
    int was_up = node->state == ST__NODE_UP && node->connected;
    /*  One connection per node: forget the one it used before.  */
    if (node->connected && !s_peer_equal (st__net_peer_of (node), peer))
        st_map_remove (s->peers, node->peer.id, node->peer.id_len);
    st__net_set_peer (node, peer);
    if (st_map_put (s->peers, peer->id, peer->id_len, node) != 0)
        abort ();
    node->connected = 1;
    node->instance = reg->instance;
    node->state = ST__NODE_UP;
    node->last_seen_mono = now;
    node->last_seen_wall = st_wall_ms ();
    free (node->pool);
    node->pool = strdup (pool);
    /*  The worker's own words: protobuf-c checks no string field, so each is
     *  made valid UTF-8 here, before it reaches JSON, the database or a client.  */
    free (node->gpu_type);
    node->gpu_type = st_utf8_dup (reg->gpu_type);
    free (node->hostname);
    node->hostname = st_utf8_dup (reg->hostname);
    free (node->version);
    node->version = st_utf8_dup (reg->version);
    st_kv_free (&node->labels);
    for (size_t i = 0; i < reg->n_labels && i < 64; i++)
        if (reg->labels[i]->key && reg->labels[i]->value) {
            char *key = st_utf8_dup (reg->labels[i]->key), *value = st_utf8_dup (reg->labels[i]->value);
            if (key && value)
                st_kv_add (&node->labels, key, value);
            free (key);
            free (value);
        }
    node->cap_cpus_milli = reg->capacity->cpus_milli;
    node->cap_mem_mb = reg->capacity->mem_mb;
    node->cap_gpus = reg->capacity->gpus;
    node->launch_cap_known = 0;
    s_set_status_text (&node->isolation, reg->isolation);
    s_set_refusing (s, node, reg->refusing);
    if (reg->launch_cap_opt_case == STRATA__REGISTER__LAUNCH_CAP_OPT_LAUNCH_CAP)
        s_set_launch_cap (node, reg->launch_cap);
    node->pn_stale = 1;
    st__mark_node (s->m, node);
    st__add_event (s->m, 0, -1, 0, "node", NULL, "UP", node->name,
                   "node %s registered (pool %s, %g CPU, %" PRIu64 " MiB, %u GPU, epoch %" PRIu64 ")", node->name,
                   node->pool, node->cap_cpus_milli / 1000.0, node->cap_mem_mb, node->cap_gpus, node->epoch);
    st_info ("node %s registered%s: pool %s, %g CPU, %" PRIu64 " MiB, %u GPU, %zu known task(s), epoch %" PRIu64,
             node->name, was_up ? " again" : "", node->pool, node->cap_cpus_milli / 1000.0, node->cap_mem_mb,
             node->cap_gpus, reg->n_tasks, node->epoch);

    /*  Reconcile: first what the worker reports, then what we think it runs.  */
    for (size_t i = 0; i < reg->n_tasks; i++)
        s_apply_status (s, node, reg->tasks[i]);
    for (st__task_t *t = node->tasks, *next; t; t = next) {
        next = t->node_next;
        int reported = 0;
        for (size_t i = 0; i < reg->n_tasks && !reported; i++) {
            const Strata__TaskRef *r = reg->tasks[i]->task;
            reported = r && r->job_id == t->job->id && r->index == t->index && r->attempt == t->attempt;
        }
        if (reported)
            continue;
        if (t->state == ST_TASK_SCHEDULED || (t->state == ST_TASK_STARTING && !t->pid)) {
            /*  The Launch may never have arrived; the worker never starts a task twice.  */
            if (t->job->cancel_requested) {
                st__task_end (s->m, t, ST_TASK_CANCELLED);
                st__job_evaluate (s->m, t->job);
            }
            else {
                s_launch_untrack (s, t); /*  lost with the old connection: it holds no room  */
                st__task_set_state (s->m, t, ST_TASK_SCHEDULED);
                st_vec_push ((void **) &s->m->to_launch, &s->m->nto_launch, &s->m->cap_to_launch, sizeof t,
                             ST__SCHED_ARRAY_MAX, &t);
            }
            continue;
        }
        /*  It was running and the worker does not know it: a new worker process.  */
        st__job_t *job = t->job;
        if (!job->failure[0])
            snprintf (job->failure, sizeof job->failure, "node %s restarted while rank %u was running", node->name,
                      t->index);
        st__add_event (s->m, job->id, (int32_t) t->index, t->attempt, "task", NULL, "LOST", node->name,
                       "rank %u lost: the worker on %s no longer knows it", t->index, node->name);
        st__task_end (s->m, t, ST_TASK_LOST);
        st__job_evaluate (s->m, job);
    }
    /*  Stops decided while this node was away (a rank failed elsewhere, a cancel,
     *  or a restart of the scheduler) go out now.  */
    for (st__task_t *t = node->tasks; t; t = t->node_next)
        if (t->job->stopping || t->job->cancel_requested)
            st__job_stop_tasks (s->m, t->job);
    rep.accepted = 1;
    rep.epoch = node->epoch;
    rep.heartbeat_ms = (uint32_t) s->cfg.heartbeat_ms;
    st__net_defer (s, s->worker_sock, peer, &out);
    s->m->sched_needed = 1;
    /*  What waited in its queue while it was away goes out after the reply
     *  (st__dispatch_send_launches, or the next tick).  */
}

static st__node_t *
s_node_of_peer (st__net_t *s, const char *name, const st_peer_t *peer)
{
    if (!name || !*name)
        return NULL;
    st__node_t *node = st_map_get (s->m->nodes, name, strlen (name));
    if (!node || !node->connected || !s_peer_equal (st__net_peer_of (node), peer))
        return NULL;
    return node;
}

/*  The node registered on peer (TaskUpdate, Ack and LogData carry no node name).  */
static st__node_t *
s_node_by_peer (st__net_t *s, const st_peer_t *peer)
{
    st__node_t *node = st_map_get (s->peers, peer->id, peer->id_len);
    return node && node->connected && s_peer_equal (st__net_peer_of (node), peer) ? node : NULL;
}

void
st__dispatch_worker_message (st__net_t *s, const st_peer_t *peer, Strata__Envelope *env)
{
    switch (env->body_case) {
    case STRATA__ENVELOPE__BODY_REGISTER:
        s_on_register (s, peer, env);
        return;
    case STRATA__ENVELOPE__BODY_HEARTBEAT: {
        const Strata__Heartbeat *hb = env->heartbeat;
        st__node_t *node = s_node_of_peer (s, hb->node, peer);
        if (!node || node->instance != hb->instance) {
            s->m->counters.unknown_peer_messages++;
            st__dispatch_send_ack (s, peer, env->seq, STRATA__ACK_STATUS__ACK_UNKNOWN_NODE);
            return;
        }
        size_t tasks_max = s_tasks_max (node->cap_cpus_milli);
        if (hb->n_running > tasks_max) {
            /*  Not acknowledged, not counted as a sign of life: a worker that keeps
             *  sending these is lost at the node timeout.  */
            uint64_t n = ++s->m->counters.oversized_reports;
            st_log (s_rate_level (++s->oversized_heartbeats),
                    "dropped heartbeat of node %s: %zu running tasks reported, at most %zu for %g CPU "
                    "(oversized_reports=%" PRIu64 ")",
                    node->name, hb->n_running, tasks_max, node->cap_cpus_milli / 1000.0, n);
            return;
        }
        node->last_seen_mono = st_mono_ms ();
        node->last_seen_wall = st_wall_ms ();
        if (hb->launch_cap_opt_case == STRATA__HEARTBEAT__LAUNCH_CAP_OPT_LAUNCH_CAP)
            s_set_launch_cap (node, hb->launch_cap);
        if (hb->refusing_opt_case == STRATA__HEARTBEAT__REFUSING_OPT_REFUSING)
            s_set_refusing (s, node, hb->refusing);
        for (size_t i = 0; i < hb->n_running; i++) {
            const Strata__TaskRef *r = hb->running[i];
            if (!r)
                continue;
            st__task_t *t = s_current_task (s, node, r);
            if (!t || !st__task_live (t))
                s_kill_stale (s, node, r);
        }
        st__dispatch_send_ack (s, peer, env->seq, STRATA__ACK_STATUS__ACK_OK);
        s_pump (s, node);
        return;
    }
    case STRATA__ENVELOPE__BODY_TASK_UPDATE: {
        st__node_t *node = s_node_by_peer (s, peer);
        if (!node || !env->task_update->status) {
            /*  Not acknowledged: the worker keeps it and reports it again when it registers.  */
            s->m->counters.unknown_peer_messages++;
            return;
        }
        node->last_seen_mono = st_mono_ms ();
        Strata__AckStatus status = s_apply_status (s, node, env->task_update->status);
        st__dispatch_send_ack (s, peer, env->seq, status);
        return;
    }
    case STRATA__ENVELOPE__BODY_ACK: {
        st__node_t *node = s_node_by_peer (s, peer);
        if (node) {
            node->last_seen_mono = st_mono_ms ();
            if (env->ack->launch_cap_opt_case == STRATA__ACK__LAUNCH_CAP_OPT_LAUNCH_CAP)
                s_set_launch_cap (node, env->ack->launch_cap);
        }
        /*  Only the node the Launch went to acknowledges it; seqs are easy to
         *  guess, and a forged Ack would stop the resends of a lost Launch.  */
        st__task_t *t = st_map_get_u64 (s->m->launches, env->ack->ack_seq);
        if (t && t->node != node) {
            char what[96];
            snprintf (what, sizeof what, "Ack of the launch of job %" PRIu64 " rank %u", t->job->id, t->index);
            st__net_foreign_reply (s, &s->foreign_acks, what, node ? node->name : "an unregistered peer",
                                   t->node ? t->node->name : "(none)");
            t = NULL;
        }
        if (t) {
            s_launch_untrack (s, t);
            t->launch_acked = 1;
        }
        if (node)
            s_pump (s, node);
        return;
    }
    case STRATA__ENVELOPE__BODY_LOG_DATA:
        st__client_log_data (s, peer, s_node_by_peer (s, peer), env->log_data);
        return;
    case STRATA__ENVELOPE__BODY_RDZV_PUT:
    case STRATA__ENVELOPE__BODY_RDZV_GET:
    case STRATA__ENVELOPE__BODY_REMOTE_EXEC:
    case STRATA__ENVELOPE__BODY_PROGRESS: {
        st__node_t *node = s_node_by_peer (s, peer);
        if (!node) {
            s->m->counters.unknown_peer_messages++;
            return;
        }
        node->last_seen_mono = st_mono_ms ();
        st__agent_message (s, node, env);
        return;
    }
    default:
        s->m->counters.bad_frames++;
        st_warn ("dropped unexpected %s message on worker socket (bad_frames=%" PRIu64 ")", st_wire_body_name (env),
                 s->m->counters.bad_frames);
        return;
    }
}

/*  -- timers ----------------------------------------------------------------  */

typedef struct {
    st__net_t *s;
    uint64_t now;
} s_tick_t;

static void
s_tick_node (void *value, void *arg)
{
    s_tick_t *k = arg;
    st__net_t *s = k->s;
    st__node_t *node = value;
    if (node->state != ST__NODE_UP)
        return;
    if (k->now - node->last_seen_mono > s->cfg.node_timeout_ms) {
        st_warn ("node %s lost: no heartbeat for %" PRIu64 " ms; %u task(s) on it", node->name,
                 k->now - node->last_seen_mono, node->ntasks);
        node->state = ST__NODE_LOST;
        node->connected = 0;
        st_map_remove (s->peers, node->peer.id, node->peer.id_len);
        st__mark_node (s->m, node);
        st__add_event (s->m, 0, -1, 0, "node", "UP", "LOST", node->name,
                       "node %s lost: no heartbeat for %" PRIu64 " ms", node->name, k->now - node->last_seen_mono);
        s_lose_tasks (s, node, "stopped heartbeating");
        s_queue_clear (node);
        return;
    }
    /*  Launches the worker has not acknowledged: a job being stopped ends its
     *  task here (it never started as far as anyone knows; if the Launch did
     *  arrive after all, the worker's report is stale and the process is
     *  killed). Otherwise the Launch is resent only while the node is silent:
     *  nothing heard for the timeout since it went out, doubled per resend.  */
    for (st__task_t *t = node->tasks, *next; t; t = next) {
        next = t->node_next;
        if (t->state != ST_TASK_STARTING || t->launch_acked || !node->connected
            || k->now - t->launch_sent_mono <= s->cfg.launch_timeout_ms)
            continue;
        st__job_t *job = t->job;
        if (job->cancel_requested || job->stopping) {
            st__task_end (s->m, t, job->cancel_requested ? ST_TASK_CANCELLED : ST_TASK_FAILED);
            st__job_evaluate (s->m, job);
            continue;
        }
        uint64_t wait = s->cfg.launch_timeout_ms;
        for (uint32_t i = 0; i < t->launch_resends && wait < S_RESEND_BACKOFF_MAX_MS; i++)
            wait *= 2;
        if (wait > S_RESEND_BACKOFF_MAX_MS && s->cfg.launch_timeout_ms < S_RESEND_BACKOFF_MAX_MS)
            wait = S_RESEND_BACKOFF_MAX_MS;
        uint64_t heard = node->last_seen_mono > t->launch_sent_mono ? node->last_seen_mono : t->launch_sent_mono;
        if (k->now - heard <= wait)
            continue;
        t->launch_resends++;
        s->m->counters.launch_resends++;
        st_info ("resending launch of job %" PRIu64 " rank %u to %s: nothing heard from it for %" PRIu64
                 " ms (resend %u, launch_resends=%" PRIu64 ")",
                 job->id, t->index, node->name, k->now - heard, t->launch_resends, s->m->counters.launch_resends);
        s_send_launch (s, t);
    }
    s_pump (s, node);
}

void
st__dispatch_tick (st__net_t *s, uint64_t now)
{
    s_tick_t k = { .s = s, .now = now };
    st_map_foreach (s->m->nodes, s_tick_node, &k);
}
