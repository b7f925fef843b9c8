"""The emulator's state as tests read it (scans, streams, queues), the event shapes Lambda
hands our handlers, and fault injection into a real boto3 client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from chalicelib import wiring

ERROR_DOCUMENT = "expired.html"


def link_items(env: dict[str, str]) -> list[dict[str, Any]]:
    """Every item of the links table (a Scan: fine in a test, never on the hot path)."""
    answer = boto3.client("dynamodb").scan(TableName=env["LINKS_TABLE"])
    return list(answer["Items"])


def kinds(env: dict[str, str]) -> list[str]:
    return sorted(i["sk"]["S"] for i in link_items(env))


def redirect_objects(env: dict[str, str]) -> list[str]:
    answer = boto3.client("s3").list_objects_v2(Bucket=env["REDIRECT_BUCKET"])
    return [o["Key"] for o in answer.get("Contents", []) if o["Key"] != ERROR_DOCUMENT]


def record_message(env: dict[str, str], code: str, message: dict[str, str]) -> None:
    """Write a link's `message` attribute as messaging records it after a send."""
    boto3.client("dynamodb").update_item(
        TableName=env["LINKS_TABLE"],
        Key={"pk": {"S": f"link#{code}"}, "sk": {"S": "link"}},
        UpdateExpression="SET #m = :m",
        ExpressionAttributeNames={"#m": "message"},
        ExpressionAttributeValues={":m": {"M": {k: {"S": v} for k, v in message.items()}}},
    )


def assert_nothing_written(env: dict[str, str]) -> None:
    assert link_items(env) == []
    assert redirect_objects(env) == []


def all_items(ddb: Any = None) -> list[dict[str, Any]]:
    """Every item of every table (the privacy check reads everything)."""
    ddb = ddb or wiring.dynamodb()
    items: list[dict[str, Any]] = []
    for table in ddb.list_tables()["TableNames"]:
        kwargs: dict[str, Any] = {"TableName": table}
        while True:
            page = ddb.scan(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items


def stream_records(env: dict[str, str]) -> list[dict[str, Any]]:
    """Every record on the links table's stream, reshaped as Lambda delivers them."""
    streams = boto3.client("dynamodbstreams")
    arn = boto3.client("dynamodb").describe_table(TableName=env["LINKS_TABLE"])["Table"][
        "LatestStreamArn"
    ]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for raw in streams.get_records(ShardIterator=iterator)["Records"]:
            record = json.loads(json.dumps(raw, default=lambda d: d.timestamp()))
            record["eventSourceARN"] = arn
            record["awsRegion"] = "us-east-1"
            record["dynamodb"]["ApproximateCreationDateTime"] = float(
                record["dynamodb"].get("ApproximateCreationDateTime") or time.time()
            )
            records.append(record)
    return records


def link_removals(env: dict[str, str]) -> list[dict[str, Any]]:
    return [
        r
        for r in stream_records(env)
        if r["eventName"] == "REMOVE" and r["dynamodb"]["Keys"]["sk"]["S"] == "link"
    ]


def sqs_record(message: dict[str, Any], queue_url: str) -> dict[str, Any]:
    """One record of the event Lambda hands an SQS handler, from a received message."""
    name = queue_url.rsplit("/", 1)[1]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{name}",
        "awsRegion": "us-east-1",
    }


@contextmanager
def failing(
    client: Any, operation: str, *, times: int = 1, after: int = 0, code: str = "InternalError"
) -> Iterator[dict[str, int]]:
    """The real (moto-backed) client answers `operation` with an AWS 500 error `times`
    times, after letting `after` calls through: a botocore before-call hook answers in
    moto's place, so botocore raises the ClientError it would raise for AWS's answer."""
    seen = {"calls": 0, "failed": 0}

    def answer(**_: Any) -> Any:
        seen["calls"] += 1
        if seen["calls"] <= after or seen["failed"] >= times:
            return None  # through to moto
        seen["failed"] += 1
        error = {"Code": code, "Message": "injected by the test"}
        return AWSResponse("https://aws.invalid/", 500, {}, None), {
            "Error": error,
            "ResponseMetadata": {"HTTPStatusCode": 500},
        }

    event = f"before-call.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    client.meta.events.register(event, answer)
    try:
        yield seen
    finally:
        client.meta.events.unregister(event, answer)
