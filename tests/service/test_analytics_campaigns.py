"""A campaign's clicks and funnel from its rollup buckets."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib import wiring
from chalicelib.analytics import funnel
from chalicelib.analytics.reader import Analytics
from tests.support.clickstream import ClickStream
from tests.support.clock import FakeClock


def test_the_funnel_counts_first_human_clicks_of_the_campaign_s_links(aws: dict[str, str]) -> None:
    stream = ClickStream()
    for code in ("a1", "a2", "a3"):
        stream.link(code, campaign_id="c1")
    records = [
        stream.click("a1", "2026-12-03T10:00:00.000Z"),
        stream.click("a1", "2026-12-03T10:01:00.000Z"),  # a second click: not a new clicker
        stream.click("a2", "2026-12-03T10:02:00.000Z", visitor="bot"),
        stream.click("a3", "2026-12-03T11:00:00.000Z"),
    ]
    wiring.rollups().apply_records(records)
    settings = wiring.settings()
    analytics = Analytics(
        wiring.dynamodb(),
        settings.analytics_table,
        400,
        clock=FakeClock(datetime(2026, 12, 3, 12, tzinfo=UTC)),
    )
    stats = {
        "campaign_id": "c1",
        "created_at": "2026-12-03T09:30:00.000Z",
        "sent": 3,
        "delivered": 3,
        "delivered_not_clicked": 1,  # the statistics' count, from the links' counters
    }
    answer = funnel.with_clicks(stats, analytics)
    assert answer["funnel"] == {
        "texted": 3, "delivered": 3, "clicked": 2, "ctr": 0.6667, "delivered_not_clicked": 1
    }  # fmt: skip
    assert answer["clicks"] == {
        "granularity": "hour",
        "series": [
            {"start": "2026-12-03T10:00:00+00:00", "clicks": 2},
            {"start": "2026-12-03T11:00:00+00:00", "clicks": 1},
        ],
    }
