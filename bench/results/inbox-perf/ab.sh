#!/bin/sh
# interleaved A/B of throughput-inbox: before (main) vs after (branch)
out=$1; mkdir -p $out
for round in 1 2 3; do
  for p in 1 2; do
    for v in before after; do
      echo "$(date -u +%T) $(uptime | sed 's/.*load/load/') round $round $v P=$p" >> $out/uptime.log
      /tmp/inbox-perf/$v/bench/bus-bench --repeat 5 --system bus --payload 64 --seconds 1 \
        --scenario throughput-inbox --producers $p --json $out/$v-p$p-r$round.json > $out/$v-p$p-r$round.txt 2>&1
    done
  done
done
echo done >> $out/uptime.log
