#!/usr/bin/env bash
# test_auth: CURVE authentication of workers and clients.
#   - `strata keygen` writes NAME.key (0600) and NAME.pub;
#   - with --curve-key/--worker-keys/--client-keys the scheduler accepts an enrolled
#     worker (w1) and an enrolled user (alice), who run a job end to end;
#   - a worker whose key is not enrolled never registers, and neither does a worker
#     whose enrolled key belongs to another node name; a worker that trusts the wrong
#     scheduler key never connects;
#   - a client with an unknown key, or with no key at all, gets no answer (a clear
#     timeout error), and the scheduler counts the refusals (refused_keys=,
#     refused_registrations=);
#   - a scheduler given --worker-keys without --curve-key refuses to start.
. "$(dirname "$0")/lib.sh"

K=$T/keys
mkdir -p "$K/workers" "$K/clients"
for name in scheduler w1 w2 alice mallory; do
    "$ST_BIN/strata" keygen "$K/$name" > /dev/null || fail "strata keygen $name failed"
done
assert_eq "$(stat -c %a "$K/alice.key")" 600 "mode of alice.key"
grep -q secret-key "$K/alice.pub" && fail "alice.pub holds a secret key"
cp "$K/w1.pub" "$K/w2.pub" "$K/workers/"
cp "$K/alice.pub" "$K/clients/"
ok "keys written and enrolled (workers: w1, w2; clients: alice)"

status=0
out=$("$ST_BIN/strata-scheduler" --database "$ST_DSN" --worker-keys "$K/workers" 2>&1) || status=$?
assert_eq "$status" 2 "exit status of a scheduler with --worker-keys but no --curve-key"
grep -q "need --curve-key" <<< "$out" || fail "unexpected message: $out"

export STRATA_CURVE_KEY=$K/alice.key STRATA_SCHEDULER_KEY=$K/scheduler.pub
start_scheduler --curve-key "$K/scheduler.key" --worker-keys "$K/workers" --client-keys "$K/clients"
start_worker w1 --curve-key "$K/w1.key" --scheduler-key "$K/scheduler.pub"
ok "enrolled worker w1 registered over CURVE"

id=$(submit_job -- echo secret hello)
wait_job_state "$id" SUCCEEDED 30
assert_eq "$(st logs "$id")" "secret hello" "output of job $id"
ok "enrolled user alice ran job $id"

info "a worker with a key nobody enrolled"
start_worker_nowait rogue w3 --curve-key "$K/mallory.key" --scheduler-key "$K/scheduler.pub"
info "a worker with w2's key claiming to be node w9"
start_worker_nowait impostor w9 --curve-key "$K/w2.key" --scheduler-key "$K/scheduler.pub"
info "a worker trusting the wrong scheduler key"
start_worker_nowait confused w2 --curve-key "$K/w2.key" --scheduler-key "$K/alice.pub"
wait_until 15 "the scheduler to refuse mallory's key" log_has scheduler 'refused_keys=[0-9]+'
wait_until 15 "the scheduler to refuse w9" log_has scheduler 'refused_registrations=[0-9]+'
sleep 1.5
names=$(nodes_json | jq -r '[.[].name] | sort | join(",")')
assert_eq "$names" w1 "registered nodes"
assert_alive scheduler w1 rogue impostor confused
ok "only the enrolled worker under its own name is a node"

info "clients without an enrolled key"
for who in mallory none; do
    status=0
    if [ "$who" = none ]; then
        out=$(STRATA_CURVE_KEY= STRATA_SCHEDULER_KEY= "$ST_BIN/strata" --scheduler "$ST_CLIENT_EP" \
              --timeout 700ms jobs 2>&1) || status=$?
    else
        out=$("$ST_BIN/strata" --scheduler "$ST_CLIENT_EP" --timeout 700ms --curve-key "$K/mallory.key" jobs 2>&1) \
            || status=$?
    fi
    assert_eq "$status" 1 "exit status of strata jobs as $who"
    grep -q "no reply from scheduler" <<< "$out" || fail "client $who: unexpected output: $out"
    ok "client $who gets no answer: ${out%%$'\n'*}"
done
n=$(grep -oE 'refused_keys=[0-9]+' "$T/scheduler.log" | tail -n 1 | cut -d= -f2)
[ "$n" -ge 2 ] || fail "refused_keys=$n, expected the rogue worker and mallory's client at least"
ok "refusals counted: refused_keys=$n"

status=0
out=$("$ST_BIN/strata" --scheduler "$ST_CLIENT_EP" --curve-key "$K/alice.pub" jobs 2>&1) || status=$?
assert_eq "$status" 1 "exit status with a .pub file as --curve-key"
grep -q "no secret-key" <<< "$out" || fail "unexpected message: $out"
ok "a public key file is refused as a key pair: ${out%%$'\n'*}"

for d in rogue impostor confused; do stop_daemon "$d" 10; done
pass
