"""Real browser: Debian chromium loads the demo page with the real analytics 0.8.19 build
and the README's collector plugin, through the whole local stack (app, queue pump,
forwarder, Stitch sink). page -> track -> identify -> track must land as four rows, and
every one of them must resolve to the user (after identify directly, before it through
the identities table)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.stack]

CHROMIUM = "/usr/bin/chromium"
DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
USER = "user-browser-1"


def warehouse_rows(db: Path, query: str) -> list[dict[str, Any]]:
    if not db.exists():
        return []
    connection = sqlite3.connect(db)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in connection.execute(query)]
    except sqlite3.OperationalError:
        return []  # the tables appear with the first batch
    finally:
        connection.close()


def test_analytics_js_events_reach_the_warehouse_resolved(local_stack: Any) -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is required (make browser installs it)")
    db = Path(local_stack.env["STITCH_SINK_DB"])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        try:
            page = browser.new_page(user_agent=DESKTOP_CHROME)
            page.goto(f"{local_stack.app_url}/demo/analytics?manual=1&utm_source=newsletter")
            page.wait_for_function("() => window.linktrailAnalytics !== undefined")
            anonymous_id = page.evaluate(
                """async (user) => {
                    const analytics = window.linktrailAnalytics;
                    await analytics.page();
                    await analytics.track('Pricing Viewed', {plan: 'pro'});
                    await analytics.identify(user, {plan: 'pro'});
                    await analytics.track('Upgraded', {plan: 'pro'});
                    return analytics.user().anonymousId;
                }""",
                USER,
            )
            deadline = time.monotonic() + 60
            events: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                events = warehouse_rows(db, "SELECT * FROM events ORDER BY timestamp")
                links = warehouse_rows(db, "SELECT * FROM identities")
                if len(events) >= 4 and links:
                    break
                time.sleep(0.5)
        finally:
            browser.close()

    assert anonymous_id
    assert [(e["type"], e["event"]) for e in events] == [
        ("page", None), ("track", "Pricing Viewed"), ("identify", None), ("track", "Upgraded"),
    ], events
    assert all(e["anonymous_id"] == anonymous_id for e in events)
    assert [e["user_id"] for e in events] == [None, None, USER, USER]
    assert (events[0]["page_path"], events[0]["campaign_source"]) == (
        "/demo/analytics", "newsletter"
    )
    assert (events[0]["browser"], events[0]["os"], events[0]["device"]) == (
        "Chrome", "Linux", "desktop"
    )
    assert events[0]["library_name"] == "analytics"
    resolved = warehouse_rows(
        db,
        "SELECT e.message_id, coalesce(e.user_id, e.resolved_user_id, i.user_id) AS who "
        "FROM events e LEFT JOIN identities i "
        "ON i.anonymous_id = e.anonymous_id AND NOT i.deleted",
    )
    assert {r["who"] for r in resolved} == {USER}
    assert len(resolved) == 4
