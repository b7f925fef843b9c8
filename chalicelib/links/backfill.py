"""Counter items for links stored before them. The edge counts a click on the link's
counter item; a link without one is answered by S3's redirect, uncounted. After upgrading
a stage, `linktrail migrate counters --stage STAGE` writes each such link's counter once,
carrying the counts its link item held."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.core.aws import query_items
from chalicelib.links.items import COUNTED, LINK, LIST_PARTITION, counter_for, from_item, to_item

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient


@dataclass
class Backfilled:
    links: int = 0  # live links read
    written: int = 0  # counters written now (the others had one)


def backfill_counters(dynamodb: DynamoDBClient, table: str) -> Backfilled:
    """Write the missing counter of every live link, page by page over the list index.
    Idempotent: a counter that exists is never overwritten (conditional put)."""
    done = Backfilled()
    query: dict[str, Any] = {
        "TableName": table,
        "IndexName": "gsi1",
        "KeyConditionExpression": "gsi1pk = :p",
        "ExpressionAttributeValues": {":p": {"S": LIST_PARTITION}},
    }
    for raw in query_items(dynamodb, query):
        if raw.get("sk", {}).get("S") != LINK:
            continue  # tombstones keep their own counts
        done.links += 1
        done.written += _put_missing(dynamodb, table, from_item(raw))
    return done


def _put_missing(dynamodb: DynamoDBClient, table: str, link: dict[str, Any]) -> bool:
    counter: dict[str, Any] = dict(counter_for(link))
    counter.update({name: link[name] for name in COUNTED if name in link})
    try:
        dynamodb.put_item(
            TableName=table, Item=to_item(counter), ConditionExpression="attribute_not_exists(pk)"
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True
