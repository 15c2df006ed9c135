#!/usr/bin/env bash
# check-layers.sh: the scheduler's layer rule, net -> model <- store, read
# from the #include lines (and, for model/, the clock calls) of
# scheduler/model/*, scheduler/store/* and scheduler/net/*.
#
#   model/  includes no store/ or net/ header, libpq, ZeroMQ, protobuf(-c)
#           or strata.pb-c.h (nor st_wire.h or st_curve.h, which carry them),
#           and reads no clock (clock_gettime, time (), gettimeofday, st_now*,
#           st_wall_ms, st_mono_ms/us, st_time.h): time is passed in;
#   store/  includes no net/ header, ZeroMQ or protobuf;
#   net/    includes no store/ header or libpq.
#
# Usage: scripts/check-layers.sh [SOURCE_ROOT]   (default: the repository)
# Prints FILE:LINE: rule for each violation; exits 1 when there is one,
# 2 when SOURCE_ROOT has no scheduler/model, store and net folders.
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
sched="$root/scheduler"
for layer in model store net; do
    if [ ! -d "$sched/$layer" ]; then
        echo "check-layers: $sched/$layer: no such folder" >&2
        exit 2
    fi
done

# The headers each layer owns, by base name (a layer may include its own).
headers_of () {
    local h names=" "
    for h in "$sched/$1"/*.h; do
        [ -e "$h" ] && names+="${h##*/} "
    done
    printf '%s' "$names"
}
model_h=$(headers_of model)
store_h=$(headers_of store)
net_h=$(headers_of net)

bad=0
report () {
    # $1: file, $2: line number, $3: rule
    echo "${1#"$root"/}:$2: $3"
    bad=1
}

# Lines "N:#include <x>" or "N:#include "x"" of a file, as "N x".
includes_of () {
    grep -n -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"][^>"]+[>"]' "$1" \
        | sed -E 's/^([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]([^>"]+)[>"].*/\1 \2/'
}

is_one_of () {
    # $1: a header path ("store/store.h" or "store.h"); $2: " base names "
    [[ "$2" == *" ${1##*/} "* ]]
}

names_layer () {
    # $1: included path, $2: layer name, $3: that layer's headers
    case "$1" in
        "$2"/* | */"$2"/*) return 0 ;;
    esac
    is_one_of "$1" "$3"
}

is_protobuf () {
    case "$1" in
        strata.pb-c.h | */strata.pb-c.h | *.pb-c.h | protobuf-c/* | google/protobuf/*) return 0 ;;
    esac
    return 1
}

is_zmq () {
    case "$1" in
        zmq.h | zmq_utils.h | czmq.h) return 0 ;;
    esac
    return 1
}

is_pq () {
    case "$1" in
        libpq-fe.h | libpq/* | postgresql/* | libpq-events.h) return 0 ;;
    esac
    return 1
}

for f in "$sched"/model/*.[ch]; do
    [ -e "$f" ] || continue
    while read -r n inc; do
        [ -n "$n" ] || continue
        if names_layer "$inc" store "$store_h"; then
            report "$f" "$n" "model/ includes a store/ header ($inc): the rule is net -> model <- store"
        elif names_layer "$inc" net "$net_h"; then
            report "$f" "$n" "model/ includes a net/ header ($inc): the rule is net -> model <- store"
        elif is_pq "$inc"; then
            report "$f" "$n" "model/ includes libpq ($inc): SQL belongs in store/"
        elif is_zmq "$inc"; then
            report "$f" "$n" "model/ includes ZeroMQ ($inc): sockets belong in net/"
        elif is_protobuf "$inc"; then
            report "$f" "$n" "model/ includes protobuf ($inc): messages are decoded in net/"
        elif [ "$inc" = st_wire.h ] || [ "$inc" = st_curve.h ]; then
            report "$f" "$n" "model/ includes $inc, which carries ZeroMQ/protobuf: net/ only"
        elif [ "$inc" = st_time.h ] || [ "$inc" = sys/time.h ]; then
            report "$f" "$n" "model/ includes a clock header ($inc): the loop passes the time in (st__model_clock)"
        fi
    done < <(includes_of "$f")
    # Clock calls, in the code with its comments blanked (line numbers kept).
    while IFS=: read -r n text; do
        [ -n "$n" ] || continue
        report "$f" "$n" "model/ reads the clock (${text}...): the loop passes the time in (st__model_clock)"
    done < <(perl -0777 -pe 's{/\*.*?\*/}{ (my $c = $&) =~ s/[^\n]//g; $c }gse; s{//[^\n]*}{}g' "$f" \
        | grep -n -o -E '\b(clock_gettime|gettimeofday|st_now[a-z_]*|st_wall_ms|st_mono_ms|st_mono_us)[[:space:]]*\(|\btime[[:space:]]*\(')
done

for f in "$sched"/store/*.[ch]; do
    [ -e "$f" ] || continue
    while read -r n inc; do
        [ -n "$n" ] || continue
        if names_layer "$inc" net "$net_h"; then
            report "$f" "$n" "store/ includes a net/ header ($inc): the rule is net -> model <- store"
        elif is_zmq "$inc"; then
            report "$f" "$n" "store/ includes ZeroMQ ($inc): sockets belong in net/"
        elif is_protobuf "$inc" || [ "$inc" = st_wire.h ]; then
            report "$f" "$n" "store/ includes protobuf ($inc): messages belong in net/"
        fi
    done < <(includes_of "$f")
done

for f in "$sched"/net/*.[ch]; do
    [ -e "$f" ] || continue
    while read -r n inc; do
        [ -n "$n" ] || continue
        if names_layer "$inc" store "$store_h"; then
            report "$f" "$n" "net/ includes a store/ header ($inc): the rule is net -> model <- store"
        elif is_pq "$inc"; then
            report "$f" "$n" "net/ includes libpq ($inc): SQL belongs in store/"
        fi
    done < <(includes_of "$f")
done

if [ "$bad" -ne 0 ]; then
    echo "check-layers: the scheduler's layer rule is broken (see scheduler/sched.h)" >&2
    exit 1
fi
echo "check-layers: scheduler/model, store and net keep net -> model <- store"
exit 0
