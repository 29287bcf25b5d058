#!/usr/bin/env python3
"""bench/tls.py - GET/SET over TLS, Basalt against redis-server (issue 13).

Both servers listen on a plain port and on a tls-port with the same certificate (made here
with openssl; clients are not asked for certificates), and redis-benchmark --tls runs
SET and GET at pipeline 1 and 16 against each in turn, ROUNDS alternating rounds. Printed:
requests per second and server CPU time per request (utime+stime from /proc/PID/stat),
medians, with the ratio Basalt / Redis (below 1 is better for Basalt).

Usage: bench/tls.py [--quick]
Environment: BASALT_BIN [target/release/basalt-server], REDIS_BIN [redis-server],
             REQUESTS [200000], CLIENTS [50], ROUNDS [3]
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scripting_latency_memory import cmd, free_port  # noqa: E402
import scripting_latency_memory as resp  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASALT_BIN = os.environ.get("BASALT_BIN", os.path.join(REPO, "target/release/basalt-server"))
REDIS_BIN = os.environ.get("REDIS_BIN", "redis-server")
QUICK = "--quick" in sys.argv
REQUESTS = int(os.environ.get("REQUESTS", "20000" if QUICK else "200000"))
CLIENTS = int(os.environ.get("CLIENTS", "50"))
ROUNDS = int(os.environ.get("ROUNDS", "1" if QUICK else "3"))
HZ = os.sysconf("SC_CLK_TCK")


def certificates(d):
    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "2", "-subj", "/CN=bench CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf")


def start(binary, name, d):
    port, tls_port = free_port(), free_port()
    wd = os.path.join(d, name)
    os.makedirs(wd, exist_ok=True)
    p = subprocess.Popen([binary, "--port", str(port), "--tls-port", str(tls_port),
                          "--tls-cert-file", os.path.join(d, "server.crt"),
                          "--tls-key-file", os.path.join(d, "server.key"),
                          "--tls-auth-clients", "no", "--save", "", "--appendonly", "no"],
                         cwd=wd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            cmd(resp.Conn(port), "PING")
            return p, port, tls_port
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{name} did not start")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def bench(proc, tls_port, ca, test, pipeline):
    before = cpu_seconds(proc.pid)
    out = subprocess.run(["redis-benchmark", "-p", str(tls_port), "--tls", "--cacert", ca,
                          "-t", test, "-n", str(REQUESTS), "-c", str(CLIENTS),
                          "-P", str(pipeline), "-r", "100000", "--csv"],
                         capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(proc.pid) - before
    rps = float(out.strip().splitlines()[-1].split(",")[1].strip('"'))
    return rps, cpu / REQUESTS * 1e6


def main():
    with tempfile.TemporaryDirectory() as d:
        certificates(d)
        ca = os.path.join(d, "ca.crt")
        servers = {name: start(binary, name, d)
                   for name, binary in (("basalt", BASALT_BIN), ("redis", REDIS_BIN))}
        try:
            print("| test | pipeline | Basalt CPU/req | Redis CPU/req | ratio | Basalt /s | Redis /s |")
            print("|---|---|---|---|---|---|---|")
            for test in ("set", "get"):
                for pipeline in (1, 16):
                    got = {"basalt": [], "redis": []}
                    for _ in range(ROUNDS):
                        for name, (proc, _, tls_port) in servers.items():
                            got[name].append(bench(proc, tls_port, ca, test, pipeline))
                    med = {n: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v))
                           for n, v in got.items()}
                    (b_rps, b_cpu), (r_rps, r_cpu) = med["basalt"], med["redis"]
                    print(f"| {test.upper()} | {pipeline} | {b_cpu:.2f} µs | {r_cpu:.2f} µs | "
                          f"{b_cpu / r_cpu:.2f} | {b_rps / 1000:.0f}k | {r_rps / 1000:.0f}k |")
        finally:
            for proc, _, _ in servers.values():
                proc.terminate()
                proc.wait()


if __name__ == "__main__":
    main()
