#!/usr/bin/env bash
# demo.sh: Strata end to end on one machine.
#
#   scripts/demo.sh [--stay] [--no-build]
#
# Installs the Debian packages, builds build/, then starts, all on 127.0.0.1:
#   - a PostgreSQL server with database `strata` in $STRATA_DEMO_DIR/pg
#     (default $HOME/.strata-demo; kept and reused across runs);
#   - strata-scheduler with the cluster description examples/cluster.yaml (ports 7700-7702
#     when free, other free ports otherwise);
#   - four workers, one in each of four pools of that description, each with its own state
#     dir and log under the demo dir:
#       onprem-fra-1   pool onprem-fra   (EU, restricted)    label rack=r1  2 CPUs, 4 GiB, 2 H100
#                      (declared with --gpus 2: the scheduler accounts for them and tasks get
#                      CUDA_VISIBLE_DEVICES, whether or not the machine has the devices)
#       private-ams-1  pool private-ams  (EU, confidential)  2 CPUs, 4 GiB
#       cloud-us-1     pool cloud-us     (US, internal)      4 CPUs, 4 GiB
#       edge-paris-1   pool edge-paris   (EU edge)           1 CPU,  1 GiB
# the scheduler requires API tokens: the token in $STRATA_DEMO_DIR/admin.token (made on the
# first run, mode 0600) becomes the admin's; as admin the demo enrols three users (mlops, an
# operator of every example tenant; rita, a submitter of research; felix, a submitter of
# fraud) and shows `strata whoami` for each;
# waits until the nodes are UP, shows `strata pools`, submits (as mlops) every job spec in examples/
# (each one's data classification, residency, model and preferences decide where it runs),
# waits for the jobs to end, prints `strata nodes`, `strata jobs`, each job's logs and
# `strata explain` (its score against the runners-up), then submits a restricted job too
# big for the cleared pool and shows why it waits; shows two tenants apart (rita's job, with a
# secret in its env: felix neither lists nor cancels it, mlops sees it with the env hidden,
# rita cancels it), and stops everything it started
# (workers, scheduler, then PostgreSQL), also on Ctrl-C.
#
#   --stay       keep the cluster running after the jobs end, until Ctrl-C
#   --no-build   use the binaries already in build/bin
#
# Logs: $STRATA_DEMO_DIR/logs/{scheduler,onprem-fra-1,private-ams-1,cloud-us-1,edge-paris-1}.log
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=$ROOT/build/bin
DEMO_DIR=${STRATA_DEMO_DIR:-$HOME/.strata-demo}
stay=0
do_build=1

usage () { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
    case $1 in
        --stay) stay=1 ;;
        --no-build) do_build=0 ;;
        -h|--help) usage 0 ;;
        *) echo "demo.sh: unknown argument: $1" >&2; usage 2 ;;
    esac
    shift
done

if [ -t 1 ]; then B=$'\033[1m'; G=$'\033[32m'; R=$'\033[31m'; N=$'\033[0m'; else B=; G=; R=; N=; fi
say ()  { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
note () { printf '    %s\n' "$*"; }
die ()  { printf '%sdemo: error: %s%s\n' "$R" "$*" "$N" >&2; exit 1; }

# -- what we started, stopped in reverse on exit ----------------------------------
declare -A PIDS=()
ORDER=()
PG_STARTED=0
cleanup () {
    local rc=$? i name pid n
    trap - EXIT INT TERM
    set +e
    if [ ${#ORDER[@]} -gt 0 ] || [ $PG_STARTED -eq 1 ]; then say "stopping what the demo started"; fi
    for ((i = ${#ORDER[@]} - 1; i >= 0; i--)); do
        name=${ORDER[$i]}; pid=${PIDS[$name]}
        kill -0 "$pid" 2>/dev/null || { note "$name had already exited"; continue; }
        kill -TERM "$pid" 2>/dev/null
        for ((n = 0; n < 50; n++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            note "$name did not stop within 5 s; killing it"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
        note "stopped $name"
    done
    if [ $PG_STARTED -eq 1 ]; then
        bash "$ROOT/scripts/pg-local.sh" stop "$DEMO_DIR/pg" 2>/dev/null && note "stopped PostgreSQL"
    fi
    [ $rc -eq 0 ] || note "logs are in $DEMO_DIR/logs/"
    exit "$rc"
}
trap cleanup EXIT
trap 'echo; note "interrupted"; exit 130' INT
trap 'exit 143' TERM

# start NAME CMD...: runs CMD in its own process group (so Ctrl-C in this terminal
# reaches only this script, which then stops everything in order).
start () {
    local name=$1; shift
    echo "=== $(date '+%F %T') $*" >> "$DEMO_DIR/logs/$name.log"
    setsid "$@" >> "$DEMO_DIR/logs/$name.log" 2>&1 < /dev/null &
    PIDS[$name]=$!
    ORDER+=("$name")
}

alive () { kill -0 "${PIDS[$1]}" 2>/dev/null; }

port_free () { ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }

free_port () {
    /usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# strata ARGS: as the user whose token is in $AS (default: the admin); the token goes in
# the environment, not on the command line where `ps` would show it.
AS=admin
declare -A TOKENS=()
strata () { STRATA_TOKEN=${TOKENS[$AS]:-} "$BIN/strata" --scheduler "$CLIENT_EP" "$@"; }
as () { local who=$1; shift; ( AS=$who; strata "$@" ); }

# -- 1. dependencies and build ----------------------------------------------------
if [ $do_build -eq 1 ]; then
    say "installing dependencies (scripts/install-deps.sh)"
    bash scripts/install-deps.sh
    say "building build/"
    cmake -S "$ROOT" -B "$ROOT/build" -G "Unix Makefiles" > /dev/null
    cmake --build "$ROOT/build" -j 2 -- --no-print-directory > "$ROOT/build/demo-build.log" 2>&1 \
        || { tail -n 40 "$ROOT/build/demo-build.log"; die "build failed (full log: build/demo-build.log)"; }
    note "built $(ls "$BIN" | tr '\n' ' ')"
fi
for b in strata-scheduler strata-worker strata; do
    [ -x "$BIN/$b" ] || die "$BIN/$b is missing; run without --no-build"
done

mkdir -p "$DEMO_DIR/logs" "$DEMO_DIR/workers"

# -- 2. PostgreSQL ------------------------------------------------------------------
say "starting PostgreSQL in $DEMO_DIR/pg"
if ! bash scripts/pg-local.sh status "$DEMO_DIR/pg" >/dev/null 2>&1; then PG_STARTED=1; fi
pg_env=$(bash scripts/pg-local.sh start "$DEMO_DIR/pg") || die "could not start PostgreSQL"
eval "$pg_env"
[ $PG_STARTED -eq 1 ] || note "it was already running; the demo will leave it running"
note "database: $STRATA_DATABASE"

# -- 3. scheduler -------------------------------------------------------------------
if port_free 7700 && port_free 7701 && port_free 7702; then
    WP=7700; CP=7701; EP=7702
else
    WP=$(free_port); CP=$(free_port); EP=$(free_port)
    while [ "$CP" = "$WP" ]; do CP=$(free_port); done
    while [ "$EP" = "$WP" ] || [ "$EP" = "$CP" ]; do EP=$(free_port); done
    note "ports 7700-7702 are busy; using $WP (workers), $CP (clients), $EP (events)"
fi
WORKER_EP=tcp://127.0.0.1:$WP
CLIENT_EP=tcp://127.0.0.1:$CP

say "starting strata-scheduler (workers: $WORKER_EP, clients: $CLIENT_EP)"
# examples/cluster.yaml with its local storage roots moved under $DEMO_DIR/storage: a
# fine-tune's checkpoint goes where the scheduler says, <storage_root>/<tenant>/models/...
mkdir -p "$DEMO_DIR/storage"
sed "s|storage_root: /|storage_root: $DEMO_DIR/storage/|" examples/cluster.yaml > "$DEMO_DIR/cluster.yaml"
# The admin's API token: made once, kept with the database it was enrolled in.
if [ ! -s "$DEMO_DIR/admin.token" ]; then
    (umask 077; /usr/bin/python3 -c 'import secrets; print("strata_" + secrets.token_urlsafe(32))' \
        > "$DEMO_DIR/admin.token")
fi
TOKENS[admin]=$(cat "$DEMO_DIR/admin.token")
start scheduler "$BIN/strata-scheduler" --database "$STRATA_DATABASE" \
    --worker-endpoint "$WORKER_EP" --client-endpoint "$CLIENT_EP" \
    --event-endpoint "tcp://127.0.0.1:$EP" --cluster "$DEMO_DIR/cluster.yaml" \
    --bootstrap-token-file "$DEMO_DIR/admin.token"
for ((i = 0; ; i++)); do
    alive scheduler || { tail -n 20 "$DEMO_DIR/logs/scheduler.log" >&2; die "the scheduler exited"; }
    strata --timeout 1s nodes >/dev/null 2>&1 && break
    [ $i -lt 200 ] || { tail -n 20 "$DEMO_DIR/logs/scheduler.log" >&2; die "the scheduler did not answer within 20 s"; }
    sleep 0.1
done
note "scheduler is up (pid ${PIDS[scheduler]}, log $DEMO_DIR/logs/scheduler.log)"
strata whoami >/dev/null 2>&1 \
    || die "the scheduler refuses the token in $DEMO_DIR/admin.token (its database has another admin); remove $DEMO_DIR to start afresh"

say "users and tenants: the admin enrols three users and gives each an API token"
strata whoami | sed 's/^/    /'
enrol () {
    local name=$1; shift
    strata admin user list --json | jq -e --arg n "$name" 'any(.[]; .name == $n)' >/dev/null \
        || strata admin user add "$name" "$@" >/dev/null
    TOKENS[$name]=$(strata admin token create "$name" --expires 1d 2>/dev/null)
    note "strata admin user add $name $*"
}
enrol mlops --role operator --tenant default --tenant fraud --tenant finance --tenant retail --tenant research
enrol rita --role submitter --tenant research
enrol felix --role submitter --tenant fraud
strata admin user list | sed 's/^/    /'
for who in rita felix; do
    note "as $who: strata whoami"
    as "$who" whoami | sed 's/^/      /'
done
# The database is kept between runs: jobs an interrupted run left unfinished would
# compete with this run's, so cancel them first.
left=$(strata jobs --json --limit 1000 2>/dev/null | jq -r '.[] | select(.state != "SUCCEEDED" and .state != "FAILED" and .state != "CANCELLED") | .id' || true)
for id in $left; do strata cancel "$id" >/dev/null 2>&1 || true; done
[ -z "$left" ] || note "cancelled $(wc -w <<< "$left") job(s) left unfinished by an earlier run"

# -- 4. workers ---------------------------------------------------------------------
# A worker run as root runs its tasks as strata-task, which must exist.
[ "$(id -u)" -ne 0 ] || bash "$ROOT/scripts/install-task-user.sh" >/dev/null
worker () {
    local name=$1; shift
    mkdir -p "$DEMO_DIR/workers/$name"
    start "$name" "$BIN/strata-worker" --scheduler "$WORKER_EP" --node "$name" \
        --state-dir "$DEMO_DIR/workers/$name" "$@"
    note "started $name (pid ${PIDS[$name]}): $*"
}
# One node in each of four pools of examples/cluster.yaml: the on-prem GPU cluster
# (cleared for restricted EU data), the private cloud, a US public cloud, an edge box.
NODES=(onprem-fra-1 private-ams-1 cloud-us-1 edge-paris-1)
say "starting ${#NODES[@]} workers"
worker onprem-fra-1 --pool onprem-fra --label rack=r1 --cpus 2 --memory 4G --gpus 2 --gpu-type H100
worker private-ams-1 --pool private-ams --cpus 2 --memory 4G --gpus 0
worker cloud-us-1 --pool cloud-us --cpus 4 --memory 4G --gpus 0
worker edge-paris-1 --pool edge-paris --cpus 1 --memory 1G --gpus 0

up_count () {
    strata nodes --json 2>/dev/null | jq --argjson want "$(printf '%s\n' "${NODES[@]}" | jq -R . | jq -s .)" \
        '[ .[] | select(.state == "UP" and (.name as $n | $want | index($n))) ] | length'
}
for ((i = 0; ; i++)); do
    for w in "${NODES[@]}"; do
        alive "$w" || { tail -n 20 "$DEMO_DIR/logs/$w.log" >&2; die "worker $w exited"; }
    done
    [ "$(up_count || echo 0)" = ${#NODES[@]} ] && break
    [ $i -lt 300 ] || { strata nodes >&2 || true; die "the ${#NODES[@]} nodes were not UP within 30 s"; }
    sleep 0.1
done
note "all ${#NODES[@]} nodes are UP"
strata nodes
say "strata pools (examples/cluster.yaml, with live figures)"
strata pools

# -- 5. jobs ------------------------------------------------------------------------
say "submitting every job spec in examples/ (as mlops)"
AS=mlops
ids=()
for f in examples/*.yaml examples/*.yml examples/*.json; do
    [ -f "$f" ] || continue
    case $(basename "$f") in cluster*) continue ;; esac     # the cluster description
    out=$(strata submit "$f" --json) || die "strata submit $f failed"
    id=$(jq -r .id <<< "$out")
    ids+=("$id")
    note "$f -> job $id"
done
[ ${#ids[@]} -gt 0 ] || die "no specs in examples/"

say "waiting for the ${#ids[@]} jobs to end"
declare -A final=()
deadline=$((SECONDS + 120))
while [ ${#final[@]} -lt ${#ids[@]} ]; do
    for id in "${ids[@]}"; do
        [ -n "${final[$id]:-}" ] && continue
        s=$(strata show "$id" --json 2>/dev/null | jq -r .state) || continue
        case $s in
            SUCCEEDED|FAILED|CANCELLED) final[$id]=$s; note "job $id: $s" ;;
        esac
    done
    [ ${#final[@]} -lt ${#ids[@]} ] || break
    if [ $SECONDS -ge $deadline ]; then
        strata jobs >&2 || true
        die "jobs still running after 120 s"
    fi
    sleep 0.3
done

say "strata nodes"
strata nodes
say "strata jobs --all"
strata jobs --all --limit 20

for id in "${ids[@]}"; do
    j=$(strata show "$id" --json)
    name=$(jq -r .name <<< "$j"); ranks=$(jq -r '.ranks // 1' <<< "$j")
    say "job $id ($name): ${final[$id]}; $(jq -r '.reason // ""' <<< "$j")"
    for ((r = 0; r < ranks; r++)); do
        node=$(jq -r --argjson r "$r" '[.tasks[] | select(.index == $r)] | last | .node // "?"' <<< "$j")
        [ "$ranks" -gt 1 ] && note "-- rank $r on $node --"
        [ "$ranks" -gt 1 ] || note "-- on $node --"
        strata logs "$id" --rank "$r" | sed 's/^/    | /' || note "(logs unavailable)"
        err=$(strata logs "$id" --rank "$r" --stderr 2>/dev/null || true)
        [ -z "$err" ] || { note "-- stderr --"; sed 's/^/    ! /' <<< "$err"; }
    done
done

say "why each job ran where it did (strata explain)"
for id in "${ids[@]}"; do
    note "-- job $id --"
    strata explain "$id" | sed 's/^/    /' || true
done

# -- 6. an AI twin: fine-tune, then batch inference with the fine-tuned model --------------
say "an AI twin: a 2-rank fine-tune (mpirun), then 3-shard inference with its model"
TWIN=$DEMO_DIR/twin
rm -rf "$TWIN"; mkdir -p "$TWIN"
# The inference shards write their answers here, as the task user when the workers are root.
[ "$(id -u)" -ne 0 ] || chown strata-task "$TWIN"
grep -v '^ *$' /usr/share/common-licenses/Apache-2.0 | head -12 > "$TWIN/prompts.txt"
cat > "$TWIN/finetune.yaml" <<EOF
kind: finetune
name: twin-finetune
tenant: research
output_model: acme-twin
command: [$BIN/strata-twin-train, --data, /usr/share/common-licenses, --steps, "120", --batch, "8",
          --seq, "64", --layers, "2", --dim, "64", --heads, "4", --checkpoint-every, "40", --resume]
resources: {ranks: 2, cpus_per_rank: 1, mem_per_rank: 512M}
data: {uri: "file:///usr/share/common-licenses", classification: internal, residency: [EU]}
time_limit: 5m
EOF
ft=$(strata submit "$TWIN/finetune.yaml" --json | jq -r .id) || die "submitting the fine-tune failed"
cat > "$TWIN/inference.yaml" <<EOF
kind: inference
name: twin-answers
tenant: research
model: acme-twin
depends_on: [$ft]
command: [sh, -c, 'exec $BIN/strata-twin-infer --model "\$STRATA_MODEL_URI" --data $TWIN/prompts.txt --out $TWIN/answers.jsonl --max-new 24']
resources: {shards: 3, cpus_per_rank: 1, mem_per_rank: 256M}
data: {classification: internal, residency: [EU]}
time_limit: 5m
EOF
inf=$(strata submit "$TWIN/inference.yaml" --json | jq -r .id) || die "submitting the inference failed"
note "fine-tune: job $ft; inference: job $inf (depends_on: [$ft], model: acme-twin)"
sleep 0.5
strata show "$inf" | grep -E '^(state|reason):' | sed 's/^/    /'
for id in "$ft" "$inf"; do
    for ((i = 0; i < 600; i++)); do
        s=$(strata show "$id" --json | jq -r .state)
        case $s in SUCCEEDED|FAILED|CANCELLED) break ;; esac
        # The job may end between the state read above and this one: no progress line then.
        if [ "$id" = "$ft" ] && [ $((i % 10)) -eq 5 ]; then
            strata show "$ft" | grep '^progress:' | sed 's/^/    /' || true
        fi
        sleep 0.2
    done
    note "job $id: $s: $(strata show "$id" --json | jq -r .reason)"
    [ "$s" = SUCCEEDED ] || { strata logs "$id" --stderr | tail -20 >&2; die "twin job $id: $s"; }
done
strata logs "$ft" | grep -E '^(step (1|40|80|120) |val_loss)' | sed 's/^/    | /'
say "strata models (the registered fine-tune)"
strata models
say "answers ($TWIN/answers.jsonl, merged from 3 shards on $(strata show "$inf" --json | jq -r '[.tasks[].node] | unique | join(" and ")'))"
head -3 "$TWIN/answers.jsonl" | sed 's/^/    /'

say "a job that must wait: restricted EU data, 4 GPUs, with 2 GPUs in the only cleared pool"
printf '%s\n' "name: too-big-restricted" "command: [sleep, \"1\"]" "resources: {gpus_per_rank: 4}" \
    "data: {classification: restricted, residency: [EU]}" > "$DEMO_DIR/too-big.yaml"
wait_id=$(strata submit "$DEMO_DIR/too-big.yaml" --json | jq -r .id)
sleep 1
strata jobs --state PENDING
strata explain "$wait_id" | sed 's/^/    /'
strata cancel "$wait_id" >/dev/null
note "cancelled job $wait_id"

say "two tenants apart: rita (research) and felix (fraud)"
AS=rita
secret_id=$(strata submit --json --name rita-nightly --env API_KEY=s3cr3t -- sleep 60 | jq -r .id)
note "rita submitted job $secret_id (tenant research, env API_KEY=s3cr3t)"
note "felix: strata jobs (his tenant only)"
as felix jobs | sed 's/^/      /'
note "felix: strata cancel $secret_id"
if out=$(as felix cancel "$secret_id" 2>&1); then
    die "felix cancelled rita's job $secret_id: $out"
fi
sed 's/^/      /' <<< "$out"
note "refused: to felix, another tenant's job is a job that does not exist"
note "mlops (operator of research): strata show $secret_id --json | jq .submitted_by,.spec.env"
as mlops show "$secret_id" --json | jq -c '[.submitted_by, .spec.env]' | sed 's/^/      /'
note "rita cancels her own job"
strata cancel "$secret_id" | sed 's/^/      /'
AS=mlops

ok_count=0
for id in "${ids[@]}"; do [ "${final[$id]}" = SUCCEEDED ] && ok_count=$((ok_count + 1)); done
if [ $ok_count -eq ${#ids[@]} ]; then
    say "${G}all ${#ids[@]} example jobs SUCCEEDED${N}${B}"
    result=0
else
    say "${R}$((${#ids[@]} - ok_count)) of ${#ids[@]} example jobs did not succeed${N}${B}"
    result=1
fi

if [ $stay -eq 1 ]; then
    say "the cluster keeps running; press Ctrl-C to stop it. In another terminal:"
    note "export STRATA_SCHEDULER=$CLIENT_EP STRATA_TOKEN=\$(cat $DEMO_DIR/admin.token)"
    note "$BIN/strata nodes"
    note "$BIN/strata submit examples/hello.yaml --wait"
    while alive scheduler; do sleep 1; done
    die "the scheduler exited"
fi
exit $result
