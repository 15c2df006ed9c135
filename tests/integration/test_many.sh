#!/usr/bin/env bash
# test_many: 200 short jobs over two workers (2 CPUs, 2 GiB each; every job asks for 1 CPU,
# and 256 MiB or, every third one, 1 GiB).
#   - every job ends SUCCEEDED, and both workers ran some;
#   - while they run, `strata nodes --json` is sampled over and over: cpus_used <= cpus,
#     mem_used_mb <= mem_mb and running_tasks <= 2 on every sample (the scheduler's view);
#   - at the same time the live task processes of each worker are counted from /proc
#     (a task's cwd is <state-dir>/tasks/...): never more than 2 per worker (what really
#     ran), so an over-commit by the scheduler or the worker would be caught;
#   - afterwards both nodes are back to 0 used.
. "$(dirname "$0")/lib.sh"

N=${MANY_JOBS:-200}
SUBMITTERS=4

start_scheduler
start_worker w1 --cpus 2 --memory 2G
start_worker w2 --cpus 2 --memory 2G

cat > "$T/sampler.py" <<'EOF'
import json, os, subprocess, sys, time
cli, ep, root, stop, out = sys.argv[1:6]
workers = sys.argv[6:]
slots = 2                                   # 2 CPUs per worker, 1 CPU per job
samples = 0
max_procs = {w: 0 for w in workers}
max_used = {}
violations = []
errlog = open(os.path.join(root, "sampler-cli.log"), "a")

def task_procs(w):
    base = os.path.join(root, w, "tasks") + "/"
    n = 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if os.readlink("/proc/%s/cwd" % p).startswith(base):
                n += 1
        except OSError:
            pass
    return n

while not os.path.exists(stop):
    for w in workers:
        n = task_procs(w)
        max_procs[w] = max(max_procs[w], n)
        if n > slots:
            violations.append("%s runs %d task processes (slots %d)" % (w, n, slots))
    r = subprocess.run([cli, "--scheduler", ep, "--timeout", "3s", "nodes", "--json"],
                       stdout=subprocess.PIPE, stderr=errlog)
    if r.returncode == 0:
        try:
            nodes = json.loads(r.stdout)
        except ValueError as e:
            violations.append("nodes --json is not JSON: %s" % e)
            nodes = []
        for nd in nodes:
            name = nd.get("name")
            cu, c = nd.get("cpus_used", 0), nd.get("cpus", 0)
            mu, m = nd.get("mem_used_mb", 0), nd.get("mem_mb", 0)
            rt = nd.get("running_tasks", 0)
            prev = max_used.get(name, [0, 0, 0])
            max_used[name] = [max(prev[0], cu), max(prev[1], mu), max(prev[2], rt)]
            if cu > c + 1e-9:
                violations.append("%s cpus_used %s > cpus %s" % (name, cu, c))
            if mu > m:
                violations.append("%s mem_used_mb %s > mem_mb %s" % (name, mu, m))
            if rt > slots:
                violations.append("%s running_tasks %s > %d" % (name, rt, slots))
            if cu < 0 or mu < 0:
                violations.append("%s negative usage: cpus_used %s mem_used_mb %s" % (name, cu, mu))
        samples += 1
    time.sleep(0.02)

json.dump({"samples": samples, "max_procs": max_procs, "max_used": max_used,
           "violations": violations[:50], "violation_count": len(violations)}, open(out, "w"))
EOF

"$ST_PY" "$T/sampler.py" "$ST_BIN/strata" "$ST_CLIENT_EP" "$T" "$T/stop-sampler" "$T/sampler.json" w1 w2 &
ST_SAMPLER_PID=$!
info "sampler running (pid $ST_SAMPLER_PID)"

info "submitting $N jobs from $SUBMITTERS concurrent clients"
t0=$SECONDS
sub_pids=()
for k in $(seq 1 $SUBMITTERS); do
    (
        for i in $(seq "$k" "$SUBMITTERS" "$N"); do
            # Every third job takes half a worker's memory, so memory fills up exactly
            # (1G + 1G = 2G) while CPUs bind the rest.
            mem=256M; [ $((i % 3)) -eq 0 ] && mem=1G
            st submit --json --name "many-$i" --cpus 1 --memory "$mem" -- sleep 0.1 | jq -r .id
        done > "$T/ids.$k"
    ) &
    sub_pids+=($!)
done
for p in "${sub_pids[@]}"; do wait "$p" || fail "a submitter failed (see above)"; done
cat "$T"/ids.* | sort -n > "$T/ids"
assert_eq "$(grep -cE '^[0-9]+$' "$T/ids")" "$N" "job ids returned"
assert_eq "$(sort -u "$T/ids" | wc -l)" "$N" "distinct job ids"
info "submitted in $((SECONDS - t0))s"

ids_json=$(jq -R 'tonumber' "$T/ids" | jq -s .)
summary () {
    all_jobs_json | jq -c --argjson ids "$ids_json" '
        ($ids | map({ (tostring): true }) | add) as $set
        | [ .[] | select($set[.id | tostring]) ] as $mine
        | { total: ($mine | length),
            terminal: ([ $mine[] | select(.state == "SUCCEEDED" or .state == "FAILED" or .state == "CANCELLED") ] | length),
            succeeded: ([ $mine[] | select(.state == "SUCCEEDED") ] | length),
            nodes: ([ $mine[] | (.tasks[0].node // .node // "?") ] | group_by(.) | map({ (.[0]): length }) | add) }'
}
deadline=$((SECONDS + 150))
last=""
while :; do
    s=$(summary 2>/dev/null) || s=""
    [ "$s" != "$last" ] && [ -n "$s" ] && info "progress: $s"
    last=$s
    [ -n "$s" ] && [ "$(jq .terminal <<< "$s")" = "$N" ] && break
    [ $SECONDS -lt $deadline ] || fail "not all $N jobs ended within 150 s: $s"
    sleep 0.5
done
info "all $N jobs ended $((SECONDS - t0))s after the first submit"

touch "$T/stop-sampler"
wait "$ST_SAMPLER_PID" || fail "sampler failed"
ST_SAMPLER_PID=""
info "sampler: $(cat "$T/sampler.json")"

assert_eq "$(jq .total <<< "$s")" "$N" "jobs listed by strata jobs --all"
assert_eq "$(jq .succeeded <<< "$s")" "$N" "jobs SUCCEEDED"
for w in w1 w2; do
    n=$(jq -r --arg w "$w" '.nodes[$w] // 0' <<< "$s")
    [ "$n" -gt 0 ] || fail "worker $w ran none of the jobs ($s)"
    ok "$w ran $n jobs"
done

samples=$(jq .samples "$T/sampler.json")
[ "$samples" -ge 5 ] || fail "only $samples samples of strata nodes were taken"
vc=$(jq .violation_count "$T/sampler.json")
[ "$vc" -eq 0 ] || fail "$vc over-commit samples: $(jq -c .violations "$T/sampler.json")"
ok "no over-commit in $samples samples (max used per node: $(jq -c .max_used "$T/sampler.json"))"
for w in w1 w2; do
    m=$(jq -r --arg w "$w" '.max_procs[$w]' "$T/sampler.json")
    if [ "$m" -eq 0 ]; then
        info "note: never saw a task process of $w under $T/$w/tasks (process count check was vacuous)"
    else
        ok "$w never ran more than $m task processes at once (limit 2)"
    fi
done

nodes_idle () {
    [ "$(nodes_json | jq '[ .[] | select(.running_tasks != 0 or .cpus_used != 0 or .mem_used_mb != 0) ] | length')" = 0 ]
}
wait_until 5 "both nodes to report nothing used" nodes_idle
ok "both nodes report 0 running tasks, 0 cpus and 0 MiB used"

assert_alive scheduler w1 w2
pass
