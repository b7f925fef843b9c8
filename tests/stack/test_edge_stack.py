"""Clicks end to end through the real local stack (`make dev`'s entry point): the API
creates a link, the short domain (the edge handler + S3 website behaviour) counts and
redirects real HTTP requests, the stream/queue pumps deliver the click webhook to a
receiver on 127.0.0.1 (allowed on the local stage only), signed as documented, and links
the sweeper or the max_clicks retirement removed (tombstone, no S3 object) keep answering
410 or their expired_url.

The session stack runs every-click at viewer-request (the default): as in AWS, the
function sees no CloudFront-Viewer-Country there, so X-Debug-Country is ignored and
countries count as ZZ (origin-request is covered in tests/test_short_domain.py)."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import io
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from tests.support.stack import api_call as http_call
from tests.support.stack import redirect_of, warehouse_counts

pytestmark = pytest.mark.stack

BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
WHATSAPP = "WhatsApp/2.23.20.0"
EXPIRED_TEXT = "This link has expired or does not exist"


def api(method: str, url: str, key: str, body: Any = None) -> tuple[int, Any]:
    status, _headers, answer = http_call(method, url, key, body)
    return status, answer


def visit(
    short_url: str, code: str, user_agent: str, method: str = "GET", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    """One request to the short domain, redirects not followed."""
    host, port = short_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(method, f"/{code}", headers={"User-Agent": user_agent, **headers})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def wait_for(check: Any, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


def scanned_url(stack: Any, key: str, code: str) -> str:
    """What the link's QR code (PNG from the API) decodes to."""
    request = urllib.request.Request(
        f"{stack.app_url}/api/links/{code}/qr?format=png",
        headers={"Authorization": f"Bearer {key}", "Accept": "image/png"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.headers["Content-Type"] == "image/png"
        image = Image.open(io.BytesIO(answer.read()))
    [found] = zxingcpp.read_barcodes(image)
    return str(found.text)


def assert_analytics(stack: Any, key: str, code: str) -> None:
    """The clicks, through the stream pump and the rollups, as /api/analytics and its CSV
    answer them: one person on a desktop browser, two bot requests, and one QR scan."""
    base = f"{stack.app_url}/api/analytics?code={code}&interval=24h"

    def counted() -> Any:
        status, answer = api("GET", f"{base}&visitor=all", key)
        return answer if status == 200 and answer["data"].get("clicks") == 4 else None

    answer = wait_for(counted)
    assert answer and answer["data"] == {"clicks": 4, "humans": 2, "bots": 2}, answer
    status, triggers = api("GET", f"{base}&groupBy=triggers", key)
    assert status == 200 and sorted(
        (row["trigger"], row["clicks"]) for row in triggers["data"]
    ) == [("link", 1), ("qr", 1)]
    status, devices = api("GET", f"{base}&groupBy=devices&visitor=bot", key)
    assert [(row["device"], row["clicks"]) for row in devices["data"]] == [("bot", 2)]
    as_csv = {"Authorization": f"Bearer {key}", "Accept": "text/csv"}
    request = urllib.request.Request(f"{base}&groupBy=countries", headers=as_csv)
    with urllib.request.urlopen(request, timeout=10) as csv_answer:
        assert csv_answer.headers["Content-Type"].startswith("text/csv")
        lines = csv_answer.read().decode().splitlines()
    assert lines == ["country,clicks", "ZZ,2"]  # viewer-request: no country (docstring)
    # every counted click is one Link Clicked row in the local Stitch sink's warehouse
    rows = wait_for(lambda: warehouse_counts(stack, f"click-{code}-") == (4, 4))
    assert rows, warehouse_counts(stack, f"click-{code}-")


def test_clicks_are_counted_redirected_and_end_with_the_link(local_stack: Any) -> None:
    base, key = local_stack.app_url, local_stack.admin_key
    long_url = "https://example.com/edge-stack?x=1"
    status, link = api("POST", f"{base}/api/links", key, {"url": long_url})
    assert status == 201, link
    code = link["code"]

    status, headers, _ = visit(local_stack.short_url, code, BROWSER, **{"X-Debug-Country": "DE"})
    assert status == 302
    assert headers["location"] == long_url
    assert headers["cache-control"] == "private, no-store"
    status, headers, _ = visit(local_stack.short_url, code, WHATSAPP)
    assert (status, headers["location"]) == (302, long_url)  # previews still resolve
    status, headers, body = visit(local_stack.short_url, code, BROWSER, method="HEAD")
    assert (status, headers["location"], body) == (302, long_url, b"")

    status, shown = api("GET", f"{base}/api/links/{code}", key)
    assert status == 200, shown
    assert shown["clicks"] == {"human": 1, "bot": 2}
    assert shown["first_click_at"] and shown["first_click_at"].endswith("Z")
    scan = scanned_url(local_stack, key, code)
    assert scan == f"{local_stack.short_url}/{code}?qr=1"
    status, headers, _ = visit(local_stack.short_url, f"{code}?qr=1", BROWSER)
    assert (status, headers["location"]) == (302, long_url)  # a scan still redirects
    assert_analytics(local_stack, key, code)

    assert api("DELETE", f"{base}/api/links/{code}", key)[0] == 204
    assert redirect_of(local_stack, code) is None
    status, headers, body = visit(local_stack.short_url, code, BROWSER)
    assert status == 410  # the "deleted" tombstone, not S3's 404
    assert "location" not in headers
    assert EXPIRED_TEXT in body.decode()

    status, headers, body = visit(local_stack.short_url, "neverMade1", BROWSER)
    assert (status, "location" in headers) == (404, False)  # no tombstone: S3's error page
    assert EXPIRED_TEXT in body.decode()


def test_retired_links_keep_their_410_or_expired_url(local_stack: Any) -> None:
    """The sweeper retires expired links and the stream handler retires used-up ones: link
    item deleted, tombstone written, S3 object deleted. Clicks after that still get the
    expired_url or the 410 (not S3's 404) and move no counter."""
    base, key, short = local_stack.app_url, local_stack.admin_key, local_stack.short_url
    sorry = "https://example.com/sorry"
    created: dict[str, str] = {}
    for name, fields in {
        "ttl_with_url": {"url": "https://example.com/a", "ttl": 2, "expired_url": sorry},
        "ttl_plain": {"url": "https://example.com/b", "ttl": 3},
        "spent_with_url": {"url": "https://example.com/c", "max_clicks": 1, "expired_url": sorry},
    }.items():
        status, link = api("POST", f"{base}/api/links", key, fields)
        assert status == 201, link
        created[name] = link["code"]

    status, headers, _ = visit(short, created["spent_with_url"], BROWSER)
    assert (status, headers["location"]) == (302, "https://example.com/c")  # its one click

    def all_retired() -> dict[str, dict[str, Any]] | None:
        shown = {
            name: api("GET", f"{base}/api/links/{code}", key)[1] for name, code in created.items()
        }
        retired = all(
            view["status"] == "expired"
            and view["ended_at"]  # only tombstones carry it: the sweep has happened
            and redirect_of(local_stack, view["code"]) is None
            for view in shown.values()
        )
        return shown if retired else None

    before = wait_for(all_retired, 60)
    assert before, local_stack.log()[-3000:]
    assert before["ttl_plain"]["ended_reason"] == "expires_at"
    assert before["spent_with_url"]["ended_reason"] == "max_clicks"

    for user_agent in (BROWSER, WHATSAPP):
        for name in ("ttl_with_url", "spent_with_url"):
            status, headers, _ = visit(short, created[name], user_agent)
            assert (status, headers.get("location")) == (302, sorry), name
            assert headers["cache-control"] == "private, no-store"
        status, headers, body = visit(short, created["ttl_plain"], user_agent)
        assert status == 410
        assert "location" not in headers
        assert EXPIRED_TEXT in body.decode()
    assert visit(short, created["ttl_plain"], BROWSER, method="HEAD")[0] == 410

    after = {name: api("GET", f"{base}/api/links/{code}", key)[1] for name, code in created.items()}
    for name in created:
        assert after[name]["clicks"] == before[name]["clicks"], name
        assert after[name]["last_click_at"] == before[name]["last_click_at"], name
    assert after["spent_with_url"]["clicks"] == {"human": 1, "bot": 0}


# --- the click webhook ----------------------------------------------------------------


class Receiver(ThreadingHTTPServer):
    """A link owner's endpoint on 127.0.0.1: verifies each POST as the docs say."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.secret = ""
        self.received: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/clicks"


class ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        header = self.headers.get("Linktrail-Signature", "")
        # The recipe of clickhooks' docstring, written out as a receiver would.
        parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
        expected = hmac.new(
            self.server.secret.encode(), parts.get("t", "").encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        fresh = parts.get("t", "").isdigit() and abs(time.time() - int(parts["t"])) <= 300
        valid = hmac.compare_digest(expected, parts.get("v1", "")) and fresh
        self.server.received.append(
            {"valid": valid, "body": json.loads(body), "headers": dict(self.headers)}
        )
        self.send_response(204 if valid else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def webhook_secret_of_link(stack: Any, code: str) -> str:
    """The creating key's secret, read from the app table as only the server can."""
    dynamodb = stack.boto3_client("dynamodb")
    link = dynamodb.get_item(
        TableName=stack.env["LINKS_TABLE"], Key={"pk": {"S": f"link#{code}"}, "sk": {"S": "link"}}
    )["Item"]
    key = dynamodb.get_item(
        TableName=stack.env["APP_TABLE"],
        Key={"pk": {"S": f"apikey#{link['key_id']['S']}"}, "sk": {"S": "apikey"}},
    )["Item"]
    return str(key["webhook_secret"]["S"])


def test_a_human_click_reaches_the_webhook_signed(local_stack: Any, receiver: Receiver) -> None:
    base, key = local_stack.app_url, local_stack.admin_key
    status, link = api(
        "POST",
        f"{base}/api/links",
        key,
        {"url": "https://example.com/hooked", "webhook_url": receiver.url},
    )
    assert status == 201, link
    code = link["code"]
    receiver.secret = webhook_secret_of_link(local_stack, code)

    assert visit(local_stack.short_url, code, WHATSAPP)[0] == 302  # a bot: no webhook
    # ignored at viewer-request, as CloudFront-Viewer-Country would be (module docstring)
    assert visit(local_stack.short_url, code, BROWSER, **{"X-Debug-Country": "GB"})[0] == 302

    assert wait_for(lambda: receiver.received, 60), local_stack.log()[-3000:]
    time.sleep(2)  # a bot click or a duplicate would have arrived by now
    [hook] = receiver.received
    assert hook["valid"] is True
    assert hook["headers"]["Content-Type"] == "application/json"
    body = hook["body"]
    assert body["id"] == f"evt_{code}_1"
    assert body["type"] == "link.clicked"
    assert body["data"]["code"] == code
    assert body["data"]["url"] == "https://example.com/hooked"
    assert body["data"]["short_url"] == f"{local_stack.env['SHORT_BASE_URL']}/{code}"
    assert body["data"]["clicks"] == 1
    assert body["data"]["country"] == "ZZ"
    shown = api("GET", f"{base}/api/links/{code}", key)[1]
    assert shown["clicks"] == {"human": 1, "bot": 1}
    assert shown["webhook"] is None  # no failure recorded
