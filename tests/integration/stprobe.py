#!/usr/bin/python3
"""stprobe.py: talks to strata-scheduler's sockets directly, bypassing the CLI.

Used by the integration tests to send what no well-behaved peer sends: garbage,
truncated and oversized frames, raw non-ZMTP bytes, requests with a wrong protocol
version, and submits with invalid spec_json. Envelopes are encoded by hand (the
protobuf wire format is small: varints and length-delimited fields), so the only
dependency is pyzmq (Debian: python3-zmq); field numbers follow proto/strata.proto.

    stprobe.py garbage  --worker EP --client EP [--raw HOST:PORT ...]
    stprobe.py submit   --client EP [--token T] SPEC_JSON_TEXT   (prints the reply as JSON)
    stprobe.py nodes    --client EP                      (exit 0 when answered)
    stprobe.py register --worker EP --node NAME [--cpus-milli N] [--mem-mb N]
                        [--labels N [--label-key-len K] [--label-value-len V]] [--tasks N]
    stprobe.py forge    --worker EP --node NAME [--heartbeat-refs N] [--for SECONDS]
                        [--log-data TEXT --log-ids N] [--acks N]
                        (registers a refusing node, then impersonates other workers: sends
                        LogData for request ids 1..N and Acks of the N seqs after the last
                        one it saw, ten times a second, for SECONDS)
    stprobe.py subscribe --events EP PREFIX   (prints {"subscribed": true} once connected,
                        then one line per event: topic, job_id, to_state)
    stprobe.py ask      --client EP [--auth TOKEN] get|cancel|logs|explain JOB_ID
                        (one request about a job, with Envelope.auth_token; prints the reply,
                        an error's code, message and hint exactly as they came)

Every subcommand prints one JSON object per line on stdout and exits non-zero when
an expectation marked "hard" fails.
"""
import argparse
import json
import os
import random
import signal
import socket
import sys
import time

import zmq

PROTOCOL_VERSION = 2

# Envelope field numbers (proto/strata.proto).
F_VERSION, F_SEQ, F_REPLY_TO, F_AUTH_TOKEN = 1, 2, 3, 4
B_REGISTER, B_HEARTBEAT, B_TASK_UPDATE, B_LOG_DATA = 10, 11, 12, 13
B_EVENT = 50
B_REGISTER_REPLY, B_LAUNCH, B_ACK = 20, 21, 24
B_SUBMIT, B_GET, B_NODES = 30, 31, 35
B_SUBMIT_REPLY, B_JOB, B_NODES_REPLY, B_ERROR = 40, 41, 45, 46
BODY_NAMES = {10: "register", 11: "heartbeat", 12: "task_update", 13: "log_data",
              20: "register_reply", 21: "launch", 22: "signal", 23: "log_request",
              24: "ack", 40: "submit_reply", 41: "job", 42: "list_reply",
              43: "cancel_reply", 44: "logs_reply", 45: "nodes_reply", 46: "error"}


# -- protobuf wire format ----------------------------------------------------

def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_varint(field, n):
    return varint(field << 3) + varint(n)


def f_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return varint((field << 3) | 2) + varint(len(data)) + data


def envelope(seq, body_field, body, version=PROTOCOL_VERSION, reply_to=0, auth=""):
    out = f_varint(F_VERSION, version) + f_varint(F_SEQ, seq)
    if reply_to:
        out += f_varint(F_REPLY_TO, reply_to)
    if auth:
        out += f_bytes(F_AUTH_TOKEN, auth)
    if body_field:
        out += f_bytes(body_field, body)
    return out


def decode(data):
    """Decodes one message level into {field: [values]} (bytes for length-delimited)."""
    fields, i = {}, 0

    def rd_varint():
        nonlocal i
        shift = n = 0
        while True:
            if i >= len(data):
                raise ValueError("truncated varint")
            b = data[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    while i < len(data):
        key = rd_varint()
        field, wt = key >> 3, key & 7
        if wt == 0:
            val = rd_varint()
        elif wt == 2:
            ln = rd_varint()
            val = data[i:i + ln]
            if len(val) != ln:
                raise ValueError("truncated field")
            i += ln
        elif wt == 1:
            val = data[i:i + 8]
            i += 8
        elif wt == 5:
            val = data[i:i + 4]
            i += 4
        else:
            raise ValueError("bad wire type %d" % wt)
        fields.setdefault(field, []).append(val)
    return fields


def first(fields, f, default=None):
    v = fields.get(f)
    return v[0] if v else default


def describe(raw):
    """A JSON-able summary of a reply envelope."""
    try:
        env = decode(raw)
    except ValueError as e:
        return {"body": "undecodable", "error": str(e)}
    out = {"protocol_version": first(env, F_VERSION, 0), "seq": first(env, F_SEQ, 0),
           "reply_to": first(env, F_REPLY_TO, 0), "body": None}
    for f, name in BODY_NAMES.items():
        if f in env:
            out["body"] = name
            body = decode(env[f][0])
            if f == B_ERROR:
                out["code"] = first(body, 1, 0)
                out["message"] = first(body, 2, b"").decode("utf-8", "replace")
                out["hint"] = first(body, 3, b"").decode("utf-8", "replace")
            elif f == B_SUBMIT_REPLY:
                out["job_id"] = first(body, 1, 0)
            elif f == B_ACK:
                out["ack_seq"] = first(body, 1, 0)
                out["status"] = first(body, 2, 0)
            elif f == B_REGISTER_REPLY:
                out["accepted"] = bool(first(body, 1, 0))
                out["error"] = first(body, 2, b"").decode("utf-8", "replace")
            elif f == B_NODES_REPLY:
                out["nodes"] = len(body.get(1, []))
            break
    return out


# -- helpers -----------------------------------------------------------------

CTX = zmq.Context.instance()


def dealer(ep):
    s = CTX.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SNDTIMEO, 3000)
    s.connect(ep)
    return s


def recv_reply(s, timeout_ms, want_reply_to=None):
    """Returns the first reply (optionally the one answering want_reply_to) or None."""
    deadline = time.monotonic() + timeout_ms / 1000.0
    while True:
        left = int((deadline - time.monotonic()) * 1000)
        if left <= 0 or not s.poll(left):
            return None
        parts = s.recv_multipart()
        d = describe(parts[-1])
        if want_reply_to is None or d.get("reply_to") == want_reply_to \
                or d.get("ack_seq") == want_reply_to:
            return d


def emit(**kw):
    print(json.dumps(kw), flush=True)


def nodes_ok(client_ep, seq=900001):
    s = dealer(client_ep)
    try:
        s.send(envelope(seq, B_NODES, b""))
        r = recv_reply(s, 5000, seq)
        return r is not None and r.get("body") == "nodes_reply", r
    finally:
        s.close()


def raw_tcp(hostport, payload, linger=0.2):
    host, port = hostport.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=3) as c:
            try:
                c.sendall(payload)
                time.sleep(linger)
                c.settimeout(0.3)
                try:
                    c.recv(65536)
                except (socket.timeout, OSError):
                    pass
            except OSError:
                pass   # the peer may close on us: that is the point
        return "sent"
    except OSError as e:
        return "connect failed: %s" % e


# -- subcommands --------------------------------------------------------------

def cmd_garbage(a):
    rnd = random.Random(4242)
    hard_fail = False
    register = f_bytes(1, "probe-node") + f_bytes(2, "default") + \
        f_bytes(3, f_varint(1, 1000) + f_varint(2, 1024)) + f_varint(6, 77)
    valid_reg = envelope(1, B_REGISTER, register)
    frames = [
        ("garbage bytes", [b"\x00garbage\xff\xfe" + bytes(rnd.getrandbits(8) for _ in range(200))]),
        ("empty frame", [b""]),
        ("truncated envelope", [valid_reg[: len(valid_reg) // 2]]),
        ("envelope without a body", [envelope(2, 0, b"")]),
        ("too many parts", [b"a", b"b", b"c"]),
        ("bad varint", [b"\x08" + b"\xff" * 12]),
        ("field with a huge length", [b"\x52\xff\xff\xff\xff\x0f" + b"x" * 10]),
        ("unknown body field", [f_varint(1, 1) + f_varint(2, 3) + f_bytes(99, b"zz")]),
        ("oversized frame (2 MiB)", [b"\x00" * (2 << 20)]),
        ("oversized valid-looking envelope (2 MiB submit)",
         [envelope(4, B_SUBMIT, f_bytes(1, "{" + " " * (2 << 20) + "}"))]),
        ("frame over the receive cap (8 MiB)", [b"\x01" * (8 << 20)]),
    ]
    for sock_name, ep in (("worker", a.worker), ("client", a.client)):
        s = dealer(ep)
        for what, parts in frames:
            try:
                s.send_multipart(parts)
                emit(socket=sock_name, sent=what)
            except zmq.ZMQError as e:
                emit(socket=sock_name, sent=what, error=str(e))
            time.sleep(0.02)
        # Wrong-direction bodies: a worker message on the client socket and vice versa.
        if sock_name == "client":
            s.send(envelope(5, B_REGISTER, register))
            emit(socket=sock_name, sent="register on the client socket")
            s.send(envelope(6, B_LAUNCH, f_bytes(1, f_varint(1, 1))))
            emit(socket=sock_name, sent="launch on the client socket")
        else:
            s.send(envelope(5, B_SUBMIT, f_bytes(1, '{"command":["true"]}')))
            emit(socket=sock_name, sent="submit on the worker socket")
            hb = f_bytes(1, "no-such-node") + f_varint(2, 5)
            s.send(envelope(6, B_HEARTBEAT, hb))
            r = recv_reply(s, 2000, 6)
            emit(socket=sock_name, sent="heartbeat from an unknown node", reply=r,
                 note="contract: Ack status ACK_UNKNOWN_NODE (1)")
            tu = f_bytes(1, f_bytes(1, f_varint(1, 987654321) + f_varint(3, 1)) + f_varint(2, 2))
            s.send(envelope(7, B_TASK_UPDATE, tu))
            emit(socket=sock_name, sent="task update for an unknown job from an unknown node")
        s.close()

    # A request with a protocol version from the future must be answered with ERROR_VERSION.
    s = dealer(a.client)
    s.send(envelope(41, B_NODES, b"", version=99))
    r = recv_reply(s, 5000, 41)
    ok = r is not None and r.get("body") == "error" and r.get("code") == 6
    emit(check="wrong protocol version answered with ERROR_VERSION", ok=ok, reply=r)
    hard_fail |= not ok
    s.close()

    for hp in a.raw or []:
        emit(raw=hp, sent="HTTP request", result=raw_tcp(hp, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        emit(raw=hp, sent="random bytes", result=raw_tcp(hp, bytes(rnd.getrandbits(8) for _ in range(65536))))
        greeting = b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL" + b"\x00" * 16 + b"\x00" * 31
        emit(raw=hp, sent="ZMTP greeting then garbage",
             result=raw_tcp(hp, greeting + b"\x06\xff\xff\xff\xff\xff\xff\xff\xff" + b"z" * 100))
        emit(raw=hp, sent="half a greeting", result=raw_tcp(hp, b"\xff\x00\x00", linger=0.5))

    ok, r = nodes_ok(a.client)
    emit(check="client socket still answers nodes", ok=ok, reply=r)
    hard_fail |= not ok
    return 1 if hard_fail else 0


def cmd_submit(a):
    s = dealer(a.client)
    body = f_bytes(1, a.spec_json) + (f_bytes(2, a.token) if a.token else b"")
    s.send(envelope(77, B_SUBMIT, body))
    r = recv_reply(s, 5000, 77)
    s.close()
    emit(**(r or {"body": None, "error": "no reply"}))
    return 0 if r is not None else 1


ASK_BODIES = {"get": 31, "cancel": 33, "logs": 34, "explain": 38}


def cmd_ask(a):
    s = dealer(a.client)
    s.send(envelope(78, ASK_BODIES[a.what], f_varint(1, a.job_id), auth=a.auth))
    r = recv_reply(s, 5000, 78)
    s.close()
    emit(**(r or {"body": None, "error": "no reply"}))
    return 0 if r is not None else 1


def cmd_nodes(a):
    ok, r = nodes_ok(a.client)
    emit(ok=ok, reply=r)
    return 0 if ok else 1


def task_ref(job_id, index=0, attempt=1):
    return f_varint(1, job_id) + f_varint(2, index) + f_varint(3, attempt)


def register_body(node, pool, cpus_milli, mem_mb, instance, labels=(), tasks=0, refusing=""):
    body = f_bytes(1, node) + f_bytes(2, pool) + \
        f_bytes(3, f_varint(1, cpus_milli) + f_varint(2, mem_mb)) + f_varint(6, instance)
    for k, v in labels:
        body += f_bytes(5, f_bytes(1, k) + f_bytes(2, v))
    for i in range(tasks):
        # TaskStatus { task, state = TASK_RUNNING (2) }
        body += f_bytes(7, f_bytes(1, task_ref(900000 + i)) + f_varint(2, 2))
    if refusing:
        body += f_bytes(12, refusing)
    return body


def cmd_register(a):
    labels = [("k%0*d" % (max(a.label_key_len - 1, 1), i), "v" * a.label_value_len) for i in range(a.labels)]
    body = register_body(a.node, a.pool, a.cpus_milli, a.mem_mb, int.from_bytes(os.urandom(8), "little"),
                         labels, a.tasks, a.refusing)
    # raw bytes, valid UTF-8 or not: protobuf-c checks no string field
    if a.hostname_hex:
        body += f_bytes(9, bytes.fromhex(a.hostname_hex))
    for item in a.label_hex or []:
        k, v = item.split("=", 1)
        body += f_bytes(5, f_bytes(1, bytes.fromhex(k)) + f_bytes(2, bytes.fromhex(v)))
    s = dealer(a.worker)
    s.send(envelope(1, B_REGISTER, body))
    r = recv_reply(s, 5000, None)
    s.close()
    emit(**(r or {"body": None, "error": "no reply"}))
    return 0 if r is not None else 1


def cmd_forge(a):
    """A worker that registers honestly, then answers for other workers."""
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))   # stop_daemon expects a clean exit
    instance = int.from_bytes(os.urandom(8), "little")
    s = dealer(a.worker)
    seq = 1
    s.send(envelope(seq, B_REGISTER, register_body(a.node, "default", 1000, 1024, instance,
                                                   refusing="forged replies only")))
    r = recv_reply(s, 5000, None)
    emit(registered=r)
    if not r or not r.get("accepted"):
        return 1
    last_seen = r.get("seq", 0)
    if a.heartbeat_refs:
        seq += 1
        refs = b"".join(f_bytes(3, task_ref(800000 + i)) for i in range(a.heartbeat_refs))
        s.send(envelope(seq, B_HEARTBEAT, f_bytes(1, a.node) + f_varint(2, instance) + refs))
        r = recv_reply(s, 3000, seq)
        emit(heartbeat_refs=a.heartbeat_refs, reply=r)
    deadline = time.monotonic() + a.seconds
    next_beat = 0.0
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_beat:  # stays UP while it forges
            seq += 1
            s.send(envelope(seq, B_HEARTBEAT, f_bytes(1, a.node) + f_varint(2, instance)))
            next_beat = now + 0.2
        for i in range(1, a.log_ids + 1):
            seq += 1
            s.send(envelope(seq, B_LOG_DATA, f_varint(1, i) + f_bytes(3, a.log_data) + f_varint(5, len(a.log_data))))
        # The scheduler numbers everything it sends from one counter: the Launches
        # to other nodes are just past the last seq this node saw.
        for k in range(max(last_seen - a.acks, 1), last_seen + a.acks):
            seq += 1
            s.send(envelope(seq, B_ACK, f_varint(1, k)))
        while s.poll(100):
            d = describe(s.recv_multipart()[-1])
            last_seen = max(last_seen, d.get("seq", 0))
    emit(forged_until_seq=last_seen)
    s.close()
    return 0


def cmd_subscribe(a):
    from zmq.utils.monitor import recv_monitor_message
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))   # the test's cleanup expects a clean exit
    sub = CTX.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, a.prefix.encode())
    mon = sub.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    sub.connect(a.events)
    recv_monitor_message(mon)
    emit(subscribed=True, prefix=a.prefix)
    while True:
        # Poll, never block in recv: SIGTERM may land on one of libzmq's threads, and
        # Python runs its handler only when the main thread is back in the interpreter.
        if not sub.poll(200):
            continue
        parts = sub.recv_multipart()
        env = decode(parts[-1])
        ev = decode(first(env, B_EVENT, b""))
        emit(topic=parts[0].decode(errors="replace"), job_id=first(ev, 1, 0), to_state=first(ev, 7, 0))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("garbage")
    g.add_argument("--worker", required=True)
    g.add_argument("--client", required=True)
    g.add_argument("--raw", action="append", help="HOST:PORT for raw non-ZMTP bytes")
    s = sub.add_parser("submit")
    s.add_argument("--client", required=True)
    s.add_argument("--token", default="", help="client_token (idempotency)")
    s.add_argument("spec_json")
    n = sub.add_parser("nodes")
    n.add_argument("--client", required=True)
    r = sub.add_parser("register")
    r.add_argument("--worker", required=True)
    r.add_argument("--node", required=True)
    r.add_argument("--pool", default="default")
    r.add_argument("--cpus-milli", type=int, default=1000)
    r.add_argument("--mem-mb", type=int, default=1024)
    r.add_argument("--labels", type=int, default=0)
    r.add_argument("--label-key-len", type=int, default=8)
    r.add_argument("--label-value-len", type=int, default=8)
    r.add_argument("--tasks", type=int, default=0, help="TaskStatus entries (RUNNING, unknown jobs)")
    r.add_argument("--refusing", default="", help="Register.refusing: the node takes no tasks")
    r.add_argument("--hostname-hex", default="", help="Register.hostname as hex bytes")
    r.add_argument("--label-hex", action="append", help="KEYHEX=VALUEHEX: a label as hex bytes")
    f = sub.add_parser("forge")
    f.add_argument("--worker", required=True)
    f.add_argument("--node", required=True)
    f.add_argument("--heartbeat-refs", type=int, default=0)
    f.add_argument("--for", dest="seconds", type=float, default=0)
    f.add_argument("--log-data", default="FORGED")
    f.add_argument("--log-ids", type=int, default=0)
    f.add_argument("--acks", type=int, default=0)
    b = sub.add_parser("subscribe")
    b.add_argument("--events", required=True)
    b.add_argument("prefix")
    k = sub.add_parser("ask")
    k.add_argument("--client", required=True)
    k.add_argument("--auth", default="", help="Envelope.auth_token")
    k.add_argument("what", choices=sorted(ASK_BODIES))
    k.add_argument("job_id", type=int)
    a = p.parse_args()
    return {"garbage": cmd_garbage, "submit": cmd_submit, "nodes": cmd_nodes,
            "register": cmd_register, "ask": cmd_ask, "forge": cmd_forge,
            "subscribe": cmd_subscribe}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
