# bench/lib.sh - helpers shared by the bench scripts that start their own servers (sourced).
# Needs TMP (a scratch directory the caller removes on exit).

TICK=$(getconf CLK_TCK)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A process's CPU time so far (utime+stime) in clock ticks.
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

# start NAME BIN -> "pid port": a server without persistence in its own directory; its pid
# also goes to $TMP/NAME.pid for the caller's cleanup trap (started from a subshell, so `jobs`
# does not list it).
start() {
    local port; port=$(free_port)
    mkdir -p "$TMP/$1"
    (cd "$TMP/$1" && exec "$2" --port "$port" --save '' --appendonly no >"$TMP/$1.log" 2>&1) &
    local pid=$!
    echo "$pid" >"$TMP/$1.pid"
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    echo "$pid $port"
}

median() { python3 -c 'import sys,statistics; print(f"{statistics.median(map(float, sys.argv[1:])):.2f}")' "$@"; }
