/*  test_sched_attempt.c: the event an earlier task attempt leaves when its job
 *  is requeued (sql/006_task_usage.sql) reads back into a task record, the
 *  figures `strata show` prints for that attempt.  */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "model.h"

Test (attempt, oom_killed_attempt)
{
    st__task_record_t r = { 0 };
    cr_assert_eq (st__attempt_parse ("FAILED exit=- signal=9 peak_mem_kib=65536 cpu_ms=276 reason=killed: out of "
                                     "memory (limit 64 MiB)",
                                     &r),
                  0);
    cr_assert_str_eq (r.state, "FAILED");
    cr_assert_eq (r.exit_code, -1, "killed by a signal: no exit code");
    cr_assert_eq (r.term_signal, 9);
    cr_assert (r.has_peak);
    cr_assert_eq (r.peak_mem_kib, 65536);
    cr_assert (r.has_cpu);
    cr_assert_eq (r.cpu_ms, 276);
    cr_assert_str_eq (r.reason, "killed: out of memory (limit 64 MiB)", "the reason is the rest of the text");
    free (r.state);
    free (r.reason);
}

Test (attempt, unmeasured_success)
{
    st__task_record_t r = { 0 };
    cr_assert_eq (st__attempt_parse ("SUCCEEDED exit=0 signal=0 peak_mem_kib=- cpu_ms=- reason=", &r), 0);
    cr_assert_str_eq (r.state, "SUCCEEDED");
    cr_assert_eq (r.exit_code, 0);
    cr_assert (!r.has_peak, "a node without cgroups measured nothing");
    cr_assert (!r.has_cpu);
    cr_assert_str_eq (r.reason, "");
    free (r.state);
    free (r.reason);
}

Test (attempt, other_text_is_refused)
{
    st__task_record_t r = { 0 };
    cr_assert_eq (st__attempt_parse ("rank 0 exited with code 3", &r), -1);
    cr_assert_eq (st__attempt_parse ("FAILED exit=x signal=0 peak_mem_kib=1 cpu_ms=1 reason=", &r), -1);
    cr_assert_eq (st__attempt_parse ("FAILED exit=1 signal=0 peak_mem_kib=12k cpu_ms=1 reason=", &r), -1);
    cr_assert_null (r.state, "nothing is allocated for a refused text");
}
