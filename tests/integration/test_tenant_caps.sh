#!/usr/bin/env bash
# test_tenant_caps: the cluster file's tenant caps (max_priority, max_pending) in the
# development install (no tokens: every request is the local admin; caps bind it too).
#   - a submission above research's max_priority is refused with ERROR_LIMIT, naming the
#     limit and its value; one at the cap is taken;
#   - a flood of submissions to research stops at max_pending, naming it; another tenant's
#     jobs are not held back; a pending job that is cancelled or starts makes room;
#   - the count survives a scheduler restart (the pending jobs are loaded again);
#   - each job records who submitted it (jobs.submitted_by, `strata show`), and a spec
#     without a tenant goes to tenant default, as before.
# No worker runs until the end, so every job stays PENDING while the test counts.
. "$(dirname "$0")/lib.sh"

cat > "$T/cluster.yaml" <<EOF
tenants:
  - {name: research, max_priority: 100, max_pending: 3}
  - {name: prod, weight: 2}
EOF
start_scheduler --cluster "$T/cluster.yaml"

# refused CMD...: the CLI must fail; prints its stderr.
refused () {
    local err rc=0
    err=$(st "$@" 2>&1 >/dev/null) || rc=$?
    [ $rc -ne 0 ] || fail "strata $* was accepted"
    echo "$err"
}

# -- max_priority ---------------------------------------------------------------------
err=$(refused submit --tenant research --priority 1000 -- true)
grep -qF "priority 1000 is above tenant research's max_priority 100" <<< "$err" \
    || fail "over-cap priority: the error does not name the limit: $err"
ok "priority 1000 refused: $(head -1 <<< "$err")"
assert_eq "$(sql "SELECT count(*) FROM jobs")" 0 "jobs written for the refused submission"
a=$(submit_job --tenant research --priority 100 -- true)
assert_eq "$(job_field "$a" .priority)" 100 "priority of a job at the cap"
p=$(submit_job --tenant prod --priority 1000 -- true)
assert_eq "$(job_field "$p" .tenant)" prod "an uncapped tenant takes priority 1000"

# -- max_pending ------------------------------------------------------------------------
b=$(submit_job --tenant research -- true)
c=$(submit_job --tenant research -- true)
for i in 1 2 3 4 5; do
    err=$(refused submit --tenant research -- true)
    grep -qF "tenant research has 3 jobs waiting to start, its max_pending 3" <<< "$err" \
        || fail "pending flood, submission $i: the error does not name the limit: $err"
done
ok "a flood stops at max_pending: $(head -1 <<< "$err")"
assert_eq "$(sql "SELECT count(*) FROM jobs WHERE tenant = 'research'")" 3 "research jobs in the database"
for i in 1 2 3 4; do submit_job --tenant prod -- true >/dev/null; done
ok "tenant prod is not held back by research's cap"

st cancel "$c" >/dev/null || fail "cancel of pending job $c"
wait_job_state "$c" CANCELLED 10
c2=$(submit_job --tenant research -- true)
ok "a cancelled job made room: job $c2"
refused submit --tenant research -- true >/dev/null

info "restart: the pending count is rebuilt from the jobs loaded"
stop_daemon scheduler
restart_scheduler
err=$(refused submit --tenant research -- true)
grep -qF "its max_pending 3" <<< "$err" || fail "after a restart the cap no longer holds: $err"
ok "max_pending holds after a restart"

# -- who submitted, and the default tenant ---------------------------------------------
d=$(submit_job -- true)
assert_eq "$(job_field "$d" .tenant)" default "tenant of a spec without one in the development install"
assert_eq "$(job_field "$d" .submitted_by)" admin "submitted_by in strata show --json"
assert_eq "$(sql "SELECT submitted_by FROM jobs WHERE id = $a")" admin "jobs.submitted_by"
st show "$a" | grep -qE '^submitted by: +admin$' || fail "strata show does not print who submitted job $a"
assert_eq "$(job_field "$a" .env_hidden)" false "env_hidden for the submitter"

# -- a job that starts leaves the count ---------------------------------------------------
start_worker w1 --cpus 8
wait_job_state "$a" SUCCEEDED 30
wait_job_state "$b" SUCCEEDED 30
e=$(submit_job --tenant research -- true)
ok "jobs that ran made room: job $e"
pass
