/*  client_cluster.c: the Pools and Models requests on the client socket.
 *
 *  Both are answered from memory: the cluster description (the model's cluster) and,
 *  for the live figures of each pool, the nodes the scheduler knows; Models
 *  adds the registered versions of fine-tuned models (model/registry.c) of the
 *  principal's tenants (the families of the description are everyone's). A node's
 *  pool that the description does not name is listed as implicit, with the
 *  placement engine's defaults (sp_cluster_pool_add_implicit). The replies
 *  point into the description and the nodes; only the arrays are allocated. */
#include "net.h"

#include <stdlib.h>
#include <string.h>

#include "st_log.h"

typedef struct {
    Strata__PoolInfo *items; /*  room for every pool of the cluster and one per node  */
    size_t n;
    sp_cluster_t *implicit; /*  the pools only nodes name; created on first need  */
} s_pools_t;

static void
s_pool_from (Strata__PoolInfo *pi, const sp_pool_t *p)
{
    strata__pool_info__init (pi);
    pi->name = p->name;
    pi->site = (char *) sp_site_name (p->site);
    pi->region = p->region ? p->region : "";
    pi->jurisdiction = p->jurisdiction ? p->jurisdiction : "";
    pi->clearance = (char *) sp_class_name (p->clearance);
    pi->cost_gpu_hour = p->cost_gpu_hour;
    pi->cost_cpu_hour = p->cost_cpu_hour;
    pi->pue = p->pue;
    pi->carbon_g_per_kwh = p->carbon_g_per_kwh;
    pi->gpu_watts = p->gpu_watts;
    pi->cpu_watts = p->cpu_watts;
    pi->storage_root = p->storage_root ? p->storage_root : "";
    pi->implicit = p->implicit != 0;
}

static Strata__PoolInfo *
s_pool_find (s_pools_t *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp (c->items[i].name, name) == 0)
            return &c->items[i];
    return NULL;
}

static void
s_count_node (void *value, void *arg)
{
    s_pools_t *c = arg;
    const st__node_t *n = value;
    const char *name = n->pool ? n->pool : "default";
    Strata__PoolInfo *pi = s_pool_find (c, name);
    if (!pi) {
        if (!c->implicit && !(c->implicit = sp_cluster_new ()))
            abort ();
        int idx = sp_cluster_pool_add_implicit (c->implicit, name);
        if (idx < 0)
            abort ();
        pi = &c->items[c->n++];
        s_pool_from (pi, &c->implicit->pools[idx]);
    }
    pi->nodes++;
    if (n->state != ST__NODE_UP || !n->connected)
        return;
    pi->nodes_up++;
    pi->gpus_total += n->cap_gpus;
    pi->gpus_free += n->cap_gpus > n->used_gpus ? n->cap_gpus - n->used_gpus : 0;
    pi->cpus_total_milli += n->cap_cpus_milli;
    pi->cpus_free_milli += n->cap_cpus_milli > n->used_cpus_milli ? n->cap_cpus_milli - n->used_cpus_milli : 0;
    pi->mem_total_mb += n->cap_mem_mb;
    pi->mem_free_mb += n->cap_mem_mb > n->used_mem_mb ? n->cap_mem_mb - n->used_mem_mb : 0;
}

static int
s_by_name (const void *a, const void *b)
{
    return strcmp ((*(Strata__PoolInfo *const *) a)->name, (*(Strata__PoolInfo *const *) b)->name);
}

/*  Sends out; a reply over the frame cap becomes an error the client can read.  */
static void
s_send (st__net_t *s, const st_peer_t *peer, uint64_t reply_to, Strata__Envelope *out)
{
    st_rc_t rc = st_wire_send (s->client_sock, peer, out);
    if (rc == ST_ETOOBIG)
        st__client_error (s, peer, reply_to, STRATA__ERROR_CODE__ERROR_INTERNAL, "the answer is too large to send",
                          NULL);
    else if (rc != ST_OK)
        st_debug ("could not reply %s to a client: %s", st_wire_body_name (out), st_strerror (rc));
}

void
st__client_pools (st__net_t *s, const st_peer_t *peer, const st__principal_t *who, const Strata__Envelope *env)
{
    (void) who; /*  the pools are the cluster's, not a tenant's: every user sees them  */
    const sp_cluster_t *cluster = s->m->cluster;
    size_t npools = cluster ? cluster->npools : 0;
    s_pools_t c = { .items = calloc (npools + st_map_size (s->m->nodes) + 1, sizeof (Strata__PoolInfo)) };
    if (!c.items)
        abort ();
    for (size_t i = 0; i < npools; i++)
        s_pool_from (&c.items[c.n++], &cluster->pools[i]);
    st_map_foreach (s->m->nodes, s_count_node, &c);

    Strata__PoolInfo **ptrs = calloc (c.n + 1, sizeof *ptrs);
    if (!ptrs)
        abort ();
    for (size_t i = 0; i < c.n; i++)
        ptrs[i] = &c.items[i];
    qsort (ptrs, c.n, sizeof *ptrs, s_by_name);

    Strata__Envelope out;
    Strata__PoolsReply rep = STRATA__POOLS_REPLY__INIT;
    st_wire_envelope_init (&out, st__net_next_seq (s));
    out.reply_to = env->seq;
    rep.n_pools = c.n;
    rep.pools = ptrs;
    out.body_case = STRATA__ENVELOPE__BODY_POOLS_REPLY;
    out.pools_reply = &rep;
    s_send (s, peer, env->seq, &out);
    free (ptrs);
    free (c.items);
    sp_cluster_free (&c.implicit);
}

void
st__client_models (st__net_t *s, const st_peer_t *peer, const st__principal_t *who, const Strata__Envelope *env)
{
    const sp_cluster_t *cluster = s->m->cluster;
    size_t nfamilies = cluster ? cluster->nfamilies : 0, nvariants = 0;
    for (size_t f = 0; f < nfamilies; f++)
        nvariants += cluster->families[f].nvariants;
    Strata__ModelFamily *fams = calloc (nfamilies + 1, sizeof *fams);
    Strata__ModelFamily **fptrs = calloc (nfamilies + 1, sizeof *fptrs);
    Strata__ModelVariant *vars = calloc (nvariants + 1, sizeof *vars);
    Strata__ModelVariant **vptrs = calloc (nvariants + 1, sizeof *vptrs);
    if (!fams || !fptrs || !vars || !vptrs)
        abort ();
    size_t k = 0;
    for (size_t f = 0; f < nfamilies; f++) {
        const sp_family_t *fam = &cluster->families[f];
        strata__model_family__init (&fams[f]);
        fams[f].name = fam->name;
        fams[f].variants = &vptrs[k];
        fams[f].n_variants = fam->nvariants;
        for (size_t v = 0; v < fam->nvariants; v++, k++) {
            const sp_variant_t *var = &fam->variants[v];
            strata__model_variant__init (&vars[k]);
            vars[k].name = var->name;
            vars[k].jurisdictions = var->jurisdictions;
            vars[k].n_jurisdictions = var->njurisdictions;
            vars[k].uri = var->uri ? var->uri : "";
            vptrs[k] = &vars[k];
        }
        fptrs[f] = &fams[f];
    }

    /*  Then the registered versions of fine-tuned models (model/registry.c), of
     *  the principal's tenants only: their checkpoints are the tenant's data.  */
    const st__model_version_t **list = NULL;
    size_t nall = st__registry_list (s->m, &list), nversions = 0;
    Strata__ModelVersion *mvs = calloc (nall + 1, sizeof *mvs);
    Strata__ModelVersion **mptrs = calloc (nall + 1, sizeof *mptrs);
    if (!mvs || !mptrs)
        abort ();
    for (size_t at = 0; at < nall; at++) {
        const st__model_version_t *v = list[at];
        if (!st__authz_member (who, v->tenant))
            continue;
        size_t i = nversions++;
        Strata__ModelVersion *m = &mvs[i];
        strata__model_version__init (m);
        m->tenant = v->tenant;
        m->name = v->name;
        m->version = v->version;
        m->job_id = v->job_id;
        m->pool = v->pool;
        m->jurisdiction = v->jurisdiction ? v->jurisdiction : "";
        m->base_variant = v->variant ? v->variant : "";
        m->classification = (char *) sp_class_name (v->classification);
        m->residency = v->residency;
        m->n_residency = v->nresidency;
        m->checkpoint = v->checkpoint ? v->checkpoint : "";
        m->created_unix_ms = v->created_wall;
        mptrs[i] = m;
    }

    Strata__Envelope out;
    Strata__ModelsReply rep = STRATA__MODELS_REPLY__INIT;
    st_wire_envelope_init (&out, st__net_next_seq (s));
    out.reply_to = env->seq;
    rep.n_families = nfamilies;
    rep.families = fptrs;
    rep.n_versions = nversions;
    rep.versions = mptrs;
    out.body_case = STRATA__ENVELOPE__BODY_MODELS_REPLY;
    out.models_reply = &rep;
    s_send (s, peer, env->seq, &out);
    free (mptrs);
    free (mvs);
    free ((void *) list);
    free (vptrs);
    free (vars);
    free (fptrs);
    free (fams);
}
