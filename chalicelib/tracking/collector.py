"""The /events collector: request parsing, validation and normalisation, and the queue
message that carries a request's events to the forwarder.

Accepts what the `analytics` library's plugins receive (type, event, properties, traits,
userId, anonymousId, meta.rid, meta.ts) and Segment-spec messages (page, track, identify,
alias; messageId, timestamp, sentAt, context), one at a time or as `{"batch": [...]}`.

Batch semantics: all-or-nothing. Every message of a request is checked first; if any is
invalid the request answers one 400 naming each bad message (index) and field, and nothing
is queued. A browser retrying a fixed request then never duplicates the good half (and
rows upsert by message_id downstream anyway).

Privacy: the client IP is never read; a `context.ip` or `context.userAgent` sent by a
client is dropped. The user agent header is reduced to browser, OS and device family.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from chalicelib.core.clock import iso, now
from chalicelib.core.payloads import parse_json_object
from chalicelib.core.problems import BadRequest, Problem
from chalicelib.core.useragents import families

MAX_EVENT_BYTES = 32 * 1024
MAX_REQUEST_BYTES = 500 * 1024
ACCEPTED_MEDIA_TYPES = ("application/json", "text/plain")
TYPES = frozenset({"page", "track", "identify", "alias"})
MAX_ID_CHARS = 256
# Ids become DynamoDB keys: "anon#<id>" is an identity item's pk and its gsi1sk, "user#<id>"
# its gsi1pk and an erasure marker's pk. A sort key holds at most 1,024 bytes (index keys
# included) and a partition key 2,048; DynamoDB counts UTF-8 bytes, so 256 characters of
# emoji would be 1,024 bytes. 512 keeps every key built from an id at half the limit.
MAX_ID_BYTES = 512
ID_RULE = (
    f"must be a non-empty string of at most {MAX_ID_CHARS} characters "
    f"and {MAX_ID_BYTES} bytes in UTF-8"
)
MAX_EVENT_NAME_CHARS = 256
MAX_TEXT_CHARS = 2048

# One queue message stays under SQS's long-standing 256 KiB limit. The forwarder takes up
# to 100 messages per invocation (app.py: EVENTS_BATCH_SIZE, gathered for at most 5 s);
# Lambda hands it fewer when they would exceed the 6 MB invocation payload, so big
# messages make smaller batches, never a failed one. SendMessageBatch takes up to ten
# entries and 1 MiB in total per call.
SQS_MESSAGE_BYTES = 256 * 1024
SQS_BATCH_ENTRIES = 10
SQS_BATCH_BYTES = 1024 * 1024
QUEUE_FORMAT = 1

_UTM_FIELDS = {
    "utm_source": "source",
    "utm_medium": "medium",
    "utm_campaign": "name",
    "utm_term": "term",
    "utm_content": "content",
}
_PAGE_FIELDS = ("url", "path", "title", "referrer", "search")


@dataclass(frozen=True)
class Invalid:
    """One reason a message was refused."""

    index: int
    field: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "detail": self.detail}


# --- request -> raw messages ---------------------------------------------------------


def parse_request(
    raw: bytes | str | None, content_type: str | None
) -> tuple[list[Any], bool]:
    """The request's messages and whether they came as `{"batch": [...]}`, or a problem."""
    parsed = parse_json_object(  # 415, 413 or 400 (not JSON, not an object)
        raw or b"", content_type, max_bytes=MAX_REQUEST_BYTES, accept=ACCEPTED_MEDIA_TYPES
    )
    if "batch" not in parsed:
        return [parsed], False
    batch = parsed["batch"]
    if not isinstance(batch, list) or not batch:
        raise BadRequest("batch must be a non-empty array of messages.", field="batch")
    return batch, True


# --- validation ----------------------------------------------------------------------


def normalise_request(
    messages: list[Any],
    *,
    user_agent: str | None,
    received_at: datetime | None = None,
    batched: bool = True,
) -> list[dict[str, Any]]:
    """Every message validated and normalised, or one problem naming each bad message."""
    received = iso(received_at or now())
    agent = reduce_user_agent(user_agent)
    sizes = [_size(m) for m in messages]
    oversized = [
        Invalid(i, _path(batched, i, ""), f"the message is {size} bytes; at most "
                f"{MAX_EVENT_BYTES} are accepted")
        for i, size in enumerate(sizes)
        if size is not None and size > MAX_EVENT_BYTES
    ]
    if oversized:
        raise _problem(413, oversized, len(messages))
    errors: list[Invalid] = []
    normalised: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        if sizes[index] is None:
            errors.append(Invalid(index, _path(batched, index, ""), "holds text that is not "
                                  "valid Unicode (a lone surrogate escape such as \\ud800)"))
            continue
        found = list(_check(message, index, batched))
        errors.extend(found)
        if not found:
            normalised.append(normalise(message, received_at=received, agent=agent))
    if errors:
        raise _problem(400, errors, len(messages))
    return normalised


def _problem(status: int, errors: list[Invalid], total: int) -> Problem:
    bad = sorted({e.index for e in errors})
    summary = "; ".join(f"{e.field}: {e.detail}" for e in errors[:10])
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return Problem(
        status,
        f"{len(bad)} of {total} message(s) refused, nothing was accepted: {summary}{more}.",
        field=errors[0].field,
        extra={"errors": [e.to_dict() for e in errors]},
    )


def _size(message: Any) -> int | None:
    """The message's size in UTF-8, None if it holds a lone surrogate (JSON's "\\ud800"
    parses to one, and no UTF-8 text, DynamoDB string or queue body can hold it)."""
    try:
        return len(json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode())
    except UnicodeEncodeError:
        return None


def _path(batched: bool, index: int, field: str) -> str:
    prefix = f"batch[{index}]" if batched else ""
    if not field:
        return prefix or "body"
    return f"{prefix}.{field}" if prefix else field


def _check(message: Any, index: int, batched: bool) -> Iterator[Invalid]:
    def bad(field: str, detail: str) -> Invalid:
        return Invalid(index, _path(batched, index, field), detail)

    if not isinstance(message, dict):
        yield bad("", "a message must be a JSON object")
        return
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in TYPES:
        yield bad("type", f"must be one of {', '.join(sorted(TYPES))}, got {kind!r}")
    ids = {name: message.get(name) for name in ("userId", "anonymousId", "previousId")}
    for name, value in ids.items():
        if value is not None and not is_id(value):
            yield bad(name, ID_RULE)
    if not ids["userId"] and not ids["anonymousId"]:
        yield bad("userId", "a message needs a userId or an anonymousId")
    if kind == "track":
        event = message.get("event")
        if not isinstance(event, str) or not event.strip():
            yield bad("event", "a track message needs an event name")
        elif len(event) > MAX_EVENT_NAME_CHARS:
            yield bad("event", f"at most {MAX_EVENT_NAME_CHARS} characters")
    if kind == "alias":
        if not ids["previousId"]:
            yield bad("previousId", "an alias message needs a previousId")
        if not ids["userId"]:
            yield bad("userId", "an alias message needs a userId")
    if kind == "identify" and not ids["userId"] and not message.get("traits"):
        yield bad("userId", "an identify message needs a userId or traits")
    for name in ("properties", "traits", "context", "meta", "options"):
        if message.get(name) is not None and not isinstance(message[name], dict):
            yield bad(name, "must be an object")
    if kind != "track" and not isinstance(message.get("event", ""), str | None):
        yield bad("event", "must be a string")
    if message.get("name") is not None and not isinstance(message["name"], str):
        yield bad("name", "must be a string")
    if message.get("messageId") is not None and not is_id(message["messageId"]):
        yield bad("messageId", ID_RULE)
    for name in ("timestamp", "sentAt"):
        if message.get(name) is None:
            continue
        parsed = _instant(message[name])
        if parsed is None:
            yield bad(name, "must be an ISO 8601 date-time")
        elif _in_utc(parsed) is None:
            yield bad(name, _RANGE)
    meta = message.get("meta")
    if isinstance(meta, dict):
        if meta.get("rid") is not None and not is_id(meta["rid"]):
            yield bad("meta.rid", ID_RULE)
        ts = meta.get("ts")
        if ts is not None and (isinstance(ts, bool) or not isinstance(ts, int | float)):
            yield bad("meta.ts", "must be epoch milliseconds")
        elif ts is not None and _from_epoch_ms(ts) is None:
            yield bad("meta.ts", "must be epoch milliseconds within years 0001 to 9999")
    context = message.get("context")
    if isinstance(context, dict):
        for name in ("page", "library", "campaign"):
            if context.get(name) is not None and not isinstance(context[name], dict):
                yield bad(f"context.{name}", "must be an object")
        for name in ("locale", "timezone"):
            if context.get(name) is not None and not isinstance(context[name], str):
                yield bad(f"context.{name}", "must be a string")


def is_id(value: Any) -> bool:
    """An id we accept, and so one every key built from it fits (see MAX_ID_BYTES)."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID_CHARS:
        return False
    try:
        return len(value.encode()) <= MAX_ID_BYTES
    except UnicodeEncodeError:  # a lone surrogate
        return False


_RANGE = "must fall between 0001-01-01 and 9999-12-31 once converted to UTC"


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _in_utc(moment: datetime) -> datetime | None:
    """`moment` in UTC, or None when that falls outside datetime's years 1 to 9999
    (0001-01-01T00:00:00+05:00 is in year 0 in UTC)."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def _from_epoch_ms(ms: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):  # which one depends on the platform
        return None


# --- normalisation -------------------------------------------------------------------


def normalise(
    message: Mapping[str, Any], *, received_at: str, agent: Mapping[str, str]
) -> dict[str, Any]:
    """One canonical, Segment-shaped event (snake_case) from a checked message."""
    kind = str(message["type"])
    meta = message.get("meta") or {}
    context = message.get("context") or {}
    properties = dict(message.get("properties") or {})
    page = _page(context.get("page"), properties if kind == "page" else {})
    timestamp = _instant(message.get("timestamp"))
    if timestamp is None and isinstance(meta.get("ts"), int | float):
        timestamp = _from_epoch_ms(meta["ts"])
    sent_at = _instant(message.get("sentAt"))
    event: dict[str, Any] = {
        "message_id": _message_id(message),
        "type": kind,
        "event": message.get("event") if kind == "track" else None,
        "name": message.get("name") if kind == "page" else None,
        "anonymous_id": message.get("anonymousId") or None,
        "user_id": message.get("userId") or None,
        "previous_id": message.get("previousId") or None,
        "properties": properties if kind in ("page", "track") else {},
        "traits": dict(message.get("traits") or {}) if kind == "identify" else {},
        "timestamp": iso(timestamp) if timestamp else received_at,
        "sent_at": iso(sent_at) if sent_at else None,
        "received_at": received_at,
        "context": {
            "page": page,
            "library": _library(context.get("library"), meta),
            "locale": _text(context.get("locale"), 64),
            "timezone": _text(context.get("timezone"), 64),
            "campaign": _campaign(context.get("campaign"), page.get("url")),
            "user_agent": dict(agent),
        },
    }
    return event


def _message_id(message: Mapping[str, Any]) -> str:
    given = message.get("messageId") or (message.get("meta") or {}).get("rid")
    if given:
        return str(given)
    # The same payload sent twice (a retried beacon) gets the same id, so it upserts.
    canonical = json.dumps(message, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "h-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _text(value: Any, limit: int = MAX_TEXT_CHARS) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value)
    return text[:limit] if text else None


def _page(given: Any, page_properties: Mapping[str, Any]) -> dict[str, str | None]:
    source = given if isinstance(given, dict) else {}
    return {
        name: _text(source.get(name) if source.get(name) is not None
                    else page_properties.get(name))
        for name in _PAGE_FIELDS
    }


def _library(given: Any, meta: Mapping[str, Any]) -> dict[str, str | None]:
    if isinstance(given, dict) and given.get("name"):
        return {"name": _text(given.get("name"), 64), "version": _text(given.get("version"), 32)}
    if meta.get("rid"):
        return {"name": "analytics", "version": None}
    return {"name": None, "version": None}


def _campaign(given: Any, url: str | None) -> dict[str, str | None]:
    campaign: dict[str, str | None] = dict.fromkeys(_UTM_FIELDS.values())
    if url:
        try:
            query = parse_qs(urlsplit(url).query)
        except ValueError:
            query = {}
        for parameter, name in _UTM_FIELDS.items():
            if query.get(parameter):
                campaign[name] = _text(query[parameter][0], 256)
    if isinstance(given, dict):
        for name in campaign:
            if given.get(name) is not None:
                campaign[name] = _text(given[name], 256)
    return campaign


# --- user agent: families only -------------------------------------------------------


def reduce_user_agent(user_agent: str | None) -> dict[str, str]:
    """Browser, OS and device family; the raw string is never kept."""
    found = families(user_agent)
    return {"browser": found["browser"], "os": found["os"], "device": found["device"]}


# --- queue messages ------------------------------------------------------------------


def queue_bodies(events: list[dict[str, Any]]) -> list[str]:
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


def erasure_body(user_id: str, anonymous_ids: list[str], requested_at: str) -> str:
    return json.dumps(
        {
            "v": QUEUE_FORMAT,
            "kind": "erasure",
            "user_id": user_id,
            "anonymous_ids": anonymous_ids,
            "requested_at": requested_at,
        },
        separators=(",", ":"),
    )


class EventQueue:
    """Puts a request's events on the events queue: one SQS call for up to 1 MiB of
    normalised events (SendMessage, or SendMessageBatch when they exceed one message)."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
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


def collect(
    queue: EventQueue,
    raw: bytes | str | None,
    content_type: str | None,
    user_agent: str | None,
) -> list[str]:
    """The /events service: parse, check, normalise, queue. Returns the message ids."""
    messages, batched = parse_request(raw, content_type)
    events = normalise_request(messages, user_agent=user_agent, batched=batched)
    queue.put(queue_bodies(events))
    return [event["message_id"] for event in events]

