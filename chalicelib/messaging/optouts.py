"""Opt-outs: who texted STOP, as items in the app table (pk "optout#<sha256 of the
address>", sk "optout": the number itself is not stored). START removes the item."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.core import phones
from chalicelib.core.clock import Clock, iso

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient


class OptOuts:
    """Reads and writes opt-out items. Handed its client, the app table and the clock."""

    def __init__(self, dynamodb: DynamoDBClient, table: str, clock: Clock) -> None:
        self._ddb = dynamodb
        self._table = table
        self._clock = clock

    def is_opted_out(self, address: str) -> bool:
        found = self._ddb.get_item(
            TableName=self._table,
            Key=_opt_out_key(address),
            ConsistentRead=True,
            ProjectionExpression="pk",
        )
        return "Item" in found

    def opt_out(self, address: str, channel: str, keyword: str) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={
                **_opt_out_key(address),
                "opted_out_at": {"S": iso(self._clock())},
                "channel": {"S": channel},
                "keyword": {"S": keyword},
            },
        )

    def opt_in(self, address: str) -> None:
        self._ddb.delete_item(TableName=self._table, Key=_opt_out_key(address))


def _opt_out_key(address: str) -> dict[str, Any]:
    return {"pk": {"S": f"optout#{phones.opt_out_key(address)}"}, "sk": {"S": "optout"}}
