#!/usr/bin/env bash
# test_worker_crash: a worker dies (SIGKILL) in the middle of a job.
#   - the task process dies with it (parent-death signal), nothing is left behind;
#   - the scheduler marks the node LOST after the node timeout (1.5 s here);
#   - the job (retries 1) is requeued: attempt 2 runs on the other worker and SUCCEEDS;
#   - the killed worker, restarted with the same state dir, comes back UP;
#   - a worker that dies while the scheduler is down is declared LOST by the restarted
#     scheduler, and its job runs again on the other worker.
. "$(dirname "$0")/lib.sh"

start_scheduler
start_worker w1 --cpus 2 --memory 2G
start_worker w2 --cpus 2 --memory 2G

id=$(submit_job --name crashme --retries 1 -- sleep 3)
wait_job_state "$id" RUNNING 30
victim=$(job_field "$id" '.tasks[0].node')
pid=$(job_field "$id" '.tasks[0].pid')
assert_eq "$(job_field "$id" .attempt)" 1 "attempt of job $id before the crash"
case $victim in
    w1) other=w2 ;;
    w2) other=w1 ;;
    *) fail "job $id runs on unexpected node '$victim'" ;;
esac
[[ $pid =~ ^[0-9]+$ ]] && pid_alive "$pid" || fail "job $id: task pid '$pid' is not running"
info "job $id runs on $victim as pid $pid; killing $victim"
t0=$SECONDS
kill9 "$victim"

wait_pid_gone "$pid" 3 || fail "task process $pid survived its worker ($victim)"
ok "task process $pid died with its worker"
[ -z "$(pids_with_cwd_under "$T/$victim")" ] || fail "processes still run in $T/$victim: $(pids_with_cwd_under "$T/$victim")"
ok "nothing runs under $victim's state dir"

wait_node_state "$victim" LOST 10
ok "$victim is LOST $((SECONDS - t0))s after the kill"

wait_job_state "$id" SUCCEEDED 30
assert_eq "$(job_field "$id" .attempt)" 2 "attempt of job $id after the requeue"
assert_eq "$(job_field "$id" '.tasks[0].node')" "$other" "node of attempt 2"
assert_eq "$(job_field "$id" '.tasks[0].attempt')" 2 "tasks[0].attempt"
assert_eq "$(job_field "$id" .exit_code)" 0 "exit_code of job $id"

info "restarting $victim with the same state dir"
epoch=$(node_field "$victim" .epoch)
restart_worker "$victim" --cpus 2 --memory 2G
ok "$victim is UP again"
assert_eq "$(node_field "$victim" .epoch)" "$((epoch + 1))" "epoch of $victim (a new worker process)"
id2=$(submit_job -- true)
wait_job_state "$id2" SUCCEEDED 30

info "a worker dies while the scheduler is down, too"
id3=$(submit_job --name crash-while-down --retries 1 -- sleep 3)
wait_job_state "$id3" RUNNING 30
victim=$(job_field "$id3" '.tasks[0].node')
case $victim in w1) other=w2 ;; w2) other=w1 ;; *) fail "job $id3 runs on '$victim'" ;; esac
pid=$(job_field "$id3" '.tasks[0].pid')
kill9 scheduler
kill9 "$victim"
wait_pid_gone "$pid" 3 || fail "task process $pid survived its worker ($victim)"
restart_scheduler
wait_node_state "$victim" LOST 10
ok "$victim, dead before the restart, is LOST after it"
wait_job_state "$id3" SUCCEEDED 30
assert_eq "$(job_field "$id3" .attempt)" 2 "attempt of job $id3"
assert_eq "$(job_field "$id3" '.tasks[0].node')" "$other" "node of attempt 2 of job $id3"

assert_alive scheduler "$other"
pass
