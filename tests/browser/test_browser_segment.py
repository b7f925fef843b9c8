"""Real browser: Debian chromium runs @segment/analytics-next, loaded from node_modules
(never a CDN), through the whole local stack. The library loads its settings from
linktrail (`cdnURL` is the app) and sends to the app's /v1 as those settings say. A visit
over two pages, page -> track -> (second page) page -> identify -> track, lands as five
rows, one by one; the three anonymous ones resolve to the user through the identities
table. Once from the app's own demo page with the local write key, once from a site on
another origin that only its source's write key allows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from chalicelib.tracking.proof import user_hash
from tests.support.browser import DESKTOP_CHROME, chromium
from tests.support.segment_site import segment_site
from tests.support.stack import api_call
from tests.support.warehouse import identity_rows, visitor_events, wait_until, warehouse_rows

pytestmark = [pytest.mark.browser, pytest.mark.stack]

READY = "async () => { const [analytics] = await window.analytics; window.ready = analytics; }"


@contextmanager
def pages_of(local_stack: Any, where: str) -> Iterator[tuple[str, str, str]]:
    """(first page URL, second page URL, the source_id its write key belongs to)."""
    if where == "app":
        first = f"{local_stack.app_url}/demo/segment"
        write_key = (local_stack.state_dir / "write-key").read_text().strip()
        yield first, first + "?next=1", write_key.split("_")[1]
        return
    with segment_site_for(local_stack) as (origin, source_id):
        yield f"{origin}/first", f"{origin}/second", source_id


@contextmanager
def segment_site_for(local_stack: Any) -> Iterator[tuple[str, str]]:
    # The port is only known once the site serves, and the key once the source exists:
    # the site reads the key through this holder when a page is asked for.
    holder: dict[str, str] = {}
    with segment_site(lambda: holder["write_key"], local_stack.app_url) as origin:
        status, _, created = api_call("POST", f"{local_stack.app_url}/api/sources",
                                      local_stack.admin_key,
                                      {"name": "own-site", "origins": [origin]})
        assert status == 201, created
        holder["write_key"] = created["write_key"]
        yield origin, created["source_id"]


@pytest.mark.parametrize("where", ["app", "other-origin"])
def test_analytics_next_visit_reaches_the_warehouse_resolved(local_stack: Any,
                                                              where: str) -> None:
    db = Path(local_stack.env["STITCH_SINK_DB"])
    user = f"user-next-{uuid.uuid4().hex[:8]}"
    proof = user_hash(local_stack.env["IDENTITY_SECRET"].encode(), user)
    outside: list[str] = []
    with pages_of(local_stack, where) as (first, second, source_id), chromium() as browser:
        page = browser.new_page(user_agent=DESKTOP_CHROME)
        page.on("request", lambda r: outside.append(r.url)
                if not r.url.startswith("http://127.0.0.1") else None)
        page.goto(first)
        page.evaluate(READY)
        anonymous_id = page.evaluate(
            """async () => {
                await window.ready.page();
                await window.ready.track('Pricing Viewed', {plan: 'pro'});
                return window.ready.user().anonymousId();
            }"""
        )
        page.goto(second)
        page.evaluate(READY)
        page.evaluate("async () => { await window.ready.page(); }")
        # The anonymous events are forwarded before the visitor signs up, so nothing
        # can resolve them then: only the identities table ties them to the user.
        wait_until(lambda: len(visitor_events(db, anonymous_id)) >= 3)
        page.evaluate(
            """async ([user, userHash]) => {
                await window.ready.identify(user, {plan: 'pro'}, {userHash: userHash});
                await window.ready.track('Upgraded', {plan: 'pro'});
            }""",
            [user, proof],
        )
        wait_until(lambda: len(visitor_events(db, anonymous_id)) >= 5
                   and bool(identity_rows(db, anonymous_id)))
        events = visitor_events(db, anonymous_id)
        links = identity_rows(db, anonymous_id)

    assert outside == []  # the library, its settings and its calls: all from here
    assert [(e["type"], e["event"]) for e in events] == [
        ("page", None), ("track", "Pricing Viewed"), ("page", None), ("identify", None),
        ("track", "Upgraded"),
    ], events
    earlier, later = events[:3], events[3:]
    assert [(e["user_id"], e["resolved_user_id"]) for e in earlier] == [(None, None)] * 3
    assert [(e["user_id"], e["resolved_user_id"]) for e in later] == [(user, user)] * 2
    assert [e["page_url"] for e in events[:3]] == [first, first, second]
    for event in events:
        assert event["library_name"] == "analytics.js" and event["source_id"] == source_id
        assert (event["browser"], event["os"], event["device"]) == ("Chrome", "Linux", "desktop")
        assert event["original_timestamp"] and event["sent_at"]
        assert "userAgent" not in (event["context"] or "")
    [link] = links
    assert (link["user_id"], link["source_message_id"]) == (user, events[3]["message_id"])
    joined = warehouse_rows(
        db,
        "SELECT e.message_id, i.user_id FROM events e JOIN identities i "
        "ON i.anonymous_id = e.anonymous_id AND NOT i.deleted "
        "WHERE e.anonymous_id = ? AND e.user_id IS NULL",
        anonymous_id,
    )
    assert sorted((r["message_id"], r["user_id"]) for r in joined) == sorted(
        (e["message_id"], user) for e in earlier
    )
