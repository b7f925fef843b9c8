"""The emulator's DynamoDB answers (local/serialization.py) against moto's own: the same
items, read back through GetItem, Query, Scan, BatchGetItem, UpdateItem's ReturnValues
and the table's stream, whatever types they hold."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import serialize

from local import serialization

WIDE = {f"link.h.code{n:04d}": {"N": str(n)} for n in range(300)}
ITEMS: list[dict[str, Any]] = [
    {"pk": {"S": "wide"}, "sk": {"S": "d#1"}, **WIDE},
    {"pk": {"S": "kinds"}, "sk": {"S": "1"}, "n": {"N": "-1.5e3"}, "t": {"BOOL": True},
     "f": {"BOOL": False}, "z": {"NULL": True}, "ss": {"SS": ["a", "b"]},
     "ns": {"NS": ["1", "2.5"]}, "e": {"S": ""}, "u": {"S": "zürich ✓"},
     "m": {"M": {"x": {"L": [{"N": "1"}, {"S": "y"}, {"M": {}}, {"L": []}]}}}},
    {"pk": {"S": "binary"}, "sk": {"S": "1"}, "b": {"B": b"\x00\xff"},
     "bs": {"BS": [b"a", b"b"]}, "m": {"M": {"inner": {"B": b"\x01"}}}},
]


@contextlib.contextmanager
def implementation(name: str) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        if name == "ours":
            original = serialize.BaseJSONSerializer._serialize_type_map
            patch.setattr(serialize.BaseJSONSerializer, "_serialize_type_map",
                          serialization.fast(original))
        yield


def answers(name: str) -> list[Any]:
    with implementation(name), mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                       {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        for item in ITEMS:
            ddb.put_item(TableName="t", Item=item)
        keys = [{"pk": item["pk"], "sk": item["sk"]} for item in ITEMS]
        found: list[Any] = [ddb.get_item(TableName="t", Key=key)["Item"] for key in keys]
        found.append(ddb.query(TableName="t", KeyConditionExpression="pk = :p",
                               ExpressionAttributeValues={":p": {"S": "wide"}})["Items"])
        found.append(sorted(ddb.scan(TableName="t")["Items"], key=lambda i: i["pk"]["S"]))
        batch = ddb.batch_get_item(RequestItems={"t": {"Keys": keys}})["Responses"]["t"]
        found.append(sorted(batch, key=lambda i: i["pk"]["S"]))
        found.append(ddb.update_item(
            TableName="t", Key=keys[1], UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="ALL_NEW",
        )["Attributes"])
        streams = boto3.client("dynamodbstreams", region_name="us-east-1")
        arn = ddb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
        [shard] = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = streams.get_records(ShardIterator=iterator)["Records"]
        found.append([r["dynamodb"].get("NewImage") for r in records])
        return found


def test_answers_are_the_same_as_moto_gives() -> None:
    theirs, ours = answers("moto"), answers("ours")
    assert ours == theirs
    assert ours[0] == ITEMS[0] and ours[2]["b"] == {"B": b"\x00\xff"}


@pytest.mark.parametrize("value", [
    {"S": "x"}, {"N": "1"}, {"BOOL": False}, {"NULL": True}, {"SS": ["a"]}, {"NS": ["1"]},
    {"M": {"a": {"L": [{"S": "b"}]}}}, {"L": []},
])
def test_plain_values_are_copied_whole(value: dict[str, Any]) -> None:
    assert serialization.plain(value)


@pytest.mark.parametrize("value", [
    {"B": "AP8="}, {"BS": ["AP8="]}, {"N": 1}, {"S": None}, {"NULL": False},
    {"M": {"a": {"B": "AA=="}}}, {"L": [{"S": "a"}, {"BS": []}]}, {"S": "a", "N": "1"}, "x",
])
def test_anything_else_takes_motos_path(value: Any) -> None:
    assert not serialization.plain(value)
