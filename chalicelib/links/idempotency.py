"""`Idempotency-Key` on POST /api/links: a client that lost the answer sends the same request
again with the same key and gets the link the first made, never a second link or text.

The key's record is one more Put in the link's create transaction (no extra AWS call):
`idem#<api key id>#<sha256 of the key>` / `idem`, holding the code and the request's
fingerprint, kept 24 hours (TTL). A request whose record already exists is a replay: the
same body answers the link as it is now, marked `Idempotent-Replayed: true`; another body
is a 422. A replay that arrives while the first request is still storing the redirect (or
after it died there, until the links stream puts the object back) is a 409 to retry. The
key is scoped to the API key that sent it."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.core.problems import BadRequest, Problem

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_CHARS = 255
KEY_PATTERN = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_CHARS}}}")  # visible ASCII
RETENTION_SECONDS = 24 * 3600
RECORD = "idem"


def parse_key(headers: Mapping[str, str]) -> str | None:
    """The request's Idempotency-Key, or None without one (400 for a malformed one)."""
    value = headers.get(HEADER.lower())
    if value is None:
        return None
    if not KEY_PATTERN.fullmatch(value):
        raise BadRequest(
            f"{HEADER} is 1-{MAX_KEY_CHARS} visible ASCII characters.", field=HEADER
        )
    return value


def reused() -> Problem:
    """The 422 of a key sent again with another body."""
    return Problem(422, f"This {HEADER} was used with a different request.", field=HEADER)


def replay_headers(replayed: bool) -> dict[str, str]:
    """The headers that mark an answer as a replay (none for a first answer)."""
    return {REPLAYED_HEADER: "true"} if replayed else {}


def fingerprint(body: Mapping[str, Any]) -> str:
    """The request's body as JSON says it (key order and spacing do not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class IdempotentCreate:
    """The record of one key's create: the creation step links' transaction carries."""

    table: str
    key_id: str
    idempotency_key: str
    request: str  # the body's fingerprint
    expires: int  # epoch seconds

    @property
    def key(self) -> dict[str, Any]:
        digest = hashlib.sha256(self.idempotency_key.encode()).hexdigest()
        return {"pk": {"S": f"{RECORD}#{self.key_id}#{digest}"}, "sk": {"S": RECORD}}

    def put(self, code: str, created_at: str) -> dict[str, Any]:
        return {
            "TableName": self.table,
            "Item": {
                **self.key,
                "code": {"S": code},
                "request": {"S": self.request},
                "created_at": {"S": created_at},
                "ttl": {"N": str(self.expires)},
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }


@dataclass(frozen=True)
class FirstCreate:
    """What the key's first request made."""

    code: str
    same_request: bool


class IdempotencyRecords:
    """The records of Idempotency-Keys, in the links table."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._ddb = dynamodb
        self._table = table

    def step(
        self, key_id: str, idempotency_key: str, body: Mapping[str, Any], now: float
    ) -> IdempotentCreate:
        return IdempotentCreate(
            self._table, key_id, idempotency_key, fingerprint(body),
            int(now) + RETENTION_SECONDS,
        )

    def first(self, step: IdempotentCreate) -> FirstCreate | None:
        """The key's first create (read consistently), or None when its record is gone."""
        item = self._ddb.get_item(
            TableName=self._table, Key=step.key, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        return FirstCreate(str(item["code"]["S"]), item["request"]["S"] == step.request)
