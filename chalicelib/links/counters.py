"""The writes of a link's counter item that go with a change of its link: a PATCH copies
what the counter mirrors, a retirement deletes it with the counts as read (items.py has the
item's shape; links' store and tombstones run these in their transactions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from chalicelib.links.items import COPIED, COUNTER, link_key, to_attribute

if TYPE_CHECKING:
    from types_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


def copied_update(
    table: str, code: str, sets: Mapping[str, Any], removes: list[str]
) -> TransactWriteItemTypeDef | None:
    """The counter's share of a link update (the attributes it copies), or None. It is
    conditioned on the counter existing, so an update never makes a counter without counts."""
    copied_sets = {n: v for n, v in sets.items() if n in COPIED}
    copied_removes = [n for n in removes if n in COPIED]
    if not copied_sets and not copied_removes:
        return None
    expression = ""
    if copied_sets:
        expression += "SET " + ", ".join(f"#{n} = :{n}" for n in copied_sets)
    if copied_removes:
        expression += " REMOVE " + ", ".join(f"#{n}" for n in copied_removes)
    update: dict[str, Any] = {
        "TableName": table,
        "Key": link_key(code, COUNTER),
        "UpdateExpression": expression.strip(),
        "ConditionExpression": "attribute_exists(pk)",
        "ExpressionAttributeNames": {f"#{n}": n for n in [*copied_sets, *copied_removes]},
    }
    if copied_sets:
        update["ExpressionAttributeValues"] = {
            f":{n}": to_attribute(v) for n, v in copied_sets.items()
        }
    return cast("TransactWriteItemTypeDef", {"Update": update})


def delete_as_read(table: str, link: Mapping[str, Any]) -> TransactWriteItemTypeDef:
    """Delete the link's counter unless a click landed since `link` (with its merged
    counts) was read, so a tombstone written with it holds the final counts. A link from
    before counter items has none: then none may have appeared either."""
    key = link_key(str(link["code"]), COUNTER)
    if not link.get("counted"):
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
    else:
        condition = {
            "ConditionExpression": "human_clicks = :h AND bot_clicks = :b",
            "ExpressionAttributeValues": {
                ":h": {"N": str(link.get("human_clicks", 0))},
                ":b": {"N": str(link.get("bot_clicks", 0))},
            },
        }
    delete = {"TableName": table, "Key": key, **condition}
    return cast("TransactWriteItemTypeDef", {"Delete": delete})
