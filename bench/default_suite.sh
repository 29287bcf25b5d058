#!/usr/bin/env bash
# bench/default_suite.sh - redis-benchmark's whole default suite (`redis-benchmark -n N -q`,
# every test it runs without -t) against Basalt and against redis-server, alternating, and a
# side-by-side table of requests per second, plus the server CPU time of each whole suite run
# (utime+stime from /proc/PID/stat).
#
#   bench/default_suite.sh                 # N=100000, ROUNDS=2 (best of)
#   N=20000 ROUNDS=1 bench/default_suite.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
BASALT_BIN="${BASALT_BIN:-$root/target/release/basalt-server}"
REDIS_BIN="${REDIS_BIN:-redis-server}"
N="${N:-100000}"
ROUNDS="${ROUNDS:-2}"
CLIENTS="${CLIENTS:-50}"

[ -x "$BASALT_BIN" ] || { echo "missing $BASALT_BIN (cargo build --release)" >&2; exit 1; }
tmp="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

declare -A PORT=() PID=()
start() { # name bin
  local name="$1" bin="$2" port dir
  port="$(free_port)"; dir="$tmp/$name"; mkdir -p "$dir"
  if [ "$name" = redis ]; then
    (cd "$dir" && exec "$bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no >"$dir/log" 2>&1) &
  else
    (cd "$dir" && exec "$bin" --port "$port" --bind 127.0.0.1 >"$dir/log" 2>&1) &
  fi
  PID[$name]=$!; PORT[$name]=$port; pids+=("$!")
  for _ in $(seq 200); do redis-cli -p "$port" ping >/dev/null 2>&1 && return; sleep 0.05; done
  echo "$name did not start" >&2; exit 1
}

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start basalt "$BASALT_BIN"
start redis "$REDIS_BIN"
clk="$(getconf CLK_TCK)"
declare -A CPU=()
for ((r = 1; r <= ROUNDS; r++)); do
  for name in basalt redis; do
    redis-cli -p "${PORT[$name]}" flushall >/dev/null
    t0="$(ticks "${PID[$name]}")"
    redis-benchmark -p "${PORT[$name]}" -n "$N" -c "$CLIENTS" -q --csv >"$tmp/$name.$r.csv" 2>/dev/null
    t1="$(ticks "${PID[$name]}")"
    CPU[$name.$r]="$(python3 -c "print(f'{($t1-$t0)/$clk:.2f}')")"
    echo "round $r $name: suite done, server CPU ${CPU[$name.$r]} s" >&2
  done
done

cpu_args=()
for k in "${!CPU[@]}"; do cpu_args+=("$k" "${CPU[$k]}"); done
python3 - "$tmp" "$ROUNDS" "${cpu_args[@]}" <<'PY'
import csv, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
kv = sys.argv[3:]
cpu = {kv[i]: float(kv[i + 1]) for i in range(0, len(kv), 2)}
best = {}
order = []
for name in ("basalt", "redis"):
    for r in range(1, rounds + 1):
        with open(f"{tmp}/{name}.{r}.csv") as f:
            for row in csv.DictReader(f):
                t = row["test"]
                if t not in order:
                    order.append(t)
                rps = float(row["rps"])
                best[(name, t)] = max(best.get((name, t), 0.0), rps)
print(f"{'test':40} {'basalt rps':>12} {'redis rps':>12} {'ratio':>6}")
for t in order:
    b, r = best.get(("basalt", t), 0.0), best.get(("redis", t), 0.0)
    ratio = f"{b / r:.2f}" if r else "n/a"
    print(f"{t:40} {b:12.0f} {r:12.0f} {ratio:>6}")
bc = min(cpu[f"basalt.{r}"] for r in range(1, rounds + 1))
rc = min(cpu[f"redis.{r}"] for r in range(1, rounds + 1))
print(f"server CPU for the whole suite (best round): basalt {bc:.2f} s, redis {rc:.2f} s, "
      f"ratio (redis/basalt) {rc / bc if bc else 0:.2f}")
print("rps: best of rounds; ratio = basalt/redis (>1.0: Basalt faster)")
PY
