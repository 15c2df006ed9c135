#!/usr/bin/env bash
# test_submit_retry: a submission is taken exactly once, however often it is sent.
#   - the same submit (same client_token) sent twice gets the same job id, one job;
#   - after a SIGKILL and restart of the scheduler, the same resend still gets that id;
#   - `strata submit` started while the scheduler is down keeps resending until the
#     restarted scheduler answers, and the job is created once and runs.
. "$(dirname "$0")/lib.sh"

start_scheduler
start_worker w1 --cpus 2 --memory 2G

spec='{"name":"once","command":["true"]}'
"$ST_PY" "$ST_PROBE" submit --client "$ST_CLIENT_EP" --token tok-A "$spec" > "$T/first.json"
first=$(jq -r '[.. | .job_id? // empty][0]' "$T/first.json")
[[ $first =~ ^[0-9]+$ ]] || fail "no job id in the reply: $(cat "$T/first.json")"
"$ST_PY" "$ST_PROBE" submit --client "$ST_CLIENT_EP" --token tok-A "$spec" > "$T/second.json"
assert_eq "$(jq -r '[.. | .job_id? // empty][0]' "$T/second.json")" "$first" "job id of the resent submission"
assert_eq "$(sql "select count(*) from jobs")" 1 "jobs in the database"

kill9 scheduler
restart_scheduler
"$ST_PY" "$ST_PROBE" submit --client "$ST_CLIENT_EP" --token tok-A "$spec" > "$T/third.json"
assert_eq "$(jq -r '[.. | .job_id? // empty][0]' "$T/third.json")" "$first" "job id of the resend after a restart"
assert_eq "$(sql "select count(*) from jobs")" 1 "jobs in the database after the restart"
wait_job_state "$first" SUCCEEDED 30

info "strata submit while the scheduler is down"
kill9 scheduler
( "$ST_BIN/strata" --scheduler "$ST_CLIENT_EP" --timeout 15s submit --json -- echo late > "$T/late.out" 2> "$T/late.err";
  echo $? > "$T/late.rc" ) &
sub_pid=$!
sleep 2.5
restart_scheduler
wait "$sub_pid"
assert_eq "$(cat "$T/late.rc")" 0 "exit status of the submit made while the scheduler was down ($(cat "$T/late.err"))"
late=$(jq -r .id "$T/late.out")
[[ $late =~ ^[0-9]+$ ]] || fail "no job id: $(cat "$T/late.out")"
assert_eq "$(sql "select count(*) from jobs where name = 'echo'")" 1 "jobs created by the resent submit"
wait_job_state "$late" SUCCEEDED 30
assert_eq "$(st logs "$late")" late "output of job $late"
pass
