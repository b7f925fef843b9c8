"""The tags of links, read in bulk for the links stream's click consumers: a counter item
does not copy its link's tags (up to 20 of 50 characters would outgrow the one write unit a
click may cost), so a batch of clicks reads them here, from the link or, once it has
ended, its tombstone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from chalicelib.links.items import LINK, TOMBSTONE, code_of, from_item, link_key

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient

CODES_PER_READ = 50  # a link and its tombstone per code: BatchGetItem takes 100 keys
READS = 5  # BatchGetItems per 50 codes at most (unprocessed keys are read again)


class LinkTags:
    """Tags by code. Handed its client and the links table's name."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._ddb = dynamodb
        self._table = table

    def tags_for(self, codes: list[str]) -> dict[str, tuple[str, ...]]:
        """Each code's tags (codes with neither link nor tombstone are left out). One
        eventually consistent BatchGetItem per 50 codes: tags are set at creation and never
        change, so a stale read cannot be wrong."""
        found: dict[str, tuple[str, ...]] = {}
        unique = list(dict.fromkeys(codes))
        for start in range(0, len(unique), CODES_PER_READ):
            chunk = unique[start : start + CODES_PER_READ]
            keys = [link_key(c, kind) for c in chunk for kind in (LINK, TOMBSTONE)]
            request: dict[str, Any] = {"Keys": keys, "ProjectionExpression": "pk, tags"}
            for _ in range(READS):
                answer = self._ddb.batch_get_item(RequestItems={self._table: cast(Any, request)})
                for raw in answer.get("Responses", {}).get(self._table, []):
                    tags = from_item(raw).get("tags") or []
                    found[code_of(str(raw["pk"]["S"]))] = tuple(str(t) for t in tags)
                left = answer.get("UnprocessedKeys", {}).get(self._table)
                if not left:
                    break
                request["Keys"] = list(left["Keys"])
            else:
                raise RuntimeError("link tags left unread: the batch is retried")
        return found
