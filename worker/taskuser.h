/*  taskuser.h: the unprivileged users a worker runs tasks as.
 *
 *  A worker running as root never runs a task as root: each task runs as its
 *  tenant's user (--tenant-user TENANT=USER, repeatable) or, for every other
 *  tenant, as --task-user (default "strata-task", which scripts/install-deps.sh
 *  creates as a system user without a login shell). A worker that is not root
 *  cannot switch users: its tasks run as itself, and --task-user or
 *  --tenant-user naming another user is an error.
 *
 *  Every user is resolved once, when the worker starts (getpwnam_r and
 *  getgrouplist, in the worker: never in a vfork child), into an st__task_user_t
 *  that lives as long as the process; task.c switches to it in the child just
 *  before execve with raw setgroups/setresgid/setresuid system calls. */
#ifndef ST_WORKER_TASKUSER_H
#define ST_WORKER_TASKUSER_H

#include <stddef.h>
#include <sys/types.h>
#include "st_error.h"
#include "st_spec.h"

#define ST__TASK_USER_DEFAULT "strata-task"
#define ST__TASK_USER_GROUPS_MAX 64 /*  supplementary groups kept of a task user  */

/*  One user tasks run as.  */
typedef struct {
    char name[64];
    uid_t uid;
    gid_t gid;
    char home[256]; /*  its passwd home: the task's HOME  */
    int switch_to;  /*  1: the child switches to uid/gid (the worker is root); 0: runs as the worker  */
    gid_t groups[ST__TASK_USER_GROUPS_MAX];
    size_t ngroups;
} st__task_user_t;

typedef struct st__task_users st__task_users_t;

/*  Resolves --task-user (task_user NULL or "": the default) and every
 *  --tenant-user mapping. Fails, with a message and a hint, when a user does
 *  not exist, is root, or differs from the worker's own user while the worker
 *  is not root. Caller owns the result.  */
st__task_users_t *st__task_users_new (const char *task_user, const st_kv_t *tenant_users, st_error_t *err);

/*  NULL-safe; sets *self_p = NULL.  */
void st__task_users_destroy (st__task_users_t **self_p);

/*  The user a task of tenant runs as (tenant NULL or "": the default user).
 *  Valid until st__task_users_destroy.  */
const st__task_user_t *st__task_users_for (const st__task_users_t *self, const char *tenant);

/*  Non-zero when the tasks of different tenants may run as different users.  */
int st__task_users_several (const st__task_users_t *self);

#endif
