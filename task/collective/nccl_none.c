/*  nccl_none.c: the NCCL half of libstrata-collective in a build without
 *  CUDA/NCCL (STRATA_NCCL=OFF, or AUTO where CMake found neither). Every
 *  entry point refuses with the same line; collective.c never gets a
 *  communicator from here, so the data operations are unreachable.  */
#include "coll_int.h"

#include <stdio.h>
#include <stdlib.h>

#define S_NOT_BUILT \
    "not built into this libstrata-collective (configure with CUDA and NCCL present, -DSTRATA_NCCL=ON)"

int
sc__nccl_built (void)
{
    return 0;
}

int
sc__nccl_device_count (char *why, size_t whylen)
{
    snprintf (why, whylen, "%s", S_NOT_BUILT);
    return 0;
}

int
sc__nccl_unique_id (uint8_t id[SC__NCCL_ID_BYTES], char *err, size_t errlen)
{
    (void) id;
    snprintf (err, errlen, "nccl backend: %s", S_NOT_BUILT);
    return -1;
}

sc__nccl_t *
sc__nccl_new (int rank, int size, int device, const uint8_t id[SC__NCCL_ID_BYTES], char *err, size_t errlen)
{
    (void) rank, (void) size, (void) device, (void) id;
    snprintf (err, errlen, "nccl backend: %s", S_NOT_BUILT);
    return NULL;
}

void
sc__nccl_destroy (sc__nccl_t *n)
{
    (void) n;
}

void
sc__nccl_set_stream (sc__nccl_t *n, void *stream)
{
    (void) n, (void) stream;
}

static int
s_refuse (char *err, size_t errlen)
{
    snprintf (err, errlen, "nccl backend: %s", S_NOT_BUILT);
    return -1;
}

int
sc__nccl_allreduce (sc__nccl_t *n, float *buf, size_t count, sc_op_t op, char *err, size_t errlen)
{
    (void) n, (void) buf, (void) count, (void) op;
    return s_refuse (err, errlen);
}

int
sc__nccl_broadcast (sc__nccl_t *n, void *buf, size_t len, int root, char *err, size_t errlen)
{
    (void) n, (void) buf, (void) len, (void) root;
    return s_refuse (err, errlen);
}

int
sc__nccl_barrier (sc__nccl_t *n, char *err, size_t errlen)
{
    (void) n;
    return s_refuse (err, errlen);
}

int
sc__nccl_agree_max (sc__nccl_t *n, int64_t *value, char *err, size_t errlen)
{
    (void) n, (void) value;
    return s_refuse (err, errlen);
}

void *
sc__nccl_alloc (size_t bytes)
{
    (void) bytes;
    return NULL;
}

void
sc__nccl_free (void *p)
{
    (void) p;
}

int
sc__nccl_copy (void *dst, const void *src, size_t bytes, int to_device, char *err, size_t errlen)
{
    (void) dst, (void) src, (void) bytes, (void) to_device;
    return s_refuse (err, errlen);
}
