#!/usr/bin/env python3
"""test_webhooks.py BUS_GATEWAY - webhooks of bus-gateway, against
receivers on 127.0.0.1 started by each test (Python's http.server), which
check every signature with verify() of examples/webhook_receiver.py.
Schedules are shortened by config (milliseconds); waits are on conditions
(requests received, counts the gateway reports), each bounded.
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
import http.server

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples"))
import test_gateway  # noqa: E402  (the Gateway helper)
import webhook_receiver  # noqa: E402

RECEIVER = os.path.join(HERE, "..", "..", "examples", "webhook_receiver.py")


class Server(http.server.ThreadingHTTPServer):
    # The gateway opens up to max_in_flight (16) connections at once: a
    # listen backlog of 5 (the default) drops SYNs, which come back after
    # the 1 s connect timeout of the tests' config.
    request_queue_size = 128


class Receiver:
    """An HTTP server on 127.0.0.1: records each POST (headers, body, whether
    its signature verifies) and answers what answer(n) says: a status, after
    an optional delay."""

    def __init__(self, port=0, answer=lambda n: (204, 0)):
        self.got = []
        self.secret = None
        self.cond = threading.Condition()
        self.answer = answer
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    webhook_receiver.verify(outer.secret, self.headers, body)
                    ok = True
                except webhook_receiver.VerifyError:
                    ok = False
                with outer.cond:
                    n = len(outer.got)
                    outer.got.append({"headers": dict(self.headers), "body": body,
                                      "verified": ok})
                    outer.cond.notify_all()
                status, delay = outer.answer(n)
                if delay:
                    time.sleep(delay)  # the slow receiver under test
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the gateway gave up on us (timeout)

            def log_message(self, *args):
                pass

        self.server = Server(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count, timeout=15):
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.got) >= count, timeout)
        assert ok, f"received {len(self.got)} of {count}"
        return self.got[:count]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def config(schedule="100ms, 100ms, 100ms", extra=""):
    return (f"[webhooks]\nallow_hosts = 127.0.0.1\nschedule = {schedule}\n"
            f"timeout_ms = 2000\nconnect_timeout_ms = 1000\n{extra}")


class WebhookTest(unittest.TestCase):
    def setUp(self):
        self.closers = []

    def tearDown(self):
        for close in reversed(self.closers):
            close()

    def gateway(self, cfg):
        gw = test_gateway.Gateway(cfg)
        self.closers.append(lambda: gw.stop_cleanly())
        return gw

    def receiver(self, **kw):
        r = Receiver(**kw)
        self.closers.append(r.close)
        return r

    def create(self, gw, r, pattern="pay.>", **fields):
        definition = {"pattern": pattern, "url": r.url if r else None, **fields}
        status, _, body = gw.json("POST", "/v1/webhooks", json.dumps(definition))
        self.assertEqual(status, 201, body)
        if r is not None and "secret" in body:
            r.secret = body["secret"]
        return body["id"]

    def await_hook(self, gw, hook, pred, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, _, body = gw.json("GET", f"/v1/webhooks/{hook}")
            self.assertEqual(status, 200)
            if pred(body):
                return body
            time.sleep(0.02)  # polling a condition, bounded
        self.fail(f"webhook never reached the state: {body}")

    def test_signed_delivery_verified(self):
        gw, r = self.gateway(config()), self.receiver()
        hook = self.create(gw, r)
        self.assertTrue(r.secret.startswith("whsec_"))
        gw.publish("pay.card", b'{"amount": 5}', "application/json")
        gw.publish("other.topic", b"not for the hook")
        got = r.wait(1)[0]
        self.assertTrue(got["verified"])
        self.assertEqual(got["body"], b'{"amount": 5}')
        self.assertEqual(got["headers"]["bus-topic"], "pay.card")
        self.assertEqual(got["headers"]["bus-seq"], "1")
        self.assertRegex(got["headers"]["webhook-signature"], r"^v1,[A-Za-z0-9+/]{43}=$")
        body = self.await_hook(gw, hook, lambda b: b["delivered"] == 1)
        self.assertEqual((body["pending"], body["failed"], body["state"]), (0, 0, "ok"))
        _, _, listed = gw.json("GET", "/v1/webhooks")
        self.assertEqual([h["id"] for h in listed["webhooks"]], [hook])
        self.assertNotIn("secret", json.dumps(listed))  # shown once, at creation
        self.assertEqual(len(r.got), 1)

    def test_backlog_drains_without_waiting_for_events(self):
        """One attempt at a time: each one that ends starts the next at
        once, not at the sender's idle tick (1 s: 40 events would take 40 s)."""
        gw, r = self.gateway(config()), self.receiver()
        hook = self.create(gw, r, max_in_flight=1)
        c = gw.conn()
        for i in range(40):
            c.request("POST", "/v1/topics/pay.x/events", body=b"%d" % i)
            self.assertEqual(c.getresponse().read() and 202, 202)
        c.close()
        t0 = time.monotonic()
        r.wait(40, timeout=8)
        self.await_hook(gw, hook, lambda b: b["delivered"] == 40, timeout=8)
        self.assertLess(time.monotonic() - t0, 8)

    def test_retry_on_500_same_id_then_success(self):
        gw = self.gateway(config())
        r = self.receiver(answer=lambda n: (500 if n < 2 else 200, 0))
        hook = self.create(gw, r)
        gw.publish("pay.x", b"e1")
        got = r.wait(3)
        self.assertEqual(len({g["headers"]["webhook-id"] for g in got}), 1)
        self.assertTrue(all(g["verified"] for g in got))
        body = self.await_hook(gw, hook, lambda b: b["delivered"] == 1)
        self.assertEqual((body["failed_attempts"], body["failed"]), (2, 0))
        self.assertEqual(body["last_error"], "HTTP status 500")

    def test_closed_port_then_receiver_comes_back(self):
        gw = self.gateway(config(schedule="300ms, 300ms, 300ms, 300ms, 300ms, 300ms"))
        port = free_port()
        status, _, body = gw.json("POST", "/v1/webhooks", json.dumps(
            {"pattern": "pay.>", "url": f"http://127.0.0.1:{port}/hook"}))
        self.assertEqual(status, 201)
        hook = body["id"]
        gw.publish("pay.x", b"later")
        failing = self.await_hook(gw, hook, lambda b: b["failed_attempts"] >= 1)
        self.assertEqual(failing["state"], "failing")
        self.assertIn("onnect", failing["last_error"])  # "Couldn't connect to server"
        self.assertIsNotNone(failing["next_attempt_ms"])
        r = self.receiver(port=port)
        r.secret = body["secret"]
        got = r.wait(1)
        self.assertTrue(got[0]["verified"])
        done = self.await_hook(gw, hook, lambda b: b["delivered"] == 1)
        self.assertEqual((done["pending"], done["state"]), (0, "ok"))

    def test_dead_letter_after_last_attempt(self):
        gw = self.gateway(config(schedule="50ms, 50ms"))
        r = self.receiver(answer=lambda n: (503, 0))
        hook = self.create(gw, r)
        gw.publish("pay.x", b"doomed")
        body = self.await_hook(gw, hook, lambda b: b["failed"] == 1)
        self.assertEqual(len(r.got), 3)  # the first attempt and two retries
        self.assertEqual(body["pending"], 0)
        dead = body["dead_letters"]
        self.assertEqual(len(dead), 1)
        self.assertEqual((dead[0]["topic"], dead[0]["seq"], dead[0]["attempts"]),
                         ("pay.x", 1, 3))
        self.assertEqual(dead[0]["id"], r.got[0]["headers"]["webhook-id"])
        self.assertEqual(dead[0]["error"], "HTTP status 503")

    def test_slow_receiver_times_out_then_retried(self):
        gw = self.gateway(config(schedule="100ms, 100ms", extra="timeout_ms = 300\n")
                          .replace("timeout_ms = 2000\n", ""))
        r = self.receiver(answer=lambda n: (200, 1.5 if n == 0 else 0))
        hook = self.create(gw, r)
        gw.publish("pay.x", b"slow")
        body = self.await_hook(gw, hook, lambda b: b["delivered"] == 1)
        self.assertEqual(body["failed_attempts"], 1)
        self.assertIn("imeout", body["last_error"])  # "Timeout was reached"
        self.assertEqual(len({g["headers"]["webhook-id"] for g in r.got}), 1)

    def test_redirect_is_a_failure(self):
        gw = self.gateway(config(schedule="50ms"))
        r = self.receiver(answer=lambda n: (302, 0))
        hook = self.create(gw, r)
        gw.publish("pay.x", b"moved")
        body = self.await_hook(gw, hook, lambda b: b["failed"] == 1)
        self.assertEqual(len(r.got), 2)  # not followed: the receiver saw only its own URL
        self.assertEqual(body["last_error"], "HTTP status 302")

    def test_ordered_endpoint_keeps_seq_order(self):
        gw = self.gateway(config())
        r = self.receiver(answer=lambda n: (500 if n == 1 else 204, 0))
        self.create(gw, r, ordered=True)
        for i in range(5):
            gw.publish("pay.x", f"e{i}".encode())
        got = r.wait(6)
        seqs = [int(g["headers"]["bus-seq"]) for g in got]
        self.assertEqual(seqs, [1, 2, 2, 3, 4, 5])  # seq 2 retried before 3 went

    def test_disabled_after_failing_too_long(self):
        gw = self.gateway(config(schedule=", ".join(["200ms"] * 10),
                                 extra="disable_after_s = 1\n"))
        r = self.receiver(answer=lambda n: (500, 0))
        hook = self.create(gw, r)
        gw.publish("pay.x", b"a")
        body = self.await_hook(gw, hook, lambda b: b["state"] == "disabled")
        self.assertEqual((body["failed"], body["pending"]), (1, 0))
        self.assertEqual(body["dead_letters"][0]["error"], "HTTP status 500")
        gw.publish("pay.x", b"b")  # refused at once, counted
        self.await_hook(gw, hook, lambda b: b["failed"] == 2)

    def test_410_disables_at_once(self):
        gw = self.gateway(config())
        r = self.receiver(answer=lambda n: (410, 0))
        hook = self.create(gw, r)
        gw.publish("pay.x", b"a")
        body = self.await_hook(gw, hook, lambda b: b["state"] == "disabled")
        self.assertEqual(len(r.got), 1)

    def test_enable_resumes_a_disabled_endpoint(self):
        gw = self.gateway(config())
        r = self.receiver(answer=lambda n: (410 if n == 0 else 204, 0))
        hook = self.create(gw, r)
        gw.publish("pay.x", b"a")
        self.await_hook(gw, hook, lambda b: b["state"] == "disabled")
        gw.publish("pay.x", b"refused")  # disabled: counted as failed, not sent
        self.await_hook(gw, hook, lambda b: b["failed"] == 2)
        status, _, body = gw.json("POST", "/v1/webhooks/wh_nope/enable")
        self.assertEqual((status, body["code"]), (404, "unknown_webhook"))
        self.assertEqual(gw.json("GET", f"/v1/webhooks/{hook}/enable")[0], 405)
        self.assertEqual(gw.json("POST", f"/v1/webhooks/{hook}/other")[0], 404)
        status, _, body = gw.json("POST", f"/v1/webhooks/{hook}/enable")
        self.assertEqual((status, body["id"], body["state"]), (200, hook, "ok"))
        self.assertEqual((body["failed"], body["last_error"]), (2, "endpoint disabled"))
        gw.publish("pay.x", b"b")
        got = r.wait(2)
        self.assertEqual(got[1]["body"], b"b")
        body = self.await_hook(gw, hook, lambda b: b["delivered"] == 1)
        self.assertEqual((body["state"], body["pending"]), ("ok", 0))
        self.assertEqual(gw.json("POST", f"/v1/webhooks/{hook}/enable")[2]["state"], "ok")

    def test_connection_address_checked_not_the_name(self):
        """allow_hosts lists a name: the address it resolves to must be
        listed too, or public (DNS rebinding: a listed name that resolves
        to an internal address). `localhost` is 127.0.0.1 and ::1."""
        r = self.receiver()
        url = f"http://localhost:{r.port}/hook"
        gw = self.gateway(config(schedule="50ms").replace(
            "allow_hosts = 127.0.0.1", "allow_hosts = localhost, 127.0.0.2, 10.0.0.0/8"))
        hook = self.create(gw, r, url=url)
        gw.publish("pay.x", b"never sent")
        body = self.await_hook(gw, hook, lambda b: b["failed"] == 1)
        self.assertEqual(body["failed_attempts"], 2)
        self.assertRegex(body["last_error"], r"^address (127\.0\.0\.1|::1) not allowed by "
                         r"\[webhooks\] allow_hosts \(Couldn't connect to server\)$")
        self.assertEqual(body["dead_letters"][0]["error"], body["last_error"])
        self.assertEqual(r.got, [])
        for host, code in (("127.0.0.1", "forbidden_host"), ("10.9.8.7", None),
                           ("[::1]", "forbidden_host"), ("127.0.0.2", None)):
            status, _, got = gw.json("POST", "/v1/webhooks", json.dumps(
                {"pattern": "never", "url": f"http://{host}:1/"}))
            self.assertEqual(got.get("code"), code, host)
        gw.stop_cleanly()
        self.closers.pop()  # stopped
        # The loopback network listed: the same URL delivers (::1, if
        # tried first, is refused and 127.0.0.1 used).
        gw = self.gateway(config().replace(
            "allow_hosts = 127.0.0.1", "allow_hosts = localhost 127.0.0.0/8"))
        hook = self.create(gw, r, url=url)
        gw.publish("pay.x", b"sent")
        self.assertTrue(r.wait(1)[0]["verified"])
        self.await_hook(gw, hook, lambda b: b["delivered"] == 1)

    def test_deny_private_without_allow_hosts(self):
        r = self.receiver()
        gw = self.gateway(config(schedule="50ms").replace(
            "allow_hosts = 127.0.0.1", "deny_private = true"))
        for host, code in (("127.0.0.1", "forbidden_host"), ("[::ffff:192.168.1.1]",
                           "forbidden_host"), ("169.254.169.254", "forbidden_host"),
                           ("192.0.2.1", None), ("anything.example", None),
                           # NAT64 and 6to4 addresses, as the IPv4 they wrap
                           ("[64:ff9b::7f00:1]", "forbidden_host"),
                           ("[2002:a00:1::1]", "forbidden_host"),
                           ("[64:ff9b::c000:201]", None), ("[2002:c000:201::1]", None)):
            status, _, got = gw.json("POST", "/v1/webhooks", json.dumps(
                {"pattern": "never", "url": f"http://{host}:1/"}))
            self.assertEqual(got.get("code"), code, host)
        hook = self.create(gw, r, url=f"http://localhost:{r.port}/hook")
        gw.publish("pay.x", b"never sent")
        body = self.await_hook(gw, hook, lambda b: b["failed"] == 1)
        self.assertIn("not allowed by [webhooks] deny_private", body["last_error"])
        self.assertEqual(r.got, [])

    def test_bad_definitions_are_400(self):
        gw = self.gateway(config())
        cases = [
            ({"pattern": "pay.>", "url": "not a url"}, "bad_url"),
            ({"pattern": "pay.>", "url": "ftp://127.0.0.1/x"}, "bad_url"),
            ({"pattern": "pay.>", "url": "http://10.1.2.3/x"}, "forbidden_host"),
            ({"pattern": "pay.>", "url": "http://localhost/x"}, "forbidden_host"),
            ({"pattern": "pay..x", "url": "http://127.0.0.1/x"}, "bad_pattern"),
            ({"pattern": "pay.>.x", "url": "http://127.0.0.1/x"}, "bad_pattern"),
            ({"pattern": "bus.>", "url": "http://127.0.0.1/x"}, "bad_pattern"),
            ({"url": "http://127.0.0.1/x"}, "bad_pattern"),
            ({"pattern": "a", "url": "http://127.0.0.1/x", "secret": "nope"}, "bad_secret"),
            ({"pattern": "a", "url": "http://127.0.0.1/x", "secret": "whsec_AAAA"},
             "bad_secret"),  # 3 bytes: under 24
            ({"pattern": "a", "url": "http://127.0.0.1/x", "colour": 1}, "bad_field"),
            ({"pattern": 5, "url": "http://127.0.0.1/x"}, "bad_field"),
        ]
        for definition, code in cases:
            status, _, body = gw.json("POST", "/v1/webhooks", json.dumps(definition))
            self.assertEqual((status, body["code"]), (400, code), definition)
        status, _, body = gw.json("POST", "/v1/webhooks", b"{not json")
        self.assertEqual((status, body["code"]), (400, "bad_json"))
        self.assertEqual(gw.json("GET", "/v1/webhooks")[2], {"webhooks": []})

    def test_get_and_delete_by_id(self):
        gw, r = self.gateway(config()), self.receiver()
        secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        hook = self.create(gw, r, secret=secret)
        r.secret = secret
        status, _, body = gw.json("POST", "/v1/webhooks", json.dumps(
            {"pattern": "pay.>", "url": r.url, "secret": secret}))
        self.assertNotIn("secret", body)  # given by the client: not echoed
        self.assertEqual(gw.json("GET", f"/v1/webhooks/{hook}")[2]["pattern"], "pay.>")
        self.assertEqual(gw.request("DELETE", f"/v1/webhooks/{hook}")[0], 204)
        self.assertEqual(gw.json("GET", f"/v1/webhooks/{hook}")[0], 404)
        self.assertEqual(gw.json("DELETE", f"/v1/webhooks/{hook}")[0], 404)
        self.assertEqual(gw.json("PUT", "/v1/webhooks")[0], 405)
        gw.publish("pay.x", b"only the second hook")
        r.wait(1)
        self.assertEqual(len(r.got), 1)

    def test_declared_in_config(self):
        r = self.receiver()
        r.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        gw = self.gateway(config() + f"[webhook payments]\npattern = pay.*\nurl = {r.url}\n"
                          f"secret = {r.secret}\nmax_in_flight = 4\n")
        gw.publish("pay.card", b"x")
        self.assertTrue(r.wait(1)[0]["verified"])
        self.assertEqual(r.got[0]["headers"]["webhook-id"], "msg_payments_1")
        body = self.await_hook(gw, "payments", lambda b: b["delivered"] == 1)
        self.assertEqual(body["max_in_flight"], 4)

    def test_bad_declaration_refuses_to_start(self):
        for section in ("[webhook p]\npattern = a\nurl = http://127.0.0.1/\n",  # no secret
                        "[webhook p]\npattern = a\nurl = http://10.0.0.1/\n"
                        "secret = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
                        "[webhook a.b]\npattern = a\n",
                        "[webhooks]\nschedule = 5 parsecs\n",
                        "[webhooks]\nallow_hosts = 10.0.0.0/33\n",
                        "[webhooks]\ndeny_private = maybe\n"):
            with self.assertRaises(AssertionError, msg=section):
                test_gateway.Gateway(config() + section)

    def test_auth_needs_the_webhooks_right(self):
        gw = self.gateway(config() + "[token ops]\nsecret = ops-secret-1\nwebhooks = true\n"
                          "[token app]\nsecret = app-secret-1\npublish = >\n")
        definition = json.dumps({"pattern": "a", "url": "http://127.0.0.1/x"})
        self.assertEqual(gw.json("POST", "/v1/webhooks", definition)[0], 401)
        app = {"Authorization": "Bearer app-secret-1"}
        self.assertEqual(gw.json("POST", "/v1/webhooks", definition, app)[0], 403)
        self.assertEqual(gw.json("GET", "/v1/webhooks", None, app)[0], 403)
        ops = {"Authorization": "Bearer ops-secret-1"}
        status, _, body = gw.json("POST", "/v1/webhooks", definition, ops)
        self.assertEqual(status, 201)
        enable = f"/v1/webhooks/{body['id']}/enable"
        self.assertEqual(gw.json("POST", enable)[0], 401)
        self.assertEqual(gw.json("POST", enable, None, app)[0], 403)
        self.assertEqual(gw.json("POST", enable, None, ops)[0], 200)

    def test_pending_deliveries_survive_kill_9(self):
        """A kill -9 loop: each round publishes events to an endpoint that is
        down, waits until the gateway reports them pending (queued, hence
        logged), kills the gateway with SIGKILL and starts it again on the
        same state_dir. Then the receiver comes up: every event is
        delivered, once each, with its webhook-id of before the kills."""
        state = tempfile.mkdtemp(prefix="bus-webhooks-state-")
        self.closers.append(lambda: shutil.rmtree(state, ignore_errors=True))
        port = free_port()
        cfg = config(schedule="200ms, 60s, 60s") + f"state_dir = {state}\n"
        gw = test_gateway.Gateway(cfg)
        status, _, body = gw.json("POST", "/v1/webhooks", json.dumps(
            {"pattern": "pay.>", "url": f"http://127.0.0.1:{port}/hook"}))
        self.assertEqual(status, 201)
        hook, secret = body["id"], body["secret"]
        rounds, per_round = 3, 10
        receiver = None
        for r in range(rounds):
            for i in range(per_round):
                self.assertEqual(gw.publish("pay.x", f"r{r}e{i}".encode())[0], 202)
            self.await_hook(gw, hook, lambda b: b["pending"] == (r + 1) * per_round
                            and b["failed_attempts"] >= per_round)
            gw.proc.kill()  # SIGKILL: no stop, no flush
            gw.proc.communicate()
            shutil.rmtree(gw.dir, ignore_errors=True)
            if r == rounds - 1:  # the endpoint comes back up
                receiver = self.receiver(port=port)
                receiver.secret = secret
            gw = test_gateway.Gateway(cfg)
            if receiver is None:
                body = self.await_hook(gw, hook,
                                       lambda b: b["pending"] == (r + 1) * per_round)
                self.assertEqual(body["url"], f"http://127.0.0.1:{port}/hook")
        self.closers.append(lambda: gw.stop_cleanly())
        got = receiver.wait(rounds * per_round)
        self.await_hook(gw, hook, lambda b: b["delivered"] == rounds * per_round
                        and b["pending"] == 0)
        self.assertTrue(all(g["verified"] for g in got))
        bodies = sorted(g["body"].decode() for g in got)
        self.assertEqual(bodies, sorted(f"r{r}e{i}" for r in range(rounds)
                                        for i in range(per_round)))
        ids = {g["headers"]["webhook-id"] for g in got}
        self.assertEqual(ids, {f"msg_{hook}_{n}" for n in range(1, rounds * per_round + 1)})

    def test_graceful_restart_keeps_pending_and_forgets_delivered(self):
        state = tempfile.mkdtemp(prefix="bus-webhooks-state-")
        self.closers.append(lambda: shutil.rmtree(state, ignore_errors=True))
        r = self.receiver(answer=lambda n: (204 if n == 0 else 500, 0))
        cfg = config(schedule="100ms, 60s") + f"state_dir = {state}\n"
        gw = test_gateway.Gateway(cfg)
        hook = self.create(gw, r)
        gw.publish("pay.x", b"delivered")
        self.await_hook(gw, hook, lambda b: b["delivered"] == 1)
        gw.publish("pay.x", b"pending")
        self.await_hook(gw, hook, lambda b: b["failed_attempts"] == 2)
        rc, err = gw.stop()
        self.assertEqual(rc, 0, err)
        r.answer = lambda n: (204, 0)
        gw = self.gateway(cfg)
        got = r.wait(4)  # delivered, pending x2 (500s), pending again after the restart
        self.assertEqual([g["body"] for g in got],
                         [b"delivered", b"pending", b"pending", b"pending"])
        self.await_hook(gw, hook, lambda b: b["delivered"] == 1 and b["pending"] == 0)
        self.assertEqual(gw.request("DELETE", f"/v1/webhooks/{hook}")[0], 204)
        gw.stop_cleanly()
        gw = self.gateway(cfg)
        self.assertEqual(gw.json("GET", "/v1/webhooks")[2], {"webhooks": []})

    def test_example_receiver(self):
        """examples/webhook_receiver.py, as a user runs it: accepts what the
        gateway signs, refuses a webhook signed with another secret."""
        gw = self.gateway(config(schedule="50ms"))
        secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        proc = subprocess.Popen([sys.executable, RECEIVER, "--secret", secret, "--port", "0"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.closers.append(lambda: (proc.kill(), proc.wait()))
        url = proc.stdout.readline().split()[-1] + "/hook"
        good = self.create(gw, None, pattern="good", url=url, secret=secret)
        other = "whsec_" + "A" * 32
        bad = self.create(gw, None, pattern="bad", url=url, secret=other)
        gw.publish("good", b"hello")
        line = json.loads(proc.stdout.readline())
        self.assertEqual((line["topic"], line["verified"], line["body"]), ("good", True, "hello"))
        self.await_hook(gw, good, lambda b: b["delivered"] == 1)
        gw.publish("bad", b"forged")
        line = json.loads(proc.stdout.readline())
        self.assertEqual((line["topic"], line["verified"]), ("bad", False))
        self.await_hook(gw, bad, lambda b: b["failed"] == 1)  # 401 twice: dead letter


if __name__ == "__main__":
    test_gateway.GATEWAY = os.path.abspath(sys.argv.pop(1))
    result = unittest.main(verbosity=2, exit=False).result
    print(f"Checks: {result.testsRun}, Failures: {len(result.failures)}, "
          f"Errors: {len(result.errors)}")
    sys.exit(0 if result.wasSuccessful() else 1)
