#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_http.c into corpus_http/: one raw HTTP
request per file, one for each route and error of the gateway."""
import os

AUTH = "Authorization: Bearer fuzz-secret\r\n"


def req(method, path, headers="", body=b""):
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\n{AUTH}{headers}"
    if body or method == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


SEEDS = {
    "healthz": req("GET", "/healthz"),
    "metrics": req("GET", "/metrics"),
    "topics": req("GET", "/v1/topics"),
    "topic": req("GET", "/v1/topics/a.b"),
    "publish": req("POST", "/v1/topics/a.b/events", body=b"hello"),
    "publish_json": req("POST", "/v1/topics/a.b/events",
                        "Content-Type: application/json\r\n", b'{"k":[1,2,{"x":null}]}'),
    "publish_bad_json": req("POST", "/v1/topics/a.b/events",
                            "Content-Type: application/json\r\n", b'{"k":[1,2'),
    "publish_idempotent": req("POST", "/v1/topics/a.b/events",
                              "Idempotency-Key: key-1\r\n", b"x") * 2,
    "publish_too_large": req("POST", "/v1/topics/small/events", body=b"123456789"),
    "publish_chunked": (f"POST /v1/topics/a.b/events HTTP/1.1\r\nHost: x\r\n{AUTH}"
                        "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n").encode(),
    "poll": req("GET", "/v1/topics/a.b/events?after=0&limit=10&wait=0"),
    "poll_gone": req("POST", "/v1/topics/small/events", body=b"1") * 3 +
                 req("GET", "/v1/topics/small/events?after=0"),
    "poll_bad_query": req("GET", "/v1/topics/a.b/events?after=-1&limit=x&wait=99"),
    "stream": req("GET", "/v1/topics/a.b/stream", "Last-Event-ID: 1\r\n"),
    "request": req("POST", "/v1/topics/a.b/request?timeout_ms=20", body=b"q"),
    "bad_topic": req("GET", "/v1/topics/a..b/events"),
    "reserved": req("GET", "/v1/topics/bus.dead_letter/events"),
    "percent": req("GET", "/v1/topics/a%2Eb%00/events?after=%31"),
    "method": req("DELETE", "/v1/topics/a.b/events"),
    "no_auth": b"GET /v1/topics HTTP/1.1\r\nHost: x\r\n\r\n",
    "forbidden": req("GET", "/v1/topics/other/events"),
    "pipelined": req("GET", "/healthz") + req("POST", "/v1/topics/a.c/events", body=b"z"),
}

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus_http")
os.makedirs(here, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(here, name), "wb") as f:
        f.write(data)
