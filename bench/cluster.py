#!/usr/bin/env python3
"""bench/cluster.py - Redis Cluster, Basalt nodes against redis-server nodes (issue 16).

Throughput: three masters of one kind (`redis-cli --cluster create`, no replicas) take
`redis-benchmark --cluster` SET and GET (50 clients, pipeline 1 and 16, random keys in a
100,000 key space). Measured: requests per second (redis-benchmark's figure) and the CPU
time per request summed over the three nodes (utime+stime from /proc/PID/stat, over the
requests sent), i.e. the cost of a request on the node that serves it.

Reshard: the same three masters hold KEYS keys (default 1,000,000; 16-byte names and
values, loaded per node with redis-cli --pipe); `redis-cli --cluster reshard` moves every
slot of the first node to the second (MIGRATE, pipeline of 100 keys) while a probe client
sends GET of random keys, following MOVED and ASK as a cluster client does. Measured: the
reshard's wall time, and the probe's p50 / p99 / worst round trip during it.

Each kind runs ROUNDS times, alternating; medians are printed.

Usage: bench/cluster.py [--quick]      (needs redis-server, redis-cli, redis-benchmark;
                                        builds nothing: run `cargo build --release` first)
Environment: BASALT_BIN, REDIS_BIN, KEYS, ROUNDS, REQUESTS, KEEP_TMP=1.
"""

import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snapshot as snap  # noqa: E402  (Conn, free_port, BASALT, REDIS)

QUICK = "--quick" in sys.argv
KEYS = int(os.environ.get("KEYS", "100000" if QUICK else "1000000"))
ROUNDS = int(os.environ.get("ROUNDS", "1" if QUICK else "3"))
REQUESTS = int(os.environ.get("REQUESTS", "200000" if QUICK else "1000000"))
SLOTS = 16384


def crc16(data):
    """CRC16/XMODEM, Redis Cluster's key hash."""
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key):
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1:end]
    return crc16(key) % SLOTS


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def start_cluster(kind, tmp):
    nodes = []
    binary = snap.BASALT if kind == "basalt" else snap.REDIS
    for i in range(3):
        port, cport = snap.free_port(), snap.free_port()
        d = os.path.join(tmp, "%s-%d" % (kind, i))
        os.makedirs(d)
        log = open(os.path.join(d, "server.log"), "ab")
        p = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", d, "--cluster-enabled", "yes",
             "--cluster-port", str(cport), "--cluster-node-timeout", "5000"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        while True:
            try:
                snap.Conn(port).cmd("PING")
                break
            except OSError:
                time.sleep(0.01)
        nodes.append((p, port))
    addrs = ["127.0.0.1:%d" % port for _, port in nodes]
    subprocess.run(["redis-cli", "--cluster", "create", *addrs, "--cluster-replicas", "0",
                    "--cluster-yes"], check=True, stdout=subprocess.DEVNULL)
    for _, port in nodes:
        c = snap.Conn(port)
        while b"cluster_state:ok" not in c.cmd("CLUSTER", "INFO"):
            time.sleep(0.05)
    return nodes


def stop(nodes):
    for p, _ in nodes:
        p.kill()
        p.wait()


def throughput_round(kind, tmp):
    nodes = start_cluster(kind, tmp)
    out = {}
    try:
        for pipeline in (1, 16):
            for test in ("set", "get"):
                before = sum(cpu_ticks(p.pid) for p, _ in nodes)
                t0 = time.monotonic()
                res = subprocess.run(
                    ["redis-benchmark", "--cluster", "-h", "127.0.0.1", "-p",
                     str(nodes[0][1]), "-t", test, "-n", str(REQUESTS), "-c", "50",
                     "-P", str(pipeline), "-r", "100000", "-q", "--csv"],
                    check=True, capture_output=True, text=True)
                wall = time.monotonic() - t0
                ticks = sum(cpu_ticks(p.pid) for p, _ in nodes) - before
                rps = None
                for line in res.stdout.splitlines():
                    parts = [x.strip('"') for x in line.split(",")]
                    if parts and parts[0].upper() == test.upper():
                        rps = float(parts[1])
                hz = os.sysconf("SC_CLK_TCK")
                out[(test, pipeline)] = (rps or REQUESTS / wall,
                                         ticks / hz / REQUESTS * 1e6)
    finally:
        stop(nodes)
    return out


class ClusterProbe:
    """GET of random keys, following MOVED and ASK: a cluster client's round trips."""

    def __init__(self, nodes):
        self.conns = {}
        self.map = {}
        c = snap.Conn(nodes[0][1])
        for start, end, master, *_ in c.cmd("CLUSTER", "SLOTS"):
            for s in range(int(start), int(end) + 1):
                self.map[s] = int(master[1])

    def conn(self, port):
        if port not in self.conns:
            self.conns[port] = snap.Conn(port)
        return self.conns[port]

    def get(self, key):
        port = self.map[key_slot(key)]
        reply = self.conn(port).cmd("GET", key)
        for _ in range(5):
            if isinstance(reply, bytes) and reply.startswith(b"MOVED "):
                _, slot, addr = reply.decode().split()
                port = int(addr.rsplit(":", 1)[1])
                self.map[int(slot)] = port
                reply = self.conn(port).cmd("GET", key)
            elif isinstance(reply, bytes) and reply.startswith(b"ASK "):
                port = int(reply.decode().split()[2].rsplit(":", 1)[1])
                c = self.conn(port)
                c.cmd("ASKING")
                reply = c.cmd("GET", key)
            else:
                break
        return reply


def load(nodes):
    """KEYS keys, each sent to the node serving its slot."""
    c = snap.Conn(nodes[0][1])
    owner = {}
    for start, end, master, *_ in c.cmd("CLUSTER", "SLOTS"):
        for s in range(int(start), int(end) + 1):
            owner[s] = int(master[1])
    per_node = {port: bytearray() for _, port in nodes}
    for i in range(KEYS):
        k = b"key:%012d" % i
        per_node[owner[key_slot(k)]] += (
            b"*3\r\n$3\r\nSET\r\n$16\r\n%s\r\n$16\r\nvalue-%010d\r\n" % (k, i))
    for port, proto in per_node.items():
        subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=bytes(proto),
                       stdout=subprocess.DEVNULL, check=True)


def reshard_round(kind, tmp):
    nodes = start_cluster(kind, tmp)
    try:
        load(nodes)
        ids = [snap.Conn(port).cmd("CLUSTER", "MYID").decode() for _, port in nodes]
        probe = ClusterProbe(nodes)
        times, wrong, stop_flag = [], [0], threading.Event()

        def run_probe():
            while not stop_flag.is_set():
                i = random.randrange(KEYS)
                t0 = time.perf_counter()
                v = probe.get(b"key:%012d" % i)
                times.append((time.perf_counter() - t0) * 1000)
                if v != b"value-%010d" % i:
                    wrong[0] += 1

        t = threading.Thread(target=run_probe)
        t.start()
        t0 = time.monotonic()
        subprocess.run(["redis-cli", "--cluster", "reshard", "127.0.0.1:%d" % nodes[0][1],
                        "--cluster-from", ids[0], "--cluster-to", ids[1],
                        "--cluster-slots", "5461", "--cluster-yes",
                        "--cluster-pipeline", "100"],
                       check=True, stdout=subprocess.DEVNULL)
        took = time.monotonic() - t0
        stop_flag.set()
        t.join()
        times.sort()
        q = lambda f: times[min(len(times) - 1, int(f * len(times)))]  # noqa: E731
        return took, q(0.5), q(0.99), times[-1], wrong[0]
    finally:
        stop(nodes)


def main():
    tmp = tempfile.mkdtemp(prefix="basalt-cluster-bench-")
    results = {"basalt": [], "redis": []}
    moves = {"basalt": [], "redis": []}
    try:
        for r in range(ROUNDS):
            for kind in ("basalt", "redis") if r % 2 == 0 else ("redis", "basalt"):
                d = os.path.join(tmp, "t%d" % r)
                os.makedirs(d, exist_ok=True)
                results[kind].append(throughput_round(kind, d))
                d = os.path.join(tmp, "m%d" % r)
                os.makedirs(d, exist_ok=True)
                moves[kind].append(reshard_round(kind, d))
    finally:
        if os.environ.get("KEEP_TMP") != "1":
            shutil.rmtree(tmp, ignore_errors=True)
    med = statistics.median
    print("redis-benchmark --cluster, 3 masters, 50 clients, %d requests (median of %d)"
          % (REQUESTS, ROUNDS))
    print("%-10s %-4s %14s %14s %12s %12s %8s" % ("test", "P", "basalt rps", "redis rps",
                                                 "basalt us/req", "redis us/req", "cpu b/r"))
    for key in sorted(results["basalt"][0]):
        b = [r[key] for r in results["basalt"]]
        rd = [r[key] for r in results["redis"]]
        bcpu, rcpu = med([x[1] for x in b]), med([x[1] for x in rd])
        print("%-10s %-4d %14.0f %14.0f %12.2f %12.2f %8.2f" % (
            key[0], key[1], med([x[0] for x in b]), med([x[0] for x in rd]), bcpu, rcpu,
            bcpu / rcpu))
    print()
    print("reshard of one master's 5461 slots, %d keys in the cluster (median of %d)"
          % (KEYS, ROUNDS))
    print("%-8s %10s %10s %10s %10s %8s" % ("server", "time s", "p50 ms", "p99 ms",
                                            "worst ms", "wrong"))
    for kind in ("basalt", "redis"):
        m = moves[kind]
        print("%-8s %10.2f %10.3f %10.3f %10.2f %8d" % (
            kind, med([x[0] for x in m]), med([x[1] for x in m]), med([x[2] for x in m]),
            med([x[3] for x in m]), max(x[4] for x in m)))


if __name__ == "__main__":
    main()
