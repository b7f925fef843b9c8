"""Stitch, the warehouse loader: its two destinations and how rows are sent to them.

Destinations (whichever is configured):
- Import API (preferred): `POST {stitch_api_url}/v2/import/batch`, Bearer token from the
  secret "stitch-token". Tables `events` and `identities`, a declared schema, key_names
  ["message_id"] so a retried row upserts instead of duplicating, sequence = received_at
  (ms). Requests hold at most 20,000 records and 20 MB.
- Incoming Webhook: the secret URL "stitch-webhook-url"; JSON arrays of
  rows, each with `table_name`; everything lands in Stitch's one table, `data`. There
  are no key_names or sequence: rows upsert by message_id only if the integration was
  created with Primary Key `message_id`; with a blank key loading is append-only
  and a retried request (e.g. after a timeout when Stitch had stored it) duplicates its
  rows. Without a sequence the last row to arrive wins, not the newest identity link.

Stitch's answers fall in four kinds (`StitchError.kind`):
- transient (no answer/timeout, 408, 429, 5xx): retried in-process with backoff; if it
  still fails, the queue messages whose rows were in that request are failures of the
  delivery (`DeliveryOutcome.failures`), for SQS to redeliver.
- rejected (400, 413, 422), the data's fault: the batch is bisected until the bad row(s)
  are isolated (`DeliveryOutcome.rejected`); every other row is delivered.
- configuration (401, 403, 404: a wrong or revoked token, a wrong API or webhook URL)
  and bug (415 and any other 4xx: a request we should never have built): these affect
  every message alike. No in-process retry: the request's queue messages are failures,
  and every occurrence is logged at ERROR ("stitch configuration error" / "stitch refused
  the request format"), with the status and Stitch's answer (the token and the webhook
  URL are never logged), so an alarm on those lines finds it within minutes.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from chalicelib.core.settings import Settings
from chalicelib.tracking.rows import SCHEMAS

if TYPE_CHECKING:
    import requests

log = logging.getLogger("linktrail.stitch")

MAX_RECORDS_PER_REQUEST = 20_000
MAX_BYTES_PER_REQUEST = 20 * 1024 * 1024
# Webhook limits are not documented as precisely; stay well under what is known to work.
WEBHOOK_MAX_RECORDS = 1_000
WEBHOOK_MAX_BYTES = 4 * 1024 * 1024
KEY_NAMES = ["message_id"]
BISECTABLE = frozenset({400, 413, 422})
CONFIGURATION = frozenset({401, 403, 404})


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
    row: Mapping[str, Any]
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

    def __init__(
        self, session: requests.Session, base_url: str, token: str, timeout: float = 10.0
    ) -> None:
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

    def __init__(self, session: requests.Session, url: str, timeout: float = 10.0) -> None:
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
    session: requests.Session,
    url: str,
    body: str,
    timeout: float,
    headers: dict[str, str],
    secrets: tuple[str, ...],
) -> None:
    """POST or raise StitchError. The `secrets` (token, webhook URL) never reach the error,
    which is logged and kept on the DLQ, even if Stitch's answer echoes them."""
    # requests is imported here, not at the top: the /events Lambda loads this module
    # (its blueprint registers the forwarder) and must not pay for requests at cold start.
    import requests

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
    import requests  # only a forwarder being built needs it (see _post)

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


# --- sending: retries, splitting, bisecting ------------------------------------------


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
class DeliveryOutcome:
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

    def deliver(
        self, table: str, messages: Sequence[Message], outcome: DeliveryOutcome
    ) -> None:
        for chunk in split(messages, self._target.max_records, self._target.max_bytes):
            self._deliver_chunk(table, chunk, outcome)

    def _deliver_chunk(
        self, table: str, chunk: Sequence[Message], outcome: DeliveryOutcome
    ) -> None:
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

    def _send_with_retries(
        self, table: str, chunk: Sequence[Message], outcome: DeliveryOutcome
    ) -> None:
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


def _size(row: Mapping[str, Any]) -> int:
    return len(json.dumps(row, separators=(",", ":")).encode()) + 64
