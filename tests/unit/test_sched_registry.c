/*  test_sched_registry.c: fine-tuned model versions (model/registry.c) through
 *  the model alone: registration on success, lookup, and binding a job. */
#include "sched_model_fixture.h"

static st__model_t M;

static void
setup (void)
{
    mf_init (&M);
    /*  Pool p keeps its data under /store: a fine-tune's checkpoint goes there,
     *  by tenant and model (st__job_checkpoint_dir).  */
    int p = sp_cluster_pool_add_implicit (M.cluster, "p");
    cr_assert_geq (p, 0);
    M.cluster->pools[p].storage_root = strdup ("/store");
}
static void
teardown (void)
{
    mf_fini (&M);
}

TestSuite (sched_registry, .init = setup, .fini = teardown);

static const char *FT =
    "{\"kind\":\"finetune\",\"launcher\":\"direct\",\"command\":[\"train\"],\"output_model\":\"acme-twin\"}";

Test (sched_registry, a_finetune_that_succeeds_registers_the_next_version)
{
    mf_node (&M, "n1", 4, 4096);
    cr_assert_null (st__registry_find (&M, "default", "acme-twin", 0));
    st__job_t *a = mf_submit (&M, FT);
    mf_place_and_run (&M);
    mf_end (&M, a, ST_JOB_SUCCEEDED);
    const st__model_version_t *v1 = st__registry_find (&M, "default", "acme-twin", 0);
    cr_assert_not_null (v1);
    cr_assert_eq (v1->version, 1);
    cr_assert_eq (v1->job_id, a->id);
    cr_assert_str_eq (v1->checkpoint, "/store/default/models/acme-twin/job-1", "where the scheduler says");
    cr_assert_str_eq (v1->pool, "p");
    cr_assert_eq (v1->created_wall, mf_now_wall, "stamped with the model's clock, not read from one");
    cr_assert_eq (M.nnew_versions, 1, "queued for the next flush");

    st__job_t *b = mf_submit (&M, FT);
    mf_place_and_run (&M);
    mf_end (&M, b, ST_JOB_SUCCEEDED);
    cr_assert_eq (st__registry_find (&M, "default", "acme-twin", 0)->version, 2, "0 asks for the latest");
    cr_assert_str_eq (st__registry_find (&M, "default", "acme-twin", 2)->checkpoint,
                      "/store/default/models/acme-twin/job-2", "a folder per job: the version is known at the end");
    cr_assert_eq (st__registry_find (&M, "default", "acme-twin", 1), v1);
    cr_assert_null (st__registry_find (&M, "default", "acme-twin", 3));
    cr_assert_null (st__registry_find (&M, "other", "acme-twin", 0), "names are per tenant");
    const st__model_version_t **list = NULL;
    cr_assert_eq (st__registry_list (&M, &list), 2);
    cr_assert_eq (list[0]->version, 1);
    cr_assert_eq (list[1]->version, 2);
    free (list);
}

Test (sched_registry, a_failed_finetune_registers_nothing)
{
    mf_node (&M, "n1", 4, 4096);
    st__job_t *a = mf_submit (&M, FT);
    mf_place_and_run (&M);
    mf_end (&M, a, ST_JOB_FAILED);
    cr_assert_null (st__registry_find (&M, "default", "acme-twin", 0));
    cr_assert_eq (M.nnew_versions, 0);
}

Test (sched_registry, a_job_naming_a_version_is_bound_to_it)
{
    mf_node (&M, "n1", 4, 4096);
    st__job_t *a = mf_submit (&M, FT);
    mf_place_and_run (&M);
    mf_end (&M, a, ST_JOB_SUCCEEDED);
    cr_assert (
        st__registry_is_finetune (&M, mf_submit (&M, "{\"command\":[\"use\"],\"model\":\"acme-twin\"}")->spec));
    st__job_t *u = st_map_get_u64 (M.jobs, 2);
    cr_assert_eq (u->ft_version, 1);
    cr_assert_str_eq (u->model_ref, "acme-twin:1");
    cr_assert_str_eq (u->model_uri, "/store/default/models/acme-twin/job-1");
    cr_assert (u->in_pending, "%s", u->reason);
}

Test (sched_registry, a_version_nobody_registered_is_refused_or_awaited)
{
    st_error_t err = { 0 };
    cr_assert_null (mf_submit_err (&M, "{\"command\":[\"use\"],\"model\":\"acme-twin\"}", &err));
    cr_assert_eq (err.rc, ST_EINVAL, "no version and no dependency that could register one");
    /*  A dependency that will register it: the job waits for it.  */
    mf_submit (&M, FT);
    st__job_t *u = mf_submit (&M, "{\"command\":[\"use\"],\"model\":\"acme-twin\",\"depends_on\":[1]}");
    cr_assert_not (u->in_pending);
    cr_assert (strstr (u->reason, "no registered version yet") != NULL, "%s", u->reason);
}

Test (sched_registry, versions_read_back_are_added_and_numbered_after)
{
    st__model_version_t *v = calloc (1, sizeof *v);
    cr_assert_not_null (v);
    v->tenant = strdup ("default");
    v->name = strdup ("acme-twin");
    v->version = 7;
    v->job_id = 1;
    v->checkpoint = strdup ("/ckpt/old");
    v->pool = strdup ("p");
    st__registry_add (&M, v);
    mf_check (&M);
    cr_assert_eq (st__registry_find (&M, "default", "acme-twin", 0), v);
    mf_node (&M, "n1", 4, 4096);
    M.next_job_id = 5;
    st__job_t *a = mf_submit (&M, FT);
    mf_place_and_run (&M);
    mf_end (&M, a, ST_JOB_SUCCEEDED);
    cr_assert_eq (st__registry_find (&M, "default", "acme-twin", 0)->version, 8);
}

Test (sched_registry, a_spec_never_chooses_where_weights_are_registered_from)
{
    st_error_t err = { 0 };
    cr_assert_null (
        mf_submit_err (&M,
                       "{\"kind\":\"finetune\",\"launcher\":\"direct\",\"command\":[\"t\"],"
                       "\"checkpoint_dir\":\"/store/other/models/twin/job-9\",\"output_model\":\"acme-twin\"}",
                       &err));
    cr_assert_str_eq (err.field, "checkpoint_dir");
    cr_assert (strstr (err.msg, "where the scheduler says"), "%s", err.msg);
    /*  Nor may any job's checkpoint_dir point into a tenant's models folder, however it is spelt.  */
    const char *into[] = { "/store/other/models", "/store/other/models/twin/job-9", "/store//x/../other/./models/t",
                           "/store/default/models/acme-twin/job-1" };
    for (size_t i = 0; i < sizeof into / sizeof *into; i++) {
        char spec[256];
        snprintf (spec, sizeof spec, "{\"command\":[\"t\"],\"checkpoint_dir\":\"%s\"}", into[i]);
        cr_assert_null (mf_submit_err (&M, spec, &err), "%s", into[i]);
        cr_assert_str_eq (err.field, "checkpoint_dir");
        cr_assert (strstr (err.msg, "models folder under the storage root of pool p"), "%s", err.msg);
    }
    cr_assert_null (mf_submit_err (&M,
                                   "{\"kind\":\"finetune\",\"launcher\":\"direct\",\"command\":[\"t\"],"
                                   "\"output_model\":\"../other/models/twin\"}",
                                   &err));
    cr_assert_str_eq (err.field, "output_model");
    /*  Elsewhere, a job's own checkpoint_dir is still its own.  */
    mf_node (&M, "n1", 4, 4096);
    st__job_t *a = mf_submit (&M, "{\"command\":[\"t\"],\"checkpoint_dir\":\"/store/other/scratch\"}");
    char buf[256];
    cr_assert_str_eq (st__job_checkpoint_dir (&M, a, buf, sizeof buf), "/store/other/scratch");
    st__job_t *b = mf_submit (&M, "{\"command\":[\"t\"]}");
    mf_place_and_run (&M);
    cr_assert_str_eq (st__job_checkpoint_dir (&M, b, buf, sizeof buf), "/store/checkpoints/job-2");
}
