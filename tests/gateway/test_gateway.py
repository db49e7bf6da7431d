#!/usr/bin/env python3
"""test_gateway.py BUS_GATEWAY - drive the bus-gateway program over HTTP.

Each test starts bus-gateway on 127.0.0.1 with a free port (--listen
127.0.0.1:0, the port read from its "listening on" line) and a config in a
temporary directory, talks to it with http.client or raw sockets, and stops
it with SIGTERM, expecting exit status 0 (under ASan, leaks fail it too).
Waits are on conditions the gateway reports (its metrics), each bounded.
"""
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

GATEWAY = None
PROMTOOL = shutil.which("promtool")


def run_tests():
    """Runs the calling script's tests, prints the line .ci/run counts
    tests by (as Check prints it) and exits 0 if they all passed."""
    result = unittest.main(module="__main__", verbosity=2, exit=False).result
    print(f"Checks: {result.testsRun}, Failures: {len(result.failures)}, "
          f"Errors: {len(result.errors)}")
    sys.exit(0 if result.wasSuccessful() else 1)


class Gateway:
    def __init__(self, config=None, args=()):
        self.dir = tempfile.mkdtemp(prefix="bus-gateway-test-")
        cmd = [GATEWAY, "--listen", "127.0.0.1:0", "--workers", "2", *args]
        if config is not None:
            path = os.path.join(self.dir, "gateway.ini")
            with open(path, "w") as f:
                f.write(config)
            cmd += ["--config", path]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self._read_line(10)
        m = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)\n", line)
        if not m:
            self.proc.kill()
            err = self.proc.communicate()[1].decode()
            raise AssertionError(f"no listening line: {line!r} {err}")
        self.port = int(m[1])

    def _read_line(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline().decode() if ready else ""

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=10):
        c = self.conn(timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def json(self, method, path, body=None, headers=None, timeout=10):
        status, hdrs, data = self.request(method, path, body, headers, timeout)
        return status, hdrs, json.loads(data) if data else None

    def publish(self, topic, body, ctype="application/octet-stream", headers=None):
        h = {"Content-Type": ctype, **(headers or {})}
        return self.json("POST", f"/v1/topics/{topic}/events", body, h)

    def events(self, topic, count, after=0, headers=None):
        """Long-polls until @count events after @after have come."""
        got = []
        deadline = time.monotonic() + 10
        while len(got) < count and time.monotonic() < deadline:
            status, _, body = self.json(
                "GET", f"/v1/topics/{topic}/events?after={after}&wait=5", headers=headers)
            assert status == 200, (status, body)
            got += body["events"]
            after = body["next"]
        assert len(got) == count, got
        return got

    def metric(self, name, headers=None):
        _, _, text = self.request("GET", "/metrics", headers=headers)
        m = re.search(r"^" + re.escape(name) + r" (\S+)$", text.decode(), re.M)
        return float(m[1]) if m else None

    def await_metric(self, name, value, headers=None, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.metric(name, headers) == value:
                return
            time.sleep(0.02)  # polling a condition, bounded: not a synchronisation sleep
        raise AssertionError(f"{name} never reached {value}")

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise AssertionError("bus-gateway did not stop after SIGTERM")
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode, err.decode()

    def stop_cleanly(self, timeout=20):
        """stop(), failing with the end of the gateway's stderr unless it
        exited 0 (what aborted a stop must be seen in CI's log)."""
        rc, err = self.stop(timeout)
        if rc != 0:
            raise AssertionError(f"bus-gateway exited {rc} at its stop; its stderr ends:\n"
                                 f"{err[-4000:]}")


def hold_connections_then_refused(gw, n):
    """Opens @n served connections, checks that one more is closed at once,
    and returns the @n (open)."""
    held = [socket.create_connection(("127.0.0.1", gw.port), timeout=5) for _ in range(n)]
    for s in held:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200" in s.recv(1000)
    got = healthz_on_new_connection(gw)
    assert got == b"", got  # refused: closed at once, unanswered
    return held


def healthz_on_new_connection(gw):
    """GET /healthz on a new connection: the answer, b"" when the gateway
    closed the connection unanswered."""
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        got = s.recv(1000)
    except ConnectionResetError:
        got = b""
    s.close()
    return got


def start_config(config):
    """Runs bus-gateway with @config that must be refused: (status, stderr)."""
    d = tempfile.mkdtemp(prefix="bus-gateway-test-")
    path = os.path.join(d, "gateway.ini")
    with open(path, "w") as f:
        f.write(config)
    try:
        p = subprocess.run([GATEWAY, "--listen", "127.0.0.1:0", "--config", path],
                           capture_output=True, timeout=20)
        return p.returncode, p.stderr.decode()
    finally:
        shutil.rmtree(d, ignore_errors=True)


class GatewayTest(unittest.TestCase):
    config = None

    def setUp(self):
        self.gw = Gateway(self.config)

    def tearDown(self):
        rc, err = self.gw.stop()
        self.assertEqual(rc, 0, err)


class Publish(GatewayTest):
    config = """
[topic small]
max_payload = 16
[topic kept]
retention_events = 2
"""

    def test_healthz(self):
        status, _, body = self.gw.json("GET", "/healthz")
        self.assertEqual((status, body), (200, {"status": "ok"}))

    def test_publish_answers_202_with_increasing_seq(self):
        for i in range(1, 4):
            status, _, body = self.gw.publish("orders.created", b"x%d" % i)
            self.assertEqual(status, 202)
            self.assertEqual(body, {"topic": "orders.created", "seq": i})

    def test_poll_returns_json_as_json_and_bytes_as_base64(self):
        self.gw.publish("t", b'{"n": [1,\n 2]}', "application/json")
        self.gw.publish("t", b"\x00\xffraw")
        self.gw.publish("t", b"42", "application/json; charset=utf-8")
        self.gw.events("t", 3)
        status, _, body = self.gw.json("GET", "/v1/topics/t/events?after=0")
        self.assertEqual(status, 200)
        ev = body["events"]
        self.assertEqual([e["seq"] for e in ev], [1, 2, 3])
        self.assertEqual(ev[0]["data"], {"n": [1, 2]})
        self.assertEqual(ev[1]["data_b64"], "AP9yYXc=")
        self.assertNotIn("data", ev[1])
        self.assertEqual(ev[2]["data"], 42)
        self.assertEqual(body["next"], 3)
        now = time.time_ns()
        self.assertTrue(all(now - 60e9 < e["time_ns"] <= now for e in ev))

    def test_poll_reads_its_own_writes(self):
        for i in range(1, 51):
            self.assertEqual(self.gw.publish("rw", b"%d" % i)[2]["seq"], i)
            status, _, body = self.gw.json("GET", f"/v1/topics/rw/events?after={i - 1}")
            self.assertEqual((status, [e["seq"] for e in body["events"]]), (200, [i]))

    def test_poll_limit_and_after(self):
        for i in range(5):
            self.gw.publish("t", b"%d" % i, "application/json")
        self.gw.events("t", 5)
        _, _, body = self.gw.json("GET", "/v1/topics/t/events?after=1&limit=2")
        self.assertEqual([e["data"] for e in body["events"]], [1, 2])
        self.assertEqual(body["next"], 3)
        _, _, body = self.gw.json("GET", "/v1/topics/t/events?after=5")
        self.assertEqual(body, {"events": [], "next": 5})

    def test_bad_json_body_is_400(self):
        status, _, body = self.gw.publish("t", b"{nope", "application/json")
        self.assertEqual((status, body["code"]), (400, "bad_json"))
        self.assertEqual(self.gw.publish("t", b"{}", "application/json")[0], 202)
        self.assertEqual(self.gw.events("t", 1)[0]["seq"], 1)  # nothing before it

    def test_malformed_topic_names_are_400(self):
        for name in ["a..b", ".a", "a.", "a*", "a.%3E", "bus.dead_letter", "bus", "a%20b",
                     "x" * 256]:
            status, _, body = self.gw.publish(name, b"x")
            self.assertEqual(status, 400, name)
            self.assertEqual(body["code"], "bad_topic")
            self.assertIn("error", body)

    def test_unknown_path_404_and_method_405(self):
        status, _, body = self.gw.json("GET", "/v2/nothing")
        self.assertEqual((status, body["code"]), (404, "not_found"))
        status, hdrs, body = self.gw.json("DELETE", "/v1/topics/t/events")
        self.assertEqual((status, body["code"]), (405, "method_not_allowed"))
        self.assertEqual(hdrs["Allow"], "GET, POST")
        status, hdrs, _ = self.gw.json("GET", "/v1/topics/t/request")
        self.assertEqual((status, hdrs["Allow"]), (405, "POST"))

    def test_body_over_max_payload_is_413(self):
        status, _, body = self.gw.publish("small", b"x" * 17)
        self.assertEqual((status, body["code"]), (413, "too_large"))
        self.assertEqual(self.gw.publish("small", b"x" * 16)[0], 202)
        self.gw.events("small", 1)
        # Chunked: no declared length, found out while reading.
        c = self.gw.conn()
        c.request("POST", "/v1/topics/small/events", body=iter([b"x" * 10, b"y" * 10]),
                  encode_chunked=True)
        r = c.getresponse()
        self.assertEqual(r.status, 413)
        c.close()
        _, _, body = self.gw.json("GET", "/v1/topics/small/events")
        self.assertEqual(len(body["events"]), 1)

    def test_idempotency_key_publishes_once(self):
        h = {"Idempotency-Key": "order-17"}
        s1, _, b1 = self.gw.publish("t", b"a", headers=h)
        s2, _, b2 = self.gw.publish("t", b"a", headers=h)
        self.assertEqual((s1, s2), (202, 202))
        self.assertEqual(b1, b2)
        # The same key on another topic is another key.
        self.assertEqual(self.gw.publish("u", b"a", headers=h)[2]["seq"], 1)
        s3, _, b3 = self.gw.publish("t", b"b", headers={"Idempotency-Key": "order-18"})
        self.assertEqual(b3["seq"], b1["seq"] + 1)
        self.gw.events("t", 1, after=b3["seq"] - 1)
        _, _, body = self.gw.json("GET", "/v1/topics/t/events")
        self.assertEqual(len(body["events"]), 2)
        self.assertEqual(self.gw.metric("bus_http_idempotent_replays_total"), 1)
        status, _, body = self.gw.publish("t", b"c", headers={"Idempotency-Key": "k" * 256})
        self.assertEqual((status, body["code"]), (400, "bad_idempotency_key"))

    def test_seq_older_than_the_window_is_410(self):
        for i in range(5):
            self.gw.publish("kept", b"%d" % i)
        self.gw.events("kept", 1, after=4)
        status, _, body = self.gw.json("GET", "/v1/topics/kept/events?after=0")
        self.assertEqual((status, body["code"], body["oldest"]), (410, "gone", 4))
        status, _, body = self.gw.json("GET", "/v1/topics/kept/events?after=3")
        self.assertEqual([e["seq"] for e in body["events"]], [4, 5])

    def test_bad_query_numbers_are_400(self):
        for q in ["after=-1", "after=abc", "after=", "after=99999999999999999999999",
                  "limit=0", "limit=1001", "wait=61", "wait=1.5", "after=%2B1"]:
            status, _, body = self.gw.json("GET", f"/v1/topics/t/events?{q}")
            self.assertEqual((status, body["code"]), (400, "bad_query"), q)


class LongPoll(GatewayTest):
    def test_poll_times_out_empty(self):
        self.gw.publish("t", b"x")
        t0 = time.monotonic()
        status, _, body = self.gw.json("GET", "/v1/topics/t/events?after=1&wait=1")
        took = time.monotonic() - t0
        self.assertEqual((status, body), (200, {"events": [], "next": 1}))
        self.assertGreaterEqual(took, 0.95)
        self.assertLess(took, 3)

    def test_poll_is_woken_by_a_publish(self):
        result = {}

        def poll():
            result["r"] = self.gw.json("GET", "/v1/topics/t/events?after=0&wait=30",
                                       timeout=40)

        th = threading.Thread(target=poll)
        th.start()
        self.gw.await_metric('bus_http_waiting_clients{kind="poll"}', 1)
        t0 = time.monotonic()
        self.gw.publish("t", b'"hi"', "application/json")
        th.join(10)
        self.assertFalse(th.is_alive())
        self.assertLess(time.monotonic() - t0, 5)
        status, _, body = result["r"]
        self.assertEqual(status, 200)
        self.assertEqual(body["events"][0]["data"], "hi")
        self.assertEqual(self.gw.metric('bus_http_waiting_clients{kind="poll"}'), 0)


class Stream(GatewayTest):
    config = """
[gateway]
heartbeat_ms = 200
[topic kept]
retention_events = 2
"""

    def open_stream(self, topic, headers=None):
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        s.sendall(f"GET /v1/topics/{topic}/stream HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
        f = s.makefile("rb")
        status = f.readline().decode()
        headers = {}
        while (line := f.readline().decode().strip()):
            k, v = line.split(":", 1)
            headers[k.lower()] = v.strip()
        return s, f, status, headers

    def read_event(self, f):
        """The next SSE event or comment block, as a list of lines."""
        lines = []
        while True:
            line = f.readline()
            self.assertTrue(line, "stream closed")
            line = line.decode().rstrip("\r\n")
            # chunk-size lines of the chunked encoding
            if re.fullmatch(r"[0-9a-fA-F]+", line) and not lines:
                continue
            if line == "":
                if lines:
                    return lines
                continue
            lines.append(line)

    def test_stream_events_and_resume_with_last_event_id(self):
        s, f, status, headers = self.open_stream("t")
        self.assertIn("200", status)
        self.assertEqual(headers["content-type"], "text/event-stream")
        self.assertEqual(self.read_event(f), [": stream open"])
        self.gw.publish("t", b'{"a":1}', "application/json")
        self.gw.publish("t", b"two")
        ev = [self.read_event(f) for _ in range(2)]
        self.assertEqual(ev[0][0], "id: 1")
        self.assertEqual(json.loads(ev[0][1][len("data: "):])["data"], {"a": 1})
        self.assertEqual(ev[1][0], "id: 2")
        self.assertEqual(json.loads(ev[1][1][len("data: "):])["data_b64"], "dHdv")
        s.close()
        s, f, _, _ = self.open_stream("t", {"Last-Event-ID": "1"})
        got = self.read_event(f)
        while got[0].startswith(":"):
            got = self.read_event(f)
        self.assertEqual(got[0], "id: 2")
        s.close()

    def test_heartbeat(self):
        s, f, _, _ = self.open_stream("t")
        seen = []
        t0 = time.monotonic()
        while ": heartbeat" not in seen and time.monotonic() - t0 < 5:
            seen += self.read_event(f)
        self.assertIn(": heartbeat", seen)
        s.close()

    def test_stream_after_the_window_is_410(self):
        for i in range(4):
            self.gw.publish("kept", b"x")
        self.gw.events("kept", 1, after=3)
        status, _, body = self.gw.json("GET", "/v1/topics/kept/stream",
                                       headers={"Last-Event-ID": "0"})
        self.assertEqual((status, body["oldest"]), (410, 3))
        status, _, body = self.gw.json("GET", "/v1/topics/kept/stream",
                                       headers={"Last-Event-ID": "x"})
        self.assertEqual(status, 400)


class Request(GatewayTest):
    def test_request_without_responder_is_503(self):
        status, hdrs, body = self.gw.json("POST", "/v1/topics/svc/request?timeout_ms=500", b"q")
        self.assertEqual((status, body["code"]), (503, "no_responders"))
        self.assertIn("Retry-After", hdrs)
        for q in ["timeout_ms=0", "timeout_ms=x", "timeout_ms=60001"]:
            status, _, body = self.gw.json("POST", f"/v1/topics/svc/request?{q}", b"q")
            self.assertEqual((status, body["code"]), (400, "bad_query"), q)


class Auth(GatewayTest):
    config = """
[token writer]
secret = writer-secret-1
publish = orders.>, audit
[token reader]
secret = reader-secret-1
subscribe = orders.*
"""
    W = {"Authorization": "Bearer writer-secret-1"}
    R = {"Authorization": "Bearer reader-secret-1"}

    def test_missing_or_wrong_token_is_401(self):
        status, hdrs, body = self.gw.publish("orders.new", b"x")
        self.assertEqual((status, body["code"]), (401, "unauthorized"))
        self.assertEqual(hdrs["WWW-Authenticate"], "Bearer")
        status, _, _ = self.gw.publish("orders.new", b"x",
                                       headers={"Authorization": "Bearer writer-secret-2"})
        self.assertEqual(status, 401)
        status, _, _ = self.gw.publish("orders.new", b"x",
                                       headers={"Authorization": "Basic d3JpdGVyOng="})
        self.assertEqual(status, 401)
        self.assertEqual(self.gw.request("GET", "/metrics")[0], 401)
        self.assertEqual(self.gw.request("GET", "/healthz")[0], 200)

    def test_rights_by_topic_pattern(self):
        self.assertEqual(self.gw.publish("orders.new", b"x", headers=self.W)[0], 202)
        self.assertEqual(self.gw.publish("orders.eu.new", b"x", headers=self.W)[0], 202)
        self.assertEqual(self.gw.publish("audit", b"x", headers=self.W)[0], 202)
        status, _, body = self.gw.publish("orders", b"x", headers=self.W)
        self.assertEqual((status, body["code"]), (403, "forbidden"))
        self.assertEqual(self.gw.publish("orders.new", b"x", headers=self.R)[0], 403)
        status, _, body = self.gw.json("GET", "/v1/topics/orders.new/events", headers=self.R)
        self.assertEqual((status, len(body["events"])), (200, 1))
        self.assertEqual(self.gw.request("GET", "/v1/topics/orders.eu.new/events",
                                         headers=self.R)[0], 403)
        self.assertEqual(self.gw.request("GET", "/v1/topics/orders.new/events",
                                         headers=self.W)[0], 403)
        self.assertEqual(self.gw.request("GET", "/metrics", headers=self.R)[0], 200)


class Topics(GatewayTest):
    config = """
[gateway]
auto_create = false
[topic orders]
capacity = 64
max_payload = 128
full = fail
retention_events = 10
retention_bytes = 1000
durable = false
"""

    def test_listing_and_one_topic(self):
        self.gw.publish("orders", b"abc")
        self.gw.events("orders", 1)
        status, _, body = self.gw.json("GET", "/v1/topics")
        self.assertEqual(status, 200)
        self.assertEqual([t["name"] for t in body["topics"]], ["orders"])
        t = body["topics"][0]
        self.assertEqual(t["config"], {"capacity": 64, "max_payload": 128, "full": "fail",
                                       "retention_events": 10, "retention_bytes": 1000})
        self.assertEqual(t["stats"]["published"], 1)
        self.assertEqual((t["window"]["events"], t["window"]["bytes"]), (1, 3))
        status, _, one = self.gw.json("GET", "/v1/topics/orders")
        self.assertEqual((status, one["name"]), (200, "orders"))

    def test_unknown_topic_is_404_without_auto_create(self):
        for method, path in [("POST", "/v1/topics/other/events"),
                             ("GET", "/v1/topics/other/events"), ("GET", "/v1/topics/other")]:
            status, _, body = self.gw.json(method, path, b"x" if method == "POST" else None)
            self.assertEqual((status, body["code"]), (404, "unknown_topic"), path)

    def test_metrics_text(self):
        self.gw.publish("orders", b"abc")
        status, hdrs, text = self.gw.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["Content-Type"].startswith("text/plain; version=0.0.4"))
        text = text.decode()
        self.assertIn('bus_topic_published_total{topic="orders"} 1', text)
        self.assertIn('bus_http_requests_total{route="publish",code="202"} 1', text)
        self.assertRegex(text, r"(?m)^bus_http_connections [1-9]")
        if PROMTOOL:
            p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                               capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


class Config(unittest.TestCase):
    def test_bad_config_names_the_line(self):
        rc, err = start_config("[gateway]\nper_ip_limit = 10\nmax_wait_s = 61\n")
        self.assertEqual(rc, 2)
        self.assertIn(":3:", err)
        rc, err = start_config("[token t]\npublish = >\n")
        self.assertEqual(rc, 2)
        self.assertIn("no secret", err)

    def test_line_over_inih_limit_is_refused(self):
        """inih reads at most 199 characters a line (INI_MAX_LINE 200, its
        NUL included): a longer one would be cut, its tail parsed as a line
        of its own. The gateway refuses it, naming the line."""
        def hosts(length):  # an allow_hosts line of exactly @length characters
            line = "allow_hosts = 127.0.0.1, "
            return line + "h" * (length - len(line))
        fits = f"[webhooks]\n{hosts(199)}\n[gateway]\nmax_wait_s = 61\n"
        rc, err = start_config(fits)
        self.assertEqual(rc, 2)
        self.assertIn(":4: [gateway] max_wait_s", err)  # the 199 went through whole
        rc, err = start_config(f"[webhooks]\n{hosts(200)}\nmax_pending = 5\n")
        self.assertEqual(rc, 2)
        self.assertIn(":2: a line longer than 199 characters", err)
        # The first error is the one named, whatever inih's order.
        rc, err = start_config("[gateway]\nmax_wait_s = 61\nno equals sign\n")
        self.assertIn(":2: [gateway] max_wait_s", err)
        rc, err = start_config(f"[gateway]\nno equals sign\n[webhooks]\n{hosts(300)}\n")
        self.assertIn(":2: not key = value", err)

    def test_bad_command_lines(self):
        for args in [[], ["--listen", "127.0.0.1"], ["--listen", "127.0.0.1:70000"],
                     ["--listen", "nohost:0"], ["--listen", "127.0.0.1:0", "--workers", "0"],
                     ["--bogus", "1"]]:
            p = subprocess.run([GATEWAY, *args], capture_output=True, timeout=20)
            self.assertEqual(p.returncode, 2, args)


class Robustness(GatewayTest):
    config = """
[gateway]
per_ip_limit = 4
connection_timeout_s = 1
body_timeout_ms = 1000
"""

    def raw(self, data, timeout=5):
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=timeout)
        try:
            s.sendall(data)
            out = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                out += chunk
            return out
        finally:
            s.close()

    def test_garbage_never_hurts(self):
        for data in [b"\x00\xff\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                     b"GET /v1/topics/%zz/events HTTP/1.1\r\nHost: x\r\n\r\n",
                     b"GET /v1/topics/a%00b/events HTTP/1.1\r\nHost: x\r\n\r\n",
                     b"POST /v1/topics/t/events HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                     b"POST /v1/topics/t/events HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 99999999999999999999999\r\n\r\n",
                     b"GET /v1/topics/t/events?after=1&after=2&wait=%31 HTTP/1.1\r\nHost: x\r\n"
                     b"Connection: close\r\n\r\n",
                     b"GET /" + b"a" * 40000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"]:
            self.raw(data)
        self.assertEqual(self.gw.request("GET", "/healthz")[0], 200)
        self.assert_nothing_published("t")

    def assert_nothing_published(self, topic):
        """A marker published now is the topic's first event."""
        self.assertEqual(self.gw.publish(topic, b"marker")[2]["seq"], 1)
        self.assertEqual(self.gw.events(topic, 1)[0]["seq"], 1)

    def test_body_cut_short_publishes_nothing(self):
        out = self.raw(b"POST /v1/topics/t/events HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: 100\r\n\r\n0123456789")
        self.assertEqual(out, b"")  # closed by the timeout, unanswered
        self.assert_nothing_published("t")

    def test_slowloris_headers_are_cut(self):
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        self.assertEqual(s.recv(100), b"")  # closed: idle for connection_timeout_s
        self.assertLess(time.monotonic() - t0, 5)
        s.close()

    def test_slow_body_is_cut(self):
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        s.sendall(b"POST /v1/topics/t/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        t0 = time.monotonic()
        closed = False
        while time.monotonic() - t0 < 5:  # one byte every 0.3 s, never idle for 1 s
            try:
                s.sendall(b"x")
            except OSError:
                closed = True
                break
            r, _, _ = select.select([s], [], [], 0.3)
            if r and s.recv(100) == b"":
                closed = True
                break
        self.assertTrue(closed)
        self.assertLess(time.monotonic() - t0, 4)
        s.close()

    def test_per_ip_limit(self):
        for s in hold_connections_then_refused(self.gw, 4):
            s.close()


class ConnectionLimit(GatewayTest):
    config = "[gateway]\nconnection_limit = 3\n"

    def test_connections_over_the_limit_are_closed(self):
        held = hold_connections_then_refused(self.gw, 3)
        held.pop().close()  # room again: the next connection is served
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if self.gw.request("GET", "/healthz", timeout=2)[0] == 200:
                    break
            except (ConnectionError, http.client.HTTPException):
                pass
        else:
            self.fail("never served again")
        for s in held:
            s.close()


class Shutdown(unittest.TestCase):
    def test_sigterm_answers_waiting_clients_and_exits_0(self):
        gw = Gateway()
        gw.publish("t", b"x")
        results = []

        def poll():
            results.append(gw.json("GET", "/v1/topics/t/events?after=1&wait=60", timeout=30))

        threads = [threading.Thread(target=poll) for _ in range(3)]
        for th in threads:
            th.start()
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=30)
        s.sendall(b"GET /v1/topics/t/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        gw.await_metric('bus_http_waiting_clients{kind="poll"}', 3)
        gw.await_metric('bus_http_waiting_clients{kind="stream"}', 1)
        t0 = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        for th in threads:
            th.join(15)
            self.assertFalse(th.is_alive())
        self.assertEqual([r[0] for r in results], [200, 200, 200])
        self.assertTrue(all(r[2] == {"events": [], "next": 1} for r in results))
        stream = b""
        while (chunk := s.recv(65536)):
            stream += chunk
        self.assertIn(b": stream open", stream)
        self.assertTrue(stream.endswith(b"0\r\n\r\n"))  # the chunked stream ended cleanly
        s.close()
        rc, err = gw.stop()
        self.assertEqual(rc, 0, err)
        self.assertLess(time.monotonic() - t0, 10)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", gw.port), timeout=2)

    def test_sigterm_refuses_new_connections_while_requests_finish(self):
        """During the grace of a stop, a request in flight is answered and
        a new connection is closed at once, unanswered."""
        gw = Gateway()
        busy = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
        busy.sendall(b"POST /v1/topics/t/events HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        self.assertIn(b"100 Continue", busy.recv(1000))  # the request is in flight
        busy.sendall(b"ab")
        gw.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while True:  # until the stop has begun: then each new one is refused
            self.assertLess(time.monotonic(), deadline, "new connections still served")
            got = healthz_on_new_connection(gw)
            if got == b"":
                break
            # Accepted before the stop began: answered (503 if it began since).
            self.assertRegex(got, rb"^HTTP/1.1 (200 OK|503 Service Unavailable)")
        busy.sendall(b"cd")
        self.assertIn(b"202", busy.recv(1000))
        busy.close()
        rc, err = gw.stop()
        self.assertEqual(rc, 0, err)


def run_main():
    """The tests of __main__, against the bus-gateway named by argv[1]."""
    global GATEWAY
    GATEWAY = os.path.abspath(sys.argv.pop(1))
    result = unittest.main(verbosity=2, exit=False).result
    # The line .ci/run counts tests by, as Check prints it.
    print(f"Checks: {result.testsRun}, Failures: {len(result.failures)}, "
          f"Errors: {len(result.errors)}")
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    run_main()
