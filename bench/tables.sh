#!/bin/sh
# tables.sh - the Markdown tables of docs/performance.md from run-docs.sh's
# JSON (medians of the repetitions). Needs jq.
# usage: bench/tables.sh RESULTS_DIR
set -eu
r=${1:?usage: bench/tables.sh RESULTS_DIR}

throughput() { # FILE TITLE: M events/s and ratios against mutex and zmq
    echo "#### $2"
    echo
    echo "| system | M events/s | x mutex | x zmq | check |"
    echo "|---|---:|---:|---:|---|"
    jq -r '(.results | map({(.system): .events_per_s}) | add) as $by
        | .results[] | "| \(.system) | \(.events_per_s / 1e6 * 100 | round / 100) | \(
          if $by.mutex then (.events_per_s / $by.mutex * 100 | round / 100) else "-" end) | \(
          if $by.zmq then (.events_per_s / $by.zmq * 100 | round / 100) else "-" end) | \(
          if .skipped then "n/a" elif (.ok | not) then "FAIL" elif .implausible then "odd" else "ok" end) |"' "$1"
    echo
}

scenario_latency() { # FILE TITLE: percentiles in microseconds, one row per run
    echo "#### $2"
    echo
    echo "| system | scenario | p50 | p90 | p99 | p99.9 | p99.99 | max |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
    jq -r 'def us: . / 1000 * 100 | round / 100;
        .results[] | select(.skipped | not) | .latency_ns as $l | "| \(.system) | \(.scenario) | \(
          $l.p50 | us) | \($l.p90 | us) | \($l.p99 | us) | \($l["p99.9"] | us) | \(
          $l["p99.99"] | us) | \($l.max | us) |"' "$1"
    echo
}

latency() { # FILE TITLE: percentiles in microseconds
    echo "#### $2"
    echo
    echo "| system | p50 | p90 | p99 | p99.9 | p99.99 | max | p50 x mutex | p99 x mutex |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    jq -r '(.results | map({(.system): .latency_ns}) | add) as $by
        | def us: . / 1000 * 100 | round / 100;
        .results[] | .latency_ns as $l | "| \(.system) | \($l.p50 | us) | \($l.p90 | us) | \(
          $l.p99 | us) | \($l["p99.9"] | us) | \($l["p99.99"] | us) | \($l.max | us) | \(
          $l.p50 / $by.mutex.p50 * 100 | round / 100) | \($l.p99 / $by.mutex.p99 * 100 | round / 100) |"' "$1"
    echo
}

extras() { # FILE TITLE KEYS...: events/s and the named extra metrics
    file=$1 title=$2
    shift 2
    echo "#### $title"
    echo
    printf '| system | scenario | M events/s |'
    for k in "$@"; do printf ' %s |' "$k"; done
    printf '\n|---|---|---:|'
    for k in "$@"; do printf -- '---:|'; done
    printf '\n'
    keys=$(printf '"%s",' "$@")
    jq -r --argjson keys "[${keys%,}]" '.results[] | select(.skipped | not)
        | "| \(.system) | \(.scenario) | \(
        if .events_per_s == 0 then "-" else (.events_per_s / 1e6 * 100 | round / 100) end) | " +
        ([$keys[] as $k | .extra[$k] // "-" | if type != "number" then .
          elif . >= 100 then round else . * 1000 | round / 1000 end | tostring]
         | join(" | ")) + " |"' "$file"
    echo
}

throughput "$r/tp-1p1w.json" "1 producer, 1 worker, 1 subscriber, 1 topic, 32 B, one event per publish"
throughput "$r/batch-1p1w.json" "Same, 32-event batches"
throughput "$r/tp-2p2w2s-t1.json" "2 producers, 2 workers, 2 subscribers, 1 ordered topic"
throughput "$r/tp-2p2w2s-t2.json" "2 producers, 2 workers, 2 subscribers, 2 ordered topics"
throughput "$r/tp-2p2w2s-par.json" "2 producers, 2 workers, 2 subscribers, 1 parallel topic"
for n in 1 2 4 8; do
    throughput "$r/sweep-$n.json" "Sweep: N = $n producers, workers and topics, 1 subscriber"
done
latency "$r/pingpong.json" "Ping-pong round trip (us)"
latency "$r/openloop-half.json" "Open-loop at half of each system's own peak (us)"
latency "$r/openloop-100k.json" "Open-loop at 100,000 events/s (us)"
extras "$r/churn.json" "Churn: publish rate with 10,000 subscribe+unsubscribe pairs/s" \
    rate_without_churn ratio churn_pairs_per_s
extras "$r/churn-async.json" "Churn with bus_unsubscribe_async (bus only)" \
    rate_without_churn ratio churn_pairs_per_s
extras "$r/scale.json" "Scale: one busy topic among 100,000 idle ones" \
    rate_alone ratio heap_bytes_per_topic rss_bytes_per_topic flush_us_alone \
    flush_us_100k_idle
extras "$r/idle.json" "Idle CPU over 5 s" idle_cpu_pct_of_core
scenario_latency "$r/request-reply.json" "Request-reply round trip vs ping-pong, same run (us)"
extras "$r/queue-group.json" "Queue group of 2 members vs 1 plain subscriber (parallel topic, 2 workers)" \
    one_sub_rate ratio least_member_share
extras "$r/keyed.json" "Keyed topic, 1,000 keys vs parallel topic (2 producers, 2 workers)" \
    parallel_rate ratio parallel_out_of_key_order
extras "$r/batch-vs-single.json" "Batch publish (32 events) vs one event per call, same run" \
    handler_calls_per_s
# Disruptor shapes: the bus beside the mutex peer, per shape, and each bus
# shape against the bus's unicast of the same run.
shapes() {
    file=$1 title=$2
    [ -f "$file" ] || return 0
    echo "#### $title"
    echo
    echo "| shape | bus M events/s | mutex M events/s | bus / mutex | bus / bus unicast | check |"
    echo "|---|---:|---:|---:|---:|---|"
    jq -r '.results as $r
        | ($r[] | select(.system == "bus" and .scenario == "shape-unicast") | .events_per_s) as $uni
        | $r[] | select(.system == "bus") | . as $b
        | ($r[] | select(.system == "mutex" and .scenario == $b.scenario)) as $m
        | "| \($b.scenario | ltrimstr("shape-")) | \($b.events_per_s / 1e4 | round / 100)"
          + " | \($m.events_per_s / 1e4 | round / 100)"
          + " | \($b.events_per_s / $m.events_per_s * 100 | round / 100)"
          + " | \($b.events_per_s / $uni * 100 | round / 100)"
          + " | \(if $b.ok and $m.ok then "ok" else "FAIL" end) |"' "$file"
    echo
}
for w in 1 2; do
    shapes "$r/shapes-${w}w.json" "Disruptor shapes, 1,024-slot rings, $w worker(s), same run"
done
