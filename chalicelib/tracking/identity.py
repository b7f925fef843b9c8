"""Identity links: which user an anonymous visitor turned out to be.

An identify (anonymousId + userId) or an alias (previousId -> userId) writes one item in
the app table:

    pk "anon#<anonymous_id>", sk "identity",
    gsi1pk "user#<user_id>", gsi1sk "anon#<anonymous_id>"   (erasure finds a user's links)
    anonymous_id, user_id, linked_at (ISO), message_id

linked_at is the server's received_at, never the client's `timestamp`: a client-chosen
(e.g. far-future) date would let anyone relink someone else's anonymous id and pin it.
The latest link per anonymous id wins (a conditional put on linked_at), so a redelivered
old identify never overwrites a newer one.

Erasure (DELETE /api/users/{id}) first writes a marker, pk "user#<user_id>", sk "erased",
erased_at (ISO), kept without TTL (a queued message may be redriven from the DLQ days
later). A link to that user received at or before erased_at is skipped, atomically with
its put (a transaction's ConditionCheck), and not forwarded: an identify still queued or
redelivered after the erasure does not bring the link back. An identify received after
the erasure is a new link. The forwarder writes links and resolves
anonymous-only events in batches (one BatchGetItem per 100 ids); the app table's gsi1 is
shared with other features (API keys use gsi1pk "apikey").

Every key above is built from an id, and DynamoDB limits keys in UTF-8 bytes (a sort key
1,024, a partition key 2,048): /events and erasure refuse ids over validation.MAX_ID_BYTES,
half that; `key_problem` tells the forwarder which queued ids cannot be stored at all
(it dead-letters their message), and `resolve` skips those. A write DynamoDB refuses for
good anyway (`permanent`) is the data's fault; the forwarder dead-letters that message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ParamValidationError

from chalicelib.core.aws import error_code
from chalicelib.core.problems import BadRequest
from chalicelib.tracking.event_queue import EventQueue, QueuedEvent, erasure_body
from chalicelib.tracking.validation import ID_RULE, is_id

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient
    from types_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

SORT_KEY = "identity"
ERASED_SORT_KEY = "erased"
_BATCH_GET_KEYS = 100
_BATCH_WRITE_ITEMS = 25


@dataclass(frozen=True)
class IdentityLink:
    anonymous_id: str
    user_id: str
    linked_at: str
    message_id: str


# DynamoDB's key limits, in UTF-8 bytes (index keys included).
SORT_KEY_BYTES = 1024
PARTITION_KEY_BYTES = 2048


def key_problem(anonymous_id: Any = None, user_id: Any = None) -> str | None:
    """Why an id cannot be stored in the keys built from it, or None. The real limits,
    not /events' tighter bound: a message queued before that bound still goes through.
    An anonymous id is a partition key ("anon#<id>") and, linked, gsi1's sort key; a
    user id is gsi1's partition key and the erasure marker's ("user#<id>")."""
    for name, value, prefix, limit in (
        ("anonymous id", anonymous_id, "anon#", SORT_KEY_BYTES),
        ("user id", user_id, "user#", PARTITION_KEY_BYTES),
    ):
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            return f"the {name} is not a non-empty string"
        try:
            size = len(f"{prefix}{value}".encode())
        except UnicodeEncodeError:
            return f"the {name} holds a lone surrogate, which DynamoDB cannot store"
        if size > limit:
            return (f"the {name} makes a {size}-byte key {prefix!r}+id; DynamoDB takes at "
                    f"most {limit} bytes")
    return None


def permanent(error: Exception) -> bool:
    """A DynamoDB failure no retry can fix: the request itself is invalid (a key over its
    size limit, a value of the wrong type). Throttling, conflicts, 5xx and network errors
    are not: they may pass."""
    if isinstance(error, ParamValidationError):
        return True
    return error_code(error) == "ValidationException"


def _key(anonymous_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"anon#{anonymous_id}"}, "sk": {"S": SORT_KEY}}


def _erased_key(user_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"user#{user_id}"}, "sk": {"S": ERASED_SORT_KEY}}


def links_in(events: Iterable[QueuedEvent]) -> list[IdentityLink]:
    """The links that identify and alias events assert, latest per anonymous id.
    An event's received_at (the server's clock) dates its link."""
    latest: dict[str, IdentityLink] = {}
    for event in events:
        if event.get("type") == "identify":
            anonymous_id, user_id = event.get("anonymous_id"), event.get("user_id")
        elif event.get("type") == "alias":
            anonymous_id, user_id = event.get("previous_id"), event.get("user_id")
        else:
            continue
        if not anonymous_id or not user_id or anonymous_id == user_id:
            continue
        link = IdentityLink(anonymous_id, user_id, event["received_at"], event["message_id"])
        known = latest.get(anonymous_id)
        if known is None or known.linked_at <= link.linked_at:
            latest[anonymous_id] = link  # same instant (one request): the later one wins
    return list(latest.values())


class IdentityStore:
    """Identity links in the app table. Handed a DynamoDB client and the table name."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._ddb = dynamodb
        self._table = table
        self._sleep = sleep

    def record(self, links: Iterable[IdentityLink]) -> list[IdentityLink]:
        """Write each link unless a newer one for the same anonymous id is stored or its
        user was erased after it was received. Returns the links written."""
        written: list[IdentityLink] = []
        for link in links:
            try:
                self._ddb.transact_write_items(TransactItems=self._link_write(link))
            except self._ddb.exceptions.TransactionCanceledException as cancelled:
                reasons = cancelled.response.get("CancellationReasons", [])
                codes = {r.get("Code", "None") for r in reasons}
                if not reasons or not codes <= {"None", "ConditionalCheckFailed"}:
                    raise  # a conflict or throttling: the queue message is retried
                continue  # the user was erased, or a newer link is already stored
            written.append(link)
        return written

    def _link_write(self, link: IdentityLink) -> list[TransactWriteItemTypeDef]:
        """The link's put, unless a newer link is stored, atomically with the check that
        its user was not erased after it was received."""
        at = {":at": {"S": link.linked_at}}
        return [
            {
                "ConditionCheck": {
                    "TableName": self._table,
                    "Key": _erased_key(link.user_id),
                    "ConditionExpression": "attribute_not_exists(pk) OR erased_at < :at",
                    "ExpressionAttributeValues": at,
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **_key(link.anonymous_id),
                        "gsi1pk": {"S": f"user#{link.user_id}"},
                        "gsi1sk": {"S": f"anon#{link.anonymous_id}"},
                        "anonymous_id": {"S": link.anonymous_id},
                        "user_id": {"S": link.user_id},
                        "linked_at": {"S": link.linked_at},
                        "message_id": {"S": link.message_id},
                    },
                    "ConditionExpression": "attribute_not_exists(pk) OR linked_at <= :at",
                    "ExpressionAttributeValues": at,
                }
            },
        ]

    def mark_erased(self, user_id: str, erased_at: str) -> None:
        """Links to `user_id` received up to `erased_at` are never written again."""
        self._ddb.put_item(
            TableName=self._table,
            Item={**_erased_key(user_id), "user_id": {"S": user_id}, "erased_at": {"S": erased_at}},
        )

    def resolve(self, anonymous_ids: Iterable[str]) -> dict[str, str]:
        """anonymous_id -> user_id for those that have a link (BatchGetItem, 100 a call)."""
        wanted = sorted(a for a in set(anonymous_ids) if key_problem(anonymous_id=a) is None)
        resolved: dict[str, str] = {}
        for start in range(0, len(wanted), _BATCH_GET_KEYS):
            keys = [_key(a) for a in wanted[start : start + _BATCH_GET_KEYS]]
            request: dict[str, Any] = {
                self._table: {
                    "Keys": keys,
                    "ProjectionExpression": "anonymous_id, user_id",
                }
            }
            for attempt in range(8):
                answer = self._ddb.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self._table, []):
                    resolved[item["anonymous_id"]["S"]] = item["user_id"]["S"]
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise RuntimeError("DynamoDB left identity lookups unprocessed")
        return resolved

    def links_of(self, user_id: str) -> list[IdentityLink]:
        """Every link to `user_id` (gsi1)."""
        links: list[IdentityLink] = []
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :user AND begins_with(gsi1sk, :anon)",
            "ExpressionAttributeValues": {
                ":user": {"S": f"user#{user_id}"},
                ":anon": {"S": "anon#"},
            },
        }
        while True:
            answer = self._ddb.query(**query)
            for item in answer.get("Items", []):
                links.append(
                    IdentityLink(
                        item["anonymous_id"]["S"],
                        item["user_id"]["S"],
                        item.get("linked_at", {}).get("S", ""),
                        item.get("message_id", {}).get("S", ""),
                    )
                )
            if "LastEvaluatedKey" not in answer:
                return links
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def remove(self, links: Iterable[IdentityLink]) -> int:
        """Delete these links (BatchWriteItem, 25 a call); returns how many."""
        keys = [_key(link.anonymous_id) for link in links]
        for start in range(0, len(keys), _BATCH_WRITE_ITEMS):
            request: dict[str, Any] = {
                self._table: [
                    {"DeleteRequest": {"Key": k}} for k in keys[start : start + _BATCH_WRITE_ITEMS]
                ]
            }
            for attempt in range(8):
                answer = self._ddb.batch_write_item(RequestItems=request)
                request = answer.get("UnprocessedItems") or {}
                if not request:
                    break
                self._sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise RuntimeError("DynamoDB left identity deletions unprocessed")
        return len(keys)


def erase_user(store: IdentityStore, queue: EventQueue, user_id: str, requested_at: str) -> int:
    """Remove `user_id`'s identity links and queue the deletion record for the warehouse.

    The erased marker is written first, so no identify still in the queue can add a link
    after they were listed. The record is queued before the links are removed: if
    removing them then fails, a repeated request finds them again; the other order could
    lose the record.
    """
    if not is_id(user_id):
        raise BadRequest(f"user_id {ID_RULE}.", field="user_id")
    store.mark_erased(user_id, requested_at)
    links = store.links_of(user_id)
    queue.put([erasure_body(user_id, [link.anonymous_id for link in links], requested_at)])
    return store.remove(links)
