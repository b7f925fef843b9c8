"""The reads over the links table's indexes: one page of links and tombstones newest
first (gsi1 "links", or gsi2 for one campaign), and the expiry markers due by a moment
(gsi1 "expiry#<shard>"). See items.py for the index layout. Counter items are in no
index: a page's live links get their counts from one BatchGetItem of their counters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, cast

from chalicelib.core.aws import batch_get, query_pages
from chalicelib.links.items import (
    COUNTED,
    COUNTER,
    EXPIRY_SHARDS,
    LINK,
    LIST_PARTITION,
    due_by,
    from_item,
    link_key,
    merged,
)
from chalicelib.links.model import ListQuery, decode_cursor, encode_cursor

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient


class MessageStatus(TypedDict):
    status: NotRequired[str]


class CampaignLinkSummary(TypedDict):
    """What a campaign's statistics read of one of its links or tombstones."""

    sk: str  # "link" or "tombstone"
    code: str
    human_clicks: NotRequired[int]
    message: NotRequired[MessageStatus | None]


LIST_READS = 10  # Queries per page at most, when a filter skips most items
COUNT_READS = 5  # BatchGetItems per 100 counters at most (unprocessed keys are read again)


def list_filter(query: ListQuery, at_epoch: int) -> tuple[str, dict[str, Any]]:
    """The FilterExpression (and its values) of a list query's filters, all of which must
    hold. Tombstones are told from live links by their ended_at (the index's items are
    links and tombstones only); a missing expires_at compares as neither past nor not."""
    clauses: list[str] = []
    values: dict[str, Any] = {}
    if query.tag:
        clauses.append("contains(tags, :tag)")
        values[":tag"] = {"S": query.tag}
    if query.q:
        clauses.append("(contains(code, :q) OR contains(long_url, :q) OR contains(tags, :q))")
        values[":q"] = {"S": query.q}
    if query.status == "active":
        clauses.append(
            "(attribute_not_exists(ended_at) AND "
            "(attribute_not_exists(expires_at) OR expires_at > :now))"
        )
        values[":now"] = {"N": str(at_epoch)}
    elif query.status == "ended":
        clauses.append("(attribute_exists(ended_at) OR expires_at <= :now)")
        values[":now"] = {"N": str(at_epoch)}
    return " AND ".join(clauses), values


class LinkIndexes:
    """Queries on the links table's indexes. Handed its client and the table's name."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._ddb = dynamodb
        self._table = table

    def campaign_links(self, campaign_id: str) -> Iterator[CampaignLinkSummary]:
        """Every link and tombstone of a campaign (gsi2), as much of each as its
        statistics count: kind, code, human clicks and the message's status."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi2",
            "KeyConditionExpression": "gsi2pk = :p",
            "ExpressionAttributeValues": {":p": {"S": f"campaign#{campaign_id}"}},
            "ProjectionExpression": "sk, code, human_clicks, #m.#s",
            "ExpressionAttributeNames": {"#m": "message", "#s": "status"},
        }
        for page in query_pages(self._ddb, kwargs):
            rows = self.with_counts([from_item(raw) for raw in page.get("Items", [])])
            for row in rows:
                # The projection above: link items and tombstones carry these attributes.
                yield cast(CampaignLinkSummary, row)

    def page(self, query: ListQuery, at_epoch: int) -> tuple[list[dict[str, Any]], str | None]:
        """One page of links and tombstones (plain values), newest first, and the cursor
        of the next page (None on the last). `at_epoch` is the moment status compares
        expiries with."""
        if query.campaign_id:
            index, partition = "gsi2", f"campaign#{query.campaign_id}"
        else:
            index, partition = "gsi1", LIST_PARTITION
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": f"{index}pk = :p",
            "ExpressionAttributeValues": {":p": {"S": partition}},
            "ScanIndexForward": False,
            "Limit": query.limit,
        }
        if query.cursor:
            kwargs["ExclusiveStartKey"] = decode_cursor(query.cursor, index, partition)
        if query.filtered:
            # A filtered Query: reads the partition newest first and keeps the matches.
            # Read cost grows with the items skipped; pages stay bounded by LIST_READS.
            expression, values = list_filter(query, at_epoch)
            kwargs["FilterExpression"] = expression
            kwargs["ExpressionAttributeValues"].update(values)
            kwargs["Limit"] = max(query.limit, 100)
        keys = ("pk", "sk", f"{index}pk", f"{index}sk")
        found, next_key = self._read_page(kwargs, query.limit, keys)
        rows = self.with_counts([from_item(i) for i in found])
        return rows, encode_cursor(next_key) if next_key else None

    def with_counts(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows with each live link's counts merged in from its counter (tombstones
        hold theirs): one BatchGetItem per 100 live links, of just the counts. A counter
        still unread after COUNT_READS reads shows its link's own counts (0)."""
        codes = [str(row["code"]) for row in rows if row.get("sk") == LINK]
        read = batch_get(
            self._ddb, self._table, [link_key(code, COUNTER) for code in codes],
            projection=", ".join(("code", *COUNTED)), calls=COUNT_READS,
        )  # fmt: skip
        counts = {str(raw["code"]["S"]): from_item(raw) for raw in read.items}
        return [
            merged(row, counts.get(str(row["code"]))) if row.get("sk") == LINK else row
            for row in rows
        ]

    def _read_page(
        self, kwargs: dict[str, Any], limit: int, keys: tuple[str, ...]
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        found: list[dict[str, Any]] = []
        next_key: dict[str, Any] | None = None
        for _ in range(LIST_READS):
            page = self._ddb.query(**kwargs)
            items = page.get("Items", [])
            for position, raw in enumerate(items):
                found.append(dict(raw))
                if len(found) == limit:
                    more = position < len(items) - 1 or "LastEvaluatedKey" in page
                    next_key = {k: raw[k] for k in keys} if more else None
                    break
            else:
                next_key = dict(page["LastEvaluatedKey"]) if "LastEvaluatedKey" in page else None
            if len(found) == limit or next_key is None:
                break
            kwargs["ExclusiveStartKey"] = next_key
        return found, next_key

    def due_markers(self, at_epoch: int, page_size: int) -> Iterator[list[dict[str, Any]]]:
        """Pages of expiry markers (plain values) due by `at_epoch`: Queries on the sparse
        marker index, never a Scan, oldest first within a shard, the shards in turn. Each
        page continues where that shard's last one ended, so a marker that cannot be acted
        on now (a link clicked while it was retired) is not met again in the same sweep."""
        start_keys: dict[int, dict[str, Any] | None] = dict.fromkeys(range(EXPIRY_SHARDS))
        while start_keys:
            for shard, start_key in list(start_keys.items()):
                query: dict[str, Any] = {
                    "TableName": self._table,
                    "IndexName": "gsi1",
                    "KeyConditionExpression": "gsi1pk = :p AND gsi1sk <= :due",
                    "ExpressionAttributeValues": {
                        ":p": {"S": f"expiry#{shard}"},
                        ":due": {"S": due_by(at_epoch)},
                    },
                    "Limit": page_size,
                }
                if start_key is not None:
                    query["ExclusiveStartKey"] = start_key
                answer = self._ddb.query(**query)
                if answer.get("LastEvaluatedKey"):
                    start_keys[shard] = dict(answer["LastEvaluatedKey"])
                else:
                    del start_keys[shard]
                if answer.get("Items"):
                    yield [from_item(item) for item in answer["Items"]]
