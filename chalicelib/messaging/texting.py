"""Texting links: what the links and campaigns services and Vonage's webhooks call.

An order is validated (orders.py) and its send reserved from the key's daily quota
(quota.py) before the link is written. A request that is refused later (say, by the link's
own validation) leaves its reservation counted unless the caller hands it back with
`Texting.cancel_order`. `send_for_link` and `resend` hand the reservation back themselves
when no text goes out (already sent, opted out, no such link) or Vonage throttles (the
retry reserves again).

A send claims the link's message, sends through the Sender (vonage.py) unless the
recipient opted out (optouts.py), and records the outcome while its claim holds
(message.py). Receipts and inbound texts are applied by receipts.py, once their
signature (signatures.py) is verified.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any

from chalicelib.core import phones
from chalicelib.core.clock import Clock, iso, now
from chalicelib.core.payloads import parse_json_object
from chalicelib.core.problems import Conflict, NotFound, Problem
from chalicelib.core.settings import Settings
from chalicelib.links.items import LINK
from chalicelib.links.model import require_link_shape
from chalicelib.links.store import LinkStore, NoSuchLink
from chalicelib.links.views import public_message
from chalicelib.messaging import receipts
from chalicelib.messaging import signatures as webhook_auth
from chalicelib.messaging.message import (
    CLAIM_SECONDS,
    RANKS,
    RESENDABLE,
    Message,
    claim,
    conclusion,
    stale_claim,
)
from chalicelib.messaging.optouts import OptOuts
from chalicelib.messaging.orders import SmsOrder, text_limit, validate_order
from chalicelib.messaging.quota import Quota
from chalicelib.messaging.vonage import OutgoingText, Sender, SendFailed

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient

__all__ = ["CLAIM_SECONDS", "SmsOrder", "Texting"]

log = logging.getLogger("linktrail.messaging")


class Texting:
    """Sends and receipts against DynamoDB. Handed its client, settings, sender and
    clock."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        settings: Settings,
        sender: Sender,
        *,
        claim_seconds: int = CLAIM_SECONDS,
        clock: Clock = now,
    ) -> None:
        self._settings = settings
        self._sender = sender
        self._claim_seconds = claim_seconds
        self._clock = clock
        self.links = LinkStore.from_settings(dynamodb, settings)
        self.quota = Quota(dynamodb, settings.app_table, settings.sms_daily_quota, clock)
        self.optouts = OptOuts(dynamodb, settings.app_table, clock)

    # the interface used by the links and campaigns services and the webhooks -------

    def parse_order(self, sms: object, *, key_id: str) -> SmsOrder:
        """Validate the `sms` object of POST /api/links and reserve one send of the key's
        daily quota. Raises Problem 400 (field "sms.<name>"), 503 (texting not
        configured) or 429 (quota reached, with Retry-After). Call it before writing
        anything else."""
        channel, template, sender, recipient = validate_order(sms, self._settings)
        day = self.quota.reserve(key_id)
        return SmsOrder(recipient, channel, template, sender, key_id, day)

    def cancel_order(self, order: SmsOrder) -> None:
        """Give back the send `parse_order` reserved when the link could not be created."""
        self.quota.release(order.key_id, order.quota_day)

    def receive_status(self, authorization: str | None, raw_body: bytes | str) -> str:
        """POST /webhooks/vonage/status: verify, then apply the receipt in one write."""
        return self.apply_receipt(self._verified_payload(authorization, raw_body))

    def receive_inbound(self, authorization: str | None, raw_body: bytes | str) -> str:
        """POST /webhooks/vonage/inbound: verify, then apply STOP/START."""
        return self.apply_inbound(self._verified_payload(authorization, raw_body))

    def apply_receipt(self, payload: dict[str, Any]) -> str:
        """A verified receipt: applied, stale, unknown or ignored (see receipts.py)."""
        return receipts.apply_receipt(self.links, payload, iso(self._clock()))

    def apply_inbound(self, payload: dict[str, Any]) -> str:
        """A verified inbound text: opted_out, opted_in or ignored (see receipts.py)."""
        return receipts.apply_inbound(self.optouts, payload)

    def opt_out(self, address: str, channel: str, keyword: str) -> None:
        self.optouts.opt_out(address, channel, keyword)

    def _verified_payload(self, authorization: str | None, raw_body: bytes | str) -> dict[str, Any]:
        if isinstance(raw_body, str):
            raw_body = raw_body.encode()
        secret = self._settings.secret("vonage-signature-secret").reveal()
        webhook_auth.verify(authorization, raw_body, secret, clock=self._clock)
        return parse_json_object(raw_body, "application/json")

    # sending ------------------------------------------------------------------------

    def send_for_link(self, order: SmsOrder, *, code: str, short_url: str) -> dict[str, Any]:
        message: Message = {
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
        try:
            stored = self.links.read_message(code)
        except NoSuchLink:
            raise NotFound(f"There is no link {code}.") from None
        if not isinstance(stored, dict):
            raise Conflict("This link was not texted; there is nothing to resend.")
        if stored.get("status") not in RESENDABLE and not stale_claim(stored, self._epoch()):
            raise Conflict(
                f"The message is {stored.get('status')}; only send_failed, "
                "throttled or stale sending messages are sent again."
            )
        # The allowlist may have changed since the first attempt.
        channel = str(stored["channel"])
        recipient = phones.parse_recipient(str(stored["to"]), channel, field="to")
        phones.check_country_allowed(recipient, self._settings.sms_allowed_countries, field="to")
        day = self.quota.reserve(key_id)
        message: Message = {
            "channel": channel,
            "to": recipient.address,
            "to_masked": recipient.masked,
            "from": str(stored["from"]),
            "text": str(stored["text"]),
            "attempts": int(stored.get("attempts", 1)) + 1,
        }
        return self._attempt(
            code, message, reservation=(key_id, day), expect_status=str(stored["status"])
        )

    def _attempt(
        self,
        code: str,
        message: Message,
        *,
        reservation: tuple[str, str],
        expect_status: str | None = None,
    ) -> dict[str, Any]:
        """Claim the message slot, then send (or record opted_out) and record the outcome.
        The quota reservation is handed back whenever Vonage is not called or throttles:
        the quota counts texts that went out (or failed trying), not retries."""
        opted_out = self.optouts.is_opted_out(str(message["to"]))
        self._stamp_claim(message, opted_out)
        try:
            existing = self._claim(code, message)
        except Problem:
            self.quota.release(*reservation)
            raise
        if existing is not None or opted_out:
            self.quota.release(*reservation)
        if existing is not None:
            if expect_status is not None:
                raise Conflict("The message changed meanwhile; read the link again.")
            log.info("text already claimed code=%s status=%s", code, existing.get("status"))
            return public_message(existing) or {}
        if opted_out:
            log.info("text not sent: recipient opted out code=%s to=%s", code, message["to_masked"])
            return public_message(message) or {}
        return self._send(code, message, reservation)

    def _stamp_claim(self, message: Message, opted_out: bool) -> None:
        """The attempt's status and claim; a `sending` claim expires (see message.py)."""
        moment = self._clock()
        status = "opted_out" if opted_out else "sending"
        message["status"], message["rank"] = status, RANKS[status]
        message["status_at"], message["claim"] = iso(moment), secrets.token_hex(8)
        if not opted_out:
            message["claim_expires_at"] = int(moment.timestamp()) + self._claim_seconds

    def _claim(self, code: str, message: Message) -> dict[str, Any] | None:
        """None when claimed, else the message that holds the slot (404 without a link)."""
        result = self.links.update_message(code, LINK, claim(message, self._epoch()))
        if result.outcome == "applied":
            return None
        if result.old is None:
            raise NotFound(f"There is no link {code}.")
        existing = result.old.get("message")
        return existing if isinstance(existing, dict) else {}

    def _send(self, code: str, message: Message, reservation: tuple[str, str]) -> dict[str, Any]:
        limit = text_limit(str(message["channel"]))
        if len(str(message["text"])) > limit:
            failure = SendFailed(
                f"The text is {len(str(message['text']))} characters with "
                f"the link; {message['channel']} allows {limit}."
            )
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
                self.quota.release(*reservation)
            return self._record_failure(code, message, failure)
        return self._record_accepted(code, message, message_uuid)

    def _record_accepted(self, code: str, message: Message, message_uuid: str) -> dict[str, Any]:
        at = iso(self._clock())
        message["uuid"], message["status"], message["rank"] = (
            message_uuid,
            "accepted",
            RANKS["accepted"],
        )
        message["status_at"] = message["sent_at"] = at
        self._conclude(
            code,
            message,
            {
                "#u": ("uuid", message_uuid),
                "#s": ("status", "accepted"),
                "#r": ("rank", RANKS["accepted"]),
                "#at": ("status_at", at),
                "#sent": ("sent_at", at),
            },
        )
        log.info(
            "text accepted code=%s channel=%s to=%s uuid=%s",
            code,
            message["channel"],
            message["to_masked"],
            message_uuid,
        )
        return public_message(message) or {}

    def _record_failure(self, code: str, message: Message, failure: SendFailed) -> dict[str, Any]:
        status = "throttled" if failure.retry_after is not None else "send_failed"
        at = iso(self._clock())
        message["status"], message["status_at"], message["error"] = status, at, failure.reason
        fields: dict[str, tuple[str, Any]] = {
            "#s": ("status", status),
            "#at": ("status_at", at),
            "#e": ("error", failure.reason),
        }
        if failure.retry_after is not None:
            message["retry_after"] = failure.retry_after
            fields["#ra"] = ("retry_after", failure.retry_after)
        self._conclude(code, message, fields)
        log.warning(
            "text %s code=%s channel=%s to=%s: %s",
            status,
            code,
            message["channel"],
            message["to_masked"],
            failure.reason,
        )
        return public_message(message) or {}

    def _conclude(self, code: str, message: Message, fields: dict[str, tuple[str, Any]]) -> None:
        """Record the outcome while this attempt's claim holds (see message.conclusion)."""
        update = conclusion(str(message["claim"]), fields)
        if self.links.update_message(code, LINK, update).outcome != "applied":
            log.info("send outcome superseded (a receipt, or a newer claim) code=%s", code)

    def _epoch(self) -> float:
        return self._clock().timestamp()
