/*  nccl.c: the NCCL half of libstrata-collective (device buffers).
 *
 *  Compiled only when CMake found CUDA and NCCL. Every operation is queued on
 *  a stream and waited for, so a call returns with its result in place, as the
 *  MPI backend's do. The stream is the caller's (sc_set_stream: the operation
 *  runs after the work the caller queued there), or this communicator's own,
 *  and then the whole device is synchronized first, so work the caller left
 *  queued anywhere has written the buffer before NCCL reads it. The device count gates
 *  everything: without a device cudaGetDeviceCount fails (error 35 on a
 *  machine with the toolkit but no driver) while ncclGetUniqueId still
 *  succeeds, so the unique id alone proves nothing.
 */
#include "coll_int.h"

#include <cuda_runtime_api.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof (ncclUniqueId) == SC__NCCL_ID_BYTES, "NCCL unique id size changed");

struct sc__nccl {
    ncclComm_t comm;
    cudaStream_t stream; /*  our own  */
    cudaStream_t user;   /*  the caller's (sc_set_stream), or NULL  */
    int device;          /*  the CUDA device this rank drives  */
    int64_t *scratch;    /*  one device word for barrier and agree_max  */
};

int
sc__nccl_built (void)
{
    return 1;
}

int
sc__nccl_device_count (char *why, size_t whylen)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount (&count);
    if (e != cudaSuccess) {
        (void) cudaGetLastError (); /*  clear it: it is an answer, not a fault  */
        snprintf (why, whylen, "no CUDA device visible (cudaGetDeviceCount: %s)", cudaGetErrorString (e));
        return 0;
    }
    if (count <= 0) {
        snprintf (why, whylen, "no CUDA device visible (cudaGetDeviceCount: 0 devices)");
        return 0;
    }
    return count;
}

static int
s_cuda (cudaError_t e, const char *what, char *err, size_t errlen)
{
    if (e == cudaSuccess)
        return 0;
    snprintf (err, errlen, "nccl backend: %s: %s", what, cudaGetErrorString (e));
    return -1;
}

static int
s_nccl (sc__nccl_t *n, ncclResult_t r, const char *what, char *err, size_t errlen)
{
    if (r == ncclSuccess)
        return 0;
    const char *last = n ? ncclGetLastError (n->comm) : NULL;
    snprintf (err, errlen, "nccl backend: %s: %s%s%s", what, ncclGetErrorString (r), last && *last ? ": " : "",
              last && *last ? last : "");
    return -1;
}

int
sc__nccl_unique_id (uint8_t id[SC__NCCL_ID_BYTES], char *err, size_t errlen)
{
    ncclUniqueId u;
    if (s_nccl (NULL, ncclGetUniqueId (&u), "ncclGetUniqueId", err, errlen) < 0)
        return -1;
    memcpy (id, &u, sizeof u);
    return 0;
}

sc__nccl_t *
sc__nccl_new (int rank, int size, int device, const uint8_t id[SC__NCCL_ID_BYTES], char *err, size_t errlen)
{
    sc__nccl_t *n = calloc (1, sizeof *n);
    if (!n) {
        snprintf (err, errlen, "nccl backend: out of memory");
        return NULL;
    }
    n->device = device;
    if (s_cuda (cudaSetDevice (device), "cudaSetDevice", err, errlen) < 0
        || s_cuda (cudaStreamCreateWithFlags (&n->stream, cudaStreamNonBlocking), "cudaStreamCreate", err, errlen) < 0
        || s_cuda (cudaMalloc ((void **) &n->scratch, sizeof *n->scratch), "cudaMalloc", err, errlen) < 0)
        goto fail;
    ncclUniqueId u;
    memcpy (&u, id, sizeof u);
    ncclComm_t comm = NULL;
    if (s_nccl (NULL, ncclCommInitRank (&comm, size, u, rank), "ncclCommInitRank", err, errlen) < 0)
        goto fail;
    n->comm = comm;
    return n;
fail:
    sc__nccl_destroy (n);
    return NULL;
}

void
sc__nccl_destroy (sc__nccl_t *n)
{
    if (!n)
        return;
    if (n->comm) {
        ncclCommFinalize (n->comm);
        ncclCommDestroy (n->comm);
    }
    if (n->scratch)
        cudaFree (n->scratch);
    if (n->stream)
        cudaStreamDestroy (n->stream);
    free (n);
}

void
sc__nccl_set_stream (sc__nccl_t *n, void *stream)
{
    n->user = (cudaStream_t) stream;
}

/*  The stream an operation goes on, once the buffer is ready for it.  */
static int
s_stream (sc__nccl_t *n, cudaStream_t *s, char *err, size_t errlen)
{
    *s = n->user ? n->user : n->stream;
    return n->user ? 0 : s_cuda (cudaDeviceSynchronize (), "cudaDeviceSynchronize", err, errlen);
}

static int
s_wait (cudaStream_t s, char *err, size_t errlen)
{
    return s_cuda (cudaStreamSynchronize (s), "cudaStreamSynchronize", err, errlen);
}

int
sc__nccl_allreduce (sc__nccl_t *n, float *buf, size_t count, sc_op_t op, char *err, size_t errlen)
{
    if (count == 0)
        return 0;
    ncclRedOp_t o = op == SC_AVG ? ncclAvg : ncclSum;
    cudaStream_t s;
    if (s_stream (n, &s, err, errlen) < 0
        || s_nccl (n, ncclAllReduce (buf, buf, count, ncclFloat32, o, n->comm, s), "ncclAllReduce", err, errlen) < 0)
        return -1;
    return s_wait (s, err, errlen);
}

int
sc__nccl_broadcast (sc__nccl_t *n, void *buf, size_t len, int root, char *err, size_t errlen)
{
    if (len == 0)
        return 0;
    cudaStream_t s;
    if (s_stream (n, &s, err, errlen) < 0
        || s_nccl (n, ncclBroadcast (buf, buf, len, ncclUint8, root, n->comm, s), "ncclBroadcast", err, errlen) < 0)
        return -1;
    return s_wait (s, err, errlen);
}

int
sc__nccl_agree_max (sc__nccl_t *n, int64_t *value, char *err, size_t errlen)
{
    /*  Host value, device scratch word: only this stream's order matters.  */
    cudaStream_t s = n->user ? n->user : n->stream;
    if (s_cuda (cudaMemcpyAsync (n->scratch, value, sizeof *value, cudaMemcpyHostToDevice, s), "cudaMemcpy", err,
                errlen)
            < 0
        || s_nccl (n, ncclAllReduce (n->scratch, n->scratch, 1, ncclInt64, ncclMax, n->comm, s), "ncclAllReduce", err,
                   errlen)
               < 0
        || s_cuda (cudaMemcpyAsync (value, n->scratch, sizeof *value, cudaMemcpyDeviceToHost, s), "cudaMemcpy", err,
                   errlen)
               < 0)
        return -1;
    return s_wait (s, err, errlen);
}

int
sc__nccl_barrier (sc__nccl_t *n, char *err, size_t errlen)
{
    int64_t one = 1;
    return sc__nccl_agree_max (n, &one, err, errlen);
}

void *
sc__nccl_alloc (size_t bytes)
{
    void *p = NULL;
    if (cudaMalloc (&p, bytes ? bytes : 1) != cudaSuccess) {
        (void) cudaGetLastError ();
        return NULL;
    }
    return p;
}

void
sc__nccl_free (void *p)
{
    if (p)
        cudaFree (p);
}

int
sc__nccl_copy (void *dst, const void *src, size_t bytes, int to_device, char *err, size_t errlen)
{
    if (bytes == 0)
        return 0;
    return s_cuda (cudaMemcpy (dst, src, bytes, to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost),
                   "cudaMemcpy", err, errlen);
}
