"""What the API shows of a link or tombstone: its public view, its status, its
message (masked number) and its click-webhook failures."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from chalicelib.core import phones
from chalicelib.core.clock import from_epoch, iso
from chalicelib.links.items import TOMBSTONE, from_attribute


def status_of(item: Mapping[str, Any], at_epoch: float) -> str:
    if item.get("sk") == TOMBSTONE:
        return str(item.get("status", "expired"))
    expires_at = item.get("expires_at")
    if expires_at is not None and expires_at <= at_epoch:
        return "expired"
    max_clicks = item.get("max_clicks")
    if max_clicks is not None and item.get("human_clicks", 0) >= max_clicks:
        return "expired"
    return "active"


def public_view(item: Mapping[str, Any], short_base_url: str, at_epoch: float) -> dict[str, Any]:
    """What the API shows of a link or tombstone (plain values, see from_item)."""
    code = str(item["code"])
    expires_at = item.get("expires_at")
    return {
        "code": code,
        "short_url": f"{short_base_url}/{code}",
        "url": item.get("long_url"),
        "status": status_of(item, at_epoch),
        "created_at": item.get("created_at"),
        "expires_at": iso(from_epoch(expires_at)) if expires_at is not None else None,
        "ended_at": item.get("ended_at"),
        "ended_reason": item.get("reason"),
        "max_clicks": item.get("max_clicks"),
        "expired_url": item.get("expired_url"),
        "tags": item.get("tags", []),
        "campaign_id": item.get("campaign_id"),
        "ref": item.get("ref"),
        "webhook_url": item.get("webhook_url"),
        "clicks": {"human": item.get("human_clicks", 0), "bot": item.get("bot_clicks", 0)},
        "first_click_at": item.get("first_click_at"),
        "last_click_at": item.get("last_click_at"),
        "message": public_message(item.get("message")),
        "webhook": public_webhook(item),
    }


def public_webhook(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """Failures of the link's click webhooks, or None when there are none."""
    failures = int(item.get("webhook_failures") or 0)
    if not failures and not item.get("last_webhook_error"):
        return None
    return {
        "failures": failures,
        "last_error": item.get("last_webhook_error"),
        "last_error_at": item.get("last_webhook_error_at"),
    }


def public_message(message: Any) -> dict[str, Any] | None:
    """The API's view of a link item's `message` attribute (masked number, status, error,
    price), as read with the low-level client ({"M": {...}}) or already deserialized;
    None when there is no message."""
    if isinstance(message, dict) and set(message) <= {"M", "NULL"}:
        message = from_attribute(message) if message else None
    if not isinstance(message, dict):
        return None
    answer: dict[str, Any] = {
        "uuid": message.get("uuid"),
        "channel": message.get("channel"),
        "to": message.get("to_masked") or phones.mask(str(message.get("to", ""))),
        "status": message.get("status"),
        "status_at": message.get("status_at"),
    }
    if message.get("error"):
        answer["error"] = message["error"]
    if message.get("retry_after") is not None and message.get("status") == "throttled":
        answer["retry_after"] = int(message["retry_after"])
    if message.get("price") is not None:
        price = message["price"]
        answer["price"] = format(price, "f") if isinstance(price, Decimal) else str(price)
        answer["currency"] = message.get("currency")
    return answer
