/*  store.c: everything the scheduler keeps in PostgreSQL.
 *
 *  Writes are batched: the loop marks jobs, tasks and nodes dirty and queues
 *  events; a flush sends one statement per kind of row (rows travel as a JSON
 *  array expanded by jsonb_to_recordset) in a libpq pipeline, so a whole batch
 *  is one round trip and one implicit transaction. The loop does not wait for
 *  it: st__store_flush_begin sends the batch and takes its rows, and
 *  st__store_flush_poll reads the answer as it arrives (st__store_flush sends
 *  and waits, for start-up, shutdown and tests). Job updates carry the state
 *  the scheduler believes the row has; if any row disagrees, strata_assert
 *  aborts the transaction and the scheduler stops rather than overwrite another
 *  writer's work. All SQL is parameterised. */
#include "store.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrations.h"
#include "st_field.h"
#include "st_log.h"
#include "st_time.h"
#include "st_utf8.h"
#include "st_vec.h"

#define TERMINAL_SQL "('SUCCEEDED','FAILED','CANCELLED')"

static st_rc_t
s_db_error (st_error_t *err, PGconn *db, const char *what)
{
    const char *m = PQerrorMessage (db);
    char msg[400];
    snprintf (msg, sizeof msg, "%s", m);
    size_t n = strlen (msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    return st_error_set (err, ST_EDB, NULL, "%s: %s", what, msg);
}

static st_rc_t
s_result_error (st_error_t *err, PGresult *res, const char *what)
{
    const char *m = PQresultErrorMessage (res);
    char msg[400];
    snprintf (msg, sizeof msg, "%s", m ? m : "");
    size_t n = strlen (msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    return st_error_set (err, ST_EDB, NULL, "%s: %s", what, msg);
}

static void s_settle (st__store_t *s);

st_rc_t
st__store_connect (st__store_t *s, st_error_t *err)
{
    s->db = PQconnectdb (s->database);
    if (PQstatus (s->db) != CONNECTION_OK) {
        st_rc_t rc = s_db_error (err, s->db, "cannot connect to the database");
        st_error_hint (err,
                       "check --database (a libpq connection string, e.g. \"host=/tmp port=5432 dbname=strata\")");
        PQfinish (s->db);
        s->db = NULL;
        return rc;
    }
    PGresult *res = PQexec (s->db, "SET application_name = 'strata-scheduler'; SET client_min_messages = warning");
    PQclear (res);
    return ST_OK;
}

st_rc_t
st__store_lead (st__store_t *s, volatile int *stop, st_error_t *err)
{
    int announced = 0;
    while (!*stop) {
        PGresult *res = PQexec (s->db, "SELECT pg_try_advisory_lock (6004208016069427201)");
        if (PQresultStatus (res) != PGRES_TUPLES_OK) {
            st_rc_t rc = s_result_error (err, res, "leader lock");
            PQclear (res);
            return rc;
        }
        int got = strcmp (PQgetvalue (res, 0, 0), "t") == 0;
        PQclear (res);
        if (got)
            return ST_OK;
        if (!announced++)
            st_info ("standing by: another scheduler holds the leader lock");
        st_sleep_ms (1000);
    }
    return st_error_set (err, ST_EAGAIN, NULL, "stopped while standing by");
}

st_rc_t
st__store_migrate (st__store_t *s, st_error_t *err)
{
    st_rc_t rc = ST_OK;
    int known = 0;
    for (const st__migration_t *m = st__migrations; m->sql; m++)
        known = m->version;

    PGresult *res = PQexec (s->db, "SELECT to_regclass ('schema_version') IS NOT NULL");
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        rc = s_result_error (err, res, "reading the schema version");
        PQclear (res);
        return rc;
    }
    int exists = strcmp (PQgetvalue (res, 0, 0), "t") == 0;
    PQclear (res);
    int current = 0;
    if (exists) {
        res = PQexec (s->db, "SELECT coalesce (max (version), 0) FROM schema_version");
        if (PQresultStatus (res) != PGRES_TUPLES_OK) {
            rc = s_result_error (err, res, "reading the schema version");
            PQclear (res);
            return rc;
        }
        current = atoi (PQgetvalue (res, 0, 0));
        PQclear (res);
    }
    if (current > known) {
        st_error_set (err, ST_EVERSION, NULL,
                      "the database schema is at version %d, newer than this scheduler knows (%d)", current, known);
        st_error_hint (err, "run a strata-scheduler at least as new as the one that upgraded the database");
        return ST_EVERSION;
    }
    for (const st__migration_t *m = st__migrations; m->sql; m++) {
        if (m->version <= current)
            continue;
        st_info ("applying migration %s", m->name);
        res = PQexec (s->db, "BEGIN");
        PQclear (res);
        res = PQexec (s->db, m->sql);
        if (PQresultStatus (res) != PGRES_COMMAND_OK && PQresultStatus (res) != PGRES_TUPLES_OK) {
            st_error_set (err, ST_EDB, NULL, "migration %s failed: %s", m->name, PQresultErrorMessage (res));
            PQclear (res);
            res = PQexec (s->db, "ROLLBACK");
            PQclear (res);
            return ST_EDB;
        }
        PQclear (res);
        char ver[16];
        snprintf (ver, sizeof ver, "%d", m->version);
        const char *params[] = { ver, m->name };
        res = PQexecParams (s->db, "INSERT INTO schema_version (version, description) VALUES ($1, $2)", 2, NULL,
                            params, NULL, NULL, 0);
        if (PQresultStatus (res) != PGRES_COMMAND_OK) {
            rc = s_result_error (err, res, "recording the schema version");
            PQclear (res);
            res = PQexec (s->db, "ROLLBACK");
            PQclear (res);
            return rc;
        }
        PQclear (res);
        res = PQexec (s->db, "COMMIT");
        if (PQresultStatus (res) != PGRES_COMMAND_OK)
            rc = s_result_error (err, res, "committing a migration");
        PQclear (res);
        if (rc != ST_OK)
            return rc;
    }
    st_info ("database schema at version %d", known > current ? known : current);
    return ST_OK;
}

/*  -- loading -------------------------------------------------------------  */

static uint64_t
s_u64 (PGresult *res, int row, int col)
{
    return PQgetisnull (res, row, col) ? 0 : strtoull (PQgetvalue (res, row, col), NULL, 10);
}

static char *
s_dup (PGresult *res, int row, int col)
{
    char *p = strdup (PQgetvalue (res, row, col));
    if (!p)
        abort ();
    return p;
}

/*  A nullable text column: NULL for NULL.  */
static char *
s_dup_or_null (PGresult *res, int row, int col)
{
    return PQgetisnull (res, row, col) ? NULL : s_dup (res, row, col);
}

static int64_t
s_i64 (PGresult *res, int row, int col)
{
    return PQgetisnull (res, row, col) ? 0 : strtoll (PQgetvalue (res, row, col), NULL, 10);
}

#define MS(col) "coalesce ((extract (epoch FROM " col ") * 1000)::bigint, 0)"

static void
s_labels_from_json (st_kv_t *kv, const char *text)
{
    json_t *obj = json_loads (text, 0, NULL);
    const char *k;
    json_t *v;
    json_object_foreach (obj, k, v)
        if (json_is_string (v))
            st_kv_add (kv, k, json_string_value (v));
    json_decref (obj);
}

static st__model_version_t *
s_version_from_row (PGresult *res, int i)
{
    st__model_version_t *v = calloc (1, sizeof *v);
    if (!v)
        abort ();
    v->tenant = s_dup (res, i, 0);
    v->name = s_dup (res, i, 1);
    v->version = (uint32_t) s_u64 (res, i, 2);
    v->job_id = s_u64 (res, i, 3);
    v->checkpoint = s_dup_or_null (res, i, 4);
    v->pool = s_dup (res, i, 5);
    v->jurisdiction = s_dup_or_null (res, i, 6);
    v->variant = s_dup_or_null (res, i, 7);
    if (sp_class_parse (PQgetvalue (res, i, 8), &v->classification) != 0)
        v->classification = SP_CLASS_RESTRICTED; /*  cannot happen (a CHECK); the safe side if it did  */
    json_t *arr = json_loads (PQgetvalue (res, i, 9), 0, NULL);
    size_t n = json_is_array (arr) ? json_array_size (arr) : 0;
    if (n && !(v->residency = calloc (n, sizeof *v->residency)))
        abort ();
    for (size_t k = 0; k < n; k++)
        if (json_is_string (json_array_get (arr, k))
            && !(v->residency[v->nresidency++] = strdup (json_string_value (json_array_get (arr, k)))))
            abort ();
    json_decref (arr);
    v->created_wall = s_u64 (res, i, 10);
    return v;
}

/*  A loaded job's fixed fine-tuned model version ("NAME:VERSION"). A running
 *  job gets its placement view narrowed again (for a later attempt); a pending
 *  one is narrowed when it is admitted (deps.c).  */
static void
s_load_model_ref (st__store_t *s, st__job_t *job, const char *ref)
{
    const char *colon = strrchr (ref, ':');
    job->model_ref = strdup (ref);
    job->ft_version = colon ? (uint32_t) strtoul (colon + 1, NULL, 10) : 0;
    if (!job->model_ref)
        abort ();
    if (job->state == ST_JOB_PENDING || !job->spec->model)
        return;
    char why[400];
    const st__model_version_t *v = st__registry_find (s->m, job->spec->tenant, job->spec->model, job->ft_version);
    if (!v || st__registry_apply (s->m, job, v, why, sizeof why) != 0)
        st_warn ("job %" PRIu64 ": its model %s is %s", job->id, ref, v ? why : "no longer registered");
}

/*  -- the states of finished dependencies (model/deps.c) --------------------  */

/*  Notes the (id, state, tenant) rows of sql in the model (st__deps_note_state).  */
static st_rc_t
s_fetch_states (st__store_t *s, const char *sql, const char *param, st_error_t *err)
{
    PGresult *res = PQexecParams (s->db, sql, param ? 1 : 0, NULL, param ? &param : NULL, NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        char msg[300];
        snprintf (msg, sizeof msg, "%s", PQresultErrorMessage (res));
        msg[strcspn (msg, "\n")] = '\0';
        PQclear (res);
        return st_error_set (err, ST_EDB, NULL, "reading the jobs depended on: %s", msg);
    }
    for (int i = 0; i < PQntuples (res); i++) {
        st_job_state_t state;
        if (st_job_state_parse (PQgetvalue (res, i, 1), &state) != 0)
            state = ST_JOB_FAILED;
        st__deps_note_state (s->m, strtoull (PQgetvalue (res, i, 0), NULL, 10), state, PQgetvalue (res, i, 2));
    }
    PQclear (res);
    return ST_OK;
}

/*  The finished jobs that unfinished jobs depend on (start-up).  */
static st_rc_t
s_deps_prefetch (st__store_t *s, st_error_t *err)
{
    /*  Only finished ones: the unfinished are loaded into memory anyway. An
     *  element that is no job id (a hand-edited spec, which then does not
     *  parse and is skipped) must not make the cast, and start-up, fail.  */
    return s_fetch_states (s,
                           "SELECT d.id, d.state, d.tenant FROM jobs d WHERE d.state IN " TERMINAL_SQL " AND d.id IN "
                           "(SELECT CASE WHEN e ~ '^[0-9]{1,18}$' THEN e::bigint END FROM jobs j, "
                           "jsonb_array_elements_text (j.spec->'depends_on') e "
                           "WHERE j.state = 'PENDING' AND jsonb_typeof (j.spec->'depends_on') = 'array')",
                           NULL, err);
}

st_rc_t
st__store_dep_states (st__store_t *s, const st__job_t *job, st_error_t *err)
{
    st__deps_forget_states (s->m);
    /*  The ones not in memory have finished (or never existed): one query.  */
    uint64_t ids[64];
    size_t n = st__deps_missing (s->m, job, ids, sizeof ids / sizeof ids[0]);
    if (n == 0 || !s->db)
        return ST_OK;
    s_settle (s);
    char arr[64 * 24 + 4];
    size_t used = 0;
    arr[used++] = '{';
    for (size_t i = 0; i < n; i++)
        used += (size_t) snprintf (arr + used, sizeof arr - used, "%s%" PRIu64, i ? "," : "", ids[i]);
    snprintf (arr + used, sizeof arr - used, "}");
    return s_fetch_states (s, "SELECT id, state, tenant FROM jobs WHERE id = ANY ($1::bigint[])", arr, err);
}

void
st__store_tokens_free (st__store_t *s)
{
    for (size_t i = 0; i < s->ntokens; i++) {
        free (s->tokens[i].tenant);
        free (s->tokens[i].token);
        free (s->tokens[i].submitted_by);
    }
    free (s->tokens);
    s->tokens = NULL;
    s->ntokens = 0;
}

void
st__store_release (st__store_t *s)
{
    st__store_tokens_free (s);
    for (size_t k = 0; k < sizeof s->rows / sizeof s->rows[0]; k++) {
        free (s->rows[k].p);
        s->rows[k] = (st__store_buf_t) { 0 };
    }
}

void
st__store_close (st__store_t *s)
{
    st__store_release (s);
    if (s->db)
        PQfinish (s->db);
    s->db = NULL;
}

st_rc_t
st__store_load (st__store_t *s, st_error_t *err)
{
    st_rc_t rc = ST_OK;
    st__job_t **loaded = NULL;
    PGresult *res = PQexec (s->db, "SELECT coalesce (max (id), 0) FROM jobs");
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        rc = s_result_error (err, res, "loading jobs");
        goto out;
    }
    s->m->next_job_id = s_u64 (res, 0, 0) + 1;
    PQclear (res);

    res = PQexec (s->db, "SELECT name, pool, state, cpus_milli, mem_mb, gpus, gpu_type, labels::text, epoch, "
                         "hostname, version, " MS ("last_seen_at") ", instance FROM nodes");
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        rc = s_result_error (err, res, "loading nodes");
        goto out;
    }
    uint64_t now = st_mono_ms ();
    for (int i = 0; i < PQntuples (res); i++) {
        st__node_t *n = st__node_new (PQgetvalue (res, i, 0));
        if (!n)
            abort ();
        n->pool = strdup (PQgetvalue (res, i, 1));
        n->state = strcmp (PQgetvalue (res, i, 2), "UP") == 0 ? ST__NODE_UP : ST__NODE_LOST;
        n->cap_cpus_milli = (uint32_t) s_u64 (res, i, 3);
        n->cap_mem_mb = s_u64 (res, i, 4);
        n->cap_gpus = (uint32_t) s_u64 (res, i, 5);
        n->gpu_type = strdup (PQgetvalue (res, i, 6));
        s_labels_from_json (&n->labels, PQgetvalue (res, i, 7));
        n->epoch = s_u64 (res, i, 8);
        n->hostname = strdup (PQgetvalue (res, i, 9));
        n->version = strdup (PQgetvalue (res, i, 10));
        n->last_seen_wall = s_u64 (res, i, 11);
        /*  So the same worker process, reconnecting after our restart, keeps its epoch.  */
        n->instance = s_u64 (res, i, 12);
        /*  A node that was up gets a full timeout to come back before it is declared lost.  */
        n->last_seen_mono = now;
        n->persisted = 1;
        st_map_put (s->m->nodes, n->name, strlen (n->name), n);
    }
    PQclear (res);

    /*  Fine-tuned model versions, before the jobs that use them.  */
    res = PQexec (s->db, "SELECT tenant, name, version, job_id, checkpoint, pool, jurisdiction, base_variant, "
                         "classification, array_to_json (residency)::text, " MS (
                             "created_at") " FROM model_versions ORDER BY tenant, name, version");
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        rc = s_result_error (err, res, "loading model versions");
        goto out;
    }
    for (int i = 0; i < PQntuples (res); i++)
        st__registry_add (s->m, s_version_from_row (res, i));
    PQclear (res);

    res = PQexec (
        s->db,
        "SELECT id, spec::text, state, reason, attempt, max_attempts, exit_code, cancel_requested, " MS ("created_at") ", " MS (
            "started_at") ", " MS ("finished_at") ", pool, variant, "
                                                  "placement::text, est_cost, est_kwh, est_co2_g, cost, kwh, co2_g, preemptions, model_ref, submitted_by"
                                                  " FROM jobs WHERE state NOT IN " TERMINAL_SQL " ORDER BY id");
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        rc = s_result_error (err, res, "loading jobs");
        goto out;
    }
    loaded = calloc ((size_t) PQntuples (res) + 1, sizeof *loaded);
    size_t nloaded = 0;
    if (!loaded)
        abort ();
    for (int i = 0; i < PQntuples (res); i++) {
        uint64_t id = s_u64 (res, i, 0);
        const char *spec_text = PQgetvalue (res, i, 1);
        st_error_t perr = { 0 };
        st_spec_t *spec = st_spec_parse (spec_text, strlen (spec_text), &perr);
        if (!spec) {
            /*  Cannot happen for rows this scheduler wrote; leave the row for a person.  */
            st_error ("job %" PRIu64 ": stored spec does not parse (%s); skipping it", id, perr.msg);
            continue;
        }
        st__job_t *job = st__job_new (s->m, id, spec, strdup (spec_text), s_u64 (res, i, 8));
        if (!job)
            abort ();
        st_job_state_parse (PQgetvalue (res, i, 2), &job->state);
        job->db_state = job->state;
        snprintf (job->reason, sizeof job->reason, "%s", PQgetvalue (res, i, 3));
        job->attempt = (uint32_t) s_u64 (res, i, 4);
        job->max_attempts = (uint32_t) s_u64 (res, i, 5);
        job->has_exit = !PQgetisnull (res, i, 6);
        job->exit_code = (int32_t) s_i64 (res, i, 6);
        job->cancel_requested = strcmp (PQgetvalue (res, i, 7), "t") == 0;
        job->started_wall = s_u64 (res, i, 9);
        job->finished_wall = s_u64 (res, i, 10);
        if (!PQgetisnull (res, i, 11))
            job->pool = strdup (PQgetvalue (res, i, 11));
        if (!PQgetisnull (res, i, 12))
            job->variant = strdup (PQgetvalue (res, i, 12));
        if (!PQgetisnull (res, i, 13))
            job->placement_json = strdup (PQgetvalue (res, i, 13));
        if ((job->has_estimate = !PQgetisnull (res, i, 14))) {
            job->est_cost = strtod (PQgetvalue (res, i, 14), NULL);
            job->est_kwh = strtod (PQgetvalue (res, i, 15), NULL);
            job->est_co2_g = strtod (PQgetvalue (res, i, 16), NULL);
        }
        if ((job->has_actual = !PQgetisnull (res, i, 17))) {
            job->cost = strtod (PQgetvalue (res, i, 17), NULL);
            job->kwh = strtod (PQgetvalue (res, i, 18), NULL);
            job->co2_g = strtod (PQgetvalue (res, i, 19), NULL);
        }
        job->preemptions = (uint32_t) s_u64 (res, i, 20);
        if (!PQgetisnull (res, i, 21))
            s_load_model_ref (s, job, PQgetvalue (res, i, 21));
        if (!PQgetisnull (res, i, 22) && !(job->submitted_by = strdup (PQgetvalue (res, i, 22))))
            abort ();
        /*  A pending job's last attempt was accounted before it was requeued.  */
        if (job->state == ST_JOB_PENDING)
            job->accounted_attempt = job->attempt;
        job->pj.start_s = (job->started_wall ? job->started_wall : st_wall_ms ()) / 1000.0;
        job->persisted = 1;
        st_map_put_u64 (s->m->jobs, id, job);
        loaded[nloaded++] = job;
    }
    PQclear (res);

    res = PQexec (
        s->db,
        "SELECT t.job_id, t.idx, t.attempt, t.state, coalesce (t.node, ''), coalesce (t.pid, 0), "
        "t.exit_code, coalesce (t.term_signal, 0), " MS ("t.started_at") ", " MS (
            "t.finished_at") ", t.peak_mem_kib, t.cpu_ms, t.reason FROM tasks t JOIN jobs j ON j.id = t.job_id "
                             "WHERE j.state NOT IN " TERMINAL_SQL);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        rc = s_result_error (err, res, "loading tasks");
        goto out;
    }
    size_t live = 0;
    for (int i = 0; i < PQntuples (res); i++) {
        st__task_t *t = st__model_find_task (s->m, s_u64 (res, i, 0), (uint32_t) s_u64 (res, i, 1));
        if (!t)
            continue;
        t->attempt = (uint32_t) s_u64 (res, i, 2);
        st_task_state_parse (PQgetvalue (res, i, 3), &t->state);
        const char *node = PQgetvalue (res, i, 4);
        t->pid = (int32_t) s_i64 (res, i, 5);
        t->has_exit = !PQgetisnull (res, i, 6);
        t->exit_code = (int32_t) s_i64 (res, i, 6);
        t->term_signal = (int32_t) s_i64 (res, i, 7);
        t->started_wall = s_u64 (res, i, 8);
        t->finished_wall = s_u64 (res, i, 9);
        t->has_peak = !PQgetisnull (res, i, 10);
        t->peak_mem_kib = s_u64 (res, i, 10);
        t->has_cpu = !PQgetisnull (res, i, 11);
        t->cpu_ms = s_u64 (res, i, 11);
        if (!PQgetisnull (res, i, 12))
            t->reason = strdup (PQgetvalue (res, i, 12));
        if (*node)
            t->node_name = strdup (node);
        int is_live = st__task_live (t);
        st__node_t *n = *node ? st_map_get (s->m->nodes, node, strlen (node)) : NULL;
        if (is_live && n) {
            st__task_assign (s->m, t, n);
            live++;
        }
        else if (is_live) {
            /*  Its node row is gone: treat the task as lost.  */
            st__task_set_state (s->m, t, ST_TASK_LOST);
            st__mark_task (s->m, t);
        }
        if (t->state == ST_TASK_STARTING || t->state == ST_TASK_SCHEDULED)
            t->launch_acked = 0;
    }
    PQclear (res);
    res = NULL;

    /*  Submission tokens of the last hour, so a client resending across our restart
     *  still gets its first job back. Their lifetime counts from the submission.  */
    res = PQexec (s->db, "SELECT tenant, submit_token, id, "
                         "(extract (epoch FROM created_at + interval '1 hour' - now ()) * 1000)::bigint, "
                         "coalesce (submitted_by, '') "
                         "FROM jobs WHERE submit_token IS NOT NULL AND created_at > now () - interval '1 hour' "
                         "ORDER BY created_at");
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        rc = s_result_error (err, res, "loading submission tokens");
        goto out;
    }
    st__store_tokens_free (s);
    if (PQntuples (res) > 0 && !(s->tokens = calloc ((size_t) PQntuples (res), sizeof *s->tokens)))
        abort ();
    for (int i = 0; i < PQntuples (res); i++) {
        int64_t left = s_i64 (res, i, 3);
        st__store_token_t *t = &s->tokens[s->ntokens++];
        t->tenant = s_dup (res, i, 0);
        t->token = s_dup (res, i, 1);
        t->job_id = s_u64 (res, i, 2);
        t->ttl_ms = left > 0 ? (uint64_t) left : 1;
        t->submitted_by = s_dup (res, i, 4);
    }
    PQclear (res);
    res = NULL;

    /*  Loading is not a change: nothing here needs writing back.  */
    for (size_t i = 0; i < s->m->ndirty_tasks; i++)
        s->m->dirty_tasks[i]->dirty = 0;
    s->m->ndirty_tasks = 0;

    /*  Pending jobs are admitted again, in id order (dependencies first): they
     *  wait for unfinished dependencies, fail for failed ones (deps.c).  */
    if ((rc = s_deps_prefetch (s, err)) != ST_OK)
        goto out;
    for (size_t i = 0; i < nloaded; i++) {
        st__job_t *job = loaded[i];
        if (job->state == ST_JOB_PENDING)
            st__deps_admit (s->m, job);
        else
            st__job_evaluate (s->m, job);
    }
    st__deps_forget_states (s->m);
    st_info ("loaded %zu node(s), %zu unfinished job(s) (%zu pending, %zu live task(s)); next job id %" PRIu64,
             st_map_size (s->m->nodes), st_map_size (s->m->jobs), s->m->npending, live, s->m->next_job_id);
out:
    free (loaded);
    PQclear (res);
    return rc;
}

/*  -- the batched write --------------------------------------------------  */

/*  -- rows as JSON text, without a tree -----------------------------------------
 *  Every row of a batch is written straight into the store's buffers
 *  (s->rows): no object per row and, once the buffers have grown to a batch's
 *  size, no allocation. Strings are escaped for JSON and any byte that is not
 *  valid UTF-8 (a worker's message, hostname or label is not checked on the
 *  wire) becomes U+FFFD, so no text can make PostgreSQL refuse a batch.  */

enum {
    S_ROWS_POOLS,
    S_ROWS_NODES,
    S_ROWS_TENANTS,
    S_ROWS_JOBS_NEW,
    S_ROWS_TASKS_NEW,
    S_ROWS_JOBS_UPD,
    S_ROWS_TASKS_UPD,
    S_ROWS_VERSIONS,
    S_ROWS_EVENTS,
    S_ROWS_N
};
_Static_assert(S_ROWS_N == sizeof ((st__store_t *) 0)->rows / sizeof (st__store_buf_t), "one buffer per statement");

/*  One statement's rows: far below PostgreSQL's 1 GB for a parameter.  */
#define S_ROWS_MAX ((size_t) 256 << 20)

/*  Makes room for more bytes and the NUL; sets bad when it cannot.  */
static int
s_room (st__store_buf_t *b, size_t more)
{
    if (b->bad)
        return 0;
    if (b->len + more + 1 <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = cap <= S_ROWS_MAX ? realloc (b->p, cap) : NULL;
    if (!p) {
        b->bad = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

static void
s_put (st__store_buf_t *b, const char *text, size_t n)
{
    if (!s_room (b, n))
        return;
    memcpy (b->p + b->len, text, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/*  A row: '[' opens the array before the first one.  */
static void
s_row_open (st__store_buf_t *b)
{
    s_put (b, b->len ? ",{" : "[{", 2);
}

static void
s_row_close (st__store_buf_t *b)
{
    s_put (b, "}", 1);
}

/*  "key": (keys are Strata's own names: nothing to escape).  */
static void
s_key (st__store_buf_t *b, const char *key)
{
    size_t k = strlen (key);
    if (!s_room (b, k + 4))
        return;
    char *p = b->p + b->len;
    if (b->p[b->len - 1] != '{')
        *p++ = ',';
    *p++ = '"';
    memcpy (p, key, k);
    p += k;
    *p++ = '"';
    *p++ = ':';
    b->len = (size_t) (p - b->p);
    b->p[b->len] = '\0';
}

static void
s_w_null (st__store_buf_t *b, const char *key)
{
    s_key (b, key);
    s_put (b, "null", 4);
}

/*  A run of valid UTF-8 (or one U+FFFD) from st_utf8_scrub, with quote,
 *  backslash and control characters escaped for JSON.  */
static int
s_str_run (void *arg, const char *run, size_t n)
{
    st__store_buf_t *b = arg;
    const char *from = run, *end = run + n;
    for (const char *c = run; c < end; c++) {
        unsigned char ch = (unsigned char) *c;
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        s_put (b, from, (size_t) (c - from));
        char esc[8];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char) ch;
            s_put (b, esc, 2);
        }
        else {
            snprintf (esc, sizeof esc, "\\u%04x", ch);
            s_put (b, esc, 6);
        }
        from = c + 1;
    }
    s_put (b, from, (size_t) (end - from));
    return 0;
}

/*  A JSON string: bytes that are not valid UTF-8 replaced by U+FFFD (the
 *  rule of st_utf8.h, the same as everywhere else), then escaped.  */
static void
s_str (st__store_buf_t *b, const char *v)
{
    s_put (b, "\"", 1);
    st_utf8_scrub (v, SIZE_MAX, s_str_run, b);
    s_put (b, "\"", 1);
}

/*  "key": v as a JSON string; NULL: null.  */
static void
s_w_str (st__store_buf_t *b, const char *key, const char *v)
{
    if (!v) {
        s_w_null (b, key);
        return;
    }
    s_key (b, key);
    s_str (b, v);
}

static void
s_w_int (st__store_buf_t *b, const char *key, int64_t v)
{
    char t[24];
    int n = snprintf (t, sizeof t, "%" PRId64, v);
    s_key (b, key);
    s_put (b, t, (size_t) n);
}

/*  v when has, else null.  */
static void
s_w_int_if (st__store_buf_t *b, const char *key, int has, int64_t v)
{
    if (has)
        s_w_int (b, key, v);
    else
        s_w_null (b, key);
}

/*  v when has and finite (JSON has no NaN), else null.  */
static void
s_w_real_if (st__store_buf_t *b, const char *key, int has, double v)
{
    if (!has || !isfinite (v)) {
        s_w_null (b, key);
        return;
    }
    char t[40];
    int n = snprintf (t, sizeof t, "%.17g", v);
    s_key (b, key);
    s_put (b, t, (size_t) n);
}

static void
s_w_bool (st__store_buf_t *b, const char *key, int v)
{
    s_key (b, key);
    s_put (b, v ? "true" : "false", v ? 4 : 5);
}

static void
s_node_row (st__store_buf_t *b, const st__node_t *n)
{
    s_row_open (b);
    s_w_str (b, "name", n->name);
    s_w_str (b, "pool", n->pool ? n->pool : "default");
    s_w_str (b, "state", n->state == ST__NODE_UP ? "UP" : "LOST");
    s_w_int (b, "cpus_milli", (int64_t) n->cap_cpus_milli);
    s_w_int (b, "mem_mb", (int64_t) n->cap_mem_mb);
    s_w_int (b, "gpus", (int64_t) n->cap_gpus);
    s_w_str (b, "gpu_type", n->gpu_type ? n->gpu_type : "");
    s_key (b, "labels");
    s_put (b, "{", 1);
    for (size_t i = 0; i < n->labels.n; i++) {
        if (i)
            s_put (b, ",", 1);
        s_str (b, n->labels.keys[i]);
        s_put (b, ":", 1);
        s_str (b, n->labels.vals[i]);
    }
    s_put (b, "}", 1);
    s_w_int (b, "epoch", (int64_t) n->epoch);
    s_w_str (b, "hostname", n->hostname ? n->hostname : "");
    s_w_str (b, "version", n->version ? n->version : "");
    s_w_int (b, "last_seen", (int64_t) (n->last_seen_wall ? n->last_seen_wall : st_wall_ms ()));
    char instance[24];
    snprintf (instance, sizeof instance, "%" PRIu64, n->instance);
    s_w_str (b, "instance", instance);
    s_row_close (b);
}

/*  The columns every job row has (new or updated); the row stays open.  */
static void
s_job_common (st__store_buf_t *b, const st__job_t *job)
{
    s_row_open (b);
    s_w_int (b, "id", (int64_t) job->id);
    s_w_str (b, "state", st_job_state_name (job->state));
    s_w_str (b, "reason", job->reason);
    s_w_int (b, "attempt", job->attempt);
    s_w_int (b, "max_attempts", job->max_attempts);
    s_w_bool (b, "cancel_requested", job->cancel_requested);
    s_w_int_if (b, "exit_code", job->has_exit, job->exit_code);
    s_w_int_if (b, "started", job->started_wall != 0, (int64_t) job->started_wall);
    s_w_int_if (b, "finished", job->finished_wall != 0, (int64_t) job->finished_wall);
    /*  Placement: where, with which model, at what estimated and actual cost.  */
    s_w_str (b, "pool", job->pool);
    s_w_str (b, "variant", job->variant);
    s_w_str (b, "placement", job->placement_json);
    s_w_real_if (b, "est_cost", job->has_estimate, job->est_cost);
    s_w_real_if (b, "est_kwh", job->has_estimate, job->est_kwh);
    s_w_real_if (b, "est_co2_g", job->has_estimate, job->est_co2_g);
    s_w_real_if (b, "cost", job->has_actual, job->cost);
    s_w_real_if (b, "kwh", job->has_actual, job->kwh);
    s_w_real_if (b, "co2_g", job->has_actual, job->co2_g);
    s_w_int (b, "preemptions", job->preemptions);
    s_w_str (b, "model_ref", job->model_ref);
}

static void
s_task_row (st__store_buf_t *b, const st__task_t *t)
{
    s_row_open (b);
    s_w_int (b, "job_id", (int64_t) t->job->id);
    s_w_int (b, "idx", t->index);
    s_w_int (b, "attempt", t->attempt);
    s_w_str (b, "state", st_task_state_name (t->state));
    s_w_str (b, "node", t->node_name);
    s_w_int_if (b, "pid", t->pid != 0, t->pid);
    s_w_int_if (b, "exit_code", t->has_exit, t->exit_code);
    s_w_int_if (b, "term_signal", t->term_signal != 0, t->term_signal);
    s_w_int_if (b, "started", t->started_wall != 0, (int64_t) t->started_wall);
    s_w_int_if (b, "finished", t->finished_wall != 0, (int64_t) t->finished_wall);
    s_w_int_if (b, "peak_mem_kib", t->has_peak, (int64_t) t->peak_mem_kib);
    s_w_int_if (b, "cpu_ms", t->has_cpu, (int64_t) t->cpu_ms);
    if (t->reason)
        s_w_str (b, "reason", t->reason);
    s_row_close (b);
}

static void
s_event_row (st__store_buf_t *b, const st__event_t *e)
{
    s_row_open (b);
    s_w_int (b, "at", (int64_t) e->at_wall);
    s_w_int (b, "job_id", (int64_t) e->job_id);
    s_w_int (b, "attempt", e->attempt);
    s_w_str (b, "kind", e->kind);
    s_w_str (b, "message", e->message);
    s_w_int_if (b, "task_idx", e->task_idx >= 0, e->task_idx);
    s_w_str (b, "from_state", e->from_state);
    s_w_str (b, "to_state", e->to_state);
    s_w_str (b, "node", e->node);
    s_row_close (b);
}

#define TS(x) "CASE WHEN " x " IS NULL THEN NULL ELSE to_timestamp (" x " / 1000.0) END"

static const char *SQL_POOLS =
    "INSERT INTO pools (name) SELECT DISTINCT x.pool FROM jsonb_to_recordset ($1::jsonb) AS x (pool text) "
    "ON CONFLICT DO NOTHING";
static const char *SQL_NODES =
    "INSERT INTO nodes (name, pool, state, cpus_milli, mem_mb, gpus, gpu_type, labels, epoch, instance, hostname, "
    "version, last_seen_at) SELECT name, pool, state, cpus_milli, mem_mb, gpus, gpu_type, labels, epoch, instance, "
    "hostname, version, " TS (
        "last_seen") " FROM jsonb_to_recordset ($1::jsonb) AS x (name text, pool text, "
                     "state text, cpus_milli int, mem_mb bigint, gpus int, gpu_type text, labels jsonb, epoch bigint, instance text, "
                     "hostname text, version text, last_seen bigint) "
                     "ON CONFLICT (name) DO UPDATE SET pool = EXCLUDED.pool, state = EXCLUDED.state, cpus_milli = EXCLUDED.cpus_milli, "
                     "mem_mb = EXCLUDED.mem_mb, gpus = EXCLUDED.gpus, gpu_type = EXCLUDED.gpu_type, labels = EXCLUDED.labels, "
                     "epoch = EXCLUDED.epoch, instance = EXCLUDED.instance, hostname = EXCLUDED.hostname, version = EXCLUDED.version, "
                     "last_seen_at = EXCLUDED.last_seen_at";
static const char *SQL_TENANTS =
    "WITH x AS (SELECT * FROM jsonb_to_recordset ($1::jsonb) AS x (tenant text, queue text)), "
    "t AS (INSERT INTO tenants (name) SELECT DISTINCT tenant FROM x ON CONFLICT DO NOTHING) "
    "INSERT INTO queues (name) SELECT DISTINCT queue FROM x ON CONFLICT DO NOTHING";
static const char *SQL_JOBS_INSERT =
    "INSERT INTO jobs (id, name, tenant, queue, kind, priority, state, reason, ranks, cpus_milli, mem_mb, gpus, "
    "attempt, max_attempts, exit_code, cancel_requested, spec, submit_token, created_at, started_at, finished_at, "
    "pool, variant, placement, est_cost, est_kwh, est_co2_g, cost, kwh, co2_g, preemptions, model_ref, submitted_by) "
    "SELECT id, name, tenant, queue, kind, priority, state, reason, ranks, cpus_milli, mem_mb, gpus, attempt, "
    "max_attempts, exit_code, cancel_requested, spec::jsonb, submit_token, " TS ("created") ", " TS ("started") ", " TS (
        "finished") ", pool, variant, placement::jsonb, est_cost, est_kwh, est_co2_g, cost, kwh, co2_g, preemptions, "
                    "model_ref, submitted_by FROM jsonb_to_recordset ($1::jsonb) AS x (id bigint, name text, tenant text, queue text, "
                    "kind text, priority int, state text, reason text, ranks int, cpus_milli int, mem_mb bigint, gpus int, "
                    "attempt int, max_attempts int, exit_code int, cancel_requested bool, spec text, submit_token text, "
                    "created bigint, started bigint, finished bigint, pool text, variant text, placement text, est_cost float8, est_kwh float8, est_co2_g float8, cost float8, kwh float8, co2_g float8, preemptions int, "
                    "model_ref text, submitted_by text)";
static const char *SQL_TASKS_INSERT =
    "INSERT INTO tasks (job_id, idx, attempt, state, node, pid, exit_code, term_signal, started_at, finished_at, "
    "peak_mem_kib, cpu_ms, reason) "
    "SELECT job_id, idx, attempt, state, node, pid, exit_code, term_signal, " TS ("started") ", " TS (
        "finished") ", peak_mem_kib, cpu_ms, reason FROM jsonb_to_recordset ($1::jsonb) AS x (job_id bigint, idx int, "
                    "attempt int, state text, node text, pid int, exit_code int, term_signal int, started bigint, "
                    "finished bigint, peak_mem_kib bigint, cpu_ms bigint, reason text)";
static const char *SQL_JOBS_UPDATE =
    "WITH v AS (SELECT * FROM jsonb_to_recordset ($1::jsonb) AS x (id bigint, from_state text, state text, "
    "reason text, attempt int, max_attempts int, exit_code int, cancel_requested bool, started bigint, "
    "finished bigint, pool text, variant text, placement text, est_cost float8, est_kwh float8, est_co2_g float8, cost float8, kwh float8, co2_g float8, preemptions int, "
    "model_ref text)), "
    "u AS (UPDATE jobs j SET state = v.state, reason = v.reason, attempt = v.attempt, exit_code = v.exit_code, "
    "cancel_requested = v.cancel_requested, started_at = " TS ("v.started") ", finished_at = " TS (
        "v.finished") ", pool = v.pool, variant = v.variant, placement = v.placement::jsonb, est_cost = v.est_cost, "
                      "est_kwh = v.est_kwh, est_co2_g = v.est_co2_g, cost = v.cost, kwh = v.kwh, co2_g = v.co2_g, "
                      "preemptions = v.preemptions, model_ref = v.model_ref, updated_at = now () "
                      "FROM v WHERE j.id = v.id AND j.state = v.from_state RETURNING 1) "
                      "SELECT strata_assert ((SELECT count (*) FROM u) = $2::bigint, 'jobs changed under the scheduler')";
static const char *SQL_TASKS_UPDATE =
    "UPDATE tasks t SET attempt = v.attempt, state = v.state, node = v.node, pid = v.pid, exit_code = v.exit_code, "
    "term_signal = v.term_signal, started_at = " TS ("v.started") ", finished_at = " TS (
        "v.finished") ", peak_mem_kib = v.peak_mem_kib, cpu_ms = v.cpu_ms, reason = v.reason "
                      "FROM jsonb_to_recordset ($1::jsonb) AS v (job_id bigint, idx int, attempt int, state text, node text, "
                      "pid int, exit_code int, term_signal int, started bigint, finished bigint, peak_mem_kib bigint, "
                      "cpu_ms bigint, reason text) "
                      "WHERE t.job_id = v.job_id AND t.idx = v.idx";
static const char *SQL_EVENTS =
    "INSERT INTO events (at, job_id, task_idx, attempt, kind, from_state, to_state, node, message) "
    "SELECT to_timestamp (at / 1000.0), job_id, task_idx, attempt, kind, from_state, to_state, node, message "
    "FROM jsonb_to_recordset ($1::jsonb) AS x (at bigint, job_id bigint, task_idx int, attempt int, kind text, "
    "from_state text, to_state text, node text, message text)";

/*  Fine-tuned model versions registered in this batch (registry.c), with the
 *  SUCCEEDED states of the jobs that made them.  */
static const char *SQL_MODEL_VERSIONS =
    "INSERT INTO model_versions (tenant, name, version, job_id, checkpoint, pool, jurisdiction, base_variant, "
    "classification, residency, created_at) SELECT tenant, name, version, job_id, checkpoint, pool, jurisdiction, "
    "base_variant, classification, ARRAY (SELECT jsonb_array_elements_text (residency)), " TS (
        "created") " FROM jsonb_to_recordset ($1::jsonb) AS x (tenant text, name text, version int, job_id bigint, "
                   "checkpoint text, pool text, jurisdiction text, base_variant text, classification text, residency jsonb, "
                   "created bigint)";

static void
s_version_row (st__store_buf_t *b, const st__model_version_t *v)
{
    s_row_open (b);
    s_w_str (b, "tenant", v->tenant);
    s_w_str (b, "name", v->name);
    s_w_int (b, "version", (int64_t) v->version);
    s_w_int (b, "job_id", (int64_t) v->job_id);
    s_w_str (b, "pool", v->pool);
    s_w_str (b, "classification", sp_class_name (v->classification));
    s_key (b, "residency");
    s_put (b, "[", 1);
    for (size_t i = 0; i < v->nresidency; i++) {
        if (i)
            s_put (b, ",", 1);
        s_str (b, v->residency[i]);
    }
    s_put (b, "]", 1);
    s_w_int (b, "created", (int64_t) v->created_wall);
    s_w_str (b, "checkpoint", v->checkpoint);
    s_w_str (b, "jurisdiction", v->jurisdiction);
    s_w_str (b, "base_variant", v->variant);
    s_row_close (b);
}

typedef struct {
    const char *what;
    const char *sql;
    const char *param; /*  the rows as a JSON array (in a store buffer)  */
    char count[24];
    int nparams;
} s_stmt_t;

/*  A statement over rows written into b (closes its array); count is the
 *  statement's second parameter when it has one.  */
static void
s_add_rows (s_stmt_t *stmts, int *n, const char *what, const char *sql, st__store_buf_t *b, size_t count)
{
    if (b->len == 0)
        return;
    s_put (b, "]", 1);
    s_stmt_t *st = &stmts[(*n)++];
    st->what = what;
    st->sql = sql;
    st->param = b->p;
    snprintf (st->count, sizeof st->count, "%zu", count);
    st->nparams = sql == SQL_JOBS_UPDATE ? 2 : 1;
}

/*  Something to write: dirty rows, events or registered model versions.  */
static int
s_flush_needed (const st__model_t *m)
{
    return m->ndirty_jobs || m->ndirty_tasks || m->ndirty_nodes || m->nevents || m->nnew_versions;
}

/*  Builds the batch from the model's queues and sends it as one pipeline
 *  ending in a sync (one implicit transaction); flush_state becomes SENT. The
 *  statements' parameters are built here, so the model may change as soon as
 *  this returns. The model's queues are left as they are: the caller takes them.  */
static st_rc_t
s_flush_send (st__store_t *s, st_error_t *err)
{
    st__store_buf_t *rows = s->rows;
    for (size_t k = 0; k < S_ROWS_N; k++) {
        rows[k].len = 0;
        rows[k].bad = 0;
    }
    st__store_buf_t *pools = &rows[S_ROWS_POOLS], *nodes = &rows[S_ROWS_NODES], *tenants = &rows[S_ROWS_TENANTS],
                    *jobs_new = &rows[S_ROWS_JOBS_NEW], *tasks_new = &rows[S_ROWS_TASKS_NEW],
                    *jobs_upd = &rows[S_ROWS_JOBS_UPD], *tasks_upd = &rows[S_ROWS_TASKS_UPD],
                    *versions = &rows[S_ROWS_VERSIONS], *events = &rows[S_ROWS_EVENTS];
    for (size_t i = 0; i < s->m->ndirty_nodes; i++) {
        st__node_t *n = s->m->dirty_nodes[i];
        s_row_open (pools);
        s_w_str (pools, "pool", n->pool ? n->pool : "default");
        s_row_close (pools);
        s_node_row (nodes, n);
    }
    size_t nupd = 0;
    for (size_t i = 0; i < s->m->ndirty_jobs; i++) {
        st__job_t *job = s->m->dirty_jobs[i];
        if (!job->persisted) {
            const st_spec_t *sp = job->spec;
            s_job_common (jobs_new, job);
            s_w_str (jobs_new, "name", sp->name);
            s_w_str (jobs_new, "tenant", sp->tenant);
            s_w_str (jobs_new, "queue", sp->queue);
            s_w_str (jobs_new, "kind", st_kind_name (sp->kind));
            s_w_int (jobs_new, "priority", sp->priority);
            s_w_int (jobs_new, "ranks", (int64_t) sp->ranks);
            s_w_int (jobs_new, "cpus_milli", (int64_t) sp->cpus_milli);
            s_w_int (jobs_new, "mem_mb", (int64_t) sp->mem_mb);
            s_w_int (jobs_new, "gpus", (int64_t) sp->gpus);
            s_w_str (jobs_new, "spec", job->spec_json);
            s_w_int (jobs_new, "created", (int64_t) job->created_wall);
            s_w_str (jobs_new, "submit_token", job->submit_token);
            s_w_str (jobs_new, "submitted_by", job->submitted_by);
            s_row_close (jobs_new);
            s_row_open (tenants);
            s_w_str (tenants, "tenant", sp->tenant);
            s_w_str (tenants, "queue", sp->queue);
            s_row_close (tenants);
            for (uint32_t r = 0; r < job->ntasks; r++) {
                s_task_row (tasks_new, &job->tasks[r]);
                job->tasks[r].dirty = 0; /*  written with the job  */
            }
        }
        else {
            s_job_common (jobs_upd, job);
            s_w_str (jobs_upd, "from_state", st_job_state_name (job->db_state));
            s_row_close (jobs_upd);
            nupd++;
        }
    }
    for (size_t i = 0; i < s->m->ndirty_tasks; i++) {
        st__task_t *t = s->m->dirty_tasks[i];
        if (t->dirty)
            s_task_row (tasks_upd, t);
    }
    for (size_t i = 0; i < s->m->nevents; i++)
        s_event_row (events, &s->m->events[i]);

    for (size_t i = 0; i < s->m->nnew_versions; i++)
        s_version_row (versions, s->m->new_versions[i]);

    s_stmt_t stmts[S_ROWS_N];
    int n = 0;
    s_add_rows (stmts, &n, "pools", SQL_POOLS, pools, 0);
    s_add_rows (stmts, &n, "nodes", SQL_NODES, nodes, 0);
    s_add_rows (stmts, &n, "tenants", SQL_TENANTS, tenants, 0);
    s_add_rows (stmts, &n, "new jobs", SQL_JOBS_INSERT, jobs_new, 0);
    s_add_rows (stmts, &n, "new tasks", SQL_TASKS_INSERT, tasks_new, 0);
    s_add_rows (stmts, &n, "job updates", SQL_JOBS_UPDATE, jobs_upd, nupd);
    s_add_rows (stmts, &n, "task updates", SQL_TASKS_UPDATE, tasks_upd, 0);
    s_add_rows (stmts, &n, "model versions", SQL_MODEL_VERSIONS, versions, 0);
    s_add_rows (stmts, &n, "events", SQL_EVENTS, events, 0);
    /*  A row that could not be written (out of memory, or a statement past
     *  S_ROWS_MAX): the batch is not written at all, rather than without it.  */
    for (size_t k = 0; k < S_ROWS_N; k++)
        if (rows[k].bad)
            return st_error_set (err, ST_ENOMEM, NULL,
                                 "could not build the batch of changed rows (out of memory, or over %zu MiB in one "
                                 "statement)",
                                 S_ROWS_MAX >> 20);

    st_rc_t rc = ST_OK;
    if (!PQenterPipelineMode (s->db)) {
        rc = s_db_error (err, s->db, "entering pipeline mode");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const char *params[2] = { stmts[i].param, stmts[i].count };
        if (!PQsendQueryParams (s->db, stmts[i].sql, stmts[i].nparams, NULL, params, NULL, NULL, 0)) {
            rc = s_db_error (err, s->db, stmts[i].what);
            break;
        }
    }
    if (!PQpipelineSync (s->db) && rc == ST_OK)
        rc = s_db_error (err, s->db, "pipeline sync");
    /*  Whatever was sent is answered up to the sync: the results are read
     *  either way (a failure to send is reported when they are).  */
    s->flush_state = ST__FLUSH_SENT;
    s->flush_rc = rc;
    s->flush_nulls = 0;
    if (rc != ST_OK)
        s->flush_err = *err;
out:
    return rc;
}

/*  Reads the results of the batch in flight up to its sync, remembering the
 *  first failure; without block, only what has arrived. Returns 1 once the
 *  sync was read (flush_state ANSWERED), 0 while more is to come.  */
static int
s_flush_read (st__store_t *s, int block)
{
    while (s->flush_state == ST__FLUSH_SENT) {
        if (!block && PQisBusy (s->db))
            return 0;
        PGresult *res = PQgetResult (s->db);
        if (!res) {
            /*  The end of one statement's results, or a broken connection.  */
            if (PQstatus (s->db) != CONNECTION_OK || ++s->flush_nulls > 64) {
                if (s->flush_rc == ST_OK)
                    s->flush_rc = s_db_error (&s->flush_err, s->db, "database connection lost");
                PQexitPipelineMode (s->db);
                s->flush_state = ST__FLUSH_ANSWERED;
            }
            continue;
        }
        s->flush_nulls = 0;
        ExecStatusType st = PQresultStatus (res);
        if (st == PGRES_FATAL_ERROR && s->flush_rc == ST_OK)
            s->flush_rc = s_result_error (&s->flush_err, res, "writing a batch");
        PQclear (res);
        if (st == PGRES_PIPELINE_SYNC) {
            PQexitPipelineMode (s->db);
            s->flush_state = ST__FLUSH_ANSWERED;
        }
    }
    return 1;
}

/*  Reports an answered batch's outcome and goes back to IDLE.  */
static st_rc_t
s_flush_report (st__store_t *s, int *done, st_error_t *err)
{
    *done = 1;
    s->flush_state = ST__FLUSH_IDLE;
    if (s->flush_rc != ST_OK) {
        *err = s->flush_err;
        return s->flush_rc;
    }
    s->m->counters.flushes++;
    return ST_OK;
}

st_rc_t
st__store_flush_poll (st__store_t *s, int *done, st_error_t *err)
{
    *done = 0;
    if (s->flush_state == ST__FLUSH_IDLE)
        return ST_OK;
    if (s->flush_state == ST__FLUSH_SENT) {
        if (!PQconsumeInput (s->db)) {
            if (s->flush_rc == ST_OK)
                s->flush_rc = s_db_error (&s->flush_err, s->db, "database connection lost");
            PQexitPipelineMode (s->db);
            s->flush_state = ST__FLUSH_ANSWERED;
        }
        else if (!s_flush_read (s, 0))
            return ST_OK;
    }
    return s_flush_report (s, done, err);
}

st_rc_t
st__store_flush_wait (st__store_t *s, int *done, st_error_t *err)
{
    *done = 0;
    if (s->flush_state == ST__FLUSH_IDLE)
        return ST_OK;
    s_flush_read (s, 1);
    return s_flush_report (s, done, err);
}

/*  A read needs the connection: the batch in flight is answered first (its
 *  outcome stays for the loop to report), so the read sees what it committed.  */
static void
s_settle (st__store_t *s)
{
    if (s->flush_state == ST__FLUSH_SENT)
        s_flush_read (s, 1);
}

void
st__store_settle (st__store_t *s)
{
    s_settle (s);
}

int
st__store_socket (const st__store_t *s)
{
    return s->db ? PQsocket (s->db) : -1;
}

/*  The rows now belong to the batch sent: the next changes go to the next one.  */
static void
s_flush_take (st__store_t *s)
{
    st__batch_committed (s->m);
    s->m->nnew_versions = 0;
}

st_rc_t
st__store_flush_begin (st__store_t *s, int *sent, st_error_t *err)
{
    *sent = 0;
    if (!s_flush_needed (s->m))
        return ST_OK;
    if (s->flush_state != ST__FLUSH_IDLE)
        return st_error_set (err, ST_ESTATE, NULL, "a batch is already in flight");
    st_rc_t rc = s_flush_send (s, err);
    if (s->flush_state == ST__FLUSH_SENT)
        *sent = 1;
    if (rc != ST_OK)
        return rc;
    s_flush_take (s);
    /*  The events stay queued: the loop publishes them once committed, then drops them.  */
    return ST_OK;
}

st_rc_t
st__store_flush (st__store_t *s, st_error_t *err)
{
    int done = 0;
    st_rc_t rc = st__store_flush_wait (s, &done, err);
    if (rc != ST_OK || !s_flush_needed (s->m))
        return rc;
    rc = s_flush_send (s, err);
    if (s->flush_state == ST__FLUSH_SENT) {
        st_error_t werr = { 0 };
        st_rc_t wrc = st__store_flush_wait (s, &done, &werr);
        if (rc == ST_OK && wrc != ST_OK) {
            rc = wrc;
            *err = werr;
        }
    }
    if (rc != ST_OK)
        return rc;
    s_flush_take (s);
    /*  The events stay queued: the loop publishes them, then clears them.  */
    return ST_OK;
}

/*  -- reads for clients ----------------------------------------------------  */

#define JOB_COLUMNS                                                                                                               \
    "id, name, tenant, queue, kind, state, reason, priority, attempt, max_attempts, exit_code, cpus_milli, "                      \
    "mem_mb, gpus, ranks, " MS ("created_at") ", " MS ("started_at") ", " MS (                                                    \
        "finished_at") ", spec::text, "                                                                                           \
                       "cancel_requested, coalesce (pool, ''), coalesce (variant, ''), est_cost, est_kwh, est_co2_g, cost, kwh, " \
                       "co2_g, preemptions, coalesce (placement::text, ''), coalesce (model_ref, ''), "                           \
                       "coalesce ((SELECT mv.name || ':' || mv.version FROM model_versions mv WHERE mv.job_id = jobs.id), ''), "  \
                       "coalesce (submitted_by, '')"

/*  A nullable double column: sets *value and returns 1, or 0 (absent) for NULL.  */
static int
s_opt_double (PGresult *res, int row, int col, double *value)
{
    if (PQgetisnull (res, row, col))
        return 0;
    *value = strtod (PQgetvalue (res, row, col), NULL);
    return 1;
}

static void
s_job_from_row (PGresult *res, int i, st__job_record_t *j)
{
    memset (j, 0, sizeof *j);
    j->id = s_u64 (res, i, 0);
    j->name = s_dup (res, i, 1);
    j->tenant = s_dup (res, i, 2);
    j->queue = s_dup (res, i, 3);
    j->kind = s_dup (res, i, 4);
    j->state = s_dup (res, i, 5);
    j->reason = s_dup (res, i, 6);
    j->priority = (int32_t) s_i64 (res, i, 7);
    j->attempt = (uint32_t) s_u64 (res, i, 8);
    j->max_attempts = (uint32_t) s_u64 (res, i, 9);
    j->exit_code = PQgetisnull (res, i, 10) ? -1 : (int32_t) s_i64 (res, i, 10);
    j->cpus_milli = (uint32_t) s_u64 (res, i, 11);
    j->mem_mb = s_u64 (res, i, 12);
    j->gpus = (uint32_t) s_u64 (res, i, 13);
    j->ranks = (uint32_t) s_u64 (res, i, 14);
    j->created_unix_ms = s_u64 (res, i, 15);
    j->started_unix_ms = s_u64 (res, i, 16);
    j->finished_unix_ms = s_u64 (res, i, 17);
    j->spec_json = s_dup (res, i, 18);
    j->cancel_requested = strcmp (PQgetvalue (res, i, 19), "t") == 0;
    j->pool = s_dup (res, i, 20);
    j->variant = s_dup (res, i, 21);
    j->has_est_cost = s_opt_double (res, i, 22, &j->est_cost);
    j->has_est_kwh = s_opt_double (res, i, 23, &j->est_kwh);
    j->has_est_co2_g = s_opt_double (res, i, 24, &j->est_co2_g);
    j->has_cost = s_opt_double (res, i, 25, &j->cost);
    j->has_kwh = s_opt_double (res, i, 26, &j->kwh);
    j->has_co2_g = s_opt_double (res, i, 27, &j->co2_g);
    j->preemptions = (uint32_t) s_u64 (res, i, 28);
    j->placement_json = s_dup (res, i, 29);
    j->model_version = s_dup (res, i, 30);
    j->registered_version = s_dup (res, i, 31);
    j->submitted_by = s_dup (res, i, 32);
}

/*  A job's task rows come from tables the model wrote, so the model's own
 *  array cap bounds them.  */
#define S_JOB_TASKS_MAX ST__SCHED_ARRAY_MAX

/*  Attaches task rows (job_id, idx, ...) to the jobs they belong to.  */
static void
s_attach_tasks (PGresult *res, st__job_record_t *jobs, size_t njobs)
{
    for (int i = 0; i < PQntuples (res); i++) {
        uint64_t id = s_u64 (res, i, 0);
        st__job_record_t *j = NULL;
        for (size_t k = 0; k < njobs && !j; k++)
            if (jobs[k].id == id)
                j = &jobs[k];
        if (!j)
            continue;
        st__task_record_t blank = { 0 };
        if (st_vec_push ((void **) &j->tasks, &j->ntasks, &j->cap_tasks, sizeof blank, S_JOB_TASKS_MAX, &blank))
            abort ();
        st__task_record_t *t = &j->tasks[j->ntasks - 1];
        t->index = (uint32_t) s_u64 (res, i, 1);
        t->attempt = (uint32_t) s_u64 (res, i, 2);
        t->state = s_dup (res, i, 3);
        t->node = s_dup (res, i, 4);
        t->pid = (int32_t) s_i64 (res, i, 5);
        t->exit_code = PQgetisnull (res, i, 6) ? -1 : (int32_t) s_i64 (res, i, 6);
        t->term_signal = (int32_t) s_i64 (res, i, 7);
        t->started_unix_ms = s_u64 (res, i, 8);
        t->finished_unix_ms = s_u64 (res, i, 9);
        t->has_peak = !PQgetisnull (res, i, 10);
        t->peak_mem_kib = s_u64 (res, i, 10);
        t->has_cpu = !PQgetisnull (res, i, 11);
        t->cpu_ms = s_u64 (res, i, 11);
        t->reason = s_dup (res, i, 12);
    }
}

static const char *SQL_TASKS_OF =
    "SELECT job_id, idx, attempt, state, coalesce (node, ''), coalesce (pid, 0), exit_code, "
    "coalesce (term_signal, 0), " MS ("started_at") ", " MS (
        "finished_at") ", peak_mem_kib, cpu_ms, reason FROM tasks WHERE job_id = ANY ($1::bigint[]) ORDER BY job_id, idx";

/*  Earlier attempts of a job's tasks: the events its requeues wrote
 *  (sql/006_task_usage.sql), oldest first.  */
static const char *SQL_ATTEMPTS_OF = "SELECT coalesce (task_idx, 0), coalesce (attempt, 0), coalesce (node, ''), "
                                     "message FROM events WHERE job_id = $1 AND kind = '" ST__ATTEMPT_EVENT
                                     "' AND task_idx IS NOT NULL ORDER BY task_idx, attempt, id";

/*  Keeps them in the job's earlier attempts.  */
static void
s_attach_attempts (PGresult *res, st__job_record_t *j)
{
    for (int i = 0; i < PQntuples (res); i++) {
        st__task_record_t r = { 0 };
        r.index = (uint32_t) s_u64 (res, i, 0);
        r.attempt = (uint32_t) s_u64 (res, i, 1);
        r.exit_code = -1;
        if (st__attempt_parse (PQgetvalue (res, i, 3), &r) != 0) {
            free (r.state);
            free (r.reason);
            continue;
        }
        r.node = s_dup (res, i, 2);
        if (st_vec_push ((void **) &j->earlier, &j->nearlier, &j->cap_earlier, sizeof r, S_JOB_TASKS_MAX, &r))
            abort ();
    }
}

st_rc_t
st__store_get_job (st__store_t *s, uint64_t id, st__job_record_t **out, st_error_t *err)
{
    *out = NULL;
    s_settle (s);
    char ids[32], arr[40];
    snprintf (ids, sizeof ids, "%" PRIu64, id);
    snprintf (arr, sizeof arr, "{%" PRIu64 "}", id);
    const char *p1[] = { ids };
    PGresult *res =
        PQexecParams (s->db, "SELECT " JOB_COLUMNS " FROM jobs WHERE id = $1", 1, NULL, p1, NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        st_rc_t rc = s_result_error (err, res, "reading a job");
        PQclear (res);
        return rc;
    }
    if (PQntuples (res) == 0) {
        PQclear (res);
        return st_error_set (err, ST_ENOTFOUND, NULL, "no job %" PRIu64, id);
    }
    st__job_record_t *j = malloc (sizeof *j);
    if (!j)
        abort ();
    s_job_from_row (res, 0, j);
    PQclear (res);
    const char *p2[] = { arr };
    res = PQexecParams (s->db, SQL_TASKS_OF, 1, NULL, p2, NULL, NULL, 0);
    if (PQresultStatus (res) == PGRES_TUPLES_OK)
        s_attach_tasks (res, j, 1);
    PQclear (res);
    res = PQexecParams (s->db, SQL_ATTEMPTS_OF, 1, NULL, p1, NULL, NULL, 0);
    if (PQresultStatus (res) == PGRES_TUPLES_OK)
        s_attach_attempts (res, j);
    PQclear (res);
    *out = j;
    return ST_OK;
}

/*  A text[] literal of names ([A-Za-z0-9._-], so nothing to quote): "{a,b}".
 *  Caller frees.  */
static char *
s_name_array (const char *const *names, size_t n)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += strlen (names[i]) + 1;
    char *arr = malloc (cap), *at = arr;
    if (!arr)
        abort ();
    *at++ = '{';
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen (names[i]);
        if (i)
            *at++ = ',';
        memcpy (at, names[i], len);
        at += len;
    }
    *at++ = '}';
    *at = '\0';
    return arr;
}

st_rc_t
st__store_list_jobs (st__store_t *s, const char *state, const char *tenant, const char *const *tenants,
                     size_t ntenants, uint32_t limit_n, int active_only, st__job_record_t **out, size_t *nout,
                     st_error_t *err)
{
    *out = NULL;
    *nout = 0;
    s_settle (s);
    char limit[16];
    snprintf (limit, sizeof limit, "%u", limit_n ? (limit_n > 10000 ? 10000 : limit_n) : 50);
    char *within = tenants ? s_name_array (tenants, ntenants) : NULL;
    const char *params[] = { state ? state : "", tenant ? tenant : "", limit, active_only ? "t" : "f", within };
    PGresult *res = PQexecParams (s->db,
                                  "SELECT " JOB_COLUMNS " FROM jobs WHERE ($1 = '' OR state = $1) "
                                  "AND ($2 = '' OR tenant = $2) AND ($5::text[] IS NULL OR tenant = ANY ($5)) "
                                  "AND (NOT $4::bool OR state NOT IN " TERMINAL_SQL ") ORDER BY id DESC LIMIT $3",
                                  5, NULL, params, NULL, NULL, 0);
    free (within);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        st_rc_t rc = s_result_error (err, res, "listing jobs");
        PQclear (res);
        return rc;
    }
    int n = PQntuples (res);
    st__job_record_t *jobs = calloc ((size_t) n + 1, sizeof *jobs);
    if (!jobs)
        abort ();
    size_t cap = 32 + (size_t) n * 24, len = 0;
    char *arr = malloc (cap);
    if (!arr)
        abort ();
    arr[len++] = '{';
    for (int i = 0; i < n; i++) {
        s_job_from_row (res, i, &jobs[i]);
        len += (size_t) snprintf (arr + len, cap - len, "%s%" PRIu64, i ? "," : "", jobs[i].id);
    }
    arr[len++] = '}';
    arr[len] = '\0';
    PQclear (res);
    if (n > 0) {
        const char *p2[] = { arr };
        res = PQexecParams (s->db, SQL_TASKS_OF, 1, NULL, p2, NULL, NULL, 0);
        if (PQresultStatus (res) == PGRES_TUPLES_OK)
            s_attach_tasks (res, jobs, (size_t) n);
        PQclear (res);
    }
    free (arr);
    *out = jobs;
    *nout = (size_t) n;
    return ST_OK;
}

st_rc_t
st__store_task_location (st__store_t *s, uint64_t job_id, uint32_t rank, char *node, size_t node_size,
                         uint32_t *attempt, char *job_state, size_t state_size, st_error_t *err)
{
    s_settle (s);
    char ids[32], idx[16];
    snprintf (ids, sizeof ids, "%" PRIu64, job_id);
    snprintf (idx, sizeof idx, "%u", rank);
    const char *params[] = { ids, idx };
    PGresult *res = PQexecParams (s->db,
                                  "SELECT j.state, j.ranks, t.attempt, coalesce (t.node, '') FROM jobs j "
                                  "LEFT JOIN tasks t ON t.job_id = j.id AND t.idx = $2 WHERE j.id = $1",
                                  2, NULL, params, NULL, NULL, 0);
    st_rc_t rc = ST_OK;
    if (PQresultStatus (res) != PGRES_TUPLES_OK)
        rc = s_result_error (err, res, "reading a task");
    else if (PQntuples (res) == 0)
        rc = st_error_set (err, ST_ENOTFOUND, NULL, "no job %" PRIu64, job_id);
    else if (PQgetisnull (res, 0, 2)) {
        rc = st_error_set (err, ST_ENOTFOUND, "rank", "job %" PRIu64 " has no rank %u (it has %s)", job_id, rank,
                           PQgetvalue (res, 0, 1));
    }
    else {
        snprintf (job_state, state_size, "%s", PQgetvalue (res, 0, 0));
        *attempt = (uint32_t) s_u64 (res, 0, 2);
        snprintf (node, node_size, "%s", PQgetvalue (res, 0, 3));
    }
    PQclear (res);
    return rc;
}
