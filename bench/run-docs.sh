#!/bin/sh
# run-docs.sh - the runs behind docs/performance.md: every table there comes
# from one of these JSON files (medians of 3 repetitions).
# usage: bench/run-docs.sh [BUILD_DIR] [OUT_DIR]
set -eu
build=${1:-build}
out=${2:-$build/bench-results}
bench="$build/bench/bus-bench --repeat 3"
quiet() { wait_quiet "$@"; "$@"; }
# Throughput runs are timed (1 s each) so that a collapse cannot stall the run.
tp="quiet $bench --seconds 1"
mkdir -p "$out"

# The machine may be shared: before each run, wait (up to 3 minutes) until the
# CPUs have been under 15% busy for a second, and log what was seen.
busy_pct() { # CPU busy over one second, all cores, from /proc/stat
    set -- $(head -1 /proc/stat); a_idle=$(($5 + $6)); a_all=$(($2 + $3 + $4 + $5 + $6 + $7 + $8))
    sleep 1
    set -- $(head -1 /proc/stat); b_idle=$(($5 + $6)); b_all=$(($2 + $3 + $4 + $5 + $6 + $7 + $8))
    echo $(( 100 - 100 * (b_idle - a_idle) / (b_all - a_all + 1) ))
}
wait_quiet() {
    waited=0
    while busy=$(busy_pct) && [ "$busy" -ge 15 ] && [ $waited -lt 180 ]; do
        waited=$((waited + 1))
    done
    echo "$(date +%T) busy ${busy}% after waiting ${waited}s: $*" >> "$out/quiet.log"
}

# Goal 1: 1 producer, 1 topic, 1 subscriber, 1 worker, 32 bytes.
$tp --scenario throughput --json "$out/tp-1p1w.json"
$tp --scenario throughput-batch32 --json "$out/batch-1p1w.json"
# Goal 2: 2 producers, 2 workers, 2 subscribers (one ordered topic, two
# ordered topics, one parallel topic).
$tp --scenario throughput --producers 2 --workers 2 --subs 2 --json "$out/tp-2p2w2s-t1.json"
$tp --scenario throughput --producers 2 --workers 2 --subs 2 --topics 2 \
    --json "$out/tp-2p2w2s-t2.json"
$tp --scenario throughput-parallel --producers 2 --workers 2 --subs 2 \
    --json "$out/tp-2p2w2s-par.json"
# Thread sweep, up to 4x the cores: N producers, N workers, N topics.
for n in 1 2 4 8; do
    $tp --scenario throughput --producers $n --workers $n --topics $n \
        --json "$out/sweep-$n.json"
done
# How much the machine itself stalls a spinning thread: the floor under the
# tail latencies below.
"$build/bench/bus-hiccup" 5 > "$out/hiccup.txt"
# Latency: ping-pong, open-loop at half each system's peak, open-loop at a
# common 100,000 events/s.
quiet $bench --scenario latency-pingpong --json "$out/pingpong.json"
quiet $bench --scenario latency-openloop --json "$out/openloop-half.json"
quiet $bench --scenario latency-openloop --rate 100000 --json "$out/openloop-100k.json"
# Churn, scale, idle.
quiet $bench --scenario churn --json "$out/churn.json"
quiet $bench --scenario churn-async --system bus --json "$out/churn-async.json"
quiet $bench --scenario scale --json "$out/scale.json"
quiet $bench --scenario idle --json "$out/idle.json"
# Delivery patterns, each beside its baseline in the same run (the peers have
# none of them and show as n/a).
quiet $bench --system bus,mutex --scenario latency-pingpong,request-reply \
    --json "$out/request-reply.json"
$tp --system bus --scenario queue-group --workers 2 --json "$out/queue-group.json"
$tp --system bus --scenario keyed --producers 2 --workers 2 --json "$out/keyed.json"
$tp --system bus --scenario throughput,throughput-batch32 --json "$out/batch-vs-single.json"
# The Disruptor's shapes on 1,024-slot rings, handlers forwarding; the
# peers whose handlers cannot publish onto a full queue safely show as n/a.
for w in 1 2; do
    $tp --system bus,mutex --scenario shape-unicast,shape-pipeline,shape-multicast,shape-sequencer,shape-diamond \
        --workers $w --json "$out/shapes-${w}w.json"
done
