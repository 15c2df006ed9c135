/*  taskuser.c: resolving the users tasks run as (see taskuser.h).
 *
 *  Looked up once at start: a user that appears later, or whose groups change,
 *  is seen after a worker restart. That keeps the passwd database (NSS, maybe a
 *  network directory) off the start path of every task. */
#include "taskuser.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct st__task_users {
    st__task_user_t dflt;   /*  --task-user  */
    st__task_user_t *users; /*  one per --tenant-user mapping  */
    char **tenants;         /*  their tenants  */
    size_t n;
};

/*  Fills u for name. Returns 0, or -1 with err filled (flag names the option).  */
static int
s_resolve (st__task_user_t *u, const char *name, const char *flag, st_error_t *err)
{
    memset (u, 0, sizeof *u);
    uid_t self = geteuid ();
    if (!name) {
        /*  The default: strata-task for a root worker, the worker's own user otherwise.  */
        if (self != 0) {
            struct passwd pw, *res = NULL;
            char buf[4096];
            u->uid = self;
            u->gid = getegid ();
            snprintf (u->name, sizeof u->name, "%u", (unsigned) self);
            if (getpwuid_r (self, &pw, buf, sizeof buf, &res) == 0 && res) {
                snprintf (u->name, sizeof u->name, "%s", pw.pw_name);
                snprintf (u->home, sizeof u->home, "%s", pw.pw_dir ? pw.pw_dir : "");
            }
            return 0;
        }
        name = ST__TASK_USER_DEFAULT;
    }
    struct passwd pw, *res = NULL;
    char buf[16384];
    int rc = getpwnam_r (name, &pw, buf, sizeof buf, &res);
    if (rc != 0 || !res) {
        st_error_set (err, ST_EINVAL, flag, "task user '%s' does not exist%s%s", name, rc ? ": " : "",
                      rc ? strerror (rc) : "");
        if (strcmp (name, ST__TASK_USER_DEFAULT) == 0)
            st_error_hint (err, "tasks never run as root: create the user with scripts/install-task-user.sh "
                                "(or scripts/install-deps.sh), or name another with --task-user USER");
        else
            st_error_hint (err,
                           "create it (useradd --system --shell /usr/sbin/nologin %s) or map the tenant "
                           "to an existing user",
                           name);
        return -1;
    }
    if (pw.pw_uid == 0) {
        st_error_set (err, ST_EINVAL, flag, "task user '%s' is root: tasks never run as root", name);
        st_error_hint (err, "name an unprivileged user, e.g. %s (scripts/install-task-user.sh creates it)",
                       ST__TASK_USER_DEFAULT);
        return -1;
    }
    if (self != 0 && pw.pw_uid != self) {
        st_error_set (err, ST_EINVAL, flag, "cannot run tasks as '%s': the worker is not root", name);
        st_error_hint (err,
                       "run the worker as root to run tasks as other users, or leave out %s (tasks then "
                       "run as the worker's own user)",
                       flag);
        return -1;
    }
    snprintf (u->name, sizeof u->name, "%s", pw.pw_name);
    snprintf (u->home, sizeof u->home, "%s", pw.pw_dir ? pw.pw_dir : "");
    u->uid = pw.pw_uid;
    u->gid = pw.pw_gid;
    u->switch_to = self == 0;
    int ng = ST__TASK_USER_GROUPS_MAX;
    if (getgrouplist (pw.pw_name, pw.pw_gid, u->groups, &ng) < 0) {
        /*  More than we keep: its primary group only.  */
        u->groups[0] = pw.pw_gid;
        ng = 1;
    }
    u->ngroups = (size_t) ng;
    return 0;
}

st__task_users_t *
st__task_users_new (const char *task_user, const st_kv_t *tenant_users, st_error_t *err)
{
    st__task_users_t *self = calloc (1, sizeof *self);
    size_t n = tenant_users ? tenant_users->n : 0;
    if (!self
        || (n
            && (!(self->users = calloc (n, sizeof *self->users))
                || !(self->tenants = calloc (n, sizeof *self->tenants))))) {
        st_error_set (err, ST_ENOMEM, NULL, "out of memory");
        goto fail;
    }
    if (s_resolve (&self->dflt, task_user && task_user[0] ? task_user : NULL, "task-user", err) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        const char *tenant = tenant_users->keys[i], *user = tenant_users->vals[i];
        if (!tenant || !tenant[0] || !user || !user[0]) {
            st_error_set (err, ST_EINVAL, "tenant-user", "--tenant-user takes TENANT=USER");
            goto fail;
        }
        if (s_resolve (&self->users[i], user, "tenant-user", err) != 0)
            goto fail;
        self->n = i + 1;
        if (!(self->tenants[i] = strdup (tenant))) {
            st_error_set (err, ST_ENOMEM, NULL, "out of memory");
            goto fail;
        }
    }
    return self;
fail:
    st__task_users_destroy (&self);
    return NULL;
}

void
st__task_users_destroy (st__task_users_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    st__task_users_t *self = *self_p;
    for (size_t i = 0; self->tenants && i < self->n; i++)
        free (self->tenants[i]);
    free (self->tenants);
    free (self->users);
    free (self);
    *self_p = NULL;
}

const st__task_user_t *
st__task_users_for (const st__task_users_t *self, const char *tenant)
{
    for (size_t i = 0; tenant && tenant[0] && i < self->n; i++)
        if (strcmp (self->tenants[i], tenant) == 0)
            return &self->users[i];
    return &self->dflt;
}

int
st__task_users_several (const st__task_users_t *self)
{
    for (size_t i = 0; i < self->n; i++)
        if (self->users[i].uid != self->dflt.uid)
            return 1;
    return 0;
}
