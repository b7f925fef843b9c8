"""Hostile input that used to reach a 500 or slip past a check: JSON nested deeper than the
parser's recursion limit, expired_url outside the destination allowlist, and {code} path
parameters DynamoDB would refuse as keys. Real app through chalice.test.Client on moto."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.support.aws import assert_nothing_written, link_items, redirect_objects
from tests.support.links import post
from tests.support.messaging import signed
from tests.support.tracking import queued_events

PROBLEM = "application/problem+json"
DEEP_ARRAY = "[" * 30000 + "]" * 30000
DEEP_OBJECT = '{"a":' * 5000 + "1" + "}" * 5000
LONG_CODE = "A" * 3000


def problem(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.body
    assert answer.headers["Content-Type"] == PROBLEM
    body: dict[str, Any] = json.loads(answer.body)
    assert body["status"] == status
    return body


def all_items(env: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Every item of every DynamoDB table (a Scan per table: fine in a test)."""
    ddb = boto3.client("dynamodb")
    return {
        name: ddb.scan(TableName=name)["Items"] for name in sorted(ddb.list_tables()["TableNames"])
    }


@pytest.fixture
def dynamodb_key_limits(aws: dict[str, str]) -> Iterator[list[str]]:
    """DynamoDB refuses a partition key over 2,048 bytes and a sort key over 1,024 with a
    ValidationException; moto does not check. A before-call hook on the app's real client
    answers as AWS does for any request carrying such a key, and records the operation."""
    from botocore.awsrequest import AWSResponse

    from chalicelib import wiring

    refused: list[str] = []

    def keys_in(params: Any) -> Iterator[dict[str, Any]]:
        if isinstance(params, dict):
            for name, value in params.items():
                if name in ("Key", "ExclusiveStartKey") and isinstance(value, dict):
                    yield value
                yield from keys_in(value)
        elif isinstance(params, list):
            for value in params:
                yield from keys_in(value)

    def too_large(params: dict[str, Any]) -> bool:
        for key in keys_in(params):
            for name, value in key.items():
                if len(str(value.get("S", "")).encode()) > (2048 if name.endswith("pk") else 1024):
                    return True
        # A Query's key condition: its values are key values too.
        condition = params.get("KeyConditionExpression", "")
        values = params.get("ExpressionAttributeValues", {})
        return any(
            name in condition and len(str(value.get("S", "")).encode()) > 2048
            for name, value in values.items()
        )

    def answer(params: Any, model: Any, **_: Any) -> Any:
        # `params` is the serialised request; DynamoDB's body is the JSON of the call.
        if too_large(json.loads(params["body"] or b"{}")):
            refused.append(model.name)
            error = {"Code": "ValidationException", "Message": "key too large (test)"}
            return AWSResponse("https://aws.invalid/", 400, {}, None), {
                "Error": error,
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
        return None

    events = wiring.dynamodb().meta.events
    events.register("before-call.dynamodb", answer, unique_id="test-key-limits")
    try:
        yield refused
    finally:
        events.unregister("before-call.dynamodb", unique_id="test-key-limits")


# --- JSON nested deeper than the parser goes ----------------------------------------


@pytest.mark.parametrize("raw", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
def test_deeply_nested_link_body_is_a_400(client, auth_headers, aws, raw):
    body = problem(client.http.post("/api/links", headers=auth_headers, body=raw), 400)
    assert "nested too deeply" in body["detail"]
    assert_nothing_written(aws)


def test_deeply_nested_event_body_is_a_400_unauthenticated(client, aws):
    answer = client.http.post(
        "/events", headers={"Content-Type": "application/json"}, body=DEEP_ARRAY
    )
    assert "nested too deeply" in problem(answer, 400)["detail"]
    assert queued_events(aws) == []


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"n": value}
    return value


def test_parseable_but_deep_event_properties_are_refused(client, aws):
    """Deep enough to parse here, too deep for what parses it again downstream: refused
    at 33 levels (the body counts as one), accepted at 32."""
    def send(properties: dict[str, Any]) -> Any:
        event = {"type": "track", "event": "Deep", "anonymousId": "a", "properties": properties}
        return client.http.post(
            "/events", headers={"Content-Type": "application/json"}, body=json.dumps(event)
        )

    assert "nested too deeply" in problem(send(nested(32)), 400)["detail"]
    assert queued_events(aws) == []
    assert send(nested(31)).status_code == 202
    assert len(queued_events(aws)) == 1


def test_deeply_nested_signed_webhook_is_a_400(client, texting):
    before = all_items(os.environ)
    headers, raw = signed(DEEP_ARRAY.encode(), os.environ["VONAGE_SIGNATURE_SECRET"])
    answer = client.http.post("/webhooks/vonage/status", headers=headers, body=raw)
    assert "nested too deeply" in problem(answer, 400)["detail"]
    assert all_items(os.environ) == before


def cursor_of(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode()


def test_deeply_nested_cursor_is_a_400(client, auth_headers, aws):
    nested = cursor_of("[" * 5000 + "]" * 5000)
    answer = client.http.get(f"/api/links?cursor={nested}", headers=auth_headers)
    assert problem(answer, 400)["field"] == "cursor"


def test_cursor_nested_within_the_length_cap_is_a_400(client, auth_headers, aws, monkeypatch):
    from chalicelib.links import service as links

    # The length cap alone keeps cursors shallow; lift it to reach the parser's limit.
    monkeypatch.setattr(links, "MAX_CURSOR_CHARS", 100_000, raising=False)
    nested = cursor_of("[" * 3000 + "]" * 3000)
    answer = client.http.get(f"/api/links?cursor={nested}", headers=auth_headers)
    assert problem(answer, 400)["field"] == "cursor"


def test_long_cursor_is_a_400_and_reaches_no_key(client, auth_headers, aws, dynamodb_key_limits):
    forged = {"pk": "link#" + "x" * 3000, "sk": "link", "gsi1pk": "links", "gsi1sk": "Z"}
    answer = client.http.get(
        f"/api/links?cursor={cursor_of(json.dumps(forged))}", headers=auth_headers
    )
    assert problem(answer, 400)["field"] == "cursor"
    assert dynamodb_key_limits == []
    # Cursors the API hands out stay well under the cap.
    for n in range(3):
        assert post(client, auth_headers, {"url": f"https://example.com/{n}"}).status_code == 201
    first = json.loads(client.http.get("/api/links?limit=2", headers=auth_headers).body)
    answer = client.http.get(f"/api/links?cursor={first['next_cursor']}", headers=auth_headers)
    assert answer.status_code == 200
    assert len(json.loads(answer.body)["links"]) == 1


# --- expired_url honours the destination allowlist ----------------------------------


@pytest.fixture
def allowlist(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib import wiring

    monkeypatch.setenv("ALLOWED_DESTINATION_HOSTS", "example.com")
    wiring.reset()


def test_create_refuses_expired_url_off_the_allowlist(client, auth_headers, aws, allowlist):
    answer = post(
        client,
        auth_headers,
        {"url": "https://example.com/", "expired_url": "https://evil.example/phish"},
    )
    body = problem(answer, 400)
    assert body["field"] == "expired_url" and "allowlist" in body["detail"]
    assert_nothing_written(aws)


def test_patch_refuses_expired_url_off_the_allowlist(client, auth_headers, aws, allowlist):
    created = post(
        client,
        auth_headers,
        {
            "url": "https://example.com/",
            "code": "allowx",
            "expired_url": "https://example.com/gone",
        },
    )
    assert created.status_code == 201
    before = link_items(aws)
    answer = client.http.patch(
        "/api/links/allowx",
        headers=auth_headers,
        body=json.dumps({"expired_url": "https://evil.example/phish"}),
    )
    assert problem(answer, 400)["field"] == "expired_url"
    assert link_items(aws) == before
    allowed = client.http.patch(
        "/api/links/allowx",
        headers=auth_headers,
        body=json.dumps({"expired_url": "https://example.com/later"}),
    )
    assert allowed.status_code == 200
    assert json.loads(allowed.body)["expired_url"] == "https://example.com/later"


# --- {code} path parameters DynamoDB could not take as a key ------------------------


def test_delete_with_an_impossible_code_is_a_404(client, auth_headers, aws, dynamodb_key_limits):
    assert post(client, auth_headers, {"url": "https://example.com/"}).status_code == 201
    before = all_items(aws), redirect_objects(aws)
    problem(client.http.delete(f"/api/links/{LONG_CODE}", headers=auth_headers), 404)
    assert (all_items(aws), redirect_objects(aws)) == before
    assert dynamodb_key_limits == []


def test_patch_with_an_impossible_code_is_a_404(client, auth_headers, aws, dynamodb_key_limits):
    assert post(client, auth_headers, {"url": "https://example.com/"}).status_code == 201
    before = all_items(aws), redirect_objects(aws)
    answer = client.http.patch(
        f"/api/links/{LONG_CODE}", headers=auth_headers, body=json.dumps({"max_clicks": 3})
    )
    problem(answer, 404)
    assert (all_items(aws), redirect_objects(aws)) == before
    assert dynamodb_key_limits == []


def test_resend_with_an_impossible_code_is_a_404(
    client, auth_headers, texting, dynamodb_key_limits
):
    before = all_items(os.environ)
    problem(client.http.post(f"/api/links/{LONG_CODE}/resend", headers=auth_headers), 404)
    assert all_items(os.environ) == before
    assert texting.api.requests == []
    assert dynamodb_key_limits == []


@pytest.mark.parametrize("field,value", [("code", "abcd\n"), ("tags", ["spring\n"])])
def test_a_trailing_newline_is_not_part_of_a_valid_value(client, auth_headers, aws, field, value):
    """`$` also matches before a final newline; the patterns end with \\Z instead."""
    body = {"url": "https://example.com/", field: value}
    answer = client.http.post("/api/links", headers=auth_headers, body=json.dumps(body))
    assert problem(answer, 400)["field"].startswith(field)
    assert_nothing_written(aws)
