#!/usr/bin/env python3
"""webhook_receiver.py - a webhook receiver that checks Standard Webhooks
signatures, as bus-gateway sends them (docs/gateway.md, "Webhooks").
Python's standard library only: copy it, or copy verify().

    webhook_receiver.py --secret whsec_... [--port 8000] [--host 127.0.0.1]

Prints "listening on http://HOST:PORT", then one JSON line per webhook
received: {"id", "topic", "seq", "verified", "body"}. Answers 204 to a
webhook whose signature and timestamp check, 401 to one that does not (the
gateway retries it, then dead-letters it).
"""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import sys
import time

TOLERANCE_S = 5 * 60  # as the Standard Webhooks libraries


class VerifyError(Exception):
    pass


def verify(secret, headers, body, now=None):
    """Checks one webhook: @secret "whsec_<base64>", @headers a mapping
    (case-insensitive keys, as http.server's), @body the raw bytes.
    Raises VerifyError, else returns the webhook-id (an idempotency key:
    the same on every retry of one event)."""
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise VerifyError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not timestamp.isdigit():
        raise VerifyError("bad timestamp")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > TOLERANCE_S:
        raise VerifyError("timestamp out of tolerance")  # a replayed old webhook
    if not secret.startswith("whsec_"):
        raise VerifyError("the secret is not whsec_<base64>")
    key = base64.b64decode(secret[len("whsec_"):])
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for entry in signatures.split(" "):  # several when the sender rotates keys
        version, _, sig = entry.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return msg_id
    raise VerifyError("no signature matches")


def handler_for(secret, out):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                msg_id = verify(secret, self.headers, body)
                verified = True
            except VerifyError as e:
                msg_id, verified = self.headers.get("webhook-id"), False
                self.log_message("refused: %s", e)
            print(json.dumps({"id": msg_id, "topic": self.headers.get("bus-topic"),
                              "seq": self.headers.get("bus-seq"), "verified": verified,
                              "body": body.decode("utf-8", "replace")}), file=out, flush=True)
            self.send_response(204 if verified else 401)
            self.end_headers()

        def log_message(self, fmt, *args):
            sys.stderr.write("webhook_receiver: " + fmt % args + "\n")

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--secret", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    args = ap.parse_args()
    server = http.server.ThreadingHTTPServer((args.host, args.port),
                                             handler_for(args.secret, sys.stdout))
    print(f"listening on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
