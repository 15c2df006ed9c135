/*  test_sched_store.c: the scheduler's PostgreSQL store against a real server.
 *  scripts/test.sh starts one and sets STRATA_TEST_PGHOST / STRATA_TEST_PGPORT;
 *  each test creates its own database.  */
#include "sched_fixture.h"

#include <unistd.h>

static st_sched_t S;
static char s_dsn[512];
static char s_dbname[64];

static PGconn *
admin_conn (void)
{
    const char *host = getenv ("STRATA_TEST_PGHOST");
    const char *port = getenv ("STRATA_TEST_PGPORT");
    char dsn[256];
    snprintf (dsn, sizeof dsn, "host=%s port=%s user=postgres dbname=postgres", host, port);
    PGconn *c = PQconnectdb (dsn);
    cr_assert_eq (PQstatus (c), CONNECTION_OK, "cannot reach the test PostgreSQL: %s", PQerrorMessage (c));
    return c;
}

static void
exec_ok (PGconn *c, const char *sql)
{
    PGresult *r = PQexec (c, sql);
    cr_assert (PQresultStatus (r) == PGRES_COMMAND_OK || PQresultStatus (r) == PGRES_TUPLES_OK, "%s: %s", sql,
               PQresultErrorMessage (r));
    PQclear (r);
}

static long
scalar (PGconn *c, const char *sql)
{
    PGresult *r = PQexec (c, sql);
    cr_assert_eq (PQresultStatus (r), PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage (r));
    long v = atol (PQgetvalue (r, 0, 0));
    PQclear (r);
    return v;
}

static void
setup (void)
{
    if (!getenv ("STRATA_TEST_PGHOST") || !getenv ("STRATA_TEST_PGPORT")) {
        /*  Outside scripts/test.sh there may be no server; in CI there always is.  */
        if (getenv ("CI"))
            cr_assert_fail ("STRATA_TEST_PGHOST/STRATA_TEST_PGPORT are not set (run through scripts/test.sh)");
        cr_skip_test ("no test PostgreSQL: set STRATA_TEST_PGHOST and STRATA_TEST_PGPORT (scripts/test.sh does)");
    }
    fx_init (&S);
    static int n;
    snprintf (s_dbname, sizeof s_dbname, "st_store_%d_%d", (int) getpid (), n++);
    PGconn *a = admin_conn ();
    char sql[128];
    snprintf (sql, sizeof sql, "CREATE DATABASE %s", s_dbname);
    exec_ok (a, sql);
    PQfinish (a);
    snprintf (s_dsn, sizeof s_dsn, "host=%s port=%s user=postgres dbname=%s", getenv ("STRATA_TEST_PGHOST"),
              getenv ("STRATA_TEST_PGPORT"), s_dbname);
    S.cfg.database = s_dsn;
    st_error_t err = { 0 };
    cr_assert_eq (st_store_connect (&S, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (st_store_migrate (&S, &err), ST_OK, "%s", err.msg);
}

static void
teardown (void)
{
    if (!S.jobs)
        return;
    if (S.db)
        PQfinish (S.db);
    fx_fini (&S);
    PGconn *a = admin_conn ();
    char sql[128];
    snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", s_dbname);
    exec_ok (a, sql);
    PQfinish (a);
}

TestSuite (sched_store, .init = setup, .fini = teardown, .timeout = 60);

Test (sched_store, migrations_apply_once)
{
    cr_assert_eq (scalar (S.db, "SELECT max (version) FROM schema_version"), 1);
    st_error_t err = { 0 };
    cr_assert_eq (st_store_migrate (&S, &err), ST_OK, "a second run is a no-op: %s", err.msg);
    cr_assert_eq (scalar (S.db, "SELECT count (*) FROM schema_version"), 1);
}

Test (sched_store, refuses_a_newer_schema)
{
    exec_ok (S.db, "INSERT INTO schema_version (version, description) VALUES (999, 'from the future')");
    st_error_t err = { 0 };
    cr_assert_eq (st_store_migrate (&S, &err), ST_EVERSION);
    cr_assert (strstr (err.msg, "version 999, newer than this scheduler knows"), "%s", err.msg);
}

Test (sched_store, events_are_append_only)
{
    exec_ok (S.db, "INSERT INTO events (kind, message) VALUES ('test', 'x')");
    PGresult *r = PQexec (S.db, "UPDATE events SET message = 'y'");
    cr_assert_eq (PQresultStatus (r), PGRES_FATAL_ERROR);
    PQclear (r);
    r = PQexec (S.db, "DELETE FROM events");
    cr_assert_eq (PQresultStatus (r), PGRES_FATAL_ERROR);
    PQclear (r);
    cr_assert_eq (scalar (S.db, "SELECT count (*) FROM events"), 1);
}

Test (sched_store, flush_then_load_rebuilds_the_same_model)
{
    st_node_t *n = fx_node (&S, "w1", "onprem", 4, 8192, 1);
    n->instance = 0xfedcba9876543210ull;
    n->epoch = 3;
    st_mark_node (&S, n);
    st_job_t *run = fx_submit (&S, "{\"name\":\"run\",\"command\":[\"sleep\",\"5\"],\"resources\":{\"cpus_per_rank\":"
                                   "1.5,\"mem_per_rank\":\"1G\",\"gpus_per_rank\":1},\"retries\":2}");
    st_job_t *wait = fx_submit (&S, "{\"name\":\"wait\",\"tenant\":\"acme\",\"command\":[\"true\"],"
                                    "\"resources\":{\"cpus_per_rank\":8}}");
    st_place_pending (&S);
    st_dispatch_send_launches (&S);
    st_error_t err = { 0 };
    cr_assert_eq (st_store_flush (&S, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (scalar (S.db, "SELECT count (*) FROM jobs"), 2);
    cr_assert_eq (scalar (S.db, "SELECT count (*) FROM tenants WHERE name = 'acme'"), 1);
    cr_assert_eq (scalar (S.db, "SELECT count (*) FROM events WHERE job_id = 1"), 3,
                  "submitted, PENDING->SCHEDULED, SCHEDULED->STARTING");

    /*  A second scheduler (a restart) loads it back.  */
    st_sched_t T;
    fx_init (&T);
    T.cfg.database = s_dsn;
    cr_assert_eq (st_store_connect (&T, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (st_store_load (&T, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (T.next_job_id, 3);
    st_job_t *r2 = st_map_get_u64 (T.jobs, run->id);
    st_job_t *w2 = st_map_get_u64 (T.jobs, wait->id);
    cr_assert_not_null (r2);
    cr_assert_not_null (w2);
    cr_assert_eq (r2->state, ST_JOB_STARTING);
    cr_assert_eq (r2->attempt, 1);
    cr_assert_eq (r2->max_attempts, 3);
    cr_assert_str_eq (r2->reason, run->reason);
    cr_assert_eq (r2->spec->cpus_milli, 1500);
    cr_assert_eq (r2->spec->mem_mb, 1024);
    cr_assert_eq (w2->state, ST_JOB_PENDING);
    cr_assert_eq (T.npending, 1);
    st_node_t *n2 = st_map_get (T.nodes, "w1", 2);
    cr_assert_not_null (n2);
    cr_assert_eq (n2->used_cpus_milli, 1500, "the running task's resources are held again");
    cr_assert_eq (n2->used_mem_mb, 1024);
    cr_assert_eq (n2->used_gpus, 1);
    cr_assert_eq (n2->connected, 0, "until the worker registers again");
    cr_assert_eq (n2->instance, 0xfedcba9876543210ull, "the worker process is remembered, so its epoch stays");
    cr_assert_eq (n2->epoch, 3);
    cr_assert_eq (r2->tasks[0].node, n2);
    PQfinish (T.db);
    T.db = NULL;
    fx_fini (&T);
}

Test (sched_store, a_guard_failure_writes_nothing)
{
    st_node_t *n = fx_node (&S, "w1", "p", 4, 8192, 0);
    st_mark_node (&S, n);
    st_job_t *job = fx_submit (&S, "{\"command\":[\"true\"]}");
    st_error_t err = { 0 };
    cr_assert_eq (st_store_flush (&S, &err), ST_OK, "%s", err.msg);
    long events = scalar (S.db, "SELECT count (*) FROM events");
    /*  Someone else changes the row behind the scheduler's back...  */
    exec_ok (S.db, "UPDATE jobs SET state = 'CANCELLED' WHERE id = 1");
    /*  ...so the scheduler's next batch must not apply.  */
    st_place_pending (&S);
    cr_assert_eq (job->state, ST_JOB_SCHEDULED);
    cr_assert_eq (st_store_flush (&S, &err), ST_EDB);
    cr_assert (strstr (err.msg, "jobs changed under the scheduler"), "%s", err.msg);
    cr_assert_eq (scalar (S.db, "SELECT count (*) FROM events"), events, "the whole batch was rolled back");
    cr_assert_eq (scalar (S.db, "SELECT count (*) FROM tasks WHERE state = 'SCHEDULED'"), 0);
}

Test (sched_store, get_and_list_read_committed_jobs)
{
    fx_submit (&S, "{\"name\":\"a\",\"command\":[\"true\"]}");
    fx_submit (&S, "{\"name\":\"b\",\"tenant\":\"t2\",\"command\":[\"true\"],\"resources\":{\"ranks\":2}}");
    st_error_t err = { 0 };
    cr_assert_eq (st_store_flush (&S, &err), ST_OK, "%s", err.msg);
    Strata__JobInfo *j = NULL;
    cr_assert_eq (st_store_get_job (&S, 2, &j, &err), ST_OK, "%s", err.msg);
    cr_assert_str_eq (j->name, "b");
    cr_assert_str_eq (j->tenant, "t2");
    cr_assert_str_eq (j->state, "PENDING");
    cr_assert_eq (j->n_tasks, 2);
    cr_assert_eq (j->ranks, 2);
    st_store_free_job (j);
    cr_assert_eq (st_store_get_job (&S, 99, &j, &err), ST_ENOTFOUND);
    Strata__ListRequest req = STRATA__LIST_REQUEST__INIT;
    req.tenant = "t2";
    Strata__ListReply *l = NULL;
    cr_assert_eq (st_store_list_jobs (&S, &req, &l, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (l->n_jobs, 1);
    cr_assert_eq (l->jobs[0]->id, 2);
    st_store_free_list (l);
}

Test (sched_store, submission_tokens_survive_a_restart)
{
    Strata__Envelope env;
    Strata__SubmitRequest sub = STRATA__SUBMIT_REQUEST__INIT;
    st_wire_envelope_init (&env, 5);
    sub.spec_json = "{\"command\":[\"true\"],\"tenant\":\"acme\"}";
    sub.client_token = "0123456789abcdef";
    env.body_case = STRATA__ENVELOPE__BODY_SUBMIT;
    env.submit = &sub;
    st_peer_t peer = { .id = "c", .id_len = 1 };
    st_client_message (&S, &peer, &env);
    st_error_t err = { 0 };
    cr_assert_eq (st_store_flush (&S, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (scalar (S.db, "SELECT count (*) FROM jobs WHERE submit_token = '0123456789abcdef'"), 1);

    /*  After a restart, the same resend still finds its job.  */
    st_sched_t T;
    fx_init (&T);
    T.cfg.database = s_dsn;
    cr_assert_eq (st_store_connect (&T, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (st_store_load (&T, &err), ST_OK, "%s", err.msg);
    st_client_message (&T, &peer, &env);
    cr_assert_eq (T.ndeferred, 1);
    Strata__Envelope *rep = strata__envelope__unpack (NULL, T.deferred[0].len, T.deferred[0].buf);
    cr_assert_eq (rep->body_case, STRATA__ENVELOPE__BODY_SUBMIT_REPLY);
    cr_assert_eq (rep->submit_reply->job_id, 1);
    strata__envelope__free_unpacked (rep, NULL);
    cr_assert_eq (st_store_flush (&T, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (scalar (T.db, "SELECT count (*) FROM jobs"), 1, "no second job");
    PQfinish (T.db);
    T.db = NULL;
    fx_fini (&T);
}

Test (sched_store, log_relays_waiting_for_workers_are_bounded)
{
    st_node_t *n = fx_node (&S, "w1", "p", 4, 8192, 0);
    st_mark_node (&S, n);
    st_job_t *job = fx_submit (&S, "{\"command\":[\"true\"]}");
    st_place_pending (&S);
    st_error_t err = { 0 };
    cr_assert_eq (st_store_flush (&S, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (job->state, ST_JOB_SCHEDULED);
    /*  The worker never answers; a client keeps asking.  */
    Strata__Envelope env;
    Strata__LogsRequest lq = STRATA__LOGS_REQUEST__INIT;
    lq.job_id = job->id;
    env.body_case = STRATA__ENVELOPE__BODY_LOGS;
    env.logs = &lq;
    st_peer_t peer = { .id = "c", .id_len = 1 };
    for (int i = 0; i < 5000; i++) {
        st_wire_envelope_init (&env, (uint64_t) i + 1);
        env.body_case = STRATA__ENVELOPE__BODY_LOGS;
        env.logs = &lq;
        st_client_message (&S, &peer, &env);
    }
    cr_assert_eq (S.nlogreqs, 4096, "relays waiting for workers are capped");
    size_t listed = 0;
    for (st_logreq_t *lr = S.logreqs; lr; lr = lr->next)
        listed++;
    cr_assert_eq (listed, S.nlogreqs);
    /*  They expire, and then new ones are taken again.  */
    st_client_tick (&S, st_mono_ms () + 60000);
    cr_assert_eq (S.nlogreqs, 0);
    cr_assert_null (S.logreqs);
}
