"""The local short domain: real HTTP in, the edge handler, S3 website behaviour out.

The server runs in a thread over moto in-process (the `aws` fixture); links are written
per the links-table contract and their S3 redirect objects put as the links helper does.
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
from local import short_domain
from tests.test_edge import BROWSER, IMESSAGE, WHATSAPP, get_link, put_link

SLACK = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"


def visit(
    server_url: str,
    path: str,
    user_agent: str = BROWSER,
    method: str = "GET",
    country: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    host, port = server_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"User-Agent": user_agent}
    if country:
        headers["X-Debug-Country"] = country
    try:
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


def running(env: dict[str, str], mode: str = "every", dynamodb: Any = None) -> Iterator[str]:
    server = short_domain.make_server(
        0, env={**os.environ, **env, "CLICK_MODE": mode}, dynamodb=dynamodb
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
    assert item["clicks_by_country"]["M"] == {"FR": {"N": "1"}}
    line = next(r.getMessage() for r in caplog.records if r.name == "linktrail.short_domain")
    assert line == "click code=web1 visitor=human outcome=redirect status=302"
    assert "127.0.0.1" not in caplog.text and "Chrome" not in caplog.text


def test_200_concurrent_human_clicks_count_exactly(short_url, aws, dynamodb, s3):
    add_link(dynamodb, s3, aws, "busy1")
    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(lambda _: visit(short_url, "/busy1")[0], range(200)))
    assert statuses == [302] * 200
    item = get_link(dynamodb, aws["LINKS_TABLE"], "busy1")
    assert (item["human_clicks"]["N"], item["bot_clicks"]["N"]) == ("200", "0")
    assert sum(int(v["N"]) for v in item["clicks_by_day"]["M"].values()) == 200


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
        "every",
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
    assert cf["request"]["headers"]["cloudfront-viewer-country"][0]["value"] == "GB"
    assert "x-debug-country" not in cf["request"]["headers"]
    assert "origin" not in cf["request"]
