"""A campaign's statistics: its links and tombstones (read through links' indexes) counted
by message status and clicks, plus the abandoned recipients recorded on the campaign item."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib.campaigns.model import ABANDONED, CampaignItem, list_row
from chalicelib.core.clock import Clock, from_epoch, iso
from chalicelib.links.indexes import CampaignLinkSummary, LinkIndexes

# messaging's message.status values (see chalicelib/messaging/message.py)
SENT = frozenset({"accepted", "submitted", "delivered", "read", "rejected", "undeliverable"})
DELIVERED = frozenset({"delivered", "read"})
FAILED = frozenset({"rejected", "undeliverable", "send_failed"})
UNSETTLED = frozenset({"pending", "sending", "throttled"})
UNSENT = frozenset({"skipped"})  # written by campaigns.recipients: no text will go out
COUNTERS = (
    "links_created",
    "sent",
    "delivered",
    "failed",
    "opted_out",
    "pending",
    "skipped",
    "abandoned",
    "clicked",
    "delivered_not_clicked",
)


class CampaignStats:
    """Statistics of campaigns, handed the links' index reads and the clock (a campaign is
    "throttled" while its `waiting_until` is ahead)."""

    def __init__(self, links: LinkIndexes, clock: Clock) -> None:
        self._links = links
        self._clock = clock

    def answer(self, campaign: CampaignItem) -> dict[str, Any]:
        """GET /api/campaigns/{id}'s answer."""
        unlinked = len(campaign.get("abandoned") or [])
        counts = count(
            self._links.campaign_links(campaign["campaign_id"]),
            abandoned_codes=set(campaign.get("abandoned_codes") or []),
        )
        counts["abandoned"] += unlinked
        counts["failed"] += counts["abandoned"]
        status = self._status(campaign, counts, unlinked)
        return _answer(campaign, counts, status)

    def _status(self, campaign: CampaignItem, counts: dict[str, int], unlinked: int) -> str:
        waiting_until = int(campaign.get("waiting_until", 0))
        if campaign.get("status") == "cancelled":
            return "cancelled"
        if counts["links_created"] + unlinked >= int(campaign["total"]) and not counts["pending"]:
            return "done"
        if waiting_until > self._clock().timestamp():
            return "throttled"  # chunks wait out a Retry-After (quota, Vonage, config)
        if counts["links_created"] == 0:
            return "queued"
        return "sending"


def count(rows: Iterator[CampaignLinkSummary], abandoned_codes: set[str]) -> dict[str, int]:
    """The counters over a campaign's links and tombstones; `abandoned_codes`: links whose
    recipient the campaign gave up on before texting them."""
    counts = dict.fromkeys(COUNTERS, 0)
    for row in rows:
        counts["links_created"] += 1
        status = (row.get("message") or {}).get("status")
        unsettled = status is None or status in UNSETTLED
        # A link that ended before its text settled never gets one now.
        ended = row.get("sk") == "tombstone"
        # Never texted: the campaign gave up on its recipient.
        abandoned = unsettled and not ended and row.get("code") in abandoned_codes
        counts["abandoned"] += abandoned
        counts["sent"] += status in SENT
        counts["delivered"] += status in DELIVERED
        counts["failed"] += status in FAILED
        counts["opted_out"] += status == "opted_out"
        counts["skipped"] += status in UNSENT or (ended and unsettled)
        counts["pending"] += unsettled and not ended and not abandoned
        counts["clicked"] += row.get("human_clicks", 0) > 0
        counts["delivered_not_clicked"] += status in DELIVERED and not row.get("human_clicks", 0)
    return counts


def _answer(campaign: CampaignItem, counts: dict[str, int], status: str) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if status == "throttled":
        extra["waiting_until"] = iso(from_epoch(int(campaign.get("waiting_until", 0))))
    if counts["abandoned"]:
        extra["abandoned_reason"] = campaign.get("abandoned_reason", ABANDONED)
    delivered = counts["delivered"]
    return {
        **list_row(campaign),
        **counts,
        "ctr": round(counts["clicked"] / delivered, 4) if delivered else None,
        "status": status,
        **extra,
    }
