/*  coll_int.h: what collective.c needs from the NCCL half (nccl.c when
 *  CMake found CUDA and NCCL, nccl_none.c otherwise). Not installed.  */
#ifndef SC_COLL_INT_H
#define SC_COLL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "strata/collective.h"

/*  NCCL_UNIQUE_ID_BYTES (nccl.c checks it at compile time).  */
#define SC__NCCL_ID_BYTES 128

typedef struct sc__nccl sc__nccl_t;

/*  1 when built with NCCL.  */
int sc__nccl_built (void);
/*  CUDA devices this process sees; 0 with the reason in why ("no CUDA device
 *  visible (cudaGetDeviceCount: ...)", or "not built").  */
int sc__nccl_device_count (char *why, size_t whylen);
/*  Rank 0's half of the bootstrap: a fresh unique id.  */
int sc__nccl_unique_id (uint8_t id[SC__NCCL_ID_BYTES], char *err, size_t errlen);
/*  Binds this process to device and joins the NCCL world (collective).  */
sc__nccl_t *sc__nccl_new (int rank, int size, int device, const uint8_t id[SC__NCCL_ID_BYTES], char *err,
                          size_t errlen);
void sc__nccl_destroy (sc__nccl_t *n);
/*  The caller's cudaStream_t for the data operations, or NULL for our own.  */
void sc__nccl_set_stream (sc__nccl_t *n, void *stream);

/*  Data operations on device memory; each waits for its stream.  */
int sc__nccl_allreduce (sc__nccl_t *n, float *buf, size_t count, sc_op_t op, char *err, size_t errlen);
int sc__nccl_broadcast (sc__nccl_t *n, void *buf, size_t len, int root, char *err, size_t errlen);
int sc__nccl_barrier (sc__nccl_t *n, char *err, size_t errlen);
/*  Host value in, maximum over the ranks out (through a device scratch word).  */
int sc__nccl_agree_max (sc__nccl_t *n, int64_t *value, char *err, size_t errlen);

void *sc__nccl_alloc (size_t bytes);
void sc__nccl_free (void *p);
int sc__nccl_copy (void *dst, const void *src, size_t bytes, int to_device, char *err, size_t errlen);

#endif
