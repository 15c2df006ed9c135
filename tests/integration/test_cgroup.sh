#!/usr/bin/env bash
# test_cgroup: each task in its own cgroup (worker/cgroup.c), with a real scheduler and worker.
#   - the worker says which isolation it has (its log; strata nodes --json where it shows it);
#   - a memory hog past its 64 MiB mem_per_rank is killed by its cgroup: the job ends FAILED
#     with "killed: out of memory (limit 64 MiB)", every attempt (it retries once) keeps its
#     peak memory, CPU time and reason in `strata show --json`, while a neighbour task on the
#     same node keeps running and then succeeds;
#   - a bounded fork bomb is refused by the process limit (--cgroup-pids-max 64) well before
#     its own bound, and the node keeps running tasks;
#   - nothing is left in the node's cgroups once the worker has stopped.
# Needs root and cgroup v1 (memory, cpu, pids) or v2 with those controllers; skips otherwise.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "not root: no cgroup can be made here"
command -v python3 >/dev/null || skip "python3 is not installed (the memory hog and fork bomb are Python)"

start_scheduler
start_worker w1 --cpus 4 --memory 4G --cgroup-pids-max 64
if log_has w1 'task isolation: none'; then
    skip "the node has no usable cgroups: $(grep -o 'task isolation: none.*' "$T/w1.log" | head -1)"
fi
log_has w1 'task isolation: cgroup v[12] under ' || fail "w1's log does not say which isolation it has"
kind=$(grep -o 'task isolation: cgroup v[12]' "$T/w1.log" | head -1 | sed 's/task isolation: //')
parent=$(grep -o 'task isolation: cgroup v[12] under [^ ]*' "$T/w1.log" | head -1 | sed 's/.* under //')
ok "w1 isolates tasks with $kind under $parent"
iso=$(node_field w1 '.isolation // empty')
[ -z "$iso" ] || assert_eq "$iso" "$kind" "isolation of w1 in strata nodes --json"

info "a neighbour that runs until told to stop, and a memory hog beside it"
neighbour=$(submit_job --name neighbour --cpus 0.5 --memory 64M --time-limit 120s -- \
    sh -c "while [ ! -f '$T/go' ]; do sleep 0.1; done; echo neighbour done")
wait_job_state "$neighbour" RUNNING
hog=$(submit_job --name hog --cpus 1 --memory 64M --retries 1 --time-limit 120s -- \
    python3 -c 'b = []
while True: b.append(b"x" * (8 << 20))')
state=$(wait_job_terminal "$hog" 60)
assert_eq "$state" FAILED "state of the memory hog"
reason=$(job_field "$hog" .reason)
[[ $reason == *"killed: out of memory (limit 64 MiB)"* ]] || fail "hog's reason does not name the OOM kill: $reason"
ok "hog: $reason"
assert_eq "$(job_field "$neighbour" .state)" RUNNING "state of the neighbour after the hog was killed"

info "every attempt of the hog has its peak memory, CPU time and reason"
job_json "$hog" > "$T/hog.json"
assert_eq "$(jq '.tasks | length' "$T/hog.json")" 1 "tasks of the hog in show --json (its latest attempt)"
assert_eq "$(jq '.tasks[0].earlier_attempts | length' "$T/hog.json")" 1 "earlier attempts of the hog's rank 0"
for a in 1 2; do
    t=$(jq -c "[.tasks[0], .tasks[0].earlier_attempts[]] | .[] | select(.attempt == $a) | del(.earlier_attempts)" \
        "$T/hog.json")
    peak=$(jq -r .peak_mem_kib <<< "$t")
    cpu=$(jq -r .cpu_ms <<< "$t")
    [[ $peak =~ ^[0-9]+$ ]] || fail "attempt $a has no peak memory: $t"
    [[ $cpu =~ ^[0-9]+$ ]] || fail "attempt $a has no CPU time: $t"
    # The limit held: the group's peak is at its limit, never far past it.
    [ "$peak" -ge $((32 * 1024)) ] && [ "$peak" -le $((64 * 1024 + 1024)) ] \
        || fail "attempt $a: peak ${peak} KiB is not near the 64 MiB limit"
    assert_eq "$(jq -r .reason <<< "$t")" "killed: out of memory (limit 64 MiB)" "reason of attempt $a"
    ok "attempt $a: peak $peak KiB, cpu $cpu ms, killed for memory"
done
st show "$hog" > "$T/hog.txt"
grep -qE '^0 +1 +FAILED +w1 .*MiB .* s +killed: out of memory \(limit 64 MiB\)' "$T/hog.txt" \
    || { cat "$T/hog.txt" >&2; fail "strata show does not print attempt 1's usage and reason"; }
ok "strata show prints each attempt's peak memory, CPU time and reason"

touch "$T/go"
wait_job_state "$neighbour" SUCCEEDED 30
nb=$(job_field "$neighbour" '.tasks[0]')
[[ $(jq -r .peak_mem_kib <<< "$nb") =~ ^[0-9]+$ ]] || fail "the neighbour has no peak memory: $nb"
[[ $(jq -r .cpu_ms <<< "$nb") =~ ^[0-9]+$ ]] || fail "the neighbour has no CPU time: $nb"
assert_eq "$(jq -r .reason <<< "$nb")" "" "reason of the neighbour's task"

info "a fork bomb (bounded at 1000 processes) against --cgroup-pids-max 64"
bomb=$(submit_job --name bomb --cpus 0.5 --memory 256M --time-limit 60s -- python3 -c 'import os, time
n = 0
try:
    while n < 1000:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
    print("not refused", n)
except OSError as e:
    print("refused after", n, "children:", os.strerror(e.errno))')
wait_job_state "$bomb" SUCCEEDED 60
out=$(cat "$T/w1/logs/$bomb/0.1.stdout")
[[ $out =~ ^refused\ after\ ([0-9]+)\ children ]] || fail "the fork bomb was not refused: $out"
n=${BASH_REMATCH[1]}
[ "$n" -lt 64 ] || fail "the fork bomb made $n children past a limit of 64"
ok "fork bomb: $out"
after=$(submit_job --name after --cpus 0.5 --memory 64M -- sh -c 'echo still here')
wait_job_state "$after" SUCCEEDED 30
ok "the node runs tasks after the fork bomb"

info "the worker stops: its cgroups go with it"
stop_daemon w1
if [ -d "$parent" ]; then
    ls -la "$parent" >&2
    fail "w1's cgroup $parent is still there after it stopped"
fi
ok "no cgroup of w1 is left"
pass
