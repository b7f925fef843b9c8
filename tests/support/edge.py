"""The edge click function's inputs: CloudFront events shaped as AWS documents them (the
fixtures), and link and tombstone items written straight into the links table."""

from __future__ import annotations

import json
from typing import Any

from tests.support.links import put_link_items, stored_link
from tests.support.paths import FIXTURES

CLOUDFRONT_EVENTS = FIXTURES / "cloudfront"
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
WHATSAPP = "WhatsApp/2.23.20.0 A"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
IMESSAGE = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) "
    "Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0"
)


def put_link(
    dynamodb: Any,
    table: str,
    code: str,
    long_url: str = "https://example.com/landing",
    **extra: Any,
) -> None:
    """A link item and its counter as the links store writes them; `extra` holds plain
    numbers and strings (True, False and None are left out)."""
    typed = {
        name: {"N": str(value)} if isinstance(value, int | float) else {"S": str(value)}
        for name, value in extra.items()
        if not (isinstance(value, bool) or value is None)
    }
    put_link_items(dynamodb, table, code, long_url, **typed)


def get_link(dynamodb: Any, table: str, code: str) -> dict[str, Any]:
    """The link item with its counter's attributes (counts, click) over it."""
    found = stored_link(dynamodb, table, code)
    assert found is not None, f"no link item for {code}"
    return found


def event(
    kind: str, code: str, user_agent: str = BROWSER, method: str = "GET", country: str | None = None
) -> dict[str, Any]:
    """A fixture event for `code`. `country` overrides CloudFront-Viewer-Country (None keeps
    the fixture's: DE at origin-request, absent at viewer-request, as in AWS)."""
    loaded = json.loads((CLOUDFRONT_EVENTS / f"{kind}.json").read_text())
    request = loaded["Records"][0]["cf"]["request"]
    request["uri"] = f"/{code}"
    request["method"] = method
    request["headers"]["user-agent"] = [{"key": "User-Agent", "value": user_agent}]
    if country is not None:
        request["headers"]["cloudfront-viewer-country"] = [
            {"key": "CloudFront-Viewer-Country", "value": country}
        ]
    return loaded


def put_tombstone(
    dynamodb: Any, table: str, code: str, status: str = "expired", **extra: str
) -> None:
    """What retiring a link leaves (links.items.tombstone): no link item, no S3 object."""
    item: dict[str, Any] = {
        "pk": {"S": f"link#{code}"},
        "sk": {"S": "tombstone"},
        "code": {"S": code},
        "long_url": {"S": "https://example.com/was"},
        "status": {"S": status},
        "reason": {"S": "expires_at" if status == "expired" else "deleted"},
        "ended_at": {"S": "2026-01-02T00:00:00.000Z"},
        "human_clicks": {"N": "4"},
        "bot_clicks": {"N": "2"},
    }
    item.update({name: {"S": value} for name, value in extra.items()})
    dynamodb.put_item(TableName=table, Item=item)
