"""GET /api/campaigns: campaigns newest first from gsi1 "campaigns", paged by cursor,
without statistics, through the real app on moto."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from chalicelib import wiring
from chalicelib.campaigns.model import NewCampaign, new_campaign_item
from chalicelib.campaigns.store import CampaignStore
from tests.support.campaigns import campaign_body, start

EXPIRES_AT = 4_102_444_800  # 2100-01-01T00:00:00Z


def put_campaigns(count: int) -> list[str]:
    """`count` campaign items as POST /api/campaigns stores them, a minute apart; their ids,
    oldest first. Every other one has an expiry."""
    store = CampaignStore(wiring.dynamodb(), wiring.settings().links_table)
    ids = []
    for n in range(count):
        campaign = NewCampaign(
            name=f"campaign {n}",
            url=f"https://shop.example.com/{n}",
            text="Sale: {link}",
            channel="sms",
            recipients=[],
            expires_at=EXPIRES_AT if n % 2 else None,
            webhook_url=None,
        )
        campaign_id = f"campaign{n:04d}"
        created_at = f"2026-03-01T10:{n:02d}:00.000Z"
        store.create(new_campaign_item(campaign, campaign_id, "testkey00001", created_at))
        ids.append(campaign_id)
    return ids


def get(client: Any, headers: dict[str, str], **params: str) -> Any:
    return client.http.get(f"/api/campaigns?{urlencode(params)}", headers=headers)


def test_campaigns_are_listed_newest_first_without_statistics(client, auth_headers, aws):
    ids = put_campaigns(3)
    answer = get(client, auth_headers)
    assert answer.status_code == 200, answer.body
    body = json.loads(answer.body)
    assert [row["campaign_id"] for row in body["campaigns"]] == ids[::-1]
    assert body["next_cursor"] is None
    assert body["campaigns"][1] == {
        "campaign_id": ids[1],
        "name": "campaign 1",
        "url": "https://shop.example.com/1",
        "channel": "sms",
        "created_at": "2026-03-01T10:01:00.000Z",
        "total": 0,
        "expires_at": "2100-01-01T00:00:00.000Z",
    }
    assert body["campaigns"][0]["expires_at"] is None


def test_the_cursor_pages_through_every_campaign_once(client, auth_headers, aws):
    ids = put_campaigns(5)
    seen: list[str] = []
    params = {"limit": "2"}
    pages = 0
    while True:
        body = json.loads(get(client, auth_headers, **params).body)
        pages += 1
        seen.extend(row["campaign_id"] for row in body["campaigns"])
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert seen == ids[::-1]
    assert pages == 3
    # A full last page hands out no cursor to an empty one.
    assert json.loads(get(client, auth_headers, limit="5").body)["next_cursor"] is None


def test_links_and_keys_in_the_same_index_are_not_campaigns(client, auth_headers, aws):
    made = client.http.post(
        "/api/links", headers=auth_headers, body=json.dumps({"url": "https://example.com/"})
    )
    assert made.status_code == 201
    assert json.loads(get(client, auth_headers).body) == {"campaigns": [], "next_cursor": None}


def test_a_campaign_started_over_http_is_listed(client, auth_headers, texting, aws):
    started = start(client, auth_headers, campaign_body(3))
    assert started.status_code == 202, started.body
    campaign_id = json.loads(started.body)["campaign_id"]
    rows = json.loads(get(client, auth_headers).body)["campaigns"]
    assert [(row["campaign_id"], row["name"], row["total"]) for row in rows] == [
        (campaign_id, "spring", 3)
    ]
    assert rows[0]["expires_at"] is not None  # campaign_body gives a 7-day ttl


def test_a_read_key_may_list_campaigns(client, aws):
    token = wiring.key_store().create("reader", role="read").token
    answer = get(client, {"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.body


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ({"cursor": "%%%"}, "cursor"),
        ({"cursor": ""}, "cursor"),
        ({"sort": "asc"}, "sort"),
    ],
)
def test_bad_parameters_are_problems_naming_them(client, auth_headers, aws, params, field):
    answer = get(client, auth_headers, **params)
    assert answer.status_code == 400, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert json.loads(answer.body)["field"] == field


def test_a_cursor_of_the_links_list_is_refused(client, auth_headers, aws):
    for n in range(2):
        client.http.post(
            "/api/links", headers=auth_headers, body=json.dumps({"url": f"https://e.com/{n}"})
        )
    links_cursor = json.loads(client.http.get("/api/links?limit=1", headers=auth_headers).body)
    answer = get(client, auth_headers, cursor=links_cursor["next_cursor"])
    assert answer.status_code == 400
    assert json.loads(answer.body)["field"] == "cursor"
