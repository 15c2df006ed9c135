#!/usr/bin/env bash
# test_identity: users, roles, tenants and API tokens against a real scheduler and PostgreSQL.
#   - --bootstrap-token-file refuses a file readable by others and one holding a short
#     token; a good one makes user admin (role admin, tenant default) with that token;
#   - a request with no token, a malformed token (garbage, bytes that are not UTF-8) or
#     an unknown token is refused with ERROR_UNAUTHENTICATED and a clear CLI message;
#   - admin user add/list/remove; token create prints the token once, token list never;
#     the table holds the token's SHA-256 (32 bytes), never its text;
#   - whoami for each role; a non-admin cannot administer, but may list its own tokens;
#   - a revoked token, an expired token (--expires 1s) and the tokens of a removed user
#     are refused; the last admin cannot be removed;
#   - the CLI's token sources: --token, then STRATA_TOKEN, then ~/.config/strata/token,
#     which is refused when readable by group or others;
#   - after a restart with another bootstrap file, the first admin token still works and
#     the new file's token was not added; users and tokens were loaded from the table;
#   - a fresh database on loopback without a bootstrap file is a development install
#     (said in the log and by whoami); the same on a non-loopback endpoint refuses
#     requests without a token.
. "$(dirname "$0")/lib.sh"

# No token file of the machine's user may leak in: the tests choose every token.
export HOME=$T/home
mkdir -p "$HOME"
unset STRATA_TOKEN

# st_as TOKEN ARGS...: the CLI with TOKEN as STRATA_TOKEN ("" for none).
st_as () { local tok=$1; shift; STRATA_TOKEN=$tok st "$@"; }

# refused DESCRIPTION REGEX CMD...: CMD exits 1 and its stderr matches REGEX.
refused () {
    local what=$1 re=$2 status=0 out; shift 2
    out=$("$@" 2>&1 >/dev/null) || status=$?
    [ "$status" -eq 1 ] || fail "$what: exit status $status, expected 1 (output: $out)"
    grep -qE "$re" <<< "$out" || fail "$what: message does not match /$re/: $out"
    ok "$what: ${out%%$'\n'*}"
}

info "bootstrap token files the scheduler refuses"
BOOT=$T/boot.token
ADMIN_TOK=$(openssl rand -hex 32)
printf '%s\n' "$ADMIN_TOK" > "$BOOT"
chmod 644 "$BOOT"
read -r p1 p2 p3 <<< "$(free_ports 3)"
# solo_sched FLAGS...: a scheduler in the foreground (these starts must fail), its output printed.
solo_sched () {
    timeout 30 "$ST_BIN/strata-scheduler" --database "$ST_DSN" --worker-endpoint "tcp://127.0.0.1:$p1" \
        --client-endpoint "tcp://127.0.0.1:$p2" --event-endpoint "tcp://127.0.0.1:$p3" "$@" 2>&1
}
status=0
out=$(solo_sched --bootstrap-token-file "$BOOT") || status=$?
assert_eq "$status" 1 "exit status with a bootstrap file of mode 0644"
grep -q "bootstrap-token-file: token file .* accessible by group or others" <<< "$out" || fail "message: $out"
grep -q "chmod 600" <<< "$out" || fail "no chmod hint: $out"
ok "mode 0644 refused"
printf 'short-token\n' > "$T/short.token"
chmod 600 "$T/short.token"
status=0
out=$(solo_sched --bootstrap-token-file "$T/short.token") || status=$?
assert_eq "$status" 1 "exit status with a short bootstrap token"
grep -q "does not hold a token" <<< "$out" || fail "message: $out"
ok "a short token refused"
assert_eq "$(sql "select count(*) from users")" 0 "users after the refused starts"

chmod 600 "$BOOT"
export STRATA_TOKEN=$ADMIN_TOK
start_scheduler --bootstrap-token-file "$BOOT"
log_has scheduler "user admin \(role admin, tenant default\) created with the file's token" \
    || fail "no bootstrap line in the log"
log_has scheduler "development install" && fail "a bootstrapped scheduler calls itself a development install"
w=$(st whoami --json)
assert_eq "$(jq -r '.user + " " + .role + " " + (.tenants | join(",")) + " " + (.development | tostring)' <<< "$w")" \
    "admin admin default false" "whoami with the bootstrap token"

info "requests without a valid token"
unset STRATA_TOKEN
refused "no token" "not authenticated: this scheduler requires an API token.*no token given" st whoami
refused "no token, jobs" "not authenticated" st jobs
refused "garbage token" "not authenticated: the API token is malformed .*--token" st --token 'not a token!' whoami
refused "non-UTF-8 token" "not authenticated: the API token is malformed" \
    st --token "$(printf 'strata_\xff\xfe\xfd%.0s' 1 2 3 4 5 6 7 8)" whoami
refused "unknown token" "not authenticated: the API token is not valid .*STRATA_TOKEN" \
    st_as "strata_$(openssl rand -hex 24)" whoami
export STRATA_TOKEN=$ADMIN_TOK

info "users"
check "add alice" st admin user add alice --role submitter --tenant vision --tenant shared
check "add vic" st admin user add vic --role viewer --tenant vision
check "add otto" st admin user add otto --role operator --tenant speech
refused "a second alice" "user alice already exists" st admin user add alice --role viewer --tenant vision
status=0
out=$(st admin user add bob --role boss --tenant vision 2>&1) || status=$?
assert_eq "$status" 2 "exit status of user add with an unknown role"
grep -q "unknown role 'boss'" <<< "$out" || fail "message: $out"
users=$(st admin user list --json)
assert_eq "$(jq -r '[.[].name] | join(",")' <<< "$users")" "admin,alice,otto,vic" "users, by name"
assert_eq "$(jq -r '.[] | select(.name == "alice") | .role + " " + (.tenants | join(","))' <<< "$users")" \
    "submitter vision,shared" "alice's role and tenants, in order"
assert_eq "$(sql "select count(*) from tenants where name in ('vision', 'shared', 'speech')")" 3 \
    "tenants created for the users"
st admin user list | grep -qE '^alice +submitter +vision,shared' || fail "user list table: $(st admin user list)"

info "tokens"
ALICE=$(st admin token create alice)
[[ $ALICE =~ ^strata_[A-Za-z0-9_-]{43}$ ]] || fail "token create printed '$ALICE'"
VIC=$(st admin token create vic)
OTTO=$(st admin token create otto)
ok "tokens made for alice, vic and otto"
tokens=$(st admin token list --json)
assert_eq "$(jq -r '[.[].user] | join(",")' <<< "$tokens")" "admin,alice,vic,otto" "token list, by id"
for t in "$ALICE" "$VIC" "$OTTO" "$ADMIN_TOK"; do
    grep -qF -- "${t#strata_}" <<< "$tokens$(st admin token list)" && fail "token list shows a token"
done
ok "token list shows no token"
assert_eq "$(sql "select count(*) from api_tokens")" 4 "rows in api_tokens"
assert_eq "$(sql "select bool_and (length (hash) = 32) from api_tokens")" t "every hash is 32 bytes"
# The token is in no column of any identity table, in any encoding psql prints.
for t in "$ALICE" "$ADMIN_TOK"; do
    n=$(sql "select count(*) from (select row_to_json (a)::text r from api_tokens a
             union all select row_to_json (u)::text from users u) x
             where r like '%${t#strata_}%' or r like '%$(printf %s "${t#strata_}" | od -An -tx1 | tr -d ' \n')%'")
    assert_eq "$n" 0 "rows holding a token's text"
done
assert_eq "$(sql "select u.name from api_tokens a join users u on u.id = a.user_id
                  where a.hash = sha256 ('$ALICE'::bytea)")" alice "the stored hash is SHA-256 of alice's token"

info "whoami for each role"
for who in "alice submitter vision,shared $ALICE" "vic viewer vision $VIC" "otto operator speech $OTTO"; do
    read -r name role tenants tok <<< "$who"
    w=$(st_as "$tok" whoami --json)
    assert_eq "$(jq -r '.user + " " + .role + " " + (.tenants | join(","))' <<< "$w")" "$name $role $tenants" \
        "whoami as $name"
done
st_as "$ALICE" whoami | grep -qE '^role: +submitter$' || fail "whoami text: $(st_as "$ALICE" whoami)"

info "administration is for admins"
for tok in "$ALICE" "$OTTO"; do
    refused "user add as non-admin" "permission denied: only an admin may add users" \
        st_as "$tok" admin user add eve --role admin --tenant vision
    refused "user list as non-admin" "permission denied" st_as "$tok" admin user list
    refused "user remove as non-admin" "permission denied" st_as "$tok" admin user remove vic
    refused "token create as non-admin" "permission denied: only an admin may create tokens" \
        st_as "$tok" admin token create alice
done
refused "another user's tokens" "permission denied" st_as "$ALICE" admin token list --user admin
own=$(st_as "$ALICE" admin token list --json)
assert_eq "$(jq -r '[.[].user] | unique | join(",")' <<< "$own")" alice "alice lists only her own tokens"
admin_id=$(st admin token list --user admin --json | jq -r '.[0].id')
refused "revoke another user's token" "permission denied" st_as "$ALICE" admin token revoke "$admin_id"

info "revoked and expired tokens"
alice_id=$(jq -r '.[0].id' <<< "$own")
st admin token revoke "$alice_id" | grep -q "revoked" || fail "token revoke said nothing"
refused "revoked token" "not authenticated: the API token was revoked" st_as "$ALICE" whoami
assert_eq "$(sql "select revoked_at is not null from api_tokens where id = $alice_id")" t "revoked_at set"
ALICE2=$(st admin token create alice)
SHORT=$(st admin token create otto --expires 1s)
sleep 1.5
refused "expired token" "not authenticated: the API token has expired" st_as "$SHORT" whoami
st admin token list --user otto | grep -qE ' expired$' || fail "token list: $(st admin token list --user otto)"
ok "token list shows the expired token as expired"

info "the CLI's token sources"
mkdir -p "$HOME/.config/strata"
printf '%s\n' "$OTTO" > "$HOME/.config/strata/token"
chmod 644 "$HOME/.config/strata/token"
refused "token file of mode 0644" "token file .*/\.config/strata/token is accessible by group or others" \
    st_as "" whoami
chmod 600 "$HOME/.config/strata/token"
assert_eq "$(st_as "" whoami --json | jq -r .user)" otto "the token file's user"
assert_eq "$(st_as "$ALICE2" whoami --json | jq -r .user)" alice "STRATA_TOKEN before the file"
assert_eq "$(st_as "$ALICE2" --token "$VIC" whoami --json | jq -r .user)" vic "--token before STRATA_TOKEN"
rm "$HOME/.config/strata/token"

info "removing users"
st admin user remove vic | grep -q "user vic removed; 1 token(s) revoked" || fail "user remove message"
refused "a removed user's token" "not authenticated: the API token was revoked" st_as "$VIC" whoami
assert_eq "$(sql "select count(*) from users where name = 'vic' and removed_at is not null")" 1 "vic's row kept"
assert_eq "$(sql "select count(*) from api_tokens a join users u on u.id = a.user_id
                  where u.name = 'vic' and a.revoked_at is null")" 0 "vic's tokens revoked in the table"
refused "removing the last admin" "admin is the last admin" st admin user remove admin
refused "an unknown user" "no user nobody" st admin user remove nobody

info "restart with another bootstrap file"
stop_daemon scheduler
NEW_TOK=$(openssl rand -hex 32)
printf '%s\n' "$NEW_TOK" > "$BOOT"
restart_scheduler
log_has scheduler "an admin exists already, the file's token is not added" || fail "no 'admin exists' line"
assert_eq "$(st whoami --json | jq -r .user)" admin "the first bootstrap token after the restart"
refused "the second bootstrap file's token" "not authenticated: the API token is not valid" st_as "$NEW_TOK" whoami
assert_eq "$(st_as "$ALICE2" whoami --json | jq -r '.user + " " + (.tenants | join(","))')" "alice vision,shared" \
    "alice's new token, loaded from the table"
refused "revoked token after the restart" "was revoked" st_as "$ALICE" whoami
refused "expired token after the restart" "has expired" st_as "$SHORT" whoami
refused "removed user's token after the restart" "not authenticated" st_as "$VIC" whoami

info "development install, and no users off loopback"
DEV_DB=${ST_DB}_dev
_st_psql postgres -c "create database \"$DEV_DB\"" >/dev/null
drop_dev_db () { _st_psql postgres -c "drop database if exists \"$DEV_DB\" with (force)" >/dev/null 2>&1; }
ST_CLEANUP_HOOKS+=(drop_dev_db)
DEV_DSN="host=$STRATA_TEST_PGHOST port=$STRATA_TEST_PGPORT user=postgres dbname=$DEV_DB"
read -r d1 d2 d3 <<< "$(free_ports 3)"
_st_spawn devsched "$ST_BIN/strata-scheduler" --database "$DEV_DSN" --worker-endpoint "tcp://127.0.0.1:$d1" \
    --client-endpoint "tcp://127.0.0.1:$d2" --event-endpoint "tcp://127.0.0.1:$d3"
wait_until 30 "the development scheduler to start" log_has devsched "single-user development install"
w=$(STRATA_TOKEN= "$ST_BIN/strata" --scheduler "tcp://127.0.0.1:$d2" whoami --json)
assert_eq "$(jq -r '.user + " " + .role + " " + (.development | tostring)' <<< "$w")" "admin admin true" \
    "whoami on a development install"
STRATA_TOKEN= "$ST_BIN/strata" --scheduler "tcp://127.0.0.1:$d2" whoami | grep -q "development install" \
    || fail "whoami does not say development install"
stop_daemon devsched
read -r d1 d2 d3 <<< "$(free_ports 3)"
_st_spawn opensched "$ST_BIN/strata-scheduler" --database "$DEV_DSN" --worker-endpoint "tcp://127.0.0.1:$d1" \
    --client-endpoint "tcp://0.0.0.0:$d2" --event-endpoint "tcp://127.0.0.1:$d3" --insecure
wait_until 30 "the open scheduler to start" log_has opensched "leading"
log_has opensched "no users, and the client endpoint .* is not loopback only" || fail "no warning about no users"
refused "no token off loopback" "requires an API token" \
    env STRATA_TOKEN= "$ST_BIN/strata" --scheduler "tcp://127.0.0.1:$d2" whoami
stop_daemon opensched
pass
