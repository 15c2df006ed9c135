/*  client.c: the client API (CLI, gateway) on the client ROUTER socket.
 *
 *  Submit is answered only once the job is committed (the reply is deferred to
 *  the end of the batch). Reads go to PostgreSQL (through st__net_store_t, which
 *  sched.c wires to store/), which after every batch holds
 *  exactly what the scheduler knows. Logs live on the workers: a Logs request is
 *  relayed to the node that ran the task and the answer relayed back.
 *
 *  Every handler asks authz.c (model.h) what its principal may see and do: a
 *  job of another tenant answers as one that does not exist (st__client_no_job),
 *  one the role does not allow is refused naming the role (st__client_denied),
 *  listings hold only the principal's tenants, env values only for the submitter
 *  and admins. A submission goes to the spec's tenant only if the user belongs
 *  to it (else the first of the user's), within the tenant's caps. */
#include "net.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_log.h"
#include "st_time.h"

#define ST_LOG_RELAY_TIMEOUT_MS 5000
#define ST_LOG_MAX_BYTES (256u * 1024u)
#define ST_LOG_RELAYS_MAX 4096 /*  relays waiting for a worker at once  */

static void
s_reply (st__net_t *s, const st_peer_t *peer, Strata__Envelope *env)
{
    st_rc_t rc = st_wire_send (s->client_sock, peer, env);
    if (rc != ST_OK)
        st_debug ("could not reply %s to a client: %s", st_wire_body_name (env), st_strerror (rc));
}

void
st__client_error (st__net_t *s, const st_peer_t *peer, uint64_t reply_to, Strata__ErrorCode code, const char *msg,
                  const char *hint)
{
    Strata__Envelope env;
    Strata__ErrorReply e = STRATA__ERROR_REPLY__INIT;
    st_wire_envelope_init (&env, st__net_next_seq (s));
    env.reply_to = reply_to;
    e.code = code;
    e.message = (char *) msg;
    e.hint = (char *) (hint ? hint : "");
    env.body_case = STRATA__ENVELOPE__BODY_ERROR;
    env.error = &e;
    s_reply (s, peer, &env);
}

void
st__client_no_job (st__net_t *s, const st_peer_t *peer, uint64_t reply_to, uint64_t id, const char *hint)
{
    char msg[64];
    snprintf (msg, sizeof msg, "no job %" PRIu64, id);
    st__client_error (s, peer, reply_to, STRATA__ERROR_CODE__ERROR_NOT_FOUND, msg, hint);
}

void
st__client_denied (st__net_t *s, const st_peer_t *peer, uint64_t reply_to, const st_error_t *err)
{
    st__client_error (s, peer, reply_to, STRATA__ERROR_CODE__ERROR_PERMISSION_DENIED, err->msg,
                      err->hint[0] ? err->hint : NULL);
}

static Strata__ErrorCode
s_code (st_rc_t rc)
{
    switch (rc) {
    case ST_EINVAL:
        return STRATA__ERROR_CODE__ERROR_INVALID;
    case ST_ENOTFOUND:
        return STRATA__ERROR_CODE__ERROR_NOT_FOUND;
    case ST_ECONFLICT:
        return STRATA__ERROR_CODE__ERROR_CONFLICT;
    case ST_EUNAVAIL:
        return STRATA__ERROR_CODE__ERROR_UNAVAILABLE;
    default:
        return STRATA__ERROR_CODE__ERROR_INTERNAL;
    }
}

#define ST_TOKEN_KEY_MAX 320 /*  tenant (64), submitter, token (64) and two separators  */

static size_t
s_token_key (char *key, size_t size, const char *tenant, const char *submitter, const char *token)
{
    size_t a = strlen (tenant), u = strlen (submitter), b = strlen (token);
    if (a + u + b + 2 > size)
        return 0;
    memcpy (key, tenant, a);
    key[a] = '\0';
    memcpy (key + a + 1, submitter, u);
    key[a + 1 + u] = '\0';
    memcpy (key + a + u + 2, token, b);
    return a + u + 2 + b;
}

void
st__token_remember (st__net_t *s, const char *tenant, const char *submitter, const char *token, uint64_t job_id,
                    uint64_t ttl_ms)
{
    char key[ST_TOKEN_KEY_MAX];
    size_t len = s_token_key (key, sizeof key, tenant, submitter ? submitter : "", token);
    if (!len || st_map_get (s->tokens, key, len))
        return;
    st__token_t *t = malloc (sizeof *t + len);
    if (!t)
        abort ();
    t->job_id = job_id;
    t->expires_mono = st_mono_ms () + ttl_ms;
    t->keylen = len;
    t->next = NULL;
    memcpy (t->key, key, len);
    if (st_map_put (s->tokens, t->key, len, t) != 0)
        abort ();
    /*  Kept in expiry order: every entry has the same lifetime, except those loaded at
     *  start-up, which are added first with shorter ones.  */
    if (s->tokens_tail)
        s->tokens_tail->next = t;
    else
        s->tokens_head = t;
    s->tokens_tail = t;
}

static void
s_tokens_expire (st__net_t *s, uint64_t now)
{
    while (s->tokens_head && s->tokens_head->expires_mono <= now) {
        st__token_t *t = s->tokens_head;
        s->tokens_head = t->next;
        if (!s->tokens_head)
            s->tokens_tail = NULL;
        st_map_remove (s->tokens, t->key, t->keylen);
        free (t);
    }
}

void
st__token_forget_all (st__net_t *s)
{
    while (s->tokens_head) {
        st__token_t *t = s->tokens_head;
        s->tokens_head = t->next;
        if (s->tokens)
            st_map_remove (s->tokens, t->key, t->keylen);
        free (t);
    }
    s->tokens_tail = NULL;
}

static int
s_valid_token (const char *token)
{
    size_t n = strlen (token);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((token[i] >= 'a' && token[i] <= 'z') || (token[i] >= 'A' && token[i] <= 'Z')
              || (token[i] >= '0' && token[i] <= '9') || token[i] == '-' || token[i] == '_'))
            return 0;
    return 1;
}

static st_rc_t
s_get_job (st__net_t *s, uint64_t id, st__job_record_t **out, st_error_t *err)
{
    *out = NULL;
    if (!s->store.get_job)
        return st_error_set (err, ST_EDB, NULL, "no database");
    return s->store.get_job (s->store.ctx, id, out, err);
}

static char *
s_strdup (const char *str)
{
    char *d = strdup (str ? str : "");
    if (!d)
        abort ();
    return d;
}

/*  A task row as a TaskInfo (caller owns it).  */
static Strata__TaskInfo *
s_task_info (const st__task_record_t *tr)
{
    Strata__TaskInfo *t = malloc (sizeof *t);
    if (!t)
        abort ();
    strata__task_info__init (t);
    t->index = tr->index;
    t->attempt = tr->attempt;
    t->state = st_wire_job_state_named (tr->state);
    t->node = s_strdup (tr->node);
    t->pid = tr->pid;
    t->exit_code = tr->exit_code;
    t->term_signal = tr->term_signal;
    t->started_unix_ms = tr->started_unix_ms;
    t->finished_unix_ms = tr->finished_unix_ms;
    if (tr->has_peak) {
        t->peak_mem_kib_opt_case = STRATA__TASK_INFO__PEAK_MEM_KIB_OPT_PEAK_MEM_KIB;
        t->peak_mem_kib = tr->peak_mem_kib;
    }
    if (tr->has_cpu) {
        t->cpu_ms_opt_case = STRATA__TASK_INFO__CPU_MS_OPT_CPU_MS;
        t->cpu_ms = tr->cpu_ms;
    }
    t->reason = s_strdup (tr->reason);
    return t;
}

Strata__JobInfo *
st__client_job_info (const st__job_record_t *r)
{
    Strata__JobInfo *j = malloc (sizeof *j);
    Strata__Resources *res = malloc (sizeof *res);
    if (!j || !res)
        abort ();
    strata__job_info__init (j);
    strata__resources__init (res);
    j->id = r->id;
    j->name = s_strdup (r->name);
    j->tenant = s_strdup (r->tenant);
    j->queue = s_strdup (r->queue);
    j->kind = s_strdup (r->kind);
    j->state = st_wire_job_state_named (r->state);
    j->reason = s_strdup (r->reason);
    j->priority = r->priority;
    j->attempt = r->attempt;
    j->max_attempts = r->max_attempts;
    j->exit_code = r->exit_code;
    res->cpus_milli = r->cpus_milli;
    res->mem_mb = r->mem_mb;
    res->gpus = r->gpus;
    j->per_rank = res;
    j->ranks = r->ranks;
    j->created_unix_ms = r->created_unix_ms;
    j->started_unix_ms = r->started_unix_ms;
    j->finished_unix_ms = r->finished_unix_ms;
    j->spec_json = s_strdup (r->spec_json);
    j->cancel_requested = r->cancel_requested;
    j->pool = s_strdup (r->pool);
    j->variant = s_strdup (r->variant);
#define OPT(field, CASE)                                \
    if (r->has_##field) {                               \
        j->field = r->field;                            \
        j->field##_opt_case = STRATA__JOB_INFO__##CASE; \
    }
    OPT (est_cost, EST_COST_OPT_EST_COST)
    OPT (est_kwh, EST_KWH_OPT_EST_KWH)
    OPT (est_co2_g, EST_CO2_G_OPT_EST_CO2_G)
    OPT (cost, COST_OPT_COST)
    OPT (kwh, KWH_OPT_KWH)
    OPT (co2_g, CO2_G_OPT_CO2_G)
#undef OPT
    j->preemptions = r->preemptions;
    j->placement_json = s_strdup (r->placement_json);
    j->model_version = s_strdup (r->model_version);
    j->registered_version = s_strdup (r->registered_version);
    j->submitted_by = s_strdup (r->submitted_by);
    if (r->ntasks) {
        j->tasks = calloc (r->ntasks, sizeof *j->tasks);
        if (!j->tasks)
            abort ();
    }
    for (size_t i = 0; i < r->ntasks; i++)
        j->tasks[j->n_tasks++] = s_task_info (&r->tasks[i]);
    if (r->nearlier) {
        j->earlier_attempts = calloc (r->nearlier, sizeof *j->earlier_attempts);
        if (!j->earlier_attempts)
            abort ();
    }
    for (size_t i = 0; i < r->nearlier; i++)
        j->earlier_attempts[j->n_earlier_attempts++] = s_task_info (&r->earlier[i]);
    return j;
}

/*  A job as who may read it: env values replaced unless who is its submitter or an admin.  */
static Strata__JobInfo *
s_job_info_for (const st__job_record_t *r, const st__principal_t *who)
{
    Strata__JobInfo *j = st__client_job_info (r);
    if (!st__authz_sees_env (who, r->submitted_by)) {
        char *hidden = st__authz_hide_env (j->spec_json);
        if (hidden) {
            free (j->spec_json);
            j->spec_json = hidden;
            j->env_hidden = 1;
        }
    }
    return j;
}

static void
s_on_submit (st__net_t *s, const st_peer_t *peer, const st__principal_t *who, const Strata__Envelope *env)
{
    const char *text = env->submit->spec_json ? env->submit->spec_json : "";
    const char *token = env->submit->client_token ? env->submit->client_token : "";
    st_error_t err = { 0 };
    if (*token && !s_valid_token (token)) {
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_INVALID,
                          "client_token: must be 1-64 characters of letters, digits, '-' or '_'", NULL);
        return;
    }
    /*  The server validates again: clients other than the CLI exist.  */
    st_spec_t *spec = st_spec_parse (text, strlen (text), &err);
    if (!spec) {
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_INVALID, err.msg, err.hint);
        return;
    }
    /*  The job's tenant: the spec's if the user belongs to it, else the user's first.  */
    const char *tenant = NULL;
    if (st__authz_submit (who, spec->tenant_given ? spec->tenant : NULL, &tenant, &err) != 0) {
        st_spec_destroy (&spec);
        st__client_denied (s, peer, env->seq, &err);
        return;
    }
    if (tenant != spec->tenant) {
        char *t = strdup (tenant);
        if (!t)
            abort ();
        free (spec->tenant);
        spec->tenant = t;
    }
    spec->tenant_given = 1;
    const char *user = who->user ? who->user : "";
    Strata__Envelope out;
    Strata__SubmitReply rep = STRATA__SUBMIT_REPLY__INIT;
    st_wire_envelope_init (&out, st__net_next_seq (s));
    out.reply_to = env->seq;
    out.body_case = STRATA__ENVELOPE__BODY_SUBMIT_REPLY;
    out.submit_reply = &rep;
    if (*token) {
        /*  A resend of a submission already taken: the same answer, no second job.
         *  The first one may still be in this batch; the deferred reply waits for it.  */
        char key[ST_TOKEN_KEY_MAX];
        size_t len = s_token_key (key, sizeof key, spec->tenant, user, token);
        st__token_t *seen = len ? st_map_get (s->tokens, key, len) : NULL;
        if (seen) {
            rep.job_id = seen->job_id;
            st_spec_destroy (&spec);
            st__net_defer (s, s->client_sock, peer, &out);
            return;
        }
    }
    /*  The tenant's caps (cluster file): they bind every user, admins included.  */
    if (st__authz_caps (s->m->cluster, spec->tenant, spec->priority, st__tenant_pending (s->m, spec->tenant), &err)
        != 0) {
        st_spec_destroy (&spec);
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_LIMIT, err.msg, err.hint);
        return;
    }
    char *json = st_spec_to_json (spec);
    if (!json)
        abort ();
    uint64_t id = s->m->next_job_id++;
    st__job_t *job = st__job_new (s->m, id, spec, json, st_wall_ms ());
    if (!job)
        abort ();
    /*  depends_on, model and output_model against the jobs and models that
     *  exist (the finished ones' states read first, in one query).  */
    st__deps_forget_states (s->m);
    if ((s->store.dep_states && s->store.dep_states (s->store.ctx, job, &err) != ST_OK)
        || st__deps_check (s->m, job, &err) != ST_OK) {
        s->m->next_job_id--;
        st__job_free (job);
        st__client_error (s, peer, env->seq, s_code (err.rc), err.msg, err.hint[0] ? err.hint : NULL);
        return;
    }
    if (!(job->submitted_by = strdup (user)))
        abort ();
    st_map_put_u64 (s->m->jobs, id, job);
    snprintf (job->reason, sizeof job->reason, "queued");
    st__add_event (s->m, id, -1, 0, "submitted", NULL, "PENDING", NULL, "submitted by %s of tenant %s to queue %s",
                   user, spec->tenant, spec->queue);
    st__mark_job (s->m, job);
    st__deps_admit (s->m, job); /*  to the engine, or waiting for its dependencies, or failed  */
    s->m->counters.submits++;
    if (*token) {
        job->submit_token = strdup (token);
        if (!job->submit_token)
            abort ();
        st__token_remember (s, job->spec->tenant, user, token, id, ST__TOKEN_TTL_MS);
    }
    rep.job_id = id;
    st__net_defer (s, s->client_sock, peer, &out);
}

static void
s_on_cancel (st__net_t *s, const st_peer_t *peer, const st__principal_t *who, const Strata__Envelope *env)
{
    static const char hint[] = "list jobs with `strata jobs`";
    uint64_t id = env->cancel->job_id;
    st__job_t *job = st_map_get_u64 (s->m->jobs, id);
    Strata__Envelope out;
    Strata__CancelReply rep = STRATA__CANCEL_REPLY__INIT;
    st_wire_envelope_init (&out, st__net_next_seq (s));
    out.reply_to = env->seq;
    out.body_case = STRATA__ENVELOPE__BODY_CANCEL_REPLY;
    out.cancel_reply = &rep;
    rep.job_id = id;
    st__job_record_t *info = NULL;
    st_error_t err = { 0 };
    if (!job && s_get_job (s, id, &info, &err) != ST_OK) {
        /*  Not in memory, and not in the database either: it never existed.  */
        if (err.rc == ST_ENOTFOUND)
            st__client_no_job (s, peer, env->seq, id, hint);
        else
            st__client_error (s, peer, env->seq, s_code (err.rc), err.msg, hint);
        return;
    }
    switch (st__authz_job (who, ST__ACT_CANCEL, id, job ? job->spec->tenant : info->tenant,
                           job ? job->submitted_by : info->submitted_by, &err)) {
    case ST__AUTHZ_ALLOW:
        break;
    case ST__AUTHZ_HIDDEN:
        st__job_record_free (info);
        st__client_no_job (s, peer, env->seq, id, hint);
        return;
    case ST__AUTHZ_DENIED:
        st__job_record_free (info);
        st__client_denied (s, peer, env->seq, &err);
        return;
    }
    if (!job) {
        /*  Not in memory: it finished.  */
        char msg[128];
        snprintf (msg, sizeof msg, "job %" PRIu64 " already ended %s", id, info->state);
        st__job_record_free (info);
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_CONFLICT, msg, NULL);
        return;
    }
    if (!job->cancel_requested) {
        job->cancel_requested = 1;
        st__mark_job (s->m, job);
        st__add_event (s->m, id, -1, job->attempt, "cancel", NULL, NULL, NULL, "cancel requested");
        if (job->state == ST_JOB_PENDING) {
            st__pending_remove (s->m, job);
            st__job_set_state (s->m, job, ST_JOB_CANCELLED, "cancelled by request before it started");
        }
        else
            st__job_evaluate (s->m, job);
    }
    rep.state = st_wire_job_state (job->state);
    st__net_defer (s, s->client_sock, peer, &out);
}

typedef struct {
    Strata__NodeInfo **items;
    size_t n;
} s_nodes_t;

static void
s_node_info (void *value, void *arg)
{
    s_nodes_t *c = arg;
    st__node_t *n = value;
    Strata__NodeInfo *ni = calloc (1, sizeof *ni);
    Strata__Resources *cap = calloc (1, sizeof *cap), *used = calloc (1, sizeof *used);
    if (!ni || !cap || !used)
        abort ();
    strata__node_info__init (ni);
    strata__resources__init (cap);
    strata__resources__init (used);
    ni->name = n->name;
    ni->pool = n->pool ? n->pool : "";
    /*  After a scheduler restart a node is UP in the database but has not spoken yet.  */
    ni->state = n->state == ST__NODE_LOST ? "LOST" : n->connected ? "UP" : "UNKNOWN";
    cap->cpus_milli = n->cap_cpus_milli;
    cap->mem_mb = n->cap_mem_mb;
    cap->gpus = n->cap_gpus;
    used->cpus_milli = n->used_cpus_milli;
    used->mem_mb = n->used_mem_mb;
    used->gpus = n->used_gpus;
    ni->capacity = cap;
    ni->used = used;
    ni->gpu_type = n->gpu_type ? n->gpu_type : "";
    ni->running_tasks = n->ntasks;
    ni->last_seen_unix_ms = n->last_seen_wall;
    ni->epoch = n->epoch;
    ni->isolation = n->isolation ? n->isolation : "";
    ni->refusing = n->refusing ? n->refusing : "";
    if (n->labels.n) {
        ni->labels = calloc (n->labels.n, sizeof *ni->labels);
        if (!ni->labels)
            abort ();
        for (size_t i = 0; i < n->labels.n; i++) {
            Strata__NodeInfo__LabelsEntry *e = malloc (sizeof *e);
            if (!e)
                abort ();
            strata__node_info__labels_entry__init (e);
            e->key = n->labels.keys[i];
            e->value = n->labels.vals[i];
            ni->labels[ni->n_labels++] = e;
        }
    }
    c->items[c->n++] = ni;
}

static int
s_by_name (const void *a, const void *b)
{
    return strcmp ((*(Strata__NodeInfo *const *) a)->name, (*(Strata__NodeInfo *const *) b)->name);
}

static void
s_on_nodes (st__net_t *s, const st_peer_t *peer, const st__principal_t *who, const Strata__Envelope *env)
{
    (void) who; /*  the nodes are the cluster's, not a tenant's: every user sees them  */
    s_nodes_t c = { .items = calloc (st_map_size (s->m->nodes) + 1, sizeof (Strata__NodeInfo *)), .n = 0 };
    if (!c.items)
        abort ();
    st_map_foreach (s->m->nodes, s_node_info, &c);
    qsort (c.items, c.n, sizeof *c.items, s_by_name);
    Strata__Envelope out;
    Strata__NodesReply rep = STRATA__NODES_REPLY__INIT;
    st_wire_envelope_init (&out, st__net_next_seq (s));
    out.reply_to = env->seq;
    rep.n_nodes = c.n;
    rep.nodes = c.items;
    out.body_case = STRATA__ENVELOPE__BODY_NODES_REPLY;
    out.nodes_reply = &rep;
    /*  The whole list goes in one reply: past ST_MAX_FRAME, say so rather than
     *  leave the client waiting for a reply that was never sent.  */
    st_rc_t rc = st_wire_send (s->client_sock, peer, &out);
    if (rc == ST_ETOOBIG) {
        char msg[160];
        snprintf (msg, sizeof msg, "the node list is too large (%zu nodes, over the %u-byte reply limit)", c.n,
                  ST_MAX_FRAME);
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_INVALID, msg,
                          "strata pools shows the nodes' totals by pool");
    }
    else if (rc != ST_OK)
        st_debug ("could not reply %s to a client: %s", st_wire_body_name (&out), st_strerror (rc));
    /*  The strings belong to the nodes; free only what was allocated here.  */
    for (size_t i = 0; i < c.n; i++) {
        for (size_t k = 0; k < c.items[i]->n_labels; k++)
            free (c.items[i]->labels[k]);
        free (c.items[i]->labels);
        free (c.items[i]->capacity);
        free (c.items[i]->used);
        free (c.items[i]);
    }
    free (c.items);
}

static void
s_on_logs (st__net_t *s, const st_peer_t *peer, const st__principal_t *who, const Strata__Envelope *env)
{
    const Strata__LogsRequest *req = env->logs;
    char node_name[160], state[16];
    uint32_t attempt = 0;
    st_error_t err = { 0 };
    if (!st__authz_all_tenants (who)) {
        /*  Same visibility as show: a live job from memory, a finished one from its row.  */
        const st__job_t *live = st_map_get_u64 (s->m->jobs, req->job_id);
        st__job_record_t *info = NULL;
        if (!live && s_get_job (s, req->job_id, &info, &err) != ST_OK) {
            if (err.rc == ST_ENOTFOUND)
                st__client_no_job (s, peer, env->seq, req->job_id, NULL);
            else
                st__client_error (s, peer, env->seq, s_code (err.rc), err.msg, NULL);
            return;
        }
        st__authz_t a = st__authz_job (who, ST__ACT_SEE, req->job_id, live ? live->spec->tenant : info->tenant,
                                       live ? live->submitted_by : info->submitted_by, &err);
        st__job_record_free (info);
        if (a == ST__AUTHZ_HIDDEN) {
            st__client_no_job (s, peer, env->seq, req->job_id, NULL);
            return;
        }
        if (a == ST__AUTHZ_DENIED) {
            st__client_denied (s, peer, env->seq, &err);
            return;
        }
    }
    st_rc_t rc = s->store.task_location
                     ? s->store.task_location (s->store.ctx, req->job_id, req->rank, node_name, sizeof node_name,
                                               &attempt, state, sizeof state, &err)
                     : st_error_set (&err, ST_EDB, NULL, "no database");
    if (rc == ST_ENOTFOUND && !err.field[0]) {
        st__client_no_job (s, peer, env->seq, req->job_id, NULL);
        return;
    }
    if (rc != ST_OK) {
        st__client_error (s, peer, env->seq, s_code (err.rc), err.msg, NULL);
        return;
    }
    if (!*node_name || attempt == 0) {
        /*  Not started yet: an empty answer, so `logs -f` keeps waiting.  */
        Strata__Envelope out;
        Strata__LogsReply rep = STRATA__LOGS_REPLY__INIT;
        st_wire_envelope_init (&out, st__net_next_seq (s));
        out.reply_to = env->seq;
        rep.job_state = st_wire_job_state_named (state);
        rep.offset = req->offset;
        out.body_case = STRATA__ENVELOPE__BODY_LOGS_REPLY;
        out.logs_reply = &rep;
        s_reply (s, peer, &out);
        return;
    }
    st__node_t *node = st_map_get (s->m->nodes, node_name, strlen (node_name));
    if (!node || !node->connected) {
        char msg[256];
        snprintf (msg, sizeof msg, "the logs of job %" PRIu64 " rank %u are on node %s, which is not connected",
                  req->job_id, req->rank, node_name);
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_UNAVAILABLE, msg,
                          "logs stay on the worker that ran the task; try again when it is back");
        return;
    }
    if (s->nlogreqs >= ST_LOG_RELAYS_MAX) {
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_UNAVAILABLE,
                          "too many log requests are waiting for workers", "try again in a few seconds");
        return;
    }
    st__logreq_t *lr = calloc (1, sizeof *lr);
    if (!lr)
        abort ();
    s->nlogreqs++;
    lr->id = ++s->next_logreq;
    lr->client = *peer;
    lr->client_seq = env->seq;
    lr->deadline_mono = st_mono_ms () + ST_LOG_RELAY_TIMEOUT_MS;
    snprintf (lr->job_state, sizeof lr->job_state, "%s", state);
    lr->attempt = attempt;
    lr->worker = *st__net_peer_of (node);
    snprintf (lr->node, sizeof lr->node, "%s", node->name);
    lr->next = s->logreqs;
    s->logreqs = lr;

    Strata__Envelope out;
    Strata__LogRequest q = STRATA__LOG_REQUEST__INIT;
    Strata__TaskRef tr = STRATA__TASK_REF__INIT;
    st_wire_envelope_init (&out, st__net_next_seq (s));
    tr.job_id = req->job_id;
    tr.index = req->rank;
    tr.attempt = attempt;
    q.request_id = lr->id;
    q.task = &tr;
    q.stderr = req->stderr;
    q.offset = req->offset;
    q.max_bytes = req->max_bytes && req->max_bytes < ST_LOG_MAX_BYTES ? req->max_bytes : ST_LOG_MAX_BYTES;
    out.body_case = STRATA__ENVELOPE__BODY_LOG_REQUEST;
    out.log_request = &q;
    st_wire_send (s->worker_sock, st__net_peer_of (node), &out);
}

void
st__client_log_data (st__net_t *s, const st_peer_t *peer, const st__node_t *node, const Strata__LogData *data)
{
    st__logreq_t **pp = &s->logreqs;
    while (*pp && (*pp)->id != data->request_id)
        pp = &(*pp)->next;
    st__logreq_t *lr = *pp;
    if (!lr)
        return; /*  late answer to a request that timed out  */
    /*  Request ids are easy to guess: only the worker asked may answer, or a
     *  node could hand a client someone else's logs (or forged ones).  */
    if (lr->worker.id_len != peer->id_len || memcmp (lr->worker.id, peer->id, peer->id_len) != 0) {
        char what[64];
        snprintf (what, sizeof what, "LogData for log request %" PRIu64, lr->id);
        st__net_foreign_reply (s, &s->foreign_logdata, what, node ? node->name : "an unregistered peer", lr->node);
        return;
    }
    *pp = lr->next;
    if (data->error && *data->error) {
        st__client_error (s, &lr->client, lr->client_seq, STRATA__ERROR_CODE__ERROR_UNAVAILABLE, data->error, NULL);
        free (lr);
        s->nlogreqs--;
        return;
    }
    Strata__Envelope out;
    Strata__LogsReply rep = STRATA__LOGS_REPLY__INIT;
    st_wire_envelope_init (&out, st__net_next_seq (s));
    out.reply_to = lr->client_seq;
    rep.data = data->data;
    rep.offset = data->offset;
    rep.size = data->size;
    rep.job_state = st_wire_job_state_named (lr->job_state);
    rep.attempt = lr->attempt;
    out.body_case = STRATA__ENVELOPE__BODY_LOGS_REPLY;
    out.logs_reply = &rep;
    s_reply (s, &lr->client, &out);
    free (lr);
    s->nlogreqs--;
}

void
st__client_tick (st__net_t *s, uint64_t now)
{
    s_tokens_expire (s, now);
    st__logreq_t **pp = &s->logreqs;
    while (*pp) {
        st__logreq_t *lr = *pp;
        if (now < lr->deadline_mono) {
            pp = &lr->next;
            continue;
        }
        *pp = lr->next;
        st__client_error (s, &lr->client, lr->client_seq, STRATA__ERROR_CODE__ERROR_UNAVAILABLE,
                          "the worker holding the logs did not answer in time", "try again");
        free (lr);
        s->nlogreqs--;
    }
}

void
st__client_message (st__net_t *s, const st_peer_t *peer, Strata__Envelope *env)
{
    st_error_t err = { 0 };
    /*  Who sends it (Envelope.auth_token; client_identity.c): nothing goes further unauthenticated.  */
    const st__principal_t *who = st__client_authenticate (s, peer, env);
    if (!who)
        return;
    switch (env->body_case) {
    case STRATA__ENVELOPE__BODY_WHOAMI:
        st__client_whoami (s, peer, who, env);
        return;
    case STRATA__ENVELOPE__BODY_USER_ADD:
    case STRATA__ENVELOPE__BODY_USER_LIST:
    case STRATA__ENVELOPE__BODY_USER_REMOVE:
    case STRATA__ENVELOPE__BODY_TOKEN_CREATE:
    case STRATA__ENVELOPE__BODY_TOKEN_LIST:
    case STRATA__ENVELOPE__BODY_TOKEN_REVOKE:
        st__client_admin (s, peer, who, env);
        return;
    case STRATA__ENVELOPE__BODY_SUBMIT:
        s_on_submit (s, peer, who, env);
        return;
    case STRATA__ENVELOPE__BODY_CANCEL:
        s_on_cancel (s, peer, who, env);
        return;
    case STRATA__ENVELOPE__BODY_NODES:
        s_on_nodes (s, peer, who, env);
        return;
    case STRATA__ENVELOPE__BODY_POOLS:
        st__client_pools (s, peer, who, env);
        return;
    case STRATA__ENVELOPE__BODY_MODELS:
        st__client_models (s, peer, who, env);
        return;
    case STRATA__ENVELOPE__BODY_EXPLAIN:
        st__client_explain (s, peer, who, env);
        return;
    case STRATA__ENVELOPE__BODY_LOGS:
        s_on_logs (s, peer, who, env);
        return;
    case STRATA__ENVELOPE__BODY_GET: {
        static const char hint[] = "list jobs with `strata jobs`";
        st__job_record_t *rec = NULL;
        if (s_get_job (s, env->get->job_id, &rec, &err) != ST_OK) {
            if (err.rc == ST_ENOTFOUND)
                st__client_no_job (s, peer, env->seq, env->get->job_id, hint);
            else
                st__client_error (s, peer, env->seq, s_code (err.rc), err.msg, NULL);
            return;
        }
        st__authz_t a = st__authz_job (who, ST__ACT_SEE, rec->id, rec->tenant, rec->submitted_by, &err);
        if (a != ST__AUTHZ_ALLOW) {
            st__job_record_free (rec);
            if (a == ST__AUTHZ_HIDDEN)
                st__client_no_job (s, peer, env->seq, env->get->job_id, hint);
            else
                st__client_denied (s, peer, env->seq, &err);
            return;
        }
        Strata__JobInfo *job = s_job_info_for (rec, who);
        st__job_record_free (rec);
        /*  Progress lives in memory only (model/runtime.c).  */
        Strata__Progress progress = STRATA__PROGRESS__INIT;
        const st__job_t *live = st_map_get_u64 (s->m->jobs, job->id);
        if (live && live->has_progress) {
            progress.step = live->progress_step;
            progress.total_steps = live->progress_total;
            progress.loss = live->progress_loss;
            progress.rate = live->progress_rate;
            progress.unit = (char *) live->progress_unit;
            job->progress = &progress;
        }
        Strata__Envelope out;
        st_wire_envelope_init (&out, st__net_next_seq (s));
        out.reply_to = env->seq;
        out.body_case = STRATA__ENVELOPE__BODY_JOB;
        out.job = job;
        if (st_wire_send (s->client_sock, peer, &out) == ST_ETOOBIG)
            st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_INTERNAL, "the job is too large to send",
                              NULL);
        job->progress = NULL;
        strata__job_info__free_unpacked (job, NULL);
        return;
    }
    case STRATA__ENVELOPE__BODY_LIST: {
        const char *want = NULL;
        if (env->list->state != STRATA__JOB_STATE__JOB_STATE_UNSPECIFIED) {
            st_job_state_t st;
            if (st_wire_job_state_from (env->list->state, &st) != 0) {
                char hint[160] = "states: ";
                size_t at = strlen (hint);
                st_vocab_join (st_job_state_names (), " ", hint + at, sizeof hint - at);
                st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_INVALID, "unknown job state", hint);
                return;
            }
            want = st_job_state_name (st);
        }
        /*  Only the principal's tenants (authz.c).  */
        const char *tenant = env->list->tenant ? env->list->tenant : "";
        if (st__authz_list (who, tenant, &err) != 0) {
            st__client_denied (s, peer, env->seq, &err);
            return;
        }
        static const char *const no_tenants[] = { NULL };
        int every = st__authz_all_tenants (who);
        st__job_record_t *recs = NULL;
        size_t nrecs = 0;
        st_rc_t rc = s->store.list_jobs ? s->store.list_jobs (s->store.ctx, want, tenant,
                                                              every          ? NULL
                                                              : who->tenants ? who->tenants
                                                                             : no_tenants,
                                                              every ? 0 : who->ntenants, env->list->limit,
                                                              env->list->active_only, &recs, &nrecs, &err)
                                        : st_error_set (&err, ST_EDB, NULL, "no database");
        if (rc != ST_OK) {
            st__client_error (s, peer, env->seq, s_code (err.rc), err.msg, NULL);
            return;
        }
        Strata__ListReply *list = malloc (sizeof *list);
        if (!list)
            abort ();
        strata__list_reply__init (list);
        list->jobs = calloc (nrecs + 1, sizeof *list->jobs);
        if (!list->jobs)
            abort ();
        for (size_t i = 0; i < nrecs; i++)
            list->jobs[list->n_jobs++] = s_job_info_for (&recs[i], who);
        st__job_records_free (recs, nrecs);
        Strata__Envelope out;
        st_wire_envelope_init (&out, st__net_next_seq (s));
        out.reply_to = env->seq;
        out.body_case = STRATA__ENVELOPE__BODY_LIST_REPLY;
        out.list_reply = list;
        if (st_wire_send (s->client_sock, peer, &out) == ST_ETOOBIG)
            st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_INVALID, "the listing is too large",
                              "ask for fewer jobs with --limit");
        strata__list_reply__free_unpacked (list, NULL);
        return;
    }
    default:
        s->m->counters.bad_frames++;
        st_warn ("dropped unexpected %s message on client socket (bad_frames=%" PRIu64 ")", st_wire_body_name (env),
                 s->m->counters.bad_frames);
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_INVALID, "not a client request", NULL);
        return;
    }
}
