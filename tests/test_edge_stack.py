"""Clicks end to end through the real local stack (`make dev`'s entry point): the API
creates a link, the short domain (the edge handler + S3 website behaviour) counts and
redirects real HTTP requests, the stream/queue pumps deliver the click webhook to a
receiver on 127.0.0.1 (allowed on the local stage only), signed as documented."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.test_links_stack import http as http_call

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
    assert shown["clicks_by_country"]["DE"] == 1
    assert sum(shown["clicks_by_day"].values()) == 3

    assert api("DELETE", f"{base}/api/links/{code}", key)[0] == 204
    status, headers, body = visit(local_stack.short_url, code, BROWSER)
    assert status == 404
    assert "location" not in headers
    assert EXPIRED_TEXT in body.decode()


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
    assert body["data"]["country"] == "GB"
    shown = api("GET", f"{base}/api/links/{code}", key)[1]
    assert shown["clicks"] == {"human": 1, "bot": 1}
    assert shown["webhook"] is None  # no failure recorded
