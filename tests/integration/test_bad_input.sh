#!/usr/bin/env bash
# test_bad_input: hostile input at the scheduler's sockets never takes anything down.
#   - garbage, empty, truncated, multi-part, bodiless and wrong-direction messages, and
#     oversized frames (2 MiB, and 8 MiB, over the receive cap) on the worker and client
#     sockets (tests/integration/stprobe.py, raw ZeroMQ DEALER);
#   - a request with an unknown protocol version is answered with ERROR_VERSION;
#   - raw non-ZMTP bytes (HTTP, random, a broken greeting) on all three TCP ports;
#   - a second worker, and a hand-made Register, claiming an existing node's name are refused,
#     and so is a Register advertising more capacity than any machine has;
#   afterwards the scheduler and the worker still run, the node is unchanged, a job still
#   runs to SUCCEEDED, and the scheduler log carries the counters bad_frames=,
#   oversized_frames= and duplicate_registrations=.
. "$(dirname "$0")/lib.sh"

"$ST_PY" -c 'import zmq' 2>/dev/null || fail "python3-zmq is missing (scripts/install-deps.sh)"

start_scheduler
start_worker w1 --cpus 2 --memory 2G

info "sending bad frames and raw bytes"
"$ST_PY" "$ST_PROBE" garbage --worker "$ST_WORKER_EP" --client "$ST_CLIENT_EP" \
    --raw "127.0.0.1:$ST_WORKER_PORT" --raw "127.0.0.1:$ST_CLIENT_PORT" --raw "127.0.0.1:$ST_EVENT_PORT" \
    > "$T/probe.out" 2>&1 || { cat "$T/probe.out"; fail "stprobe garbage reported a failed check"; }
sed 's/^/    probe: /' "$T/probe.out"
ok "bad input sent; the client socket still answers and ERROR_VERSION came back"
assert_alive scheduler w1

info "a second worker claiming node name w1"
start_worker_nowait w1dup w1 --cpus 1 --memory 512M
wait_until 15 "the scheduler to refuse the duplicate registration" log_has scheduler 'duplicate_registrations=[0-9]+'
ok "scheduler refused it: $(grep -E 'duplicate_registrations=[0-9]+' "$T/scheduler.log" | tail -n 1 | cut -c1-200)"
assert_alive w1dup
stop_daemon w1dup

info "a hand-made Register claiming node name w1"
reply=$("$ST_PY" "$ST_PROBE" register --worker "$ST_WORKER_EP" --node w1 --cpus-milli 64000 --mem-mb 999999) \
    || fail "no reply to a duplicate Register: $reply"
info "reply: $reply"
assert_eq "$(jq -r .body <<< "$reply")" register_reply "reply body to a duplicate Register"
assert_eq "$(jq -r .accepted <<< "$reply")" false "accepted for a duplicate Register"

info "a Register advertising an absurd capacity"
reply=$("$ST_PY" "$ST_PROBE" register --worker "$ST_WORKER_EP" --node huge --cpus-milli 4000000000 --mem-mb 1024) \
    || fail "no reply to an out-of-range Register: $reply"
assert_eq "$(jq -r .accepted <<< "$reply")" false "accepted for a Register with 4,000,000 CPUs"
assert_eq "$(nodes_json | jq '[ .[] | select(.name == "huge") ] | length')" 0 "nodes named huge"

info "the real w1 is unchanged"
sleep 0.5
assert_eq "$(nodes_json | jq '[ .[] | select(.name == "w1") ] | length')" 1 "entries for node w1"
assert_eq "$(node_field w1 .state)" UP "state of w1"
assert_eq "$(node_field w1 .cpus)" 2 "cpus of w1"
assert_eq "$(node_field w1 .mem_mb)" 2048 "mem_mb of w1"

info "the cluster still works"
id=$(submit_job -- echo still alive)
wait_job_state "$id" SUCCEEDED 30
assert_eq "$(st logs "$id")" "still alive" "output of job $id"

for counter in bad_frames oversized_frames duplicate_registrations; do
    line=$(grep -E "$counter=[0-9]+" "$T/scheduler.log" | tail -n 1) || fail "scheduler log has no $counter= counter"
    ok "counter $counter: ${line:0:200}"
done
n=$(grep -oE 'oversized_frames=[0-9]+' "$T/scheduler.log" | tail -n 1 | cut -d= -f2)
[ "$n" -ge 2 ] || fail "oversized_frames=$n, expected at least 2 (one 2 MiB frame per socket)"
ok "oversized_frames counted both 2 MiB frames ($n)"

assert_alive scheduler w1
pass
