"""Ending a link: the transaction that deletes a link and its expiry marker and writes its
tombstone (items.tombstone), conditioned on the link being what was read so the tombstone
holds its final counters and message; and the tombstone of a link DynamoDB's TTL removed,
written from the stream's old image."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chalicelib.links.items import EXPIRY, from_item, link_key, to_item, tombstone

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
        condition = "expires_at <= :now AND human_clicks = :h AND bot_clicks = :b"
        values = {":now": {"N": str(at_epoch)}, **_clicks_as_read(link)}
        return self._retire(
            link, "expired", ended_at, condition=condition, values=values, reason="expires_at"
        )

    def retire_spent(self, link: Mapping[str, Any], ended_at: str) -> bool:
        """Retire a link whose human clicks reached its max_clicks, as read (tombstone
        "expired", reason max_clicks)."""
        condition = "max_clicks = :m AND human_clicks = :h AND bot_clicks = :b"
        values = {":m": {"N": str(link["max_clicks"])}, **_clicks_as_read(link)}
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
        """Delete link and marker and write the tombstone, in one transaction. The delete is
        conditioned on the link being what we read, so the tombstone holds final counters.
        False when the link changed meanwhile."""
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
                    {"Delete": {"TableName": self._table, "Key": link_key(code, EXPIRY)}},
                    {"Put": {"TableName": self._table, "Item": ended}},
                ]
            )
        except self._ddb.exceptions.TransactionCanceledException:
            return False
        return True

    def bury(self, old_image: Mapping[str, Any], status: str, ended_at: str) -> bool:
        """Write the tombstone of a link removed by someone else (DynamoDB TTL), from the
        stream's old image. Idempotent: an existing tombstone is kept."""
        link = from_item(old_image)
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=to_item(tombstone(link, status, ended_at)),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return False
        self.delete_marker(str(link["code"]))
        return True

    def delete_marker(self, code: str) -> None:
        self._ddb.delete_item(TableName=self._table, Key=link_key(code, EXPIRY))


def _clicks_as_read(link: Mapping[str, Any]) -> dict[str, Any]:
    return {
        ":h": {"N": str(link.get("human_clicks", 0))},
        ":b": {"N": str(link.get("bot_clicks", 0))},
    }


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
