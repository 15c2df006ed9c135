#!/usr/bin/env bash
# test_scheduler_crash: the scheduler is killed (SIGKILL) while 30 jobs run over two
# workers, then started again on the same database.
#   - every job ends SUCCEEDED and none is lost or duplicated (count);
#   - no job ever ran twice at once: each job's command logs "start"/"end" lines under
#     flock to one shared file, and the runs of each job must not overlap;
#   - the number of runs and attempts per job is reported (a rerun after a restart is
#     allowed only if the earlier run had ended or been killed before it started).
. "$(dirname "$0")/lib.sh"

N=30
start_scheduler

RUNS=$T/runs.log
: > "$RUNS"
chmod 666 "$RUNS"
cat > "$T/job.sh" <<'EOF'
#!/bin/sh
# job.sh RUNLOG SECONDS: logs its start and end (under flock) around a sleep.
f=$1
exec 9>>"$f"
flock 9; echo "start $STRATA_JOB_ID ${STRATA_ATTEMPT:-0} $$ $(date +%s%N)" >&9; flock -u 9
sleep "$2"
flock 9; echo "end $STRATA_JOB_ID ${STRATA_ATTEMPT:-0} $$ $(date +%s%N)" >&9; flock -u 9
EOF
chmod 755 "$T/job.sh"

info "submitting $N jobs of 0.5-1.0 s"
: > "$T/ids"
for i in $(seq 1 $N); do
    d=$(awk -v i="$i" 'BEGIN { printf "%.1f", 0.5 + (i % 6) * 0.1 }')
    submit_job --name "sc-$i" --cpus 1 --memory 128M --retries 2 -- sh "$T/job.sh" "$RUNS" "$d" >> "$T/ids"
done
assert_eq "$(sort -u "$T/ids" | wc -l)" "$N" "distinct job ids"
ids_json=$(jq -R 'tonumber' "$T/ids" | jq -s .)
# The workers come up only now: all 30 jobs wait in the queue, so however slow the
# submissions were (a sanitizer build on a loaded machine), most are still to run when the
# scheduler is killed.
start_worker w1 --cpus 2 --memory 2G
start_worker w2 --cpus 2 --memory 2G

counts () {
    all_jobs_json | jq -c --argjson ids "$ids_json" '
        ($ids | map({ (tostring): true }) | add) as $set
        | [ .[] | select($set[.id | tostring]) ] as $mine
        | { total: ($mine | length),
            succeeded: ([ $mine[] | select(.state == "SUCCEEDED") ] | length),
            terminal: ([ $mine[] | select(.state == "SUCCEEDED" or .state == "FAILED" or .state == "CANCELLED") ] | length),
            running: ([ $mine[] | select(.state == "RUNNING" or .state == "STARTING" or .state == "SCHEDULED") ] | length) }'
}

deadline=$((SECONDS + 60))
while :; do
    c=$(counts 2>/dev/null) || c=""
    [ -n "$c" ] && [ "$(jq .succeeded <<< "$c")" -ge 4 ] && break
    [ $SECONDS -lt $deadline ] || fail "jobs did not start succeeding within 60 s: $c"
    sleep 0.1
done
info "before the crash: $c"
[ "$(jq .terminal <<< "$c")" -lt "$N" ] || fail "all jobs ended before the crash; nothing was tested"

kill9 scheduler
assert_alive w1 w2
running_now=$(grep -c '^start' "$RUNS" || true)
info "scheduler down; $running_now runs started so far; restarting in 0.5 s"
sleep 0.5
restart_scheduler

deadline=$((SECONDS + 90))
last=""
while :; do
    c=$(counts 2>/dev/null) || c=""
    [ "$c" != "$last" ] && [ -n "$c" ] && info "progress: $c"
    last=$c
    [ -n "$c" ] && [ "$(jq .terminal <<< "$c")" = "$N" ] && break
    [ $SECONDS -lt $deadline ] || fail "not all jobs ended within 90 s after the restart: $c"
    sleep 0.2
done
assert_eq "$(jq .total <<< "$c")" "$N" "jobs known after the restart"
assert_eq "$(jq .succeeded <<< "$c")" "$N" "jobs SUCCEEDED"
total_listed=$(all_jobs_json | jq length)
assert_eq "$total_listed" "$N" "jobs in the database (no duplicates created)"

info "checking the run log ($(wc -l < "$RUNS") lines) for overlapping runs"
attempts=$(for id in $(cat "$T/ids"); do echo "$id $(job_field "$id" .attempt)"; done)
"$ST_PY" - "$RUNS" "$T/ids" <<EOF || fail "run log check failed (see above)"
import sys, collections
runs = collections.defaultdict(dict)       # job -> pid -> [start, end, attempt]
for line in open(sys.argv[1]):
    kind, job, attempt, pid, ts = line.split()
    r = runs[job].setdefault(pid, [None, None, attempt])
    r[0 if kind == "start" else 1] = int(ts)
ids = [l.strip() for l in open(sys.argv[2]) if l.strip()]
attempts = dict(l.split() for l in """$attempts""".strip().splitlines())
bad = 0
hist = collections.Counter()
for job in ids:
    rs = sorted(runs.get(job, {}).values(), key=lambda r: r[0] or 0)
    hist[len(rs)] += 1
    if not rs:
        print("job %s never ran" % job); bad += 1; continue
    if not any(r[1] for r in rs):
        print("job %s has no finished run: %s" % (job, rs)); bad += 1
    for a, b in zip(rs, rs[1:]):
        if a[0] is None or b[0] is None:
            print("job %s: end without start: %s" % (job, rs)); bad += 1
        elif a[1] is None or a[1] > b[0]:
            print("job %s ran twice at once: %s" % (job, rs)); bad += 1
    if len(rs) > 1:
        print("note: job %s ran %d times (attempts %s, final attempt %s)" %
              (job, len(rs), [r[2] for r in rs], attempts.get(job)))
print("runs per job: %s; final attempts: %s" % (dict(hist), dict(collections.Counter(attempts.values()))))
sys.exit(1 if bad else 0)
EOF
ok "no job ran twice at once"

assert_alive scheduler w1 w2
pass
