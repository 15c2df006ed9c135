/*  order.c: who goes first.
 *
 *  Order of the pending jobs, for every policy: priority (higher first), then
 *
 *    default   fair share: among the (tenant, queue) groups with jobs at this
 *              priority, the group whose tenant has the least
 *                  (usage + half_life * GPUs it holds now) / (tenant weight * queue weight)
 *              goes next; the key is read again after each placement, so one
 *              cycle interleaves tenants by their shares. Inside a group:
 *              least attained service first (Tiresias queues), jobs waiting
 *              longer than S_STARVE_S first (oldest first), then fewer GPUs,
 *              shorter time limit, submit time, id. Small and short jobs first
 *              helps the average completion time without knowing durations;
 *              the age rule bounds how long a large job can be passed over.
 *    fifo, backfill   submit time, id.
 *    las       Tiresias queue of attained GPU-service, then submit time, id.
 *    sjf       known duration (oracle), then submit time, id.
 *
 *  Sorting 50,000 jobs every cycle would cost more than the rest of the cycle,
 *  and the queue barely changes between cycles. So the engine remembers, per
 *  job (its pointer and id, checked against a fingerprint of its fields), its
 *  keys and rank in the last cycle's order and its class. Jobs whose keys are
 *  unchanged keep their relative order (a counting pass over the old ranks);
 *  only new and changed jobs are sorted, then merged in: O(n + k log k). */
#include "policy_int.h"

#include <stdlib.h>
#include <string.h>

#define S_STARVE_S (24.0 * 3600.0)
#define S_MAX_NAMES 65536 /*  interned tenant or queue names before a reset  */
#define S_NONE UINT32_MAX

/*  ---------------------------------------------------------------------------
 *  Interned names (tenants, queues): stable small ids across cycles  */

static int32_t
s_intern (sp__intern_t *t, const char *name)
{
    if (!t->ids && !(t->ids = st_map_new ()))
        return -1;
    size_t len = strlen (name);
    void *known = st_map_get (t->ids, name, len);
    if (known)
        return (int32_t) ((intptr_t) known - 1);
    /*  A cycle may pass S_MAX_NAMES (the next one starts afresh), not SP__ARRAY_MAX.  */
    if (st_vec_reserve ((void **) &t->names, &t->cap, t->n + 1, sizeof *t->names, SP__ARRAY_MAX) != ST_OK)
        return -1;
    char *copy = strdup (name);
    if (!copy)
        return -1;
    if (st_map_put (t->ids, copy, len, (void *) (intptr_t) (t->n + 1)) != 0) {
        free (copy);
        return -1;
    }
    t->names[t->n] = copy;
    return (int32_t) t->n++;
}

void
sp__intern_free (sp__intern_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        free (t->names[i]);
    free (t->names);
    st_map_destroy (&t->ids);
    memset (t, 0, sizeof *t);
}

/*  ---------------------------------------------------------------------------
 *  The per-job memo  */

/*  A job is recognised by its pointer, id and the fields at the start of
 *  sp_job_t (one cache line: tenant, queue, priority, shape). The rest of a
 *  pending job is not read again while it waits (policy.h: it must not
 *  change), which saves three cache misses per job per cycle.  */
static uint64_t
s_shallow (const sp_job_t *j)
{
    uint64_t h = sp__hash_u64 (0xcbf29ce484222325ull, j->id);
    h = sp__hash_u64 (h, ((uint64_t) j->gang << 63) ^ ((uint64_t) j->ntasks << 32) ^ j->cpus_milli);
    h = sp__hash_u64 (h, j->mem_mb ^ ((uint64_t) j->gpus << 48) ^ ((uint64_t) (uint32_t) j->priority << 16)
                             ^ (uint64_t) j->preemptible);
    return sp__hash_u64 (h, (uintptr_t) j->tenant ^ ((uintptr_t) j->queue << 1));
}

static size_t
s_ptr_slot (const void *p, size_t cap)
{
    uint64_t h = (uintptr_t) p;
    h ^= h >> 17;
    h *= 0x9e3779b97f4a7c15ull;
    return (size_t) (h >> 20) & (cap - 1);
}

/*  Last cycle's memo index of job, or S_NONE.  */
static uint32_t
s_memo_find (const sp_engine_t *e, const sp_job_t *job)
{
    if (!e->mslots)
        return S_NONE;
    for (size_t s = s_ptr_slot (job, e->nmslots);; s = (s + 1) & (e->nmslots - 1)) {
        uint32_t i = e->mslots[s];
        if (i == S_NONE)
            return S_NONE;
        if (e->memo[i].job == job)
            return i;
    }
}

/*  Makes e->memo (n entries, just written) findable by job pointer.  */
static int
s_memo_index (sp_engine_t *e)
{
    size_t want = 64;
    while (want < e->nmemo * 2 + 2)
        want *= 2;
    if (want != e->nmslots) {
        uint32_t *s = malloc (want * sizeof *s);
        if (!s)
            return -1;
        free (e->mslots);
        e->mslots = s;
        e->nmslots = want;
    }
    memset (e->mslots, 0xff, e->nmslots * sizeof *e->mslots);
    for (size_t i = 0; i < e->nmemo; i++) {
        size_t s = s_ptr_slot (e->memo[i].job, e->nmslots);
        while (e->mslots[s] != S_NONE)
            s = (s + 1) & (e->nmslots - 1);
        e->mslots[s] = (uint32_t) i;
    }
    return 0;
}

/*  ---------------------------------------------------------------------------
 *  Keys  */

/*  What the order needs of a job, read from it once.  */
static void
s_facts (const sp_job_t *j, sp__facts_t *f)
{
    f->prio = j->priority;
    f->las = sp__las_queue (j->attained_gpu_s);
    f->submit = j->submit_s;
    f->gpus_total = sp__job_gpus (j);
    f->time_limit_s = j->time_limit_s;
    f->duration_s = j->duration_s;
}

static void
s_keys (const sp__order_t *o, const sp__facts_t *f, sp__entry_t *e)
{
    e->prio = f->prio;
    e->submit = f->submit;
    e->k1 = e->k2 = e->k3 = 0;
    switch (o->policy) {
    case SP_POLICY_DEFAULT: {
        int starved = o->now - f->submit > S_STARVE_S;
        e->k1 = f->las * 2 + !starved;
        if (!starved) {
            e->k2 = (double) f->gpus_total;
            e->k3 = f->time_limit_s ? (double) f->time_limit_s : INFINITY;
        }
        break;
    }
    case SP_POLICY_LAS:
        e->k1 = f->las;
        break;
    case SP_POLICY_SJF:
        e->k1 = f->duration_s;
        break;
    default:
        break;
    }
}

static int
s_before (const sp__entry_t *x, const sp__entry_t *y, int by_group)
{
    if (x->prio != y->prio)
        return x->prio > y->prio;
    if (by_group && x->gkey != y->gkey)
        return x->gkey < y->gkey;
    if (x->k1 != y->k1)
        return x->k1 < y->k1;
    if (x->k2 != y->k2)
        return x->k2 < y->k2;
    if (x->k3 != y->k3)
        return x->k3 < y->k3;
    if (x->submit != y->submit)
        return x->submit < y->submit;
    return x->id < y->id;
}

typedef struct {
    const sp__entry_t *base;
    int by_group;
} s_sort_t;

static int
s_cmp (const void *a, const void *b, void *arg)
{
    const s_sort_t *st = arg;
    const sp__entry_t *x = &st->base[*(const uint32_t *) a], *y = &st->base[*(const uint32_t *) b];
    return s_before (x, y, st->by_group) ? -1 : s_before (y, x, st->by_group) ? 1 : 0;
}

static int
s_same_keys (const sp__entry_t *e, const sp__memo_t *m)
{
    return e->prio == m->prio && e->gkey == m->gkey && e->k1 == m->k1 && e->k2 == m->k2 && e->k3 == m->k3
           && e->submit == m->submit && e->id == m->id;
}

/*  ---------------------------------------------------------------------------
 *  Tenants and groups of one cycle  */

static sp__tenant_t *
s_tenant (sp__order_t *o, int32_t tid)
{
    sp__tenant_t *t = &o->tenants[tid];
    if (!t->name) {
        const sp_tenant_t *conf;
        t->name = o->e->tenant_names.names[tid];
        conf = sp_cluster_tenant (o->c, t->name);
        t->weight = conf ? conf->weight : 1.0;
        t->quota = conf ? conf->gpu_quota : -1;
        t->usage = -1; /*  read once the running jobs are charged  */
    }
    return t;
}

static int
s_group_of (sp__order_t *o, sp__entry_t *e, int32_t qid)
{
    size_t i = sp__hash_u64 (0, e->gkey) & (o->gcap - 1);
    while (o->gslot[i] >= 0) {
        if (o->groups[o->gslot[i]].gkey == e->gkey)
            return o->gslot[i];
        i = (i + 1) & (o->gcap - 1);
    }
    if (o->ngroups == o->groups_cap || (o->ngroups + 1) * 2 > o->gcap)
        return -1; /*  sized for the worst case below; cannot happen  */
    int idx = (int) o->ngroups++;
    sp__grp_t *g = &o->groups[idx];
    o->gslot[i] = idx;
    g->gkey = e->gkey;
    g->tenant = e->tenant;
    g->queue = o->e->queue_names.names[qid];
    g->qweight = sp_cluster_queue_weight (o->c, g->queue);
    return idx;
}

/*  ---------------------------------------------------------------------------
 *  Building the order  */

/*  Fills entry e for job j (the k-th pending job): memo hit or fresh
 *  interning. The memo is in last cycle's input order, and callers mostly
 *  pass the jobs in the same order, with some removed or moved: the memo is
 *  read at k + *drift first, sequentially, and the drift follows what the
 *  pointer lookup finds. *prev: the job's rank last cycle when its keys are
 *  unchanged, else S_NONE. Returns 0 or -1.  */
static int
s_entry (sp__order_t *o, sp_job_t *j, size_t k, ptrdiff_t *drift, sp__entry_t *e, uint32_t *prev)
{
    sp_engine_t *en = o->e;
    uint64_t shallow = s_shallow (j);
    ptrdiff_t at = (ptrdiff_t) k + *drift;
    uint32_t pi = at >= 0 && (size_t) at < en->nmemo && en->memo[at].job == j ? (uint32_t) at : s_memo_find (en, j);
    if (pi != S_NONE)
        *drift = (ptrdiff_t) pi - (ptrdiff_t) k;
    const sp__memo_t *m = pi == S_NONE ? NULL : &en->memo[pi];
    int32_t tid, qid;
    e->job = j;
    e->id = j->id;
    if (m && m->id == j->id && m->shallow == shallow && m->names_gen == en->names_gen && !m->placed) {
        tid = m->tid;
        qid = m->qid;
        e->ent = m->kgen == en->kgen ? m->ent : NULL;
        e->facts = m->facts;
    }
    else {
        m = NULL;
        tid = s_intern (&en->tenant_names, j->tenant ? j->tenant : "default");
        qid = s_intern (&en->queue_names, j->queue ? j->queue : "default");
        if (tid < 0 || qid < 0)
            return -1;
        e->ent = NULL;
        s_facts (j, &e->facts);
    }
    e->tenant = tid;
    e->qid = qid;
    e->shallow = shallow;
    e->k = (uint32_t) k;
    e->gkey = o->policy == SP_POLICY_DEFAULT ? ((uint64_t) tid << 32) | (uint32_t) qid : 0;
    e->gpus_total = e->facts.gpus_total;
    e->end_s = e->facts.time_limit_s ? o->now + e->facts.time_limit_s : SP__NO_TIME;
    s_keys (o, &e->facts, e);
    *prev = m && s_same_keys (e, m) ? m->rank : S_NONE;
    return 0;
}

int
sp__order_build (sp__order_t *o, sp_engine_t *en, sp__arena_t *arena, const sp_params_t *params,
                 sp_job_t *const *pending, size_t npending, sp_job_t *const *running, size_t nrunning,
                 const uint32_t *run_hold)
{
    const sp_cluster_t *c = en->c;
    memset (o, 0, sizeof *o);
    o->c = c;
    o->e = en;
    o->arena = arena;
    o->policy = params->policy;
    o->now = params->now_s;
    o->half_life = c->usage_half_life_s > 0 ? c->usage_half_life_s : 86400;
    if (en->tenant_names.n > S_MAX_NAMES || en->queue_names.n > S_MAX_NAMES) {
        sp__intern_free (&en->tenant_names);
        sp__intern_free (&en->queue_names);
        en->names_gen++;
    }

    /*  Entries in input order, split into jobs ordered as last cycle (by
     *  their old rank) and the rest; the memo for next cycle is written
     *  alongside, in the same (input) order.  */
    uint32_t *fresh = sp__alloc_raw (arena, (npending + 1) * sizeof *fresh);
    uint32_t *by_rank = sp__alloc_raw (arena, (en->nmemo + 1) * sizeof *by_rank);
    sp__entry_t *tmp = sp__alloc_raw (arena, (npending + 1) * sizeof *tmp);
    if (!fresh || !by_rank || !tmp
        || st_vec_reserve ((void **) &en->memo_next, &en->capmemo_next, npending + 1, sizeof *en->memo_next,
                           SP__ARRAY_MAX)
               != 0)
        return -1;
    memset (by_rank, 0xff, (en->nmemo + 1) * sizeof *by_rank);
    size_t nfresh = 0, k = 0;
    ptrdiff_t drift = 0;
    for (size_t i = 0; i < npending; i++) {
        sp_job_t *j = pending[i];
        uint32_t prev;
        if (!j)
            continue;
        sp__entry_t *e = &tmp[k];
        if (s_entry (o, j, k, &drift, e, &prev) != 0)
            return -1;
        if (prev != S_NONE && prev < en->nmemo && by_rank[prev] == S_NONE)
            by_rank[prev] = (uint32_t) k;
        else
            fresh[nfresh++] = (uint32_t) k;
        e->memo = &en->memo_next[k];
        *e->memo = (sp__memo_t) { j, e->id, e->shallow, e->gkey, e->prio,   e->tenant, e->qid,   en->names_gen, 0,
                                  0, e->k1, e->k2,      e->k3,   e->submit, e->ent,    en->kgen, e->facts };
        k++;
    }

    /*  Tenants: what their running jobs hold, their usage (charging running
     *  jobs for the time since the last cycle).  */
    o->tenants = sp__alloc (arena, (en->tenant_names.n + nrunning + 1) * sizeof *o->tenants);
    if (!o->tenants)
        return -1;
    for (size_t i = 0; i < nrunning; i++) {
        sp_job_t *j = running[i];
        if (!j)
            continue;
        int32_t tid = s_intern (&en->tenant_names, j->tenant ? j->tenant : "default");
        if (tid < 0)
            return -1;
        sp__tenant_t *t = s_tenant (o, tid);
        uint32_t holding = run_hold[i];
        t->held_gpu += (int64_t) holding * j->gpus;
        double from = j->start_s > en->last_charge_s ? j->start_s : en->last_charge_s;
        if (o->now > from && j->gpus)
            sp__usage_add (en->usage, t->name, (o->now - from) * holding * j->gpus, o->now, o->half_life);
    }
    o->ntenants = en->tenant_names.n;
    for (size_t i = 0; i < o->ntenants; i++)
        if (o->tenants[i].name)
            o->tenants[i].usage = sp__usage_get (en->usage, o->tenants[i].name, o->now, o->half_life);

    /*  Groups (default policy): one per (tenant, queue) present, so at most
     *  the pairs of names there are, and no more than the jobs.  */
    size_t bound = 1;
    if (o->policy == SP_POLICY_DEFAULT) {
        size_t nt = en->tenant_names.n, nq = en->queue_names.n;
        bound = nq && nt > k / nq ? k : nt * nq;
        bound = bound < k ? bound : k;
    }
    o->groups_cap = bound + 1;
    o->gcap = 16;
    while (o->gcap < o->groups_cap * 2)
        o->gcap *= 2;
    o->groups = sp__alloc (arena, o->groups_cap * sizeof *o->groups);
    o->gslot = sp__alloc_raw (arena, o->gcap * sizeof *o->gslot);
    o->entries = sp__alloc_raw (arena, (k + 1) * sizeof *o->entries);
    if (!o->groups || !o->gslot || !o->entries)
        return -1;
    memset (o->gslot, 0xff, o->gcap * sizeof *o->gslot);

    /*  Merge the kept run (already in order) with the sorted fresh ones, into
     *  one array the cycle then walks front to back.  */
    s_sort_t st = { tmp, o->policy == SP_POLICY_DEFAULT };
    qsort_r (fresh, nfresh, sizeof *fresh, s_cmp, &st);
    /*  The kept ones, compacted (by_rank has holes where jobs left); each
     *  fresh one finds its place among them by binary search, so the merge
     *  compares O(fresh * log n) times, not once per job.  */
    size_t nkept = 0;
    for (size_t r = 0; r < en->nmemo; r++)
        if (by_rank[r] != S_NONE)
            by_rank[nkept++] = by_rank[r];
    size_t r = 0, f = 0, upto = 0;
    for (;;) {
        if (r == upto && f < nfresh) {
            /*  The kept ones that go before fresh[f]: [r, upto).  */
            size_t lo = r, hi = nkept;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (s_before (&tmp[fresh[f]], &tmp[by_rank[mid]], st.by_group))
                    hi = mid;
                else
                    lo = mid + 1;
            }
            upto = lo;
        }
        else if (f == nfresh)
            upto = nkept;
        const sp__entry_t *next;
        if (r < upto)
            next = &tmp[by_rank[r++]];
        else if (f < nfresh)
            next = &tmp[fresh[f++]];
        else
            break;
        size_t i = o->nentries++;
        sp__entry_t *e = &o->entries[i];
        *e = *next;
        e->memo->rank = (uint32_t) i;
        sp__tenant_t *t = s_tenant (o, e->tenant);
        if (t->usage < 0)
            t->usage = sp__usage_get (en->usage, t->name, o->now, o->half_life);
        if (o->policy != SP_POLICY_DEFAULT)
            continue;
        /*  Sorted by (priority, group): look a group up where a run starts.  */
        if (i > 0 && e->gkey == e[-1].gkey)
            e->group = e[-1].group;
        else if ((e->group = s_group_of (o, e, e->qid)) < 0)
            return -1;
    }
    sp__memo_t *swap = en->memo;
    size_t swapcap = en->capmemo;
    en->memo = en->memo_next;
    en->capmemo = en->capmemo_next;
    en->nmemo = k;
    en->memo_next = swap;
    en->capmemo_next = swapcap;
    if (s_memo_index (en) != 0)
        return -1;
    o->heap = sp__alloc (arena, (o->ngroups + 1) * sizeof *o->heap);
    o->current = -1;
    return o->heap ? 0 : -1;
}

/*  ---------------------------------------------------------------------------
 *  Walking the order  */

/*  Fair-share key of a group: lower goes first.  */
static double
s_key (const sp__order_t *o, const sp__grp_t *g)
{
    const sp__tenant_t *t = &o->tenants[g->tenant];
    return (t->usage + o->half_life * (double) t->held_gpu) / (t->weight * g->qweight);
}

static int
s_heap_less (const sp__order_t *o, int a, int b)
{
    const sp__grp_t *x = &o->groups[a], *y = &o->groups[b];
    if (x->key != y->key)
        return x->key < y->key;
    int c = strcmp (o->tenants[x->tenant].name, o->tenants[y->tenant].name);
    if (c)
        return c < 0;
    return strcmp (x->queue, y->queue) < 0;
}

static void
s_heap_push (sp__order_t *o, int g)
{
    size_t i = o->nheap++;
    o->heap[i] = g;
    while (i > 0 && s_heap_less (o, o->heap[i], o->heap[(i - 1) / 2])) {
        int tmp = o->heap[i];
        o->heap[i] = o->heap[(i - 1) / 2];
        o->heap[(i - 1) / 2] = tmp;
        i = (i - 1) / 2;
    }
}

static int
s_heap_pop (sp__order_t *o)
{
    int top = o->heap[0];
    o->heap[0] = o->heap[--o->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < o->nheap && s_heap_less (o, o->heap[l], o->heap[m]))
            m = l;
        if (r < o->nheap && s_heap_less (o, o->heap[r], o->heap[m]))
            m = r;
        if (m == i)
            break;
        int tmp = o->heap[i];
        o->heap[i] = o->heap[m];
        o->heap[m] = tmp;
        i = m;
    }
    return top;
}

/*  Loads the groups of the priority level starting at o->pos into the heap.  */
static void
s_load_level (sp__order_t *o)
{
    size_t i = o->pos;
    int32_t prio = o->entries[i].prio;
    o->level_end = i;
    while (o->level_end < o->nentries && o->entries[o->level_end].prio == prio)
        o->level_end++;
    o->nheap = 0;
    for (size_t k = i; k < o->level_end;) {
        int g = o->entries[k].group;
        sp__grp_t *gr = &o->groups[g];
        gr->next = k;
        while (k < o->level_end && o->entries[k].group == g)
            k++;
        gr->end = k;
        gr->key = s_key (o, gr);
        s_heap_push (o, g);
    }
    o->pos = o->level_end;
}

sp__entry_t *
sp__order_next (sp__order_t *o)
{
    if (o->policy != SP_POLICY_DEFAULT)
        return o->pos < o->nentries ? &o->entries[o->pos++] : NULL;
    for (;;) {
        if (o->nheap == 0 && o->current < 0) {
            if (o->pos >= o->nentries)
                return NULL;
            s_load_level (o);
        }
        /*  The group that went last goes on while it still comes first: a
         *  run of jobs that cannot start changes no key, and costs one
         *  comparison each instead of a pop and a push.  */
        int g = o->current;
        if (g >= 0) {
            sp__grp_t *gr = &o->groups[g];
            gr->key = s_key (o, gr);
            o->current = -1;
            if (gr->next < gr->end) {
                if (o->nheap == 0 || !s_heap_less (o, o->heap[0], g)) {
                    o->current = g;
                    return &o->entries[gr->next++];
                }
                s_heap_push (o, g);
            }
            if (o->nheap == 0)
                continue;
        }
        g = s_heap_pop (o);
        sp__grp_t *gr = &o->groups[g];
        double key = s_key (o, gr);
        if (key > gr->key) {
            /*  Its tenant placed jobs since the key was read: re-queue.  */
            gr->key = key;
            s_heap_push (o, g);
            continue;
        }
        o->current = g;
        return &o->entries[gr->next++];
    }
}

void
sp__order_placed (sp__order_t *o, int tenant, int64_t gpus)
{
    o->tenants[tenant].held_gpu += gpus;
}
