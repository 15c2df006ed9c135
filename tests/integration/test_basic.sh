#!/usr/bin/env bash
# test_basic: the life of a job through the CLI.
#   - a job runs, ends SUCCEEDED, and its stdout and stderr come back through `strata logs`;
#   - `sh -c 'exit 3'` ends FAILED with exit_code 3;
#   - cancelling a running `sleep 60` ends CANCELLED and its process is gone;
#   - a job over its time limit is stopped (FAILED, process gone);
#   - a two-rank job runs both ranks with RANK/WORLD_SIZE, each with its own log;
#   - `strata logs -f` follows a running job and returns when it ends;
#   - a job pinned to a missing pool stays PENDING with a reason and can be cancelled;
#   - the CLI's error contract: unknown job -> exit 1 with one `strata: error:` line;
#     unreachable scheduler -> exit 1 with the hint.
. "$(dirname "$0")/lib.sh"

start_scheduler
start_worker w1 --cpus 2 --memory 2G

info "a job that succeeds, with output on stdout and stderr"
id=$(submit_job --name hello -- sh -c 'echo "hello from $STRATA_JOB_ID rank $STRATA_RANK/$STRATA_WORLD_SIZE"; echo "to stderr" >&2')
wait_job_state "$id" SUCCEEDED 30
assert_eq "$(job_field "$id" .exit_code)" 0 "exit_code of job $id"
assert_eq "$(job_field "$id" .name)" hello "name of job $id"
assert_eq "$(job_field "$id" '.tasks[0].node')" w1 "node of job $id"
out=$(st logs "$id")
assert_eq "$out" "hello from $id rank 0/1" "stdout of job $id via strata logs"
err=$(st logs "$id" --stderr)
assert_eq "$err" "to stderr" "stderr of job $id via strata logs --stderr"
st jobs --all | grep -qE "^ *$id +hello" || { st jobs --all; fail "job $id missing from strata jobs --all"; }
ok "job $id is listed by strata jobs --all"

info "a job whose command exits 3"
id=$(submit_job -- sh -c 'exit 3')
wait_job_state "$id" FAILED 30
assert_eq "$(job_field "$id" .exit_code)" 3 "exit_code of job $id"
assert_eq "$(job_field "$id" '.tasks[0].exit_code')" 3 "tasks[0].exit_code of job $id"

info "a command that cannot be started"
id=$(submit_job -- /nonexistent/program)
wait_job_state "$id" FAILED 30
ok "job $id with a missing program ended FAILED (reason: $(job_field "$id" .reason))"

info "cancelling a running job"
id=$(submit_job -- sleep 60)
wait_job_state "$id" RUNNING 30
pid=$(job_field "$id" '.tasks[0].pid')
[[ $pid =~ ^[0-9]+$ ]] && [ "$pid" -gt 0 ] || fail "job $id: no pid in tasks[0] (got '$pid')"
pid_alive "$pid" || fail "job $id: pid $pid is not running"
assert_eq "$(tr '\0' ' ' < "/proc/$pid/cmdline")" "sleep 60 " "command line of pid $pid"
check "strata cancel $id" st cancel "$id"
wait_job_state "$id" CANCELLED 15
wait_pid_gone "$pid" 5 || fail "process $pid of cancelled job $id still runs"
ok "process $pid of job $id is gone"
assert_eq "$(job_field "$id" .cancel_requested)" true "cancel_requested of job $id"

info "cancelling a finished job is refused, the state stays"
rc=0; st cancel "$id" 2>"$T/cancel.err" || rc=$?
[ "$rc" -eq 1 ] || fail "strata cancel of a finished job: expected exit 1, got $rc"
grep -q '^strata: error: ' "$T/cancel.err" || fail "no 'strata: error:' line: $(cat "$T/cancel.err")"
assert_eq "$(job_field "$id" .state)" CANCELLED "state after a second cancel"

info "a job over its time limit is stopped"
id=$(submit_job --time-limit 1s -- sleep 30)
wait_job_state "$id" RUNNING 30
pid=$(job_field "$id" '.tasks[0].pid')
wait_job_state "$id" FAILED 10
wait_pid_gone "$pid" 3 || fail "process $pid of timed-out job $id still runs"
ok "job $id stopped at its time limit (reason: $(job_field "$id" .reason))"

info "a two-rank job: both ranks run with their own rank number and log"
id=$(submit_job --ranks 2 --cpus 1 -- sh -c 'echo "rank $STRATA_RANK of $STRATA_WORLD_SIZE RANK=$RANK WORLD_SIZE=$WORLD_SIZE"')
wait_job_state "$id" SUCCEEDED 30
assert_eq "$(job_field "$id" '.tasks | length')" 2 "tasks of job $id"
assert_eq "$(st logs "$id" --rank 0)" "rank 0 of 2 RANK=0 WORLD_SIZE=2" "rank 0 output"
assert_eq "$(st logs "$id" --rank 1)" "rank 1 of 2 RANK=1 WORLD_SIZE=2" "rank 1 output"

info "following the logs of a running job until it ends"
id=$(submit_job -- sh -c 'for i in 1 2 3; do echo "line $i"; sleep 0.3; done')
wait_job_state "$id" RUNNING 30
out=$(timeout 20 "$ST_BIN/strata" --scheduler "$ST_CLIENT_EP" logs -f "$id") || fail "strata logs -f $id failed or hung"
assert_eq "$(echo $out)" "line 1 line 2 line 3" "output of strata logs -f $id"
assert_eq "$(job_field "$id" .state)" SUCCEEDED "state of job $id once logs -f returned"

info "a job pinned to a pool that does not exist waits, with a reason, and can be cancelled"
id=$(submit_job --pool nowhere -- true)
sleep 0.5
assert_eq "$(job_field "$id" .state)" PENDING "state of job $id"
reason=$(job_field "$id" .reason)
[ -n "$reason" ] || fail "job $id is PENDING without a reason"
ok "job $id waits: $reason"
check "strata cancel $id (pending)" st cancel "$id"
wait_job_state "$id" CANCELLED 10

info "CLI errors"
rc=0; st show 999999 2>"$T/show.err" || rc=$?
assert_eq "$rc" 1 "exit code of strata show for an unknown job"
assert_eq "$(grep -c '^strata: error: ' "$T/show.err")" 1 "one 'strata: error:' line for an unknown job"
port=$(free_port)
rc=0
"$ST_BIN/strata" --scheduler "tcp://127.0.0.1:$port" --timeout 1s nodes 2>"$T/unreach.err" || rc=$?
assert_eq "$rc" 1 "exit code with no scheduler"
grep -q "^strata: error: no reply from scheduler at tcp://127.0.0.1:$port" "$T/unreach.err" \
    || fail "unexpected error for an unreachable scheduler: $(cat "$T/unreach.err")"
grep -q '^hint: ' "$T/unreach.err" || fail "no hint for an unreachable scheduler: $(cat "$T/unreach.err")"
ok "unreachable scheduler reported with a hint"

info "node accounting returns to zero once everything ended"
w1_idle () { [ "$(node_field w1 '"\(.running_tasks) \(.cpus_used) \(.mem_used_mb)"')" = "0 0 0" ]; }
wait_until 5 "w1 to have no running tasks" w1_idle
ok "w1 reports 0 running tasks, 0 cpus and 0 MiB used"

assert_alive scheduler w1
pass
