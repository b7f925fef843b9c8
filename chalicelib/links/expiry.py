"""Expiry: links stop redirecting when they expire or are deleted, without waiting for TTL.

- The links table stream: a REMOVE of a link item (our sweeper's, our DELETE's, or DynamoDB
  TTL's, which carries the service userIdentity) deletes the code's S3 redirect object. For a
  removal nobody wrote a tombstone for (TTL's), the tombstone is written here from the old
  image, so GET keeps answering "expired". Both steps are idempotent. Before deleting, the
  code's items are read consistently: a code whose link exists again (re-created after a
  failed create's undo, which leaves no tombstone) keeps its object.
- The same stream: an INSERT of a link item gets its S3 object back if it is missing. The
  create writes its items, then the object; a process killed between the two (a Lambda
  timeout, a crash: no undo runs) would otherwise leave a link that never redirects. One
  HeadObject per created link, off the request path.
- The same stream: a counter MODIFY that brings human_clicks to max_clicks retires the link
  like the sweeper does (tombstone "expired", reason max_clicks) and deletes its object, so S3
  (first-click mode, the edge's fail-open path, cached 301s) stops redirecting.
- The sweeper (a schedule: every 5 minutes in AWS, every few seconds locally) queries the
  sparse expiry index, page by page, for links whose expiry has passed and retires them
  (link and marker deleted and tombstone written in one transaction, a few at once), then
  deletes their objects in one DeleteObjects per page. It goes on until nothing is due or
  the Lambda's time runs low; the next run continues. A campaign's 10,000 links sharing one
  expires_at are therefore gone from S3 in the first run after their expiry. Repair markers
  (a create whose undo failed, see creation.py) are acted on in the same pass. DynamoDB TTL
  (expires_at + 1 h) is only the backstop behind it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.aws import error_code
from chalicelib.core.lambdas import LambdaContext
from chalicelib.links.items import COUNTER, LINK, image_code
from chalicelib.links.service import LinkService

log = logging.getLogger("linktrail.expiry")

SWEEP_PAGE_SIZE = 100  # due markers per Query; one DeleteObjects per page
# Links retired at once in AWS. A page's links are read in one BatchGetItem, then each is one
# TransactWriteItems (~10-20 ms in AWS): one thread would retire ~3,000 links in a 60 s
# Lambda, eight as many as the CPU allows (botocore spends ~1 ms of CPU per call here; see
# the README). Threads share the one (thread-safe) client. The local stage sweeps with one:
# moto deep-copies the table on every transaction action and is not thread-safe doing it.
SWEEP_WORKERS = 8
# No new page once less of the Lambda's time than this remains (a page takes well under a
# second in AWS; the margin also covers botocore's retries on a throttled page).
SWEEP_MARGIN_MS = 10_000


def is_ttl_delete(record: dict[str, Any]) -> bool:
    identity = record.get("userIdentity") or {}
    return bool(
        identity.get("type") == "Service"
        and identity.get("principalId") == "dynamodb.amazonaws.com"
    )


def _link_event(record: dict[str, Any], event: str) -> str | None:
    """The code of the link item this record is the `event` (INSERT, REMOVE) of, else None."""
    if record.get("eventName") != event:
        return None
    return image_code(record.get("dynamodb", {}).get("Keys", {}), LINK)


def _removed_link(record: dict[str, Any]) -> str | None:
    return _link_event(record, "REMOVE")


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
    """The code of a counter item modified to human_clicks >= max_clicks, else None."""
    if record.get("eventName") != "MODIFY":
        return None
    image = record.get("dynamodb", {}).get("NewImage") or {}
    if image.get("sk", {}).get("S") != COUNTER or "code" not in image:
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


def on_links_stream(records: list[dict[str, Any]], links: LinkService) -> None:
    inserted = list(dict.fromkeys(
        c for c in (_link_event(r, "INSERT") for r in records) if c is not None))
    removed = [r for r in records if _removed_link(r) is not None]
    spent = list(dict.fromkeys(c for c in map(_spent_link, records) if c is not None))
    if inserted:
        restore_redirects(links, inserted)
    if not removed and not spent:
        return
    retired = sum(links.retire_spent(code) for code in spent)
    if spent:
        log.info("max_clicks reached", extra={"codes": spent, "retired": retired})
    if not removed:
        return
    at = links.now()
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


def restore_redirects(links: LinkService, codes: list[str]) -> None:
    """The objects of links just created, put back where they are missing."""
    restored = [code for code in codes if links.restore_redirect(code)]
    if restored:
        log.warning("redirect objects restored: their create stopped after its items",
                    extra={"codes": restored, "checked": len(codes)})


def sweep(
    links: LinkService,
    at_epoch: int | None = None,
    context: LambdaContext | None = None,
    *,
    page_size: int = SWEEP_PAGE_SIZE,
    workers: int | None = None,
    margin_ms: int = SWEEP_MARGIN_MS,
) -> int:
    """Retire every link whose expiry has passed by `at_epoch`, page by page, until none is
    due or `context` (Lambda's) has less than `margin_ms` left; the number retired.

    Each page's retired links lose their objects here at once: their tombstones mean the
    codes never come back, so nothing can be resurrected (the stream handler deletes them
    again, idempotently, and is the backstop if this DeleteObjects fails)."""
    at = int(links.now()) if at_epoch is None else at_epoch
    if workers is None:
        workers = 1 if links.settings.is_local else SWEEP_WORKERS
    retired = repaired = failed = pages = 0
    out_of_time = False
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweeper") as pool:
        for markers in links.due_markers(at, page_size):
            if context is not None and context.get_remaining_time_in_millis() < margin_ms:
                out_of_time = True
                break
            pages += 1
            known = _read_links(links, [m["code"] for m in markers if "undo_of" not in m])
            act = functools.partial(_act_on, links, at_epoch=at, known=known)
            outcomes = list(pool.map(act, markers))
            expired = [m["code"] for m, o in zip(markers, outcomes, strict=True) if o == "expired"]
            repaired += outcomes.count("repaired")
            failed += outcomes.count("failed")
            retired += len(expired)
            try:
                links.delete_redirects(expired)
            except (ClientError, BotoCoreError, RuntimeError) as error:
                log.warning(
                    "redirects of expired links left to the stream handler",
                    extra={"count": len(expired), **_error_of(error)},
                )
    if retired or repaired or failed or out_of_time:
        log.info(
            "links expired",
            extra={
                "count": retired,
                "repaired": repaired,
                "failed": failed,
                "pages": pages,
                "out_of_time": out_of_time,
            },
        )
    return retired


def _read_links(links: LinkService, codes: list[str]) -> dict[str, dict[str, Any] | None]:
    """The page's links in one read; if that fails, each is read on its own instead."""
    try:
        return links.links_for(codes)
    except (ClientError, BotoCoreError) as error:
        log.warning("batch read failed; reading links one by one", extra=_error_of(error))
        return {}


def _act_on(
    links: LinkService,
    marker: Mapping[str, Any],
    at_epoch: int,
    known: Mapping[str, dict[str, Any] | None],
) -> str | None:
    """Retire the marker's link ("expired") or finish a failed create's undo ("repaired");
    None when there was nothing to do now, "failed" when AWS refused (the next run retries)."""
    code = str(marker["code"])
    try:
        if "undo_of" in marker:
            return "repaired" if links.finish_undo(marker) else None
        return "expired" if links.expire(code, at_epoch, known) else None
    except (ClientError, BotoCoreError) as error:
        log.warning("could not retire a due link", extra={"code": code, **_error_of(error)})
        return "failed"
    except Exception:  # a defect met on one link must not stop every later expiry
        log.exception("retiring a due link failed", extra={"code": code})
        return "failed"


def _error_of(error: Exception) -> dict[str, str]:
    """An AWS error's code for the log (its message may quote request values)."""
    if isinstance(error, ClientError):
        return {"error": error_code(error, "ClientError")}
    return {"error": type(error).__name__}
