#!/usr/bin/env python3
"""bench/scripting_latency_memory.py - two script figures, Basalt against redis-server (issue 12):

1. Memory of 10,000 cached scripts: used_memory and RSS after SCRIPT LOAD of SCRIPTS distinct
   short scripts, minus before, per script.
2. GET latency on another key while a 100 ms script runs: one client runs EVAL of a script that
   spins for SCRIPT_MS on key {a}, over and over; another sends GET on key b (another shard in
   Basalt) one at a time; the GETs' p50/p99/max round trips are printed. Redis runs one
   command at a time, so its GETs wait for the script; Basalt serves keys the script does not
   hold on its other I/O thread.

Usage: bench/scripting_latency_memory.py [--quick]
Environment: BASALT_BIN [target/release/basalt-server], REDIS_BIN [redis-server],
             SCRIPTS [10000], SCRIPT_MS [100], SECONDS [5]
"""

import os
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
SCRIPTS = int(os.environ.get("SCRIPTS", "1000" if QUICK else "10000"))
SCRIPT_MS = int(os.environ.get("SCRIPT_MS", "100"))
SECONDS = float(os.environ.get("SECONDS", "2" if QUICK else "5"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def call(self, *args):
        self.s.sendall(cmd(*args))
        return self.reply()

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.s.recv(65536)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        return line


def start(binary, name, tmp):
    port = free_port()
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    p = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no"],
                         cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            Conn(port).call("PING")
            return p, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not start")


def info(conn, field):
    text = conn.call("INFO", "memory").decode()
    for line in text.split("\r\n"):
        if line.startswith(field + ":"):
            return int(line.split(":")[1])
    return 0


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def memory_per_script(proc, port):
    c = Conn(port)
    before, rss0 = info(c, "used_memory"), rss_bytes(proc.pid)
    for i in range(SCRIPTS):
        c.call("SCRIPT", "LOAD", f"return redis.call('get', KEYS[1]) .. '{i}'")
    after, rss1 = info(c, "used_memory"), rss_bytes(proc.pid)
    lua = info(c, "used_memory_lua")
    return (after - before) / SCRIPTS, (rss1 - rss0) / SCRIPTS, lua


def get_latency(port):
    spin = (
        "local t0 = redis.call('time') local start = t0[1] * 1000000 + t0[2] "
        "repeat local t = redis.call('time') until t[1] * 1000000 + t[2] - start >= "
        f"{SCRIPT_MS * 1000} return redis.call('incr', KEYS[1])"
    )
    script_conn = Conn(port)  # first connection: one I/O thread
    get_conn = Conn(port)     # second: the other
    get_conn.call("SET", "b", "v")
    stop = threading.Event()

    def run_scripts():
        while not stop.is_set():
            script_conn.call("EVAL", spin, "1", "{a}")

    t = threading.Thread(target=run_scripts)
    t.start()
    time.sleep(0.2)
    rtts = []
    end = time.time() + SECONDS
    while time.time() < end:
        t0 = time.perf_counter()
        get_conn.call("GET", "b")
        rtts.append((time.perf_counter() - t0) * 1000)
    stop.set()
    t.join()
    rtts.sort()
    p = lambda q: rtts[min(len(rtts) - 1, int(q * len(rtts)))]
    return len(rtts), p(0.5), p(0.99), rtts[-1]


def main():
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for name, binary in (("basalt", BASALT_BIN), ("redis", REDIS_BIN)):
            proc, port = start(binary, name, tmp)
            try:
                mem = memory_per_script(proc, port)
                lat = get_latency(port)
            finally:
                proc.terminate()
                proc.wait()
            rows.append((name, mem, lat))
        print(f"{SCRIPTS} cached scripts: bytes per script")
        print(f"{'server':8} {'used_memory':>12} {'rss':>10} {'used_memory_lua':>16}")
        for name, (um, rss, lua), _ in rows:
            print(f"{name:8} {um:12.0f} {rss:10.0f} {lua:16d}")
        print(f"\nGET on another key while a {SCRIPT_MS} ms script runs ({SECONDS:.0f} s): round trip, ms")
        print(f"{'server':8} {'GETs':>8} {'p50':>8} {'p99':>8} {'max':>8}")
        for name, _, (n, p50, p99, mx) in rows:
            print(f"{name:8} {n:8d} {p50:8.2f} {p99:8.2f} {mx:8.2f}")


if __name__ == "__main__":
    main()
