#!/usr/bin/env bash
# test_depends: job dependencies and fine-tuned model versions through the real daemons.
#   - job B depends on a finetune job A and names the model A registers: B waits outside
#     the placement engine (its reason and `strata explain` say for what) while room is free;
#   - B still waits after a scheduler restart, and once A succeeds it runs with
#     STRATA_MODEL=acme-twin:1 and STRATA_MODEL_URI=A's checkpoint directory, which it reads;
#     A's version is in `strata models`, `strata show` and PostgreSQL;
#   - a failing job fails the job that depends on it, and that one's dependent in turn,
#     with the reason; an unknown dependency is refused at submit, naming depends_on;
#   - a fine-tune on restricted EU data registers a model that a job placed in a US pool
#     cannot use: that job waits, and explain names the residency that rules the pool out.
# The workloads are plain shell commands (kind finetune with launcher: direct where a
# model is registered); the tests wait on files the test creates, never on timings.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/vault-store"
cat > "$T/cluster.yaml" <<EOF
regions: [eu-central, us-east]
latency_ms:
  eu-central: {us-east: 95}
pools:
  - {name: vault, site: onprem, region: eu-central, jurisdiction: EU, clearance: restricted,
     storage_root: $T/vault-store}
  - {name: cloud, site: public_cloud, region: us-east, jurisdiction: US, clearance: restricted}
EOF

start_scheduler --cluster "$T/cluster.yaml"
start_worker v1 --pool vault --cpus 4
start_worker c1 --pool cloud --cpus 4

# -- B waits for A, across a restart, then uses A's model --------------------------------
cat > "$T/a.yaml" <<EOF
name: tune-a
kind: finetune
launcher: direct
output_model: acme-twin
placement: {pool: vault}
command:
  - sh
  - -c
  - |
    mkdir -p "\$STRATA_CHECKPOINT_DIR" && echo "weights of job \$STRATA_JOB_ID" > "\$STRATA_CHECKPOINT_DIR/model.bin"
    while [ ! -e "$T/go-a" ]; do sleep 0.1; done
EOF
a=$(submit_job "$T/a.yaml")
wait_job_state "$a" RUNNING 30

cat > "$T/b.yaml" <<EOF
name: use-b
model: acme-twin
depends_on: [$a]
command: [sh, -c, 'echo "model=\$STRATA_MODEL uri=\$STRATA_MODEL_URI"; cat "\$STRATA_MODEL_URI/model.bin"']
EOF
b=$(submit_job "$T/b.yaml")
want="waiting for job $a (RUNNING); model acme-twin has no registered version yet"
b_reason_is_wait () { [ "$(job_field "$b" .reason)" = "$want" ]; }
wait_until 10 "job $b's waiting reason" b_reason_is_wait
assert_eq "$(job_field "$b" .state)" PENDING "state of job $b while job $a runs (both pools have room)"
assert_eq "$(job_field "$b" .attempt)" 0 "attempts of job $b"
assert_eq "$(st explain "$b" --json | jq -r .reason)" "$want" "explain of job $b"
st explain "$b" | grep -qF "waiting for job $a" || fail "strata explain (text) does not say what job $b waits for"
st show "$b" | grep -qE "^depends on: +$a\$" || fail "strata show does not print depends_on of job $b"

info "restart the scheduler while job $b waits"
stop_daemon scheduler
restart_scheduler
wait_node_state v1 UP 30
assert_eq "$(job_field "$a" .state)" RUNNING "state of job $a after the restart"
assert_eq "$(job_field "$b" .state)" PENDING "state of job $b after the restart"
assert_eq "$(job_field "$b" .reason)" "$want" "reason of job $b after the restart"
assert_eq "$(st explain "$b" --json | jq -r .reason)" "$want" "explain of job $b after the restart"

info "job $a finishes: it registers acme-twin:1 and job $b runs with it"
touch "$T/go-a"
wait_job_state "$a" SUCCEEDED 30
wait_job_state "$b" SUCCEEDED 30
ckpt="$T/vault-store/default/models/acme-twin/job-$a"   # where the scheduler says
assert_eq "$(st logs "$b" | head -1)" "model=acme-twin:1 uri=$ckpt" "STRATA_MODEL and STRATA_MODEL_URI of job $b"
assert_eq "$(st logs "$b" | tail -1)" "weights of job $a" "what job $b read from the checkpoint"
assert_eq "$(job_field "$b" .model_version)" "acme-twin:1" "model version of job $b"
assert_eq "$(job_field "$a" .registered_version)" "acme-twin:1" "version registered by job $a"
st show "$a" | grep -qE "^output model: +acme-twin \(registered as acme-twin:1\)\$" \
    || fail "strata show does not print the version job $a registered"
st show "$b" | grep -qE "^model: +acme-twin:1\$" || fail "strata show does not print the model of job $b"
assert_eq "$(sql "SELECT concat_ws ('|', tenant, name, version, job_id, checkpoint, pool, jurisdiction, classification)
                  FROM model_versions")" "default|acme-twin|1|$a|$ckpt|vault|EU|public" "model_versions row"
models=$(st models --json)
assert_eq "$(jq -r '.[] | select(.fine_tuned) | "\(.family) \(.versions[0].version) \(.versions[0].job)"' <<< "$models")" \
    "acme-twin 1 $a" "strata models --json"
table=$(st models)
grep -qE "^acme-twin +1 +$a +default +vault +public +any +$ckpt\$" <<< "$table" \
    || fail "strata models does not list acme-twin:1: $table"
assert_eq "$(job_field "$b" .pool)" vault "pool of job $b (where the checkpoint may be read)"

# -- a failure cascades; unknown dependencies are refused ---------------------------------
f=$(submit_job --name fails -- sh -c "while [ ! -e '$T/go-f' ]; do sleep 0.1; done; exit 3")
c=$(submit_job --name after-f --depends-on "$f" -- true)
d=$(submit_job --name after-c --depends-on "$c" -- true)
c_waits () { [ "$(job_field "$c" .reason)" = "waiting for job $f (RUNNING)" ]; }
wait_until 10 "job $c waiting for job $f" c_waits
assert_eq "$(job_field "$d" .reason)" "waiting for job $c (PENDING)" "reason of job $d"
touch "$T/go-f"
wait_job_state "$f" FAILED 30
wait_job_state "$c" FAILED 30
assert_eq "$(job_field "$c" .reason)" "dependency job $f failed" "reason of job $c"
wait_job_state "$d" FAILED 30
assert_eq "$(job_field "$d" .reason)" "dependency job $c failed" "reason of job $d"
assert_eq "$(sql "SELECT count (*) FROM tasks WHERE job_id IN ($c, $d) AND node IS NOT NULL")" 0 \
    "tasks of jobs $c and $d that were placed"
if out=$(st submit --depends-on 999999 -- true 2>&1); then
    fail "a dependency on a job that does not exist was accepted: $out"
fi
grep -q "depends_on\[0\]: no job 999999 of tenant default" <<< "$out" || fail "the refusal does not name depends_on: $out"
ok "refused: $out"

# -- a fine-tune on restricted EU data --------------------------------------------------------
cat > "$T/r.yaml" <<'EOF'
name: tune-eu
kind: finetune
launcher: direct
output_model: eu-twin
data: {uri: "s3://bank/customers", classification: restricted, residency: [EU]}
command: [sh, -c, 'mkdir -p "$STRATA_CHECKPOINT_DIR" && echo private > "$STRATA_CHECKPOINT_DIR/model.bin"']
EOF
r=$(submit_job "$T/r.yaml")
wait_job_state "$r" SUCCEEDED 30
assert_eq "$(job_field "$r" .pool)" vault "pool of the restricted fine-tune"
assert_eq "$(sql "SELECT concat_ws ('|', classification, residency::text) FROM model_versions WHERE name = 'eu-twin'")" \
    "restricted|{EU}" "eu-twin carries its training data's classification and residency"
u=$(submit_job --name use-in-us --model eu-twin --pool cloud -- cat /dev/null)
u_excluded () { job_field "$u" .reason | grep -q "jurisdiction US is not in the job's residency (EU)"; }
wait_until 10 "job $u waiting: the US pool is outside the model's residency" u_excluded
assert_eq "$(job_field "$u" .state)" PENDING "state of job $u (the cloud pool is idle)"
why=$(st explain "$u" --json | jq -r '.pools[] | select(.pool == "cloud") | .why')
grep -q "residency (EU)" <<< "$why" || fail "explain does not say why pool cloud is ruled out for job $u: $why"
ok "explain: cloud ruled out for job $u ($why)"
assert_eq "$(job_field "$u" .model_version)" "eu-twin:1" "model version fixed for job $u"
# The same job allowed anywhere runs in the vault, with the model.
e=$(submit_job --name use-anywhere --model eu-twin -- sh -c 'echo "$STRATA_MODEL"')
wait_job_state "$e" SUCCEEDED 30
assert_eq "$(job_field "$e" .pool)" vault "pool of job $e"
assert_eq "$(st logs "$e")" "eu-twin:1" "STRATA_MODEL of job $e"
assert_eq "$(job_field "$u" .state)" PENDING "state of job $u"
assert_eq "$(sql "SELECT count (*) FROM tasks WHERE job_id = $u AND node IS NOT NULL")" 0 "tasks of job $u placed"

pass
