/*  net.h: the scheduler's protocols on ZeroMQ and protobuf (scheduler/net/).
 *
 *  The worker protocol (dispatch.c), the client protocol (client.c,
 *  client_cluster.c, explain.c), the agent protocol (agent.c) and the
 *  submission tokens. net/ decodes each message and calls the model with
 *  plain C values; it turns what the model queued (launches, intents, events)
 *  into messages. It never talks to PostgreSQL: the reads a client asks for go
 *  through st__net_store_t, a table of functions sched.c fills with store/'s,
 *  which answer in plain records (st__job_record_t). */
#ifndef ST__NET_H
#define ST__NET_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "model.h"
#include "st_curve.h"
#include "st_wire.h"

_Static_assert(sizeof (st__node_peer_t) == sizeof (st_peer_t), "st__node_peer_t mirrors st_peer_t");
_Static_assert(offsetof (st__node_peer_t, id_len) == offsetof (st_peer_t, id_len),
               "st__node_peer_t mirrors st_peer_t");
_Static_assert(offsetof (st__node_peer_t, delimited) == offsetof (st_peer_t, delimited),
               "st__node_peer_t mirrors st_peer_t");
_Static_assert(offsetof (st__node_peer_t, user_id) == offsetof (st_peer_t, user_id),
               "st__node_peer_t mirrors st_peer_t");

/*  A node's routing id as st_wire wants it (the two types have one layout).  */
static inline const st_peer_t *
st__net_peer_of (const st__node_t *node)
{
    return (const st_peer_t *) (const void *) &node->peer;
}

/*  Records peer as node's routing id.  */
void st__net_set_peer (st__node_t *node, const st_peer_t *peer);

/*  A reply that must wait until the batch it belongs to is committed (packed already).  */
typedef struct {
    void *sock;
    st_peer_t peer;
    uint8_t *buf;
    size_t len;
    uint64_t batch; /*  the batch it waits for (st__net_t.batch when it was queued)  */
} st__deferred_t;

/*  A remembered submission token: (tenant, submitter, token) -> job id, for an hour.  */
typedef struct st__token {
    uint64_t job_id;
    uint64_t expires_mono;
    size_t keylen;
    struct st__token *next; /*  FIFO by expiry  */
    char key[];             /*  "tenant\0submitter\0token"  */
} st__token_t;

/*  A log request relayed from a client to a worker.  */
typedef struct st__logreq {
    uint64_t id;
    st_peer_t client;
    uint64_t client_seq;
    uint64_t deadline_mono;
    char job_state[16];
    uint32_t attempt;
    st_peer_t worker; /*  where the LogRequest went: only it may answer  */
    char node[129];   /*  the node of that worker, for the log  */
    struct st__logreq *next;
} st__logreq_t;

/*  The timings of the worker protocol (from the scheduler's options).  */
typedef struct {
    uint64_t heartbeat_ms;
    uint64_t node_timeout_ms;
    uint64_t launch_timeout_ms;
    uint64_t kill_grace_ms;
} st__net_config_t;

/*  What net/ reads from the database, as functions sched.c wires to store/
 *  (ctx is the store). A NULL function answers ST_EDB ("no database").  */
typedef struct {
    void *ctx;
    st_rc_t (*get_job) (void *ctx, uint64_t id, st__job_record_t **out, st_error_t *err);
    st_rc_t (*list_jobs) (void *ctx, const char *state, const char *tenant, const char *const *tenants,
                          size_t ntenants, uint32_t limit, int active_only, st__job_record_t **out, size_t *n,
                          st_error_t *err);
    st_rc_t (*task_location) (void *ctx, uint64_t job_id, uint32_t rank, char *node, size_t node_size,
                              uint32_t *attempt, char *job_state, size_t state_size, st_error_t *err);
    /*  Notes the states of job's dependencies that are not in memory (st__deps_note_state).  */
    st_rc_t (*dep_states) (void *ctx, const st__job_t *job, st_error_t *err);
    /*  Users and API tokens (store_identity.c): synchronous, committed when they return.  */
    st_rc_t (*user_add) (void *ctx, const char *name, st__role_t role, const char *const *tenants, size_t ntenants,
                         uint64_t *id, uint64_t *created_unix_ms, st_error_t *err);
    st_rc_t (*user_remove) (void *ctx, uint64_t user_id, st_error_t *err);
    st_rc_t (*token_add) (void *ctx, uint64_t user_id, const uint8_t *hash, uint64_t expires_unix_ms, uint64_t *id,
                          uint64_t *created_unix_ms, st_error_t *err);
    st_rc_t (*token_revoke) (void *ctx, uint64_t token_id, st_error_t *err);
} st__net_store_t;

typedef struct st__net {
    /*  -- configuration --  */
    st__net_config_t cfg;
    st__net_store_t store; /*  the database reads (store/, through sched.c)  */
    st__model_t *m;        /*  the model the protocols act on (not owned)  */
    /*  -- sockets (sched.c opens and closes them) --  */
    void *zctx;
    void *worker_sock; /*  ROUTER: workers' DEALERs  */
    void *client_sock; /*  ROUTER: the CLI's REQ/DEALER  */
    void *event_sock;  /*  PUB: committed state changes  */
    st_zap_t *zap;     /*  CURVE allow-list; NULL when authentication is off  */
    /*  -- state --  */
    uint64_t seq;     /*  last envelope seq sent  */
    st_map_t *peers;  /*  routing id -> st__node_t, connected nodes only  */
    st_map_t *tokens; /*  "tenant\0submitter\0token" -> st__token_t  */
    st__token_t *tokens_head, *tokens_tail;
    st__deferred_t *deferred; /*  replies and signals waiting for their batch's commit, oldest first  */
    size_t ndeferred, cap_deferred;
    uint64_t batch;        /*  the number of the batch now accumulating (sched.c advances it when it sends one)  */
    st__logreq_t *logreqs; /*  log requests relayed to workers, awaiting their data  */
    size_t nlogreqs;
    uint64_t next_logreq;
    /*  Each kind of refused report by itself, so that the log's rate limit
     *  (warn at 1, 2, 4, 8, ...) of one kind never hides the first of another.  */
    uint64_t foreign_acks, foreign_logdata;             /*  of counters.foreign_replies  */
    uint64_t oversized_registers, oversized_heartbeats; /*  of counters.oversized_reports  */
    st__auth_t auth; /*  users and API tokens: who sends each client request (auth.c)  */
} st__net_t;

/*  -- net.c: envelopes, deferred sends, events, intents -----------------  */
/*  Sets up the maps (peers, tokens). Returns 0, or -1 out of memory.  */
int st__net_init (st__net_t *s, st__model_t *m);
/*  Frees what st__net_init and the protocols made; sockets are the caller's.  */
void st__net_release (st__net_t *s);
uint64_t st__net_next_seq (st__net_t *s);
/*  Queues a reply to be sent once the batch now accumulating (s->batch) is committed.  */
void st__net_defer (st__net_t *s, void *sock, const st_peer_t *peer, Strata__Envelope *env);
/*  Sends the deferred messages of the batches up to committed (every batch up
 *  to it is committed); those of later batches keep waiting.  */
void st__net_send_deferred (st__net_t *s, uint64_t committed);
/*  Publishes the committed state changes, the model's first n events, on the event socket.  */
void st__net_publish_events (st__net_t *s, size_t n);
/*  Carries out and clears the model's intents (st__intent_t).  */
void st__net_drain_intents (st__net_t *s);

/*  -- dispatch.c: the worker protocol ------------------------------------  */
void st__dispatch_worker_message (st__net_t *s, const st_peer_t *peer, Strata__Envelope *env);
void st__dispatch_send_launches (st__net_t *s);
/*  Queues a Signal for t's worker; returns 0 when its node is not connected.  */
int st__dispatch_signal (st__net_t *s, st__task_t *t, Strata__SignalKind kind);
void st__dispatch_tick (st__net_t *s, uint64_t now);
void st__dispatch_send_ack (st__net_t *s, const st_peer_t *peer, uint64_t ack_seq, Strata__AckStatus status);
/*  Counts and logs an Ack or LogData from a peer other than the node the
 *  Launch or LogRequest went to; the caller drops it. The log's rate follows
 *  *kind_count (s->foreign_acks, s->foreign_logdata), so one kind's flood
 *  does not hide the first of the other.  */
void st__net_foreign_reply (st__net_t *s, uint64_t *kind_count, const char *what, const char *from, const char *to);

/*  -- agent.c: the agent protocol (relayed by workers) --------------------  */
/*  RendezvousPut/Get, RemoteExec and Progress relayed by node's worker.  */
void st__agent_message (st__net_t *s, st__node_t *node, const Strata__Envelope *env);
void st__agent_reply (st__net_t *s, const st__node_t *node, uint64_t fwd_seq, const Strata__AgentReply *r);
void st__agent_reply_error (st__net_t *s, const st__node_t *node, uint64_t fwd_seq, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
/*  A REMOTE_EXITED intent: the end of a held rank, to rank 0's worker.  */
void st__agent_send_remote_exited (st__net_t *s, const st__intent_t *in);

/*  -- client.c: the client protocol --------------------------------------  */
#define ST__TOKEN_TTL_MS (3600u * 1000u)
/*  Remembers (tenant, submitter, token) -> job_id until ttl_ms from now: a resend
 *  is the same submission only from the same user to the same tenant.  */
void st__token_remember (st__net_t *s, const char *tenant, const char *submitter, const char *token, uint64_t job_id,
                         uint64_t ttl_ms);
void st__token_forget_all (st__net_t *s);
void st__client_message (st__net_t *s, const st_peer_t *peer, Strata__Envelope *env);
void st__client_error (st__net_t *s, const st_peer_t *peer, uint64_t reply_to, Strata__ErrorCode code,
                       const char *msg, const char *hint);
/*  A LogData from peer (the node registered on it, NULL for none): relayed to
 *  the client that asked, when peer is the worker the request went to.  */
void st__client_log_data (st__net_t *s, const st_peer_t *peer, const st__node_t *node, const Strata__LogData *data);
void st__client_tick (st__net_t *s, uint64_t now);
/*  A job record as a JobInfo message (caller frees with strata__job_info__free_unpacked).  */
Strata__JobInfo *st__client_job_info (const st__job_record_t *r);
/*  The answer to job id that does not exist, and to one of a tenant who may not
 *  see (authz.c HIDDEN): the same bytes, so an id tells nothing of other tenants.  */
void st__client_no_job (st__net_t *s, const st_peer_t *peer, uint64_t reply_to, uint64_t id, const char *hint);
/*  ERROR_PERMISSION_DENIED with err's message and hint (authz.c DENIED).  */
void st__client_denied (st__net_t *s, const st_peer_t *peer, uint64_t reply_to, const st_error_t *err);

/*  -- client_identity.c: who asks, and the administration of users and tokens --  */
/*  The principal of a client request (Envelope.auth_token), or NULL after
 *  answering ERROR_UNAUTHENTICATED.  */
const st__principal_t *st__client_authenticate (st__net_t *s, const st_peer_t *peer, const Strata__Envelope *env);
/*  whoami (anyone authenticated); user add/list/remove and token
 *  create/list/revoke (admins; a user may list and revoke its own tokens).  */
void st__client_whoami (st__net_t *s, const st_peer_t *peer, const st__principal_t *who, const Strata__Envelope *env);
void st__client_admin (st__net_t *s, const st_peer_t *peer, const st__principal_t *who, const Strata__Envelope *env);

/*  -- explain.c: strata explain -------------------------------------------  */
/*  Why a job waits, or its score against the runners-up.  */
void st__client_explain (st__net_t *s, const st_peer_t *peer, const st__principal_t *who, Strata__Envelope *env);

/*  -- client_cluster.c ----------------------------------------------------  */
/*  Pools: every pool of the cluster and of the known nodes, with live figures
 *  from the nodes. Models: the model registry, then the fine-tuned model
 *  versions (model/registry.c). Both answer at once.  */
void st__client_pools (st__net_t *s, const st_peer_t *peer, const st__principal_t *who, const Strata__Envelope *env);
void st__client_models (st__net_t *s, const st_peer_t *peer, const st__principal_t *who, const Strata__Envelope *env);

#endif
