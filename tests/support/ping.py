"""POST /ping as a browser sends it (text/ping, Ping-To, Ping-From)."""

from __future__ import annotations

from typing import Any

from tests.support.journeys import DESKTOP_UA, SITE

BASE = f"http://{SITE}"


def headers(**overrides: Any) -> dict[str, str]:
    base: dict[str, str | None] = {
        "Content-Type": "text/ping",
        "Host": SITE,
        "Ping-To": f"{BASE}/about-me",
        "Ping-From": f"{BASE}/",
        "User-Agent": DESKTOP_UA,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def ping(client: Any, body: Any = "PING", **overrides: Any) -> Any:
    return client.http.post("/ping", headers=headers(**overrides), body=body)
