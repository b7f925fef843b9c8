"""Texting end to end through the real local stack (`make dev`'s entry point): the app's
SDK sends to the fake Messages API over TLS, the fake posts signed receipts back to the
app's status webhook, and the link shows `delivered`."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest


def call(stack: Any, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        stack.app_url + path, method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {stack.admin_key}",
                 "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status, json.loads(answer.read() or b"null")


@pytest.mark.stack
def test_a_texted_link_is_delivered_through_the_local_stack(local_stack: Any) -> None:
    status, link = call(local_stack, "POST", "/api/links", {
        "url": "https://example.com/offer",
        "sms": {"to": "+447400123456", "text": "Your offer: {link}"},
    })
    assert status == 201
    assert link["message"]["status"] == "accepted"
    assert link["message"]["to"] == "+44*******456"

    _, outbox = call(local_stack, "GET", "/api/outbox")
    [entry] = [m for m in outbox["messages"] if m["client_ref"] == link["code"]]
    assert entry["text"] == f"Your offer: {link['short_url']}"
    assert entry["to"] == "+44*******456"

    deadline = time.monotonic() + 15
    shown: dict[str, Any] = {}
    while time.monotonic() < deadline:
        _, shown = call(local_stack, "GET", f"/api/links/{link['code']}")
        if shown["message"]["status"] == "delivered":
            break
        time.sleep(0.25)
    assert shown["message"]["status"] == "delivered", shown
    assert "447400123456" not in json.dumps(shown)
    assert "447400123456" not in local_stack.log()
