/*  deps.c: job dependencies (spec `depends_on`).
 *
 *  A PENDING job whose dependencies have not all SUCCEEDED is not offered to
 *  the placement engine (it is not in s->pending), and its reason names the
 *  first one it waits for: "waiting for job 12 (RUNNING)". When a dependency
 *  ends (st__deps_on_state, the entry action of st__job_set_state):
 *
 *    SUCCEEDED            each waiting job counts it off; one with none left
 *                         resolves its fine-tuned model (registry.c), if it
 *                         names one, and joins the pending jobs;
 *    FAILED, CANCELLED    each waiting job FAILS ("dependency job 12 failed"),
 *                         and so, in turn, do the jobs waiting for it.
 *
 *  A dependency that is requeued (a retry, a preemption) has not ended: its
 *  dependents keep waiting. A job whose dependencies have all succeeded runs
 *  and retries like any other; its dependencies are not looked at again.
 *
 *  Cycles cannot arise: a job may only name jobs that exist when it is
 *  submitted, and ids are given at submission in increasing order, so every
 *  dependency has a smaller id than its dependent, and no job can name itself.
 *
 *  Nothing scans the jobs: s->dependents maps a job's id to the ids of the
 *  jobs waiting for it, filled when they are admitted, and a state change
 *  visits only the changed job's own dependents. Cascades go through a work
 *  list (s->settle), not recursion, so a long chain cannot exhaust the stack.
 *  All of it happens inside the batch that made the change, so a dependency's
 *  end and its dependents' fate are committed together.
 *
 *  Nothing is stored besides specs and states: at start-up st__store_load admits
 *  every PENDING job again, in id order (dependencies first); unfinished
 *  dependencies are in memory, and the states of finished ones come from one
 *  query of store/ (st__store_load), noted here with st__deps_note_state. On a
 *  submission net/ asks store/ for the states of the dependencies that
 *  st__deps_missing names before st__deps_check.
 *
 *  Tenants: a job may only depend on jobs of its own tenant; a job of another
 *  tenant is refused as if it did not exist. */
#include "model.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_log.h"

/*  The ids of the jobs waiting for one job.  */
typedef struct {
    uint64_t *ids;
    size_t n, cap;
} s_waiters_t;

/*  A finished job's state and tenant, read from the database.  */
typedef struct {
    st_job_state_t state;
    char tenant[72];
} s_known_t;

static void
s_free_known (void *value, void *arg)
{
    (void) arg;
    free (value);
}

void
st__deps_forget_states (st__model_t *s)
{
    if (s->dep_states)
        st_map_foreach (s->dep_states, s_free_known, NULL);
    st_map_destroy (&s->dep_states);
}

void
st__deps_note_state (st__model_t *s, uint64_t id, st_job_state_t state, const char *tenant)
{
    if (!s->dep_states && !(s->dep_states = st_map_new ()))
        abort ();
    s_known_t *k = st_map_get_u64 (s->dep_states, id);
    if (!k && (!(k = calloc (1, sizeof *k)) || st_map_put_u64 (s->dep_states, id, k) != 0))
        abort ();
    k->state = state;
    snprintf (k->tenant, sizeof k->tenant, "%s", tenant);
}

size_t
st__deps_missing (const st__model_t *s, const st__job_t *job, uint64_t *ids, size_t max)
{
    const st_spec_t *sp = job->spec;
    size_t n = 0;
    for (size_t i = 0; i < sp->ndepends_on && n < max; i++)
        if (sp->depends_on[i] < job->id && !st_map_get_u64 (s->jobs, sp->depends_on[i]))
            ids[n++] = sp->depends_on[i];
    return n;
}

/*  Where dependency id stands: 1 with its state and tenant, 0 when unknown.  */
static int
s_lookup (st__model_t *s, uint64_t id, st_job_state_t *state, const char **tenant)
{
    st__job_t *d = st_map_get_u64 (s->jobs, id);
    if (d) {
        *state = d->state;
        *tenant = d->spec->tenant;
        return 1;
    }
    s_known_t *k = s->dep_states ? st_map_get_u64 (s->dep_states, id) : NULL;
    if (k) {
        *state = k->state;
        *tenant = k->tenant;
        return 1;
    }
    return 0;
}

/*  path, made lexically canonical into out ("//", "." and ".." resolved;
 *  "/.." is "/"). Returns 0, or -1 when it does not fit.  */
static int
s_canonical (const char *path, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        const char *end = strchr (p, '/');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        if (len == 0 || (len == 1 && p[0] == '.'))
            ;
        else if (len == 2 && p[0] == '.' && p[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
        }
        else {
            if (n + 1 + len + 1 > size)
                return -1;
            out[n++] = '/';
            memcpy (out + n, p, len);
            n += len;
        }
        p += len;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    return 0;
}

/*  The pool whose storage root holds dir in a tenant's models folder
 *  (<storage_root>/<tenant>/models[/...]), where only the scheduler puts
 *  fine-tuned weights; NULL when none does.  */
static const char *
s_models_folder_of (const st__model_t *s, const char *dir)
{
    char d[4200], r[4200];
    if (s_canonical (dir, d, sizeof d) != 0)
        return "(a path too long to check)";
    for (size_t i = 0; i < s->cluster->npools; i++) {
        const char *root = s->cluster->pools[i].storage_root;
        if (!root || root[0] != '/' || s_canonical (root, r, sizeof r) != 0)
            continue;
        size_t rl = strcmp (r, "/") == 0 ? 0 : strlen (r);
        if (strncmp (d, r, rl) != 0 || d[rl] != '/')
            continue;
        const char *tenant = d + rl + 1, *slash = strchr (tenant, '/');
        if (slash && strncmp (slash + 1, "models", 6) == 0 && (slash[7] == '\0' || slash[7] == '/'))
            return s->cluster->pools[i].name;
    }
    return NULL;
}

st_rc_t
st__deps_check (st__model_t *s, const st__job_t *job, st_error_t *err)
{
    const st_spec_t *sp = job->spec;
    /*  The ones not in memory have finished (or never existed): store/ has
     *  noted their states (st__deps_note_state) before this.  */

    int may_register = 0; /*  an unfinished dependency will register the model the job names  */
    int waits = 0;        /*  some dependency has not finished  */
    for (size_t i = 0; i < sp->ndepends_on; i++) {
        uint64_t id = sp->depends_on[i];
        st_job_state_t state;
        const char *tenant;
        char field[48];
        snprintf (field, sizeof field, "depends_on[%zu]", i);
        if (id >= job->id || !s_lookup (s, id, &state, &tenant) || strcmp (tenant, sp->tenant) != 0) {
            st_error_set (err, ST_EINVAL, field, "%s: no job %" PRIu64 " of tenant %s", field, id, sp->tenant);
            st_error_hint (err, "a job may depend only on existing jobs of its own tenant (`strata jobs --all` "
                                "lists them)");
            return ST_EINVAL;
        }
        const st__job_t *d = st_map_get_u64 (s->jobs, id);
        if (!d || st_job_state_terminal (d->state))
            continue;
        waits = 1;
        if (sp->model && d->spec->output_model && strcmp (d->spec->output_model, sp->model) == 0)
            may_register = 1;
    }
    /*  A version's weights are written where the scheduler says (st__job_checkpoint_dir):
     *  a spec that names its own place for them is refused, not silently redirected.  */
    if (sp->output_model && sp->checkpoint_dir) {
        st_error_set (err, ST_EINVAL, "checkpoint_dir",
                      "checkpoint_dir: a finetune with output_model writes its checkpoint where the scheduler says "
                      "(<storage_root>/%s/models/%s/job-<id> of its pool), not where the spec says",
                      sp->tenant, sp->output_model);
        st_error_hint (err, "leave checkpoint_dir out; the job finds the folder in STRATA_CHECKPOINT_DIR");
        return ST_EINVAL;
    }
    /*  ... and nobody's spec may point into those folders: a task could otherwise
     *  overwrite (or read) weights that a tenant's jobs load as a model version.  */
    const char *pool = sp->checkpoint_dir ? s_models_folder_of (s, sp->checkpoint_dir) : NULL;
    if (pool) {
        st_error_set (err, ST_EINVAL, "checkpoint_dir",
                      "checkpoint_dir: %s is in a tenant's models folder under the storage root of pool %s, where "
                      "only the scheduler places fine-tuned weights",
                      sp->checkpoint_dir, pool);
        st_error_hint (err, "choose another folder; a job reads a fine-tuned model with model: NAME[:VERSION]");
        return ST_EINVAL;
    }
    if (sp->output_model && !st__checkpoint_names_ok (sp->tenant, sp->output_model)) {
        st_error_set (err, ST_EINVAL, "output_model",
                      "output_model: %s cannot name a folder under tenant %s's models (an empty, '.' or '..' "
                      "segment, or a tenant named so)",
                      sp->output_model, sp->tenant);
        return ST_EINVAL;
    }
    if (sp->output_model && st__registry_cluster_model (s, sp->output_model)) {
        st_error_set (err, ST_EINVAL, "output_model",
                      "output_model: %s is a model of the cluster's model registry; a fine-tuned model needs a "
                      "name of its own",
                      sp->output_model);
        st_error_hint (err, "`strata models` lists the names in use");
        return ST_EINVAL;
    }
    if (!st__registry_is_finetune (s, sp))
        return ST_OK;
    const st__model_version_t *v = st__registry_find (s, sp->tenant, sp->model, sp->model_version);
    if (!v && !may_register) {
        const st__model_version_t *latest = st__registry_find (s, sp->tenant, sp->model, 0);
        if (latest)
            st_error_set (err, ST_EINVAL, "model", "model: %s has no version %u (the latest is %u)", sp->model,
                          sp->model_version, latest->version);
        else
            st_error_set (err, ST_EINVAL, "model",
                          "model: %s is neither in the cluster's model registry nor a fine-tuned model of tenant %s",
                          sp->model, sp->tenant);
        st_error_hint (err, "a finetune job with output_model: NAME registers a version when it succeeds; a job "
                            "that depends on it (depends_on) may name NAME before that");
        return ST_EINVAL;
    }
    /*  A version that exists and would be used now must be usable somewhere.  */
    char why[400];
    if (v && !waits && st__registry_check (sp, v, why, sizeof why) != 0) {
        st_error_set (err, ST_EINVAL, "model", "model: %s", why);
        return ST_EINVAL;
    }
    return ST_OK;
}

/*  -- waiting, releasing, failing ------------------------------------------ */

static void
s_fail (st__model_t *s, st__job_t *job, const char *why)
{
    job->deps_waiting = 0;
    st__pending_remove (s, job);
    st__job_set_state (s, job, ST_JOB_FAILED, "%s", why);
}

/*  "waiting for job 12 (RUNNING) and 2 more dependencies; model acme-twin has
 *  no registered version yet".  */
static void
s_wait_reason (st__model_t *s, st__job_t *job)
{
    const st_spec_t *sp = job->spec;
    const st__job_t *first = NULL;
    unsigned more = 0;
    for (size_t i = 0; i < sp->ndepends_on; i++) {
        const st__job_t *d = st_map_get_u64 (s->jobs, sp->depends_on[i]);
        if (!d || st_job_state_terminal (d->state))
            continue;
        if (!first)
            first = d;
        else
            more++;
    }
    if (!first)
        return;
    char r[sizeof job->reason];
    size_t n = (size_t) snprintf (r, sizeof r, "waiting for job %" PRIu64 " (%s)", first->id,
                                  st_job_state_name (first->state));
    if (more && n < sizeof r)
        n += (size_t) snprintf (r + n, sizeof r - n, " and %u more dependenc%s", more, more == 1 ? "y" : "ies");
    if (st__registry_is_finetune (s, sp) && !st__registry_find (s, sp->tenant, sp->model, sp->model_version)
        && n < sizeof r) {
        if (sp->model_version)
            snprintf (r + n, sizeof r - n, "; model %s has no version %u yet", sp->model, sp->model_version);
        else
            snprintf (r + n, sizeof r - n, "; model %s has no registered version yet", sp->model);
    }
    st__job_set_reason (s, job, r);
}

/*  Every dependency has SUCCEEDED: fix the fine-tuned model version, then
 *  offer the job to the engine.  */
static void
s_release (st__model_t *s, st__job_t *job)
{
    const st_spec_t *sp = job->spec;
    char why[400];
    if (st__registry_is_finetune (s, sp)) {
        /*  A version fixed before a restart stays fixed.  */
        uint32_t want = job->ft_version ? job->ft_version : sp->model_version;
        const st__model_version_t *v = st__registry_find (s, sp->tenant, sp->model, want);
        if (!v) {
            if (want)
                snprintf (why, sizeof why, "model %s has no version %u", sp->model, want);
            else
                snprintf (why, sizeof why, "model %s has no registered version", sp->model);
            s_fail (s, job, why);
            return;
        }
        if (st__registry_apply (s, job, v, why, sizeof why) != 0) {
            s_fail (s, job, why);
            return;
        }
    }
    if (sp->ndepends_on && strncmp (job->reason, "waiting for job", 15) == 0)
        st__job_set_reason (s, job, "its dependencies succeeded; queued");
    st__pending_add (s, job);
}

static void
s_wait_on (st__model_t *s, uint64_t dep, uint64_t id)
{
    if (!s->dependents && !(s->dependents = st_map_new ()))
        abort ();
    s_waiters_t *w = st_map_get_u64 (s->dependents, dep);
    if (!w && (!(w = calloc (1, sizeof *w)) || st_map_put_u64 (s->dependents, dep, w) != 0))
        abort ();
    if (st_vec_push ((void **) &w->ids, &w->n, &w->cap, sizeof id, ST__SCHED_ARRAY_MAX, &id))
        abort ();
}

void
st__deps_admit (st__model_t *s, st__job_t *job)
{
    const st_spec_t *sp = job->spec;
    char why[160];
    job->deps_waiting = 0;
    st__tenant_pending_sync (s, job); /*  admitted: counted in its tenant's pending jobs while PENDING  */
    for (size_t i = 0; i < sp->ndepends_on; i++) {
        st_job_state_t state;
        const char *tenant;
        uint64_t id = sp->depends_on[i];
        /*  Submissions were checked (st__deps_check); a loaded job's dependencies
         *  can only be missing, or not earlier than it (a cycle, which would
         *  wait for ever), if someone edited rows.  */
        if (id >= job->id || !s_lookup (s, id, &state, &tenant)) {
            snprintf (why, sizeof why, "dependency job %" PRIu64 " does not exist", id);
            s_fail (s, job, why);
            return;
        }
        if (state == ST_JOB_FAILED || state == ST_JOB_CANCELLED) {
            snprintf (why, sizeof why, "dependency job %" PRIu64 " %s", id,
                      state == ST_JOB_FAILED ? "failed" : "was cancelled");
            s_fail (s, job, why);
            return;
        }
    }
    for (size_t i = 0; i < sp->ndepends_on; i++) {
        const st__job_t *d = st_map_get_u64 (s->jobs, sp->depends_on[i]);
        if (d && !st_job_state_terminal (d->state)) {
            s_wait_on (s, d->id, job->id);
            job->deps_waiting++;
        }
    }
    if (job->deps_waiting)
        s_wait_reason (s, job);
    else
        s_release (s, job);
}

void
st__deps_on_state (st__model_t *s, st__job_t *job)
{
    /*  The version exists before the jobs waiting for it are released.  */
    if (job->state == ST_JOB_SUCCEEDED)
        st__registry_register (s, job);
    s_waiters_t *w = s->dependents ? st_map_get_u64 (s->dependents, job->id) : NULL;
    if (!w)
        return;
    if (!st_job_state_terminal (job->state)) {
        for (size_t i = 0; i < w->n; i++) {
            st__job_t *j = st_map_get_u64 (s->jobs, w->ids[i]);
            if (j && j->state == ST_JOB_PENDING && j->deps_waiting)
                s_wait_reason (s, j);
        }
        return;
    }
    uint64_t item[2] = { job->id, (uint64_t) job->state };
    if (st_vec_push ((void **) &s->settle, &s->nsettle, &s->cap_settle, sizeof item, ST__SCHED_ARRAY_MAX, item))
        abort ();
    if (s->settling)
        return; /*  the loop below, further up the stack, takes it  */
    s->settling = 1;
    for (size_t i = 0; i < s->nsettle; i++) {
        uint64_t id = s->settle[2 * i];
        st_job_state_t state = (st_job_state_t) s->settle[2 * i + 1];
        s_waiters_t *ws = st_map_remove_u64 (s->dependents, id);
        for (size_t k = 0; ws && k < ws->n; k++) {
            st__job_t *j = st_map_get_u64 (s->jobs, ws->ids[k]);
            if (!j || j->state != ST_JOB_PENDING || !j->deps_waiting)
                continue; /*  cancelled meanwhile, or failed by another dependency  */
            if (state == ST_JOB_SUCCEEDED) {
                if (--j->deps_waiting == 0)
                    s_release (s, j);
                else
                    s_wait_reason (s, j);
            }
            else {
                char why[160];
                snprintf (why, sizeof why, "dependency job %" PRIu64 " %s", id,
                          state == ST_JOB_FAILED ? "failed" : "was cancelled");
                s_fail (s, j, why); /*  its own dependents are appended to the list  */
            }
        }
        if (ws) {
            free (ws->ids);
            free (ws);
        }
    }
    s->nsettle = 0;
    s->settling = 0;
}

static void
s_free_waiters (void *value, void *arg)
{
    (void) arg;
    s_waiters_t *w = value;
    free (w->ids);
    free (w);
}

void
st__deps_free (st__model_t *s)
{
    if (s->dependents)
        st_map_foreach (s->dependents, s_free_waiters, NULL);
    st_map_destroy (&s->dependents);
    st__deps_forget_states (s);
    free (s->settle);
    s->settle = NULL;
    s->nsettle = s->cap_settle = 0;
    st__registry_free (s);
}
