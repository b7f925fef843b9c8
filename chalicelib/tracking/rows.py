"""The warehouse rows Stitch receives, and the schemas declared for them.

`events` holds one flat row per event (properties and traits as JSON text, the context
spread into columns; a Segment library's integrations and whole context as JSON text too);
`resolved_user_id` is user_id, else the user the anonymous id was
linked to when forwarded. `identities` holds one row per anonymous id (message_id
"identity:<anonymous_id>", its first link: a later claim is a conflict, never forwarded;
newest sequence wins should the same link come twice); erasure upserts those rows with
deleted=true and adds one "erasure:<user_id>" row.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, TypedDict

from chalicelib.tracking.event_queue import QueuedEvent
from chalicelib.tracking.identity import IdentityLink

EVENTS_TABLE = "events"
IDENTITIES_TABLE = "identities"

_TEXT = {"type": ["null", "string"]}
_INSTANT = {"type": ["null", "string"], "format": "date-time"}
EVENTS_SCHEMA: dict[str, Any] = {
    "properties": {
        "message_id": {"type": "string"},
        "type": {"type": "string"},
        "event": _TEXT,
        "name": _TEXT,
        "anonymous_id": _TEXT,
        "user_id": _TEXT,
        "resolved_user_id": _TEXT,
        "previous_id": _TEXT,
        "group_id": _TEXT,
        "timestamp": _INSTANT,
        "sent_at": _INSTANT,
        "original_timestamp": _INSTANT,
        "received_at": {"type": "string", "format": "date-time"},
        "properties": _TEXT,
        "traits": _TEXT,
        "page_url": _TEXT,
        "page_path": _TEXT,
        "page_title": _TEXT,
        "page_referrer": _TEXT,
        "page_search": _TEXT,
        "campaign_source": _TEXT,
        "campaign_medium": _TEXT,
        "campaign_name": _TEXT,
        "campaign_term": _TEXT,
        "campaign_content": _TEXT,
        "library_name": _TEXT,
        "library_version": _TEXT,
        "locale": _TEXT,
        "timezone": _TEXT,
        "browser": _TEXT,
        "os": _TEXT,
        "device": _TEXT,
        "integrations": _TEXT,
        "context": _TEXT,
        "source_id": _TEXT,
    }
}
IDENTITIES_SCHEMA: dict[str, Any] = {
    "properties": {
        "message_id": {"type": "string"},
        "anonymous_id": _TEXT,
        "user_id": {"type": "string"},
        "linked_at": _INSTANT,
        "source_message_id": _TEXT,
        "deleted": {"type": "boolean"},
        "deleted_at": _INSTANT,
    }
}
SCHEMAS = {EVENTS_TABLE: EVENTS_SCHEMA, IDENTITIES_TABLE: IDENTITIES_SCHEMA}


class EventRow(TypedDict):
    """A row of `events` (EVENTS_SCHEMA)."""

    message_id: str
    type: str
    event: str | None
    name: str | None
    anonymous_id: str | None
    user_id: str | None
    resolved_user_id: str | None
    previous_id: str | None
    group_id: str | None
    timestamp: str | None
    sent_at: str | None
    original_timestamp: str | None
    received_at: str
    properties: str | None
    traits: str | None
    page_url: str | None
    page_path: str | None
    page_title: str | None
    page_referrer: str | None
    page_search: str | None
    campaign_source: str | None
    campaign_medium: str | None
    campaign_name: str | None
    campaign_term: str | None
    campaign_content: str | None
    library_name: str | None
    library_version: str | None
    locale: str | None
    timezone: str | None
    browser: str | None
    os: str | None
    device: str | None
    integrations: str | None
    context: str | None
    source_id: str | None


class IdentityRow(TypedDict):
    """A row of `identities` (IDENTITIES_SCHEMA): a link, its deletion, or an erasure."""

    message_id: str
    anonymous_id: str | None
    user_id: str
    linked_at: str | None
    source_message_id: str | None
    deleted: bool
    deleted_at: str | None


def sequence_of(instant: str | None) -> int:
    """Stitch's sequence for a row: the instant in epoch milliseconds (newest wins)."""
    if not instant:
        return 0
    return int(datetime.fromisoformat(instant).timestamp() * 1000)


def event_row(event: QueuedEvent, resolved_user_id: str | None = None) -> EventRow:
    """The event's row; `resolved_user_id` stands in when the event has no user_id."""
    context: Any = event.get("context") or {}
    page = context.get("page") or {}
    campaign = context.get("campaign") or {}
    library = context.get("library") or {}
    agent = context.get("user_agent") or {}
    return {
        "message_id": event["message_id"],
        "type": event["type"],
        "event": event.get("event"),
        "name": event.get("name"),
        "anonymous_id": event.get("anonymous_id"),
        "user_id": event.get("user_id"),
        "resolved_user_id": event.get("user_id") or resolved_user_id,
        "previous_id": event.get("previous_id"),
        "group_id": event.get("group_id"),
        "timestamp": event.get("timestamp"),
        "sent_at": event.get("sent_at"),
        "original_timestamp": event.get("original_timestamp"),
        "received_at": event["received_at"],
        "properties": _json_text(event.get("properties")),
        "traits": _json_text(event.get("traits")),
        "page_url": page.get("url"),
        "page_path": page.get("path"),
        "page_title": page.get("title"),
        "page_referrer": page.get("referrer"),
        "page_search": page.get("search"),
        "campaign_source": campaign.get("source"),
        "campaign_medium": campaign.get("medium"),
        "campaign_name": campaign.get("name"),
        "campaign_term": campaign.get("term"),
        "campaign_content": campaign.get("content"),
        "library_name": library.get("name"),
        "library_version": library.get("version"),
        "locale": context.get("locale"),
        "timezone": context.get("timezone"),
        "browser": agent.get("browser"),
        "os": agent.get("os"),
        "device": agent.get("device"),
        "integrations": _json_text(event.get("integrations")),
        "context": _json_text(event.get("sent_context")),
        "source_id": event.get("source_id"),
    }


def _json_text(value: Any) -> str | None:
    return json.dumps(value, separators=(",", ":"), sort_keys=True) if value else None


def identity_row(link: IdentityLink, deleted_at: str | None = None) -> IdentityRow:
    return {
        "message_id": f"identity:{link.anonymous_id}",
        "anonymous_id": link.anonymous_id,
        "user_id": link.user_id,
        "linked_at": link.linked_at or None,
        "source_message_id": link.message_id or None,
        "deleted": deleted_at is not None,
        "deleted_at": deleted_at,
    }


def erasure_row(user_id: str, requested_at: str) -> IdentityRow:
    return {
        "message_id": f"erasure:{user_id}",
        "anonymous_id": None,
        "user_id": user_id,
        "linked_at": None,
        "source_message_id": None,
        "deleted": True,
        "deleted_at": requested_at,
    }
