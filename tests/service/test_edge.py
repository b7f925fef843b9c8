"""The edge click function against CloudFront events shaped as AWS documents them, with
link items written per the links-table contract into moto (in-process).

The viewer-request fixture carries no CloudFront-Viewer-Country: CloudFront adds that
header after the viewer-request event (AWS Lambda@Edge examples, "Personalize content by
country or device type headers"), so only origin-request events (with the header in the
origin request policy) have it."""

from __future__ import annotations

import copy
import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from bench.core import count_aws_calls
from edge import edge_click
from edge.edge_click import ClickCounter, EdgeConfig
from tests.support.edge import (
    BROWSER,
    IMESSAGE,
    IPHONE,
    WHATSAPP,
    event,
    get_link,
    put_link,
    put_tombstone,
)

EXPIRED_HTML = "<!doctype html><title>expired</title><p>expired</p>"


def items_of(dynamodb: Any, table: str, code: str) -> list[dict[str, Any]]:
    return list(
        dynamodb.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"link#{code}"}},
            ConsistentRead=True,
        )["Items"]
    )


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

    result = handler(event("viewer-request", "Ab3dEf9"))

    assert result["status"] == "302"
    assert result["headers"]["location"] == [
        {"key": "Location", "value": "https://example.com/spring?utm=sms"}
    ]
    assert result["headers"]["cache-control"][0]["value"] == "private, no-store"
    item = get_link(dynamodb, table, "Ab3dEf9")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert (n(item, "human_clicks"), n(item, "bot_clicks")) == (1, 0)
    click = {name: value["S"] for name, value in item["click"]["M"].items()}
    # viewer-request: CloudFront has not added the country yet (see the module docstring)
    assert click == {
        "at": item["last_click_at"]["S"],
        "visitor": "human",
        "country": "ZZ",
        "device": "desktop",
        "browser": "Chrome",
        "os": "Windows",
        "trigger": "link",
    }
    assert item["first_click_at"]["S"] == item["last_click_at"]["S"]
    assert item["first_click_at"]["S"].startswith(today)


def test_every_click_at_origin_request_counts_the_country(dynamodb, table):
    """EveryClickTrigger=origin-request (caching disabled): the documented origin-request
    event carries CloudFront-Viewer-Country and the forwarded User-Agent; the function
    answers the 302 itself there too."""
    put_link(dynamodb, table, "orig9", long_url="https://example.com/o")
    handler = counter(table, dynamodb)

    human = handler(event("origin-request", "orig9"))
    assert get_link(dynamodb, table, "orig9")["click"]["M"]["country"] == {"S": "DE"}
    bot = handler(event("origin-request", "orig9", WHATSAPP, country="FR"))

    for result in (human, bot):
        assert result["status"] == "302"
        assert result["headers"]["location"][0]["value"] == "https://example.com/o"
        assert result["headers"]["cache-control"][0]["value"] == "private, no-store"
    item = get_link(dynamodb, table, "orig9")
    assert (n(item, "human_clicks"), n(item, "bot_clicks")) == (1, 1)
    last = item["click"]["M"]
    assert (last["country"], last["visitor"], last["device"]) == (
        {"S": "FR"},
        {"S": "bot"},
        {"S": "bot"},
    )
    assert "first_click_at" in item


def test_every_click_at_origin_request_passes_unknown_codes_on_to_the_origin(dynamodb, table):
    original = event("origin-request", "nope405")
    result = counter(table, dynamodb)(copy.deepcopy(original))
    assert result == original["Records"][0]["cf"]["request"]
    assert result["origin"]["custom"]["domainName"].endswith(".amazonaws.com")


def test_first_click_stays_put_and_last_click_moves(dynamodb, table):
    put_link(dynamodb, table, "stay1")
    moments = iter([1_800_000_000.0, 1_800_000_100.0])
    handler = ClickCounter(
        EdgeConfig(table=table, region="us-east-1"), dynamodb, clock=lambda: next(moments)
    )
    handler(event("viewer-request", "stay1", country="GB"))
    assert get_link(dynamodb, table, "stay1")["click"]["M"]["country"] == {"S": "GB"}
    handler(event("viewer-request", "stay1", country="gb!"))
    item = get_link(dynamodb, table, "stay1")
    assert item["first_click_at"]["S"] == "2027-01-15T08:00:00.000Z"
    assert item["last_click_at"]["S"] == "2027-01-15T08:01:40.000Z"
    assert item["click"]["M"]["at"] == item["last_click_at"]
    assert item["click"]["M"]["country"] == {"S": "ZZ"}  # not a country code: unknown
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
    with count_aws_calls(dynamodb) as calls:
        result = counter(table, dynamodb)(copy.deepcopy(original))
    assert result == original["Records"][0]["cf"]["request"]
    assert items_of(dynamodb, table, "nope404") == []
    assert calls == {"dynamodb.UpdateItem": 1, "dynamodb.GetItem": 1}  # + the tombstone read


def test_a_live_link_costs_exactly_one_call(dynamodb, table):
    put_link(dynamodb, table, "one1")
    put_link(dynamodb, table, "one2", max_clicks=1)
    handler = counter(table, dynamodb)
    with count_aws_calls(dynamodb) as calls:
        assert handler(event("viewer-request", "one1"))["status"] == "302"
        assert handler(event("viewer-request", "one1", WHATSAPP))["status"] == "302"
        assert handler(event("viewer-request", "one2"))["status"] == "302"
        assert handler(event("viewer-request", "one2"))["status"] == "410"  # used up: ALL_OLD
    assert calls == {"dynamodb.UpdateItem": 4}


# -- retired links: the sweeper / DELETE / max_clicks left a tombstone, S3 has no object --


@pytest.mark.parametrize("status", ["expired", "deleted"])
@pytest.mark.parametrize("user_agent", [BROWSER, WHATSAPP])
def test_tombstone_with_expired_url_redirects_there(dynamodb, table, status, user_agent):
    put_tombstone(dynamodb, table, "gone1", status, expired_url="https://example.com/sorry")
    before = items_of(dynamodb, table, "gone1")
    result, click = counter(table, dynamodb).handle(event("viewer-request", "gone1", user_agent))
    assert result["status"] == "302"
    assert result["headers"]["location"] == [
        {"key": "Location", "value": "https://example.com/sorry"}
    ]
    assert result["headers"]["cache-control"][0]["value"] == "private, no-store"
    assert click.outcome == "expired_redirect"
    assert items_of(dynamodb, table, "gone1") == before  # no link item appears, nothing moves


@pytest.mark.parametrize("status", ["expired", "deleted"])
def test_tombstone_without_expired_url_is_gone(dynamodb, table, status):
    put_tombstone(dynamodb, table, "gone2", status)
    before = items_of(dynamodb, table, "gone2")
    for user_agent, method in [(BROWSER, "GET"), (WHATSAPP, "GET"), (BROWSER, "HEAD")]:
        result = counter(table, dynamodb)(event("viewer-request", "gone2", user_agent, method))
        assert result["status"] == "410"
        assert result["body"] == EXPIRED_HTML
    assert items_of(dynamodb, table, "gone2") == before


def test_tombstone_with_an_unusable_expired_url_is_gone(dynamodb, table):
    put_tombstone(dynamodb, table, "gone3", expired_url="javascript:alert(1)")
    assert counter(table, dynamodb)(event("viewer-request", "gone3"))["status"] == "410"


def test_tombstone_is_read_at_origin_request_too(dynamodb, table):
    put_tombstone(dynamodb, table, "gone4", expired_url="https://example.com/later")
    result = counter(table, dynamodb)(event("origin-request", "gone4"))
    assert result["headers"]["location"][0]["value"] == "https://example.com/later"


class ReadsFailing:
    """The real (moto) client, except that tombstone reads fail as DynamoDB can."""

    def __init__(self, dynamodb: Any) -> None:
        self._dynamodb = dynamodb
        self.exceptions = dynamodb.exceptions

    def update_item(self, **request: Any) -> Any:
        return self._dynamodb.update_item(**request)

    def get_item(self, **request: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
            "GetItem",
        )


def test_unreadable_tombstone_passes_on_to_the_origin(dynamodb, table):
    put_tombstone(dynamodb, table, "gone5", expired_url="https://example.com/sorry")
    original = event("viewer-request", "gone5")
    result, click = counter(table, ReadsFailing(dynamodb)).handle(copy.deepcopy(original))
    assert result == original["Records"][0]["cf"]["request"]
    assert click.outcome == "missing"


class Delayed:
    """The real (moto) client, each call held back first: a slow network, same answers."""

    def __init__(self, dynamodb: Any, update_delay: float, read_delay: float) -> None:
        self._dynamodb = dynamodb
        self.exceptions = dynamodb.exceptions
        self.update_delay = update_delay
        self.read_delay = read_delay
        self.reads = 0

    def update_item(self, **request: Any) -> Any:
        time.sleep(self.update_delay)
        return self._dynamodb.update_item(**request)

    def get_item(self, **request: Any) -> Any:
        self.reads += 1
        time.sleep(self.read_delay)
        return self._dynamodb.get_item(**request)


def test_the_time_budget_covers_the_tombstone_read(dynamodb, table):
    put_tombstone(dynamodb, table, "gone6")
    handler = counter(table, Delayed(dynamodb, 0.25, 0.25), time_budget_ms=400)
    original = event("viewer-request", "gone6")
    started = time.perf_counter()
    result, click = handler.handle(copy.deepcopy(original))
    assert time.perf_counter() - started < 0.48  # 400 ms in all, not 400 ms per call
    assert result == original["Records"][0]["cf"]["request"]  # unknown: S3 decides
    assert click.outcome == "missing"
    # within budget both ways, the same tombstone answers
    assert (
        counter(table, Delayed(dynamodb, 0.05, 0.05), time_budget_ms=400)(original)["status"]
        == "410"
    )


def test_no_read_is_started_once_the_budget_is_spent(dynamodb, table):
    put_tombstone(dynamodb, table, "gone7")
    slow = Delayed(dynamodb, 0.35, 0.0)
    _result, click = counter(table, slow, time_budget_ms=300).handle(
        event("viewer-request", "gone7")
    )
    assert click.outcome == "untracked" and click.may_count  # the update itself ran over
    assert slow.reads == 0


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


def click_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.name == "linktrail.edge" and '"msg": "click"' in r.getMessage()
    ]


def test_over_the_time_budget_fails_open_and_says_it_may_count(table, caplog):
    caplog.set_level(logging.INFO, logger="linktrail.edge")
    loaded = event("viewer-request", "slow1")
    started = time.perf_counter()
    result, click = counter(table, SlowDynamoDB(), time_budget_ms=50).handle(loaded)
    assert time.perf_counter() - started < 0.25
    assert (click.outcome, click.may_count) == ("untracked", True)
    assert result is loaded["Records"][0]["cf"]["request"]
    [line] = click_lines(caplog)
    assert (line["outcome"], line["may_count"], line["trigger"]) == (
        "untracked",
        True,
        "viewer-request",
    )


def test_over_budget_first_click_may_still_land(dynamodb, table):
    """The worker keeps running after the budget: the write lands, as the log warns."""
    put_link(dynamodb, table, "late1")
    slow = Delayed(dynamodb, 0.3, 0.0)
    handler = counter(table, slow, mode="first", time_budget_ms=100)
    _result, click = handler.handle(event("origin-request", "late1"))
    assert (click.outcome, click.may_count) == ("untracked", True)
    deadline = time.monotonic() + 5
    while "first_click_at" not in get_link(dynamodb, table, "late1"):
        assert time.monotonic() < deadline, "the abandoned write never landed"
        time.sleep(0.05)


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A TCP port that accepts connections and never answers: a read timeout after send."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def test_read_timeout_may_count_but_refused_connection_may_not(table, aws, silent_endpoint, caplog):
    caplog.set_level(logging.INFO, logger="linktrail.edge")
    outcomes = []
    for endpoint in (silent_endpoint, "http://127.0.0.1:9"):
        config = EdgeConfig(
            table=table,
            region="us-east-1",
            endpoint_url=endpoint,
            connect_timeout_s=0.2,
            read_timeout_s=0.2,
        )
        _result, click = ClickCounter(config, edge_click.make_client(config)).handle(
            event("viewer-request", "slow2")
        )
        outcomes.append((click.outcome, click.may_count))
    assert outcomes == [("untracked", True), ("untracked", False)]
    assert [line["may_count"] for line in click_lines(caplog)] == [True, False]


def test_unusable_long_url_is_gone_rather_than_a_502(dynamodb, table):
    put_link(dynamodb, table, "bad1", long_url="https://example.com/a b\n")
    loaded = event("viewer-request", "bad1")
    result, click = counter(table, dynamodb).handle(loaded)
    assert result["status"] == "410" and "location" not in result["headers"]
    assert click.outcome == "gone"  # counted, but S3's 301 would go to the same URL
    assert get_link(dynamodb, table, "bad1")["human_clicks"]["N"] == "1"


def test_a_link_stored_without_its_counter_goes_on_to_s3(dynamodb, table):
    """A link from before counter items (until `linktrail links backfill-counters` ran):
    the click finds no counter and no tombstone, so S3's 301 still gets the visitor there."""
    dynamodb.put_item(
        TableName=table,
        Item={
            "pk": {"S": "link#nocount"},
            "sk": {"S": "link"},
            "long_url": {"S": "https://e.com/"},
            "human_clicks": {"N": "0"},
            "bot_clicks": {"N": "0"},
        },
    )
    loaded = event("viewer-request", "nocount")
    result, click = counter(table, dynamodb).handle(loaded)
    assert click.outcome == "missing" and result == loaded["Records"][0]["cf"]["request"]


def test_a_scan_of_the_qr_code_is_counted_with_its_trigger_and_referrer_host(dynamodb, table):
    put_link(dynamodb, table, "scan1")
    loaded = event("viewer-request", "scan1", IPHONE)
    request = loaded["Records"][0]["cf"]["request"]
    request["querystring"] = "qr=1"
    request["headers"]["referer"] = [
        {"key": "Referer", "value": "https://News.Example.org/a/b?secret=1"}
    ]
    result = counter(table, dynamodb)(loaded)
    assert result["status"] == "302"
    click = get_link(dynamodb, table, "scan1")["click"]["M"]
    assert click["trigger"] == {"S": "qr"}
    assert click["referrer"] == {"S": "news.example.org"}  # the host only, never the URL
    assert (click["device"], click["os"], click["browser"]) == (
        {"S": "mobile"},
        {"S": "iOS"},
        {"S": "Safari"},
    )
    stored = json.dumps(get_link(dynamodb, table, "scan1"))
    assert "secret" not in stored and "iPhone OS" not in stored


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


def test_first_mode_reads_tombstones_for_people_only(dynamodb, table):
    put_tombstone(dynamodb, table, "first4", "deleted", expired_url="https://example.com/x")
    handler = counter(table, dynamodb, mode="first")
    with count_aws_calls(dynamodb) as calls:
        human = handler(event("origin-request", "first4"))
        bot = handler(event("origin-request", "first4", WHATSAPP))
    assert human["status"] == "302"
    assert human["headers"]["location"][0]["value"] == "https://example.com/x"
    assert "status" not in bot  # bots cost nothing in first mode: S3 answers (404)
    assert calls == {"dynamodb.UpdateItem": 1, "dynamodb.GetItem": 1}


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
    with pytest.raises(ValueError, match="mode"):
        EdgeConfig(table="t", region="r", mode="every-click")  # the build bakes "every"


@pytest.mark.parametrize(
    ("spelling", "mode"),
    [("every", "every"), ("every-click", "every"), ("First-Click", "first"), ("first", "first")],
)
def test_both_spellings_of_a_mode_are_understood(spelling, mode):
    assert edge_click.mode_named(spelling) == mode


def test_an_unknown_mode_spelling_names_the_choices():
    with pytest.raises(ValueError, match="every, every-click, first, first-click"):
        edge_click.mode_named("sometimes")


@pytest.mark.parametrize("uri", ["/path1/", "/path%31"])  # a trailing slash, an escape
def test_the_origin_is_asked_for_the_code_that_was_counted(dynamodb, table, uri):
    """S3 knows the object as /<code>: a path that names the code another way is counted
    and passed on as /<code>, so S3 redirects instead of answering 404."""
    put_link(dynamodb, table, "path1")
    handler = counter(table, dynamodb, mode="first")
    request_event = event("origin-request", "path1")
    request_event["Records"][0]["cf"]["request"]["uri"] = uri
    result = handler(request_event)
    assert result["uri"] == "/path1"
    assert "first_click_at" in get_link(dynamodb, table, "path1")


@pytest.mark.parametrize("uri", ["/path2%0A", "/path2\n", "/path2//"])
def test_a_path_that_only_looks_like_a_code_is_not_counted(dynamodb, table, uri):
    put_link(dynamodb, table, "path2")
    request_event = event("viewer-request", "path2")
    request_event["Records"][0]["cf"]["request"]["uri"] = uri
    original = copy.deepcopy(request_event["Records"][0]["cf"]["request"])
    assert counter(table, dynamodb)(request_event) == original  # on to S3, untouched
    item = get_link(dynamodb, table, "path2")
    assert "human_clicks" not in item or n(item, "human_clicks") == 0
