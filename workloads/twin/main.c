/*  strata-twin-train: flags, signals, the ranks' communicator, then
 *  twin_train (train.c).  */
#include "twin.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "strata/collective.h"
#include "strata/task.h"

static const char s_usage[] =
    "usage: strata-twin-train --data PATH [options]\n"
    "\n"
    "Trains a byte-level GPT-style transformer (Strata's reference fine-tuning\n"
    "workload) and prints `step N loss X tokens_per_s Y` per step, `val_loss X` at the end.\n"
    "\n"
    "  --data PATH             a text file, or a directory whose regular files are read\n"
    "                          in name order (required)\n"
    "  --steps N               train until step N (total, counting resumed steps) [200]\n"
    "  --batch B               sequences per step on this rank [8]\n"
    "  --seq T                 tokens (bytes) per sequence [64]\n"
    "  --seed S                initial weights and data order [1]\n"
    "  --checkpoint-dir DIR    where checkpoints go [$STRATA_CHECKPOINT_DIR]\n"
    "  --checkpoint-every K    also checkpoint every K steps [0: only at the end]\n"
    "  --resume                continue from the newest checkpoint in DIR (fresh start if none)\n"
    "  --base CKPT             fine-tune from CKPT's weights with a fresh optimizer\n"
    "  --layers L --dim D --heads H   model shape for a fresh start [2, 64, 4]\n"
    "  --lr X                  AdamW learning rate [0.003]\n"
    "  --val-fraction F        the last F of the bytes are held out [0.1]\n"
    "  --backend B             collective for data-parallel ranks: auto, mpi or nccl [auto];\n"
    "                          ranks come from mpirun, else STRATA_RANK/STRATA_WORLD_SIZE\n"
    "  --device D              where the steps run: cpu, cuda or auto (cuda when a CUDA device\n"
    "                          is visible, else cpu) [cpu]; cuda: each rank takes ordinal\n"
    "                          (local rank mod visible devices), so one GPU per rank\n"
    "                          (CUDA_VISIBLE_DEVICES) means its device 0. %s\n"
    "  --help                  this text\n"
    "\n"
    "Exit status: 0 done; 1 I/O or internal error; 2 bad flags or input;\n"
    "75 (EX_TEMPFAIL) stopped by SIGTERM after writing a checkpoint: requeue with --resume.\n"
    "With several ranks, rank 0 prints and checkpoints; a SIGTERM to any rank stops all.\n"
    "One BLAS thread per process, so runs are bit-for-bit reproducible. See docs/twin.md.\n";

#define S_NAME "strata-twin-train"

/*  --FLAG's integer in lo..hi (twin_parse_long says why not).  */
static int
s_long (const char *flag, const char *s, long lo, long hi, long *out)
{
    char what[64];
    snprintf (what, sizeof what, "--%s", flag);
    return twin_parse_long (S_NAME, what, s, lo, hi, out);
}

static int
s_double (const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod (s, &end);
    if (errno || end == s || *end || !(v > lo && v < hi)) {
        twin_usage_error (S_NAME, "--%s wants a number in (%g, %g), not '%s'", flag, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

/*  Whether this process is one of several ranks, as far as the environment
 *  says before sc_init: mpirun's OMPI_COMM_WORLD_SIZE or PMI_SIZE, Strata's
 *  STRATA_WORLD_SIZE. Only a preference (nccl for several GPU ranks, no NCCL
 *  set-up for one): a wrong guess costs speed, never correctness.  */
static int
s_several_ranks (void)
{
    static const char *const vars[] = { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", ST_ENV_WORLD_SIZE };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv (vars[i]);
        if (v && atoi (v) > 1)
            return 1;
    }
    return 0;
}

static void
s_on_term (int sig)
{
    (void) sig;
    twin_stop_requested = 1;
}

int
main (int argc, char **argv)
{
    twin_opts_t o;
    twin_opts_defaults (&o);
    o.cuda = twin_device_cuda (); /*  NULL in a build without CUDA (device_none.c)  */
    enum {
        O_DATA = 256,
        O_STEPS,
        O_BATCH,
        O_SEQ,
        O_SEED,
        O_DIR,
        O_RESUME,
        O_BASE,
        O_LAYERS,
        O_DIM,
        O_HEADS,
        O_LR,
        O_VAL,
        O_EVERY,
        O_BACKEND,
        O_DEVICE,
        O_HELP
    };
    static const struct option opts[] = {
        { "data", required_argument, NULL, O_DATA },
        { "steps", required_argument, NULL, O_STEPS },
        { "batch", required_argument, NULL, O_BATCH },
        { "seq", required_argument, NULL, O_SEQ },
        { "seed", required_argument, NULL, O_SEED },
        { "checkpoint-dir", required_argument, NULL, O_DIR },
        { "resume", no_argument, NULL, O_RESUME },
        { "base", required_argument, NULL, O_BASE },
        { "layers", required_argument, NULL, O_LAYERS },
        { "dim", required_argument, NULL, O_DIM },
        { "heads", required_argument, NULL, O_HEADS },
        { "lr", required_argument, NULL, O_LR },
        { "val-fraction", required_argument, NULL, O_VAL },
        { "checkpoint-every", required_argument, NULL, O_EVERY },
        { "backend", required_argument, NULL, O_BACKEND },
        { "device", required_argument, NULL, O_DEVICE },
        { "help", no_argument, NULL, O_HELP },
        { NULL, 0, NULL, 0 },
    };
    opterr = 0;
    int c;
    long v;
    double d;
    sc_backend_t backend = SC_AUTO;
    while ((c = getopt_long (argc, argv, ":", opts, NULL)) != -1) {
        const char *name = c >= O_DATA && c <= O_HELP ? opts[c - O_DATA].name : "";
        switch (c) {
        case O_DATA:
            o.data = optarg;
            break;
        case O_DIR:
            o.checkpoint_dir = optarg;
            break;
        case O_BASE:
            o.base = optarg;
            break;
        case O_RESUME:
            o.resume = 1;
            break;
        case O_HELP:
            printf (s_usage, o.cuda ? "This build has CUDA." : "This build has no CUDA.");
            return 0;
        case O_STEPS:
            if (s_long (name, optarg, 0, LONG_MAX, &v) < 0)
                return TWIN_EXIT_USAGE;
            o.steps = v;
            break;
        case O_EVERY:
            if (s_long (name, optarg, 0, LONG_MAX, &v) < 0)
                return TWIN_EXIT_USAGE;
            o.checkpoint_every = v;
            break;
        case O_SEED:
            if (s_long (name, optarg, 0, LONG_MAX, &v) < 0)
                return TWIN_EXIT_USAGE;
            o.seed = (uint64_t) v;
            break;
        case O_BATCH:
        case O_SEQ:
        case O_LAYERS:
        case O_DIM:
        case O_HEADS: {
            long hi = c == O_LAYERS ? 64 : c == O_SEQ ? 65536 : c == O_DIM ? 8192 : c == O_HEADS ? 1024 : 1 << 20;
            if (s_long (name, optarg, 1, hi, &v) < 0)
                return TWIN_EXIT_USAGE;
            int *dst = c == O_BATCH    ? &o.batch
                       : c == O_SEQ    ? &o.seq
                       : c == O_LAYERS ? &o.layers
                       : c == O_DIM    ? &o.dim
                                       : &o.heads;
            *dst = (int) v;
            break;
        }
        case O_LR:
            if (s_double (name, optarg, 0.0, 10.0, &d) < 0)
                return TWIN_EXIT_USAGE;
            o.lr = (float) d;
            break;
        case O_VAL:
            if (s_double (name, optarg, 0.0, 1.0, &d) < 0)
                return TWIN_EXIT_USAGE;
            o.val_fraction = d;
            break;
        case O_BACKEND:
            if (sc_backend_parse (optarg, &backend) < 0)
                return twin_usage_error (S_NAME, "--backend wants auto, mpi or nccl, not '%s'", optarg);
            break;
        case O_DEVICE:
            if (!strcmp (optarg, "cpu"))
                o.device = TWIN_DEVICE_CPU;
            else if (!strcmp (optarg, "cuda"))
                o.device = TWIN_DEVICE_CUDA;
            else if (!strcmp (optarg, "auto"))
                o.device = TWIN_DEVICE_AUTO;
            else
                return twin_usage_error (S_NAME, "--device wants cpu, cuda or auto, not '%s'", optarg);
            break;
        case ':':
            return twin_usage_error (S_NAME, "%s needs a value", argv[optind - 1]);
        default:
            return twin_usage_error (S_NAME, "unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return twin_usage_error (S_NAME, "unexpected argument '%s'", argv[optind]);
    if (!o.data)
        return twin_usage_error (S_NAME, "--data is required");
    if (!o.checkpoint_dir)
        o.checkpoint_dir = getenv (ST_ENV_CHECKPOINT_DIR);
    if (!o.cuda && o.device == TWIN_DEVICE_CUDA) {
        fprintf (stderr, "strata-twin-train: --device cuda: this strata-twin-train was built without CUDA "
                         "(CMake found no CUDA compiler and toolkit)\n");
        return TWIN_EXIT_USAGE;
    }

    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_term;
    sigemptyset (&sa.sa_mask);
    sigaction (SIGTERM, &sa, NULL);

    /*  The ranks: MPI's under mpirun (MPI's rank wins over an inherited
     *  STRATA_RANK), else STRATA_RANK/STRATA_WORLD_SIZE, else a world of one.
     *  Only --device cuda with several ranks lets auto pick nccl (device
     *  buffers): the CPU step reduces host memory; with --device auto the
     *  ranks resolve the device each on its own, after this, while the
     *  backend must be one choice of all ranks (a CUDA step on mpi goes
     *  through the host); one rank needs no collective. An explicit nccl
     *  with --device cpu gets twin_train's refusal.  */
    char err[512];
    sc_options_t co = { .backend = backend,
                        .host_buffers = !(o.device == TWIN_DEVICE_CUDA && s_several_ranks ()),
                        .argc = &argc,
                        .argv = &argv };
    sc_comm_t *comm = sc_init (&co, err, sizeof err);
    if (!comm) {
        fprintf (stderr, "strata-twin-train: %s\n", err);
        return TWIN_EXIT_USAGE;
    }
    o.comm = comm;
    int rc = twin_train (&o, stdout, stderr);
    sc_finalize (&comm);
    return rc;
}
