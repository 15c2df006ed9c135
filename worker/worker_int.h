/*  worker_int.h: the worker's state, shared by worker.c (the process: options,
 *  state directory, signals, the event loop), node.c (one node's connection
 *  and task bookkeeping) and dispatch.c (messages from the scheduler). Not a
 *  public interface: st__ names are internal to strata_worker_core.
 *
 *  A worker process holds one node (a real worker) or N (--hollow N). Each node
 *  is a whole protocol peer of the scheduler: its own DEALER socket (so its own
 *  routing id), name, instance, seqs, registration, heartbeats, tasks and
 *  outbox. What the nodes of one process share is in st__worker. */
#ifndef ST_WORKER_INT_H
#define ST_WORKER_INT_H

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>

#include "cgroup.h"
#include "outbox.h"
#include "resources.h"
#include "st_curve.h"
#include "st_spec.h"
#include "st_wire.h"
#include "strata.pb-c.h"
#include "task.h"
#include "taskuser.h"
#include "worker.h"

#define ST__WORKER_DONE_MAX 16384u /*  ended tasks remembered to refuse a second start  */

/*  Launch flow control (dispatch.c). A node acknowledges a Launch when it
 *  queues it and starts queued tasks at most ST__WORKER_STARTS_PER_PASS per
 *  loop pass. It aims to hold about half a second of starts (its start speed
 *  measured each second over the time spent starting), within [TARGET_MIN,
 *  TARGET_MAX]; the cap it advertises to the scheduler (Register, Heartbeat,
 *  the Ack of each Launch) is that target less what is queued. The queue's
 *  hard bound only stops a runaway (a scheduler that ignores the cap).  */
#define ST__WORKER_LAUNCH_TARGET_MIN 64u
#define ST__WORKER_LAUNCH_TARGET_MAX 1024u
#define ST__WORKER_STARTS_PER_PASS 32u
#define ST__WORKER_LAUNCH_QUEUE_MAX 65536u
#define ST__WORKER_RATE_WINDOW_MS 1000u

typedef enum {
    ST__CONN_REGISTERING = 0, /*  Register sent (or due), no acceptance yet  */
    ST__CONN_REGISTERED,      /*  RegisterReply accepted on this connection  */
} st__conn_state_t;

/*  What a held task (Launch mode HOLD) keeps of its Launch until an Exec
 *  gives it a process.  */
typedef struct {
    st_kv_t env;
    char *workdir;
    uint32_t time_limit_s;
    uint32_t kill_grace_ms;
    char gpu_list[ST__MAX_GPUS * 4 + 1];
    uint64_t mem_mb; /*  the Launch's resources: its cgroup's limits  */
    uint32_t cpus_milli;
    const st__task_user_t *user; /*  who its process will run as  */
} st__held_t;

#define ST__TOKEN_LEN 32 /*  hex digits of a task's STRATA_TASK_TOKEN  */

/*  One live task and what it holds on the node.  */
typedef struct {
    st__wtask_t *task;
    uint32_t *gpu_idx; /*  GPU indices it holds (owned), NULL when none  */
    uint32_t ngpus;
    int local_rank;
    char token[ST__TOKEN_LEN + 1]; /*  names the task on the agent socket; "" on hollow nodes  */
    st__held_t *held;              /*  held, no process yet (owned); NULL otherwise  */
    /*  The latest progress the task reported; relayed at most every
     *  ST__PROGRESS_EVERY_MS, and when the task ends (agent.c).  */
    int progress_pending;
    uint64_t progress_sent_ms;
    uint64_t progress_step, progress_total;
    double progress_loss, progress_rate;
    char progress_unit[16];
} st__slot_t;

#define ST__PROGRESS_EVERY_MS 1000u

/*  A task's request relayed to the scheduler, waiting for its AgentReply (or,
 *  for a remote start, RemoteExited).  */
typedef struct {
    uint64_t fwd_seq;         /*  seq of the relayed envelope (the reply's reply_to)  */
    uint64_t client_seq;      /*  seq of the task's request  */
    st_peer_t peer;           /*  the task's connection on the agent socket  */
    uint64_t deadline_ms;     /*  monotonic; the task has given up by then  */
    Strata__Envelope *remote; /*  a RemoteExec (owned copy): re-sent after a reconnect; NULL otherwise  */
    struct st__node *node;    /*  the node it was relayed through  */
} st__agent_call_t;

typedef struct st__node st__node_t;

struct st__node {
    st__worker_t *w;   /*  the process it lives in  */
    size_t index;      /*  in w->nodes  */
    char *name;        /*  --node, or "<node>-<index>" on a hollow worker  */
    char *who;         /*  log prefix: "" or "node <name>: " (st__node_who)  */
    uint64_t instance; /*  random per node and process  */

    /*  Connection.  */
    uint64_t open_at; /*  monotonic ms of the first connect, 0: done (hollow nodes start in turn)  */
    void *sock;       /*  DEALER; recreated on reconnect  */
    int sock_fd;      /*  its ZMQ_FD, watched by the loop; -1: none  */
    st__conn_state_t state;
    uint64_t seq;              /*  last envelope seq used; never reset  */
    uint64_t register_seq;     /*  seq of the latest Register  */
    uint64_t epoch;            /*  from the accepted RegisterReply  */
    uint64_t hb_ms;            /*  heartbeat interval in force  */
    uint64_t last_heard_ms;    /*  monotonic ms of the last valid message  */
    uint64_t next_register_ms; /*  UINT64_MAX: waiting for a RegisterReply  */
    uint64_t next_hb_ms;
    uint64_t bad_frames; /*  malformed messages dropped  */

    /*  Tasks.  */
    st__slot_t *slots; /*  live tasks  */
    size_t nslots;
    size_t slots_cap;
    st__wtask_key_t *done; /*  ring of ended tasks, grown up to ST__WORKER_DONE_MAX  */
    size_t done_n;
    size_t done_next;
    size_t done_cap;
    st__outbox_t *outbox; /*  unacknowledged task updates  */
    st__gpu_set_t gpus;

    /*  Launch flow control (dispatch.c).  */
    Strata__Envelope **launchq; /*  accepted Launches not yet started (owned), FIFO from launchq_head  */
    size_t launchq_head, launchq_n, launchq_cap;
    uint32_t launch_target;   /*  how many Launches it wants queued or on the way  */
    uint32_t launch_cap_sent; /*  the cap it advertised last  */
    uint64_t rate_window_ms;  /*  monotonic start of the current start-rate window  */
    uint32_t rate_starts;     /*  tasks started in that window  */
    uint64_t rate_busy_us;    /*  time spent starting them  */

    /*  The loop's bookkeeping (worker.c).  */
    uint64_t due_ms; /*  next timer of this node (st__node_next_due)  */
    size_t heap_pos; /*  in w->heap  */
    int unread;      /*  on w->unread: its socket may hold messages  */
};

struct st__worker {
    /*  Configuration, fixed after st__worker_new.  */
    char *endpoint;       /*  scheduler's worker endpoint  */
    int curve;            /*  connect with CURVE (keys below)  */
    st_curve_keys_t keys; /*  this worker's key pair  */
    char scheduler_key[ST_CURVE_KEY_LEN + 1];
    char *pool;
    char *hostname;
    char *state_dir; /*  NULL on a hollow worker: it writes no files  */
    st_kv_t labels;
    st__resources_t capacity;  /*  of each node  */
    uint64_t hb_cfg_ms;        /*  --heartbeat-interval  */
    uint64_t sched_timeout_ms; /*  --scheduler-timeout  */
    int hollow;                /*  --hollow: nodes run simulated tasks  */
    st__cgroup_t *cgroup;      /*  the node's parent cgroup (cgroup.h), NULL: tasks run without one  */
    char isolation[320];       /*  Register.isolation: "cgroup v1", "cgroup v2" or "none: WHY"  */
    int lock_fd;               /*  holds the state dir's flock  */
    st__task_users_t *users;   /*  who tasks run as (--task-user, --tenant-user); NULL on a hollow worker  */
    uint64_t retention_ms;     /*  --task-retention; 0: task folders are kept  */
    uint64_t min_free_mb;      /*  --min-free; 0: not checked  */

    /*  Housekeeping (housekeep.c).  */
    char refusing[256]; /*  why the node takes no new tasks (Register/Heartbeat.refusing), "" when it does  */
    uint64_t space_at;  /*  monotonic ms of the next free-space check  */
    DIR *prune_dir;     /*  tasks/ being scanned for old folders, NULL between scans  */
    uint64_t prune_at;  /*  monotonic ms of the next scan  */
    int wake_rd;        /*  self-pipe: signal handlers write, the loop reads  */
    int wake_wr;

    void *ctx;
    int epfd; /*  epoll: wake_rd and every node's ZMQ_FD  */

    st__node_t *nodes;
    size_t nnodes;
    st__node_t **heap;   /*  min-heap of nodes by due_ms  */
    st__node_t **unread; /*  nodes whose socket must be read before waiting  */
    size_t nunread;

    /*  The agent socket (agent.c): tasks reach their worker here. Real workers only.  */
    void *agent_sock;         /*  ROUTER bound at agent_endpoint, NULL: none  */
    int agent_fd;             /*  its ZMQ_FD, in epfd  */
    char agent_endpoint[160]; /*  "ipc://<state_dir>/agent.sock", given to tasks as STRATA_RENDEZVOUS  */
    st__agent_call_t *calls;  /*  relayed requests awaiting the scheduler's answer  */
    size_t ncalls;
    size_t calls_cap;
    uint64_t agent_bad; /*  requests refused (bad token, malformed)  */

    /*  Stopping.  */
    int stop_signals;     /*  SIGTERM/SIGINT seen  */
    uint64_t flush_until; /*  monotonic ms to give up reporting, 0: not yet  */
};

/*  housekeep.c: pruning old task folders and watching the free space, a
 *  bounded step per loop pass; st__housekeep_space measures at once.  */
void st__housekeep_pass (st__worker_t *w, uint64_t now);
void st__housekeep_space (st__worker_t *w);
void st__housekeep_release (st__worker_t *w);

/*  node.c: one node.  */
st_rc_t st__node_init (st__node_t *self, st__worker_t *w, size_t index, const char *name);
void st__node_release (st__node_t *self);
st_rc_t st__node_open_socket (st__node_t *self, uint64_t now, st_error_t *err);
uint64_t st__node_next_seq (st__node_t *self);
st_rc_t st__node_send (st__node_t *self, Strata__Envelope *env);
void st__node_send_ack (st__node_t *self, uint64_t ack_seq);
/*  The Ack of a Launch: carries the node's launch cap now.  */
void st__node_send_launch_ack (st__node_t *self, uint64_t ack_seq);
/*  How many more Launches the node wants: its target less what it has queued.  */
uint32_t st__node_launch_cap (const st__node_t *self);
size_t st__node_launches_queued (const st__node_t *self);
void st__node_send_register (st__node_t *self, uint64_t now);
st__slot_t *st__node_find_live (st__node_t *self, const st__wtask_key_t *key);
/*  A task this node runs, ran (the ring of ended tasks) or has queued to start:
 *  a Launch of it must not start it again.  */
int st__node_knows (st__node_t *self, const st__wtask_key_t *key);
void st__node_push_update (st__node_t *self, const st__wtask_status_t *status, uint64_t now);
void st__node_forget (st__node_t *self, const st__wtask_key_t *key);
int st__node_add_slot (st__node_t *self, const st__slot_t *slot);
/*  The node's part of a loop pass: reap ended tasks, fire task deadlines,
 *  reconnect / register / heartbeat / resend.  */
void st__node_pass (st__node_t *self, uint64_t now);
/*  Monotonic ms when st__node_pass has something to do.  */
uint64_t st__node_next_due (const st__node_t *self);
/*  Reads up to a batch of messages and dispatches them. Returns how many it
 *  read; *drained is 1 when the socket had no more (EAGAIN), 0 when more may
 *  be waiting.  */
size_t st__node_read (st__node_t *self, int *drained);
/*  A stop request (first: terminate every task; second: kill them).  */
void st__node_stop_tasks (st__node_t *self, int second, uint64_t now);
/*  "node NAME: " on a hollow worker, where many nodes share one log; "" on a real one.  */
const char *st__node_who (const st__node_t *self);

/*  worker.c: the socket of node was used (a send may have consumed the
 *  wake-up of its ZMQ_FD): read it before the loop waits again.  */
void st__worker_mark_unread (st__worker_t *w, st__node_t *node);

/*  dispatch.c: handles one message from the scheduler. Returns 1 when it kept
 *  env (a Launch queued to start; freed once started), 0 when env stays the
 *  caller's to free.  */
int st__node_dispatch (st__node_t *self, Strata__Envelope *env, uint64_t now);
/*  Starts up to ST__WORKER_STARTS_PER_PASS queued Launches, in order (on a
 *  stopping worker: reports them as not started). Returns how many it took.  */
size_t st__node_start_queued (st__node_t *self, uint64_t now);
/*  Frees the queued Launches (the node is going away).  */
void st__node_launchq_free (st__node_t *self);

/*  agent.c: the agent socket.  */
/*  Binds it (a real worker with a state directory). A failure is logged and
 *  the worker runs without it: tasks then get no STRATA_RENDEZVOUS.  */
void st__agent_open (st__worker_t *w);
void st__agent_close (st__worker_t *w);
/*  Reads and handles every request waiting on the socket; drops expired calls.  */
void st__agent_drain (st__worker_t *w, uint64_t now);
/*  An AgentReply from the scheduler: passed on to the task that asked.  */
void st__agent_on_reply (st__worker_t *w, const Strata__Envelope *env);
/*  The scheduler connection was reset: rendezvous calls fail (the task may
 *  retry); remote starts are asked again (the scheduler starts nothing twice).  */
void st__agent_reconnected (st__worker_t *w, const char *why);
/*  A held rank's process ended (RemoteExited): answers the remote start that waits for it.  */
void st__agent_on_remote_exited (st__worker_t *w, const Strata__RemoteExited *rx);
/*  A fresh random token into out (ST__TOKEN_LEN + 1 bytes).  */
void st__agent_token (char *out);
/*  Relays slot's pending progress now (its task is ending, or it is due).  */
void st__agent_flush_progress (st__node_t *node, st__slot_t *slot, uint64_t now);
/*  Frees a held task's Launch copy.  */
void st__held_free (st__held_t *held);

/*  Fills a protobuf TaskStatus (pointing into in) from a status.  */
void st__status_to_pb (const st__wtask_status_t *in, Strata__TaskStatus *out, Strata__TaskRef *ref);

#endif
