/*  filter.c: the hard constraints. No flag, weight or priority overrides them.
 *
 *  Pool level (sp_filter_pool), in this order: the pool the job names, allowed
 *  site kinds, data classification <= clearance, jurisdiction in residency,
 *  latency from `near`, a model variant allowed in the pool's jurisdiction.
 *  Node level (sp_filter_node): schedulable, labels, GPU type, capacity when
 *  idle. The engine checks the same rules through these functions, so what
 *  explain says and what the cycle does cannot drift apart. */
#include "policy_int.h"

#include <string.h>

static int
s_in_list (const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (list[i] && strcmp (list[i], s) == 0)
            return 1;
    return 0;
}

static void
s_join (const char *const *list, size_t n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        sp__catf (buf, size, &used, "%s%s", i ? ", " : "", list[i] ? list[i] : "?");
}

/*  Says why (into buf, when given) and returns; with buf NULL, returns "".  */
#define S_SAY(...)                         \
    do {                                   \
        if (!buf)                          \
            return "";                     \
        snprintf (buf, size, __VA_ARGS__); \
        return buf;                        \
    } while (0)

const char *
sp_filter_pool (const sp_cluster_t *c, int pool, const sp_job_t *job, char *buf, size_t size)
{
    char list[160];
    if (pool < 0 || (size_t) pool >= c->npools) {
        S_SAY ("no such pool");
    }
    const sp_pool_t *p = &c->pools[pool];
    if (job->pool && strcmp (job->pool, p->name) != 0) {
        S_SAY ("the job asks for pool %s", job->pool);
    }
    if (job->sites && !(job->sites & (1u << p->site))) {
        size_t used = 0;
        list[0] = '\0';
        for (int s = 0; s < SP_SITE__COUNT; s++)
            if (job->sites & (1u << s))
                sp__catf (list, sizeof list, &used, "%s%s", used ? ", " : "", sp_site_name ((sp_site_t) s));
        S_SAY ("site kind %s is not among the job's sites (%s)", sp_site_name (p->site), list);
    }
    if (job->classification > p->clearance) {
        S_SAY ("clearance %s is below the job's %s data", sp_class_name (p->clearance),
               sp_class_name (job->classification));
    }
    if (job->nresidency) {
        s_join (job->residency, job->nresidency, list, sizeof list);
        if (!p->jurisdiction) {
            S_SAY ("the pool has no jurisdiction and the job's data must stay in %s", list);
        }
        if (!s_in_list (job->residency, job->nresidency, p->jurisdiction)) {
            S_SAY ("jurisdiction %s is not in the job's residency (%s)", p->jurisdiction, list);
        }
    }
    if (job->near && job->max_latency_ms) {
        double ms = sp__latency_idx (c, sp__region_index (c, job->near), p->region_idx);
        if (ms < 0) {
            S_SAY ("latency from %s to %s is unknown and the job allows at most %u ms", job->near,
                   p->region ? p->region : "this pool", job->max_latency_ms);
        }
        if (ms > job->max_latency_ms) {
            S_SAY ("latency from %s is %g ms, over the job's limit of %u ms", job->near, ms, job->max_latency_ms);
        }
    }
    if (job->model) {
        if (!sp__model_known (c, job->model)) {
            S_SAY ("model %s is not in the model registry", job->model);
        }
        if (!p->jurisdiction) {
            S_SAY ("the pool has no jurisdiction, so no variant of model %s is cleared for it", job->model);
        }
        if (!sp_cluster_variant (c, job->model, p->jurisdiction)) {
            S_SAY ("no variant of model %s may run in jurisdiction %s", job->model, p->jurisdiction);
        }
    }
    return NULL;
}

/*  Labels and GPU type: what never changes while the node is up. With buf
 *  NULL (the engine's hot path) a refusal returns "" without any formatting.  */
static const char *
s_node_kind (const sp_node_t *node, const char *gpu_type, const sp_job_t *job, char *buf, size_t size)
{
    for (size_t i = 0; job->labels && i < job->labels->n; i++) {
        const char *want = job->labels->vals[i] ? job->labels->vals[i] : "";
        const char *have = node->labels ? st_kv_get (node->labels, job->labels->keys[i]) : NULL;
        if (!buf && (!have || strcmp (have, want) != 0))
            return "";
        if (!have) {
            snprintf (buf, size, "node has no label %s (the job needs %s=%s)", job->labels->keys[i],
                      job->labels->keys[i], want);
            return buf;
        }
        if (strcmp (have, want) != 0) {
            snprintf (buf, size, "node label %s is %s, the job needs %s", job->labels->keys[i], have, want);
            return buf;
        }
    }
    if (job->gpus && job->ngpu_types && !s_in_list (job->gpu_types, job->ngpu_types, gpu_type)) {
        char list[160];
        if (!buf)
            return "";
        s_join (job->gpu_types, job->ngpu_types, list, sizeof list);
        snprintf (buf, size, "GPU type %s is not in the job's list (%s)", *gpu_type ? gpu_type : "(none)", list);
        return buf;
    }
    return NULL;
}

const char *
sp_filter_node (const sp_cluster_t *c, const sp_node_t *node, const sp_job_t *job, char *buf, size_t size)
{
    (void) c;
    const char *gpu_type = node->gpu_type ? node->gpu_type : "";
    if (!node->schedulable && node->refusing) {
        snprintf (buf, size, "node %s takes no new tasks: %s", node->name ? node->name : "?", node->refusing);
        return buf;
    }
    if (!node->schedulable) {
        snprintf (buf, size, "node %s is down or not connected", node->name ? node->name : "?");
        return buf;
    }
    if (s_node_kind (node, gpu_type, job, buf, size))
        return buf;
    if (job->gpus > node->cap_gpus) {
        if (node->cap_gpus == 0)
            snprintf (buf, size, "node has no GPU, a task needs %u", job->gpus);
        else
            snprintf (buf, size, "a task needs %u GPU, the node has %u", job->gpus, node->cap_gpus);
        return buf;
    }
    if (job->cpus_milli > node->cap_cpus_milli) {
        snprintf (buf, size, "a task needs %g CPU, the node has %g", job->cpus_milli / 1000.0,
                  node->cap_cpus_milli / 1000.0);
        return buf;
    }
    if (job->mem_mb > node->cap_mem_mb) {
        snprintf (buf, size, "a task needs %llu MiB, the node has %llu", (unsigned long long) job->mem_mb,
                  (unsigned long long) node->cap_mem_mb);
        return buf;
    }
    return NULL;
}

int
sp__node_kind_ok (const sp_node_t *node, const sp_job_t *job)
{
    return s_node_kind (node, node->gpu_type ? node->gpu_type : "", job, NULL, 0) == NULL;
}
