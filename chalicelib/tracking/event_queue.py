"""The events queue: the shapes of its messages (an events message carrying normalised
events, an erasure message carrying a user's deletion record), how events are packed into
bodies, and EventQueue, which puts a request's bodies on the queue.

/events writes these bodies and the forwarder reads them; a body dead-lettered by the
forwarder is one of these too, so redriving the DLQ into the queue replays it as it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

from chalicelib.core.problems import Problem

if TYPE_CHECKING:
    from types_boto3_sqs.client import SQSClient

# One queue message stays under SQS's long-standing 256 KiB limit. The forwarder takes up
# to 100 messages per invocation (api.py: EVENTS_BATCH_SIZE, gathered for at most 5 s);
# Lambda hands it fewer when they would exceed the 6 MB invocation payload, so big
# messages make smaller batches, never a failed one. SendMessageBatch takes up to ten
# entries and 1 MiB in total per call.
SQS_MESSAGE_BYTES = 256 * 1024
SQS_BATCH_ENTRIES = 10
SQS_BATCH_BYTES = 1024 * 1024
QUEUE_FORMAT = 1


class EventContext(TypedDict):
    page: dict[str, str | None]  # url, path, title, referrer, search
    library: dict[str, str | None]  # name, version
    locale: str | None
    timezone: str | None
    campaign: dict[str, str | None]  # source, medium, name, term, content
    user_agent: dict[str, str]  # browser, os, device (families only)


class QueuedEvent(TypedDict):
    """One normalised, Segment-shaped event as /events queues it. Messages queued by an
    older client or by hand may lack fields, so the forwarder reads them with care."""

    message_id: str
    type: str
    event: str | None
    name: str | None
    anonymous_id: str | None
    user_id: str | None
    previous_id: str | None
    group_id: NotRequired[str | None]  # group calls (queued before groups existed: absent)
    # The identify's proof (proof.py): the site server's HMAC of user_id, and whether the
    # event came from an authenticated server source. Neither is forwarded as a column.
    user_hash: str | None
    server_source: bool
    properties: dict[str, Any]
    traits: dict[str, Any]
    timestamp: str
    sent_at: str | None
    received_at: str
    context: EventContext
    # Segment's Tracking API (/v1) keeps what its libraries send besides: the client's own
    # timestamp (`timestamp` is then corrected for clock skew), the integrations map, the
    # context as sent (less ip and userAgent), and the write key's source. /events: absent.
    original_timestamp: NotRequired[str | None]
    integrations: NotRequired[dict[str, Any]]
    sent_context: NotRequired[dict[str, Any]]
    source_id: NotRequired[str | None]


class EventsMessage(TypedDict):
    v: int
    kind: Literal["events"]
    events: list[QueuedEvent]


class ErasureMessage(TypedDict):
    v: int
    kind: Literal["erasure"]
    user_id: str
    anonymous_ids: list[str]
    requested_at: str


def queue_bodies(events: list[QueuedEvent]) -> list[str]:
    """The events packed into as few queue message bodies as fit SQS_MESSAGE_BYTES."""
    bodies: list[str] = []
    chunk: list[str] = []
    size = 0
    overhead = len(_envelope([]))
    for event in events:
        encoded = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        length = len(encoded.encode()) + 1
        if chunk and overhead + size + length > SQS_MESSAGE_BYTES:
            bodies.append(_envelope(chunk))
            chunk, size = [], 0
        chunk.append(encoded)
        size += length
    if chunk:
        bodies.append(_envelope(chunk))
    return bodies


def _envelope(encoded_events: list[str]) -> str:
    return f'{{"v":{QUEUE_FORMAT},"kind":"events","events":[{",".join(encoded_events)}]}}'


def events_body(event: QueuedEvent) -> str:
    """A body holding this one event: what the forwarder dead-letters for one refused row."""
    message: EventsMessage = {"v": QUEUE_FORMAT, "kind": "events", "events": [event]}
    return json.dumps(message)


def erasure_body(user_id: str, anonymous_ids: list[str], requested_at: str) -> str:
    message: ErasureMessage = {
        "v": QUEUE_FORMAT,
        "kind": "erasure",
        "user_id": user_id,
        "anonymous_ids": anonymous_ids,
        "requested_at": requested_at,
    }
    return json.dumps(message, separators=(",", ":"))


class EventQueue:
    """Puts a request's events on the events queue: one SQS call for up to 1 MiB of
    normalised events (SendMessage, or SendMessageBatch when they exceed one message)."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def put(self, bodies: list[str]) -> int:
        """Send `bodies`; returns the number of SQS calls made."""
        if len(bodies) == 1:
            self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=bodies[0])
            return 1
        calls = 0
        for group in _groups(bodies):
            calls += self._send_batch(group)
        return calls

    def _send_batch(self, group: list[str]) -> int:
        pending = dict(enumerate(group))
        for calls in range(1, 4):
            answer = self._sqs.send_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "MessageBody": body} for i, body in pending.items()],
            )
            failed = {int(f["Id"]) for f in answer.get("Failed", [])}
            pending = {i: body for i, body in pending.items() if i in failed}
            if not pending:
                return calls
        # Part of the request is queued; the client's retry is safe (rows upsert by id).
        raise Problem(503, "The event queue refused part of the request; retry it.",
                      headers={"Retry-After": "1"})


def _groups(bodies: list[str]) -> Iterator[list[str]]:
    group: list[str] = []
    size = 0
    for body in bodies:
        length = len(body.encode())
        if group and (len(group) == SQS_BATCH_ENTRIES or size + length > SQS_BATCH_BYTES):
            yield group
            group, size = [], 0
        group.append(body)
        size += length
    if group:
        yield group
