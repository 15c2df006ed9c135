#!/usr/bin/env bash
# planted.sh: scripts/check-layers.sh passes on an untouched copy of the
# scheduler and fails, naming the file and the rule, on each planted
# violation of net -> model <- store. Usage: planted.sh SOURCE_ROOT
set -eu
src=${1:?usage: planted.sh SOURCE_ROOT}
check="$src/scripts/check-layers.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fresh () {
    rm -rf "$tmp/tree"
    mkdir -p "$tmp/tree"
    cp -r "$src/scheduler" "$tmp/tree/"
}

fail () {
    echo "planted: $*" >&2
    exit 1
}

# $1: what is planted; $2: the file:line the check must name; $3: a word of the rule
expect_violation () {
    if bash "$check" "$tmp/tree" > "$tmp/out" 2>&1; then
        cat "$tmp/out" >&2
        fail "$1: check-layers.sh passed"
    fi
    grep -qF -- "$2" "$tmp/out" || { cat "$tmp/out" >&2; fail "$1: the report does not name $2"; }
    grep -qF -- "$3" "$tmp/out" || { cat "$tmp/out" >&2; fail "$1: the report does not say '$3'"; }
    echo "ok: $1 -> $(grep -F -- "$2" "$tmp/out" | head -1)"
}

fresh
bash "$check" "$tmp/tree" > "$tmp/out" 2>&1 || { cat "$tmp/out" >&2; fail "the untouched copy does not pass"; }
echo "ok: the untouched copy passes"

model_file=$(cd "$tmp/tree/scheduler/model" && ls *.c | head -1)
fresh
sed -i '1i #include <libpq-fe.h>' "$tmp/tree/scheduler/model/$model_file"
expect_violation "libpq in model/" "scheduler/model/$model_file:1:" "libpq"

fresh
sed -i '1i #include "net.h"' "$tmp/tree/scheduler/model/$model_file"
expect_violation "a net/ header in model/" "scheduler/model/$model_file:1:" "net/ header"

fresh
sed -i '1i #include <zmq.h>' "$tmp/tree/scheduler/model/$model_file"
expect_violation "ZeroMQ in model/" "scheduler/model/$model_file:1:" "ZeroMQ"

fresh
sed -i '1i #include "strata.pb-c.h"' "$tmp/tree/scheduler/model/$model_file"
expect_violation "protobuf in model/" "scheduler/model/$model_file:1:" "protobuf"

fresh
n=$(wc -l < "$tmp/tree/scheduler/model/$model_file")
printf '/*  time (NULL) in a comment is no clock read  */\nstatic long s_planted (void) { return (long) time (NULL); }\n' \
    >> "$tmp/tree/scheduler/model/$model_file"
expect_violation "a clock read in model/" "scheduler/model/$model_file:$((n + 2)):" "clock"
grep -qF "scheduler/model/$model_file:$((n + 1)):" "$tmp/out" && fail "a comment was taken for a clock read"

store_file=$(cd "$tmp/tree/scheduler/store" && ls *.c | head -1)
fresh
sed -i '1i #include "net/net.h"' "$tmp/tree/scheduler/store/$store_file"
expect_violation "a net/ header in store/" "scheduler/store/$store_file:1:" "net/ header"

net_file=$(cd "$tmp/tree/scheduler/net" && ls *.c | head -1)
fresh
sed -i '1i #include "store.h"' "$tmp/tree/scheduler/net/$net_file"
expect_violation "a store/ header in net/" "scheduler/net/$net_file:1:" "store/ header"

fresh
sed -i '1i #include <libpq-fe.h>' "$tmp/tree/scheduler/net/$net_file"
expect_violation "libpq in net/" "scheduler/net/$net_file:1:" "libpq"
echo "planted: every violation was caught"
