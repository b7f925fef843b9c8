"""The emulator's Query (local/partitions.py) against moto's own: the same answers, page
for page, whatever the key condition, order, limit, filter, projection or index."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models.table import Table

from local import partitions

S = "S"
ITEMS = [
    {"pk": {S: f"p{p}"}, "sk": {S: f"{kind}#{n:03d}"}, "n": {"N": str(n)},
     "g": {S: f"g{n % 3}"}, "extra": {S: "x" * n}}
    for p in range(4) for kind in ("d", "h") for n in range(25)
] + [{"pk": {S: "p1"}, "sk": {S: "unindexed"}}]  # fmt: skip
QUERIES: list[dict[str, Any]] = [
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {S: "p1"}}},
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {S: "none"}}},
    {"KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
     "ExpressionAttributeValues": {":p": {S: "p2"}, ":a": {S: "d#005"}, ":b": {S: "h#003"}}},
    {"KeyConditionExpression": "pk = :p AND begins_with(sk, :h)",
     "ExpressionAttributeValues": {":p": {S: "p0"}, ":h": {S: "h#"}}, "ScanIndexForward": False},
    {"KeyConditionExpression": "pk = :p AND sk < :b", "Limit": 7,
     "ExpressionAttributeValues": {":p": {S: "p3"}, ":b": {S: "h#010"}}},
    {"KeyConditionExpression": "pk = :p", "FilterExpression": "n > :n",
     "ProjectionExpression": "pk, sk, g", "Limit": 9,
     "ExpressionAttributeValues": {":p": {S: "p1"}, ":n": {"N": "20"}}},
    {"IndexName": "by-g", "KeyConditionExpression": "g = :g",
     "ExpressionAttributeValues": {":g": {S: "g1"}}, "Limit": 11},
]  # fmt: skip


@contextlib.contextmanager
def implementation(name: str) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        if name == "ours":
            patch.setattr(Table, "query", partitions.partition_query(Table.query))
        yield


def pages(ddb: Any, query: dict[str, Any]) -> list[Any]:
    found, start = [], None
    while True:
        after = {"ExclusiveStartKey": start} if start else {}
        answer = ddb.query(TableName="t", **query, **after)
        found.append([answer["Items"], answer["Count"], answer["ScannedCount"]])
        start = answer.get("LastEvaluatedKey")
        if start is None:
            return found


def filled_table() -> Any:
    """Table t, its items, and an index `by-g` on g (a partition key alone)."""
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": S} for n in ("pk", "sk", "g")],
        GlobalSecondaryIndexes=[{"IndexName": "by-g", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}]}],
        BillingMode="PAY_PER_REQUEST",
    )  # fmt: skip
    for item in ITEMS:
        ddb.put_item(TableName="t", Item=item)
    return ddb


def answers(name: str) -> list[Any]:
    with implementation(name), mock_aws():
        ddb = filled_table()
        return [pages(ddb, query) for query in QUERIES]


def test_every_query_answers_as_moto_does_page_for_page() -> None:
    ours, moto = answers("ours"), answers("moto")
    assert ours == moto
    # The queries do reach items, several pages of them, and an empty partition.
    assert [sum(page[1] for page in found) for found in ours] == [51, 0, 24, 25, 35, 8, 64]
    assert len(ours[4]) == 6  # five full pages, then an empty one


def test_a_query_lists_only_the_items_it_can_answer() -> None:
    with implementation("ours"), mock_aws():
        ddb = filled_table()
        listed: list[int] = []
        original = partitions.PartitionView.all_items

        def counted(view: partitions.PartitionView) -> Any:
            items = original(view)
            listed.append(len(items))
            return items

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(partitions.PartitionView, "all_items", counted)
            patch.setattr(Table, "all_items", lambda table: pytest.fail("the whole table listed"))
            pages(ddb, QUERIES[0])
            index_pages = len(pages(ddb, QUERIES[-1]))
        # p1's items (one has no g); then, on each page of the index Query, g1's alone.
        assert listed == [51] + [64] * index_pages
