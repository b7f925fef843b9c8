"""The local short domain: real HTTP in, the edge handler, S3 website behaviour out.

The server runs in a thread over moto in-process (the `aws` fixture); links are written
per the links-table contract and their S3 redirect objects put as the links helper does.
Retired links are what retirement leaves: a tombstone item and no S3 object.
"""

from __future__ import annotations

import http.client
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from edge.edge_click import EdgeConfig, make_client
from local import __main__ as local_main
from local import short_domain
from tests.support.edge import BROWSER, IMESSAGE, WHATSAPP, get_link, put_link, put_tombstone

SLACK = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"


def visit(
    server_url: str,
    path: str,
    user_agent: str = BROWSER,
    method: str = "GET",
    country: str | None = None,
    extra: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    host, port = server_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"User-Agent": user_agent, **(extra or {})}
    if country:
        headers["X-Debug-Country"] = country
    try:
        # the path goes out exactly as written (http.client sends it unchanged)
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.fixture
def s3(aws: dict[str, str]) -> Any:
    return boto3.session.Session().client("s3", region_name="us-east-1")


@pytest.fixture
def dynamodb(aws: dict[str, str]) -> Any:
    return boto3.session.Session().client("dynamodb", region_name="us-east-1")


def add_link(dynamodb: Any, s3: Any, env: dict[str, str], code: str, **extra: Any) -> str:
    long_url = f"https://example.com/{code}"
    put_link(dynamodb, env["LINKS_TABLE"], code, long_url=long_url, **extra)
    s3.put_object(Bucket=env["REDIRECT_BUCKET"], Key=code, WebsiteRedirectLocation=long_url)
    return long_url


def running(
    env: dict[str, str],
    mode: str = "every",
    dynamodb: Any = None,
    trigger: str = "viewer-request",
) -> Iterator[str]:
    server = short_domain.make_server(
        0,
        env={**os.environ, **env, "CLICK_MODE": mode, "EVERY_CLICK_TRIGGER": trigger},
        dynamodb=dynamodb,
    )
    short_domain.serve_in_thread(server)
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def short_url(aws: dict[str, str]) -> Iterator[str]:
    yield from running(aws)


def test_health(short_url):
    assert visit(short_url, "/__health")[0] == 200


def test_click_redirects_and_counts(short_url, aws, dynamodb, s3, caplog):
    long_url = add_link(dynamodb, s3, aws, "web1")
    caplog.set_level("INFO", logger="linktrail.short_domain")
    status, headers, _ = visit(short_url, "/web1", country="FR")
    assert (status, headers["location"], headers["cache-control"]) == (
        302,
        long_url,
        "private, no-store",
    )
    item = get_link(dynamodb, aws["LINKS_TABLE"], "web1")
    assert item["human_clicks"]["N"] == "1"
    # viewer-request, as in AWS: CloudFront adds the country only after this event
    assert item["click"]["M"]["country"] == {"S": "ZZ"}
    line = next(r.getMessage() for r in caplog.records if r.name == "linktrail.short_domain")
    assert line == "click code=web1 visitor=human outcome=redirect status=302"
    assert "127.0.0.1" not in caplog.text and "Chrome" not in caplog.text


def test_every_click_at_origin_request_counts_countries(aws, dynamodb, s3):
    long_url = add_link(dynamodb, s3, aws, "web2")
    for url in running(aws, trigger="origin-request"):
        status, headers, _ = visit(url, "/web2", country="FR")
        assert (status, headers["location"], headers["cache-control"]) == (
            302,
            long_url,
            "private, no-store",
        )
        assert get_link(dynamodb, aws["LINKS_TABLE"], "web2")["click"]["M"]["country"] == {
            "S": "FR"
        }
        assert visit(url, "/web2", WHATSAPP, country="DE")[0] == 302
    item = get_link(dynamodb, aws["LINKS_TABLE"], "web2")
    assert (item["human_clicks"]["N"], item["bot_clicks"]["N"]) == ("1", "1")
    assert item["click"]["M"]["country"] == {"S": "DE"}


def test_200_concurrent_human_clicks_count_exactly(short_url, aws, dynamodb, s3):
    add_link(dynamodb, s3, aws, "busy1")
    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(lambda _: visit(short_url, "/busy1")[0], range(200)))
    assert statuses == [302] * 200
    item = get_link(dynamodb, aws["LINKS_TABLE"], "busy1")
    assert (item["human_clicks"]["N"], item["bot_clicks"]["N"]) == ("200", "0")


def test_previews_and_head_never_move_first_click_nor_use_max_clicks(short_url, aws, dynamodb, s3):
    add_link(dynamodb, s3, aws, "cap1", max_clicks=1)
    for user_agent, method in [
        (WHATSAPP, "GET"),
        (IMESSAGE, "GET"),
        (SLACK, "GET"),
        (BROWSER, "HEAD"),
        (WHATSAPP, "HEAD"),
    ]:
        assert visit(short_url, "/cap1", user_agent, method)[0] == 302
    item = get_link(dynamodb, aws["LINKS_TABLE"], "cap1")
    assert "first_click_at" not in item
    assert (item["human_clicks"]["N"], item["bot_clicks"]["N"]) == ("0", "5")
    assert visit(short_url, "/cap1")[0] == 302  # the one human click is still there
    assert visit(short_url, "/cap1")[0] == 410
    assert "first_click_at" in get_link(dynamodb, aws["LINKS_TABLE"], "cap1")


def test_after_expiry_gone_and_no_counter_moves(short_url, aws, dynamodb, s3):
    add_link(dynamodb, s3, aws, "exp1", expires_at=int(time.time()) + 2)
    assert visit(short_url, "/exp1")[0] == 302
    before = get_link(dynamodb, aws["LINKS_TABLE"], "exp1")
    time.sleep(2.2)
    for user_agent in (BROWSER, WHATSAPP):
        status, headers, body = visit(short_url, "/exp1", user_agent)
        assert status == 410
        assert headers["content-type"].startswith("text/html")
        assert b"Link expired" in body
    assert get_link(dynamodb, aws["LINKS_TABLE"], "exp1") == before


def test_unknown_code_gets_the_buckets_error_document(short_url):
    status, _, body = visit(short_url, "/neverwas")
    assert status == 404
    assert b"Link expired" in body


@pytest.mark.parametrize(
    ("mode", "trigger"),
    [("every", "viewer-request"), ("every", "origin-request"), ("first", "origin-request")],
)
def test_retired_links_keep_their_expired_url_or_410(aws, dynamodb, s3, mode, trigger):
    """After the sweeper, a DELETE or the max_clicks retirement: tombstone, no S3 object."""
    table = aws["LINKS_TABLE"]
    put_tombstone(dynamodb, table, "ret1", "expired", expired_url="https://example.com/over")
    put_tombstone(dynamodb, table, "ret2", "deleted")
    for url in running(aws, mode=mode, trigger=trigger):
        status, headers, _ = visit(url, "/ret1")
        assert (status, headers["location"]) == (302, "https://example.com/over")
        assert headers["cache-control"] == "private, no-store"
        status, headers, body = visit(url, "/ret2")
        assert status == 410
        assert headers["content-type"].startswith("text/html")
        assert b"Link expired" in body
    assert "Item" not in dynamodb.get_item(
        TableName=table, Key={"pk": {"S": "link#ret1"}, "sk": {"S": "link"}}
    )


def test_table_unreachable_still_redirects_through_s3(aws, dynamodb, s3):
    long_url = add_link(dynamodb, s3, aws, "down1")
    dead = make_client(
        EdgeConfig(
            table=aws["LINKS_TABLE"],
            region="us-east-1",
            endpoint_url="http://127.0.0.1:9",
            connect_timeout_s=0.2,
        )
    )
    for url in running(aws, dynamodb=dead):
        status, headers, _ = visit(url, "/down1")
        assert (status, headers["location"]) == (301, long_url)  # S3's 301: fail open
    assert get_link(dynamodb, aws["LINKS_TABLE"], "down1")["human_clicks"]["N"] == "0"


def test_first_mode_passes_to_s3_and_records_the_first_click(aws, dynamodb, s3):
    long_url = add_link(dynamodb, s3, aws, "orig1")
    for url in running(aws, mode="first"):
        assert visit(url, "/orig1", WHATSAPP)[0] == 301
        assert "first_click_at" not in get_link(dynamodb, aws["LINKS_TABLE"], "orig1")
        status, headers, _ = visit(url, "/orig1")
        assert (status, headers["location"]) == (301, long_url)
    item = get_link(dynamodb, aws["LINKS_TABLE"], "orig1")
    assert "first_click_at" in item
    assert item["human_clicks"]["N"] == "0"


def test_viewer_event_is_shaped_as_cloudfront_sends_it():
    event = short_domain.cloudfront_event(
        "viewer-request",
        "GET",
        "/abc?x=1",
        {"User-Agent": "ua", "X-Debug-Country": "GB"},
        "127.0.0.1",
        "127.0.0.1:8001",
        "bucket",
        "us-east-1",
    )
    cf = event["Records"][0]["cf"]
    assert cf["config"]["eventType"] == "viewer-request"
    assert cf["request"]["uri"] == "/abc" and cf["request"]["querystring"] == "x=1"
    assert cf["request"]["headers"]["user-agent"] == [{"key": "User-Agent", "value": "ua"}]
    # CloudFront adds CloudFront-Viewer-Country after the viewer-request event
    assert "cloudfront-viewer-country" not in cf["request"]["headers"]
    assert "x-debug-country" not in cf["request"]["headers"]
    assert "origin" not in cf["request"]


def test_origin_event_carries_what_the_origin_request_policy_forwards():
    event = short_domain.cloudfront_event(
        "origin-request",
        "HEAD",
        "/abc",
        {"User-Agent": "ua", "X-Debug-Country": "GB", "Accept": "*/*", "Cookie": "a=b"},
        "127.0.0.1",
        "127.0.0.1:8001",
        "bucket",
        "us-east-1",
    )
    cf = event["Records"][0]["cf"]
    assert cf["config"]["eventType"] == "origin-request"
    headers = cf["request"]["headers"]
    assert headers["cloudfront-viewer-country"] == [
        {"key": "CloudFront-Viewer-Country", "value": "GB"}
    ]
    assert headers["user-agent"] == [{"key": "User-Agent", "value": "ua"}]
    assert headers["host"][0]["value"] == "bucket.s3-website-us-east-1.amazonaws.com"
    assert "cookie" not in headers and "accept" not in headers and "x-debug-country" not in headers
    assert cf["request"]["origin"]["custom"]["domainName"] == headers["host"][0]["value"]
    assert cf["request"]["method"] == "HEAD"


# -- CLICK_MODE / EVERY_CLICK_TRIGGER: both spellings of a mode, anything else refused ----


@pytest.mark.parametrize(
    ("spelling", "mode", "event_type"),
    [
        ("every", "every", "viewer-request"),
        ("every-click", "every", "viewer-request"),
        ("first", "first", "origin-request"),
        ("first-click", "first", "origin-request"),
        ("", "every", "viewer-request"),
    ],
)
def test_short_domain_takes_either_spelling_of_click_mode(spelling, mode, event_type):
    env = {"LINKS_TABLE": "links", "CLICK_MODE": spelling}
    assert short_domain.config_from_env(env).mode == mode
    assert short_domain.event_type(env) == event_type
    assert short_domain.event_type({**env, "EVERY_CLICK_TRIGGER": "origin-request"}) == (
        "origin-request"
    )


def test_short_domain_refuses_unknown_spellings():
    with pytest.raises(ValueError, match="click mode"):
        short_domain.config_from_env({"LINKS_TABLE": "links", "CLICK_MODE": "sometimes"})
    with pytest.raises(ValueError, match="every-click trigger"):
        short_domain.event_type({"EVERY_CLICK_TRIGGER": "viewer-response"})


@pytest.mark.parametrize(
    ("environment", "mode", "trigger"),
    [
        ({"CLICK_MODE": "first-click"}, "first", "viewer-request"),
        (
            {"CLICK_MODE": "every-click", "EVERY_CLICK_TRIGGER": "origin-request"},
            "every",
            "origin-request",
        ),
        ({}, "every", "viewer-request"),
    ],
)
def test_make_dev_takes_click_mode_from_the_environment(monkeypatch, environment, mode, trigger):
    monkeypatch.delenv("CLICK_MODE", raising=False)
    monkeypatch.delenv("EVERY_CLICK_TRIGGER", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    args = local_main.parse_args([])
    assert (args.click_mode, args.every_click_trigger) == (mode, trigger)
    assert local_main.parse_args(["--click-mode", "first-click"]).click_mode == "first"


def test_make_dev_refuses_a_misspelt_click_mode_in_one_line(monkeypatch, capsys):
    monkeypatch.setenv("CLICK_MODE", "first_click")
    with pytest.raises(SystemExit) as exit_:
        local_main.parse_args([])
    assert exit_.value.code == 2
    [line] = [x for x in capsys.readouterr().err.splitlines() if "error" in x]
    assert line.endswith(
        "argument --click-mode: click mode must be one of every, every-click, first, "
        "first-click, got 'first_click'"
    )


# -- the bucket answers only CloudFront; no escaped path reaches a code uncounted ---------


def website_host(env: dict[str, str]) -> str:
    return short_domain.website_host(env["REDIRECT_BUCKET"], "us-east-1")


def test_a_request_straight_to_the_buckets_website_endpoint_is_refused(
    short_url, aws, dynamodb, s3
):
    long_url = add_link(dynamodb, s3, aws, "direct1")
    straight = {"Host": website_host(aws)}
    for referer in ({}, {"Referer": f"{short_url}/direct1"}, {"Referer": "guess" * 10}):
        status, headers, body = visit(short_url, "/direct1", extra={**straight, **referer})
        assert (status, "location" in headers) == (403, False)
        assert b"AccessDenied" in body
    # what lets CloudFront through is the secret alone
    status, headers, _ = visit(
        short_url, "/direct1", extra={**straight, "Referer": aws["ORIGIN_SECRET"]}
    )
    assert (status, headers["location"]) == (301, long_url)
    assert get_link(dynamodb, aws["LINKS_TABLE"], "direct1")["human_clicks"]["N"] == "0"


def test_the_short_domain_sends_the_secret_as_cloudfront_does(aws, dynamodb, s3):
    """first-click passes every click on to S3: it gets through with the origin header."""
    long_url = add_link(dynamodb, s3, aws, "pass1")
    for url in running(aws, mode="first"):
        status, headers, _ = visit(url, "/pass1", extra={"Referer": "https://elsewhere.test/"})
        assert (status, headers["location"]) == (301, long_url)


def test_origin_event_carries_the_origin_custom_header():
    event = short_domain.cloudfront_event(
        "origin-request", "GET", "/abc", {"Referer": "https://viewer.test/"}, "127.0.0.1",
        "127.0.0.1:8001", "bucket", "us-east-1", {"Referer": "s" * 43},
    )
    request = event["Records"][0]["cf"]["request"]
    assert request["origin"]["custom"]["customHeaders"] == {
        "referer": [{"key": "Referer", "value": "s" * 43}]
    }
    assert "referer" not in request["headers"]  # the viewer's is not forwarded


def test_a_path_starting_with_two_slashes_stays_a_path():
    event = short_domain.cloudfront_event(
        "viewer-request", "GET", "//abc?x=1", {}, "127.0.0.1", "127.0.0.1:8001", "bucket",
        "us-east-1",
    )
    request = event["Records"][0]["cf"]["request"]
    assert (request["uri"], request["querystring"]) == ("//abc", "x=1")


ESCAPED_SLASHES = ["/%2Fesc1", "/%2fesc1", "//esc1", "/%252Fesc1", "/%2F%2Fesc1", "///esc1",
                   "/%2F/esc1", "/%5Cesc1", "/.%2Fesc1"]


@pytest.mark.parametrize(
    ("mode", "trigger"),
    [("every", "viewer-request"), ("every", "origin-request"), ("first", "origin-request")],
)
def test_escaped_slashes_before_a_code_are_refused_not_served_uncounted(
    aws, dynamodb, s3, mode, trigger
):
    """CloudFront passes the path on as sent, and S3 decodes it once and drops one slash:
    `/%2Fesc1` asks for the key `/esc1`, which is no link. Only the code itself (or an
    escape of its letters, which the edge function counts) redirects."""
    add_link(dynamodb, s3, aws, "esc1")
    for url in running(aws, mode=mode, trigger=trigger):
        for path in ESCAPED_SLASHES:
            status, headers, _ = visit(url, path)
            assert (path, status, "location" in headers) == (path, 404, False)
        assert visit(url, "/%65sc1")[0] in (301, 302)  # `e` escaped: still the code, counted
    item = get_link(dynamodb, aws["LINKS_TABLE"], "esc1")
    assert item["human_clicks"]["N"] == ("1" if mode == "every" else "0")
    if mode == "first":
        assert "first_click_at" in item


def test_escaped_slashes_are_refused_when_the_edge_fails_open(aws, dynamodb, s3):
    long_url = add_link(dynamodb, s3, aws, "esc2")
    dead = make_client(
        EdgeConfig(table=aws["LINKS_TABLE"], region="us-east-1",
                   endpoint_url="http://127.0.0.1:9", connect_timeout_s=0.2)
    )
    for url in running(aws, dynamodb=dead):
        assert visit(url, "/%2Fesc2")[0] == 404
        assert visit(url, "/esc2")[1]["location"] == long_url  # fail open: S3's own 301


def test_the_short_domain_will_not_start_without_the_origin_secret(aws):
    env = {**os.environ, **aws, "ORIGIN_SECRET": ""}
    with pytest.raises(ValueError, match="ORIGIN_SECRET"):
        short_domain.make_server(0, env=env)
