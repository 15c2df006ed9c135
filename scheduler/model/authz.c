/*  authz.c: what a principal may see and do.
 *
 *  Every client request is decided here from its principal (model.h
 *  st__principal_t), which net/ builds from the request's token. A development
 *  install (no tokens, loopback only) has one principal: the local admin.
 *
 *  The rules, as pure functions of the principal and a job's tenant and submitter:
 *
 *      role        see/explain/logs    submit          cancel
 *      viewer      its tenants' jobs   -               -
 *      submitter   its tenants' jobs   its tenants     its own jobs
 *      operator    its tenants' jobs   its tenants     any job of its tenants
 *      admin       every job           every tenant    every job
 *
 *  A job of a tenant the principal does not belong to is HIDDEN: net/ answers
 *  exactly as for an id that does not exist, so ids reveal nothing about other
 *  tenants. A job it sees but may not act on is DENIED, naming the role needed.
 *  env values are the submitter's and admins' only (st__authz_hide_env).
 *
 *  The tenant caps of the cluster file (max_priority, max_pending) are the
 *  tenant's, so they bind every principal, admins included. Pending jobs are
 *  counted per tenant as they move (st__tenant_pending_sync from admission and
 *  st__job_set_state), so a submission checks its cap in O(1). */
#include "model.h"

#include "identity.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

const st__principal_t st__principal_development = {
    .user = "admin",
    .role = ST__ROLE_ADMIN,
    .tenants = NULL,
    .ntenants = 0,
    .development = 1,
    .token_id = 0,
};

int
st__authz_all_tenants (const st__principal_t *who)
{
    return who->development || who->role == ST__ROLE_ADMIN;
}

int
st__authz_member (const st__principal_t *who, const char *tenant)
{
    if (st__authz_all_tenants (who))
        return 1;
    for (size_t i = 0; tenant && i < who->ntenants; i++)
        if (strcmp (who->tenants[i], tenant) == 0)
            return 1;
    return 0;
}

static int
s_own (const st__principal_t *who, const char *submitted_by)
{
    return submitted_by && *submitted_by && who->user && strcmp (who->user, submitted_by) == 0;
}

st__authz_t
st__authz_job (const st__principal_t *who, st__action_t act, uint64_t id, const char *tenant,
               const char *submitted_by, st_error_t *err)
{
    if (!st__authz_member (who, tenant))
        return ST__AUTHZ_HIDDEN;
    if (who->development || who->role == ST__ROLE_ADMIN)
        return ST__AUTHZ_ALLOW;
    st__role_t need = ST__ROLE_VIEWER;
    const char *what = "seeing";
    if (act == ST__ACT_SUBMIT) {
        need = ST__ROLE_SUBMITTER;
        what = "submitting";
    }
    else if (act == ST__ACT_CANCEL) {
        /*  A submitter cancels what it submitted; anyone else's needs an operator.  */
        need = s_own (who, submitted_by) ? ST__ROLE_SUBMITTER : ST__ROLE_OPERATOR;
        what = "cancelling";
    }
    if (who->role >= need)
        return ST__AUTHZ_ALLOW;
    st_error_set (err, ST_EPERM, NULL, "permission denied: %s job %" PRIu64 " needs role %s%s; %s is %s %s", what, id,
                  st__role_name (need), need == ST__ROLE_OPERATOR ? " (it is not your job)" : "",
                  who->user ? who->user : "this user", who->role == ST__ROLE_NONE ? "of" : "a",
                  who->role == ST__ROLE_NONE ? "no role" : st__role_name (who->role));
    st_error_hint (err, "an admin grants roles with `strata admin user add`");
    return ST__AUTHZ_DENIED;
}

int
st__authz_list (const st__principal_t *who, const char *tenant, st_error_t *err)
{
    const char *user = who->user ? who->user : "this user";
    if (!who->development && who->role < ST__ROLE_VIEWER) {
        st_error_set (err, ST_EPERM, NULL, "permission denied: listing jobs needs role viewer; %s has no role", user);
        st_error_hint (err, "an admin grants roles with `strata admin user add`");
        return -1;
    }
    if (tenant && *tenant && !st__authz_member (who, tenant)) {
        st_error_set (err, ST_EPERM, "tenant", "permission denied: tenant %s: %s does not belong to it", tenant,
                      user);
        st_error_hint (err, "`strata whoami` lists your tenants; leave --tenant out to see all of them");
        return -1;
    }
    return 0;
}

/*  "a, b, c" of who's tenants, cut to fit.  */
static void
s_tenant_list (const st__principal_t *who, char *buf, size_t size)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < who->ntenants && at + 1 < size; i++) {
        int n = snprintf (buf + at, size - at, "%s%s", i ? ", " : "", who->tenants[i]);
        if (n < 0 || (size_t) n >= size - at)
            break;
        at += (size_t) n;
    }
}

int
st__authz_submit (const st__principal_t *who, const char *spec_tenant, const char **tenant, st_error_t *err)
{
    *tenant = NULL;
    const char *user = who->user ? who->user : "this user";
    if (!who->development && who->role < ST__ROLE_SUBMITTER) {
        st_error_set (err, ST_EPERM, NULL, "permission denied: submitting a job needs role submitter; %s is %s %s",
                      user, who->role == ST__ROLE_NONE ? "of" : "a",
                      who->role == ST__ROLE_NONE ? "no role" : st__role_name (who->role));
        st_error_hint (err, "an admin grants roles with `strata admin user add`");
        return -1;
    }
    if (spec_tenant) {
        if (!st__authz_member (who, spec_tenant)) {
            char list[256];
            s_tenant_list (who, list, sizeof list);
            st_error_set (err, ST_EPERM, "tenant", "permission denied: tenant %s: %s does not belong to it",
                          spec_tenant, user);
            st_error_hint (err, "%s%s%s", list[0] ? "your tenants: " : "you belong to no tenant", list,
                           list[0] ? " (leave tenant out for the first)" : "");
            return -1;
        }
        *tenant = spec_tenant;
        return 0;
    }
    if (who->ntenants > 0) {
        *tenant = who->tenants[0];
        return 0;
    }
    if (st__authz_all_tenants (who)) {
        *tenant = "default";
        return 0;
    }
    st_error_set (err, ST_EPERM, "tenant", "permission denied: %s belongs to no tenant, so has none to submit to",
                  user);
    st_error_hint (err, "an admin adds tenants with `strata admin user add %s --tenant T`", user);
    return -1;
}

int
st__authz_sees_env (const st__principal_t *who, const char *submitted_by)
{
    return who->development || who->role == ST__ROLE_ADMIN || s_own (who, submitted_by);
}

char *
st__authz_hide_env (const char *spec_json)
{
    if (!spec_json || !*spec_json)
        return NULL;
    json_t *root = json_loads (spec_json, 0, NULL);
    json_t *env = root ? json_object_get (root, "env") : NULL;
    if (!json_is_object (env) || json_object_size (env) == 0) {
        json_decref (root);
        return NULL;
    }
    const char *key;
    json_t *value;
    json_object_foreach (env, key, value) {
        if (json_object_set_new (env, key, json_string ("(hidden)")) != 0)
            abort ();
    }
    char *text = json_dumps (root, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref (root);
    if (!text)
        abort ();
    return text;
}

int
st__authz_caps (const sp_cluster_t *cluster, const char *tenant, int32_t priority, uint64_t pending, st_error_t *err)
{
    const sp_tenant_t *t = sp_cluster_tenant (cluster, tenant);
    if (!t)
        return 0;
    if (t->has_max_priority && priority > t->max_priority) {
        st_error_set (err, ST_ELIMIT, "priority", "priority %d is above tenant %s's max_priority %d", (int) priority,
                      tenant, (int) t->max_priority);
        st_error_hint (err, "submit at priority %d or lower", (int) t->max_priority);
        return -1;
    }
    if (t->has_max_pending && pending >= (uint64_t) t->max_pending) {
        st_error_set (err, ST_ELIMIT, NULL,
                      "tenant %s has %" PRIu64 " jobs waiting to start, its max_pending %" PRId64, tenant, pending,
                      t->max_pending);
        st_error_hint (err, "submit again once some have started (`strata jobs --tenant %s --state PENDING`)",
                       tenant);
        return -1;
    }
    return 0;
}

/*  -- pending jobs per tenant -------------------------------------------------  */

uint64_t
st__tenant_pending (const st__model_t *s, const char *tenant)
{
    const uint64_t *n = s->tenant_pending ? st_map_get (s->tenant_pending, tenant, strlen (tenant)) : NULL;
    return n ? *n : 0;
}

void
st__tenant_pending_sync (st__model_t *s, st__job_t *job)
{
    int want = job->state == ST_JOB_PENDING;
    if (want == job->tenant_counted)
        return;
    const char *tenant = job->spec->tenant ? job->spec->tenant : "default";
    size_t len = strlen (tenant);
    if (!s->tenant_pending && !(s->tenant_pending = st_map_new ()))
        abort ();
    uint64_t *n = st_map_get (s->tenant_pending, tenant, len);
    if (!n) {
        if (!want)
            return; /*  cannot happen: a counted job's tenant has an entry  */
        if (!(n = calloc (1, sizeof *n)) || st_map_put (s->tenant_pending, tenant, len, n) != 0)
            abort ();
    }
    if (want)
        (*n)++;
    else if (*n > 0)
        (*n)--;
    job->tenant_counted = want;
}

static void
s_free_count (void *value, void *arg)
{
    (void) arg;
    free (value);
}

void
st__tenant_pending_free (st__model_t *s)
{
    if (s->tenant_pending)
        st_map_foreach (s->tenant_pending, s_free_count, NULL);
    st_map_destroy (&s->tenant_pending);
}
