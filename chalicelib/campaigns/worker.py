"""The campaign queue's worker: runs each chunk's recipients, and decides what a chunk
that stopped does next (wait, or give up).

Every recipient ends in a terminal state, so a campaign reaches `done`: texted
(messaging's statuses), `skipped` (campaigns.recipients), or `abandoned` (below). Only a
malformed envelope is dropped.

Waiting. A 429 (our daily quota) or 503 from messaging, or Vonage throttling, stops the
chunk at that recipient until Retry-After has passed; so does a Lambda about to time out
(at once). The chunk is sent again as a new message (campaigns.queue) with its waiting
state (campaigns.chunks). A message received before its `not_before` is sent on again at
once, with no read at all (no link, quota or campaign item; no Vonage call). While texting
is throttled the campaign item carries `waiting_until`, and GET shows status "throttled".

Abandoning. A chunk that waits only because of other chunks (10,000 recipients at 1,000
texts a day take 10 days) must not give up, so the bound is the campaign's, not the
chunk's: a chunk stopped again without progress when its campaign has sent nothing for
STALL_LIMIT_SECONDS (7 days; last progress = `progress_at` on the campaign item, written
at most hourly by chunks that get further, else created_at) gives up. Its remaining
recipients get `abandoned_at` on their recipient claims (a claim without a code is written
for those with no link yet, so no later delivery makes one), and the campaign item
collects them. Statistics count them as failed and under `abandoned`; a quota of 0 or
texting left unconfigured therefore ends the campaign visibly after a week. (Recipients
whose link expires while they wait end sooner, as `skipped`.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from chalicelib.campaigns.chunks import Chunk, HandBack, OutOfTime, Throttled, parse_chunk
from chalicelib.campaigns.model import CampaignItem
from chalicelib.campaigns.queue import MAX_DELAY_SECONDS, ChunkQueue
from chalicelib.campaigns.recipients import RecipientSender
from chalicelib.campaigns.store import CampaignStore
from chalicelib.core.clock import Clock, epoch_now, iso
from chalicelib.core.lambdas import BatchAnswer, LambdaContext, batch_item_failures

log = logging.getLogger("linktrail.campaigns")

MAX_WAIT_SECONDS = 86_400  # our quota's longest Retry-After; a Vonage one is capped to it
# A campaign that has sent nothing for this long gives up on the chunks still stopped.
STALL_LIMIT_SECONDS = 7 * 86_400
PROGRESS_NOTE_SECONDS = 3_600  # progress_at is rewritten at most this often
# Stop starting recipients when less than this is left of the Lambda's time: one recipient
# is a few AWS calls plus one Vonage call (5 s timeout).
TIME_MARGIN_MS = 15_000


class CampaignWorker:
    """Handles the campaign queue's records, handed the campaign store, the queue, the
    per-recipient steps and the clock."""

    def __init__(
        self,
        store: CampaignStore,
        queue: ChunkQueue,
        recipients: RecipientSender,
        clock: Clock,
    ) -> None:
        self._store = store
        self._queue = queue
        self._recipients = recipients
        self._clock = clock

    def handle_records(
        self, records: Iterable[Mapping[str, Any]], context: LambdaContext | None = None
    ) -> BatchAnswer:
        """Process SQS records. A chunk that must wait (throttled, or not finished before
        the Lambda's time ran out: `context`, Lambda's) is sent again as a new message and
        the record counts as handled; the ones that failed, or could not be sent again,
        are reported for redelivery. Only a malformed envelope is dropped: it would fail
        the same way every time."""
        campaigns: dict[str, CampaignItem | None] = {}
        failed = [
            str(record["messageId"])
            for record in records
            if not self._handle(record, campaigns, context)
        ]
        return batch_item_failures(failed)

    def _handle(
        self,
        record: Mapping[str, Any],
        campaigns: dict[str, CampaignItem | None],
        context: LambdaContext | None,
    ) -> bool:
        """One record; False when it is to be received again. `campaigns`: the campaign
        items read so far in this batch."""
        message_id = str(record["messageId"])
        if _out_of_time(context):
            # Not started: back at once, as it came.
            return self._queue.send_again(record, str(record["body"]), 0)
        try:
            chunk = parse_chunk(record["body"])
        except (ValueError, KeyError, TypeError):
            log.exception("malformed campaign chunk dropped", extra={"id": message_id})
            return True
        waiting = chunk.not_before - epoch_now(self._clock)
        if waiting > 0:
            # Still within Retry-After (longer than one SQS delay): another hop, and
            # nothing read or written.
            hop = replace(chunk, hops=chunk.hops + 1)
            return self._queue.send_again(record, hop.body(), waiting)
        try:
            if chunk.campaign_id not in campaigns:
                campaigns[chunk.campaign_id] = self._store.get(chunk.campaign_id)
            return self._run(record, campaigns[chunk.campaign_id], chunk, context)
        except Exception:
            log.exception("campaign chunk failed", extra={"id": message_id})
            return False

    def _run(
        self,
        record: Mapping[str, Any],
        campaign: CampaignItem | None,
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
        campaign: CampaignItem,
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
                self._recipients.send(campaign, index, recipient)
            except HandBack as stopped:
                stopped.index = index
                raise

    def _stopped(
        self, record: Mapping[str, Any], campaign: CampaignItem, chunk: Chunk, stopped: HandBack
    ) -> bool:
        """Send a stopped chunk again to come back after its wait, or abandon its remaining
        recipients when the campaign has stalled. False when it could not be sent again
        (the record was handed back instead)."""
        progressed = stopped.index > max(chunk.stop, chunk.start)
        if progressed:
            self._note_progress(campaign)
        elif self._stalled(campaign):
            self._abandon(chunk, stopped.index)
            return True
        stalls = 0 if progressed else chunk.stalls + 1
        wait = _wait(stopped.retry_after, stalls)
        moment = epoch_now(self._clock)
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
        return self._queue.send_again(record, again.body(), wait)

    def _stalled(self, campaign: CampaignItem) -> bool:
        return epoch_now(self._clock) - _last_progress(campaign) >= STALL_LIMIT_SECONDS

    def _note_progress(self, campaign: CampaignItem) -> None:
        """Record that the campaign got further (at most hourly: only the 7-day stall limit
        reads it)."""
        moment = epoch_now(self._clock)
        if moment - _last_progress(campaign) < PROGRESS_NOTE_SECONDS:
            return
        self._store.note(
            campaign["campaign_id"], "SET progress_at = :t", {":t": {"N": str(moment)}}
        )
        campaign["progress_at"] = moment

    def _note_waiting(self, campaign: CampaignItem, until: int) -> None:
        """Show the campaign as throttled until `until` (the latest wait of its chunks)."""
        if int(campaign.get("waiting_until", 0)) >= until:
            return
        self._store.note(
            campaign["campaign_id"],
            "SET waiting_until = :t",
            {":t": {"N": str(until)}},
            condition="attribute_not_exists(waiting_until) OR waiting_until < :t",
        )
        campaign["waiting_until"] = until

    def _abandon(self, chunk: Chunk, index: int) -> None:
        """Give up on the chunk's recipients from `index` on: mark each claim abandoned
        and record them on the campaign item, which statistics read. Idempotent."""
        campaign_id = chunk.campaign_id
        unlinked: list[int] = []
        codes: list[str] = []
        moment = iso(self._clock())
        for offset, recipient in enumerate(chunk.recipients[index - chunk.start :]):
            claim = self._store.recipient_claim(campaign_id, index + offset, recipient.ref)
            code = self._store.abandon_claim(claim, moment)
            if code is None:
                unlinked.append(claim.index)
            else:
                codes.append(code)
        self._store.record_abandoned(campaign_id, unlinked, codes, moment)
        log.error(
            "campaign stalled: recipients abandoned",
            extra={"campaign_id": campaign_id, "from": index, "to": chunk.end - 1},
        )


def _wait(retry_after: int, stalls: int) -> int:
    """Seconds until a stopped chunk runs again: its Retry-After, at least 2^stalls s after
    stops without progress (up to one SQS delay), at most our longest Retry-After."""
    backoff = min(MAX_DELAY_SECONDS, 2 ** min(stalls, 10)) if stalls else 0
    return min(max(retry_after, backoff), MAX_WAIT_SECONDS)


def _last_progress(campaign: CampaignItem) -> int:
    created = datetime.fromisoformat(str(campaign["created_at"])).timestamp()
    return max(int(created), int(campaign.get("progress_at", 0)))


def _out_of_time(context: LambdaContext | None) -> bool:
    return context is not None and context.get_remaining_time_in_millis() < TIME_MARGIN_MS
