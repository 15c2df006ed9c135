#!/usr/bin/env bash
# test_placement: the placement engine through the real daemon (--cluster FILE).
#   - restricted, EU-resident data never leaves the cleared pool: with that pool full and
#     a US cloud pool idle, the job waits; `strata explain` names the constraint that
#     rules the cloud out and what is short in the vault; it runs there once room frees;
#   - `model: auto` picks the variant allowed in the jurisdiction where the job runs,
#     records it (`strata show`) and gives it to the task (STRATA_MODEL);
#   - a high-priority gang preempts a low-priority preemptible job, which stops on
#     SIGTERM, goes PREEMPTED -> PENDING without using a retry, and resumes from its
#     checkpoint; a non-preemptible job is never chosen;
#   - every placed job records its estimated and actual cost, energy and CO2, and its
#     score against the runners-up (`strata explain` of a placed job).
. "$(dirname "$0")/lib.sh"

cat > "$T/cluster.yaml" <<'EOF'
regions: [eu-central, us-east, me-central]
latency_ms:
  eu-central: {us-east: 95, me-central: 110}
  us-east: {me-central: 190}
pools:
  - {name: vault, site: onprem, region: eu-central, jurisdiction: EU, clearance: restricted,
     cost_gpu_hour: 1.0, cost_cpu_hour: 0.5, pue: 1.4, carbon_g_per_kwh: 380}
  - {name: cloud, site: public_cloud, region: us-east, jurisdiction: US, clearance: internal,
     cost_gpu_hour: 2.0, cost_cpu_hour: 0.1, pue: 1.1, carbon_g_per_kwh: 390}
  - {name: riyadh, site: public_cloud, region: me-central, jurisdiction: SA, clearance: public,
     cost_gpu_hour: 1.5, cost_cpu_hour: 0.2, pue: 1.3, carbon_g_per_kwh: 560}
  - {name: gangs, site: onprem, region: eu-central, jurisdiction: EU, clearance: internal,
     cost_gpu_hour: 1.0, cost_cpu_hour: 0.2, pue: 1.2, carbon_g_per_kwh: 300}
models:
  - name: twin
    variants:
      - {name: twin-eu, jurisdictions: [EU]}
      - {name: twin-sa, jurisdictions: [SA]}
EOF

start_scheduler --cluster "$T/cluster.yaml"
start_worker vault1 --pool vault --cpus 1
start_worker cloud1 --pool cloud --cpus 4
start_worker cloud2 --pool cloud --cpus 4
start_worker sa1 --pool riyadh --cpus 2
start_worker g1 --pool gangs --cpus 1
start_worker g2 --pool gangs --cpus 1

info "the cluster description is loaded"
assert_eq "$(st pools --json | jq -r '[.[] | select(.name == "vault")][0].clearance')" restricted "vault clearance"
assert_eq "$(sql "SELECT jurisdiction FROM pools WHERE name = 'cloud'")" US "cloud jurisdiction in PostgreSQL"

# -- compliance: restricted EU data ------------------------------------------------------
restricted_job () {   # NAME SECONDS
    cat > "$T/$1.yaml" <<EOF
name: $1
command: [sleep, "$2"]
data: {uri: "s3://bank/customers", classification: restricted, residency: [EU]}
resources: {cpus_per_rank: 1}
time_limit: 5m
EOF
    submit_job "$T/$1.yaml"
}
info "a restricted EU job fills the vault"
a=$(restricted_job private-a 60)
wait_job_state "$a" RUNNING 30
assert_eq "$(job_field "$a" .pool)" vault "pool of job $a"
assert_eq "$(job_field "$a" '.tasks[0].node')" vault1 "node of job $a"

info "a second one waits while the cloud pool is idle"
b=$(restricted_job private-b 1)
b_waits () { job_field "$b" .reason | grep -qi waiting; }
wait_until 10 "a waiting reason on job $b" b_waits
sleep 1
assert_eq "$(job_field "$b" .state)" PENDING "state of job $b with the vault full"
reason=$(job_field "$b" .reason)
ok "job $b waits: $reason"
explain=$(st explain "$b" --json)
echo "$explain" | jq -e '.pools[] | select(.pool == "cloud") | select(.verdict == "excluded")' >/dev/null \
    || fail "explain does not exclude pool cloud for job $b: $explain"
why_cloud=$(echo "$explain" | jq -r '.pools[] | select(.pool == "cloud") | .why')
echo "$why_cloud" | grep -qiE 'clearance|jurisdiction|residency' || fail "cloud excluded for an unclear reason: $why_cloud"
echo "$explain" | jq -e '.pools[] | select(.pool == "vault") | select(.verdict == "short")' >/dev/null \
    || fail "explain does not say the vault is short for job $b: $explain"
ok "explain: cloud excluded ($why_cloud); vault short"
st explain "$b" | grep -q cloud || fail "strata explain (table) does not list pool cloud"
st jobs | grep -E "^ *$b " | grep -qi waiting || fail "strata jobs does not show why job $b waits"

info "the vault frees up: job $b runs there, never in the cloud"
st cancel "$a" >/dev/null
wait_job_state "$b" SUCCEEDED 30
assert_eq "$(job_field "$b" '.tasks[0].node')" vault1 "node of job $b"
assert_eq "$(sql "SELECT count(*) FROM tasks t JOIN jobs j ON j.id = t.job_id
                  WHERE j.spec->'data'->>'classification' = 'restricted' AND t.node NOT IN ('vault1')")" 0 \
    "restricted tasks outside the vault"

# -- model variant by jurisdiction ---------------------------------------------------------
info "model: auto picks the variant allowed where the job runs"
cat > "$T/sa.yaml" <<'EOF'
name: infer-sa
kind: inference
command: [sh, -c, 'echo "model=$STRATA_MODEL"']
data: {classification: public, residency: [SA]}
model: auto
EOF
c=$(submit_job "$T/sa.yaml")
wait_job_state "$c" SUCCEEDED 30
assert_eq "$(job_field "$c" .pool)" riyadh "pool of job $c"
assert_eq "$(job_field "$c" .variant)" twin-sa "variant of job $c"
assert_eq "$(st logs "$c")" "model=twin-sa" "STRATA_MODEL of job $c"
st show "$c" | grep -q twin-sa || fail "strata show does not print the variant"
cat > "$T/eu.yaml" <<'EOF'
name: infer-eu
kind: inference
command: [sh, -c, 'echo "model=$STRATA_MODEL"']
data: {classification: internal, residency: [EU]}
model: twin
EOF
d=$(submit_job "$T/eu.yaml")
wait_job_state "$d" SUCCEEDED 30
assert_eq "$(job_field "$d" .variant)" twin-eu "variant of job $d"
case $(job_field "$d" .pool) in vault|gangs) ;; *) fail "job $d ran outside the EU: $(job_field "$d" .pool)" ;; esac

# -- estimates and the placement's explanation ---------------------------------------------
info "placed jobs carry estimated and actual cost, energy and CO2"
json=$(job_json "$b")
for f in est_cost est_kwh est_co2_g cost kwh co2_g; do
    v=$(jq -r ".$f // empty" <<< "$json")
    [ -n "$v" ] || fail "job $b has no $f: $json"
done
awk -v v="$(jq -r .est_cost <<< "$json")" 'BEGIN { exit !(v > 0) }' || fail "job $b est_cost is not positive"
st show "$b" | grep -qiE 'cost' || fail "strata show prints no cost"
pe=$(st explain "$b" --json)
assert_eq "$(jq -r .pool <<< "$pe")" vault "explained pool of job $b"
jq -e '.terms and .weights' <<< "$pe" >/dev/null || fail "placement explanation without terms/weights: $pe"

# -- preemption ------------------------------------------------------------------------
info "a low-priority preemptible job runs with a checkpoint"
ck="$T/ckpt"
mkdir -p "$ck"
chown strata-task "$ck"     # the worker runs as root, its tasks as strata-task
cat > "$T/low.yaml" <<EOF
name: low
priority: -10
preemptible: true
checkpoint_dir: $ck
placement: {pool: gangs}
resources: {cpus_per_rank: 1}
retries: 0
command:
  - sh
  - -c
  - |
    n=\$(cat "\$STRATA_CHECKPOINT_DIR/step" 2>/dev/null || echo 0)
    echo "start \$n attempt \$STRATA_ATTEMPT" >> "\$STRATA_CHECKPOINT_DIR/starts"
    trap 'exit 143' TERM
    while [ "\$n" -lt 25 ]; do
      n=\$((n + 1))
      echo "\$n" > "\$STRATA_CHECKPOINT_DIR/step.tmp" && mv "\$STRATA_CHECKPOINT_DIR/step.tmp" "\$STRATA_CHECKPOINT_DIR/step"
      sleep 0.2
    done
    echo "done at \$n"
EOF
low=$(submit_job "$T/low.yaml")
wait_job_state "$low" RUNNING 30
step_at_least () { [ "$(cat "$ck/step" 2>/dev/null || echo 0)" -ge "$1" ]; }
wait_until 10 "job $low at step 3" step_at_least 3

info "a high-priority 2-rank gang needs both nodes of the pool"
high=$(submit_job --name high --priority 50 --ranks 2 --cpus 1 --pool gangs -- sleep 2)
wait_job_state "$high" SUCCEEDED 60
wait_job_state "$low" SUCCEEDED 60
assert_eq "$(job_field "$low" .preemptions)" 1 "preemptions of job $low"
assert_eq "$(job_field "$low" .attempt)" 2 "attempt of job $low"
starts=$(cat "$ck/starts")
ok "job $low starts: $(tr '\n' ';' <<< "$starts")"
assert_eq "$(wc -l < "$ck/starts")" 2 "starts of job $low"
second=$(sed -n 2p "$ck/starts" | awk '{print $2}')
[ "$second" -ge 3 ] || fail "job $low did not resume from its checkpoint (second start at step $second)"
assert_eq "$(st logs "$low" | tail -1)" "done at 25" "last line of job $low"
assert_eq "$(sql "SELECT count(*) FROM events WHERE job_id = $low AND to_state = 'PREEMPTED'")" 1 "PREEMPTED events of job $low"
assert_eq "$(sql "SELECT count(*) FROM events WHERE job_id = $low AND kind = 'preempt' AND message LIKE '%$high%'")" 1 \
    "preempt event naming job $high"
# retries: 0, and it still ran a second attempt: preemption did not use up a retry.

info "a non-preemptible job is never preempted"
keep=$(submit_job --name keep --priority -10 --cpus 1 --pool gangs -- sleep 4)
wait_job_state "$keep" RUNNING 30
high2=$(submit_job --name high2 --priority 50 --ranks 2 --cpus 1 --pool gangs -- true)
wait_job_state "$keep" SUCCEEDED 30
assert_eq "$(job_field "$keep" .preemptions)" 0 "preemptions of job $keep"
wait_job_state "$high2" SUCCEEDED 30

pass
