"""Ending a link: the transaction that deletes a link, its counter and its expiry marker
and writes its tombstone (items.tombstone), conditioned on link and counter being what was
read so the tombstone holds its final counts and message; and the tombstone of a link
DynamoDB's TTL removed, written from the stream's old image and its counter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chalicelib.links import counters
from chalicelib.links.items import (
    COUNTER,
    EXPIRY,
    from_item,
    link_key,
    merged,
    to_item,
    tombstone,
)

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient


class TombstoneStore:
    """Retires links into tombstones. Handed its client and the table's name."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._ddb = dynamodb
        self._table = table

    def retire_expired(self, link: Mapping[str, Any], at_epoch: int, ended_at: str) -> bool:
        """Retire a link whose expiry passed by `at_epoch` and that nobody clicked since it
        was read (tombstone "expired", reason expires_at)."""
        condition = "expires_at <= :now"
        values = {":now": {"N": str(at_epoch)}}
        return self._retire(
            link, "expired", ended_at, condition=condition, values=values, reason="expires_at"
        )

    def retire_spent(self, link: Mapping[str, Any], ended_at: str) -> bool:
        """Retire a link whose human clicks reached its max_clicks, as read (tombstone
        "expired", reason max_clicks)."""
        condition = "max_clicks = :m"
        values = {":m": {"N": str(link["max_clicks"])}}
        return self._retire(
            link, "expired", ended_at, condition=condition, values=values, reason="max_clicks"
        )

    def retire_deleted(self, link: Mapping[str, Any], ended_at: str) -> bool:
        """Retire a link its owner deleted (tombstone "deleted")."""
        return self._retire(link, "deleted", ended_at, condition="attribute_exists(pk)", values={})

    def _retire(
        self,
        link: Mapping[str, Any],
        status: str,
        ended_at: str,
        *,
        condition: str,
        values: dict[str, Any],
        reason: str | None = None,
    ) -> bool:
        """Delete link, counter and marker and write the tombstone, in one transaction. The
        deletes are conditioned on link and counter being what we read, so the tombstone
        holds the final counts. False when either changed meanwhile."""
        code = str(link["code"])
        condition, names, values = _message_as_read(link, condition, dict(values))
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": link_key(code),
            "ConditionExpression": condition,
        }
        if names:
            request["ExpressionAttributeNames"] = names
        if values:
            request["ExpressionAttributeValues"] = values
        ended = to_item(tombstone(link, status, ended_at, reason))
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {"Delete": request},  # type: ignore[typeddict-item]
                    counters.delete_as_read(self._table, link),
                    {"Delete": {"TableName": self._table, "Key": link_key(code, EXPIRY)}},
                    {"Put": {"TableName": self._table, "Item": ended}},
                ]
            )
        except self._ddb.exceptions.TransactionCanceledException:
            return False
        return True

    def bury(self, old_image: Mapping[str, Any], status: str, ended_at: str) -> bool:
        """Write the tombstone of a link removed by someone else (DynamoDB TTL), from the
        stream's old image and its counter (read here, deleted with the tombstone's write).
        Idempotent: an existing tombstone is kept. False when it exists already or a click
        landed on the counter meanwhile (the next delivery of the record tries again)."""
        code = str(old_image["code"]["S"])
        counter = self._ddb.get_item(
            TableName=self._table, Key=link_key(code, COUNTER), ConsistentRead=True
        ).get("Item")
        link = merged(from_item(old_image), from_item(counter) if counter else None)
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_item(tombstone(link, status, ended_at)),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    counters.delete_as_read(self._table, link),
                    {"Delete": {"TableName": self._table, "Key": link_key(code, EXPIRY)}},
                ]
            )
        except self._ddb.exceptions.TransactionCanceledException:
            return False
        return True

    def delete_marker(self, code: str) -> None:
        self._ddb.delete_item(TableName=self._table, Key=link_key(code, EXPIRY))


def _message_as_read(
    link: Mapping[str, Any], condition: str, values: dict[str, Any]
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The retirement's condition extended to the message as read: a receipt applied
    between our read and this write would be lost with the link, so the tombstone must
    carry the message as it is now."""
    message = link.get("message")
    if isinstance(message, dict) and isinstance(message.get("status_at"), str):
        values[":m_status"] = {"S": str(message.get("status"))}
        values[":m_at"] = {"S": message["status_at"]}
        names = {"#m": "message", "#s": "status", "#at": "status_at"}
        return condition + " AND #m.#s = :m_status AND #m.#at = :m_at", names, values
    if message is None:
        return condition + " AND attribute_not_exists(#m)", {"#m": "message"}, values
    return condition, {}, values
