"""The campaign queue's messages (chunks of recipients and their waiting state) and the
hand-backs that stop a chunk part-way.

A chunk that must wait is sent again as a new message carrying its waiting state:
`not_before` (epoch s), `stop` (the first recipient not done when it last stopped: the
next run starts there, as the ones before are done), `stalls` (hand-backs in a row
without getting past `stop`: the wait is then at least 2^stalls s, up to 15 min, so a
chunk that keeps failing the same way costs little) and `hops` (sends so far, for the
logs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalicelib.campaigns.model import CampaignRecipient
from chalicelib.core.problems import Problem

RECIPIENTS_PER_MESSAGE = 25  # small chunks: retries redo little, workers spread out
DEFAULT_RETRY_SECONDS = 60  # a 429/503 without Retry-After


class HandBack(Exception):
    """The chunk stops at recipient `index` (set by the worker) and is sent again to
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


def retry_after_of(problem: Problem) -> int:
    raw = problem.headers.get("Retry-After", "")
    return int(raw) if raw.isdigit() else DEFAULT_RETRY_SECONDS


@dataclass(frozen=True)
class Chunk:
    """A campaign queue message: up to RECIPIENTS_PER_MESSAGE recipients from `start`, and
    its waiting state once it has been handed back."""

    campaign_id: str
    start: int
    recipients: list[CampaignRecipient]
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


def chunks_of(campaign_id: str, recipients: list[CampaignRecipient]) -> list[Chunk]:
    """A new campaign's recipients, RECIPIENTS_PER_MESSAGE a chunk."""
    return [
        Chunk(campaign_id, start, recipients[start : start + RECIPIENTS_PER_MESSAGE])
        for start in range(0, len(recipients), RECIPIENTS_PER_MESSAGE)
    ]


def parse_chunk(body: str) -> Chunk:
    """The message envelope; ValueError/KeyError/TypeError when it is malformed."""
    raw = json.loads(body)
    recipients = []
    for entry in raw["recipients"]:
        to, ref = entry["to"], entry.get("ref")
        if not isinstance(to, str) or not (ref is None or isinstance(ref, str)):
            raise TypeError("recipient to/ref must be strings")
        recipients.append(CampaignRecipient(to, ref))
    start, not_before, stop, stalls, hops = (
        _whole(raw[name] if name == "start" else raw.get(name, 0), name)
        for name in ("start", "not_before", "stop", "stalls", "hops")
    )
    return Chunk(str(raw["campaign_id"]), start, recipients, not_before, stop, stalls, hops)


def _whole(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"{name} must be a whole number")
    return value
