#!/usr/bin/env bash
# test_worker_stall: a worker stalls (SIGSTOP) for longer than the launch timeout while
# Launches are on their way to it, then resumes (SIGCONT).
#   - while it is silent the scheduler resends the unacknowledged Launches (with backoff);
#   - resumed, the worker takes every Launch once: the resends are acknowledged as
#     duplicates and start nothing, every task starts exactly once (each job appends a
#     line to its own file), every job SUCCEEDS in its first attempt;
#   - the scheduler never sees a task it does not assign (no stale kill), the node
#     stays UP (the stall is shorter than the node timeout);
#   - once the worker talks again, no further Launch is resent.
. "$(dirname "$0")/lib.sh"

NJOBS=8
# A node timeout far above the stall; the launch timeout short (1 s) below it.
start_scheduler --launch-timeout 1s --node-timeout 30s
start_worker w1 --cpus 8 --memory 2G --scheduler-timeout 30s

info "stopping w1 (SIGSTOP) and submitting $NJOBS jobs"
kill -STOP "$(daemon_pid w1)"
ids=()
for i in $(seq 1 "$NJOBS"); do
    ids+=("$(submit_job --name stall-$i --cpus 0.5 --memory 64M -- sh -c "echo started >> '$T/starts.$i'")")
done
resent () { [ "$(grep -c 'resending launch' "$T/scheduler.log")" -ge "$NJOBS" ]; }
wait_until 30 "the scheduler resends the unacknowledged Launches" resent
sleep 1.5   # a little longer, so that a second, backed-off round may go out too
ok "$(grep -c 'resending launch' "$T/scheduler.log") Launch(es) resent while w1 was silent"
for id in "${ids[@]}"; do
    assert_eq "$(job_field "$id" .state)" STARTING "state of job $id while w1 is stopped"
done

info "resuming w1 (SIGCONT)"
kill -CONT "$(daemon_pid w1)"
for id in "${ids[@]}"; do
    wait_job_state "$id" SUCCEEDED 30
    assert_eq "$(job_field "$id" .attempt)" 1 "attempt of job $id"
done
for i in $(seq 1 "$NJOBS"); do
    [ -f "$T/starts.$i" ] || fail "job stall-$i never started"
    assert_eq "$(wc -l < "$T/starts.$i")" 1 "times job stall-$i started"
done
ok "each of the $NJOBS tasks started exactly once"

log_has w1 'duplicate Launch of task .* not started again' \
    || fail "w1 never saw a resent Launch (nothing was tested)"
ok "w1 acknowledged $(grep -c 'duplicate Launch' "$T/w1.log") resent Launch(es) without starting them"
for id in "${ids[@]}"; do
    n=$(grep -c "launched task $id\.0\.1 " "$T/w1.log" || true)
    assert_eq "$n" 1 "times w1 launched job $id"
done
log_has scheduler 'no longer assigned to it' && fail "the scheduler killed a task it did not assign"
assert_eq "$(node_field w1 .state)" UP "state of w1 after the stall"
resends=$(grep -c 'resending launch' "$T/scheduler.log")

info "w1 talks again: nothing more is resent"
sleep 2
assert_eq "$(grep -c 'resending launch' "$T/scheduler.log")" "$resends" "Launches resent after w1 resumed"
stop_daemon scheduler
log_has scheduler "stopped cleanly \(.*launch_resends=$resends[ )]" \
    || fail "the scheduler's exit line does not count $resends launch resends"
assert_alive w1
pass
