"""Idempotency-Key on POST /api/links: the same request sent again answers the first's link
(one link, one object, one text), another body under the key is a 422, the key is the
calling API key's alone, and a replay never answers a link whose redirect is not stored."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib import wiring
from tests.support.aws import (
    assert_nothing_written,
    failing,
    link_items,
    redirect_objects,
    stream_records,
)
from tests.support.env import set_env
from tests.support.messaging import NUMBER


def create(client: Any, headers: dict[str, str], body: Any, key: str | None = "retry-1") -> Any:
    sent = {**headers, **({"Idempotency-Key": key} if key is not None else {})}
    return client.http.post("/api/links", headers=sent, body=json.dumps(body))


def links_made(aws: dict[str, str]) -> list[str]:
    return sorted(item["code"]["S"] for item in link_items(aws) if item["sk"]["S"] == "link")


def test_the_same_request_again_answers_the_first_link(client, auth_headers, aws):
    body = {"url": "https://example.com/once", "tags": ["a", "b"]}
    first = create(client, auth_headers, body)
    assert first.status_code == 201, first.body
    assert "Idempotent-Replayed" not in first.headers
    # The same JSON with its keys in another order is the same request.
    again = client.http.post("/api/links", body=json.dumps(dict(reversed(body.items()))),
                             headers={**auth_headers, "Idempotency-Key": "retry-1"})
    assert again.status_code == 201, again.body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json_body["code"] == first.json_body["code"]
    assert again.headers["Location"] == first.headers["Location"]
    assert links_made(aws) == [first.json_body["code"]]
    assert redirect_objects(aws) == [first.json_body["code"]]

    other = create(client, auth_headers, body, key="retry-2")
    assert other.status_code == 201 and other.json_body["code"] != first.json_body["code"]
    plain = create(client, auth_headers, body, key=None)
    assert plain.status_code == 201 and "Idempotent-Replayed" not in plain.headers
    assert len(links_made(aws)) == 3


def test_another_body_under_the_key_is_a_422_that_writes_nothing(client, auth_headers, aws):
    first = create(client, auth_headers, {"url": "https://example.com/one"})
    assert first.status_code == 201
    refused = create(client, auth_headers, {"url": "https://example.com/two"})
    assert refused.status_code == 422
    assert refused.headers["Content-Type"] == "application/problem+json"
    problem = json.loads(refused.body)
    assert problem["field"] == "Idempotency-Key" and "different request" in problem["detail"]
    assert links_made(aws) == [first.json_body["code"]]


def test_the_key_belongs_to_the_api_key_that_sent_it(client, auth_headers, aws):
    other_key = wiring.key_store().create("second", role="admin").token
    body = {"url": "https://example.com/shared-key"}
    mine = create(client, auth_headers, body)
    theirs = create(client, {**auth_headers, "Authorization": f"Bearer {other_key}"}, body)
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert mine.json_body["code"] != theirs.json_body["code"]


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "tab\there"])
def test_a_malformed_key_is_a_400_that_writes_nothing(client, auth_headers, aws, key):
    refused = create(client, auth_headers, {"url": "https://example.com/bad-key"}, key=key)
    assert refused.status_code == 400, refused.body
    assert json.loads(refused.body)["field"] == "Idempotency-Key"
    assert_nothing_written(aws)


def test_a_replay_texts_nobody_again_and_takes_no_quota(texting, client, auth_headers, aws):
    body = {"url": "https://example.com/texted", "sms": {"to": NUMBER, "text": "Hi {link}"}}
    first = create(client, auth_headers, body)
    assert first.status_code == 201, first.body
    again = create(client, auth_headers, body)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json_body["message"]["status"] == "accepted"
    assert len(texting.api.requests) == 1
    quota = [item for item in wiring.dynamodb().scan(TableName=aws["APP_TABLE"])["Items"]
             if item["pk"]["S"].startswith("smsquota#")]
    assert [int(item["sends"]["N"]) for item in quota] == [1]


def test_a_replay_gets_its_link_when_the_days_texts_are_spent(
    texting, client, auth_headers, aws
):
    set_env(SMS_DAILY_QUOTA="1")
    body = {"url": "https://example.com/last-text", "sms": {"to": NUMBER}}
    first = create(client, auth_headers, body)
    assert first.status_code == 201, first.body
    again = create(client, auth_headers, body)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json_body["code"] == first.json_body["code"]
    fresh = create(client, auth_headers, body, key="another")
    assert fresh.status_code == 429  # a new request still meets the quota
    assert len(texting.api.requests) == 1


def test_a_replay_while_the_redirect_is_missing_is_a_409_to_retry(client, auth_headers, aws):
    """The first request stored its items but not yet its object (still in flight, or it
    died there and the links stream has not put it back yet)."""
    body = {"url": "https://example.com/in-flight"}
    code = create(client, auth_headers, body).json_body["code"]
    boto3.client("s3").delete_object(Bucket=aws["REDIRECT_BUCKET"], Key=code)
    busy = create(client, auth_headers, body)
    assert busy.status_code == 409
    assert json.loads(busy.body)["field"] == "Idempotency-Key"
    wiring.links().restore_redirect(code)  # what the links stream does
    again = create(client, auth_headers, body)
    assert again.status_code == 201 and again.json_body["code"] == code


def test_a_create_undone_takes_its_key_with_it(client, auth_headers, aws):
    body = {"url": "https://example.com/undone"}
    with failing(wiring.s3(), "PutObject"):
        assert create(client, auth_headers, body).status_code == 503
    assert_nothing_written(aws)
    again = create(client, auth_headers, body)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers


def test_a_replay_of_a_link_since_deleted_answers_its_tombstone(client, auth_headers, aws):
    body = {"url": "https://example.com/gone"}
    code = create(client, auth_headers, body).json_body["code"]
    assert client.http.delete(f"/api/links/{code}", headers=auth_headers).status_code == 204
    again = create(client, auth_headers, body)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json_body["code"] == code and again.json_body["status"] == "deleted"
    assert links_made(aws) == []


def test_a_failed_undo_under_a_key_is_made_whole_and_the_retry_gets_the_link(
    client, auth_headers, aws
):
    """The PutObject failed and so did every attempt to undo the items: the link is kept,
    the links stream puts its object back, and the client's retry gets the link."""
    body = {"url": "https://example.com/kept"}
    with failing(wiring.s3(), "PutObject"), \
            failing(wiring.dynamodb(), "TransactWriteItems", times=3, after=1) as undo:
        assert create(client, auth_headers, body).status_code == 503
    assert undo["failed"] == 3
    [code] = links_made(aws)
    assert redirect_objects(aws) == []
    inserted = [r for r in stream_records(aws)
                if r["eventName"] == "INSERT" and r["dynamodb"]["Keys"]["sk"]["S"] == "link"]
    client.lambda_.invoke("links_stream", {"Records": inserted})
    assert redirect_objects(aws) == [code]
    again = create(client, auth_headers, body)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json_body["code"] == code
