/*  sim_cluster.h: the simulated cluster: an sp_cluster_t and its nodes.
 *
 *  Either N identical nodes in one pool "default" (--nodes, --gpus-per-node),
 *  or a cluster file: the placement engine's own format (sp_cluster_parse;
 *  docs/placement.md) plus a `nodes:` list that only strata-sim reads:
 *
 *      nodes:
 *        - name: a100          # with count > 1, the nodes are a100-0001, a100-0002, ...
 *          count: 32           # default 1
 *          pool: onprem        # a pool of the file (or a new implicit one)
 *          gpus: 8             # default 0
 *          gpu_type: A100      # default "gpu" when gpus > 0
 *          cpus: 64            # default 64
 *          memory: 512G        # default 512G
 *          labels: {rack: r1}  # optional
 *
 *  The `nodes` key is taken out before the rest goes to sp_cluster_parse. */
#ifndef SIM_CLUSTER_H
#define SIM_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "st_error.h"

#define SIM_DEFAULT_GPU_TYPE "gpu"
#define SIM_MAX_NODES 100000
#define SIM_MAX_NODE_GPUS 1024

typedef struct {
    sp_cluster_t *cluster;
    sp_node_t *nodes;
    size_t nnodes, cap_nodes;
    char **strings; /*  node names and GPU types, owned  */
    size_t nstrings, cap_strings;
    st_kv_t **labels; /*  one per `nodes:` entry with labels, owned  */
    size_t nlabels, cap_labels;
} sim_cluster_t;

/*  `nodes` identical nodes named n-0001... (n when only one) in pool "default".  */
st_rc_t sim_cluster_uniform (sim_cluster_t *c, uint32_t nodes, uint32_t gpus, const char *gpu_type,
                             uint32_t cpus_milli, uint64_t mem_mb, st_error_t *err);
st_rc_t sim_cluster_load (sim_cluster_t *c, const char *path, st_error_t *err);
void sim_cluster_free (sim_cluster_t *c);

#endif
