"""What Vonage tells us after a send: delivery receipts, applied to the link's message,
and inbound texts, where STOP-like keywords opt the sender out and START back in.

A receipt is one conditional UpdateItem keyed by client_ref (= the link code) that
applies only when its rank is higher than the stored one, so late and repeated receipts
change nothing. When the link has ended (expired, spent, deleted) the same update goes to
its tombstone (which keeps the message): a second call, on that path only, so a late
delivered/read still counts in campaign statistics.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from chalicelib.core import phones
from chalicelib.links.items import LINK, TOMBSTONE
from chalicelib.links.store import LinkStore, MessageUpdate, UpdateOutcome
from chalicelib.messaging.message import RANKS, RECEIPT_STATUSES
from chalicelib.messaging.optouts import OptOuts

log = logging.getLogger("linktrail.messaging")

STOP_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_KEYWORDS = frozenset({"START"})
MAX_TIMESTAMP = 40  # characters of Vonage's timestamp kept; longer ones are replaced

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,100}\Z")
_PRICE = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,12})?\Z")
_CURRENCY = re.compile(r"^[A-Z]{3}\Z")


@dataclass(frozen=True)
class Receipt:
    """A usable delivery receipt: what it says about the message of link `code`."""

    code: str
    status: str
    uuid: str
    at: str
    error: str | None
    price: str | None
    currency: str | None


def read_receipt(payload: dict[str, Any], received_at: str) -> Receipt | None:
    """The receipt in Vonage's payload, or None (logged) when it is not one we apply.
    `received_at` stands in for a missing or oversized timestamp."""
    code = payload.get("client_ref")
    status = payload.get("status")
    message_uuid = payload.get("message_uuid")
    if not isinstance(code, str) or not _CODE.match(code):
        log.info("receipt ignored: no usable client_ref")
        return None
    if status not in RECEIPT_STATUSES or not isinstance(message_uuid, str):
        log.info("receipt ignored code=%s status=%s", code, str(status)[:32])
        return None
    timestamp = payload.get("timestamp")
    usable = isinstance(timestamp, str) and 0 < len(timestamp) <= MAX_TIMESTAMP
    price, currency = _receipt_price(payload.get("usage"))
    return Receipt(
        code=code,
        status=str(status),
        uuid=message_uuid,
        at=str(timestamp) if usable else received_at,
        error=_receipt_error(payload.get("error")),
        price=price,
        currency=currency,
    )


def receipt_update(receipt: Receipt) -> MessageUpdate:
    """Status, rank, uuid and time (and error or price) set only over a lower rank, and
    only on the message of the same uuid (or one that has none yet)."""
    names = {"#m": "message", "#s": "status", "#rank": "rank", "#u": "uuid", "#at": "status_at"}
    values: dict[str, Any] = {
        ":status": receipt.status,
        ":rank": RANKS[receipt.status],
        ":uuid": receipt.uuid,
        ":at": receipt.at,
    }
    sets = ["#m.#s = :status", "#m.#rank = :rank", "#m.#u = :uuid", "#m.#at = :at"]
    removes = []
    names["#e"] = "error"
    if receipt.error:
        values[":error"] = receipt.error
        sets.append("#m.#e = :error")
    else:
        removes.append("#m.#e")
    if receipt.price is not None and receipt.currency is not None:
        names.update({"#p": "price", "#c": "currency"})
        values.update({":price": Decimal(receipt.price), ":currency": receipt.currency})
        sets += ["#m.#p = :price", "#m.#c = :currency"]
    return MessageUpdate(
        expression="SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
        condition="#m.#rank < :rank AND (attribute_not_exists(#m.#u) OR #m.#u = :uuid)",
        names=names,
        values=values,
    )


def apply_receipt(links: LinkStore, payload: dict[str, Any], received_at: str) -> str:
    """One conditional UpdateItem (two for an ended link). Returns applied, stale,
    unknown or ignored."""
    receipt = read_receipt(payload, received_at)
    if receipt is None:
        return "ignored"
    update = receipt_update(receipt)
    kind, outcome = LINK, links.update_message(receipt.code, LINK, update).outcome
    if outcome == "missing":
        # The link ended (expired, spent its max_clicks, deleted): its tombstone holds
        # the final state, message included, and campaign statistics count from it. A
        # late delivered or read belongs there, under the same rules. One more call,
        # on this path only.
        kind, outcome = TOMBSTONE, links.update_message(receipt.code, TOMBSTONE, update).outcome
    return _told(receipt, kind, outcome)


def _told(receipt: Receipt, kind: str, outcome: UpdateOutcome) -> str:
    if outcome == "missing":
        log.warning(
            "receipt for unknown client_ref code=%s status=%s", receipt.code, receipt.status
        )
        return "unknown"
    if outcome == "stale":
        log.info("receipt stale or repeated code=%s status=%s", receipt.code, receipt.status)
        return "stale"
    log.info(
        "receipt applied code=%s status=%s uuid=%s on=%s",
        receipt.code,
        receipt.status,
        receipt.uuid,
        kind,
    )
    return "applied"


def apply_inbound(optouts: OptOuts, payload: dict[str, Any]) -> str:
    """STOP-like keywords opt the sender out, START opts back in; else ignored."""
    channel = payload.get("channel", "sms")
    sender = payload.get("from")
    text = payload.get("text")
    if not isinstance(channel, str) or not isinstance(sender, str) or not sender.strip():
        log.info("inbound ignored: no sender")
        return "ignored"
    address = phones.address_from_vonage(channel, sender)
    keyword = text.strip().upper() if isinstance(text, str) else ""
    if keyword in STOP_KEYWORDS:
        optouts.opt_out(address, channel, keyword)
        log.info("opted out to=%s channel=%s keyword=%s", phones.mask(address), channel, keyword)
        return "opted_out"
    if keyword in START_KEYWORDS:
        optouts.opt_in(address)
        log.info("opted back in to=%s channel=%s", phones.mask(address), channel)
        return "opted_in"
    log.info("inbound ignored (no keyword) from=%s channel=%s", phones.mask(address), channel)
    return "ignored"


def _receipt_error(error: object) -> str | None:
    if not isinstance(error, dict):
        return None
    parts = [str(error.get(name)) for name in ("title", "detail") if error.get(name)]
    if not parts and error.get("type"):
        parts = [str(error["type"])]
    # Stored and shown: a number quoted in the error is masked, each part on its own (so
    # a numeric title such as 1240 is never joined to digits of the detail).
    return ": ".join(phones.mask_numbers(part) for part in parts)[:500] or None


def _receipt_price(usage: object) -> tuple[str | None, str | None]:
    if not isinstance(usage, dict):
        return None, None
    price, currency = str(usage.get("price", "")), str(usage.get("currency", ""))
    if not _PRICE.match(price) or not _CURRENCY.match(currency):
        return None, None
    try:
        return str(Decimal(price)), currency
    except InvalidOperation:
        return None, None
