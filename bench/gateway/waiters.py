#!/usr/bin/env python3
"""waiters.py BUS_GATEWAY [N [PUBLISHES]] - what parked clients cost.

Starts bus-gateway (2 HTTP threads) on 127.0.0.1, parks N clients (default
5000) as long polls, then as SSE streams, and reports for each kind:
  - the gateway's resident memory per parked client (VmRSS after the N
    parked minus before, / N; the kernel's socket buffers are not in it);
  - threads of the gateway while they wait (they stay the same);
  - from a publish to the first byte at each client: p50, p99, max over
    every client and PUBLISHES publishes (default 5; a long poll answers
    once, so each publish re-parks them first).
Client and server share the machine: the client's epoll loop is part of
the latency measured."""
import http.client
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time

GATEWAY = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
PUBLISHES = int(sys.argv[3]) if len(sys.argv) > 3 else 5

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

tmp = tempfile.mkdtemp()
ini = os.path.join(tmp, "w.ini")
with open(ini, "w") as f:
    f.write("[gateway]\nper_ip_limit = 20000\nconnection_limit = 20000\n"
            "heartbeat_ms = 600000\n")
proc = subprocess.Popen([GATEWAY, "--listen", "127.0.0.1:0", "--workers", "2", "--config", ini],
                        stdout=subprocess.PIPE)
port = int(re.search(rb":(\d+)$", proc.stdout.readline().strip())[1])


def call(method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body=body)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def rss_kib():
    with open(f"/proc/{proc.pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read())[1])


def threads():
    return len(os.listdir(f"/proc/{proc.pid}/task"))


def waiting(kind):
    _, text = call("GET", "/metrics")
    return int(float(re.search(rb'bus_http_waiting_clients\{kind="%s"\} (\S+)' % kind.encode(),
                               text)[1]))


def await_waiting(kind, n):
    deadline = time.monotonic() + 120
    while waiting(kind) != n:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {waiting(kind)} of {n} {kind} clients parked")
        time.sleep(0.1)


def open_clients(request):
    socks = []
    for _ in range(N):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(request)
        socks.append(s)
    return socks


def first_bytes(socks, t0):
    """Seconds from t0 to each socket's first readable byte."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    lat = []
    while len(lat) < len(socks):
        for key, _ in sel.select(timeout=30):
            lat.append(time.monotonic() - t0)
            key.fileobj.recv(65536)
            sel.unregister(key.fileobj)
    sel.close()
    return lat


def drain(socks):
    """Reads what each socket has now (the stream's opening line)."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    left = set(socks)
    while left:
        for key, _ in sel.select(timeout=30):
            key.fileobj.recv(65536)
            sel.unregister(key.fileobj)
            left.discard(key.fileobj)
    sel.close()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def report(kind, base_rss, base_threads, parked_rss, parked_threads, lat):
    print(f"{kind:7s} clients {N}  rss before {base_rss} KiB  parked {parked_rss} KiB  "
          f"= {(parked_rss - base_rss) * 1024 / N:.0f} B/client  threads {base_threads} -> "
          f"{parked_threads}  publish->first byte p50 {pct(lat, .5) * 1e3:.2f} ms "
          f"p99 {pct(lat, .99) * 1e3:.2f} ms max {max(lat) * 1e3:.2f} ms "
          f"({len(lat)} samples)")


call("POST", "/v1/topics/w/events", b"warm")
seq = 1

# Long polls: each publish answers them all; they are parked again for the next.
base_rss, base_threads = rss_kib(), threads()
lat, parked_rss, parked_threads = [], 0, 0
for i in range(PUBLISHES):
    req = f"GET /v1/topics/w/events?after={seq}&wait=60 HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    socks = open_clients(req)
    await_waiting("poll", N)
    if i == 0:
        parked_rss, parked_threads = rss_kib(), threads()
    t0 = time.monotonic()
    call("POST", "/v1/topics/w/events", b"x" * 64)
    seq += 1
    lat += first_bytes(socks, t0)
    for s in socks:
        s.close()
report("poll", base_rss, base_threads, parked_rss, parked_threads, lat)

# Streams: parked between events, the same connections for every publish.
base_rss, base_threads = rss_kib(), threads()
socks = open_clients(b"GET /v1/topics/w/stream HTTP/1.1\r\nHost: x\r\n"
                     b"Last-Event-ID: %d\r\n\r\n" % seq)
drain(socks)
await_waiting("stream", N)
parked_rss, parked_threads = rss_kib(), threads()
lat = []
for i in range(PUBLISHES):
    await_waiting("stream", N)
    t0 = time.monotonic()
    call("POST", "/v1/topics/w/events", b"x" * 64)
    lat += first_bytes(socks, t0)
report("stream", base_rss, base_threads, parked_rss, parked_threads, lat)
for s in socks:
    s.close()
proc.send_signal(signal.SIGTERM)
proc.wait(60)
