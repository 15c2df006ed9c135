#!/usr/bin/env bash
# test_task_user: tasks run unprivileged and inside the node's own limits.
#   - a worker running as root refuses to start when its task user is missing or is root,
#     with a hint;
#   - a task runs with a non-zero uid: strata-task by default, its tenant's user with
#     --tenant-user; its folder and logs are that user's (0700, 0600), the worker reads them;
#   - a task of one tenant cannot read the folder of a running task of another tenant
#     (two users made here with useradd --system);
#   - a task without GPUs sees CUDA_VISIBLE_DEVICES="" and NVIDIA_VISIBLE_DEVICES=void,
#     although the worker's environment and the job's env set them;
#   - a noisy task with --task-log-max 1M succeeds, its log cut near 1 MiB with a marker line;
#   - --task-retention removes a finished task's folder (not a running one's);
#   - a node below --min-free says why in `strata nodes` (table and --json), its job waits
#     (explain names the refusal) and runs once the worker restarts with a normal value.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "the worker must run as root to switch users"
for u in strata-task strata-t-alpha strata-t-beta; do
    id -u "$u" >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$u"
done
uid_default=$(id -u strata-task)
uid_alpha=$(id -u strata-t-alpha)
uid_beta=$(id -u strata-t-beta)

start_scheduler

info "a worker whose task user is missing, or root, does not start"
rc=0
"$ST_BIN/strata-worker" --scheduler "$ST_WORKER_EP" --state-dir "$T/bad" --task-user strata-no-such-user \
    >"$T/bad.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "worker with a missing task user started"
grep -q "task user 'strata-no-such-user' does not exist" "$T/bad.out" || fail "no clear error: $(cat "$T/bad.out")"
grep -q "hint:" "$T/bad.out" || fail "no hint: $(cat "$T/bad.out")"
ok "missing task user refused: $(head -1 "$T/bad.out")"
rc=0
"$ST_BIN/strata-worker" --scheduler "$ST_WORKER_EP" --state-dir "$T/bad" --tenant-user x=root \
    >"$T/bad.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "worker with root as a task user started"
grep -q "tasks never run as root" "$T/bad.out" || fail "no clear error: $(cat "$T/bad.out")"
ok "root as a task user refused"

CUDA_VISIBLE_DEVICES=0,1 NVIDIA_VISIBLE_DEVICES=all \
    start_worker w1 --cpus 4 --memory 2G --tenant-user alpha=strata-t-alpha --tenant-user beta=strata-t-beta \
    --task-log-max 1M --task-retention 3s

info "tasks run as an unprivileged user"
id=$(submit_job -- id -u)
wait_job_state "$id" SUCCEEDED 30
assert_eq "$(st logs "$id")" "$uid_default" "uid of a default-tenant task (strata-task)"
id_default=$id
id=$(submit_job --tenant alpha -- id -u)
wait_job_state "$id" SUCCEEDED 30
assert_eq "$(st logs "$id")" "$uid_alpha" "uid of a task of tenant alpha (strata-t-alpha)"
log="$T/w1/logs/$id/0.1.stdout"
assert_eq "$(stat -c '%U %a' "$log")" "strata-t-alpha 600" "owner and mode of its log"

info "a task cannot read another tenant's task folder"
a=$(submit_job --tenant alpha -- sh -c 'echo alpha-secret > secret.txt; sleep 60')
wait_job_state "$a" RUNNING 30
dir_a="$T/w1/tasks/$a.0.1"
wait_until 10 "alpha's secret written" test -s "$dir_a/secret.txt"
assert_eq "$(stat -c '%U %a' "$dir_a")" "strata-t-alpha 700" "owner and mode of alpha's task folder"
assert_eq "$(cat "$dir_a/secret.txt")" alpha-secret "the worker's user (root) reads it"
b=$(submit_job --tenant beta -- sh -c "cat '$dir_a/secret.txt' && exit 1; ls '$dir_a' && exit 1; \
    ls '$T/w1/tasks' && exit 1; echo refused")
wait_job_state "$b" SUCCEEDED 30
assert_eq "$(st logs "$b")" refused "beta's task was refused alpha's folder and the list of tasks"
st logs "$b" --stderr | grep -q "Permission denied" || fail "no 'Permission denied': $(st logs "$b" --stderr)"
ok "beta's task: $(st logs "$b" --stderr | head -1)"
check "cancel alpha's task" st cancel "$a"
wait_job_state "$a" CANCELLED 15

info "a task without GPUs sees none"
id=$(submit_job -e CUDA_VISIBLE_DEVICES=0 -e NVIDIA_VISIBLE_DEVICES=all -- \
    sh -c 'echo "cuda=[${CUDA_VISIBLE_DEVICES-unset}] nvidia=[${NVIDIA_VISIBLE_DEVICES-unset}]"')
wait_job_state "$id" SUCCEEDED 30
assert_eq "$(st logs "$id")" "cuda=[] nvidia=[void]" "GPU environment of a 0-GPU task"

info "a noisy task's log is capped, the task still succeeds"
id=$(submit_job -- sh -c 'yes | head -c 5000000; echo "stderr is kept" >&2')
wait_job_state "$id" SUCCEEDED 30
log="$T/w1/logs/$id/0.1.stdout"
size=$(stat -c %s "$log")
[ "$size" -ge 1048576 ] && [ "$size" -le $((1048576 + 200)) ] || fail "log of job $id is $size bytes, not about 1 MiB"
tail -1 "$log" | grep -qE '^\[strata: output cut at 1 MiB; [0-9]+ bytes dropped\]$' \
    || fail "no marker line at the end of $log: $(tail -c 200 "$log")"
ok "log of job $id: $size bytes, ends with '$(tail -1 "$log")'"
st logs "$id" | tail -1 | grep -q '^\[strata: output cut at 1 MiB' || fail "strata logs shows no marker"
assert_eq "$(st logs "$id" --stderr)" "stderr is kept" "the other stream of job $id"

info "retention removes finished task folders"
dir="$T/w1/tasks/$id_default.0.1"
wait_until 30 "task folder $dir removed" test ! -e "$dir"
ok "task folder of job $id_default removed after --task-retention 3s"
test -e "$T/w1/logs/$id_default/0.1.stdout" || fail "the log of job $id_default went with its folder"

info "a node short of space refuses tasks and says why"
start_worker w2 --pool spare --min-free 1000000G
why=$(node_field w2 .refusing)
case $why in *"below --min-free"*) ok "w2 refusing: $why" ;; *) fail "w2 .refusing is '$why'" ;; esac
st nodes | grep -q "^note: node w2 takes no new tasks: state directory .* below --min-free" \
    || { st nodes; fail "strata nodes has no note for w2"; }
ok "strata nodes says why w2 takes no task"
id=$(submit_job --pool spare -- echo ran)
sleep 1
assert_eq "$(job_field "$id" .state)" PENDING "state of a job for the refusing node"
reason=$(job_field "$id" .reason)
[ -n "$reason" ] || fail "job $id waits without a reason"
ok "job $id waits: $reason"
st explain "$id" | grep -q "w2 takes no new tasks" || { st explain "$id"; fail "explain does not name the refusal"; }
ok "strata explain names the refusal"
stop_daemon w2
restart_worker w2 --pool spare
wait_job_state "$id" SUCCEEDED 30
assert_eq "$(node_field w2 .refusing)" "" "w2 .refusing once restarted with the default --min-free"

pass
