"""Click webhooks: a human click on a link with a webhook_url becomes a signed
`link.clicked` POST, sent off the redirect path.

Flow: the edge function's UpdateItem of the counter item -> links table stream (MODIFY,
human_clicks up) ->
`enqueue_clicks` puts one message per click on the NOTIFY queue -> `deliver` POSTs it.
A failed POST is retried by SQS redelivery (the handler reports batchItemFailures); at
the last attempt the failure is recorded on the link (webhook_failures,
last_webhook_error, last_webhook_error_at) instead of raising, so the message is not
dead-lettered and the link's owner can see why.

SSRF: webhook_url was checked when the link was saved (core.urlsafety); its host is
resolved again right before each POST, because a name can be re-pointed afterwards (DNS
rebinding). A host that no longer resolves only to public addresses gets no POST: that
is recorded as a webhook failure at once, without retries. Otherwise the POST connects
to one of exactly those checked addresses (the name is not resolved a third time, which
a TTL-0 answer could point at 127.0.0.1); TLS still sends SNI for, and verifies the
certificate of, the URL's host, and the Host header stays the URL's. The local stage
(allow_private) skips the check and connects by name so a receiver on 127.0.0.1 works
under `make dev`.

What is recorded on the link (and shown to its owner as last_error) is a generic class
of failure ("connection failed", "timed out", "TLS error", "HTTP 500", ...), never the
exception's text: that carries addresses and ports and would make a port-scan oracle.

Signature (documented for receivers):

    Linktrail-Signature: t=<unix seconds>,v1=<hex>
    v1 = HMAC-SHA256(key=<the API key's webhook secret>, msg=f"{t}.{raw body}")

To verify: split the header on "," and "="; recompute v1 over the raw body bytes exactly
as received; compare in constant time (hmac.compare_digest); reject if |now - t| > 300 s.
Deduplicate on the body's `id` (a retry carries the same id; t is fresh per attempt).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chalicelib.clicks.delivery import Poster, failure_class, post
from chalicelib.core import urlsafety
from chalicelib.core.lambdas import BatchAnswer, batch_item_failures
from chalicelib.links.items import COUNTER, image_code
from chalicelib.links.store import LinkStore

if TYPE_CHECKING:
    from types_boto3_sqs.client import SQSClient

log = logging.getLogger("linktrail.clickhooks")

EVENT_TYPE = "link.clicked"
SIGNATURE_HEADER = "Linktrail-Signature"
# The notify queue dead-letters at maxReceiveCount 6 (infra/data.yaml): record before that.
MAX_ATTEMPTS = 5
TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class Delivery:
    """One webhook to send: where, signed with whose secret, and the exact body."""

    code: str
    key_id: str
    webhook_url: str
    body: str

    def to_message(self) -> str:
        return json.dumps(
            {
                "kind": EVENT_TYPE,
                "code": self.code,
                "key_id": self.key_id,
                "webhook_url": self.webhook_url,
                "body": self.body,
            }
        )

    @classmethod
    def from_message(cls, raw: str) -> Delivery:
        message = json.loads(raw)
        if message.get("kind") != EVENT_TYPE:
            raise ValueError(f"not a click webhook message: {message.get('kind')!r}")
        return cls(message["code"], message["key_id"], message["webhook_url"], message["body"])


# -- signing ------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """The receiver's recipe, runnable (tests use it; receivers may copy it)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts.get("v1", ""))


# -- stream -> queue ----------------------------------------------------------------------


def _number(image: Mapping[str, Any], name: str) -> int:
    value = image.get(name, {})
    return int(value["N"]) if "N" in value else 0


def _string(image: Mapping[str, Any], name: str) -> str | None:
    value = image.get(name, {})
    return str(value["S"]) if "S" in value else None


def clicked_country(new: Mapping[str, Any]) -> str | None:
    """The country of the click that made this counter image (its `click` map)."""
    country = new.get("click", {}).get("M", {}).get("country", {})
    return str(country["S"]) if "S" in country else None


def deliveries(records: Iterable[Mapping[str, Any]], short_base_url: str) -> list[Delivery]:
    """One delivery per counter MODIFY that raised human_clicks on a link with a webhook_url.
    Bot clicks, link edits and our own failure bookkeeping raise no webhook."""
    found: list[Delivery] = []
    for record in records:
        if record.get("eventName") != "MODIFY":
            continue
        stream = record.get("dynamodb", {})
        new, old = stream.get("NewImage", {}), stream.get("OldImage", {})
        linked = image_code(new, COUNTER)
        if linked is None:
            continue
        clicks = _number(new, "human_clicks")
        webhook_url, key_id = _string(new, "webhook_url"), _string(new, "key_id")
        if clicks <= _number(old, "human_clicks") or not webhook_url or not key_id:
            continue
        code = _string(new, "code") or linked
        body = {
            "id": f"evt_{code}_{clicks}",  # stable across retries: receivers dedupe on it
            "type": EVENT_TYPE,
            "created_at": _string(new, "last_click_at") or "",
            "data": {
                "code": code,
                "short_url": f"{short_base_url.rstrip('/')}/{code}",
                "url": _string(new, "long_url"),
                "clicks": clicks,
                "campaign_id": _string(new, "campaign_id"),
                "ref": _string(new, "ref"),
                "country": clicked_country(new),
            },
        }
        found.append(Delivery(code, key_id, webhook_url, json.dumps(body, separators=(",", ":"))))
    return found


def enqueue(sqs: SQSClient, queue_url: str, found: list[Delivery]) -> None:
    for start in range(0, len(found), 10):
        chunk = found[start : start + 10]
        answer = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "MessageBody": d.to_message()} for i, d in enumerate(chunk)],
        )
        if answer.get("Failed"):
            # Raise so the stream batch is retried (a duplicate carries the same id).
            raise RuntimeError(f"SQS refused {len(answer['Failed'])} click webhooks")


# -- queue -> receiver --------------------------------------------------------------------


@dataclass
class WebhookSender:
    """Delivers queued click webhooks. Handed its collaborators (tests pass others)."""

    secrets: Callable[[str], str | None]  # key_id -> webhook secret (KeyStore.webhook_secret)
    links: LinkStore  # where a given-up delivery is recorded, on its link
    poster: Poster = post
    clock: Callable[[], float] = time.time
    allow_private: bool = False  # the local stage only: receivers on private addresses
    # host -> its addresses when all are public, else None; the POST connects to these.
    resolver: Callable[[str], Sequence[urlsafety.IPAddress] | None] = urlsafety.public_addresses

    def deliver(self, delivery: Delivery, attempt: int) -> bool:
        """True when done (delivered, or given up and recorded); False to retry."""
        secret = self.secrets(delivery.key_id)
        if not secret:
            self._record(delivery, "the API key that created the link no longer exists")
            return True
        addresses: list[str] | None = None  # the local stage: connect by name
        if not self.allow_private:
            addresses = self._public_addresses(delivery.webhook_url)
            if not addresses:
                # Not retried: a rebinding attacker controls when the name flips back.
                log.warning("click webhook refused: non-public host", extra={"code": delivery.code})
                self._record(
                    delivery, "webhook host does not resolve to public addresses; not sent"
                )
                return True
        timestamp = int(self.clock())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "linktrail-webhooks/1",
            SIGNATURE_HEADER: sign(secret, timestamp, delivery.body),
        }
        kind = "HTTP"
        try:
            status = self.poster(delivery.webhook_url, delivery.body.encode(), headers, addresses)
            error = "" if 200 <= status < 300 else f"HTTP {status}"
        except Exception as failure:
            kind, error = type(failure).__name__, failure_class(failure)
        if not error:
            log.info("click webhook delivered", extra={"code": delivery.code, "attempt": attempt})
            return True
        log.warning(  # the class name only: str(failure) may name the resolved address
            "click webhook failed",
            extra={"code": delivery.code, "attempt": attempt, "error": error, "error_type": kind},
        )
        if attempt >= MAX_ATTEMPTS:
            self._record(delivery, f"{error} (after {attempt} attempts)")
            return True
        return False

    def _public_addresses(self, url: str) -> list[str] | None:
        try:
            host = urlsplit(url).hostname
        except ValueError:
            return None
        found = self.resolver(host) if host else None
        return [str(address) for address in found] if found else None

    def _record(self, delivery: Delivery, error: str) -> None:
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock()))
        self.links.record_webhook_failure(delivery.code, error, at)


def deliver_batch(sender: WebhookSender, records: Iterable[Mapping[str, Any]]) -> BatchAnswer:
    """SQS records (Lambda's shape) -> the partial batch answer naming the retries."""
    failures: list[str] = []
    for record in records:
        attempt = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        try:
            delivery = Delivery.from_message(record["body"])
        except (ValueError, KeyError) as error:
            log.error("unreadable notify message dropped", extra={"error": str(error)})
            continue
        if not sender.deliver(delivery, attempt):
            failures.append(record["messageId"])
    return batch_item_failures(failures)
