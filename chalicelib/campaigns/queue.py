"""The campaign queue: new campaigns' chunks go on it (SendMessageBatch, ten chunks a
call), and waiting chunks go back on it as new messages.

A chunk that must wait is *sent again as a new message* and the received one is reported
handled: every hand-back would otherwise use one of the queue's 5 receives, and a
campaign larger than the quota would lose its tail to the dead-letter queue within days.
SQS delays a message by 900 s at most, so a longer wait is a series of hops. Should that
SendMessage fail, the received message is handed back the old way (batchItemFailures,
visibility = the wait).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chalicelib.campaigns.chunks import Chunk

if TYPE_CHECKING:
    from types_boto3_sqs.client import SQSClient
    from types_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

log = logging.getLogger("linktrail.campaigns")

MAX_DELAY_SECONDS = 900  # SQS's DelaySeconds limit: longer waits are several hops
# SQS refuses a visibility timeout beyond 12 h counted from the receive; the receive came at
# most one Lambda run (15 min) before our call. Only the fallback hand-back uses it.
MAX_VISIBILITY_SECONDS = 43_200 - 900
BATCH_SIZE = 10  # SendMessageBatch's limit
BATCH_ATTEMPTS = 3  # entries SQS reports failed are sent again this often in all


class ChunkQueue:
    """The campaign queue, handed its SQS client and URL."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def enqueue(self, chunks: list[Chunk]) -> None:
        """Queue every chunk; RuntimeError when SQS keeps refusing some."""
        bodies = [chunk.body() for chunk in chunks]
        for first in range(0, len(bodies), BATCH_SIZE):
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": str(first + n), "MessageBody": body}
                for n, body in enumerate(bodies[first : first + BATCH_SIZE])
            ]
            for _ in range(BATCH_ATTEMPTS):
                answer = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
                failed = {f["Id"] for f in answer.get("Failed", [])}
                entries = [e for e in entries if e["Id"] in failed]
                if not entries:
                    break
            if entries:
                raise RuntimeError(f"SQS refused {len(entries)} campaign chunks")

    def send_again(self, record: Mapping[str, Any], body: str, wait: int) -> bool:
        """Queue `body` as a new message, delayed by up to SQS's 15 minutes (the received
        one is then reported handled, so its receive count never reaches the dead-letter
        queue's). If SQS refuses, hand the received message back with its visibility set
        to the wait and return False."""
        try:
            self._sqs.send_message(
                QueueUrl=self._queue_url,
                MessageBody=body,
                DelaySeconds=max(0, min(wait, MAX_DELAY_SECONDS)),
            )
        except Exception:
            log.warning(
                "could not queue a waiting chunk again: handed back",
                extra={"id": record["messageId"]},
                exc_info=True,
            )
            self._delay(record, wait)
            return False
        return True

    def _delay(self, record: Mapping[str, Any], seconds: int) -> None:
        """Honour Retry-After: the message becomes visible again only then (best effort;
        without it the queue's own visibility timeout applies)."""
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self._queue_url,
                ReceiptHandle=record["receiptHandle"],
                VisibilityTimeout=max(0, min(seconds, MAX_VISIBILITY_SECONDS)),
            )
        except Exception:
            log.warning("could not delay a throttled chunk", exc_info=True)
