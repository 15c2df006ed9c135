/*  collective.c: libstrata-collective (strata/collective.h): who the ranks are,
 *  which backend carries them, the MPI and self backends, and the NCCL
 *  bootstrap (the NCCL calls themselves are in nccl.c).
 *
 *  sc_init, in order:
 *    1. the world: under mpirun, MPI's; else STRATA_RANK/STRATA_WORLD_SIZE;
 *       else a world of one. MPI is started under mpirun, or when mpi is asked
 *       for by a process alone (MPI's singleton world).
 *    2. the device question, when nccl is asked for or auto may pick it: the
 *       local CUDA device count, agreed with an MPI allreduce-min when MPI is
 *       up, so every rank takes the same branch (a rank that went to NCCL
 *       while another went to MPI would wait forever).
 *    3. nccl: rank 0's unique id reaches the others by MPI_Bcast, or through
 *       the Strata rendezvous (key sc-nccl-id-<n>, n counting the
 *       communicators this process made, so every rank names the same key).
 *       A failure that only rank 0 sees travels with the id (a status byte,
 *       or a one-byte value in the rendezvous), so the others fail at once
 *       instead of at the timeout.
 */
#include "strata/collective.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coll_int.h"
#include "strata/agent.h"
#include "strata/task.h"

/*  Open MPI keeps what MPI_Init allocates (much of it in components it
 *  dlopens and unloads before exit) until the process ends. LeakSanitizer
 *  would report it in every MPI program, and no suppression can name an
 *  unloaded module, so the allocations this thread makes inside MPI's set-up
 *  and tear-down are left out of leak checking: they are MPI's to free, not
 *  ours. Everything else, this library's own allocations included, is still
 *  checked.  */
#if defined(__SANITIZE_ADDRESS__)
#define S_HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define S_HAVE_LSAN 1
#endif
#endif
#ifdef S_HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#define S_MPI_LEAKS_BEGIN() __lsan_disable ()
#define S_MPI_LEAKS_END() __lsan_enable ()
#else
#define S_MPI_LEAKS_BEGIN() ((void) 0)
#define S_MPI_LEAKS_END() ((void) 0)
#endif

#define S_RDV_TIMEOUT_MS 60000u
/*  Elements per MPI call (MPI counts are int).  */
#define S_MPI_CHUNK ((size_t) 1 << 30)

struct sc_comm {
    sc_backend_t backend; /*  SC_MPI, SC_NCCL or SC_SELF  */
    int rank, size;
    int mpi_on;       /*  comm is valid: MPI backend, or MPI under NCCL (bootstrap, agree_max)  */
    MPI_Comm comm;    /*  a dup of MPI_COMM_WORLD that returns errors instead of aborting  */
    sc__nccl_t *nccl; /*  the NCCL communicator (nccl backend)  */
};

/*  Process-wide: MPI can be initialized once, and several communicators may
 *  share it; the last one out finalizes it if sc_init started it.  */
static int s_mpi_ours;   /*  sc_init called MPI_Init  */
static int s_mpi_users;  /*  live communicators with mpi_on  */
static int s_generation; /*  NCCL communicators made so far (rendezvous key)  */

int
sc_backend_parse (const char *name, sc_backend_t *out)
{
    if (!name)
        return -1;
    if (strcmp (name, "auto") == 0)
        *out = SC_AUTO;
    else if (strcmp (name, "mpi") == 0)
        *out = SC_MPI;
    else if (strcmp (name, "nccl") == 0)
        *out = SC_NCCL;
    else
        return -1;
    return 0;
}

const char *
sc_backend_str (sc_backend_t b)
{
    switch (b) {
    case SC_AUTO:
        return "auto";
    case SC_MPI:
        return "mpi";
    case SC_NCCL:
        return "nccl";
    case SC_SELF:
        return "self";
    }
    return "?";
}

int
sc_nccl_built (void)
{
    return sc__nccl_built ();
}

/*  -- the world -------------------------------------------------------------  */

/*  Started by an MPI launcher (mpirun/orterun, or a PMI/PMIx direct launch).  */
static int
s_under_launcher (void)
{
    static const char *const vars[] = { "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK" };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv (vars[i]);
        if (v && *v)
            return 1;
    }
    return 0;
}

/*  1 and *out when name is set to an integer in [lo, hi]; 0 when unset; -1 with err when malformed.  */
static int
s_env_int (const char *name, long lo, long hi, int *out, char *err, size_t errlen)
{
    const char *v = getenv (name);
    if (!v || !*v)
        return 0;
    char *end;
    long n = strtol (v, &end, 10);
    if (*end || n < lo || n > hi) {
        snprintf (err, errlen, "%s='%s' is not an integer in %ld..%ld", name, v, lo, hi);
        return -1;
    }
    *out = (int) n;
    return 1;
}

static int
s_env_world (int *rank, int *size, char *err, size_t errlen)
{
    *rank = 0, *size = 1;
    int got_size = s_env_int (ST_ENV_WORLD_SIZE, 1, INT_MAX, size, err, errlen);
    if (got_size < 0)
        return -1;
    int got_rank = s_env_int (ST_ENV_RANK, 0, INT_MAX - 1, rank, err, errlen);
    if (got_rank < 0)
        return -1;
    if (got_size && !got_rank && *size > 1) {
        snprintf (err, errlen, ST_ENV_WORLD_SIZE " is %d but " ST_ENV_RANK " is not set", *size);
        return -1;
    }
    if (*rank >= *size) {
        snprintf (err, errlen, ST_ENV_RANK " %d is not below " ST_ENV_WORLD_SIZE " %d", *rank, *size);
        return -1;
    }
    return 0;
}

/*  -- MPI ---------------------------------------------------------------------  */

static int
s_mpi_fail (int rc, const char *what, char *err, size_t errlen)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (MPI_Error_string (rc, msg, &len) != MPI_SUCCESS)
        snprintf (msg, sizeof msg, "MPI error %d", rc);
    snprintf (err, errlen, "mpi backend: %s: %s", what, msg);
    return -1;
}

static int
s_mpi_start (sc_comm_t *c, const sc_options_t *o, char *err, size_t errlen)
{
    int inited = 0, finalized = 0;
    MPI_Finalized (&finalized);
    if (finalized) {
        snprintf (err, errlen, "mpi backend: MPI was already finalized in this process (it starts only once)");
        return -1;
    }
    MPI_Initialized (&inited);
    if (!inited) {
        S_MPI_LEAKS_BEGIN ();
        int rc = MPI_Init (o->argc, o->argv);
        S_MPI_LEAKS_END ();
        if (rc != MPI_SUCCESS)
            return s_mpi_fail (rc, "MPI_Init", err, errlen);
        s_mpi_ours = 1;
    }
    s_mpi_users++;
    c->mpi_on = 1;
    S_MPI_LEAKS_BEGIN ();
    int rc = MPI_Comm_dup (MPI_COMM_WORLD, &c->comm);
    S_MPI_LEAKS_END ();
    if (rc != MPI_SUCCESS) {
        c->comm = MPI_COMM_NULL;
        return s_mpi_fail (rc, "MPI_Comm_dup", err, errlen);
    }
    MPI_Comm_set_errhandler (c->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank (c->comm, &c->rank);
    MPI_Comm_size (c->comm, &c->size);
    return 0;
}

static void
s_mpi_stop (sc_comm_t *c)
{
    if (!c->mpi_on)
        return;
    if (c->comm != MPI_COMM_NULL)
        MPI_Comm_free (&c->comm);
    c->mpi_on = 0;
    if (--s_mpi_users == 0 && s_mpi_ours) {
        S_MPI_LEAKS_BEGIN ();
        MPI_Finalize ();
        S_MPI_LEAKS_END ();
        s_mpi_ours = 0;
    }
}

/*  -- NCCL bootstrap -----------------------------------------------------------  */

/*  Without mpirun: rank 0 publishes the id (or a one-byte failure marker),
 *  the others wait for it.  */
static int
s_rendezvous_id (sc_comm_t *c, int gen, int id_ok, uint8_t id[SC__NCCL_ID_BYTES], uint32_t timeout_ms, char *err,
                 size_t errlen)
{
    char key[64], aerr[512];
    snprintf (key, sizeof key, "sc-nccl-id-%d", gen);
    st_agent_t *a = st_agent_open (aerr, sizeof aerr);
    if (!a) {
        snprintf (err, errlen,
                  "nccl backend: %d ranks without mpirun exchange NCCL's id through the Strata rendezvous: %s",
                  c->size, aerr);
        return -1;
    }
    int rc = 0;
    if (c->rank == 0) {
        static const uint8_t failed = 0;
        if (st_agent_put (a, key, id_ok ? (const void *) id : &failed, id_ok ? SC__NCCL_ID_BYTES : 1, aerr,
                          sizeof aerr)
            < 0) {
            snprintf (err, errlen, "nccl backend: publishing NCCL's id (rendezvous key %s): %s", key, aerr);
            rc = -1;
        }
        else if (!id_ok)
            rc = -1; /*  err already says why  */
    }
    else {
        size_t len = 0;
        if (st_agent_get (a, key, id, SC__NCCL_ID_BYTES, &len, timeout_ms, aerr, sizeof aerr) < 0) {
            snprintf (err, errlen, "nccl backend: rank %d waited %u ms for rank 0's NCCL id (rendezvous key %s): %s",
                      c->rank, timeout_ms, key, aerr);
            rc = -1;
        }
        else if (len == 1) {
            snprintf (err, errlen, "nccl backend: rank 0 could not create NCCL's id (see its log)");
            rc = -1;
        }
        else if (len != SC__NCCL_ID_BYTES) {
            snprintf (err, errlen, "nccl backend: rendezvous key %s holds %zu bytes, not a NCCL id (%d)", key, len,
                      SC__NCCL_ID_BYTES);
            rc = -1;
        }
    }
    st_agent_close (a);
    return rc;
}

static int
s_nccl_start (sc_comm_t *c, const sc_options_t *o, int gpus, char *err, size_t errlen)
{
    uint8_t id[SC__NCCL_ID_BYTES] = { 0 };
    int gen = s_generation++;
    int id_ok = 1, local = 0;
    if (c->rank == 0 && sc__nccl_unique_id (id, err, errlen) < 0)
        id_ok = 0;
    if (c->mpi_on) {
        uint8_t msg[1 + SC__NCCL_ID_BYTES];
        msg[0] = (uint8_t) id_ok;
        memcpy (msg + 1, id, SC__NCCL_ID_BYTES);
        int rc = MPI_Bcast (msg, (int) sizeof msg, MPI_BYTE, 0, c->comm);
        if (rc != MPI_SUCCESS)
            return s_mpi_fail (rc, "MPI_Bcast of NCCL's id", err, errlen);
        if (!msg[0]) {
            if (c->rank != 0)
                snprintf (err, errlen, "nccl backend: rank 0 could not create NCCL's id (see its log)");
            return -1;
        }
        memcpy (id, msg + 1, SC__NCCL_ID_BYTES);
        /*  The device: this rank's index among the ranks of its node.  */
        MPI_Comm node;
        if ((rc = MPI_Comm_split_type (c->comm, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &node)) != MPI_SUCCESS)
            return s_mpi_fail (rc, "MPI_Comm_split_type", err, errlen);
        MPI_Comm_rank (node, &local);
        MPI_Comm_free (&node);
    }
    else {
        if (c->size > 1) {
            uint32_t t = o->rendezvous_timeout_ms ? o->rendezvous_timeout_ms : S_RDV_TIMEOUT_MS;
            if (s_rendezvous_id (c, gen, id_ok, id, t, err, errlen) < 0)
                return -1;
        }
        else if (!id_ok)
            return -1;
        /*  A Strata worker gives each rank its own CUDA_VISIBLE_DEVICES, so
         *  this is usually device 0 of one.  */
        char ignored[128];
        if (s_env_int (ST_ENV_LOCAL_RANK, 0, INT_MAX, &local, ignored, sizeof ignored) <= 0)
            local = 0;
    }
    c->nccl = sc__nccl_new (c->rank, c->size, local % gpus, id, err, errlen);
    return c->nccl ? 0 : -1;
}

/*  -- init and finalize -----------------------------------------------------------  */

sc_comm_t *
sc_init (const sc_options_t *opts, char *err, size_t errlen)
{
    sc_options_t o = { 0 };
    if (opts)
        o = *opts;
    if (o.backend != SC_AUTO && o.backend != SC_MPI && o.backend != SC_NCCL) {
        snprintf (err, errlen, "unknown backend %d (auto, mpi or nccl)", (int) o.backend);
        return NULL;
    }
    sc_comm_t *c = calloc (1, sizeof *c);
    if (!c) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    c->comm = MPI_COMM_NULL;
    c->rank = 0, c->size = 1;

    int launcher = s_under_launcher ();
    if (!launcher && s_env_world (&c->rank, &c->size, err, errlen) < 0)
        goto fail;
    if (launcher || o.backend == SC_MPI) {
        if (!launcher && c->size > 1) {
            snprintf (err, errlen,
                      "mpi backend: " ST_ENV_WORLD_SIZE
                      " is %d but this process was not started by mpirun, and Open MPI "
                      "cannot join processes started apart (launch the ranks with mpirun, or use nccl)",
                      c->size);
            goto fail;
        }
        if (s_mpi_start (c, &o, err, errlen) < 0)
            goto fail;
    }

    /*  NCCL when asked for, or when auto may use it and every rank has a GPU.  */
    char why[384] = "";
    int want_nccl = o.backend == SC_NCCL || (o.backend == SC_AUTO && !o.host_buffers && sc__nccl_built ());
    int gpus = 0, min_gpus = 0;
    if (want_nccl) {
        gpus = sc__nccl_device_count (why, sizeof why);
        min_gpus = gpus;
        if (c->mpi_on) {
            int rc = MPI_Allreduce (&gpus, &min_gpus, 1, MPI_INT, MPI_MIN, c->comm);
            if (rc != MPI_SUCCESS) {
                s_mpi_fail (rc, "MPI_Allreduce of the device counts", err, errlen);
                goto fail;
            }
        }
        if (gpus > 0 && min_gpus == 0)
            snprintf (why, sizeof why, "another rank has no CUDA device visible");
    }
    else if (o.backend == SC_AUTO)
        snprintf (why, sizeof why, "%s",
                  o.host_buffers ? "the caller's buffers are host memory" : "nccl is not built into this library");
    if (o.backend == SC_NCCL && min_gpus == 0) {
        snprintf (err, errlen, "nccl backend: %s", why);
        goto fail;
    }

    if (want_nccl && min_gpus > 0) {
        if (s_nccl_start (c, &o, gpus, err, errlen) < 0)
            goto fail;
        c->backend = SC_NCCL;
        if (o.verbose && o.backend == SC_AUTO && c->rank == 0)
            fprintf (stderr, "collective: auto: every rank sees a CUDA device; using nccl\n");
    }
    else if (c->mpi_on) {
        c->backend = SC_MPI;
        if (o.verbose && o.backend == SC_AUTO && c->rank == 0)
            fprintf (stderr, "collective: auto: nccl: %s; using mpi\n", why);
    }
    else if (c->size == 1) {
        c->backend = SC_SELF;
        if (o.verbose && o.backend == SC_AUTO)
            fprintf (stderr, "collective: auto: nccl: %s; a world of one without mpirun: using self\n", why);
    }
    else {
        snprintf (err, errlen,
                  "no backend for rank %d of %d: mpi needs the ranks started by mpirun, and nccl is out (%s)",
                  c->rank, c->size, why);
        goto fail;
    }
    return c;
fail:
    s_mpi_stop (c);
    free (c);
    return NULL;
}

void
sc_finalize (sc_comm_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sc_comm_t *c = *self_p;
    sc__nccl_destroy (c->nccl);
    s_mpi_stop (c);
    free (c);
    *self_p = NULL;
}

int
sc_rank (const sc_comm_t *self)
{
    return self ? self->rank : 0;
}

int
sc_size (const sc_comm_t *self)
{
    return self ? self->size : 1;
}

sc_backend_t
sc_backend (const sc_comm_t *self)
{
    return self ? self->backend : SC_SELF;
}

const char *
sc_backend_name (const sc_comm_t *self)
{
    return sc_backend_str (sc_backend (self));
}

int
sc_device_buffers (const sc_comm_t *self)
{
    return self && self->backend == SC_NCCL;
}

/*  -- operations ----------------------------------------------------------------  */

void
sc_set_stream (sc_comm_t *self, void *cuda_stream)
{
    if (self && self->nccl)
        sc__nccl_set_stream (self->nccl, cuda_stream);
}

static int
s_check (const sc_comm_t *c, const void *buf, size_t n, char *err, size_t errlen)
{
    if (!c) {
        snprintf (err, errlen, "no communicator");
        return -1;
    }
    if (n > 0 && !buf) {
        snprintf (err, errlen, "NULL buffer of %zu elements", n);
        return -1;
    }
    return 0;
}

int
sc_allreduce (sc_comm_t *self, float *buf, size_t n, sc_op_t op, char *err, size_t errlen)
{
    if (s_check (self, buf, n, err, errlen) < 0)
        return -1;
    if (op != SC_SUM && op != SC_AVG) {
        snprintf (err, errlen, "unknown reduction %d", (int) op);
        return -1;
    }
    switch (self->backend) {
    case SC_SELF:
        return 0; /*  sum and average of one rank: the buffer itself  */
    case SC_NCCL:
        return sc__nccl_allreduce (self->nccl, buf, n, op, err, errlen);
    default:
        break;
    }
    for (size_t off = 0; off < n; off += S_MPI_CHUNK) {
        size_t k = n - off < S_MPI_CHUNK ? n - off : S_MPI_CHUNK;
        int rc = MPI_Allreduce (MPI_IN_PLACE, buf + off, (int) k, MPI_FLOAT, MPI_SUM, self->comm);
        if (rc != MPI_SUCCESS)
            return s_mpi_fail (rc, "MPI_Allreduce", err, errlen);
    }
    /*  A division, not a multiplication by 1/size: correctly rounded, so the
     *  average of exactly summed values is exact to the last bit.  */
    if (op == SC_AVG && self->size > 1) {
        float d = (float) self->size;
        for (size_t i = 0; i < n; i++)
            buf[i] /= d;
    }
    return 0;
}

int
sc_broadcast (sc_comm_t *self, void *buf, size_t len, int root, char *err, size_t errlen)
{
    if (s_check (self, buf, len, err, errlen) < 0)
        return -1;
    if (root < 0 || root >= self->size) {
        snprintf (err, errlen, "broadcast root %d is not a rank of a world of %d", root, self->size);
        return -1;
    }
    switch (self->backend) {
    case SC_SELF:
        return 0;
    case SC_NCCL:
        return sc__nccl_broadcast (self->nccl, buf, len, root, err, errlen);
    default:
        break;
    }
    for (size_t off = 0; off < len; off += S_MPI_CHUNK) {
        size_t k = len - off < S_MPI_CHUNK ? len - off : S_MPI_CHUNK;
        int rc = MPI_Bcast ((char *) buf + off, (int) k, MPI_BYTE, root, self->comm);
        if (rc != MPI_SUCCESS)
            return s_mpi_fail (rc, "MPI_Bcast", err, errlen);
    }
    return 0;
}

int
sc_barrier (sc_comm_t *self, char *err, size_t errlen)
{
    if (s_check (self, NULL, 0, err, errlen) < 0)
        return -1;
    switch (self->backend) {
    case SC_SELF:
        return 0;
    case SC_NCCL:
        return sc__nccl_barrier (self->nccl, err, errlen);
    default:
        break;
    }
    int rc = MPI_Barrier (self->comm);
    return rc == MPI_SUCCESS ? 0 : s_mpi_fail (rc, "MPI_Barrier", err, errlen);
}

int
sc_agree_max (sc_comm_t *self, int64_t *value, char *err, size_t errlen)
{
    if (s_check (self, value, 1, err, errlen) < 0)
        return -1;
    if (self->mpi_on) {
        int rc = MPI_Allreduce (MPI_IN_PLACE, value, 1, MPI_INT64_T, MPI_MAX, self->comm);
        return rc == MPI_SUCCESS ? 0 : s_mpi_fail (rc, "MPI_Allreduce", err, errlen);
    }
    if (self->backend == SC_NCCL)
        return sc__nccl_agree_max (self->nccl, value, err, errlen);
    return 0;
}

/*  -- memory ----------------------------------------------------------------------  */

void *
sc_mem_alloc (sc_comm_t *self, size_t bytes)
{
    if (sc_device_buffers (self))
        return sc__nccl_alloc (bytes);
    return malloc (bytes ? bytes : 1);
}

void
sc_mem_free (sc_comm_t *self, void *p)
{
    if (sc_device_buffers (self))
        sc__nccl_free (p);
    else
        free (p);
}

int
sc_mem_put (sc_comm_t *self, void *dst, const void *host_src, size_t bytes, char *err, size_t errlen)
{
    if (sc_device_buffers (self))
        return sc__nccl_copy (dst, host_src, bytes, 1, err, errlen);
    if (bytes)
        memcpy (dst, host_src, bytes);
    return 0;
}

int
sc_mem_get (sc_comm_t *self, void *host_dst, const void *src, size_t bytes, char *err, size_t errlen)
{
    if (sc_device_buffers (self))
        return sc__nccl_copy (host_dst, src, bytes, 0, err, errlen);
    if (bytes)
        memcpy (host_dst, src, bytes);
    return 0;
}
