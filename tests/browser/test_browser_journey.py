"""A real browser clicks through the demo site on the real local stack (`make dev`'s entry
point): Debian chromium sends the `<a ping>` requests itself. No mocks anywhere.

Then the privacy checks read every item of every table of that stack, and a salt made two
days ago is swept by the stack's own TTL pump, taking the power to recompute its hashes.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.journeys.salts import SaltStore
from chalicelib.journeys.service import Journeys
from chalicelib.journeys.visitors import Visitor, visitor_hash
from tests.support.aws import all_items
from tests.support.browser import chromium
from tests.support.clock import FakeClock
from tests.support.journeys import assert_no_ip_or_ua, context, stored_strings
from tests.support.stack import LocalStack

pytestmark = [pytest.mark.browser, pytest.mark.stack]

# Ordinary desktop browsers (headless Chromium's own UA says HeadlessChrome, a bot), each
# with a token unique to this run and unusual versions, so that the privacy check can look
# for pieces of them, not only for the whole string.
RUN = secrets.token_hex(6)
LINUX_TOKEN = f"ltlinux-{RUN}"
MAC_TOKEN = f"ltmac-{RUN}"
LINUX_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    f"Chrome/150.0.7311.42 Safari/537.36 {LINUX_TOKEN}"
)
MAC_CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    f"Chrome/149.0.6998.17 Safari/537.36 {MAC_TOKEN}"
)
UA_FRAGMENTS = [
    LINUX_CHROME,
    LINUX_TOKEN,
    RUN,
    "X11; Linux x86_64",
    "Chrome/150.0.7311.42",
    MAC_CHROME,
    MAC_TOKEN,
    "Intel Mac OS X 10_15_7",
    "Chrome/149.0.6998.17",
]
LOCAL_IP = "127.0.0.1"  # chalice local reports every caller as 127.0.0.1


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def flows(stack: LocalStack) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{stack.app_url}/api/journeys", headers={"Authorization": f"Bearer {stack.admin_key}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return dict(json.loads(answer.read()))


def journey_rows(page: Any) -> list[tuple[str, str]]:
    rows = page.locator("tbody tr")
    cells = [rows.nth(i).locator("td") for i in range(rows.count())]
    return [(row.nth(1).inner_text(), row.nth(3).inner_text()) for row in cells]


def wait_until(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.2)


def click(page: Any, name: str) -> None:
    with page.expect_navigation():
        page.get_by_role("link", name=name, exact=True).click()


def count(flow: dict[str, Any], key: str, **match: str) -> int:
    return sum(
        int(row["count"])
        for row in flow[key]
        if all(row.get(field) == value for field, value in match.items())
    )


def today_visitors(flow: dict[str, Any]) -> int:
    return int(flow["visitors_per_day"][-1]["visitors"])


def test_a_browser_journey_is_recorded_shown_and_counted(
    local_stack: LocalStack, browser: Any
) -> None:
    before = flows(local_stack)
    pings: list[dict[str, str]] = []

    first = browser.new_context(user_agent=LINUX_CHROME)
    first.on(
        "request",
        lambda request: pings.append(request.headers) if request.resource_type == "ping" else None,
    )
    page = first.new_page()
    page.goto(f"{local_stack.app_url}/")
    click(page, "About Me")
    click(page, "Blog")
    click(page, "Unaudited Page")
    assert page.url == f"{local_stack.app_url}/no-audit"

    # The browser sends pings in the background: wait until the app has both.
    journey = first.new_page()

    def both_hops_shown() -> bool:
        journey.goto(f"{local_stack.app_url}/journey")
        return len(journey_rows(journey)) >= 2

    wait_until(both_hops_shown, "chromium's two pings to reach /journey")
    assert journey_rows(journey) == [("/", "/about-me"), ("/about-me", "/blog")]
    assert len(pings) == 2, pings  # the link to /no-audit sent none
    assert all(p.get("content-type") == "text/ping" for p in pings), pings

    after = flows(local_stack)
    assert after["hops"] - before["hops"] == 2
    assert today_visitors(after) - today_visitors(before) == 1
    for source, target in [("/", "/about-me"), ("/about-me", "/blog")]:
        added = count(after, "transitions", **{"from": source, "to": target}) - count(
            before, "transitions", **{"from": source, "to": target}
        )
        assert added == 1, (source, target, after["transitions"])
    assert count(after, "entry_pages", page="/") - count(before, "entry_pages", page="/") == 1
    assert count(after, "exit_pages", page="/blog") - count(before, "exit_pages", page="/blog") == 1

    # The same browser (same IP, same user agent) on the second configured site, localhost:
    # the audited site is part of the hash, so it is another visitor there, and each
    # site's /journey shows only that site's hops.
    other_site = local_stack.app_url.replace("127.0.0.1", "localhost")
    assert other_site.removeprefix("http://") in local_stack.env["SITE_HOSTS"].split(",")
    page.goto(f"{other_site}/")
    click(page, "Blog")
    elsewhere = first.new_page()

    def other_site_hop_shown() -> bool:
        elsewhere.goto(f"{other_site}/journey")
        return len(journey_rows(elsewhere)) >= 1

    wait_until(other_site_hop_shown, "the ping on localhost to reach its /journey")
    assert journey_rows(elsewhere) == [("/", "/blog")]
    assert len(pings) == 3 and pings[-1]["ping-to"] == f"{other_site}/blog", pings
    journey.goto(f"{local_stack.app_url}/journey")
    assert journey_rows(journey) == [("/", "/about-me"), ("/about-me", "/blog")]
    on_two_sites = flows(local_stack)
    assert on_two_sites["hops"] - before["hops"] == 3
    assert today_visitors(on_two_sites) - today_visitors(before) == 2

    # Another user agent is another visitor: its own journey, a second visitor today.
    second = browser.new_context(user_agent=MAC_CHROME)
    other = second.new_page()
    other.goto(f"{local_stack.app_url}/")
    click(other, "Blog")
    other_journey = second.new_page()

    def one_hop_shown() -> bool:
        other_journey.goto(f"{local_stack.app_url}/journey")
        return len(journey_rows(other_journey)) >= 1

    wait_until(one_hop_shown, "the second visitor's ping to reach /journey")
    assert journey_rows(other_journey) == [("/", "/blog")]
    journey.goto(f"{local_stack.app_url}/journey")
    assert journey_rows(journey) == [("/", "/about-me"), ("/about-me", "/blog")]
    final = flows(local_stack)
    assert final["hops"] - before["hops"] == 4
    assert today_visitors(final) - today_visitors(before) == 3

    second.close()
    first.close()

    # Privacy: every item of every table of the stack, after the session. The address
    # 127.0.0.1 is also the site's host, so it may appear only as a URL's host or as a
    # whole configured site host; anywhere else (bare, as ip:port, ...) it is a leak.
    items = all_items(local_stack.boto3_client("dynamodb"))
    assert sum(1 for i in items if i.get("pk", {}).get("S", "").startswith("hop#")) >= 4
    site_hosts = tuple(local_stack.env["SITE_HOSTS"].split(","))
    # The address is there as the site's host, so the check below really sifts it.
    assert any(LOCAL_IP in text for item in items for text in stored_strings(item))
    assert_no_ip_or_ua(items, [LOCAL_IP], UA_FRAGMENTS, site_hosts)


def test_a_salt_older_than_48_hours_is_swept_by_the_stacks_ttl_pump(
    local_stack: LocalStack,
) -> None:
    """A day-old-by-two salt made by the real code (with its clock set back) is deleted by
    the stack's TTL emulation; the hash it made can then not be recomputed."""
    dynamodb = local_stack.boto3_client("dynamodb")
    table = local_stack.env["APP_TABLE"]
    site = local_stack.app_url.removeprefix("http://")
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    service = Journeys(
        dynamodb, table, site_hosts=(site,), retention_days=30, clock=FakeClock(two_days_ago)
    )
    headers = {"Ping-To": f"{local_stack.app_url}/blog", "User-Agent": LINUX_CHROME, "Host": site}
    service.record_ping(headers, b"PING", context(LOCAL_IP))
    old_day = two_days_ago.date().isoformat()
    old_salt = service.salts.salt(two_days_ago.date())
    assert old_salt is not None
    [old_hop] = [
        i
        for i in all_items(dynamodb)
        if i.get("pk", {}).get("S", "").startswith(f"hop#{old_day}#")
        and i["sk"]["S"].startswith(two_days_ago.isoformat()[:19])
    ]
    old_hash = old_hop["pk"]["S"].rsplit("#", 1)[1]

    def salt_days() -> set[str]:
        return {i["sk"]["S"] for i in all_items(dynamodb) if i.get("pk", {}).get("S") == "salt"}

    wait_until(lambda: old_day not in salt_days(), "the TTL pump to delete the old salt")

    assert SaltStore(dynamodb, table).salt(two_days_ago.date()) is None
    remaining = [
        bytes(i["salt"]["B"]) for i in all_items(dynamodb) if i.get("pk", {}).get("S") == "salt"
    ]
    visitor = Visitor(site, LOCAL_IP, LINUX_CHROME)
    assert old_hash not in {visitor_hash(salt, visitor) for salt in remaining}
    everything = "".join(s for i in all_items(dynamodb) for s in stored_strings(i))
    assert old_salt.decode("latin-1") not in everything
