"""The /events collector: request parsing, checking and normalisation into the events
that go on the events queue.

Accepts what the `analytics` library's plugins receive (type, event, properties, traits,
userId, anonymousId, meta.rid, meta.ts) and Segment-spec messages (page, screen, track,
identify, group, alias; messageId, timestamp, sentAt, context), one at a time or as
`{"batch": [...]}`.

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
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from chalicelib.core.clock import iso, now
from chalicelib.core.payloads import parse_json_object
from chalicelib.core.problems import BadRequest, Problem
from chalicelib.core.useragents import families
from chalicelib.tracking.event_queue import EventQueue, QueuedEvent, queue_bodies
from chalicelib.tracking.validation import (
    Invalid,
    check,
    from_epoch_ms,
    instant,
    path,
    user_hash_of,
)

MAX_EVENT_BYTES = 32 * 1024
MAX_REQUEST_BYTES = 500 * 1024
ACCEPTED_MEDIA_TYPES = ("application/json", "text/plain")
MAX_TEXT_CHARS = 2048

_UTM_FIELDS = {
    "utm_source": "source",
    "utm_medium": "medium",
    "utm_campaign": "name",
    "utm_term": "term",
    "utm_content": "content",
}
_PAGE_FIELDS = ("url", "path", "title", "referrer", "search")


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


# --- checking ------------------------------------------------------------------------


def normalise_request(
    messages: list[Any],
    *,
    user_agent: str | None,
    received_at: datetime | None = None,
    batched: bool = True,
    server_source: bool = False,
) -> list[QueuedEvent]:
    """Every message validated and normalised, or one problem naming each bad message."""
    received = iso(received_at or now())
    agent = reduce_user_agent(user_agent)
    sizes = [_size(m) for m in messages]
    oversized = [
        Invalid(i, path(batched, i, ""), f"the message is {size} bytes; at most "
                f"{MAX_EVENT_BYTES} are accepted")
        for i, size in enumerate(sizes)
        if size is not None and size > MAX_EVENT_BYTES
    ]
    if oversized:
        raise refused(413, oversized, len(messages))
    errors: list[Invalid] = []
    normalised: list[QueuedEvent] = []
    for index, message in enumerate(messages):
        if sizes[index] is None:
            errors.append(Invalid(index, path(batched, index, ""), "holds text that is not "
                                  "valid Unicode (a lone surrogate escape such as \\ud800)"))
            continue
        found = list(check(message, index, batched))
        errors.extend(found)
        if not found:
            normalised.append(normalise(message, received_at=received, agent=agent,
                                        server_source=server_source))
    if errors:
        raise refused(400, errors, len(messages))
    return normalised


def refused(status: int, errors: list[Invalid], total: int) -> Problem:
    """One problem naming each refused message (index) and field."""
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


# --- normalisation -------------------------------------------------------------------


def normalise(
    message: Mapping[str, Any],
    *,
    received_at: str,
    agent: Mapping[str, str],
    server_source: bool = False,
) -> QueuedEvent:
    """One canonical, Segment-shaped event (snake_case) from a checked message."""
    kind = str(message["type"])
    meta = message.get("meta") or {}
    context = message.get("context") or {}
    properties = dict(message.get("properties") or {})
    page = _page(context.get("page"), properties if kind == "page" else {})
    named = kind in ("page", "screen")  # a screen is a mobile app's page
    timestamp = instant(message.get("timestamp"))
    if timestamp is None and isinstance(meta.get("ts"), int | float):
        timestamp = from_epoch_ms(meta["ts"])
    sent_at = instant(message.get("sentAt"))
    event: QueuedEvent = {
        "message_id": _message_id(message),
        "type": kind,
        "event": message.get("event") if kind == "track" else None,
        "name": message.get("name") if named else None,
        "anonymous_id": message.get("anonymousId") or None,
        "user_id": message.get("userId") or None,
        "previous_id": message.get("previousId") or None,
        "group_id": str(message["groupId"]) if kind == "group" else None,
        "user_hash": user_hash_of(message) if kind in ("identify", "alias") else None,
        "server_source": server_source,
        "properties": properties if named or kind == "track" else {},
        # identify: the user's traits; group: the group's
        "traits": dict(message.get("traits") or {}) if kind in ("identify", "group") else {},
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


# --- the /events service ------------------------------------------------------------


def collect(
    queue: EventQueue,
    raw: bytes | str | None,
    content_type: str | None,
    user_agent: str | None,
    *,
    server_source: bool = False,
) -> list[str]:
    """The /events service: parse, check, normalise, queue. Returns the message ids.

    `server_source` says the request came from a server that proved a secret key, so its
    identify calls link without a user_hash (proof.py). /events is open to browsers and
    passes False; a server collector with write keys is the caller that may pass True."""
    messages, batched = parse_request(raw, content_type)
    events = normalise_request(messages, user_agent=user_agent, batched=batched,
                               server_source=server_source)
    queue.put(queue_bodies(events))
    return [event["message_id"] for event in events]

