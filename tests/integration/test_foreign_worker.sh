#!/usr/bin/env bash
# test_foreign_worker: a registered worker cannot answer for another one, nor report
# more than a node could run (tests/integration/stprobe.py forge/register: a hand-made
# worker on a real DEALER socket against a real scheduler).
#   - LogData: with w1 stopped (SIGSTOP), `strata logs` of w1's job is relayed to w1; a
#     forger floods LogData for every likely request id. The client gets w1's real output
#     once w1 resumes, never the forger's bytes;
#   - Ack: a Launch to the stopped w1 is acknowledged only by w1, whatever the forger
#     sends; both are counted (foreign_replies= in the warning and in the exit line);
#   - sizes: a Register with 65 labels, a 129-byte label key, a 257-byte label value, or
#     more tasks than its CPUs could run is refused with a RegisterReply that says why; a
#     Heartbeat listing more running tasks than that is dropped, unacknowledged, and
#     counted (oversized_reports=).
. "$(dirname "$0")/lib.sh"

"$ST_PY" -c 'import zmq' 2>/dev/null || fail "python3-zmq is missing (scripts/install-deps.sh)"

# Long timers: w1 sits stopped while the forger works, and must not be declared lost.
start_scheduler --node-timeout 60s --launch-timeout 30s
start_worker w1 --scheduler-timeout 60s

id=$(submit_job -- echo real output)
wait_job_state "$id" SUCCEEDED 30

info "registers that say too much"
reg () { "$ST_PY" "$ST_PROBE" register --worker "$ST_WORKER_EP" --cpus-milli 1000 "$@"; }
refused () {
    local what=$1 want=$2 reply; shift 2
    reply=$(reg "$@") || fail "no reply to a Register with $what: $reply"
    assert_eq "$(jq -r .accepted <<< "$reply")" false "accepted for a Register with $what"
    jq -r .error <<< "$reply" | grep -qF "$want" || fail "RegisterReply for $what: $(jq -r .error <<< "$reply")"
    ok "refused $what: $(jq -r .error <<< "$reply")"
}
refused "65 labels" "at most 64" --node many-labels --labels 65
refused "a 129-byte label key" "1-128 bytes" --node long-key --labels 1 --label-key-len 129
refused "a 257-byte label value" "at most 256 bytes" --node long-value --labels 1 --label-value-len 257
refused "2,065 tasks on 1 CPU" "at most 2064" --node many-tasks --tasks 2065
reply=$(reg --node fits --labels 64 --label-key-len 128 --label-value-len 256 --tasks 10 --refusing "no tasks")
assert_eq "$(jq -r .accepted <<< "$reply")" true "accepted for a Register at every bound"
assert_eq "$(nodes_json | jq '[ .[] | select(.name | test("labels|key|value|tasks")) ] | length')" 0 \
    "refused nodes listed"

info "a heartbeat listing more running tasks than its node could run"
out=$("$ST_PY" "$ST_PROBE" forge --worker "$ST_WORKER_EP" --node hb-forger --heartbeat-refs 3000) \
    || fail "forge: $out"
hb=$(grep heartbeat_refs <<< "$out")
assert_eq "$(jq -c .reply <<< "$hb")" null "the scheduler's answer to a heartbeat of 3,000 tasks"
wait_until 10 "the dropped heartbeat's warning" \
    log_has scheduler 'dropped heartbeat of node hb-forger: 3000 running tasks reported, at most 2064 .*oversized_reports='
ok "dropped: $(grep -oE 'dropped heartbeat of node hb-forger.*' "$T/scheduler.log" | head -n 1)"

info "a forger answering for w1"
kill -STOP "$(daemon_pid w1)"
_st_spawn forger "$ST_PY" "$ST_PROBE" forge --worker "$ST_WORKER_EP" --node forger --for 60 \
    --log-data FORGED --log-ids 50 --acks 100
wait_until 30 "the forger to register" log_has forger '"registered"'
id2=$(submit_job -- echo second job)
wait_until 30 "a forged Ack to be dropped" \
    log_has scheduler "dropped Ack of the launch of job $id2 rank 0 from forger: it answers what was sent to node w1"
# The relay waits 5 s for w1: w1 resumes as soon as a forged answer has been dropped.
( ST_CLI_TIMEOUT=30s st logs "$id" > "$T/logs.out" 2>&1; echo "rc=$?" >> "$T/logs.out" ) &
logs_pid=$!
wait_until 30 "forged LogData to be dropped" \
    log_has scheduler 'dropped LogData for log request [0-9]+ from forger: it answers what was sent to node w1'
kill -CONT "$(daemon_pid w1)"
wait "$logs_pid" || true
assert_eq "$(cat "$T/logs.out")" "real output
rc=0" "strata logs $id while a forger answered"
wait_job_state "$id2" SUCCEEDED 60
assert_eq "$(st logs "$id2")" "second job" "output of job $id2"
stop_daemon forger
assert_alive scheduler w1

stop_daemon scheduler
line=$(grep -E 'stopped cleanly' "$T/scheduler.log" | tail -n 1)
n=$(grep -oE 'foreign_replies=[0-9]+' <<< "$line" | cut -d= -f2)
[ -n "$n" ] && [ "$n" -ge 2 ] || fail "exit line: foreign_replies=${n:-none}, expected at least 2: $line"
n=$(grep -oE 'oversized_reports=[0-9]+' <<< "$line" | cut -d= -f2)
[ -n "$n" ] && [ "$n" -ge 5 ] || fail "exit line: oversized_reports=${n:-none}, expected at least 5: $line"
ok "counted: ${line:0:220}"
pass
