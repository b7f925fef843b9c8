"""The items of a code in the links table: their keys, their typed shapes, and their
conversion to and from DynamoDB JSON. Only links' store writes them; other features
recognise them (in stream images) with the helpers here.

Items in the links table (pk / sk):
  link#<code> / link        the live link
  link#<code> / counter     its click counters, and a copy of what a click needs (URL,
                            expiry, max_clicks, expired_url) and what the click's stream
                            record must carry (campaign, ref, webhook; tags are read from
                            the link by the stream's consumer, as they may be long). The only
                            item a click writes: small, in no index, the same size at any
                            age. Present iff the link is (written and removed with it).
  link#<code> / expiry      expiry marker, present iff the link has an expiry: the sweeper's
                            sparse index (gsi1 partition expiry#<shard>, sorted by expires_at)
  link#<code> / tombstone   what is left once a link expired or was deleted: its final state
                            and counters. It has no TTL, so GET keeps answering "expired" or
                            "deleted" and the code is never handed out again.

Indexes (both projected ALL):
  gsi1  "links" / "<created_at>#<code>"              every link and tombstone, newest first
  gsi1  "expiry#<0-3>" / "<expires_at:012d>#<code>"  expiry markers (overloaded gsi1)
  gsi2  "campaign#<id>" / "<created_at>#<code>"      one campaign's links and tombstones

The list partition is a single one: newest-first over shards needs a k-way merge and a cursor
per shard, and one GSI partition takes about 1,000 writes/s, far above what link creation
reaches (the API, plus campaign workers whose concurrency the queue bounds). Expiry markers
need no order across partitions, so they are spread over four shards for free.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal, NotRequired, TypedDict, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

Kind = Literal["link", "counter", "expiry", "tombstone"]
LINK: Kind = "link"
COUNTER: Kind = "counter"
EXPIRY: Kind = "expiry"
TOMBSTONE: Kind = "tombstone"
PK_PREFIX = "link#"
EXPIRY_SHARDS = 4
LIST_PARTITION = "links"
TTL_GRACE_SECONDS = 3600  # DynamoDB TTL is only the backstop behind the sweeper
# What a tombstone drops from the message: the plain number (to_masked stays).
PERSONAL_MESSAGE_FIELDS = frozenset({"to"})

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


class LinkItem(TypedDict):
    """A live link (sk "link") as plain values; a tombstone has the same attributes plus
    status, ended_at and reason. `message` is messaging's (see chalicelib.messaging)."""

    pk: str
    sk: str
    code: str
    long_url: str
    created_at: str
    key_id: str
    tags: list[str]
    gsi1pk: str
    gsi1sk: str
    expires_at: NotRequired[int]
    ttl: NotRequired[int]
    max_clicks: NotRequired[int]
    expired_url: NotRequired[str]
    webhook_url: NotRequired[str]
    campaign_id: NotRequired[str]
    ref: NotRequired[str]
    gsi2pk: NotRequired[str]
    gsi2sk: NotRequired[str]
    # the counter's, merged in when read (never written on the link item)
    human_clicks: NotRequired[int]
    bot_clicks: NotRequired[int]
    first_click_at: NotRequired[str]
    last_click_at: NotRequired[str]
    message: NotRequired[dict[str, Any]]
    webhook_failures: NotRequired[int]
    last_webhook_error: NotRequired[str]
    last_webhook_error_at: NotRequired[str]
    status: NotRequired[str]
    ended_at: NotRequired[str]
    reason: NotRequired[str]


class CounterItem(TypedDict):
    """A link's click counters (sk "counter"), which the edge updates once per click. The
    copied attributes change with the link (same transaction); `click` is the last click's
    attributes (see chalicelib.clicks.records)."""

    pk: str
    sk: str
    code: str
    long_url: str
    key_id: str
    human_clicks: int
    bot_clicks: int
    expires_at: NotRequired[int]
    max_clicks: NotRequired[int]
    expired_url: NotRequired[str]
    webhook_url: NotRequired[str]
    campaign_id: NotRequired[str]
    ref: NotRequired[str]
    first_click_at: NotRequired[str]
    last_click_at: NotRequired[str]
    click: NotRequired[dict[str, str]]


# What the counter copies from the link: a PATCH of one of these changes both items.
COPIED = (
    "long_url",
    "key_id",
    "expires_at",
    "max_clicks",
    "expired_url",
    "webhook_url",
    "campaign_id",
    "ref",
)
# What only the counter holds; a read merges these into the link.
COUNTED = ("human_clicks", "bot_clicks", "first_click_at", "last_click_at")


class ExpiryMarker(TypedDict):
    """The sweeper's entry for a code: due at expires_at. A repair marker (a create whose
    undo failed) carries `undo_of`, the created_at of the link it must remove, and no ttl."""

    pk: str
    sk: str
    code: str
    expires_at: int
    gsi1pk: str
    gsi1sk: str
    ttl: NotRequired[int]
    undo_of: NotRequired[str]


# --- DynamoDB JSON ------------------------------------------------------------------------


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values -> DynamoDB JSON (None values are left out)."""
    return {k: _SERIALIZER.serialize(v) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB JSON -> plain values, numbers as int where integral; others (a message's
    price) stay Decimal, exact, and go back in as they came out."""
    return {k: _plain(_DESERIALIZER.deserialize(v)) for k, v in item.items()}


def to_attribute(value: Any) -> dict[str, Any]:
    """One plain value -> its DynamoDB JSON attribute value."""
    return dict(_SERIALIZER.serialize(value))


def from_attribute(value: Mapping[str, Any]) -> Any:
    """One DynamoDB JSON attribute value -> its value, numbers as Decimal (exact)."""
    return _DESERIALIZER.deserialize(cast(Any, value))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


# --- keys ---------------------------------------------------------------------------------


def link_pk(code: str) -> str:
    return f"{PK_PREFIX}{code}"


def link_key(code: str, kind: Kind = LINK) -> dict[str, Any]:
    return {"pk": {"S": link_pk(code)}, "sk": {"S": kind}}


def code_of(pk: str) -> str:
    return pk.removeprefix(PK_PREFIX)


def expiry_shard(code: str) -> str:
    return f"expiry#{ord(code[0]) % EXPIRY_SHARDS}"


def expiry_sort_key(expires_at: int, code: str) -> str:
    return f"{expires_at:012d}#{code}"


def due_by(at_epoch: int) -> str:
    """The highest expiry sort key due by `at_epoch` (every code sorts below "~")."""
    return f"{at_epoch:012d}#~"


def image_code(image: Mapping[str, Any], kind: Kind = LINK) -> str | None:
    """The code of a stream image or key (DynamoDB JSON) of the code's `kind` item, else
    None (other items of the links table: campaigns, recipients)."""
    pk = image.get("pk", {}).get("S", "")
    if image.get("sk", {}).get("S") != kind or not str(pk).startswith(PK_PREFIX):
        return None
    return code_of(str(pk))


# --- shapes -------------------------------------------------------------------------------


def expiry_marker(code: str, expires_at: int) -> ExpiryMarker:
    return {
        "pk": link_pk(code),
        "sk": EXPIRY,
        "code": code,
        "expires_at": expires_at,
        "ttl": expires_at + TTL_GRACE_SECONDS,
        "gsi1pk": expiry_shard(code),
        "gsi1sk": expiry_sort_key(expires_at, code),
    }


def repair_marker(code: str, due: int, created_at: str) -> ExpiryMarker:
    """An expiry marker due at `due`, naming the link it must remove by its created_at (so a
    link created again under the code later is left alone). No ttl: it stays until the
    sweeper has acted on it."""
    return {
        "pk": link_pk(code),
        "sk": EXPIRY,
        "code": code,
        "expires_at": due,
        "undo_of": created_at,
        "gsi1pk": expiry_shard(code),
        "gsi1sk": expiry_sort_key(due, code),
    }


def counter_for(link: Mapping[str, Any]) -> CounterItem:
    """The counter item of a new link (no clicks yet). No ttl: the counter goes with its link
    (retirement deletes both; a TTL-removed link's tombstone takes its counts)."""
    counter = {
        "pk": link_pk(str(link["code"])),
        "sk": COUNTER,
        "code": link["code"],
        "human_clicks": 0,
        "bot_clicks": 0,
        **{name: link[name] for name in COPIED if name in link},
    }
    return cast(CounterItem, counter)


def merged(link: Mapping[str, Any], counter: Mapping[str, Any] | None) -> dict[str, Any]:
    """A link as read: its item with its counter's counts (0 when it has no counter yet)."""
    counts: dict[str, Any] = {
        "human_clicks": link.get("human_clicks", 0),  # a link from before counter items
        "bot_clicks": link.get("bot_clicks", 0),
    }
    if counter is not None:
        counts.update({name: counter[name] for name in COUNTED if name in counter})
        counts["counted"] = True  # read with its counter (not stored)
    return {**link, **counts}


def tombstone(
    link: Mapping[str, Any], status: str, ended_at: str, reason: str | None = None
) -> dict[str, Any]:
    """The final state of a link, under the same partition; no ttl, so it stays (the code is
    never handed out again). It keeps no personal data: the message's plain number is
    dropped, the masked one stays."""
    kept = {k: v for k, v in link.items() if k not in ("ttl", "sk", "counted")}
    message = kept.get("message")
    if isinstance(message, Mapping):
        kept["message"] = {k: v for k, v in message.items() if k not in PERSONAL_MESSAGE_FIELDS}
    ended = {**kept, "sk": TOMBSTONE, "status": status, "ended_at": ended_at}
    if reason is not None:
        ended["reason"] = reason
    return ended
