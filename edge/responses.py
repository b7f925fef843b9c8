"""What the edge function answers itself: a 302 or a 410, never cached. A location is
checked before it is used, with the app's own destination check (edge.shared.
destinations): a URL a browser would open differently from how it reads (a backslash in
the host, ...) is never sent, and neither is a malformed Location header, which
CloudFront would turn into a 502."""

from __future__ import annotations

from typing import Any

from edge.shared.destinations import UnsafeDestination, check_destination

NO_STORE = "private, no-store"

Result = dict[str, Any]


def safe_location(url: str, allowed_hosts: tuple[str, ...] = ()) -> bool:
    """Whether the app would accept `url` as a destination under `allowed_hosts` (the
    operator's ALLOWED_DESTINATION_HOSTS, baked at build time; empty: any host)."""
    try:
        check_destination(url, allowed_hosts)
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
