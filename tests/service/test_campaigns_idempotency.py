"""Idempotency-Key on POST /api/campaigns: the same request again answers the first
campaign and queues its chunks again (the first may have died before queueing them all),
and the workers still make one link and one text per recipient."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import wiring
from tests.support.aws import failing
from tests.support.campaigns import campaign_body, campaign_links, queued, receive_all, work


def start(client: Any, headers: dict[str, str], body: dict[str, Any], key: str) -> Any:
    return client.http.post("/api/campaigns", body=json.dumps(body),
                            headers={**headers, "Idempotency-Key": key})


def campaigns_stored(aws: dict[str, str]) -> list[str]:
    items = wiring.dynamodb().scan(TableName=aws["LINKS_TABLE"])["Items"]
    return sorted(item["campaign_id"]["S"] for item in items if item["sk"]["S"] == "campaign")


def work_off(client: Any, aws: dict[str, str]) -> int:
    """Every chunk queued, through the worker as Lambda runs it (then deleted)."""
    messages = receive_all(aws)
    assert work(client, aws, messages) == []
    return len(messages)


def test_the_same_campaign_again_is_one_campaign_one_text_each(
    client, auth_headers, texting, aws
):
    body = campaign_body(30)
    first = start(client, auth_headers, body, "spring-2027")
    assert first.status_code == 202, first.body
    assert "Idempotent-Replayed" not in first.headers
    again = start(client, auth_headers, body, "spring-2027")
    assert again.status_code == 202, again.body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert json.loads(again.body) == json.loads(first.body)
    campaign_id = json.loads(first.body)["campaign_id"]
    assert campaigns_stored(aws) == [campaign_id]

    assert work_off(client, aws) == 4  # two chunks of 25 + 5, queued twice
    assert len(campaign_links(aws, campaign_id)) == 30
    assert len(texting.api.requests) == 30
    stats = json.loads(client.http.get(f"/api/campaigns/{campaign_id}", headers=auth_headers).body)
    assert stats["status"] == "done" and stats["sent"] == 30

    late = start(client, auth_headers, body, "spring-2027")  # once it is done: nothing to queue
    assert late.status_code == 202 and late.headers["Idempotent-Replayed"] == "true"
    assert queued(aws) == 0


def test_a_replay_finishes_a_first_request_that_queued_nothing(
    client, auth_headers, texting, aws
):
    """The first request stored its campaign, then died before queueing a chunk (here:
    its SQS call failed and the cancel failed too, as a killed process does neither)."""
    body = campaign_body(3)
    with failing(wiring.sqs(), "SendMessageBatch", times=5), \
            failing(wiring.dynamodb(), "UpdateItem", times=5):
        died = start(client, auth_headers, body, "half-done")
    assert died.status_code == 500
    assert receive_all(aws) == []
    [campaign_id] = campaigns_stored(aws)

    again = start(client, auth_headers, body, "half-done")
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert work_off(client, aws) == 1
    assert len(campaign_links(aws, campaign_id)) == 3
    assert len(texting.api.requests) == 3


def test_another_body_or_a_cancelled_campaign_under_the_key_is_refused(
    client, auth_headers, texting, aws
):
    assert start(client, auth_headers, campaign_body(2), "k1").status_code == 202
    other = start(client, auth_headers, campaign_body(3), "k1")
    assert other.status_code == 422
    assert json.loads(other.body)["field"] == "Idempotency-Key"

    with failing(wiring.sqs(), "SendMessageBatch", times=5):
        assert start(client, auth_headers, campaign_body(2), "k2").status_code == 503
    cancelled = start(client, auth_headers, campaign_body(2), "k2")
    assert cancelled.status_code == 409
    assert "new key" in json.loads(cancelled.body)["detail"]
    assert len(campaigns_stored(aws)) == 2


def test_the_key_is_the_calling_api_keys_own(client, auth_headers, texting, aws):
    second = wiring.key_store().create("second", role="admin").token
    body = campaign_body(2)
    mine = start(client, auth_headers, body, "shared")
    theirs = start(client, {**auth_headers, "Authorization": f"Bearer {second}"}, body, "shared")
    assert mine.status_code == theirs.status_code == 202
    assert json.loads(mine.body)["campaign_id"] != json.loads(theirs.body)["campaign_id"]
    assert "Idempotent-Replayed" not in theirs.headers
