"""The Stitch forwarder: queue messages -> identity resolution -> warehouse rows -> Stitch.

`Forwarder.forward` is one queue handler invocation, in named steps: decode the records,
dead-letter the messages it cannot store, write and resolve identities, build the rows,
deliver them per table (stitch.Sender), then hand failures back to SQS or dead-letter them.

Failures are per queue message, so one bad message never takes the good ones down.
- A body that does not parse, or holds an event the forwarder cannot store (an id too
  long for a DynamoDB key, which /events refuses but an old client's or a hand-made
  message may hold; a missing field), is dead-lettered at once, whole.
- Identity links are written one at a time: a write DynamoDB refuses for good
  (ValidationException) dead-letters its message with DynamoDB's answer; any other
  failure (throttling, a conflict, 5xx) hands that message back to SQS. A failed identity
  lookup (one BatchGetItem serves the batch) hands back the messages with anonymous-only
  events. A message handed back or dead-lettered here sends no row this time, so its
  redelivery does not duplicate any.
- Stitch (stitch.py): a row it refuses for good goes to the DLQ as a redrivable queue
  body, Stitch's answer in its attributes; any other failure hands the request's queue
  messages back (batchItemFailures).
A message handed back on its last receive (ApproximateReceiveCount, from
`QueueRecord.from_lambda`, >= the events queue's maxReceiveCount, read from its
RedrivePolicy at cold start) is dead-lettered by the forwarder itself, whole, with the
last error in its attributes (StitchTable "-"), instead of being left to the queue's
redrive, which would move it without saying why. Only an invocation that crashes outright
(neither a Stitch answer nor a DynamoDB error) still leaves its messages to the redrive.
After the cause is fixed, redrive the DLQ into the events queue (README); the bodies
replay as they are.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chalicelib.core.settings import Settings
from chalicelib.tracking.dead_letters import DeadLetters, max_receives
from chalicelib.tracking.deliveries import Deliveries, Queues
from chalicelib.tracking.event_queue import ErasureMessage
from chalicelib.tracking.identity import (
    IdentityLink,
    IdentityStore,
    LinkOutcome,
    links_in,
    permanent,
)
from chalicelib.tracking.proof import SECRET_NAME, TRUST_UNVERIFIED, LinkProof
from chalicelib.tracking.records import QueuedRow, QueueRecord, queued_rows
from chalicelib.tracking.rows import (
    EVENTS_TABLE,
    IDENTITIES_TABLE,
    erasure_row,
    identity_row,
    sequence_of,
)
from chalicelib.tracking.stitch import DeliveryOutcome, Message, Sender, StitchError, destination

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient
    from types_boto3_sqs.client import SQSClient

log = logging.getLogger("linktrail.stitch")


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


@dataclass
class Batch:
    """One invocation's queue messages and what has become of each so far."""

    records: list[QueueRecord]
    by_id: dict[str, QueueRecord]
    events: list[QueuedRow] = field(default_factory=list)
    erasures: list[tuple[str, ErasureMessage, str]] = field(default_factory=list)
    # (origin, why) of bodies that do not parse or hold an event that cannot be stored
    unfit: list[tuple[str, str]] = field(default_factory=list)
    links: list[IdentityLink] = field(default_factory=list)  # the links written
    handed_back: set[str] = field(default_factory=set)  # SQS receives them again
    settled: set[str] = field(default_factory=set)  # dead-lettered whole
    # Identity-store failures, handed back like Stitch's transient ones.
    store_failures: dict[str, StoreFailure] = field(default_factory=dict)
    # identify/alias event id -> (origin, source): who asked for each identity link
    link_sources: dict[str, tuple[str, str]] = field(default_factory=dict)

    def withheld(self, origin: str) -> bool:
        """Dead-lettered or handed back by the identity steps: forwards no row now."""
        return origin in self.settled or origin in self.store_failures

    def note_link_sources(self) -> None:
        """Remember which queue message asked for each identity link (by event id)."""
        self.link_sources = {
            queued.event["message_id"]: (queued.origin, queued.source)
            for queued in self.events
            if queued.event.get("type") in ("identify", "alias")
        }


class Forwarder:
    """One queue handler invocation: records in, failed SQS message ids out.

    `max_receives` is the events queue's maxReceiveCount: a message that fails on that
    receive is dead-lettered here with Stitch's error (None: leave it to the redrive).
    `proof` decides which identify and alias events may link (none, by default).
    `deliveries` counts the event rows Stitch accepted and notes the last error."""

    def __init__(
        self,
        identities: IdentityStore,
        sender: Sender,
        dead_letters: DeadLetters,
        max_receives: int | None = None,
        proof: LinkProof | None = None,
        deliveries: Deliveries | None = None,
    ) -> None:
        self._identities = identities
        self._deliveries = deliveries
        self._sender = sender
        self._dead_letters = dead_letters
        self._max_receives = max_receives
        self._proof = proof or LinkProof()
        self.last_outcome = DeliveryOutcome()
        self.link_outcomes: dict[str, int] = {}  # since this process started, by kind

    def forward(self, records: Iterable[QueueRecord]) -> list[str]:
        records = list(records)
        batch = Batch(records, {record.message_id: record for record in records})
        self._decode(batch)
        self._dead_letter_unfit(batch)
        self._record_links(batch)
        self._resolve(batch)
        events, identities = self._messages(batch)
        outcome = self._deliver(events, identities)
        self._settle(batch, outcome)
        if self._deliveries is not None:
            self._deliveries.record(_accepted(events, batch, outcome), _first_error(outcome))
        return sorted(batch.handed_back)

    # --- the steps, in order ---------------------------------------------------------

    def _decode(self, batch: Batch) -> None:
        """Each body into erasures and events (their rows built), or into `unfit`."""
        for record in batch.records:
            try:
                body = json.loads(record.body)
                if body.get("kind") == "erasure":
                    batch.erasures.append((record.message_id, body, record.body))
                    continue
                queued, unfit = queued_rows(record.message_id, body["events"])
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as broken:
                # Nothing later can fix a body that does not parse: dead-letter it now.
                batch.unfit.append((record.message_id, repr(broken)))
                continue
            if unfit:
                # Not what /events queues (an old client's message, a bug): it would fail
                # a DynamoDB key or a row for the whole batch. Dead-letter it alone.
                log.error("queue message %s holds an event the forwarder cannot store, "
                          "dead-lettered: %s", record.message_id, unfit)
                batch.unfit.append((record.message_id, unfit))
                continue
            batch.events.extend(queued)
        batch.note_link_sources()

    def _dead_letter_unfit(self, batch: Batch) -> None:
        for origin, why in batch.unfit:
            self._dead_letter_whole(batch, origin, None, why)

    def _record_links(self, batch: Batch) -> None:
        """Write the proven identity links. Only those actually written are forwarded and
        used for resolution: a claim on an anonymous id linked to another user (recorded
        as a conflict) or a link to a user erased since is dropped. One write per link, so
        a failure stays with the message that asked."""
        links, unproven = links_in((queued.event for queued in batch.events), self._proof)
        self._count("unproven", unproven)
        for link in links:
            origin = batch.link_sources[link.message_id][0]
            if batch.withheld(origin):
                continue
            try:
                outcome = self._identities.link(link)
            except Exception as error:
                self._link_failed(batch, origin, error)
                continue
            self._count(outcome.value)
            if outcome is LinkOutcome.WRITTEN:
                batch.links.append(link)
            elif outcome is LinkOutcome.CONFLICT:
                log.warning("identity conflict: queue message %s claims an anonymous id "
                            "linked to another user; the first link stays (conflict item "
                            "recorded, %d so far)", origin, self.link_outcomes["conflict"])
        batch.events = [queued for queued in batch.events if not batch.withheld(queued.origin)]

    def _count(self, kind: str, how_many: int = 1) -> None:
        if how_many:
            self.link_outcomes[kind] = self.link_outcomes.get(kind, 0) + how_many

    def _link_failed(self, batch: Batch, origin: str, error: Exception) -> None:
        failure = StoreFailure.of(error, "identity link")
        if permanent(error):
            log.error("DynamoDB refused queue message %s's identity link for good, "
                      "dead-lettered: %s", origin, failure.detail)
            self._dead_letter_whole(batch, origin, failure.status, failure.detail)
        else:
            log.warning("identity link of queue message %s not written, the message "
                        "will be retried: %s", origin, failure.detail)
            batch.store_failures[origin] = failure

    def _resolve(self, batch: Batch) -> None:
        """Anonymous-only events' rows get the user their anonymous id is linked to."""
        anonymous_only = [q for q in batch.events if not q.event.get("user_id")]
        anonymous = {q.event.get("anonymous_id") for q in anonymous_only}
        try:
            resolved = self._identities.resolve(a for a in anonymous if a)
        except Exception as error:
            # One lookup serves the batch: the messages that needed it come back; the rest
            # (user ids, erasures) go on.
            failure = StoreFailure.of(error, "identity lookup")
            waiting = {q.origin for q in anonymous_only if q.event.get("anonymous_id")}
            log.warning("identity lookup failed, %d queue message(s) will be retried: %s",
                        len(waiting), failure.detail)
            batch.store_failures.update(dict.fromkeys(waiting, failure))
            batch.events = [q for q in batch.events if q.origin not in waiting]
            resolved = {}
        resolved.update({link.anonymous_id: link.user_id for link in batch.links})
        for queued in batch.events:
            if not queued.event.get("user_id"):
                anonymous_id = queued.event.get("anonymous_id") or ""
                queued.row["resolved_user_id"] = resolved.get(anonymous_id)

    def _messages(self, batch: Batch) -> tuple[list[Message], list[Message]]:
        """The Stitch messages for `events` and for `identities`."""
        events = [
            Message(EVENTS_TABLE, q.sequence, q.row, q.origin, q.source) for q in batch.events
        ]
        identities = [
            Message(
                IDENTITIES_TABLE,
                sequence_of(link.linked_at),
                identity_row(link),
                *batch.link_sources[link.message_id],
            )
            for link in batch.links
            if not batch.withheld(batch.link_sources[link.message_id][0])
        ]
        for origin, erasure, source in batch.erasures:
            at = str(erasure["requested_at"])
            user_id = str(erasure["user_id"])
            sequence = sequence_of(at)
            for anonymous_id in erasure.get("anonymous_ids", []):
                row = identity_row(IdentityLink(str(anonymous_id), user_id, "", ""), at)
                identities.append(Message(IDENTITIES_TABLE, sequence, row, origin, source))
            row = erasure_row(user_id, at)
            identities.append(Message(IDENTITIES_TABLE, sequence, row, origin, source))
        return events, identities

    def _deliver(self, events: list[Message], identities: list[Message]) -> DeliveryOutcome:
        outcome = DeliveryOutcome()
        self._sender.begin()
        if events:
            self._sender.deliver(EVENTS_TABLE, events, outcome)
        if identities:
            self._sender.deliver(IDENTITIES_TABLE, identities, outcome)
        self.last_outcome = outcome
        return outcome

    def _settle(self, batch: Batch, outcome: DeliveryOutcome) -> None:
        """Hand failed messages back (or dead-letter them on their last receive), and put
        each row Stitch refused for good on the DLQ."""
        failures: dict[str, StitchError | StoreFailure] = {
            **batch.store_failures, **outcome.failures
        }
        batch.handed_back |= self._hand_back(batch.by_id, failures)
        for message, refusal in outcome.rejected:
            if message.origin in batch.handed_back or message.origin in outcome.failures:
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
                batch.handed_back.add(message.origin)

    # --- dead letters and hand-backs -------------------------------------------------

    def _dead_letter_whole(
        self, batch: Batch, origin: str, status: int | None, detail: str
    ) -> None:
        """Settled if the message reached the DLQ, else handed back to SQS."""
        if self._dead_letter(batch.by_id[origin], status, detail):
            batch.settled.add(origin)
        else:
            batch.handed_back.add(origin)

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
        self,
        by_id: Mapping[str, QueueRecord],
        failures: Mapping[str, StitchError | StoreFailure],
    ) -> set[str]:
        """The failed messages SQS should redeliver; those on their last receive are
        dead-lettered now, with the error, rather than moved by the redrive without it."""
        retry: set[str] = set()
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


def _accepted(
    events: list[Message], batch: Batch, outcome: DeliveryOutcome
) -> list[Mapping[str, object]]:
    """The event rows Stitch took: neither refused nor handed back to the queue."""
    refused = {id(message) for message, _ in outcome.rejected}
    return [
        message.row
        for message in events
        if id(message) not in refused
        and message.origin not in batch.handed_back
        and message.origin not in outcome.failures
    ]


def _first_error(outcome: DeliveryOutcome) -> str | None:
    errors = [*outcome.failures.values(), *(refusal for _, refusal in outcome.rejected)]
    return str(errors[0]) if errors else None


_FORWARDERS: dict[int, tuple[Settings, Forwarder]] = {}


def forwarder(settings: Settings, dynamodb: DynamoDBClient, sqs: SQSClient) -> Forwarder:
    """The process's forwarder for these settings (its HTTP session is reused)."""
    cached = _FORWARDERS.get(id(settings))
    if cached is not None and cached[0] is settings:
        return cached[1]
    built = Forwarder(
        IdentityStore(dynamodb, settings.app_table),
        Sender(destination(settings, timeout=float(settings.stitch_timeout_seconds))),
        DeadLetters(sqs, settings.events_dlq_url),
        max_receives(sqs, settings.events_queue_url),
        LinkProof(
            settings.secret(SECRET_NAME).reveal().encode(),
            trust_unverified=settings.identity_trust == TRUST_UNVERIFIED,
        ),
        deliveries(settings, dynamodb, sqs),
    )
    _FORWARDERS.clear()
    _FORWARDERS[id(settings)] = (settings, built)
    return built


def deliveries(settings: Settings, dynamodb: DynamoDBClient, sqs: SQSClient) -> Deliveries:
    queues = Queues(settings.events_queue_url, settings.events_dlq_url)
    return Deliveries(dynamodb, sqs, settings.app_table, queues)
