#!/usr/bin/env bash
# test_restart_reconcile: the scheduler restarts while tasks run; workers re-register
# with the tasks they hold, and the scheduler adopts them instead of rerunning them.
#   - a long job (sleep 25: it must outlast both restarts, however slow the build) stays
#     RUNNING across a SIGKILL + restart of the scheduler, with the same attempt and the
#     same process, then SUCCEEDS;
#   - a short job (sleep 3: still running when a loaded machine first reads it) that ENDS
#     while the scheduler is down (for longer than the node timeout) is reported when the scheduler comes back: SUCCEEDED, attempt 1, exit 0;
#   - a graceful stop (SIGTERM) and restart also keeps a running job.
. "$(dirname "$0")/lib.sh"

start_scheduler
start_worker w1 --cpus 2 --memory 2G

long=$(submit_job --name long -- sleep 25)
short=$(submit_job --name short -- sleep 3)
wait_job_state "$long" RUNNING 30
wait_job_state "$short" RUNNING 30
pid=$(job_field "$long" '.tasks[0].pid')
spid=$(job_field "$short" '.tasks[0].pid')
info "long job $long runs as pid $pid, short job $short as pid $spid"

epoch=$(node_field w1 .epoch)
kill9 scheduler
info "scheduler down for 4.5 s (longer than the short job and than the node timeout)"
sleep 4.5
pid_alive "$spid" && fail "short job's process $spid still runs after 4.5 s"
pid_alive "$pid" || fail "long job's process $pid died while the scheduler was down"
ok "the worker kept the long task running while the scheduler was down"
restart_scheduler

# The node row says UP from before the crash; proof of a live worker is a heartbeat
# seen by the new scheduler process.
t_restart=$(date +%s%3N)
w1_heard () { [ "$(node_field w1 .last_seen_unix_ms)" -gt "$t_restart" ] && [ "$(node_field w1 .state)" = UP ]; }
wait_until 15 "w1 to heartbeat to the restarted scheduler" w1_heard
ok "w1 re-registered and heartbeats"
assert_eq "$(node_field w1 .epoch)" "$epoch" "epoch of w1 (the same worker process reconnected)"
wait_job_state "$short" SUCCEEDED 15
assert_eq "$(job_field "$short" .attempt)" 1 "attempt of the short job"
assert_eq "$(job_field "$short" .exit_code)" 0 "exit_code of the short job"

s=$(job_field "$long" .state)
assert_eq "$s" RUNNING "state of the long job after the restart"
assert_eq "$(job_field "$long" .attempt)" 1 "attempt of the long job after the restart"
assert_eq "$(job_field "$long" '.tasks[0].pid')" "$pid" "pid of the long job after the restart"
pid_alive "$pid" || fail "long job's process $pid is gone"

info "graceful restart (SIGTERM) while the long job still runs"
stop_daemon scheduler 10
restart_scheduler
t_restart=$(date +%s%3N)
wait_until 15 "w1 to heartbeat to the restarted scheduler" w1_heard
st_now=$(job_field "$long" .state)
case $st_now in
    RUNNING|SUCCEEDED) ok "long job is $st_now after the graceful restart" ;;
    *) fail "long job is $st_now after the graceful restart" ;;
esac
wait_job_state "$long" SUCCEEDED 40
assert_eq "$(job_field "$long" .attempt)" 1 "attempt of the long job at the end"
assert_eq "$(job_field "$long" .exit_code)" 0 "exit_code of the long job"

assert_alive scheduler w1
pass
