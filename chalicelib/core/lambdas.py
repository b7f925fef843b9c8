"""What Lambda hands a handler and expects back, shared by every queue and stream
worker: the context's remaining time, and SQS's partial batch answer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypedDict


class LambdaContext(Protocol):
    """The part of Lambda's context object the workers use."""

    def get_remaining_time_in_millis(self) -> int: ...


class ItemFailure(TypedDict):
    itemIdentifier: str


class BatchAnswer(TypedDict):
    batchItemFailures: list[ItemFailure]


def batch_item_failures(message_ids: Iterable[str]) -> BatchAnswer:
    """SQS's partial batch response: only these messages are received again."""
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in message_ids]}
