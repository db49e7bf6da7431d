#!/bin/sh
# inbox.sh - the runs behind "Inboxes" in docs/performance.md (medians of 5
# interleaved repetitions, 64-byte payloads, the bus only):
#  - throughput-inbox: a thread taking batches of 64 from an inbox vs a
#    callback subscription and vs a list + pipe fed by a handler, 1 and 2
#    producers, 1 worker;
#  - the wake-up latency of a thread in epoll_wait: on an inbox, on a list +
#    pipe fed by a handler, on the same fed by the publisher itself, and the
#    handler's entry (the floor).
# The load average before each run goes to OUT_DIR/uptime.log; bus-bench
# prints each table; the JSON goes to OUT_DIR.
# usage: bench/inbox.sh [BUILD_DIR] [OUT_DIR]
set -eu
build=${1:-build}
out=${2:-$build/bench-results}
bench="$build/bench/bus-bench --repeat 5 --system bus --payload 64"
mkdir -p "$out"
run() { echo "$(date -u +%T) $(uptime | sed 's/.*load/load/'): $*" >> "$out/uptime.log"; "$@"; }
for p in 1 2; do
    run $bench --seconds 1 --scenario throughput-inbox --producers $p \
        --json "$out/inbox-tp-${p}p.json"
done
wakeup=wakeup-inbox,wakeup-pipe-fed,wakeup-pipe,wakeup-callback
run $bench --scenario $wakeup --json "$out/inbox-wakeup.json"
