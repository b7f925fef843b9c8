"""Top links from the per-link shards beside the wide families: ranked over every shard,
over whole days and the hours at either end, with the counts of buckets written before the
split (kept in the bucket itself) added in; other questions never read the shards."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.analytics import buckets, params
from chalicelib.analytics.reader import Analytics
from tests.support.analytics import calls
from tests.support.clickstream import ClickStream

NOW = datetime(2026, 12, 3, 12, 30, tzinfo=UTC)
# link -> clicks, at the hour they come (the ends of a 3-day range and a day inside it)
CLICKS = {"top": 9, "second": 7, "third": 5, "fourth": 3, "fifth": 2, "last": 1}
STAMPS = ["2026-11-30T13:10:00.000Z", "2026-12-01T09:00:00.000Z", "2026-12-03T11:59:00.000Z"]


@pytest.fixture
def analytics(aws: dict[str, str]) -> Analytics:
    stream = ClickStream()
    for code in CLICKS:
        stream.link(code, tags=("spring",))
    records = [stream.click(code, STAMPS[n % 3], visitor="bot" if n == 0 else "human")
               for code, count in CLICKS.items() for n in range(count)]  # fmt: skip
    wiring.rollups().apply_records(records)
    settings = wiring.settings()
    return Analytics(wiring.dynamodb(), settings.analytics_table,
                     settings.analytics_retention_days, clock=lambda: NOW)  # fmt: skip


def top(analytics: Analytics, **query: str) -> list[dict[str, Any]]:
    asked = {"groupBy": "top_links", "start": "2026-11-30T13:00:00Z",
             "end": "2026-12-03T12:00:00Z", **query}
    return list(analytics.answer(params.parse(asked, NOW, analytics.retention_days))["data"])


def test_the_links_are_spread_over_shards_and_ranked_over_all_of_them(
    analytics: Analytics,
) -> None:
    shards = {buckets.shard_sk("d#2026-12-01", code) for code in CLICKS}
    assert len(shards) > 1
    assert [(r["code"], r["clicks"]) for r in top(analytics, visitor="all")] == list(
        CLICKS.items())
    humans = top(analytics)
    assert humans[0] == {"code": "top", "clicks": 8}
    assert [(r["code"], r["clicks"]) for r in top(analytics, tag="spring", visitor="all")] == (
        list(CLICKS.items()))


def test_buckets_written_before_the_split_still_count(analytics: Analytics) -> None:
    settings = wiring.settings()
    wiring.dynamodb().update_item(
        TableName=settings.analytics_table,
        Key={"pk": {"S": "rollup#site"}, "sk": {"S": "d#2026-12-01"}},
        UpdateExpression="ADD #old :n, #top :n",
        ExpressionAttributeNames={"#old": "link.h.older", "#top": "link.h.top"},
        ExpressionAttributeValues={":n": {"N": "10"}},
    )
    found = {r["code"]: r["clicks"] for r in top(analytics)}
    assert found["older"] == 10 and found["top"] == 18


def test_only_top_links_reads_the_shards(analytics: Analytics) -> None:
    def partitions(**query: str) -> set[str]:
        with calls(wiring.dynamodb()) as seen:
            analytics.answer(params.parse({"start": "2026-11-30T13:00:00Z",
                                           "end": "2026-12-03T12:00:00Z", **query},
                                          NOW, analytics.retention_days))
        return {p["ExpressionAttributeValues"][":pk"]["S"] for _, p in seen}

    assert partitions(groupBy="top_links") == {"rollup#site", "rollup#links#site"}
    assert partitions(groupBy="countries") == {"rollup#site"}
    assert partitions(groupBy="count", campaign_id="c1") == {"rollup#campaign#c1"}
