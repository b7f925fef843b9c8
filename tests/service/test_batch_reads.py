"""core/aws.batch_get against moto: 100 keys a call, unprocessed keys asked again after a
doubling pause, and what DynamoDB never processed handed back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from chalicelib.core.aws import batch_get


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for n in range(0, 250, 2):  # the even keys exist
            ddb.put_item(TableName="t", Item={"pk": {"S": f"k{n:03d}"}, "n": {"N": str(n)}})
        yield ddb


def keys(count: int) -> list[dict[str, Any]]:
    return [{"pk": {"S": f"k{n:03d}"}} for n in range(count)]


class Throttled:
    """Answers BatchGetItem for DynamoDB, leaving keys unprocessed: all of them on the
    first `refusals` calls of each request, then none (moto answers). Counts the keys
    each call asked for."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.asked: list[int] = []

    def __call__(self, params: dict[str, Any], **_: Any) -> Any:
        request = json.loads(params["body"])["RequestItems"]
        self.asked.append(len(request["t"]["Keys"]))
        if len(self.asked) % (self.refusals + 1) == 0:
            return None
        answer = {"Responses": {"t": []}, "UnprocessedKeys": request}
        return AWSResponse("https://aws.invalid/", 200, {}, None), answer


def test_a_hundred_keys_a_call_and_absent_items_left_out(table: Any) -> None:
    counted = Throttled(refusals=0)
    table.meta.events.register("before-call.dynamodb.BatchGetItem", counted)
    read = batch_get(table, "t", keys(250), projection="pk, n", consistent=True)
    assert counted.asked == [100, 100, 50]
    assert sorted(int(item["n"]["N"]) for item in read.items) == list(range(0, 250, 2))
    assert read.unread == []


def test_unprocessed_keys_are_asked_again_after_a_doubling_pause(table: Any) -> None:
    throttled, pauses = Throttled(refusals=2), []
    table.meta.events.register("before-call.dynamodb.BatchGetItem", throttled)
    read = batch_get(table, "t", keys(150), sleep=pauses.append)
    assert throttled.asked == [100, 100, 100, 50, 50, 50]
    assert pauses == [0.05, 0.1, 0.05, 0.1]
    assert len(read.items) == 75 and read.unread == []


def test_keys_still_unprocessed_after_every_call_are_handed_back(table: Any) -> None:
    throttled, pauses = Throttled(refusals=10), []
    table.meta.events.register("before-call.dynamodb.BatchGetItem", throttled)
    read = batch_get(table, "t", keys(120), calls=3, sleep=pauses.append)
    assert throttled.asked == [100, 100, 100, 20, 20, 20]
    assert read.items == [] and read.unread == keys(120)
    assert pauses == [0.05, 0.1, 0.05, 0.1]
