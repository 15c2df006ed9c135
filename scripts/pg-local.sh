#!/usr/bin/env bash
# pg-local.sh: a private PostgreSQL 15 server in a folder, for the demo and the tests.
#
#   pg-local.sh start DIR [PORT] [--fast] [--dbname NAME]
#       Initialises DIR (first time only) and starts the server on 127.0.0.1:PORT and on a
#       unix socket in DIR. Without PORT it reuses DIR/port when that port is still free,
#       else picks a free one; the port is written to DIR/port. Creates database NAME
#       (default "strata") when it is missing. Already running: prints the same and exits 0.
#       --fast turns fsync, synchronous_commit and full_page_writes off: only for throwaway
#       servers whose durability nothing measures (the server itself is never crashed).
#   pg-local.sh stop DIR [--immediate]      fast shutdown (or immediate); not running: ok
#   pg-local.sh status DIR                  exit 0 when running (and prints the variables)
#   pg-local.sh env DIR                     prints the variables (server must be running)
#   pg-local.sh destroy DIR                 immediate stop, then removes DIR
#
# stdout carries only shell assignments, so `eval "$(scripts/pg-local.sh start DIR)"` works:
#   export STRATA_PGHOST=127.0.0.1 STRATA_PGPORT=5433 STRATA_PGSOCKET=DIR STRATA_PGUSER=postgres
#   export STRATA_DATABASE='host=127.0.0.1 port=5433 user=postgres dbname=strata'
# Progress and errors go to stderr.
#
# The superuser is always named `postgres` with trust authentication on 127.0.0.1 and the
# socket only: never point this at a port reachable from other machines' users you do not trust.
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` system
# user (runuser); when that user cannot reach DIR (e.g. DIR is under /root), the cluster
# lives in /var/tmp/strata-pg-<hash of DIR> and DIR/location names it.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PROG=pg-local

s_die ()  { echo "$PROG: error: $*" >&2; exit 1; }
s_info () { echo "$PROG: $*" >&2; }

s_usage () {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

# Runs a command as the server's owner.
s_as_owner () {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

s_free_port () {
    local p
    if command -v /usr/bin/python3 >/dev/null 2>&1; then
        /usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
        return
    fi
    for p in $(shuf -i 20000-60000 -n 50); do
        if ! s_port_busy "$p"; then echo "$p"; return; fi
    done
    s_die "no free port found"
}

s_port_busy () {
    ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}

# Sets CLUSTER (the folder that holds data/, server.log and the socket) for DIR.
s_resolve () {
    local dir=$1
    if [ -f "$dir/location" ]; then
        CLUSTER=$(cat "$dir/location")
        return
    fi
    CLUSTER=$dir
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || s_die "user 'postgres' is missing (install postgresql-15)"
        # DIR is dedicated to the server: hand it to postgres when postgres can reach its
        # parent (a mktemp -d folder is 0700 root); otherwise fall back to /var/tmp.
        if ! runuser -u postgres -- test -x "$dir" 2>/dev/null; then
            if runuser -u postgres -- test -x "$(dirname "$dir")" 2>/dev/null; then
                chown postgres:postgres "$dir"
            else
                CLUSTER=/var/tmp/strata-pg-$(printf '%s' "$dir" | md5sum | cut -c1-12)
            fi
        fi
    fi
    # A unix socket path is limited to 107 bytes; ".s.PGSQL.NNNNN" takes 15 of them.
    if [ ${#CLUSTER} -gt 90 ]; then
        CLUSTER=/tmp/strata-pg-$(printf '%s' "$dir" | md5sum | cut -c1-12)
    fi
}

s_running () {
    [ -f "$CLUSTER/data/PG_VERSION" ] || return 1
    s_as_owner "$PGBIN/pg_ctl" -D "$CLUSTER/data" status >/dev/null 2>&1
}

# The port of the running server, from postmaster.pid (line 4).
s_running_port () {
    sed -n 4p "$CLUSTER/data/postmaster.pid" 2>/dev/null
}

s_print_env () {
    local port=$1 db=$2
    echo "export STRATA_PGHOST=127.0.0.1 STRATA_PGPORT=$port STRATA_PGSOCKET=$CLUSTER STRATA_PGUSER=postgres"
    echo "export STRATA_DATABASE='host=127.0.0.1 port=$port user=postgres dbname=$db'"
}

s_psql () {
    local port=$1; shift
    psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"
}

s_ensure_db () {
    local port=$1 db=$2
    [[ $db =~ ^[A-Za-z0-9_]+$ ]] || s_die "database name must match [A-Za-z0-9_]+: $db"
    if [ "$(s_psql "$port" -tAc "select 1 from pg_database where datname = '$db'")" != 1 ]; then
        s_psql "$port" -c "create database \"$db\"" >/dev/null
        s_info "created database $db"
    fi
}

s_start () {
    local dir="" port="" fast=0 db=strata
    while [ $# -gt 0 ]; do
        case $1 in
            --fast) fast=1 ;;
            --dbname) db=${2:?--dbname needs a value}; shift ;;
            --dbname=*) db=${1#--dbname=} ;;
            -*) s_die "unknown option $1" ;;
            *) if [ -z "$dir" ]; then dir=$1; elif [ -z "$port" ]; then port=$1; else s_usage; fi ;;
        esac
        shift
    done
    [ -n "$dir" ] || s_usage
    [ -x "$PGBIN/initdb" ] || s_die "$PGBIN/initdb not found (run scripts/install-deps.sh)"
    [ -z "$port" ] || [[ $port =~ ^[0-9]+$ ]] || s_die "bad port: $port"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    s_resolve "$dir"

    if s_running; then
        local p; p=$(s_running_port)
        if [ -n "$port" ] && [ "$port" != "$p" ]; then
            s_die "already running in $CLUSTER on port $p (asked for $port)"
        fi
        s_info "already running in $CLUSTER on port $p"
        s_ensure_db "$p" "$db"
        s_print_env "$p" "$db"
        return 0
    fi

    if [ "$CLUSTER" != "$dir" ] && [ ! -f "$dir/location" ]; then
        echo "$CLUSTER" > "$dir/location"
        s_info "postgres cannot reach $dir; the cluster lives in $CLUSTER"
    fi
    mkdir -p "$CLUSTER"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$CLUSTER"
    fi
    chmod 700 "$CLUSTER"

    if [ ! -f "$CLUSTER/data/PG_VERSION" ]; then
        s_info "initialising $CLUSTER/data"
        # --no-sync only skips flushing the freshly created files: a crash during initdb
        # leaves a folder we would re-create anyway. The running server keeps fsync on.
        s_as_owner "$PGBIN/initdb" -D "$CLUSTER/data" -U postgres -A trust -E UTF8 \
            --locale=C.UTF-8 --no-sync >"$CLUSTER/initdb.log" 2>&1 \
            || { cat "$CLUSTER/initdb.log" >&2; s_die "initdb failed"; }
    fi

    if [ -z "$port" ] && [ -f "$dir/port" ]; then
        port=$(cat "$dir/port")
        if ! [[ $port =~ ^[0-9]+$ ]] || s_port_busy "$port"; then port=""; fi
    fi
    [ -n "$port" ] || port=$(s_free_port)
    if s_port_busy "$port"; then s_die "port $port is in use"; fi

    local opts="-p $port -k $CLUSTER -c listen_addresses=127.0.0.1 -c max_connections=200"
    opts+=" -c shared_buffers=64MB -c log_min_messages=warning"
    if [ $fast -eq 1 ]; then
        opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    s_info "starting PostgreSQL on 127.0.0.1:$port (log: $CLUSTER/server.log)"
    if ! s_as_owner "$PGBIN/pg_ctl" -D "$CLUSTER/data" -l "$CLUSTER/server.log" -w -t 30 \
            -o "$opts" start >/dev/null; then
        tail -n 20 "$CLUSTER/server.log" >&2 || true
        s_die "server did not start"
    fi
    echo "$port" > "$dir/port"
    s_ensure_db "$port" "$db"
    s_print_env "$port" "$db"
}

s_stop () {
    local dir=${1:-} mode=fast
    [ -n "$dir" ] || s_usage
    [ "${2:-}" = "--immediate" ] && mode=immediate
    [ -d "$dir" ] || { s_info "$dir does not exist; nothing to stop"; return 0; }
    dir=$(cd "$dir" && pwd -P)
    s_resolve "$dir"
    if ! s_running; then
        s_info "not running ($CLUSTER)"
        return 0
    fi
    if ! s_as_owner "$PGBIN/pg_ctl" -D "$CLUSTER/data" -m "$mode" -w -t 20 stop >/dev/null; then
        s_info "$mode shutdown failed; trying immediate"
        s_as_owner "$PGBIN/pg_ctl" -D "$CLUSTER/data" -m immediate -w -t 20 stop >/dev/null
    fi
    s_info "stopped ($CLUSTER)"
}

s_status () {
    local dir=${1:-}
    [ -n "$dir" ] || s_usage
    [ -d "$dir" ] || { s_info "$dir does not exist"; return 3; }
    dir=$(cd "$dir" && pwd -P)
    s_resolve "$dir"
    if s_running; then
        s_info "running in $CLUSTER on port $(s_running_port)"
        s_print_env "$(s_running_port)" strata
        return 0
    fi
    s_info "not running ($CLUSTER)"
    return 3
}

s_destroy () {
    local dir=${1:-}
    [ -n "$dir" ] || s_usage
    [ -d "$dir" ] || return 0
    s_stop "$dir" --immediate
    dir=$(cd "$dir" && pwd -P)
    s_resolve "$dir"
    [ "$CLUSTER" != "$dir" ] && rm -rf "$CLUSTER"
    rm -rf "$dir"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
    start) s_start "$@" ;;
    stop) s_stop "$@" ;;
    status) s_status "$@" ;;
    env) s_status "$@" 2>/dev/null ;;
    destroy) s_destroy "$@" ;;
    -h|--help|help) s_usage ;;
    *) s_usage ;;
esac
