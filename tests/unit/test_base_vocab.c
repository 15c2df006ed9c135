/*  test_base_vocab.c: the shared words (st_vocab): every name parses back to
 *  its value, unknown names and values are refused or shown as unknown.  */
#include <criterion/criterion.h>

#include <string.h>

#include "st_vocab.h"

#define ROUND_TRIP(type, count, name_fn, parse_fn)                             \
    do {                                                                       \
        for (int i = 0; i < (int) (count); i++) {                              \
            type back;                                                         \
            const char *nm = name_fn ((type) i);                               \
            cr_assert_eq (parse_fn (nm, &back), 0, "%s", nm);                  \
            cr_assert_eq ((int) back, i, "%s", nm);                            \
        }                                                                      \
        type untouched = (type) 1;                                             \
        cr_assert_neq (parse_fn ("nonsense", &untouched), 0);                  \
        cr_assert_neq (parse_fn ("", &untouched), 0);                          \
        cr_assert_neq (parse_fn (NULL, &untouched), 0);                        \
        cr_assert_eq ((int) untouched, 1, "a refused name leaves *out alone"); \
    } while (0)

Test (vocab, join_writes_a_whole_table)
{
    char buf[128];
    cr_assert_eq (st_vocab_join (st_job_state_names (), " ", buf, sizeof buf), 76);
    cr_assert_str_eq (buf, "PENDING SCHEDULED STARTING RUNNING SUCCEEDED FAILED CANCELLED PREEMPTED LOST");
    cr_assert_eq (st_vocab_join (st_site_names (), ", ", buf, sizeof buf), 41);
    cr_assert_str_eq (buf, "onprem, private_cloud, public_cloud, edge");
    /*  cut to fit, always terminated, and the whole length still counted  */
    char small[10];
    memset (small, 'x', sizeof small);
    cr_assert_eq (st_vocab_join (st_job_state_names (), " ", small, sizeof small), 76);
    cr_assert_str_eq (small, "PENDING S");
    cr_assert_eq (st_vocab_join (st_kind_names (), "|", small, 1), 26);
    cr_assert_str_eq (small, "");
    cr_assert_eq (st_vocab_join (st_kind_names (), "|", NULL, 0), 26);
    const char *none[] = { NULL };
    cr_assert_eq (st_vocab_join (none, " ", buf, sizeof buf), 0);
    cr_assert_str_eq (buf, "");
}

Test (vocab, round_trips)
{
    ROUND_TRIP (st_job_state_t, ST_JOB__COUNT, st_job_state_name, st_job_state_parse);
    ROUND_TRIP (st_task_state_t, ST_TASK__COUNT, st_task_state_name, st_task_state_parse);
    ROUND_TRIP (st_site_t, ST_SITE__COUNT, st_site_name, st_site_parse);
    ROUND_TRIP (st_class_t, ST_CLASS__COUNT, st_class_name, st_class_parse);
    ROUND_TRIP (st_kind_t, ST_KIND__COUNT, st_kind_name, st_kind_parse);
    ROUND_TRIP (st_launcher_t, ST_LAUNCHER__COUNT, st_launcher_name, st_launcher_parse);
}

Test (vocab, names_as_written_in_specs_and_on_the_wire)
{
    cr_assert_str_eq (st_job_state_name (ST_JOB_PENDING), "PENDING");
    cr_assert_str_eq (st_job_state_name (ST_JOB_LOST), "LOST");
    cr_assert_str_eq (st_task_state_name (ST_TASK_PREEMPTED), "PREEMPTED");
    cr_assert_str_eq (st_site_name (ST_SITE_PRIVATE_CLOUD), "private_cloud");
    cr_assert_str_eq (st_class_name (ST_CLASS_RESTRICTED), "restricted");
    cr_assert_str_eq (st_kind_name (ST_KIND_INFERENCE), "inference");
    cr_assert_str_eq (st_launcher_name (ST_LAUNCHER_MPIRUN), "mpirun");
    cr_assert_eq (ST_LAUNCHER_DIRECT, 0, "the launcher values specs stored before keep their meaning");
    /*  case matters: states are upper-case, the other words lower-case  */
    st_job_state_t s;
    cr_assert_neq (st_job_state_parse ("pending", &s), 0);
    st_site_t k;
    cr_assert_neq (st_site_parse ("ONPREM", &k), 0);
    st_launcher_t l;
    cr_assert_neq (st_launcher_parse ("auto", &l), 0, "auto is resolved by the spec parser, never stored");
}

Test (vocab, unknown_values)
{
    cr_assert_str_eq (st_job_state_name ((st_job_state_t) ST_JOB__COUNT), "UNKNOWN");
    cr_assert_str_eq (st_job_state_name ((st_job_state_t) -1), "UNKNOWN");
    cr_assert_str_eq (st_task_state_name ((st_task_state_t) 99), "UNKNOWN");
    cr_assert_str_eq (st_site_name ((st_site_t) ST_SITE__COUNT), "?");
    cr_assert_str_eq (st_class_name ((st_class_t) 42), "?");
    cr_assert_str_eq (st_kind_name ((st_kind_t) ST_KIND__COUNT), "?");
    cr_assert_str_eq (st_launcher_name ((st_launcher_t) 7), "?");
}

Test (vocab, tables_and_terminal_states)
{
    const char *const *n = st_job_state_names ();
    int count = 0;
    while (n[count])
        count++;
    cr_assert_eq (count, ST_JOB__COUNT);
    cr_assert_null (st_site_names ()[ST_SITE__COUNT]);
    cr_assert_null (st_class_names ()[ST_CLASS__COUNT]);
    cr_assert_null (st_kind_names ()[ST_KIND__COUNT]);
    cr_assert_null (st_launcher_names ()[ST_LAUNCHER__COUNT]);
    for (int i = 0; i < ST_JOB__COUNT; i++) {
        int t = i == ST_JOB_SUCCEEDED || i == ST_JOB_FAILED || i == ST_JOB_CANCELLED;
        cr_assert_eq (st_job_state_terminal ((st_job_state_t) i), t, "%s", n[i]);
        cr_assert_eq (st_job_state_name_terminal (n[i]), t, "%s", n[i]);
    }
    cr_assert_eq (st_job_state_name_terminal (NULL), 0);
    cr_assert_eq (st_job_state_name_terminal ("DONE"), 0);
    /*  the classification order is the clearance order  */
    cr_assert_lt (ST_CLASS_PUBLIC, ST_CLASS_INTERNAL);
    cr_assert_lt (ST_CLASS_INTERNAL, ST_CLASS_CONFIDENTIAL);
    cr_assert_lt (ST_CLASS_CONFIDENTIAL, ST_CLASS_RESTRICTED);
}
