/*  classes.c: jobs with the same shape and constraints are one class.
 *
 *  A class is every field that decides where a job may run and how much room
 *  it needs (not tenant, priority, weights or time limit), encoded exactly;
 *  each class computes once: the pool filter, the
 *  model variant per pool, the per-pool cost/energy/carbon/latency figures.
 *  Once a member cannot start, later members fail at once: free room only
 *  shrinks during a cycle. The time limit is left out of the key because it
 *  matters only where a reservation holds resources back: a member that ends
 *  sooner than the one that failed is tried again (it may fit in front of the
 *  reservation), one that ends later is not.
 *
 *  The engine keeps the classes between cycles in an st_map keyed by that
 *  encoding, with the pool filter's verdicts and
 *  whether the class fits on idle nodes (valid while the schedulable nodes
 *  keep their fingerprint); each pending job's memo (order.c) points at its
 *  class, so a steady queue of tens of thousands of waiting jobs costs a
 *  pointer lookup each.
 *
 *  For the early stop (engine.c) each cycle counts the members of every
 *  class still to be examined; a class is dead once no further member can
 *  start (it failed with nothing held back for shorter members, no pool
 *  allows it, or no pool it may use has the free room one member needs:
 *  checked for the classes left as the walk goes, O(pools) per job). When
 *  every class with members left is dead, nothing further in the order can
 *  start. */
#include "policy_int.h"

#include <stdlib.h>
#include <string.h>

#define S_CACHE_MAX (1u << 17) /*  classes remembered between cycles before a reset  */

struct sp__kentry {
    unsigned char *key;
    size_t keylen;
    sp__pool_fig_t *pools; /*  npools entries  */
    int nallowed;
    int idle_state;    /*  0: unknown, 1: fits on idle nodes, 2: does not  */
    uint64_t idle_fp;  /*  node fingerprint the idle verdict holds for  */
    char *idle_reason; /*  the words when it does not fit idle  */
    char *need_text;   /*  "waiting: needs ... [in one pool]"  */
    sp__class_t cls;   /*  this cycle's state, when cls_cycle is the engine's cycle (kept
                                    here, not apart, to save a pointer chase per job)  */
    uint64_t cls_cycle;
    uint32_t left;       /*  members the cycle has not examined yet, when left_cycle is this cycle  */
    uint64_t left_cycle; /*  the cycle that counted them  */
    uint64_t dead_cycle; /*  the cycle in which no further member can start  */
    int64_t need_gpu;    /*  GPUs a member needs in one pool (gang: all tasks), 0 when none  */
    int64_t need_cpu;    /*  CPU millicores likewise  */
};

/*  ---------------------------------------------------------------------------
 *  Exact key: the same fields, encoded  */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} s_buf_t;

static void
s_put (s_buf_t *b, const void *data, size_t len)
{
    if (b->n + len <= b->cap)
        memcpy (b->p + b->n, data, len);
    b->n += len;
}

static void
s_put_u64 (s_buf_t *b, uint64_t v)
{
    s_put (b, &v, sizeof v);
}

static void
s_put_str (s_buf_t *b, const char *s)
{
    /*  NULL and "" differ: a length of all ones marks NULL.  */
    uint64_t len = s ? strlen (s) : UINT64_MAX;
    s_put_u64 (b, len);
    if (s)
        s_put (b, s, len);
}

/*  Encodes job's class fields into buf (cap bytes); returns the length (may exceed cap).  */
static size_t
s_encode (const sp_job_t *j, unsigned char *buf, size_t cap)
{
    s_buf_t b = { buf, 0, cap };
    s_put_u64 (&b, ((uint64_t) j->gang << 32) | j->ntasks);
    s_put_u64 (&b, ((uint64_t) j->cpus_milli << 32) | j->gpus);
    s_put_u64 (&b, j->mem_mb);
    s_put_u64 (&b, ((uint64_t) j->sites << 32) | (uint32_t) j->classification);
    s_put_u64 (&b, j->max_latency_ms);
    s_put_str (&b, j->pool);
    s_put_str (&b, j->near);
    s_put_str (&b, j->model);
    s_put_u64 (&b, j->ngpu_types);
    for (size_t i = 0; i < j->ngpu_types; i++)
        s_put_str (&b, j->gpu_types[i]);
    s_put_u64 (&b, j->nresidency);
    for (size_t i = 0; i < j->nresidency; i++)
        s_put_str (&b, j->residency[i]);
    s_put_u64 (&b, j->labels ? j->labels->n : 0);
    for (size_t i = 0; j->labels && i < j->labels->n; i++) {
        s_put_str (&b, j->labels->keys[i]);
        s_put_str (&b, j->labels->vals[i]);
    }
    return b.n;
}

/*  ---------------------------------------------------------------------------
 *  The cache between cycles  */

static void
s_entry_free (sp__kentry_t *k)
{
    if (!k)
        return;
    free (k->key);
    free (k->pools);
    free (k->idle_reason);
    free (k->need_text);
    free (k);
}

static void
s_entry_free_cb (void *value, void *arg)
{
    (void) arg;
    s_entry_free (value);
}

void
sp__kcache_clear (sp_engine_t *e)
{
    if (e->kmap)
        st_map_foreach (e->kmap, s_entry_free_cb, NULL);
    st_map_destroy (&e->kmap);
}

static int
s_cache_insert (sp_engine_t *e, sp__kentry_t *k)
{
    if (!e->kmap && !(e->kmap = st_map_new ()))
        return -1;
    return st_map_put (e->kmap, k->key, k->keylen, k);
}

static sp__kentry_t *
s_cache_find (const sp_engine_t *e, const unsigned char *key, size_t keylen)
{
    return e->kmap ? st_map_get (e->kmap, key, keylen) : NULL;
}

/*  A new cache entry: the pool filter and figures for job's class.  */
static sp__kentry_t *
s_entry_new (const sp_cluster_t *c, const sp_job_t *job, const unsigned char *key, size_t keylen)
{
    sp__kentry_t *k = calloc (1, sizeof *k);
    if (!k)
        return NULL;
    k->keylen = keylen;
    k->key = malloc (keylen ? keylen : 1);
    k->pools = calloc (c->npools + 1, sizeof *k->pools);
    if (!k->key || !k->pools) {
        s_entry_free (k);
        return NULL;
    }
    memcpy (k->key, key, keylen);
    for (size_t p = 0; p < c->npools; p++) {
        sp__pool_fig_t *f = &k->pools[p];
        f->pool = (int) p;
        if (sp_filter_pool (c, (int) p, job, NULL, 0))
            continue;
        f->ok = 1;
        k->nallowed++;
        if (job->model)
            f->variant = sp_cluster_variant (c, job->model, c->pools[p].jurisdiction);
        sp__pool_figures (c, (int) p, job, f);
    }
    return k;
}

/*  ---------------------------------------------------------------------------
 *  The cycle's classes  */

/*  Empties the cache when the pools changed (its per-pool verdicts would be
 *  wrong) or it grew too big. Called at the start of a cycle only: the
 *  cycle's classes point into the entries.  */
void
sp__kcache_check (sp_engine_t *e)
{
    if (e->k_npools != e->c->npools || (e->kmap ? st_map_size (e->kmap) : 0) >= S_CACHE_MAX) {
        sp__kcache_clear (e);
        e->k_npools = e->c->npools;
        e->kgen++;
    }
}

/*  The cache entry of en's class, found or made; NULL when out of memory.  */
static sp__kentry_t *
s_resolve (sp__run_t *run, sp__entry_t *en)
{
    sp_engine_t *e = run->e;
    const sp_job_t *job = en->job;
    sp__kentry_t *ent = en->ent;
    if (!ent) {
        unsigned char small[512], *key = small;
        size_t keylen = s_encode (job, small, sizeof small);
        if (keylen > sizeof small) {
            if (!(key = sp__alloc (run->cy->arena, keylen)))
                return NULL;
            s_encode (job, key, keylen);
        }
        if (!(ent = s_cache_find (e, key, keylen))) {
            if (!(ent = s_entry_new (run->c, job, key, keylen)))
                return NULL;
            if (s_cache_insert (e, ent) != 0) {
                s_entry_free (ent);
                return NULL;
            }
        }
        en->ent = ent;
        en->memo->ent = ent;
        en->memo->kgen = e->kgen;
    }
    return ent;
}

sp__class_t *
sp__class_of (sp__run_t *run, sp__entry_t *en)
{
    sp_engine_t *e = run->e;
    const sp_job_t *job = en->job;
    sp__kentry_t *ent = s_resolve (run, en);
    if (!ent)
        return NULL;
    sp__class_t *k = &ent->cls;
    if (ent->cls_cycle == e->cycle_no)
        return k;
    memset (k, 0, sizeof *k);
    k->proto = job;
    k->ent = ent;
    k->pools = ent->pools;
    k->nallowed = ent->nallowed;
    k->fail_end_s = INFINITY;
    ent->cls_cycle = e->cycle_no;
    return k;
}

/*  Members ending at end_s fail at once?  */
int
sp__class_fails_fast (const sp__class_t *k, double end_s)
{
    return k->failed && (k->fail_always || end_s >= k->fail_end_s);
}

void
sp__class_failed (sp__run_t *run, sp__class_t *k, double end_s)
{
    k->failed = 1;
    if (run->nresv_cycle == 0)
        k->fail_always = 1; /*  nothing was held back: a shorter member has no more room  */
    else if (end_s < k->fail_end_s)
        k->fail_end_s = end_s;
}

/*  The idle-nodes verdict remembered for k under fingerprint fp: 0 unknown,
 *  1 fits, 2 does not (and *reason).  */
int
sp__class_idle_get (const sp__class_t *k, uint64_t fp, const char **reason)
{
    const sp__kentry_t *ent = k->ent;
    if (!ent || ent->idle_state == 0 || ent->idle_fp != fp)
        return 0;
    *reason = ent->idle_reason;
    return ent->idle_state;
}

void
sp__class_idle_set (sp__class_t *k, uint64_t fp, int state, const char *reason)
{
    sp__kentry_t *ent = k->ent;
    if (!ent)
        return;
    free (ent->idle_reason);
    ent->idle_reason = reason ? strdup (reason) : NULL;
    ent->idle_state = reason || state != 2 ? state : 0;
    ent->idle_fp = fp;
}

const char *
sp__class_need_text (sp__class_t *k, const sp_job_t *job)
{
    sp__kentry_t *ent = k->ent;
    if (!ent->need_text) {
        char need[160], buf[240];
        sp__fmt_need (job, need, sizeof need);
        snprintf (buf, sizeof buf, "waiting: needs %s%s", need, job->gang && job->ntasks > 1 ? " in one pool" : "");
        ent->need_text = strdup (buf);
    }
    return ent->need_text;
}

/*  ---------------------------------------------------------------------------
 *  Counting what is left, for the early stop  */

/*  No member of ent can start now: in every pool it may use, the free room
 *  (the sum over nodes, an upper bound on any one node's) is short of what
 *  one member needs there. Free room only shrinks during a cycle.  */
static int
s_no_room (const sp__run_t *run, const sp__kentry_t *ent)
{
    const sp__cycle_t *cy = run->cy;
    if (ent->need_gpu == 0 && ent->need_cpu == 0)
        return 0;
    for (size_t p = 0; p < run->c->npools; p++)
        if (ent->pools[p].ok && cy->pool_free_gpu[p] >= ent->need_gpu && cy->pool_free_cpu[p] >= ent->need_cpu)
            return 0;
    return 1;
}

void
sp__stop_rescan (sp__run_t *run, size_t pos)
{
    uint64_t cyc = run->e->cycle_no;
    size_t kept = 0, before = run->nlivek;
    for (size_t i = 0; i < run->nlivek; i++) {
        sp__kentry_t *ent = run->livek[i];
        if (ent->left == 0 || ent->dead_cycle == cyc)
            continue;
        if (s_no_room (run, ent)) {
            ent->dead_cycle = cyc;
            run->live--;
            continue;
        }
        run->livek[kept++] = ent;
    }
    run->nlivek = kept;
    /*  Again once the walk has gone as far as there are classes left (O(pools) a
     *  job), or twice as far each time a look finds few dead (a queue whose
     *  classes keep their room pays O(log) looks, not O(jobs / classes)).  */
    size_t gap = kept > 64 ? kept : 64;
    if (pos > 0 && before - kept < before / 8)
        gap = run->scan_gap * 2 > gap ? run->scan_gap * 2 : gap;
    run->scan_gap = gap;
    run->next_scan = pos + gap;
    run->min_need_cpu = run->min_need_gpu = INT64_MAX;
    for (size_t i = 0; i < kept; i++) {
        const sp__kentry_t *ent = run->livek[i];
        run->min_need_cpu = ent->need_cpu < run->min_need_cpu ? ent->need_cpu : run->min_need_cpu;
        run->min_need_gpu = ent->need_gpu < run->min_need_gpu ? ent->need_gpu : run->min_need_gpu;
    }
}

int
sp__stop_exhausted (const sp__run_t *run)
{
    const sp__cycle_t *cy = run->cy;
    for (size_t p = 0; p < run->c->npools; p++)
        if (cy->pool_free_gpu[p] >= run->min_need_gpu && cy->pool_free_cpu[p] >= run->min_need_cpu)
            return 0;
    return 1;
}

int
sp__stop_count (sp__run_t *run)
{
    uint64_t cyc = run->e->cycle_no;
    run->live = 0;
    run->nlivek = 0;
    run->scan_gap = 0;
    run->livek = sp__alloc_raw (run->cy->arena, (run->order.nentries + 1) * sizeof *run->livek);
    if (!run->livek)
        return -1;
    for (size_t i = 0; i < run->order.nentries; i++) {
        /*  A new or changed job's class is looked up now (once: its memo keeps it).  */
        const sp__entry_t *en = &run->order.entries[i];
        sp__kentry_t *ent = s_resolve (run, &run->order.entries[i]);
        if (!ent)
            return -1;
        if (ent->left_cycle != cyc) {
            ent->left_cycle = cyc;
            ent->left = 0;
        }
        if (ent->left++ == 0) {
            const sp_job_t *j = en->job;
            uint64_t tasks = j->gang ? j->ntasks : 1;
            ent->need_gpu = (int64_t) (tasks * j->gpus);
            ent->need_cpu = (int64_t) (tasks * j->cpus_milli);
            run->livek[run->nlivek++] = ent;
            run->live++;
        }
    }
    sp__stop_rescan (run, 0);
    return 0;
}

void
sp__stop_leave (sp__run_t *run, sp__kentry_t *ent0, const sp__class_t *k)
{
    uint64_t cyc = run->e->cycle_no;
    if (k && (k->nallowed == 0 || (k->failed && k->fail_always)) && k->ent->dead_cycle != cyc) {
        sp__kentry_t *ent = k->ent;
        ent->dead_cycle = cyc;
        if (ent->left_cycle == cyc && ent->left > 0)
            run->live--;
    }
    if (ent0 && ent0->left_cycle == cyc && ent0->left > 0 && --ent0->left == 0 && ent0->dead_cycle != cyc)
        run->live--;
}
