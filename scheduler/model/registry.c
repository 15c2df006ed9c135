/*  registry.c: fine-tuned model versions.
 *
 *  A finetune job whose spec names `output_model: NAME` registers, when it
 *  SUCCEEDS, its checkpoint (its STRATA_CHECKPOINT_DIR) as version N+1 of NAME
 *  for its tenant; st__store_flush writes the row in the same transaction as
 *  the SUCCEEDED state. Names are per tenant, so one tenant never sees or uses
 *  another's versions. A job that says `model: NAME` (the latest version) or
 *  `model: NAME:VERSION` uses one; which version is fixed when the job becomes
 *  placeable (deps.c), kept in jobs.model_ref and used by every attempt.
 *
 *  A bare NAME that the cluster's model registry knows (a family, a variant,
 *  auto) is that model; NAME:VERSION is always a fine-tune. A version carries
 *  where it may be used (st__registry_apply):
 *
 *    data         its training data's classification and residency: a job using
 *                 it gets the stricter classification and the residency allowed
 *                 by both its own data and the model's;
 *    checkpoint   Strata does not copy checkpoints: a job may use one only in a
 *                 pool of the jurisdiction where it was written (storage is
 *                 shared or replicated within a jurisdiction), or, when that
 *                 pool has no jurisdiction, only in that pool;
 *    base model   the variant it was trained from, whose allowed jurisdictions
 *                 the placement engine checks as for any model variant.
 *
 *  Versions live in memory for the scheduler's life (they are few: one per
 *  successful fine-tune) and every one is in model_versions. */
#include "model.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_log.h"

/*  model_versions.version is an integer column.  */
#define S_MAX_VERSION 2147483647u

/*  The versions of one (tenant, name), in increasing order. Normally version
 *  i + 1 is at i, but a row deleted by hand leaves a gap: versions are found
 *  by number, and the next one follows the highest.  */
typedef struct {
    st__model_version_t **v;
    size_t n, cap;
} s_model_t;

static size_t
s_key (char *key, size_t size, const char *tenant, const char *name)
{
    size_t a = strlen (tenant), b = strlen (name);
    if (a + b + 1 > size)
        return 0;
    memcpy (key, tenant, a);
    key[a] = '\0';
    memcpy (key + a + 1, name, b);
    return a + 1 + b;
}

static s_model_t *
s_model (st__model_t *s, const char *tenant, const char *name, int create)
{
    char key[256];
    size_t len = s_key (key, sizeof key, tenant, name);
    if (!len)
        return NULL;
    if (!s->ftmodels && !(create && (s->ftmodels = st_map_new ())))
        return NULL;
    s_model_t *m = st_map_get (s->ftmodels, key, len);
    if (!m && create) {
        if (!(m = calloc (1, sizeof *m)) || st_map_put (s->ftmodels, key, len, m) != 0)
            abort ();
    }
    return m;
}

int
st__registry_cluster_model (const st__model_t *s, const char *name)
{
    const sp_cluster_t *c = s->cluster;
    if (strcmp (name, "auto") == 0)
        return 1;
    for (size_t f = 0; c && f < c->nfamilies; f++) {
        if (strcmp (c->families[f].name, name) == 0)
            return 1;
        for (size_t v = 0; v < c->families[f].nvariants; v++)
            if (strcmp (c->families[f].variants[v].name, name) == 0)
                return 1;
    }
    return 0;
}

int
st__registry_is_finetune (const st__model_t *s, const st_spec_t *spec)
{
    return spec->model && (spec->model_version || !st__registry_cluster_model (s, spec->model));
}

const st__model_version_t *
st__registry_find (st__model_t *s, const char *tenant, const char *name, uint32_t version)
{
    s_model_t *m = s_model (s, tenant, name, 0);
    if (!m || m->n == 0)
        return NULL;
    if (version == 0)
        return m->v[m->n - 1];
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i]->version == version)
            return m->v[i];
    return NULL;
}

void
st__model_version_free (st__model_version_t *v)
{
    if (!v)
        return;
    free (v->tenant);
    free (v->name);
    free (v->checkpoint);
    free (v->pool);
    free (v->jurisdiction);
    free (v->variant);
    for (size_t i = 0; i < v->nresidency; i++)
        free (v->residency[i]);
    free (v->residency);
    free (v);
}

void
st__registry_add (st__model_t *s, st__model_version_t *v)
{
    s_model_t *m = s_model (s, v->tenant, v->name, 1);
    uint32_t last = m && m->n ? m->v[m->n - 1]->version : 0;
    if (!m || v->version <= last) {
        /*  Rows come ordered by version, unique by the primary key.  */
        st_warn ("model %s of tenant %s: version %u out of sequence; ignoring it", v->name, v->tenant, v->version);
        st__model_version_free (v);
        return;
    }
    if (v->version != last + 1) /*  rows deleted by hand: keep the numbers, and go on after the highest  */
        st_warn ("model %s of tenant %s: versions %u to %u are missing", v->name, v->tenant, last + 1,
                 v->version - 1);
    if (st_vec_push ((void **) &m->v, &m->n, &m->cap, sizeof v, ST__SCHED_ARRAY_MAX, &v))
        abort ();
}

static char *
s_dup (const char *text)
{
    char *p = text ? strdup (text) : NULL;
    if (text && !p)
        abort ();
    return p;
}

void
st__registry_register (st__model_t *s, st__job_t *job)
{
    const st_spec_t *sp = job->spec;
    if (!sp->output_model || sp->kind != ST_KIND_FINETUNE)
        return;
    s_model_t *m = s_model (s, sp->tenant, sp->output_model, 1);
    if (!m)
        abort (); /*  tenant and name are bounded by the spec: the key always fits  */
    uint32_t last = m->n ? m->v[m->n - 1]->version : 0;
    if (last >= S_MAX_VERSION) { /*  only a hand-edited row can get here  */
        st__add_event (s, job->id, -1, job->attempt, "model", NULL, NULL, NULL,
                       "model %s has reached its last version number (%u); nothing registered", sp->output_model,
                       last);
        st_warn ("job %" PRIu64 ": model %s of tenant %s is at version %u; nothing registered", job->id,
                 sp->output_model, sp->tenant, last);
        return;
    }
    st__model_version_t *v = calloc (1, sizeof *v);
    if (!v)
        abort ();
    char buf[4200];
    int pool = job->pool ? sp_cluster_pool (s->cluster, job->pool) : -1;
    v->tenant = s_dup (sp->tenant);
    v->name = s_dup (sp->output_model);
    v->version = last + 1;
    v->job_id = job->id;
    v->checkpoint = s_dup (st__job_checkpoint_dir (s, job, buf, sizeof buf));
    v->pool = s_dup (job->pool ? job->pool : "default");
    v->jurisdiction = s_dup (pool >= 0 ? s->cluster->pools[pool].jurisdiction : NULL);
    v->variant = s_dup (job->variant);
    /*  What the job was allowed (its view: its own data, narrowed by a model it used).  */
    v->classification = job->pj.classification;
    if (job->pj.nresidency) {
        if (!(v->residency = calloc (job->pj.nresidency, sizeof *v->residency)))
            abort ();
        for (size_t i = 0; i < job->pj.nresidency; i++)
            v->residency[v->nresidency++] = s_dup (job->pj.residency[i]);
    }
    v->created_wall = s->now_wall;
    if (st_vec_push ((void **) &m->v, &m->n, &m->cap, sizeof v, ST__SCHED_ARRAY_MAX, &v)
        || st_vec_push ((void **) &s->new_versions, &s->nnew_versions, &s->cap_new_versions, sizeof v,
                        ST__SCHED_ARRAY_MAX, &v))
        abort ();
    st__add_event (s, job->id, -1, job->attempt, "model", NULL, NULL, NULL, "registered model %s version %u%s%s",
                   v->name, v->version, v->checkpoint ? ": " : " (no checkpoint directory)",
                   v->checkpoint ? v->checkpoint : "");
    st_info ("job %" PRIu64 " registered model %s:%u of tenant %s (checkpoint %s)", job->id, v->name, v->version,
             v->tenant, v->checkpoint ? v->checkpoint : "none");
}

static int
s_in (const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp (list[i], s) == 0)
            return 1;
    return 0;
}

static void
s_join (const char *const *list, size_t n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++)
        used += (size_t) snprintf (buf + used, size - used, "%s%s", i ? ", " : "", list[i]);
}

/*  Where a job of spec sp may use version v: *list (n jurisdictions, NULL
 *  when any; caller frees) and *pool (NULL: any). Returns 0, or -1 with why
 *  when nowhere.  */
static int
s_fit (const st_spec_t *sp, const st__model_version_t *v, const char ***out, size_t *nout, const char **pool_out,
       char *why, size_t size)
{
    char ref[200], mine[200], theirs[200];
    snprintf (ref, sizeof ref, "%s:%u", v->name, v->version);
    /*  Residency: where both the job's own data and the model's may go ...  */
    size_t cap = sp->nresidency + v->nresidency + 1, n = 0;
    const char **list = calloc (cap, sizeof *list);
    if (!list)
        abort ();
    int any = 1; /*  no restriction so far  */
    if (sp->nresidency) {
        for (size_t i = 0; i < sp->nresidency; i++)
            list[n++] = sp->residency[i];
        any = 0;
    }
    if (v->nresidency) {
        if (any) {
            for (size_t i = 0; i < v->nresidency; i++)
                list[n++] = v->residency[i];
        }
        else {
            size_t k = 0;
            for (size_t i = 0; i < n; i++)
                if (s_in ((const char *const *) v->residency, v->nresidency, list[i]))
                    list[k++] = list[i];
            n = k;
        }
        any = 0;
    }
    if (!any && n == 0) {
        s_join ((const char *const *) sp->residency, sp->nresidency, mine, sizeof mine);
        s_join ((const char *const *) v->residency, v->nresidency, theirs, sizeof theirs);
        snprintf (why, size,
                  "the job's data may only go to %s and model %s was trained on data that may only go to "
                  "%s: no jurisdiction allows both",
                  mine, ref, theirs);
        free (list);
        return -1;
    }
    /*  ... and where its checkpoint may be read: its jurisdiction, or its pool.  */
    const char *pool = NULL;
    if (v->jurisdiction) {
        if (!any && !s_in (list, n, v->jurisdiction)) {
            s_join (list, n, mine, sizeof mine);
            snprintf (why, size,
                      "model %s's checkpoint is in jurisdiction %s, where the job's data may not go "
                      "(only %s)",
                      ref, v->jurisdiction, mine);
            free (list);
            return -1;
        }
        list[0] = v->jurisdiction;
        n = 1;
    }
    else {
        if (!any) {
            s_join (list, n, mine, sizeof mine);
            snprintf (why, size,
                      "model %s's checkpoint can only be read in pool %s, which has no jurisdiction, and "
                      "the job's data must stay in %s",
                      ref, v->pool, mine);
            free (list);
            return -1;
        }
        if (sp->pool && strcmp (sp->pool, v->pool) != 0) {
            snprintf (why, size,
                      "model %s's checkpoint can only be read in pool %s (a pool without a "
                      "jurisdiction), but the job asks for pool %s",
                      ref, v->pool, sp->pool);
            free (list);
            return -1;
        }
        pool = v->pool;
    }
    *out = list;
    *nout = n;
    *pool_out = pool;
    return 0;
}

int
st__registry_check (const st_spec_t *sp, const st__model_version_t *v, char *why, size_t size)
{
    const char **list = NULL, *pool = NULL;
    size_t n = 0;
    int rc = s_fit (sp, v, &list, &n, &pool, why, size);
    free ((void *) list);
    return rc;
}

int
st__registry_apply (st__model_t *s, st__job_t *job, const st__model_version_t *v, char *why, size_t size)
{
    const char **list = NULL, *pool = NULL;
    size_t n = 0;
    char ref[200];
    if (s_fit (job->spec, v, &list, &n, &pool, why, size) != 0)
        return -1;
    snprintf (ref, sizeof ref, "%s:%u", v->name, v->version);
    free ((void *) job->eff_residency);
    job->eff_residency = list;
    job->pj.residency = n ? list : NULL;
    job->pj.nresidency = n;
    if (v->classification > job->pj.classification)
        job->pj.classification = v->classification;
    if (pool)
        job->pj.pool = pool;
    job->pj.model = v->variant;
    job->ft_version = v->version;
    job->model_uri = v->checkpoint;
    if (!job->model_ref || strcmp (job->model_ref, ref) != 0) {
        free (job->model_ref);
        job->model_ref = s_dup (ref);
        st__mark_job (s, job);
    }
    return 0;
}

typedef struct {
    const st__model_version_t **out;
    size_t n;
} s_list_t;

static void
s_collect (void *value, void *arg)
{
    s_model_t *m = value;
    s_list_t *l = arg;
    for (size_t i = 0; i < m->n; i++)
        l->out[l->n++] = m->v[i];
}

static void
s_count (void *value, void *arg)
{
    *(size_t *) arg += ((s_model_t *) value)->n;
}

static int
s_by_key (const void *a, const void *b)
{
    const st__model_version_t *x = *(const st__model_version_t *const *) a;
    const st__model_version_t *y = *(const st__model_version_t *const *) b;
    int c = strcmp (x->tenant, y->tenant);
    if (!c)
        c = strcmp (x->name, y->name);
    return c ? c : (x->version > y->version) - (x->version < y->version);
}

size_t
st__registry_list (st__model_t *s, const st__model_version_t ***out)
{
    size_t total = 0;
    if (s->ftmodels)
        st_map_foreach (s->ftmodels, s_count, &total);
    s_list_t l = { .out = calloc (total + 1, sizeof *l.out) };
    if (!l.out)
        abort ();
    if (s->ftmodels)
        st_map_foreach (s->ftmodels, s_collect, &l);
    qsort (l.out, l.n, sizeof *l.out, s_by_key);
    *out = l.out;
    return l.n;
}

static void
s_free_model (void *value, void *arg)
{
    (void) arg;
    s_model_t *m = value;
    for (size_t i = 0; i < m->n; i++)
        st__model_version_free (m->v[i]);
    free (m->v);
    free (m);
}

void
st__registry_free (st__model_t *s)
{
    if (s->ftmodels)
        st_map_foreach (s->ftmodels, s_free_model, NULL);
    st_map_destroy (&s->ftmodels);
    free (s->new_versions);
    s->new_versions = NULL;
    s->nnew_versions = s->cap_new_versions = 0;
}
