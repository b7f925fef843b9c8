"""Identity links: which user an anonymous visitor turned out to be.

An identify (anonymousId + userId) or an alias (previousId -> userId) writes one item in
the app table:

    pk "anon#<anonymous_id>", sk "identity",
    gsi1pk "user#<user_id>", gsi1sk "anon#<anonymous_id>"   (erasure finds a user's links)
    anonymous_id, user_id, linked_at (ISO), message_id

The latest link per anonymous id wins (a conditional put on linked_at), so a redelivered
old identify never overwrites a newer one. The forwarder writes links and resolves
anonymous-only events in batches (one BatchGetItem per 100 ids); the app table's gsi1 is
shared with other features (API keys use gsi1pk "apikey").
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.events import MAX_ID_CHARS, EventQueue, erasure_body
from chalicelib.problems import BadRequest

SORT_KEY = "identity"
_BATCH_GET_KEYS = 100
_BATCH_WRITE_ITEMS = 25


@dataclass(frozen=True)
class IdentityLink:
    anonymous_id: str
    user_id: str
    linked_at: str
    message_id: str


def _key(anonymous_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"anon#{anonymous_id}"}, "sk": {"S": SORT_KEY}}


def links_in(events: Iterable[dict[str, Any]]) -> list[IdentityLink]:
    """The links that identify and alias events assert, latest per anonymous id."""
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
        link = IdentityLink(anonymous_id, user_id, event["timestamp"], event["message_id"])
        known = latest.get(anonymous_id)
        if known is None or (known.linked_at, known.message_id) <= (
            link.linked_at,
            link.message_id,
        ):
            latest[anonymous_id] = link
    return list(latest.values())


class IdentityStore:
    """Identity links in the app table. Handed a DynamoDB client and the table name."""

    def __init__(self, dynamodb: Any, table: str, sleep: Any = time.sleep) -> None:
        self._ddb = dynamodb
        self._table = table
        self._sleep = sleep

    def record(self, links: Iterable[IdentityLink]) -> None:
        """Write each link unless a newer one for the same anonymous id is stored."""
        for link in links:
            try:
                self._ddb.put_item(
                    TableName=self._table,
                    Item={
                        **_key(link.anonymous_id),
                        "gsi1pk": {"S": f"user#{link.user_id}"},
                        "gsi1sk": {"S": f"anon#{link.anonymous_id}"},
                        "anonymous_id": {"S": link.anonymous_id},
                        "user_id": {"S": link.user_id},
                        "linked_at": {"S": link.linked_at},
                        "message_id": {"S": link.message_id},
                    },
                    ConditionExpression="attribute_not_exists(pk) OR linked_at <= :at",
                    ExpressionAttributeValues={":at": {"S": link.linked_at}},
                )
            except self._ddb.exceptions.ConditionalCheckFailedException:
                continue  # a newer link is already stored

    def resolve(self, anonymous_ids: Iterable[str]) -> dict[str, str]:
        """anonymous_id -> user_id for those that have a link (BatchGetItem, 100 a call)."""
        wanted = sorted(set(anonymous_ids))
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

    The record is queued first: if removing the links then fails, a repeated request
    finds them again; the other order could lose the record.
    """
    if not user_id.strip() or len(user_id) > MAX_ID_CHARS:
        raise BadRequest(
            f"user_id must be 1 to {MAX_ID_CHARS} characters.", field="user_id"
        )
    links = store.links_of(user_id)
    queue.put([erasure_body(user_id, [link.anonymous_id for link in links], requested_at)])
    return store.remove(links)
