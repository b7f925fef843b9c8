"""One campaign recipient's steps: its link (made once, whatever the queue redelivers),
its text, or a terminal `skipped` state when it will get none.

A recipient's claim is written in the same transaction as its link and holds its code, so
a redelivered chunk never makes a second link; the message is sent through messaging's
send_for_link, idempotent per code. A recipient is `skipped` (message.status "skipped"
with a reason, written here) when its number is refused at send time or its link ended
before its text went out.
"""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.campaigns.chunks import Throttled, retry_after_of
from chalicelib.campaigns.model import CampaignItem, CampaignRecipient
from chalicelib.campaigns.store import CampaignStore, RecipientClaim
from chalicelib.core import phones
from chalicelib.core.clock import Clock, epoch_now, iso
from chalicelib.core.problems import Problem
from chalicelib.links.model import NewLink
from chalicelib.links.service import LinkService, Texter
from chalicelib.links.store import StepRefused

log = logging.getLogger("linktrail.campaigns")

LINK_ENDED = "The link expired or was deleted before its text went out."


class RecipientSender:
    """Makes and texts one recipient's link, handed the link service, the campaign store,
    the texter (messaging's Texting) and the clock."""

    def __init__(
        self, links: LinkService, store: CampaignStore, texter: Texter, clock: Clock
    ) -> None:
        self._links = links
        self._store = store
        self._texter = texter
        self._clock = clock

    def send(self, campaign: CampaignItem, index: int, recipient: CampaignRecipient) -> None:
        """Make the recipient's link and text it; raises Throttled when texting must wait."""
        link = self._link(campaign, index, recipient)
        if link is None:
            return
        code = str(link["code"])
        if self._ended(campaign, recipient, link):
            return
        self._text(campaign, recipient, code)

    def _link(
        self, campaign: CampaignItem, index: int, recipient: CampaignRecipient
    ) -> dict[str, Any] | None:
        """The recipient's link, made now or by an earlier delivery; None when it gets no
        text (abandoned, or its link ended)."""
        campaign_id = campaign["campaign_id"]
        claim = self._store.recipient_claim(campaign_id, index, recipient.ref)
        new = NewLink(
            url=campaign["url"],
            expires_at=campaign.get("expires_at"),
            webhook_url=campaign.get("webhook_url"),
            campaign_id=campaign_id,
            ref=recipient.ref,
        )
        try:
            return self._links.create(new, campaign["key_id"], step=claim)
        except StepRefused:  # the claim exists: the recipient has its link
            return self._claimed_link(campaign, claim, recipient)

    def _claimed_link(
        self, campaign: CampaignItem, claim: RecipientClaim, recipient: CampaignRecipient
    ) -> dict[str, Any] | None:
        """Redelivered: the recipient has its link. Make sure its object exists (a crash
        may have come between the transaction and the PutObject) without bringing back the
        object of a link retired meanwhile, then send again: messaging sends at most once
        per code."""
        found = self._store.claim(claim)
        if "abandoned_at" in found:
            return None  # the campaign gave up on this recipient (an old copy of its chunk)
        code = found["code"]
        stored = self._links.items_for(code).get("link")
        if stored is None or not self._links.ensure_redirect(code, stored["long_url"]):
            self._skip(code, campaign, recipient, "link_ended", LINK_ENDED)
            return None
        return stored

    def _ended(
        self, campaign: CampaignItem, recipient: CampaignRecipient, link: dict[str, Any]
    ) -> bool:
        """Its expiry passed before its text went out: end it now, text nobody."""
        expires_at = link.get("expires_at")
        moment = epoch_now(self._clock)
        if expires_at is None or expires_at > moment:
            return False
        code = str(link["code"])
        self._links.expire(code, moment)
        self._links.delete_redirect(code)
        self._skip(code, campaign, recipient, "link_ended", LINK_ENDED)
        return True

    def _text(self, campaign: CampaignItem, recipient: CampaignRecipient, code: str) -> None:
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
        campaign: CampaignItem,
        recipient: CampaignRecipient,
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
                "status_at": iso(self._clock()),
            },
        )
