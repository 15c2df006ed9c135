/*  share.c: fair-share usage, kept by the engine between cycles.
 *
 *  Usage is GPU-seconds per tenant, decayed exponentially with the cluster's
 *  half-life: u(t) = u(t0) * 2^-((t - t0) / half_life). sp_schedule charges
 *  running jobs for the time since the previous cycle; the caller charges the
 *  rest of an attempt when it ends (sp_usage_charge).
 *  (order.c turns usage, weights and quotas into the order of the jobs.) */
#include "policy_int.h"

#include <stdlib.h>
#include <string.h>

/*  ---------------------------------------------------------------------------
 *  Usage table (kept by the engine between cycles)  */

typedef struct {
    char *name;
    double usage;               /*  GPU-seconds at time t  */
    double t;
} s_use_t;

struct sp__usage_tab {
    s_use_t *slots;
    size_t cap, n;
};

sp__usage_tab_t *
sp__usage_new (void)
{
    sp__usage_tab_t *t = calloc (1, sizeof *t);
    if (t && !(t->slots = calloc (t->cap = 64, sizeof *t->slots))) {
        free (t);
        t = NULL;
    }
    return t;
}

void
sp__usage_free (sp__usage_tab_t **tp)
{
    if (!tp || !*tp)
        return;
    for (size_t i = 0; i < (*tp)->cap; i++)
        free ((*tp)->slots [i].name);
    free ((*tp)->slots);
    free (*tp);
    *tp = NULL;
}

static s_use_t *
s_use_find (const sp__usage_tab_t *t, const char *name, int *found)
{
    size_t i = sp__hash_str (0xcbf29ce484222325ull, name) & (t->cap - 1);
    while (t->slots [i].name && strcmp (t->slots [i].name, name) != 0)
        i = (i + 1) & (t->cap - 1);
    *found = t->slots [i].name != NULL;
    return &t->slots [i];
}

static double
s_decay (double u, double from, double to, double half_life)
{
    if (to <= from || half_life <= 0)
        return u;
    return u * exp2 (-(to - from) / half_life);
}

void
sp__usage_add (sp__usage_tab_t *t, const char *tenant, double gpu_s, double now_s, double half_life_s)
{
    int found;
    if (!t || !tenant || !(gpu_s > 0))
        return;
    if ((t->n + 1) * 2 > t->cap) {
        sp__usage_tab_t bigger = {calloc (t->cap * 2, sizeof (s_use_t)), t->cap * 2, 0};
        if (!bigger.slots)
            return;
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots [i].name) {
                s_use_t *s = s_use_find (&bigger, t->slots [i].name, &found);
                *s = t->slots [i];
                bigger.n++;
            }
        free (t->slots);
        *t = bigger;
    }
    s_use_t *s = s_use_find (t, tenant, &found);
    if (!found) {
        if (!(s->name = strdup (tenant)))
            return;
        s->t = now_s;
        t->n++;
    }
    /*  Decay to the later of the two times, so a late report never un-decays.  */
    if (now_s >= s->t) {
        s->usage = s_decay (s->usage, s->t, now_s, half_life_s) + gpu_s;
        s->t = now_s;
    }
    else
        s->usage += s_decay (gpu_s, now_s, s->t, half_life_s);
}

double
sp__usage_get (const sp__usage_tab_t *t, const char *tenant, double now_s, double half_life_s)
{
    int found;
    if (!t || !tenant)
        return 0;
    const s_use_t *s = s_use_find (t, tenant, &found);
    return found ? s_decay (s->usage, s->t, now_s, half_life_s) : 0;
}
