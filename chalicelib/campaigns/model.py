"""What a campaign is: the request that starts one (NewCampaign, parse_campaign), its
recipients, and the shape and key of the campaign item in the links table.

Items in the links table:
  campaign#<id> / campaign              the campaign (gsi1 "campaigns" / created_at#id),
                                        owned here and written by campaigns.store
  campaign#<id> / recipient#<index>     a recipient's claim (links' RecipientClaim),
                                        written in the same transaction as its link
Phone numbers travel in the (encrypted) queue messages and are stored only by messaging.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from chalicelib.core import phones
from chalicelib.core.clock import Clock, from_epoch, iso, now
from chalicelib.core.payloads import reject_unknown_fields
from chalicelib.core.problems import BadRequest, Problem
from chalicelib.links.model import (
    CODE_ALPHABET,
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    decode_cursor,
    parse_expiry,
    parse_url,
    parse_webhook_url,
)
from chalicelib.links.service import LinkService

MAX_RECIPIENTS = 10_000
MAX_BODY_BYTES = 2 * 1024 * 1024  # 10,000 recipients with refs fit with room to spare
MAX_TEXT = 3200
MAX_NAME = 100
CHANNELS = ("sms", "whatsapp", "viber", "messenger")
CREATE_FIELDS = frozenset(
    {"name", "url", "text", "recipients", "expires_at", "ttl", "channel", "webhook_url"}
)
REF = re.compile(r"^[^\x00-\x1f\x7f]{1,100}\Z")
CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9]{12}\Z")
LIST_PARTITION = "campaigns"  # gsi1: every campaign item, by "<created_at>#<id>"
LIST_PARAMS = frozenset({"limit", "cursor"})
ABANDONED = (
    "Texting stayed throttled (daily quota, Vonage or configuration) and the campaign "
    "sent nothing for 7 days; its remaining recipients were not texted."
)


@dataclass(frozen=True)
class CampaignRecipient:
    """One recipient as the campaign was given it: the number (or Messenger id) to text
    and the caller's reference, which its link carries."""

    to: str
    ref: str | None


@dataclass(frozen=True)
class NewCampaign:
    name: str
    url: str
    text: str
    channel: str
    recipients: list[CampaignRecipient]
    expires_at: int | None
    webhook_url: str | None


class CampaignItem(TypedDict):
    """The campaign item, as plain values (links.service.from_item). None values are not
    stored, so they read back as missing keys."""

    pk: str
    sk: str
    campaign_id: str
    name: str
    url: str
    text: str
    channel: str
    expires_at: NotRequired[int | None]
    webhook_url: NotRequired[str | None]
    total: int
    key_id: str
    status: str  # queued, or cancelled when its chunks could not all be queued
    request: NotRequired[str]  # the body's fingerprint, when started with an Idempotency-Key
    created_at: str
    gsi1pk: str
    gsi1sk: str
    # Written by the workers (see campaigns.worker).
    progress_at: NotRequired[int]  # epoch s of the last progress, at most hourly
    waiting_until: NotRequired[int]  # epoch s: its chunks wait out a Retry-After
    abandoned: NotRequired[list[int]]  # indices of recipients given up without a link
    abandoned_codes: NotRequired[list[str]]  # links made for them but never texted
    abandoned_reason: NotRequired[str]
    abandoned_at: NotRequired[str]


def campaign_key(campaign_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"campaign#{campaign_id}"}, "sk": {"S": "campaign"}}


def new_campaign_id() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))


def campaign_id_for(key_id: str, idempotency_key: str) -> str:
    """The id of the campaign an API key starts under an Idempotency-Key: the same for the
    same key, so a replay finds the first campaign with the create's own condition."""
    digest = hashlib.sha256(f"{key_id}\0{idempotency_key}".encode()).digest()
    return "".join(CODE_ALPHABET[byte % len(CODE_ALPHABET)] for byte in digest[:12])


def new_campaign_item(
    campaign: NewCampaign, campaign_id: str, key_id: str, created_at: str,
    request: str | None = None,
) -> CampaignItem:
    item: CampaignItem = {
        "pk": f"campaign#{campaign_id}",
        "sk": "campaign",
        "campaign_id": campaign_id,
        "name": campaign.name,
        "url": campaign.url,
        "text": campaign.text,
        "channel": campaign.channel,
        "expires_at": campaign.expires_at,
        "webhook_url": campaign.webhook_url,
        "total": len(campaign.recipients),
        "key_id": key_id,
        "status": "queued",
        "created_at": created_at,
        "gsi1pk": LIST_PARTITION,
        "gsi1sk": f"{created_at}#{campaign_id}",
    }
    if request is not None:
        item["request"] = request
    return item


@dataclass(frozen=True)
class CampaignListQuery:
    """GET /api/campaigns' parameters: a page size and where the page starts (the key
    after which to read, from the cursor of the page before)."""

    limit: int = DEFAULT_PAGE_SIZE
    start_key: dict[str, Any] | None = None


def parse_campaign_list(params: Mapping[str, str] | None) -> CampaignListQuery:
    params = params or {}
    unknown = sorted(set(params) - LIST_PARAMS)
    if unknown:
        raise BadRequest(f"Unknown query parameter(s): {', '.join(unknown)}.", field=unknown[0])
    limit_raw = params.get("limit", str(DEFAULT_PAGE_SIZE))
    if not re.fullmatch(r"[0-9]{1,6}", limit_raw) or not 1 <= int(limit_raw) <= MAX_PAGE_SIZE:
        raise BadRequest(f"limit is a whole number from 1 to {MAX_PAGE_SIZE}.", field="limit")
    cursor = params.get("cursor")
    start_key = decode_cursor(cursor, "gsi1", LIST_PARTITION) if cursor is not None else None
    return CampaignListQuery(limit=int(limit_raw), start_key=start_key)


def list_row(campaign: CampaignItem) -> dict[str, Any]:
    """A campaign as GET /api/campaigns lists it: what it is, without its statistics."""
    expires_at = campaign.get("expires_at")
    return {
        "campaign_id": campaign["campaign_id"],
        "name": campaign["name"],
        "url": campaign["url"],
        "channel": campaign["channel"],
        "created_at": campaign["created_at"],
        "total": int(campaign["total"]),
        "expires_at": iso(from_epoch(int(expires_at))) if expires_at is not None else None,
    }


def parse_campaign(
    body: Mapping[str, Any], links: LinkService, clock: Clock = now
) -> NewCampaign:
    """Validate a whole campaign before anything is written. Numbers are checked the way
    messaging checks them (phones); the daily quota is taken per send, by the workers."""
    reject_unknown_fields(dict(body), CREATE_FIELDS)
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_NAME:
        raise BadRequest(f"name is 1-{MAX_NAME} characters.", field="name")
    if "url" not in body:
        raise BadRequest("url is required.", field="url")
    url = parse_url(body["url"], "url", links.settings.allowed_destination_hosts)
    text = _parse_text(body.get("text"), links)
    channel = body.get("channel", "sms")
    if channel not in CHANNELS:
        raise BadRequest(f"channel is one of {', '.join(CHANNELS)}.", field="channel")
    webhook_url = body.get("webhook_url")
    if webhook_url is not None:
        webhook_url = parse_webhook_url(webhook_url, links.settings)
    expires_at = parse_expiry(body, clock(), links.settings.max_link_lifetime_seconds)
    recipients = _parse_recipients(body.get("recipients"), channel, links)
    if not links.settings.vonage_application_id:
        raise Problem(
            503, "Texting is not configured (VONAGE_APPLICATION_ID).", slug="sms-not-configured"
        )
    return NewCampaign(name.strip(), url, text, channel, recipients, expires_at, webhook_url)


def _parse_text(text: Any, links: LinkService) -> str:
    if not isinstance(text, str) or "{link}" not in text:
        raise BadRequest("text is a template containing {link}.", field="text")
    longest = len(text.replace("{link}", links.short_url("x" * 64)))
    if longest > MAX_TEXT:
        raise BadRequest(f"text is at most {MAX_TEXT} characters with the link.", field="text")
    return text


def _parse_recipients(raw: Any, channel: str, links: LinkService) -> list[CampaignRecipient]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_RECIPIENTS:
        raise BadRequest(
            f"recipients is a list of 1 to {MAX_RECIPIENTS:,} {{to, ref}} objects.",
            field="recipients",
        )
    allowed_countries = links.settings.sms_allowed_countries
    return [
        _parse_recipient(entry, f"recipients[{index}]", channel, allowed_countries)
        for index, entry in enumerate(raw)
    ]


def _parse_recipient(
    entry: Any, where: str, channel: str, allowed_countries: tuple[str, ...]
) -> CampaignRecipient:
    if not isinstance(entry, dict):
        raise BadRequest(f"{where} must be an object {{to, ref}}.", field=where)
    unknown = sorted(set(entry) - {"to", "ref"})
    if unknown:
        raise BadRequest(f"{where}: unknown field {unknown[0]}.", field=f"{where}.{unknown[0]}")
    ref = entry.get("ref")
    if ref is not None and (not isinstance(ref, str) or not REF.match(ref)):
        raise BadRequest(f"{where}.ref is 1-100 printable characters.", field=f"{where}.ref")
    recipient = phones.parse_recipient(entry.get("to"), channel, field=f"{where}.to")
    phones.check_country_allowed(recipient, allowed_countries, field=f"{where}.to")
    return CampaignRecipient(to=entry["to"], ref=ref)
