# lite.sh: the harness of the integration tests that need no database and no daemons
# (test_sim, test_collective, test_twin_dp). Source it first; it gives
#   - ST_TEST, ST_SRC, ST_BIN (STRATA_BIN_DIR, else build/bin), and $T, a private temp
#     folder (kept when the test fails or STRATA_TEST_KEEP=1);
#   - info, ok, fail, assert_eq;
#   - at exit: the test's own LITE_CLEANUP function if it defines one, then a scan of
#     $T/*.err for sanitizer reports (any fails the test), then PASS or FAIL.
# Commands whose stderr should be scanned write it to $T/NAME.err.
set -euo pipefail

ST_TEST=$(basename "${0%.sh}")
ST_SRC=${STRATA_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
ST_BIN=${STRATA_BIN_DIR:-$ST_SRC/build/bin}
T=$(mktemp -d "/tmp/strata-it.$ST_TEST.XXXXXX")
FAILED=0

info () { echo "[$ST_TEST] $*"; }
ok () { echo "[$ST_TEST] ok: $*"; }
fail () { echo "[$ST_TEST] FAIL: $*" >&2; FAILED=1; exit 1; }
assert_eq () { if [ "$1" == "$2" ]; then ok "$3 ($1)"; else fail "$3: expected '$2', got '$1'"; fi; }

_lite_cleanup () {
    local rc=$?
    trap - EXIT
    if declare -F LITE_CLEANUP > /dev/null; then LITE_CLEANUP || true; fi
    # A sanitizer build reports on stderr; any report fails the test.
    if grep -lE 'AddressSanitizer|LeakSanitizer|runtime error:' "$T"/*.err >/dev/null 2>&1; then
        echo "[$ST_TEST] FAIL: sanitizer report:" >&2
        grep -hE -A 20 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/*.err | head -n 60 >&2
        rc=1
    fi
    if [ "$rc" -ne 0 ] || [ "$FAILED" -ne 0 ]; then
        echo "[$ST_TEST] FAIL (files kept in $T)" >&2
        exit 1
    fi
    [ "${STRATA_TEST_KEEP:-0}" = 1 ] || rm -rf "$T"
    echo "[$ST_TEST] PASS: $ST_TEST"
}
trap _lite_cleanup EXIT
