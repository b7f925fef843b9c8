"""The tags of links, read in bulk for the links stream's click consumers: a counter item
does not copy its link's tags (up to 20 of 50 characters would outgrow the one write unit a
click may cost), so a batch of clicks reads them here, from the link or, once it has
ended, its tombstone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.core.aws import batch_get
from chalicelib.links.items import LINK, TOMBSTONE, code_of, from_item, link_key

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient

READS = 5  # BatchGetItems per 50 codes (a link and its tombstone each) at most


class LinkTags:
    """Tags by code. Handed its client and the links table's name."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._ddb = dynamodb
        self._table = table

    def tags_for(self, codes: list[str]) -> dict[str, tuple[str, ...]]:
        """Each code's tags (codes with neither link nor tombstone are left out). One
        eventually consistent BatchGetItem per 50 codes: tags are set at creation and never
        change, so a stale read cannot be wrong."""
        unique = list(dict.fromkeys(codes))
        keys = [link_key(c, kind) for c in unique for kind in (LINK, TOMBSTONE)]
        read = batch_get(self._ddb, self._table, keys, projection="pk, tags", calls=READS)
        if read.unread:
            raise RuntimeError("link tags left unread: the batch is retried")
        return {
            code_of(str(raw["pk"]["S"])): tuple(str(t) for t in from_item(raw).get("tags") or [])
            for raw in read.items
        }
