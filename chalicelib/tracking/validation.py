"""What /events accepts in one message: its checks (each failure an `Invalid` naming the
field), the id rule every DynamoDB key built from an id relies on, and the instants a
message may carry."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.tracking.proof import is_user_hash

TYPES = frozenset({"page", "screen", "track", "identify", "group", "alias"})
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
_RANGE = "must fall between 0001-01-01 and 9999-12-31 once converted to UTC"


@dataclass(frozen=True)
class Invalid:
    """One reason a message was refused."""

    index: int
    field: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "detail": self.detail}


def path(batched: bool, index: int, field: str) -> str:
    """Where a field is in the request: `batch[2].userId`, `userId`, or `body`."""
    prefix = f"batch[{index}]" if batched else ""
    if not field:
        return prefix or "body"
    return f"{prefix}.{field}" if prefix else field


def check(message: Any, index: int, batched: bool) -> Iterator[Invalid]:
    """Every reason this message is refused (none: it is accepted)."""
    if not isinstance(message, dict):
        yield Invalid(index, path(batched, index, ""), "a message must be a JSON object")
        return
    for field, detail in (*_identity_problems(message), *_shape_problems(message),
                          *_meta_problems(message), *_context_problems(message)):
        yield Invalid(index, path(batched, index, field), detail)


_Problems = Iterator[tuple[str, str]]


def _identity_problems(message: Mapping[str, Any]) -> _Problems:
    """The type, the ids, and what each type needs."""
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in TYPES:
        yield "type", f"must be one of {', '.join(sorted(TYPES))}, got {kind!r}"
    ids = {name: message.get(name) for name in ("userId", "anonymousId", "previousId")}
    for name, value in ids.items():
        if value is not None and not is_id(value):
            yield name, ID_RULE
    if not ids["userId"] and not ids["anonymousId"]:
        yield "userId", "a message needs a userId or an anonymousId"
    if kind == "track":
        event = message.get("event")
        if not isinstance(event, str) or not event.strip():
            yield "event", "a track message needs an event name"
        elif len(event) > MAX_EVENT_NAME_CHARS:
            yield "event", f"at most {MAX_EVENT_NAME_CHARS} characters"
    if kind == "alias":
        if not ids["previousId"]:
            yield "previousId", "an alias message needs a previousId"
        if not ids["userId"]:
            yield "userId", "an alias message needs a userId"
    if kind == "identify" and not ids["userId"] and not message.get("traits"):
        yield "userId", "an identify message needs a userId or traits"
    if kind == "group" and not is_id(message.get("groupId")):
        yield "groupId", f"a group message needs a groupId; it {ID_RULE}"
    for name, value in _user_hashes(message):
        if not is_user_hash(value):
            yield name, "must be the user id's HMAC-SHA256 in hex (64 characters)"


def _user_hashes(message: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """The user_hash a message carries: `userHash`, or `options.userHash` (what the
    analytics library's identify(userId, traits, options) sends)."""
    if message.get("userHash") is not None:
        yield "userHash", message["userHash"]
    options = message.get("options")
    if isinstance(options, dict) and options.get("userHash") is not None:
        yield "options.userHash", options["userHash"]


def user_hash_of(message: Mapping[str, Any]) -> str | None:
    """The message's user_hash, lower-cased (checked already), or None."""
    for _, value in _user_hashes(message):
        return str(value).lower()
    return None


def _shape_problems(message: Mapping[str, Any]) -> _Problems:
    """Objects, strings and instants where the spec has them."""
    for name in ("properties", "traits", "context", "meta", "options"):
        if message.get(name) is not None and not isinstance(message[name], dict):
            yield name, "must be an object"
    if message.get("type") != "track" and not isinstance(message.get("event", ""), str | None):
        yield "event", "must be a string"
    if message.get("name") is not None and not isinstance(message["name"], str):
        yield "name", "must be a string"
    if message.get("messageId") is not None and not is_id(message["messageId"]):
        yield "messageId", ID_RULE
    for name in ("timestamp", "sentAt"):
        if message.get(name) is None:
            continue
        parsed = instant(message[name])
        if parsed is None:
            yield name, "must be an ISO 8601 date-time"
        elif _in_utc(parsed) is None:
            yield name, _RANGE


def _meta_problems(message: Mapping[str, Any]) -> _Problems:
    """The analytics library's meta: its request id and epoch milliseconds."""
    meta = message.get("meta")
    if not isinstance(meta, dict):
        return
    if meta.get("rid") is not None and not is_id(meta["rid"]):
        yield "meta.rid", ID_RULE
    ts = meta.get("ts")
    if ts is not None and (isinstance(ts, bool) or not isinstance(ts, int | float)):
        yield "meta.ts", "must be epoch milliseconds"
    elif ts is not None and from_epoch_ms(ts) is None:
        yield "meta.ts", "must be epoch milliseconds within years 0001 to 9999"


def _context_problems(message: Mapping[str, Any]) -> _Problems:
    context = message.get("context")
    if not isinstance(context, dict):
        return
    for name in ("page", "library", "campaign"):
        if context.get(name) is not None and not isinstance(context[name], dict):
            yield f"context.{name}", "must be an object"
    for name in ("locale", "timezone"):
        if context.get(name) is not None and not isinstance(context[name], str):
            yield f"context.{name}", "must be a string"


def is_id(value: Any) -> bool:
    """An id we accept, and so one every key built from it fits (see MAX_ID_BYTES)."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID_CHARS:
        return False
    try:
        return len(value.encode()) <= MAX_ID_BYTES
    except UnicodeEncodeError:  # a lone surrogate
        return False


def instant(value: Any) -> datetime | None:
    """An ISO 8601 date-time (UTC when it names no offset), or None."""
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


def from_epoch_ms(ms: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):  # which one depends on the platform
        return None
