#!/bin/sh
# parallel-cold.sh - the runs behind "Parallel vs ordered topics" and "Cold
# topics" in docs/performance.md (medians of 3 interleaved repetitions):
#  - 1 parallel topic vs 1 ordered topic, 1 subscriber, with the mutex queue
#    as the peer, at 2 producers/2 workers and at 4/4;
#  - ping-pong round trips on topics just opened (every trip from the first,
#    default-sized 256-byte slots), without and with BUS_TOPIC_PRETOUCH.
# bus-bench prints each table; the JSON goes to OUT_DIR.
# usage: bench/parallel-cold.sh [BUILD_DIR] [OUT_DIR]
set -eu
build=${1:-build}
out=${2:-$build/bench-results}
bench="$build/bench/bus-bench --repeat 3"
mkdir -p "$out"
for n in 2 4; do
    $bench --seconds 1 --system bus,mutex --scenario throughput,throughput-parallel \
        --producers $n --workers $n --subs 1 --json "$out/parallel-$n.json"
done
$bench --system bus --scenario latency-cold,latency-cold-pretouch --payload 256 \
    --json "$out/cold.json"
