"""The local stream pump against moto: records keep flowing after a cancelled transaction
(moto undoes one by putting a copy of the table, and of its stream shard, in place)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest


def test_records_keep_flowing_after_a_cancelled_transaction(aws: dict[str, str]) -> None:
    from local.pumps import StreamPump, TtlLedger

    ddb = boto3.client("dynamodb")
    table = aws["LINKS_TABLE"]
    stream_arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    seen: list[str] = []

    def handler(event: dict[str, Any], _context: Any) -> None:
        seen.extend(r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"])

    pump = StreamPump(boto3.client("dynamodbstreams"), stream_arn, table, {"h": handler},
                      TtlLedger())

    def put(pk: str) -> None:
        ddb.put_item(TableName=table, Item={"pk": {"S": pk}, "sk": {"S": "probe"}})

    put("before")
    assert pump.poll() == 1
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(TransactItems=[{"Put": {
            "TableName": table,
            "Item": {"pk": {"S": "before"}, "sk": {"S": "probe"}},
            "ConditionExpression": "attribute_not_exists(pk)",  # taken: cancelled
        }}])
    put("after")
    assert pump.poll() == 1
    assert pump.poll() == 0  # each record once
    assert seen == ["before", "after"]
