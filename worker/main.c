/*  main.c: strata-worker's command line. Exit status: 0 after a clean stop
 *  (SIGTERM/SIGINT) or --help, 1 when the worker cannot start or fails, 2 for
 *  bad flags or config. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "st_config.h"
#include "cgroup.h"
#include "st_log.h"
#include "worker.h"

#define S_OFF(field) offsetof (st__worker_config_t, field)

static const st_opt_t s_options[] = {
    { "config", 'c', ST_OPT_PATH, S_OFF (config), 0, 0, "FILE",
      "read options from a YAML or JSON file (same names as the flags)", NULL },
    { "scheduler", 's', ST_OPT_STRING, S_OFF (scheduler), 0, 0, "ENDPOINT", "scheduler's worker endpoint",
      ST__WORKER_DEFAULT_ENDPOINT },
    { "node", 'n', ST_OPT_STRING, S_OFF (node), 0, 0, "NAME", "node name (default: the host name)", NULL },
    { "pool", 'p', ST_OPT_STRING, S_OFF (pool), 0, 0, "NAME", "pool this node belongs to", "default" },
    { "label", 'l', ST_OPT_KV, S_OFF (labels), 0, 0, "K=V", "node label (repeatable; \"labels\" mapping in a file)",
      NULL, "labels" },
    { "cpus", 0, ST_OPT_CPUS_MILLI, S_OFF (cpus_milli), 0, 0, "N",
      "CPUs offered, fractions allowed; 0: the online CPUs", NULL },
    { "memory", 0, ST_OPT_MEM_MB, S_OFF (mem_mb), 0, 0, "SIZE", "memory offered, e.g. 512M, 4G; 0: MemTotal", NULL },
    { "gpus", 0, ST_OPT_INT, S_OFF (gpus), -1, 256, "N", "GPUs offered; -1: count them with NVML", NULL },
    { "gpu-type", 0, ST_OPT_STRING, S_OFF (gpu_type), 0, 0, "TYPE", "GPU model (default: the NVML name of GPU 0)",
      NULL },
    { "state-dir", 0, ST_OPT_PATH, S_OFF (state_dir), 0, 0, "DIR", "task logs, working directories and pid files",
      ST__WORKER_DEFAULT_STATE_DIR },
    { "heartbeat-interval", 0, ST_OPT_DURATION_MS, S_OFF (heartbeat_ms), 10, 3600000, "DUR",
      "heartbeat period (the scheduler may set another)", NULL },
    { "scheduler-timeout", 0, ST_OPT_DURATION_MS, S_OFF (scheduler_timeout_ms), 100, 3600000, "DUR",
      "reconnect after this long without a word from the scheduler", NULL },
    { "log-level", 0, ST_OPT_STRING, S_OFF (log_level), 0, 0, "LEVEL", "debug, info, warn or error", "info" },
    { "curve-key", 0, ST_OPT_PATH, S_OFF (curve_key), 0, 0, "FILE",
      "this node's key pair (strata keygen NODE): talk to the scheduler over CURVE", NULL },
    { "scheduler-key", 0, ST_OPT_PATH, S_OFF (scheduler_key), 0, 0, "FILE", "the scheduler's public key (.pub)",
      NULL },
    { "task-user", 0, ST_OPT_STRING, S_OFF (task_user), 0, 0, "USER",
      "run tasks as USER (default: strata-task when the worker is root, else the worker's user); never root", NULL },
    { "tenant-user", 0, ST_OPT_KV, S_OFF (tenant_users), 0, 0, "TENANT=USER",
      "run the tasks of TENANT as USER (repeatable; a mapping in a file)", NULL },
    { "task-log-max", 0, ST_OPT_MEM_MB, S_OFF (task_log_max_mb), 0, 0, "SIZE",
      "keep at most SIZE of each output stream of a task, then a marker line (default 64M; 0: no cap)", NULL },
    { "task-retention", 0, ST_OPT_DURATION_MS, S_OFF (task_retention_ms), 0, 0, "DUR",
      "remove finished task folders unchanged for DUR (default 7d; 0: keep them)", NULL },
    { "min-free", 0, ST_OPT_MEM_MB, S_OFF (min_free_mb), 0, 0, "SIZE",
      "refuse new tasks while the state directory's file system has less free (default 1G; 0: no check)", NULL },
    { "hollow", 0, ST_OPT_INT, S_OFF (hollow), 0, ST__WORKER_HOLLOW_MAX, "N",
      "emulate N nodes <node>-0..<node>-N-1 (own connection each) that run nothing: a Launch ends after its "
      "simulated_ms with exit 0; needs --cpus and --memory (per node); no --state-dir is used",
      NULL },
    { "cgroup-root", 0, ST_OPT_STRING, S_OFF (cgroup_root), 0, 0, "PATH",
      "each task in its own cgroup under PATH/<node>.<id>: relative to the worker's own cgroup, or absolute from "
      "the hierarchy's root; \"none\": tasks run without cgroups",
      ST__CGROUP_DEFAULT_ROOT },
    { "cgroup-pids-max", 0, ST_OPT_INT, S_OFF (cgroup_pids_max), 16, 4194304, "N",
      "most processes (and threads) one task may have at once (its cgroup's pids.max)", NULL },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

int
main (int argc, char **argv)
{
    st__worker_config_t cfg;
    st__worker_config_defaults (&cfg);
    st_error_t err;
    st_error_clear (&err);
    int status = 1;
    st__worker_t *worker = NULL;
    st_log_init ("strata-worker", ST_LOG_INFO);

    st_rc_t rc = st_config_parse (s_options, &cfg, argc, argv, "strata-worker [OPTIONS]",
                                  "Runs the tasks a Strata scheduler places on this node.\n"
                                  "With --hollow N, emulates N nodes for scale tests: each registers and\n"
                                  "heartbeats on its own connection, declares the capacity given by --cpus,\n"
                                  "--memory, --gpus, --gpu-type, --pool and --label, and runs no process: a\n"
                                  "task is RUNNING at once and exits 0 after the Launch's simulated_ms\n"
                                  "(a job's simulate.duration); signals and time limits end it at once.",
                                  NULL, NULL, &err);
    if (rc == ST_EAGAIN) {
        status = 0;
        goto out;
    }
    if (rc != ST_OK) {
        fprintf (stderr, "strata-worker: error: %s\n", err.msg);
        if (err.hint[0])
            fprintf (stderr, "hint: %s\n", err.hint);
        status = 2;
        goto out;
    }
    st_log_level_t level = ST_LOG_INFO;
    if (cfg.log_level && st_log_level_parse (cfg.log_level, &level) != 0) {
        fprintf (stderr, "strata-worker: error: --log-level: unknown level '%s'\n", cfg.log_level);
        fprintf (stderr, "hint: use debug, info, warn or error\n");
        status = 2;
        goto out;
    }
    st_log_set_level (level);
    if (cfg.hollow > 0 && (!cfg.cpus_milli || !cfg.mem_mb)) {
        fprintf (stderr, "strata-worker: error: --hollow needs --cpus and --memory\n");
        fprintf (stderr,
                 "hint: hollow nodes declare their capacity (e.g. --cpus 8 --memory 32G); nothing is detected\n");
        status = 2;
        goto out;
    }

    worker = st__worker_new (&cfg, &err);
    if (!worker || st__worker_run (worker, &err) != ST_OK) {
        st_error ("%s", err.msg);
        if (err.hint[0])
            st_error ("hint: %s", err.hint);
        goto out;
    }
    status = 0;
out:
    st__worker_destroy (&worker);
    st_config_free (s_options, &cfg);
    return status;
}
