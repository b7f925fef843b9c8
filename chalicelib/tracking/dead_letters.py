"""The events DLQ, as the forwarder uses it: DeadLetters puts what cannot be delivered
there as replayable queue bodies, with the reason in message attributes; `max_receives`
reads the events queue's maxReceiveCount, which says when a message is on its last
receive (and so is dead-lettered by the forwarder with its error, not moved silently by
the queue's redrive)."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types_boto3_sqs.client import SQSClient

log = logging.getLogger("linktrail.stitch")


class DeadLetters:
    """Rows Stitch refused for good, on the events DLQ as replayable queue bodies."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def send(self, source: str, origin: str, table: str, status: int | None, error: str) -> None:
        self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=source,
            MessageAttributes={
                "StitchError": {"DataType": "String", "StringValue": error[:1000] or "-"},
                "StitchStatus": {"DataType": "Number", "StringValue": str(status or 0)},
                "StitchTable": {"DataType": "String", "StringValue": table},
                "SourceMessageId": {"DataType": "String", "StringValue": origin},
            },
        )


def max_receives(sqs: SQSClient, queue_url: str) -> int | None:
    """The queue's maxReceiveCount (its RedrivePolicy), or None if it has none or the
    lookup fails (then the redrive alone moves messages that keep failing)."""
    if not queue_url:
        return None
    try:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["RedrivePolicy"]
        ).get("Attributes", {})
        policy = json.loads(attributes.get("RedrivePolicy") or "{}")
        return int(policy["maxReceiveCount"]) if "maxReceiveCount" in policy else None
    except Exception:
        log.exception("could not read the events queue's redrive policy")
        return None
