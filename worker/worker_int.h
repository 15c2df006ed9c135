/*  worker_int.h: the worker's state, shared by worker.c (loop, connection,
 *  task bookkeeping) and dispatch.c (messages from the scheduler). Not a
 *  public interface: st__ names are internal to strata_worker_core. */
#ifndef ST_WORKER_INT_H
#define ST_WORKER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "outbox.h"
#include "resources.h"
#include "st_curve.h"
#include "st_spec.h"
#include "strata.pb-c.h"
#include "task.h"
#include "worker.h"

#define ST_WORKER_DONE_MAX 16384u   /*  ended tasks remembered to refuse a second start  */

typedef enum {
    ST__CONN_REGISTERING = 0,       /*  Register sent (or due), no acceptance yet  */
    ST__CONN_REGISTERED,            /*  RegisterReply accepted on this connection  */
} st__conn_state_t;

/*  One live task and what it holds on the node.  */
typedef struct {
    st_task_t *task;
    uint32_t *gpu_idx;              /*  GPU indices it holds (owned), NULL when none  */
    uint32_t ngpus;
    int local_rank;
} st__slot_t;

struct st_worker {
    /*  Configuration, fixed after st_worker_new.  */
    char *endpoint;                 /*  scheduler's worker endpoint  */
    int curve;                      /*  connect with CURVE (keys below)  */
    st_curve_keys_t keys;           /*  this worker's key pair  */
    char scheduler_key[ST_CURVE_KEY_LEN + 1];
    char *node;
    char *pool;
    char *hostname;
    char *state_dir;
    st_kv_t labels;
    st_resources_t capacity;
    uint64_t hb_cfg_ms;             /*  --heartbeat-interval  */
    uint64_t sched_timeout_ms;      /*  --scheduler-timeout  */
    uint64_t instance;              /*  random per process  */
    int lock_fd;                    /*  holds the state dir's flock  */
    int wake_rd;                    /*  self-pipe: signal handlers write, the loop reads  */
    int wake_wr;

    /*  Connection.  */
    void *ctx;
    void *sock;                     /*  DEALER; recreated on reconnect  */
    st__conn_state_t state;
    uint64_t seq;                   /*  last envelope seq used; never reset  */
    uint64_t register_seq;          /*  seq of the latest Register  */
    uint64_t epoch;                 /*  from the accepted RegisterReply  */
    uint64_t hb_ms;                 /*  heartbeat interval in force  */
    uint64_t last_heard_ms;         /*  monotonic ms of the last valid message  */
    uint64_t next_register_ms;      /*  UINT64_MAX: waiting for a RegisterReply  */
    uint64_t next_hb_ms;
    uint64_t bad_frames;            /*  malformed messages dropped  */

    /*  Tasks.  */
    st__slot_t *slots;              /*  live tasks  */
    size_t nslots;
    size_t slots_cap;
    st_task_key_t *done;            /*  ring of ended tasks (ST_WORKER_DONE_MAX)  */
    size_t done_n;
    size_t done_next;
    st_outbox_t *outbox;            /*  unacknowledged task updates  */
    st_gpu_set_t gpus;

    /*  Stopping.  */
    int stop_signals;               /*  SIGTERM/SIGINT seen  */
    uint64_t flush_until;           /*  monotonic ms to give up reporting, 0: not yet  */
};

/*  worker.c  */
uint64_t st__worker_next_seq (st_worker_t *self);
st_rc_t st__worker_send (st_worker_t *self, Strata__Envelope *env);
void st__worker_send_ack (st_worker_t *self, uint64_t ack_seq);
void st__worker_send_register (st_worker_t *self, uint64_t now);
st__slot_t *st__worker_find_live (st_worker_t *self, const st_task_key_t *key);
int st__worker_knows (st_worker_t *self, const st_task_key_t *key);
void st__worker_push_update (st_worker_t *self, const st_task_status_t *status, uint64_t now);
void st__worker_forget (st_worker_t *self, const st_task_key_t *key);
int st__worker_add_slot (st_worker_t *self, const st__slot_t *slot);

/*  dispatch.c: handles one message from the scheduler; env stays the caller's.  */
void st__worker_dispatch (st_worker_t *self, const Strata__Envelope *env, uint64_t now);

/*  Fills a protobuf TaskStatus (pointing into in) from a status.  */
void st__status_to_pb (const st_task_status_t *in, Strata__TaskStatus *out, Strata__TaskRef *ref);

#endif
