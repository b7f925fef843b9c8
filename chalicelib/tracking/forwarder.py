"""The Stitch forwarder: queue messages -> identity resolution -> warehouse rows -> Stitch.

Destinations (whichever is configured):
- Import API (preferred): `POST {stitch_api_url}/v2/import/batch`, Bearer token from the
  secret "stitch-token". Tables `events` and `identities`, a declared schema, key_names
  ["message_id"] so a retried row upserts instead of duplicating, sequence = received_at
  (ms). Requests hold at most 20,000 records and 20 MB.
- Incoming Webhook (seed 2's choice): the secret URL "stitch-webhook-url"; JSON arrays of
  rows, each with `table_name`; everything lands in Stitch's one table, `data`. There
  are no key_names or sequence: rows upsert by message_id only if the integration was
  created with Primary Key `message_id`; with seed 2's blank key loading is append-only
  and a retried request (e.g. after a timeout when Stitch had stored it) duplicates its
  rows. Without a sequence the last row to arrive wins, not the newest identity link.

Failure handling, per queue message (so one bad message never takes the good ones down).
Stitch's answers fall in four kinds (`StitchError.kind`):
- transient (no answer/timeout, 408, 429, 5xx): retried in-process with backoff; if it
  still fails, the queue messages whose rows were in that request are reported in
  batchItemFailures and SQS redelivers them after the visibility timeout.
- rejected (400, 413, 422), the data's fault: the batch is bisected until the bad row(s)
  are isolated; each bad row goes to the DLQ at once, as a redrivable queue body with
  Stitch's answer in message attributes; every other row is delivered.
- configuration (401, 403, 404: a wrong or revoked token, a wrong API or webhook URL)
  and bug (415 and any other 4xx: a request we should never have built): these affect
  every message alike, so dead-lettering at once would dump the whole stream for one
  mistake. No in-process retry: the request's queue messages are handed back to SQS and
  every occurrence is logged at ERROR ("stitch configuration error" / "stitch refused
  the request format"), with the status and Stitch's answer (the token and the webhook
  URL are never logged), so an alarm on those lines finds it within minutes.
Whatever the kind, a message handed back on its last receive (ApproximateReceiveCount,
from `QueueRecord.from_lambda`, >= the events queue's maxReceiveCount, read from its
RedrivePolicy at cold start) is dead-lettered by the forwarder itself, whole, with the
last error in its attributes (StitchTable "-"), instead of being left to the queue's
redrive, which would move it without saying why. Only an invocation that crashes outright
(neither a Stitch answer nor a DynamoDB error) still leaves its messages to the redrive.

Before Stitch, per queue message too: a message holding an event the forwarder cannot
store (an id too long for a DynamoDB key, which /events refuses but an old client's or a
hand-made message may hold; a missing field) is dead-lettered at once, whole, like a body
that does not parse. Identity links are written one at a time: a write DynamoDB refuses
for good (ValidationException) dead-letters its message with DynamoDB's answer; any other
failure (throttling, a conflict, 5xx) hands that message back like a transient Stitch
error. A failed identity lookup (one BatchGetItem serves the batch) hands back the
messages with anonymous-only events. A message handed back or dead-lettered here sends
no row this time, so its redelivery does not duplicate any. After the cause is fixed,
redrive the DLQ into the events queue (README); the bodies replay as they are.

Rows: `events` holds one flat row per event (properties and traits as JSON text, the
context spread into columns); `resolved_user_id` is user_id, else the user the anonymous
id was linked to when forwarded. `identities` holds one row per anonymous id (message_id
"identity:<anonymous_id>", latest link wins by sequence); erasure upserts those rows with
deleted=true and adds one "erasure:<user_id>" row.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from chalicelib.core.settings import Settings
from chalicelib.tracking.event_queue import QUEUE_FORMAT
from chalicelib.tracking.identity import (
    IdentityLink,
    IdentityStore,
    key_problem,
    links_in,
    permanent,
)

log = logging.getLogger("linktrail.stitch")

MAX_RECORDS_PER_REQUEST = 20_000
MAX_BYTES_PER_REQUEST = 20 * 1024 * 1024
# Webhook limits are not documented as precisely; stay well under what is known to work.
WEBHOOK_MAX_RECORDS = 1_000
WEBHOOK_MAX_BYTES = 4 * 1024 * 1024
KEY_NAMES = ["message_id"]
EVENTS_TABLE = "events"
IDENTITIES_TABLE = "identities"
BISECTABLE = frozenset({400, 413, 422})
CONFIGURATION = frozenset({401, 403, 404})

_TEXT = {"type": ["null", "string"]}
_INSTANT = {"type": ["null", "string"], "format": "date-time"}
EVENTS_SCHEMA: dict[str, Any] = {
    "properties": {
        "message_id": {"type": "string"},
        "type": {"type": "string"},
        "event": _TEXT,
        "name": _TEXT,
        "anonymous_id": _TEXT,
        "user_id": _TEXT,
        "resolved_user_id": _TEXT,
        "previous_id": _TEXT,
        "timestamp": _INSTANT,
        "sent_at": _INSTANT,
        "received_at": {"type": "string", "format": "date-time"},
        "properties": _TEXT,
        "traits": _TEXT,
        "page_url": _TEXT,
        "page_path": _TEXT,
        "page_title": _TEXT,
        "page_referrer": _TEXT,
        "page_search": _TEXT,
        "campaign_source": _TEXT,
        "campaign_medium": _TEXT,
        "campaign_name": _TEXT,
        "campaign_term": _TEXT,
        "campaign_content": _TEXT,
        "library_name": _TEXT,
        "library_version": _TEXT,
        "locale": _TEXT,
        "timezone": _TEXT,
        "browser": _TEXT,
        "os": _TEXT,
        "device": _TEXT,
    }
}
IDENTITIES_SCHEMA: dict[str, Any] = {
    "properties": {
        "message_id": {"type": "string"},
        "anonymous_id": _TEXT,
        "user_id": {"type": "string"},
        "linked_at": _INSTANT,
        "source_message_id": _TEXT,
        "deleted": {"type": "boolean"},
        "deleted_at": _INSTANT,
    }
}
SCHEMAS = {EVENTS_TABLE: EVENTS_SCHEMA, IDENTITIES_TABLE: IDENTITIES_SCHEMA}


# --- errors and destinations ---------------------------------------------------------


class StitchError(Exception):
    """Stitch (or the way to it) refused a request."""

    def __init__(self, status: int | None, detail: str) -> None:
        super().__init__(f"{status or 'no answer'}: {detail}")
        self.status = status
        self.detail = detail[:1000]

    @property
    def kind(self) -> str:
        """transient | rejected | configuration | bug (see the module docstring)."""
        if self.status is None or self.status in (408, 429) or self.status >= 500:
            return "transient"
        if self.status in BISECTABLE:
            return "rejected"
        if self.status in CONFIGURATION:
            return "configuration"
        return "bug"

    @property
    def transient(self) -> bool:
        return self.kind == "transient"

    @property
    def rejected(self) -> bool:
        """The data was refused (bisect to find the row); not a configuration error."""
        return self.kind == "rejected"


@dataclass(frozen=True)
class Message:
    """One Import API message: the unit of splitting, retrying and dead-lettering."""

    table: str
    sequence: int
    row: dict[str, Any]
    origin: str  # the SQS messageId it came from
    source: str  # a queue body that replays it (for the DLQ)
    size: int = field(default=0, compare=False)


class Destination(Protocol):
    max_records: int
    max_bytes: int

    def send(self, table: str, messages: Sequence[Message]) -> None:
        """Deliver or raise StitchError."""


class ImportApi:
    """Stitch Import API batch endpoint, over a requests-like session."""

    max_records = MAX_RECORDS_PER_REQUEST
    max_bytes = MAX_BYTES_PER_REQUEST

    def __init__(self, session: Any, base_url: str, token: str, timeout: float = 10.0) -> None:
        self._session = session
        self._url = f"{base_url.rstrip('/')}/v2/import/batch"
        self._token = token
        self._timeout = timeout

    def send(self, table: str, messages: Sequence[Message]) -> None:
        body = import_body(table, messages)
        authorization = {"Authorization": f"Bearer {self._token}"}
        _post(self._session, self._url, body, self._timeout, authorization, (self._token,))


class Webhook:
    """A Stitch Incoming Webhook URL (the token is part of the URL)."""

    max_records = WEBHOOK_MAX_RECORDS
    max_bytes = WEBHOOK_MAX_BYTES

    def __init__(self, session: Any, url: str, timeout: float = 10.0) -> None:
        self._session = session
        self._url = url
        self._timeout = timeout

    def send(self, table: str, messages: Sequence[Message]) -> None:
        body = json.dumps([{"table_name": table, **m.row} for m in messages])
        # The URL is the secret: neither it nor its path may reach a log or the DLQ.
        secrets = (self._url, urlsplit(self._url).path)
        _post(self._session, self._url, body, self._timeout, {}, secrets)


def import_body(table: str, messages: Sequence[Message]) -> str:
    return json.dumps(
        {
            "table_name": table,
            "schema": SCHEMAS[table],
            "key_names": KEY_NAMES,
            "messages": [
                {"action": "upsert", "sequence": m.sequence, "data": m.row} for m in messages
            ],
        },
        separators=(",", ":"),
    )


def _post(
    session: Any,
    url: str,
    body: str,
    timeout: float,
    headers: dict[str, str],
    secrets: tuple[str, ...],
) -> None:
    """POST or raise StitchError. The `secrets` (token, webhook URL) never reach the error,
    which is logged and kept on the DLQ, even if Stitch's answer echoes them."""
    import requests  # only the forwarder pays for it

    try:
        answer = session.post(
            url,
            data=body.encode(),
            headers={"Content-Type": "application/json", **headers},
            timeout=timeout,
        )
    except requests.RequestException as error:
        raise StitchError(None, type(error).__name__) from None
    if answer.status_code >= 300:
        detail = str(answer.text or answer.reason or "")
        for secret in sorted(filter(None, secrets), key=len, reverse=True):
            detail = detail.replace(secret, "[secret]")
        raise StitchError(answer.status_code, detail)


def destination(settings: Settings, timeout: float = 10.0) -> Destination:
    """The configured Stitch destination: the Import API token wins over a webhook URL."""
    import requests

    session = requests.Session()
    token = settings.secret("stitch-token")
    if token:
        return ImportApi(session, settings.stitch_api_url, token.reveal(), timeout)
    webhook = settings.secret("stitch-webhook-url")
    if webhook:
        return Webhook(session, webhook.reveal(), timeout)
    raise RuntimeError(
        "Stitch is not configured: set the stitch-token or stitch-webhook-url secret"
    )


# --- retries -------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_seconds: float = 0.25
    cap_seconds: float = 4.0
    # No new attempt starts after this many seconds of one invocation (Lambda timeout 60 s).
    budget_seconds: float = 35.0

    def delays(self) -> Iterator[float]:
        for attempt in range(self.attempts - 1):
            yield random.uniform(0, min(self.cap_seconds, self.base_seconds * 2**attempt))


@dataclass
class Outcome:
    """What became of a delivery: queue messages to retry (with the error that failed
    them), rows refused for good."""

    failures: dict[str, StitchError] = field(default_factory=dict)
    rejected: list[tuple[Message, StitchError]] = field(default_factory=list)
    requests: int = 0

    @property
    def failed_origins(self) -> set[str]:
        return set(self.failures)


class Sender:
    """Splits, sends with retries, bisects rejected batches."""

    def __init__(
        self,
        target: Destination,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._target = target
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._deadline = time.monotonic() + self._retry.budget_seconds

    def begin(self) -> None:
        """Start an invocation's retry budget."""
        self._deadline = time.monotonic() + self._retry.budget_seconds

    def deliver(self, table: str, messages: Sequence[Message], outcome: Outcome) -> None:
        for chunk in split(messages, self._target.max_records, self._target.max_bytes):
            self._deliver_chunk(table, chunk, outcome)

    def _deliver_chunk(self, table: str, chunk: Sequence[Message], outcome: Outcome) -> None:
        try:
            self._send_with_retries(table, chunk, outcome)
        except StitchError as error:
            if error.rejected and len(chunk) > 1:
                middle = len(chunk) // 2
                self._deliver_chunk(table, chunk[:middle], outcome)
                self._deliver_chunk(table, chunk[middle:], outcome)
            elif error.rejected:
                outcome.rejected.append((chunk[0], error))
            else:
                _log_failure(error, table, len({m.origin for m in chunk}))
                outcome.failures.update((m.origin, error) for m in chunk)

    def _send_with_retries(self, table: str, chunk: Sequence[Message], outcome: Outcome) -> None:
        delays = self._retry.delays()
        while True:
            outcome.requests += 1
            try:
                self._target.send(table, chunk)
                return
            except StitchError as error:
                delay = next(delays, None) if error.transient else None
                if delay is None or time.monotonic() + delay > self._deadline:
                    raise
                self._sleep(delay)


def _log_failure(error: StitchError, table: str, origins: int) -> None:
    if error.kind == "configuration":
        log.error(
            "stitch configuration error: HTTP %s for table %s; check the stitch-token secret "
            "(Import API) or the stitch-webhook-url secret and STITCH_API_URL. %d queue "
            "message(s) handed back to SQS; they reach the DLQ with this error after the "
            "queue's maxReceiveCount. Stitch said: %s",
            error.status, table, origins, error.detail,
        )
    elif error.kind == "bug":
        log.error(
            "stitch refused the request format: HTTP %s for table %s (a forwarder bug, not "
            "the data). %d queue message(s) handed back to SQS. Stitch said: %s",
            error.status, table, origins, error.detail,
        )
    else:
        log.warning(
            "stitch request failed after retries, %d queue message(s) will be retried: %s",
            origins, error,
        )


def split(messages: Sequence[Message], max_records: int, max_bytes: int) -> Iterator[list[Message]]:
    """Chunks within the record and byte limits (envelope and schema allowed for)."""
    budget = max_bytes - 64 * 1024
    chunk: list[Message] = []
    size = 0
    for message in messages:
        length = message.size or _size(message.row)
        if chunk and (len(chunk) >= max_records or size + length > budget):
            yield chunk
            chunk, size = [], 0
        chunk.append(message)
        size += length
    if chunk:
        yield chunk


def _size(row: dict[str, Any]) -> int:
    return len(json.dumps(row, separators=(",", ":")).encode()) + 64


# --- rows ----------------------------------------------------------------------------


def sequence_of(instant: str | None) -> int:
    if not instant:
        return 0
    return int(datetime.fromisoformat(instant).timestamp() * 1000)


def event_row(event: dict[str, Any], resolved_user_id: str | None) -> dict[str, Any]:
    context = event.get("context") or {}
    page = context.get("page") or {}
    campaign = context.get("campaign") or {}
    library = context.get("library") or {}
    agent = context.get("user_agent") or {}
    return {
        "message_id": event["message_id"],
        "type": event["type"],
        "event": event.get("event"),
        "name": event.get("name"),
        "anonymous_id": event.get("anonymous_id"),
        "user_id": event.get("user_id"),
        "resolved_user_id": event.get("user_id") or resolved_user_id,
        "previous_id": event.get("previous_id"),
        "timestamp": event.get("timestamp"),
        "sent_at": event.get("sent_at"),
        "received_at": event["received_at"],
        "properties": _json_text(event.get("properties")),
        "traits": _json_text(event.get("traits")),
        **{
            f"page_{name}": page.get(name)
            for name in ("url", "path", "title", "referrer", "search")
        },
        **{
            f"campaign_{name}": campaign.get(name)
            for name in ("source", "medium", "name", "term", "content")
        },
        "library_name": library.get("name"),
        "library_version": library.get("version"),
        "locale": context.get("locale"),
        "timezone": context.get("timezone"),
        "browser": agent.get("browser"),
        "os": agent.get("os"),
        "device": agent.get("device"),
    }


def _json_text(value: Any) -> str | None:
    return json.dumps(value, separators=(",", ":"), sort_keys=True) if value else None


def identity_row(link: IdentityLink, deleted_at: str | None = None) -> dict[str, Any]:
    return {
        "message_id": f"identity:{link.anonymous_id}",
        "anonymous_id": link.anonymous_id,
        "user_id": link.user_id,
        "linked_at": link.linked_at or None,
        "source_message_id": link.message_id or None,
        "deleted": deleted_at is not None,
        "deleted_at": deleted_at,
    }


def erasure_row(user_id: str, requested_at: str) -> dict[str, Any]:
    return {
        "message_id": f"erasure:{user_id}",
        "anonymous_id": None,
        "user_id": user_id,
        "linked_at": None,
        "source_message_id": None,
        "deleted": True,
        "deleted_at": requested_at,
    }


def _events_body(event: dict[str, Any]) -> str:
    return json.dumps({"v": QUEUE_FORMAT, "kind": "events", "events": [event]})


# --- the forwarder -------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRecord:
    message_id: str
    body: str
    receive_count: int = 1  # SQS ApproximateReceiveCount

    @classmethod
    def from_lambda(cls, record: Mapping[str, Any]) -> QueueRecord:
        """From one record of a Lambda SQS event (Chalice: `SQSRecord.to_dict()`)."""
        attributes = record.get("attributes") or {}
        try:
            count = int(attributes.get("ApproximateReceiveCount", 1))
        except (TypeError, ValueError):
            count = 1
        return cls(str(record["messageId"]), str(record["body"]), count)


class DeadLetters:
    """Rows Stitch refused for good, on the events DLQ as replayable queue bodies."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def send(self, source: str, origin: str, table: str, status: int | None, error: str) -> None:
        self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=source,
            MessageAttributes={
                "StitchError": {"DataType": "String", "StringValue": error[:1000] or "-"},
                "StitchStatus": {"DataType": "Number", "StringValue": str(status or 0)},
                "StitchTable": {"DataType": "String", "StringValue": table},
                "SourceMessageId": {"DataType": "String", "StringValue": origin},
            },
        )


class Forwarder:
    """One queue handler invocation: records in, failed SQS message ids out.

    `max_receives` is the events queue's maxReceiveCount: a message that fails on that
    receive is dead-lettered here with Stitch's error (None: leave it to the redrive)."""

    def __init__(
        self,
        identities: IdentityStore,
        sender: Sender,
        dead_letters: DeadLetters,
        max_receives: int | None = None,
    ) -> None:
        self._identities = identities
        self._sender = sender
        self._dead_letters = dead_letters
        self._max_receives = max_receives
        self.last_outcome = Outcome()

    def forward(self, records: Iterable[QueueRecord]) -> list[str]:
        records = list(records)
        by_id = {record.message_id: record for record in records}
        events: list[tuple[str, dict[str, Any]]] = []
        erasures: list[tuple[str, dict[str, Any], str]] = []
        failed: set[str] = set()
        # Identity-store failures, per queue message: handed back like Stitch's transient
        # ones. A message dead-lettered or handed back here forwards none of its rows now.
        store_failures: dict[str, StoreFailure] = {}
        settled: set[str] = set()  # dead-lettered whole by the forwarder

        def dead_letter(origin: str, status: int | None, detail: str) -> None:
            if self._dead_letter(by_id[origin], status, detail):
                settled.add(origin)
            else:
                failed.add(origin)

        for record in records:
            try:
                body = json.loads(record.body)
                if body.get("kind") == "erasure":
                    erasures.append((record.message_id, body, record.body))
                    continue
                found = [(record.message_id, e) for e in body["events"]]
                unfit = next(filter(None, (_unfit(e) for _, e in found)), None)
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as broken:
                # Nothing later can fix a body that does not parse: dead-letter it now.
                dead_letter(record.message_id, None, repr(broken))
                continue
            if unfit:
                # Not what /events queues (an old client's message, a bug): it would fail
                # a DynamoDB key or a row for the whole batch. Dead-letter it alone.
                log.error("queue message %s holds an event the forwarder cannot store, "
                          "dead-lettered: %s", record.message_id, unfit)
                dead_letter(record.message_id, None, unfit)
                continue
            events.extend(found)

        link_origin = {
            e["message_id"]: (origin, _events_body(e)) for origin, e in events
            if e.get("type") in ("identify", "alias")
        }
        # Only the links actually written are forwarded and used for resolution: a link
        # older than the stored one, or to a user erased since, is dropped here. One write
        # per link, so a failure stays with the queue message that asked for it.
        links: list[IdentityLink] = []
        for link in links_in(e for _, e in events):
            origin = link_origin[link.message_id][0]
            if origin in settled or origin in store_failures:
                continue
            try:
                links.extend(self._identities.record([link]))
            except Exception as error:
                failure = StoreFailure.of(error, "identity link")
                if permanent(error):
                    log.error("DynamoDB refused queue message %s's identity link for good, "
                              "dead-lettered: %s", origin, failure.detail)
                    dead_letter(origin, failure.status, failure.detail)
                else:
                    log.warning("identity link of queue message %s not written, the message "
                                "will be retried: %s", origin, failure.detail)
                    store_failures[origin] = failure
        events = [(o, e) for o, e in events if o not in settled and o not in store_failures]

        anonymous = {e.get("anonymous_id") for _, e in events if not e.get("user_id")}
        try:
            resolved = self._identities.resolve(a for a in anonymous if a)
        except Exception as error:
            # One lookup serves the batch: the messages that needed it come back; the rest
            # (user ids, erasures) go on.
            failure = StoreFailure.of(error, "identity lookup")
            waiting = {o for o, e in events if not e.get("user_id") and e.get("anonymous_id")}
            log.warning("identity lookup failed, %d queue message(s) will be retried: %s",
                        len(waiting), failure.detail)
            store_failures.update(dict.fromkeys(waiting, failure))
            events = [(o, e) for o, e in events if o not in waiting]
            resolved = {}
        resolved.update({link.anonymous_id: link.user_id for link in links})

        event_messages = [
            Message(
                EVENTS_TABLE,
                sequence_of(e["received_at"]),
                event_row(e, resolved.get(e.get("anonymous_id") or "")),
                origin,
                _events_body(e),
            )
            for origin, e in events
        ]
        identity_messages = [
            Message(
                IDENTITIES_TABLE,
                sequence_of(link.linked_at),
                identity_row(link),
                *link_origin[link.message_id],
            )
            for link in links
            if link_origin[link.message_id][0] not in settled | store_failures.keys()
        ]
        for origin, erasure, source in erasures:
            at = str(erasure["requested_at"])
            user_id = str(erasure["user_id"])
            for anonymous_id in erasure.get("anonymous_ids", []):
                row = identity_row(IdentityLink(str(anonymous_id), user_id, "", ""), at)
                identity_messages.append(
                    Message(IDENTITIES_TABLE, sequence_of(at), row, origin, source)
                )
            identity_messages.append(
                Message(IDENTITIES_TABLE, sequence_of(at), erasure_row(user_id, at), origin, source)
            )

        outcome = Outcome()
        self._sender.begin()
        if event_messages:
            self._sender.deliver(EVENTS_TABLE, event_messages, outcome)
        if identity_messages:
            self._sender.deliver(IDENTITIES_TABLE, identity_messages, outcome)
        self.last_outcome = outcome
        failed |= self._hand_back(records, {**store_failures, **outcome.failures})
        for message, refusal in outcome.rejected:
            if message.origin in failed or message.origin in outcome.failures:
                continue  # it comes back (or went to the DLQ whole); nothing to add
            try:
                self._dead_letters.send(
                    message.source, message.origin, message.table, refusal.status, refusal.detail
                )
                log.warning(
                    "stitch refused a row of %s (message %s), dead-lettered: %s",
                    message.table, message.row.get("message_id"), refusal,
                )
            except Exception:
                log.exception("could not dead-letter a refused row; its message will be retried")
                failed.add(message.origin)
        return sorted(failed)

    def _dead_letter(self, record: QueueRecord, status: int | None, detail: str) -> bool:
        """The whole queue message to the DLQ now (StitchTable "-"); False if that failed
        (then SQS redelivers it)."""
        try:
            self._dead_letters.send(record.body, record.message_id, "-", status, detail)
        except Exception:
            log.exception("could not dead-letter message %s; it will be retried",
                          record.message_id)
            return False
        return True

    def _hand_back(
        self, records: list[QueueRecord], failures: Mapping[str, StitchError | StoreFailure]
    ) -> set[str]:
        """The failed messages SQS should redeliver; those on their last receive are
        dead-lettered now, with the error, rather than moved by the redrive without it."""
        retry: set[str] = set()
        by_id = {record.message_id: record for record in records}
        for origin, error in failures.items():
            record = by_id.get(origin)
            if (
                record is None
                or self._max_receives is None
                or record.receive_count < self._max_receives
            ):
                retry.add(origin)
                continue
            if not self._dead_letter(record, error.status, error.detail):
                retry.add(origin)
                continue
            log.error(
                "queue message %s failed on its last receive (%d), dead-lettered with "
                "the error: %s", origin, record.receive_count, error,
            )
        return retry


@dataclass(frozen=True)
class StoreFailure:
    """The identity store (DynamoDB) failed a queue message: its HTTP status and what
    DynamoDB said, as kept on the DLQ (StitchStatus, StitchError)."""

    status: int | None
    detail: str

    @classmethod
    def of(cls, error: Exception, what: str) -> StoreFailure:
        response = getattr(error, "response", None) or {}
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return cls(status, f"DynamoDB, {what}: {type(error).__name__}: {error}"[:1000])

    def __str__(self) -> str:
        return f"{self.status or 'no answer'}: {self.detail}"


def _unfit(event: Any) -> str | None:
    """Why the forwarder cannot store this queued event, or None. /events never queues
    such an event; an old client's, a bug's or a hand-made message may hold one."""
    if not isinstance(event, dict):
        return "an event is not a JSON object"
    for name in ("message_id", "type", "received_at"):
        if not isinstance(event.get(name), str):
            return f"{name} is missing or not a string"
    for name in ("anonymous_id", "previous_id", "user_id"):
        value = event.get(name)
        problem = (
            key_problem(user_id=value) if name == "user_id" else key_problem(anonymous_id=value)
        )
        if problem:
            return f"{name}: {problem}"
    try:
        sequence_of(event["received_at"])
        event_row(event, None)
    except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as error:
        return f"the event does not make a row: {error!r}"[:1000]
    return None


def batch_item_failures(failed: Iterable[str]) -> dict[str, list[dict[str, str]]]:
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


def max_receives(sqs: Any, queue_url: str) -> int | None:
    """The queue's maxReceiveCount (its RedrivePolicy), or None if it has none or the
    lookup fails (then the redrive alone moves messages that keep failing)."""
    if not queue_url:
        return None
    try:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["RedrivePolicy"]
        ).get("Attributes", {})
        policy = json.loads(attributes.get("RedrivePolicy") or "{}")
        return int(policy["maxReceiveCount"]) if "maxReceiveCount" in policy else None
    except Exception:
        log.exception("could not read the events queue's redrive policy")
        return None


_FORWARDERS: dict[int, tuple[Settings, Forwarder]] = {}


def forwarder(settings: Settings, dynamodb: Any, sqs: Any) -> Forwarder:
    """The process's forwarder for these settings (its HTTP session is reused)."""
    cached = _FORWARDERS.get(id(settings))
    if cached is not None and cached[0] is settings:
        return cached[1]
    built = Forwarder(
        IdentityStore(dynamodb, settings.app_table),
        Sender(destination(settings, timeout=float(settings.stitch_timeout_seconds))),
        DeadLetters(sqs, settings.events_dlq_url),
        max_receives(sqs, settings.events_queue_url),
    )
    _FORWARDERS.clear()
    _FORWARDERS[id(settings)] = (settings, built)
    return built
