/*  sched.h: strata-scheduler's loop, composing the three layers.
 *
 *      net/  (ZeroMQ, protobuf) --->  model/  (pure)  <---  store/  (PostgreSQL)
 *
 *  One thread owns everything. PostgreSQL is the source of truth: every
 *  change to a job, task or node marks it dirty in the model, and the loop
 *  writes all dirty rows in one transaction (st__store_flush_begin, pipelined:
 *  the next batch accumulates while one commits) and sends no reply or Launch
 *  that depends on them before that transaction has committed. After a restart the model is
 *  rebuilt from the database (st__store_load) and reconciled with the workers
 *  as they register again. net/ and store/ never include each other: the
 *  reads net/ needs from the database are wired here (st__net_store_t), and
 *  what a load returns for net/ (submission tokens) is handed on here. */
#ifndef ST__SCHED_H
#define ST__SCHED_H

#include "model.h"
#include "net.h"
#include "store.h"

/*  The scheduler's options (st_config.h parses them; read-only afterwards).  */
typedef struct {
    char *database; /*  --database: libpq connection string  */
    char *worker_endpoint;
    char *client_endpoint;
    char *event_endpoint;
    uint64_t heartbeat_ms;
    uint64_t node_timeout_ms;
    uint64_t launch_timeout_ms;
    uint64_t kill_grace_ms;
    char *log_level;
    char *config;
    char *cluster_file;         /*  --cluster: pools, regions, models, queues, tenants  */
    char *policy;               /*  --policy: default, fifo, backfill, las  */
    char *curve_key;            /*  the scheduler's .key file: CURVE on both ROUTER sockets  */
    char *worker_keys;          /*  folder of NODE.pub files enrolled for workers  */
    char *client_keys;          /*  folder of USER.pub files enrolled for clients (NULL: any key)  */
    char *service_keys;         /*  folder of NAME.pub files enrolled for the event socket (NULL: nobody)  */
    int insecure;               /*  --insecure: may bind a non-loopback endpoint without CURVE  */
    char *bootstrap_token_file; /*  its token becomes user admin's if no admin exists  */
} st__sched_config_t;

typedef struct st__sched {
    st__sched_config_t cfg; /*  options  */
    st__model_t model;      /*  jobs, tasks, nodes, placement, dependencies, registry, rendezvous  */
    st__store_t store;      /*  the PostgreSQL connection (store.m = &model)  */
    st__net_t net;          /*  sockets and protocol state (net.m = &model, net.store wired to store)  */
} st__sched_t;

/*  Sets up the three layers and wires them together (no connection, no
 *  sockets); cfg's timings go to net. Client requests without a token are the
 *  local admin until st__sched_identity decides otherwise (the daemon calls it
 *  before it binds any socket). Returns 0, or -1 out of memory.  */
int st__sched_init (st__sched_t *s);
/*  Builds the model from the database (st__store_load) and hands the
 *  submission tokens it read to net/.  */
st_rc_t st__sched_load (st__sched_t *s, st_error_t *err);
/*  After each step: carries out the model's intents and, in builds without
 *  NDEBUG (or with STRATA_MODEL_CHECK), checks the model's invariants.  */
void st__sched_after_step (st__sched_t *s);
/*  sched_identity.c: loads the users and API tokens into net/, applies
 *  --bootstrap-token-file, and decides whether this run is a development
 *  install (requests without a token are the local admin).  */
st_rc_t st__sched_identity (st__sched_t *s, st_error_t *err);
/*  Frees the layers' memory; sockets and the connection are the caller's.  */
void st__sched_release (st__sched_t *s);
/*  1 when a ZeroMQ endpoint can be reached only from this machine: ipc://,
 *  inproc://, or tcp:// on 127.0.0.0/8, [::1] or localhost. Anything else
 *  (tcp:// on any interface, another address, an interface name, another transport) is 0.  */
int st__sched_endpoint_local (const char *endpoint);
/*  The whole daemon: options, start-up, the loop, clean shutdown. Returns the exit code.  */
int st__sched_main (int argc, char **argv);

#endif
