#!/usr/bin/env bash
# test_sim: strata-sim replays traces through libstrata-policy with results worked out by hand.
#   - FIFO head-of-line blocking; EASY backfill only with time limits (one node), and without
#     them when the blocked job cannot use the free node (two GPU types); the default policy
#     puts smaller jobs first, backfills beside a blocked job, and orders tenants by fair share
#     (user column);
#   - SJF (the oracle) orders by true duration, and nothing else reads durations: fifo,
#     backfill, default and las give byte-identical per-job results with --hide-durations on
#     the real trace, while sjf changes;
#   - LAS preempts a job past 1 GPU-hour for a new one; the victim resumes with its remaining
#     time plus --restart-overhead; --tick adds cycles between events (LAS notices a job
#     crossing 1 GPU-hour while it runs);
#   - a job the policy never starts on an idle cluster (GPU quota 0) ends the run with exit 1
#     and the engine's reason;
#   - fractional num_gpus are rounded up to whole GPUs; gangs of G GPUs on P-GPU nodes are
#     ceil(G/P) tasks of ceil(G/tasks) GPUs; a job too big for the cluster is refused;
#   - bad traces name the line and column and exit 1; usage errors exit 2;
#   - the real ITP slice on 16 x 8 GPUs: every job finishes, utilization in (0, 1], FIFO's
#     busy GPU-hours equal the trace's demand, and every job's times are consistent.
# Needs no database; STRATA_BIN_DIR names the folder with strata-sim.
. "$(dirname "$0")/lite.sh"
SIM=$ST_BIN/strata-sim
ITP=$ST_SRC/data/traces/itp_cluster04_dev.csv

[ -x "$SIM" ] || fail "$SIM not built"
[ -f "$ITP" ] || fail "$ITP missing"

# run NAME ARGS...: strata-sim ARGS > $T/NAME.out 2> $T/NAME.err; prints nothing, sets $rc.
run () {
    local name=$1; shift
    set +e
    "$SIM" "$@" > "$T/$name.out" 2> "$T/$name.err"
    rc=$?
    set -e
}
# sim_ok NAME ARGS...: the run must exit 0.
sim_ok () {
    run "$@"
    [ "$rc" -eq 0 ] || fail "strata-sim ${*:2} exited $rc: $(cat "$T/$1.err")"
}
# val NAME KEY: the value of `KEY: value` in NAME's output.
val () { sed -n "s/^$2: //p" "$T/$1.out"; }
# col NAME JOB COLUMN: a column of the jobs CSV NAME.csv for job id JOB.
col () {
    awk -F, -v id="$2" -v c="$3" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next }
        $1 == id { print $k }' "$T/$1.csv"
}
# expect_error NAME STATUS REGEX ARGS...: strata-sim ARGS exits STATUS with REGEX on stderr.
expect_error () {
    local name=$1 want=$2 re=$3; shift 3
    run "$name" "$@"
    [ "$rc" -eq "$want" ] || fail "$name: exit status $rc, expected $want (stderr: $(cat "$T/$name.err"))"
    grep -qE -- "$re" "$T/$name.err" || fail "$name: stderr does not match /$re/: $(cat "$T/$name.err")"
    ok "$name: exit $want, $(head -n 1 "$T/$name.err")"
}
trace () { printf 'job_id,submit_s,duration_s,num_gpus,gpu_type,user,queue,status\n' > "$T/$1.csv.in"
           cat >> "$T/$1.csv.in"; mv "$T/$1.csv.in" "$T/$1.trace"; }

# -- 1. head-of-line blocking and backfill on one 4-GPU node -------------------------------
# j1 (2 GPUs, 7000 s) runs; j2 needs all 4 GPUs and waits for j1; j3 and j4 (1 GPU) queue
# behind it. FIFO: j2 runs 7000-10000, then j3 10000-13000 and j4 10000-16000:
#   JCTs 7000, 9999, 12998, 15997 -> 11498.5.
# With time limits (bucket: j1 2 h, j2 and j3 1 h, j4 2 h) EASY backfill reserves the node
# for j2 at 7200 (j1's start + limit); j3 ends by 3602 and backfills at 2; j4 would end past
# 7200 on GPUs j2 needs and waits: JCTs 7000, 9999, 3000, 15997 -> 8999.0.
# Without time limits the reservation has no start time, and a job without a limit never
# counts as ending before it: nothing backfills on GPUs j2 needs, same as FIFO.
# The default policy orders smaller jobs first (while none has waited 6 h): j3 and j4 are
# ahead of j2 in its order and start at once, limits or not: 7000, 9999, 3000, 6000 -> 6499.8.
trace hol <<'EOF'
j1,0,7000,2,,,,
j2,1,3000,4,,,,
j3,2,3000,1,,,,
j4,3,6000,1,,,,
EOF
for p in fifo backfill; do
    sim_ok "hol-$p" --trace "$T/hol.trace" --nodes 1 --gpus-per-node 4 --policy $p --jobs-out "$T/hol-$p.csv"
    assert_eq "$(val "hol-$p" avg_jct_s)" 11498.5 "hol, $p, no time limits: avg_jct_s"
    assert_eq "$(col "hol-$p" j3 start_s)" 10000.000 "hol, $p, no time limits: j3 waits behind j2 (start_s)"
done
sim_ok holb-backfill --trace "$T/hol.trace" --nodes 1 --gpus-per-node 4 --policy backfill --time-limits bucket \
    --jobs-out "$T/holb-backfill.csv"
assert_eq "$(val holb-backfill avg_jct_s)" 8999.0 "hol, backfill, bucket time limits: avg_jct_s"
assert_eq "$(col holb-backfill j3 start_s)" 2.000 "hol, backfill: j3 backfilled at once (start_s)"
assert_eq "$(col holb-backfill j4 start_s)" 10000.000 "hol, backfill: j4 would delay j2 and waits (start_s)"
assert_eq "$(val holb-backfill backfilled)" 1 "hol, backfill: backfilled placements"
sim_ok holb-fifo --trace "$T/hol.trace" --nodes 1 --gpus-per-node 4 --policy fifo --time-limits bucket
assert_eq "$(val holb-fifo avg_jct_s)" 11498.5 "hol, fifo ignores time limits: avg_jct_s"
for limits in none bucket; do
    sim_ok "hol-default-$limits" --trace "$T/hol.trace" --nodes 1 --gpus-per-node 4 --policy default \
        --time-limits $limits --jobs-out "$T/hol-default-$limits.csv"
    assert_eq "$(val "hol-default-$limits" avg_jct_s)" 6499.8 "hol, default, time limits $limits: avg_jct_s"
    assert_eq "$(col "hol-default-$limits" j4 start_s)" 3.000 "hol, default, time limits $limits: j4 goes first"
    assert_eq "$(col "hol-default-$limits" j2 start_s)" 7000.000 "hol, default, time limits $limits: j2 (start_s)"
done
assert_eq "$(val hol-fifo median_jct_s)" 11498.5 "hol, fifo: median_jct_s (mean of 9999 and 12998)"
assert_eq "$(val hol-fifo p99_jct_s)" 15997.0 "hol, fifo: p99_jct_s (nearest rank)"
assert_eq "$(val hol-fifo avg_wait_s)" 6748.5 "hol, fifo: avg_wait_s (0, 6999, 9998, 9997)"
assert_eq "$(val hol-fifo makespan_s)" 16000.0 "hol, fifo: makespan_s"
# busy: 2x7000 + 4x3000 + 3000 + 6000 = 35000 GPU-s over 4 GPUs x 16000 s
assert_eq "$(val hol-fifo utilization)" 0.5469 "hol, fifo: utilization"

# -- 2. backfill beside a blocked job that needs the other GPU type ------------------------
# Node a has 4 GPUs of type A, node b 4 of type B. j1 takes a; j2 (4 x A) waits for it; j3
# (1 GPU, any type) fits on b at once. FIFO keeps j3 behind j2 (it starts with j2 at 1000):
#   JCTs 1000, 1999, 1098 -> 1365.7. Backfill starts j3 at 2: 1000, 1999, 100 -> 1033.0.
cat > "$T/two-types.yaml" <<'EOF'
regions: [eu-west]
pools:
  - {name: p, site: onprem, region: eu-west}
nodes:
  - {name: a, pool: p, gpus: 4, gpu_type: A}
  - {name: b, pool: p, gpus: 4, gpu_type: B}
EOF
trace types <<'EOF'
j1,0,1000,4,A,,,
j2,1,1000,4,A,,,
j3,2,100,1,,,,
EOF
sim_ok types-fifo --trace "$T/types.trace" --cluster "$T/two-types.yaml" --policy fifo
assert_eq "$(val types-fifo avg_jct_s)" 1365.7 "two GPU types, fifo: avg_jct_s"
for p in backfill default; do
    sim_ok "types-$p" --trace "$T/types.trace" --cluster "$T/two-types.yaml" --policy $p
    assert_eq "$(val "types-$p" avg_jct_s)" 1033.0 "two GPU types, $p (no time limits): avg_jct_s"
done
assert_eq "$(val types-fifo nodes)" 2 "two GPU types: nodes from the cluster file"
assert_eq "$(val types-fifo gpus)" 8 "two GPU types: gpus from the cluster file"

# -- 3. SJF: the oracle orders by true duration ----------------------------------------------
# One GPU. a runs 0-100; b (300), c (50), d (200) wait. SJF: c 100-150, d 150-350, b 350-650:
#   JCTs 100, 649, 148, 347 -> 311.0. FIFO: b 100-400, c 400-450, d 450-650 -> 398.5.
trace sjf <<'EOF'
a,0,100,1,,,,
b,1,300,1,,,,
c,2,50,1,,,,
d,3,200,1,,,,
EOF
sim_ok sjf-sjf --trace "$T/sjf.trace" --nodes 1 --gpus-per-node 1 --policy sjf --jobs-out "$T/sjf-sjf.csv"
assert_eq "$(val sjf-sjf avg_jct_s)" 311.0 "sjf: avg_jct_s"
assert_eq "$(col sjf-sjf b start_s)" 350.000 "sjf: the longest waiting job starts last (start_s of b)"
sim_ok sjf-fifo --trace "$T/sjf.trace" --nodes 1 --gpus-per-node 1 --policy fifo
assert_eq "$(val sjf-fifo avg_jct_s)" 398.5 "sjf trace, fifo: avg_jct_s"
sim_ok sjf-hidden --trace "$T/sjf.trace" --nodes 1 --gpus-per-node 1 --policy sjf --hide-durations
[ "$(val sjf-hidden avg_jct_s)" != 311.0 ] || fail "sjf with --hide-durations still found the shortest jobs"
ok "sjf with --hide-durations loses its oracle (avg_jct_s $(val sjf-hidden avg_jct_s))"

# -- 4. LAS preempts; the victim resumes from its checkpoint ---------------------------------
# One GPU. long (10000 s) has 5000 GPU-s (past 1 GPU-hour) when short arrives at 5000: LAS
# stops long, short runs 5000-5100, long resumes with 5000 s left + 30 s restart overhead:
#   JCTs 10130 and 100 -> 5115.0 (5100.0 with --restart-overhead 0). FIFO and default (one
# priority: nothing to preempt for) finish long first: 10000 and 5100 -> 7550.0.
trace las <<'EOF'
long,0,10000,1,,,,
short,5000,100,1,,,,
EOF
sim_ok las-las --trace "$T/las.trace" --nodes 1 --gpus-per-node 1 --policy las --jobs-out "$T/las-las.csv"
assert_eq "$(val las-las avg_jct_s)" 5115.0 "las: avg_jct_s"
assert_eq "$(val las-las preemptions)" 1 "las: preemptions"
assert_eq "$(col las-las long preemptions)" 1 "las: preemptions of job long"
assert_eq "$(col las-las long run_s)" 10030.000 "las: run_s of long (10000 s + 30 s restart)"
assert_eq "$(col las-las short start_s)" 5000.000 "las: short starts on arrival"
sim_ok las-las0 --trace "$T/las.trace" --nodes 1 --gpus-per-node 1 --policy las --restart-overhead 0
assert_eq "$(val las-las0 avg_jct_s)" 5100.0 "las, --restart-overhead 0: avg_jct_s"
for p in fifo default; do
    sim_ok "las-$p" --trace "$T/las.trace" --nodes 1 --gpus-per-node 1 --policy $p
    assert_eq "$(val "las-$p" avg_jct_s)" 7550.0 "las trace, $p: avg_jct_s"
    assert_eq "$(val "las-$p" preemptions)" 0 "las trace, $p: preemptions"
done

# Without --tick the engine only runs on arrivals and ends: a job that crosses 1 GPU-hour
# while running is not noticed. Here short arrives at 1000, while long (attained 1000 GPU-s)
# is in the same LAS queue: no preemption, short waits for long: 10000, 9100 -> 9550.0.
# With --tick 600 a cycle at 3600 sees long at 1 GPU-hour and preempts it: short runs
# 3600-3700, long resumes with 6400 s + 30 s: 10130, 2700 -> 6415.0.
trace tick <<'EOF'
long,0,10000,1,,,,
short,1000,100,1,,,,
EOF
sim_ok tick-none --trace "$T/tick.trace" --nodes 1 --gpus-per-node 1 --policy las
assert_eq "$(val tick-none avg_jct_s)" 9550.0 "las without --tick: avg_jct_s"
sim_ok tick-600 --trace "$T/tick.trace" --nodes 1 --gpus-per-node 1 --policy las --tick 600s
assert_eq "$(val tick-600 avg_jct_s)" 6415.0 "las with --tick 600s: avg_jct_s"
assert_eq "$(val tick-600 preemptions)" 1 "las with --tick 600s: preemptions"

# -- 5. tenants: the default policy serves the user with less usage first --------------------
trace share <<'EOF'
a1,0,100,1,,alice,,
a2,1,100,1,,alice,,
b1,2,100,1,,bob,,
EOF
sim_ok share-default --trace "$T/share.trace" --nodes 1 --gpus-per-node 1 --policy default \
    --jobs-out "$T/share-default.csv"
sim_ok share-fifo --trace "$T/share.trace" --nodes 1 --gpus-per-node 1 --policy fifo --jobs-out "$T/share-fifo.csv"
assert_eq "$(col share-default b1 start_s)" 100.000 "default: bob's job goes before alice's second"
assert_eq "$(col share-fifo b1 start_s)" 200.000 "fifo: bob's job waits its turn"

# -- 6. fractional GPUs and gang shapes -------------------------------------------------------
# Two GPUs. Three jobs of 0.5 and 0.25 GPU each take a whole GPU: two run 0-100, one 100-200;
# the 1.5-GPU job takes both GPUs 300-400. JCTs 100, 100, 200, 100 -> 125.0;
# busy 300 + 200 GPU-s over 2 GPUs x 400 s -> 0.6250.
trace frac <<'EOF'
f1,0,100,0.5,,,,
f2,0,100,0.5,,,,
f3,0,100,0.25,,,,
g1,300,100,1.5,,,,
EOF
sim_ok frac --trace "$T/frac.trace" --nodes 1 --gpus-per-node 2 --policy fifo --jobs-out "$T/frac.csv"
assert_eq "$(val frac avg_jct_s)" 125.0 "fractional: avg_jct_s"
assert_eq "$(val frac rounded_up)" 4 "fractional: rounded_up"
assert_eq "$(val frac utilization)" 0.6250 "fractional: utilization"
assert_eq "$(col frac g1 gpus)" 2 "fractional: 1.5 GPUs hold 2"
assert_eq "$(col frac f3 gpus)" 1 "fractional: 0.25 GPU holds 1"
# Two nodes of 4 GPUs. 8 GPUs: 2 tasks of 4; 6 GPUs: 2 tasks of 3; 3 GPUs: 1 task. g6 leaves one
# GPU free per node, so g3 waits for it: JCTs 100, 200, 300 -> 200.0.
trace gang <<'EOF'
g8,0,100,8,,,,
g6,0,100,6,,,,
g3,0,100,3,,,,
EOF
sim_ok gang --trace "$T/gang.trace" --nodes 2 --gpus-per-node 4 --policy fifo --jobs-out "$T/gang.csv"
assert_eq "$(col gang g8 tasks)/$(col gang g6 tasks)/$(col gang g3 tasks)" 2/2/1 "gang: tasks of 8, 6, 3 GPUs"
assert_eq "$(col gang g6 gpus)" 6 "gang: 6 GPUs hold 6 (2 x 3)"
assert_eq "$(val gang avg_jct_s)" 200.0 "gang: avg_jct_s"
printf 'big,0,100,12,,,,\n' | trace big
expect_error too-big 1 'big\.trace:2: job big can never run: it needs 3 nodes' \
    --trace "$T/big.trace" --nodes 2 --gpus-per-node 4 --policy fifo
printf 'v,0,100,1,V100,,,\n' | trace typed
expect_error wrong-type 1 "typed\.trace:2: .*of type 'V100'" --trace "$T/typed.trace" --nodes 1 --gpus-per-node 1 \
    --policy fifo
sim_ok ignore-type --trace "$T/typed.trace" --nodes 1 --gpus-per-node 1 --policy fifo --ignore-gpu-type
assert_eq "$(val ignore-type finished)" 1 "--ignore-gpu-type: finished"

# A job the policy never starts, on an idle cluster (its tenant's GPU quota is 0): exit 1 with
# the engine's reason, after the figures of the jobs that did finish.
cat > "$T/quota.yaml" <<'EOF'
regions: [eu-west]
pools:
  - {name: p, site: onprem, region: eu-west}
tenants:
  - {name: bob, gpu_quota: 0}
nodes:
  - {name: a, pool: p, gpus: 4}
EOF
printf 'a1,0,100,1,,alice,,\nb1,0,100,1,,bob,,\n' | trace quota
expect_error quota 1 '1 job never started .*line 3, job b1: .*quota' --trace "$T/quota.trace" \
    --cluster "$T/quota.yaml" --policy default
assert_eq "$(val quota finished)" 1 "quota: the other job finished"

# -- 7. bad input -----------------------------------------------------------------------------
bad () {   # bad NAME REGEX: the trace in stdin (after the header) is refused with REGEX
    local name=$1 re=$2
    trace "$name"
    expect_error "$name" 1 "$re" --trace "$T/$name.trace" --nodes 1 --gpus-per-node 8 --policy fifo
}
printf 'a,0,10,1,,,,\nb,5,abc,1,,,,\n' | bad bad-number 'bad-number\.trace:3: column 3 \(duration_s\): .abc. is not a number'
printf 'a,0,10,1,,,,\nb,5,10\n' | bad few-fields 'few-fields\.trace:3: 3 fields, but the header has 8'
printf 'a,0,10,-1,,,,\n' | bad negative 'negative\.trace:2: column 4 \(num_gpus\): -1 is negative'
printf 'a,0x10,10,1,,,,\n' | bad hex 'hex\.trace:2: column 2 \(submit_s\): .0x10. is not a number'
printf 'a,0,10,1,,,,\n\nb,1,nan,1,,,,\n' | bad nan 'nan\.trace:4: column 3 \(duration_s\)'
printf 'a,0,10,1,,,,\nb,1,10,1,,,,\na,2,10,1,,,,\n' | bad dup-id "dup-id\.trace:4: column 1 \(job_id\): 'a' repeats line 2"
printf 'a,0,10,1,"x,,,\n' | bad quote 'quote\.trace:2: column 5: unterminated quoted field'
printf ',0,10,1,,,,\n' | bad no-id 'no-id\.trace:2: column 1 \(job_id\): blank'
printf '' | bad header-only 'no jobs after the header'
printf 'job_id,submit_s,num_gpus\na,0,1\n' > "$T/no-col.trace"
expect_error no-col 1 "no-col\.trace:1: the header has no column 'duration_s'" \
    --trace "$T/no-col.trace" --nodes 1 --gpus-per-node 1 --policy fifo
: > "$T/empty.trace"
expect_error empty 1 'empty file' --trace "$T/empty.trace" --nodes 1 --gpus-per-node 1 --policy fifo
expect_error missing 1 'nope\.csv: No such file' --trace "$T/nope.csv" --nodes 1 --gpus-per-node 1 --policy fifo
expect_error policy 2 "unknown policy 'lottery'" --trace "$ITP" --nodes 1 --gpus-per-node 8 --policy lottery
expect_error no-policy 2 'policy is required' --trace "$ITP" --nodes 1 --gpus-per-node 8
expect_error no-trace 2 'trace FILE is required' --nodes 1 --gpus-per-node 8 --policy fifo
expect_error both 2 'either --cluster FILE or --nodes' --trace "$ITP" --nodes 1 --gpus-per-node 8 \
    --cluster "$T/two-types.yaml" --policy fifo
expect_error no-gpus 2 'needs --gpus-per-node' --trace "$ITP" --nodes 4 --policy fifo
expect_error limits 2 "unknown --time-limits 'exact'" --trace "$ITP" --nodes 4 --gpus-per-node 8 --policy fifo \
    --time-limits exact
expect_error flag 2 'unknown option --nodez' --trace "$ITP" --nodez 4 --policy fifo
expect_error no-cluster 1 'nope\.yaml' --trace "$ITP" --cluster "$T/nope.yaml" --policy fifo
printf 'regions: [r]\npools:\n  - {name: p, site: onprem, region: r, colour: red}\nnodes:\n  - {name: a, pool: p, gpus: 8}\n' > "$T/bad-pool.yaml"
expect_error bad-pool 1 'bad-pool\.yaml: .*colour' --trace "$ITP" --cluster "$T/bad-pool.yaml" --policy fifo
printf 'regions: [r]\npools:\n  - {name: p, site: onprem, region: r}\n' > "$T/no-nodes.yaml"
expect_error no-nodes 1 'no-nodes\.yaml: nodes: a list of node groups is required' --trace "$ITP" \
    --cluster "$T/no-nodes.yaml" --policy fifo
printf 'nodes:\n  - {name: a, pool: p, gpus: many}\n' > "$T/bad-node.yaml"
expect_error bad-node 1 'bad-node\.yaml: nodes\[0\]\.gpus: must be an integer' --trace "$ITP" \
    --cluster "$T/bad-node.yaml" --policy fifo
run help --help
[ "$rc" -eq 0 ] && grep -q -- '--gpus-per-node' "$T/help.out" && grep -q 'rounded up' "$T/help.out" \
    || fail "--help: exit $rc, output: $(cat "$T/help.out")"
ok "--help explains the flags and the model"

# -- 8. the real trace -------------------------------------------------------------------------
# 16 nodes x 8 GPUs (128 GPUs; the slice asks for 46,321 GPU-hours over 3.9 days).
demand=$(awk -F, 'NR > 1 { g = $4; w = int(g); if (w < g) w++; s += w * $3 } END { printf "%.1f", s / 3600 }' "$ITP")
last_end=$(awk -F, 'NR > 1 && $2 + $3 > m { m = $2 + $3 } END { print m }' "$ITP")
for p in fifo backfill default las sjf; do
    sim_ok "itp-$p" --trace "$ITP" --nodes 16 --gpus-per-node 8 --policy $p --jobs-out "$T/itp-$p.csv"
    assert_eq "$(val "itp-$p" jobs)/$(val "itp-$p" finished)" 1608/1608 "itp, $p: every job finished"
    awk -v u="$(val "itp-$p" utilization)" 'BEGIN { exit !(u > 0 && u <= 1) }' \
        || fail "itp, $p: utilization $(val "itp-$p" utilization) is not in (0, 1]"
    awk -v m="$(val "itp-$p" makespan_s)" -v l="$last_end" 'BEGIN { exit !(m >= l) }' \
        || fail "itp, $p: makespan $(val "itp-$p" makespan_s) s is shorter than the last job's submit + duration"
    # Every job: start >= submit, end - start >= duration (more only after a preemption),
    # jct = end - submit, wait = start - submit.
    awk -F, 'NR == FNR { if (FNR > 1) d[$1] = $3; next }
        FNR > 1 { if ($3 < $2 || $4 - $3 < d[$1] - 0.001 || ($8 == 0 && ($4 - $3 > d[$1] + 0.001)) \
                      || ($5 - ($4 - $2))^2 > 1e-4 || ($6 - ($3 - $2))^2 > 1e-4) { print "job " $1 ": " $0; bad = 1 } }
        END { exit bad }' "$ITP" "$T/itp-$p.csv" > "$T/itp-$p.bad" \
        || fail "itp, $p: inconsistent jobs: $(head -n 3 "$T/itp-$p.bad")"
    ok "itp, $p: utilization $(val "itp-$p" utilization), avg_jct_s $(val "itp-$p" avg_jct_s), cycles $(val "itp-$p" cycles)"
done
assert_eq "$(val itp-fifo busy_gpu_hours)" "$demand" "itp, fifo: busy GPU-hours equal the trace's demand"
assert_eq "$(val itp-fifo preemptions)" 0 "itp, fifo: preemptions"
# Only the oracle reads durations.
for p in fifo backfill default las; do
    sim_ok "itp-$p-hidden" --trace "$ITP" --nodes 16 --gpus-per-node 8 --policy $p --hide-durations \
        --jobs-out "$T/itp-$p-hidden.csv"
    cmp -s "$T/itp-$p.csv" "$T/itp-$p-hidden.csv" \
        || fail "itp, $p: results change when durations are hidden, so $p reads them"
    ok "itp, $p: identical results with durations hidden"
done
sim_ok itp-sjf-hidden --trace "$ITP" --nodes 16 --gpus-per-node 8 --policy sjf --hide-durations \
    --jobs-out "$T/itp-sjf-hidden.csv"
cmp -s "$T/itp-sjf.csv" "$T/itp-sjf-hidden.csv" && fail "itp, sjf: hiding durations changed nothing"
ok "itp, sjf: hiding durations changes its results (it is the only reader)"
exit 0
