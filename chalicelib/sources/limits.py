"""Per-source rate limits: the one owner of the `source#<id>` / `rate#<minute>` counters.

A browser's write key is public, so each source may send at most its limit of events in
a calendar minute (UTC). A conditional UpdateItem adds events to the minute's counter
only if they fit: a refused request counts nothing, so a client that backs off as told
by Retry-After gets in next minute. Counters expire through TTL.

So that a busy source does not pay one UpdateItem per request, a container takes a share
of the minute at a time (a twentieth of the limit, or what the request needs if more) and
spends it from memory. A share left unspent when the minute ends is lost, so a source
may be refused up to one share per busy container early; it is never let past its limit.
"""

from __future__ import annotations

import math
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.core.problems import Problem

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient

TTL_ATTRIBUTE = "ttl"  # the app table's TTL attribute (infra/data.yaml)
_KEPT_FOR = timedelta(minutes=5)
SHARES_PER_MINUTE = 20


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
        self._shares: dict[tuple[str, datetime], int] = {}  # events left, by source and minute
        self._lock = threading.Lock()

    def take(self, source_id: str, limit: int, events: int, at: datetime) -> None:
        """Count `events` for this minute, or 429 (counting nothing) when over `limit`."""
        if events > limit:
            raise too_many(limit, at)
        key = (source_id, _minute(at))
        with self._lock:
            left = self._shares.get(key, 0)
            if left >= events:
                self._shares[key] = left - events
                return
            self._shares = {k: v for k, v in self._shares.items() if k[1] == key[1]}
            self._shares.pop(key, None)
        needed = events - left
        share = max(needed, limit // SHARES_PER_MINUTE)
        granted = share if self._count(source_id, limit, share, at) else 0
        if not granted and share > needed and self._count(source_id, limit, needed, at):
            granted = needed  # the rest of the minute still holds what this request needs
        with self._lock:
            kept = self._shares.get(key, 0) + left
            if not granted:
                self._shares[key] = kept  # what was left stays this container's
                raise too_many(limit, at)
            self._shares[key] = kept + granted - events

    def _count(self, source_id: str, limit: int, events: int, at: datetime) -> bool:
        """Add `events` to the minute's counter if they fit; whether they did."""
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
            return False
        return True
