/*  strata/task.h: the task contract, what a program run by Strata can rely on.
 *
 *  A task is one rank or shard of a job, a process the worker starts with
 *  the environment below. Every name is a macro for the variable's name (so
 *  getenv (ST_ENV_RANK), never a spelled-out string); the comment says who
 *  sets it and what it holds. Values are decimal integers where a number is
 *  meant. A job's own env may not set a STRATA_* name (the spec reserves them).
 *
 *  Set by the scheduler for every task (the Launch message):           */
#ifndef STRATA_TASK_H
#define STRATA_TASK_H

/*  The job's id (a positive integer, as `strata status` shows it).  */
#define ST_ENV_JOB_ID "STRATA_JOB_ID"
/*  The job's name (its spec's name).  */
#define ST_ENV_JOB_NAME "STRATA_JOB_NAME"
/*  This task's rank (gang jobs) or shard (inference), 0..STRATA_WORLD_SIZE-1;
 *  also given as RANK.  */
#define ST_ENV_RANK "STRATA_RANK"
/*  How many ranks or shards the job has; also given as WORLD_SIZE.  */
#define ST_ENV_WORLD_SIZE "STRATA_WORLD_SIZE"
/*  This task's attempt, 1 on the first start, one more after each requeue
 *  (preemption, a lost node, a retry).  */
#define ST_ENV_ATTEMPT "STRATA_ATTEMPT"
/*  This task's place among the job's tasks on the same node, 0..; also
 *  LOCAL_RANK. The worker fills it in when the scheduler did not.  */
#define ST_ENV_LOCAL_RANK "STRATA_LOCAL_RANK"
/*  How many of the job's tasks share this node; also LOCAL_WORLD_SIZE.  */
#define ST_ENV_LOCAL_WORLD_SIZE "STRATA_LOCAL_WORLD_SIZE"
/*  The pool the task was placed in.  */
#define ST_ENV_POOL "STRATA_POOL"
/*  Where to write checkpoints and read them back after a requeue (the
 *  spec's checkpoint dir under the pool's storage root); unset without one.  */
#define ST_ENV_CHECKPOINT_DIR "STRATA_CHECKPOINT_DIR"
/*  The model the task uses: the variant picked for the pool, or a model
 *  version from the registry (NAME:N).  */
#define ST_ENV_MODEL "STRATA_MODEL"
/*  Where that model's weights are (the variant's or the version's URI).  */
#define ST_ENV_MODEL_URI "STRATA_MODEL_URI"
/*  The job's data URI (its spec's data.uri).  */
#define ST_ENV_DATA_URI "STRATA_DATA_URI"

/*  Set by the worker for every task it starts as a process (not on a hollow
 *  node): the task's line to it, the agent protocol (libstrata-agent,
 *  strata/agent.h; strata-rdzv from a shell).  */

/*  The worker's agent endpoint (ipc://STATE_DIR/agent.sock).  */
#define ST_ENV_RENDEZVOUS "STRATA_RENDEZVOUS"
/*  The secret that names this task on the agent endpoint; a request
 *  without it is refused.  */
#define ST_ENV_TASK_TOKEN "STRATA_TASK_TOKEN"
/*  The name of the node (worker) the task runs on.  */
#define ST_ENV_NODE "STRATA_NODE"

/*  Besides these, a task sees RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
 *  MASTER_ADDR and MASTER_PORT (torchrun's names), CUDA_VISIBLE_DEVICES (its
 *  GPUs), PATH, HOME, LANG and its spec's env.  */

/*  The exit status of a task that stopped when asked (SIGTERM) after writing
 *  a checkpoint (EX_TEMPFAIL): its attempt ends PREEMPTED and the job goes
 *  back to the queue without using a retry, to resume from the checkpoint
 *  (past 100 such exits it fails like any other exit code).  */
#define ST_EXIT_PREEMPTED 75

#endif
