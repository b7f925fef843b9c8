"""Hops: the one owner of hop items in the app table (keys, shape, reads).

    hop   pk "hop#<day>#<visitor>", sk "<iso>#<rand>"
          site, to_page, at, ttl [, from_page] [, from_site: a hop from another site]
          gsi1: "hops#<day>", "<visitor>#<iso>#<rand>"

A visitor's journey is one Query on their partition; a day's flows one Query (paginated)
of gsi1. Nothing Scans. gsi1 is shared (the key store lists keys under gsi1pk "apikey"):
journey partitions always start with "hops#".
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.core.aws import query_items
from chalicelib.core.clock import iso

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient
    from types_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        QueryInputTypeDef,
    )

DAY_INDEX_PREFIX = "hops#"
UNKNOWN_PAGE = "(unknown)"


@dataclass(frozen=True)
class Hop:
    """One hop as its visitor sees it on /journey."""

    at: datetime
    from_page: str | None  # None: the browser sent no Ping-From (cross-origin https page)
    to_page: str


@dataclass(frozen=True)
class NewHop:
    """A hop to store: the visitor's hash stands in for the visitor."""

    visitor_id: str
    at: datetime  # UTC
    site: str
    to_page: str
    from_page: str | None = None
    from_site: str | None = None  # only when it is another configured site


@dataclass(frozen=True)
class DayHop:
    """A hop as a day's flows read it (gsi1: ordered by visitor, then time)."""

    visitor_id: str
    site: str
    to_page: str
    from_page: str | None
    from_site: str | None


def _partition(day: date, visitor_id: str) -> str:
    return f"hop#{day.isoformat()}#{visitor_id}"


class HopStore:
    """Hop items, kept `retention` and then deleted by DynamoDB TTL."""

    def __init__(self, dynamodb: DynamoDBClient, table: str, retention: timedelta) -> None:
        self._ddb = dynamodb
        self._table = table
        self._retention = retention

    def put(self, hop: NewHop) -> None:
        """One PutItem."""
        day = hop.at.date().isoformat()
        moment = f"{iso(hop.at)}#{secrets.token_hex(4)}"
        item: dict[str, AttributeValueTypeDef] = {
            "pk": {"S": _partition(hop.at.date(), hop.visitor_id)},
            "sk": {"S": moment},
            "gsi1pk": {"S": f"{DAY_INDEX_PREFIX}{day}"},
            "gsi1sk": {"S": f"{hop.visitor_id}#{moment}"},
            "site": {"S": hop.site},
            "to_page": {"S": hop.to_page},
            "at": {"S": iso(hop.at)},
            "ttl": {"N": str(int((hop.at + self._retention).timestamp()))},
        }
        if hop.from_page is not None:
            item["from_page"] = {"S": hop.from_page}
        if hop.from_site is not None and hop.from_site != hop.site:
            item["from_site"] = {"S": hop.from_site}
        self._ddb.put_item(TableName=self._table, Item=item)

    def latest(self, day: date, visitor_id: str, limit: int) -> list[Hop]:
        """The visitor's latest `limit` hops of `day`, oldest first: one Query."""
        newest_first = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": _partition(day, visitor_id)}},
            ScanIndexForward=False,
            Limit=limit,
        ).get("Items", [])
        return [
            Hop(
                at=datetime.fromisoformat(item["at"]["S"].replace("Z", "+00:00")),
                from_page=item["from_page"]["S"] if "from_page" in item else None,
                to_page=item["to_page"]["S"],
            )
            for item in reversed(newest_first)
        ]

    def of_day(self, day: date) -> Iterator[DayHop]:
        """Every hop of `day`, by visitor then time (gsi1, paginated)."""
        query: QueryInputTypeDef = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": {"S": f"{DAY_INDEX_PREFIX}{day.isoformat()}"}},
            "ProjectionExpression": "gsi1sk, from_page, to_page, site, from_site",
        }
        for item in query_items(self._ddb, query):
            yield _day_hop(item)


def _day_hop(item: Mapping[str, AttributeValueTypeDef]) -> DayHop:
    return DayHop(
        visitor_id=item["gsi1sk"]["S"].split("#", 1)[0],
        site=item["site"]["S"] if "site" in item else "",
        to_page=item["to_page"]["S"],
        from_page=item["from_page"]["S"] if "from_page" in item else None,
        from_site=item["from_site"]["S"] if "from_site" in item else None,
    )
