"""Erasing a user (DELETE /api/users/{id}): their identity items and the deletion record
the forwarder sends to the warehouse."""

from __future__ import annotations

from chalicelib.core.problems import BadRequest
from chalicelib.tracking.event_queue import EventQueue, erasure_body
from chalicelib.tracking.identity import IdentityStore
from chalicelib.tracking.validation import ID_RULE, is_id


def erase_user(store: IdentityStore, queue: EventQueue, user_id: str, requested_at: str) -> int:
    """Remove every identity link that ever resolved to `user_id` (its history holds
    those since replaced), its history and the conflicts naming it, and queue the deletion
    record for the warehouse. Returns how many anonymous ids the erasure covered.

    The erased marker is written first, so no identify still in the queue can add a link
    after they were listed. The record is queued before the items are removed: if
    removing them then fails, a repeated request finds them again; the other order could
    lose the record.
    """
    if not is_id(user_id):
        raise BadRequest(f"user_id {ID_RULE}.", field="user_id")
    store.mark_erased(user_id, requested_at)
    anonymous_ids, keys = store.erasure_of(user_id)
    queue.put([erasure_body(user_id, anonymous_ids, requested_at)])
    store.remove(keys)
    return len(anonymous_ids)
