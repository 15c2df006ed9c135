#!/usr/bin/env bash
# test_event_topics: the event socket's topics are "job.<id>.", so a subscription is one job.
#   - a subscriber to "job.1." (a real SUB socket, tests/integration/stprobe.py subscribe)
#     gets job 1's events and none of job 10's, which "job.1" would also match;
#   - a subscriber to "job." gets every job's events.
# Job 1 runs until jobs 2-10 have ended and is then cancelled: its last event comes after
# all of job 10's, and ZeroMQ keeps one connection's messages in order, so any job 10
# event that matched would already be in the first subscriber's log.
. "$(dirname "$0")/lib.sh"

"$ST_PY" -c 'import zmq' 2>/dev/null || fail "python3-zmq is missing (scripts/install-deps.sh)"

start_scheduler
start_worker w1 --cpus 4 --memory 2G

_st_spawn sub_one "$ST_PY" "$ST_PROBE" subscribe --events "$ST_EVENT_EP" job.1.
_st_spawn sub_all "$ST_PY" "$ST_PROBE" subscribe --events "$ST_EVENT_EP" job.
wait_until 30 "the subscribers to connect" log_has sub_one '"subscribed": true'
wait_until 30 "the subscribers to connect" log_has sub_all '"subscribed": true'

first=$(submit_job --cpus 1 -- sleep 300)
[ "$first" = 1 ] || fail "this test's fresh database gave the first job id $first, not 1"
wait_job_state 1 RUNNING 30
for i in $(seq 2 10); do
    id=$(submit_job --cpus 1 -- true)
    wait_job_state "$id" SUCCEEDED 30
done
assert_eq "$id" 10 "the tenth job's id"
# JobState: 5 SUCCEEDED, 7 CANCELLED (proto/strata.proto)
wait_until 30 "job 10's SUCCEEDED event on job." log_has sub_all '"topic": "job\.10\.", "job_id": 10, "to_state": 5'
st cancel 1 > /dev/null
wait_until 30 "job 1's CANCELLED event on job.1." log_has sub_one '"topic": "job\.1\.", "job_id": 1, "to_state": 7'

grep -q '"topic"' "$T/sub_one.log" || fail "the job.1. subscriber got nothing"
others=$(grep '"topic"' "$T/sub_one.log" | grep -vc '"topic": "job\.1\.", "job_id": 1,' || true)
assert_eq "$others" 0 "events of other jobs received by the job.1. subscriber"
ok "job.1. got $(grep -c '"topic"' "$T/sub_one.log") events, all of job 1, none of job 10"
for j in 1 2 10; do
    log_has sub_all "\"topic\": \"job\\.$j\\.\", \"job_id\": $j," || fail "the job. subscriber missed job $j"
done
ok "job. got every job's events ($(grep -c '"topic"' "$T/sub_all.log"))"
pass
