#!/usr/bin/env python3
"""bench/eviction.py - eviction quality and memory bounds, Basalt against redis-server (issue 13):

1. Hit ratio of a cache: a Zipfian (s=0.99) stream of GETs over KEYS keys, ten times more
   than fit in MAXMEMORY; a miss SETs the key (cache-aside). After a warm-up of OPS
   operations, the hit ratio of the next OPS is printed, for allkeys-lru and allkeys-lfu,
   both servers with the same maxmemory and samples.
2. A write flood: SETs of new keys for FLOOD_SECONDS; the highest used_memory and RSS seen,
   against maxmemory, and the p99 of another client's single SETs meanwhile (every one of
   them also has to evict: what eviction costs a writer).

Usage: bench/eviction.py [--quick]
Environment: BASALT_BIN [target/release/basalt-server], REDIS_BIN [redis-server],
             MAXMEMORY_MB [32], VALUE_BYTES [1000], OPS [300000], FLOOD_SECONDS [30]
"""

import bisect
import itertools
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

# The RESP client and helpers of bench/scripting_latency_memory.py.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scripting_latency_memory as resp  # noqa: E402
from scripting_latency_memory import cmd, free_port, rss_bytes  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASALT_BIN = os.environ.get("BASALT_BIN", os.path.join(REPO, "target/release/basalt-server"))
REDIS_BIN = os.environ.get("REDIS_BIN", "redis-server")
QUICK = "--quick" in sys.argv
MAXMEMORY = int(os.environ.get("MAXMEMORY_MB", "32")) * 1024 * 1024
VALUE = b"v" * int(os.environ.get("VALUE_BYTES", "1000"))
OPS = int(os.environ.get("OPS", "60000" if QUICK else "300000"))
FLOOD_SECONDS = float(os.environ.get("FLOOD_SECONDS", "5" if QUICK else "30"))
BATCH = 200


class Conn(resp.Conn):
    """A RESP connection that can also send a batch of commands and read their replies."""

    def pipeline(self, commands):
        self.s.sendall(b"".join(commands))
        return [self.reply() for _ in commands]


def start(binary, name, tmp, policy):
    port = free_port()
    d = os.path.join(tmp, name + policy)
    os.makedirs(d, exist_ok=True)
    p = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no",
                          "--maxmemory", str(MAXMEMORY), "--maxmemory-policy", policy],
                         cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            Conn(port).call("PING")
            return p, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not start")


def info(conn, section, field):
    for line in conn.call("INFO", section).decode().split("\r\n"):
        if line.startswith(field + ":"):
            return int(line.split(":")[1])
    return 0


def zipf_stream(n_keys, seed):
    """Key indexes drawn from Zipf(0.99) over n_keys (inverse CDF), the same for both servers."""
    weights = [1.0 / (i + 1) ** 0.99 for i in range(n_keys)]
    cdf = list(itertools.accumulate(weights))
    total = cdf[-1]
    rng = random.Random(seed)
    # Ranks are shuffled so popular keys do not share a prefix or a shard by construction.
    names = list(range(n_keys))
    rng.shuffle(names)
    while True:
        yield names[bisect.bisect_left(cdf, rng.random() * total)]


def hit_ratio(port, n_keys):
    c = Conn(port)
    stream = zipf_stream(n_keys, 42)
    hits = total = 0
    for phase in ("warm", "measure"):
        done = 0
        while done < OPS:
            keys = [b"key:%d" % next(stream) for _ in range(BATCH)]
            got = c.pipeline([cmd("GET", k) for k in keys])
            misses = [k for k, v in zip(keys, got) if v is None]
            if misses:
                c.pipeline([cmd("SET", k, VALUE) for k in misses])
            if phase == "measure":
                hits += BATCH - len(misses)
                total += BATCH
            done += BATCH
    keys_held = int(c.call("DBSIZE")[1:])
    return hits / total, keys_held


def flood(proc, port):
    """The flood, and beside it a client timing single SETs: what eviction costs writers."""
    c = Conn(port)
    peak_used = peak_rss = 0
    end = time.time() + FLOOD_SECONDS
    times = []

    def probe():
        p = Conn(port)
        n = 0
        while time.time() < end:
            t = time.perf_counter()
            p.call("SET", b"probe:%d" % n, VALUE)
            times.append(time.perf_counter() - t)
            n += 1
            time.sleep(0.001)

    prober = threading.Thread(target=probe)
    prober.start()
    i = 0
    while time.time() < end:
        c.pipeline([cmd("SET", b"flood:%d" % (i + j), VALUE) for j in range(BATCH)])
        i += BATCH
        if i % (BATCH * 25) == 0:
            peak_used = max(peak_used, info(c, "memory", "used_memory"))
            peak_rss = max(peak_rss, rss_bytes(proc.pid))
    prober.join()
    times.sort()
    p99 = times[len(times) * 99 // 100] * 1000 if times else 0.0
    return peak_used, peak_rss, i, p99


def main():
    fit = MAXMEMORY // (len(VALUE) + 100)
    n_keys = fit * 10
    print(f"maxmemory {MAXMEMORY >> 20} MB, values {len(VALUE)} B, ~{fit} keys fit, "
          f"{n_keys} keys, {OPS} operations measured after as many of warm-up")
    with tempfile.TemporaryDirectory() as tmp:
        for policy in ("allkeys-lru", "allkeys-lfu"):
            ratios, held = {}, {}
            for name, binary in (("basalt", BASALT_BIN), ("redis", REDIS_BIN)):
                p, port = start(binary, name, tmp, policy)
                try:
                    ratios[name], held[name] = hit_ratio(port, n_keys)
                finally:
                    p.kill()
                    p.wait()
            print(f"{policy:12} hit ratio  basalt {ratios['basalt']:.4f}  redis {ratios['redis']:.4f}"
                  f"   keys held  basalt {held['basalt']}  redis {held['redis']}")
        for name, binary in (("basalt", BASALT_BIN), ("redis", REDIS_BIN)):
            p, port = start(binary, name, tmp, "allkeys-lru")
            try:
                used, rss, n, p99 = flood(p, port)
            finally:
                p.kill()
                p.wait()
            print(f"flood {name:6} {n} SETs in {FLOOD_SECONDS:.0f} s: peak used_memory "
                  f"{used / MAXMEMORY:.3f}x maxmemory, peak RSS {rss >> 20} MB "
                  f"({(rss - MAXMEMORY) >> 20} MB over maxmemory); "
                  f"another client's SET p99 {p99:.2f} ms")


if __name__ == "__main__":
    main()
