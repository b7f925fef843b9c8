"""Expiry: links stop redirecting when they expire or are deleted, without waiting for TTL.

- The links table stream: a REMOVE of a link item (our sweeper's, our DELETE's, or DynamoDB
  TTL's, which carries the service userIdentity) deletes the code's S3 redirect object. For a
  removal nobody wrote a tombstone for (TTL's), the tombstone is written here from the old
  image, so GET keeps answering "expired". Both steps are idempotent. Before deleting, the
  code's items are read consistently: a code whose link exists again (re-created after a
  failed create's undo, which leaves no tombstone) keeps its object.
- The same stream: a MODIFY that brings human_clicks to max_clicks retires the link like
  the sweeper does (tombstone "expired", reason max_clicks) and deletes its object, so S3
  (first-click mode, the edge's fail-open path, cached 301s) stops redirecting.
- The sweeper (a schedule: every 5 minutes in AWS, every few seconds locally) queries the
  sparse expiry index for links whose expiry has passed and retires them: link and marker
  deleted and tombstone written in one transaction. DynamoDB TTL (expires_at + 1 h) is only
  the backstop behind it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from chalicelib.links import LinkService

log = logging.getLogger("linktrail.expiry")

LINK_SORT_KEY = "link"
SWEEP_LIMIT = 200  # links per run: bounded work, the next run continues


def is_ttl_delete(record: dict[str, Any]) -> bool:
    identity = record.get("userIdentity") or {}
    return bool(
        identity.get("type") == "Service"
        and identity.get("principalId") == "dynamodb.amazonaws.com"
    )


def _removed_link(record: dict[str, Any]) -> str | None:
    if record.get("eventName") != "REMOVE":
        return None
    keys = record.get("dynamodb", {}).get("Keys", {})
    pk = keys.get("pk", {}).get("S", "")
    if keys.get("sk", {}).get("S") == LINK_SORT_KEY and pk.startswith("link#"):
        return str(pk.removeprefix("link#"))
    return None


def removed_link_codes(records: Iterable[dict[str, Any]]) -> list[str]:
    """Codes of link items removed in these stream records; other records are ignored."""
    return [code for code in map(_removed_link, records) if code is not None]


def ended_by_ttl(record: dict[str, Any], at_epoch: float) -> bool:
    """A removal DynamoDB TTL made: marked by userIdentity, or (emulators leave that out)
    recognisable because the item's ttl had passed. Our own rollbacks of a failed create
    remove links whose ttl is in the future (or absent), so they get no tombstone."""
    if is_ttl_delete(record):
        return True
    ttl = record.get("dynamodb", {}).get("OldImage", {}).get("ttl", {}).get("N")
    return ttl is not None and float(ttl) <= at_epoch


def _spent_link(record: dict[str, Any]) -> str | None:
    """The code of a link item modified to human_clicks >= max_clicks, else None."""
    if record.get("eventName") != "MODIFY":
        return None
    image = record.get("dynamodb", {}).get("NewImage") or {}
    if image.get("sk", {}).get("S") != LINK_SORT_KEY or "code" not in image:
        return None
    max_clicks = image.get("max_clicks", {}).get("N")
    human = image.get("human_clicks", {}).get("N")
    if max_clicks is None or human is None or float(human) < float(max_clicks):
        return None
    return str(image["code"]["S"])


def stale_codes(links: LinkService, codes: list[str]) -> tuple[list[str], list[str]]:
    """Split removed codes into (objects to delete, codes to re-check after deleting).

    A removed link item may come back under the same code: a failed create's undo leaves no
    tombstone, so the code can be created again before this record arrives. Each code's
    items are read consistently; a code whose link exists again keeps its object. Codes
    without a tombstone could still be re-created between that read and the delete, so they
    are checked again afterwards."""
    doomed: list[str] = []
    recheck: list[str] = []
    for code in dict.fromkeys(codes):
        items = links.items_for(code)
        if "link" in items:
            continue
        doomed.append(code)
        if "tombstone" not in items:
            recheck.append(code)
    return doomed, recheck


def on_links_stream(records: list[dict[str, Any]], links: LinkService | None = None) -> None:
    removed = [r for r in records if _removed_link(r) is not None]
    spent = list(dict.fromkeys(c for c in map(_spent_link, records) if c is not None))
    if not removed and not spent:
        return
    links = links or _service()
    retired = sum(links.retire_spent(code) for code in spent)
    if spent:
        log.info("max_clicks reached", extra={"codes": spent, "retired": retired})
    if not removed:
        return
    at = time.time()
    buried = 0
    for record in removed:
        old_image = record.get("dynamodb", {}).get("OldImage")
        if old_image and "long_url" in old_image and ended_by_ttl(record, at):
            buried += links.bury(old_image, "expired")
    codes = removed_link_codes(removed)
    doomed, recheck = stale_codes(links, codes)
    links.delete_redirects(doomed)
    for code in recheck:
        # Re-created between our read and our delete: give the new link its object back.
        link = links.items_for(code).get("link")
        if link is not None:
            links.put_redirect(code, str(link["long_url"]))
    ttl = sum(1 for r in removed if is_ttl_delete(r))
    log.info(
        "redirects removed",
        extra={
            "codes": doomed,
            "kept": sorted(set(codes) - set(doomed)),
            "ttl_deletes": ttl,
            "tombstoned": buried,
        },
    )


def sweep(
    at_epoch: int | None = None, limit: int = SWEEP_LIMIT, links: LinkService | None = None
) -> int:
    """Retire up to `limit` links whose expiry has passed; the number retired."""
    links = links or _service()
    at = int(time.time()) if at_epoch is None else at_epoch
    retired = sum(links.expire(code, at) for code in links.due_for_expiry(at, limit))
    if retired:
        log.info("links expired", extra={"count": retired})
    return retired


def _service() -> LinkService:
    from chalicelib import links

    return links.service()
