"""Real browser: Debian chromium loads the demo page with the real analytics 0.8.19 build
and the README's collector plugin, through the whole local stack (app, queue pump,
forwarder, Stitch sink). page -> track -> identify -> track must land as four rows; the
two after identify carry the user (user_id and resolved_user_id), the two before it are
anonymous and resolve to the user only through the identities table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chalicelib.tracking.proof import user_hash
from tests.support.browser import DESKTOP_CHROME, chromium
from tests.support.warehouse import identity_rows, visitor_events, wait_until, warehouse_rows

pytestmark = [pytest.mark.browser, pytest.mark.stack]

USER = "user-browser-1"


def test_analytics_js_events_reach_the_warehouse_resolved(local_stack: Any) -> None:
    db = Path(local_stack.env["STITCH_SINK_DB"])
    with chromium() as browser:
        page = browser.new_page(user_agent=DESKTOP_CHROME)
        page.goto(f"{local_stack.app_url}/demo/analytics?manual=1&utm_source=newsletter")
        page.wait_for_function("() => window.linktrailAnalytics !== undefined")
        anonymous_id = page.evaluate(
            """async () => {
                const analytics = window.linktrailAnalytics;
                await analytics.page();
                await analytics.track('Pricing Viewed', {plan: 'pro'});
                return analytics.user().anonymousId;
            }"""
        )
        assert anonymous_id
        # Let the anonymous events reach the warehouse before the visitor signs up, so
        # nothing can resolve them when they are forwarded: only the identities table
        # can tie them to the user afterwards.
        wait_until(lambda: len(visitor_events(db, anonymous_id)) >= 2)
        before = visitor_events(db, anonymous_id)
        # The user_hash the site's server would render into its page.
        proof = user_hash(local_stack.env["IDENTITY_SECRET"].encode(), USER)
        page.evaluate(
            """async ([user, userHash]) => {
                const analytics = window.linktrailAnalytics;
                await analytics.identify(user, {plan: 'pro'}, {userHash: userHash});
                await analytics.track('Upgraded', {plan: 'pro'});
            }""",
            [USER, proof],
        )
        wait_until(lambda: len(visitor_events(db, anonymous_id)) >= 4
                   and bool(identity_rows(db, anonymous_id)))
        events = visitor_events(db, anonymous_id)
        links = identity_rows(db, anonymous_id)

    assert [(e["type"], e["event"]) for e in before] == [
        ("page", None), ("track", "Pricing Viewed")
    ]
    assert [(e["type"], e["event"]) for e in events] == [
        ("page", None), ("track", "Pricing Viewed"), ("identify", None), ("track", "Upgraded"),
    ], events
    earlier, later = events[:2], events[2:]
    # Before identify: anonymous, and nothing resolved them when they were forwarded.
    assert [(e["user_id"], e["resolved_user_id"]) for e in earlier] == [(None, None)] * 2
    # From identify on: the user, directly and resolved.
    assert [(e["user_id"], e["resolved_user_id"]) for e in later] == [(USER, USER)] * 2
    assert (events[0]["page_path"], events[0]["campaign_source"]) == (
        "/demo/analytics", "newsletter"
    )
    assert (events[0]["browser"], events[0]["os"], events[0]["device"]) == (
        "Chrome", "Linux", "desktop"
    )
    assert events[0]["library_name"] == "analytics"
    # The identities table holds the one link, from the identify event...
    [link] = links
    assert (link["user_id"], link["deleted"], link["source_message_id"]) == (
        USER, 0, events[2]["message_id"]
    )
    # ...and that join alone resolves the earlier events to the user.
    joined = warehouse_rows(
        db,
        "SELECT e.message_id, i.user_id FROM events e JOIN identities i "
        "ON i.anonymous_id = e.anonymous_id AND NOT i.deleted "
        "WHERE e.anonymous_id = ? AND e.user_id IS NULL AND e.resolved_user_id IS NULL",
        anonymous_id,
    )
    assert sorted((r["message_id"], r["user_id"]) for r in joined) == sorted(
        (e["message_id"], USER) for e in earlier
    )
