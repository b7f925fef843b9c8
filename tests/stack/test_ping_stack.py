"""/ping over real HTTP on the local stack (`chalice local` behind `make dev`): the
errors Chalice raises before our view (415) are problem details there too, and a
refused ping writes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.aws import all_items
from tests.support.stack import LocalStack, http

pytestmark = pytest.mark.stack

# Not the browser test's user agents: this visitor must not join its journey.
WINDOWS_EDGE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/150.0.0.0 Safari/537.36 Edg/150.0.0.0"
)


def journey_items(dynamodb: Any) -> list[dict[str, Any]]:
    """Hops and salts only: the shared stack's other items may change meanwhile."""
    return [
        item
        for item in all_items(dynamodb)
        if item.get("pk", {}).get("S", "").startswith(("hop#", "salt"))
    ]


@pytest.mark.parametrize(
    ("content_type", "body", "ping_to", "status"),
    [
        ("application/json", b"{}", "/blog", 415),
        ("text/ping", b"P" * 1025, "/blog", 413),
        ("text/ping", b"PING", None, 400),
        ("text/ping", b"PING", "https://evil.example/", 403),
    ],
)
def test_refused_pings_over_http_are_problem_details_and_write_nothing(
    local_stack: LocalStack, content_type: str, body: bytes, ping_to: str | None, status: int
) -> None:
    headers = {"Content-Type": content_type, "User-Agent": WINDOWS_EDGE}
    if ping_to is not None:
        headers["Ping-To"] = local_stack.app_url + ping_to if ping_to[0] == "/" else ping_to
    dynamodb = local_stack.boto3_client("dynamodb")
    before = journey_items(dynamodb)
    answer_status, answer_headers, answer = http(
        "POST", f"{local_stack.app_url}/ping", headers, body
    )
    assert answer_status == status
    assert answer_headers["Content-Type"] == "application/problem+json"
    assert json.loads(answer)["status"] == status
    assert journey_items(dynamodb) == before


def test_an_accepted_ping_over_http_is_204_with_no_body(local_stack: LocalStack) -> None:
    headers = {
        "Content-Type": "text/ping",
        "User-Agent": WINDOWS_EDGE,
        "Ping-To": f"{local_stack.app_url}/about-me",
        "Ping-From": f"{local_stack.app_url}/",
    }
    dynamodb = local_stack.boto3_client("dynamodb")
    hops_before = [i for i in journey_items(dynamodb) if i["pk"]["S"].startswith("hop#")]
    status, _, body = http("POST", f"{local_stack.app_url}/ping", headers, b"PING")
    assert (status, body) == (204, b"")
    hops_after = [i for i in journey_items(dynamodb) if i["pk"]["S"].startswith("hop#")]
    [added] = [hop for hop in hops_after if hop not in hops_before]
    assert (added["from_page"]["S"], added["to_page"]["S"]) == ("/", "/about-me")
