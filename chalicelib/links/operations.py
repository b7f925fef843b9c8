"""POST and PATCH /api/links as the handlers call them: each request validated fully
before the first write (the SMS order too), then the link service does the work. With an
Idempotency-Key, POST answers the key's first create again (see idempotency.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.core.problems import Conflict, Problem
from chalicelib.links.idempotency import HEADER as IDEMPOTENCY_HEADER
from chalicelib.links.idempotency import IdempotentCreate, reused
from chalicelib.links.items import LINK, TOMBSTONE
from chalicelib.links.model import parse_link_patch, parse_new_link
from chalicelib.links.service import LinkService, Texter
from chalicelib.links.store import StepRefused
from chalicelib.links.views import public_view


@dataclass(frozen=True)
class Created:
    """POST /api/links' answer: the link, and whether an Idempotency-Key replayed it."""

    link: dict[str, Any]
    replayed: bool = False


def create_link(
    body: Mapping[str, Any], key_id: str, links: LinkService, texter: Texter,
    idempotency_key: str | None = None,
) -> Created:
    """POST /api/links: validate everything (the SMS order too) before the first write,
    store link and object, then hand the message to the texter. With an Idempotency-Key
    the key's first create is answered again instead (see links.idempotency)."""
    new = parse_new_link(body, links.settings, links.clock())
    step = (links.idempotency.step(key_id, idempotency_key, body, links.now())
            if idempotency_key is not None else None)
    order = None
    if body.get("sms") is not None:
        try:
            order = texter.parse_order(body["sms"], key_id=key_id)
        except Problem as refused:
            # The day's texts are spent; a replay sends none, so it still gets its link.
            if refused.status == 429 and step is not None and links.idempotency.first(step):
                return Created(_replay(links, step), replayed=True)
            raise
    try:
        item = links.create(new, key_id, step=step)
    except (Problem, StepRefused) as refused:
        if order is not None:
            texter.cancel_order(order)
        if step is not None and isinstance(refused, StepRefused):
            return Created(_replay(links, step), replayed=True)
        raise
    view = public_view(item, links.short_base_url, links.now())
    if order is not None:
        view["message"] = texter.send_for_link(
            order, code=item["code"], short_url=view["short_url"]
        )
    return Created(view)


def _replay(links: LinkService, step: IdempotentCreate) -> dict[str, Any]:
    """The link the key's first request made, as it is now."""
    first = links.idempotency.first(step)
    if first is None:  # undone in the meantime: the key is free again
        raise Conflict(f"The {IDEMPOTENCY_HEADER}'s first request was undone; try again.",
                       field=IDEMPOTENCY_HEADER)
    if not first.same_request:
        raise reused()
    items = links.items_for(first.code)
    item = items.get(LINK) or items.get(TOMBSTONE)
    if item is None:  # the code holds nothing: the first create did not stay
        raise Conflict(f"The {IDEMPOTENCY_HEADER}'s first request was undone; send it again "
                       "under a new key.", field=IDEMPOTENCY_HEADER)
    if LINK in items and not links.has_redirect(first.code):
        raise Conflict(f"The {IDEMPOTENCY_HEADER}'s first request is still being stored; "
                       "try again in a moment.", field=IDEMPOTENCY_HEADER)
    return public_view(item, links.short_base_url, links.now())


def patch_link(code: str, body: Mapping[str, Any], links: LinkService) -> dict[str, Any]:
    """PATCH /api/links/{code}: validated before anything changes; the object follows."""
    return links.patch(code, parse_link_patch(body, links.settings, links.clock()))
