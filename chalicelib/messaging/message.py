"""The `message` attribute of a link (and of its tombstone): its shape, its statuses and
their ranks, and the claim that keeps two attempts from texting once each.

    {channel, to (E.164 or Messenger id, kept for resends), to_masked, from, text,
     status, rank, status_at, attempts, claim, claim_expires_at (epoch s), uuid?, error?,
     retry_after?, price?, currency?, sent_at?}

Status moves forward only, by rank:
    sending = send_failed = throttled (0) < accepted (1, Vonage answered 202)
    < submitted (2) < delivered | rejected | undeliverable (3) < read (4);  opted_out (9)

A send first *claims* the message with a conditional write (no message yet, the last
attempt failed/was throttled, or a `sending` claim went stale), so a retried request or
campaign batch does not text twice.

A claim is `sending` until the attempt concludes. If the process dies in between (the
Lambda times out or crashes while Vonage is called), nothing would ever conclude it, so
every claim carries `claim_expires_at` = claim time + CLAIM_SECONDS (twice the Vonage
timeout plus a margin of the Lambda timeout, so a live attempt always concludes first);
after that a `sending` message is *stale* and may be claimed again, by campaign
redelivery (send_for_link) or POST /api/links/{code}/resend. The trade-off: if the dead
attempt had reached Vonage (a 202 that never got recorded), the recipient gets the text
twice; without expiry, the message would never go out at all. The late attempt cannot
overwrite the new one (its outcome is written only while its own claim holds).

The link's items belong to links' store; the conditional updates here are handed to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypedDict

from chalicelib.links.store import MessageUpdate
from chalicelib.messaging.vonage import DEFAULT_TIMEOUT_SECONDS

Message = TypedDict(
    "Message",
    {
        "channel": str,
        "to": str,
        "to_masked": str,
        "from": str,
        "text": str,
        "status": str,
        "rank": int,
        "status_at": str,
        "attempts": int,
        "claim": str,
        "claim_expires_at": int,
        "uuid": str,
        "error": str,
        "retry_after": int,
        "price": Decimal,
        "currency": str,
        "sent_at": str,
    },
    total=False,
)

RANKS = {
    "sending": 0,
    "send_failed": 0,
    "throttled": 0,
    "accepted": 1,
    "submitted": 2,
    "delivered": 3,
    "rejected": 3,
    "undeliverable": 3,
    "read": 4,
    "opted_out": 9,
}
RECEIPT_STATUSES = frozenset({"submitted", "delivered", "rejected", "undeliverable", "read"})
RESENDABLE = ("send_failed", "throttled")  # and a stale `sending` claim
# The Lambda timeout (.chalice/config.json): a claiming process is dead by then.
CLAIM_MARGIN_SECONDS = 60
CLAIM_SECONDS = 2 * DEFAULT_TIMEOUT_SECONDS + CLAIM_MARGIN_SECONDS


def stale_claim(message: Mapping[str, Any], at_epoch: float) -> bool:
    """A `sending` claim whose attempt should have concluded by now (its process died)."""
    if message.get("status") != "sending":
        return False
    expires = message.get("claim_expires_at")
    return expires is None or int(expires) < int(at_epoch)


def claim(message: Message, at_epoch: float) -> MessageUpdate:
    """Write the new attempt unless another one holds the slot (a `sending` claim that has
    not expired, or a concluded send); the link itself must exist. A `sending` message
    without claim_expires_at (written before claims expired) counts as stale."""
    return MessageUpdate(
        expression="SET #m = :message",
        condition=(
            "attribute_exists(pk) AND (attribute_not_exists(#m) "
            "OR attribute_type(#m, :null) OR #m.#s IN (:failed, :throttled) "
            "OR (#m.#s = :sending AND (attribute_not_exists(#m.#exp) "
            "OR #m.#exp < :now)))"
        ),
        names={"#m": "message", "#s": "status", "#exp": "claim_expires_at"},
        values={
            ":message": dict(message),
            ":null": "NULL",
            ":failed": "send_failed",
            ":throttled": "throttled",
            ":sending": "sending",
            ":now": int(at_epoch),
        },
    )


def conclusion(claimed: str, fields: Mapping[str, tuple[str, Any]]) -> MessageUpdate:
    """Record an attempt's outcome (`fields`: placeholder -> (attribute, value)) unless a
    receipt got there first (then the receipt, which knows more, stands) or the claim went
    stale and another attempt took the slot. The outcome ends the claim: claim_expires_at
    goes."""
    names = {"#m": "message", "#claim": "claim", "#rank": "rank", "#exp": "claim_expires_at"}
    values: dict[str, Any] = {":claim": claimed, ":accepted": RANKS["accepted"]}
    sets = []
    for placeholder, (name, value) in fields.items():
        names[placeholder] = name
        values[":" + placeholder[1:]] = value
        sets.append(f"#m.{placeholder} = :{placeholder[1:]}")
    return MessageUpdate(
        expression="SET " + ", ".join(sets) + " REMOVE #m.#exp",
        condition="#m.#claim = :claim AND #m.#rank < :accepted",
        names=names,
        values=values,
    )
