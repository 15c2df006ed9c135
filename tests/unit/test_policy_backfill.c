/*  test_policy_backfill.c: EASY backfill. The first job that cannot start
 *  gets a reservation; later jobs start only if they end before it or leave
 *  the reserved room alone; the head job never starves.  */
#include "test_policy_fixture.h"

/*  One 8-GPU node; R holds 6 GPUs until now + 1 h; H (the head) needs all 8.  */
static fx_t *
s_setup (sp_job_t **r, sp_job_t **h)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "n", "p", "A100", 64, 8, NULL);
    *r = fx_job (fx, 1, 6);
    (*r)->time_limit_s = 3600;
    fx_cycle (fx, SP_POLICY_BACKFILL);
    cr_assert ((*r)->running);
    *h = fx_job (fx, 1, 8);
    return fx;
}

Test (backfill, a_short_job_backfills)
{
    sp_job_t *r, *h;
    fx_t *fx = s_setup (&r, &h);
    sp_job_t *s = fx_job (fx, 1, 2);
    s->time_limit_s = 1800;
    fx_cycle (fx, SP_POLICY_BACKFILL);
    cr_assert (!h->running);
    cr_assert (s->running, "%s", fx_wait (fx, s) ? fx_wait (fx, s)->reason : "");
    cr_assert (fx_placement (fx, s)->backfilled);
    cr_assert (strstr (fx_placement (fx, s)->reason, "backfilled"), "%s", fx_placement (fx, s)->reason);
    const sp_wait_t *w = fx_wait (fx, h);
    cr_assert (w->reservation);
    cr_assert_float_eq (w->expected_start_s, fx->now + 3600, 1e-9);
    cr_assert (strstr (w->reason, "expected start in 60 min (pool p)"), "%s", w->reason);
    fx_free (fx);
}

Test (backfill, a_long_job_does_not_delay_the_reservation)
{
    sp_job_t *r, *h;
    fx_t *fx = s_setup (&r, &h);
    sp_job_t *l = fx_job (fx, 1, 2);
    l->time_limit_s = 7200;
    sp_job_t *u = fx_job (fx, 1, 2); /*  no time limit: cannot promise to end  */
    fx_cycle (fx, SP_POLICY_BACKFILL);
    cr_assert (!l->running);
    cr_assert (!u->running);
    cr_assert (strstr (fx_wait (fx, l)->reason, "held back for job"), "%s", fx_wait (fx, l)->reason);
    fx_free (fx);
}

Test (backfill, extra_room_beyond_the_reservation_is_used)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "n", "p", "A100", 64, 8, NULL);
    sp_job_t *r = fx_job (fx, 1, 4);
    r->time_limit_s = 3600;
    fx_cycle (fx, SP_POLICY_BACKFILL);
    sp_job_t *h = fx_job (fx, 1, 6); /*  at T: 4 free + 4 back = 8, 6 needed: 2 extra  */
    sp_job_t *u = fx_job (fx, 1, 2); /*  no time limit, but fits in the extra  */
    sp_job_t *v = fx_job (fx, 1, 1); /*  nothing extra left  */
    fx_cycle (fx, SP_POLICY_BACKFILL);
    cr_assert (!h->running);
    cr_assert (u->running);
    cr_assert (!v->running);
    fx_free (fx);
}

Test (backfill, a_job_without_time_limit_may_use_other_nodes)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "n1", "p", "A100", 64, 8, NULL);
    fx_node (fx, "n2", "p", "A100", 64, 2, NULL);
    sp_job_t *r = fx_job (fx, 1, 6);
    r->time_limit_s = 3600;
    fx_cycle (fx, SP_POLICY_BACKFILL);
    cr_assert_str_eq (fx_placement (fx, r)->nodes[0]->name, "n1");
    sp_job_t *h = fx_job (fx, 1, 8);
    sp_job_t *u = fx_job (fx, 1, 2);
    fx_cycle (fx, SP_POLICY_BACKFILL);
    cr_assert (!h->running);
    cr_assert (u->running);
    cr_assert_str_eq (fx_placement (fx, u)->nodes[0]->name, "n2", "the reserved node is left alone");
    fx_free (fx);
}

Test (backfill, the_head_job_does_not_starve)
{
    sp_job_t *r, *h;
    fx_t *fx = s_setup (&r, &h);
    double t0 = fx->now;
    /*  A stream of short jobs, one every 10 minutes, each for 15 minutes.  */
    sp_job_t *prev = NULL;
    for (int i = 0; i < 6; i++) {
        sp_job_t *s = fx_job (fx, 1, 2);
        s->time_limit_s = 900;
        fx_cycle (fx, SP_POLICY_BACKFILL);
        cr_assert (!h->running);
        const sp_wait_t *w = fx_wait (fx, h);
        cr_assert_float_eq (w->expected_start_s, t0 + 3600, 1e-9, "the reservation does not move");
        if (prev && prev->running && fx->now >= prev->start_s + 900)
            fx_end (fx, prev, 0);
        prev = s->running ? s : prev;
        fx->now += 600;
    }
    fx->now = t0 + 3600;
    fx_end (fx, r, 0);
    for (size_t i = 0; i < fx->njobs; i++)
        if (fx->jobs[i].running && &fx->jobs[i] != h && fx->now >= fx->jobs[i].start_s + 900)
            fx_end (fx, &fx->jobs[i], 0);
    sp_job_t *late = fx_job (fx, 1, 1);
    late->time_limit_s = 60;
    fx_cycle (fx, SP_POLICY_BACKFILL);
    cr_assert (h->running, "%s", fx_wait (fx, h) ? fx_wait (fx, h)->reason : "");
    cr_assert (!late->running);
    fx_free (fx);
}

Test (backfill, fifo_keeps_strict_order)
{
    sp_job_t *r, *h;
    fx_t *fx = s_setup (&r, &h);
    sp_job_t *s = fx_job (fx, 1, 1);
    s->time_limit_s = 60;
    fx_cycle (fx, SP_POLICY_FIFO);
    cr_assert (!s->running);
    cr_assert (strstr (fx_wait (fx, s)->reason, "job 2 is first in line"), "%s", fx_wait (fx, s)->reason);
    cr_assert_float_eq (fx_wait (fx, h)->expected_start_s, fx->now + 3600, 1e-9, "still told when");
    fx_free (fx);
}

Test (backfill, unknown_start_when_running_jobs_have_no_limit)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "n", "p", "A100", 64, 8, NULL);
    sp_job_t *r = fx_job (fx, 1, 6);
    fx_cycle (fx, SP_POLICY_BACKFILL);
    cr_assert (r->running);
    sp_job_t *h = fx_job (fx, 1, 8);
    sp_job_t *s = fx_job (fx, 1, 2);
    s->time_limit_s = 60;
    fx_cycle (fx, SP_POLICY_BACKFILL);
    const sp_wait_t *w = fx_wait (fx, h);
    cr_assert (w->reservation);
    cr_assert_float_eq (w->expected_start_s, -1, 1e-9);
    cr_assert (strstr (w->reason, "no time limit"), "%s", w->reason);
    cr_assert (!s->running, "with no end in sight nothing counts as ending before it");
    fx_free (fx);
}

Test (backfill, the_wait_reason_names_what_holds_the_room)
{
    fx_t *fx = fx_new (NULL);
    fx_node (fx, "n", "onprem-gpu", "A100", 64, 8, NULL);
    for (int i = 0; i < 3; i++) {
        sp_job_t *r = fx_job (fx, 1, 2);
        r->time_limit_s = 720;
    }
    fx_cycle (fx, SP_POLICY_DEFAULT);
    sp_job_t *h = fx_job (fx, 1, 4);
    fx_cycle (fx, SP_POLICY_DEFAULT);
    const sp_wait_t *w = fx_wait (fx, h);
    cr_assert_str_eq (w->reason, "waiting: needs 4 GPU, 1 CPU, 1024 MiB; pool onprem-gpu has 2 GPU free "
                                 "(6 held by 3 jobs); expected start in 12 min (pool onprem-gpu)");
    fx_free (fx);
}
