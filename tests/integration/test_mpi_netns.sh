#!/usr/bin/env bash
# test_mpi_netns: an mpirun-launched gang over two nodes whose workers live in two
# separate network namespaces, joined to the scheduler by a bridge, as two machines
# on one network would be:
#   - each worker runs inside its own namespace, which has only its own address;
#   - rank 0's worker runs mpirun; Open MPI's daemon on the other node is started
#     through strata-rsh -> worker -> scheduler -> that node's worker, and connects
#     back to mpirun across the bridge;
#   - an MPI program (libstrata-collective's check: sums and averages of up to 1 Mi
#     floats, compared exactly) runs its allreduces between the two namespaces.
# Skipped, saying why, where network namespaces cannot be made (not root, no `ip`).
. "$(dirname "$0")/lib.sh"

command -v ip > /dev/null || skip "no ip(8): network namespaces not available"
[ "$(id -u)" = 0 ] || skip "network namespaces need root"

N=$(( $$ % 200 + 20 ))
NET=10.213.$N
BR=stbr$N
NS_A=strata-$N-a
NS_B=strata-$N-b

netns_cleanup () {
    ip netns del "$NS_A" 2> /dev/null
    ip netns del "$NS_B" 2> /dev/null
    ip link del "$BR" 2> /dev/null
    true
}
ST_CLEANUP_HOOKS+=(netns_cleanup)

netns_make () {   # NS HOSTPART
    local ns=$1 host=$2 veth=st${N}$2
    ip netns add "$ns" || return 1
    ip link add "$veth" type veth peer name "${veth}p" || return 1
    ip link set "${veth}p" netns "$ns" || return 1
    ip link set "$veth" master "$BR" up || return 1
    ip netns exec "$ns" ip addr add "$NET.$host/24" dev "${veth}p" || return 1
    ip netns exec "$ns" ip link set "${veth}p" up || return 1
    ip netns exec "$ns" ip link set lo up || return 1
}

if ! { ip link add "$BR" type bridge && ip addr add "$NET.1/24" dev "$BR" && ip link set "$BR" up \
        && netns_make "$NS_A" 11 && netns_make "$NS_B" 12; } 2> "$T/netns.err"; then
    skip "cannot make network namespaces here: $(head -c 300 "$T/netns.err")"
fi
ok "two network namespaces: $NET.11 and $NET.12 on bridge $BR ($NET.1)"

port=$(free_port)
start_scheduler --insecure --worker-endpoint "tcp://$NET.1:$port"   # a bridge address without CURVE
ST_WORKER_EP=tcp://$NET.1:$port

start_ns_worker () {   # NAME NS
    mkdir -p "$T/$1"
    _st_spawn "$1" ip netns exec "$2" "$ST_BIN/strata-worker" --scheduler "$ST_WORKER_EP" --node "$1" \
        --state-dir "$T/$1" --heartbeat-interval 200ms --scheduler-timeout 2s --cpus 1 --memory 2G
    wait_node_state "$1" UP 30
    info "worker $1 up in namespace $2"
}
start_ns_worker nodea "$NS_A"
start_ns_worker nodeb "$NS_B"

# Each worker really lives in its namespace, and each namespace has only its own address.
assert_eq "$(ip netns identify "$(daemon_pid nodea)")" "$NS_A" "namespace of nodea's worker"
assert_eq "$(ip netns identify "$(daemon_pid nodeb)")" "$NS_B" "namespace of nodeb's worker"
check "namespace A does not have B's address" sh -c "! ip netns exec '$NS_A' ip -o addr show | grep -q '$NET.12/'"

info "a 2-rank MPI program over the two namespaces"
cat > "$T/mpi.yaml" <<EOF
name: netns-mpi
kind: command
launcher: mpirun
command: [$ST_BIN/collective_check, --backend, mpi, allreduce]
resources: {ranks: 2, cpus_per_rank: 1}
time_limit: 2m
EOF
j=$(submit_job "$T/mpi.yaml")
wait_job_state "$j" SUCCEEDED 120
n0=$(jq -r '.tasks[] | select(.index == 0) | .node' <<< "$(job_json "$j")")
n1=$(jq -r '.tasks[] | select(.index == 1) | .node' <<< "$(job_json "$j")")
[ "$n0" != "$n1" ] || fail "both ranks on $n0"
check "the held rank on $n1 ran Open MPI's daemon" grep -q "orted" "$T/$n1.log"
out=$(cat "$T/$n0/logs/$j/0.1.stdout")
info "rank 0's output: $(head -c 600 <<< "$out")"
for r in 0 1; do
    grep -q "^rank $r: allreduce ok" <<< "$out" || fail "rank $r's allreduce over the bridge: $out"
done
ok "MPI over two network namespaces: $n0 ran mpirun, $n1 ran the daemon"
pass
