#!/usr/bin/env bash
# test_invalid_spec: invalid job specs are refused with a message that names the field,
# and nothing is written.
#   - through the CLI (`strata submit FILE`, YAML and JSON, and from stdin): exit 1, one
#     `strata: error:` line naming the field;
#   - straight to the scheduler's client socket (stprobe.py, bypassing the CLI's own
#     validation): ErrorReply with ERROR_INVALID (1) naming the field;
#   - the database holds exactly the same rows afterwards (row count of every table);
#   - and a valid spec sent the same two ways is accepted (so the checks can fail).
. "$(dirname "$0")/lib.sh"

start_scheduler       # no worker: nothing should change the database during the test

mkdir -p "$T/specs"
# name|expected text on stderr|spec
cases=(
  'unknown_field.yaml|colour|command: [echo, hi]
colour: red'
  'unknown_nested.yaml|resources.gpus|command: [echo, hi]
resources:
  gpus: 1'
  'wrong_type.yaml|priority|command: [echo, hi]
priority: high'
  'command_string.json|command|{"command": "echo hi"}'
  'out_of_range_cpus.yaml|cpus_per_rank|command: [echo]
resources:
  cpus_per_rank: 5000'
  'zero_ranks.json|ranks|{"command": ["echo"], "resources": {"ranks": 0}}'
  'retries.yaml|retries|command: [echo]
retries: 101'
  'priority_range.yaml|priority|command: [echo]
priority: 5000'
  'bad_memory.yaml|mem_per_rank|command: [echo]
resources:
  mem_per_rank: 12X'
  'bad_time_limit.yaml|time_limit|command: [echo]
time_limit: soon'
  'reserved_env.yaml|env|command: [echo]
env:
  STRATA_JOB_ID: "7"'
  'bad_name.yaml|name|name: "no spaces allowed"
command: [echo]'
  'empty_arg.yaml|command[1]|command: [echo, ""]'
  'relative_workdir.yaml|workdir|command: [echo]
workdir: relative/dir'
  'missing_command.yaml|command|name: nothing-to-run'
  'bad_kind.yaml|kind|kind: training
command: [echo]'
  'malformed.yaml||command: [echo, hi
name: x'
  'malformed.json||{"command": ["echo",]'
  'not_a_mapping.yaml||- echo
- hi'
)

before=$(db_snapshot)
info "database before: $(echo $before)"

for c in "${cases[@]}"; do
    file=${c%%|*}; rest=${c#*|}
    field=${rest%%|*}; body=${rest#*|}
    printf '%s\n' "$body" > "$T/specs/$file"
    rc=0
    st submit "$T/specs/$file" > "$T/out" 2> "$T/err" || rc=$?
    [ "$rc" -eq 1 ] || { cat "$T/err"; fail "$file: expected exit 1, got $rc (stdout: $(cat "$T/out"))"; }
    [ ! -s "$T/out" ] || fail "$file: unexpected output on stdout: $(cat "$T/out")"
    grep -q '^strata: error: ' "$T/err" || fail "$file: no 'strata: error:' line: $(cat "$T/err")"
    n=$(grep -vc '^hint: ' "$T/err" || true)
    [ "$n" -eq 1 ] || fail "$file: expected one error line (and an optional hint), got: $(cat "$T/err")"
    if [ -n "$field" ]; then
        grep -qF -- "$field" "$T/err" || fail "$file: error does not name '$field': $(cat "$T/err")"
    fi
    ok "$file refused: $(head -n 1 "$T/err")"
done

info "from stdin"
rc=0
printf 'command: [echo]\ncolour: blue\n' | st submit - > /dev/null 2> "$T/err" || rc=$?
assert_eq "$rc" 1 "exit code for an invalid spec on stdin"
grep -q colour "$T/err" || fail "stdin: error does not name 'colour': $(cat "$T/err")"

info "from flags"
rc=0
st submit --cpus lots -- echo hi > /dev/null 2> "$T/err" || rc=$?
case $rc in 1|2) ok "--cpus lots refused with exit $rc: $(head -n 1 "$T/err")" ;;
    *) fail "--cpus lots: expected exit 1 or 2, got $rc: $(cat "$T/err")" ;; esac
grep -q cpus "$T/err" || fail "--cpus lots: error does not name cpus: $(cat "$T/err")"
rc=0
st submit --retries 1000 -- echo hi > /dev/null 2> "$T/err" || rc=$?
[ "$rc" -ne 0 ] || fail "--retries 1000 was accepted"
grep -q retries "$T/err" || fail "--retries 1000: error does not name retries: $(cat "$T/err")"
ok "--retries 1000 refused: $(head -n 1 "$T/err")"

info "invalid spec_json sent straight to the scheduler"
raw_cases=(
  'colour|{"command": ["echo"], "colour": "red"}'
  'command|{"command": "echo hi"}'
  'ranks|{"command": ["echo"], "resources": {"ranks": 0}}'
  'cpus_per_rank|{"command": ["echo"], "resources": {"cpus_per_rank": -1}}'
  'env|{"command": ["echo"], "env": {"STRATA_RANK": "3"}}'
  'command|{"name": "x"}'
  '|{"command": ["echo"'
  '|[1, 2, 3]'
  '|'
  '|null'
  "|$(printf '%.0s[' $(seq 1 5000))"
)
for c in "${raw_cases[@]}"; do
    field=${c%%|*}; spec=${c#*|}
    r=$("$ST_PY" "$ST_PROBE" submit --client "$ST_CLIENT_EP" "$spec") || fail "no reply to spec_json '${spec:0:60}'"
    body=$(jq -r .body <<< "$r"); code=$(jq -r .code <<< "$r"); msg=$(jq -r .message <<< "$r")
    [ "$body" = error ] || fail "spec_json '${spec:0:60}' was not refused: $r"
    [ "$code" = 1 ] || fail "spec_json '${spec:0:60}': expected ERROR_INVALID (1), got code $code: $msg"
    if [ -n "$field" ]; then
        grep -qF -- "$field" <<< "$msg" || fail "spec_json '${spec:0:60}': message does not name '$field': $msg"
    fi
    ok "spec_json '${spec:0:40}' refused: $msg"
done
assert_alive scheduler

after=$(db_snapshot)
[ "$before" = "$after" ] || fail "the database changed: before [$(echo $before)] after [$(echo $after)]"
ok "database unchanged: $(echo $after)"

info "valid specs are accepted both ways (the checks above can fail)"
printf 'name: fine\ncommand: [echo, fine]\n' > "$T/specs/valid.yaml"
id=$(submit_job "$T/specs/valid.yaml")
ok "valid.yaml accepted as job $id"
r=$("$ST_PY" "$ST_PROBE" submit --client "$ST_CLIENT_EP" '{"command": ["echo", "fine"]}')
assert_eq "$(jq -r .body <<< "$r")" submit_reply "reply to a valid spec_json sent directly"
[ "$(db_snapshot)" != "$before" ] || fail "accepted jobs did not change the row counts; the snapshot check is blind"
ok "row counts changed after valid submits"
assert_eq "$(st show "$id" --json | jq -r .state)" PENDING "state of job $id (no worker)"

assert_alive scheduler
pass
