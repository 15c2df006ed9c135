#!/usr/bin/env bash
# test_nodes_too_large: `strata nodes` whose answer would pass the 1 MiB reply limit fails
# with a clear error and a hint instead of waiting for a reply that never comes.
#   - one `strata-worker --hollow 64` process, each node with 64 labels at the largest
#     size the scheduler accepts (128-byte keys, 256-byte values): about 1.6 MB of NodeInfo;
#   - `strata nodes` exits non-zero with "the node list is too large" and the hint
#     towards `strata pools`, which still answers.
. "$(dirname "$0")/lib.sh"

N_NODES=64
start_scheduler --node-timeout 60s
labels=()
for i in $(seq 1 64); do
    labels+=(--label "$(printf 'k%0127d' "$i")=$(printf 'v%.0s' $(seq 1 256))")
done
_st_spawn hollow "$ST_BIN/strata-worker" --hollow "$N_NODES" --node hollow --scheduler "$ST_WORKER_EP" \
    --cpus 2 --memory 2G --pool sim --state-dir "$T/hollow-state" --heartbeat-interval 1s "${labels[@]}"
registered () { [ "$(grep -c 'node hollow-[0-9]* registered' "$T/scheduler.log")" -ge "$N_NODES" ]; }
wait_until 60 "$N_NODES hollow nodes to register" registered
ok "$N_NODES hollow nodes registered with 64 labels each"

rc=0
ST_CLI_TIMEOUT=30s st nodes > "$T/nodes.out" 2> "$T/nodes.err" || rc=$?
[ "$rc" -ne 0 ] || fail "strata nodes succeeded with $(wc -c < "$T/nodes.out") bytes; expected a too-large error"
grep -q 'the node list is too large' "$T/nodes.err" || fail "strata nodes (rc $rc) said: $(cat "$T/nodes.err")"
grep -q 'hint: strata pools' "$T/nodes.err" || fail "no hint towards strata pools: $(cat "$T/nodes.err")"
ok "strata nodes (rc $rc): $(tr '\n' ' ' < "$T/nodes.err")"
out=$(st pools) || fail "strata pools failed next to a too-large node list"
grep -q '^sim ' <<< "$out" || fail "strata pools does not list pool sim: $out"
ok "strata pools still answers"
assert_alive scheduler hollow
pass
