#!/usr/bin/env bash
# test_tenants: who may do what, against a real scheduler, worker and PostgreSQL with
# users and tokens (strata admin user add / token create; the admin from
# --bootstrap-token-file). Tenant research has a viewer (vic), two submitters (alice, also
# in tenant shared, and bob) and an operator (olga); tenant marketing a submitter (mallory).
# For each request (submit, jobs, show, explain, logs, cancel, models):
#   - what the role allows works, and what it does not is refused naming the role needed;
#   - another tenant's job answers exactly as a job that does not exist: the same error
#     code, message and hint on the wire (stprobe.py ask), the job id aside;
#   - a forged tenant is refused naming it; a spec without a tenant goes to the user's first;
#   - env values are shown to the submitter and admins only (JobInfo.env_hidden);
#   - fine-tuned model versions (and their checkpoints) are listed only inside their tenant,
#     the cluster file's model families to everyone.
# The jobs that must stay live wait for a file the test creates, never on timings.
. "$(dirname "$0")/lib.sh"

# No token file of the machine's user may leak in: the test chooses every token.
export HOME=$T/home
mkdir -p "$HOME" "$T/store"
cat > "$T/cluster.yaml" <<EOF
regions: [eu]
pools:
  - {name: p1, site: onprem, region: eu, jurisdiction: EU, storage_root: $T/store}
models:
  - {name: llama, variants: [{name: llama-8b, jurisdictions: [EU]}]}
EOF
umask 077
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$T/admin.token"
umask 022
STRATA_TOKEN=$(cat "$T/admin.token")
export STRATA_TOKEN                     # the admin's: lib.sh's own `st nodes` and the set-up
start_scheduler --cluster "$T/cluster.yaml" --bootstrap-token-file "$T/admin.token"
start_worker w1 --pool p1 --cpus 16 --memory 8G

adduser () {
    local name=$1; shift
    st admin user add "$name" "$@" >/dev/null || fail "strata admin user add $name $*"
}
adduser vic --role viewer --tenant research
adduser alice --role submitter --tenant research --tenant shared
adduser bob --role submitter --tenant research
adduser olga --role operator --tenant research
adduser mallory --role submitter --tenant marketing
declare -A TOK
for u in vic alice bob olga mallory; do
    TOK[$u]=$(st admin token create "$u") || fail "strata admin token create $u"
    [ -n "${TOK[$u]}" ] || fail "no token printed for $u"
done
TOK[admin]=$STRATA_TOKEN

# as USER ARGS...: the CLI with USER's token.
as () { local u=$1; shift; st --token "${TOK[$u]}" "$@"; }

# refused USER ARGS...: the request must fail; prints the CLI's stderr.
refused () {
    local err rc=0
    err=$(as "$@" 2>&1 >/dev/null) || rc=$?
    [ $rc -ne 0 ] || fail "$1 may not: strata ${*:2}"
    echo "$err"
}

# wire USER WHAT ID: the reply to one request about job ID (get, cancel, logs, explain)
# with USER's token, as code, message and hint with the id written N.
wire () {
    "$ST_PY" "$ST_PROBE" ask --client "$ST_CLIENT_EP" --auth "${TOK[$1]}" "$2" "$3" \
        | jq -c --arg id "$3" '{body, code, message: ((.message // "") | gsub("\\b" + $id + "\\b"; "N")),
                                 hint: ((.hint // "") | gsub("\\b" + $id + "\\b"; "N"))}'
}

# same_as_missing USER WHAT ID: USER's request about ID reads exactly as one about an id
# that does not exist.
MISSING=987654321
same_as_missing () {
    local seen missing
    seen=$(wire "$1" "$2" "$3")
    missing=$(wire "$1" "$2" "$MISSING")
    grep -q '"body":"error"' <<< "$missing" || fail "$2 of a missing job is not an error: $missing"
    [ "$seen" = "$missing" ] || fail "$1's $2 of job $3 differs from a missing job's: $seen vs $missing"
    ok "$1's $2 of another tenant's job $3 reads as a missing job: $seen"
}

ids () { jq -r '[.[].id] | sort | map(tostring) | join(",")'; }
idlist () { printf '%s\n' "$@" | sort -n | paste -sd,; }

# -- submit ---------------------------------------------------------------------------
cat > "$T/a1.yaml" <<EOF
name: a1
env: {SECRET: s3cret}
command: [sh, -c, 'echo hello-from-a1']
EOF
a1=$(STRATA_TOKEN=${TOK[alice]} submit_job "$T/a1.yaml")
assert_eq "$(as alice show "$a1" --json | jq -r .tenant)" research "tenant of a spec without one (alice's first)"
assert_eq "$(as alice show "$a1" --json | jq -r .submitted_by)" alice "submitted_by"
assert_eq "$(sql "SELECT submitted_by FROM jobs WHERE id = $a1")" alice "jobs.submitted_by"
wait_job_state "$a1" SUCCEEDED 30

waiter=(sh -c "while [ ! -e '$T/go' ]; do sleep 0.1; done")
a2=$(STRATA_TOKEN=${TOK[alice]} submit_job --name a2 -- "${waiter[@]}")
s1=$(STRATA_TOKEN=${TOK[alice]} submit_job --tenant shared --name s1 -- true)
assert_eq "$(as alice show "$s1" --json | jq -r .tenant)" shared "tenant alice named and belongs to"
b1=$(STRATA_TOKEN=${TOK[bob]} submit_job --name b1 -- "${waiter[@]}")
o1=$(STRATA_TOKEN=${TOK[olga]} submit_job --name o1 -- true)
m1=$(STRATA_TOKEN=${TOK[mallory]} submit_job --name m1 -- "${waiter[@]}")
assert_eq "$(as mallory show "$m1" --json | jq -r .tenant)" marketing "tenant of mallory's job"
x1=$(submit_job --tenant marketing --name x1 -- true)
ok "the admin submits to any tenant (job $x1)"

err=$(refused vic submit -- true)
grep -qF "needs role submitter" <<< "$err" || fail "a viewer's submit: $err"
ok "a viewer may not submit: $(head -1 <<< "$err")"
err=$(refused alice submit --tenant marketing -- true)
grep -qF "tenant marketing" <<< "$err" || fail "a forged tenant is not named: $err"
ok "a forged tenant is refused: $(head -1 <<< "$err")"
cat > "$T/forged.yaml" <<EOF
tenant: marketing
command: ["true"]
EOF
err=$(refused alice submit "$T/forged.yaml")
grep -qF "tenant marketing" <<< "$err" || fail "a forged tenant in a spec file is not named: $err"
assert_eq "$(sql "SELECT count(*) FROM jobs WHERE tenant = 'marketing' AND submitted_by = 'alice'")" 0 \
    "jobs of alice in marketing"

# -- jobs -------------------------------------------------------------------------------
research=$(idlist "$a1" "$a2" "$b1" "$o1")
assert_eq "$(as vic jobs --all --json | jq -r '[.[] | select(.tenant == "research") | .id] | sort | map(tostring) | join(",")')" \
    "$research" "research jobs vic lists"
assert_eq "$(as vic jobs --all --json | jq -r '[.[] | select(.tenant != "research")] | length')" 0 \
    "jobs of other tenants vic lists"
assert_eq "$(as mallory jobs --all --json | ids)" "$(idlist "$m1" "$x1")" \
    "jobs mallory lists"
assert_eq "$(as alice jobs --all --json | jq -r '[.[].tenant] | unique | join(",")')" "research,shared" \
    "tenants of the jobs alice lists"
assert_eq "$(as admin jobs --all --json | jq -r '[.[].tenant] | unique | join(",")')" "marketing,research,shared" \
    "tenants of the jobs the admin lists"
err=$(refused alice jobs --tenant marketing)
grep -qF "tenant marketing" <<< "$err" || fail "jobs --tenant of another tenant: $err"
ok "jobs --tenant of another tenant is refused: $(head -1 <<< "$err")"

# -- show, and env ------------------------------------------------------------------------
for u in vic bob olga; do
    j=$(as "$u" show "$a1" --json) || fail "$u may see job $a1"
    assert_eq "$(jq -r .env_hidden <<< "$j")" true "env_hidden of job $a1 for $u"
    assert_eq "$(jq -r .spec.env.SECRET <<< "$j")" "(hidden)" "env value of job $a1 for $u"
    as "$u" jobs --all --json | grep -qF s3cret && fail "the env value of job $a1 is in $u's listing"
done
for u in alice admin; do
    j=$(as "$u" show "$a1" --json) || fail "$u may see job $a1"
    assert_eq "$(jq -r .env_hidden <<< "$j")" false "env_hidden of job $a1 for $u"
    assert_eq "$(jq -r .spec.env.SECRET <<< "$j")" s3cret "env value of job $a1 for $u"
done
refused mallory show "$a1" >/dev/null
same_as_missing mallory get "$a1"
same_as_missing vic get "$m1"

# -- explain ------------------------------------------------------------------------------
as vic explain "$a2" >/dev/null || fail "vic may explain job $a2"
refused mallory explain "$a2" >/dev/null
same_as_missing mallory explain "$a2"
same_as_missing mallory explain "$a1"

# -- logs -------------------------------------------------------------------------------
assert_eq "$(as vic logs "$a1")" hello-from-a1 "the log of job $a1 as vic"
refused mallory logs "$a1" >/dev/null
same_as_missing mallory logs "$a1"

# -- cancel -------------------------------------------------------------------------------
err=$(refused vic cancel "$a2")
grep -qF "needs role operator" <<< "$err" || fail "a viewer's cancel of another's job: $err"
ok "a viewer may not cancel: $(head -1 <<< "$err")"
err=$(refused bob cancel "$a2")
grep -qF "needs role operator" <<< "$err" || fail "a submitter's cancel of another's job: $err"
ok "a submitter may not cancel another's job: $(head -1 <<< "$err")"
same_as_missing mallory cancel "$a2"
same_as_missing mallory cancel "$a1"
assert_eq "$(as alice show "$a2" --json | jq -r .cancel_requested)" false "job $a2 after the refused cancels"
as olga cancel "$b1" >/dev/null || fail "an operator cancels any job of its tenants"
wait_job_state "$b1" CANCELLED 30
as alice cancel "$a2" >/dev/null || fail "a submitter cancels its own job"
wait_job_state "$a2" CANCELLED 30
as admin cancel "$m1" >/dev/null || fail "the admin cancels any job"
wait_job_state "$m1" CANCELLED 30

# -- models -------------------------------------------------------------------------------
finetune () {
    local user=$1 model=$2
    cat > "$T/ft-$model.yaml" <<EOF
name: ft-$model
kind: finetune
launcher: direct
output_model: $model
placement: {pool: p1}
command: [sh, -c, 'mkdir -p "\$STRATA_CHECKPOINT_DIR" && echo weights > "\$STRATA_CHECKPOINT_DIR/model.bin"']
EOF
    STRATA_TOKEN=${TOK[$user]} submit_job "$T/ft-$model.yaml"
}
fr=$(finetune alice twin-r)
fm=$(finetune mallory twin-m)
wait_job_state "$fr" SUCCEEDED 30
wait_job_state "$fm" SUCCEEDED 30
tuned () { as "$1" models --json | jq -r '[.[] | select(.fine_tuned == true) | .family] | sort | join(",")'; }
families () { as "$1" models --json | jq -r '[.[] | select(.fine_tuned != true) | .family] | join(",")'; }
assert_eq "$(tuned vic)" twin-r "fine-tuned models vic sees"
assert_eq "$(tuned mallory)" twin-m "fine-tuned models mallory sees"
assert_eq "$(tuned admin)" twin-m,twin-r "fine-tuned models the admin sees"
as vic models --json | grep -qF twin-m && fail "vic sees marketing's model or its checkpoint"
for u in vic mallory admin; do assert_eq "$(families "$u")" llama "model families $u sees"; done

touch "$T/go"
pass
