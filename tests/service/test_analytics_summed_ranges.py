"""Totals over ranges longer than a day read the UTC days wholly inside them as day buckets
and the hours at either end as hour buckets: the same sums as reading every hour, for any
start and end, and far fewer items. Identical reads in flight at once are made once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.analytics import params
from chalicelib.analytics.reader import Analytics
from tests.support.clickstream import ClickStream

NOW = datetime(2026, 12, 3, 12, 30, tzinfo=UTC)
# A click every 5 hours for 12 days, some on the stroke of midnight and just before it.
MOMENTS = [NOW - timedelta(hours=5 * n, minutes=30) for n in range(58)] + [
    datetime(2026, 11, 29, 0, 0, tzinfo=UTC), datetime(2026, 11, 28, 23, 59, 59, tzinfo=UTC),
]  # fmt: skip


@pytest.fixture
def analytics(aws: dict[str, str]) -> Analytics:
    stream = ClickStream()
    stream.link("sum")
    records = [
        stream.click("sum", at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                     country="FR" if n % 3 else "DE")
        for n, at in enumerate(sorted(MOMENTS))
    ]  # fmt: skip
    wiring.rollups().apply_records(records)
    settings = wiring.settings()
    return Analytics(wiring.dynamodb(), settings.analytics_table,
                     settings.analytics_retention_days, clock=lambda: NOW)  # fmt: skip


@pytest.mark.parametrize(("start", "end"), [
    ("2026-11-23T07:00:00Z", "2026-12-03T12:00:00Z"),
    ("2026-11-28T00:00:00Z", "2026-11-30T00:00:00Z"),
    ("2026-11-28T23:00:00Z", "2026-11-29T01:00:00Z"),
    ("2026-11-27T13:00:00Z", "2026-12-01T00:00:00Z"),
    ("2026-11-29T00:00:00Z", "2026-12-02T17:00:00Z"),
])  # fmt: skip
@pytest.mark.parametrize("group_by", ["count", "countries"])
def test_sums_match_the_clicks_in_the_range(analytics: Analytics, start: str, end: str,
                                            group_by: str) -> None:
    query = {"groupBy": group_by, "start": start, "end": end}
    answer = analytics.answer(params.parse(query, NOW, analytics.retention_days))
    first, last = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (start, end))
    # Buckets are whole hours: a range counts the hours it starts and ends in.
    floor = first.replace(minute=0, second=0)
    expected = [at for at in MOMENTS if floor <= at < last]
    if group_by == "count":
        assert answer["data"] == {"clicks": len(expected)}
    else:
        assert sum(row["clicks"] for row in answer["data"]) == len(expected)


def test_a_month_s_total_reads_days_and_the_hours_at_its_ends(analytics: Analytics) -> None:
    before = analytics.items_read
    query = {"groupBy": "count", "start": "2026-11-10T07:00:00Z", "end": "2026-12-03T12:00:00Z"}
    analytics.answer(params.parse(query, NOW, analytics.retention_days))
    read = analytics.items_read - before
    assert read <= 13 + 12  # days with clicks + hours with clicks at the two ends


def test_identical_reads_in_flight_at_once_are_made_once(analytics: Analytics) -> None:
    """Eight questions asked together of the same buckets, as the dashboard's overview
    asks them, make one Query; a question asked after it is done makes its own."""
    dynamodb = wiring.dynamodb()
    queries: list[dict[str, Any]] = []

    def slow(params: dict[str, Any], **_: Any) -> None:
        queries.append(params)
        time.sleep(0.3)  # the read is still in flight when the others ask

    dynamodb.meta.events.register("before-parameter-build.dynamodb.Query", slow)
    try:
        query = {"groupBy": "countries", "start": "2026-12-03T01:00:00Z", "end": NOW.isoformat()}
        request = params.parse(query, NOW, analytics.retention_days)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: analytics.answer(request), range(8)))
        assert len(queries) == 1
        assert all(answer == answers[0] for answer in answers) and answers[0]["data"]
        analytics.answer(request)
        assert len(queries) == 2
    finally:
        dynamodb.meta.events.unregister("before-parameter-build.dynamodb.Query", slow)


@pytest.mark.parametrize(("start", "end"), [
    ("2026-11-23T07:00:00Z", "2026-12-03T12:00:00Z"),
    ("2026-11-27T13:00:00Z", "2026-12-01T00:00:00Z"),
])  # fmt: skip
def test_a_daily_series_in_utc_reads_days_and_keeps_each_day_s_count(
    analytics: Analytics, start: str, end: str
) -> None:
    query = {"groupBy": "timeseries", "granularity": "day", "start": start, "end": end}
    answer = analytics.answer(params.parse(query, NOW, analytics.retention_days))
    first, last = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (start, end))
    floor = first.replace(minute=0, second=0)
    expected: dict[str, int] = {}
    for at in MOMENTS:
        if floor <= at < last:
            day = max(at.replace(hour=0, minute=0, second=0), first.replace(hour=0))
            expected[day.isoformat()] = expected.get(day.isoformat(), 0) + 1
    found = {row["start"]: row["clicks"] for row in answer["data"] if row["clicks"]}
    assert found == expected
