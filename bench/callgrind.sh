#!/bin/sh
# callgrind.sh - instructions per event on the bus's hot path, counted by
# valgrind --tool=callgrind (1 producer, 1 worker, 1 subscriber, 32 bytes).
# Publish = inclusive cost of bus_publish (or bus_publish_batch) per event.
# Dispatch = inclusive cost of bus__topic_dispatch minus the harness's
# handler (call_sut_handler, inclusive) per event: the bus's work from a
# popped topic to the handler's entry, batching included. Idle polling of the
# worker (worker_main, bus__sched_pop on an empty queue) is left out.
# usage: bench/callgrind.sh [BUILD_DIR] [EVENTS]
set -eu
build=${1:-build}
events=${2:-200000}
total=$((events + events / 10)) # bus-bench adds a 10% warm-up phase
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# callgrind_annotate lists a function once per source file its code comes
# from ("ring.h:bus_publish" for inlined ring code, "[object]" appended) and
# once in all ("/path/publish.c:bus_publish", no object): the largest line
# naming the function is its whole inclusive cost, inlined code included.
inclusive() { # FILE FUNCTION -> inclusive Ir of the function (0 if absent)
    callgrind_annotate --inclusive=yes "$1" 2>/dev/null |
        awk -v f="$2" '{ name = $NF == "" ? "" : ($NF ~ /^\[/ ? $(NF - 1) : $NF) }
                       name ~ (":" f "$") { gsub(",", "", $1); if ($1 + 0 > best) best = $1 + 0 }
                       END { print best + 0 }'
}

for scenario in throughput throughput-batch32; do
    out="$tmp/$scenario.out"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$build/bench/bus-bench" \
        --system bus --scenario "$scenario" --events "$events" > /dev/null 2>&1
    publish=$(inclusive "$out" bus_publish)
    [ "$scenario" = throughput-batch32 ] && publish=$(inclusive "$out" bus_publish_batch)
    dispatch=$(inclusive "$out" bus__topic_dispatch)
    handler=$(inclusive "$out" call_sut_handler)
    awk -v s="$scenario" -v p="$publish" -v d="$dispatch" -v h="$handler" -v n="$total" \
        'BEGIN { printf "%-20s events %d  publish %.1f  dispatch %.1f  total %.1f instr/event\n",
                 s, n, p / n, (d - h) / n, (p + d - h) / n }'
done
