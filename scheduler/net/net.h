/*  net.h: the scheduler's protocols on ZeroMQ and protobuf (scheduler/net/).
 *
 *  The worker protocol (dispatch.c), the client protocol (client.c,
 *  client_cluster.c, explain.c), the agent protocol (agent.c) and the
 *  submission tokens. net/ decodes each message and calls the model with
 *  plain C values; it turns what the model queued (launches, intents, events)
 *  into messages. It never talks to PostgreSQL: the reads a client asks for go
 *  through st_net_store_t, a table of functions sched.c fills with store/'s,
 *  which answer in plain records (st_job_record_t). */
#ifndef ST_NET_H
#define ST_NET_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "st_curve.h"
#include "st_wire.h"

_Static_assert(sizeof (st_node_peer_t) == sizeof (st_peer_t), "st_node_peer_t mirrors st_peer_t");
_Static_assert(offsetof (st_node_peer_t, id_len) == offsetof (st_peer_t, id_len), "st_node_peer_t mirrors st_peer_t");
_Static_assert(offsetof (st_node_peer_t, delimited) == offsetof (st_peer_t, delimited),
               "st_node_peer_t mirrors st_peer_t");
_Static_assert(offsetof (st_node_peer_t, user_id) == offsetof (st_peer_t, user_id),
               "st_node_peer_t mirrors st_peer_t");

/*  A node's routing id as st_wire wants it (the two types have one layout).  */
static inline const st_peer_t *
st_net_peer_of (const st_node_t *node)
{
    return (const st_peer_t *) (const void *) &node->peer;
}

/*  Records peer as node's routing id.  */
void st_net_set_peer (st_node_t *node, const st_peer_t *peer);

/*  A reply that must wait until the current batch is committed (packed already).  */
typedef struct {
    void *sock;
    st_peer_t peer;
    uint8_t *buf;
    size_t len;
} st_deferred_t;

/*  A remembered submission token: (tenant, token) -> job id, for an hour.  */
typedef struct st_token {
    uint64_t job_id;
    uint64_t expires_mono;
    size_t keylen;
    struct st_token *next; /*  FIFO by expiry  */
    char key[];            /*  "tenant\0token"  */
} st_token_t;

/*  A log request relayed from a client to a worker.  */
typedef struct st_logreq {
    uint64_t id;
    st_peer_t client;
    uint64_t client_seq;
    uint64_t deadline_mono;
    char job_state[16];
    uint32_t attempt;
    struct st_logreq *next;
} st_logreq_t;

/*  The timings of the worker protocol (from the scheduler's options).  */
typedef struct {
    uint64_t heartbeat_ms;
    uint64_t node_timeout_ms;
    uint64_t launch_timeout_ms;
    uint64_t kill_grace_ms;
} st_net_config_t;

/*  What net/ reads from the database, as functions sched.c wires to store/
 *  (ctx is the store). A NULL function answers ST_EDB ("no database").  */
typedef struct {
    void *ctx;
    st_rc_t (*get_job) (void *ctx, uint64_t id, st_job_record_t **out, st_error_t *err);
    st_rc_t (*list_jobs) (void *ctx, const char *state, const char *tenant, uint32_t limit, int active_only,
                          st_job_record_t **out, size_t *n, st_error_t *err);
    st_rc_t (*task_location) (void *ctx, uint64_t job_id, uint32_t rank, char *node, size_t node_size,
                              uint32_t *attempt, char *job_state, size_t state_size, st_error_t *err);
    /*  Notes the states of job's dependencies that are not in memory (st_deps_note_state).  */
    st_rc_t (*dep_states) (void *ctx, const st_job_t *job, st_error_t *err);
} st_net_store_t;

typedef struct st_net {
    /*  -- configuration --  */
    st_net_config_t cfg;
    st_net_store_t store; /*  the database reads (store/, through sched.c)  */
    st_model_t *m;        /*  the model the protocols act on (not owned)  */
    /*  -- sockets (sched.c opens and closes them) --  */
    void *zctx;
    void *worker_sock; /*  ROUTER: workers' DEALERs  */
    void *client_sock; /*  ROUTER: the CLI's REQ/DEALER  */
    void *event_sock;  /*  PUB: committed state changes  */
    st_zap_t *zap;     /*  CURVE allow-list; NULL when authentication is off  */
    /*  -- state --  */
    uint64_t seq;     /*  last envelope seq sent  */
    st_map_t *peers;  /*  routing id -> st_node_t, connected nodes only  */
    st_map_t *tokens; /*  "tenant\0token" -> st_token_t  */
    st_token_t *tokens_head, *tokens_tail;
    st_deferred_t *deferred; /*  replies and signals to send after the next successful flush  */
    size_t ndeferred, cap_deferred;
    st_logreq_t *logreqs; /*  log requests relayed to workers, awaiting their data  */
    size_t nlogreqs;
    uint64_t next_logreq;
} st_net_t;

/*  -- net.c: envelopes, deferred sends, events, intents -----------------  */
/*  Sets up the maps (peers, tokens). Returns 0, or -1 out of memory.  */
int st_net_init (st_net_t *s, st_model_t *m);
/*  Frees what st_net_init and the protocols made; sockets are the caller's.  */
void st_net_release (st_net_t *s);
uint64_t st_net_next_seq (st_net_t *s);
/*  Queues a reply to be sent after the next successful flush.  */
void st_net_defer (st_net_t *s, void *sock, const st_peer_t *peer, Strata__Envelope *env);
/*  Sends the deferred messages (after a successful flush).  */
void st_net_send_deferred (st_net_t *s);
/*  Publishes the committed state changes (the model's events) on the event socket.  */
void st_net_publish_events (st_net_t *s);
/*  Carries out and clears the model's intents (st_intent_t).  */
void st_net_drain_intents (st_net_t *s);

/*  -- dispatch.c: the worker protocol ------------------------------------  */
void st_dispatch_worker_message (st_net_t *s, const st_peer_t *peer, Strata__Envelope *env);
void st_dispatch_send_launches (st_net_t *s);
/*  Queues a Signal for t's worker; returns 0 when its node is not connected.  */
int st_dispatch_signal (st_net_t *s, st_task_t *t, Strata__SignalKind kind);
void st_dispatch_tick (st_net_t *s, uint64_t now);
void st_dispatch_send_ack (st_net_t *s, const st_peer_t *peer, uint64_t ack_seq, Strata__AckStatus status);

/*  -- agent.c: the agent protocol (relayed by workers) --------------------  */
/*  RendezvousPut/Get, RemoteExec and Progress relayed by node's worker.  */
void st_agent_message (st_net_t *s, st_node_t *node, const Strata__Envelope *env);
void st_agent_reply (st_net_t *s, const st_node_t *node, uint64_t fwd_seq, const Strata__AgentReply *r);
void st_agent_reply_error (st_net_t *s, const st_node_t *node, uint64_t fwd_seq, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
/*  A REMOTE_EXITED intent: the end of a held rank, to rank 0's worker.  */
void st_agent_send_remote_exited (st_net_t *s, const st_intent_t *in);

/*  -- client.c: the client protocol --------------------------------------  */
#define ST_TOKEN_TTL_MS (3600u * 1000u)
/*  Remembers (tenant, token) -> job_id until ttl_ms from now.  */
void st_token_remember (st_net_t *s, const char *tenant, const char *token, uint64_t job_id, uint64_t ttl_ms);
void st_token_forget_all (st_net_t *s);
void st_client_message (st_net_t *s, const st_peer_t *peer, Strata__Envelope *env);
void st_client_error (st_net_t *s, const st_peer_t *peer, uint64_t reply_to, Strata__ErrorCode code, const char *msg,
                      const char *hint);
void st_client_log_data (st_net_t *s, const Strata__LogData *data);
void st_client_tick (st_net_t *s, uint64_t now);
/*  A job record as a JobInfo message (caller frees with strata__job_info__free_unpacked).  */
Strata__JobInfo *st_client_job_info (const st_job_record_t *r);

/*  -- explain.c: strata explain -------------------------------------------  */
/*  Why a job waits, or its score against the runners-up.  */
void st_client_explain (st_net_t *s, const st_peer_t *peer, Strata__Envelope *env);

/*  -- client_cluster.c ----------------------------------------------------  */
/*  Pools: every pool of the cluster and of the known nodes, with live figures
 *  from the nodes. Models: the model registry, then the fine-tuned model
 *  versions (model/registry.c). Both answer at once.  */
void st_client_pools (st_net_t *s, const st_peer_t *peer, const Strata__Envelope *env);
void st_client_models (st_net_t *s, const st_peer_t *peer, const Strata__Envelope *env);

#endif
