"""The per-key daily texting quota: counters in the app table (pk "smsquota#<key id>",
sk "YYYY-MM-DD", attribute `sends`, expiring through `ttl` two days after the day ends).

A send is reserved with one conditional increment before the link is written: a request
over quota is refused with 429 and writes nothing. A reservation no text used is handed
back (see Texting), erring on the side of sending less.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.core.clock import Clock
from chalicelib.core.problems import Problem

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient

KEEP_SECONDS = 2 * 86400  # how long a day's counter stays after the day ended


class Quota:
    """Reserves and releases sends of a key's daily quota. Handed its client, the app
    table, the quota and the clock."""

    def __init__(self, dynamodb: DynamoDBClient, table: str, daily: int, clock: Clock) -> None:
        self._ddb = dynamodb
        self._table = table
        self._daily = daily
        self._clock = clock

    def reserve(self, key_id: str) -> str:
        """Count one send for today (UTC); the day reserved, or 429 with Retry-After."""
        moment = self._clock()
        day = moment.date().isoformat()
        midnight = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        if self._daily <= 0:
            raise self._refusal(day, moment, midnight)
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=_quota_key(key_id, day),
                UpdateExpression="ADD sends :one SET #ttl = if_not_exists(#ttl, :ttl)",
                ConditionExpression="attribute_not_exists(sends) OR sends < :quota",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":quota": {"N": str(self._daily)},
                    ":ttl": {"N": str(int(midnight.timestamp()) + KEEP_SECONDS)},
                },
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            raise self._refusal(day, moment, midnight) from None
        return day

    def release(self, key_id: str, day: str) -> None:
        """Hand back one send reserved for `day` (never below zero)."""
        with contextlib.suppress(self._ddb.exceptions.ConditionalCheckFailedException):
            self._ddb.update_item(
                TableName=self._table,
                Key=_quota_key(key_id, day),
                UpdateExpression="ADD sends :minus",
                ConditionExpression="sends > :zero",
                ExpressionAttributeValues={":minus": {"N": "-1"}, ":zero": {"N": "0"}},
            )

    def _refusal(self, day: str, moment: datetime, midnight: datetime) -> Problem:
        wait = max(1, int((midnight - moment).total_seconds()))
        return Problem(
            429,
            f"This API key has used its {self._daily} texts for {day} (UTC); "
            "the quota resets at midnight UTC.",
            slug="sms-quota",
            headers={"Retry-After": str(wait)},
        )


def _quota_key(key_id: str, day: str) -> dict[str, Any]:
    return {"pk": {"S": f"smsquota#{key_id}"}, "sk": {"S": day}}
