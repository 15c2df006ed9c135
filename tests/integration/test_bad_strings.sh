#!/usr/bin/env bash
# test_bad_strings: text that is long, multi-byte or not UTF-8 at all never sticks a job
# or stops the scheduler (common/base/st_utf8.h: cuts on a character boundary, bad bytes
# replaced by U+FFFD, wherever a string is cut or passed on).
#   - `strata submit --workdir "/x" + 150 x 'é'` (a 302-byte path): the worker cannot
#     enter it; its message is cut by the scheduler inside the é's. The job ends FAILED (not
#     stuck in STARTING) with a readable reason naming the workdir, in valid UTF-8 in
#     `strata show`, `strata explain` and the database; the next job runs.
#   - argv, --env values and names, and a spec file holding bytes that are not UTF-8 are
#     refused by the CLI with a clear error (exit 1), and nothing stalls;
#   - last (its node never heartbeats), a hand-made Register whose hostname and label are
#     not UTF-8 (protobuf-c checks no string field): the node is listed with U+FFFD in
#     their place, its row is written, and the scheduler and the real worker go on.
. "$(dirname "$0")/lib.sh"

"$ST_PY" -c 'import zmq' 2>/dev/null || fail "python3-zmq is missing (scripts/install-deps.sh)"

# valid_utf8: stdin is valid UTF-8.
valid_utf8 () { "$ST_PY" -c 'import sys; sys.stdin.buffer.read().decode("utf-8")'; }

start_scheduler
start_worker w1 --cpus 2 --memory 2G

info "a job whose workdir is 150 two-byte characters long"
workdir="/x$(printf 'é%.0s' {1..150})"
id=$(submit_job --workdir "$workdir" -- true)
state=$(wait_job_terminal "$id" 60)
assert_eq "$state" FAILED "state of job $id"
reason=$(job_field "$id" .reason)
info "reason (${#reason} characters): $reason"
case $reason in
    *"could not start: cannot change directory to /xéé"*) ok "the reason names the workdir" ;;
    *) fail "the reason of job $id does not name the workdir: $reason" ;;
esac
job_json "$id" | valid_utf8 || fail "strata show --json of job $id is not valid UTF-8"
task_reason=$(job_field "$id" '.tasks[0].reason')
case $task_reason in
    *"cannot change directory to /xé"*) ok "the task's reason names the workdir too" ;;
    *) fail "task reason of job $id: $task_reason" ;;
esac
# Cut mid-character, the lone lead byte would show as '?' (the CLI) or U+FFFD (the store).
[[ $task_reason != *'?'* && $task_reason != *$'\xef\xbf\xbd'* ]] \
    || fail "the task's reason was cut mid-character: $task_reason"
db_task_reason=$(sql "SELECT reason FROM tasks WHERE job_id = $id AND idx = 0")
[[ $db_task_reason == *"cannot change directory to /xé"* && $db_task_reason != *$'\xef\xbf\xbd'* ]] \
    || fail "the task's reason in the database was cut mid-character: $db_task_reason"
ok "the reason was cut on a character boundary, not mid-character (show and database)"
st explain "$id" --json > "$T/explain.json" || fail "strata explain $id failed"
jq -e .reason "$T/explain.json" > /dev/null || fail "strata explain $id --json has no reason: $(cat "$T/explain.json")"
ok "strata explain answers for it"
db_reason=$(sql "SELECT reason FROM jobs WHERE id = $id")
[[ $db_reason == *"cannot change directory to /xé"* ]] || fail "database reason of job $id: $db_reason"
n=$(sql "SELECT count(*) FROM events WHERE job_id = $id AND message LIKE '%cannot change directory%'")
[ "$n" -ge 1 ] || fail "no event of job $id says why it failed"
ok "the database holds the reason and $n event(s) with it"

info "the scheduler goes on: the next job runs"
assert_alive scheduler w1
id2=$(submit_job -- echo next)
wait_job_state "$id2" SUCCEEDED 30
assert_eq "$(st logs "$id2")" next "output of job $id2"

info "bytes that are not UTF-8 in argv, env and a spec file: refused with a clear error"
bad=$'\xff\xfe'
expect_refused () {   # WHAT ARGS...: strata submit ARGS... exits 1 naming the problem
    local what=$1 out rc=0; shift
    out=$(st submit "$@" 2>&1) && rc=0 || rc=$?
    [ "$rc" -eq 1 ] || fail "$what: strata submit exited $rc, expected 1: $out"
    [[ $out == *"not valid UTF-8"* || $out == *"UTF-8"* || $out == *"utf-8"* ]] \
        || fail "$what: the error does not say what is wrong: $out"
    ok "$what: $(head -n 1 <<< "$out" | cut -c1-120)"
}
expect_refused "an argument" -- echo "a${bad}b"
expect_refused "an --env value" --env "K=v${bad}" -- true
expect_refused "an --env name" --env "K${bad}=v" -- true
expect_refused "a --workdir" --workdir "/tmp/${bad}" -- true
printf 'command: [echo, "a\xffb"]\n' > "$T/bad.yaml"
expect_refused "a YAML spec file" "$T/bad.yaml"
printf '{"command": ["echo", "a\xffb"]}\n' > "$T/bad.json"
expect_refused "a JSON spec file" "$T/bad.json"
assert_alive scheduler w1

info "and the cluster still works"
id3=$(submit_job -- echo after)
wait_job_state "$id3" SUCCEEDED 30
assert_alive scheduler w1

info "a hand-made Register whose hostname and label are not UTF-8"
# hostname "host\xff\xc3"; label "zone\xff" = "a\xe2\x82" (a euro cut short)
reply=$("$ST_PY" "$ST_PROBE" register --worker "$ST_WORKER_EP" --node rawbytes --pool rawbytes \
    --cpus-milli 1000 --mem-mb 512 --hostname-hex 686f7374ffc3 --label-hex 7a6f6e65ff=61e282) || fail "no reply to the Register: $reply"
assert_eq "$(jq -r .accepted <<< "$reply")" true "accepted for the Register"
nodes_json > "$T/nodes.json" || fail "strata nodes --json failed with the node's bytes in it"
valid_utf8 < "$T/nodes.json" || fail "strata nodes --json is not valid UTF-8"
assert_eq "$(jq -r '.[] | select(.name == "rawbytes") | .labels["zone\ufffd"]' "$T/nodes.json")" \
    $'a\xef\xbf\xbd\xef\xbf\xbd' "the node's label, bad bytes replaced"
raw_host_written () { [ "$(sql "SELECT hostname FROM nodes WHERE name = 'rawbytes'")" = $'host\xef\xbf\xbd\xef\xbf\xbd' ]; }
wait_until 15 "the node's row with its hostname, bad bytes replaced" raw_host_written
ok "the node's row holds its hostname, bad bytes replaced"

assert_alive scheduler w1
assert_eq "$(node_field w1 .state)" UP "state of w1"
pass
