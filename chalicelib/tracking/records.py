"""What the forwarder reads off the events queue: a record of Lambda's SQS event
(QueueRecord), and each event of a body checked and turned into its warehouse row once
(QueuedRow), or the reason the forwarder cannot store it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from chalicelib.tracking.event_queue import QueuedEvent, events_body
from chalicelib.tracking.identity import key_problem
from chalicelib.tracking.rows import EventRow, event_row, sequence_of


@dataclass(frozen=True)
class QueueRecord:
    message_id: str
    body: str
    receive_count: int = 1  # SQS ApproximateReceiveCount

    @classmethod
    def from_lambda(cls, record: Mapping[str, Any]) -> QueueRecord:
        """From one record of a Lambda SQS event (Chalice: `SQSRecord.to_dict()`)."""
        attributes = record.get("attributes") or {}
        try:
            count = int(attributes.get("ApproximateReceiveCount", 1))
        except (TypeError, ValueError):
            count = 1
        return cls(str(record["messageId"]), str(record["body"]), count)


@dataclass
class QueuedRow:
    """An event of a queue message the forwarder can store, with its row, built once."""

    origin: str  # the SQS messageId it came from
    event: QueuedEvent
    row: EventRow
    sequence: int
    source: str  # a queue body that replays it alone (for the DLQ)


def queued_rows(origin: str, events: Iterable[Any]) -> tuple[list[QueuedRow], str | None]:
    """The body's events with their rows, or why one of them cannot be stored."""
    queued: list[QueuedRow] = []
    for event in events:
        prepared = queued_row(origin, event)
        if isinstance(prepared, str):
            return [], prepared
        queued.append(prepared)
    return queued, None


def queued_row(origin: str, event: Any) -> QueuedRow | str:
    """The event with its row, or why the forwarder cannot store it. /events never queues
    such an event; an old client's, a bug's or a hand-made message may hold one."""
    if not isinstance(event, dict):
        return "an event is not a JSON object"
    for name in ("message_id", "type", "received_at"):
        if not isinstance(event.get(name), str):
            return f"{name} is missing or not a string"
    for name in ("anonymous_id", "previous_id", "user_id"):
        value = event.get(name)
        problem = (
            key_problem(user_id=value) if name == "user_id" else key_problem(anonymous_id=value)
        )
        if problem:
            return f"{name}: {problem}"
    checked = cast(QueuedEvent, event)  # its keys and ids are checked above
    try:
        sequence = sequence_of(checked["received_at"])
        row = event_row(checked)
    except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as error:
        return f"the event does not make a row: {error!r}"[:1000]
    return QueuedRow(origin, checked, row, sequence, events_body(checked))
