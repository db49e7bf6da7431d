#!/bin/sh
out=$1; mkdir -p $out
for round in 1 2 3; do
  for v in before after; do
    echo "$(date -u +%T) $(uptime | sed 's/.*load/load/') round $round $v wakeup" >> $out/uptime.log
    /tmp/inbox-perf/$v/bench/bus-bench --repeat 5 --system bus --payload 64 \
      --scenario wakeup-inbox,wakeup-callback --json $out/$v-w-r$round.json > $out/$v-w-r$round.txt 2>&1
  done
done
echo done >> $out/uptime.log
