"""A counted click, as the links stream delivers it.

The edge counts a click with one UpdateItem on the link's counter item
(`link#<code>` / `counter`): it bumps human_clicks or bot_clicks and sets `click`, a map of
the click's attributes. That one write is the stream record every click consumer reads
(rollups, the warehouse, webhooks): a MODIFY of a counter item whose human + bot total went
up. Its new total is the click's serial: per link it takes every value once, in order (all
of a link's changes share one stream shard), so a replayed record is recognised by it.

The `click` map (nothing in it identifies a person: no IP, no user agent, no full URL):
  at        ISO 8601 UTC, milliseconds ("2026-12-03T11:57:16.123Z")
  visitor   "human" | "bot"
  country   ISO 3166 alpha-2, "ZZ" when unknown
  device    "mobile" | "tablet" | "desktop" | "bot" | "other"
  browser   browser family ("Chrome", "Safari", "WhatsApp", "Other", ...)
  os        OS family ("iOS", "Android", "Windows", "Other", ...)
  referrer  the referring page's host, lower case; absent when none (SMS, apps)
  trigger   "link", or "qr" for a scan of the link's QR code
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from chalicelib.links.items import COUNTER, image_code

Visitor = Literal["human", "bot"]


@dataclass(frozen=True)
class Click:
    """One counted click of one link."""

    code: str
    serial: int  # the link's human + bot clicks once this one was counted
    at: str
    visitor: Visitor
    country: str
    device: str
    browser: str
    os: str
    referrer: str | None
    trigger: str
    first_human: bool  # the link's first human click
    campaign_id: str | None
    ref: str | None
    tags: tuple[str, ...]


def click_of(record: Mapping[str, Any]) -> Click | None:
    """The click a links-stream record (the Lambda record as a dict) carries, else None:
    another item's change, or a counter change that is not a click (an edit)."""
    if record.get("eventName") != "MODIFY":
        return None
    stream = record.get("dynamodb", {})
    new, old = stream.get("NewImage", {}), stream.get("OldImage", {})
    code = image_code(new, COUNTER)
    serial = _total(new)
    if code is None or serial <= _total(old) or "M" not in new.get("click", {}):
        return None
    attributes = {k: next(iter(v.values())) for k, v in new["click"]["M"].items()}
    visitor: Visitor = "bot" if attributes.get("visitor") == "bot" else "human"
    return Click(
        code=code,
        serial=serial,
        at=str(attributes.get("at", "")),
        visitor=visitor,
        country=str(attributes.get("country", "ZZ")),
        device=str(attributes.get("device", "other")),
        browser=str(attributes.get("browser", "Other")),
        os=str(attributes.get("os", "Other")),
        referrer=str(attributes["referrer"]) if attributes.get("referrer") else None,
        trigger=str(attributes.get("trigger", "link")),
        first_human=visitor == "human" and _number(new, "human_clicks") == 1,
        campaign_id=_string(new, "campaign_id"),
        ref=_string(new, "ref"),
        tags=tuple(str(t.get("S", "")) for t in new.get("tags", {}).get("L", [])),
    )


def clicks_of(records: Iterable[Mapping[str, Any]]) -> list[Click]:
    """The clicks among a batch of links-stream records, in stream order."""
    return [click for click in map(click_of, records) if click is not None]


def with_tags(
    clicks: list[Click], tags_for: Callable[[list[str]], Mapping[str, tuple[str, ...]]]
) -> list[Click]:
    """The clicks with their links' tags, which the counter item does not carry (see
    chalicelib.links.tags): one read for the whole batch."""
    if not clicks:
        return clicks
    tags = tags_for([click.code for click in clicks])
    return [replace(click, tags=tags.get(click.code, click.tags)) for click in clicks]


def _total(image: Mapping[str, Any]) -> int:
    return _number(image, "human_clicks") + _number(image, "bot_clicks")


def _number(image: Mapping[str, Any], name: str) -> int:
    return int(image.get(name, {}).get("N", "0"))


def _string(image: Mapping[str, Any], name: str) -> str | None:
    value = image.get(name, {}).get("S")
    return str(value) if value else None
