#!/usr/bin/env python3
"""bench/pubsub_multi.py - Basalt against redis-server: server CPU time per delivered pub/sub
message (1 subscriber, and fan-out to 1,000) and per MULTI/EXEC transaction of 3 SETs sent
16 at a time per connection.

CPU time is the server process's utime+stime delta from /proc/PID/stat over the run (the
stable figure on a shared machine); wall time and rates are printed too, for what they are
worth. Runs alternate Basalt, Redis, Basalt, Redis (ROUNDS rounds); the median is shown.

Usage: bench/pubsub_multi.py [--quick]
Environment: BASALT_BIN [target/release/basalt-server], REDIS_BIN [redis-server],
             ROUNDS [3], MESSAGES [200000], FANOUT_MESSAGES [2000], TXS [40000]
"""

import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASALT_BIN = os.environ.get("BASALT_BIN", os.path.join(REPO, "target/release/basalt-server"))
REDIS_BIN = os.environ.get("REDIS_BIN", "redis-server")
QUICK = "--quick" in sys.argv
ROUNDS = int(os.environ.get("ROUNDS", "1" if QUICK else "3"))
MESSAGES = int(os.environ.get("MESSAGES", "20000" if QUICK else "200000"))
FANOUT_MESSAGES = int(os.environ.get("FANOUT_MESSAGES", "200" if QUICK else "2000"))
TXS = int(os.environ.get("TXS", "4000" if QUICK else "40000"))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read_exactly(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(1 << 20, n - len(buf)))
        if not chunk:
            raise RuntimeError("connection closed")
        buf += chunk
    return bytes(buf)


class Server:
    def __init__(self, kind):
        self.kind = kind
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"bench-{kind}-")
        binary = BASALT_BIN if kind == "basalt" else REDIS_BIN
        args = [binary, "--port", str(self.port), "--dir", self.dir, "--save", "",
                "--appendonly", "no", "--maxclients", "4000"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(cmd("PING"))
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"{kind} did not start")
            time.sleep(0.05)

    def conn(self):
        s = socket.create_connection(("127.0.0.1", self.port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def pubsub_run(srv, subscribers, messages, payload=b"x" * 64):
    """Server CPU seconds per delivered message."""
    channel = b"bench"
    subs = []
    for _ in range(subscribers):
        s = srv.conn()
        s.sendall(cmd("SUBSCRIBE", channel))
        read_exactly(s, len(b"*3\r\n$9\r\nsubscribe\r\n$5\r\nbench\r\n:1\r\n"))
        subs.append(s)
    frame = len(cmd("message", channel, payload))
    want = frame * messages
    done = threading.Event()

    def drain():
        sel = selectors.DefaultSelector()
        got = {}
        for s in subs:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            got[s] = 0
        left = len(subs)
        while left:
            for key, _ in sel.select(timeout=30):
                s = key.fileobj
                data = s.recv(1 << 20)
                if not data:
                    raise RuntimeError("subscriber closed")
                got[s] += len(data)
                if got[s] >= want:
                    sel.unregister(s)
                    left -= 1
        done.set()

    reader = threading.Thread(target=drain)
    reader.start()
    pub = srv.conn()
    reply = b":%d\r\n" % subscribers
    before = cpu_seconds(srv.proc.pid)
    started = time.time()
    batch = 100
    one = cmd("PUBLISH", channel, payload)
    sent = 0
    while sent < messages:
        n = min(batch, messages - sent)
        pub.sendall(one * n)
        read_exactly(pub, len(reply) * n)
        sent += n
    done.wait()
    reader.join()
    elapsed = time.time() - started
    cpu = cpu_seconds(srv.proc.pid) - before
    for s in subs + [pub]:
        s.close()
    return cpu / (messages * subscribers), messages * subscribers / elapsed


def multi_run(srv, txs, conns=4, pipeline=16):
    """Server CPU seconds per MULTI/EXEC transaction of 3 SETs."""
    per_conn = txs // conns
    one = b"".join([cmd("MULTI"), cmd("SET", "{t}a", "v"), cmd("SET", "{t}b", "v"),
                    cmd("SET", "c", "v"), cmd("EXEC")])
    reply_len = len(b"+OK\r\n" + b"+QUEUED\r\n" * 3 + b"*3\r\n+OK\r\n+OK\r\n+OK\r\n")

    def client(sock):
        done = 0
        while done < per_conn:
            n = min(pipeline, per_conn - done)
            sock.sendall(one * n)
            read_exactly(sock, reply_len * n)
            done += n

    socks = [srv.conn() for _ in range(conns)]
    before = cpu_seconds(srv.proc.pid)
    started = time.time()
    threads = [threading.Thread(target=client, args=(s,)) for s in socks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - started
    cpu = cpu_seconds(srv.proc.pid) - before
    for s in socks:
        s.close()
    return cpu / (per_conn * conns), per_conn * conns / elapsed


def main():
    if not os.path.exists(BASALT_BIN):
        sys.exit(f"{BASALT_BIN} missing: cargo build --release first")
    tests = [
        ("PUBLISH, 1 subscriber", lambda s: pubsub_run(s, 1, MESSAGES), "msg"),
        ("PUBLISH, 1000 subscribers", lambda s: pubsub_run(s, 1000, FANOUT_MESSAGES), "msg"),
        ("MULTI + 3 SET + EXEC, P16", lambda s: multi_run(s, TXS), "tx"),
    ]
    print(f"rounds={ROUNDS} messages={MESSAGES} fanout_messages={FANOUT_MESSAGES} txs={TXS}")
    print(f"{'test':<28} {'basalt cpu/op':>14} {'redis cpu/op':>13} {'ratio':>6}"
          f" {'basalt /s':>11} {'redis /s':>11}")
    for name, run, unit in tests:
        results = {"basalt": [], "redis": []}
        for _ in range(ROUNDS):
            for kind in ("basalt", "redis"):
                srv = Server(kind)
                try:
                    results[kind].append(run(srv))
                finally:
                    srv.stop()
        b_cpu = statistics.median(r[0] for r in results["basalt"])
        r_cpu = statistics.median(r[0] for r in results["redis"])
        b_rate = statistics.median(r[1] for r in results["basalt"])
        r_rate = statistics.median(r[1] for r in results["redis"])
        print(f"{name:<28} {b_cpu * 1e6:>11.3f} us {r_cpu * 1e6:>10.3f} us {b_cpu / r_cpu:>6.2f}"
              f" {b_rate:>11.0f} {r_rate:>11.0f}  (per {unit})")


if __name__ == "__main__":
    main()
