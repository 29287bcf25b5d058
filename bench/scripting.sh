#!/usr/bin/env bash
# bench/scripting.sh - EVALSHA on Basalt against redis-server (issue 12): server CPU time per
# call for a 1-key GET+INCR script and a 10-key INCR script, at pipeline 1 and 16, with
# redis-benchmark driving both servers alike. Runs alternate Basalt, Redis (ROUNDS rounds);
# the median is printed. CPU time is the server's utime+stime delta from /proc/PID/stat.
#
# Usage: bench/scripting.sh [--quick]
# Environment: BASALT_BIN [target/release/basalt-server], REDIS_BIN [redis-server],
#              REQUESTS [200000], CLIENTS [50], ROUNDS [3], KEYSPACE [100000]
set -euo pipefail

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
BASALT_BIN=${BASALT_BIN:-$REPO/target/release/basalt-server}
REDIS_BIN=${REDIS_BIN:-redis-server}
quick=0
[ "${1:-}" = "--quick" ] && quick=1
REQUESTS=${REQUESTS:-$([ $quick = 1 ] && echo 20000 || echo 200000)}
ROUNDS=${ROUNDS:-$([ $quick = 1 ] && echo 1 || echo 3)}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
TMP=$(mktemp -d)
# The servers' pids, in files: they are started from subshells, so `jobs` does not list them.
trap 'for f in "$TMP"/*.pid; do [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null; done; rm -rf "$TMP"' EXIT

# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

GET_INCR="redis.call('get', KEYS[1]) return redis.call('incr', KEYS[1])"
TEN_KEYS="for i = 1, #KEYS do redis.call('incr', KEYS[i]) end return #KEYS"

read -r BPID BPORT < <(start basalt "$BASALT_BIN")
read -r RPID RPORT < <(start redis "$REDIS_BIN")

run() { # pid port pipeline args... -> µs of server CPU per call
    local pid=$1 port=$2 p=$3; shift 3
    local before after
    before=$(cpu_ticks "$pid")
    redis-benchmark -p "$port" -n "$REQUESTS" -c "$CLIENTS" -P "$p" -r "$KEYSPACE" -q "$@" >/dev/null
    after=$(cpu_ticks "$pid")
    python3 -c "print(f'{($after-$before)/$TICK*1e6/$REQUESTS:.2f}')"
}


printf '%-28s %4s %12s %12s %8s\n' "script" "P" "basalt µs" "redis µs" "ratio"
for name in get_incr ten_keys; do
    if [ $name = get_incr ]; then body=$GET_INCR; keys=(1 "key:__rand_int__");
    else body=$TEN_KEYS; keys=(10); for i in $(seq 10); do keys+=("k$i:__rand_int__"); done; fi
    bsha=$(redis-cli -p "$BPORT" script load "$body")
    rsha=$(redis-cli -p "$RPORT" script load "$body")
    for p in 1 16; do
        b=(); r=()
        for _ in $(seq "$ROUNDS"); do
            b+=("$(run "$BPID" "$BPORT" "$p" evalsha "$bsha" "${keys[@]}")")
            r+=("$(run "$RPID" "$RPORT" "$p" evalsha "$rsha" "${keys[@]}")")
        done
        bm=$(median "${b[@]}"); rm_=$(median "${r[@]}")
        ratio=$(python3 -c "print(f'{$bm/$rm_:.2f}' if $rm_ > 0 else '-')")
        printf '%-28s %4s %12s %12s %8s\n' "$name" "$p" "$bm" "$rm_" "$ratio"
    done
done
