"""Expiry: links stop redirecting when they expire or are deleted, without waiting for TTL.

- The links table stream: a REMOVE of a link item (our sweeper's, our DELETE's, or DynamoDB
  TTL's, which carries the service userIdentity) deletes the code's S3 redirect object. For a
  removal nobody wrote a tombstone for (TTL's), the tombstone is written here from the old
  image, so GET keeps answering "expired". Both steps are idempotent.
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

from chalicelib import runtime
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


def delete_redirects(s3: Any, bucket: str, codes: list[str]) -> None:
    """Idempotent: deleting an object that is already gone succeeds."""
    for start in range(0, len(codes), 1000):
        chunk = codes[start : start + 1000]
        if len(chunk) == 1:
            s3.delete_object(Bucket=bucket, Key=chunk[0])
            continue
        answer = s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": c} for c in chunk], "Quiet": True}
        )
        if answer.get("Errors"):
            # Raise so the stream batch is retried; deletes are idempotent.
            raise RuntimeError(
                f"S3 refused {len(answer['Errors'])} deletes: {answer['Errors'][:3]}"
            )


def on_links_stream(records: list[dict[str, Any]], links: LinkService | None = None) -> None:
    removed = [r for r in records if _removed_link(r) is not None]
    if not removed:
        return
    links = links or _service()
    at = time.time()
    buried = 0
    for record in removed:
        old_image = record.get("dynamodb", {}).get("OldImage")
        if old_image and "long_url" in old_image and ended_by_ttl(record, at):
            buried += links.bury(old_image, "expired")
    codes = removed_link_codes(removed)
    delete_redirects(runtime.s3(), links.settings.redirect_bucket, codes)
    ttl = sum(1 for r in removed if is_ttl_delete(r))
    log.info("redirects removed", extra={"codes": codes, "ttl_deletes": ttl, "tombstoned": buried})


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
