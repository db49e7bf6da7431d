#!/bin/sh
for v in before after; do
  valgrind --tool=callgrind --callgrind-out-file=/tmp/inbox-perf/cg-$v.out /tmp/inbox-perf/$v/bench/bus-bench \
    --system bus --scenario throughput-inbox --payload 64 --events 100000 > /tmp/inbox-perf/cg-$v.txt 2>&1
done
echo done > /tmp/inbox-perf/cg.done
