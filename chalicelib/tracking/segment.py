"""Segment's HTTP Tracking API as the collector reads it: bodies (gzip inflated within the
limits while inflating), the calls of each path, and the fields Segment's libraries send
that /events does not keep (originalTimestamp, integrations, the whole context).

A request's messages go through the /events checks and normalisation (collector.py), so
they land in the same queue, identity resolution and warehouse rows; this module adds
Segment's clock-skew correction: timestamp = receivedAt - (sentAt - originalTimestamp).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.core.clock import iso, now
from chalicelib.core.payloads import parse_json_object
from chalicelib.core.problems import BadRequest, Problem
from chalicelib.tracking.collector import (
    ACCEPTED_MEDIA_TYPES,
    MAX_REQUEST_BYTES,
    normalise_request,
    refused,
)
from chalicelib.tracking.event_queue import QueuedEvent
from chalicelib.tracking.validation import Invalid, instant, path

# The call each path takes; analytics-next posts to the type's first letter.
CALLS: dict[str, str | None] = {
    "track": "track", "page": "page", "screen": "screen", "identify": "identify",
    "group": "group", "alias": "alias", "batch": None, "import": None,
    "t": "track", "p": "page", "s": "screen", "i": "identify", "g": "group", "a": "alias",
    "b": None,
}
# Client-sent context the warehouse never keeps: the address and the raw user agent (the
# header is reduced to families instead), the browser's user-agent hints, and the proof.
_DROPPED_CONTEXT = frozenset({"ip", "userAgent", "userAgentData", "userHash"})
_READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class SegmentRequest:
    """A Tracking API request's messages, with what the body says besides."""

    messages: list[Any]
    batched: bool
    sent_at: datetime | None  # the batch's own sentAt, for messages without one
    write_key: str | None  # analytics-next sends it in the body


def inflated(raw: bytes, content_encoding: str | None, limit: int = MAX_REQUEST_BYTES) -> bytes:
    """The body as sent before compression. A gzip body is inflated a chunk at a time and
    refused (413) as soon as its output passes `limit`, so a small bomb costs no memory."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return raw
    if encoding != "gzip":
        raise Problem(415, "Content-Encoding must be gzip or absent.", field="Content-Encoding")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    pending = raw
    try:
        while pending and not inflater.eof:
            out += inflater.decompress(pending[:_READ_CHUNK], limit + 1 - len(out))
            if len(out) > limit:
                raise Problem(413, f"The body inflates to more than {limit} bytes; at most "
                              f"{limit} are accepted.", field="body")
            pending = inflater.unconsumed_tail + pending[_READ_CHUNK:]
    except zlib.error as error:
        raise BadRequest(f"The gzip body is malformed: {error}.", field="body") from None
    if not inflater.eof or inflater.unused_data or pending:
        raise BadRequest("The gzip body is truncated or has data after its end.", field="body")
    return bytes(out)


def parse(raw: bytes, content_type: str | None, call: str | None) -> SegmentRequest:
    """The messages of a request to the path of `call` (None: a batch)."""
    body = parse_json_object(
        raw, content_type, max_bytes=MAX_REQUEST_BYTES, accept=ACCEPTED_MEDIA_TYPES
    )
    write_key = body.get("writeKey")
    if write_key is not None and not isinstance(write_key, str):
        raise BadRequest("writeKey must be a string.", field="writeKey")
    if call is None:
        batch = body.get("batch")
        if not isinstance(batch, list) or not batch:
            raise BadRequest("batch must be a non-empty array of messages.", field="batch")
        sent_at = instant(body.get("sentAt"))
        return SegmentRequest(batch, True, sent_at, write_key)
    given = body.get("type", call)
    if given != call:
        raise BadRequest(f"type must be {call!r} on this path, got {given!r}.", field="type")
    return SegmentRequest([{**body, "type": call}], False, None, write_key)


def segment_events(
    request: SegmentRequest,
    *,
    user_agent: str | None,
    source_id: str,
    server_source: bool,
    received_at: datetime | None = None,
) -> list[QueuedEvent]:
    """Every message checked and normalised as /events does, with Segment's fields kept
    and its timestamp corrected; or one problem naming each bad message."""
    received = received_at or now()
    errors = [e for i, m in enumerate(request.messages) for e in _checks(m, i, request.batched)]
    if errors:
        raise refused(400, errors, len(request.messages))
    prepared = [_with_proof(m) for m in request.messages]
    events = normalise_request(prepared, user_agent=user_agent, received_at=received,
                               batched=request.batched, server_source=server_source)
    for message, event in zip(prepared, events, strict=True):
        _keep_segment_fields(event, message, received, request.sent_at, source_id)
    return events


def _checks(message: Any, index: int, batched: bool) -> Iterator[Invalid]:
    """What Segment's messages carry beyond what /events checks."""
    if not isinstance(message, dict):
        return  # the /events checks name it
    if message.get("integrations") is not None and not isinstance(message["integrations"], dict):
        yield Invalid(index, path(batched, index, "integrations"), "must be an object")
    value = message.get("originalTimestamp")
    if value is not None and instant(value) is None:
        yield Invalid(index, path(batched, index, "originalTimestamp"),
                      "must be an ISO 8601 date-time")


def _with_proof(message: Any) -> Any:
    """analytics-next moves identify's options into the context: `identify(id, traits,
    {userHash})` arrives as context.userHash, the proof /events reads as userHash."""
    if not isinstance(message, dict) or message.get("userHash") is not None:
        return message
    context = message.get("context")
    if isinstance(context, dict) and context.get("userHash") is not None:
        return {**message, "userHash": context["userHash"]}
    return message


def _keep_segment_fields(
    event: QueuedEvent,
    message: Mapping[str, Any],
    received: datetime,
    batch_sent_at: datetime | None,
    source_id: str,
) -> None:
    original = instant(message.get("originalTimestamp")) or instant(message.get("timestamp"))
    sent = instant(message.get("sentAt")) or batch_sent_at
    corrected = _corrected(received, sent, original)
    if corrected is not None:
        event["timestamp"] = iso(corrected)
    event["original_timestamp"] = iso(original) if original else None
    event["sent_at"] = iso(sent) if sent else None
    event["integrations"] = dict(message.get("integrations") or {})
    context = message.get("context") or {}
    event["sent_context"] = {k: v for k, v in context.items() if k not in _DROPPED_CONTEXT}
    event["source_id"] = source_id


def _corrected(
    received: datetime, sent: datetime | None, original: datetime | None
) -> datetime | None:
    """receivedAt - (sentAt - originalTimestamp): the client's clock's offset taken out."""
    if original is None:
        return None
    if sent is None:
        return original
    try:
        return received - (sent - original)
    except OverflowError:
        return original
