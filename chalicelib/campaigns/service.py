"""Campaigns as the blueprint sees them: start one, read its statistics, work its queue.

POST /api/campaigns validates everything (campaigns.model: every recipient's number as
messaging checks it), stores the campaign item (campaigns.store), and enqueues the
recipients in chunks on the campaign queue (campaigns.queue). The queue's worker
(campaigns.worker) makes each recipient's link and sends its message
(campaigns.recipients); statistics are campaigns.stats'.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.campaigns.chunks import chunks_of
from chalicelib.campaigns.model import (
    CAMPAIGN_ID,
    CampaignRecipient,
    campaign_id_for,
    list_row,
    new_campaign_id,
    new_campaign_item,
    parse_campaign,
    parse_campaign_list,
)
from chalicelib.campaigns.queue import ChunkQueue
from chalicelib.campaigns.recipients import RecipientSender
from chalicelib.campaigns.stats import CampaignStats
from chalicelib.campaigns.store import CampaignStore
from chalicelib.campaigns.worker import CampaignWorker
from chalicelib.core.clock import Clock, iso, now
from chalicelib.core.lambdas import BatchAnswer, LambdaContext
from chalicelib.core.problems import Conflict, NotFound, Unavailable
from chalicelib.links.idempotency import HEADER as IDEMPOTENCY_HEADER
from chalicelib.links.idempotency import fingerprint, reused
from chalicelib.links.model import encode_cursor
from chalicelib.links.service import LinkService, Texter

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient
    from types_boto3_sqs.client import SQSClient

log = logging.getLogger("linktrail.campaigns")


@dataclass(frozen=True)
class Started:
    """POST /api/campaigns' answer, and whether an Idempotency-Key replayed it."""

    answer: dict[str, Any]
    replayed: bool = False


class CampaignService:
    """Campaign items, their queue, their workers and their statistics; handed the link
    service, the DynamoDB and SQS clients, the texter (messaging's Texting) and the
    clock."""

    def __init__(
        self,
        links: LinkService,
        dynamodb: DynamoDBClient,
        sqs: SQSClient,
        texter: Texter,
        clock: Clock = now,
    ) -> None:
        table = links.settings.links_table
        self._links = links
        self._clock = clock
        self._store = CampaignStore(dynamodb, table)
        self._queue = ChunkQueue(sqs, links.settings.campaign_queue_url)
        self._stats = CampaignStats(links.indexes, clock)
        self._worker = CampaignWorker(
            self._store,
            self._queue,
            RecipientSender(links, self._store, texter, clock),
            clock,
        )

    # POST /api/campaigns

    def start(
        self, body: Mapping[str, Any], key_id: str, idempotency_key: str | None = None
    ) -> Started:
        """Store the campaign and queue its chunks. Under an Idempotency-Key the campaign's
        id follows from the key, so the same request again finds the first campaign."""
        campaign = parse_campaign(body, self._links, self._clock)
        request = fingerprint(body) if idempotency_key is not None else None
        campaign_id = (campaign_id_for(key_id, idempotency_key) if idempotency_key is not None
                       else new_campaign_id())
        item = new_campaign_item(
            campaign, campaign_id, key_id, created_at=iso(self._clock()), request=request
        )
        answer = {"campaign_id": campaign_id, "status": "queued",
                  "total": len(campaign.recipients)}
        if not self._store.create(item):
            if request is None:  # two random ids alike: as good as never
                raise Unavailable("The campaign could not be stored; try again.", retry_after=1)
            self._replay(campaign_id, key_id, request, campaign.recipients)
            return Started(answer, replayed=True)
        self._enqueue_or_cancel(campaign_id, campaign.recipients)
        log.info("campaign queued", extra={"campaign_id": campaign_id})
        return Started(answer)

    def _replay(self, campaign_id: str, key_id: str, request: str,
                recipients: list[CampaignRecipient]) -> None:
        """The same request again: its chunks are queued again, because the first may have
        stopped before queueing them all (unless every recipient is already handled).
        Recipients already claimed are skipped by the workers (campaigns.recipients), so
        nobody gets a second link or text."""
        first = self._store.get(campaign_id)
        if first is None or first["key_id"] != key_id or first.get("request") != request:
            raise reused()
        if first["status"] == "cancelled":
            raise Conflict(f"This {IDEMPOTENCY_HEADER}'s campaign was cancelled (it could not "
                           "be queued); start it again under a new key.",
                           field=IDEMPOTENCY_HEADER)
        if self._stats.answer(first)["status"] == "done":
            return  # one read of its links' index instead of every recipient's claim
        try:
            self._queue.enqueue(chunks_of(campaign_id, recipients))
        except Exception as error:
            log.exception("campaign requeue failed", extra={"campaign_id": campaign_id})
            raise Unavailable("The campaign's chunks could not be queued again; try again.",
                              retry_after=1) from error
        log.info("campaign replayed", extra={"campaign_id": campaign_id})

    def _enqueue_or_cancel(self, campaign_id: str, recipients: list[CampaignRecipient]) -> None:
        try:
            self._queue.enqueue(chunks_of(campaign_id, recipients))
        except Exception as error:
            # Chunks already queued are skipped by the workers once the campaign is cancelled.
            self._store.cancel(campaign_id)
            log.exception("campaign enqueue failed", extra={"campaign_id": campaign_id})
            raise Unavailable("The campaign could not be queued; it was cancelled.") from error

    # GET /api/campaigns

    def page(self, params: Mapping[str, str] | None) -> dict[str, Any]:
        """One page of campaigns, newest first; their statistics are GET /api/campaigns/{id}'s."""
        found, next_key = self._store.page(parse_campaign_list(params))
        return {
            "campaigns": [list_row(campaign) for campaign in found],
            "next_cursor": encode_cursor(next_key) if next_key else None,
        }

    # GET /api/campaigns/{id}

    def stats(self, campaign_id: str) -> dict[str, Any]:
        campaign = self._store.get(campaign_id) if CAMPAIGN_ID.match(campaign_id) else None
        if campaign is None:
            raise NotFound(f"No campaign {campaign_id!r}.")
        return self._stats.answer(campaign)

    # the queue handler

    def handle_records(
        self, records: Iterable[Mapping[str, Any]], context: LambdaContext | None = None
    ) -> BatchAnswer:
        """The campaign queue's records (see campaigns.worker); the ones to receive again."""
        return self._worker.handle_records(records, context)
