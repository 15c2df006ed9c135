/*  store.h: everything the scheduler keeps in PostgreSQL (scheduler/store/).
 *
 *  PostgreSQL only: the schema (migrations) and the leader lock, loading the
 *  model at start-up, the batched flush of what the model marked dirty, the
 *  reads clients ask for, the cluster description, and the states of finished
 *  jobs that dependencies name. store/ reads the model and builds model
 *  objects on load; it changes a job's or task's state only through the
 *  model's doors (st__job_set_state, st__task_set_state). It knows nothing of
 *  sockets or protobuf: what clients read comes back as plain records
 *  (st__job_record_t), and what net/ needs from a load (submission tokens) is
 *  returned, for sched.c to hand on. */
#ifndef ST__STORE_H
#define ST__STORE_H

#include <libpq-fe.h>

#include "model.h"

/*  A submission token read at start-up: (tenant, token) -> job id, for ttl_ms more.  */
typedef struct {
    char *tenant;
    char *token;
    uint64_t job_id;
    uint64_t ttl_ms;
} st__store_token_t;

typedef struct st__store {
    st__model_t *m;            /*  the model it loads into and flushes from (not owned)  */
    const char *database;      /*  --database: a libpq connection string (not owned)  */
    PGconn *db;                /*  the connection; NULL before st__store_connect  */
    st__store_token_t *tokens; /*  the submission tokens the last st__store_load read  */
    size_t ntokens;
} st__store_t;

/*  -- store.c -----------------------------------------------------------  */
st_rc_t st__store_connect (st__store_t *s, st_error_t *err);
/*  Blocks until this scheduler holds the leader lock.  */
st_rc_t st__store_lead (st__store_t *s, volatile int *stop, st_error_t *err);
st_rc_t st__store_migrate (st__store_t *s, st_error_t *err);
/*  Builds the model from the database: nodes, model versions, unfinished jobs
 *  and their tasks; admits the pending jobs again. Leaves the submission
 *  tokens of the last hour in s->tokens.  */
st_rc_t st__store_load (st__store_t *s, st_error_t *err);
void st__store_tokens_free (st__store_t *s);
/*  Writes every dirty row and queued event in one transaction.  */
st_rc_t st__store_flush (st__store_t *s, st_error_t *err);
/*  A job's row and its tasks' (caller frees with st__job_record_free).  */
st_rc_t st__store_get_job (st__store_t *s, uint64_t id, st__job_record_t **out, st_error_t *err);
/*  The latest jobs, newest first: state and tenant filter when not "" or NULL,
 *  at most limit (0: 50; capped at 10,000), unfinished only when active_only.
 *  Caller frees with st__job_records_free.  */
st_rc_t st__store_list_jobs (st__store_t *s, const char *state, const char *tenant, uint32_t limit, int active_only,
                             st__job_record_t **out, size_t *n, st_error_t *err);
/*  Latest task row of (job, rank): node, attempt, job state. For log relays.  */
st_rc_t st__store_task_location (st__store_t *s, uint64_t job_id, uint32_t rank, char *node, size_t node_size,
                                 uint32_t *attempt, char *job_state, size_t state_size, st_error_t *err);
/*  The states of job's dependencies that are not in memory (st__deps_missing),
 *  noted in the model (st__deps_note_state) for st__deps_check. Forgets the
 *  states noted before. Without a connection, notes nothing.  */
st_rc_t st__store_dep_states (st__store_t *s, const st__job_t *job, st_error_t *err);
void st__store_close (st__store_t *s);

/*  -- store_cluster.c ---------------------------------------------------  */
/*  Writes the cluster description c in one transaction, replacing the previous
 *  one: pools' attributes (upserted; a pool c no longer names stays, implicit
 *  and with the defaults, while a node belongs to it), regions and latencies,
 *  the model registry, and queue and tenant weights and quotas. For start-up.  */
st_rc_t st__store_save_cluster (st__store_t *s, const sp_cluster_t *c, st_error_t *err);

#endif
