#!/usr/bin/env python3
"""bench/replication.py - replication, Basalt against redis-server (issue 15).

Full sync: a master holding KEYS small keys (default 1,000,000; 16-byte names and values)
gets a replica of its own kind (Basalt -> Basalt, Redis -> Redis; diskless, no delay), while
redis-benchmark overwrites random keys with WRITERS connections and a probe client sends GET
back to back. Measured per server:
  - sync time: from the replica's start until it is online and has applied the master's
    offset;
  - master memory growth: peak PSS of the master and its children (Redis's fork) during the
    sync, over its PSS just before;
  - probe p99 / p99.9 / worst round trip on the master during the sync.

Steady state: a master with two replicas of its kind takes SET at pipeline 16 (50 clients,
REQUESTS requests, random keys in a 100,000 key space). Measured: the master's CPU time per
request (utime+stime from /proc/PID/stat), its throughput, and the replicas' lag in bytes
(master_repl_offset minus the slowest replica's applied offset, both read from INFO every
10 ms: median and max), and how long they take to catch up after the last request.

Servers run one kind after the other (ROUNDS times, alternating) and the median is printed.

Usage: bench/replication.py [--quick]     (needs redis-server, redis-cli, redis-benchmark;
                                           builds nothing: run `cargo build --release` first)
Environment: BASALT_BIN, REDIS_BIN, KEYS, ROUNDS, WRITERS, REQUESTS, KEEP_TMP=1.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snapshot as snap  # noqa: E402  (Conn, fill, pss_kb, free_port: shared helpers)

QUICK = "--quick" in sys.argv
ROUNDS = int(os.environ.get("ROUNDS", "1" if QUICK else "3"))
WRITERS = int(os.environ.get("WRITERS", "4"))
REQUESTS = int(os.environ.get("REQUESTS", "200000" if QUICK else "2000000"))


def start(kind, workdir, extra=()):
    port = snap.free_port()
    binary = snap.BASALT if kind == "basalt" else snap.REDIS
    os.makedirs(workdir, exist_ok=True)
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", workdir, "--repl-diskless-sync", "yes",
            "--repl-diskless-sync-delay", "0", *extra]
    log = open(os.path.join(workdir, "server.log"), "ab")
    p = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    while True:
        try:
            c = snap.Conn(port)
            c.cmd("PING")
            return p, port, c
        except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
            pass
        if p.poll() is not None:
            sys.exit("%s exited; see %s" % (kind, workdir))
        time.sleep(0.01)


def repl_info(c):
    text = c.cmd("INFO", "replication").decode()
    return dict(line.split(":", 1) for line in text.split("\r\n") if ":" in line)


def synced(master, replica):
    m, r = repl_info(master), repl_info(replica)
    return (r.get("master_link_status") == "up"
            and "state=online" in m.get("slave0", "")
            and m["master_repl_offset"] == r.get("slave_repl_offset"))


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0


def full_sync_round(kind, tmp):
    mdir = os.path.join(tmp, kind + "-master")
    master, mport, mc = start(kind, mdir)
    try:
        snap.fill(mport)
        base_pss = snap.pss_kb(master.pid)
        writers = subprocess.Popen(
            ["redis-benchmark", "-p", str(mport), "-t", "set", "-r", str(snap.KEYS),
             "-d", "16", "-c", str(WRITERS), "-n", "100000000", "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        done = threading.Event()
        rtts, peak = [], [base_pss]

        def probe():
            c = snap.Conn(mport)
            while not done.is_set():
                t0 = time.perf_counter()
                c.cmd("GET", "key:000000000001")
                rtts.append((time.perf_counter() - t0) * 1000)

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], snap.pss_kb(master.pid))
                time.sleep(0.01)

        threads = [threading.Thread(target=probe), threading.Thread(target=sample)]
        for t in threads:
            t.start()
        t0 = time.monotonic()
        replica, _, rc = start(kind, os.path.join(tmp, kind + "-replica"),
                               ["--replicaof", "127.0.0.1", str(mport)])
        while not ("state=online" in repl_info(mc).get("slave0", "")
                   and repl_info(rc).get("master_link_status") == "up"):
            time.sleep(0.005)
        sync_s = time.monotonic() - t0
        done.set()
        for t in threads:
            t.join()
        writers.kill()
        writers.wait()
        while not synced(mc, rc):
            time.sleep(0.01)
        snap.stop(replica)
        return {
            "sync_s": sync_s,
            "mem_growth_mb": (peak[0] - base_pss) / 1024,
            "p99_ms": percentile(rtts, 0.99),
            "p999_ms": percentile(rtts, 0.999),
            "worst_ms": max(rtts) if rtts else 0.0,
        }
    finally:
        snap.stop(master)


def steady_round(kind, tmp):
    master, mport, mc = start(kind, os.path.join(tmp, kind + "-steady-master"))
    replicas = [start(kind, os.path.join(tmp, "%s-steady-r%d" % (kind, i)),
                      ["--replicaof", "127.0.0.1", str(mport)]) for i in range(2)]
    try:
        while not all(synced(mc, rc) for _, _, rc in replicas):
            time.sleep(0.01)
        lags, done = [], threading.Event()

        def sample():
            # The replicas' own applied offsets (their ACKs come once a second only).
            c = snap.Conn(mport)
            rcs = [snap.Conn(port) for _, port, _ in replicas]
            while not done.is_set():
                sent = int(repl_info(c)["master_repl_offset"])
                applied = [int(repl_info(rc)["slave_repl_offset"]) for rc in rcs]
                lags.append(max(0, sent - min(applied)))
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        before = cpu_ticks(master.pid)
        t0 = time.monotonic()
        subprocess.run(["redis-benchmark", "-p", str(mport), "-t", "set", "-P", "16",
                        "-c", "50", "-r", "100000", "-n", str(REQUESTS), "-q"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        elapsed = time.monotonic() - t0
        ticks = cpu_ticks(master.pid) - before
        t1 = time.monotonic()
        while not all(synced(mc, rc) for _, _, rc in replicas):
            time.sleep(0.002)
        catch_up = time.monotonic() - t1
        done.set()
        sampler.join()
        tick = os.sysconf("SC_CLK_TCK")
        return {
            "ops_s": REQUESTS / elapsed,
            "cpu_us_per_req": ticks / tick * 1e6 / REQUESTS,
            "lag_median_kb": statistics.median(lags) / 1024 if lags else 0.0,
            "lag_max_kb": max(lags) / 1024 if lags else 0.0,
            "catch_up_ms": catch_up * 1000,
        }
    finally:
        for p, _, _ in replicas:
            snap.stop(p)
        snap.stop(master)


def table(title, results, better_low):
    print("\n%s (median of %d)" % (title, ROUNDS))
    print("%-18s %12s %12s %14s" % ("", "basalt", "redis", "redis/basalt"))
    for key, low in better_low.items():
        b = statistics.median(r[key] for r in results["basalt"])
        r = statistics.median(r[key] for r in results["redis"])
        ratio = (r / b if low else b / r) if b and r else float("nan")
        print("%-18s %12.2f %12.2f %14.2f" % (key, b, r, ratio))


def main():
    tmp = tempfile.mkdtemp(prefix="basalt-bench-repl-")
    try:
        sync = {"basalt": [], "redis": []}
        steady = {"basalt": [], "redis": []}
        for _ in range(ROUNDS):
            for kind in ("basalt", "redis"):
                sync[kind].append(full_sync_round(kind, tmp))
                steady[kind].append(steady_round(kind, tmp))
        print("keys=%d writers=%d requests=%d rounds=%d" % (snap.KEYS, WRITERS, REQUESTS, ROUNDS))
        # Ratios > 1 favour Basalt (for "lower is better" figures: redis / basalt).
        table("Full sync under writes", sync, {
            "sync_s": True, "mem_growth_mb": True, "p99_ms": True, "p999_ms": True,
            "worst_ms": True})
        table("SET -P 16 with two replicas", steady, {
            "ops_s": False, "cpu_us_per_req": True, "lag_median_kb": True,
            "lag_max_kb": True, "catch_up_ms": True})
    finally:
        if os.environ.get("KEEP_TMP") == "1":
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
