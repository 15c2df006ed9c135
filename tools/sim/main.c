/*  main.c: strata-sim, trace replay through libstrata-policy in virtual time.
 *
 *      strata-sim --trace FILE (--cluster FILE | --nodes N --gpus-per-node G)
 *                 --policy fifo|backfill|default|las|sjf [--jobs-out FILE]
 *
 *  Prints `key: value` lines (tools/sim/README.md lists them). Exit status: 0
 *  when every job finished; 1 for bad input, an engine error, or jobs that
 *  could never start; 2 for a usage error. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "sim.h"
#include "sim_cluster.h"
#include "sim_trace.h"
#include "st_config.h"

typedef struct {
    char *trace;
    char *cluster;
    int64_t nodes;
    int64_t gpus_per_node;
    char *gpu_type;
    uint32_t node_cpus_milli;
    uint64_t node_mem_mb;
    uint32_t task_cpus_milli;
    uint64_t task_mem_mb;
    char *policy;
    char *jobs_out;
    uint64_t restart_overhead_ms;
    uint64_t tick_ms;
    char *time_limits;
    int hide_durations;
    int ignore_gpu_type;
} s_cfg_t;

static const st_opt_t s_opts[] = {
    { "trace", 't', ST_OPT_PATH, offsetof (s_cfg_t, trace), 0, 0, "FILE",
      "the job trace (CSV: job_id,submit_s,duration_s,num_gpus[,gpu_type,user,queue,status])", NULL },
    { "cluster", 'c', ST_OPT_PATH, offsetof (s_cfg_t, cluster), 0, 0, "FILE",
      "cluster file: the engine's format plus a `nodes:` list (see below)", NULL },
    { "nodes", 'n', ST_OPT_INT, offsetof (s_cfg_t, nodes), 1, SIM_MAX_NODES, "N",
      "instead of --cluster: N identical nodes in one pool", NULL },
    { "gpus-per-node", 'g', ST_OPT_INT, offsetof (s_cfg_t, gpus_per_node), 0, SIM_MAX_NODE_GPUS, "G",
      "GPUs of each of those nodes", NULL },
    { "gpu-type", 0, ST_OPT_STRING, offsetof (s_cfg_t, gpu_type), 0, 0, "NAME",
      "GPU type of those nodes (matched against the trace's gpu_type)", SIM_DEFAULT_GPU_TYPE },
    { "cpus-per-node", 0, ST_OPT_CPUS_MILLI, offsetof (s_cfg_t, node_cpus_milli), 1, 100000000, "N",
      "CPUs of each of those nodes", NULL },
    { "memory-per-node", 0, ST_OPT_MEM_MB, offsetof (s_cfg_t, node_mem_mb), 1, 0, "SIZE",
      "memory of each of those nodes", NULL },
    { "task-cpus", 0, ST_OPT_CPUS_MILLI, offsetof (s_cfg_t, task_cpus_milli), 0, 100000000, "N",
      "CPUs each task asks for (the trace has none)", NULL },
    { "task-memory", 0, ST_OPT_MEM_MB, offsetof (s_cfg_t, task_mem_mb), 0, 0, "SIZE",
      "memory each task asks for (the trace has none)", NULL },
    { "policy", 'p', ST_OPT_STRING, offsetof (s_cfg_t, policy), 0, 0, "NAME",
      "fifo, backfill, default, las or sjf (the oracle)", NULL },
    { "jobs-out", 'o', ST_OPT_PATH, offsetof (s_cfg_t, jobs_out), 0, 0, "FILE", "also write one CSV line per job",
      NULL },
    { "restart-overhead", 0, ST_OPT_DURATION_MS, offsetof (s_cfg_t, restart_overhead_ms), 0, 86400000, "TIME",
      "added to every resumed attempt of a preempted job", NULL },
    { "tick", 0, ST_OPT_DURATION_MS, offsetof (s_cfg_t, tick_ms), 0, 86400000, "TIME",
      "also run a cycle this often while jobs wait; 0: only on arrivals, ends and preemptions", NULL },
    { "time-limits", 0, ST_OPT_STRING, offsetof (s_cfg_t, time_limits), 0, 0, "MODE",
      "none, or bucket: the true duration rounded up to 1, 2, 4, 8... hours", "none" },
    { "hide-durations", 0, ST_OPT_BOOL, offsetof (s_cfg_t, hide_durations), 0, 0, NULL,
      "give the engine duration_s = 0 (a check that only sjf reads it)", NULL },
    { "ignore-gpu-type", 0, ST_OPT_BOOL, offsetof (s_cfg_t, ignore_gpu_type), 0, 0, NULL,
      "the trace's gpu_type column is not a constraint", NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

static const char s_usage_line[] =
    "strata-sim --trace FILE (--cluster FILE | --nodes N --gpus-per-node G) --policy NAME [--jobs-out FILE]";

static const char s_description[] =
    "Replays a job trace through libstrata-policy (the placement engine strata-scheduler uses) in\n"
    "virtual time, and prints how the jobs fared as `key: value` lines.";

static const char s_epilogue[] =
    "\n"
    "model (tools/sim/README.md has the details):\n"
    "  - the engine runs a cycle at every instant where a job arrives or ends (and every --tick);\n"
    "    a preempted job stops at once, the engine runs again at the same instant, and the job later\n"
    "    resumes from its checkpoint: its remaining time plus --restart-overhead;\n"
    "  - a row of G GPUs is one gang: on nodes of at most P GPUs, ceil(G/P) tasks of ceil(G/tasks)\n"
    "    GPUs; a fractional num_gpus is rounded up to whole GPUs (GPUs are not shared);\n"
    "  - tenant = user, queue = queue (blank: \"default\"); every job is preemptible, priority 0;\n"
    "  - duration_s is the true run time and only the sjf oracle may read it; the time limit is\n"
    "    none unless --time-limits bucket.\n"
    "\n"
    "cluster file (--cluster): the engine's format (docs/placement.md) plus\n"
    "  nodes:\n"
    "    - {name: a100, count: 32, pool: onprem, gpus: 8, gpu_type: A100, cpus: 64, memory: 512G,\n"
    "       labels: {rack: r1}}\n"
    "\n"
    "output: trace, policy, nodes, gpus, jobs, finished, rounded_up, avg_jct_s, median_jct_s,\n"
    "  p99_jct_s, avg_wait_s, p99_wait_s, makespan_s, utilization, busy_gpu_hours, preemptions,\n"
    "  placements, backfilled, stalls, cycles, cycle_avg_ms, cycle_max_ms, wall_s.\n"
    "  jct = end - submit; wait = first start - submit; utilization = busy GPU-time / (GPUs x makespan).\n"
    "\n"
    "exit status: 0 every job finished; 1 bad input, engine error, or jobs that never started; 2 usage.\n";

static int
s_usage_error (const char *fmt, const char *arg)
{
    fprintf (stderr, "strata-sim: error: ");
    fprintf (stderr, fmt, arg);
    fprintf (stderr, "\nhint: see strata-sim --help\n");
    return 2;
}

static void
s_print (const s_cfg_t *cfg, const sim_cluster_t *cl, const sim_summary_t *m)
{
    printf ("trace: %s\n", cfg->trace);
    printf ("policy: %s\n", cfg->policy);
    printf ("nodes: %zu\n", cl->nnodes);
    printf ("gpus: %u\n", m->total_gpus);
    printf ("jobs: %zu\n", m->jobs);
    printf ("finished: %zu\n", m->finished);
    printf ("rounded_up: %zu\n", m->rounded_up);
    printf ("avg_jct_s: %.1f\n", m->avg_jct_s);
    printf ("median_jct_s: %.1f\n", m->median_jct_s);
    printf ("p99_jct_s: %.1f\n", m->p99_jct_s);
    printf ("avg_wait_s: %.1f\n", m->avg_wait_s);
    printf ("p99_wait_s: %.1f\n", m->p99_wait_s);
    printf ("makespan_s: %.1f\n", m->makespan_s);
    printf ("utilization: %.4f\n", m->utilization);
    printf ("busy_gpu_hours: %.1f\n", m->busy_gpu_s / 3600);
    printf ("preemptions: %" PRIu64 "\n", m->preemptions);
    printf ("placements: %" PRIu64 "\n", m->placements);
    printf ("backfilled: %" PRIu64 "\n", m->backfilled);
    printf ("stalls: %" PRIu64 "\n", m->stalls);
    printf ("cycles: %" PRIu64 "\n", m->cycles);
    printf ("cycle_avg_ms: %.3f\n", m->cycle_avg_ms);
    printf ("cycle_max_ms: %.3f\n", m->cycle_max_ms);
    printf ("wall_s: %.3f\n", m->wall_s);
    fflush (stdout);
}

int
main (int argc, char **argv)
{
    s_cfg_t cfg = {
        .node_cpus_milli = 64000,
        .node_mem_mb = 512 * 1024,
        .task_cpus_milli = 1000,
        .task_mem_mb = 1024,
        .restart_overhead_ms = 30000,
    };
    st_error_t err = { 0 };
    st_rc_t rc = st_config_parse (s_opts, &cfg, argc, argv, s_usage_line, s_description, NULL, NULL, &err);
    if (rc == ST_EAGAIN) {
        fputs (s_epilogue, stdout);
        st_config_free (s_opts, &cfg);
        return 0;
    }
    int status = 0;
    sp_policy_t policy = SP_POLICY_DEFAULT;
    sim_limits_t limits = SIM_LIMITS_NONE;
    if (rc != ST_OK)
        status = s_usage_error ("%s", err.msg);
    else if (!cfg.trace)
        status = s_usage_error ("%s", "--trace FILE is required");
    else if (!cfg.policy)
        status = s_usage_error ("%s", "--policy is required (fifo, backfill, default, las or sjf)");
    else if (sp_policy_parse (cfg.policy, &policy) != 0)
        status = s_usage_error ("unknown policy '%s' (known: fifo, backfill, default, las, sjf)", cfg.policy);
    else if (!cfg.cluster == !cfg.nodes)
        status = s_usage_error ("%s", "give either --cluster FILE or --nodes N --gpus-per-node G");
    else if (cfg.nodes && !cfg.gpus_per_node)
        status = s_usage_error ("%s", "--nodes needs --gpus-per-node G (1 or more)");
    else if (cfg.cluster && cfg.gpus_per_node)
        status = s_usage_error ("%s", "--gpus-per-node goes with --nodes, not with --cluster");
    else if (strcmp (cfg.time_limits, "none") != 0 && strcmp (cfg.time_limits, "bucket") != 0)
        status = s_usage_error ("unknown --time-limits '%s' (known: none, bucket)", cfg.time_limits);
    if (status) {
        st_config_free (s_opts, &cfg);
        return status;
    }
    if (strcmp (cfg.time_limits, "bucket") == 0)
        limits = SIM_LIMITS_BUCKET;

    sim_trace_t trace = { 0 };
    sim_cluster_t cluster = { 0 };
    sim_t *sim = NULL;
    rc = sim_trace_load (cfg.trace, &trace, &err);
    if (rc == ST_OK)
        rc = cfg.cluster ? sim_cluster_load (&cluster, cfg.cluster, &err)
                         : sim_cluster_uniform (&cluster, (uint32_t) cfg.nodes, (uint32_t) cfg.gpus_per_node,
                                                cfg.gpu_type, cfg.node_cpus_milli, cfg.node_mem_mb, &err);
    if (rc == ST_OK) {
        sim_opts_t o;
        sim_opts_defaults (&o, policy);
        o.restart_overhead_s = (double) cfg.restart_overhead_ms / 1000;
        o.tick_s = (double) cfg.tick_ms / 1000;
        o.limits = limits;
        o.hide_durations = cfg.hide_durations;
        o.ignore_gpu_type = cfg.ignore_gpu_type;
        o.task_cpus_milli = cfg.task_cpus_milli;
        o.task_mem_mb = cfg.task_mem_mb;
        sim = sim_new (&trace, &cluster, &o, &err);
        if (!sim) {
            rc = err.rc ? err.rc : ST_EINVAL;
            /*  Errors about a job name its trace line: add the file.  */
            if (strncmp (err.msg, "line ", 5) == 0) {
                char msg[sizeof err.msg];
                snprintf (msg, sizeof msg, "%.400s", err.msg + 5);
                st_error_set (&err, rc, NULL, "%.200s:%.300s", cfg.trace, msg);
            }
        }
    }
    st_rc_t run_rc = rc;
    if (rc == ST_OK) {
        run_rc = sim_run (sim, &err);
        /*  The figures are printed even when some jobs never started.  */
        if (run_rc == ST_OK || run_rc == ST_ESTATE) {
            sim_summary_t m;
            sim_summary (sim, &m);
            s_print (&cfg, &cluster, &m);
            if (cfg.jobs_out) {
                st_error_t werr = { 0 };
                if (sim_write_jobs (sim, cfg.jobs_out, &werr) != ST_OK) {
                    fprintf (stderr, "strata-sim: error: %s\n", werr.msg);
                    status = 1;
                }
            }
        }
    }
    if (run_rc != ST_OK) {
        fprintf (stderr, "strata-sim: error: %s\n", err.msg);
        if (*err.hint)
            fprintf (stderr, "hint: %s\n", err.hint);
        status = 1;
    }
    sim_free (&sim);
    sim_cluster_free (&cluster);
    sim_trace_free (&trace);
    st_config_free (s_opts, &cfg);
    return status;
}
