"""Campaigns: one short link and one message per recipient, made off the request path.

POST /api/campaigns validates everything (every recipient's number through messaging),
stores the campaign item, and enqueues the recipients in chunks on the campaign queue
(SendMessageBatch, ten chunks a call). The queue handler makes each recipient's link and
sends its message.

Items in the links table:
  campaign#<id> / campaign              the campaign (gsi1 "campaigns" / created_at#id)
  campaign#<id> / recipient#<index>     written in the same transaction as the recipient's
                                        link: holds its code, so a redelivered chunk never
                                        makes a second link; the message is sent through
                                        messaging.send_for_link, idempotent per code.
Phone numbers travel in the (encrypted) queue messages and are stored only by messaging.

Every recipient ends in a terminal state, so a campaign reaches `done`: texted (messaging's
statuses), or `skipped` (message.status "skipped" with a reason, written here, when the
number is refused at send time or the link ended before its text went out). A 429 (quota)
or 503 from messaging, or Vonage throttling, hands the chunk back with its visibility set to
Retry-After (at most SQS's 12 h); so does a Lambda about to time out. Only a malformed
envelope is dropped.

Statistics aggregate the campaign's links and tombstones on gsi2 ("campaign#<id>").
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib import phones
from chalicelib.links import (
    CODE_ALPHABET,
    LinkService,
    NewLink,
    RecipientClaim,
    RecipientClaimed,
    from_item,
    parse_expiry,
    parse_url,
    parse_webhook_url,
    to_item,
)
from chalicelib.payloads import reject_unknown_fields
from chalicelib.problems import BadRequest, NotFound, Problem, Unavailable
from chalicelib.timeutil import iso, now

log = logging.getLogger("linktrail.campaigns")

MAX_RECIPIENTS = 10_000
MAX_BODY_BYTES = 2 * 1024 * 1024  # 10,000 recipients with refs fit with room to spare
RECIPIENTS_PER_MESSAGE = 25  # small chunks: retries redo little, workers spread out
MAX_TEXT = 3200
CHANNELS = ("sms", "whatsapp", "viber", "messenger")
CREATE_FIELDS = frozenset(
    {"name", "url", "text", "recipients", "expires_at", "ttl", "channel", "webhook_url"}
)
REF = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")
CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9]{12}$")

# messaging's message.status values (see chalicelib/messaging.py)
SENT = frozenset({"accepted", "submitted", "delivered", "read", "rejected", "undeliverable"})
DELIVERED = frozenset({"delivered", "read"})
FAILED = frozenset({"rejected", "undeliverable", "send_failed"})
UNSETTLED = frozenset({"pending", "sending", "throttled"})
LINK_ENDED = "The link expired or was deleted before its text went out."


UNSENT = frozenset({"skipped"})  # written here: the recipient will get no text
# SQS refuses a visibility timeout beyond 12 h counted from the receive; the receive came at
# most one Lambda run (15 min) before our call.
MAX_VISIBILITY_SECONDS = 43_200 - 900
DEFAULT_RETRY_SECONDS = 60  # a 429/503 without Retry-After
# Stop starting recipients when less than this is left of the Lambda's time: one recipient
# is a few AWS calls plus one Vonage call (5 s timeout).
TIME_MARGIN_MS = 15_000


class Throttled(Exception):
    """Vonage (or our own quota, or a missing configuration) asked us to wait: the chunk
    comes back after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"throttled for {retry_after}s")
        self.retry_after = retry_after


class OutOfTime(Exception):
    """The Lambda is about to time out: the chunk goes back to the queue unfinished (the
    recipients done so far are skipped on redelivery)."""


class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class Chunk:
    """A campaign queue message: up to RECIPIENTS_PER_MESSAGE recipients from `start`."""

    campaign_id: str
    start: int
    recipients: list[Recipient]


def parse_chunk(body: str) -> Chunk:
    """The message envelope; ValueError/KeyError/TypeError when it is malformed."""
    raw = json.loads(body)
    recipients = []
    for entry in raw["recipients"]:
        to, ref = entry["to"], entry.get("ref")
        if not isinstance(to, str) or not (ref is None or isinstance(ref, str)):
            raise TypeError("recipient to/ref must be strings")
        recipients.append(Recipient(to, ref))
    start = raw["start"]
    if not isinstance(start, int) or isinstance(start, bool) or start < 0:
        raise TypeError("start must be a whole number")
    return Chunk(str(raw["campaign_id"]), start, recipients)


def retry_after_of(problem: Problem) -> int:
    raw = problem.headers.get("Retry-After", "")
    return int(raw) if raw.isdigit() else DEFAULT_RETRY_SECONDS


@dataclass(frozen=True)
class Recipient:
    to: str
    ref: str | None


@dataclass(frozen=True)
class NewCampaign:
    name: str
    url: str
    text: str
    channel: str
    recipients: list[Recipient]
    expires_at: int | None
    webhook_url: str | None


def parse_campaign(body: Mapping[str, Any], links: LinkService) -> NewCampaign:
    """Validate a whole campaign before anything is written. Numbers are checked the way
    messaging checks them (phones); the daily quota is taken per send, by the workers."""
    reject_unknown_fields(dict(body), CREATE_FIELDS)
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
        raise BadRequest("name is 1-100 characters.", field="name")
    if "url" not in body:
        raise BadRequest("url is required.", field="url")
    url = parse_url(body["url"], "url", links.settings.allowed_destination_hosts)
    text = body.get("text")
    if not isinstance(text, str) or "{link}" not in text:
        raise BadRequest("text is a template containing {link}.", field="text")
    longest = len(text.replace("{link}", links.short_url("x" * 64)))
    if longest > MAX_TEXT:
        raise BadRequest(f"text is at most {MAX_TEXT} characters with the link.", field="text")
    channel = body.get("channel", "sms")
    if channel not in CHANNELS:
        raise BadRequest(f"channel is one of {', '.join(CHANNELS)}.", field="channel")
    webhook_url = body.get("webhook_url")
    if webhook_url is not None:
        webhook_url = parse_webhook_url(webhook_url, links.settings)
    expires_at = parse_expiry(body, now(), links.settings.max_link_lifetime_seconds)
    raw = body.get("recipients")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_RECIPIENTS:
        raise BadRequest(
            f"recipients is a list of 1 to {MAX_RECIPIENTS:,} {{to, ref}} objects.",
            field="recipients",
        )
    recipients: list[Recipient] = []
    for index, entry in enumerate(raw):
        where = f"recipients[{index}]"
        if not isinstance(entry, dict):
            raise BadRequest(f"{where} must be an object {{to, ref}}.", field=where)
        unknown = sorted(set(entry) - {"to", "ref"})
        if unknown:
            raise BadRequest(f"{where}: unknown field {unknown[0]}.", field=f"{where}.{unknown[0]}")
        ref = entry.get("ref")
        if ref is not None and (not isinstance(ref, str) or not REF.match(ref)):
            raise BadRequest(f"{where}.ref is 1-100 printable characters.", field=f"{where}.ref")
        recipient = phones.parse_recipient(entry.get("to"), channel, field=f"{where}.to")
        phones.check_country_allowed(
            recipient, links.settings.sms_allowed_countries, field=f"{where}.to"
        )
        recipients.append(Recipient(to=entry["to"], ref=ref))
    if not links.settings.vonage_application_id:
        raise Problem(
            503, "Texting is not configured (VONAGE_APPLICATION_ID).", slug="sms-not-configured"
        )
    return NewCampaign(name.strip(), url, text, channel, recipients, expires_at, webhook_url)


class Messenger:
    """How a campaign sends: messaging's parse_order and send_for_link (the real module in
    the app; tests may hand in a recording fake with the same two methods)."""

    def parse_order(self, sms: dict[str, Any], key_id: str) -> Any:
        from chalicelib import messaging  # only campaign paths pay for the SMS stack

        return messaging.parse_order(sms, key_id=key_id)

    def send_for_link(self, order: Any, code: str, short_url: str) -> dict[str, Any]:
        from chalicelib import messaging

        result: dict[str, Any] = messaging.send_for_link(order, code=code, short_url=short_url)
        return result


def new_campaign_id() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))


def campaign_key(campaign_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"campaign#{campaign_id}"}, "sk": {"S": "campaign"}}


class CampaignService:
    """Campaign items, their queue, their workers and their statistics."""

    def __init__(
        self, links: LinkService, dynamodb: Any, sqs: Any, messenger: Messenger | None = None
    ) -> None:
        self._links = links
        self._ddb = dynamodb
        self._sqs = sqs
        self._table = links.settings.links_table
        self._queue_url = links.settings.campaign_queue_url
        self._messenger = messenger or Messenger()

    # POST /api/campaigns

    def start(self, body: Mapping[str, Any], key_id: str) -> dict[str, Any]:
        campaign = parse_campaign(body, self._links)
        campaign_id = new_campaign_id()
        created_at = iso(now())
        self._ddb.put_item(
            TableName=self._table,
            Item=to_item(
                {
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
                    "gsi1pk": "campaigns",
                    "gsi1sk": f"{created_at}#{campaign_id}",
                }
            ),
            ConditionExpression="attribute_not_exists(pk)",
        )
        try:
            self._enqueue(campaign_id, campaign.recipients)
        except Exception as error:
            # Chunks already queued are skipped by the workers once the campaign is cancelled.
            self._ddb.update_item(
                TableName=self._table,
                Key=campaign_key(campaign_id),
                UpdateExpression="SET #s = :c",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":c": {"S": "cancelled"}},
            )
            log.exception("campaign enqueue failed", extra={"campaign_id": campaign_id})
            raise Unavailable("The campaign could not be queued; it was cancelled.") from error
        log.info("campaign queued", extra={"campaign_id": campaign_id})
        return {"campaign_id": campaign_id, "status": "queued", "total": len(campaign.recipients)}

    def _enqueue(self, campaign_id: str, recipients: list[Recipient]) -> None:
        bodies = [
            json.dumps(
                {
                    "campaign_id": campaign_id,
                    "start": start,
                    "recipients": [
                        {"to": r.to, "ref": r.ref}
                        for r in recipients[start : start + RECIPIENTS_PER_MESSAGE]
                    ],
                }
            )
            for start in range(0, len(recipients), RECIPIENTS_PER_MESSAGE)
        ]
        for first in range(0, len(bodies), 10):
            entries = [
                {"Id": str(first + n), "MessageBody": body}
                for n, body in enumerate(bodies[first : first + 10])
            ]
            for _ in range(3):
                answer = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
                failed = {f["Id"] for f in answer.get("Failed", [])}
                entries = [e for e in entries if e["Id"] in failed]
                if not entries:
                    break
            if entries:
                raise RuntimeError(f"SQS refused {len(entries)} campaign chunks")

    # the queue handler

    def handle_records(
        self, records: Iterable[Mapping[str, Any]], context: LambdaContext | None = None
    ) -> dict[str, Any]:
        """Process SQS records; the ones that failed, were throttled, or were not finished
        before the Lambda's time ran out (`context`, Lambda's) are reported for redelivery.
        Only a malformed envelope is dropped: it would fail the same way every time."""
        failures: list[dict[str, str]] = []
        campaigns: dict[str, dict[str, Any] | None] = {}
        for record in records:
            message_id = str(record["messageId"])
            if _out_of_time(context):
                failures.append({"itemIdentifier": message_id})  # not started: hand it back
                self._delay(record, 0)  # visible again at once, not after the queue's timeout
                continue
            try:
                chunk = parse_chunk(record["body"])
            except (ValueError, KeyError, TypeError):
                log.exception("malformed campaign chunk dropped", extra={"id": message_id})
                continue
            try:
                if chunk.campaign_id not in campaigns:
                    campaigns[chunk.campaign_id] = self._campaign_item(chunk.campaign_id)
                self.process_chunk(campaigns[chunk.campaign_id], chunk, context)
            except Throttled as throttled:
                log.warning(
                    "campaign chunk delayed",
                    extra={"id": message_id, "retry_after": throttled.retry_after},
                )
                failures.append({"itemIdentifier": message_id})
                self._delay(record, throttled.retry_after)
            except OutOfTime:
                log.warning("campaign chunk handed back: out of time", extra={"id": message_id})
                failures.append({"itemIdentifier": message_id})
                self._delay(record, 0)
            except Exception:
                log.exception("campaign chunk failed", extra={"id": message_id})
                failures.append({"itemIdentifier": message_id})
        return {"batchItemFailures": failures}

    def process_chunk(
        self,
        campaign: dict[str, Any] | None,
        chunk: Chunk,
        context: LambdaContext | None = None,
    ) -> None:
        if campaign is None or campaign.get("status") == "cancelled":
            log.info("chunk of an unknown or cancelled campaign skipped")
            return
        for offset, recipient in enumerate(chunk.recipients):
            if _out_of_time(context):
                raise OutOfTime
            self._process_recipient(campaign, chunk.start + offset, recipient)

    def _process_recipient(
        self, campaign: dict[str, Any], index: int, recipient: Recipient
    ) -> None:
        campaign_id = campaign["campaign_id"]
        claim = RecipientClaim(campaign_id, index, recipient.ref)
        new = NewLink(
            url=campaign["url"],
            expires_at=campaign.get("expires_at"),
            webhook_url=campaign.get("webhook_url"),
            campaign_id=campaign_id,
            ref=recipient.ref,
        )
        try:
            link = self._links.create(new, campaign["key_id"], recipient=claim)
        except RecipientClaimed:
            # Redelivered: the recipient has its link. Make sure its object exists (a crash
            # may have come between the transaction and the PutObject) without bringing
            # back the object of a link retired meanwhile, then send again: messaging
            # sends at most once per code.
            found = self._ddb.get_item(TableName=self._table, Key=claim.key, ConsistentRead=True)
            code = str(found["Item"]["code"]["S"])
            stored = self._links.items_for(code).get("link")
            if stored is None or not self._links.ensure_redirect(code, stored["long_url"]):
                self._skip(code, campaign, recipient, "link_ended", LINK_ENDED)
                return
            link = stored
        code = str(link["code"])
        expires_at = link.get("expires_at")
        if expires_at is not None and expires_at <= now().timestamp():
            # Its expiry passed before its text went out: end it now, text nobody.
            self._links.expire(code, int(now().timestamp()))
            self._links.delete_redirect(code)
            self._skip(code, campaign, recipient, "link_ended", LINK_ENDED)
            return
        sms = {"to": recipient.to, "text": campaign["text"], "channel": campaign["channel"]}
        try:
            order = self._messenger.parse_order(sms, campaign["key_id"])
        except Problem as problem:
            if problem.status in (429, 503):
                # Quota or configuration: the chunk comes back once Retry-After has passed.
                raise Throttled(retry_after_of(problem)) from None
            self._skip(code, campaign, recipient, "invalid_recipient", problem.detail)
            return
        sent = self._messenger.send_for_link(
            order, code=code, short_url=self._links.short_url(code)
        )
        if sent.get("status") == "throttled":
            raise Throttled(int(sent.get("retry_after") or 1))

    def _skip(
        self,
        code: str,
        campaign: Mapping[str, Any],
        recipient: Recipient,
        reason: str,
        detail: str,
    ) -> None:
        """Give a recipient that will get no text a terminal message state on its link (or
        tombstone), so statistics count it and the campaign can finish."""
        log.warning(
            "recipient skipped",
            extra={"campaign_id": campaign["campaign_id"], "code": code, "reason": reason},
        )
        items = self._links.items_for(code)
        kind = "link" if "link" in items else "tombstone" if "tombstone" in items else None
        if kind is None:
            return
        self._links.mark_unsent(
            code,
            kind,
            {
                "channel": campaign["channel"],
                "to_masked": phones.mask(recipient.to),
                "status": "skipped",
                "reason": reason,
                "error": detail,
                "status_at": iso(now()),
            },
        )

    def _delay(self, record: Mapping[str, Any], seconds: int) -> None:
        """Honour Retry-After: the message becomes visible again only then (best effort;
        without it the queue's own visibility timeout applies)."""
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self._queue_url,
                ReceiptHandle=record["receiptHandle"],
                VisibilityTimeout=max(0, min(seconds, MAX_VISIBILITY_SECONDS)),
            )
        except Exception:
            log.warning("could not delay a throttled chunk", exc_info=True)

    # GET /api/campaigns/{id}

    def _campaign_item(self, campaign_id: str) -> dict[str, Any] | None:
        found = self._ddb.get_item(
            TableName=self._table, Key=campaign_key(campaign_id), ConsistentRead=True
        ).get("Item")
        return from_item(found) if found else None

    def stats(self, campaign_id: str) -> dict[str, Any]:
        campaign = self._campaign_item(campaign_id) if CAMPAIGN_ID.match(campaign_id) else None
        if campaign is None:
            raise NotFound(f"No campaign {campaign_id!r}.")
        counts = {
            "links_created": 0,
            "sent": 0,
            "delivered": 0,
            "failed": 0,
            "opted_out": 0,
            "pending": 0,
            "skipped": 0,
            "clicked": 0,
        }
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi2",
            "KeyConditionExpression": "gsi2pk = :p",
            "ExpressionAttributeValues": {":p": {"S": f"campaign#{campaign_id}"}},
            "ProjectionExpression": "sk, human_clicks, #m.#s",
            "ExpressionAttributeNames": {"#m": "message", "#s": "status"},
        }
        while True:
            page = self._ddb.query(**kwargs)
            for raw in page.get("Items", []):
                item = from_item(raw)
                counts["links_created"] += 1
                status = (item.get("message") or {}).get("status")
                unsettled = status is None or status in UNSETTLED
                # A link that ended before its text settled never gets one now.
                ended = item.get("sk") == "tombstone"
                counts["sent"] += status in SENT
                counts["delivered"] += status in DELIVERED
                counts["failed"] += status in FAILED
                counts["opted_out"] += status == "opted_out"
                counts["skipped"] += status in UNSENT or (ended and unsettled)
                counts["pending"] += unsettled and not ended
                counts["clicked"] += item.get("human_clicks", 0) > 0
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        total = int(campaign["total"])
        if campaign.get("status") == "cancelled":
            status = "cancelled"
        elif counts["links_created"] == 0:
            status = "queued"
        elif counts["links_created"] < total or counts["pending"]:
            status = "sending"
        else:
            status = "done"
        delivered = counts["delivered"]
        return {
            "campaign_id": campaign_id,
            "name": campaign["name"],
            "url": campaign["url"],
            "channel": campaign["channel"],
            "created_at": campaign["created_at"],
            "total": total,
            **counts,
            "ctr": round(counts["clicked"] / delivered, 4) if delivered else None,
            "status": status,
        }


def _out_of_time(context: LambdaContext | None) -> bool:
    return context is not None and context.get_remaining_time_in_millis() < TIME_MARGIN_MS


def service() -> CampaignService:
    from chalicelib import links, runtime

    return CampaignService(links.service(), runtime.dynamodb(), runtime.sqs())
