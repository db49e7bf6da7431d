#!/bin/sh
# plot.sh - turn bus-bench JSON (from run-docs.sh) into the PNGs of
# docs/performance.md. Needs gnuplot (gnuplot-nox) and jq.
# usage: bench/plot.sh RESULTS_DIR [IMG_DIR]
set -eu
results=${1:?usage: bench/plot.sh RESULTS_DIR [IMG_DIR]}
img=${2:-docs/img}
mkdir -p "$img"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

systems=$(jq -r '.results[].system' "$results/sweep-1.json" | awk '!seen[$0]++')

# Throughput: one row per thread count, one column per system (M events/s).
{
    printf 'threads'
    for s in $systems; do printf ' %s' "$s"; done
    printf '\n'
    for n in 1 2 4 8; do
        printf '%s' "$n"
        for s in $systems; do
            jq -r --arg s "$s" '.results[] | select(.system == $s) | .events_per_s / 1e6' \
                "$results/sweep-$n.json" | awk '{printf " %.3f", $1}'
        done
        printf '\n'
    done
} > "$tmp/throughput.dat"

# Latency percentiles: one row per system, one column per percentile (us).
latency_table() {
    jq -r '.results[] | select(.latency_ns) | [.system, .latency_ns.p50, .latency_ns.p90,
        .latency_ns.p99, .latency_ns["p99.9"], .latency_ns["p99.99"]]
        | map(tostring) | join(" ")' "$1" |
        awk '{printf "%s", $1; for (i = 2; i <= NF; i++) printf " %.4f", $i / 1000; print ""}'
}
latency_table "$results/pingpong.json" > "$tmp/pingpong.dat"
latency_table "$results/openloop-100k.json" > "$tmp/openloop.dat"

ncols=$(( $(echo "$systems" | wc -w) + 1 ))
gnuplot <<GP
set terminal pngcairo size 900,500 font ",10"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key outside right top
set grid ytics
set output "$img/throughput.png"
set title "Throughput: N producers, N workers, N topics, 1 subscriber, 32 B (2 cores)"
set xlabel "N (threads of each kind)"
set ylabel "million events/s"
plot for [c=2:$ncols] "$tmp/throughput.dat" using c:xtic(1) title columnheader(c)

set output "$img/latency-pingpong.png"
set title "Ping-pong round trip (two hops), percentiles"
set xlabel "system"
set ylabel "microseconds (log)"
set logscale y
plot for [c=2:6] "$tmp/pingpong.dat" using c:xtic(1) \
    title word("p50 p90 p99 p99.9 p99.99", c - 1)

set output "$img/latency-openloop.png"
set title "Open-loop latency at 100,000 events/s, from intended send time"
plot for [c=2:6] "$tmp/openloop.dat" using c:xtic(1) \
    title word("p50 p90 p99 p99.9 p99.99", c - 1)
GP
echo "wrote $img/throughput.png $img/latency-pingpong.png $img/latency-openloop.png"
