#!/usr/bin/env bash
# test_pools: the cluster description as users and the database see it.
#   - a scheduler started with --cluster examples/cluster.yaml and workers in two of its
#     pools, plus one in a pool the file does not name;
#   - `strata pools` lists every pool of the file and the extra one (marked implicit),
#     with nodes up/known and GPUs free/total from the workers; `--json` carries the
#     file's attributes, and they are what the pools table in PostgreSQL holds;
#   - a running GPU job lowers its pool's free GPUs;
#   - `strata models` (table and --json) lists the file's registry, the same as the
#     model_families / model_variants tables;
#   - regions and latencies are in the database; a restart with the same file changes
#     nothing there.
. "$(dirname "$0")/lib.sh"

CLUSTER=$ST_SRC/examples/cluster.yaml
[ -f "$CLUSTER" ] || fail "$CLUSTER is missing"

start_scheduler --cluster "$CLUSTER"

info "the description is in the database"
file_pools=$(sql "select string_agg(name, ' ' order by name) from pools where not implicit")
[ -n "$file_pools" ] || fail "no pool from $CLUSTER in the pools table"
read -r -a fp <<< "$file_pools"
[ ${#fp[@]} -ge 2 ] || fail "$CLUSTER names fewer than two pools: $file_pools"
P1=${fp[0]}
P2=${fp[1]}
ok "pools from the file: $file_pools"

info "workers in $P1 (2 GPUs), $P2, and a pool the file does not name"
start_worker g1 --pool "$P1" --cpus 2 --memory 2G --gpus 2 --gpu-type test-gpu
start_worker c1 --pool "$P2" --cpus 1 --memory 1G
start_worker x1 --pool extra-pool --cpus 1 --memory 1G

info "strata pools --json"
pj=$(st pools --json) || fail "strata pools --json failed"
jq -e 'type == "array"' <<< "$pj" >/dev/null || fail "pools --json is not an array: $pj"
for p in "${fp[@]}"; do
    jq -e --arg p "$p" 'any(.[]; .name == $p and .implicit == false)' <<< "$pj" >/dev/null \
        || fail "pool $p of the file is missing from pools --json (or implicit): $pj"
done
ok "every pool of the file is listed, not implicit"
assert_eq "$(jq -r 'map(.name) == (map(.name) | sort)' <<< "$pj")" true "pools --json sorted by name"
assert_eq "$(jq -r '.[] | select(.name == "extra-pool") | "\(.implicit) \(.site) \(.clearance) \(.nodes_up)/\(.nodes)"' <<< "$pj")" \
    "true onprem public 1/1" "the pool only a node names"
assert_eq "$(jq -r --arg p "$P1" '.[] | select(.name == $p) | "\(.nodes_up)/\(.nodes) \(.gpus_free)/\(.gpus)"' <<< "$pj")" \
    "1/1 2/2" "nodes and GPUs of $P1"
assert_eq "$(jq -r --arg p "$P2" '.[] | select(.name == $p) | "\(.nodes_up)/\(.nodes) \(.cpus)"' <<< "$pj")" \
    "1/1 1" "nodes and CPUs of $P2"

info "the JSON and the database agree on every attribute of the file's pools"
for p in "${fp[@]}"; do
    from_json=$(jq -r --arg p "$p" '.[] | select(.name == $p) |
        [.site, (.region // ""), (.jurisdiction // ""), .clearance, .cost_gpu_hour, .cost_cpu_hour, .pue,
         .carbon_g_per_kwh, .gpu_watts, .cpu_watts, (.storage_root // "")] | map(tostring) | join("|")' <<< "$pj")
    from_db=$(sql "select concat_ws('|', site, coalesce(region, ''), coalesce(jurisdiction, ''), clearance,
        cost_gpu_hour, cost_cpu_hour, pue, carbon_g_per_kwh, gpu_watts, cpu_watts, coalesce(storage_root, ''))
        from pools where name = '$p'")
    assert_eq "$from_json" "$from_db" "pool $p: strata pools --json vs the pools table"
done
assert_eq "$(sql "select implicit from pools where name = 'extra-pool'")" t "extra-pool is implicit in the database"

info "strata pools (table)"
table=$(st pools) || fail "strata pools failed"
head -n 1 <<< "$table" | grep -qE '^POOL +SITE +REGION +JURISDICTION +CLEARANCE +\$/GPU-H +\$/CPU-H +PUE +GCO2/KWH +NODES +GPUS$' \
    || fail "unexpected header: $(head -n 1 <<< "$table")"
grep -qE "^$P1 .* 1/1 +2/2$" <<< "$table" || fail "no row for $P1 with 1/1 nodes and 2/2 GPUs: $table"
grep -qE "^extra-pool \* " <<< "$table" || fail "extra-pool is not marked implicit: $table"
grep -q '^\* not in the cluster file' <<< "$table" || fail "no note under the table: $table"
ok "the table shows the pools, their nodes and GPUs"

info "a running GPU job takes a GPU of $P1"
id=$(submit_job --pool "$P1" --gpus 1 -- sleep 30)
wait_job_state "$id" RUNNING 30
assert_eq "$(st pools --json | jq -r --arg p "$P1" '.[] | select(.name == $p) | "\(.gpus_free)/\(.gpus)"')" \
    "1/2" "GPUs of $P1 while job $id runs"
check "strata cancel $id" st cancel "$id"
wait_job_state "$id" CANCELLED 15

info "strata models"
mj=$(st models --json) || fail "strata models --json failed"
from_json=$(jq -r '[.[] | .family as $f | .variants[] | "\($f)/\(.name)=\(.jurisdictions | join(","))"] | join(" ")' <<< "$mj")
from_db=$(sql "select coalesce(string_agg(family || '/' || name || '=' || array_to_string(jurisdictions, ','), ' '
    order by family, position), '') from model_variants")
# The reply lists families in the file's order; compare as sets of lines.
assert_eq "$(tr ' ' '\n' <<< "$from_json" | sort | tr '\n' ' ')" "$(tr ' ' '\n' <<< "$from_db" | sort | tr '\n' ' ')" \
    "strata models --json vs the model_variants table"
assert_eq "$(jq -r 'map(.family) | length' <<< "$mj")" "$(sql "select count(*) from model_families")" \
    "number of model families"
models=$(st models) || fail "strata models failed"
head -n 1 <<< "$models" | grep -qE '^FAMILY +VARIANT +JURISDICTIONS$' || fail "unexpected header: $models"
for v in $(jq -r '.[].variants[].name' <<< "$mj"); do
    grep -qE "(^| )$v( |$)" <<< "$models" || fail "variant $v is missing from strata models: $models"
done
ok "strata models lists every variant ($(jq -r '[.[].variants[]] | length' <<< "$mj"))"

info "regions, latencies, tenants and queues are in the database"
n_regions=$(sql "select count(*) from regions")
ok "$n_regions region(s), $(sql "select count(*) from latency") latency pair(s)"
assert_eq "$(sql "select count(*) from latency l where not exists (select 1 from regions r where r.name = l.from_region)")" \
    0 "every latency row names known regions"
assert_eq "$(sql "select count(*) from pools where region is not null and region not in (select name from regions)
    and not implicit")" 0 "every pool's region is a known region"

# description_hash: one hash over every row the cluster description writes.
description_hash () {
    sql "select md5(string_agg(t, '|' order by t)) from (
        select concat_ws(',', name, site, region, jurisdiction, clearance, cost_gpu_hour, implicit) t from pools
        union all select name from regions
        union all select concat_ws(',', from_region, to_region, ms) from latency
        union all select concat_ws(',', name, family, position, jurisdictions::text, uri) from model_variants
        union all select concat_ws(',', name, weight, gpu_quota) from tenants
        union all select concat_ws(',', name, weight) from queues) x"
}

info "a restart with the same file changes nothing in the description"
before=$(description_hash)
stop_daemon scheduler
restart_scheduler
after=$(description_hash)
assert_eq "$after" "$before" "the description in the database after a restart"
wait_node_state g1 UP 30
assert_eq "$(st pools --json | jq -r --arg p "$P1" '.[] | select(.name == $p) | "\(.nodes_up)/\(.nodes) \(.gpus_free)/\(.gpus)"')" \
    "1/1 2/2" "$P1 after the restart"

pass
