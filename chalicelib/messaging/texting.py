"""Texting links: orders, sends, delivery receipts, opt-outs, the daily quota.

Owns the `message` attribute of a link item (links table, pk "link#<code>", sk "link"):

    {channel, to (E.164 or Messenger id, kept for resends), to_masked, from, text,
     status, rank, status_at, attempts, claim, claim_expires_at (epoch s), uuid?, error?,
     retry_after?, price?, currency?, sent_at?}

and, in the app table, the opt-out items (pk "optout#<sha256 of the address>", sk
"optout": no number stored) and the per-key daily quota counters (pk "smsquota#<key id>",
sk "YYYY-MM-DD", attribute `sends`, expiring through `ttl`).

Status moves forward only, by rank:
    sending = send_failed = throttled (0) < accepted (1, Vonage answered 202)
    < submitted (2) < delivered | rejected | undeliverable (3) < read (4);  opted_out (9)
A receipt is one conditional UpdateItem keyed by client_ref (= the link code) that
applies only when its rank is higher than the stored one, so late and repeated receipts
change nothing. When the link has ended (expired, spent, deleted) the same update goes to
its tombstone (pk "link#<code>", sk "tombstone", which keeps the message): a second call,
on that path only, so a late delivered/read still counts in campaign statistics.

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

The quota is reserved by `Texting.parse_order` (one conditional increment, before the link is
written): a request over quota is refused with 429 and writes nothing. A request that is
refused later (say, by the link's own validation) leaves its reservation counted unless
the caller hands it back with `Texting.cancel_order` — erring on the side of sending less.
`send_for_link` and `resend` hand the reservation back themselves when no text goes out
(already sent, opted out, no such link) or Vonage throttles (the retry reserves again).
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from chalicelib.core import phones
from chalicelib.core.clock import iso, now
from chalicelib.core.payloads import parse_json_object
from chalicelib.core.phones import Recipient
from chalicelib.core.problems import BadRequest, Conflict, NotFound, Problem
from chalicelib.core.settings import Settings
from chalicelib.links.model import require_link_shape
from chalicelib.links.views import public_message
from chalicelib.messaging import signatures as webhook_auth
from chalicelib.messaging.vonage import (
    DEFAULT_TIMEOUT_SECONDS,
    OutgoingText,
    Sender,
    SendFailed,
)

log = logging.getLogger("linktrail.messaging")

# Longest text per channel (the Messages API's limits; SMS caps the whole product).
CHANNEL_TEXT_LIMITS = {"sms": 3200, "whatsapp": 3200, "viber": 1000, "messenger": 640}
ORDER_FIELDS = frozenset({"to", "text", "channel", "from"})
LINK_PLACEHOLDER = "{link}"
# Codes are at most this long (custom slugs included); the rendered text is checked
# against it before the link exists, and again with the real short URL at send time.
LONGEST_CODE = 64

RANKS = {
    "sending": 0, "send_failed": 0, "throttled": 0,
    "accepted": 1, "submitted": 2,
    "delivered": 3, "rejected": 3, "undeliverable": 3,
    "read": 4,
    "opted_out": 9,
}
RECEIPT_STATUSES = frozenset({"submitted", "delivered", "rejected", "undeliverable", "read"})
RESENDABLE = ("send_failed", "throttled")  # and a stale `sending` claim
# The Lambda timeout (.chalice/config.json): a claiming process is dead by then.
CLAIM_MARGIN_SECONDS = 60
CLAIM_SECONDS = 2 * DEFAULT_TIMEOUT_SECONDS + CLAIM_MARGIN_SECONDS
STOP_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_KEYWORDS = frozenset({"START"})

_SMS_ALPHA_SENDER = re.compile(r"^[A-Za-z0-9 ]{1,11}\Z")
_NUMBER_SENDER = re.compile(r"^\+?[1-9][0-9]{6,14}\Z")
_ID_SENDER = re.compile(r"^[A-Za-z0-9 ._-]{1,50}\Z")
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,100}\Z")
_PRICE = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,12})?\Z")
_CURRENCY = re.compile(r"^[A-Z]{3}\Z")

_TO_ATTRIBUTE = TypeSerializer().serialize
_FROM_ATTRIBUTE = TypeDeserializer().deserialize


@dataclass(frozen=True)
class SmsOrder:
    """A validated request to text a link, its quota already reserved."""

    recipient: Recipient
    channel: str
    template: str
    sender: str
    key_id: str
    quota_day: str

    def render(self, short_url: str) -> str:
        return self.template.replace(LINK_PLACEHOLDER, short_url)


# --- validation -------------------------------------------------------------------------


def _validate_order(sms: object, settings: Settings) -> tuple[str, str, str, Recipient]:
    if not isinstance(sms, dict):
        raise BadRequest("sms must be an object: {to, text?, channel?, from?}.", field="sms")
    unknown = sorted(set(sms) - ORDER_FIELDS)
    if unknown:
        raise BadRequest(f"Unknown field(s) in sms: {', '.join(unknown)}.",
                         field=f"sms.{unknown[0]}")
    channel = sms.get("channel", "sms")
    if channel not in CHANNEL_TEXT_LIMITS:
        raise BadRequest(f"sms.channel must be one of {', '.join(CHANNEL_TEXT_LIMITS)}.",
                         field="sms.channel")
    template = sms.get("text", LINK_PLACEHOLDER)
    if not isinstance(template, str) or LINK_PLACEHOLDER not in template:
        raise BadRequest("sms.text must be a string containing {link}.", field="sms.text")
    if "\x00" in template:
        raise BadRequest("sms.text must not contain NUL characters.", field="sms.text")
    longest = len(settings.short_base_url) + 1 + LONGEST_CODE
    rendered_length = len(template) + template.count(LINK_PLACEHOLDER) * (
        longest - len(LINK_PLACEHOLDER))
    limit = CHANNEL_TEXT_LIMITS[channel]
    if rendered_length > limit:
        raise BadRequest(f"sms.text would be {rendered_length} characters with the link; "
                         f"{channel} allows at most {limit}.", field="sms.text")
    sender = _validate_sender(sms.get("from", settings.vonage_from), channel)
    recipient = phones.parse_recipient(sms.get("to"), channel, field="sms.to")
    phones.check_country_allowed(recipient, settings.sms_allowed_countries, field="sms.to")
    if not settings.vonage_application_id:
        raise Problem(503, "Texting is not configured (VONAGE_APPLICATION_ID).",
                      slug="sms-not-configured")
    return channel, template, sender, recipient


def _validate_sender(sender: object, channel: str) -> str:
    if not isinstance(sender, str) or not sender.strip():
        raise BadRequest("sms.from must be a non-empty string.", field="sms.from")
    sender = sender.strip()
    if channel == "sms":
        if _NUMBER_SENDER.match(sender.replace(" ", "")):
            return sender.replace(" ", "").removeprefix("+")
        if _SMS_ALPHA_SENDER.match(sender) and not sender.isdigit():
            return sender
        raise BadRequest("sms.from must be a phone number or 1-11 letters and digits.",
                         field="sms.from")
    if not _ID_SENDER.match(sender):
        raise BadRequest(f"sms.from must be the {channel} sender id (1-50 characters).",
                         field="sms.from")
    return sender.removeprefix("+")


# --- the service ------------------------------------------------------------------------


class Texting:
    """Sends and receipts against DynamoDB. Handed its client, settings and sender."""

    def __init__(self, dynamodb: Any, settings: Settings, sender: Sender, *,
                 claim_seconds: int = CLAIM_SECONDS) -> None:
        self._ddb = dynamodb
        self._settings = settings
        self._sender = sender
        self._claim_seconds = claim_seconds
        self._links = settings.links_table
        self._app = settings.app_table

    # the interface used by the links and campaigns services and the webhooks -------

    def parse_order(self, sms: object, *, key_id: str) -> SmsOrder:
        """Validate the `sms` object of POST /api/links and reserve one send of the key's
        daily quota. Raises Problem 400 (field "sms.<name>"), 503 (texting not
        configured) or 429 (quota reached, with Retry-After). Call it before writing
        anything else."""
        channel, template, sender, recipient = _validate_order(sms, self._settings)
        day = self.reserve_quota(key_id)
        return SmsOrder(recipient, channel, template, sender, key_id, day)

    def cancel_order(self, order: SmsOrder) -> None:
        """Give back the send `parse_order` reserved when the link could not be created."""
        self.release_quota(order.key_id, order.quota_day)

    def receive_status(self, authorization: str | None, raw_body: bytes | str) -> str:
        """POST /webhooks/vonage/status: verify, then apply the receipt in one write."""
        return self.apply_receipt(self._verified_payload(authorization, raw_body))

    def receive_inbound(self, authorization: str | None, raw_body: bytes | str) -> str:
        """POST /webhooks/vonage/inbound: verify, then apply STOP/START."""
        return self.apply_inbound(self._verified_payload(authorization, raw_body))

    def _verified_payload(self, authorization: str | None, raw_body: bytes | str) -> dict[str, Any]:
        if isinstance(raw_body, str):
            raw_body = raw_body.encode()
        secret = self._settings.secret("vonage-signature-secret").reveal()
        webhook_auth.verify(authorization, raw_body, secret)
        return parse_json_object(raw_body, "application/json")

    # quota --------------------------------------------------------------------------

    def reserve_quota(self, key_id: str) -> str:
        moment = now()
        day = moment.date().isoformat()
        quota = self._settings.sms_daily_quota
        midnight = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                         microsecond=0)
        try:
            if quota <= 0:
                raise self._ddb.exceptions.ConditionalCheckFailedException(
                    {"Error": {"Code": "ConditionalCheckFailedException"}}, "UpdateItem")
            self._ddb.update_item(
                TableName=self._app,
                Key=_quota_key(key_id, day),
                UpdateExpression="ADD sends :one SET #ttl = if_not_exists(#ttl, :ttl)",
                ConditionExpression="attribute_not_exists(sends) OR sends < :quota",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":quota": {"N": str(quota)},
                    ":ttl": {"N": str(int(midnight.timestamp()) + 2 * 86400)},
                },
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            wait = max(1, int((midnight - moment).total_seconds()))
            raise Problem(
                429,
                f"This API key has used its {quota} texts for {day} (UTC); "
                "the quota resets at midnight UTC.",
                slug="sms-quota", headers={"Retry-After": str(wait)},
            ) from None
        return day

    def release_quota(self, key_id: str, day: str) -> None:
        with contextlib.suppress(self._ddb.exceptions.ConditionalCheckFailedException):
            self._ddb.update_item(
                TableName=self._app,
                Key=_quota_key(key_id, day),
                UpdateExpression="ADD sends :minus",
                ConditionExpression="sends > :zero",
                ExpressionAttributeValues={":minus": {"N": "-1"}, ":zero": {"N": "0"}},
            )

    # sending ------------------------------------------------------------------------

    def send_for_link(self, order: SmsOrder, *, code: str, short_url: str) -> dict[str, Any]:
        message = {
            "channel": order.channel,
            "to": order.recipient.address,
            "to_masked": order.recipient.masked,
            "from": order.sender,
            "text": order.render(short_url),
            "attempts": 1,
        }
        return self._attempt(code, message, reservation=(order.key_id, order.quota_day))

    def resend(self, code: str, *, key_id: str) -> dict[str, Any]:
        require_link_shape(code)  # as GET /api/links/{code}: 404 before any read
        item = self._ddb.get_item(
            TableName=self._links, Key=_link_key(code), ConsistentRead=True,
            ProjectionExpression="pk, #m", ExpressionAttributeNames={"#m": "message"},
        ).get("Item")
        if item is None:
            raise NotFound(f"There is no link {code}.")
        stored = _FROM_ATTRIBUTE(item["message"]) if "message" in item else None
        if not isinstance(stored, dict):
            raise Conflict("This link was not texted; there is nothing to resend.")
        if stored.get("status") not in RESENDABLE and not _stale_claim(stored):
            raise Conflict(f"The message is {stored.get('status')}; only send_failed, "
                           "throttled or stale sending messages are sent again.")
        # The allowlist may have changed since the first attempt.
        channel = str(stored["channel"])
        recipient = phones.parse_recipient(str(stored["to"]), channel, field="to")
        phones.check_country_allowed(recipient, self._settings.sms_allowed_countries,
                                     field="to")
        day = self.reserve_quota(key_id)
        message = {
            "channel": channel,
            "to": recipient.address,
            "to_masked": recipient.masked,
            "from": str(stored["from"]),
            "text": str(stored["text"]),
            "attempts": int(stored.get("attempts", 1)) + 1,
        }
        return self._attempt(code, message, reservation=(key_id, day),
                             expect_status=str(stored["status"]))

    def _attempt(self, code: str, message: dict[str, Any], *, reservation: tuple[str, str],
                 expect_status: str | None = None) -> dict[str, Any]:
        """Claim the message slot, then send (or record opted_out) and record the outcome.
        The quota reservation is handed back whenever Vonage is not called or throttles:
        the quota counts texts that went out (or failed trying), not retries."""
        moment = now()
        claim = secrets.token_hex(8)
        opted_out = self.is_opted_out(str(message["to"]))
        status = "opted_out" if opted_out else "sending"
        message.update(status=status, rank=RANKS[status], status_at=iso(moment), claim=claim)
        if not opted_out:
            message["claim_expires_at"] = int(moment.timestamp()) + self._claim_seconds
        limit = CHANNEL_TEXT_LIMITS.get(str(message["channel"]), 0)
        too_long = len(str(message["text"])) > limit
        try:
            existing = self._claim(code, message)
        except Problem:
            self.release_quota(*reservation)
            raise
        if existing is not None or opted_out:
            self.release_quota(*reservation)
        if existing is not None:
            if expect_status is not None:
                raise Conflict("The message changed meanwhile; read the link again.")
            log.info("text already claimed code=%s status=%s", code, existing.get("status"))
            return public_message(existing) or {}
        if opted_out:
            log.info("text not sent: recipient opted out code=%s to=%s",
                     code, message["to_masked"])
            return public_message(message) or {}
        if too_long:
            failure = SendFailed(f"The text is {len(str(message['text']))} characters with "
                                 f"the link; {message['channel']} allows {limit}.")
            return self._record_failure(code, message, failure)
        outgoing = OutgoingText(
            channel=str(message["channel"]),
            to=str(message["to"]).removeprefix("+"),
            sender=str(message["from"]),
            text=str(message["text"]),
            client_ref=code,
            webhook_url=f"{self._settings.public_base_url}/webhooks/vonage/status",
        )
        try:
            message_uuid = self._sender.send(outgoing)
        except SendFailed as failure:
            if failure.retry_after is not None:
                self.release_quota(*reservation)
            return self._record_failure(code, message, failure)
        return self._record_accepted(code, message, message_uuid)

    def _claim(self, code: str, message: dict[str, Any]) -> dict[str, Any] | None:
        """Write the new attempt unless another one holds the slot (a `sending` claim
        that has not expired, or a concluded send); None when claimed, else the message
        that is there (the link itself must exist). A `sending` message without
        claim_expires_at (written before claims expired) counts as stale."""
        try:
            self._ddb.update_item(
                TableName=self._links,
                Key=_link_key(code),
                UpdateExpression="SET #m = :message",
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(#m) "
                    "OR attribute_type(#m, :null) OR #m.#s IN (:failed, :throttled) "
                    "OR (#m.#s = :sending AND (attribute_not_exists(#m.#exp) "
                    "OR #m.#exp < :now)))"
                ),
                ExpressionAttributeNames={"#m": "message", "#s": "status",
                                          "#exp": "claim_expires_at"},
                ExpressionAttributeValues={
                    ":message": _TO_ATTRIBUTE(message),
                    ":null": {"S": "NULL"},
                    ":failed": {"S": "send_failed"},
                    ":throttled": {"S": "throttled"},
                    ":sending": {"S": "sending"},
                    ":now": {"N": str(int(now().timestamp()))},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._ddb.exceptions.ConditionalCheckFailedException as error:
            item = error.response.get("Item")
            if not item:
                raise NotFound(f"There is no link {code}.") from None
            existing = _FROM_ATTRIBUTE(item["message"]) if "message" in item else None
            return existing if isinstance(existing, dict) else {}
        return None

    def _record_accepted(self, code: str, message: dict[str, Any],
                         message_uuid: str) -> dict[str, Any]:
        at = iso(now())
        message.update(uuid=message_uuid, status="accepted", rank=RANKS["accepted"],
                       status_at=at, sent_at=at)
        self._conclude(code, message, {
            "#u": ("uuid", message_uuid), "#s": ("status", "accepted"),
            "#r": ("rank", RANKS["accepted"]), "#at": ("status_at", at),
            "#sent": ("sent_at", at),
        })
        log.info("text accepted code=%s channel=%s to=%s uuid=%s",
                 code, message["channel"], message["to_masked"], message_uuid)
        return public_message(message) or {}

    def _record_failure(self, code: str, message: dict[str, Any],
                        failure: SendFailed) -> dict[str, Any]:
        status = "throttled" if failure.retry_after is not None else "send_failed"
        at = iso(now())
        message.update(status=status, status_at=at, error=failure.reason)
        fields: dict[str, tuple[str, Any]] = {
            "#s": ("status", status), "#at": ("status_at", at), "#e": ("error", failure.reason),
        }
        if failure.retry_after is not None:
            message["retry_after"] = failure.retry_after
            fields["#ra"] = ("retry_after", failure.retry_after)
        self._conclude(code, message, fields)
        log.warning("text %s code=%s channel=%s to=%s: %s",
                    status, code, message["channel"], message["to_masked"], failure.reason)
        return public_message(message) or {}

    def _conclude(self, code: str, message: dict[str, Any],
                  fields: dict[str, tuple[str, Any]]) -> None:
        """Record an attempt's outcome unless a receipt got there first (then the
        receipt, which knows more, stands) or the claim went stale and another attempt
        took the slot. The outcome ends the claim: claim_expires_at goes."""
        names = {"#m": "message", "#claim": "claim", "#rank": "rank",
                 "#exp": "claim_expires_at"}
        values: dict[str, Any] = {":claim": {"S": str(message["claim"])},
                                  ":accepted": {"N": str(RANKS["accepted"])}}
        sets = []
        for placeholder, (name, value) in fields.items():
            names[placeholder] = name
            values[":" + placeholder[1:]] = _TO_ATTRIBUTE(value)
            sets.append(f"#m.{placeholder} = :{placeholder[1:]}")
        try:
            self._ddb.update_item(
                TableName=self._links,
                Key=_link_key(code),
                UpdateExpression="SET " + ", ".join(sets) + " REMOVE #m.#exp",
                ConditionExpression="#m.#claim = :claim AND #m.#rank < :accepted",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            log.info("send outcome superseded (a receipt, or a newer claim) code=%s", code)

    # opt-outs -----------------------------------------------------------------------

    def is_opted_out(self, address: str) -> bool:
        found = self._ddb.get_item(
            TableName=self._app, Key=_opt_out_key(address), ConsistentRead=True,
            ProjectionExpression="pk",
        )
        return "Item" in found

    def opt_out(self, address: str, channel: str, keyword: str) -> None:
        self._ddb.put_item(TableName=self._app, Item={
            **_opt_out_key(address),
            "opted_out_at": {"S": iso(now())},
            "channel": {"S": channel},
            "keyword": {"S": keyword},
        })

    def opt_in(self, address: str) -> None:
        self._ddb.delete_item(TableName=self._app, Key=_opt_out_key(address))

    # webhooks -----------------------------------------------------------------------

    def apply_receipt(self, payload: dict[str, Any]) -> str:
        """One conditional UpdateItem. Returns applied, stale, unknown or ignored."""
        code = payload.get("client_ref")
        status = payload.get("status")
        message_uuid = payload.get("message_uuid")
        if not isinstance(code, str) or not _CODE.match(code):
            log.info("receipt ignored: no usable client_ref")
            return "ignored"
        if status not in RECEIPT_STATUSES or not isinstance(message_uuid, str):
            log.info("receipt ignored code=%s status=%s", code, str(status)[:32])
            return "ignored"
        timestamp = payload.get("timestamp")
        at = timestamp if isinstance(timestamp, str) and 0 < len(timestamp) <= 40 else iso(now())
        names = {"#m": "message", "#s": "status", "#rank": "rank", "#u": "uuid",
                 "#at": "status_at"}
        values: dict[str, Any] = {
            ":status": {"S": status}, ":rank": {"N": str(RANKS[status])},
            ":uuid": {"S": message_uuid}, ":at": {"S": at},
        }
        sets = ["#m.#s = :status", "#m.#rank = :rank", "#m.#u = :uuid", "#m.#at = :at"]
        removes = []
        error = _receipt_error(payload.get("error"))
        names["#e"] = "error"
        if error:
            values[":error"] = {"S": error}
            sets.append("#m.#e = :error")
        else:
            removes.append("#m.#e")
        price, currency = _receipt_price(payload.get("usage"))
        if price is not None and currency is not None:
            names.update({"#p": "price", "#c": "currency"})
            values.update({":price": {"N": price}, ":currency": {"S": currency}})
            sets += ["#m.#p = :price", "#m.#c = :currency"]
        update = {
            "TableName": self._links,
            "UpdateExpression": "SET " + ", ".join(sets) + (
                " REMOVE " + ", ".join(removes) if removes else ""),
            "ConditionExpression": ("#m.#rank < :rank AND "
                                    "(attribute_not_exists(#m.#u) OR #m.#u = :uuid)"),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        kind = "link"
        outcome = self._update_message(code, kind, update)
        if outcome == "missing":
            # The link ended (expired, spent its max_clicks, deleted): its tombstone holds
            # the final state, message included, and campaign statistics count from it. A
            # late delivered or read belongs there, under the same rules. One more call,
            # on this path only.
            kind = "tombstone"
            outcome = self._update_message(code, kind, update)
        if outcome == "missing":
            log.warning("receipt for unknown client_ref code=%s status=%s", code, status)
            return "unknown"
        if outcome == "stale":
            log.info("receipt stale or repeated code=%s status=%s", code, status)
            return "stale"
        log.info("receipt applied code=%s status=%s uuid=%s on=%s",
                 code, status, message_uuid, kind)
        return "applied"

    def _update_message(self, code: str, kind: str, update: dict[str, Any]) -> str:
        """One conditional UpdateItem of the message on the code's `kind` item (link or
        tombstone): applied, stale (the item is there, the condition said no) or missing
        (no such item; the condition's path checks keep a missing item from being made)."""
        try:
            self._ddb.update_item(Key=_link_key(code, kind), **update)
        except self._ddb.exceptions.ConditionalCheckFailedException as failed:
            return "stale" if failed.response.get("Item") else "missing"
        return "applied"

    def apply_inbound(self, payload: dict[str, Any]) -> str:
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
            self.opt_out(address, channel, keyword)
            log.info("opted out to=%s channel=%s keyword=%s",
                     phones.mask(address), channel, keyword)
            return "opted_out"
        if keyword in START_KEYWORDS:
            self.opt_in(address)
            log.info("opted back in to=%s channel=%s", phones.mask(address), channel)
            return "opted_in"
        log.info("inbound ignored (no keyword) from=%s channel=%s",
                 phones.mask(address), channel)
        return "ignored"


# --- helpers ----------------------------------------------------------------------------


def _stale_claim(message: dict[str, Any]) -> bool:
    """A `sending` claim whose attempt should have concluded by now (its process died)."""
    if message.get("status") != "sending":
        return False
    expires = message.get("claim_expires_at")
    return expires is None or int(expires) < int(now().timestamp())




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


def _link_key(code: str, kind: str = "link") -> dict[str, Any]:
    return {"pk": {"S": f"link#{code}"}, "sk": {"S": kind}}


def _quota_key(key_id: str, day: str) -> dict[str, Any]:
    return {"pk": {"S": f"smsquota#{key_id}"}, "sk": {"S": day}}


def _opt_out_key(address: str) -> dict[str, Any]:
    return {"pk": {"S": f"optout#{phones.opt_out_key(address)}"}, "sk": {"S": "optout"}}
