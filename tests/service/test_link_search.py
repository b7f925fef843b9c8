"""GET /api/links?q= and ?status=: search over codes, URLs and tags, and the active/ended
filter, alone, together and with tag and cursor, through the real app on moto."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from tests.support.links import post


def make(client: Any, headers: dict[str, str], url: str, **fields: Any) -> str:
    answer = post(client, headers, {"url": url, **fields})
    assert answer.status_code == 201, answer.body
    time.sleep(0.002)  # distinct created_at milliseconds: a stable newest-first order
    return str(json.loads(answer.body)["code"])


def listed(client: Any, headers: dict[str, str], **params: str) -> list[str]:
    answer = client.http.get(f"/api/links?{urlencode(params)}", headers=headers)
    assert answer.status_code == 200, answer.body
    return [link["code"] for link in json.loads(answer.body)["links"]]


@pytest.fixture
def links(client: Any, auth_headers: dict[str, str], aws: dict[str, str]) -> dict[str, str]:
    """Seven links, newest last: live ones, one deleted (a tombstone), and one past its
    expiry that the sweeper has not retired yet."""
    made = {
        "shoes_url": make(client, auth_headers, "https://example.com/shoes", tags=["spring"]),
        "hats_code": make(client, auth_headers, "https://example.com/h", code="hats-sale"),
        "shoes_tag": make(client, auth_headers, "https://example.org/x", tags=["shoes"]),
        "near_tag": make(client, auth_headers, "https://example.org/y", tags=["winter-boots"]),
        "deleted": make(client, auth_headers, "https://example.com/shoes-gone"),
        "past": make(client, auth_headers, "https://example.com/shoes-old", ttl=3600),
        "later": make(client, auth_headers, "https://example.com/later", ttl=3600),
    }
    deleted = client.http.delete(f"/api/links/{made['deleted']}", headers=auth_headers)
    assert deleted.status_code == 204, deleted.body
    boto3.client("dynamodb").update_item(
        TableName=aws["LINKS_TABLE"],
        Key={"pk": {"S": f"link#{made['past']}"}, "sk": {"S": "link"}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 60)}},
    )
    return made


def test_q_matches_code_url_or_an_exact_tag(client, auth_headers, links):
    newest_first = ["past", "deleted", "shoes_tag", "shoes_url"]
    assert listed(client, auth_headers, q="shoes") == [links[n] for n in newest_first]
    assert listed(client, auth_headers, q="hats-s") == [links["hats_code"]]
    # "winter" is part of a tag, not a tag: no match (nor in that link's code or URL).
    assert listed(client, auth_headers, q="winter") == []
    assert listed(client, auth_headers, q="winter-boots") == [links["near_tag"]]


def test_q_is_case_sensitive(client, auth_headers, links):
    assert listed(client, auth_headers, q="SHOES") == []


def test_status_splits_live_links_from_ended_ones(client, auth_headers, links):
    active = listed(client, auth_headers, status="active")
    ended = listed(client, auth_headers, status="ended")
    live = ("later", "near_tag", "shoes_tag", "hats_code", "shoes_url")
    assert active == [links[n] for n in live]
    assert ended == [links["past"], links["deleted"]]
    rows = json.loads(client.http.get("/api/links?status=ended", headers=auth_headers).body)
    assert {row["status"] for row in rows["links"]} == {"expired", "deleted"}


def test_filters_combine_with_each_other_and_with_tag(client, auth_headers, links):
    active = listed(client, auth_headers, q="shoes", status="active")
    assert active == [links["shoes_tag"], links["shoes_url"]]
    ended = listed(client, auth_headers, q="shoes", status="ended")
    assert ended == [links["past"], links["deleted"]]
    assert listed(client, auth_headers, q="shoes", tag="spring") == [links["shoes_url"]]
    assert listed(client, auth_headers, q="hats", tag="spring") == []


def test_a_filtered_list_pages_with_its_cursor(client, auth_headers, links):
    seen: list[str] = []
    params = {"q": "shoes", "limit": "1"}
    for _ in range(6):
        answer = json.loads(
            client.http.get(f"/api/links?{urlencode(params)}", headers=auth_headers).body
        )
        seen.extend(link["code"] for link in answer["links"])
        if answer["next_cursor"] is None:
            break
        params["cursor"] = answer["next_cursor"]
    assert seen == [links[n] for n in ("past", "deleted", "shoes_tag", "shoes_url")]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": ""}, "q"),
        ({"q": "x" * 101}, "q"),
        ({"status": "gone"}, "status"),
        ({"status": "ACTIVE"}, "status"),
        ({"status": ""}, "status"),
        ({"q": "shoes", "status": "expired"}, "status"),
    ],
)
def test_bad_q_or_status_is_a_problem_naming_it(client, auth_headers, aws, params, field):
    answer = client.http.get(f"/api/links?{urlencode(params)}", headers=auth_headers)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert json.loads(answer.body)["field"] == field


def test_a_hundred_character_q_is_accepted(client, auth_headers, links):
    assert listed(client, auth_headers, q="s" * 100) == []
