"""API keys: created, listed and revoked by operators; checked on every /api route.

A key reads `lt_<key_id>_<secret>`. Only SHA-256(secret) is stored, under the key id, so
a lookup is one GetItem and the comparison is constant-time. A key id that does not exist
costs the same hashing and comparison (against a dummy hash), so the answer's timing does
not tell which key ids exist. Each key has a role (`roles.py`) and a webhook signing
secret (click webhooks are signed with it), shown once at creation.

Checks are done by the app, not by an API Gateway authorizer: one error format for free,
the same behaviour under `chalice local`, and a revoked key stops working at once (the
optional in-process cache, `API_KEY_CACHE_SECONDS`, bounds the delay in AWS).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.core.aws import query_items
from chalicelib.core.clock import iso, now
from chalicelib.core.problems import Problem, Unauthorized
from chalicelib.system.roles import DEFAULT_ROLE, Role, parse_role

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient

KEY_PATTERN = re.compile(r"^lt_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{32,64})\Z")
KEY_ID = re.compile(r"^[A-Za-z0-9]{12}\Z")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9 ._-]{1,64}\Z")
_LIST_PARTITION = "apikey"
_CACHE_LIMIT = 10_000


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# What an unknown key id's secret is compared with: the same work as a known id's check.
_DUMMY_HASH = _hash(secrets.token_urlsafe(32))


def _item_key(key_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"apikey#{key_id}"}, "sk": {"S": "apikey"}}


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    created_at: str
    revoked_at: str | None = None
    role: Role = DEFAULT_ROLE

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_public(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "name": self.name,
            "role": self.role,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
            "status": "active" if self.active else "revoked",
        }


@dataclass(frozen=True)
class NewKey:
    """What `create` hands back once: the key itself and its webhook secret."""

    api_key: ApiKey
    token: str
    webhook_secret: str


class KeyStore:
    """API keys in the app table. Handed a DynamoDB client and the table name."""

    def __init__(self, dynamodb: DynamoDBClient, table: str, cache_seconds: float = 0.0) -> None:
        self._ddb = dynamodb
        self._table = table
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, tuple[ApiKey, str] | None]] = {}
        self._lock = threading.Lock()

    def create(
        self,
        name: str,
        token: str | None = None,
        webhook_secret: str | None = None,
        role: str = DEFAULT_ROLE,
    ) -> NewKey:
        if not NAME_PATTERN.match(name):
            raise Problem(400, "name: 1-64 letters, digits, spaces, '.', '_' or '-'", field="name")
        try:
            key_role = parse_role(role)
        except ValueError as error:
            raise Problem(400, str(error), field="role") from None
        if token is None:
            key_id = "".join(secrets.choice(_ALPHABET) for _ in range(12))
            token = f"lt_{key_id}_{secrets.token_urlsafe(32)}"
        match = KEY_PATTERN.match(token)
        if not match:
            raise Problem(400, "token does not have the lt_<id>_<secret> shape", field="token")
        key_id, secret = match.groups()
        if webhook_secret is None:
            webhook_secret = "whsec_" + secrets.token_urlsafe(32)
        elif not webhook_secret.startswith("whsec_"):
            raise Problem(400, "webhook secret must start with whsec_", field="webhook_secret")
        created_at = iso(now())
        self._ddb.put_item(
            TableName=self._table,
            Item={
                **_item_key(key_id),
                "gsi1pk": {"S": _LIST_PARTITION},
                "gsi1sk": {"S": f"{created_at}#{key_id}"},
                "key_id": {"S": key_id},
                "name": {"S": name},
                "role": {"S": key_role},
                "secret_hash": {"S": _hash(secret)},
                "webhook_secret": {"S": webhook_secret},
                "created_at": {"S": created_at},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
        return NewKey(ApiKey(key_id, name, created_at, role=key_role), token, webhook_secret)

    def list(self) -> list[ApiKey]:
        query = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": {"S": _LIST_PARTITION}},
        }
        return [_from_item(item) for item in query_items(self._ddb, query)]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke the key (it stops working at once in this container, within the cache's
        seconds elsewhere); a key already revoked keeps its first revoked_at. 404 for an id
        no key has, or could have (checked before the write: no DynamoDB key error)."""
        if not KEY_ID.match(key_id):
            raise _unknown_key(key_id)
        try:
            answer = self._ddb.update_item(
                TableName=self._table,
                Key=_item_key(key_id),
                UpdateExpression="SET revoked_at = if_not_exists(revoked_at, :t)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":t": {"S": iso(now())}},
                ReturnValues="ALL_NEW",
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            raise _unknown_key(key_id) from None
        with self._lock:
            self._cache.pop(key_id, None)
        return _from_item(answer["Attributes"])

    def authenticate(self, authorization: str | None) -> ApiKey:
        """The active key named by an `Authorization: Bearer <key>` header, or 401."""
        if not authorization:
            raise Unauthorized("An API key is required: Authorization: Bearer <key>.")
        scheme, _, token = authorization.strip().partition(" ")
        match = KEY_PATTERN.match(token.strip()) if scheme.lower() == "bearer" else None
        if not match:
            raise Unauthorized("The Authorization header must be 'Bearer <API key>'.")
        key_id, secret = match.groups()
        found = self._lookup(key_id)
        api_key, secret_hash = found if found is not None else (None, _DUMMY_HASH)
        matches = hmac.compare_digest(_hash(secret), secret_hash)
        if api_key is None or not matches or not api_key.active:
            raise Unauthorized("Unknown or revoked API key.")
        return api_key

    def webhook_secret(self, key_id: str) -> str | None:
        answer = self._ddb.get_item(
            TableName=self._table, Key=_item_key(key_id), ProjectionExpression="webhook_secret"
        )
        item = answer.get("Item")
        return item["webhook_secret"]["S"] if item else None

    def _lookup(self, key_id: str) -> tuple[ApiKey, str] | None:
        # Unknown ids are cached like known ones: were only known ids cached, a repeated
        # wrong secret would answer faster than an unknown id, telling which ids exist.
        if self._cache_seconds > 0:
            with self._lock:
                cached = self._cache.get(key_id)
            if cached and cached[0] > time.monotonic():
                return cached[1]
        item = self._ddb.get_item(TableName=self._table, Key=_item_key(key_id)).get("Item")
        result = (_from_item(item), item["secret_hash"]["S"]) if item is not None else None
        if self._cache_seconds > 0:
            with self._lock:
                if len(self._cache) >= _CACHE_LIMIT:  # random ids must not grow it forever
                    self._cache.clear()
                self._cache[key_id] = (time.monotonic() + self._cache_seconds, result)
        return result


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _unknown_key(key_id: str) -> Problem:
    # The id is echoed when it is short: a path of any length must not make a long answer.
    shown = repr(key_id) if len(key_id) <= 64 else "with that id"
    return Problem(404, f"no API key {shown}")


def _from_item(item: dict[str, Any]) -> ApiKey:
    revoked = item.get("revoked_at")
    role = item.get("role")
    return ApiKey(
        key_id=item["key_id"]["S"],
        name=item["name"]["S"],
        created_at=item["created_at"]["S"],
        revoked_at=revoked["S"] if revoked else None,
        role=parse_role(role["S"]) if role else DEFAULT_ROLE,
    )
