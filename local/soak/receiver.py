"""A link owner's endpoint for `link.clicked` webhooks, on loopback: it verifies each POST
as the README tells receivers to (HMAC over `t.body`, a fresh timestamp), refuses a share
of them with a 503 so the stack's retries are exercised, and keeps what it accepted by
event id (a webhook is at-least-once: receivers deduplicate on the id)."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REFUSE_RATE = 0.1  # a share of valid POSTs answered 503: the stack must send them again
FRESH_SECONDS = 300


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, secret: str, seed: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.secret = secret.encode()
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.accepted: defaultdict[str, set[str]] = defaultdict(set)  # code -> event ids
        self.answers: Counter[str] = Counter()  # "204", "503", "401 bad signature", ...
        self.repeats = 0  # accepted again with an id already accepted

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/clicks"

    def start(self) -> None:
        threading.Thread(target=self.serve_forever, daemon=True, name="soak-webhooks").start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def verified(self, header: str, body: bytes) -> bool:
        parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
        stamp = parts.get("t", "")
        expected = hmac.new(self.secret, stamp.encode() + b"." + body, hashlib.sha256)
        fresh = stamp.isdigit() and abs(time.time() - int(stamp)) <= FRESH_SECONDS
        return fresh and hmac.compare_digest(expected.hexdigest(), parts.get("v1", ""))

    def take(self, header: str, body: bytes) -> int:
        """The status to answer one POST with, recording what it held."""
        if not self.verified(header, body):
            with self.lock:
                self.answers["401 bad signature"] += 1
            return 401
        event: dict[str, Any] = json.loads(body)
        with self.lock:
            if self.random.random() < REFUSE_RATE:
                self.answers["503"] += 1
                return 503
            self.answers["204"] += 1
            ids = self.accepted[str(event["data"]["code"])]
            self.repeats += event["id"] in ids
            ids.add(str(event["id"]))
        return 204


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = self.server.take(self.headers.get("Linktrail-Signature", ""), body)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass
