#!/usr/bin/env python3
"""test_dashboard.py BUS_GATEWAY SCREENSHOT - the dashboard (GET /) rendered
by headless Chromium while a publisher runs (its rate a wave, so that the
charts show one): the DOM (--dump-dom) shows every topic with a non-zero
publish rate, its chart drawn from the gateway's history (many points, not
the one of the page's load), and the webhook; a screenshot of the page is
kept at SCREENSHOT (a test artifact; docs/img/dashboard.png is a copy).
Exit 77 (skipped) when Debian's chromium is not installed.
"""
import math
import html.parser
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_gateway  # noqa: E402
from test_webhooks import Receiver, config  # noqa: E402

CHROMIUM = shutil.which("chromium")
SCREENSHOT = None
TOPICS = ("payments.card", "orders.created")
WAVE_S = 4  # the publisher's rate goes up and down over this period
HISTORY_SAMPLES = 32  # 8 s at dashboard_interval_ms = 250: two waves


class Rows(html.parser.HTMLParser):
    """The dashboard's table rows: {data-topic or data-webhook: {class: text}}."""

    def __init__(self):
        super().__init__()
        self.rows, self.row, self.cls = {}, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and ("data-topic" in a or "data-webhook" in a):
            self.row = self.rows.setdefault(a.get("data-topic") or a["data-webhook"], {})
        elif tag == "canvas" and self.row is not None:
            self.row["points"] = int(a.get("data-points", 0))
        elif tag == "td" and self.row is not None:
            self.cls = a.get("class", "")
            self.row.setdefault("cells", 0)
            self.row["cells"] += 1

    def handle_endtag(self, tag):
        if tag == "tr":
            self.row = None

    def handle_data(self, data):
        if self.row is not None and self.cls:
            for c in self.cls.split():
                self.row.setdefault(c, data)


def chromium(*args, timeout=90):
    """Runs headless Chromium in a session of its own, killed whole on timeout."""
    profile = tempfile.mkdtemp(prefix="bus-dashboard-chromium-")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out.decode()
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise AssertionError("chromium did not finish")
    finally:
        shutil.rmtree(profile, ignore_errors=True)


class DashboardTest(unittest.TestCase):
    def test_page_shows_topics_rates_and_webhooks(self):
        receiver = Receiver()
        gw = test_gateway.Gateway("[gateway]\ndashboard_interval_ms = 250\n" + config())
        stop = threading.Event()
        try:
            status, _, body = gw.json("POST", "/v1/webhooks", json.dumps(
                {"pattern": "payments.>", "url": receiver.url}))
            self.assertEqual(status, 201)
            receiver.secret = body["secret"]

            def publish():
                """Each topic's rate a wave of period WAVE_S, out of phase."""
                c = gw.conn()
                t0 = time.monotonic()
                while not stop.is_set():
                    slot = time.monotonic()
                    for i, t in enumerate(TOPICS):
                        phase = 2 * math.pi * ((slot - t0) / WAVE_S + i / 3)
                        for _ in range(int(12 + 10 * math.sin(phase))):
                            c.request("POST", f"/v1/topics/{t}/events", body=b"{}")
                            c.getresponse().read()
                    time.sleep(max(0, slot + 0.05 - time.monotonic()))  # 20 slots a second
                c.close()

            publisher = threading.Thread(target=publish)
            publisher.start()
            # The bus's 1 s rates, as the page shows them: non-zero once the
            # sampler (started by the first snapshot) has seen the publisher.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                snap = gw.json("GET", "/v1/dashboard/snapshot")[2]
                rates = {t["name"]: t["publish_rate_1s"] for t in snap["metrics"]["topics"]}
                if all(rates.get(t, 0) > 0 for t in TOPICS):
                    break
                time.sleep(0.05)  # polling a condition, bounded
            self.assertTrue(all(rates.get(t, 0) > 0 for t in TOPICS), rates)
            # The gateway samples for the charts since that first snapshot:
            # let it gather two waves.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                history = gw.json("GET", "/v1/dashboard/snapshot")[2]["history"]
                if len(history) >= HISTORY_SAMPLES:
                    break
                time.sleep(0.25)  # polling a condition, bounded
            self.assertGreaterEqual(len(history), HISTORY_SAMPLES)
            self.assertTrue(all(history[-1]["topics"][t][0] > 0 for t in TOPICS), history[-1])
            self.assertEqual(len(history[-1]["webhooks"]), 1)

            url = f"http://127.0.0.1:{gw.port}/"
            rc, dom = chromium("--dump-dom", url)
            self.assertEqual(rc, 0)
            rows = Rows()
            rows.feed(dom)
            for t in TOPICS:
                self.assertIn(t, rows.rows, dom)
                self.assertGreater(float(rows.rows[t]["publish-rate"].rstrip("k")), 0, rows.rows)
                self.assertEqual(rows.rows[t]["cells"], 10)
                self.assertGreaterEqual(rows.rows[t]["points"], HISTORY_SAMPLES)
            hooks = [k for k in rows.rows if k.startswith("wh_")]
            self.assertEqual(len(hooks), 1, rows.rows)
            self.assertGreaterEqual(rows.rows[hooks[0]]["points"], HISTORY_SAMPLES - 1)
            rc, _ = chromium(f"--screenshot={SCREENSHOT}", "--window-size=1400,420", url)
            self.assertEqual(rc, 0)
            self.assertGreater(os.path.getsize(SCREENSHOT), 10000)
        finally:
            stop.set()
            if "publisher" in locals():
                publisher.join()
            rc, err = gw.stop()
            receiver.close()
            self.assertEqual(rc, 0, err)

    def test_files_and_stream(self):
        gw = test_gateway.Gateway("[gateway]\ndashboard_interval_ms = 100\n"
                                  "[token app]\nsecret = app-secret-1\nsubscribe = >\n")
        try:
            for path, ctype in (("/", "text/html"), ("/dashboard.js", "text/javascript"),
                                ("/dashboard.css", "text/css")):
                status, hdrs, body = gw.request("GET", path)  # no token: no data in them
                self.assertEqual(status, 200)
                self.assertTrue(hdrs["Content-Type"].startswith(ctype))
                self.assertNotIn(b"http://", body.replace(b"http://www.w3.org", b""))  # no CDN
            self.assertEqual(gw.request("GET", "/v1/dashboard/stream")[0], 401)
            c = gw.conn()
            c.request("GET", "/v1/dashboard/stream?token=app-secret-1")
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            snaps = []
            while len(snaps) < 2:
                line = r.fp.readline()
                if line.startswith(b"data: "):
                    snaps.append(json.loads(line[6:]))
            self.assertGreater(snaps[1]["time_ms"], snaps[0]["time_ms"])
            self.assertIn("topics", snaps[0]["metrics"])
            self.assertEqual(snaps[0]["webhooks"], {"webhooks": []})
            c.close()
        finally:
            rc, err = gw.stop()
            self.assertEqual(rc, 0, err)


if __name__ == "__main__":
    test_gateway.GATEWAY = os.path.abspath(sys.argv.pop(1))
    SCREENSHOT = os.path.abspath(sys.argv.pop(1))
    if not CHROMIUM:
        print("chromium is not installed: skipped")
        sys.exit(77)
    result = unittest.main(verbosity=2, exit=False).result
    print(f"Checks: {result.testsRun}, Failures: {len(result.failures)}, "
          f"Errors: {len(result.errors)}")
    sys.exit(0 if result.wasSuccessful() else 1)
