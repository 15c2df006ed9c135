#!/usr/bin/env bash
# test_secure_defaults: the scheduler is secure out of the box.
#   - without CURVE its default endpoints are loopback (ss: 127.0.0.1:7701, never
#     0.0.0.0 or *); with --curve-key the defaults are every interface;
#   - another address without CURVE is refused at start-up (exit 2, naming the endpoint,
#     pointing at strata keygen / --curve-key and --insecure); with --insecure it starts
#     and logs why that is dangerous;
#   - a finetune with output_model writes its checkpoint under its pool's storage root,
#     by tenant and model (<storage_root>/<tenant>/models/<model>/job-<id>), which is the
#     path `strata models` shows; a spec that sets checkpoint_dir with output_model, or
#     points checkpoint_dir into a tenant's models folder, is refused naming the field;
#   - with CURVE the event socket accepts an enrolled service key (--service-keys), whose
#     subscriber receives job events, and refuses an enrolled client key;
#   - a worker key enrolled for pool pa (`strata keygen NODE --pool pa`) registers in pa
#     and is refused in pb: RegisterReply says why, the worker's log shows it, and the
#     scheduler counts it (refused_pools=, also in its exit line).
. "$(dirname "$0")/lib.sh"

command -v ss > /dev/null || skip "no ss(8) to read the listening sockets"

# listening PORT: the local addresses listening on TCP port PORT, one a line.
listening () { ss -ltnH "sport = :$1" | awk '{print $4}'; }

# -- refused at start-up ---------------------------------------------------------------
read -r p1 p2 <<< "$(free_ports 2)"
for flags in "--client-endpoint tcp://0.0.0.0:$p1" "--worker-endpoint tcp://*:$p2" \
             "--event-endpoint tcp://[::]:$p1"; do
    status=0
    # shellcheck disable=SC2086
    out=$("$ST_BIN/strata-scheduler" --database "$ST_DSN" $flags 2>&1) || status=$?
    assert_eq "$status" 2 "exit status of strata-scheduler $flags without CURVE"
    ep=${flags#* }
    grep -qF "error: ${flags% *} $ep is not a loopback address and CURVE is off" <<< "$out" \
        || fail "the message does not name $ep: $out"
    grep -q "^hint: .*strata keygen.*--curve-key.*--insecure" <<< "$out" || fail "no hint: $out"
    ok "refused: ${out%%$'\n'*}"
done
status=0
out=$("$ST_BIN/strata-scheduler" --database "$ST_DSN" --service-keys "$T" 2>&1) || status=$?
assert_eq "$status" 2 "exit status with --service-keys but no --curve-key"
grep -q "need --curve-key" <<< "$out" || fail "unexpected message: $out"

# -- the defaults ----------------------------------------------------------------------
# The default ports may be taken by another scheduler on this machine: then the bind
# fails, and the message still names the endpoint the scheduler chose.
# default_endpoints LABEL FLAGS...: starts a scheduler with the default endpoints and
# waits until it leads or fails to bind; sets state to "up" or "busy".
default_endpoints () {
    local label=$1; shift
    _st_spawn "$label" "$ST_BIN/strata-scheduler" --database "$ST_DSN" "$@"
    wait_until 30 "$label to bind or fail" log_has "$label" "leading: workers on|cannot bind"
    if log_has "$label" "leading: workers on"; then state=up; else state=busy; fi
}
default_endpoints plain
if [ "$state" = up ]; then
    log_has plain "workers on tcp://127\.0\.0\.1:7700, clients on tcp://127\.0\.0\.1:7701, events on tcp://127\.0\.0\.1:7702" \
        || fail "unexpected endpoints: $(grep leading "$T/plain.log")"
    wait_until 10 "port 7701 to listen" sh -c "ss -ltnH 'sport = :7701' | grep -q ."
    addrs=$(listening 7701)
    grep -qx "127.0.0.1:7701" <<< "$addrs" || fail "7701 does not listen on 127.0.0.1: $addrs"
    grep -qvx "127.0.0.1:7701" <<< "$addrs" && fail "7701 also listens elsewhere: $addrs"
    for p in 7700 7702; do
        [ "$(listening $p)" = "127.0.0.1:$p" ] || fail "$p listens on: $(listening $p)"
    done
    log_has plain "CURVE is off: .*they are on this machine only" || fail "no CURVE-off line in $T/plain.log"
    ok "without CURVE the defaults are loopback: 7701 on $(tr '\n' ' ' <<< "$addrs")"
    stop_daemon plain
else
    log_has plain "cannot bind tcp://127\.0\.0\.1:770[0-2]" || fail "unexpected: $(tail -3 "$T/plain.log")"
    wait "${ST_PID[plain]}" 2> /dev/null || true
    ST_REAPED[${ST_PID[plain]}]=1
    info "ports 7700-7702 are busy here: checked the default endpoint by its bind error only"
fi

mkdir -p "$T/keys/workers" "$T/keys/clients" "$T/keys/services"
"$ST_BIN/strata" keygen "$T/keys/scheduler" > /dev/null
default_endpoints curved --curve-key "$T/keys/scheduler.key" --worker-keys "$T/keys/workers"
if [ "$state" = up ]; then
    log_has curved "workers on tcp://\*:7700, clients on tcp://\*:7701, events on tcp://\*:7702" \
        || fail "unexpected endpoints: $(grep leading "$T/curved.log")"
    stop_daemon curved
else
    log_has curved "cannot bind tcp://\*:770[0-2]" || fail "unexpected: $(tail -3 "$T/curved.log")"
    wait "${ST_PID[curved]}" 2> /dev/null || true
    ST_REAPED[${ST_PID[curved]}]=1
fi
ok "with CURVE the defaults are every interface"

# -- --insecure ------------------------------------------------------------------------
wp=$(free_port)
start_scheduler --insecure --worker-endpoint "tcp://0.0.0.0:$wp"
log_has scheduler "WARN  --insecure: --worker-endpoint tcp://0\.0\.0\.0:$wp is reachable from the network without CURVE: anyone who reaches the port is trusted" \
    || fail "no --insecure warning: $(grep -m3 WARN "$T/scheduler.log")"
[ "$(listening "$wp")" = "0.0.0.0:$wp" ] || fail "--insecure: $wp listens on $(listening "$wp")"
ok "--insecure binds 0.0.0.0:$wp and says why that is dangerous"
stop_daemon scheduler

# -- checkpoints where the scheduler says ----------------------------------------------
mkdir -p "$T/store"
cat > "$T/cluster.yaml" <<EOF
regions: [eu-central]
pools:
  - {name: vault, site: onprem, region: eu-central, storage_root: $T/store}
EOF
start_scheduler --cluster "$T/cluster.yaml"
addrs=$(listening "$ST_CLIENT_PORT")
[ "$addrs" = "127.0.0.1:$ST_CLIENT_PORT" ] || fail "the client port listens on: $addrs"
start_worker v1 --pool vault
cat > "$T/ft.yaml" <<EOF
name: tune
kind: finetune
launcher: direct
tenant: acme
output_model: twin
placement: {pool: vault}
command: [sh, -c, 'mkdir -p "\$STRATA_CHECKPOINT_DIR" && echo "weights of \$STRATA_JOB_ID" > "\$STRATA_CHECKPOINT_DIR/model.bin"']
EOF
ft=$(submit_job "$T/ft.yaml")
wait_job_state "$ft" SUCCEEDED 30
ckpt=$T/store/acme/models/twin/job-$ft
assert_eq "$(cat "$ckpt/model.bin")" "weights of $ft" "the checkpoint the job wrote"
st models | grep -qE "^twin +1 +$ft +acme +vault .* $ckpt\$" || fail "strata models does not show $ckpt: $(st models)"
assert_eq "$(sql "SELECT checkpoint FROM model_versions WHERE job_id = $ft")" "$ckpt" "model_versions.checkpoint"
ok "job $ft's checkpoint is $ckpt, and strata models says so"

cat > "$T/ft-dir.yaml" <<EOF
kind: finetune
launcher: direct
tenant: acme
output_model: twin
checkpoint_dir: $T/store/other/models/their-twin/job-1
command: ["true"]
EOF
status=0
out=$(st submit "$T/ft-dir.yaml" 2>&1) || status=$?
[ "$status" -ne 0 ] || fail "a spec with checkpoint_dir and output_model was accepted: $out"
grep -qF "checkpoint_dir: a finetune with output_model writes its checkpoint where the scheduler says" <<< "$out" \
    || fail "unexpected message: $out"
ok "checkpoint_dir with output_model refused: ${out%%$'\n'*}"
status=0
printf 'command: ["true"]\ntenant: other\ncheckpoint_dir: %s\n' "$T/store/acme/models/twin/job-$ft" > "$T/into.yaml"
out=$(st submit "$T/into.yaml" 2>&1) || status=$?
[ "$status" -ne 0 ] || fail "a checkpoint_dir in a models folder was accepted: $out"
grep -qF "checkpoint_dir: $T/store/acme/models/twin/job-$ft is in a tenant's models folder" <<< "$out" \
    || fail "unexpected message: $out"
ok "checkpoint_dir into a models folder refused: ${out%%$'\n'*}"
stop_daemon v1
stop_daemon scheduler

# -- CURVE: the event socket and pools -------------------------------------------------
K=$T/keys
for name in gateway alice; do "$ST_BIN/strata" keygen "$K/$name" > /dev/null; done
"$ST_BIN/strata" keygen "$K/wa" --pool pa | grep -q "enrolled for pool pa" || fail "keygen --pool says nothing"
"$ST_BIN/strata" keygen "$K/wb" --pool pa > /dev/null
grep -qx "pool = pa" "$K/wa.pub" || fail "wa.pub has no pool line: $(cat "$K/wa.pub")"
cp "$K/wa.pub" "$K/wb.pub" "$K/workers/"
cp "$K/alice.pub" "$K/clients/"
cp "$K/gateway.pub" "$K/services/"
export STRATA_CURVE_KEY=$K/alice.key STRATA_SCHEDULER_KEY=$K/scheduler.pub
start_scheduler --curve-key "$K/scheduler.key" --worker-keys "$K/workers" --client-keys "$K/clients" \
    --service-keys "$K/services"
log_has scheduler "event endpoint: 1 enrolled service key" || fail "no service key count in the log"

cat > "$T/sub.py" <<'EOF'
# sub.py EVENT_EP SCHEDULER_PUB OWN_KEY: a CURVE subscriber to the event socket. Prints
# "accepted" or "refused" when the handshake ends, then the topics it receives.
import os
import signal
import sys
import zmq
from zmq.utils.monitor import recv_monitor_message

signal.signal(signal.SIGTERM, lambda *_: os._exit(0))   # stop_daemon expects a clean exit

def load(path):
    out = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out

ep, server, own = sys.argv[1], load(sys.argv[2]), load(sys.argv[3])
ctx = zmq.Context()
sub = ctx.socket(zmq.SUB)
sub.curve_serverkey = server["public-key"].encode()
sub.curve_publickey = own["public-key"].encode()
sub.curve_secretkey = own["secret-key"].encode()
sub.setsockopt(zmq.SUBSCRIBE, b"")
mon = sub.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
sub.connect(ep)
ev = recv_monitor_message(mon)
print("accepted" if ev["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED else "refused %d" % ev["value"], flush=True)
if ev["event"] != zmq.EVENT_HANDSHAKE_SUCCEEDED:
    sys.exit(0)
while True:
    print(sub.recv_multipart()[0].decode(errors="replace"), flush=True)
EOF
_st_spawn sub_gateway "$ST_PY" "$T/sub.py" "$ST_EVENT_EP" "$K/scheduler.pub" "$K/gateway.key"
_st_spawn sub_alice "$ST_PY" "$T/sub.py" "$ST_EVENT_EP" "$K/scheduler.pub" "$K/alice.key"
wait_until 30 "the gateway's handshake" log_has sub_gateway "^(accepted|refused)"
log_has sub_gateway "^accepted" || fail "the enrolled service key was refused: $(cat "$T/sub_gateway.log")"
wait_until 30 "alice's handshake" log_has sub_alice "^(accepted|refused)"
log_has sub_alice "^refused 400" || fail "a client key subscribed to events: $(cat "$T/sub_alice.log")"
wait_until 10 "the scheduler to log alice's refusal" log_has scheduler "refused connection from .* to the events socket: key not enrolled"
ok "the event socket accepts the service key and refuses alice's client key"

start_worker wa --pool pa --curve-key "$K/wa.key" --scheduler-key "$K/scheduler.pub"
assert_eq "$(node_field wa .pool)" pa "pool of wa"
id=$(submit_job -- echo via the gateway)
wait_job_state "$id" SUCCEEDED 30
wait_until 10 "the gateway to receive job $id's events" log_has sub_gateway "^job\.$id\.\$"
ok "the gateway received job.$id. events"

info "a worker whose key is enrolled for pool pa, claiming pool pb"
start_worker_nowait wb wb --pool pb --curve-key "$K/wb.key" --scheduler-key "$K/scheduler.pub"
wait_until 15 "the scheduler to refuse wb in pb" log_has scheduler 'refused_pools=1\)'
log_has scheduler "refused registration of node wb in pool pb: its key is enrolled for pool pa" \
    || fail "no refusal line: $(grep -m3 'refused registration' "$T/scheduler.log")"
wait_until 15 "wb to say why" log_has wb "registration refused by scheduler .*enrolled for pool pa, not pb"
assert_eq "$(nodes_json | jq -r '[.[] | select(.state == "UP") | .name] | sort | join(",")')" wa "nodes UP"
assert_eq "$(nodes_json | jq '[.[] | select(.name == "wb")] | length')" 0 "nodes named wb"
ok "wb is refused in pool pb: $(grep -m1 -o 'registration refused.*' "$T/wb.log")"
stop_daemon wb
stop_daemon wa
stop_daemon sub_gateway
stop_daemon scheduler
log_has scheduler "stopped cleanly \(.*refused_registrations=0 refused_pools=1 " \
    || fail "no refused_pools in the exit line: $(grep 'stopped cleanly' "$T/scheduler.log")"
ok "the exit line counts it: $(grep -o 'refused_pools=[0-9]*' "$T/scheduler.log" | tail -1)"
pass
