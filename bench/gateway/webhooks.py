#!/usr/bin/env python3
"""webhooks.py BUILD_DIR [ROUNDS] - the gateway's webhook figures, on
127.0.0.1 (gateway, receivers and client share the machine):

- throughput: wrk publishes for 5 s (1 thread, 16 keep-alive connections,
  64 B bodies) to a topic with one webhook whose receiver is mhd_204
  (libmicrohttpd answering 204 at once); deliveries/s = the events
  published / (start of wrk to the webhook's delivered == that count), for
  max_in_flight 16 and 64; also how long the deliveries lagged after wrk;
- delay: events published at a steady 200/s, each carrying its publish
  time (the client's clock before the POST), to a Python receiver that
  notes its clock on arrival; p50/p99 of arrival - publish.
Prints one JSON object per measure; medians over ROUNDS (default 3),
rounds interleaved.
"""
import http.client
import http.server
import json
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BUILD = os.path.abspath(sys.argv[1])
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
GATEWAY = os.path.join(BUILD, "bus", "http", "bus-gateway")
MHD_204 = os.path.join(BUILD, "bench", "mhd_204")


def start(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    ready, _, _ = select.select([p.stdout], [], [], 10)
    line = p.stdout.readline().decode() if ready else ""
    m = re.search(r":(\d+)$", line.strip())
    if not m:
        p.kill()
        raise SystemExit(f"{cmd[0]} did not start: {line!r}")
    return p, int(m[1])


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=30)


def gateway(extra=""):
    cfg = tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False)
    cfg.write("[webhooks]\nallow_hosts = 127.0.0.1\nmax_pending = 16777216\n"
              "[topic bench.load]\ncapacity = 65536\nfull = block\n" + extra)
    cfg.close()
    p, port = start([GATEWAY, "--listen", "127.0.0.1:0", "--workers", "2",
                     "--config", cfg.name])
    os.unlink(cfg.name)
    return p, port


def call(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body=body)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data) if data else None


def throughput(max_in_flight):
    recv, rport = start([MHD_204, "--listen", "127.0.0.1:0", "--workers", "2"])
    gw, port = gateway()
    status, body = call(port, "POST", "/v1/webhooks", json.dumps(
        {"pattern": "bench.>", "url": f"http://127.0.0.1:{rport}/hook",
         "max_in_flight": max_in_flight}))
    assert status == 201, body
    hook = body["id"]

    here = os.path.dirname(os.path.abspath(__file__))
    t0 = time.monotonic()
    subprocess.run(["wrk", "-t1", "-c16", "-d5s", "-s", os.path.join(here, "post.lua"),
                    f"http://127.0.0.1:{port}/v1/topics/bench.load/events"],
                   check=True, stdout=subprocess.DEVNULL)
    published_s = time.monotonic() - t0
    n = call(port, "GET", "/v1/topics/bench.load")[1]["stats"]["published"]
    while True:
        h = call(port, "GET", f"/v1/webhooks/{hook}")[1]
        if h["delivered"] + h["failed"] >= n:
            break
        time.sleep(0.05)
    elapsed = time.monotonic() - t0
    assert h["failed"] == 0, h
    stop(gw)
    stop(recv)
    return {"measure": "throughput", "max_in_flight": max_in_flight, "events": n,
            "deliveries_per_s": n / elapsed, "publishes_per_s": n / published_s,
            "lag_after_publish_s": elapsed - published_s}


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128


def delay(rate=200, count=2000):
    delays = []
    done = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            delays.append(time.time_ns() - int(body))
            if len(delays) >= count:
                done.set()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    gw, port = gateway()
    call(port, "POST", "/v1/webhooks", json.dumps(
        {"pattern": "bench.>", "url": f"http://127.0.0.1:{srv.server_address[1]}/hook"}))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    start_t = time.monotonic()
    for i in range(count):
        wait = start_t + i / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)  # the steady publish rate
        c.request("POST", "/v1/topics/bench.load/events", body=str(time.time_ns()).encode())
        c.getresponse().read()
    done.wait(60)
    stop(gw)
    srv.shutdown()
    q = statistics.quantiles(delays, n=100)
    return {"measure": "delay", "rate_per_s": rate, "events": len(delays),
            "p50_ms": q[49] / 1e6, "p99_ms": q[98] / 1e6}


results = {}
for r in range(ROUNDS):
    for name, fn in (("throughput16", lambda: throughput(16)),
                     ("throughput64", lambda: throughput(64)), ("delay", delay)):
        res = fn()
        print(json.dumps(res), flush=True)
        results.setdefault(name, []).append(res)
for name, runs in results.items():
    keys = [k for k, v in runs[0].items() if isinstance(v, float)]
    print(json.dumps({"median_of": len(runs), "measure": name,
                      **{k: round(statistics.median(x[k] for x in runs), 3) for k in keys}}))
