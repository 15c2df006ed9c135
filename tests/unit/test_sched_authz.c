/*  test_sched_authz.c: what a principal may see and do (model/authz.c), through
 *  the model alone: every role against every action on a job of its own
 *  tenant, of another tenant and of its own; the tenant of a submission; who
 *  reads env values; the tenant caps of the cluster file and the pending count
 *  they read. */
#include "sched_model_fixture.h"

#include "identity.h"

static st__model_t M;

static void
setup (void)
{
    mf_init (&M);
}
static void
teardown (void)
{
    mf_fini (&M);
}

TestSuite (sched_authz, .init = setup, .fini = teardown);

static const char *const RESEARCH[] = { "research", "shared" };

static st__principal_t
s_user (const char *name, st__role_t role)
{
    st__principal_t p = { .user = name, .role = role, .tenants = RESEARCH, .ntenants = 2 };
    return p;
}

/*  The decision for act on a job of tenant submitted by `by`.  */
static st__authz_t
s_decide (const st__principal_t *who, st__action_t act, const char *tenant, const char *by)
{
    st_error_t err = { 0 };
    st__authz_t a = st__authz_job (who, act, 42, tenant, by, &err);
    if (a == ST__AUTHZ_DENIED)
        cr_assert (strstr (err.msg, "needs role"), "a refusal names the role it needs: %s", err.msg);
    else
        cr_assert_eq (err.msg[0], '\0', "no message unless refused: %s", err.msg);
    return a;
}

Test (sched_authz, every_role_against_every_action_on_own_other_tenant_and_own_jobs)
{
    /*  expected[role][action][whose]: whose = 0 a colleague's job of its tenant,
     *  1 its own job, 2 a job of a tenant it does not belong to.  */
    static const struct {
        st__role_t role;
        st__authz_t see[3], cancel[3];
    } table[] = {
        { ST__ROLE_NONE,
          { ST__AUTHZ_DENIED, ST__AUTHZ_DENIED, ST__AUTHZ_HIDDEN },
          { ST__AUTHZ_DENIED, ST__AUTHZ_DENIED, ST__AUTHZ_HIDDEN } },
        { ST__ROLE_VIEWER,
          { ST__AUTHZ_ALLOW, ST__AUTHZ_ALLOW, ST__AUTHZ_HIDDEN },
          { ST__AUTHZ_DENIED, ST__AUTHZ_DENIED, ST__AUTHZ_HIDDEN } },
        { ST__ROLE_SUBMITTER,
          { ST__AUTHZ_ALLOW, ST__AUTHZ_ALLOW, ST__AUTHZ_HIDDEN },
          { ST__AUTHZ_DENIED, ST__AUTHZ_ALLOW, ST__AUTHZ_HIDDEN } },
        { ST__ROLE_OPERATOR,
          { ST__AUTHZ_ALLOW, ST__AUTHZ_ALLOW, ST__AUTHZ_HIDDEN },
          { ST__AUTHZ_ALLOW, ST__AUTHZ_ALLOW, ST__AUTHZ_HIDDEN } },
        { ST__ROLE_ADMIN,
          { ST__AUTHZ_ALLOW, ST__AUTHZ_ALLOW, ST__AUTHZ_ALLOW },
          { ST__AUTHZ_ALLOW, ST__AUTHZ_ALLOW, ST__AUTHZ_ALLOW } },
    };
    for (size_t r = 0; r < sizeof table / sizeof table[0]; r++) {
        st__principal_t who = s_user ("alice", table[r].role);
        const char *role = st__role_name (table[r].role);
        const char *tenant[3] = { "shared", "research", "marketing" };
        const char *by[3] = { "bob", "alice", "carol" };
        for (int w = 0; w < 3; w++) {
            cr_assert_eq (s_decide (&who, ST__ACT_SEE, tenant[w], by[w]), table[r].see[w], "%s sees case %d", role,
                          w);
            cr_assert_eq (s_decide (&who, ST__ACT_CANCEL, tenant[w], by[w]), table[r].cancel[w], "%s cancels case %d",
                          role, w);
        }
        /*  Submitting (st__authz_submit): from submitter up, to its own tenants only.  */
        const char *t = NULL;
        st_error_t err = { 0 };
        int may = table[r].role >= ST__ROLE_SUBMITTER;
        cr_assert_eq (st__authz_submit (&who, "shared", &t, &err), may ? 0 : -1, "%s submits", role);
        if (may)
            cr_assert_str_eq (t, "shared");
        else
            cr_assert (strstr (err.msg, "needs role submitter"), "%s", err.msg);
        st_error_clear (&err);
        cr_assert_eq (st__authz_submit (&who, "marketing", &t, &err), table[r].role == ST__ROLE_ADMIN ? 0 : -1,
                      "%s submits to another tenant", role);
    }
}

Test (sched_authz, the_development_install_is_the_admin_of_every_tenant)
{
    const st__principal_t *dev = &st__principal_development;
    cr_assert (st__authz_all_tenants (dev));
    cr_assert (st__authz_member (dev, "anything"));
    cr_assert_eq (s_decide (dev, ST__ACT_CANCEL, "research", ""), ST__AUTHZ_ALLOW);
    cr_assert_eq (s_decide (dev, ST__ACT_SEE, "research", "someone"), ST__AUTHZ_ALLOW);
    cr_assert (st__authz_sees_env (dev, "someone"));
    const char *t = NULL;
    st_error_t err = { 0 };
    cr_assert_eq (st__authz_submit (dev, NULL, &t, &err), 0);
    cr_assert_str_eq (t, "default", "a spec without a tenant goes to default, as before");
    cr_assert_eq (st__authz_submit (dev, "research", &t, &err), 0);
    cr_assert_str_eq (t, "research");
}

Test (sched_authz, refusals_name_the_role_needed_and_the_user)
{
    st__principal_t bob = s_user ("bob", ST__ROLE_SUBMITTER);
    st_error_t err = { 0 };
    cr_assert_eq (st__authz_job (&bob, ST__ACT_CANCEL, 7, "research", "alice", &err), ST__AUTHZ_DENIED);
    cr_assert_str_eq (
        err.msg, "permission denied: cancelling job 7 needs role operator (it is not your job); bob is a submitter");
    st__principal_t vic = s_user ("vic", ST__ROLE_VIEWER);
    st_error_clear (&err);
    cr_assert_eq (st__authz_job (&vic, ST__ACT_CANCEL, 8, "research", "vic", &err), ST__AUTHZ_DENIED);
    cr_assert_str_eq (err.msg, "permission denied: cancelling job 8 needs role submitter; vic is a viewer");
    /*  A job submitted before submitters were recorded is nobody's own.  */
    st_error_clear (&err);
    cr_assert_eq (st__authz_job (&bob, ST__ACT_CANCEL, 9, "research", "", &err), ST__AUTHZ_DENIED);
}

Test (sched_authz, a_submission_goes_to_the_spec_tenant_only_if_the_user_belongs_to_it)
{
    st__principal_t alice = s_user ("alice", ST__ROLE_SUBMITTER);
    const char *t = NULL;
    st_error_t err = { 0 };
    cr_assert_eq (st__authz_submit (&alice, NULL, &t, &err), 0);
    cr_assert_str_eq (t, "research", "no tenant in the spec: the user's first");
    cr_assert_eq (st__authz_submit (&alice, "shared", &t, &err), 0);
    cr_assert_str_eq (t, "shared");
    cr_assert_eq (st__authz_submit (&alice, "default", &t, &err), -1, "default is a tenant like any other");
    cr_assert_eq (st__authz_submit (&alice, "marketing", &t, &err), -1);
    cr_assert_str_eq (err.msg, "permission denied: tenant marketing: alice does not belong to it");
    cr_assert (strstr (err.hint, "research, shared"), "the hint lists the user's tenants: %s", err.hint);
    st__principal_t lone = { .user = "lone", .role = ST__ROLE_OPERATOR };
    st_error_clear (&err);
    cr_assert_eq (st__authz_submit (&lone, NULL, &t, &err), -1, "a user of no tenant has none to submit to");
    cr_assert (strstr (err.msg, "belongs to no tenant"), "%s", err.msg);
    /*  An admin with tenants defaults to its first; it may name any.  */
    st__principal_t root = s_user ("root", ST__ROLE_ADMIN);
    cr_assert_eq (st__authz_submit (&root, NULL, &t, &err), 0);
    cr_assert_str_eq (t, "research");
    cr_assert_eq (st__authz_submit (&root, "marketing", &t, &err), 0);
    cr_assert_str_eq (t, "marketing");
}

Test (sched_authz, env_values_are_for_the_submitter_and_admins)
{
    st__principal_t alice = s_user ("alice", ST__ROLE_SUBMITTER), op = s_user ("olga", ST__ROLE_OPERATOR),
                    root = s_user ("root", ST__ROLE_ADMIN);
    cr_assert (st__authz_sees_env (&alice, "alice"));
    cr_assert (!st__authz_sees_env (&alice, "bob"));
    cr_assert (!st__authz_sees_env (&op, "alice"), "an operator cancels the job but does not read its secrets");
    cr_assert (st__authz_sees_env (&root, "alice"));
    cr_assert (!st__authz_sees_env (&alice, ""), "nobody owns an unrecorded job");

    char *h = st__authz_hide_env ("{\"command\":[\"x\"],\"env\":{\"TOKEN\":\"s3cret\",\"MODE\":\"fast\"}}");
    cr_assert_not_null (h);
    cr_assert_null (strstr (h, "s3cret"), "%s", h);
    cr_assert_null (strstr (h, "fast"), "%s", h);
    cr_assert (strstr (h, "\"TOKEN\":\"(hidden)\""), "names stay, values go: %s", h);
    cr_assert (strstr (h, "\"MODE\":\"(hidden)\""), "%s", h);
    cr_assert (strstr (h, "\"command\":[\"x\"]"), "the rest stays: %s", h);
    free (h);
    cr_assert_null (st__authz_hide_env ("{\"command\":[\"x\"],\"env\":{}}"), "nothing to hide");
    cr_assert_null (st__authz_hide_env ("{\"command\":[\"x\"]}"));
    cr_assert_null (st__authz_hide_env ("not json"));
    cr_assert_null (st__authz_hide_env (""));
}

Test (sched_authz, listing_is_of_the_users_tenants)
{
    st__principal_t alice = s_user ("alice", ST__ROLE_VIEWER), nobody = s_user ("nobody", ST__ROLE_NONE);
    st_error_t err = { 0 };
    cr_assert_eq (st__authz_list (&alice, NULL, &err), 0);
    cr_assert_eq (st__authz_list (&alice, "", &err), 0);
    cr_assert_eq (st__authz_list (&alice, "shared", &err), 0);
    cr_assert_eq (st__authz_list (&alice, "marketing", &err), -1);
    cr_assert_str_eq (err.msg, "permission denied: tenant marketing: alice does not belong to it");
    st_error_clear (&err);
    cr_assert_eq (st__authz_list (&nobody, NULL, &err), -1);
    cr_assert (strstr (err.msg, "needs role viewer"), "%s", err.msg);
    cr_assert_eq (st__authz_list (&st__principal_development, "anything", &err), 0);
}

Test (sched_authz, models_of_a_tenant_are_seen_by_its_members)
{
    st__principal_t alice = s_user ("alice", ST__ROLE_VIEWER);
    cr_assert (st__authz_member (&alice, "research"));
    cr_assert (st__authz_member (&alice, "shared"));
    cr_assert (!st__authz_member (&alice, "marketing"));
    cr_assert (!st__authz_member (&alice, NULL));
    cr_assert (!st__authz_all_tenants (&alice));
}

/*  A cluster with tenant capped at max_priority 100 and max_pending 2, read from text.  */
static sp_cluster_t *
s_capped (void)
{
    static const char text[] =
        "{\"tenants\": [{\"name\": \"research\", \"max_priority\": 100, \"max_pending\": 2},"
        "{\"name\": \"ops\", \"max_priority\": -5}, {\"name\": \"free\", \"max_pending\": -1}]}";
    st_error_t err = { 0 };
    sp_cluster_t *c = sp_cluster_parse (text, strlen (text), &err);
    cr_assert_not_null (c, "%s", err.msg);
    return c;
}

Test (sched_authz, caps_name_the_limit_and_its_value)
{
    sp_cluster_t *c = s_capped ();
    st_error_t err = { 0 };
    cr_assert_eq (st__authz_caps (c, "research", 100, 0, &err), 0, "at the cap is within it");
    cr_assert_eq (st__authz_caps (c, "research", 1000, 0, &err), -1);
    cr_assert_str_eq (err.msg, "priority 1000 is above tenant research's max_priority 100");
    st_error_clear (&err);
    cr_assert_eq (st__authz_caps (c, "research", 0, 1, &err), 0);
    cr_assert_eq (st__authz_caps (c, "research", 0, 2, &err), -1);
    cr_assert_str_eq (err.msg, "tenant research has 2 jobs waiting to start, its max_pending 2");
    st_error_clear (&err);
    cr_assert_eq (st__authz_caps (c, "ops", -5, 0, &err), 0);
    cr_assert_eq (st__authz_caps (c, "ops", -4, 0, &err), -1, "a negative cap holds too");
    cr_assert_eq (st__authz_caps (c, "free", 1000, 1000000, &err), 0, "-1: no cap");
    cr_assert_eq (st__authz_caps (c, "unlisted", 1000, 1000000, &err), 0, "a tenant not listed has no caps");
    sp_cluster_free (&c);
    cr_assert_eq (st__authz_caps (NULL, "research", 1000, 1000000, &err), 0, "no cluster file: no caps");
}

Test (sched_authz, the_cluster_file_refuses_caps_out_of_range)
{
    static const char *const bad[] = {
        "{\"tenants\": [{\"name\": \"a\", \"max_priority\": 1001}]}",
        "{\"tenants\": [{\"name\": \"a\", \"max_priority\": \"high\"}]}",
        "{\"tenants\": [{\"name\": \"a\", \"max_pending\": -2}]}",
        "{\"tenants\": [{\"name\": \"a\", \"max_pending\": 1.5}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        st_error_t err = { 0 };
        sp_cluster_t *c = sp_cluster_parse (bad[i], strlen (bad[i]), &err);
        cr_assert_null (c, "accepted %s", bad[i]);
        cr_assert (strstr (err.msg, "tenants[0].max_p"), "names the field: %s", err.msg);
    }
}

static const char *JOB_R = "{\"command\":[\"x\"],\"tenant\":\"research\"}";
static const char *JOB_O = "{\"command\":[\"x\"],\"tenant\":\"ops\"}";

Test (sched_authz, pending_jobs_are_counted_per_tenant_as_they_move)
{
    mf_node (&M, "n1", 1, 4096); /*  room for one job at a time  */
    cr_assert_eq (st__tenant_pending (&M, "research"), 0);
    st__job_t *a = mf_submit (&M, JOB_R);
    st__job_t *b = mf_submit (&M, JOB_R);
    st__job_t *c = mf_submit (&M, JOB_O);
    cr_assert_eq (st__tenant_pending (&M, "research"), 2);
    cr_assert_eq (st__tenant_pending (&M, "ops"), 1);
    mf_place_and_run (&M); /*  one of them starts  */
    cr_assert_eq (st__tenant_pending (&M, "research") + st__tenant_pending (&M, "ops"), 2,
                  "a running job no longer counts");
    /*  A cancelled pending job leaves the count; so does one that ends.  */
    st__job_t *waiting = b->state == ST_JOB_PENDING ? b : a;
    mf_step (&M, {
        st__pending_remove (&M, waiting);
        st__job_set_state (&M, waiting, ST_JOB_CANCELLED, "cancelled");
    });
    uint64_t r = st__tenant_pending (&M, "research"), o = st__tenant_pending (&M, "ops");
    cr_assert_eq (r + o, 1);
    st__job_t *running = a->state == ST_JOB_RUNNING ? a : b->state == ST_JOB_RUNNING ? b : c;
    cr_assert_eq (running->state, ST_JOB_RUNNING);
    mf_end (&M, running, ST_JOB_SUCCEEDED);
    mf_place_and_run (&M);
    cr_assert_eq (st__tenant_pending (&M, "research") + st__tenant_pending (&M, "ops"), 0, "the last one started");
}

Test (sched_authz, a_requeued_job_counts_again)
{
    mf_node (&M, "n1", 1, 4096);
    st__job_t *a = mf_submit (&M, "{\"command\":[\"x\"],\"tenant\":\"research\",\"retries\":1}");
    mf_place_and_run (&M);
    cr_assert_eq (a->state, ST_JOB_RUNNING);
    cr_assert_eq (st__tenant_pending (&M, "research"), 0);
    mf_end (&M, a, ST_JOB_FAILED); /*  a retry: back to PENDING  */
    cr_assert_eq (a->state, ST_JOB_PENDING);
    cr_assert_eq (st__tenant_pending (&M, "research"), 1);
}
