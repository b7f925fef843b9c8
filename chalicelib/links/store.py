"""The one owner of writes to a code's items in the links table (link, expiry marker,
tombstone; see items.py for their keys and shapes) and of a campaign recipient's claim
written with its link. Every conditional write and transaction on them is here; other
features (messaging, click webhooks) change a link through the methods below and never
name the table or build a key.

Creating a link is one TransactWriteItems: tombstone absent, link absent, put link and its
counter (and its expiry marker, and a campaign recipient's claim). Retiring one is another:
delete link, counter and marker, conditioned on them being what was read, and put its
tombstone. A link is read with its counter's counts merged in (items.merged).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from botocore.exceptions import ClientError

from chalicelib.core.aws import batch_get
from chalicelib.core.settings import Settings
from chalicelib.links import counters
from chalicelib.links.items import (
    COUNTER,
    EXPIRY,
    LINK,
    TOMBSTONE,
    ExpiryMarker,
    Kind,
    LinkItem,
    code_of,
    counter_for,
    from_attribute,
    from_item,
    link_key,
    link_pk,
    merged,
    to_attribute,
    to_item,
)

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient
    from types_boto3_dynamodb.type_defs import PutTypeDef, TransactWriteItemTypeDef



class CodeTaken(Exception):
    """The code belongs to a live link or a tombstone."""


class StepRefused(Exception):
    """The condition of a creation's extra step failed (see CreationStep)."""


class StoreBusy(Exception):
    """A transaction was cancelled for another reason than a condition (a conflict)."""


class LinkChanged(Exception):
    """The link is not the one that was read: written meanwhile."""


class NoSuchLink(Exception):
    """The code has no live link."""


class CreationStep(Protocol):
    """A write another feature adds to a link's creation transaction, all or nothing with
    the link (campaigns: a recipient's claim). Its owner builds it; links only carries it,
    and deletes it again when it undoes the creation."""

    @property
    def key(self) -> dict[str, Any]: ...

    def put(self, code: str, created_at: str) -> dict[str, Any]:
        """The conditional Put (TransactWriteItems' shape) for the link `code`; when its
        condition fails the creation raises StepRefused."""
        ...


UpdateOutcome = Literal["applied", "stale", "missing"]


@dataclass(frozen=True)
class MessageUpdate:
    """A conditional change of the `message` attribute (messaging writes the expressions;
    `values` are plain values, converted here)."""

    expression: str
    condition: str
    names: Mapping[str, str]
    values: Mapping[str, Any]


@dataclass(frozen=True)
class UpdateResult:
    """applied; stale (the item is there, the condition said no; `old` is the item as it
    is); or missing (no such item: the condition's path checks keep one from being made)."""

    outcome: UpdateOutcome
    old: dict[str, Any] | None = None


def cancellation_codes(error: ClientError) -> list[str]:
    reasons: list[Mapping[str, Any]] = error.response.get("CancellationReasons", [])  # type: ignore[assignment]
    return [str(r.get("Code", "None")) for r in reasons]


class LinkStore:
    """A code's items in the links table. Handed its client and the table's name."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._ddb = dynamodb
        self._table = table

    @classmethod
    def from_settings(cls, dynamodb: DynamoDBClient, settings: Settings) -> LinkStore:
        """The store of the deployment's links table."""
        return cls(dynamodb, settings.links_table)

    # creating

    def insert(
        self, item: LinkItem, marker: ExpiryMarker | None, step: CreationStep | None
    ) -> None:
        """Write a new link (with its marker and the caller's extra step) unless the code is
        taken. Raises CodeTaken, StepRefused or StoreBusy."""
        code = item["code"]
        actions: list[TransactWriteItemTypeDef] = [
            {
                "ConditionCheck": {
                    "TableName": self._table,
                    "Key": link_key(code, TOMBSTONE),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(item),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {"Put": {"TableName": self._table, "Item": to_item(counter_for(item))}},
        ]
        if marker is not None:
            actions.append({"Put": {"TableName": self._table, "Item": to_item(marker)}})
        if step is not None:
            actions.append({"Put": cast("PutTypeDef", step.put(code, item["created_at"]))})
        try:
            self._ddb.transact_write_items(TransactItems=actions)
        except self._ddb.exceptions.TransactionCanceledException as error:
            reasons = cancellation_codes(error)
            if step is not None and reasons[-1] == "ConditionalCheckFailed":
                raise StepRefused() from None
            if "ConditionalCheckFailed" not in reasons:
                raise StoreBusy() from None
            raise CodeTaken(code) from None

    def remove_inserted(self, code: str, step: CreationStep | None) -> None:
        """Remove what insert wrote (AWS errors propagate: the caller retries)."""
        undo: list[TransactWriteItemTypeDef] = [
            {"Delete": {"TableName": self._table, "Key": link_key(code)}},
            {"Delete": {"TableName": self._table, "Key": link_key(code, COUNTER)}},
            {"Delete": {"TableName": self._table, "Key": link_key(code, EXPIRY)}},
        ]
        if step is not None:
            undo.append({"Delete": {"TableName": self._table, "Key": step.key}})
        self._ddb.transact_write_items(TransactItems=undo)

    def put_marker(self, marker: ExpiryMarker) -> None:
        self._ddb.put_item(TableName=self._table, Item=to_item(marker))

    def drop_repair_marker(self, code: str, created_at: str) -> None:
        """Delete the code's repair marker if it still names the link created at
        `created_at`."""
        with contextlib.suppress(self._ddb.exceptions.ConditionalCheckFailedException):
            self._ddb.delete_item(**self._repair_marker_delete(code, created_at))

    def remove_undone(self, code: str, created_at: str) -> bool:
        """Remove the link created at `created_at` and its repair marker, in one
        transaction; False when either changed meanwhile."""
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": link_key(code),
                            "ConditionExpression": "created_at = :created",
                            "ExpressionAttributeValues": {":created": {"S": created_at}},
                        }
                    },
                    {"Delete": {"TableName": self._table, "Key": link_key(code, COUNTER)}},
                    {"Delete": self._repair_marker_delete(code, created_at)},
                ]
            )
        except self._ddb.exceptions.TransactionCanceledException:
            return False
        return True

    def _repair_marker_delete(self, code: str, created_at: str) -> Any:
        return {
            "TableName": self._table,
            "Key": link_key(code, EXPIRY),
            "ConditionExpression": "undo_of = :created",
            "ExpressionAttributeValues": {":created": {"S": created_at}},
        }

    # reading

    def items_for(self, code: str) -> dict[str, dict[str, Any]]:
        """The code's items by kind (link with its counts merged in, counter, expiry,
        tombstone), read consistently in one Query."""
        answer = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": link_pk(code)}},
            ConsistentRead=True,
        )
        found = {str(i["sk"]["S"]): from_item(i) for i in answer.get("Items", [])}
        # An item another writer created by updating a missing key has no long_url: ignore it.
        if LINK in found and "long_url" not in found[LINK]:
            found.pop(LINK)
        if LINK in found:
            found[LINK] = merged(found[LINK], found.get(COUNTER))
        return found

    def links_for(self, codes: list[str]) -> dict[str, dict[str, Any] | None]:
        """Each code's live link (counts merged in), or None when it has none, read
        consistently 50 codes (a link and its counter each) per BatchGetItem: one call where
        items_for would take 50. Codes DynamoDB left unprocessed are left out; the caller
        reads those itself."""
        unique = list(dict.fromkeys(codes))
        keys = [link_key(c, kind) for c in unique for kind in (LINK, COUNTER)]
        read = batch_get(self._ddb, self._table, keys, consistent=True, calls=1)
        items: dict[tuple[str, str], dict[str, Any]] = {
            (code_of(str(raw["pk"]["S"])), str(raw["sk"]["S"])): from_item(raw)
            for raw in read.items
        }
        unprocessed = {code_of(str(key["pk"]["S"])) for key in read.unread}
        found: dict[str, dict[str, Any] | None] = {}
        for code in unique:
            if code in unprocessed:
                continue
            link = items.get((code, LINK))
            # As in items_for: an item without long_url is not a link.
            found[code] = (
                merged(link, items.get((code, COUNTER)))
                if link is not None and "long_url" in link
                else None
            )
        return found

    # changing

    def update_link(
        self,
        code: str,
        *,
        sets: Mapping[str, Any],
        removes: list[str],
        expected_url: str,
        marker: ExpiryMarker | None = None,
        drop_marker: bool = False,
    ) -> None:
        """SET and REMOVE the link's attributes (plain values), and put or delete its
        expiry marker, in one transaction conditioned on the URL being `expected_url` (the
        one a caller may have to restore). Raises LinkChanged."""
        names = {f"#{n}": n for n in [*sets, *removes]}
        expression = ""
        if sets:
            expression += "SET " + ", ".join(f"#{n} = :{n}" for n in sets)
        if removes:
            expression += " REMOVE " + ", ".join(f"#{n}" for n in removes)
        names["#long_url"] = "long_url"
        values = {f":{n}": to_attribute(v) for n, v in sets.items()}
        values[":old_url"] = {"S": expected_url}
        actions: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": link_key(code),
                    "UpdateExpression": expression.strip(),
                    "ConditionExpression": "#long_url = :old_url",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        copied = counters.copied_update(self._table, code, sets, removes)
        if copied is not None:
            actions.append(copied)
        if marker is not None:
            actions.append({"Put": {"TableName": self._table, "Item": to_item(marker)}})
        elif drop_marker:
            actions.append({"Delete": {"TableName": self._table, "Key": link_key(code, EXPIRY)}})
        try:
            self._ddb.transact_write_items(TransactItems=actions)
        except self._ddb.exceptions.TransactionCanceledException:
            raise LinkChanged(code) from None

    def restore_url(self, code: str, *, written: str, previous: str) -> None:
        """Set long_url back to `previous` on the link and its counter, each unless it is no
        longer `written` (changed again meanwhile: then nothing of ours is left to undo)."""
        for kind in (LINK, COUNTER):
            with contextlib.suppress(self._ddb.exceptions.ConditionalCheckFailedException):
                self._ddb.update_item(
                    TableName=self._table,
                    Key=link_key(code, kind),
                    UpdateExpression="SET long_url = :old",
                    ConditionExpression="long_url = :written",
                    ExpressionAttributeValues={
                        ":old": {"S": previous},
                        ":written": {"S": written},
                    },
                )

    def record_webhook_failure(self, code: str, error: str, at: str) -> None:
        """Count a click webhook given up on, and keep its error, on the live link (nothing
        when the link is gone)."""
        with contextlib.suppress(self._ddb.exceptions.ConditionalCheckFailedException):
            self._ddb.update_item(
                TableName=self._table,
                Key=link_key(code),
                UpdateExpression=(
                    "SET webhook_failures = if_not_exists(webhook_failures, :zero) + :one, "
                    "last_webhook_error = :error, last_webhook_error_at = :at"
                ),
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                    ":error": {"S": error},
                    ":at": {"S": at},
                },
            )

    # the message (messaging's attribute)

    def read_message(self, code: str) -> Any:
        """The live link's `message` (DynamoDB numbers as Decimal), None when it has none;
        raises NoSuchLink. One consistent GetItem of just that attribute."""
        item = self._ddb.get_item(
            TableName=self._table,
            Key=link_key(code),
            ConsistentRead=True,
            ProjectionExpression="pk, #m",
            ExpressionAttributeNames={"#m": "message"},
        ).get("Item")
        if item is None:
            raise NoSuchLink(code)
        return from_attribute(item["message"]) if "message" in item else None

    def update_message(self, code: str, kind: Kind, update: MessageUpdate) -> UpdateResult:
        """One conditional UpdateItem of the code's `kind` item (link or tombstone)."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=link_key(code, kind),
                UpdateExpression=update.expression,
                ConditionExpression=update.condition,
                ExpressionAttributeNames=dict(update.names),
                ExpressionAttributeValues={k: to_attribute(v) for k, v in update.values.items()},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._ddb.exceptions.ConditionalCheckFailedException as failed:
            # ALL_OLD puts the item (if any) into the error's response.
            old = cast(Mapping[str, Any], failed.response).get("Item")
            if not old:
                return UpdateResult("missing")
            return UpdateResult("stale", {k: from_attribute(v) for k, v in old.items()})
        return UpdateResult("applied")
