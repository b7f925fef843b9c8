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

Statistics aggregate the campaign's links and tombstones on gsi2 ("campaign#<id>").
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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


class Throttled(Exception):
    """Vonage asked us to slow down: the chunk comes back after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"throttled for {retry_after}s")
        self.retry_after = retry_after


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
        webhook_url = parse_url(webhook_url, "webhook_url")
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
        allowed = links.settings.sms_allowed_countries
        if allowed and recipient.country is not None and recipient.country not in allowed:
            raise BadRequest(
                f"{where}.to: texts to {recipient.country} numbers are not allowed here.",
                field=f"{where}.to",
                slug="sms-country-not-allowed",
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

    def handle_records(self, records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """Process SQS records; the ones that failed are reported for redelivery."""
        failures: list[dict[str, str]] = []
        campaigns: dict[str, dict[str, Any] | None] = {}
        for record in records:
            try:
                chunk = json.loads(record["body"])
                campaign_id = str(chunk["campaign_id"])
                if campaign_id not in campaigns:
                    campaigns[campaign_id] = self._campaign_item(campaign_id)
                self.process_chunk(campaigns[campaign_id], chunk)
            except (ValueError, KeyError, TypeError):
                log.exception(
                    "malformed campaign chunk dropped", extra={"id": record.get("messageId")}
                )
            except Throttled as throttled:
                log.warning("campaign chunk throttled", extra={"id": record.get("messageId")})
                failures.append({"itemIdentifier": str(record["messageId"])})
                self._delay(record, throttled.retry_after)
            except Exception:
                log.exception("campaign chunk failed", extra={"id": record.get("messageId")})
                failures.append({"itemIdentifier": str(record["messageId"])})
        return {"batchItemFailures": failures}

    def process_chunk(self, campaign: dict[str, Any] | None, chunk: Mapping[str, Any]) -> None:
        if campaign is None or campaign.get("status") == "cancelled":
            log.info("chunk of an unknown or cancelled campaign skipped")
            return
        start = int(chunk["start"])
        for offset, entry in enumerate(chunk["recipients"]):
            self._process_recipient(
                campaign, start + offset, Recipient(entry["to"], entry.get("ref"))
            )

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
            code = self._links.create(new, campaign["key_id"], recipient=claim)["code"]
        except RecipientClaimed:
            # Redelivered: the recipient has its link. Make sure its object exists (a crash
            # may have come between the transaction and the PutObject), then send again:
            # messaging sends at most once per code.
            found = self._ddb.get_item(TableName=self._table, Key=claim.key, ConsistentRead=True)
            code = found["Item"]["code"]["S"]
            link = self._links.items_for(code).get("link")
            if link is None:
                return  # expired or deleted before its message went out
            self._links.put_redirect(code, link["long_url"])
        sms = {"to": recipient.to, "text": campaign["text"], "channel": campaign["channel"]}
        try:
            order = self._messenger.parse_order(sms, campaign["key_id"])
        except Problem as problem:
            if problem.status in (429, 503):
                raise  # quota or configuration: the chunk comes back later
            log.warning(
                "recipient skipped",
                extra={"campaign_id": campaign_id, "index": index, "detail": problem.detail},
            )
            return
        sent = self._messenger.send_for_link(
            order, code=code, short_url=self._links.short_url(code)
        )
        if sent.get("status") == "throttled":
            raise Throttled(int(sent.get("retry_after") or 1))

    def _delay(self, record: Mapping[str, Any], seconds: int) -> None:
        """Honour Retry-After: the message becomes visible again only then (best effort;
        without it the queue's own visibility timeout applies)."""
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self._queue_url,
                ReceiptHandle=record["receiptHandle"],
                VisibilityTimeout=max(0, min(seconds, 43_200)),
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
            "clicked": 0,
        }
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi2",
            "KeyConditionExpression": "gsi2pk = :p",
            "ExpressionAttributeValues": {":p": {"S": f"campaign#{campaign_id}"}},
            "ProjectionExpression": "human_clicks, #m.#s",
            "ExpressionAttributeNames": {"#m": "message", "#s": "status"},
        }
        while True:
            page = self._ddb.query(**kwargs)
            for raw in page.get("Items", []):
                item = from_item(raw)
                counts["links_created"] += 1
                status = (item.get("message") or {}).get("status")
                counts["sent"] += status in SENT
                counts["delivered"] += status in DELIVERED
                counts["failed"] += status in FAILED
                counts["opted_out"] += status == "opted_out"
                counts["pending"] += status is None or status in UNSETTLED
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


def service() -> CampaignService:
    from chalicelib import links, runtime

    return CampaignService(links.service(), runtime.dynamodb(), runtime.sqs())
