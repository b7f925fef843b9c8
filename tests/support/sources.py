"""Write keys and Tracking API calls as Segment's libraries send them: HTTP Basic auth
with the write key as user, gzip when asked, and the queue's bodies read back."""

from __future__ import annotations

import base64
import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SITE = "http://shop.example"


def basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def create_source(client: Any, auth_headers: dict[str, str], **body: Any) -> dict[str, Any]:
    answer = client.http.post("/api/sources", headers=auth_headers,
                              body=json.dumps({"name": "shop", **body}))
    assert answer.status_code == 201, answer.body
    return dict(json.loads(answer.body))


def post_v1(
    client: Any,
    call: str,
    body: Any,
    write_key: str | None = None,
    *,
    compress: bool = False,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> Any:
    """POST /v1/<call> as a server library sends it (Basic auth) or, without a write key
    here, as analytics-next does (text/plain, the key in the body)."""
    sent = {"Content-Type": "application/json" if write_key else "text/plain"}
    if write_key:
        sent["Authorization"] = basic(write_key)
    data = raw if raw is not None else json.dumps(body).encode()
    if compress:
        data = gzip.compress(data)
        sent["Content-Encoding"] = "gzip"
    return client.http.post(f"/v1/{call}", headers={**sent, **(headers or {})}, body=data)


def problem(answer: Any) -> dict[str, Any]:
    assert answer.headers["Content-Type"] == "application/problem+json", answer.headers
    return dict(json.loads(answer.body))


@contextmanager
def served_app() -> Iterator[str]:
    """The app over real HTTP (Chalice's local server in a thread, on the test's moto)."""
    from chalice.config import Config
    from chalice.local import LocalDevServer

    from app import app

    server = LocalDevServer(app, Config.create(chalice_stage="local"), "127.0.0.1", 0)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server.server_address[1]}"
    finally:
        server.server.shutdown()
        server.server.server_close()
