"""The edge click function against CloudFront events shaped as AWS documents them, with
link items written per the links-table contract into moto (in-process)."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from edge import edge_click
from edge.edge_click import ClickCounter, EdgeConfig

FIXTURES = Path(__file__).parent / "fixtures" / "cloudfront"
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
WHATSAPP = "WhatsApp/2.23.20.0 A"
IMESSAGE = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) "
    "Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0"
)
EXPIRED_HTML = "<!doctype html><title>expired</title><p>expired</p>"


def put_link(
    dynamodb: Any,
    table: str,
    code: str,
    long_url: str = "https://example.com/landing",
    **extra: Any,
) -> None:
    """A link item as the links helper creates it (contract in the brief)."""
    item: dict[str, Any] = {
        "pk": {"S": f"link#{code}"},
        "sk": {"S": "link"},
        "code": {"S": code},
        "long_url": {"S": long_url},
        "created_at": {"S": "2026-01-01T00:00:00.000Z"},
        "tags": {"L": []},
        "key_id": {"S": "testkey00001"},
        "human_clicks": {"N": "0"},
        "bot_clicks": {"N": "0"},
        "clicks_by_day": {"M": {}},
        "clicks_by_country": {"M": {}},
    }
    for name, value in extra.items():
        if isinstance(value, bool) or value is None:
            continue
        item[name] = {"N": str(value)} if isinstance(value, int | float) else {"S": str(value)}
    dynamodb.put_item(TableName=table, Item=item)


def get_link(dynamodb: Any, table: str, code: str) -> dict[str, Any]:
    return dynamodb.get_item(
        TableName=table, Key={"pk": {"S": f"link#{code}"}, "sk": {"S": "link"}}, ConsistentRead=True
    )["Item"]


def event(
    kind: str, code: str, user_agent: str = BROWSER, method: str = "GET", country: str | None = "GB"
) -> dict[str, Any]:
    loaded = json.loads((FIXTURES / f"{kind}.json").read_text())
    request = loaded["Records"][0]["cf"]["request"]
    request["uri"] = f"/{code}"
    request["method"] = method
    request["headers"]["user-agent"] = [{"key": "User-Agent", "value": user_agent}]
    if country is None:
        request["headers"].pop("cloudfront-viewer-country")
    else:
        request["headers"]["cloudfront-viewer-country"] = [
            {"key": "CloudFront-Viewer-Country", "value": country}
        ]
    return loaded


@pytest.fixture
def dynamodb(aws: dict[str, str]) -> Any:
    return boto3.session.Session().client("dynamodb", region_name="us-east-1")


@pytest.fixture
def table(aws: dict[str, str]) -> str:
    return aws["LINKS_TABLE"]


def counter(table: str, dynamodb: Any, mode: str = "every", **options: Any) -> ClickCounter:
    config = EdgeConfig(
        table=table, region="us-east-1", mode=mode, expired_html=EXPIRED_HTML, **options
    )
    return ClickCounter(config, dynamodb)


def n(item: dict[str, Any], name: str) -> int:
    return int(item[name]["N"]) if name in item else 0


# -- every click (viewer-request) -------------------------------------------------------


def test_human_click_redirects_uncached_and_counts_everything(dynamodb, table):
    put_link(dynamodb, table, "Ab3dEf9", long_url="https://example.com/spring?utm=sms")
    handler = counter(table, dynamodb)

    result = handler(event("viewer-request", "Ab3dEf9", country="GB"))

    assert result["status"] == "302"
    assert result["headers"]["location"] == [
        {"key": "Location", "value": "https://example.com/spring?utm=sms"}
    ]
    assert result["headers"]["cache-control"][0]["value"] == "private, no-store"
    item = get_link(dynamodb, table, "Ab3dEf9")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert (n(item, "human_clicks"), n(item, "bot_clicks")) == (1, 0)
    assert item["clicks_by_day"]["M"] == {today: {"N": "1"}}
    assert item["clicks_by_country"]["M"] == {"GB": {"N": "1"}}
    assert item["first_click_at"]["S"] == item["last_click_at"]["S"]
    assert item["first_click_at"]["S"].startswith(today)


def test_first_click_stays_put_and_last_click_moves(dynamodb, table):
    put_link(dynamodb, table, "stay1")
    moments = iter([1_800_000_000.0, 1_800_000_100.0])
    handler = ClickCounter(
        EdgeConfig(table=table, region="us-east-1"), dynamodb, clock=lambda: next(moments)
    )
    handler(event("viewer-request", "stay1"))
    handler(event("viewer-request", "stay1", country=None))
    item = get_link(dynamodb, table, "stay1")
    assert item["first_click_at"]["S"] == "2027-01-15T08:00:00.000Z"
    assert item["last_click_at"]["S"] == "2027-01-15T08:01:40.000Z"
    assert item["clicks_by_country"]["M"] == {"GB": {"N": "1"}, "ZZ": {"N": "1"}}
    assert n(item, "human_clicks") == 2


@pytest.mark.parametrize(
    ("user_agent", "method"),
    [
        (WHATSAPP, "GET"),
        (IMESSAGE, "GET"),
        ("Slackbot-LinkExpanding 1.0", "GET"),
        (BROWSER, "HEAD"),
    ],
)
def test_previews_and_head_are_bots_redirected_without_first_click(
    dynamodb, table, user_agent, method
):
    put_link(dynamodb, table, "prev1")
    result = counter(table, dynamodb)(event("viewer-request", "prev1", user_agent, method))
    assert result["status"] == "302"
    item = get_link(dynamodb, table, "prev1")
    assert (n(item, "human_clicks"), n(item, "bot_clicks")) == (0, 1)
    assert "first_click_at" not in item
    assert "last_click_at" in item


def test_max_clicks_counts_people_only_then_answers_gone(dynamodb, table):
    put_link(dynamodb, table, "max2", max_clicks=2)
    handler = counter(table, dynamodb)
    statuses = [
        handler(event("viewer-request", "max2", WHATSAPP))["status"],
        handler(event("viewer-request", "max2"))["status"],
        handler(event("viewer-request", "max2", method="HEAD"))["status"],
        handler(event("viewer-request", "max2"))["status"],
        handler(event("viewer-request", "max2"))["status"],
        handler(event("viewer-request", "max2", IMESSAGE))["status"],
    ]
    assert statuses == ["302", "302", "302", "302", "410", "302"]
    item = get_link(dynamodb, table, "max2")
    assert (n(item, "human_clicks"), n(item, "bot_clicks")) == (2, 3)


def test_expired_link_is_gone_and_nothing_changes(dynamodb, table):
    put_link(dynamodb, table, "old1", expires_at=int(time.time()) - 5)
    before = get_link(dynamodb, table, "old1")
    for user_agent in (BROWSER, WHATSAPP):
        result = counter(table, dynamodb)(event("viewer-request", "old1", user_agent))
        assert result["status"] == "410"
        assert result["body"] == EXPIRED_HTML
        assert result["headers"]["cache-control"][0]["value"] == "private, no-store"
    assert get_link(dynamodb, table, "old1") == before


def test_expired_link_with_expired_url_redirects_there(dynamodb, table):
    put_link(
        dynamodb,
        table,
        "old2",
        expires_at=int(time.time()) - 5,
        expired_url="https://example.com/sorry",
    )
    result = counter(table, dynamodb)(event("viewer-request", "old2"))
    assert result["status"] == "302"
    assert result["headers"]["location"][0]["value"] == "https://example.com/sorry"


def test_unexpired_link_is_counted(dynamodb, table):
    put_link(dynamodb, table, "live1", expires_at=int(time.time()) + 3600)
    assert counter(table, dynamodb)(event("viewer-request", "live1"))["status"] == "302"


def test_missing_link_passes_through_to_origin_and_creates_nothing(dynamodb, table):
    original = event("viewer-request", "nope404")
    result = counter(table, dynamodb)(copy.deepcopy(original))
    assert result == original["Records"][0]["cf"]["request"]
    assert "Item" not in dynamodb.get_item(
        TableName=table, Key={"pk": {"S": "link#nope404"}, "sk": {"S": "link"}}
    )


@pytest.mark.parametrize("uri", ["/", "/favicon.ico", "/expired.html", "/a/b"])
def test_other_paths_pass_through_untouched(dynamodb, table, uri):
    loaded = event("viewer-request", "x")
    loaded["Records"][0]["cf"]["request"]["uri"] = uri
    request = copy.deepcopy(loaded["Records"][0]["cf"]["request"])
    assert counter(table, dynamodb)(loaded) == request


def test_table_unreachable_fails_open(table, aws):
    dead = edge_click.make_client(
        EdgeConfig(
            table=table,
            region="us-east-1",
            endpoint_url="http://127.0.0.1:9",
            connect_timeout_s=0.2,
            read_timeout_s=0.2,
        )
    )
    loaded = event("viewer-request", "Ab3dEf9")
    result = counter(table, dead)(loaded)
    assert result is loaded["Records"][0]["cf"]["request"]  # S3's 301 takes over


class SlowDynamoDB:
    """A fake that answers after the time budget (the real client is slow, not wrong)."""

    class exceptions:
        class ConditionalCheckFailedException(Exception):
            pass

    def update_item(self, **_: Any) -> dict[str, Any]:
        time.sleep(0.3)
        return {"Attributes": {"long_url": {"S": "https://example.com/"}}}


def test_over_the_time_budget_fails_open(table):
    loaded = event("viewer-request", "slow1")
    started = time.perf_counter()
    result, click = counter(table, SlowDynamoDB(), time_budget_ms=50).handle(loaded)
    assert time.perf_counter() - started < 0.25
    assert click.outcome == "untracked"
    assert result is loaded["Records"][0]["cf"]["request"]


def test_unusable_long_url_fails_open_rather_than_a_502(dynamodb, table):
    put_link(dynamodb, table, "bad1", long_url="https://example.com/a b\n")
    loaded = event("viewer-request", "bad1")
    assert "status" not in counter(table, dynamodb)(loaded)


def test_missing_click_maps_fail_open(dynamodb, table):
    dynamodb.put_item(
        TableName=table,
        Item={
            "pk": {"S": "link#nomap"},
            "sk": {"S": "link"},
            "long_url": {"S": "https://e.com/"},
            "human_clicks": {"N": "0"},
            "bot_clicks": {"N": "0"},
        },
    )
    _result, click = counter(table, dynamodb).handle(event("viewer-request", "nomap"))
    assert click.outcome == "untracked"


# -- first click (origin-request) -------------------------------------------------------


def test_first_mode_records_first_human_click_and_passes_on(dynamodb, table):
    put_link(dynamodb, table, "first1")
    handler = counter(table, dynamodb, mode="first")
    handler.clock = iter([1_800_000_000.0, 1_800_000_500.0]).__next__
    for _click in range(2):
        original = event("origin-request", "first1")
        result = handler(copy.deepcopy(original))
        assert result == original["Records"][0]["cf"]["request"]
        assert result["origin"]["custom"]["domainName"].endswith("amazonaws.com")
    item = get_link(dynamodb, table, "first1")
    assert item["first_click_at"]["S"] == "2027-01-15T08:00:00.000Z"
    assert n(item, "human_clicks") == 0  # first mode does not count: it sees cache misses only


def test_first_mode_ignores_bots_and_missing_links(dynamodb, table):
    put_link(dynamodb, table, "first2")
    handler = counter(table, dynamodb, mode="first")
    handler(event("origin-request", "first2", WHATSAPP))
    handler(event("origin-request", "first2", BROWSER, "HEAD"))
    handler(event("origin-request", "missing1"))
    assert "first_click_at" not in get_link(dynamodb, table, "first2")
    assert "Item" not in dynamodb.get_item(
        TableName=table, Key={"pk": {"S": "link#missing1"}, "sk": {"S": "link"}}
    )


def test_first_mode_answers_gone_for_expired_links(dynamodb, table):
    put_link(dynamodb, table, "first3", expires_at=int(time.time()) - 1)
    result = counter(table, dynamodb, mode="first")(event("origin-request", "first3"))
    assert result["status"] == "410"
    assert "first_click_at" not in get_link(dynamodb, table, "first3")


# -- the packaged entry point -----------------------------------------------------------


def test_module_handler_reads_the_baked_config(dynamodb, table, tmp_path, monkeypatch):
    put_link(dynamodb, table, "baked1")
    config_file = tmp_path / "edge_config.json"
    config_file.write_text(json.dumps({"table": table, "region": "us-east-1", "mode": "every"}))
    monkeypatch.setattr(edge_click, "CONFIG_FILE", config_file)
    monkeypatch.setattr(edge_click, "_COUNTER", None)
    assert edge_click.handler(event("viewer-request", "baked1"), None)["status"] == "302"


def test_config_rejects_unknown_keys_and_modes():
    with pytest.raises(ValueError, match="unknown"):
        EdgeConfig.from_dict({"table": "t", "region": "r", "colour": "blue"})
    with pytest.raises(ValueError, match="mode"):
        EdgeConfig(table="t", region="r", mode="sometimes")
