/*  strata/agent.h: a task's line to the worker that started it.
 *
 *  A Strata worker gives every task STRATA_RENDEZVOUS (the endpoint of its
 *  local agent socket) and STRATA_TASK_TOKEN (a secret that names the task to
 *  its worker; every process an mpirun-launched rank starts shares it). Through it a
 *  rank publishes and reads small values shared by the ranks of one attempt
 *  (the rendezvous: NCCL's unique id, an address and port), reports progress,
 *  and asks for a process on another node (strata-rsh, Open MPI's remote-start
 *  agent). Requests go task -> worker -> scheduler and back; values are scoped
 *  to one attempt of one job, so a retry never sees an old attempt's values.
 *
 *  Every call is synchronous and bounded; errors are one line in err.
 */
#ifndef ST_AGENT_H
#define ST_AGENT_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_agent st_agent_t;

/*  Largest value a rendezvous key may hold.  */
#define ST_AGENT_VALUE_MAX 4096
/*  Longest key.  */
#define ST_AGENT_KEY_MAX 128

/*  Opens the line described by the environment. NULL with err when this
 *  process was not started by a Strata worker (no STRATA_RENDEZVOUS).  */
st_agent_t *st_agent_open (char *err, size_t errlen);
void st_agent_close (st_agent_t *self);

/*  Publishes key = value for the other ranks of this attempt. A second put of
 *  the same key replaces the value. 0, or -1 with err.  */
int st_agent_put (st_agent_t *self, const char *key, const void *value, size_t len, char *err, size_t errlen);

/*  Waits up to timeout_ms for key to be published in this attempt; copies at
 *  most cap bytes into value and sets *len to the value's length. 0, or -1 with
 *  err (a timeout says which key it waited for and for how long).  */
int st_agent_get (st_agent_t *self, const char *key, void *value, size_t cap, size_t *len, uint32_t timeout_ms,
                  char *err, size_t errlen);

/*  Reports progress: the latest figures are shown by `strata show`. Best
 *  effort: never blocks, never fails the caller. unit: "tokens/s", "items/s".  */
void st_agent_progress (st_agent_t *self, uint64_t step, uint64_t total_steps, double loss, double rate,
                        const char *unit);

/*  Starts argv (run as `sh -c "argv joined by spaces"`, as ssh would) as the
 *  process of this job's held task on node, and waits until it ends. Returns
 *  its exit status as a shell would (code, or 128 + signal), or -1 with err.  */
int st_agent_remote_exec (st_agent_t *self, const char *node, int argc, char **argv, char *err, size_t errlen);

#endif
