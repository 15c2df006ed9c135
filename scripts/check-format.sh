#!/usr/bin/env bash
# check-format.sh: checks that Strata's C, headers and CUDA sources follow .clang-format.
#
#   scripts/check-format.sh [--fix | --diff] [FILE...]
#
#   Without FILE: every tracked *.c, *.h and *.cu file (git ls-files), except generated code
#   (*.pb-c.c, *.pb-c.h; protobuf-c output lives in the build tree anyway) and anything under
#   build*/. Prints each file that clang-format would change.
#
#   --fix     rewrites the offending files in place instead (clang-format -i)
#   --diff    also prints what would change, as a unified diff
#
#   The format is clang-format 14's (Debian 12): CLANG_FORMAT names another binary; a
#   different major version may disagree on a few lines, so it is reported.
#
# Exit status: 0 when every file is formatted (or --fix fixed them), 1 when some are not,
# 2 for a usage error or a missing clang-format.
set -euo pipefail

cd "$(dirname "$0")/.."

usage () { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit "${1:-2}"; }

mode=check
files=()
while [ $# -gt 0 ]; do
    case $1 in
        --fix) mode=fix ;;
        --diff) mode=diff ;;
        -h|--help) usage 0 ;;
        -*) echo "check-format.sh: unknown option: $1" >&2; usage 2 ;;
        *) files+=("$1") ;;
    esac
    shift
done

if [ -z "${CLANG_FORMAT:-}" ]; then
    if command -v clang-format-14 >/dev/null; then CLANG_FORMAT=clang-format-14; else CLANG_FORMAT=clang-format; fi
fi
command -v "$CLANG_FORMAT" >/dev/null \
    || { echo "check-format.sh: $CLANG_FORMAT not found (scripts/install-deps.sh installs clang-format)" >&2; exit 2; }
[ -f .clang-format ] || { echo "check-format.sh: no .clang-format at the repository root" >&2; exit 2; }
version=$("$CLANG_FORMAT" --version | sed -n 's/.*version \([0-9][0-9]*\)\..*/\1/p')
[ "$version" = 14 ] \
    || echo "check-format.sh: note: $CLANG_FORMAT is version ${version:-unknown}, the format is clang-format 14's" >&2

if [ ${#files[@]} -eq 0 ]; then
    while IFS= read -r -d '' f; do
        case $f in
            build*/*|*.pb-c.c|*.pb-c.h) continue ;;
        esac
        [ -f "$f" ] && files+=("$f")
    done < <(git ls-files -z -- '*.c' '*.h' '*.cu')
fi
[ ${#files[@]} -gt 0 ] || { echo "check-format.sh: no files to check" >&2; exit 2; }

# One clang-format process for all files (it reports each file's first violation); then per file.
fmt_rc=0
report=$("$CLANG_FORMAT" --style=file --dry-run --Werror --ferror-limit=1 "${files[@]}" 2>&1) || fmt_rc=$?
bad=()
while IFS= read -r f; do
    [ -n "$f" ] && bad+=("$f")
done < <(printf '%s\n' "$report" \
             | sed -n 's/^\(.*\):[0-9][0-9]*:[0-9][0-9]*: error: code should be clang-formatted.*/\1/p' | sort -u)
if [ $fmt_rc -ne 0 ] && [ ${#bad[@]} -eq 0 ]; then
    printf '%s\n' "$report" | tail -20 >&2
    echo "check-format.sh: $CLANG_FORMAT failed (exit $fmt_rc)" >&2
    exit 2
fi
for f in ${bad[@]+"${bad[@]}"}; do
    case $mode in
        fix) "$CLANG_FORMAT" --style=file -i "$f" ;;
        diff) "$CLANG_FORMAT" --style=file "$f" | diff -u --label "a/$f" --label "b/$f" "$f" - || true ;;
    esac
done

if [ ${#bad[@]} -eq 0 ]; then
    echo "check-format.sh: ${#files[@]} files formatted"
    exit 0
fi
if [ $mode = fix ]; then
    printf 'check-format.sh: reformatted %s\n' "${bad[@]}"
    echo "check-format.sh: reformatted ${#bad[@]} of ${#files[@]} files"
    exit 0
fi
printf 'check-format.sh: not formatted: %s\n' "${bad[@]}" >&2
echo "check-format.sh: ${#bad[@]} of ${#files[@]} files need formatting; run scripts/check-format.sh --fix" >&2
exit 1
