"""POST /ping through the real app (chalice.test.Client) and the emulator: what is
accepted, what is refused, and that a refused or ignored ping writes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench.core import count_aws_calls
from chalicelib import wiring
from tests.support.aws import all_items
from tests.support.journeys import DESKTOP_UA, SITE, hop_items
from tests.support.ping import BASE, ping


def problem(response: Any) -> dict[str, Any]:
    assert response.headers["Content-Type"] == "application/problem+json"
    return dict(json.loads(response.body))


def test_a_ping_answers_204_and_records_one_hop(client: Any) -> None:
    response = ping(client)
    assert response.status_code == 204 and response.body == b""
    [hop] = hop_items()
    assert (hop["from_page"]["S"], hop["to_page"]["S"]) == ("/", "/about-me")


def test_steady_state_is_one_dynamodb_call_per_ping(client: Any) -> None:
    assert ping(client).status_code == 204  # the day's first ping creates the salt
    with count_aws_calls(wiring.dynamodb()) as calls:
        for _ in range(5):
            assert ping(client).status_code == 204
    assert calls == {"dynamodb.PutItem": 5}


def test_ping_from_is_optional(client: Any) -> None:
    assert ping(client, **{"Ping-From": None}).status_code == 204
    [hop] = hop_items()
    assert "from_page" not in hop


def test_the_client_ip_comes_from_the_gateway_not_x_forwarded_for(client: Any) -> None:
    ping(client, **{"X-Forwarded-For": "203.0.113.1"})
    ping(client, **{"X-Forwarded-For": "198.51.100.2"})
    assert len({hop["pk"]["S"] for hop in hop_items()}) == 1


def test_another_user_agent_is_another_visitor(client: Any) -> None:
    ping(client)
    ping(client, **{"User-Agent": DESKTOP_UA.replace("X11; Linux x86_64", "Windows NT 10.0")})
    assert len({hop["pk"]["S"] for hop in hop_items()}) == 2


def test_each_site_gets_its_own_visitor_hash_whatever_host_serves_ping(client: Any) -> None:
    """Same IP and user agent, two configured sites, one API host: two visitors."""
    other = "localhost:8000"
    assert other in wiring.settings().site_hosts and SITE in wiring.settings().site_hosts
    api = {"Host": SITE}  # both sites' pings reach the same API host
    assert ping(client, **api, **{"Ping-To": f"{BASE}/blog"}).status_code == 204
    to_other = {"Ping-To": f"http://{other}/blog", "Ping-From": None}
    assert ping(client, **api, **to_other).status_code == 204
    hops = {hop["site"]["S"]: hop["pk"]["S"] for hop in hop_items()}
    assert set(hops) == {SITE, other} and hops[SITE] != hops[other]


def test_a_body_of_exactly_1_kb_is_accepted(client: Any) -> None:
    assert ping(client, body="P" * 1024).status_code == 204


@pytest.mark.parametrize(
    ("overrides", "body", "status", "field"),
    [
        ({"Content-Type": "application/json"}, "PING", 415, None),
        ({"Content-Type": "text/plain"}, "PING", 415, None),
        ({}, "P" * 1025, 413, None),
        ({"Ping-To": None}, "PING", 400, "Ping-To"),
        ({"Ping-To": ""}, "PING", 400, "Ping-To"),
        ({"Ping-To": "/about-me"}, "PING", 400, "Ping-To"),
        ({"Ping-To": "javascript:alert(1)"}, "PING", 400, "Ping-To"),
        ({"Ping-To": f"ftp://{SITE}/about-me"}, "PING", 400, "Ping-To"),
        ({"Ping-To": f"http://user:pw@{SITE}/"}, "PING", 400, "Ping-To"),
        ({"Ping-To": f"{BASE}/" + "a" * 2100}, "PING", 400, "Ping-To"),
        ({"Ping-To": "http://[::1/"}, "PING", 400, "Ping-To"),
        ({"Ping-To": "https://evil.example/about-me"}, "PING", 403, "Ping-To"),
        ({"Ping-To": "http://127.0.0.1:8001/about-me"}, "PING", 403, "Ping-To"),
        ({"Ping-From": "https://evil.example/"}, "PING", 403, "Ping-From"),
        ({"Ping-From": "data:text/html,hi"}, "PING", 400, "Ping-From"),
    ],
)
def test_bad_pings_are_refused_with_problem_details_and_write_nothing(
    client: Any, overrides: dict[str, str | None], body: str, status: int, field: str | None
) -> None:
    before = all_items()
    response = ping(client, body=body, **overrides)
    assert response.status_code == status
    details = problem(response)
    assert details["status"] == status and details.get("field") == field
    assert all_items() == before


@pytest.mark.parametrize(
    "overrides",
    [
        {"Sec-GPC": "1"},
        {"DNT": "1"},
        {"Sec-GPC": "1", "Ping-To": "https://evil.example/"},  # not even looked at
        {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/150.0.0.0 Safari/537.36"},
        {"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"},
        {"User-Agent": "curl/8.5.0"},
        {"User-Agent": None},
    ],
)
def test_opted_out_and_bot_pings_answer_204_and_write_nothing(
    client: Any, overrides: dict[str, str | None]
) -> None:
    before = all_items()
    response = ping(client, **overrides)
    assert response.status_code == 204
    assert all_items() == before


def test_gpc_or_dnt_set_to_zero_is_not_an_opt_out(client: Any) -> None:
    assert ping(client, **{"Sec-GPC": "0", "DNT": "0"}).status_code == 204
    assert len(hop_items()) == 1


def test_ping_answers_only_post(client: Any) -> None:
    response = client.http.get("/ping", headers={"Host": SITE})
    assert response.status_code == 405 and problem(response)["status"] == 405
