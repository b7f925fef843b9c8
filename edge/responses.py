"""What the edge function answers itself: a 302 or a 410, never cached. A generated
response CloudFront cannot accept (a malformed Location header) would be a 502, so a
location is checked before it is used."""

from __future__ import annotations

from typing import Any

NO_STORE = "private, no-store"

Result = dict[str, Any]


def safe_location(url: str) -> bool:
    """CloudFront rejects a generated response with a malformed header (502)."""
    return (
        url.startswith(("https://", "http://"))
        and len(url) <= 2048
        and url.isascii()
        and url.isprintable()
        and " " not in url
    )


def redirect(url: str) -> Result:
    return {
        "status": "302",
        "statusDescription": "Found",
        "headers": {
            "location": [{"key": "Location", "value": url}],
            "cache-control": [{"key": "Cache-Control", "value": NO_STORE}],
        },
    }


def gone(html: str) -> Result:
    return {
        "status": "410",
        "statusDescription": "Gone",
        "headers": {
            "content-type": [{"key": "Content-Type", "value": "text/html; charset=utf-8"}],
            "cache-control": [{"key": "Cache-Control", "value": NO_STORE}],
        },
        "bodyEncoding": "text",
        "body": html,
    }
