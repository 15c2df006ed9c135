#!/usr/bin/env bash
# test_runtime: what the ranks of a multi-rank job get from Strata, through the real
# scheduler and workers:
#   - every rank's environment (ranks, local ranks, MASTER_ADDR/PORT, checkpoint dir,
#     STRATA_RENDEZVOUS and a task token);
#   - the rendezvous: rank 0 publishes a value that rank 1 on another node reads
#     through both workers and the scheduler; a key nobody publishes times out with a
#     clear error; values are fresh for every attempt; a wrong token is refused;
#   - progress reported by a rank is shown by `strata show`;
#   - a rank that exits 75 (checkpointed, "preempted") sends its job back to the queue
#     without using a retry;
#   - launcher mpirun: ranks on one node under a local mpirun, and ranks on two nodes
#     where mpirun starts Open MPI's daemon on the other node through strata-rsh, that
#     node's worker and the scheduler. Both workers run on this machine under
#     different node names: the remote start path is the one a real cluster uses
#     (mpirun calls strata-rsh for a host that is not its own), only the network
#     between the nodes is loopback (test_mpi_netns.sh uses two network namespaces);
#     a kill -9 and restart of the scheduler while such a job runs loses nothing.
. "$(dirname "$0")/lib.sh"

start_scheduler
start_worker w1 --cpus 1
start_worker w2 --cpus 1

gang () {   # NAME RANKS LAUNCHER SCRIPT [EXTRA YAML]
    local launcher="" script=${4//strata-rdzv/$ST_BIN/strata-rdzv}
    [ "$3" = direct ] || launcher="launcher: $3"
    cat > "$T/$1.yaml" <<EOF
name: $1
kind: command
$launcher
command: [sh, -c, '$script']
resources: {ranks: $2, cpus_per_rank: 1}
time_limit: 2m
${5:-}
EOF
    submit_job "$T/$1.yaml"
}

task_log () {   # NODE JOB RANK ATTEMPT [stderr]
    cat "$T/$1/logs/$2/$3.$4.${5:-stdout}" 2>/dev/null
}

# -- environment and rendezvous across two nodes ------------------------------------
info "a 2-rank gang: rank 0 publishes, rank 1 on the other node reads"
j=$(gang meet 2 direct 'env | grep -E "^(STRATA_|RANK|WORLD_SIZE|LOCAL_|MASTER_)" | sort;
  if [ "$RANK" = 0 ]; then strata-rdzv put greeting "hello from $STRATA_NODE attempt $STRATA_ATTEMPT";
  else echo "got: $(strata-rdzv get greeting --timeout 30)"; fi')
wait_job_state "$j" SUCCEEDED 60
n0=$(jq -r '.tasks[] | select(.index == 0) | .node' <<< "$(job_json "$j")")
n1=$(jq -r '.tasks[] | select(.index == 1) | .node' <<< "$(job_json "$j")")
[ "$n0" != "$n1" ] || fail "the two ranks should run on two nodes (1 cpu each): $n0 $n1"
out1=$(task_log "$n1" "$j" 1 1)
grep -q "^got: hello from $n0 attempt 1$" <<< "$out1" || fail "rank 1 did not read rank 0's value: $out1"
out0=$(task_log "$n0" "$j" 0 1)
for kv in RANK=0 WORLD_SIZE=2 LOCAL_RANK=0 LOCAL_WORLD_SIZE=1 STRATA_RANK=0 STRATA_WORLD_SIZE=2 \
          STRATA_ATTEMPT=1 "STRATA_NODE=$n0" "STRATA_JOB_ID=$j"; do
    grep -qx "$kv" <<< "$out0" || fail "rank 0 lacks $kv: $out0"
done
grep -qx "STRATA_RENDEZVOUS=ipc://$T/$n0/agent.sock" <<< "$out0" || fail "STRATA_RENDEZVOUS: $out0"
grep -qE "^STRATA_TASK_TOKEN=[0-9a-f]{32}$" <<< "$out0" || fail "no task token: $out0"
port=$(sed -n 's/^MASTER_PORT=//p' <<< "$out0")
grep -qx "MASTER_PORT=$port" <<< "$out1" || fail "ranks disagree on MASTER_PORT"
grep -qE "^MASTER_ADDR=.+" <<< "$out1" || fail "rank 1 has no MASTER_ADDR"
ok "ranks meet through the rendezvous; each has its environment (MASTER_PORT $port)"

# -- timeouts and bad tokens ------------------------------------------------------------
info "a key nobody publishes times out with a clear error"
j=$(gang lonely 1 direct 'strata-rdzv get never-put --timeout 1.5; echo "rc=$?"')
wait_job_state "$j" SUCCEEDED 60
n=$(jq -r '.tasks[0].node' <<< "$(job_json "$j")")
grep -q "^rc=1$" <<< "$(task_log "$n" "$j" 0 1)" || fail "get of a missing key should fail"
err=$(task_log "$n" "$j" 0 1 stderr)
grep -q "timed out after 1.5 s waiting for 'never-put' (job $j attempt 1)" <<< "$err" \
    || fail "timeout message: $err"
ok "timeout: $err"

info "a request with another token is refused"
j=$(gang forger 1 direct 'STRATA_TASK_TOKEN=00000000000000000000000000000000 strata-rdzv put k v; echo "rc=$?"')
wait_job_state "$j" SUCCEEDED 60
n=$(jq -r '.tasks[0].node' <<< "$(job_json "$j")")
grep -q "^rc=1$" <<< "$(task_log "$n" "$j" 0 1)" || fail "a forged token should be refused"
grep -q "task token is not that of a task running on this worker" <<< "$(task_log "$n" "$j" 0 1 stderr)" \
    || fail "forged token message: $(task_log "$n" "$j" 0 1 stderr)"
ok "a forged token is refused"

info "values are fresh for every attempt"
# Attempt 1: rank 0 publishes and the attempt fails. Attempt 2: nobody publishes, so
# rank 1 must time out rather than read attempt 1's value.
j=$(gang fresh 2 direct 'if [ "$RANK" = 0 ]; then
    [ "$STRATA_ATTEMPT" = 1 ] && { strata-rdzv put k "from attempt 1"; exit 3; }; sleep 3; exit 0;
  else v=$(strata-rdzv get k --timeout 2); echo "attempt $STRATA_ATTEMPT read [$v] rc=$?"; fi' 'retries: 1')
wait_job_state "$j" SUCCEEDED 90
assert_eq "$(job_field "$j" .attempt)" 2 "attempts"
n=$(jq -r '.tasks[] | select(.index == 1) | .node' <<< "$(job_json "$j")")
grep -q "^attempt 2 read \[\] rc=1$" <<< "$(task_log "$n" "$j" 1 2)" \
    || fail "attempt 2 must not see attempt 1's value: $(task_log "$n" "$j" 1 2)"
ok "attempt 2 did not see attempt 1's value"

info "garbage on a worker's agent socket is dropped; the worker carries on"
/usr/bin/python3 - "ipc://$T/w1/agent.sock" <<'PY'
import sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 1000)
s.connect(sys.argv[1])
for frame in [b"", b"\xff" * 64, b"\x08\x01\x10\x05", b"\x00" * 2000000, [b"a", b"b", b"c"]]:
    if isinstance(frame, list):
        s.send_multipart(frame)
    else:
        s.send(frame)
s.close()
ctx.term()
PY
wait_until 10 "the worker logged the bad requests" grep -q "agent socket: dropped a malformed request" "$T/w1.log"
assert_alive w1
j=$(gang after-garbage 1 direct 'strata-rdzv put k v && echo put-ok')
wait_job_state "$j" SUCCEEDED 60
ok "the agent socket still serves after garbage"

# -- progress -----------------------------------------------------------------------------
info "progress reported by a rank is shown by strata show"
j=$(gang progress 1 direct 'strata-rdzv progress 7 --total 20 --loss 2.5 --rate 1234.5 --unit tokens/s; sleep 30')
wait_job_state "$j" RUNNING 30
wait_until 10 "progress shown" sh -c "'$ST_BIN/strata' --scheduler '$ST_CLIENT_EP' show $j | grep -q 'progress:.*step 7 of 20, loss 2.5000, 1234.5 tokens/s'"
assert_eq "$(job_json "$j" | jq -r '.progress.step')" 7 "progress.step in --json"
st cancel "$j" > /dev/null
wait_job_state "$j" CANCELLED 30
ok "progress: $(st show "$j" | grep -c progress) line(s) while it ran"

info "a burst of progress reports: the worker relays about one a second, and the last one arrives"
j=$(gang burst 1 direct 'for i in $(seq 1 60); do strata-rdzv progress $i --total 60 --rate $i; done; sleep 30')
wait_job_state "$j" RUNNING 30
wait_until 15 "the last of 60 reports shown" sh -c "'$ST_BIN/strata' --scheduler '$ST_CLIENT_EP' show $j | grep -q 'progress:.*step 60 of 60'"
st cancel "$j" > /dev/null
wait_job_state "$j" CANCELLED 30
ok "step 60 of 60 shown after a burst"

# -- exit 75: checkpointed and preempted -------------------------------------------------
info "a rank exiting 75 sends the job back to the queue without using a retry"
j=$(gang selfpreempt 1 direct 'echo "attempt $STRATA_ATTEMPT"; [ "$STRATA_ATTEMPT" = 1 ] && exit 75; exit 0' 'retries: 0')
wait_job_state "$j" SUCCEEDED 60
assert_eq "$(job_field "$j" .attempt)" 2 "attempts after a preemption"
assert_eq "$(job_field "$j" .preemptions)" 1 "preemptions"
check "a PREEMPTED event" [ "$(sql "SELECT count(*) FROM events WHERE job_id = $j AND to_state = 'PREEMPTED'")" = 1 ]
ok "exit 75 -> PREEMPTED -> PENDING -> SUCCEEDED, retries 0"

# -- mpirun -------------------------------------------------------------------------------
info "launcher mpirun, two ranks on two nodes: Open MPI's daemon starts through strata-rsh"
j=$(gang mpi2 2 mpirun 'echo "mpi rank $RANK of $WORLD_SIZE local $LOCAL_RANK/$LOCAL_WORLD_SIZE on $(cat /proc/sys/kernel/hostname) ompi $OMPI_COMM_WORLD_RANK"')
wait_job_state "$j" SUCCEEDED 90
n0=$(jq -r '.tasks[] | select(.index == 0) | .node' <<< "$(job_json "$j")")
n1=$(jq -r '.tasks[] | select(.index == 1) | .node' <<< "$(job_json "$j")")
[ "$n0" != "$n1" ] || fail "the ranks should be on two nodes"
out=$(task_log "$n0" "$j" 0 1)
for r in 0 1; do
    grep -q "^mpi rank $r of 2 local 0/1 on .* ompi $r$" <<< "$out" || fail "mpirun output lacks rank $r: $out"
done
check "the held rank ran Open MPI's daemon" grep -q "orted" "$T/$n1.log"
check "the scheduler relayed the remote start" grep -q "asked for a process for rank 1 on $n1" "$T/scheduler.log"
ok "mpirun over $n0 and $n1: $(grep -c '^mpi rank' <<< "$out") ranks reported"

info "a scheduler restart in the middle of a 2-node mpirun job loses nothing"
j=$(gang mpirestart 2 mpirun 'sleep 3; echo "rank $RANK finished"')
wait_job_state "$j" RUNNING 30
n1=$(jq -r '.tasks[] | select(.index == 1) | .node' <<< "$(job_json "$j")")
wait_until 20 "the daemon runs on $n1" grep -q "started the launcher's process for held task $j.1.1" "$T/$n1.log"
kill9 scheduler
restart_scheduler
wait_job_state "$j" SUCCEEDED 60
n0=$(jq -r '.tasks[] | select(.index == 0) | .node' <<< "$(job_json "$j")")
out=$(task_log "$n0" "$j" 0 1)
for r in 0 1; do grep -q "^rank $r finished$" <<< "$out" || fail "rank $r's output after the restart: $out"; done
ok "the job SUCCEEDED across a scheduler restart"

info "launcher mpirun, two ranks on one node: a local mpirun"
stop_daemon w2
start_worker w3 --cpus 2
j=$(gang mpi1 2 mpirun 'echo "mpi rank $RANK of $WORLD_SIZE local $LOCAL_RANK/$LOCAL_WORLD_SIZE"')
wait_job_state "$j" SUCCEEDED 90
out=$(task_log w3 "$j" 0 1)
for r in 0 1; do
    grep -q "^mpi rank $r of 2 local $r/2$" <<< "$out" || fail "local mpirun output lacks rank $r: $out"
done
ok "local mpirun: both ranks on w3"

info "a failing MPI program fails the job with mpirun's exit code"
j=$(gang mpifail 2 mpirun 'exit 7')
wait_job_state "$j" FAILED 90
assert_eq "$(job_field "$j" .exit_code)" 7 "exit code of a failing mpirun job"
ok "mpirun failure propagates"
pass
