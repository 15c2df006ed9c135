#!/usr/bin/env bash
# test_hollow: one `strata-worker --hollow 50` process against a real scheduler.
#   - `strata nodes` lists 50 UP nodes hollow-0 .. hollow-49, each with the declared
#     capacity; the process forks nothing and writes no state directory;
#   - 200 jobs all SUCCEED on hollow nodes, with no pid and empty logs;
#   - a job with `simulate: {duration: 5s}` is RUNNING for 5 s and then SUCCEEDS; 50
#     whole-node jobs of 10 minutes run on 50 distinct nodes and a 51st waits;
#   - after kill -9 and a restart of the scheduler, all 50 nodes register again, with
#     the tasks they run: those jobs stay RUNNING in attempt 1; cancelling them ends
#     their simulated tasks and the waiting job runs;
#   - kill -9 of the hollow process: all 50 nodes become LOST, the scheduler keeps
#     running and answering, and a new job waits for a node.
. "$(dirname "$0")/lib.sh"

N_NODES=50
N_JOBS=200

start_scheduler
_st_spawn hollow "$ST_BIN/strata-worker" --hollow "$N_NODES" --node hollow --scheduler "$ST_WORKER_EP" \
    --cpus 2 --memory 2G --pool sim --label rack=r9 --state-dir "$T/hollow-state" \
    --heartbeat-interval 200ms --scheduler-timeout 2s
hollow_pid=$(daemon_pid hollow)

up_count () { nodes_json | jq '[ .[] | select(.state == "UP" and (.name | startswith("hollow-"))) ] | length'; }
all_up () { [ "$(up_count)" = "$N_NODES" ]; }
wait_until 30 "$N_NODES hollow nodes UP" all_up
ok "$N_NODES hollow nodes are UP"
names=$(nodes_json | jq -r '.[] | select(.name | startswith("hollow-")) | .name' | sort | paste -sd,)
[ "$names" = "$(seq 0 $((N_NODES - 1)) | sed 's/^/hollow-/' | sort | paste -sd,)" ] \
    || fail "node names: $names"
ok "nodes are hollow-0 .. hollow-$((N_NODES - 1))"
caps=$(nodes_json | jq -c '[ .[] | select(.name | startswith("hollow-")) | {pool, cpus, mem_mb, labels} ] | unique')
assert_eq "$caps" '[{"pool":"sim","cpus":2,"mem_mb":2048,"labels":{"rack":"r9"}}]' "capacity of every node"
assert_eq "$(nodes_json | jq 'length')" "$N_NODES" "nodes the scheduler knows"

# One process, no children, no files.
[ -z "$(cat /proc/"$hollow_pid"/task/*/children 2>/dev/null | tr -d ' \n')" ] || fail "the hollow worker has child processes"
[ ! -e "$T/hollow-state" ] || fail "the hollow worker created its --state-dir"
ok "one process for $N_NODES nodes ($(ls /proc/"$hollow_pid"/fd | wc -l) descriptors), no children, no state dir"

info "submitting $N_JOBS jobs"
for i in $(seq 1 $N_JOBS); do
    submit_job --name "hjob-$i" --cpus 1 --memory 256M -- /no/such/program "$i" >> "$T/ids"
done
assert_eq "$(sort -u "$T/ids" | wc -l)" "$N_JOBS" "distinct job ids"

# Per state, and the nodes the jobs ran on.
hjobs () {
    all_jobs_json | jq -c '[ .[] | select(.name | startswith("hjob-")) ]
        | { states: (group_by(.state) | map({ (.[0].state): length }) | add),
            nodes: (map(.tasks[0].node // "?") | unique) }'
}
hjobs_ended () {
    [ "$(hjobs | jq '[ .states | to_entries[] | select(.key | test("SUCCEEDED|FAILED|CANCELLED")) | .value ] | add')" \
        = "$N_JOBS" ]
}
wait_until 120 "all $N_JOBS jobs to end" hjobs_ended
s=$(hjobs)
assert_eq "$(jq -c .states <<< "$s")" "{\"SUCCEEDED\":$N_JOBS}" "job states (their program does not exist: nothing ran it)"
bad=$(jq -r '.nodes[] | select(test("^hollow-[0-9]+$") | not)' <<< "$s")
[ -z "$bad" ] || fail "jobs ran on unexpected nodes: $bad"
ok "all ran on hollow nodes ($(jq '.nodes | length' <<< "$s") distinct)"
first=$(head -n 1 "$T/ids")
assert_eq "$(job_field "$first" '.tasks[0].pid')" 0 "pid of a simulated task (none)"
assert_eq "$(job_field "$first" .exit_code)" 0 "exit code of job $first"
out=$(st logs "$first") || fail "strata logs $first failed"
assert_eq "$out" "" "logs of a simulated task"

# simulate: {duration: 5s} holds a node for 5 s (long enough that a loaded machine still
# reads it RUNNING 1 s in).
cat > "$T/sim.yaml" <<'EOF'
name: simulated-5s
command: [/no/such/program]
resources: {cpus_per_rank: 2, mem_per_rank: 256M}
simulate: {duration: 5s}
EOF
sim=$(submit_job "$T/sim.yaml")
wait_job_state "$sim" RUNNING 30
sleep 1
assert_eq "$(job_field "$sim" .state)" RUNNING "state of job $sim 1 s into its simulated 5 s"
wait_job_state "$sim" SUCCEEDED 30
ran=$(job_field "$sim" '.tasks[0].finished_unix_ms - .tasks[0].started_unix_ms')
[ "$ran" -ge 4990 ] || fail "job $sim ran $ran ms, less than its simulated 5 s"
ok "job $sim ran ${ran} ms (simulated 5 s) and SUCCEEDED"

# One whole-node job of 10 minutes per node: each runs on a node of its own.
sed -e 's/simulated-5s/hold/' -e 's/duration: 5s/duration: 10m/' "$T/sim.yaml" > "$T/hold.yaml"
hold=()
for i in $(seq 1 $N_NODES); do hold+=("$(submit_job "$T/hold.yaml")"); done
hold_json=$(printf '%s\n' "${hold[@]}" | jq -s .)
held () {
    all_jobs_json | jq -c --argjson ids "$hold_json" '[ .[] | select(.id as $i | $ids | index($i)) ]
        | { states: (group_by(.state) | map({ (.[0].state): length }) | add),
            attempts: (map(.attempt) | unique), nodes: (map(.tasks[0].node) | unique | length) }'
}
all_held () { [ "$(held | jq -c .states)" = "{\"RUNNING\":$N_NODES}" ]; }
wait_until 60 "$N_NODES whole-node simulated jobs RUNNING" all_held
assert_eq "$(held | jq .nodes)" "$N_NODES" "nodes running the $N_NODES whole-node jobs"
extra=$(submit_job --name extra --cpus 2 --memory 256M -- true)
sleep 0.5
assert_eq "$(job_field "$extra" .state)" PENDING "state of one more whole-node job (every node is full)"

info "kill -9 of the scheduler, and a new one: every node registers again"
kill9 scheduler
restart_scheduler
wait_until 30 "$N_NODES hollow nodes UP after the scheduler's restart" all_up
registrations () { grep -cE 'node hollow-[0-9]+ registered' "$T/scheduler.log"; }
reregistered () { [ "$(registrations)" -ge $((2 * N_NODES)) ]; }
wait_until 10 "$N_NODES registrations with the new scheduler" reregistered
ok "$N_NODES hollow nodes are UP again ($(registrations) registrations in all)"
# The nodes registered with the tasks they run: adopted, not rerun.
assert_eq "$(held | jq -c '[ .states, .attempts ]')" "[{\"RUNNING\":$N_NODES},[1]]" \
    "the $N_NODES simulated jobs after the restart"
st cancel "${hold[@]}" > /dev/null || fail "strata cancel failed"
all_cancelled () { [ "$(held | jq -c .states)" = "{\"CANCELLED\":$N_NODES}" ]; }
wait_until 30 "the $N_NODES simulated jobs to be CANCELLED" all_cancelled
ok "cancel ended the $N_NODES simulated tasks"
wait_job_state "$extra" SUCCEEDED 30

info "kill -9 of the hollow worker"
kill9 hollow
lost () { [ "$(nodes_json | jq '[ .[] | select(.state == "LOST") ] | length')" = "$N_NODES" ]; }
wait_until 20 "all $N_NODES nodes LOST" lost
ok "all $N_NODES hollow nodes are LOST"
assert_alive scheduler
late=$(submit_job --cpus 1 -- true)
sleep 0.5
assert_eq "$(job_field "$late" .state)" PENDING "state of a job submitted with every node lost"
pass
