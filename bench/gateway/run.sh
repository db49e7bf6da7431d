#!/bin/sh
# run.sh [BUILD_DIR [SECONDS [ROUNDS]]] - the gateway's publish benchmark.
#
# wrk on 127.0.0.1, 64 keep-alive connections, POST of 64-byte bodies,
# against bus-gateway (a topic of 65536 slots, fail policy) and against
# mhd_204 (libmicrohttpd with the same settings answering 204, the floor),
# with 1 and 2 HTTP threads, interleaved: baseline, gateway, baseline, ...
# ROUNDS times (default 3) of SECONDS each (default 10). Client and server
# share the machine. Prints one line per run:
#   server threads req/s p50 p99 non-2xx cpu_us/req
# cpu_us/req: the server's CPU time (user + system, /proc/PID/stat) over
# the run divided by the requests answered: what a request costs the
# server, less sensitive than req/s to other jobs taking the cores.
set -eu
build=$(cd "${1:-build}" && pwd)
seconds=${2:-10}
rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/bench.ini" <<'INI'
[topic bench]
capacity = 65536
max_payload = 256
full = fail
retention_events = 4096
INI

cpu_ticks() { # pid: user + system time so far, in clock ticks
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

run() { # name threads command...
    name=$1 threads=$2
    shift 2
    "$@" > "$tmp/out" &
    pid=$!
    while ! grep -q listening "$tmp/out"; do sleep 0.05; done
    port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$tmp/out")
    cpu0=$(cpu_ticks $pid)
    if ! wrk -t1 -c64 -d"${seconds}s" --latency -s "$here/post.lua" \
        "http://127.0.0.1:$port/v1/topics/bench/events" > "$tmp/wrk" 2>&1; then
        echo "$name $threads: wrk failed:" >&2
        cat "$tmp/wrk" >&2
    fi
    cpu=$(( $(cpu_ticks $pid) - cpu0 ))
    kill -TERM $pid
    wait $pid || true
    awk -v name="$name" -v threads="$threads" -v cpu="$cpu" -v hz="$(getconf CLK_TCK)" '
        /^ *50%/ { p50 = $2 } /^ *99%/ { p99 = $2 }
        /requests in/ { n = $1 }
        /^Requests\/sec/ { rps = $2 } /Non-2xx/ { bad = $NF }
        END { printf "%-8s %d %10.0f %9s %9s %7s %6.2f\n", name, threads, rps, p50, p99,
                     bad ? bad : 0, cpu / hz * 1e6 / n }
    ' "$tmp/wrk"
}

echo "server   threads req/s     p50       p99       non-2xx cpu_us/req"
for r in $(seq "$rounds"); do
    for threads in 1 2; do
        run mhd_204 "$threads" "$build/bench/mhd_204" --listen 127.0.0.1:0 --workers "$threads"
        run gateway "$threads" "$build/bus/http/bus-gateway" --listen 127.0.0.1:0 \
            --workers "$threads" --config "$tmp/bench.ini"
    done
done
