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
                                        With `abandoned_at` (and maybe no code): given up.
Phone numbers travel in the (encrypted) queue messages and are stored only by messaging.

Every recipient ends in a terminal state, so a campaign reaches `done`: texted (messaging's
statuses), `skipped` (message.status "skipped" with a reason, written here, when the
number is refused at send time or the link ended before its text went out), or
`abandoned` (below). Only a malformed envelope is dropped.

Waiting. A 429 (our daily quota) or 503 from messaging, or Vonage throttling, stops the
chunk at that recipient until Retry-After has passed; so does a Lambda about to time out
(at once). The chunk is *sent again as a new message* (same campaign_id, start and
recipients, plus its waiting state) and the received one is reported handled: every
hand-back would otherwise use one of the queue's 5 receives, and a campaign larger than
the quota would lose its tail to the dead-letter queue within days. SQS delays a message
by 900 s at most, so a longer wait ("until midnight UTC") is a series of hops: a message
received before its `not_before` is sent on again at once, with no read at all (no link,
quota or campaign item; no Vonage call). Should that SendMessage fail, the received message
is handed back the old way (batchItemFailures, visibility = the wait).

The envelope's waiting state: `not_before` (epoch s), `stop` (the first recipient not done
when it last stopped: the next run starts there, as the ones before are done), `stalls`
(hand-backs in a row without getting past `stop`: the wait is then at least 2^stalls s, up
to 15 min, so a chunk that keeps failing the same way costs little) and `hops` (sends so
far, for the logs).

Abandoning. A chunk that waits only because of other chunks (10,000 recipients at 1,000
texts a day take 10 days) must not give up, so the bound is the campaign's, not the
chunk's: a chunk stopped again without progress when its campaign has sent nothing for
STALL_LIMIT_SECONDS (7 days; last progress = `progress_at` on the campaign item, written
at most hourly by chunks that get further, else created_at) gives up. Its remaining
recipients get `abandoned_at` on their recipient claims (a claim without a code is written
for those with no link yet, so no later delivery makes one), and the campaign item
collects them (`abandoned` indices without a link, `abandoned_codes` of links made but not
texted, `abandoned_reason`). Statistics count them as failed and under `abandoned`; a
quota of 0 or texting left unconfigured therefore ends the campaign visibly after a week.
(Recipients whose link expires while they wait end sooner, as `skipped`.) While texting is
throttled the campaign item carries `waiting_until`, and GET shows status "throttled" and
`waiting_until`.

Statistics aggregate the campaign's links and tombstones on gsi2 ("campaign#<id>") and the
abandoned recipients recorded on the campaign item.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from chalicelib.core import phones
from chalicelib.core.clock import from_epoch, iso, now
from chalicelib.core.payloads import reject_unknown_fields
from chalicelib.core.problems import BadRequest, NotFound, Problem, Unavailable
from chalicelib.links.service import (
    CODE_ALPHABET,
    LinkService,
    NewLink,
    RecipientClaim,
    RecipientClaimed,
    Texter,
    from_item,
    parse_expiry,
    parse_url,
    parse_webhook_url,
    to_item,
)

log = logging.getLogger("linktrail.campaigns")

MAX_RECIPIENTS = 10_000
MAX_BODY_BYTES = 2 * 1024 * 1024  # 10,000 recipients with refs fit with room to spare
RECIPIENTS_PER_MESSAGE = 25  # small chunks: retries redo little, workers spread out
MAX_TEXT = 3200
CHANNELS = ("sms", "whatsapp", "viber", "messenger")
CREATE_FIELDS = frozenset(
    {"name", "url", "text", "recipients", "expires_at", "ttl", "channel", "webhook_url"}
)
REF = re.compile(r"^[^\x00-\x1f\x7f]{1,100}\Z")
CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9]{12}\Z")

# messaging's message.status values (see chalicelib/messaging.py)
SENT = frozenset({"accepted", "submitted", "delivered", "read", "rejected", "undeliverable"})
DELIVERED = frozenset({"delivered", "read"})
FAILED = frozenset({"rejected", "undeliverable", "send_failed"})
UNSETTLED = frozenset({"pending", "sending", "throttled"})
LINK_ENDED = "The link expired or was deleted before its text went out."


UNSENT = frozenset({"skipped"})  # written here: the recipient will get no text
# SQS refuses a visibility timeout beyond 12 h counted from the receive; the receive came at
# most one Lambda run (15 min) before our call. Only the fallback hand-back uses it.
MAX_VISIBILITY_SECONDS = 43_200 - 900
MAX_DELAY_SECONDS = 900  # SQS's DelaySeconds limit: longer waits are several hops
MAX_WAIT_SECONDS = 86_400  # our quota's longest Retry-After; a Vonage one is capped to it
DEFAULT_RETRY_SECONDS = 60  # a 429/503 without Retry-After
# A campaign that has sent nothing for this long gives up on the chunks still stopped.
STALL_LIMIT_SECONDS = 7 * 86_400
PROGRESS_NOTE_SECONDS = 3_600  # progress_at is rewritten at most this often
ABANDONED = (
    "Texting stayed throttled (daily quota, Vonage or configuration) and the campaign "
    "sent nothing for 7 days; its remaining recipients were not texted."
)
# Stop starting recipients when less than this is left of the Lambda's time: one recipient
# is a few AWS calls plus one Vonage call (5 s timeout).
TIME_MARGIN_MS = 15_000


class HandBack(Exception):
    """The chunk stops at recipient `index` (set by process_chunk) and is sent again to
    come back after `retry_after` seconds."""

    retry_after = 0
    index = 0


class Throttled(HandBack):
    """Vonage (or our own quota, or a missing configuration) asked us to wait."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"throttled for {retry_after}s")
        self.retry_after = retry_after


class OutOfTime(HandBack):
    """The Lambda is about to time out: the chunk comes back at once, unfinished (the
    recipients done so far are skipped on redelivery)."""


class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class Chunk:
    """A campaign queue message: up to RECIPIENTS_PER_MESSAGE recipients from `start`, and
    its waiting state once it has been handed back (see the module docstring)."""

    campaign_id: str
    start: int
    recipients: list[Recipient]
    not_before: int = 0
    stop: int = 0  # 0: it has not stopped past `start`
    stalls: int = 0
    hops: int = 0

    @property
    def end(self) -> int:
        return self.start + len(self.recipients)

    def body(self) -> str:
        envelope: dict[str, Any] = {
            "campaign_id": self.campaign_id,
            "start": self.start,
            "recipients": [{"to": r.to, "ref": r.ref} for r in self.recipients],
        }
        waiting = {
            "not_before": self.not_before,
            "stop": self.stop,
            "stalls": self.stalls,
            "hops": self.hops,
        }
        envelope.update({k: v for k, v in waiting.items() if v})
        return json.dumps(envelope)


def parse_chunk(body: str) -> Chunk:
    """The message envelope; ValueError/KeyError/TypeError when it is malformed."""
    raw = json.loads(body)
    recipients = []
    for entry in raw["recipients"]:
        to, ref = entry["to"], entry.get("ref")
        if not isinstance(to, str) or not (ref is None or isinstance(ref, str)):
            raise TypeError("recipient to/ref must be strings")
        recipients.append(Recipient(to, ref))
    start, not_before, stop, stalls, hops = (
        _whole(raw[name] if name == "start" else raw.get(name, 0), name)
        for name in ("start", "not_before", "stop", "stalls", "hops")
    )
    return Chunk(str(raw["campaign_id"]), start, recipients, not_before, stop, stalls, hops)


def _whole(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"{name} must be a whole number")
    return value


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


def new_campaign_id() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))


def campaign_key(campaign_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"campaign#{campaign_id}"}, "sk": {"S": "campaign"}}


class CampaignService:
    """Campaign items, their queue, their workers and their statistics."""

    def __init__(
        self, links: LinkService, dynamodb: Any, sqs: Any, texter: Texter
    ) -> None:
        self._links = links
        self._ddb = dynamodb
        self._sqs = sqs
        self._table = links.settings.links_table
        self._queue_url = links.settings.campaign_queue_url
        self._texter = texter

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
            Chunk(campaign_id, start, recipients[start : start + RECIPIENTS_PER_MESSAGE]).body()
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
        """Process SQS records. A chunk that must wait (throttled, or not finished before
        the Lambda's time ran out: `context`, Lambda's) is sent again as a new message and
        the record counts as handled; the ones that failed, or could not be sent again,
        are reported for redelivery. Only a malformed envelope is dropped: it would fail
        the same way every time."""
        failures: list[dict[str, str]] = []
        campaigns: dict[str, dict[str, Any] | None] = {}
        for record in records:
            message_id = str(record["messageId"])
            if _out_of_time(context):
                # Not started: back at once, as it came.
                if not self._send_again(record, str(record["body"]), 0):
                    failures.append({"itemIdentifier": message_id})
                continue
            try:
                chunk = parse_chunk(record["body"])
            except (ValueError, KeyError, TypeError):
                log.exception("malformed campaign chunk dropped", extra={"id": message_id})
                continue
            waiting = chunk.not_before - _epoch_now()
            if waiting > 0:
                # Still within Retry-After (longer than one SQS delay): another hop, and
                # nothing read or written.
                if not self._send_again(
                    record, replace(chunk, hops=chunk.hops + 1).body(), waiting
                ):
                    failures.append({"itemIdentifier": message_id})
                continue
            try:
                if chunk.campaign_id not in campaigns:
                    campaigns[chunk.campaign_id] = self._campaign_item(chunk.campaign_id)
                if not self._run(record, campaigns[chunk.campaign_id], chunk, context):
                    failures.append({"itemIdentifier": message_id})
            except Exception:
                log.exception("campaign chunk failed", extra={"id": message_id})
                failures.append({"itemIdentifier": message_id})
        return {"batchItemFailures": failures}

    def _run(
        self,
        record: Mapping[str, Any],
        campaign: dict[str, Any] | None,
        chunk: Chunk,
        context: LambdaContext | None,
    ) -> bool:
        """Process the chunk; False when it stopped and could not be queued again."""
        if campaign is None or campaign.get("status") == "cancelled":
            log.info("chunk of an unknown or cancelled campaign skipped")
            return True
        try:
            self.process_chunk(campaign, chunk, context)
        except HandBack as stopped:
            return self._stopped(record, campaign, chunk, stopped)
        self._note_progress(campaign)
        return True

    def process_chunk(
        self,
        campaign: dict[str, Any],
        chunk: Chunk,
        context: LambdaContext | None = None,
    ) -> None:
        """Make and text each recipient's link from the chunk's `stop` on (of a known,
        uncancelled campaign: `_run` checks); raises a HandBack naming the recipient it
        stopped at."""
        # Recipients before `stop` were done by an earlier run of this chunk.
        first = max(chunk.stop - chunk.start, 0)
        for offset, recipient in enumerate(chunk.recipients[first:], start=first):
            index = chunk.start + offset
            try:
                if _out_of_time(context):
                    raise OutOfTime
                self._process_recipient(campaign, index, recipient)
            except HandBack as stopped:
                stopped.index = index
                raise

    def _stopped(
        self, record: Mapping[str, Any], campaign: dict[str, Any], chunk: Chunk, stopped: HandBack
    ) -> bool:
        """Send a stopped chunk again to come back after its wait, or abandon its remaining
        recipients when the campaign has stalled. False when it could not be sent again
        (the record was handed back instead)."""
        progressed = stopped.index > max(chunk.stop, chunk.start)
        if progressed:
            self._note_progress(campaign)
        elif self._stalled(campaign):
            self._abandon(campaign, chunk, stopped.index)
            return True
        stalls = 0 if progressed else chunk.stalls + 1
        backoff = min(MAX_DELAY_SECONDS, 2 ** min(stalls, 10)) if stalls else 0
        wait = min(max(stopped.retry_after, backoff), MAX_WAIT_SECONDS)
        moment = _epoch_now()
        log.warning(
            "campaign chunk waits",
            extra={
                "id": record["messageId"],
                "campaign_id": chunk.campaign_id,
                "index": stopped.index,
                "wait": wait,
                "reason": type(stopped).__name__,
                "stalls": stalls,
                "hops": chunk.hops + 1,
            },
        )
        if isinstance(stopped, Throttled):
            self._note_waiting(campaign, moment + wait)
        again = replace(
            chunk,
            not_before=moment + wait if wait else 0,
            stop=max(stopped.index, chunk.stop),
            stalls=stalls,
            hops=chunk.hops + 1,
        )
        return self._send_again(record, again.body(), wait)

    def _send_again(self, record: Mapping[str, Any], body: str, wait: int) -> bool:
        """Queue `body` as a new message, delayed by up to SQS's 15 minutes (the received
        one is then reported handled, so its receive count never reaches the dead-letter
        queue's). If SQS refuses, hand the received message back with its visibility set
        to the wait and return False."""
        try:
            self._sqs.send_message(
                QueueUrl=self._queue_url,
                MessageBody=body,
                DelaySeconds=max(0, min(wait, MAX_DELAY_SECONDS)),
            )
        except Exception:
            log.warning(
                "could not queue a waiting chunk again: handed back",
                extra={"id": record["messageId"]},
                exc_info=True,
            )
            self._delay(record, wait)
            return False
        return True

    def _stalled(self, campaign: Mapping[str, Any]) -> bool:
        return _epoch_now() - _last_progress(campaign) >= STALL_LIMIT_SECONDS

    def _note_progress(self, campaign: dict[str, Any]) -> None:
        """Record that the campaign got further (at most hourly: only the 7-day stall limit
        reads it)."""
        moment = _epoch_now()
        if moment - _last_progress(campaign) < PROGRESS_NOTE_SECONDS:
            return
        self._update_campaign(campaign, "SET progress_at = :t", {":t": {"N": str(moment)}})
        campaign["progress_at"] = moment

    def _note_waiting(self, campaign: dict[str, Any], until: int) -> None:
        """Show the campaign as throttled until `until` (the latest wait of its chunks)."""
        if int(campaign.get("waiting_until", 0)) >= until:
            return
        self._update_campaign(
            campaign,
            "SET waiting_until = :t",
            {":t": {"N": str(until)}},
            condition="attribute_not_exists(waiting_until) OR waiting_until < :t",
        )
        campaign["waiting_until"] = until

    def _update_campaign(
        self,
        campaign: Mapping[str, Any],
        expression: str,
        values: dict[str, Any],
        condition: str | None = None,
    ) -> None:
        """A best-effort note on the campaign item: failing it must not fail the chunk."""
        extra = {"ConditionExpression": condition} if condition else {}
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=campaign_key(campaign["campaign_id"]),
                UpdateExpression=expression,
                ExpressionAttributeValues=values,
                **extra,
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            pass
        except Exception:
            log.warning("could not update the campaign item", exc_info=True)

    def _abandon(self, campaign: dict[str, Any], chunk: Chunk, index: int) -> None:
        """Give up on the chunk's recipients from `index` on: mark each claim abandoned
        (creating a claim without a code where no link was made, so none ever is) and
        record them on the campaign item, which statistics read. Idempotent."""
        campaign_id = chunk.campaign_id
        unlinked: list[int] = []
        codes: list[str] = []
        moment = iso(now())
        for offset, recipient in enumerate(chunk.recipients[index - chunk.start :]):
            claim = RecipientClaim(campaign_id, index + offset, recipient.ref)
            values: dict[str, Any] = {":at": {"S": moment}}
            expression = "SET abandoned_at = if_not_exists(abandoned_at, :at)"
            names: dict[str, Any] = {}
            if recipient.ref is not None:
                values[":ref"] = {"S": recipient.ref}
                names["ExpressionAttributeNames"] = {"#ref": "ref"}
                expression += ", #ref = if_not_exists(#ref, :ref)"
            stored = self._ddb.update_item(
                TableName=self._table,
                Key=claim.key,
                UpdateExpression=expression,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                **names,
            )["Attributes"]
            if "code" in stored:
                codes.append(str(stored["code"]["S"]))
            else:
                unlinked.append(claim.index)
        additions = []
        values = {":reason": {"S": ABANDONED}, ":at": {"S": moment}}
        if unlinked:
            additions.append("abandoned :unlinked")
            values[":unlinked"] = {"NS": [str(n) for n in unlinked]}
        if codes:
            additions.append("abandoned_codes :codes")
            values[":codes"] = {"SS": codes}
        expression = (
            "SET abandoned_reason = :reason, abandoned_at = if_not_exists(abandoned_at, :at)"
        )
        if additions:
            expression += " ADD " + ", ".join(additions)
        self._ddb.update_item(
            TableName=self._table,
            Key=campaign_key(campaign_id),
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
        )
        log.error(
            "campaign stalled: recipients abandoned",
            extra={"campaign_id": campaign_id, "from": index, "to": chunk.end - 1},
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
            link = self._links.create(new, campaign["key_id"], recipient=claim)
        except RecipientClaimed:
            # Redelivered: the recipient has its link. Make sure its object exists (a crash
            # may have come between the transaction and the PutObject) without bringing
            # back the object of a link retired meanwhile, then send again: messaging
            # sends at most once per code.
            found = self._ddb.get_item(TableName=self._table, Key=claim.key, ConsistentRead=True)
            if "abandoned_at" in found["Item"]:
                return  # the campaign gave up on this recipient (an old copy of its chunk)
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
            order = self._texter.parse_order(sms, key_id=campaign["key_id"])
        except Problem as problem:
            if problem.status in (429, 503):
                # Quota or configuration: the chunk comes back once Retry-After has passed.
                raise Throttled(retry_after_of(problem)) from None
            self._skip(code, campaign, recipient, "invalid_recipient", problem.detail)
            return
        sent = self._texter.send_for_link(
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
            "abandoned": 0,
            "clicked": 0,
        }
        # Recipients the campaign gave up on: without a link, or with one never texted.
        unlinked = len(campaign.get("abandoned") or [])
        abandoned_codes = set(campaign.get("abandoned_codes") or [])
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi2",
            "KeyConditionExpression": "gsi2pk = :p",
            "ExpressionAttributeValues": {":p": {"S": f"campaign#{campaign_id}"}},
            "ProjectionExpression": "sk, code, human_clicks, #m.#s",
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
                # Never texted: the campaign gave up on its recipient.
                abandoned = unsettled and not ended and item.get("code") in abandoned_codes
                counts["abandoned"] += abandoned
                counts["sent"] += status in SENT
                counts["delivered"] += status in DELIVERED
                counts["failed"] += status in FAILED
                counts["opted_out"] += status == "opted_out"
                counts["skipped"] += status in UNSENT or (ended and unsettled)
                counts["pending"] += unsettled and not ended and not abandoned
                counts["clicked"] += item.get("human_clicks", 0) > 0
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        counts["abandoned"] += unlinked
        counts["failed"] += counts["abandoned"]
        total = int(campaign["total"])
        waiting_until = int(campaign.get("waiting_until", 0))
        if campaign.get("status") == "cancelled":
            status = "cancelled"
        elif counts["links_created"] + unlinked >= total and not counts["pending"]:
            status = "done"
        elif waiting_until > now().timestamp():
            status = "throttled"  # chunks wait out a Retry-After (quota, Vonage, config)
        elif counts["links_created"] == 0:
            status = "queued"
        else:
            status = "sending"
        extra: dict[str, Any] = {}
        if status == "throttled":
            extra["waiting_until"] = iso(from_epoch(waiting_until))
        if counts["abandoned"]:
            extra["abandoned_reason"] = campaign.get("abandoned_reason", ABANDONED)
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
            **extra,
        }


def _epoch_now() -> int:
    return int(now().timestamp())


def _last_progress(campaign: Mapping[str, Any]) -> int:
    created = datetime.fromisoformat(str(campaign["created_at"])).timestamp()
    return max(int(created), int(campaign.get("progress_at", 0)))


def _out_of_time(context: LambdaContext | None) -> bool:
    return context is not None and context.get_remaining_time_in_millis() < TIME_MARGIN_MS
