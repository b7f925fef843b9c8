"""Links: creating (creation.py), reading, listing, changing, deleting and retiring
them, each as steps over the link's items (store.py, tombstones.py, indexes.py) and its
redirect object (redirects.py). What POST and PATCH /api/links do with a request (validate
it fully before the first write, replay an Idempotency-Key) is in operations.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.clock import Clock, iso, now
from chalicelib.core.problems import Conflict, NotFound, Problem, Unavailable
from chalicelib.core.settings import Settings
from chalicelib.links.creation import LinkCreation
from chalicelib.links.idempotency import IdempotencyRecords
from chalicelib.links.indexes import LinkIndexes
from chalicelib.links.items import (
    LINK,
    TOMBSTONE,
    TTL_GRACE_SECONDS,
    LinkItem,
    expiry_marker,
)
from chalicelib.links.model import (
    LinkPatch,
    ListQuery,
    NewLink,
    generate_code,
    require_link_shape,
)
from chalicelib.links.redirects import Redirects
from chalicelib.links.store import (
    CreationStep,
    LinkChanged,
    LinkStore,
    MessageUpdate,
)
from chalicelib.links.tombstones import TombstoneStore
from chalicelib.links.views import public_view

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient
    from types_boto3_s3.client import S3Client

# Names other features import from here (campaigns); their homes are the modules above.
RETIRE_ATTEMPTS = 3  # reads and conditional retirements of a link clicked meanwhile


class LinkService:
    """Links in the links table and their redirect objects in the bucket.

    Handed its clients, settings, clock and code generator so tests can point it at
    anything (a missing bucket, another table, a moved clock, codes that collide)."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        s3: S3Client,
        settings: Settings,
        clock: Clock = now,
        codes: Callable[[], str] = generate_code,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self.store = LinkStore(dynamodb, settings.links_table)
        self.tombstones = TombstoneStore(dynamodb, settings.links_table)
        self.indexes = LinkIndexes(dynamodb, settings.links_table)
        self.redirects = Redirects(s3, settings.redirect_bucket)
        self.idempotency = IdempotencyRecords(dynamodb, settings.links_table)
        self._creation = LinkCreation(self.store, self.redirects, clock, codes)

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def short_base_url(self) -> str:
        return self._settings.short_base_url

    def short_url(self, code: str) -> str:
        return f"{self._settings.short_base_url}/{code}"

    @property
    def clock(self) -> Clock:
        return self._clock

    def now(self) -> float:
        return self._clock().timestamp()

    # creation

    def create(
        self, new: NewLink, key_id: str, *, step: CreationStep | None = None
    ) -> dict[str, Any]:
        """Store the link and its redirect object; the stored item (plain values).

        Raises Conflict (custom code taken), StepRefused, or Unavailable (S3 failed,
        nothing left behind)."""
        return self._creation.create(new, key_id, step=step)

    def item_for(self, new: NewLink, code: str, key_id: str) -> LinkItem:
        """The item `create` would store for `new` under `code` (bulk loaders write it
        themselves)."""
        return self._creation.new_item(new, code, key_id)

    def finish_undo(self, marker: Mapping[str, Any]) -> bool:
        """The sweeper's half of a failed create's undo (see LinkCreation.finish_undo)."""
        return self._creation.finish_undo(marker)

    # redirect objects

    def put_redirect(self, code: str, long_url: str) -> None:
        self.redirects.put(code, long_url)

    def delete_redirect(self, code: str) -> None:
        self.redirects.delete(code)

    def delete_redirects(self, codes: list[str]) -> None:
        self.redirects.delete_many(codes)

    def has_redirect(self, code: str) -> bool:
        return self.redirects.exists(code)

    def ensure_redirect(self, code: str, long_url: str) -> bool:
        """Put the object of a link read earlier only if it is missing (a crash between the
        create transaction and its PutObject), then check the link still exists: a sweeper
        or DELETE that retired it meanwhile must not be undone by a resurrected object.
        True when the link is live with its object."""
        if self.has_redirect(code):
            return True
        return self._put_missing(code, long_url)

    def restore_redirect(self, code: str) -> bool:
        """For a link item just inserted (the links stream): put its object if it is
        missing, from the link as it is now. A process that died between the create
        transaction and its PutObject (no undo ran) leaves exactly that. True when the object
        had to be put."""
        if self.has_redirect(code):
            return False
        link = self.items_for(code).get(LINK)
        return link is not None and self._put_missing(code, str(link["long_url"]))

    def _put_missing(self, code: str, long_url: str) -> bool:
        """Put the object, then read the link again: one retired meanwhile loses the object
        again; one whose URL changed meanwhile gets its new URL. True when the link is live
        with its object."""
        self.put_redirect(code, long_url)
        link = self.items_for(code).get(LINK)
        if link is None:
            self.delete_redirect(code)
            return False
        if link["long_url"] != long_url:
            self.put_redirect(code, str(link["long_url"]))
        return True

    def mark_unsent(self, code: str, kind: str, message: Mapping[str, Any]) -> bool:
        """Record a terminal message state (a campaign recipient skipped) on the code's link
        or tombstone, unless it already has a message. True when written."""
        update = MessageUpdate(
            expression="SET #m = :message",
            condition="attribute_exists(pk) AND "
            "(attribute_not_exists(#m) OR attribute_type(#m, :null))",
            names={"#m": "message"},
            values={":message": dict(message), ":null": "NULL"},
        )
        where = TOMBSTONE if kind == TOMBSTONE else LINK
        return self.store.update_message(code, where, update).outcome == "applied"

    # reading

    def items_for(self, code: str) -> dict[str, dict[str, Any]]:
        """The code's items by kind (link, expiry, tombstone), read consistently."""
        return self.store.items_for(code)

    def links_for(self, codes: list[str]) -> dict[str, dict[str, Any] | None]:
        """Each code's live link, or None (see LinkStore.links_for)."""
        return self.store.links_for(codes)

    def get(self, code: str) -> dict[str, Any]:
        """The public view of a live link or of its tombstone; 404 when neither exists."""
        require_link_shape(code)
        items = self.items_for(code)
        item = items.get(LINK) or items.get(TOMBSTONE)
        if item is None:
            raise NotFound(f"No link {code!r}.")
        return public_view(item, self.short_base_url, self.now())

    def page(self, query: ListQuery) -> dict[str, Any]:
        """One page of links and tombstones, newest first."""
        at = self.now()
        found, cursor = self.indexes.page(query, int(at))
        return {
            "links": [public_view(item, self.short_base_url, at) for item in found],
            "next_cursor": cursor,
        }

    def due_markers(self, at_epoch: int, page_size: int) -> Iterator[list[dict[str, Any]]]:
        return self.indexes.due_markers(at_epoch, page_size)

    # changing

    def patch(self, code: str, patch: LinkPatch) -> dict[str, Any]:
        """Change the link's fields and marker in one transaction, then its object (the
        URL is put back if the object cannot follow)."""
        link = self._live_link(code, "has")
        self._write_patch(code, patch, link["long_url"])
        if patch.url is not None and patch.url != link["long_url"]:
            self._move_redirect(code, written=patch.url, previous=link["long_url"])
        return self.get(code)

    def _live_link(self, code: str, ended: str) -> dict[str, Any]:
        """The code's live link; 410 when it ended ("Link 'x' has <ended> <status>"), 404
        when it never existed."""
        require_link_shape(code)
        items = self.items_for(code)
        link = items.get(LINK)
        if link is None:
            if TOMBSTONE in items:
                raise Problem(410, f"Link {code!r} {ended} {items[TOMBSTONE]['status']}.")
            raise NotFound(f"No link {code!r}.")
        return link

    def _write_patch(self, code: str, patch: LinkPatch, read_url: str) -> None:
        sets, removes = _patch_changes(patch)
        try:
            self.store.update_link(
                code,
                sets=sets,
                removes=removes,
                expected_url=read_url,
                marker=expiry_marker(code, patch.expires_at)
                if patch.expires_at is not None
                else None,
                drop_marker=patch.clear_expiry,
            )
        except LinkChanged:
            raise Conflict(f"Link {code!r} changed meanwhile; read it and try again.") from None

    def _move_redirect(self, code: str, *, written: str, previous: str) -> None:
        """Point the object at the new URL; if S3 refuses, undo this PATCH's long_url,
        unless a newer PATCH (or a retirement) came since: then its value stands."""
        try:
            self.put_redirect(code, written)
        except (ClientError, BotoCoreError) as error:
            self.store.restore_url(code, written=written, previous=previous)
            raise Unavailable(
                "The redirect could not be changed; the link is unchanged "
                "apart from the other fields.",
                retry_after=2,
            ) from error

    def delete(self, code: str) -> None:
        """End the link now: tombstone (status deleted), then the redirect object."""
        for _ in range(RETIRE_ATTEMPTS):
            link = self._live_link(code, "has already")
            if self.tombstones.retire_deleted(link, self._ended_at()):
                break
        else:  # a receipt landed between each read and write: rare, so say so
            raise Conflict(f"Link {code!r} changed meanwhile; try again.")
        # The stream handler deletes it too; doing it here stops the redirect at once.
        self.delete_redirect(code)

    # retiring

    def expire(
        self,
        code: str,
        at_epoch: int,
        known: Mapping[str, dict[str, Any] | None] | None = None,
    ) -> bool:
        """Retire a link whose expiry has passed (the sweeper). Idempotent; True if it
        retired the link now. `known`: links read already (links_for), used for the first
        attempt; a retry reads again."""
        for attempt in range(RETIRE_ATTEMPTS):
            if attempt == 0 and known is not None and code in known:
                link = known[code]
            else:
                link = self.items_for(code).get(LINK)
            if link is None:
                self.tombstones.delete_marker(code)
                return False
            expires_at = link.get("expires_at")
            if expires_at is None or expires_at > at_epoch:
                return False  # extended meanwhile; the marker was rewritten
            if self.tombstones.retire_expired(link, at_epoch, self._ended_at()):
                return True
        return False  # clicked while we retired it; the next run tries again

    def retire_spent(self, code: str) -> bool:
        """Retire a link whose human clicks reached max_clicks, as the sweeper retires an
        expired one (tombstone "expired", reason max_clicks), and delete its object: S3 and
        caches would otherwise keep redirecting. Idempotent; True if it retired it now."""
        for _ in range(RETIRE_ATTEMPTS):
            link = self.items_for(code).get(LINK)
            if link is None:
                return False
            max_clicks = link.get("max_clicks")
            if max_clicks is None or int(link.get("human_clicks", 0)) < int(max_clicks):
                return False  # raised or cleared by a PATCH meanwhile
            if self.tombstones.retire_spent(link, self._ended_at()):
                self.delete_redirect(code)
                return True
        return False  # clicked again while we retired it; the next record tries again

    def bury(self, old_image: Mapping[str, Any], status: str) -> bool:
        """Write the tombstone of a link removed by someone else (DynamoDB TTL), from the
        stream's old image. Idempotent: an existing tombstone is kept."""
        return self.tombstones.bury(old_image, status, self._ended_at())

    def _ended_at(self) -> str:
        return iso(self._clock())


def _patch_changes(patch: LinkPatch) -> tuple[dict[str, Any], list[str]]:
    """The link attributes a patch sets and removes."""
    sets: dict[str, Any] = {}
    removes: list[str] = []
    if patch.url is not None:
        sets["long_url"] = patch.url
    if patch.expires_at is not None:
        sets["expires_at"] = patch.expires_at
        sets["ttl"] = patch.expires_at + TTL_GRACE_SECONDS
    if patch.clear_expiry:
        removes += ["expires_at", "ttl"]
    if patch.max_clicks is not None:
        sets["max_clicks"] = patch.max_clicks
    if patch.clear_max_clicks:
        removes.append("max_clicks")
    if patch.expired_url is not None:
        sets["expired_url"] = patch.expired_url
    if patch.clear_expired_url:
        removes.append("expired_url")
    return sets, removes


class Texter(Protocol):
    """How a link is texted (messaging's Texting; tests hand in a recording fake)."""

    def parse_order(self, sms: dict[str, Any], *, key_id: str) -> Any: ...

    def cancel_order(self, order: Any) -> None: ...

    def send_for_link(self, order: Any, *, code: str, short_url: str) -> dict[str, Any]: ...
