"""Write keys, one per source: created, listed and revoked by operators; checked on every
Tracking API call. The one owner of the `source#<id>` / `source` items of the app table.

A write key reads `wk_<source_id>_<secret>` (letters and digits only: analytics-next puts
it in a URL path). As with API keys, only SHA-256(secret) is stored, a lookup is one
GetItem, the comparison is constant-time and an unknown id costs the same work. A write
key sends events and nothing else: the /api middleware knows only API keys.

Each source has a name, the browser origins it may send from (CORS is answered per key),
and a rate limit in events a minute (limits.py), since a browser's key is public. A
container may serve a checked key from memory for WRITE_KEY_CACHE_SECONDS (30 in AWS,
0 locally): a revoked key stops within that time everywhere, at once in the container
that revoked it.
A source without origins is a server source: its key is a secret, so its identify calls
link anonymous ids without a user_hash (tracking/proof.py).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.core.aws import query_items
from chalicelib.core.clock import iso, now
from chalicelib.core.problems import BadRequest, Problem
from chalicelib.tracking.cors import canonical_origin

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient

WRITE_KEY_PATTERN = re.compile(r"^wk_([A-Za-z0-9]{12})_([A-Za-z0-9]{32,64})\Z")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9 ._-]{1,64}\Z")
DEFAULT_RATE_LIMIT = 6000  # events a minute
MAX_RATE_LIMIT = 1_000_000
MAX_ORIGINS = 50
_LIST_PARTITION = "source"
_CACHE_LIMIT = 10_000
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def unauthorized(detail: str = "Unknown or revoked write key.") -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": 'Basic realm="linktrail sources"'})


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_DUMMY_HASH = _hash(secrets.token_hex(24))


def item_key(source_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"source#{source_id}"}, "sk": {"S": "source"}}


@dataclass(frozen=True)
class Source:
    source_id: str
    name: str
    origins: tuple[str, ...]
    rate_limit: int
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def server(self) -> bool:
        """A server source's key never reaches a browser: no origins may use it."""
        return not self.origins

    def allows(self, origin: str | None) -> bool:
        found = canonical_origin(origin)
        return found is not None and found in self.origins

    def to_public(self) -> dict[str, Any]:
        return {
            "source_id": self.source_id,
            "name": self.name,
            "origins": list(self.origins),
            "rate_limit_per_minute": self.rate_limit,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
            "status": "active" if self.active else "revoked",
        }


@dataclass(frozen=True)
class NewSource:
    """What `create` hands back once: the source and its write key."""

    source: Source
    write_key: str


def checked_origins(origins: Iterable[Any]) -> tuple[str, ...]:
    """The origins in canonical form, or a 400 naming the first bad one."""
    found: list[str] = []
    for index, origin in enumerate(origins):
        canonical = canonical_origin(origin) if isinstance(origin, str) else None
        if canonical is None:
            raise BadRequest(f"origins[{index}] is not an http(s) origin (scheme://host[:port]).",
                             field="origins")
        found.append(canonical)
    unique = tuple(dict.fromkeys(found))
    if len(unique) > MAX_ORIGINS:
        raise BadRequest(f"at most {MAX_ORIGINS} origins per source", field="origins")
    return unique


def checked_rate_limit(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RATE_LIMIT:
        raise BadRequest(f"rate_limit_per_minute must be an integer from 1 to {MAX_RATE_LIMIT}",
                         field="rate_limit_per_minute")
    return value


class WriteKeys:
    """Sources and their write keys in the app table. Handed a DynamoDB client."""

    def __init__(self, dynamodb: DynamoDBClient, table: str, cache_seconds: float = 0.0) -> None:
        self._ddb = dynamodb
        self._table = table
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, tuple[Source, str] | None]] = {}
        self._lock = threading.Lock()

    def create(
        self,
        name: str,
        origins: Iterable[Any] = (),
        rate_limit: int = DEFAULT_RATE_LIMIT,
        write_key: str | None = None,
    ) -> NewSource:
        """A new source (400 on a bad name, origin or limit); `write_key` reuses a key."""
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise BadRequest("name: 1-64 letters, digits, spaces, '.', '_' or '-'", field="name")
        allowed = checked_origins(origins)
        limit = checked_rate_limit(rate_limit)
        if write_key is None:
            source_id = "".join(secrets.choice(_ALPHABET) for _ in range(12))
            write_key = f"wk_{source_id}_{''.join(secrets.choice(_ALPHABET) for _ in range(40))}"
        match = WRITE_KEY_PATTERN.match(write_key)
        if not match:
            raise BadRequest("write key does not have the wk_<id>_<secret> shape",
                             field="write_key")
        source_id, secret = match.groups()
        created_at = iso(now())
        item: dict[str, Any] = {
            **item_key(source_id),
            "gsi1pk": {"S": _LIST_PARTITION},
            "gsi1sk": {"S": f"{created_at}#{source_id}"},
            "source_id": {"S": source_id},
            "name": {"S": name},
            "rate_limit": {"N": str(limit)},
            "secret_hash": {"S": _hash(secret)},
            "created_at": {"S": created_at},
        }
        if allowed:
            item["origins"] = {"L": [{"S": o} for o in allowed]}
        self._ddb.put_item(TableName=self._table, Item=item,
                           ConditionExpression="attribute_not_exists(pk)")
        return NewSource(Source(source_id, name, allowed, limit, created_at), write_key)

    def list(self) -> list[Source]:
        query = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": {"S": _LIST_PARTITION}},
        }
        return [_from_item(item) for item in query_items(self._ddb, query)]

    def revoke(self, source_id: str) -> Source:
        try:
            answer = self._ddb.update_item(
                TableName=self._table,
                Key=item_key(source_id),
                UpdateExpression="SET revoked_at = if_not_exists(revoked_at, :t)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":t": {"S": iso(now())}},
                ReturnValues="ALL_NEW",
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            raise Problem(404, f"no source {source_id!r}", field="source_id") from None
        with self._lock:
            self._cache.pop(source_id, None)
        return _from_item(answer["Attributes"])

    def authenticate(self, write_key: str | None) -> Source:
        """The active source of this write key, or 401."""
        if not write_key:
            raise unauthorized("A write key is required: HTTP Basic auth with the write key "
                               "as user name, or writeKey in the body.")
        match = WRITE_KEY_PATTERN.match(write_key)
        if not match:
            raise unauthorized()
        source_id, secret = match.groups()
        found = self._lookup(source_id)
        source, stored = found if found is not None else (None, _DUMMY_HASH)
        matches = hmac.compare_digest(_hash(secret), stored)
        if source is None or not matches or not source.active:
            raise unauthorized()
        return source

    def _lookup(self, source_id: str) -> tuple[Source, str] | None:
        # As API keys (system/keys.py): unknown ids are cached too, so timing tells nothing.
        if self._cache_seconds > 0:
            with self._lock:
                cached = self._cache.get(source_id)
            if cached and cached[0] > time.monotonic():
                return cached[1]
        item = self._ddb.get_item(TableName=self._table, Key=item_key(source_id)).get("Item")
        result = (_from_item(item), item["secret_hash"]["S"]) if item is not None else None
        if self._cache_seconds > 0:
            with self._lock:
                if len(self._cache) >= _CACHE_LIMIT:  # random ids must not grow it forever
                    self._cache.clear()
                self._cache[source_id] = (time.monotonic() + self._cache_seconds, result)
        return result


def _from_item(item: dict[str, Any]) -> Source:
    revoked = item.get("revoked_at")
    return Source(
        source_id=item["source_id"]["S"],
        name=item["name"]["S"],
        origins=tuple(o["S"] for o in item.get("origins", {}).get("L", [])),
        rate_limit=int(item["rate_limit"]["N"]),
        created_at=item["created_at"]["S"],
        revoked_at=revoked["S"] if revoked else None,
    )
