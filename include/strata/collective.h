/*  strata/collective.h: libstrata-collective, one C API over MPI and NCCL.
 *
 *  A communicator joins the ranks of one job. Which backend carries it:
 *
 *    mpi   Open MPI, on HOST buffers. The ranks are started by mpirun (Strata's
 *          `launcher: mpirun`, or by hand); a process started alone is MPI's
 *          singleton world of one.
 *    nccl  NCCL, on DEVICE buffers (cudaMalloc'd). Built only when CMake found
 *          CUDA and NCCL (option STRATA_NCCL). NCCL's unique id travels by
 *          MPI_Bcast under mpirun, else through the Strata rendezvous
 *          (st_agent_put/st_agent_get, key "sc-nccl-id-<n>").
 *    self  a world of one without any library: what `auto` gives a process
 *          started alone (no mpirun, no STRATA_WORLD_SIZE > 1). Host buffers;
 *          every operation is a copy-free no-op, the average of one rank is the
 *          buffer itself.
 *
 *  Who the ranks are: under mpirun (OMPI_COMM_WORLD_SIZE, PMIX_RANK or
 *  PMI_SIZE in the environment) MPI's rank and size, whatever STRATA_RANK says
 *  (under a Strata mpirun launch every process inherits rank 0's STRATA_RANK).
 *  Otherwise STRATA_RANK / STRATA_WORLD_SIZE; neither set is a world of one.
 *
 *  `auto` picks nccl only when every rank sees a CUDA device (under MPI the
 *  ranks agree with an allreduce-min of their device counts) and the caller
 *  did not say its buffers are host memory; else mpi (self for a world of one
 *  started alone). Asking for nccl where it cannot work fails with one line
 *  naming the reason; nothing here aborts the process.
 *
 *  Every rank must make the same calls in the same order (collective
 *  semantics). Not thread-safe: one thread per communicator. MPI can be
 *  initialized once per process: a second communicator after the first MPI
 *  one was finalized is refused.
 *
 *  Errors: functions return 0 or -1 and write one line into err (which may be
 *  NULL when errlen is 0).
 */
#ifndef SC_COLLECTIVE_H
#define SC_COLLECTIVE_H

#include <stddef.h>
#include <stdint.h>

typedef struct sc_comm sc_comm_t;

typedef enum {
    SC_AUTO = 0, /*  request only: choose (see above)  */
    SC_MPI,
    SC_NCCL,
    SC_SELF, /*  result only: a world of one, no library  */
} sc_backend_t;

typedef enum {
    SC_SUM,
    SC_AVG, /*  the sum divided by the world size (correctly rounded)  */
} sc_op_t;

typedef struct {
    sc_backend_t backend;           /*  SC_AUTO, SC_MPI or SC_NCCL  */
    int host_buffers;               /*  1: the caller's buffers are host memory, so auto never picks nccl  */
    int verbose;                    /*  1: rank 0 says on stderr what auto chose and why  */
    uint32_t rendezvous_timeout_ms; /*  NCCL id through the Strata rendezvous; 0: 60000  */
    int *argc;                      /*  passed to MPI_Init; both may be NULL  */
    char ***argv;
} sc_options_t;

/*  "auto", "mpi" or "nccl" into *out: 0, or -1 for anything else.  */
int sc_backend_parse (const char *name, sc_backend_t *out);
/*  "auto", "mpi", "nccl", "self".  */
const char *sc_backend_str (sc_backend_t b);
/*  1 when this build has the NCCL backend.  */
int sc_nccl_built (void);

/*  Joins the job's ranks. NULL with err on failure (every rank fails when
 *  they cannot agree). opts may be NULL (auto, quiet). Caller owns the result.  */
sc_comm_t *sc_init (const sc_options_t *opts, char *err, size_t errlen);
/*  Leaves: destroys the NCCL communicator, finalizes MPI when sc_init started
 *  it. NULL-safe; sets *self_p = NULL.  */
void sc_finalize (sc_comm_t **self_p);

int sc_rank (const sc_comm_t *self);
int sc_size (const sc_comm_t *self);
sc_backend_t sc_backend (const sc_comm_t *self);
const char *sc_backend_name (const sc_comm_t *self);
/*  1 when the data buffers of sc_allreduce/sc_broadcast must be device memory (nccl).  */
int sc_device_buffers (const sc_comm_t *self);

/*  In place: buf (n floats, in the backend's memory) becomes the elementwise
 *  sum (or average) over the ranks; the same on every rank. n may be 0.  */
int sc_allreduce (sc_comm_t *self, float *buf, size_t n, sc_op_t op, char *err, size_t errlen);
/*  Copies len bytes of root's buf into every other rank's buf.  */
int sc_broadcast (sc_comm_t *self, void *buf, size_t len, int root, char *err, size_t errlen);
/*  Returns on any rank only after every rank has entered it.  */
int sc_barrier (sc_comm_t *self, char *err, size_t errlen);
/*  nccl: queue the data operations on this cudaStream_t (the caller's), after
 *  the work already queued there; NULL (the default): the communicator's own
 *  stream, after waiting for the whole device. Either way a call returns with
 *  its result in place. No-op for mpi and self.  */
void sc_set_stream (sc_comm_t *self, void *cuda_stream);
/*  Control plane on HOST memory, whatever the backend: *value becomes the
 *  maximum over the ranks (use it to agree on a stop flag or an error).  */
int sc_agree_max (sc_comm_t *self, int64_t *value, char *err, size_t errlen);

/*  Memory the data operations take: malloc for mpi/self, cudaMalloc for nccl.
 *  sc_mem_alloc returns NULL on failure (bytes 0 gives a valid 1-byte block).  */
void *sc_mem_alloc (sc_comm_t *self, size_t bytes);
void sc_mem_free (sc_comm_t *self, void *p);
/*  Host <-> backend memory copies (memcpy for mpi/self).  */
int sc_mem_put (sc_comm_t *self, void *dst, const void *host_src, size_t bytes, char *err, size_t errlen);
int sc_mem_get (sc_comm_t *self, void *host_dst, const void *src, size_t bytes, char *err, size_t errlen);

#endif
