#!/usr/bin/env bash
# test_twin_e2e: Strata's own workloads end to end through the scheduler:
#   1. a 2-rank `finetune` of strata-twin-train on one pool, launched by mpirun
#      (launcher auto), data-parallel over MPI, registering its checkpoint as model
#      version acme-twin:1 (output_model);
#   2. a 3-shard `inference` job that depends on it (depends_on), names the fine-tuned
#      model, and spreads over two pools; its merged output is byte-identical to a
#      single-process run of strata-twin-infer on the same checkpoint;
#   3. the trainer's progress (step, loss, tokens/s) reaches `strata show`; SIGTERM to
#      the training mid-run: it checkpoints and exits 75, the attempt ends PREEMPTED, and
#      the next attempt resumes from the checkpoint's step.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/storage" "$T/out"
chown strata-task "$T/out"     # the shards write there: the worker runs as root, its tasks as strata-task
cat > "$T/cluster.yaml" <<EOF
regions: [eu-central, eu-west]
latency_ms:
  eu-central: {eu-west: 20}
pools:
  - {name: lab, site: onprem, region: eu-central, jurisdiction: EU, clearance: confidential,
     cost_gpu_hour: 1.0, cost_cpu_hour: 0.2, pue: 1.3, carbon_g_per_kwh: 300, storage_root: $T/storage}
  - {name: cloud, site: private_cloud, region: eu-west, jurisdiction: EU, clearance: confidential,
     cost_gpu_hour: 1.5, cost_cpu_hour: 0.3, pue: 1.2, carbon_g_per_kwh: 250, storage_root: $T/storage}
EOF
start_scheduler --cluster "$T/cluster.yaml"
start_worker lab1 --pool lab --cpus 2
start_worker cloud1 --pool cloud --cpus 2

# Lines to run inference over: part of a licence, with its empty lines.
head -40 /usr/share/common-licenses/GPL-3 > "$T/prompts.txt"

# Each rank gets 1 GiB (its cgroup's limit): a sanitizer build's quarantine and shadow memory
# would not fit the default 256 MiB.
TRAIN="$ST_BIN/strata-twin-train --data /usr/share/common-licenses --batch 4 --seq 32 --layers 1 --dim 32 --heads 2 --seed 7"

# -- 1. fine-tune -----------------------------------------------------------------------
info "a 2-rank fine-tune registers its model"
cat > "$T/ft.yaml" <<EOF
name: twin-ft
kind: finetune
command: [sh, -c, 'exec $TRAIN --steps 40 --checkpoint-every 10 --resume']
resources: {ranks: 2, cpus_per_rank: 1, mem_per_rank: 1G}
data: {uri: "file:///usr/share/common-licenses", classification: confidential, residency: [EU]}
output_model: acme-twin
time_limit: 5m
EOF
ft=$(submit_job "$T/ft.yaml")

# -- 2. inference that waits for it ------------------------------------------------------
info "a 3-shard inference job waits for the fine-tune, then uses its model"
cat > "$T/inf.yaml" <<EOF
name: twin-infer
kind: inference
command: [sh, -c, 'echo "model=\$STRATA_MODEL uri=\$STRATA_MODEL_URI"; exec $ST_BIN/strata-twin-infer --model "\$STRATA_MODEL_URI" --data $T/prompts.txt --out $T/out/answers.jsonl --max-new 8']
resources: {shards: 3, cpus_per_rank: 1, mem_per_rank: 1G}
model: acme-twin
depends_on: [$ft]
data: {classification: confidential, residency: [EU]}
time_limit: 5m
EOF
# The shards and the single-process run below must use the same BLAS kernels to agree byte
# for byte. A worker gives a task only PATH, HOME, LANG and the spec's env, so the OpenBLAS
# settings of this environment (set on hosts where OpenBLAS must not guess the core type)
# travel in the spec.
blas_env=""
for v in OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; do
    if [ -n "${!v:-}" ]; then blas_env+="$v: \"${!v}\", "; fi
done
[ -z "$blas_env" ] || echo "env: {${blas_env%, }}" >> "$T/inf.yaml"
inf=$(submit_job "$T/inf.yaml")

wait_job_state "$ft" SUCCEEDED 240
ft_json=$(job_json "$ft")
assert_eq "$(jq -r '[.tasks[].node] | unique | length' <<< "$ft_json")" 1 "fine-tune ranks on one node"
ft_node=$(jq -r '.tasks[0].node' <<< "$ft_json")
ft_log=$(cat "$T/$ft_node/logs/$ft/0.1.stdout")
grep -q "^step 40 loss" <<< "$ft_log" || fail "the fine-tune did not reach step 40: $(tail -3 <<< "$ft_log")"
grep -q "^val_loss " <<< "$ft_log" || fail "no val_loss line"
grep -q "2 ranks (mpi)" "$T/$ft_node/logs/$ft/0.1.stderr" || fail "not a 2-rank MPI run: $(head -3 "$T/$ft_node/logs/$ft/0.1.stderr")"
jq -r '.reason' <<< "$ft_json" | grep -q "mpirun exited with code 0" || fail "not an mpirun launch: $(jq -r .reason <<< "$ft_json")"
ok "fine-tune: $(grep '^val_loss' <<< "$ft_log")"
models=$(st models --json)
ver=$(jq -r '[.. | objects | select(.name? == "acme-twin" and .version? != null)][0]' <<< "$models")
[ "$ver" != null ] || fail "acme-twin has no registered version: $models"
ok "registered: $(jq -c '{name, version, job: (.job // .job_id)}' <<< "$ver")"

wait_job_state "$inf" SUCCEEDED 240
inf_json=$(job_json "$inf")
pools=$(jq -r '[.tasks[].node] | unique | length' <<< "$inf_json")
[ "$pools" -ge 2 ] || fail "the shards should spread over both pools' nodes: $(jq -c '[.tasks[].node]' <<< "$inf_json")"
[ "$(jq -r '.started_unix_ms' <<< "$inf_json")" -ge "$(jq -r '.finished_unix_ms' <<< "$ft_json")" ] \
    || fail "the inference started before the fine-tune it depends on ended"
shard_node=$(jq -r '.tasks[0].node' <<< "$inf_json")
grep -q "^model=acme-twin:1 uri=$T/storage/default/models/acme-twin/job-$ft" "$T/$shard_node/logs/$inf/0.1.stdout" \
    || fail "the shard did not get the fine-tuned model: $(head -2 "$T/$shard_node/logs/$inf/0.1.stdout")"
[ -s "$T/out/answers.jsonl" ] || fail "no merged output"
assert_eq "$(wc -l < "$T/out/answers.jsonl")" "$(wc -l < "$T/prompts.txt")" "one answer per prompt"
"$ST_BIN/strata-twin-infer" --model "$T/storage/default/models/acme-twin/job-$ft" --data "$T/prompts.txt" \
    --out "$T/single.jsonl" --max-new 8 > /dev/null || fail "single-process inference failed"
cmp -s "$T/single.jsonl" "$T/out/answers.jsonl" || fail "3 shards over two pools differ from one process"
ok "inference over $pools nodes in two pools matches a single process byte for byte"

# -- 3. preemption by SIGTERM -----------------------------------------------------------
info "SIGTERM mid-run: checkpoint, exit 75, PREEMPTED, resume from the checkpoint's step"
cat > "$T/long.yaml" <<EOF
name: twin-long
kind: finetune
launcher: direct
command: [sh, -c, 'exec $TRAIN --steps 4000 --checkpoint-every 1000000 --resume']
resources: {ranks: 1, cpus_per_rank: 1, mem_per_rank: 1G}
time_limit: 10m
EOF
lj=$(submit_job "$T/long.yaml")
wait_job_state "$lj" RUNNING 60
node=$(jq -r '.tasks[0].node' <<< "$(job_json "$lj")")
wait_until 60 "training has started" grep -q "^step 20 " "$T/$node/logs/$lj/0.1.stdout"
wait_until 10 "the trainer's progress in strata show" \
    sh -c "'$ST_BIN/strata' --scheduler '$ST_CLIENT_EP' show $lj | grep -qE '^progress: +step [0-9]+ of 4000, loss [0-9.]+, [0-9.]+ tokens/s'"
ok "$(st show "$lj" | grep '^progress:')"
pid=$(jq -r '.tasks[0].pid' <<< "$(job_json "$lj")")
kill -TERM "$pid"
wait_until 60 "attempt 2 started" sh -c "[ -s '$T/$node/logs/$lj/0.2.stdout' ] || ls $T/*/logs/$lj/0.2.stdout >/dev/null 2>&1"
stopped_at=$(sed -n 's/.*stopped by signal at step \([0-9]*\).*/\1/p' "$T/$node/logs/$lj/0.1.stderr" | tail -1)
[ -n "$stopped_at" ] || fail "attempt 1 did not say where it stopped: $(tail -3 "$T/$node/logs/$lj/0.1.stderr")"
check "a PREEMPTED event" [ "$(sql "SELECT count(*) FROM events WHERE job_id = $lj AND to_state = 'PREEMPTED'")" -ge 1 ]
assert_eq "$(job_field "$lj" .preemptions)" 1 "preemptions"
node2=$(jq -r '.tasks[0].node' <<< "$(job_json "$lj")")
wait_until 60 "attempt 2 trains" grep -q "^step $((stopped_at + 1)) " "$T/$node2/logs/$lj/0.2.stdout"
first=$(grep -m1 "^step " "$T/$node2/logs/$lj/0.2.stdout" | awk '{print $2}')
assert_eq "$first" "$((stopped_at + 1))" "attempt 2's first step"
st cancel "$lj" > /dev/null
wait_job_state "$lj" CANCELLED 60
ok "preempted at step $stopped_at; attempt 2 resumed at step $first"
pass
