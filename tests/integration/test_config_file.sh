#!/usr/bin/env bash
# test_config_file: the scheduler and the worker read their options from YAML config
# files, flags override the file, and a bad file is refused with the key named.
#   - scheduler: database, endpoints and timers from scheduler.yaml only;
#   - worker: node, pool, labels, resources and state dir from worker.yaml, with
#     --cpus on the command line winning over the file;
#   - an unknown key, a wrong value and a missing file each exit 2 with a message that
#     names the key (or the file), before anything starts.
. "$(dirname "$0")/lib.sh"

_st_sched_ports
cat > "$T/scheduler.yaml" <<EOF2
# strata-scheduler configuration
database: "$ST_DSN"
worker-endpoint: $ST_WORKER_EP
client_endpoint: $ST_CLIENT_EP
event-endpoint: $ST_EVENT_EP
heartbeat-interval: 200ms
node_timeout: 1500ms
kill-grace: 1s
log-level: info
EOF2
ST_SCHED_ARGS=(--config "$T/scheduler.yaml")
_st_spawn scheduler "$ST_BIN/strata-scheduler" "${ST_SCHED_ARGS[@]}"
_st_wait_scheduler 30 || fail "scheduler configured by file did not answer on $ST_CLIENT_EP"
ok "scheduler took its database and endpoints from scheduler.yaml"

mkdir -p "$T/cfgworker"
cat > "$T/worker.yaml" <<EOF2
scheduler: $ST_WORKER_EP
node: cfg-node
pool: cfg-pool
labels:
  rack: r7
  zone: a
cpus: 3
memory: 3G
gpus: 0
state-dir: $T/cfgworker
heartbeat_interval: 200ms
EOF2
_st_spawn cfgworker "$ST_BIN/strata-worker" --config "$T/worker.yaml" --cpus 1.5
wait_node_state cfg-node UP 30
assert_eq "$(node_field cfg-node .pool)" cfg-pool "pool from worker.yaml"
assert_eq "$(node_field cfg-node .cpus)" 1.5 "cpus: the flag wins over the file"
assert_eq "$(node_field cfg-node .mem_mb)" 3072 "memory from worker.yaml"
assert_eq "$(node_field cfg-node '.labels | to_entries | map("\(.key)=\(.value)") | join(",")')" "rack=r7,zone=a" \
    "labels from worker.yaml"
ok "worker took node, pool, labels and resources from worker.yaml"

id=$(submit_job --pool cfg-pool -- sh -c 'pwd')
wait_job_state "$id" SUCCEEDED 30
case $(st logs "$id") in
    "$T/cfgworker/"*) ok "the task ran under the state dir from worker.yaml" ;;
    *) fail "task ran in $(st logs "$id"), not under $T/cfgworker" ;;
esac

# refused CONFIG_TEXT EXPECTED_IN_STDERR BINARY
refused () {
    printf '%s\n' "$1" > "$T/bad.yaml"
    local out status=0
    out=$("$ST_BIN/$3" --config "$T/bad.yaml" 2>&1 >/dev/null) || status=$?
    assert_eq "$status" 2 "exit status of $3 with config '$1'"
    grep -qF -- "$2" <<< "$out" || fail "$3 with config '$1' said '$out', expected it to mention '$2'"
    ok "$3 refuses '$1': ${out%%$'\n'*}"
}
refused "databse: dbname=x" "databse" strata-scheduler
refused "node-timeout: soon" "node-timeout" strata-scheduler
refused "cpus: [1, 2]" "cpus" strata-worker
refused "pool: {a: b}" "pool" strata-worker
status=0
out=$("$ST_BIN/strata-scheduler" --config "$T/missing.yaml" 2>&1 >/dev/null) || status=$?
assert_eq "$status" 2 "exit status with a missing config file"
grep -qF "missing.yaml" <<< "$out" || fail "missing config file not named: $out"
ok "a missing config file is named: ${out%%$'\n'*}"

stop_daemon cfgworker 10
stop_daemon scheduler 10
pass
