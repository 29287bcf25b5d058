#!/usr/bin/env python3
"""bench/snapshot.py - BGSAVE and RDB loading, Basalt against redis-server (issue 5).

For KEYS small keys (default 1,000,000; 16-byte names, 16-byte values), on each server:
  - BGSAVE time: from the BGSAVE reply until INFO says rdb_bgsave_in_progress:0;
  - server pause: how long the server itself held clients up (Redis: the fork, INFO's
    latest_fork_usec; Basalt: the instant with every shard locked, or the longest step of the
    walk holding a shard's lock, from its log, whichever is longer; pause_cpu_ms counts the
    CPU time of that step instead of its wall time, i.e. without the scheduler's delays);
  - worst stall and p99.9: the round trips of a client sending GET back to back during the
    BGSAVE, while redis-benchmark overwrites random keys with 4 connections (and, for
    reference, the same over one second without a BGSAVE: no_save_*), which include the
    machine's own scheduling delays;
  - memory growth: peak proportional set size (PSS, /proc/PID/smaps_rollup) during the BGSAVE,
    of the server plus its children (Redis's fork), over the PSS just before it;
  - load time: a fresh server on the dump file, from exec until DBSIZE answers KEYS.
Servers run one after the other (ROUNDS times, alternating) and the median is printed.

Usage: bench/snapshot.py [--quick]      (needs redis-server, redis-cli, redis-benchmark;
                                         builds nothing: run `cargo build --release` first)
Environment: BASALT_BIN, REDIS_BIN, KEYS, ROUNDS, WRITERS (redis-benchmark -c), KEEP_TMP=1.
"""

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = "--quick" in sys.argv
BASALT = os.environ.get("BASALT_BIN", os.path.join(REPO, "target/release/basalt-server"))
REDIS = os.environ.get("REDIS_BIN", "redis-server")
KEYS = int(os.environ.get("KEYS", "100000" if QUICK else "1000000"))
ROUNDS = int(os.environ.get("ROUNDS", "1" if QUICK else "3"))
WRITERS = int(os.environ.get("WRITERS", "4"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Conn:
    """A minimal RESP client: one command, one reply."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb")

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.reply()

    def reply(self):
        line = self.f.readline()
        kind, rest = line[:1], line[1:-2]
        if kind in (b"+", b"-", b":"):
            return rest
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise RuntimeError("bad reply %r" % line)


def info(c, field):
    text = c.cmd("INFO", "persistence").decode()
    for line in text.split("\r\n"):
        if line.startswith(field + ":"):
            return line.split(":", 1)[1]
    raise KeyError(field)


def start(kind, workdir):
    port = free_port()
    binary = BASALT if kind == "basalt" else REDIS
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", workdir]
    log = open(os.path.join(workdir, "server.log"), "ab")
    t0 = time.monotonic()
    p = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    while True:
        try:
            c = Conn(port)
            reply = c.cmd("DBSIZE")
            if not (isinstance(reply, bytes) and reply.startswith(b"LOADING")):
                return p, port, c, time.monotonic() - t0
            c.s.close()
        except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
            pass
        if p.poll() is not None:
            sys.exit("%s exited; see %s" % (kind, workdir))
        time.sleep(0.002)


def stop(p):
    p.send_signal(signal.SIGKILL)
    p.wait()


def fill(port):
    """KEYS keys through redis-cli --pipe."""
    proto = bytearray()
    for i in range(KEYS):
        # redis-benchmark's key names (`-r`), so the writers overwrite these keys.
        k = b"key:%012d" % i
        proto += b"*3\r\n$3\r\nSET\r\n$16\r\n%s\r\n$16\r\nvalue-%010d\r\n" % (k, i)
    subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=bytes(proto),
                   stdout=subprocess.DEVNULL, check=True)


def pss_kb(pid):
    """PSS of pid and its children, in KB."""
    total = 0
    pids = [pid]
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                pids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    for p in pids:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def one_round(kind):
    workdir = tempfile.mkdtemp(prefix="basalt-snap-")
    p, port, c, _ = start(kind, workdir)
    fill(port)
    assert int(c.cmd("DBSIZE")) == KEYS
    time.sleep(1)
    writers = subprocess.Popen(
        ["redis-benchmark", "-p", str(port), "-t", "set", "-r", str(KEYS), "-d", "16",
         "-n", "100000000", "-c", str(WRITERS), "-q"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    base_pss = pss_kb(p.pid)
    done = threading.Event()
    rtts = []

    def probe():
        pc = Conn(port)
        while not done.is_set():
            t = time.perf_counter()
            pc.cmd("GET", "key:000000000001")
            rtts.append(time.perf_counter() - t)

    # The same probe for a second without a BGSAVE: what the machine's scheduling alone
    # costs (two cores shared by the server, the writers and this script).
    quiet = threading.Thread(target=probe)
    quiet.start()
    time.sleep(1.0)
    done.set()
    quiet.join()
    baseline = sorted(rtts)
    done.clear()
    rtts.clear()

    peak = [base_pss]

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], pss_kb(p.pid))
            time.sleep(0.005)

    threads = [threading.Thread(target=probe), threading.Thread(target=sample)]
    t0 = time.monotonic()
    assert c.cmd("BGSAVE").startswith(b"Background saving started")
    for t in threads:
        t.start()
    while info(c, "rdb_bgsave_in_progress") != "0":
        time.sleep(0.002)
    save_s = time.monotonic() - t0
    done.set()
    for t in threads:
        t.join()
    writers.terminate()
    writers.wait()
    ok = info(c, "rdb_last_bgsave_status")
    during = sorted(rtts)
    # What the server itself held clients up for: the fork (Redis), or the instant and the
    # longest step of the walk (Basalt, from its log).
    if kind == "redis":
        stats = c.cmd("INFO", "stats").decode()
        pause_us = int(stats.split("latest_fork_usec:")[1].split("\r\n")[0])
        pause_cpu_us = pause_us
    else:
        log = open(os.path.join(workdir, "server.log")).read()
        instant = int(log.rsplit("every shard locked for ", 1)[1].split(" us")[0])
        hold = log.rsplit("longest shard lock hold ", 1)[1]
        hold_us, hold_cpu_us = int(hold.split(" us")[0]), int(hold.split("(")[1].split(" us")[0])
        pause_us = max(instant, hold_us)
        pause_cpu_us = max(instant, hold_cpu_us)
    stop(p)
    p2, _, c2, load_s = start(kind, workdir)
    loaded = int(c2.cmd("DBSIZE"))
    stop(p2)
    if os.environ.get("KEEP_TMP") != "1":
        shutil.rmtree(workdir, ignore_errors=True)
    assert ok == "ok" and loaded == KEYS, (kind, ok, loaded)
    return {
        "bgsave_s": save_s,
        "server_pause_ms": pause_us / 1000,
        "pause_cpu_ms": pause_cpu_us / 1000,
        "stall_ms": during[-1] * 1000,
        "p999_ms": during[int(len(during) * 0.999)] * 1000,
        "no_save_stall_ms": baseline[-1] * 1000,
        "no_save_p999_ms": baseline[int(len(baseline) * 0.999)] * 1000,
        "mem_growth_pct": (peak[0] - base_pss) * 100.0 / base_pss,
        "base_pss_mb": base_pss / 1024,
        "load_s": load_s,
    }


def main():
    for tool in (REDIS, "redis-cli", "redis-benchmark"):
        if shutil.which(tool) is None:
            sys.exit("%s not found" % tool)
    if not os.path.exists(BASALT):
        sys.exit("%s not found: cargo build --release" % BASALT)
    results = {"basalt": [], "redis": []}
    for r in range(ROUNDS):
        for kind in ("basalt", "redis"):
            res = one_round(kind)
            print("round %d %-6s %s" % (r + 1, kind,
                  " ".join("%s=%.2f" % kv for kv in res.items())), flush=True)
            results[kind].append(res)
    print("\nmedian of %d rounds, %d keys, %d writers:" % (ROUNDS, KEYS, WRITERS))
    print("%-16s %12s %12s %8s" % ("metric", "basalt", "redis", "ratio"))
    for m in ("bgsave_s", "server_pause_ms", "pause_cpu_ms", "stall_ms", "p999_ms", "no_save_stall_ms",
              "no_save_p999_ms", "mem_growth_pct", "base_pss_mb", "load_s"):
        b = statistics.median(x[m] for x in results["basalt"])
        r = statistics.median(x[m] for x in results["redis"])
        ratio = "%.2fx" % (b / r) if r else "-"
        print("%-16s %12.2f %12.2f %8s" % (m, b, r, ratio))


if __name__ == "__main__":
    main()
