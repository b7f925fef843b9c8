"""Daily salts: the one owner of salt items in the app table.

The salt is 32 random bytes per UTC day, created on first use and deleted by DynamoDB TTL
48 hours after its day began (and by the hourly sweep once it is older than yesterday).
Once it is gone (or past its TTL and not yet swept) no one, including us, can link a
stored visitor hash to an IP and user agent again.

    salt    pk "salt", sk "<day>"    salt B, created_at S, ttl N = day + 48 h
"""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.core.clock import Clock, iso, now

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient
    from types_boto3_dynamodb.type_defs import AttributeValueTypeDef

SALT_BYTES = 32
SALT_PARTITION = "salt"



def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def salt_expiry(day: date) -> int:
    """Epoch seconds at which a day's salt expires: the end of that day plus 24 h."""
    return int((day_start(day) + timedelta(days=2)).timestamp())


class SaltStore:
    """Today's salt, cached in memory; created with a conditional put on first use.

    Steady state costs no AWS call at all. A salt older than yesterday, or past its TTL
    but not yet swept by DynamoDB, is treated as gone and is never created again.
    """

    def __init__(self, dynamodb: DynamoDBClient, table: str, clock: Clock = now) -> None:
        self._ddb = dynamodb
        self._table = table
        self._clock = clock
        self._cache: dict[date, bytes] = {}
        self._lock = threading.Lock()

    def today(self) -> date:
        return self._clock().astimezone(UTC).date()

    def salt(self, day: date, *, create: bool = False) -> bytes | None:
        """The salt of `day` (today or yesterday), or None. Only today's may be created."""
        today = self.today()
        with self._lock:
            for cached_day in [d for d in self._cache if d < today - timedelta(days=1)]:
                del self._cache[cached_day]
            if day < today - timedelta(days=1) or day > today:
                return None
            cached = self._cache.get(day)
        if cached is not None:
            return cached
        found = self._read(day)
        if found is None and create and day == today:
            found = self._create(day)
        if found is not None:
            with self._lock:
                self._cache[day] = found
        return found

    def _key(self, day: date) -> dict[str, AttributeValueTypeDef]:
        return {"pk": {"S": SALT_PARTITION}, "sk": {"S": day.isoformat()}}

    def _read(self, day: date) -> bytes | None:
        item = self._ddb.get_item(TableName=self._table, Key=self._key(day), ConsistentRead=True)
        found = item.get("Item")
        if not found or int(found["ttl"]["N"]) <= int(self._clock().timestamp()):
            return None
        return bytes(found["salt"]["B"])

    def _create(self, day: date) -> bytes | None:
        salt = secrets.token_bytes(SALT_BYTES)
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item={
                    **self._key(day),
                    "salt": {"B": salt},
                    "created_at": {"S": iso(self._clock())},
                    "ttl": {"N": str(salt_expiry(day))},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return self._read(day)  # another instance created it first: use theirs
        return salt

    def delete_expired(self) -> list[str]:
        """Delete salts older than yesterday now, instead of whenever DynamoDB TTL gets to
        them ("within a few days"): once gone, nobody can recompute that day's hashes."""
        oldest_kept = (self.today() - timedelta(days=1)).isoformat()
        found = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :p AND sk < :d",
            ExpressionAttributeValues={":p": {"S": SALT_PARTITION}, ":d": {"S": oldest_kept}},
            ProjectionExpression="pk, sk",
            ConsistentRead=True,
        ).get("Items", [])
        for item in found:
            self._ddb.delete_item(TableName=self._table, Key={"pk": item["pk"], "sk": item["sk"]})
        with self._lock:
            for cached_day in [d for d in self._cache if d.isoformat() < oldest_kept]:
                del self._cache[cached_day]
        return [item["sk"]["S"] for item in found]
