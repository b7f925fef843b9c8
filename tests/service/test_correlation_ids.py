"""Every handler's log lines carry the correlation id of what it handles: an HTTP request's
id (API Gateway's requestId), an SQS batch's message ids, a stream batch's sequence
numbers, a schedule's event id. Lines are captured as CloudWatch gets them (JSON)."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.local import LambdaContext

from chalicelib import wiring
from chalicelib.core import logs

REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
SEQUENCE_NUMBER = "4100000000019283746501"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the `linktrail` logger writes, formatted as in AWS."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("linktrail")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def assert_all_carry(stream: io.StringIO, correlation_id: str, message: str) -> None:
    logged = lines(stream)
    assert any(message in line["message"] for line in logged), logged
    assert [line.get("correlation_id") for line in logged] == [correlation_id] * len(logged)
    assert logs.correlation_id.get() == ""  # nothing leaks past the handler


def create_link(client: Any, headers: dict[str, str], **fields: Any) -> str:
    answer = client.http.post("/api/links", headers=headers,
                              body=json.dumps({"url": "https://example.com/a", **fields}))
    assert answer.status_code == 201, answer.body
    return str(json.loads(answer.body)["code"])


def api_gateway_event(path: str, headers: dict[str, str]) -> dict[str, Any]:
    """A REST API proxy event as API Gateway hands it to the API handler."""
    return {
        "resource": path, "path": path, "httpMethod": "GET",
        "headers": {k.lower(): v for k, v in headers.items()},
        "multiValueHeaders": None, "queryStringParameters": None,
        "multiValueQueryStringParameters": None, "pathParameters": None,
        "stageVariables": None, "body": None, "isBase64Encoded": False,
        "requestContext": {
            "resourcePath": path, "httpMethod": "GET", "path": f"/api{path}", "stage": "api",
            "requestId": REQUEST_ID, "identity": {"sourceIp": "203.0.113.7"},
        },
    }


def test_http_lines_carry_the_request_id(client, auth_headers, json_lines) -> None:
    from app import app

    def refuse(**_kwargs: Any) -> None:
        raise RuntimeError("injected")

    # An unexpected error: Chalice logs it (on the `linktrail` logger) and answers 500.
    events = wiring.dynamodb().meta.events
    events.register("before-call.dynamodb.Query", refuse)
    try:
        # In a context of its own, as each Lambda invocation (and each request of the local
        # server's threads) has: the id the HTTP middleware sets stays there.
        answer = contextvars.copy_context().run(
            app, api_gateway_event("/api/keys", auth_headers), LambdaContext("api_handler", 60)
        )
    finally:
        events.unregister("before-call.dynamodb.Query", refuse)
    assert answer["statusCode"] == 500
    logged = lines(json_lines)
    assert logged and all(line.get("correlation_id") == REQUEST_ID for line in logged), logged
    assert any("Caught exception" in line["message"] for line in logged), logged


def test_sqs_lines_carry_the_message_ids(client, json_lines) -> None:
    event = client.events.generate_sqs_event(["not json", "{}"], queue_name="linktrail-notify")
    ids = ",".join(record["messageId"] for record in event["Records"])
    answer = client.lambda_.invoke("click_webhook_delivery", event)
    assert answer.payload == {"batchItemFailures": []}
    assert_all_carry(json_lines, ids, "unreadable notify message dropped")


def test_stream_lines_carry_the_sequence_numbers(client, auth_headers, json_lines) -> None:
    code = create_link(client, auth_headers, max_clicks=1)
    keys = {"pk": {"S": f"link#{code}"}, "sk": {"S": "counter"}}
    record = {
        "eventID": "1", "eventName": "MODIFY", "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/links/stream/x",
        "dynamodb": {
            "ApproximateCreationDateTime": time.time(), "Keys": keys,
            "NewImage": {**keys, "code": {"S": code}, "max_clicks": {"N": "1"},
                         "human_clicks": {"N": "1"}},
            "SequenceNumber": SEQUENCE_NUMBER, "SizeBytes": 120,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    client.lambda_.invoke("links_stream", {"Records": [record]})
    assert_all_carry(json_lines, SEQUENCE_NUMBER, "max_clicks reached")


def test_schedule_lines_carry_the_event_id(client, auth_headers, json_lines) -> None:
    create_link(client, auth_headers, ttl=1)
    time.sleep(1.1)  # the shortest lifetime a link can have
    event = client.events.generate_cw_event(
        "aws.events", "Scheduled Event", {}, ["arn:aws:events:us-east-1:123456789012:rule/x"]
    )
    client.lambda_.invoke("links_sweeper", event)
    assert_all_carry(json_lines, event["id"], "links expired")


def test_local_text_lines_carry_the_id_too() -> None:
    record = logging.LogRecord("linktrail.links", logging.INFO, __file__, 1, "link created",
                               None, None)
    record.code = "abc"
    token = logs.correlation_id.set(REQUEST_ID)
    try:
        text = logs.TextFormatter().format(record)
    finally:
        logs.correlation_id.reset(token)
    assert text == f"INFO    linktrail.links: link created code=abc correlation_id={REQUEST_ID}"
    assert "correlation_id" not in logs.TextFormatter().format(record)
