"""Per-source rate limits: the one owner of the `source#<id>` / `rate#<minute>` counters.

A browser's write key is public, so each source may send at most its limit of events in
a calendar minute (UTC). One conditional UpdateItem per request adds the request's events
to the minute's counter only if they fit: a refused request counts nothing, so a client
that backs off as told by Retry-After gets in next minute. Counters expire through TTL.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.core.problems import Problem

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient

TTL_ATTRIBUTE = "ttl"  # the app table's TTL attribute (infra/data.yaml)
_KEPT_FOR = timedelta(minutes=5)


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def retry_after(at: datetime) -> int:
    """Whole seconds until the next minute starts (at least 1)."""
    left = (_minute(at) + timedelta(minutes=1) - at).total_seconds()
    return max(1, math.ceil(left))


def too_many(limit: int, at: datetime) -> Problem:
    return Problem(
        429,
        f"This write key may send {limit} events a minute; retry after the minute ends.",
        headers={"Retry-After": str(retry_after(at))},
        extra={"rate_limit_per_minute": limit},
    )


class RateLimits:
    """Counts each source's events per minute in the app table."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._ddb = dynamodb
        self._table = table

    def take(self, source_id: str, limit: int, events: int, at: datetime) -> None:
        """Count `events` for this minute, or 429 (counting nothing) when over `limit`."""
        if events > limit:
            raise too_many(limit, at)
        minute = _minute(at)
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"source#{source_id}"},
                     "sk": {"S": f"rate#{minute.strftime('%Y-%m-%dT%H:%M')}"}},
                UpdateExpression="ADD events :n SET #ttl = if_not_exists(#ttl, :ttl)",
                ConditionExpression="attribute_not_exists(events) OR events <= :room",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":n": {"N": str(events)},
                    ":room": {"N": str(limit - events)},
                    ":ttl": {"N": str(int((minute + _KEPT_FOR).timestamp()))},
                },
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            raise too_many(limit, at) from None
