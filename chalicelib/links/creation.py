"""Creating a link, with its undo.

Creating a link is two AWS calls: one TransactWriteItems (tombstone absent, link absent, put
link and marker) and one PutObject. If the PutObject fails the items are removed again and the
caller gets 503, so there is never an item without its object or an object without its item.
Should that removal fail too (retried a few times), a plain API link gets a repair marker
instead: an expiry marker due at once, carrying `undo_of` (the link's created_at), which the
sweeper turns into the removal within minutes. A create with a step is left whole instead:
the links stream puts the missing object back (expiry.restore_redirects), and the step's
owner answers the retry: a campaign chunk's redelivery finds the recipient's claim, an
Idempotency-Key's replay finds its record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.aws import error_code
from chalicelib.core.clock import Clock, iso
from chalicelib.core.problems import Conflict, Unavailable
from chalicelib.links.items import (
    LINK,
    LIST_PARTITION,
    TTL_GRACE_SECONDS,
    LinkItem,
    expiry_marker,
    link_pk,
    repair_marker,
)
from chalicelib.links.model import CODE_ATTEMPTS, NewLink
from chalicelib.links.redirects import Redirects
from chalicelib.links.store import CodeTaken, CreationStep, LinkStore, StoreBusy

log = logging.getLogger("linktrail.links")

# Removing the items of a create whose PutObject failed: the pause before each attempt.
# Short: the client is waiting for its 503.
UNDO_ATTEMPT_PAUSES = (0.0, 0.05, 0.25)


class LinkCreation:
    """Creates links and finishes failed creates' undos. Handed the store, the redirects,
    the clock and where generated codes come from."""

    def __init__(
        self, store: LinkStore, redirects: Redirects, clock: Clock, codes: Callable[[], str]
    ) -> None:
        self._store = store
        self._redirects = redirects
        self._clock = clock
        self._codes = codes

    def create(
        self, new: NewLink, key_id: str, *, step: CreationStep | None = None
    ) -> dict[str, Any]:
        """Store the link and its redirect object; the stored item (plain values).

        Raises Conflict (custom code taken), StepRefused, or Unavailable (S3 failed,
        nothing left behind)."""
        attempts = 1 if new.code else CODE_ATTEMPTS
        for _ in range(attempts):
            code = new.code or self._codes()
            item = self.new_item(new, code, key_id)
            marker = expiry_marker(code, item["expires_at"]) if "expires_at" in item else None
            try:
                self._store.insert(item, marker, step)
            except StoreBusy:
                raise Unavailable("The link store is busy; try again.", retry_after=1) from None
            except CodeTaken:
                if new.code:
                    raise Conflict(f"code {code!r} is taken.", field="code") from None
                continue
            self._put_redirect_or_undo(item, step)
            return dict(item)
        raise Unavailable("No free code was found; try again.", retry_after=1)

    def new_item(self, new: NewLink, code: str, key_id: str) -> LinkItem:
        created_at = iso(self._clock())
        item: LinkItem = {
            "pk": link_pk(code),
            "sk": LINK,
            "code": code,
            "long_url": new.url,
            "created_at": created_at,
            "key_id": key_id,
            "tags": list(new.tags),
            "gsi1pk": LIST_PARTITION,
            "gsi1sk": f"{created_at}#{code}",
        }
        if new.expires_at is not None:
            item["expires_at"] = new.expires_at
            item["ttl"] = new.expires_at + TTL_GRACE_SECONDS
        for name in ("max_clicks", "expired_url", "webhook_url", "campaign_id", "ref"):
            value = getattr(new, name)
            if value is not None:
                item[name] = value
        if new.campaign_id:
            item["gsi2pk"] = f"campaign#{new.campaign_id}"
            item["gsi2sk"] = f"{created_at}#{code}"
        return item

    def _put_redirect_or_undo(self, item: LinkItem, step: CreationStep | None) -> None:
        try:
            self._redirects.put(item["code"], item["long_url"])
        except (ClientError, BotoCoreError) as error:
            if self._undo_create(item, step):
                detail = "The redirect could not be stored; nothing was created. Try again."
            else:
                detail = (
                    "The redirect could not be stored; the link was not created. Try again "
                    "(a custom code may stay taken for a few minutes)."
                )
            raise Unavailable(detail, retry_after=2) from error

    def _undo_create(self, item: LinkItem, step: CreationStep | None) -> bool:
        """Remove what the create transaction wrote, retrying briefly. True when removed;
        otherwise the link is left for a repair (see the module docstring) and logged."""
        code = item["code"]
        failure = _attempt(lambda: self._store.remove_inserted(code, step))
        if failure is None:
            return True
        repair = "the links stream puts the object back; the step's owner answers the retry"
        if step is None:
            marker = repair_marker(code, int(self._clock().timestamp()), item["created_at"])
            marked = _attempt(lambda: self._store.put_marker(marker))
            repair = (
                "the sweeper removes the link (repair marker written)"
                if marked is None
                else f"none ({marked}): remove link#{code} items link and expiry by hand"
            )
        # The code and AWS error codes only: the URL may carry a customer's tokens.
        log.error(
            "link item left without its redirect object: the undo failed",
            extra={"code": code, "error": failure, "repair": repair},
        )
        return False

    def finish_undo(self, marker: Mapping[str, Any]) -> bool:
        """The sweeper's half of a failed undo: remove the link the repair marker names
        (same created_at) and the marker, in one transaction; the stream handler then
        deletes any object. A link created again since, or a marker replaced meanwhile, is
        left alone. True when the link was removed now."""
        code, created_at = marker["code"], marker["undo_of"]
        items = self._store.items_for(code)
        if items.get("expiry", {}).get("undo_of") != created_at:
            return False  # replaced (a PATCH set a real expiry) or already acted on
        link = items.get(LINK)
        if link is None or link.get("created_at") != created_at:
            self._store.drop_repair_marker(code, created_at)
            return False
        if not self._store.remove_undone(code, created_at):
            return False  # changed meanwhile; the next run reads it again
        log.info("failed create undone", extra={"code": code})
        return True


def _attempt(call: Callable[[], object]) -> str | None:
    """Run `call` up to len(UNDO_ATTEMPT_PAUSES) times; None once it succeeded, else the
    last failure's AWS error code (never its message)."""
    failure = "unknown"
    for pause in UNDO_ATTEMPT_PAUSES:
        time.sleep(pause)
        try:
            call()
        except ClientError as error:
            failure = error_code(error, "ClientError")
        except BotoCoreError as error:
            failure = type(error).__name__
        else:
            return None
    return failure
