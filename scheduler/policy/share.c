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
 *  Usage table (kept by the engine between cycles): an st_map by tenant  */

typedef struct {
    double usage; /*  GPU-seconds at time t  */
    double t;
} s_use_t;

struct sp__usage_tab {
    st_map_t *by_tenant; /*  tenant name -> s_use_t (owned)  */
};

sp__usage_tab_t *
sp__usage_new (void)
{
    sp__usage_tab_t *t = calloc (1, sizeof *t);
    if (t && !(t->by_tenant = st_map_new ())) {
        free (t);
        t = NULL;
    }
    return t;
}

static void
s_use_free (void *value, void *arg)
{
    (void) arg;
    free (value);
}

void
sp__usage_free (sp__usage_tab_t **tp)
{
    if (!tp || !*tp)
        return;
    st_map_foreach ((*tp)->by_tenant, s_use_free, NULL);
    st_map_destroy (&(*tp)->by_tenant);
    free (*tp);
    *tp = NULL;
}

static s_use_t *
s_use_find (const sp__usage_tab_t *t, const char *name)
{
    return st_map_get (t->by_tenant, name, strlen (name));
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
    if (!t || !tenant || !(gpu_s > 0))
        return;
    s_use_t *s = s_use_find (t, tenant);
    if (!s) {
        if (!(s = calloc (1, sizeof *s)))
            return;
        if (st_map_put (t->by_tenant, tenant, strlen (tenant), s) != 0) {
            free (s);
            return;
        }
        s->t = now_s;
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
    if (!t || !tenant)
        return 0;
    const s_use_t *s = s_use_find (t, tenant);
    return s ? s_decay (s->usage, s->t, now_s, half_life_s) : 0;
}
