#!/usr/bin/env bash
# bench/compare.sh - compare Basalt with redis-server on this machine.
#
# Measures, for each test in TESTS and each pipeline depth in PIPELINES:
#   throughput (ops/s) and p99 latency as reported by redis-benchmark --csv,
#   and server CPU time per request (utime+stime delta of the server process
#   from /proc/PID/stat, divided by the number of requests).
# Runs alternate basalt, redis, basalt, redis ... (ROUNDS rounds) and the
# table shows the median (AGG=median, default) or best (AGG=best) run.
# Then measures memory per key (used_memory and RSS deltas) after loading
# LOAD_KEYS keys (11-byte keys, 16-byte values) into fresh instances.
#
# Usage: bench/compare.sh [--quick] [--help]     (see bench/README.md)
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)

usage() {
    cat <<EOF
Usage: $0 [--quick] [--help]

  --quick   smoke run: REQUESTS=20000, LOAD_KEYS=100000, ROUNDS=1
            (explicit environment variables still win)

Environment (defaults in brackets):
  BASALT_BIN         Basalt server binary [\$REPO/target/release/basalt-server]
  REDIS_BIN          reference server [redis-server from PATH]
  REDIS_CLI          [redis-cli]          REDIS_BENCHMARK  [redis-benchmark]
  REQUESTS           requests per redis-benchmark run [200000]
  CLIENTS            parallel connections [50]
  KEYSPACE           redis-benchmark -r key range [100000]
  TESTS              comma-separated redis-benchmark -t names [set,get,lpush,hset,zadd]
  PIPELINES          comma-separated -P depths [1,16]
  ROUNDS             alternating rounds per (test, pipeline) [2]
  AGG                median | best [median]
  LOAD_KEYS          keys loaded for the memory-per-key test [1000000]
  EXTRA_BASALT_ARGS  appended to Basalt's command line (split on whitespace)
  EXTRA_REDIS_ARGS   appended to redis-server's command line (split on whitespace)
  AOF_MODES          appendfsync settings for the append-only log part, compared with
                     the same setting on redis-server; 'off' = no log [off,everysec,always]
                     (empty: skip that part)
  AOF_REQUESTS       SET requests per log run [REQUESTS]
  SKIP_BENCH=1       skip the throughput/CPU part
  SKIP_MEM=1         skip the memory-per-key part
  STARTUP_TIMEOUT    seconds to wait for a server to answer PING [20]
  BENCH_TIMEOUT      seconds before one redis-benchmark run is aborted [600]
  KEEP_TMP=1         keep the temp dir (server logs, benchmark output)
EOF
}

quick=0
for arg in "$@"; do
    case $arg in
        --quick) quick=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "compare.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
    esac
done

if ((quick)); then
    def_requests=20000 def_load_keys=100000 def_rounds=1
else
    def_requests=200000 def_load_keys=1000000 def_rounds=2
fi

BASALT_BIN=${BASALT_BIN:-$REPO_ROOT/target/release/basalt-server}
REDIS_BIN=${REDIS_BIN:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-redis-benchmark}
REQUESTS=${REQUESTS:-$def_requests}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
LOAD_KEYS=${LOAD_KEYS:-$def_load_keys}
TESTS=${TESTS:-set,get,lpush,hset,zadd}
PIPELINES=${PIPELINES:-1,16}
ROUNDS=${ROUNDS:-$def_rounds}
AGG=${AGG:-median}
EXTRA_BASALT_ARGS=${EXTRA_BASALT_ARGS:-}
EXTRA_REDIS_ARGS=${EXTRA_REDIS_ARGS:-}
AOF_MODES=${AOF_MODES-off,everysec,always}
AOF_REQUESTS=${AOF_REQUESTS:-$REQUESTS}
SKIP_BENCH=${SKIP_BENCH:-0}
SKIP_MEM=${SKIP_MEM:-0}
STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-20}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-600}
KEEP_TMP=${KEEP_TMP:-0}

die() {
    echo "compare.sh: error: $*" >&2
    exit 1
}

for v in REQUESTS AOF_REQUESTS CLIENTS KEYSPACE LOAD_KEYS ROUNDS STARTUP_TIMEOUT BENCH_TIMEOUT; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
((LOAD_KEYS <= 1000000000)) || die "LOAD_KEYS must be <= 1000000000 (keys are k:%09d)"
[[ $AGG == median || $AGG == best ]] || die "AGG must be 'median' or 'best' (got '$AGG')"

# Resolve a binary given as a path or as a name on PATH; prints the path.
resolve_bin() {
    local what=$1 bin=$2 found
    if [[ $bin == */* ]]; then
        [[ -f $bin && -x $bin ]] || die "$what not found or not executable: $bin"
        printf '%s\n' "$bin"
    else
        found=$(command -v -- "$bin" 2>/dev/null) || die "$what '$bin' not found on PATH"
        printf '%s\n' "$found"
    fi
}

BASALT_BIN=$(resolve_bin BASALT_BIN "$BASALT_BIN")
REDIS_BIN=$(resolve_bin REDIS_BIN "$REDIS_BIN")
REDIS_CLI=$(resolve_bin REDIS_CLI "$REDIS_CLI")
REDIS_BENCHMARK=$(resolve_bin REDIS_BENCHMARK "$REDIS_BENCHMARK")
command -v timeout >/dev/null || die "'timeout' (coreutils) is required"

read -r -a EXTRA_BASALT <<<"$EXTRA_BASALT_ARGS"
read -r -a EXTRA_REDIS <<<"$EXTRA_REDIS_ARGS"
IFS=',' read -r -a TEST_LIST <<<"$TESTS"
IFS=',' read -r -a PIPE_LIST <<<"$PIPELINES"
((${#TEST_LIST[@]} > 0)) || die "TESTS is empty"
for p in "${PIPE_LIST[@]}"; do
    [[ $p =~ ^[1-9][0-9]*$ ]] || die "PIPELINES entries must be positive integers (got '$p')"
done

CLK_TCK=$(getconf CLK_TCK)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/basalt-bench.XXXXXX")
SERVERS=(basalt redis)
declare -A SPID=() SPORT=() SDIR=()
STATUS=0 # becomes 1 if any run or check failed

# ---------------------------------------------------------------- servers ---

alive() { # pid -> success if the process exists and is not a zombie
    local stat rest
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    rest=${stat##*) }
    [[ ${rest:0:1} != Z ]]
}

stop_server() {
    local name=$1 pid i
    pid=${SPID[$name]:-}
    [[ -n $pid ]] || return 0
    SPID[$name]=
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            echo "compare.sh: $name (pid $pid) ignored SIGTERM; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # invoked via trap
cleanup() {
    local rc=$? name
    trap - EXIT INT TERM
    for name in "${SERVERS[@]}"; do
        stop_server "$name"
    done
    if [[ $KEEP_TMP == 1 ]]; then
        echo "compare.sh: temp files kept in $WORK" >&2
    else
        rm -rf -- "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

used_ports=" "
free_port() {
    local port="" i
    for ((i = 0; i < 50; i++)); do
        if command -v python3 >/dev/null; then
            port=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
        else
            port=$((20000 + RANDOM % 40000))
            if ss -Htan | awk '{print $4}' | grep -q -E "[:.]$port\$"; then
                continue
            fi
        fi
        if [[ $used_ports != *" $port "* ]]; then
            used_ports+="$port "
            printf '%s\n' "$port"
            return 0
        fi
    done
    die "could not find a free TCP port"
}

log_tail() { # name -> print the last lines of the server log to stderr
    local log=${SDIR[$1]:-}/server.log
    if [[ -s $log ]]; then
        echo "---- last lines of the $1 server log ----" >&2
        tail -n 20 "$log" >&2
        echo "----" >&2
    fi
}

cli() { # name args... -> redis-cli against that server (10 s timeout)
    local name=$1
    shift
    timeout 10 "$REDIS_CLI" -h 127.0.0.1 -p "${SPORT[$name]}" "$@"
}

start_server() {
    local name=$1 port dir attempt deadline reply
    local -a cmd
    for attempt in 1 2 3; do
        port=$(free_port)
        dir=$(mktemp -d "$WORK/$name.XXXXXX")
        SPORT[$name]=$port
        SDIR[$name]=$dir
        local -a aof=(--appendonly no)
        if [[ -n ${AOF_MODE:-} && $AOF_MODE != off ]]; then
            aof=(--appendonly yes --appendfsync "$AOF_MODE" --aof-use-rdb-preamble no)
        fi
        case $name in
            basalt)
                cmd=("$BASALT_BIN" --port "$port" --bind 127.0.0.1 --dir "$dir" "${aof[@]}"
                    "${EXTRA_BASALT[@]}") ;;
            redis)
                cmd=("$REDIS_BIN" --port "$port" --bind 127.0.0.1 --dir "$dir"
                    --save '' "${aof[@]}" --daemonize no "${EXTRA_REDIS[@]}") ;;
            *) die "unknown server $name" ;;
        esac
        # exec keeps $! equal to the server's own pid.
        (cd "$dir" && exec "${cmd[@]}") >"$dir/server.log" 2>&1 </dev/null &
        SPID[$name]=$!
        deadline=$((SECONDS + STARTUP_TIMEOUT))
        while :; do
            if ! alive "${SPID[$name]}"; then
                wait "${SPID[$name]}" 2>/dev/null || true
                SPID[$name]=
                if grep -qi 'address already in use' "$dir/server.log" && ((attempt < 3)); then
                    continue 2 # lost a port race; try another port
                fi
                log_tail "$name"
                die "$name server exited during startup: $(printf '%q ' "${cmd[@]}")"
            fi
            reply=$(cli "$name" ping 2>/dev/null || true)
            [[ $reply == PONG ]] && return 0
            if ((SECONDS >= deadline)); then
                log_tail "$name"
                die "$name server did not answer PING within ${STARTUP_TIMEOUT}s: $(printf '%q ' "${cmd[@]}")"
            fi
            sleep 0.1
        done
    done
    die "$name server could not start"
}

require_alive() {
    local pid=${SPID[$1]} rc=0 how
    if ! alive "$pid"; then
        wait "$pid" 2>/dev/null || rc=$?
        SPID[$1]=
        if ((rc > 128)); then how="killed by signal $((rc - 128))"; else how="exit status $rc"; fi
        log_tail "$1"
        die "$1 server (pid $pid) died ($how)"
    fi
}

# cpu_sample pid -> "TICKS NS TIDS"
#   TICKS: utime+stime of the whole process (fields 14, 15 of /proc/PID/stat),
#          in clock ticks; includes threads that have exited.
#   NS:    sum of per-thread run time (/proc/PID/task/*/schedstat, field 1), in
#          ns; -1 if unreadable. Live threads only, hence TIDS to detect churn.
cpu_sample() {
    local pid=$1 stat rest t run _ ns=0 tids=","
    local -a f
    stat=$(cat "/proc/$pid/stat") || die "cannot read /proc/$pid/stat"
    rest=${stat##*) } # fields from 3 (state) on; comm may contain spaces
    read -r -a f <<<"$rest"
    for t in "/proc/$pid/task/"*; do
        if { read -r run _ <"$t/schedstat"; } 2>/dev/null && [[ $run =~ ^[0-9]+$ ]]; then
            ns=$((ns + run))
            tids+="${t##*/},"
        else
            ns=-1
            break
        fi
    done
    echo "$((f[11] + f[12])) $ns $tids"
}

# cpu_delta "SAMPLE0" "SAMPLE1" -> "NS SOURCE": server CPU time between samples.
# Uses the ns-resolution schedstat sum when the thread set is unchanged and it
# agrees with the tick count (within 2 ticks); otherwise the tick count.
cpu_delta() {
    local k0 n0 s0 k1 n1 s1 tick_ns dt dn
    read -r k0 n0 s0 <<<"$1"
    read -r k1 n1 s1 <<<"$2"
    tick_ns=$((1000000000 / CLK_TCK))
    dt=$(((k1 - k0) * tick_ns))
    dn=$((n1 - n0))
    if ((n0 >= 0 && n1 >= 0 && dn >= 0)) && [[ $s0 == "$s1" ]] &&
        ((dt - dn <= 2 * tick_ns && dn - dt <= 2 * tick_ns)); then
        echo "$dn ns"
    else
        echo "$dt ticks"
    fi
}

rss_kib() { # pid -> VmRSS in KiB
    awk '/^VmRSS:/ {print $2; found=1} END {if (!found) print "n/a"}' "/proc/$1/status"
}

used_memory() { # name -> used_memory from INFO memory, or n/a
    cli "$1" info memory 2>/dev/null | tr -d '\r' |
        awk -F: '$1 == "used_memory" {print $2; found=1} END {if (!found) print "n/a"}'
}

# ------------------------------------------------------------------ helpers ---

calc() { awk "BEGIN { printf \"%s\", $* }" </dev/null; }

# agg median|best higher|lower values... -> aggregated value (n/a if none numeric)
agg() {
    local how=$1 better=$2
    shift 2
    printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g |
        awk -v how="$how" -v better="$better" '
            { v[NR] = $1 }
            END {
                if (NR == 0) { print "n/a"; exit }
                if (how == "best") { print (better == "higher") ? v[NR] : v[1]; exit }
                if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2
            }' || true
}

ratio() { # a b -> a/b with 2 decimals, or n/a
    if [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]] && [[ $(calc "($2 > 0)") == 1 ]]; then
        calc "sprintf(\"%.2f\", $1 / $2)"
    else
        echo n/a
    fi
}

fmt() { # printf-format number-or-n/a
    if [[ $2 =~ ^-?[0-9.]+$ ]]; then
        # shellcheck disable=SC2059 # the format is the caller's
        printf "$1" "$2"
    else
        printf '%s' "$2"
    fi
}

# ------------------------------------------------------------- machine info ---

echo "== Basalt vs redis-server comparison =="
echo "date:        $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
echo "host:        $(uname -srm), nproc=$(nproc), load avg: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cpu:         $(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
echo "redis:       $REDIS_BIN: $("$REDIS_BIN" --version 2>&1 | head -n1)"
echo "bench tool:  $("$REDIS_BENCHMARK" --version 2>&1 | head -n1)"
basalt_rev=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo n/a)
echo "basalt:      $BASALT_BIN (built $(date -u -r "$BASALT_BIN" '+%Y-%m-%dT%H:%M:%SZ'), repo HEAD $basalt_rev)"
echo "config:      REQUESTS=$REQUESTS CLIENTS=$CLIENTS KEYSPACE=$KEYSPACE TESTS=$TESTS" \
    "PIPELINES=$PIPELINES ROUNDS=$ROUNDS AGG=$AGG LOAD_KEYS=$LOAD_KEYS CLK_TCK=$CLK_TCK"
echo "extra args:  basalt: ${EXTRA_BASALT_ARGS:-(none)} | redis: ${EXTRA_REDIS_ARGS:-(none)}"
echo

# ------------------------------------------------------------ throughput/CPU ---

# run_bench name test pipeline -> sets R_OPS R_P99 R_CPU (us/req), R_CPUS (cpu
# seconds) and R_SRC (ns|ticks); n/a on failure
run_bench() {
    local name=$1 test=$2 pipe=$3 out err t0 t1 parsed rows sum_inv p99 cpu_ns
    out="$WORK/bench-$name-$test-P$pipe.csv"
    err="$WORK/bench-$name-$test-P$pipe.err"
    R_OPS=n/a R_P99=n/a R_CPU=n/a R_CPUS=n/a R_SRC=n/a
    require_alive "$name"
    t0=$(cpu_sample "${SPID[$name]}")
    if ! timeout "$BENCH_TIMEOUT" "$REDIS_BENCHMARK" -h 127.0.0.1 -p "${SPORT[$name]}" \
        -t "$test" -n "$REQUESTS" -c "$CLIENTS" -P "$pipe" -r "$KEYSPACE" --csv \
        >"$out" 2>"$err" </dev/null; then
        echo "   !! redis-benchmark failed against $name ($test, P=$pipe); stderr:" >&2
        tail -n 5 "$err" >&2
        STATUS=1
        require_alive "$name"
        return 0
    fi
    require_alive "$name"
    t1=$(cpu_sample "${SPID[$name]}")
    # CSV: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",
    #      "p95_latency_ms","p99_latency_ms","max_latency_ms"
    # Columns are located by header name. Some -t names produce several rows
    # (e.g. ping -> PING_INLINE + PING_MBULK); they are combined: ops/s =
    # total requests / total time, p99 = worst row.
    parsed=$(tr -d '\r' <"$out" | awk -F'","' '
        { gsub(/^"|"$/, "") }
        $1 == "test" { for (i = 1; i <= NF; i++) col[$i] = i; ncol = NF; next }
        ("rps" in col) && ("p99_latency_ms" in col) && NF == ncol {
            rps = $col["rps"] + 0; p = $col["p99_latency_ms"] + 0
            if (rps <= 0) next
            rows++; inv += 1 / rps; if (p > p99) p99 = p
        }
        END { if (rows) printf "%d %.9f %.3f\n", rows, inv, p99 }')
    if [[ -z $parsed ]]; then
        echo "   !! no usable CSV rows from redis-benchmark for $name ($test, P=$pipe; unknown -t name?):" >&2
        head -n 5 "$out" >&2
        tail -n 5 "$err" >&2
        STATUS=1
        return 0
    fi
    read -r rows sum_inv p99 <<<"$parsed"
    R_OPS=$(calc "sprintf(\"%.0f\", $rows / $sum_inv)")
    R_P99=$p99
    read -r cpu_ns R_SRC <<<"$(cpu_delta "$t0" "$t1")"
    [[ $R_SRC == ticks ]] && TICK_FALLBACKS=$((TICK_FALLBACKS + 1))
    R_CPUS=$(calc "sprintf(\"%.3f\", $cpu_ns / 1e9)")
    R_CPU=$(calc "sprintf(\"%.3f\", $cpu_ns / 1000 / ($REQUESTS * $rows))")
}

declare -A OPS=() P99=() CPU=()
TICK_FALLBACKS=0

if [[ $SKIP_BENCH != 1 ]]; then
    start_server basalt
    start_server redis
    echo "== throughput / latency / CPU (redis-benchmark -n $REQUESTS -c $CLIENTS -r $KEYSPACE) =="
    echo "servers: basalt pid ${SPID[basalt]} port ${SPORT[basalt]}; redis pid ${SPID[redis]} port ${SPORT[redis]}"
    for test in "${TEST_LIST[@]}"; do
        for pipe in "${PIPE_LIST[@]}"; do
            for ((round = 1; round <= ROUNDS; round++)); do
                for name in basalt redis; do
                    run_bench "$name" "$test" "$pipe"
                    key="$test|$pipe|$name"
                    OPS[$key]="${OPS[$key]:-} $R_OPS"
                    P99[$key]="${P99[$key]:-} $R_P99"
                    CPU[$key]="${CPU[$key]:-} $R_CPU"
                    printf '  round %d  %-12s P=%-3s %-6s %10s ops/s  p99 %7s ms  cpu %8s us/req (%s s, %s)\n' \
                        "$round" "$test" "$pipe" "$name" "$R_OPS" "$R_P99" "$R_CPU" "$R_CPUS" "$R_SRC"
                done
            done
        done
    done
    stop_server basalt
    stop_server redis

    echo
    echo "Results: $AGG of $ROUNDS alternating run(s) per cell."
    echo "ops ratio = basalt/redis (>1.0 = Basalt faster); CPU ratio = redis/basalt (>1.0 = Basalt uses less CPU per request)."
    printf '%-12s %4s %12s %12s %6s %9s %9s %10s %10s %6s\n' \
        test pipe basalt_ops/s redis_ops/s ratio b_p99_ms r_p99_ms b_cpu_us r_cpu_us cpu_r
    for test in "${TEST_LIST[@]}"; do
        for pipe in "${PIPE_LIST[@]}"; do
            read -r -a v <<<"${OPS[$test|$pipe|basalt]}"
            b_ops=$(agg "$AGG" higher "${v[@]}")
            read -r -a v <<<"${OPS[$test|$pipe|redis]}"
            r_ops=$(agg "$AGG" higher "${v[@]}")
            read -r -a v <<<"${P99[$test|$pipe|basalt]}"
            b_p99=$(agg "$AGG" lower "${v[@]}")
            read -r -a v <<<"${P99[$test|$pipe|redis]}"
            r_p99=$(agg "$AGG" lower "${v[@]}")
            read -r -a v <<<"${CPU[$test|$pipe|basalt]}"
            b_cpu=$(agg "$AGG" lower "${v[@]}")
            read -r -a v <<<"${CPU[$test|$pipe|redis]}"
            r_cpu=$(agg "$AGG" lower "${v[@]}")
            printf '%-12s %4s %12s %12s %6s %9s %9s %10s %10s %6s\n' \
                "$test" "$pipe" "$(fmt '%.0f' "$b_ops")" "$(fmt '%.0f' "$r_ops")" \
                "$(ratio "$b_ops" "$r_ops")" "$(fmt '%.3f' "$b_p99")" "$(fmt '%.3f' "$r_p99")" \
                "$(fmt '%.2f' "$b_cpu")" "$(fmt '%.2f' "$r_cpu")" "$(ratio "$r_cpu" "$b_cpu")"
        done
    done
    echo "CPU time source per run: 'ns' = per-thread schedstat sum (ns resolution, cross-checked against"
    echo "  /proc/PID/stat utime+stime); 'ticks' = utime+stime only (resolution $((1000 / CLK_TCK)) ms)."
    if ((TICK_FALLBACKS > 0)); then
        echo "note: $TICK_FALLBACKS run(s) fell back to clock ticks (threads started/exited during the run);" \
            "short runs are then quantised to $((1000 / CLK_TCK)) ms: raise REQUESTS for precision."
    fi
    echo
fi

# ------------------------------------------------------- append-only log ---

# aof_run name -> SET ops/s, SET p99 and CPU/req under $CLIENTS writers, and the p99 of GETs
# (5 clients) sent while that write load runs. Sets A_OPS A_P99 A_GET99 A_CPU.
aof_run() {
    local name=$1
    local set_out="$WORK/aof-$name-$AOF_MODE-set.csv" get_out="$WORK/aof-$name-$AOF_MODE-get.csv"
    local t0 t1 set_pid cpu_ns _src
    A_OPS=n/a A_P99=n/a A_GET99=n/a A_CPU=n/a
    require_alive "$name"
    t0=$(cpu_sample "${SPID[$name]}")
    timeout "$BENCH_TIMEOUT" "$REDIS_BENCHMARK" -h 127.0.0.1 -p "${SPORT[$name]}" -t set \
        -n "$AOF_REQUESTS" -c "$CLIENTS" -r "$KEYSPACE" --csv >"$set_out" 2>/dev/null </dev/null &
    set_pid=$!
    sleep 0.3
    # Reads never wait for an fsync: a tenth of the requests on 5 clients ends well before the
    # writes do, so every GET is measured under the write load.
    timeout "$BENCH_TIMEOUT" "$REDIS_BENCHMARK" -h 127.0.0.1 -p "${SPORT[$name]}" -t get \
        -n $((AOF_REQUESTS / 10)) -c 5 -r "$KEYSPACE" --csv >"$get_out" 2>/dev/null </dev/null || STATUS=1
    wait "$set_pid" || STATUS=1
    require_alive "$name"
    t1=$(cpu_sample "${SPID[$name]}")
    csv_field() { # file column -> value of that column in the first data row
        tr -d '\r' <"$1" | awk -F'","' -v want="$2" '
            { gsub(/^"|"$/, "") }
            $1 == "test" { for (i = 1; i <= NF; i++) col[$i] = i; next }
            (want in col) { print $col[want]; exit }'
    }
    A_OPS=$(csv_field "$set_out" rps)
    A_P99=$(csv_field "$set_out" p99_latency_ms)
    A_GET99=$(csv_field "$get_out" p99_latency_ms)
    read -r cpu_ns _src <<<"$(cpu_delta "$t0" "$t1")"
    A_CPU=$(calc "sprintf(\"%.3f\", $cpu_ns / 1000 / ($AOF_REQUESTS + $AOF_REQUESTS / 10))")
    A_OPS=${A_OPS:-n/a} A_P99=${A_P99:-n/a} A_GET99=${A_GET99:-n/a}
}

if [[ -n $AOF_MODES ]]; then
    IFS=',' read -r -a AOF_LIST <<<"$AOF_MODES"
    echo "== append-only log: SET with $CLIENTS clients ($AOF_REQUESTS requests), GETs from 5 more clients meanwhile =="
    declare -A AOPS=() AP99=() AGET=() ACPU=()
    for AOF_MODE in "${AOF_LIST[@]}"; do
        [[ $AOF_MODE =~ ^(off|no|everysec|always)$ ]] || die "AOF_MODES entries: off, no, everysec, always (got '$AOF_MODE')"
    done
    # Rounds outermost: every setting runs in every round, so a machine that gets busier or
    # quieter during the run shifts all settings alike (they are compared with each other).
    for ((round = 1; round <= ROUNDS; round++)); do
        for AOF_MODE in "${AOF_LIST[@]}"; do
            for name in basalt redis; do
                start_server "$name"
                aof_run "$name"
                stop_server "$name"
                key="$AOF_MODE|$name"
                AOPS[$key]="${AOPS[$key]:-} $A_OPS"
                AP99[$key]="${AP99[$key]:-} $A_P99"
                AGET[$key]="${AGET[$key]:-} $A_GET99"
                ACPU[$key]="${ACPU[$key]:-} $A_CPU"
                printf '  round %d  appendfsync=%-8s %-6s %10s SET/s  SET p99 %7s ms  GET p99 %7s ms  cpu %8s us/req\n' \
                    "$round" "$AOF_MODE" "$name" "$A_OPS" "$A_P99" "$A_GET99" "$A_CPU"
            done
        done
    done
    unset AOF_MODE
    echo
    echo "Results: $AGG of $ROUNDS run(s). ops ratio = basalt/redis; GET p99 ratio = redis/basalt (>1.0 = Basalt better)."
    printf '%-9s %12s %12s %6s %9s %9s %9s %9s %6s %9s %9s\n' \
        appendfsync basalt_SET/s redis_SET/s ratio b_set_p99 r_set_p99 b_get_p99 r_get_p99 ratio b_cpu_us r_cpu_us
    for mode in "${AOF_LIST[@]}"; do
        vals=()
        for m in AOPS AP99 AGET ACPU; do
            for name in basalt redis; do
                declare -n arr=$m
                read -r -a v <<<"${arr[$mode|$name]}"
                if [[ $m == AOPS ]]; then vals+=("$(agg "$AGG" higher "${v[@]}")"); else vals+=("$(agg "$AGG" lower "${v[@]}")"); fi
                unset -n arr
            done
        done
        printf '%-9s %12s %12s %6s %9s %9s %9s %9s %6s %9s %9s\n' "$mode" \
            "$(fmt '%.0f' "${vals[0]}")" "$(fmt '%.0f' "${vals[1]}")" "$(ratio "${vals[0]}" "${vals[1]}")" \
            "$(fmt '%.3f' "${vals[2]}")" "$(fmt '%.3f' "${vals[3]}")" \
            "$(fmt '%.3f' "${vals[4]}")" "$(fmt '%.3f' "${vals[5]}")" "$(ratio "${vals[5]}" "${vals[4]}")" \
            "$(fmt '%.2f' "${vals[6]}")" "$(fmt '%.2f' "${vals[7]}")"
    done
    echo
fi

# ------------------------------------------------------------ memory per key ---

gen_load() { # RESP SET commands: 11-byte keys k:%09d, 16-byte values v:%014d
    awk -v n="$LOAD_KEYS" 'BEGIN {
        for (i = 0; i < n; i++)
            printf "*3\r\n$3\r\nSET\r\n$11\r\nk:%09d\r\n$16\r\nv:%014d\r\n", i, i
    }'
}

if [[ $SKIP_MEM != 1 ]]; then
    echo "== memory per key ($LOAD_KEYS keys, 11-byte keys, 16-byte values, fresh servers) =="
    declare -A UM0=() UM1=() RSS0=() RSS1=() DBS=()
    for name in basalt redis; do
        start_server "$name"
        UM0[$name]=$(used_memory "$name")
        RSS0[$name]=$(rss_kib "${SPID[$name]}")
        pipe_out="$WORK/pipe-$name.out"
        if ! gen_load | timeout "$BENCH_TIMEOUT" "$REDIS_CLI" -h 127.0.0.1 -p "${SPORT[$name]}" --pipe \
            >"$pipe_out" 2>&1; then
            echo "   !! redis-cli --pipe reported a failure loading $name:" >&2
            tail -n 5 "$pipe_out" >&2
            STATUS=1
        fi
        require_alive "$name"
        summary=$(tr -d '\r' <"$pipe_out" | grep -E '^errors: ' | tail -n1 || true)
        if [[ $summary != "errors: 0, replies: $LOAD_KEYS" ]]; then
            echo "   !! $name: unexpected --pipe summary: '${summary:-none}' (want errors: 0, replies: $LOAD_KEYS)" >&2
            STATUS=1
        fi
        UM1[$name]=$(used_memory "$name")
        RSS1[$name]=$(rss_kib "${SPID[$name]}")
        DBS[$name]=$(cli "$name" dbsize 2>/dev/null | tr -d '\r' || true)
        DBS[$name]=${DBS[$name]:-n/a}
        if [[ ${DBS[$name]} != "$LOAD_KEYS" ]]; then
            echo "   !! $name: DBSIZE is ${DBS[$name]}, expected $LOAD_KEYS" >&2
            STATUS=1
        fi
        stop_server "$name"
    done

    per_key() { # before after [scale] -> (after-before)*scale/LOAD_KEYS
        if [[ $1 =~ ^[0-9]+$ && $2 =~ ^[0-9]+$ ]]; then
            calc "sprintf(\"%.1f\", ($2 - $1) * ${3:-1} / $LOAD_KEYS)"
        else
            echo n/a
        fi
    }
    b_um=$(per_key "${UM0[basalt]}" "${UM1[basalt]}")
    r_um=$(per_key "${UM0[redis]}" "${UM1[redis]}")
    b_rss=$(per_key "${RSS0[basalt]}" "${RSS1[basalt]}" 1024)
    r_rss=$(per_key "${RSS0[redis]}" "${RSS1[redis]}" 1024)
    echo "ratio = redis/basalt (>1.0 = Basalt uses less memory per key)."
    printf '%-28s %16s %16s %8s\n' metric basalt redis ratio
    printf '%-28s %16s %16s %8s\n' "used_memory before (bytes)" "${UM0[basalt]}" "${UM0[redis]}" ""
    printf '%-28s %16s %16s %8s\n' "used_memory after (bytes)" "${UM1[basalt]}" "${UM1[redis]}" ""
    printf '%-28s %16s %16s %8s\n' "used_memory bytes/key" "$b_um" "$r_um" "$(ratio "$r_um" "$b_um")"
    printf '%-28s %16s %16s %8s\n' "RSS before (KiB)" "${RSS0[basalt]}" "${RSS0[redis]}" ""
    printf '%-28s %16s %16s %8s\n' "RSS after (KiB)" "${RSS1[basalt]}" "${RSS1[redis]}" ""
    printf '%-28s %16s %16s %8s\n' "RSS bytes/key" "$b_rss" "$r_rss" "$(ratio "$r_rss" "$b_rss")"
    printf '%-28s %16s %16s %8s\n' "DBSIZE (want $LOAD_KEYS)" "${DBS[basalt]}" "${DBS[redis]}" ""
    echo
fi

if ((STATUS != 0)); then
    echo "compare.sh: some runs or checks FAILED (see messages above)" >&2
fi
exit "$STATUS"
