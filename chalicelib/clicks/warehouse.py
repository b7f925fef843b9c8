"""Clicks in the warehouse: each counted click (people and bots, flagged) becomes a
`Link Clicked` track event on the events queue, so the Stitch forwarder loads it into the
same `events` table as the site's own events. Its message id is the link's code and the
click's serial, and its times are the click's, so a replayed stream batch upserts the
same row: the rows equal the clicks counted. Off per stage with CLICK_EVENTS=off."""

from __future__ import annotations

from typing import Any

from chalicelib.clicks.records import Click
from chalicelib.tracking.event_queue import EventQueue, QueuedEvent, queue_bodies

EVENT_NAME = "Link Clicked"
LIBRARY = {"name": "linktrail-edge", "version": "1"}


def link_clicked(click: Click, short_base_url: str) -> QueuedEvent:
    """The click as a Segment-shaped track event (nothing in it identifies a person)."""
    properties: dict[str, Any] = {
        "code": click.code,
        "short_url": f"{short_base_url.rstrip('/')}/{click.code}",
        "campaign_id": click.campaign_id,
        "ref": click.ref,
        "tags": list(click.tags),
        "visitor": click.visitor,
        "bot": click.visitor == "bot",
        "country": click.country,
        "referrer": click.referrer,
        "trigger": click.trigger,
        "first_human_click": click.first_human,
        "serial": click.serial,
    }
    return {
        "message_id": f"click-{click.code}-{click.serial}",
        "type": "track",
        "event": EVENT_NAME,
        "name": None,
        "anonymous_id": None,
        "user_id": None,
        "previous_id": None,
        "user_hash": None,
        "server_source": True,
        "properties": properties,
        "traits": {},
        "timestamp": click.at,
        "sent_at": click.at,
        "received_at": click.at,
        "context": {
            "page": {},
            "library": dict(LIBRARY),
            "locale": None,
            "timezone": None,
            "campaign": {},
            "user_agent": {"browser": click.browser, "os": click.os, "device": click.device},
        },
    }


def forward(clicks: list[Click], queue: EventQueue, short_base_url: str) -> int:
    """Queue the clicks' events (as few SQS calls as the queue's packing allows); the
    number of SQS calls made."""
    if not clicks:
        return 0
    return queue.put(queue_bodies([link_clicked(click, short_base_url) for click in clicks]))
