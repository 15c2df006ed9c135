/*  train.c: the training loop of strata-twin-train.
 *
 *  Data parallelism (docs/twin.md, "Data parallelism"): with a communicator
 *  of W ranks every rank runs the same loop on its own slice of the global
 *  batch, and the ranks meet at these points, in this order:
 *
 *    set-up   each fallible phase ends with an agreement (sc_agree_max of the
 *             exit status), so a rank that fails takes the others with it
 *             instead of leaving them waiting in a collective. Rank 0 alone
 *             reads the checkpoint directory and broadcasts the plan, then the
 *             weights and AdamW moments, so ranks on nodes that do not share
 *             a filesystem start from the same state.
 *    step     after backward: allreduce-average of the one contiguous grads
 *             buffer, then one allreduce-sum of {loss, stop flag}: the printed
 *             loss is the global mean, and a SIGTERM seen by any rank stops
 *             every rank after the same step.
 *    save     rank 0 writes the checkpoint; the others wait for its outcome
 *             (sc_agree_max: a barrier that also carries success or failure).
 *
 *  Without a communicator (or with a world of one) each of these is a no-op,
 *  and the run is exactly the single-process trainer.
 *
 *  The device (docs/twin-internals.md, "CUDA path"): with --device cuda the host model
 *  m is built, initialised or loaded and broadcast as on the CPU, then
 *  copied to the device (o->cuda, device.h), where the steps run: forward,
 *  backward, the gradient allreduce (on the device grads under nccl,
 *  through m->grads under a host-memory backend), AdamW. Rank 0 copies the
 *  device state back into m before every checkpoint and before the
 *  evaluation. Under nccl every buffer sc_broadcast/sc_allreduce sees is
 *  device memory (s_bcast and the {loss, stop} pair are staged through
 *  sc_mem_*). This file is compiled once and knows no CUDA: without
 *  o->cuda (a program built without CUDA, or one that calls twin_train
 *  itself) it refuses TWIN_DEVICE_CUDA.
 */
#include "twin.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "strata/agent.h"
#include "strata/collective.h"
#include "strata/task.h"

#define DEF_LAYERS 2
#define DEF_DIM 64
#define DEF_HEADS 4

void
twin_opts_defaults (twin_opts_t *o)
{
    memset (o, 0, sizeof *o);
    o->steps = 200;
    o->batch = 8;
    o->seq = 64;
    o->seed = 1;
    o->lr = 3e-3f;
    o->val_fraction = 0.1;
    o->world = 1;
    o->val_windows = 1024;
}

/*  A flag given on the command line must agree with the checkpoint's config.  */
static int
s_agree (FILE *errf, const char *what, int given, int have, const char *path)
{
    if (given && given != have) {
        fprintf (errf, "strata-twin-train: --%s %d differs from %d in %s\n", what, given, have, path);
        return -1;
    }
    return 0;
}

static int
s_save (const twin_opts_t *o, const twin_model_t *m, twin_ckpt_meta_t *meta, FILE *errf)
{
    char err[512], path[4096];
    if (twin_ckpt_save (o->checkpoint_dir, m, meta, path, sizeof path, err, sizeof err) < 0) {
        fprintf (errf, "strata-twin-train: %s\n", err);
        return -1;
    }
    fprintf (errf, "strata-twin-train: checkpoint %s (step %llu)\n", path, (unsigned long long) meta->step);
    return 0;
}

/*  -- meeting the other ranks (no-ops without a communicator) ----------------  */

/*  Every rank returns the largest exit status of any rank (0: all fine). The
 *  rank that failed has said why; the others follow it quietly.  */
static int
s_agree_rc (sc_comm_t *comm, int rc, FILE *errf)
{
    if (!comm)
        return rc;
    char err[512];
    int64_t v = rc;
    if (sc_agree_max (comm, &v, err, sizeof err) < 0) {
        fprintf (errf, "strata-twin-train: %s\n", err);
        return 1;
    }
    return (int) v;
}

/*  Rank 0's len bytes at buf to every rank. A backend that broadcasts
 *  device memory (nccl) gets them through a buffer of its own memory.  */
static int
s_bcast (sc_comm_t *comm, void *buf, size_t len, FILE *errf)
{
    char err[512];
    if (!comm)
        return 0;
    if (sc_device_buffers (comm)) {
        void *dev = sc_mem_alloc (comm, len);
        int rc = -1;
        if (!dev)
            snprintf (err, sizeof err, "out of device memory (%zu bytes to broadcast)", len);
        else if (sc_mem_put (comm, dev, buf, len, err, sizeof err) == 0
                 && sc_broadcast (comm, dev, len, 0, err, sizeof err) == 0
                 && sc_mem_get (comm, buf, dev, len, err, sizeof err) == 0)
            rc = 0;
        sc_mem_free (comm, dev);
        if (rc < 0)
            fprintf (errf, "strata-twin-train: %s\n", err);
        return rc;
    }
    if (sc_broadcast (comm, buf, len, 0, err, sizeof err) < 0) {
        fprintf (errf, "strata-twin-train: %s\n", err);
        return -1;
    }
    return 0;
}

static int
s_allreduce (sc_comm_t *comm, float *buf, size_t n, sc_op_t op, FILE *errf)
{
    char err[512];
    if (comm && sc_allreduce (comm, buf, n, op, err, sizeof err) < 0) {
        fprintf (errf, "strata-twin-train: %s\n", err);
        return -1;
    }
    return 0;
}

/*  An allreduce of n host floats through dev, n floats of the backend's
 *  memory (sc_mem_alloc), or in place when dev is NULL (host-memory backends).  */
static int
s_allreduce_via (sc_comm_t *comm, float *host, float *dev, size_t n, sc_op_t op, FILE *errf)
{
    char err[512];
    if (!dev)
        return s_allreduce (comm, host, n, op, errf);
    if (sc_mem_put (comm, dev, host, n * sizeof (float), err, sizeof err) < 0
        || sc_allreduce (comm, dev, n, op, err, sizeof err) < 0
        || sc_mem_get (comm, host, dev, n * sizeof (float), err, sizeof err) < 0) {
        fprintf (errf, "strata-twin-train: %s\n", err);
        return -1;
    }
    return 0;
}

/*  -- the device (no-ops on the CPU path: g is NULL) ---------------------------  */

/*  Copies the device's params, grads and AdamW moments into m (for a
 *  checkpoint or the evaluation).  */
static int
s_to_host (const twin_device_ops_t *dev, twin_device_t *g, twin_model_t *m, FILE *errf)
{
    if (g && dev->to_host (g, m) < 0) {
        fprintf (errf, "strata-twin-train: CUDA: %s\n", dev->error (g));
        return -1;
    }
    return 0;
}

/*  Rank 0 writes the checkpoint (from the device's state, when on one);
 *  every rank learns whether it could.  */
static int
s_save_all (sc_comm_t *comm, int rank, const twin_opts_t *o, twin_device_t *g, twin_model_t *m,
            twin_ckpt_meta_t *meta, FILE *errf)
{
    int rc = 0;
    if (rank == 0 && (s_to_host (o->cuda, g, m, errf) < 0 || s_save (o, m, meta, errf) < 0))
        rc = 1;
    return s_agree_rc (comm, rc, errf) ? -1 : 0;
}

/*  This rank's place among the ranks of its node: Open MPI's under mpirun
 *  (a Strata mpirun launch hands every process rank 0's STRATA_LOCAL_RANK),
 *  else STRATA_LOCAL_RANK, else LOCAL_RANK, else 0.  */
static int
s_local_rank (void)
{
    static const char *const vars[] = { "OMPI_COMM_WORLD_LOCAL_RANK", ST_ENV_LOCAL_RANK, "LOCAL_RANK" };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *s = getenv (vars[i]);
        char *end;
        if (!s || !*s)
            continue;
        long v = strtol (s, &end, 10);
        if (!*end && v >= 0 && v < 1 << 20)
            return (int) v;
    }
    return 0;
}

/*  Resolves o->device: *cuda (0 or 1), *ordinal (the CUDA device, -1: the
 *  current one, which an nccl communicator has chosen), and the line rank 0
 *  prints. Returns 0, or TWIN_EXIT_USAGE after saying why.  */
static int
s_device (const twin_opts_t *o, sc_comm_t *comm, int *cuda, int *ordinal, char *line, size_t linelen, FILE *errf)
{
    *cuda = 0, *ordinal = -1;
    if (o->device != TWIN_DEVICE_CPU && o->device != TWIN_DEVICE_CUDA && o->device != TWIN_DEVICE_AUTO) {
        fprintf (errf, "strata-twin-train: unknown device %d (cpu, cuda or auto)\n", o->device);
        return TWIN_EXIT_USAGE;
    }
    snprintf (line, linelen, "device cpu");
    if (!o->cuda) {
        if (o->device == TWIN_DEVICE_CUDA) {
            fprintf (errf, "strata-twin-train: --device cuda: this strata-twin-train was built without CUDA "
                           "(CMake found no CUDA compiler and toolkit)\n");
            return TWIN_EXIT_USAGE;
        }
        if (o->device == TWIN_DEVICE_AUTO)
            snprintf (line, linelen, "device cpu (--device auto: built without CUDA)");
        return 0;
    }
    if (o->device == TWIN_DEVICE_CPU)
        return 0;
    char err[256];
    int count = o->cuda->count (err, sizeof err);
    if (count < 0) {
        if (o->device == TWIN_DEVICE_CUDA) {
            fprintf (errf, "strata-twin-train: --device cuda: %s\n", err);
            return TWIN_EXIT_USAGE;
        }
        snprintf (line, linelen, "device cpu (--device auto: %s)", err);
        return 0;
    }
    *cuda = 1;
    const char *vis = getenv ("CUDA_VISIBLE_DEVICES");
    char where[96] = "";
    if (vis)
        snprintf (where, sizeof where, "; CUDA_VISIBLE_DEVICES=%.64s", vis);
    if (comm && sc_device_buffers (comm)) {
        /*  nccl made its device (local rank mod count) current: use that one.  */
        snprintf (line, linelen, "device cuda: the %s communicator's (local rank mod %d visible%s)",
                  sc_backend_name (comm), count, where);
        return 0;
    }
    /*  A Strata worker gives each rank its own CUDA_VISIBLE_DEVICES: ordinal
     *  0 of one. With several visible (plain or Strata mpirun: every rank sees
     *  the same list) the local rank picks one, as the nccl backend does.  */
    int local = s_local_rank ();
    *ordinal = local % count;
    snprintf (line, linelen, "device cuda:%d (local rank %d, %d visible%s)", *ordinal, local, count, where);
    return 0;
}

/*  The host model m onto the device (after loading and the broadcast), and
 *  the {loss, stop} pair in the communicator's memory when that is device
 *  memory (*shared stays NULL otherwise). Returns 0 or 1.  */
static int
s_gpu_open (const twin_device_ops_t *dev, sc_comm_t *comm, const twin_model_t *m, int ordinal, twin_device_t **g,
            float **shared, FILE *errf)
{
    char err[512];
    if (!dev) {
        fprintf (errf, "strata-twin-train: built without CUDA\n");
        return 1;
    }
    *g = dev->open (m, ordinal, err, sizeof err);
    if (!*g) {
        fprintf (errf, "strata-twin-train: %s\n", err);
        return 1;
    }
    if (comm && sc_device_buffers (comm) && !(*shared = sc_mem_alloc (comm, 2 * sizeof (float)))) {
        fprintf (errf, "strata-twin-train: out of device memory\n");
        return 1;
    }
    return 0;
}

static void
s_gpu_close (const twin_device_ops_t *dev, sc_comm_t *comm, twin_device_t **g, float *shared)
{
    if (!dev)
        return;
    if (shared)
        sc_mem_free (comm, shared);
    dev->close (g);
}

/*  Forward and backward on the device; the loss, or NAN with *failed set
 *  (the rank still joins this step's reductions, so all ranks stop together).  */
static float
s_gpu_forward_backward (const twin_device_ops_t *dev, twin_device_t *g, const uint8_t *tokens, int B, int T,
                        int *failed, FILE *errf)
{
    float loss = dev->forward (g, tokens, B, T);
    if ((isnan (loss) && *dev->error (g)) || dev->backward (g) < 0) {
        fprintf (errf, "strata-twin-train: CUDA: %s\n", dev->error (g));
        *failed = 1;
        return NAN;
    }
    return loss;
}

/*  The allreduce-average of the device grads: in place under nccl, through
 *  m->grads under a host-memory backend.  */
static int
s_gpu_allreduce_grads (const twin_device_ops_t *dev, sc_comm_t *comm, twin_device_t *g, twin_model_t *m, FILE *errf)
{
    if (sc_device_buffers (comm))
        return s_allreduce (comm, dev->grads (g), dev->n_params (g), SC_AVG, errf);
    if (dev->get_grads (g, m->grads) < 0) {
        fprintf (errf, "strata-twin-train: CUDA: %s\n", dev->error (g));
        return -1;
    }
    if (s_allreduce (comm, m->grads, m->n_params, SC_AVG, errf) < 0)
        return -1;
    if (dev->set_grads (g, m->grads) < 0) {
        fprintf (errf, "strata-twin-train: CUDA: %s\n", dev->error (g));
        return -1;
    }
    return 0;
}

/*  AdamW on the device. 0 or -1.  */
static int
s_gpu_adamw (const twin_device_ops_t *dev, twin_device_t *g, const twin_adamw_t *hp, uint64_t step, FILE *errf)
{
    if (isnan (dev->adamw_step (g, hp, step)) && *dev->error (g)) {
        fprintf (errf, "strata-twin-train: CUDA: %s\n", dev->error (g));
        return -1;
    }
    return 0;
}

/*  Progress to the Strata worker that started this task (strata/agent.h), from
 *  rank 0: NULL, and silence, when no worker started it.  */
static st_agent_t *
s_progress_open (int rank)
{
    char err[256];
    return rank == 0 ? st_agent_open (err, sizeof err) : NULL;
}

/*  What rank 0 decided from the checkpoint directory; broadcast as bytes
 *  (every rank runs the same binary).  */
typedef struct {
    int32_t rc;       /*  non-zero: every rank exits with it  */
    int32_t resuming; /*  from names a checkpoint of this run  */
    int32_t has_from; /*  weights come from a checkpoint (resume or --base)  */
    twin_config_t cfg;
} s_plan_t;

/*  Where rank 0 starts from: the latest checkpoint (--resume), a base model
 *  (--base), or fresh weights. Fills plan (and from/meta); prints why it fails.  */
static void
s_plan (const twin_opts_t *o, const twin_data_t *data, s_plan_t *plan, char *from, size_t fromlen,
        twin_ckpt_meta_t *meta, FILE *errf)
{
    char err[512];
    int T = o->seq;
    if (o->resume) {
        int got = twin_ckpt_latest (o->checkpoint_dir, from, fromlen, err, sizeof err);
        if (got < 0) {
            fprintf (errf, "strata-twin-train: %s\n", err);
            plan->rc = 1;
            return;
        }
        plan->resuming = got;
    }
    else {
        /*  A fresh run next to an older one would interleave their files
         *  (and pruning keeps the highest steps): refuse.  */
        int got = twin_ckpt_latest (o->checkpoint_dir, from, fromlen, err, sizeof err);
        if (got != 0) {
            if (got > 0)
                fprintf (errf,
                         "strata-twin-train: %s already holds checkpoints (%s); pass --resume or use an "
                         "empty directory\n",
                         o->checkpoint_dir, from);
            else
                fprintf (errf, "strata-twin-train: %s\n", err);
            plan->rc = got > 0 ? TWIN_EXIT_USAGE : 1;
            return;
        }
    }
    if (!plan->resuming && o->base)
        snprintf (from, fromlen, "%s", o->base);
    else if (!plan->resuming)
        *from = 0;
    twin_config_t cfg = { o->layers ? o->layers : DEF_LAYERS, o->dim ? o->dim : DEF_DIM,
                          o->heads ? o->heads : DEF_HEADS, T, TWIN_VOCAB };
    if (*from) {
        plan->has_from = 1;
        if (twin_ckpt_read_meta (from, meta, err, sizeof err) < 0) {
            fprintf (errf, "strata-twin-train: %s\n", err);
            plan->rc = plan->resuming ? 1 : TWIN_EXIT_USAGE;
            return;
        }
        cfg = meta->cfg;
        if (s_agree (errf, "layers", o->layers, cfg.layers, from) < 0
            || s_agree (errf, "dim", o->dim, cfg.dim, from) < 0
            || s_agree (errf, "heads", o->heads, cfg.heads, from) < 0) {
            plan->rc = TWIN_EXIT_USAGE;
            return;
        }
        if (T > cfg.ctx) {
            fprintf (errf, "strata-twin-train: --seq %d is longer than the model's context %d (%s)\n", T, cfg.ctx,
                     from);
            plan->rc = TWIN_EXIT_USAGE;
            return;
        }
        if (plan->resuming && meta->train_len != data->train_len) {
            fprintf (errf, "strata-twin-train: %s was trained on %llu training bytes, --data has %zu\n", from,
                     (unsigned long long) meta->train_len, data->train_len);
            plan->rc = TWIN_EXIT_USAGE;
            return;
        }
    }
    else if (twin_config_check (&cfg, err, sizeof err) < 0) {
        fprintf (errf, "strata-twin-train: %s\n", err);
        plan->rc = TWIN_EXIT_USAGE;
        return;
    }
    plan->cfg = cfg;
}

int
twin_train (const twin_opts_t *o, FILE *out, FILE *errf)
{
    char err[512];
    /*  One BLAS thread: results must not depend on how OpenBLAS splits a
     *  product. Parallelism comes from data-parallel ranks.  */
    openblas_set_num_threads (1);

    sc_comm_t *comm = o->comm;
    int rank = comm ? sc_rank (comm) : o->rank;
    int world = comm ? sc_size (comm) : o->world;
    int T = o->seq, B = o->batch, rc = 0;
    twin_data_t data = { 0 };
    twin_model_t *m = NULL;
    uint8_t *tokens = NULL;
    st_agent_t *agent = NULL;
    const twin_device_ops_t *dev = o->cuda;
    twin_device_t *g = NULL;  /*  NULL: the steps run on the CPU  */
    float *shared_dev = NULL; /*  {loss, stop} in device memory (nccl)  */

    /*  The device first. The nccl backend reduces device buffers, so it takes
     *  the CUDA step (device.h); the CPU step takes host-memory backends.  */
    int cuda = 0, ordinal = -1;
    char devline[512];
    if ((rc = s_device (o, comm, &cuda, &ordinal, devline, sizeof devline, errf)) != 0) {
        /*  s_device said why  */
    }
    else if (comm && sc_device_buffers (comm) && !cuda) {
        fprintf (errf,
                 "strata-twin-train: the %s backend reduces device memory, and this trainer runs on the CPU "
                 "(use --device cuda, or --backend mpi)\n",
                 sc_backend_name (comm));
        rc = TWIN_EXIT_USAGE;
    }
    else if (!o->checkpoint_dir || !*o->checkpoint_dir) {
        fprintf (errf,
                 "strata-twin-train: no checkpoint directory (--checkpoint-dir or " ST_ENV_CHECKPOINT_DIR ")\n");
        rc = TWIN_EXIT_USAGE;
    }
    else if (world < 1 || rank < 0 || rank >= world) {
        fprintf (errf, "strata-twin-train: bad rank %d of world %d\n", rank, world);
        rc = TWIN_EXIT_USAGE;
    }
    else if (twin_data_load (o->data, o->val_fraction, &data, err, sizeof err) < 0) {
        fprintf (errf, "strata-twin-train: %s\n", err);
        rc = TWIN_EXIT_USAGE;
    }
    else if (data.train_len < (size_t) T + 1 || data.len - data.train_len < (size_t) T + 1) {
        fprintf (errf, "strata-twin-train: %s: %zu bytes is too little for --seq %d with --val-fraction %g\n",
                 o->data, data.len, T, o->val_fraction);
        rc = TWIN_EXIT_USAGE;
    }
    if ((rc = s_agree_rc (comm, rc, errf)) != 0)
        goto done;
    if (comm && world > 1) {
        /*  Every rank must read the same data: compare the training split's
         *  length (max and min over the ranks).  */
        int64_t hi = (int64_t) data.train_len, lo = -(int64_t) data.train_len;
        if (sc_agree_max (comm, &hi, err, sizeof err) < 0 || sc_agree_max (comm, &lo, err, sizeof err) < 0) {
            fprintf (errf, "strata-twin-train: %s\n", err);
            rc = 1;
            goto done;
        }
        if (hi != -lo) {
            if (rank == 0)
                fprintf (errf,
                         "strata-twin-train: the ranks read different --data (training splits of %lld to %lld "
                         "bytes)\n",
                         (long long) -lo, (long long) hi);
            rc = TWIN_EXIT_USAGE;
            goto done;
        }
    }

    /*  Rank 0 decides where to start; the others take its config.  */
    char from[4096] = "";
    twin_ckpt_meta_t meta = { 0 };
    s_plan_t plan;
    memset (&plan, 0, sizeof plan);
    if (rank == 0)
        s_plan (o, &data, &plan, from, sizeof from, &meta, errf);
    if (s_bcast (comm, &plan, sizeof plan, errf) < 0) {
        rc = 1;
        goto done;
    }
    if ((rc = plan.rc) != 0)
        goto done;
    twin_config_t cfg = plan.cfg;

    m = twin_model_new (&cfg, B, T);
    tokens = malloc ((size_t) B * (T + 1));
    if (!m || !tokens) {
        fprintf (errf, "strata-twin-train: out of memory\n");
        rc = 1;
    }
    if ((rc = s_agree_rc (comm, rc, errf)) != 0)
        goto done;

    /*  The run's state: step, init RNG stream, data cursor, seed.  */
    uint64_t state[4] = { 0, o->seed, 0, o->seed };
    if (rank == 0) {
        if (plan.has_from) {
            twin_ckpt_meta_t got;
            if (twin_ckpt_load (from, m, plan.resuming, &got, err, sizeof err) < 0) {
                fprintf (errf, "strata-twin-train: %s\n", err);
                rc = 1;
            }
            else {
                if (plan.resuming)
                    state[0] = got.step, state[1] = got.rng, state[2] = got.cursor, state[3] = got.seed;
                fprintf (errf, "strata-twin-train: %s %s at step %llu\n",
                         plan.resuming ? "resuming from" : "fine-tuning", from, (unsigned long long) got.step);
            }
        }
        else
            twin_model_init (m, &state[1]);
    }
    if ((rc = s_agree_rc (comm, rc, errf)) != 0)
        goto done;
    /*  Rank 0's weights and moments everywhere (fresh ones too: one source of truth).  */
    if (comm && world > 1
        && (s_bcast (comm, state, sizeof state, errf) < 0
            || s_bcast (comm, m->params, m->n_params * sizeof (float), errf) < 0
            || s_bcast (comm, m->m, m->n_params * sizeof (float), errf) < 0
            || s_bcast (comm, m->v, m->n_params * sizeof (float), errf) < 0)) {
        rc = 1;
        goto done;
    }
    uint64_t step = state[0], rng = state[1], cursor = state[2], seed = state[3];
    if (rank == 0) {
        fprintf (errf, "strata-twin-train: %d layers, dim %d, %d heads, %zu parameters; %zu train / %zu val bytes\n",
                 cfg.layers, cfg.dim, cfg.heads, m->n_params, data.train_len, data.len - data.train_len);
        if (world > 1)
            fprintf (errf, "strata-twin-train: %d ranks (%s), batch %d per rank, %lld in all\n", world,
                     sc_backend_name (comm), B, (long long) B * world);
        fprintf (errf, "strata-twin-train: %s\n", devline);
    }
    /*  The model onto the device: after loading and the broadcast, so every
     *  rank copies rank 0's state. (With --device auto the ranks may differ:
     *  all of them agree here, whichever device each took.)  */
    if (o->device != TWIN_DEVICE_CPU) {
        rc = cuda ? s_gpu_open (dev, comm, m, ordinal, &g, &shared_dev, errf) : 0;
        if ((rc = s_agree_rc (comm, rc, errf)) != 0)
            goto done;
    }
    agent = s_progress_open (rank);

    twin_adamw_t hp;
    twin_adamw_defaults (&hp);
    hp.lr = o->lr;
    /*  The data order's key: a function of the run's seed, independent of the
     *  weight-init stream.  */
    uint64_t key = seed ^ 0x5354524154415457ULL;
    twin_ckpt_meta_t cm = { cfg, step, rng, cursor, data.train_len, seed };
    uint64_t saved_at = plan.resuming ? step : UINT64_MAX;
    int stop = 0;
    while (step < (uint64_t) o->steps && !stop) {
        double t0 = twin_now ();
        twin_data_batch (&data, key, &cursor, T, B, rank, world, tokens);
        float loss;
        int failed = 0;
        if (g)
            loss = s_gpu_forward_backward (dev, g, tokens, B, T, &failed, errf);
        else {
            loss = twin_forward (m, tokens, B, T);
            twin_backward (m, tokens);
        }
        /*  The mean of the ranks' gradients is the gradient of the global
         *  batch; the flag is read once a step, so all ranks stop together.
         *  (A rank whose device failed still takes part, with a NaN loss: the
         *  others stop at the loss check below.)  */
        float shared[2] = { loss, twin_stop_requested ? 1.0f : 0.0f };
        if (comm && world > 1) { /*  (without comm, rank/world only slice the data)  */
            int grads = g ? s_gpu_allreduce_grads (dev, comm, g, m, errf)
                          : s_allreduce (comm, m->grads, m->n_params, SC_AVG, errf);
            if (grads < 0 || s_allreduce_via (comm, shared, shared_dev, 2, SC_SUM, errf) < 0) {
                rc = 1;
                goto done;
            }
        }
        if (failed) {
            rc = 1;
            goto done;
        }
        if (comm && world > 1)
            loss = shared[0] / (float) world; /*  the sum of the ranks' means  */
        stop = shared[1] > 0;
        if (!g)
            twin_adamw_step (m, &hp, step + 1);
        else if (s_gpu_adamw (dev, g, &hp, step + 1, errf) < 0) {
            rc = 1;
            goto done;
        }
        step++;
        double dt = twin_now () - t0;
        double rate = dt > 0 ? (double) B * T * world / dt : 0.0;
        if (rank == 0) {
            fprintf (out, "step %llu loss %.6f tokens_per_s %.0f\n", (unsigned long long) step, loss, rate);
            fflush (out);
            st_agent_progress (agent, step, (uint64_t) o->steps, loss, rate, "tokens/s");
        }
        if (!isfinite (loss)) {
            if (rank == 0)
                fprintf (errf, "strata-twin-train: loss is not finite at step %llu\n", (unsigned long long) step);
            rc = 1;
            goto done;
        }
        if (o->checkpoint_every > 0 && step % (uint64_t) o->checkpoint_every == 0) {
            cm.step = step, cm.rng = rng, cm.cursor = cursor;
            if (s_save_all (comm, rank, o, g, m, &cm, errf) < 0) {
                rc = 1;
                goto done;
            }
            saved_at = step;
        }
    }
    cm.step = step, cm.rng = rng, cm.cursor = cursor;
    if (saved_at != step && s_save_all (comm, rank, o, g, m, &cm, errf) < 0) {
        rc = 1;
        goto done;
    }
    if (stop && step < (uint64_t) o->steps) {
        if (rank == 0)
            fprintf (errf, "strata-twin-train: stopped by signal at step %llu%s; exit %d (requeue me)\n",
                     (unsigned long long) step, world > 1 ? " (every rank)" : "", TWIN_EXIT_PREEMPTED);
        rc = TWIN_EXIT_PREEMPTED;
        goto done;
    }
    if (rank == 0) {
        /*  Evaluated on the host, with the device's weights.  */
        if (s_to_host (dev, g, m, errf) < 0) {
            rc = 1;
            goto done;
        }
        fprintf (out, "val_loss %.6f\n", twin_eval (m, &data, T, B, o->val_windows));
        fflush (out);
    }
done:
    s_gpu_close (dev, comm, &g, shared_dev);
    st_agent_close (agent);
    twin_model_free (m);
    free (tokens);
    twin_data_free (&data);
    return rc;
}
