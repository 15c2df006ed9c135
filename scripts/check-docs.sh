#!/usr/bin/env bash
# check-docs.sh: the documentation's links stay inside the repository and resolve.
#
# For README.md and every docs/**/*.md: each Markdown link [text](target) outside
# code blocks and code spans must be relative, name a file or folder that exists in
# the repository (never above its root), and, when it has a #anchor, a heading of
# that file (GitHub's anchor rules: lower case, punctuation dropped, spaces to -,
# -1, -2 ... for repeated headings). No http:// or https:// may appear anywhere in
# those files, links or text, except on a line listed in ALLOW below (attribution
# of a trace or a licence, if one ever needs its address); and a path written in a
# code span that climbs with ".." (`../shared/X.md`) must name a file of the repository.
#
# Usage: scripts/check-docs.sh [FILE.md ...]   (default: README.md docs/**/*.md)
# Exit status: 0 all good, 1 a problem (each printed as FILE:LINE: what), 2 usage.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if ! command -v python3 >/dev/null 2>&1; then
    echo "check-docs.sh: python3 is needed" >&2
    exit 2
fi

exec python3 - "$@" <<'PY'
import os, re, sys

# Lines (exact text, stripped) that may carry an http(s) address: attribution only.
ALLOW = set()

root = os.getcwd()
files = sys.argv[1:]
if not files:
    files = ["README.md"]
    for d, _, names in os.walk("docs"):
        files += [os.path.join(d, n) for n in sorted(names) if n.endswith(".md")]
files = sorted(set(os.path.normpath(f) for f in files))

problems = []

def slug(text):
    text = re.sub(r"`([^`]*)`", r"\1", text)                  # code spans keep their text
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)      # links keep their text
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)                     # drop punctuation (keeps _ and -)
    return text.replace(" ", "-")

def lines_outside_code(path):
    """(line number, text) of the lines outside fenced code blocks."""
    fence = None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = re.match(r"^\s*(```+|~~~+)", line)
            if m:
                mark = m.group(1)[0] * 3
                if fence is None:
                    fence = mark
                elif mark == fence:
                    fence = None
                continue
            if fence is None:
                yield n, line.rstrip("\n")

anchors_cache = {}
def anchors(path):
    if path not in anchors_cache:
        seen = {}
        out = set()
        for _, line in lines_outside_code(path):
            m = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
            if not m:
                continue
            s = slug(m.group(2))
            if s in seen:
                seen[s] += 1
                out.add("%s-%d" % (s, seen[s]))
            else:
                seen[s] = 0
                out.add(s)
        anchors_cache[path] = out
    return anchors_cache[path]

link_re = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")

for path in files:
    if not os.path.isfile(path):
        problems.append("%s: no such file" % path)
        continue
    # http(s) anywhere, code blocks included.
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if re.search(r"https?://", line) and line.strip() not in ALLOW:
                problems.append("%s:%d: address outside the repository: %s" % (path, n, line.strip()))
    for n, line in lines_outside_code(path):
        # A path written as text that climbs with ".." must still name a file of the
        # repository (read from the file's folder or from the root).
        for span in re.findall(r"`([^`\s]*\.\.[^`\s]*)`", line):
            if not re.search(r"(^|/)\.\.(/|$)", span):
                continue
            ok = False
            for base in (os.path.dirname(path), "."):
                dest = os.path.normpath(os.path.join(base, span))
                if not (dest == ".." or dest.startswith(".." + os.sep)) and os.path.exists(dest):
                    ok = True
            if not ok:
                problems.append("%s:%d: path leaves the repository or names nothing in it: %s" % (path, n, span))
        text = re.sub(r"``[^`]*``|`[^`]*`", "", line)           # links inside code spans are text
        for m in link_re.finditer(text):
            target = m.group(1)
            if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                if target.startswith(("http:", "https:")):
                    continue                                     # reported above
                problems.append("%s:%d: link is not a relative path: (%s)" % (path, n, target))
                continue
            file_part, _, anchor = target.partition("#")
            if file_part:
                dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part))
                if dest == ".." or dest.startswith(".." + os.sep) or os.path.isabs(file_part):
                    problems.append("%s:%d: link leaves the repository: (%s)" % (path, n, target))
                    continue
                if not os.path.exists(dest):
                    problems.append("%s:%d: link to a missing file: (%s)" % (path, n, target))
                    continue
            else:
                dest = path
            if anchor:
                if not dest.endswith(".md") or os.path.isdir(dest):
                    problems.append("%s:%d: anchor on a file that is not Markdown: (%s)" % (path, n, target))
                elif anchor not in anchors(dest):
                    problems.append("%s:%d: no heading for anchor #%s in %s" % (path, n, anchor, dest))

for p in problems:
    print(p)
if problems:
    print("check-docs: %d problem(s) in %d file(s) checked" % (len(problems), len(files)), file=sys.stderr)
    sys.exit(1)
print("check-docs: %d file(s), links and anchors resolve, no outside addresses" % len(files))
PY
