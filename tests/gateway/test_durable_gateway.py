#!/usr/bin/env python3
"""test_durable_gateway.py BUS_GATEWAY - durable topics in bus-gateway.

Each test starts bus-gateway on 127.0.0.1 with a free port, a config
declaring durable topics and a data directory of its own (a temporary
directory that outlives the gateway's restarts), and drives it over HTTP:
long polls and streams served from the journal behind the replay window,
410 only past the journal's retention, every event answered 202 kept
through a kill -9 of the gateway; webhooks of durable topics delivering
every event at least once, with a stable webhook-id, through kills -9,
against receivers that check each signature with verify() of
examples/webhook_receiver.py.
"""
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_gateway  # noqa: E402  (the Gateway helper)
import test_webhooks  # noqa: E402  (the receiver)


def kill_9(gw):
    """SIGKILL: no stop, no flush, no sync."""
    gw.proc.kill()
    gw.proc.communicate()
    shutil.rmtree(gw.dir, ignore_errors=True)


def payload(ev):
    """An event's payload as bytes, whichever way the gateway showed it."""
    if "data" in ev:
        return json.dumps(ev["data"], separators=(",", ":")).encode()
    return base64.b64decode(ev["data_b64"])


class SSE:
    """A raw Server-Sent Events client: status line, headers, then events."""

    def __init__(self, port, topic, headers=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.sock.sendall(
            f"GET /v1/topics/{topic}/stream HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
        self.f = self.sock.makefile("rb")
        self.status = self.f.readline().decode()
        while self.f.readline().strip():
            pass

    def event(self):
        """The next event (comments skipped) as a dict of its fields."""
        fields = {}
        while True:
            line = self.f.readline()
            if not line:
                raise AssertionError("stream closed")
            line = line.decode().rstrip("\r\n")
            if re.fullmatch(r"[0-9a-fA-F]+", line) and not fields:
                continue  # a chunk-size line of the chunked encoding
            if line == "":
                if fields:
                    return fields
                continue
            if line.startswith(":"):
                continue
            k, v = line.split(": ", 1)
            fields[k] = v

    def close(self):
        self.sock.close()


class DurableTest(unittest.TestCase):
    topic_keys = "sync = none\n"

    def setUp(self):
        self.data = tempfile.mkdtemp(prefix="bus-gateway-data-")
        self.addCleanup(shutil.rmtree, self.data, ignore_errors=True)
        self.config = ("[topic orders]\ndurable = true\nretention_events = 4\n" +
                       self.topic_keys + "[topic plain]\nretention_events = 4\n")
        self.gw = self.start()

    def start(self):
        return test_gateway.Gateway(self.config, args=("--data-dir", self.data))

    def tearDown(self):
        rc, err = self.gw.stop()
        self.assertEqual(rc, 0, err)

    def post_all(self, n, start=0, topic="orders"):
        """Posts @n events, JSON and bytes in turn: their bodies by seq."""
        sent = {}
        for i in range(start, start + n):
            if i % 2:
                body, ctype = f'{{"n":{i}}}'.encode(), "application/json"
            else:
                body, ctype = f"bytes {i}".encode(), "application/octet-stream"
            status, _, reply = self.gw.publish(topic, body, ctype)
            self.assertEqual(status, 202, reply)
            sent[reply["seq"]] = body
        return sent

    def poll(self, after, limit=1000, topic="orders"):
        return self.gw.json("GET", f"/v1/topics/{topic}/events?after={after}&limit={limit}")


class Journal(DurableTest):
    def test_poll_older_than_the_window_reads_the_journal(self):
        sent = self.post_all(20)
        self.assertEqual(sorted(sent), list(range(1, 21)))  # seqs from 1, none 0
        status, _, body = self.poll(0)
        self.assertEqual(status, 200, body)
        self.assertEqual([e["seq"] for e in body["events"]], list(range(1, 21)))
        self.assertEqual({e["seq"]: payload(e) for e in body["events"]}, sent)
        self.assertEqual(body["events"][1]["data"], {"n": 1})  # JSON shown as JSON
        self.assertEqual(body["next"], 20)
        status, _, body = self.poll(2, limit=3)
        self.assertEqual([e["seq"] for e in body["events"]], [3, 4, 5])
        self.assertEqual(body["next"], 5)
        status, _, info = self.gw.json("GET", "/v1/topics/orders")
        self.assertEqual((info["journal"]["first_seq"], info["journal"]["last_seq"]), (1, 20))
        self.assertIsNone(self.gw.json("GET", "/v1/topics/plain")[2]["journal"])
        # Within the window (the last 4): as before.
        status, _, body = self.poll(17)
        self.assertEqual([e["seq"] for e in body["events"]], [18, 19, 20])
        # The same on a topic that is not durable: 410 behind its window.
        self.post_all(20, topic="plain")
        status, _, body = self.poll(0, topic="plain")
        self.assertEqual((status, body["code"]), (410, "gone"))

    def test_stream_resumes_from_the_journal_then_live(self):
        sent = self.post_all(12)
        sse = SSE(self.gw.port, "orders", {"Last-Event-ID": "2"})
        self.assertIn("200", sse.status)
        got = [sse.event() for _ in range(10)]
        self.assertEqual([int(e["id"]) for e in got], list(range(3, 13)))
        self.assertEqual([payload(json.loads(e["data"])) for e in got],
                         [sent[s] for s in range(3, 13)])
        self.post_all(1, start=12)  # live, from the window
        self.assertEqual(sse.event()["id"], "13")
        sse.close()


class Retention(DurableTest):
    # Segments of 4 KiB, at most 2 of them kept: old events are deleted.
    topic_keys = "sync = none\nsegment_bytes = 4096\nretain_bytes = 8192\n"

    def test_410_only_past_the_journal_retention(self):
        for i in range(200):
            self.assertEqual(self.gw.publish("orders", b"x" * 100)[0], 202)
        status, _, body = self.poll(0)
        self.assertEqual((status, body["code"]), (410, "gone"))
        oldest = body["oldest"]
        self.assertGreater(oldest, 1)
        self.assertLess(oldest, 197)  # older than the window, yet retained
        status, _, body = self.poll(oldest - 1, limit=5)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["events"][0]["seq"], oldest)
        status, _, body = self.gw.json("GET", "/v1/topics/orders/stream",
                                       headers={"Last-Event-ID": "0"})
        self.assertEqual((status, body["oldest"]), (410, oldest))
        sse = SSE(self.gw.port, "orders", {"Last-Event-ID": str(oldest - 1)})
        self.assertEqual(sse.event()["id"], str(oldest))
        sse.close()


class Restart(DurableTest):
    def test_kill_9_keeps_every_202_and_seqs_go_on(self):
        sent = {}
        for r in range(3):
            sent.update(self.post_all(40, start=40 * r))
            kill_9(self.gw)  # at once after the last 202
            self.gw = self.start()
            status, _, body = self.poll(0)
            self.assertEqual(status, 200, body)
            self.assertEqual({e["seq"]: payload(e) for e in body["events"]}, sent)
        status, _, reply = self.gw.publish("orders", b"after")
        self.assertEqual((status, reply["seq"]), (202, 121))
        # Streamed after the restart: the journal, from the start.
        sse = SSE(self.gw.port, "orders", {"Last-Event-ID": "0"})
        self.assertEqual(sse.event()["id"], "1")
        sse.close()

    def test_graceful_restart_too(self):
        sent = self.post_all(5)
        rc, err = self.gw.stop()
        self.assertEqual(rc, 0, err)
        self.gw = self.start()
        _, _, body = self.poll(0)
        self.assertEqual({e["seq"]: payload(e) for e in body["events"]}, sent)


class Config(unittest.TestCase):
    def test_durable_needs_a_data_directory(self):
        rc, err = test_gateway.start_config("[topic orders]\ndurable = true\n")
        self.assertEqual(rc, 2)
        self.assertIn("[topic orders] is durable: its journal needs a data directory", err)

    def test_bad_durable_declarations(self):
        for text, why in [("[defaults]\ndurable = true\n", "one by one"),
                          ("[topic a/b]\ndurable = true\n", "directory's"),
                          ("[topic a]\nsync = sometimes\n", "none, interval or always"),
                          ("[topic a]\nsegment_bytes = 100\n", "from 4096"),
                          ("[topic a]\nsync_interval_ms = 0\n", "from 1")]:
            rc, err = test_gateway.start_config(text)
            self.assertEqual(rc, 2, text)
            self.assertIn(why, err, text)

    def test_journal_keys_need_durable(self):
        """A journal setting of a topic that is not durable would be ignored:
        refused, naming its line, wherever durable = true would be."""
        for text, where in [("[topic a]\ncapacity = 8\nretain_bytes = 1000\n", ":3: [topic a] retain_bytes"),
                            ("[topic a]\nsync = always\n[topic b]\ndurable = true\n", ":2: [topic a] sync"),
                            ("[topic a]\nsegment_bytes = 8192\ndurable = false\n", ":2: [topic a] segment_bytes")]:
            rc, err = test_gateway.start_config(text)
            self.assertEqual(rc, 2, text)
            self.assertIn(where, err, text)
            self.assertIn("durable = true only", err, text)
        # durable = true after the journal keys is accepted (then it needs
        # a data directory, the next check).
        rc, err = test_gateway.start_config("[topic a]\nretain_ns = 5\ndurable = true\n")
        self.assertEqual(rc, 2)
        self.assertIn("needs a data directory", err)

    def test_data_dir_in_the_config(self):
        data = tempfile.mkdtemp(prefix="bus-gateway-data-")
        self.addCleanup(shutil.rmtree, data, ignore_errors=True)
        gw = test_gateway.Gateway(f"[gateway]\ndata_dir = {data}\n"
                                  "[topic orders]\ndurable = true\nsync = always\n")
        self.assertEqual(gw.publish("orders", b"x")[2]["seq"], 1)
        rc, err = gw.stop()
        self.assertEqual(rc, 0, err)
        self.assertTrue(os.path.isdir(os.path.join(data, "topics", "orders")))
        # The journal is locked while open: a second gateway is refused.
        gw = test_gateway.Gateway(f"[gateway]\ndata_dir = {data}\n"
                                  "[topic orders]\ndurable = true\n")
        p = subprocess.run([test_gateway.GATEWAY, "--listen", "127.0.0.1:0", "--data-dir",
                            data, "--config", os.path.join(gw.dir, "gateway.ini")],
                           capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"durable topic orders", p.stderr)
        rc, err = gw.stop()
        self.assertEqual(rc, 0, err)


class DurableWebhooks(unittest.TestCase):
    """A webhook on durable topic pay.d (and plain topic pay.p) of a gateway
    whose data directory outlives its kills."""

    def setUp(self):
        self.data = tempfile.mkdtemp(prefix="bus-gateway-data-")
        self.addCleanup(shutil.rmtree, self.data, ignore_errors=True)
        self.gw = None

    def tearDown(self):
        if self.gw:
            self.gw.stop_cleanly()

    def start(self, extra=""):
        cfg = test_webhooks.config(schedule="200ms, 200ms, 60s", extra=extra)
        cfg += "[topic pay.d]\ndurable = true\nsync = none\n"
        self.gw = test_gateway.Gateway(cfg, args=("--data-dir", self.data))
        return self.gw

    def receiver(self, port=0, delay=0):
        r = test_webhooks.Receiver(port=port, answer=lambda n: (204, delay))
        self.addCleanup(r.close)
        return r

    def create(self, url, pattern="pay.>"):
        status, _, body = self.gw.json("POST", "/v1/webhooks",
                                       json.dumps({"pattern": pattern, "url": url}))
        self.assertEqual(status, 201, body)
        return body["id"], body["secret"]

    def await_hook(self, hook, pred, timeout=20):
        return test_webhooks.WebhookTest.await_hook(self, self.gw, hook, pred, timeout)

    def burst(self, n, prefix, topic="pay.d"):
        """Posts @n events on one keep-alive connection: their seqs by body."""
        c = self.gw.conn()
        seqs = {}
        for i in range(n):
            body = f"{prefix}{i}".encode()
            c.request("POST", f"/v1/topics/{topic}/events", body=body)
            r = c.getresponse()
            reply = json.loads(r.read())
            self.assertEqual(r.status, 202, reply)
            seqs[body] = reply["seq"]
        c.close()
        return seqs

    def await_bodies(self, r, bodies, timeout=30):
        """Waits until @r got every one of @bodies; returns their ids by body."""
        with r.cond:
            ok = r.cond.wait_for(lambda: bodies <= {g["body"] for g in r.got}, timeout)
            got = list(r.got)
        self.assertTrue(ok, f"{len(bodies - {g['body'] for g in got})} never delivered")
        self.assertTrue(all(g["verified"] for g in got))
        ids = {}
        for g in got:
            ids.setdefault(g["body"], set()).add(g["headers"]["webhook-id"])
        return ids

    def test_kill_9_right_after_a_burst_loses_nothing(self):
        """A receiver slower than the burst: at each kill, events are in
        flight, queued (at most max_pending) and waiting in the journal."""
        r = self.receiver(delay=0.005)
        extra = "max_pending = 20\nmax_in_flight = 1\n"
        self.start(extra)
        hook, r.secret = self.create(r.url)
        seqs = {}
        for round_ in range(3):
            seqs.update(self.burst(100, f"r{round_}e"))
            kill_9(self.gw)  # at once after the last 202
            self.start(extra)
        ids = self.await_bodies(r, set(seqs))
        # One webhook-id per event, whoever sent it and however often:
        # made of the topic and its seq.
        for body, seq in seqs.items():
            self.assertEqual(len(ids[body]), 1, (body, ids[body]))
            (one,) = ids[body]
            self.assertRegex(one, rf"^msg_{hook}_[0-9a-f]{{16}}_{seq}$")
        self.assertEqual(len({next(iter(v)) for v in ids.values()}), 300)
        self.await_hook(hook, lambda b: b["pending"] == 0 and b["failed"] == 0)

    def test_receiver_down_backpressure_then_kill_9(self):
        """The receiver is down: max_pending deliveries queue, the others
        wait in the journal (none dropped); a kill -9; the receiver comes
        up and the restarted gateway delivers every one."""
        port = test_webhooks.free_port()
        extra = "max_pending = 10\n"
        self.start(extra)
        hook, secret = self.create(f"http://127.0.0.1:{port}/hook")
        seqs = self.burst(40, "down")
        self.await_hook(hook, lambda b: b["pending"] == 10 and b["failed_attempts"] >= 1)
        time.sleep(0.3)  # let a refused event be tried again: still 10, none failed
        _, _, body = self.gw.json("GET", f"/v1/webhooks/{hook}")
        self.assertEqual((body["pending"], body["failed"]), (10, 0))
        kill_9(self.gw)
        r = self.receiver(port=port)
        r.secret = secret
        self.start(extra)
        ids = self.await_bodies(r, set(seqs))
        self.assertTrue(all(len(v) == 1 for v in ids.values()), ids)
        self.await_hook(hook, lambda b: b["pending"] == 0 and b["failed"] == 0)

    def test_events_wait_in_the_journal_while_disabled(self):
        """410 disables the endpoint; the events that come meanwhile are
        not counted as failed: they are delivered once it is enabled."""
        r = test_webhooks.Receiver(answer=lambda n: (410 if n == 0 else 204, 0))
        self.addCleanup(r.close)
        self.start()
        hook, r.secret = self.create(r.url)
        self.burst(1, "first")
        self.await_hook(hook, lambda b: b["state"] == "disabled" and b["failed"] == 1)
        seqs = self.burst(3, "held")
        time.sleep(0.3)  # the consumer tries them: refused, not failed
        _, _, body = self.gw.json("GET", f"/v1/webhooks/{hook}")
        self.assertEqual((body["failed"], body["pending"], len(r.got)), (1, 0, 1))
        status, _, _ = self.gw.json("POST", f"/v1/webhooks/{hook}/enable")
        self.assertEqual(status, 200)
        ids = self.await_bodies(r, set(seqs))
        self.assertTrue(all(len(v) == 1 for v in ids.values()), ids)
        self.await_hook(hook, lambda b: b["delivered"] == 3 and b["failed"] == 1)

    def test_plain_topics_still_delivered_and_delete_forgets_the_consumer(self):
        r = self.receiver()
        self.start()
        hook, r.secret = self.create(r.url)
        seqs = self.burst(5, "d")
        seqs.update(self.burst(5, "p", topic="pay.p"))
        ids = self.await_bodies(r, set(seqs))
        self.assertTrue(all(len(v) == 1 for v in ids.values()), ids)
        with r.cond:
            self.assertEqual(len(r.got), 10)  # once each: not by both paths
        position = os.path.join(self.data, "topics", "pay.d", "consumers", f"webhook-{hook}")
        self.assertTrue(os.path.exists(position))
        status, _, _ = self.gw.request("DELETE", f"/v1/webhooks/{hook}")
        self.assertEqual(status, 204)
        self.assertFalse(os.path.exists(position))
        # A webhook created later gets the events from its creation on.
        _, r.secret = self.create(r.url)
        seqs2 = self.burst(3, "late")
        ids = self.await_bodies(r, set(seqs2))
        with r.cond:
            self.assertEqual(len(r.got), 13)


if __name__ == "__main__":
    test_gateway.run_main()
