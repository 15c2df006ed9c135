#!/usr/bin/env bash
# test.sh: Strata's whole test suite, from a fresh Debian 12 machine.
#
#   scripts/test.sh [--quick | --asan-only] [-R REGEX] [-j N]
#
#   1. installs the Debian packages (scripts/install-deps.sh; uses sudo when not root);
#   2. builds build/ (normal) and build-asan/ (-DSTRATA_ASAN=ON -DSTRATA_UBSAN=ON);
#   3. starts a throwaway PostgreSQL (scripts/pg-local.sh in a mktemp folder, removed at exit)
#      and exports STRATA_TEST_PGHOST / STRATA_TEST_PGPORT for the integration tests;
#   4. runs `ctest --output-on-failure` in build/, then in build-asan/ with
#      ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1.
#
#   --quick       normal build only
#   --asan-only   sanitizer build only
#   -R REGEX      passed to ctest (e.g. -R integration/ or -R unit/test_spec)
#   -j N          build and ctest parallelism (default 2)
#
# Exit status: 0 when every selected test passed, 1 otherwise (2 for a usage error).
# Works as root (CI) and as a normal user with sudo.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

run_normal=1
run_asan=1
regex=""
jobs=2

usage () { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit "${1:-2}"; }

while [ $# -gt 0 ]; do
    case $1 in
        --quick) run_asan=0 ;;
        --asan-only) run_normal=0 ;;
        -R) regex=${2:?-R needs a regular expression}; shift ;;
        -R*) regex=${1#-R} ;;
        -j) jobs=${2:?-j needs a number}; shift ;;
        -j*) jobs=${1#-j} ;;
        -h|--help) usage 0 ;;
        *) echo "test.sh: unknown argument: $1" >&2; usage 2 ;;
    esac
    shift
done
if [ $run_normal -eq 0 ] && [ $run_asan -eq 0 ]; then
    echo "test.sh: --quick and --asan-only exclude each other" >&2
    exit 2
fi

T0=$SECONDS
step () { echo; echo "==> test.sh [$((SECONDS - T0))s]: $*"; }

step "installing dependencies"
bash scripts/install-deps.sh

build () {
    local dir=$1; shift
    step "configuring and building $dir/ $*"
    mkdir -p "$ROOT/$dir"
    cmake -S "$ROOT" -B "$ROOT/$dir" -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" \
        > "$ROOT/$dir/configure.log" 2>&1 \
        || { cat "$ROOT/$dir/configure.log"; echo "test.sh: cmake configure of $dir failed" >&2; exit 1; }
    cmake --build "$ROOT/$dir" -j "$jobs" -- --no-print-directory
}

[ $run_normal -eq 1 ] && build build -DSTRATA_ASAN=OFF -DSTRATA_UBSAN=OFF
[ $run_asan -eq 1 ] && build build-asan -DSTRATA_ASAN=ON -DSTRATA_UBSAN=ON

step "starting a throwaway PostgreSQL"
PGTMP=$(mktemp -d "${TMPDIR:-/tmp}/strata-test-pg.XXXXXX")
cleanup () {
    local rc=$?
    trap - EXIT INT TERM
    bash "$ROOT/scripts/pg-local.sh" destroy "$PGTMP" 2>/dev/null || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# fsync stays on: the server is never crashed here, but the suite should see the same
# commit latency a real deployment does. initdb skips its own flushes (--no-sync).
pg_env=$(bash scripts/pg-local.sh start "$PGTMP") || { echo "test.sh: could not start PostgreSQL" >&2; exit 1; }
eval "$pg_env"
export STRATA_TEST_PGHOST=$STRATA_PGHOST STRATA_TEST_PGPORT=$STRATA_PGPORT
echo "test.sh: PostgreSQL on $STRATA_TEST_PGHOST:$STRATA_TEST_PGPORT ($PGTMP)"

ctest_args=(--output-on-failure -j "$jobs")
[ -n "$regex" ] && ctest_args+=(-R "$regex")

normal_rc=-
asan_rc=-
if [ $run_normal -eq 1 ]; then
    step "ctest in build/"
    normal_rc=0
    (cd build && ctest "${ctest_args[@]}") || normal_rc=$?
fi
if [ $run_asan -eq 1 ]; then
    step "ctest in build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer)"
    asan_rc=0
    (cd build-asan &&
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest "${ctest_args[@]}") || asan_rc=$?
fi

verdict () { case $1 in -) echo "not run" ;; 0) echo "ok" ;; *) echo "FAILED (ctest exit $1)" ;; esac; }
step "done in $((SECONDS - T0))s: normal build: $(verdict $normal_rc); sanitizer build: $(verdict $asan_rc)"
[ "$normal_rc" = 0 ] || [ "$normal_rc" = - ] || exit 1
[ "$asan_rc" = 0 ] || [ "$asan_rc" = - ] || exit 1
exit 0
