#!/usr/bin/env bash
# install-task-user.sh: creates the unprivileged users strata-worker runs tasks as.
#
#   scripts/install-task-user.sh [USER...]     (default: strata-task)
#
# Each USER becomes a system user (no password, no login shell, home /nonexistent) with its
# own group, unless it exists. A worker running as root refuses to start while its task user
# (--task-user, default strata-task, and each --tenant-user) is missing. Uses sudo when not root.
# Exit status: 0 when every user exists afterwards, 1 otherwise.
set -euo pipefail

users=("$@")
[ ${#users[@]} -gt 0 ] || users=(strata-task)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
nologin=/usr/sbin/nologin
[ -x "$nologin" ] || nologin=/bin/false

for u in "${users[@]}"; do
    if id -u "$u" >/dev/null 2>&1; then
        continue
    fi
    if [ -n "$SUDO" ] && ! command -v sudo >/dev/null; then
        echo "install-task-user: not root and no sudo; create $u as root" >&2
        exit 1
    fi
    $SUDO useradd --system --user-group --no-create-home --home-dir /nonexistent --shell "$nologin" "$u"
    echo "install-task-user: created system user $u (uid $(id -u "$u"))"
done
