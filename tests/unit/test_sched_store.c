/*  test_sched_store.c: the scheduler's PostgreSQL store against a real server.
 *  scripts/test.sh starts one and sets STRATA_TEST_PGHOST / STRATA_TEST_PGPORT;
 *  each test creates its own database.  */
#include "sched_fixture.h"

#include <unistd.h>

#include "migrations.h"

static st__sched_t S;
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
    S.store.database = s_dsn;
    st_error_t err = { 0 };
    cr_assert_eq (st__store_connect (&S, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (st__store_migrate (&S, &err), ST_OK, "%s", err.msg);
}

static void
teardown (void)
{
    if (!S.model.jobs)
        return;
    if (S.store.db)
        PQfinish (S.store.db);
    fx_fini (&S);
    PGconn *a = admin_conn ();
    char sql[128];
    snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", s_dbname);
    exec_ok (a, sql);
    PQfinish (a);
}

TestSuite (sched_store, .init = setup, .fini = teardown, .timeout = 60);

static long
migrations_known (void)
{
    long n = 0;
    for (const st__migration_t *m = st__migrations; m->sql; m++)
        n++;
    return n;
}

/*  The highest version known: migrations are numbered per feature, so the
 *  numbers may skip one that another branch of the history holds.  */
static long
migrations_last (void)
{
    long v = 0;
    for (const st__migration_t *m = st__migrations; m->sql; m++)
        v = m->version > v ? m->version : v;
    return v;
}

Test (sched_store, migrations_apply_once)
{
    cr_assert_geq (migrations_known (), 2);
    cr_assert_eq (scalar (S.store.db, "SELECT max (version) FROM schema_version"), migrations_last ());
    st_error_t err = { 0 };
    cr_assert_eq (st__store_migrate (&S, &err), ST_OK, "a second run is a no-op: %s", err.msg);
    cr_assert_eq (scalar (S.store.db, "SELECT count (*) FROM schema_version"), migrations_known ());
}

Test (sched_store, refuses_a_newer_schema)
{
    exec_ok (S.store.db, "INSERT INTO schema_version (version, description) VALUES (999, 'from the future')");
    st_error_t err = { 0 };
    cr_assert_eq (st__store_migrate (&S, &err), ST_EVERSION);
    cr_assert (strstr (err.msg, "version 999, newer than this scheduler knows"), "%s", err.msg);
}

Test (sched_store, events_are_append_only)
{
    exec_ok (S.store.db, "INSERT INTO events (kind, message) VALUES ('test', 'x')");
    PGresult *r = PQexec (S.store.db, "UPDATE events SET message = 'y'");
    cr_assert_eq (PQresultStatus (r), PGRES_FATAL_ERROR);
    PQclear (r);
    r = PQexec (S.store.db, "DELETE FROM events");
    cr_assert_eq (PQresultStatus (r), PGRES_FATAL_ERROR);
    PQclear (r);
    cr_assert_eq (scalar (S.store.db, "SELECT count (*) FROM events"), 1);
}

Test (sched_store, flush_then_load_rebuilds_the_same_model)
{
    st__node_t *n = fx_node (&S, "w1", "onprem", 4, 8192, 1);
    n->instance = 0xfedcba9876543210ull;
    n->epoch = 3;
    st__mark_node (&S, n);
    st__job_t *run = fx_submit (&S,
                                "{\"name\":\"run\",\"command\":[\"sleep\",\"5\"],\"resources\":{\"cpus_per_rank\":"
                                "1.5,\"mem_per_rank\":\"1G\",\"gpus_per_rank\":1},\"retries\":2}");
    st__job_t *wait = fx_submit (&S, "{\"name\":\"wait\",\"tenant\":\"acme\",\"command\":[\"true\"],"
                                     "\"resources\":{\"cpus_per_rank\":8}}");
    st__place_pending (&S);
    st__dispatch_send_launches (&S);
    st_error_t err = { 0 };
    cr_assert_eq (st__store_flush (&S, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (scalar (S.store.db, "SELECT count (*) FROM jobs"), 2);
    cr_assert_eq (scalar (S.store.db, "SELECT count (*) FROM tenants WHERE name = 'acme'"), 1);
    cr_assert_eq (scalar (S.store.db, "SELECT count (*) FROM events WHERE job_id = 1"), 3,
                  "submitted, PENDING->SCHEDULED, SCHEDULED->STARTING");

    /*  A second scheduler (a restart) loads it back.  */
    st__sched_t T;
    fx_init (&T);
    T.store.database = s_dsn;
    cr_assert_eq (st__store_connect (&T, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (st__store_load (&T, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (T.model.next_job_id, 3);
    st__job_t *r2 = st_map_get_u64 (T.model.jobs, run->id);
    st__job_t *w2 = st_map_get_u64 (T.model.jobs, wait->id);
    cr_assert_not_null (r2);
    cr_assert_not_null (w2);
    cr_assert_eq (r2->state, ST_JOB_STARTING);
    cr_assert_eq (r2->attempt, 1);
    cr_assert_eq (r2->max_attempts, 3);
    cr_assert_str_eq (r2->reason, run->reason);
    cr_assert_eq (r2->spec->cpus_milli, 1500);
    cr_assert_eq (r2->spec->mem_mb, 1024);
    cr_assert_eq (w2->state, ST_JOB_PENDING);
    cr_assert_eq (T.model.npending, 1);
    st__node_t *n2 = st_map_get (T.model.nodes, "w1", 2);
    cr_assert_not_null (n2);
    cr_assert_eq (n2->used_cpus_milli, 1500, "the running task's resources are held again");
    cr_assert_eq (n2->used_mem_mb, 1024);
    cr_assert_eq (n2->used_gpus, 1);
    cr_assert_eq (n2->connected, 0, "until the worker registers again");
    cr_assert_eq (n2->instance, 0xfedcba9876543210ull, "the worker process is remembered, so its epoch stays");
    cr_assert_eq (n2->epoch, 3);
    cr_assert_eq (r2->tasks[0].node, n2);
    PQfinish (T.store.db);
    T.store.db = NULL;
    fx_fini (&T);
}

Test (sched_store, a_guard_failure_writes_nothing)
{
    st__node_t *n = fx_node (&S, "w1", "p", 4, 8192, 0);
    st__mark_node (&S, n);
    st__job_t *job = fx_submit (&S, "{\"command\":[\"true\"]}");
    st_error_t err = { 0 };
    cr_assert_eq (st__store_flush (&S, &err), ST_OK, "%s", err.msg);
    long events = scalar (S.store.db, "SELECT count (*) FROM events");
    /*  Someone else changes the row behind the scheduler's back...  */
    exec_ok (S.store.db, "UPDATE jobs SET state = 'CANCELLED' WHERE id = 1");
    /*  ...so the scheduler's next batch must not apply.  */
    st__place_pending (&S);
    cr_assert_eq (job->state, ST_JOB_SCHEDULED);
    cr_assert_eq (st__store_flush (&S, &err), ST_EDB);
    cr_assert (strstr (err.msg, "jobs changed under the scheduler"), "%s", err.msg);
    cr_assert_eq (scalar (S.store.db, "SELECT count (*) FROM events"), events, "the whole batch was rolled back");
    cr_assert_eq (scalar (S.store.db, "SELECT count (*) FROM tasks WHERE state = 'SCHEDULED'"), 0);
}

Test (sched_store, get_and_list_read_committed_jobs)
{
    fx_submit (&S, "{\"name\":\"a\",\"command\":[\"true\"]}");
    fx_submit (&S, "{\"name\":\"b\",\"tenant\":\"t2\",\"command\":[\"true\"],\"resources\":{\"ranks\":2}}");
    st_error_t err = { 0 };
    cr_assert_eq (st__store_flush (&S, &err), ST_OK, "%s", err.msg);
    Strata__JobInfo *j = NULL;
    cr_assert_eq (st__store_get_job (&S, 2, &j, &err), ST_OK, "%s", err.msg);
    cr_assert_str_eq (j->name, "b");
    cr_assert_str_eq (j->tenant, "t2");
    cr_assert_str_eq (st_wire_job_state_name (j->state), "PENDING");
    cr_assert_eq (j->n_tasks, 2);
    cr_assert_eq (j->ranks, 2);
    st_store_free_job (j);
    cr_assert_eq (st__store_get_job (&S, 99, &j, &err), ST_ENOTFOUND);
    Strata__ListRequest req = STRATA__LIST_REQUEST__INIT;
    req.tenant = "t2";
    Strata__ListReply *l = NULL;
    cr_assert_eq (st__store_list_jobs (&S, &req, &l, &err), ST_OK, "%s", err.msg);
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
    st__client_message (&S, &peer, &env);
    st_error_t err = { 0 };
    cr_assert_eq (st__store_flush (&S, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (scalar (S.store.db, "SELECT count (*) FROM jobs WHERE submit_token = '0123456789abcdef'"), 1);

    /*  After a restart, the same resend still finds its job.  */
    st__sched_t T;
    fx_init (&T);
    T.store.database = s_dsn;
    cr_assert_eq (st__store_connect (&T, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (st__store_load (&T, &err), ST_OK, "%s", err.msg);
    st__client_message (&T, &peer, &env);
    cr_assert_eq (T.net.ndeferred, 1);
    Strata__Envelope *rep = strata__envelope__unpack (NULL, T.net.deferred[0].len, T.net.deferred[0].buf);
    cr_assert_eq (rep->body_case, STRATA__ENVELOPE__BODY_SUBMIT_REPLY);
    cr_assert_eq (rep->submit_reply->job_id, 1);
    strata__envelope__free_unpacked (rep, NULL);
    cr_assert_eq (st__store_flush (&T, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (scalar (T.store.db, "SELECT count (*) FROM jobs"), 1, "no second job");
    PQfinish (T.store.db);
    T.store.db = NULL;
    fx_fini (&T);
}

Test (sched_store, log_relays_waiting_for_workers_are_bounded)
{
    st__node_t *n = fx_node (&S, "w1", "p", 4, 8192, 0);
    st__mark_node (&S, n);
    st__job_t *job = fx_submit (&S, "{\"command\":[\"true\"]}");
    st__place_pending (&S);
    st_error_t err = { 0 };
    cr_assert_eq (st__store_flush (&S, &err), ST_OK, "%s", err.msg);
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
        st__client_message (&S, &peer, &env);
    }
    cr_assert_eq (S.net.nlogreqs, 4096, "relays waiting for workers are capped");
    size_t listed = 0;
    for (st__logreq_t *lr = S.net.logreqs; lr; lr = lr->next)
        listed++;
    cr_assert_eq (listed, S.net.nlogreqs);
    /*  They expire, and then new ones are taken again.  */
    st__client_tick (&S, st_mono_ms () + 60000);
    cr_assert_eq (S.net.nlogreqs, 0);
    cr_assert_null (S.net.logreqs);
}

/*  -- 002_placement.sql and the cluster description -------------------------  */

Test (sched_store, placement_migration_applies_over_a_populated_database)
{
    /*  A database that an earlier scheduler left at version 1, with rows in it.  */
    PGconn *a = admin_conn ();
    char sql[256], dsn[512];
    snprintf (sql, sizeof sql, "CREATE DATABASE %s_v1", s_dbname);
    exec_ok (a, sql);
    snprintf (dsn, sizeof dsn, "host=%s port=%s user=postgres dbname=%s_v1", getenv ("STRATA_TEST_PGHOST"),
              getenv ("STRATA_TEST_PGPORT"), s_dbname);
    PGconn *old = PQconnectdb (dsn);
    cr_assert_eq (PQstatus (old), CONNECTION_OK, "%s", PQerrorMessage (old));
    cr_assert_eq (st__migrations[0].version, 1);
    exec_ok (old, st__migrations[0].sql);
    exec_ok (old, "INSERT INTO schema_version (version, description) VALUES (1, '001_init.sql')");
    exec_ok (old, "INSERT INTO pools (name) VALUES ('edge')");
    exec_ok (old, "INSERT INTO nodes (name, pool, state, cpus_milli, mem_mb, gpus) VALUES ('w1', 'edge', 'UP', 1000, "
                  "512, 0)");
    exec_ok (old,
             "INSERT INTO jobs (id, name, tenant, queue, kind, priority, state, ranks, cpus_milli, mem_mb, gpus, "
             "max_attempts, spec, created_at) VALUES (1, 'a', 'default', 'default', 'inference', 0, 'PENDING', 1, "
             "1000, 256, 0, 1, '{\"command\":[\"true\"],\"kind\":\"inference\",\"resources\":{\"ranks\":1}}', "
             "now ())");
    PQfinish (old);

    st__sched_t T;
    fx_init (&T);
    T.store.database = dsn;
    st_error_t err = { 0 };
    cr_assert_eq (st__store_connect (&T, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (st__store_migrate (&T, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (scalar (T.store.db, "SELECT max (version) FROM schema_version"), migrations_last ());
    cr_assert_eq (scalar (T.store.db,
                          "SELECT count (*) FROM pools WHERE name = 'edge' AND implicit AND site = 'onprem' "
                          "AND clearance = 'public' AND pue = 1 AND region IS NULL"),
                  1);
    cr_assert_eq (scalar (T.store.db, "SELECT count (*) FROM jobs WHERE preemptions = 0 AND pool IS NULL "
                                      "AND est_cost IS NULL AND placement IS NULL"),
                  1);
    cr_assert_eq (scalar (T.store.db, "SELECT count (*) FROM tenants WHERE weight = 1 AND gpu_quota IS NULL"), 1);
    /*  The stored inference spec (ranks: 1, as earlier versions wrote it) still loads.  */
    cr_assert_eq (st__store_load (&T, &err), ST_OK, "%s", err.msg);
    st__job_t *job = st_map_get_u64 (T.model.jobs, 1);
    cr_assert_not_null (job);
    cr_assert_eq (job->spec->gang, 0);
    cr_assert_eq (job->ntasks, 1);
    /*  A node registering later still creates its pool with a bare name.  */
    exec_ok (T.store.db, "INSERT INTO pools (name) VALUES ('fresh')");
    cr_assert_eq (scalar (T.store.db, "SELECT count (*) FROM pools WHERE name = 'fresh' AND implicit"), 1);
    /*  Constraints hold.  */
    PGresult *r = PQexec (T.store.db, "UPDATE pools SET pue = 0.5 WHERE name = 'edge'");
    cr_assert_eq (PQresultStatus (r), PGRES_FATAL_ERROR);
    PQclear (r);
    r = PQexec (T.store.db, "UPDATE pools SET clearance = 'secret' WHERE name = 'edge'");
    cr_assert_eq (PQresultStatus (r), PGRES_FATAL_ERROR);
    PQclear (r);
    r = PQexec (T.store.db, "UPDATE jobs SET preemptions = -1");
    cr_assert_eq (PQresultStatus (r), PGRES_FATAL_ERROR);
    PQclear (r);
    PQfinish (T.store.db);
    T.store.db = NULL;
    fx_fini (&T);
    snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS %s_v1 WITH (FORCE)", s_dbname);
    exec_ok (a, sql);
    PQfinish (a);
}

/*  Two cluster descriptions, built by hand (the file parser has its own tests).  */
static char *A_REGIONS[] = { "eu-west", "us-east" };
static double A_LATENCY[] = { 0, 80, 85, -1 }; /*  us-east -> us-east unknown  */
static sp_pool_t A_POOLS[] = {
    { .name = "onprem-eu",
      .site = SP_SITE_ONPREM,
      .region = "eu-west",
      .region_idx = 0,
      .jurisdiction = "EU",
      .clearance = SP_CLASS_RESTRICTED,
      .cost_gpu_hour = 1.25,
      .cost_cpu_hour = 0.02,
      .pue = 1.4,
      .carbon_g_per_kwh = 250,
      .gpu_watts = 350,
      .cpu_watts = 8,
      .storage_root = "/data/eu" },
    { .name = "cloud-us",
      .site = SP_SITE_PUBLIC_CLOUD,
      .region = "us-east",
      .region_idx = 1,
      .jurisdiction = "US",
      .clearance = SP_CLASS_INTERNAL,
      .cost_gpu_hour = 3.5,
      .cost_cpu_hour = 0.05,
      .pue = 1.1,
      .carbon_g_per_kwh = 400,
      .gpu_watts = 700,
      .cpu_watts = 12 },
};
static char *JUR_EU[] = { "EU" };
static char *JUR_EU_US[] = { "EU", "US" };
static sp_variant_t A_VARIANTS[] = {
    { .name = "llama-3-eu", .jurisdictions = JUR_EU, .njurisdictions = 1, .uri = "s3://models/llama-3-eu" },
    { .name = "llama-3", .jurisdictions = JUR_EU_US, .njurisdictions = 2 },
};
static sp_family_t A_FAMILIES[] = { { .name = "llama-3", .variants = A_VARIANTS, .nvariants = 2 } };
static sp_queue_t A_QUEUES[] = { { .name = "gpu", .weight = 3 }, { .name = "default", .weight = 2 } };
static sp_tenant_t A_TENANTS[] = { { .name = "research", .weight = 2, .gpu_quota = 8 },
                                   { .name = "default", .weight = 1.5, .gpu_quota = -1 } };
static const sp_cluster_t CLUSTER_A = {
    .regions = A_REGIONS,
    .nregions = 2,
    .latency_ms = A_LATENCY,
    .pools = A_POOLS,
    .npools = 2,
    .families = A_FAMILIES,
    .nfamilies = 1,
    .queues = A_QUEUES,
    .nqueues = 2,
    .tenants = A_TENANTS,
    .ntenants = 2,
};

static char *B_REGIONS[] = { "us-east" };
static double B_LATENCY[] = { 2 };
static sp_pool_t B_POOLS[] = {
    { .name = "cloud-us",
      .site = SP_SITE_PUBLIC_CLOUD,
      .region = "us-east",
      .region_idx = 0,
      .jurisdiction = "US",
      .clearance = SP_CLASS_CONFIDENTIAL,
      .cost_gpu_hour = 2.75,
      .cost_cpu_hour = 0.05,
      .pue = 1.2,
      .carbon_g_per_kwh = 380,
      .gpu_watts = 700,
      .cpu_watts = 12 },
};
static sp_tenant_t B_TENANTS[] = { { .name = "research", .weight = 1, .gpu_quota = -1 } };
static const sp_cluster_t CLUSTER_B = {
    .regions = B_REGIONS,
    .nregions = 1,
    .latency_ms = B_LATENCY,
    .pools = B_POOLS,
    .npools = 1,
    .tenants = B_TENANTS,
    .ntenants = 1,
};

static void
text_is (const char *sql, const char *want)
{
    PGresult *r = PQexec (S.store.db, sql);
    cr_assert_eq (PQresultStatus (r), PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage (r));
    cr_assert_eq (PQntuples (r), 1, "%s: %d rows", sql, PQntuples (r));
    cr_assert_str_eq (PQgetvalue (r, 0, 0), want, "%s", sql);
    PQclear (r);
}

Test (sched_store, save_cluster_writes_the_description)
{
    /*  Nodes registered pools before the description was saved.  */
    st__mark_node (&S, fx_node (&S, "w1", "onprem-eu", 4, 8192, 2));
    st__mark_node (&S, fx_node (&S, "w2", "edge", 1, 1024, 0));
    st_error_t err = { 0 };
    cr_assert_eq (st__store_flush (&S, &err), ST_OK, "%s", err.msg);
    exec_ok (S.store.db, "INSERT INTO pools (name) VALUES ('stale')");

    cr_assert_eq (st__store_save_cluster (&S, &CLUSTER_A, &err), ST_OK, "%s", err.msg);
    text_is ("SELECT string_agg (name || ':' || implicit, ',' ORDER BY name) FROM pools",
             "cloud-us:false,edge:true,onprem-eu:false");
    text_is ("SELECT concat_ws ('|', site, region, jurisdiction, clearance, cost_gpu_hour, cost_cpu_hour, pue, "
             "carbon_g_per_kwh, gpu_watts, cpu_watts, storage_root) FROM pools WHERE name = 'onprem-eu'",
             "onprem|eu-west|EU|restricted|1.25|0.02|1.4|250|350|8|/data/eu");
    text_is ("SELECT concat_ws ('|', site, region, jurisdiction, clearance, storage_root IS NULL) FROM pools "
             "WHERE name = 'cloud-us'",
             "public_cloud|us-east|US|internal|t");
    text_is ("SELECT string_agg (name, ',' ORDER BY name) FROM regions", "eu-west,us-east");
    text_is ("SELECT string_agg (from_region || '>' || to_region || '=' || ms, ',' ORDER BY from_region, to_region) "
             "FROM latency",
             "eu-west>eu-west=0,eu-west>us-east=80,us-east>eu-west=85");
    text_is ("SELECT string_agg (name, ',') FROM model_families", "llama-3");
    text_is ("SELECT string_agg (concat_ws ('|', name, family, position, jurisdictions::text, uri), ',' "
             "ORDER BY position) FROM model_variants",
             "llama-3-eu|llama-3|0|{EU}|s3://models/llama-3-eu,llama-3|llama-3|1|{EU,US}");
    text_is ("SELECT string_agg (name || '=' || weight, ',' ORDER BY name) FROM queues", "default=2,gpu=3");
    text_is ("SELECT string_agg (name || '=' || weight || '/' || coalesce (gpu_quota::text, 'none'), ',' "
             "ORDER BY name) FROM tenants",
             "default=1.5/none,research=2/8");

    /*  The nodes' own writes keep working on top of it.  */
    st__mark_node (&S, fx_node (&S, "w3", "later", 1, 1024, 0));
    cr_assert_eq (st__store_flush (&S, &err), ST_OK, "%s", err.msg);
    text_is ("SELECT implicit::text FROM pools WHERE name = 'later'", "true");
    /*  Saving the same description again changes nothing.  */
    cr_assert_eq (st__store_save_cluster (&S, &CLUSTER_A, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (scalar (S.store.db, "SELECT count (*) FROM pools"), 4);
    cr_assert_eq (scalar (S.store.db, "SELECT count (*) FROM model_variants"), 2);
    cr_assert_eq (scalar (S.store.db, "SELECT count (*) FROM latency"), 3);
}

Test (sched_store, save_cluster_replaces_the_previous_description)
{
    st__mark_node (&S, fx_node (&S, "w1", "onprem-eu", 4, 8192, 2));
    st_error_t err = { 0 };
    cr_assert_eq (st__store_flush (&S, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (st__store_save_cluster (&S, &CLUSTER_A, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (st__store_save_cluster (&S, &CLUSTER_B, &err), ST_OK, "%s", err.msg);

    /*  onprem-eu is gone from the file but a node is in it: it stays, implicit, with the defaults.  */
    text_is ("SELECT string_agg (name || ':' || implicit, ',' ORDER BY name) FROM pools",
             "cloud-us:false,onprem-eu:true");
    text_is ("SELECT concat_ws ('|', site, coalesce (region, '-'), coalesce (jurisdiction, '-'), clearance, "
             "cost_gpu_hour, pue, gpu_watts, coalesce (storage_root, '-')) FROM pools WHERE name = 'onprem-eu'",
             "onprem|-|-|public|0|1|400|-");
    text_is ("SELECT concat_ws ('|', clearance, cost_gpu_hour, pue) FROM pools WHERE name = 'cloud-us'",
             "confidential|2.75|1.2");
    text_is ("SELECT string_agg (name, ',') FROM regions", "us-east");
    text_is ("SELECT string_agg (from_region || '>' || to_region || '=' || ms, ',') FROM latency",
             "us-east>us-east=2");
    cr_assert_eq (scalar (S.store.db, "SELECT count (*) FROM model_families"), 0);
    cr_assert_eq (scalar (S.store.db, "SELECT count (*) FROM model_variants"), 0);
    /*  Queues and tenants stay (jobs refer to them) with the defaults when not named.  */
    text_is ("SELECT string_agg (name || '=' || weight, ',' ORDER BY name) FROM queues", "default=1,gpu=1");
    text_is ("SELECT string_agg (name || '=' || weight || '/' || coalesce (gpu_quota::text, 'none'), ',' "
             "ORDER BY name) FROM tenants",
             "default=1/none,research=1/none");
}

Test (sched_store, save_cluster_is_all_or_nothing)
{
    st_error_t err = { 0 };
    cr_assert_eq (st__store_save_cluster (&S, &CLUSTER_A, &err), ST_OK, "%s", err.msg);
    /*  A tenant name the tenants table refuses: nothing of the second description may stay.  */
    static sp_tenant_t bad_tenants[] = { { .name = "no spaces allowed", .weight = 1, .gpu_quota = -1 } };
    sp_cluster_t bad = CLUSTER_B;
    bad.tenants = bad_tenants;
    bad.ntenants = 1;
    cr_assert_eq (st__store_save_cluster (&S, &bad, &err), ST_EDB);
    cr_assert (strstr (err.msg, "saving the cluster description (tenants)"), "%s", err.msg);
    text_is ("SELECT string_agg (name, ',' ORDER BY name) FROM pools", "cloud-us,onprem-eu");
    text_is ("SELECT string_agg (name, ',' ORDER BY name) FROM regions", "eu-west,us-east");
    cr_assert_eq (scalar (S.store.db, "SELECT count (*) FROM model_variants"), 2);
    /*  The connection is usable afterwards.  */
    cr_assert_eq (st__store_save_cluster (&S, &CLUSTER_B, &err), ST_OK, "%s", err.msg);
}

Test (sched_store, save_cluster_of_an_empty_description)
{
    st__mark_node (&S, fx_node (&S, "w1", "p", 4, 8192, 0));
    st_error_t err = { 0 };
    cr_assert_eq (st__store_flush (&S, &err), ST_OK, "%s", err.msg);
    static const sp_cluster_t empty = { 0 };
    cr_assert_eq (st__store_save_cluster (&S, &CLUSTER_A, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (st__store_save_cluster (&S, &empty, &err), ST_OK, "%s", err.msg);
    text_is ("SELECT string_agg (name || ':' || implicit, ',' ORDER BY name) FROM pools", "p:true");
    cr_assert_eq (scalar (S.store.db, "SELECT count (*) FROM regions"), 0);
}

Test (sched_store, get_and_list_read_the_placement_columns)
{
    fx_submit (&S, "{\"name\":\"a\",\"command\":[\"true\"]}");
    fx_submit (&S, "{\"name\":\"b\",\"command\":[\"true\"]}");
    st_error_t err = { 0 };
    cr_assert_eq (st__store_flush (&S, &err), ST_OK, "%s", err.msg);
    exec_ok (S.store.db,
             "UPDATE jobs SET pool = 'onprem-eu', variant = 'llama-3-eu', est_cost = 1.5, est_kwh = 0.25, "
             "est_co2_g = 62.5, cost = 0, preemptions = 2, placement = '{\"pool\": \"onprem-eu\"}' WHERE id = 1");
    Strata__JobInfo *j = NULL;
    cr_assert_eq (st__store_get_job (&S, 1, &j, &err), ST_OK, "%s", err.msg);
    cr_assert_str_eq (j->pool, "onprem-eu");
    cr_assert_str_eq (j->variant, "llama-3-eu");
    cr_assert_eq (j->est_cost_opt_case, STRATA__JOB_INFO__EST_COST_OPT_EST_COST);
    cr_assert_eq (j->est_cost, 1.5);
    cr_assert_eq (j->est_kwh_opt_case, STRATA__JOB_INFO__EST_KWH_OPT_EST_KWH);
    cr_assert_eq (j->est_kwh, 0.25);
    cr_assert_eq (j->est_co2_g_opt_case, STRATA__JOB_INFO__EST_CO2_G_OPT_EST_CO2_G);
    cr_assert_eq (j->est_co2_g, 62.5);
    cr_assert_eq (j->cost_opt_case, STRATA__JOB_INFO__COST_OPT_COST, "a zero cost is present, not absent");
    cr_assert_eq (j->cost, 0.0);
    cr_assert_eq (j->kwh_opt_case, STRATA__JOB_INFO__KWH_OPT__NOT_SET);
    cr_assert_eq (j->co2_g_opt_case, STRATA__JOB_INFO__CO2_G_OPT__NOT_SET);
    cr_assert_eq (j->preemptions, 2);
    cr_assert_str_eq (j->placement_json, "{\"pool\": \"onprem-eu\"}");
    st_store_free_job (j);

    Strata__ListRequest req = STRATA__LIST_REQUEST__INIT;
    Strata__ListReply *l = NULL;
    cr_assert_eq (st__store_list_jobs (&S, &req, &l, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (l->n_jobs, 2);
    cr_assert_eq (l->jobs[0]->id, 2);
    cr_assert_str_eq (l->jobs[0]->pool, "", "not placed yet");
    cr_assert_str_eq (l->jobs[0]->placement_json, "");
    cr_assert_eq (l->jobs[0]->est_cost_opt_case, STRATA__JOB_INFO__EST_COST_OPT__NOT_SET);
    cr_assert_eq (l->jobs[0]->preemptions, 0);
    cr_assert_str_eq (l->jobs[1]->variant, "llama-3-eu");
    /*  And the reply still packs and unpacks (the oneofs included).  */
    size_t len = strata__list_reply__get_packed_size (l);
    uint8_t *buf = malloc (len);
    strata__list_reply__pack (l, buf);
    Strata__ListReply *back = strata__list_reply__unpack (NULL, len, buf);
    cr_assert_not_null (back);
    cr_assert_eq (back->jobs[1]->est_co2_g_opt_case, STRATA__JOB_INFO__EST_CO2_G_OPT_EST_CO2_G);
    cr_assert_eq (back->jobs[1]->est_co2_g, 62.5);
    cr_assert_eq (back->jobs[0]->est_co2_g_opt_case, STRATA__JOB_INFO__EST_CO2_G_OPT__NOT_SET);
    strata__list_reply__free_unpacked (back, NULL);
    free (buf);
    st_store_free_list (l);
}

/*  -- 003_models.sql: dependencies and fine-tuned model versions ---------------  */

/*  A worker's report that rank r of job ended with code.  */
static void
report_exit (st__sched_t *s, st__task_t *t, int code)
{
    Strata__Envelope env;
    Strata__TaskUpdate up = STRATA__TASK_UPDATE__INIT;
    Strata__TaskStatus st = STRATA__TASK_STATUS__INIT;
    Strata__TaskRef ref = STRATA__TASK_REF__INIT;
    st_wire_envelope_init (&env, 1);
    ref.job_id = t->job->id;
    ref.index = t->index;
    ref.attempt = t->attempt;
    st.task = &ref;
    st.state = STRATA__TASK_STATE__TASK_EXITED;
    st.exit_code = code;
    st.pid = 4242;
    up.status = &st;
    env.body_case = STRATA__ENVELOPE__BODY_TASK_UPDATE;
    env.task_update = &up;
    st__dispatch_worker_message (s, st__net_peer_of (t->node), &env);
}

/*  What the loop does after a flush: ended jobs leave memory.  */
static void
forget_finished (st__sched_t *s)
{
    for (size_t i = 0; i < s->model.nfinished; i++) {
        st__job_t *job = s->model.finished[i];
        st__pending_remove (s, job);
        for (uint32_t r = 0; r < job->ntasks; r++)
            st__task_release (s, &job->tasks[r]);
        st_map_remove_u64 (s->model.jobs, job->id);
        st__job_free (job);
    }
    s->model.nfinished = 0;
}

static void
flush_ok (st__sched_t *s)
{
    st_error_t err = { 0 };
    cr_assert_eq (st__store_flush (s, &err), ST_OK, "%s", err.msg);
    forget_finished (s);
}

/*  A second scheduler on the same database (a restart).  */
static void
restart (st__sched_t *t)
{
    st_error_t err = { 0 };
    fx_init (t);
    t->store.database = s_dsn;
    cr_assert_eq (st__store_connect (t, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (st__store_load (t, &err), ST_OK, "%s", err.msg);
}

static void
stop (st__sched_t *t)
{
    PQfinish (t->store.db);
    t->store.db = NULL;
    fx_fini (t);
}

static const char *FT =
    "{\"kind\":\"finetune\",\"launcher\":\"direct\",\"command\":[\"train\"],\"output_model\":\"acme-twin\"}";

/*  Pool p keeps its data under /store: a fine-tune's checkpoint goes there, by tenant and model.  */
static void
s_storage_root (st__sched_t *t)
{
    int p = sp_cluster_pool_add_implicit (t->model.cluster, "p");
    cr_assert_geq (p, 0);
    t->model.cluster->pools[p].storage_root = strdup ("/store");
}

Test (sched_store, a_version_is_registered_in_the_batch_of_the_success)
{
    s_storage_root (&S);
    st__mark_node (&S, fx_node (&S, "w1", "p", 4, 8192, 0));
    st__job_t *a = fx_submit (&S, FT);
    st__place_pending (&S);
    st__dispatch_send_launches (&S);
    flush_ok (&S);

    /*  A batch that cannot commit (a guard fails) writes no version either.  */
    report_exit (&S, &a->tasks[0], 0);
    cr_assert_eq (a->state, ST_JOB_SUCCEEDED);
    fx_submit (&S, "{\"command\":[\"true\"]}");
    exec_ok (S.store.db, "UPDATE jobs SET state = 'CANCELLED' WHERE id = 1");
    st_error_t err = { 0 };
    cr_assert_eq (st__store_flush (&S, &err), ST_EDB);
    cr_assert_eq (scalar (S.store.db, "SELECT count (*) FROM model_versions"), 0);

    /*  The same batch against the row as the scheduler left it commits both.  */
    exec_ok (S.store.db, "UPDATE jobs SET state = 'STARTING' WHERE id = 1");
    cr_assert_eq (st__store_flush (&S, &err), ST_OK, "%s", err.msg);
    text_is ("SELECT concat_ws ('|', tenant, name, version, job_id, checkpoint, pool, coalesce (jurisdiction, '-'), "
             "classification, residency::text) FROM model_versions",
             "default|acme-twin|1|1|/store/default/models/acme-twin/job-1|p|-|public|{}");
    text_is ("SELECT state FROM jobs WHERE id = 1", "SUCCEEDED");
    cr_assert_eq (scalar (S.store.db, "SELECT count (*) FROM events WHERE job_id = 1 AND kind = 'model'"), 1);
    Strata__JobInfo *j = NULL;
    cr_assert_eq (st__store_get_job (&S, 1, &j, &err), ST_OK, "%s", err.msg);
    cr_assert_str_eq (j->registered_version, "acme-twin:1");
    cr_assert_str_eq (j->model_version, "");
    st_store_free_job (j);
    forget_finished (&S);

    /*  A restarted scheduler knows the version and numbers the next one after it.  */
    st__sched_t T;
    restart (&T);
    s_storage_root (&T);
    const st__model_version_t *v = st__registry_find (&T, "default", "acme-twin", 0);
    cr_assert_not_null (v);
    cr_assert_eq (v->version, 1);
    cr_assert_str_eq (v->checkpoint, "/store/default/models/acme-twin/job-1");
    cr_assert_eq (v->classification, SP_CLASS_PUBLIC);
    cr_assert_null (v->jurisdiction, "its pool has none (an implicit pool)");
    st__mark_node (&T, fx_node (&T, "w1b", "p", 4, 8192, 0));
    st__job_t *a2 = fx_submit (&T, FT);
    st__place_pending (&T);
    st__dispatch_send_launches (&T);
    report_exit (&T, &a2->tasks[0], 0);
    cr_assert_eq (a2->state, ST_JOB_SUCCEEDED);
    cr_assert_eq (st__store_flush (&T, &err), ST_OK, "%s", err.msg);
    text_is ("SELECT string_agg (version || ':' || job_id, ',' ORDER BY version) FROM model_versions", "1:1,2:3");
    stop (&T);
}

Test (sched_store, a_waiting_job_survives_a_restart_and_then_runs)
{
    s_storage_root (&S);
    st__mark_node (&S, fx_node (&S, "w1", "p", 4, 8192, 0));
    st__job_t *a = fx_submit (&S, FT);
    st__job_t *b = fx_submit (&S, "{\"command\":[\"use\"],\"model\":\"acme-twin\",\"depends_on\":[1]}");
    st__place_pending (&S);
    st__dispatch_send_launches (&S);
    cr_assert_eq (a->state, ST_JOB_STARTING);
    cr_assert_eq (b->state, ST_JOB_PENDING);
    flush_ok (&S);
    text_is ("SELECT reason FROM jobs WHERE id = 2",
             "waiting for job 1 (STARTING); model acme-twin has no registered version yet");

    /*  Restart: job 2 still waits, outside the engine.  */
    st__sched_t T;
    restart (&T);
    s_storage_root (&T);
    st__job_t *a1 = st_map_get_u64 (T.model.jobs, 1), *b1 = st_map_get_u64 (T.model.jobs, 2);
    cr_assert_not_null (b1);
    cr_assert_eq (b1->state, ST_JOB_PENDING);
    cr_assert_eq (b1->deps_waiting, 1);
    cr_assert_not (b1->in_pending);
    cr_assert_eq (T.model.npending, 0);
    /*  Job 1 ends well in the restarted scheduler (its worker reported it).  */
    st__task_end (&T, &a1->tasks[0], ST_TASK_SUCCEEDED);
    st__job_evaluate (&T, a1);
    cr_assert_eq (a1->state, ST_JOB_SUCCEEDED);
    cr_assert (b1->in_pending, "%s", b1->reason);
    cr_assert_str_eq (b1->model_ref, "acme-twin:1");
    st_error_t err = { 0 };
    cr_assert_eq (st__store_flush (&T, &err), ST_OK, "%s", err.msg);
    text_is ("SELECT concat_ws ('|', state, model_ref) FROM jobs WHERE id = 2", "PENDING|acme-twin:1");
    stop (&T);

    /*  And again: the fixed version is kept, the job goes to the engine.  */
    st__sched_t U;
    restart (&U);
    s_storage_root (&U);
    st__job_t *b2 = st_map_get_u64 (U.model.jobs, 2);
    cr_assert_not_null (b2);
    cr_assert (b2->in_pending);
    cr_assert_eq (b2->ft_version, 1);
    cr_assert_str_eq (b2->model_uri, "/store/default/models/acme-twin/job-1");
    cr_assert_str_eq (b2->pj.pool, "p");
    stop (&U);
}

Test (sched_store, finished_dependencies_are_read_from_the_database)
{
    st__mark_node (&S, fx_node (&S, "w1", "p", 4, 8192, 0));
    st__job_t *ok = fx_submit (&S, "{\"command\":[\"true\"]}");
    st__job_t *bad = fx_submit (&S, "{\"command\":[\"false\"]}");
    fx_submit (&S, "{\"command\":[\"true\"],\"tenant\":\"other\"}");
    st__place_pending (&S);
    st__dispatch_send_launches (&S);
    report_exit (&S, &ok->tasks[0], 0);
    report_exit (&S, &bad->tasks[0], 1);
    flush_ok (&S);
    cr_assert_null (st_map_get_u64 (S.model.jobs, 1), "ended jobs are no longer in memory");

    st__job_t *after_ok = fx_submit (&S, "{\"command\":[\"true\"],\"depends_on\":[1]}");
    cr_assert (after_ok->in_pending, "%s", after_ok->reason);
    st__job_t *after_bad = fx_submit (&S, "{\"command\":[\"true\"],\"depends_on\":[1, 2]}");
    cr_assert_eq (after_bad->state, ST_JOB_FAILED);
    cr_assert_str_eq (after_bad->reason, "dependency job 2 failed");
    uint64_t next = S.model.next_job_id;
    Strata__Envelope env;
    Strata__SubmitRequest sub = STRATA__SUBMIT_REQUEST__INIT;
    st_peer_t peer = { .id = "c", .id_len = 1 };
    st_wire_envelope_init (&env, 7);
    env.body_case = STRATA__ENVELOPE__BODY_SUBMIT;
    env.submit = &sub;
    sub.spec_json = "{\"command\":[\"true\"],\"depends_on\":[3]}";
    st__client_message (&S, &peer, &env);
    cr_assert_eq (S.model.next_job_id, next, "job 3 is another tenant's: refused");
    sub.spec_json = "{\"command\":[\"true\"],\"depends_on\":[99]}";
    st__client_message (&S, &peer, &env);
    cr_assert_eq (S.model.next_job_id, next, "no job 99: refused");
    flush_ok (&S);
    text_is ("SELECT concat_ws ('|', state, reason) FROM jobs WHERE id = 5", "FAILED|dependency job 2 failed");
}

Test (sched_store, a_dependency_found_failed_at_start_up_fails_its_dependents)
{
    st__mark_node (&S, fx_node (&S, "w1", "p", 4, 8192, 0));
    fx_submit (&S, "{\"command\":[\"sleep\",\"60\"]}");
    fx_submit (&S, "{\"command\":[\"true\"],\"depends_on\":[1]}");
    fx_submit (&S, "{\"command\":[\"true\"],\"depends_on\":[2]}");
    st__place_pending (&S);
    flush_ok (&S);
    /*  Job 1's end reaches the database without its dependents' (an older
     *  scheduler, a person): the next start-up settles them.  */
    exec_ok (S.store.db, "UPDATE jobs SET state = 'FAILED' WHERE id = 1");
    st__sched_t T;
    restart (&T);
    st__job_t *b = st_map_get_u64 (T.model.jobs, 2), *c = st_map_get_u64 (T.model.jobs, 3);
    cr_assert_eq (b->state, ST_JOB_FAILED);
    cr_assert_str_eq (b->reason, "dependency job 1 failed");
    cr_assert_eq (c->state, ST_JOB_FAILED);
    cr_assert_str_eq (c->reason, "dependency job 2 failed");
    st_error_t err = { 0 };
    cr_assert_eq (st__store_flush (&T, &err), ST_OK, "%s", err.msg);
    text_is ("SELECT string_agg (id || state, ',' ORDER BY id) FROM jobs", "1FAILED,2FAILED,3FAILED");
    stop (&T);
}

/*  A hand-edited database: a deleted version leaves a gap that start-up keeps
 *  (the next version follows the highest, not the count, so the next success
 *  commits), and a pending job that names itself or a later job as a
 *  dependency fails instead of waiting for ever.  */
Test (sched_store, hand_edited_versions_and_dependencies_do_not_stop_the_scheduler)
{
    st__mark_node (&S, fx_node (&S, "w1", "p", 4, 8192, 0));
    st__job_t *a = fx_submit (&S, FT), *b = fx_submit (&S, FT);
    st__place_pending (&S);
    st__dispatch_send_launches (&S);
    report_exit (&S, &a->tasks[0], 0);
    report_exit (&S, &b->tasks[0], 0);
    flush_ok (&S);
    fx_submit (&S, "{\"command\":[\"true\"],\"depends_on\":[1]}");
    fx_submit (&S, "{\"command\":[\"true\"],\"depends_on\":[1]}");
    flush_ok (&S);
    exec_ok (S.store.db, "DELETE FROM model_versions WHERE version = 1");
    exec_ok (S.store.db, "UPDATE jobs SET spec = jsonb_set (spec, '{depends_on}', '[3]') WHERE id = 3");
    exec_ok (S.store.db, "UPDATE jobs SET spec = jsonb_set (spec, '{depends_on}', '[\"x\", 4]') WHERE id = 4");

    st__sched_t T;
    restart (&T);
    cr_assert_null (st__registry_find (&T, "default", "acme-twin", 1));
    const st__model_version_t *v = st__registry_find (&T, "default", "acme-twin", 0);
    cr_assert_not_null (v);
    cr_assert_eq (v->version, 2);
    cr_assert_eq (st__registry_find (&T, "default", "acme-twin", 2), v);
    st__job_t *self = st_map_get_u64 (T.model.jobs, 3);
    cr_assert_not_null (self);
    cr_assert_eq (self->state, ST_JOB_FAILED);
    cr_assert_str_eq (self->reason, "dependency job 3 does not exist");
    cr_assert_null (st_map_get_u64 (T.model.jobs, 4), "a spec that does not parse is skipped, not fatal");

    st__mark_node (&T, fx_node (&T, "w1b", "p", 4, 8192, 0));
    st__job_t *c = fx_submit (&T, FT);
    st__place_pending (&T);
    st__dispatch_send_launches (&T);
    report_exit (&T, &c->tasks[0], 0);
    st_error_t err = { 0 };
    cr_assert_eq (st__store_flush (&T, &err), ST_OK, "%s", err.msg);
    text_is ("SELECT string_agg (version || ':' || job_id, ',' ORDER BY version) FROM model_versions", "2:2,3:5");
    stop (&T);
}

/*  -- the pipelined flush (st__store_flush_begin / _poll / _wait) -----------  */

/*  A second connection: what is committed, whatever the store's connection is doing.  */
static PGconn *
observer (void)
{
    PGconn *c = PQconnectdb (s_dsn);
    cr_assert_eq (PQstatus (c), CONNECTION_OK, "%s", PQerrorMessage (c));
    return c;
}

/*  Polls (as the loop does, without blocking) until the batch in flight is answered.  */
static st_rc_t
poll_until_done (st_error_t *err)
{
    int done = 0;
    st_rc_t rc;
    while ((rc = st__store_flush_poll (&S.store, &done, err)) == ST_OK && !done)
        usleep (1000);
    return rc;
}

/*  What the loop does once a batch committed: it publishes and drops that
 *  batch's events, the first n; later ones belong to the next batch.  */
static void
drop_events (size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free (S.model.events[i].node);
        free (S.model.events[i].message);
    }
    memmove (S.model.events, S.model.events + n, (S.model.nevents - n) * sizeof *S.model.events);
    S.model.nevents -= n;
}

Test (sched_store, a_pipelined_batch_takes_its_rows_and_the_next_accumulates)
{
    st__mark_node (&S, fx_node (&S, "w1", "p", 4, 8192, 0));
    fx_submit (&S, "{\"name\":\"a\",\"command\":[\"true\"]}");
    st_error_t err = { 0 };
    int sent = 0, done = 0;
    cr_assert_eq (st__store_flush_begin (&S.store, &sent, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (sent, 1);
    size_t nevents = S.model.nevents;
    cr_assert_eq (S.store.flush_state, ST__FLUSH_SENT);
    cr_assert_eq (S.model.ndirty_jobs, 0, "the rows belong to the batch sent");
    st__job_t *a = st_map_get_u64 (S.model.jobs, 1);
    cr_assert (a->persisted, "the next batch updates a's row instead of inserting it");

    /*  Changes made meanwhile wait for the next batch, which waits for this one.  */
    fx_submit (&S, "{\"name\":\"b\",\"command\":[\"true\"]}");
    cr_assert_eq (S.model.ndirty_jobs, 1);
    cr_assert_eq (st__store_flush_begin (&S.store, &sent, &err), ST_ESTATE, "at most one batch in flight");

    cr_assert_eq (st__store_flush_wait (&S.store, &done, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (done, 1);
    cr_assert_eq (S.store.flush_state, ST__FLUSH_IDLE);
    drop_events (nevents);
    PGconn *o = observer ();
    cr_assert_eq (scalar (o, "SELECT count (*) FROM jobs WHERE name = 'a'"), 1);
    cr_assert_eq (scalar (o, "SELECT count (*) FROM jobs WHERE name = 'b'"), 0, "b is in the next batch");

    st__place_pending (&S);
    cr_assert_eq (a->state, ST_JOB_SCHEDULED);
    cr_assert_eq (st__store_flush_begin (&S.store, &sent, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (sent, 1);
    nevents = S.model.nevents;
    cr_assert_eq (poll_until_done (&err), ST_OK, "%s", err.msg);
    drop_events (nevents);
    cr_assert_eq (scalar (o, "SELECT count (*) FROM jobs WHERE name = 'b'"), 1);
    cr_assert_eq (scalar (o, "SELECT count (*) FROM events WHERE job_id = 1 AND to_state = 'PENDING'"), 1,
                  "each event written once");
    cr_assert_eq (scalar (o, "SELECT count (*) FROM jobs WHERE name = 'a' AND state = 'SCHEDULED'"), 1,
                  "a's row updated from the state the first batch wrote");
    cr_assert_eq (S.model.counters.flushes, 2);

    /*  Nothing to write: nothing sent, nothing in flight.  */
    cr_assert_eq (st__store_flush_begin (&S.store, &sent, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (sent, 0);
    cr_assert_eq (st__store_flush_poll (&S.store, &done, &err), ST_OK);
    cr_assert_eq (done, 0);
    PQfinish (o);
}

Test (sched_store, a_read_waits_for_the_batch_in_flight)
{
    fx_submit (&S, "{\"name\":\"a\",\"command\":[\"true\"]}");
    st_error_t err = { 0 };
    int sent = 0, done = 0;
    cr_assert_eq (st__store_flush_begin (&S.store, &sent, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (sent, 1);
    /*  The read shares the connection: it reads the batch's answer first, and sees its rows.  */
    Strata__JobInfo *j = NULL;
    cr_assert_eq (st__store_get_job (&S, 1, &j, &err), ST_OK, "%s", err.msg);
    cr_assert_str_eq (j->name, "a");
    st_store_free_job (j);
    cr_assert_eq (S.store.flush_state, ST__FLUSH_ANSWERED, "the outcome waits for the loop");
    cr_assert_eq (st__store_flush_poll (&S.store, &done, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (done, 1);
    cr_assert_eq (S.store.flush_state, ST__FLUSH_IDLE);
}

Test (sched_store, a_failed_pipelined_batch_is_reported_and_writes_nothing)
{
    st__mark_node (&S, fx_node (&S, "w1", "p", 4, 8192, 0));
    st__job_t *job = fx_submit (&S, "{\"command\":[\"true\"]}");
    st_error_t err = { 0 };
    cr_assert_eq (st__store_flush (&S, &err), ST_OK, "%s", err.msg);
    long events = scalar (S.store.db, "SELECT count (*) FROM events");
    exec_ok (S.store.db, "UPDATE jobs SET state = 'CANCELLED' WHERE id = 1");
    st__place_pending (&S);
    cr_assert_eq (job->state, ST_JOB_SCHEDULED);
    int sent = 0;
    cr_assert_eq (st__store_flush_begin (&S.store, &sent, &err), ST_OK, "%s", err.msg);
    cr_assert_eq (sent, 1);
    cr_assert_eq (poll_until_done (&err), ST_EDB);
    cr_assert (strstr (err.msg, "jobs changed under the scheduler"), "%s", err.msg);
    cr_assert_eq (S.store.flush_state, ST__FLUSH_IDLE);
    cr_assert_eq (scalar (S.store.db, "SELECT count (*) FROM events"), events, "the whole batch was rolled back");
    cr_assert_eq (scalar (S.store.db, "SELECT count (*) FROM tasks WHERE state = 'SCHEDULED'"), 0);
}

Test (sched_store, text_with_quotes_backslashes_and_control_characters_is_written_as_it_is)
{
    /*  The rows are JSON text written by hand: every character must come back unchanged.  */
    static const char *REASON = "say \"hi\" \\ back\\slash\nnew line\ttab \x01\x1f end é ✓";
    st__job_t *job = fx_submit (&S, "{\"name\":\"plain\",\"command\":[\"echo\",\"a\\\"b\\nc\"]}");
    st__job_set_reason (&S.model, job, REASON);
    st_error_t err = { 0 };
    cr_assert_eq (st__store_flush (&S, &err), ST_OK, "%s", err.msg);
    PGresult *r = PQexec (S.store.db, "SELECT name, reason, spec->'command'->>1 FROM jobs WHERE id = 1");
    cr_assert_eq (PQresultStatus (r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage (r));
    cr_assert_str_eq (PQgetvalue (r, 0, 0), "plain");
    cr_assert_str_eq (PQgetvalue (r, 0, 1), REASON);
    cr_assert_str_eq (PQgetvalue (r, 0, 2), "a\"b\nc");
    PQclear (r);
    /*  And on an update of the row.  */
    st__job_set_reason (&S.model, job, "second \"reason\" \\");
    cr_assert_eq (st__store_flush (&S, &err), ST_OK, "%s", err.msg);
    r = PQexec (S.store.db, "SELECT reason FROM jobs WHERE id = 1");
    cr_assert_str_eq (PQgetvalue (r, 0, 0), "second \"reason\" \\");
    PQclear (r);
}

Test (sched_store, bytes_that_are_not_utf8_are_written_as_replacement_characters)
{
    /*  Workers' strings are not checked on the wire: a hostname, a label or a
     *  message cut inside a character must not make PostgreSQL refuse the batch.  */
    st__node_t *n = fx_node (&S, "w1", "p", 4, 8192, 0);
    free (n->hostname);
    n->hostname = strdup ("host\xff\xfe");
    cr_assert_eq (st_kv_add (&n->labels, "zone\xc3", "eu \xe2\x82"), 0);
    st__mark_node (&S, n);
    st__job_t *job = fx_submit (&S, "{\"name\":\"cut\",\"command\":[\"true\"]}");
    st__job_set_reason (&S.model, job, "cut \xc3 here \xed\xa0\x80 and é");
    st_error_t err = { 0 };
    cr_assert_eq (st__store_flush (&S, &err), ST_OK, "%s", err.msg);
    PGresult *r = PQexec (S.store.db, "SELECT hostname, labels->>'zone\xef\xbf\xbd' FROM nodes WHERE name = 'w1'");
    cr_assert_eq (PQresultStatus (r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage (r));
    cr_assert_str_eq (PQgetvalue (r, 0, 0), "host\xef\xbf\xbd\xef\xbf\xbd");
    cr_assert_str_eq (PQgetvalue (r, 0, 1), "eu \xef\xbf\xbd\xef\xbf\xbd");
    PQclear (r);
    r = PQexec (S.store.db, "SELECT reason FROM jobs WHERE id = 1");
    cr_assert_str_eq (PQgetvalue (r, 0, 0), "cut \xef\xbf\xbd here \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd and é");
    PQclear (r);
}
