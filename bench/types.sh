#!/usr/bin/env bash
# bench/types.sh - bitmaps, HyperLogLog, geo and streams on Basalt against redis-server (issue
# 14): server CPU time per request for SETBIT, PFADD, GEOADD, GEOSEARCH and XADD at pipeline 1
# and 16, XREADGROUP (one entry per read from a long stream) at pipeline 16,
# and per call for BITCOUNT and BITOP over a 64 MB string. redis-benchmark drives both
# servers alike; runs alternate Basalt, Redis (ROUNDS rounds) and the median is printed.
# CPU time is the server's utime+stime delta from /proc/PID/stat.
#
# Usage: bench/types.sh [--quick]
# Environment: BASALT_BIN [target/release/basalt-server], REDIS_BIN [redis-server],
#              REQUESTS [200000], CLIENTS [50], ROUNDS [3], KEYSPACE [1000000]
set -euo pipefail

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
BASALT_BIN=${BASALT_BIN:-$REPO/target/release/basalt-server}
REDIS_BIN=${REDIS_BIN:-redis-server}
quick=0
[ "${1:-}" = "--quick" ] && quick=1
REQUESTS=${REQUESTS:-$([ $quick = 1 ] && echo 20000 || echo 200000)}
ROUNDS=${ROUNDS:-$([ $quick = 1 ] && echo 1 || echo 3)}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-1000000}
TMP=$(mktemp -d)
trap 'for f in "$TMP"/*.pid; do [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null; done; rm -rf "$TMP"' EXIT

# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

read -r BPID BPORT < <(start basalt "$BASALT_BIN")
read -r RPID RPORT < <(start redis "$REDIS_BIN")

bench() { # pid port pipeline requests args... -> µs of server CPU per request
    local pid=$1 port=$2 p=$3 n=$4; shift 4
    local before after
    before=$(cpu_ticks "$pid")
    redis-benchmark -p "$port" -n "$n" -c "$CLIENTS" -P "$p" -r "$KEYSPACE" -q "$@" >/dev/null
    after=$(cpu_ticks "$pid")
    python3 -c "print(f'{($after-$before)/$TICK*1e6/$n:.2f}')"
}


row() { # label pipeline requests args...
    local label=$1 p=$2 n=$3; shift 3
    local b=() r=()
    for _ in $(seq "$ROUNDS"); do
        b+=("$(bench "$BPID" "$BPORT" "$p" "$n" "$@")")
        r+=("$(bench "$RPID" "$RPORT" "$p" "$n" "$@")")
    done
    local bm rm
    bm=$(median "${b[@]}"); rm=$(median "${r[@]}")
    printf '%-34s %4s %12s %12s %8s\n' "$label" "$p" "$bm" "$rm" \
        "$(python3 -c "print(f'{$bm/$rm:.2f}' if $rm > 0 else '-')")"
}

# A geo index of 100,000 random points for the searches, the same on both servers.
python3 - "$BPORT" "$RPORT" <<'PY'
import random, socket, sys
def load(port):
    rnd = random.Random(7)
    s = socket.create_connection(("127.0.0.1", int(port)))
    out = []
    for i in range(100000):
        lon, lat = rnd.uniform(-10, 10), rnd.uniform(40, 50)
        args = [b"GEOADD", b"places", str(lon).encode(), str(lat).encode(), b"p%d" % i]
        out.append(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
    s.sendall(b"".join(out))
    got = b""
    while got.count(b"\r\n") < 100000:
        got += s.recv(1 << 20)
for p in sys.argv[1:]:
    load(p)
PY

# A stream for XREADGROUP to consume one entry per read, with enough entries for every round.
python3 - "$((REQUESTS * ROUNDS + 1000))" "$BPORT" "$RPORT" <<'PY'
import socket, sys
n = int(sys.argv[1])
for port in sys.argv[2:]:
    s = socket.create_connection(("127.0.0.1", int(port)))
    for start in range(0, n, 10000):
        batch = b"".join(
            b"*5\r\n$4\r\nXADD\r\n$6\r\nevents\r\n$%d\r\n%d-1\r\n$4\r\ntype\r\n$5\r\nclick\r\n"
            % (len(str(i + 1)) + 2, i + 1)
            for i in range(start, min(n, start + 10000))
        )
        s.sendall(batch)
        # Each reply is a bulk ID: two CRLFs.
        want = 2 * (min(n, start + 10000) - start)
        got = b""
        while got.count(b"\r\n") < want:
            got += s.recv(1 << 20)
    s.sendall(b"*5\r\n$6\r\nXGROUP\r\n$6\r\nCREATE\r\n$6\r\nevents\r\n$1\r\ng\r\n$1\r\n0\r\n")
    got = b""
    while b"\r\n" not in got:
        got += s.recv(100)
    assert got.startswith(b"+OK"), got
PY

printf '%-34s %4s %12s %12s %8s\n' "request" "P" "basalt µs" "redis µs" "ratio"
for p in 1 16; do
    row "SETBIT bm:<rand> 100 1" "$p" "$REQUESTS" setbit bm:__rand_int__ 100 1
    row "PFADD hll <rand>" "$p" "$REQUESTS" pfadd hll el:__rand_int__
    row "GEOADD g <lon> <lat> <rand>" "$p" "$REQUESTS" geoadd g 2.35 48.85 m:__rand_int__
    row "GEOSEARCH places 5 km (~3 hits)" "$p" "$((REQUESTS / 2))" \
        geosearch places fromlonlat 2.35 45.0 byradius 5 km
    row "XADD s:<rand> * type click" "$p" "$REQUESTS" xadd s:__rand_int__ '*' type click
done
row "XREADGROUP g c COUNT 1 events >" 16 "$REQUESTS" \
    xreadgroup group g c count 1 streams events '>'

# One 64 MB string on each server, then whole-string BITCOUNT and BITOP NOT.
for port in "$BPORT" "$RPORT"; do
    redis-cli -p "$port" setrange big64 67108863 x >/dev/null
    redis-cli -p "$port" bitop not big64 big64 >/dev/null
done
row "BITCOUNT of 64 MB" 1 50 bitcount big64
row "BITOP NOT of 64 MB" 1 20 bitop not big64b big64
