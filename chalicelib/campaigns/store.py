"""The one owner of campaign items in the links table (campaign#<id> / campaign): their
conditional put, their notes (progress, waiting, abandoned recipients), the abandoned
mark on recipient claims, and the newest-first list of campaigns (gsi1 "campaigns")."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, cast

from chalicelib.campaigns.model import (
    ABANDONED,
    LIST_PARTITION,
    CampaignItem,
    CampaignListQuery,
    campaign_key,
)
from chalicelib.links.items import from_item, to_item

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient

log = logging.getLogger("linktrail.campaigns")

# What a list row shows, and the keys a cursor names: a campaign item's recipients' abandoned
# indices and codes can be long, and the list does not show them.
_LISTED = ("campaign_id", "name", "url", "channel", "created_at", "total", "expires_at")
_KEYS = ("pk", "sk", "gsi1pk", "gsi1sk")


class ClaimItem(TypedDict):
    """A recipient's claim (campaign#<id> / recipient#<index>), as plain values."""

    pk: str
    sk: str
    ref: NotRequired[str]
    code: NotRequired[str]  # missing on a claim written only to abandon its recipient
    abandoned_at: NotRequired[str]


@dataclass(frozen=True)
class RecipientClaim:
    """A recipient's claim, put in the same transaction as its link (a creation step links
    carries): at most one link per recipient, whatever the queue redelivers."""

    table: str
    campaign_id: str
    index: int
    ref: str | None

    @property
    def key(self) -> dict[str, Any]:
        return {
            "pk": {"S": f"campaign#{self.campaign_id}"},
            "sk": {"S": f"recipient#{self.index:05d}"},
        }

    def put(self, code: str, created_at: str) -> dict[str, Any]:
        claim = to_item({"code": code, "ref": self.ref, "created_at": created_at})
        return {
            "TableName": self.table,
            "Item": {**self.key, **claim},
            "ConditionExpression": "attribute_not_exists(pk)",
        }


class CampaignStore:
    """Campaign items and their recipients' claims, handed the DynamoDB client and table."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._ddb = dynamodb
        self._table = table

    def recipient_claim(self, campaign_id: str, index: int, ref: str | None) -> RecipientClaim:
        return RecipientClaim(self._table, campaign_id, index, ref)

    def create(self, item: CampaignItem) -> bool:
        """Write a new campaign; False when its id is taken (an Idempotency-Key's replay)."""
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=to_item(item),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def cancel(self, campaign_id: str) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key=campaign_key(campaign_id),
            UpdateExpression="SET #s = :c",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":c": {"S": "cancelled"}},
        )

    def get(self, campaign_id: str) -> CampaignItem | None:
        found = self._ddb.get_item(
            TableName=self._table, Key=campaign_key(campaign_id), ConsistentRead=True
        ).get("Item")
        # Written only by create and the notes below, so it has the CampaignItem shape.
        return cast(CampaignItem, from_item(found)) if found else None

    def page(self, query: CampaignListQuery) -> tuple[list[CampaignItem], dict[str, Any] | None]:
        """One page of campaign items, newest first, and the key the next page starts after
        (None on the last). One more item than the page is asked for, so a full last page
        hands out no cursor to an empty one."""
        names = {f"#a{n}": attribute for n, attribute in enumerate(_LISTED)}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": {"S": LIST_PARTITION}},
            "ExpressionAttributeNames": names,
            "ProjectionExpression": ", ".join((*_KEYS, *names)),
            "ScanIndexForward": False,
            "Limit": query.limit + 1,
        }
        if query.start_key is not None:
            kwargs["ExclusiveStartKey"] = query.start_key
        answer = self._ddb.query(**kwargs)
        items = answer.get("Items", [])
        next_key: dict[str, Any] | None
        if len(items) > query.limit:
            items = items[: query.limit]
            next_key = {k: items[-1][k] for k in _KEYS}
        else:  # a read cut short by DynamoDB's 1 MB page continues where it stopped
            last = answer.get("LastEvaluatedKey")
            next_key = dict(last) if last else None
        # The projection of items create and the notes wrote: the listed fields.
        return [cast(CampaignItem, from_item(item)) for item in items], next_key

    def note(
        self,
        campaign_id: str,
        expression: str,
        values: dict[str, Any],
        condition: str | None = None,
    ) -> None:
        """A best-effort note on the campaign item: failing it must not fail the chunk."""
        condition_argument: dict[str, Any] = (
            {"ConditionExpression": condition} if condition else {}
        )
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=campaign_key(campaign_id),
                UpdateExpression=expression,
                ExpressionAttributeValues=values,
                **condition_argument,
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            pass
        except Exception:
            log.warning("could not update the campaign item", exc_info=True)

    def claim(self, claim: RecipientClaim) -> ClaimItem:
        """A claim that exists (its link's transaction wrote it), read consistently."""
        found = self._ddb.get_item(TableName=self._table, Key=claim.key, ConsistentRead=True)
        # Written by links' create transaction or abandon_claim: the ClaimItem shape.
        return cast(ClaimItem, from_item(found["Item"]))

    def abandon_claim(self, claim: RecipientClaim, at: str) -> str | None:
        """Mark the recipient's claim abandoned (creating it without a code where no link
        was made, so none ever is); the code of its link, if it has one. Idempotent."""
        values: dict[str, Any] = {":at": {"S": at}}
        expression = "SET abandoned_at = if_not_exists(abandoned_at, :at)"
        ref_arguments: dict[str, Any] = {}
        if claim.ref is not None:
            values[":ref"] = {"S": claim.ref}
            ref_arguments["ExpressionAttributeNames"] = {"#ref": "ref"}
            expression += ", #ref = if_not_exists(#ref, :ref)"
        stored = self._ddb.update_item(
            TableName=self._table,
            Key=claim.key,
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
            **ref_arguments,
        )["Attributes"]
        return str(stored["code"]["S"]) if "code" in stored else None

    def record_abandoned(
        self, campaign_id: str, unlinked: list[int], codes: list[str], at: str
    ) -> None:
        """Add abandoned recipients to the campaign item, which statistics read:
        `abandoned` indices without a link, `abandoned_codes` of links never texted."""
        additions = []
        values: dict[str, Any] = {":reason": {"S": ABANDONED}, ":at": {"S": at}}
        if unlinked:
            additions.append("abandoned :unlinked")
            values[":unlinked"] = {"NS": [str(n) for n in unlinked]}
        if codes:
            additions.append("abandoned_codes :codes")
            values[":codes"] = {"SS": codes}
        expression = (
            "SET abandoned_reason = :reason, abandoned_at = if_not_exists(abandoned_at, :at)"
        )
        if additions:
            expression += " ADD " + ", ".join(additions)
        self._ddb.update_item(
            TableName=self._table,
            Key=campaign_key(campaign_id),
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
        )
