"""Identity links: which user an anonymous visitor turned out to be.

A proven identify (anonymousId + userId) or alias (previousId -> userId) writes, in one
transaction (proof.py says which calls are proven):

    the link     pk "anon#<anonymous_id>", sk "identity",
                 gsi1pk "user#<user_id>", gsi1sk "anon#<anonymous_id>"
                 anonymous_id, user_id, linked_at (ISO), message_id
    its history  pk "user#<user_id>", sk "anon#<anonymous_id>", same attributes: the
                 user's anonymous ids, kept until the user is erased, so erasure finds
                 every link that ever resolved to the user, even one since replaced

linked_at is the server's received_at, never the client's `timestamp`. The first link of
an anonymous id stays: a later call naming another user never relinks it (a conditional
put), it records a conflict instead, which erasure of either user removes:

    a conflict   pk "anon#<anonymous_id>", sk "conflict#<message_id>",
                 gsi1pk "user#<claimed user_id>", gsi1sk "conflict#<message_id>"
                 anonymous_id, claimed_user_id, received_at, message_id

A call naming the user already linked changes nothing (a redelivery, a second login).

Erasure (erasure.py) first writes a marker, pk "user#<user_id>", sk "erased", erased_at
(ISO), kept without TTL (a queued message may be redriven from the DLQ days later). A
link to that user received at or before erased_at is skipped, atomically with its put (a
transaction's ConditionCheck), and not forwarded. An identify received after the erasure
is a new link. The forwarder resolves anonymous-only events in batches (one BatchGetItem
per 100 ids); the app table's gsi1 is shared with other features (API keys use gsi1pk
"apikey").

Every key above is built from an id, and DynamoDB limits keys in UTF-8 bytes (a sort key
1,024, a partition key 2,048): /events and erasure refuse ids over validation.MAX_ID_BYTES,
half that; `key_problem` tells the forwarder which queued ids cannot be stored at all
(it dead-letters their message), and `resolve` skips those. A write DynamoDB refuses for
good anyway (`permanent`) is the data's fault; the forwarder dead-letters that message.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ParamValidationError

from chalicelib.core.aws import batch_get, error_code, query_items
from chalicelib.tracking.event_queue import QueuedEvent
from chalicelib.tracking.proof import LinkProof

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient
    from types_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

SORT_KEY = "identity"
ERASED_SORT_KEY = "erased"
CONFLICT_PREFIX = "conflict#"
_BATCH_WRITE_ITEMS = 25


@dataclass(frozen=True)
class IdentityLink:
    anonymous_id: str
    user_id: str
    linked_at: str
    message_id: str


class LinkOutcome(enum.Enum):
    WRITTEN = "written"
    ALREADY_LINKED = "already linked"  # to this same user: nothing changes
    CONFLICT = "conflict"  # linked to another user: kept, the claim recorded
    ERASED = "erased"  # the user was erased after the call was received


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


def _history_key(user_id: str, anonymous_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"user#{user_id}"}, "sk": {"S": f"anon#{anonymous_id}"}}


def _erased_key(user_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"user#{user_id}"}, "sk": {"S": ERASED_SORT_KEY}}


def links_in(
    events: Iterable[QueuedEvent], proof: LinkProof
) -> tuple[list[IdentityLink], int]:
    """The links that proven identify and alias events assert, in the order received
    (the first link of an anonymous id is the one kept), and how many such events had no
    proof. An event's received_at (the server's clock) dates its link."""
    links: list[IdentityLink] = []
    seen: set[tuple[str, str]] = set()
    unproven = 0
    for event in events:
        if event.get("type") == "identify":
            anonymous_id, user_id = event.get("anonymous_id"), event.get("user_id")
        elif event.get("type") == "alias":
            anonymous_id, user_id = event.get("previous_id"), event.get("user_id")
        else:
            continue
        if not anonymous_id or not user_id or anonymous_id == user_id:
            continue
        if not proof.proves(event):
            unproven += 1
            continue
        if (anonymous_id, user_id) not in seen:
            seen.add((anonymous_id, user_id))
            links.append(
                IdentityLink(anonymous_id, user_id, event["received_at"], event["message_id"])
            )
    links.sort(key=lambda link: link.linked_at)  # stable: one request keeps its order
    return links, unproven


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
        """Write each link (`link`); returns the links written."""
        return [link for link in links if self.link(link) is LinkOutcome.WRITTEN]

    def link(self, link: IdentityLink) -> LinkOutcome:
        """Write the link and its history unless the anonymous id is linked already or
        its user was erased after the call was received; a claim on an anonymous id
        linked to another user is recorded as a conflict."""
        try:
            self._ddb.transact_write_items(TransactItems=self._link_write(link))
        except self._ddb.exceptions.TransactionCanceledException as cancelled:
            reasons = cancelled.response.get("CancellationReasons", [])
            codes = [r.get("Code", "None") for r in reasons]
            if len(codes) < 2 or not set(codes) <= {"None", "ConditionalCheckFailed"}:
                raise  # a conflict or throttling: the queue message is retried
            if codes[0] == "ConditionalCheckFailed":
                return LinkOutcome.ERASED
            if self.linked_user(link.anonymous_id) == link.user_id:
                return LinkOutcome.ALREADY_LINKED
            self._record_conflict(link)
            return LinkOutcome.CONFLICT
        return LinkOutcome.WRITTEN

    def linked_user(self, anonymous_id: str) -> str | None:
        answer = self._ddb.get_item(
            TableName=self._table, Key=_key(anonymous_id), ConsistentRead=True
        )
        item = answer.get("Item")
        return item["user_id"]["S"] if item else None

    def _record_conflict(self, link: IdentityLink) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"anon#{link.anonymous_id}"},
                "sk": {"S": f"{CONFLICT_PREFIX}{link.message_id}"},
                "gsi1pk": {"S": f"user#{link.user_id}"},
                "gsi1sk": {"S": f"{CONFLICT_PREFIX}{link.message_id}"},
                "anonymous_id": {"S": link.anonymous_id},
                "claimed_user_id": {"S": link.user_id},
                "received_at": {"S": link.linked_at},
                "message_id": {"S": link.message_id},
            },
        )

    def _link_write(self, link: IdentityLink) -> list[TransactWriteItemTypeDef]:
        """The link's put, unless the anonymous id is linked already, with its history
        item, atomically with the check that its user was not erased after the call."""
        attributes = {
            "anonymous_id": {"S": link.anonymous_id},
            "user_id": {"S": link.user_id},
            "linked_at": {"S": link.linked_at},
            "message_id": {"S": link.message_id},
        }
        return [
            {
                "ConditionCheck": {
                    "TableName": self._table,
                    "Key": _erased_key(link.user_id),
                    "ConditionExpression": "attribute_not_exists(pk) OR erased_at < :at",
                    "ExpressionAttributeValues": {":at": {"S": link.linked_at}},
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **_key(link.anonymous_id),
                        "gsi1pk": {"S": f"user#{link.user_id}"},
                        "gsi1sk": {"S": f"anon#{link.anonymous_id}"},
                        **attributes,
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {**_history_key(link.user_id, link.anonymous_id), **attributes},
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
        read = batch_get(
            self._ddb, self._table, [_key(a) for a in wanted],
            projection="anonymous_id, user_id", calls=8, sleep=self._sleep,
        )  # fmt: skip
        if read.unread:
            raise RuntimeError("DynamoDB left identity lookups unprocessed")
        return {item["anonymous_id"]["S"]: item["user_id"]["S"] for item in read.items}

    # --- erasure: every item that names the user ----------------------------------------

    def erasure_of(self, user_id: str) -> tuple[list[str], list[dict[str, Any]]]:
        """The anonymous ids ever linked to `user_id` (its history and its current links)
        and the keys of every item erasing the user removes: those links (whoever they
        resolve to now), the history, and the conflicts naming the user or claiming one
        of those anonymous ids."""
        anonymous_ids: set[str] = set()
        keys: list[dict[str, Any]] = []
        for item in self._query(
            KeyConditionExpression="pk = :user AND begins_with(sk, :anon)",
            ExpressionAttributeValues={":user": {"S": f"user#{user_id}"}, ":anon": {"S": "anon#"}},
        ):
            anonymous_ids.add(item["sk"]["S"].removeprefix("anon#"))
            keys.append({"pk": item["pk"], "sk": item["sk"]})
        for item in self._query(
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :user",
            ExpressionAttributeValues={":user": {"S": f"user#{user_id}"}},
        ):
            if item["sk"]["S"] == SORT_KEY:
                anonymous_ids.add(item["pk"]["S"].removeprefix("anon#"))
            elif item["sk"]["S"].startswith(CONFLICT_PREFIX):
                keys.append({"pk": item["pk"], "sk": item["sk"]})
        for anonymous_id in sorted(anonymous_ids):
            keys.append(_key(anonymous_id))
            keys.extend(
                {"pk": item["pk"], "sk": item["sk"]}
                for item in self._query(
                    KeyConditionExpression="pk = :anon AND begins_with(sk, :conflict)",
                    ExpressionAttributeValues={
                        ":anon": {"S": f"anon#{anonymous_id}"},
                        ":conflict": {"S": CONFLICT_PREFIX},
                    },
                )
            )
        return sorted(anonymous_ids), keys

    def _query(self, **query: Any) -> Iterator[dict[str, Any]]:
        return query_items(self._ddb, {**query, "TableName": self._table})

    def remove(self, keys: Iterable[dict[str, Any]]) -> None:
        """Delete these items (BatchWriteItem, 25 a call; a key named twice once)."""
        unique = list({(k["pk"]["S"], k["sk"]["S"]): k for k in keys}.values())
        for start in range(0, len(unique), _BATCH_WRITE_ITEMS):
            request: dict[str, Any] = {
                self._table: [
                    {"DeleteRequest": {"Key": k}}
                    for k in unique[start : start + _BATCH_WRITE_ITEMS]
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
