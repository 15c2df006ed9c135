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

#include "identity.h"
#include "model.h"

/*  A submission token read at start-up: (tenant, submitter, token) -> job id, for ttl_ms more.  */
typedef struct {
    char *tenant;
    char *submitted_by; /*  "" for a job submitted before users were recorded  */
    char *token;
    uint64_t job_id;
    uint64_t ttl_ms;
} st__store_token_t;

/*  Where the batch written in the background stands (st__store_flush_begin):
 *
 *      IDLE --begin--> SENT --its results read--> ANSWERED --poll/wait reports it--> IDLE
 *
 *  Results are read by st__store_flush_poll (without blocking), by
 *  st__store_flush_wait, or by any read of this file that needs the connection
 *  (it waits for the batch first, so a client reads what was committed).  */
typedef enum {
    ST__FLUSH_IDLE = 0, /*  no batch on the connection  */
    ST__FLUSH_SENT,     /*  a batch sent; its COMMIT not yet answered  */
    ST__FLUSH_ANSWERED, /*  its results read; the outcome waits to be reported  */
} st__flush_state_t;

/*  A growable text buffer: one statement's rows as a JSON array, kept from
 *  batch to batch so that writing rows allocates nothing once it has grown.  */
typedef struct {
    char *p;    /*  NUL-terminated; NULL before the first row  */
    size_t len; /*  bytes used (0: no row yet)  */
    size_t cap;
    int bad; /*  a row could not be added (out of memory, or past the cap): the batch is not written  */
} st__store_buf_t;

typedef struct st__store {
    st__model_t *m;            /*  the model it loads into and flushes from (not owned)  */
    const char *database;      /*  --database: a libpq connection string (not owned)  */
    PGconn *db;                /*  the connection; NULL before st__store_connect  */
    st__store_token_t *tokens; /*  the submission tokens the last st__store_load read  */
    size_t ntokens;
    /*  -- the batch in flight --  */
    st__flush_state_t flush_state;
    st_rc_t flush_rc;        /*  its outcome so far: the first failure, or ST_OK  */
    st_error_t flush_err;    /*  the failure's message when flush_rc != ST_OK  */
    int flush_nulls;         /*  PQgetResult NULLs in a row (a guard against a pipeline that never syncs)  */
    st__store_buf_t rows[9]; /*  a batch's rows by statement (store.c: S_ROWS_*), reused by every batch  */
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
/*  Writes every dirty row and queued event in one transaction and waits for
 *  its COMMIT (waiting first for a batch in flight). On failure nothing is
 *  written and the rows stay dirty.  */
st_rc_t st__store_flush (st__store_t *s, st_error_t *err);
/*  Pipelined flush. Sends every dirty row and queued event as one transaction
 *  and returns without waiting for it: the rows are taken (st__batch_committed),
 *  so later changes go to the next batch; the events stay queued in the model
 *  for the caller to publish once the batch is committed. *sent is 0 when
 *  nothing was dirty. Needs flush_state IDLE. A failure to send is final: the
 *  caller stops (the rows were not written, and nothing of them may be acknowledged).  */
st_rc_t st__store_flush_begin (st__store_t *s, int *sent, st_error_t *err);
/*  Reads what has arrived of the batch in flight without blocking. *done is 1
 *  once its outcome is known, and the return is that outcome: ST_OK when it
 *  committed; then flush_state is IDLE again. Nothing in flight: *done 0, ST_OK.  */
st_rc_t st__store_flush_poll (st__store_t *s, int *done, st_error_t *err);
/*  Like st__store_flush_poll, but blocks until the batch in flight is answered.  */
st_rc_t st__store_flush_wait (st__store_t *s, int *done, st_error_t *err);
/*  The connection's socket, to wait on while a batch is in flight; -1 without one.  */
int st__store_socket (const st__store_t *s);
/*  A job's row and its tasks' (caller frees with st__job_record_free).  */
st_rc_t st__store_get_job (st__store_t *s, uint64_t id, st__job_record_t **out, st_error_t *err);
/*  The latest jobs, newest first: state and tenant filter when not "" or NULL,
 *  only jobs of the ntenants tenants when tenants is not NULL (what a principal
 *  may see), at most limit (0: 50; capped at 10,000), unfinished only when
 *  active_only. Caller frees with st__job_records_free.  */
st_rc_t st__store_list_jobs (st__store_t *s, const char *state, const char *tenant, const char *const *tenants,
                             size_t ntenants, uint32_t limit, int active_only, st__job_record_t **out, size_t *n,
                             st_error_t *err);
/*  Latest task row of (job, rank): node, attempt, job state. For log relays.  */
st_rc_t st__store_task_location (st__store_t *s, uint64_t job_id, uint32_t rank, char *node, size_t node_size,
                                 uint32_t *attempt, char *job_state, size_t state_size, st_error_t *err);
/*  The states of job's dependencies that are not in memory (st__deps_missing),
 *  noted in the model (st__deps_note_state) for st__deps_check. Forgets the
 *  states noted before. Without a connection, notes nothing.  */
st_rc_t st__store_dep_states (st__store_t *s, const st__job_t *job, st_error_t *err);
/*  Waits for the answer of the batch in flight, if any, so that a synchronous
 *  statement may use the connection (the outcome is still reported by
 *  st__store_flush_poll).  */
void st__store_settle (st__store_t *s);
/*  Frees the store's memory (tokens, row buffers), not the connection.  */
void st__store_release (st__store_t *s);
/*  st__store_release, and closes the connection.  */
void st__store_close (st__store_t *s);

/*  -- store_cluster.c ---------------------------------------------------  */
/*  Writes the cluster description c in one transaction, replacing the previous
 *  one: pools' attributes (upserted; a pool c no longer names stays, implicit
 *  and with the defaults, while a node belongs to it), regions and latencies,
 *  the model registry, and queue and tenant weights and quotas. For start-up.  */
st_rc_t st__store_save_cluster (st__store_t *s, const sp_cluster_t *c, st_error_t *err);

/*  -- store_identity.c: users and API tokens (synchronous: rare requests) ---  */
/*  Every user not removed (by name, tenants in order) and every token of those
 *  users, revoked and expired ones included (by id). Caller frees with
 *  st__user_records_free and free.  */
st_rc_t st__store_identity_load (st__store_t *s, st__user_record_t **users, size_t *nusers,
                                 st__apitoken_record_t **tokens, size_t *ntokens, st_error_t *err);
/*  Adds a user with its tenants (creating the tenants it names), committed.
 *  ST_ECONFLICT when a user of that name exists.  */
st_rc_t st__store_user_add (st__store_t *s, const char *name, st__role_t role, const char *const *tenants,
                            size_t ntenants, uint64_t *id, uint64_t *created_unix_ms, st_error_t *err);
/*  Marks the user removed and revokes its tokens (the rows stay, for audit), committed.  */
st_rc_t st__store_user_remove (st__store_t *s, uint64_t user_id, st_error_t *err);
/*  Adds a token by its SHA-256 (expires_unix_ms 0: never), committed.  */
st_rc_t st__store_token_add (st__store_t *s, uint64_t user_id, const uint8_t hash[ST__IDENTITY_HASH_BYTES],
                             uint64_t expires_unix_ms, uint64_t *id, uint64_t *created_unix_ms, st_error_t *err);
/*  Revokes a token (a revoked one stays revoked), committed.  */
st_rc_t st__store_token_revoke (st__store_t *s, uint64_t token_id, st_error_t *err);

#endif
