#!/usr/bin/env python3
"""test_cluster.py BUS_GATEWAY NATS_PEER - bus-gateways sharing topics through NATS
(docs/scale-out.md, "Gateways").

Each test starts its own nats-server on 127.0.0.1 (a free port, a
temporary JetStream directory) and two or three bus-gateway processes on
free ports, talks to them over HTTP and stops them all: every gateway must
exit 0 on SIGTERM (under ASan, leaks fail it too). Waits are on conditions
the gateways report (events, metrics), each bounded. NATS_PEER
(tests/nats/peer.c) is a program with the bridge that answers requests.
Exit 77 (skipped)
when nats-server is not installed or bus-gateway was built without NATS.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
MAKE_CERTS = os.path.join(HERE, "..", "nats", "make_certs.sh")  # a CA and certificates
PEER = None
sys.path.insert(0, HERE)
import test_gateway  # noqa: E402  (the Gateway helper)
from test_gateway import Gateway  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsServer:
    """nats-server on 127.0.0.1, a free port, JetStream in a temp dir."""

    def __init__(self, port=None, extra=()):
        self.dir = tempfile.mkdtemp(prefix="bus-cluster-test-")
        for _ in range(5):  # a free port can be taken before the server binds it
            self.port = port or free_port()
            self.proc = subprocess.Popen(
                ["nats-server", "-a", "127.0.0.1", "-p", str(self.port), "-js",
                 "-sd", self.dir, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._accepting():
                self.url = f"nats://127.0.0.1:{self.port}"
                return
            self.proc.kill()
            self.proc.wait()
        raise AssertionError("nats-server did not start")

    def _accepting(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(4).startswith(b"INFO"):
                        return True
            except OSError:
                time.sleep(0.02)  # polling a condition, bounded
        return False

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_until(what, cond, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)  # polling a condition the gateways report, bounded
    raise AssertionError(f"never: {what}")


def window(gw, topic, after=0):
    """The events after @after the gateway holds for @topic (no wait)."""
    status, _, body = gw.json("GET", f"/v1/topics/{topic}/events?after={after}&limit=1000")
    return body["events"] if status == 200 else []


class ClusterTest(unittest.TestCase):
    def setUp(self):
        self.nats = NatsServer()
        self.gateways = []

    def gateway(self, *args, config=None):
        gw = Gateway(config, ["--nats", self.nats.url, *args] if config is None else args)
        self.gateways.append(gw)
        return gw

    def tearDown(self):
        try:
            for gw in self.gateways:
                rc, err = gw.stop()
                self.assertEqual(rc, 0, err)
        finally:
            self.nats.stop()

    def test_post_on_one_gateway_is_seen_by_a_long_poll_on_the_other(self):
        a = self.gateway("--export", "orders.>")
        b = self.gateway("--import", "orders.>")
        # A long poll on B parked before the POST on A ...
        got = {}
        poll = threading.Thread(target=lambda: got.update(
            b.json("GET", "/v1/topics/orders.eu/events?after=0&wait=10")[2]))
        poll.start()
        wait_until("B's poll parked", lambda: b.metric(
            'bus_http_waiting_clients{kind="poll"}') == 1)
        self.assertEqual(a.publish("orders.eu", b'{"id": 1}', "application/json")[0], 202)
        poll.join(15)
        self.assertEqual([e["data"] for e in got["events"]], [{"id": 1}])
        # ... and a topic B has never served: kept from its first import.
        a.publish("orders.us", b"\x00raw")
        a.publish("orders.us", b"[2]", "application/json")
        events = b.events("orders.us", 2)
        self.assertEqual(events[0]["data_b64"], "AHJhdw==")
        self.assertEqual(events[1]["data"], [2])
        self.assertEqual(a.metric("bus_nats_exported_total"), 3)
        self.assertEqual(b.metric("bus_nats_imported_total"), 3)
        self.assertEqual(b.metric("bus_nats_connected"), 1)
        # Not exported: stays on A.
        a.publish("other.t", b"local")
        self.assertEqual(a.metric("bus_nats_exported_total"), 3)
        if test_gateway.PROMTOOL:  # the gateway's text and the bridge's, one exposition
            text = b.request("GET", "/metrics")[2]
            p = subprocess.run([test_gateway.PROMTOOL, "check", "metrics"], input=text,
                               capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_a_declared_topic_is_imported_with_its_own_configuration(self):
        a = self.gateway("--export", "orders.>")
        b = self.gateway(config=f"""
[topic orders.big]
max_payload = 65536
retention_events = 4
[nats]
servers = {self.nats.url}
import = orders.>
""")
        for i in range(6):
            a.publish("orders.big", b"%d" % i, "application/json")
        # The window keeps the last 4 (retention_events): seqs 3 to 6.
        wait_until("the last 4 in B's window", lambda: [
            e["data"] for e in window(b, "orders.big", after=2)] == [2, 3, 4, 5])
        _, _, topic = b.json("GET", "/v1/topics/orders.big")
        self.assertEqual(topic["config"]["max_payload"], 65536)
        self.assertEqual(b.metric('bus_nats_dropped_total{cause="local_error"}'), 0)

    def test_token_in_the_config_file(self):
        secured = NatsServer(extra=["--auth", "s3cret-token"])
        try:
            config = f"[nats]\nservers = {secured.url}\nimport = t.>\n"
            status, err = test_gateway.start_config(config)
            self.assertEqual(status, 1)
            self.assertIn("Authorization Violation", err)
            gw = Gateway(config + "token = s3cret-token\n")
            self.assertEqual(gw.metric("bus_nats_connected"), 1)
            gw.stop_cleanly()
        finally:
            secured.stop()

    def test_tls_client_certificate(self):
        """A nats-server that verifies client certificates (--tlsverify): a
        gateway connects with the CA, its certificate and key ([nats] keys,
        or the flags) and events flow; with the CA alone (exit 1), or a
        certificate file that is not there (exit 2), it says what is wrong."""
        certs = tempfile.mkdtemp(prefix="bus-cluster-tls-")
        try:
            subprocess.run(["sh", MAKE_CERTS, certs], check=True, timeout=30)
            ca, cert, key = (os.path.join(certs, f) for f in ("ca.pem", "client.pem", "client.key"))
            self.nats.stop()
            self.nats = NatsServer(extra=[
                "--tlsverify", "--tlscacert", ca, "--tlscert", os.path.join(certs, "server.pem"),
                "--tlskey", os.path.join(certs, "server.key")])
            a = self.gateway(config=f"""
[nats]
servers = {self.nats.url}
export = tls.>
tls_ca_file = {ca}
tls_cert_file = {cert}
tls_key_file = {key}
""")
            b = self.gateway("--import", "tls.>", "--nats-tls-ca", ca, "--nats-tls-cert", cert,
                             "--nats-tls-key", key)
            self.assertEqual(a.publish("tls.t", b"[1]", "application/json")[0], 202)
            self.assertEqual([e["data"] for e in b.events("tls.t", 1)], [[1]])
            cases = [  # refused by the server: 1; a bad command line: 2
                (["--nats-tls-ca", ca], 1, "requires a TLS client certificate"),
                (["--nats-tls-ca", ca, "--nats-tls-cert", cert + ".gone", "--nats-tls-key", key],
                 2, f"tls_cert_file {cert}.gone: No such file or directory"),
            ]
            for args, code, words in cases:
                p = subprocess.run([test_gateway.GATEWAY, "--listen", "127.0.0.1:0", "--nats",
                                    self.nats.url, *args], capture_output=True, timeout=30)
                self.assertEqual(p.returncode, code, (args, p.stderr))
                self.assertIn(words, p.stderr.decode(), args)
                self.assertEqual(p.stdout, b"")  # never said it was listening
        finally:
            shutil.rmtree(certs, ignore_errors=True)

    def test_queue_group_across_gateways_gets_each_event_once(self):
        a = self.gateway("--export", "jobs.>")
        workers = [self.gateway("--import", "jobs.>@workers") for _ in range(2)]
        n = 60
        for i in range(n):
            self.assertEqual(a.publish("jobs.render", b"%d" % i, "application/json")[0], 202)
        wait_until(f"{n} imports", lambda: sum(
            w.metric("bus_nats_imported_total") for w in workers) == n)
        # Imported: published on the gateway's bus; in its window once
        # delivered.
        def shares_now():
            return [[e["data"] for e in window(w, "jobs.render")] for w in workers]
        wait_until(f"{n} in the windows", lambda: sum(map(len, shares_now())) == n)
        shares = shares_now()
        self.assertEqual(sorted(shares[0] + shares[1]), list(range(n)))
        # NATS picks a member at random: both take part (all 60 to one
        # member: a chance of 2^-59).
        self.assertTrue(all(shares), shares)

    def test_export_and_import_of_the_same_pattern_on_both_do_not_echo(self):
        a = self.gateway("--export", "chat.>", "--import", "chat.>")
        b = self.gateway("--export", "chat.>", "--import", "chat.>")
        a.publish("chat.room", b'"from a"', "application/json")
        b.events("chat.room", 1)
        b.publish("chat.room", b'"from b"', "application/json")
        # B sent its answer after it had imported A's event: had it echoed
        # that event back, A would have got the echo before B's answer.
        a.events("chat.room", 1, after=1)
        for gw in (a, b):
            self.assertEqual([e["data"] for e in window(gw, "chat.room")],
                             ["from a", "from b"])
            self.assertEqual(gw.metric("bus_nats_exported_total"), 1)
            self.assertEqual(gw.metric("bus_nats_imported_total"), 1)
            self.assertEqual(gw.metric("bus_nats_echo_skipped_total"), 1)

    def test_jetstream_keeps_what_is_posted_while_the_importer_is_down(self):
        a = self.gateway("--jetstream", "GW", "--export", "js.>")
        b = self.gateway("--jetstream", "GW", "--import", "js.>@readers")
        a.publish("js.t", b"1", "application/json")
        self.assertEqual([e["data"] for e in b.events("js.t", 1)], [1])
        rc, err = b.stop()
        self.assertEqual(rc, 0, err)
        self.gateways.remove(b)
        for i in (2, 3):  # stored by the stream, acknowledged to A's bridge
            a.publish("js.t", b"%d" % i, "application/json")
        # The durable consumer "readers" resumes where B left it.
        b = self.gateway("--jetstream", "GW", "--import", "js.>@readers")
        self.assertEqual([e["data"] for e in b.events("js.t", 2)], [2, 3])
        wait_until("acknowledged", lambda: b.metric(
            'bus_nats_jetstream_imports_total{outcome="acked"}') == 2)

    def test_http_request_is_answered_by_another_process(self):
        a = self.gateway("--export", "svc.>")
        peer = subprocess.Popen([PEER, "--nats", self.nats.url, "--import", "svc.>",
                                 "--reply", "svc.>"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            self.assertEqual(peer.stdout.readline(), b"ready\n")
            status, _, body = a.request("POST", "/v1/topics/svc.echo/request?timeout_ms=5000",
                                        b"ping")
            self.assertEqual((status, body), (200, b"re:ping"))
        finally:
            out, err = peer.communicate(timeout=20)  # closes its stdin: it ends
        self.assertEqual(peer.returncode, 0, err)
        self.assertIn(b"requests_in=1 ", out)
        self.assertEqual(a.metric('bus_nats_requests_total{direction="out"}'), 1)
        # The responder gone: NATS has none, the local -ENOENT, a 503.
        status, _, body = a.json("POST", "/v1/topics/svc.echo/request?timeout_ms=5000",
                                 b"ping")
        self.assertEqual((status, body["code"]), (503, "no_responders"))
        self.assertEqual(a.metric("bus_nats_no_responders_total"), 1)

    def test_cluster_lists_the_other_gateways_imports(self):
        token = "secret-token-1"
        down = f"nats://127.0.0.1:{free_port()}"
        a = self.gateway(config=f"""
[token admin]
secret = {token}
publish = >
subscribe = >
[nats]
servers = {self.nats.url}
servers = {down}
name = gateway-a
export = orders.> audit.>
""")
        b = self.gateway("--nats", self.nats.url.replace("//", "//user:pw@"),
                         "--import", "orders.>@billing", "--import", "audit.>")
        auth = {"Authorization": f"Bearer {token}"}
        status, _, body = a.json("GET", "/v1/cluster")
        self.assertEqual(status, 401, body)  # auth as /v1/topics
        status, _, body = a.json("GET", "/v1/cluster?max=1", headers=auth)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["name"], "gateway-a")
        self.assertTrue(body["connected"])
        self.assertEqual(body["servers"], [self.nats.url, down])  # servers lines add up
        self.assertEqual(body["exports"], ["orders.>", "audit.>"])
        self.assertEqual(body["imports"], [])
        self.assertEqual(len(body["peers"]), 1, body)
        peer = body["peers"][0]
        self.assertNotEqual(peer["id"], body["id"])
        self.assertEqual(peer["imports"], [{"pattern": "orders.>", "group": "billing"},
                                           {"pattern": "audit.>", "group": ""}])
        # B sees A, and itself apart.
        _, _, mine = b.json("GET", "/v1/cluster?max=1")
        self.assertEqual(mine["peers"][0]["id"], body["id"])
        self.assertEqual(mine["imports"], peer["imports"])
        self.assertEqual(mine["servers"], [self.nats.url.replace("//", "//***@")])
        status, _, body = b.json("GET", "/v1/cluster?timeout_ms=0")
        self.assertEqual((status, body["code"]), (400, "bad_query"))

    def test_one_discovery_at_a_time(self):
        """A GET /v1/cluster while another discovers: 503 busy without an
        answer of the last discover_timeout_ms, else that answer (Age)."""
        gw = self.gateway(config=f"[nats]\nservers = {self.nats.url}\n"
                                 "discover_timeout_ms = 10000\n")
        self.gateway()  # a peer: discovery waits its whole timeout for more
        first = {}

        def discover(into):
            into["answer"] = gw.request("GET", "/v1/cluster?timeout_ms=2000")

        for round_ in ("no answer yet", "one cached"):
            t = threading.Thread(target=discover, args=(first,))
            t.start()
            time.sleep(0.5)  # the first call is discovering (2 s: no max)
            status, hdrs, body = gw.request("GET", "/v1/cluster?timeout_ms=1")
            t.join()
            self.assertEqual(first["answer"][0], 200, round_)
            self.assertNotIn("Age", first["answer"][1])
            if round_ == "no answer yet":
                self.assertEqual((status, json.loads(body)["code"]), (503, "busy"))
                self.assertEqual(hdrs.get("Retry-After"), "1")
            else:
                self.assertEqual(status, 200, body)
                self.assertIn(hdrs.get("Age"), ("0", "1", "2"))
                self.assertEqual(json.loads(body)["id"], json.loads(first["answer"][2])["id"])

    def test_flags_apply_after_the_config_file(self):
        down = f"nats://127.0.0.1:{free_port()}"
        gw = self.gateway("--nats", self.nats.url, "--import", "b.>@g", config=f"""
[nats]
servers = {down}
export = a.>
import = c.>
""")
        # --nats replaced the file's server (down: the start would fail),
        # --import added to the file's imports.
        _, _, body = gw.json("GET", "/v1/cluster?timeout_ms=1")
        self.assertEqual(body["servers"], [self.nats.url])
        self.assertEqual(body["exports"], ["a.>"])
        self.assertEqual(body["imports"], [{"pattern": "c.>", "group": ""},
                                           {"pattern": "b.>", "group": "g"}])

    def test_cluster_without_nats_is_404(self):
        gw = Gateway()
        try:
            status, _, body = gw.json("GET", "/v1/cluster")
            self.assertEqual((status, body["code"]), (404, "nats_not_configured"))
            self.assertIsNone(gw.metric("bus_nats_connected"))
        finally:
            gw.stop_cleanly()

    def test_bad_urls_and_a_server_down_are_clear_errors(self):
        down = f"nats://127.0.0.1:{free_port()}"
        cases = [
            (["--nats", down], 1, "Connection refused"),
            # Credentials in a URL are not repeated.
            (["--nats", down.replace("//", "//u:hunter22@")], 1, "nats://***@127.0.0.1"),
            (["--nats", "nats://a b"], 2, "--nats"),
            (["--export", "orders.>"], 2, "without a server"),
            (["--nats", down, "--import", "a.>@bad.group"], 2, "queue group"),
            (["--nats", down, "--nats-typo", "x"], 2, "--nats-typo: unknown option"),
        ]
        for args, code, words in cases:
            p = subprocess.run([test_gateway.GATEWAY, "--listen", "127.0.0.1:0", *args],
                               capture_output=True, timeout=30)
            self.assertEqual(p.returncode, code, (args, p.stderr))
            self.assertIn(words, p.stderr.decode(), args)
            self.assertNotIn(b"hunter22", p.stderr)
            self.assertEqual(p.stdout, b"")  # never said it was listening

    def test_retry_on_failed_connect_joins_when_the_server_comes(self):
        port = free_port()
        gw = self.gateway(config=f"""
[nats]
servers = nats://127.0.0.1:{port}
import = late.>
retry_on_failed_connect = true
max_reconnect = -1
reconnect_wait_ms = 50
""")
        self.assertEqual(gw.metric("bus_nats_connected"), 0)
        _, _, body = gw.json("GET", "/v1/cluster")
        self.assertEqual((body["connected"], body["peers"]), (False, []))
        late = NatsServer(port)
        try:
            wait_until("connected", lambda: gw.metric("bus_nats_connected") == 1)
            a = self.gateway("--nats", late.url, "--export", "late.>", config=None)
            a.publish("late.t", b"1", "application/json")
            self.assertEqual([e["data"] for e in gw.events("late.t", 1)], [1])
        finally:
            for g in self.gateways[1:]:
                g.stop_cleanly()
            del self.gateways[1:]
            late.stop()

    def test_sigterm_with_nats_connected_exits_0(self):
        a = self.gateway("--export", "t.>", "--import", "u.>")
        b = self.gateway("--export", "u.>", "--import", "t.>")
        # Parked clients and traffic in both directions at the stop.
        a.publish("t.x", b"1")
        b.events("t.x", 1)
        poll = threading.Thread(target=lambda: a.json(
            "GET", "/v1/topics/u.y/events?after=0&wait=30", timeout=30))
        poll.start()
        wait_until("parked", lambda: a.metric('bus_http_waiting_clients{kind="poll"}') == 1)
        start = time.monotonic()
        rc, err = a.stop()
        self.assertEqual(rc, 0, err)
        self.assertLess(time.monotonic() - start, 10)
        poll.join(10)
        self.assertFalse(poll.is_alive())
        self.gateways.remove(a)


def nats_built(gateway):
    p = subprocess.run([gateway, "--listen", "127.0.0.1:0", "--nats", "nats://a b"],
                       capture_output=True, timeout=30)
    return b"need a build with libnats" not in p.stderr


if __name__ == "__main__":
    test_gateway.GATEWAY = os.path.abspath(sys.argv.pop(1))
    PEER = os.path.abspath(sys.argv.pop(1))
    if not shutil.which("nats-server") or not nats_built(test_gateway.GATEWAY):
        print("nats-server or bus-gateway's NATS bridge is not there: skipped")
        sys.exit(77)
    test_gateway.run_tests()
