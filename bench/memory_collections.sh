#!/usr/bin/env bash
# Memory per element of collections (a stream's element: one entry), Basalt vs redis-server: for each case, fresh servers, load
# about TOTAL elements (in keys of N elements each) with redis-cli --pipe, and divide the growth
# of used_memory (and RSS) by the number of elements. RSS is read after SETTLE_S seconds idle
# (default 12) for both servers, once the allocators' background threads have returned the
# pages freed while loading (jemalloc decays dirty pages over ~10 s).
#
#   bench/memory_collections.sh            # TOTAL=1000000
#   TOTAL=200000 bench/memory_collections.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
BASALT_BIN="${BASALT_BIN:-$root/target/release/basalt-server}"
REDIS_BIN="${REDIS_BIN:-redis-server}"
TOTAL="${TOTAL:-1000000}"
SETTLE_S="${SETTLE_S:-12}"
CASES="${CASES:-hash:100 hash:10000 set-int:100 set-int:10000 set-str:100 set-str:10000 list:100 list:10000 zset:100 zset:10000 stream:1000 stream:100000}"

[ -x "$BASALT_BIN" ] || { echo "missing $BASALT_BIN (cargo build --release)" >&2; exit 1; }
tmp="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

start() { # name bin -> prints "pid port"
  local name="$1" bin="$2" port dir
  port="$(free_port)"; dir="$tmp/$name-$port"; mkdir -p "$dir"
  if [ "$name" = redis ]; then
    (cd "$dir" && exec "$bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no >"$dir/log" 2>&1) &
  else
    (cd "$dir" && exec "$bin" --port "$port" --bind 127.0.0.1 >"$dir/log" 2>&1) &
  fi
  local pid=$!
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  echo "$pid $port"
}

used() { redis-cli -p "$1" info memory | tr -d '\r' | awk -F: '/^used_memory:/ {print $2}'; }
rss() { awk '/VmRSS/ {print $2*1024}' "/proc/$1/status"; }

gen() { # kind per_key keys -> RESP on stdout
  python3 - "$1" "$2" "$3" <<'PY'
import sys
kind, per, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = sys.stdout.buffer
def cmd(*a):
    b = b"*%d\r\n" % len(a)
    for x in a:
        x = x if isinstance(x, bytes) else str(x).encode()
        b += b"$%d\r\n%s\r\n" % (len(x), x)
    return b
chunk = 50
for k in range(keys):
    key = b"k:%d" % k
    for s in range(0, per, chunk):
        ids = range(s, min(per, s + chunk))
        if kind == "hash":
            args = [b"HSET", key] + [x for i in ids for x in (b"field:%d" % i, b"value:%d" % i)]
        elif kind == "set-int":
            args = [b"SADD", key] + [b"%d" % (i * 7) for i in ids]
        elif kind == "set-str":
            args = [b"SADD", key] + [b"member:%d" % i for i in ids]
        elif kind == "stream":
            # One entry per XADD (explicit IDs, two fields as a typical event).
            for i in ids:
                out.write(cmd(b"XADD", key, b"%d-0" % (i + 1), b"type", b"click", b"user", b"user:%d" % i))
            continue
        elif kind == "zset":
            args = [b"ZADD", key] + [x for i in ids for x in (b"%d.5" % (i * 3 % 1000), b"member:%d" % i)]
        else:
            args = [b"RPUSH", key] + [b"element:%d" % i for i in ids]
        out.write(cmd(*args))
PY
}

declare -A encs=()
printf '%-16s %12s %12s %8s %12s %12s %8s\n' case basalt_B/el redis_B/el ratio basalt_rss redis_rss ratio
for c in $CASES; do
  kind="${c%%:*}"; per="${c##*:}"; keys=$(( TOTAL / per ))
  gen "$kind" "$per" "$keys" > "$tmp/load.resp"
  declare -A perel=() perrss=()
  for name in basalt redis; do
    bin="$BASALT_BIN"; [ "$name" = redis ] && bin="$REDIS_BIN"
    read -r pid port < <(start "$name" "$bin"); pids+=("$pid")
    u0="$(used "$port")"; r0="$(rss "$pid")"
    redis-cli -p "$port" --pipe < "$tmp/load.resp" >/dev/null
    sleep "$SETTLE_S"
    u1="$(used "$port")"; r1="$(rss "$pid")"
    enc="$(redis-cli -p "$port" object encoding k:0)"
    perel[$name]="$(python3 -c "print(f'{($u1-$u0)/($keys*$per):.1f}')")"
    perrss[$name]="$(python3 -c "print(f'{($r1-$r0)/($keys*$per):.1f}')")"
    encs[$name]="$enc"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
  ratio="$(python3 -c "print(f'{${perel[redis]}/max(${perel[basalt]},0.01):.2f}')")"
  rratio="$(python3 -c "print(f'{${perrss[redis]}/max(${perrss[basalt]},0.01):.2f}')")"
  printf '%-16s %12s %12s %8s %12s %12s %8s   (%s / %s)\n' "$c" "${perel[basalt]}" "${perel[redis]}" "$ratio" \
    "${perrss[basalt]}" "${perrss[redis]}" "$rratio" "${encs[basalt]}" "${encs[redis]}"
done
echo "ratio = redis/basalt (>1.0: Basalt uses less memory per element); B/el from used_memory, rss from VmRSS"
