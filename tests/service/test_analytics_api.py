"""GET /api/analytics over moto: rollups written from click records, then every groupBy,
interval, time zone, filter and format through the real app; and its 400s and 401."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.analytics.reader import Analytics
from tests.support.clickstream import ClickStream
from tests.support.clock import FakeClock

NOW = datetime(2026, 12, 3, 12, 30, tzinfo=UTC)


@pytest.fixture
def seeded(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Clicks on two links (one in campaign c1, tagged promo) over two days, read at NOW."""
    clock = FakeClock(NOW)

    def analytics() -> Analytics:
        settings = wiring.settings()
        table, days = settings.analytics_table, settings.analytics_retention_days
        return Analytics(wiring.dynamodb(), table, days, clock=clock)

    monkeypatch.setattr(wiring, "analytics", analytics)
    stream = ClickStream()
    stream.link("abc", tags=("promo",), campaign_id="c1")
    records = [
        stream.click("abc", "2026-12-03T10:05:00.000Z", country="FR", device="desktop",
                     browser="Chrome", os="Windows", referrer="news.example"),
        stream.click("abc", "2026-12-03T10:10:00.000Z", country="FR", device="mobile"),
        stream.click("abc", "2026-12-03T11:00:00.000Z", trigger="qr"),
        stream.click("abc", "2026-12-03T11:20:00.000Z", visitor="bot", device="bot",
                     browser="Other", os="Other"),
        stream.click("xyz", "2026-12-02T23:30:00.000Z", country="DE", device="desktop",
                     browser="Firefox", os="Linux"),
        stream.click("xyz", "2026-11-20T08:00:00.000Z"),
    ]  # fmt: skip
    wiring.rollups().apply_records(records)


def get(client: Any, headers: dict[str, str], **query: str) -> Any:
    path = "/api/analytics?" + "&".join(f"{k}={v}" for k, v in query.items())
    return client.http.get(path, headers={k: v for k, v in headers.items() if k != "Content-Type"})


def ok(client: Any, headers: dict[str, str], **query: str) -> dict[str, Any]:
    answer = get(client, headers, **query)
    assert answer.status_code == 200, answer.body
    return dict(json.loads(answer.body))


def bad(client: Any, headers: dict[str, str], name: str, **query: str) -> None:
    answer = get(client, headers, **query)
    assert answer.status_code == 400, (query, answer.body)
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert json.loads(answer.body)["field"] == name


@pytest.mark.usefixtures("seeded")
def test_count_defaults_to_human_clicks_of_the_last_24_hours(
    client: Any, auth_headers: dict[str, str]
) -> None:
    answer = ok(client, auth_headers)
    assert answer["data"] == {"clicks": 4}
    meta = answer["meta"]
    assert (meta["groupBy"], meta["interval"], meta["granularity"]) == ("count", "24h", "hour")
    assert (meta["start"], meta["end"]) == (
        "2026-12-02T13:00:00+00:00",
        "2026-12-03T13:00:00+00:00",
    )
    assert ok(client, auth_headers, visitor="all")["data"] == {"clicks": 5, "humans": 4, "bots": 1}
    assert ok(client, auth_headers, visitor="bot")["data"] == {"clicks": 1}


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize(
    ("group_by", "expected"),
    [
        (
            "countries",
            [
                {"country": "FR", "clicks": 2},
                {"country": "DE", "clicks": 1},
                {"country": "US", "clicks": 1},
            ],
        ),
        ("devices", [{"device": "desktop", "clicks": 2}, {"device": "mobile", "clicks": 2}]),
        (
            "browsers",
            [
                {"browser": "Safari", "clicks": 2},
                {"browser": "Chrome", "clicks": 1},
                {"browser": "Firefox", "clicks": 1},
            ],
        ),
        (
            "os",
            [
                {"os": "iOS", "clicks": 2},
                {"os": "Linux", "clicks": 1},
                {"os": "Windows", "clicks": 1},
            ],
        ),
        (
            "referers",
            [{"referer": "(direct)", "clicks": 3}, {"referer": "news.example", "clicks": 1}],
        ),
        ("triggers", [{"trigger": "link", "clicks": 3}, {"trigger": "qr", "clicks": 1}]),
        ("top_links", [{"code": "abc", "clicks": 3}, {"code": "xyz", "clicks": 1}]),
        ("top_tags", [{"tag": "promo", "clicks": 3}]),
        ("campaigns", [{"campaign_id": "c1", "clicks": 3}]),
    ],
)
def test_every_breakdown(
    client: Any, auth_headers: dict[str, str], group_by: str, expected: list[Any]
) -> None:
    assert ok(client, auth_headers, groupBy=group_by)["data"] == expected


@pytest.mark.usefixtures("seeded")
def test_timeseries_is_zero_filled_in_time_order(client: Any, auth_headers: dict[str, str]) -> None:
    data = ok(client, auth_headers, groupBy="timeseries")["data"]
    assert len(data) == 24
    assert data[0] == {"start": "2026-12-02T13:00:00+00:00", "clicks": 0}
    assert data[10] == {"start": "2026-12-02T23:00:00+00:00", "clicks": 1}
    assert data[-3:] == [
        {"start": "2026-12-03T10:00:00+00:00", "clicks": 2},
        {"start": "2026-12-03T11:00:00+00:00", "clicks": 1},
        {"start": "2026-12-03T12:00:00+00:00", "clicks": 0},
    ]
    mixed = ok(client, auth_headers, groupBy="timeseries", visitor="all")["data"]
    assert mixed[-2] == {"start": "2026-12-03T11:00:00+00:00", "clicks": 2, "humans": 1, "bots": 1}


@pytest.mark.usefixtures("seeded")
def test_intervals_and_explicit_ranges(client: Any, auth_headers: dict[str, str]) -> None:
    week = ok(client, auth_headers, interval="7d", groupBy="timeseries")
    assert week["meta"]["granularity"] == "day" and len(week["data"]) == 7
    assert [r["clicks"] for r in week["data"]][-2:] == [1, 3]
    assert ok(client, auth_headers, interval="30d")["data"] == {"clicks": 5}
    assert ok(client, auth_headers, interval="mtd")["data"] == {"clicks": 4}
    for interval in ("90d", "1y", "ytd", "all"):
        assert ok(client, auth_headers, interval=interval)["data"] == {"clicks": 5}
    year = ok(client, auth_headers, interval="1y", groupBy="timeseries")
    assert year["meta"]["granularity"] == "month" and sum(r["clicks"] for r in year["data"]) == 5
    hours = ok(client, auth_headers, start="2026-12-03T10:00:00Z", end="2026-12-03T11:00:00Z")
    assert hours["data"] == {"clicks": 2} and hours["meta"]["interval"] is None


@pytest.mark.usefixtures("seeded")
def test_filters_pick_the_bucket_family(client: Any, auth_headers: dict[str, str]) -> None:
    assert ok(client, auth_headers, code="abc")["data"] == {"clicks": 3}
    assert ok(client, auth_headers, code="nope")["data"] == {"clicks": 0}
    assert ok(client, auth_headers, campaign_id="c1", groupBy="top_links")["data"] == [
        {"code": "abc", "clicks": 3}
    ]
    assert ok(client, auth_headers, tag="promo", visitor="all")["data"] == {
        "clicks": 4,
        "humans": 3,
        "bots": 1,
    }
    assert ok(client, auth_headers, country="FR")["data"] == {"clicks": 2}
    assert ok(client, auth_headers, country="fr", device="mobile")["data"] == {"clicks": 1}
    assert ok(client, auth_headers, device="desktop", groupBy="countries")["data"] == [
        {"country": "DE", "clicks": 1},
        {"country": "FR", "clicks": 1},
    ]
    series = ok(client, auth_headers, code="abc", country="FR", groupBy="timeseries")["data"]
    assert series[-3]["clicks"] == 2 and sum(r["clicks"] for r in series) == 2


@pytest.mark.usefixtures("seeded")
def test_time_zones(client: Any, auth_headers: dict[str, str]) -> None:
    # Berlin is UTC+1: 23:30 UTC on the 2nd is the 3rd there.
    berlin = ok(client, auth_headers, interval="7d", timezone="Europe/Berlin", groupBy="timeseries")
    assert berlin["meta"]["start"] == "2026-11-27T00:00:00+01:00" and berlin["meta"]["notes"] == []
    assert berlin["data"][-1] == {"start": "2026-12-03T00:00:00+01:00", "clicks": 4}
    kolkata = ok(client, auth_headers, timezone="Asia/Kolkata", groupBy="timeseries")
    assert "Asia/Kolkata" in kolkata["meta"]["notes"][0]
    assert sum(r["clicks"] for r in kolkata["data"]) == 4
    long = ok(client, auth_headers, interval="90d", timezone="Europe/Berlin")
    assert long["data"] == {"clicks": 5} and "UTC days" in long["meta"]["notes"][0]


def test_a_dst_day_has_23_hours(
    client: Any, auth_headers: dict[str, str], aws: dict[str, str]
) -> None:
    stream = ClickStream()
    wiring.rollups().apply_records([stream.click("abc", "2026-03-29T01:30:00.000Z")])  # 03:30 CEST
    answer = ok(client, auth_headers, start="2026-03-29T00:00:00", end="2026-03-30T00:00:00",
                timezone="Europe/Berlin", groupBy="timeseries")  # fmt: skip
    assert answer["meta"]["granularity"] == "hour" and len(answer["data"]) == 23
    assert answer["data"][2] == {"start": "2026-03-29T03:00:00+02:00", "clicks": 1}


@pytest.mark.usefixtures("seeded")
def test_csv_by_accept_header_and_by_format(client: Any, auth_headers: dict[str, str]) -> None:
    headers = {**auth_headers, "Accept": "text/csv"}
    answer = get(client, headers, groupBy="countries", visitor="all")
    assert answer.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.body.decode())))
    assert rows[0] == ["country", "clicks", "humans", "bots"] and rows[1] == ["FR", "2", "2", "0"]
    counted = get(client, auth_headers, format="csv")
    assert counted.body.decode() == "clicks\r\n4\r\n"
    empty = get(client, auth_headers, format="csv", groupBy="browsers", code="nope")
    assert empty.body.decode() == "browser,clicks\r\n"


def test_a_referrer_a_spreadsheet_would_run_is_quoted_in_csv(
    client: Any, auth_headers: dict[str, str]
) -> None:
    stream = ClickStream()
    wiring.rollups().apply_records(
        [stream.click("xls", "2026-12-03T10:05:00.000Z", referrer="=cmd|calc")]
    )
    answer = get(client, auth_headers, format="csv", groupBy="referers", code="xls",
                 start="2026-12-03T00:00:00", end="2026-12-04T00:00:00")  # fmt: skip
    assert answer.body.decode().splitlines()[1] == "'=cmd|calc,1"
    as_json = ok(client, auth_headers, groupBy="referers", code="xls",
                 start="2026-12-03T00:00:00", end="2026-12-04T00:00:00")  # fmt: skip
    assert as_json["data"] == [{"referer": "=cmd|calc", "clicks": 1}]  # JSON is as counted


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("groupBy", {"groupBy": "cities"}),
        ("interval", {"interval": "2d"}),
        ("interval", {"interval": "7d", "start": "2026-12-01"}),
        ("start", {"start": "yesterday"}),
        ("end", {"start": "2026-12-02", "end": "2026-12-01"}),
        ("timezone", {"timezone": "Mars/Olympus"}),
        ("granularity", {"granularity": "week"}),
        ("granularity", {"granularity": "hour", "interval": "90d"}),
        ("visitor", {"visitor": "robots"}),
        ("format", {"format": "xml"}),
        ("country", {"country": "France"}),
        ("country", {"country": "FR", "groupBy": "browsers"}),
        ("device", {"device": "mobile", "groupBy": "top_links"}),
        ("tag", {"code": "abc", "tag": "promo"}),
        ("code", {"code": "abc", "groupBy": "top_links"}),
        ("campaign_id", {"campaign_id": "c1", "groupBy": "top_tags"}),
        ("colour", {"colour": "red"}),
    ],
)
def test_bad_parameters_are_400s_naming_them(
    client: Any, auth_headers: dict[str, str], name: str, query: dict[str, str]
) -> None:
    bad(client, auth_headers, name, **query)


def test_an_api_key_is_needed(client: Any, aws: dict[str, str]) -> None:
    answer = client.http.get("/api/analytics")
    assert answer.status_code == 401
    assert answer.headers["Content-Type"] == "application/problem+json"
