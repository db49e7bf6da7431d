#!/usr/bin/env python3
"""Parses bus_metrics_json()'s text (test_json --dump) on stdin with Python's
json module, which accepts only valid JSON, and checks its shape and
values against the bus test_json.c sets up."""
import json
import sys

doc = json.load(sys.stdin)
topics = {t["name"]: t for t in doc["topics"]}
bus = doc["bus"]
assert set(doc) == {"bus", "topics"}, doc.keys()
# Both names, the escaped one decoded back to what the test opened.
for name in ("orders.created", 'say."hi".back\\slash'):
    t = topics[name]
    assert t["published"] == 100 and t["delivered"] == 100, t
    assert t["depth"] == 0 and t["oldest_age_ns"] == 0, t
    assert t["handler"]["count"] == 100 and t["wait"]["count"] == 100, t
    h = t["handler"]
    assert h["p50_ns"] <= h["p90_ns"] <= h["p99_ns"] <= h["p999_ns"], h
    for key in ("publish_rate_1s", "publish_rate_10s", "deliver_rate_1s", "deliver_rate_10s"):
        assert isinstance(t[key], (int, float)) and t[key] >= 0, (key, t[key])
# The bus's sums are the topics' (none moves once the bus is quiet).
assert bus["topics"] == len(doc["topics"]), bus
for key in ("published", "delivered", "dropped", "handler_errors", "depth"):
    assert bus[key] == sum(t[key] for t in doc["topics"]), key
assert bus["workers"] == 2 and bus["busy_ns"] > 0 and bus["idle_ns"] > 0, bus
print("ok: %d topics" % len(topics))
