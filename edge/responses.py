"""What the edge function answers itself: a 302 or a 410, never cached. A location is
checked before it is used, with the app's own destination check (edge.shared.
destinations): a URL a browser would open differently from how it reads (a backslash in
the host, ...) is never sent, and neither is a malformed Location header, which
CloudFront would turn into a 502."""

from __future__ import annotations

from typing import Any

from edge.shared.destinations import UnsafeDestination, browser_host

NO_STORE = "private, no-store"

Result = dict[str, Any]


def safe_location(url: str) -> bool:
    """Whether the app would accept `url` as a destination (the allowlist aside, which
    the app applied when the link was written)."""
    try:
        browser_host(url)
    except UnsafeDestination:
        return False
    return True


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
