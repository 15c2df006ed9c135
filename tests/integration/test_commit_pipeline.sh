#!/usr/bin/env bash
# test_commit_pipeline: the scheduler's commit is pipelined, and acknowledgements still
# wait for it. A psql session holds a lock on the jobs table, so the batch carrying a
# submit cannot commit until the test lets it:
#   - no submit reply arrives while its batch waits for the lock, and the job is not in
#     the database; meanwhile the loop keeps serving (a `nodes` request, answered from
#     memory, comes back) and takes a second submit into the next batch;
#   - once the lock is released both submits are acknowledged, each only after its row
#     is in the database;
#   - SIGTERM while a batch waits: the scheduler stays up until that batch has committed,
#     then exits 0 with the job written;
#   - SIGKILL in the middle of a stream of submits: every job whose submit was
#     acknowledged exists after the restart.
. "$(dirname "$0")/lib.sh"

start_scheduler

cat > "$T/pipe.py" <<'EOF'
# pipe.py PHASE CLIENT_EP SCHED_PID: one phase of test_commit_pipeline (see there).
import json, os, signal, subprocess, sys, time
sys.path.insert(0, os.environ["PROBE_DIR"])
import stprobe as P

phase, ep, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
PSQL = ["psql", "-X", "-q", "-h", os.environ["PGH"], "-p", os.environ["PGP"], "-U", "postgres",
        "-d", os.environ["PGD"], "-v", "ON_ERROR_STOP=1"]


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def sql(q):
    return subprocess.check_output(PSQL + ["-tA", "-c", q], text=True).strip()


def wait_for(what, cond, limit=60):
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            fail("waited %d s for %s" % (limit, what))
        time.sleep(0.05)


def job_id(reply):
    """The job id of a submit reply (the first job_id anywhere in it), or None."""
    if isinstance(reply, dict):
        if reply.get("job_id"):
            return reply["job_id"]
        reply = list(reply.values())
    if isinstance(reply, list):
        for v in reply:
            j = job_id(v)
            if j:
                return j
    return None


def submit(sock, seq, name, token=""):
    body = P.f_bytes(1, json.dumps({"name": name, "command": ["true"]}))
    sock.send(P.envelope(seq, P.B_SUBMIT, body + (P.f_bytes(2, token) if token else b"")))


def in_db(name):
    return int(sql("SELECT count (*) FROM jobs WHERE name = '%s'" % name))


class Holder:
    """A session that holds SHARE on jobs: the scheduler's INSERTs wait, reads do not."""

    def __init__(self):
        self.p = subprocess.Popen(PSQL, stdin=subprocess.PIPE, text=True)
        self.p.stdin.write("SET application_name = 'st-holder';\nBEGIN;\nLOCK TABLE jobs IN SHARE MODE;\n")
        self.p.stdin.flush()
        wait_for("the holder's lock", lambda: sql(
            "SELECT count (*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE "
            "a.application_name = 'st-holder' AND l.relation = 'jobs'::regclass AND l.granted") == "1")

    def release(self):
        self.p.stdin.write("COMMIT;\n")
        self.p.stdin.close()
        if self.p.wait() != 0:
            fail("the holder's psql failed")


def scheduler_waits_for_lock():
    return sql("SELECT count (*) FROM pg_stat_activity WHERE application_name = 'strata-scheduler' "
               "AND wait_event_type = 'Lock'") == "1"


def no_reply(sock, seq, what):
    r = P.recv_reply(sock, 500, seq)
    if r is not None:
        fail("%s answered before its batch committed: %s" % (what, r))


if phase == "hold":
    h = Holder()
    b = P.dealer(ep)
    submit(b, 101, "held-b")
    wait_for("the batch with held-b to wait for the lock", scheduler_waits_for_lock)
    no_reply(b, 101, "submit held-b")
    # The loop is not stuck in the commit: a request served from memory is answered.
    n = P.dealer(ep)
    n.send(P.envelope(102, P.B_NODES, b""))
    r = P.recv_reply(n, 20000, 102)
    if r is None or r.get("body") != "nodes_reply":
        fail("nodes not answered while a batch commits: %s" % r)
    print("nodes answered while held-b's batch waits", flush=True)
    # A second submit is taken meanwhile, into the next batch.
    c = P.dealer(ep)
    submit(c, 103, "held-c")
    no_reply(c, 103, "submit held-c")
    no_reply(b, 101, "submit held-b")
    if not scheduler_waits_for_lock():
        fail("the batch stopped waiting while the lock is held")
    if in_db("held-b") or in_db("held-c"):
        fail("held-b or held-c visible before the lock was released")
    h.release()
    rb = P.recv_reply(b, 20000, 101)
    if job_id(rb) is None:
        fail("no submit reply for held-b after the commit: %s" % rb)
    if in_db("held-b") != 1:
        fail("held-b acknowledged but not in the database")
    rc = P.recv_reply(c, 20000, 103)
    if job_id(rc) is None:
        fail("no submit reply for held-c after the commit: %s" % rc)
    if in_db("held-c") != 1:
        fail("held-c acknowledged but not in the database")
    if job_id(rb) == job_id(rc):
        fail("held-b and held-c got one id")
    print("held-b and held-c acknowledged after their commits: ids %s %s" % (job_id(rb), job_id(rc)), flush=True)

elif phase == "term":
    h = Holder()
    f = P.dealer(ep)
    submit(f, 201, "held-f")
    wait_for("the batch with held-f to wait for the lock", scheduler_waits_for_lock)
    os.kill(pid, signal.SIGTERM)
    no_reply(f, 201, "submit held-f")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        fail("the scheduler left before its batch committed")
    if not scheduler_waits_for_lock():
        fail("the batch stopped waiting while the lock is held")
    print("after SIGTERM the scheduler waits for its batch", flush=True)
    h.release()

elif phase == "kill":
    # Submits in a stream (16 outstanding); SIGKILL after 150 replies, mid-stream.
    s = P.dealer(ep)
    acked, sent, seq_of = {}, 0, {}
    while len(acked) < 150:
        while sent - len(acked) < 16:
            sent += 1
            seq_of[300 + sent] = "stream-%d" % sent
            submit(s, 300 + sent, seq_of[300 + sent], token="tok-%d" % sent)
        r = P.recv_reply(s, 20000)
        if r is None:
            fail("no submit reply within 20 s")
        j = job_id(r)
        if j is None:
            fail("a submit was refused: %s" % r)
        acked[seq_of[r["reply_to"]]] = j
    os.kill(pid, signal.SIGKILL)
    # Replies already on their way count as acknowledged too.
    while True:
        r = P.recv_reply(s, 300)
        if r is None:
            break
        if job_id(r) is not None:
            acked[seq_of[r["reply_to"]]] = job_id(r)
    print(json.dumps(acked), flush=True)
EOF

export PROBE_DIR=$ST_SRC/tests/integration PGH=$STRATA_TEST_PGHOST PGP=$STRATA_TEST_PGPORT PGD=$ST_DB

info "a submit whose batch cannot commit yet"
"$ST_PY" "$T/pipe.py" hold "$ST_CLIENT_EP" "$(daemon_pid scheduler)" || fail "phase hold"
ok "acknowledgements waited for their commits; the loop kept serving meanwhile"

info "SIGTERM while a batch waits for its commit"
"$ST_PY" "$T/pipe.py" term "$ST_CLIENT_EP" "$(daemon_pid scheduler)" || fail "phase term"
stop_daemon scheduler 30
assert_eq "$(sql "SELECT count (*) FROM jobs WHERE name = 'held-f'")" 1 "held-f written before the scheduler exited"
log_has scheduler "stopped cleanly" || fail "no clean stop in the scheduler's log"

info "SIGKILL in a stream of submits"
restart_scheduler
"$ST_PY" "$T/pipe.py" kill "$ST_CLIENT_EP" "$(daemon_pid scheduler)" > "$T/acked.json" || fail "phase kill"
kill9 scheduler
n=$(jq length "$T/acked.json")
info "$n submits acknowledged before the SIGKILL"
[ "$n" -ge 150 ] || fail "only $n acknowledged"
restart_scheduler
# One query: the acknowledged (id, name) pairs that the database lacks.
values=$(jq -r 'to_entries | map("(\(.value), '"'"'\(.key)'"'"')") | join(", ")' "$T/acked.json")
missing=$(sql "SELECT count (*) FROM (VALUES $values) AS a (id, name)
               WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = a.id AND j.name = a.name)")
assert_eq "$missing" 0 "acknowledged jobs missing after the restart"
ok "every acknowledged job ($n) exists after the restart"
pass
