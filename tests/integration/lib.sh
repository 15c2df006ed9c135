# lib.sh: shared set-up for Strata's integration tests. Source it first:
#
#     . "$(dirname "$0")/lib.sh"
#     start_scheduler
#     start_worker w1 --cpus 2 --memory 2G
#     id=$(submit_job -- echo hi)
#     wait_job_state "$id" SUCCEEDED
#     pass
#
# What it gives a test:
#   - $T, a temp folder (mode 1777: tasks, which run as strata-task, write there; kept
#     when the test fails or STRATA_TEST_KEEP=1);
#   - a fresh database on the server named by STRATA_TEST_PGHOST/STRATA_TEST_PGPORT
#     (scripts/test.sh starts one; without them lib.sh starts a private server in $T/pg),
#     dropped at exit;
#   - free ports, daemons started in their own process groups with logs in $T/*.log,
#     `st` (the CLI pointed at this test's scheduler), waits and JSON helpers;
#   - a cleanup trap that stops every process it started (SIGTERM, then SIGKILL of the
#     process group), kills stray task processes (any process whose cwd is under $T),
#     and fails the test when a daemon or CLI log holds a sanitizer report.
#
# Environment: STRATA_BIN_DIR (default <source>/build/bin), STRATA_SOURCE_DIR,
# STRATA_TEST_PGHOST, STRATA_TEST_PGPORT, STRATA_TEST_KEEP=1, STRATA_TEST_LOG_LEVEL.

set -euo pipefail

ST_TEST=$(basename "${0%.sh}")
ST_SRC=${STRATA_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
ST_BIN=${STRATA_BIN_DIR:-$ST_SRC/build/bin}
ST_PY=/usr/bin/python3                  # Debian's python: python3-zmq lives there
ST_PROBE=$ST_SRC/tests/integration/stprobe.py
ST_T0=$(date +%s.%N)

T=$(mktemp -d "/tmp/strata-it.$ST_TEST.XXXXXX")
# Open like /tmp (sticky): tasks run as strata-task, not as the test's user, and leave
# files here for the test to find.
chmod 1777 "$T"

declare -A ST_PID=()                    # daemon label -> pid (== its process group)
declare -A ST_REAPED=()                 # pid -> 1 once kill9/stop_daemon waited for it
declare -a ST_ORDER=()                  # labels in start order
ST_DB=""
ST_OWN_PG=0
ST_FAILED=0
ST_SCHED_ARGS=()

# -- messages ---------------------------------------------------------------------

_st_elapsed () { awk -v a="$ST_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

info () { echo "[$ST_TEST +$(_st_elapsed)s] $*"; }

# ok MESSAGE: one check passed.
ok () { echo "[$ST_TEST +$(_st_elapsed)s] ok: $*"; }

# fail MESSAGE: the test fails now; the cleanup trap prints the daemons' log tails.
fail () {
    echo "[$ST_TEST +$(_st_elapsed)s] FAIL: $*" >&2
    ST_FAILED=1
    exit 1
}

# pass: the test body is done; the cleanup trap still checks the logs for sanitizer
# reports and prints the verdict (PASS or FAIL).
pass () { exit 0; }

# skip REASON: this test cannot run here (ctest reports it as skipped: exit 77).
ST_SKIPPED=0
skip () { echo "[$ST_TEST] SKIP: $*"; ST_SKIPPED=1; exit 77; }

# Functions run at exit, after the daemons are stopped (a test's own clean-up).
ST_CLEANUP_HOOKS=()

# check DESCRIPTION CMD...: runs CMD; fails the test unless it exits 0.
check () {
    local what=$1; shift
    if "$@"; then ok "$what"; else fail "$what (command: $*)"; fi
}

# assert_eq ACTUAL EXPECTED DESCRIPTION
assert_eq () {
    if [ "$1" == "$2" ]; then ok "$3 ($1)"; else fail "$3: expected '$2', got '$1'"; fi
}

# -- prerequisites ----------------------------------------------------------------

for _b in strata-scheduler strata-worker strata; do
    [ -x "$ST_BIN/$_b" ] || { echo "[$ST_TEST] FAIL: $ST_BIN/$_b not built" >&2; exit 1; }
done
for _c in jq psql flock; do
    command -v "$_c" >/dev/null || { echo "[$ST_TEST] FAIL: $_c missing (scripts/install-deps.sh)" >&2; exit 1; }
done
# A worker running as root runs its tasks as strata-task (never as root).
if [ "$(id -u)" -eq 0 ] && ! id -u strata-task >/dev/null 2>&1; then
    bash "$ST_SRC/scripts/install-task-user.sh" strata-task >/dev/null
fi

# -- cleanup ----------------------------------------------------------------------

# Pids of live processes whose cwd lies under $1 (task processes run in
# <state-dir>/tasks/...); zombies have no cwd and are not listed.
pids_with_cwd_under () {
    local d p cwd
    for d in /proc/[0-9]*; do
        cwd=$(readlink "$d/cwd" 2>/dev/null) || continue
        case $cwd in "$1"/*|"$1") p=${d#/proc/}; [ "$p" != "$$" ] && echo "$p" ;; esac
    done
    return 0
}

# pid_alive PID: true while PID exists and is not a zombie.
pid_alive () {
    local st
    [ -n "${1:-}" ] && [ "$1" -gt 0 ] 2>/dev/null || return 1
    st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

_st_sanitizer_reports () {
    local f found=0
    for f in "$T"/*.log; do
        [ -f "$f" ] || continue
        if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:|ThreadSanitizer|MemorySanitizer' "$f"; then
            echo "[$ST_TEST] FAIL: sanitizer report in $(basename "$f"):" >&2
            grep -nE -A 30 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f" | head -n 80 >&2
            found=1
        fi
    done
    return $found
}

_st_dump_logs () {
    local f
    for f in "$T"/*.log; do
        [ -f "$f" ] || continue
        echo "----- last 40 lines of $(basename "$f") -----" >&2
        tail -n 40 "$f" >&2
    done
    echo "----- test folder kept: $T -----" >&2
}

_st_cleanup () {
    local rc=$? label pid i p
    set +e
    trap - EXIT INT TERM
    [ -n "${ST_SAMPLER_PID:-}" ] && kill "$ST_SAMPLER_PID" 2>/dev/null
    # Workers first (they hold tasks), then the scheduler, newest first; SIGTERM lets the
    # daemons exit normally, so LeakSanitizer checks them.
    for ((i = ${#ST_ORDER[@]} - 1; i >= 0; i--)); do
        label=${ST_ORDER[$i]}
        pid=${ST_PID[$label]:-}
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
    done
    for ((i = 0; i < 100; i++)); do
        p=0
        for label in "${ST_ORDER[@]}"; do
            pid_alive "${ST_PID[$label]:-}" && p=1
        done
        [ $p -eq 0 ] && break
        sleep 0.1
    done
    local -A killed=()
    for label in "${ST_ORDER[@]}"; do
        pid=${ST_PID[$label]:-}
        [ -z "$pid" ] && continue
        if pid_alive "$pid"; then
            echo "[$ST_TEST] FAIL: $label (pid $pid) ignored SIGTERM for 10 s; killing it" >&2
            killed[$label]=1
            rc=1
        fi
        kill -KILL -- "-$pid" 2>/dev/null
        kill -KILL "$pid" 2>/dev/null
    done
    for p in $(pids_with_cwd_under "$T"); do kill -KILL "$p" 2>/dev/null; done
    # A daemon asked to stop must exit 0: a crash or an abort (LeakSanitizer with
    # abort_on_error) at shutdown is a failure too. Daemons that kill9/stop_daemon
    # already reaped are skipped.
    for label in "${ST_ORDER[@]}"; do
        pid=${ST_PID[$label]:-}
        [ -z "$pid" ] && continue
        [ -n "${ST_REAPED[$pid]:-}" ] && continue
        wait "$pid" 2>/dev/null
        p=$?
        if [ "$p" -ne 0 ] && [ "$p" -ne 127 ] && [ -z "${killed[$label]:-}" ]; then
            echo "[$ST_TEST] FAIL: $label (pid $pid) exited with status $p after SIGTERM" >&2
            rc=1
        fi
    done

    for p in "${ST_CLEANUP_HOOKS[@]}"; do "$p"; done
    if ! _st_sanitizer_reports; then rc=1; fi
    if [ "$ST_SKIPPED" -eq 1 ] && [ "$rc" -eq 77 ]; then
        echo "[$ST_TEST +$(_st_elapsed)s] SKIPPED: $ST_TEST"
    elif [ "$rc" -ne 0 ] || [ "$ST_FAILED" -ne 0 ]; then
        [ "$rc" -eq 0 ] && rc=1
        _st_dump_logs
        echo "[$ST_TEST +$(_st_elapsed)s] FAIL: $ST_TEST (exit $rc)" >&2
    else
        echo "[$ST_TEST +$(_st_elapsed)s] PASS: $ST_TEST"
    fi
    if [ -n "$ST_DB" ]; then
        _st_psql postgres -c "drop database if exists \"$ST_DB\" with (force)" >/dev/null 2>&1
    fi
    if [ "$ST_OWN_PG" -eq 1 ]; then
        bash "$ST_SRC/scripts/pg-local.sh" stop "$T/pg" --immediate >/dev/null 2>&1
    fi
    if { [ "$rc" -eq 0 ] || [ "$ST_SKIPPED" -eq 1 ]; } && [ "${STRATA_TEST_KEEP:-0}" != 1 ]; then
        bash "$ST_SRC/scripts/pg-local.sh" destroy "$T/pg" >/dev/null 2>&1
        rm -rf "$T"
    fi
    exit "$rc"
}
trap _st_cleanup EXIT
trap 'ST_FAILED=1; exit 130' INT
trap 'ST_FAILED=1; exit 143' TERM

# -- database ---------------------------------------------------------------------

_st_psql () {
    local db=$1; shift
    psql -X -q -h "$STRATA_TEST_PGHOST" -p "$STRATA_TEST_PGPORT" -U postgres -d "$db" \
        -v ON_ERROR_STOP=1 "$@"
}

# sql QUERY: runs QUERY in this test's database; prints unaligned, tuples only.
sql () { _st_psql "$ST_DB" -tA -c "$1"; }

if [ -z "${STRATA_TEST_PGHOST:-}" ] || [ -z "${STRATA_TEST_PGPORT:-}" ]; then
    info "STRATA_TEST_PGHOST/PORT not set: starting a private PostgreSQL in $T/pg"
    _st_pg_env=$(bash "$ST_SRC/scripts/pg-local.sh" start "$T/pg" --fast 2>"$T/pg-local.log") \
        || fail "could not start PostgreSQL: $(cat "$T/pg-local.log")"
    eval "$_st_pg_env"
    ST_OWN_PG=1
    STRATA_TEST_PGHOST=$STRATA_PGHOST
    STRATA_TEST_PGPORT=$STRATA_PGPORT
fi
ST_DB=$(echo "st_${ST_TEST}_$$" | tr 'A-Z-' 'a-z_' | tr -cd 'a-z0-9_')
_st_psql postgres -c "create database \"$ST_DB\"" >/dev/null \
    || { ST_DB=""; fail "cannot create a database on $STRATA_TEST_PGHOST:$STRATA_TEST_PGPORT"; }
ST_DSN="host=$STRATA_TEST_PGHOST port=$STRATA_TEST_PGPORT user=postgres dbname=$ST_DB"

# db_snapshot: "table count" for every table in the public schema, sorted; lets a test
# prove that something changed nothing, without knowing the schema.
db_snapshot () {
    local t q=""
    for t in $(sql "select tablename from pg_tables where schemaname = 'public' order by 1"); do
        q+="${q:+ union all }select '$t', count(*) from public.\"$t\""
    done
    [ -n "$q" ] && sql "$q order by 1"
    return 0
}

# -- ports ------------------------------------------------------------------------

# free_ports N: N distinct free TCP ports on 127.0.0.1 (all bound at once, then released).
free_ports () {
    "$ST_PY" -c '
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}
free_port () { free_ports 1; }

# -- daemons ----------------------------------------------------------------------

# _st_spawn LABEL CMD...: starts CMD in its own session/process group, output
# appended to $T/LABEL.log, and records its pid.
_st_spawn () {
    local label=$1; shift
    echo "=== $(date '+%F %T.%N') start: $*" >> "$T/$label.log"
    setsid "$@" >> "$T/$label.log" 2>&1 < /dev/null &
    ST_PID[$label]=$!
    local known=0 l
    for l in "${ST_ORDER[@]}"; do [ "$l" = "$label" ] && known=1; done
    [ $known -eq 1 ] || ST_ORDER+=("$label")
}

# daemon_pid LABEL
daemon_pid () { echo "${ST_PID[$1]:-}"; }

daemon_alive () { pid_alive "${ST_PID[$1]:-}"; }

# assert_alive LABEL...: every named daemon is still running.
assert_alive () {
    local l
    for l in "$@"; do
        daemon_alive "$l" || fail "$l (pid ${ST_PID[$l]:-?}) is not running"
    done
    ok "still running: $*"
}

# kill9 LABEL: SIGKILL to the daemon itself (not its group: a worker's tasks must die
# by their own parent-death signal).
kill9 () {
    local pid=${ST_PID[$1]:?unknown daemon $1}
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    ST_REAPED[$pid]=1
    info "killed $1 (pid $pid) with SIGKILL"
}

# stop_daemon LABEL [TIMEOUT_S]: SIGTERM, wait (default 10 s); fails the test when the
# daemon needs SIGKILL or exits with a non-zero status.
stop_daemon () {
    local pid=${ST_PID[$1]:?unknown daemon $1} n=$(( ${2:-10} * 10 )) i status=0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < n; i++)); do pid_alive "$pid" || break; sleep 0.1; done
    if pid_alive "$pid"; then
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        ST_REAPED[$pid]=1
        fail "$1 did not stop within ${2:-10}s of SIGTERM"
    fi
    wait "$pid" 2>/dev/null || status=$?
    ST_REAPED[$pid]=1
    [ "$status" -eq 0 ] || fail "$1 exited with status $status after SIGTERM"
    info "stopped $1"
}

_st_sched_ports () {
    read -r ST_WORKER_PORT ST_CLIENT_PORT ST_EVENT_PORT <<< "$(free_ports 3)"
    ST_WORKER_EP=tcp://127.0.0.1:$ST_WORKER_PORT
    ST_CLIENT_EP=tcp://127.0.0.1:$ST_CLIENT_PORT
    ST_EVENT_EP=tcp://127.0.0.1:$ST_EVENT_PORT
}

# _st_wait_scheduler TIMEOUT_S: true once the client socket answers `nodes`.
_st_wait_scheduler () {
    local deadline=$((SECONDS + $1))
    while [ $SECONDS -lt $deadline ]; do
        daemon_alive scheduler || return 1
        if ST_CLI_TIMEOUT=1s st nodes >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    return 1
}

# start_scheduler [FLAGS...]: a scheduler on fresh ports and this test's database, with
# short timers (heartbeat 200ms, node timeout 1.5s, launch timeout 1s, kill grace 1s);
# FLAGS come last and override. Waits until the client socket answers.
start_scheduler () {
    local attempt
    for attempt in 1 2 3; do
        _st_sched_ports
        ST_SCHED_ARGS=(--database "$ST_DSN"
            --worker-endpoint "$ST_WORKER_EP" --client-endpoint "$ST_CLIENT_EP"
            --event-endpoint "$ST_EVENT_EP"
            --heartbeat-interval 200ms --node-timeout 1.5s --launch-timeout 1s --kill-grace 1s)
        [ -n "${STRATA_TEST_LOG_LEVEL:-}" ] && ST_SCHED_ARGS+=(--log-level "$STRATA_TEST_LOG_LEVEL")
        ST_SCHED_ARGS+=("$@")
        _st_spawn scheduler "$ST_BIN/strata-scheduler" "${ST_SCHED_ARGS[@]}"
        if _st_wait_scheduler 30; then
            info "scheduler up (pid ${ST_PID[scheduler]}, client $ST_CLIENT_EP, workers $ST_WORKER_EP)"
            return 0
        fi
        if ! daemon_alive scheduler && grep -q 'Address already in use' "$T/scheduler.log"; then
            info "port clash; retrying with other ports"
            continue
        fi
        break
    done
    fail "scheduler did not answer within 30 s"
}

# restart_scheduler: starts the scheduler again with the same ports, database and flags
# (after kill9 scheduler or stop_daemon scheduler).
restart_scheduler () {
    daemon_alive scheduler && fail "restart_scheduler: the scheduler is still running"
    _st_spawn scheduler "$ST_BIN/strata-scheduler" "${ST_SCHED_ARGS[@]}"
    _st_wait_scheduler 30 || fail "restarted scheduler did not answer within 30 s"
    info "scheduler restarted (pid ${ST_PID[scheduler]})"
}

# start_worker_nowait LABEL NODE [FLAGS...]: starts a worker named NODE with its state in
# $T/LABEL and log $T/LABEL.log; does not wait for registration.
start_worker_nowait () {
    local label=$1 node=$2; shift 2
    mkdir -p "$T/$label"
    local args=(--scheduler "$ST_WORKER_EP" --node "$node" --state-dir "$T/$label"
        --heartbeat-interval 200ms --scheduler-timeout 2s)
    [ -n "${STRATA_TEST_LOG_LEVEL:-}" ] && args+=(--log-level "$STRATA_TEST_LOG_LEVEL")
    _st_spawn "$label" "$ST_BIN/strata-worker" "${args[@]}" "$@"
}

# start_worker NAME [FLAGS...]: a worker whose node and label are NAME (state dir $T/NAME,
# default --cpus 2 --memory 2G unless FLAGS say otherwise); waits until NAME is UP.
start_worker () {
    local name=$1; shift
    local defaults=() a has_cpus=0 has_mem=0
    for a in "$@"; do
        case $a in --cpus|--cpus=*) has_cpus=1 ;; --memory|--memory=*) has_mem=1 ;; esac
    done
    [ $has_cpus -eq 1 ] || defaults+=(--cpus 2)
    [ $has_mem -eq 1 ] || defaults+=(--memory 2G)
    start_worker_nowait "$name" "$name" "${defaults[@]}" "$@"
    wait_node_state "$name" UP 30
    info "worker $name up (pid ${ST_PID[$name]})"
}

# restart_worker NAME [FLAGS...]: same state dir and log; waits until UP.
restart_worker () {
    daemon_alive "$1" && fail "restart_worker: $1 is still running"
    start_worker "$@"
}

# -- CLI --------------------------------------------------------------------------

# st ARGS...: the CLI against this test's scheduler. stderr is passed through and also
# kept in $T/cli.log (checked for sanitizer reports at exit).
st () {
    local errf="$T/.cli.$BASHPID.$RANDOM.err" rc=0
    "$ST_BIN/strata" --scheduler "$ST_CLIENT_EP" --timeout "${ST_CLI_TIMEOUT:-5s}" "$@" 2>"$errf" || rc=$?
    if [ -s "$errf" ]; then
        cat "$errf" >&2
        { echo "--- strata $* (rc $rc)"; cat "$errf"; } >> "$T/cli.log"
    fi
    rm -f "$errf"
    return $rc
}

# submit_job [SUBMIT FLAGS...] -- CMD ARGS... | submit_job FILE: prints the job id.
submit_job () {
    local out id
    out=$(st submit --json "$@") || fail "submit failed: strata submit $*"
    id=$(jq -r '.id // empty' <<< "$out" 2>/dev/null) || true
    [[ $id =~ ^[0-9]+$ ]] || fail "submit printed no job id: $out"
    echo "$id"
}

job_json () { st show "$1" --json; }

# job_field ID JQ_FILTER: e.g. job_field 7 .state, job_field 7 '.tasks[0].pid'
job_field () {
    local j
    j=$(job_json "$1") || return 1
    jq -r "$2" <<< "$j"
}

nodes_json () { st nodes --json; }

# node_field NAME JQ_FILTER (applied to the node object)
node_field () {
    local j
    j=$(nodes_json) || return 1
    jq -r --arg n "$1" ".[] | select(.name == \$n) | $2" <<< "$j"
}

is_terminal () { case $1 in SUCCEEDED|FAILED|CANCELLED) return 0 ;; *) return 1 ;; esac; }

# wait_job_state ID STATE [TIMEOUT_S=30]: fails early when the job reaches another
# terminal state.
wait_job_state () {
    local id=$1 want=$2 deadline=$((SECONDS + ${3:-30})) s=""
    while [ $SECONDS -lt $deadline ]; do
        s=$(job_field "$id" .state 2>/dev/null) || s=""
        [ "$s" = "$want" ] && { ok "job $id is $want"; return 0; }
        is_terminal "$s" && break       # ended in another state: no point waiting
        sleep 0.1
    done
    job_json "$id" >&2 || true
    fail "job $id: expected state $want within ${3:-30}s, last seen '${s}'"
}

# wait_job_terminal ID [TIMEOUT_S=30]: prints the terminal state.
wait_job_terminal () {
    local id=$1 deadline=$((SECONDS + ${2:-30})) s=""
    while [ $SECONDS -lt $deadline ]; do
        s=$(job_field "$id" .state 2>/dev/null) || s=""
        if is_terminal "$s"; then echo "$s"; return 0; fi
        sleep 0.1
    done
    fail "job $id did not end within ${2:-30}s (last state '$s')"
}

# wait_node_state NAME STATE [TIMEOUT_S=30]
wait_node_state () {
    local name=$1 want=$2 deadline=$((SECONDS + ${3:-30})) s=""
    while [ $SECONDS -lt $deadline ]; do
        if [ -n "${ST_PID[$name]:-}" ] && [ "$want" = UP ] && ! daemon_alive "$name"; then
            fail "worker $name exited before it was $want"
        fi
        s=$(node_field "$name" .state 2>/dev/null) || s=""
        [ "$s" = "$want" ] && return 0
        sleep 0.1
    done
    nodes_json >&2 || true
    fail "node $name: expected state $want within ${3:-30}s, last seen '$s'"
}

# all_jobs_json: every job the scheduler knows, finished ones included.
all_jobs_json () { st jobs --all --limit 10000 --json; }

# wait_until TIMEOUT_S DESCRIPTION CMD...: polls CMD every 0.1 s.
wait_until () {
    local limit=$1 deadline=$((SECONDS + $1)) what=$2; shift 2
    while [ $SECONDS -lt $deadline ]; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    fail "timed out after ${limit}s waiting for: $what"
}

# wait_pid_gone PID [TIMEOUT_S=5]: true once PID no longer runs (zombies count as gone).
wait_pid_gone () {
    local deadline=$((SECONDS + ${2:-5}))
    while [ $SECONDS -lt $deadline ]; do
        pid_alive "$1" || return 0
        sleep 0.05
    done
    return 1
}

# log_has LABEL REGEX: the daemon's log matches the extended regex.
log_has () { grep -qE "$2" "$T/$1.log"; }

info "temp dir $T, database $ST_DB on $STRATA_TEST_PGHOST:$STRATA_TEST_PGPORT, binaries $ST_BIN"
