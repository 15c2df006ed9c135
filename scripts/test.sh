#!/usr/bin/env bash
# test.sh: Strata's whole test suite, from a fresh Debian 12 machine.
#
#   scripts/test.sh [--quick | --asan-only] [--no-extra-builds] [-R REGEX] [-j N]
#
#   1. installs the Debian packages (scripts/install-deps.sh; uses sudo when not root) and
#      the worker's task user strata-task (scripts/install-task-user.sh);
#   2. checks the format (scripts/check-format.sh, a few seconds, in every mode) when
#      .clang-format exists and STRATA_CHECK_FORMAT is not 0 (default 1); a badly formatted
#      file fails the run, after the builds and tests;
#   3. builds build/ (normal, RelWithDebInfo) and build-asan/ (-DSTRATA_ASAN=ON -DSTRATA_UBSAN=ON),
#      and compiles, without testing them, build-release/ (gcc, Release: the optimizer's
#      warnings such as -Wmaybe-uninitialized, and NDEBUG) and build-clang/ (clang and
#      clang++, Debug: clang's own warnings, and the code under assert() that the other
#      builds drop); all four with the project's -Werror, tests included;
#   4. starts a throwaway PostgreSQL (scripts/pg-local.sh in a mktemp folder, removed at exit)
#      and exports STRATA_TEST_PGHOST / STRATA_TEST_PGPORT for the integration tests;
#   5. runs `ctest --output-on-failure` in build/, then in build-asan/ with
#      ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1.
#
#   --quick            normal build and its tests only (no sanitizer, Release or clang build)
#   --asan-only        sanitizer build and its tests only (no normal, Release or clang build)
#   --no-extra-builds  skip the compile-only Release and clang builds
#   -R REGEX           passed to ctest (e.g. -R integration/ or -R unit/test_spec)
#   -j N               build and ctest parallelism (default 2)
#
# Exit status: 0 when every selected build compiled, every selected test passed and the
# format check passed (or was skipped); 1 otherwise (2 for a usage error).
# Works as root (CI) and as a normal user with sudo.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

run_normal=1
run_asan=1
run_extra=1
regex=""
jobs=2

usage () { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit "${1:-2}"; }

while [ $# -gt 0 ]; do
    case $1 in
        --quick) run_asan=0; run_extra=0 ;;
        --asan-only) run_normal=0; run_extra=0 ;;
        --no-extra-builds) run_extra=0 ;;
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
# Workers run as root in the tests; their tasks run as strata-task, which must exist.
bash scripts/install-task-user.sh

fmt_rc=-
if [ "${STRATA_CHECK_FORMAT:-1}" != 0 ] && [ -f .clang-format ]; then
    step "checking the format (scripts/check-format.sh; STRATA_CHECK_FORMAT=0 skips it)"
    fmt_rc=0
    bash scripts/check-format.sh || fmt_rc=$?
fi

build_times=""
# build DIR BUILD_TYPE [CMAKE ARGS...]: configures and builds DIR; a compile error ends the run.
build () {
    local dir=$1 type=$2 t=$SECONDS; shift 2
    step "configuring and building $dir/ ($type) $*"
    mkdir -p "$ROOT/$dir"
    cmake -S "$ROOT" -B "$ROOT/$dir" -G "Unix Makefiles" -DCMAKE_BUILD_TYPE="$type" "$@" \
        > "$ROOT/$dir/configure.log" 2>&1 \
        || { cat "$ROOT/$dir/configure.log"; echo "test.sh: cmake configure of $dir failed" >&2; exit 1; }
    cmake --build "$ROOT/$dir" -j "$jobs" -- --no-print-directory \
        || { echo "test.sh: build of $dir failed" >&2; exit 1; }
    build_times="$build_times $dir/ $((SECONDS - t))s;"
}

[ $run_normal -eq 1 ] && build build RelWithDebInfo -DSTRATA_ASAN=OFF -DSTRATA_UBSAN=OFF
[ $run_asan -eq 1 ] && build build-asan RelWithDebInfo -DSTRATA_ASAN=ON -DSTRATA_UBSAN=ON
if [ $run_extra -eq 1 ]; then
    build build-release Release -DSTRATA_ASAN=OFF -DSTRATA_UBSAN=OFF
    command -v clang >/dev/null && command -v clang++ >/dev/null \
        || { echo "test.sh: clang and clang++ are needed for build-clang/ (scripts/install-deps.sh)" >&2; exit 1; }
    build build-clang Debug -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DSTRATA_ASAN=OFF -DSTRATA_UBSAN=OFF
fi
[ -n "$build_times" ] && echo "test.sh: build times:$build_times"

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
fmt_verdict () { case $1 in -) echo "skipped" ;; 0) echo "ok" ;; *) echo "FAILED (scripts/check-format.sh --fix)" ;; esac; }
extra=""
[ $run_extra -eq 1 ] && extra="; Release and clang builds: compiled"
step "done in $((SECONDS - T0))s: normal build: $(verdict $normal_rc); sanitizer build: $(verdict $asan_rc)$extra; format: $(fmt_verdict $fmt_rc)"
[ "$normal_rc" = 0 ] || [ "$normal_rc" = - ] || exit 1
[ "$asan_rc" = 0 ] || [ "$asan_rc" = - ] || exit 1
[ "$fmt_rc" = 0 ] || [ "$fmt_rc" = - ] || exit 1
exit 0
