"""AWS throttling that outlasts botocore's retries, wherever a request meets it (the API
key check, a view's own calls), is a 503 problem with Retry-After that wrote nothing; any
other AWS failure stays a 500."""

from __future__ import annotations

import json

from chalicelib import wiring
from tests.support.aws import assert_nothing_written, failing
from tests.support.links import post

PROBLEM = "application/problem+json"


def _throttled(answer) -> None:
    assert answer.status_code == 503
    assert answer.headers["Content-Type"] == PROBLEM
    assert answer.headers["Retry-After"] == "1"
    problem = json.loads(answer.body)
    assert problem["status"] == 503 and "throttling" in problem["detail"]


def test_a_throttled_key_check_is_a_503(client, auth_headers, aws, caplog):
    with failing(wiring.dynamodb(), "GetItem", times=10,
                 code="ThrottlingException") as refused, caplog.at_level("WARNING"):
        answer = post(client, auth_headers, {"url": "https://example.com/a"})
    assert refused["failed"] >= 1
    _throttled(answer)
    assert_nothing_written(aws)
    assert any(r.getMessage() == "AWS throttled the request" and r.error == "ThrottlingException"
               for r in caplog.records)


def test_a_throttled_create_is_a_503_that_wrote_nothing(client, auth_headers, aws):
    with failing(wiring.dynamodb(), "TransactWriteItems", times=10,
                 code="ProvisionedThroughputExceededException") as refused:
        answer = post(client, auth_headers, {"url": "https://example.com/b"})
    assert refused["failed"] == 1
    _throttled(answer)
    assert_nothing_written(aws)
    assert post(client, auth_headers, {"url": "https://example.com/b"}).status_code == 201


def test_a_throttled_read_is_a_503(client, auth_headers, aws):
    with failing(wiring.dynamodb(), "Query", times=10, code="ThrottlingException"):
        answer = client.http.get("/api/links", headers=auth_headers)
    _throttled(answer)


def test_other_aws_failures_stay_a_500(client, auth_headers, aws):
    with failing(wiring.dynamodb(), "Query", times=10, code="InternalServerError"):
        answer = client.http.get("/api/links", headers=auth_headers)
    assert answer.status_code == 500
    assert answer.headers["Content-Type"] == PROBLEM
    assert "Retry-After" not in answer.headers
