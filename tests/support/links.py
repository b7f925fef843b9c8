"""Links as tests make them: through the API, or as stored items written straight into the
links table (the shape chalicelib.links.store writes)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.links.items import COUNTED, counter_for, from_item, to_item

LINK_CREATED_AT = "2026-01-01T00:00:00.000Z"
LINK_KEY_ID = "testkey00001"


def post(client: Any, headers: dict[str, str], body: Any) -> Any:
    return client.http.post("/api/links", headers=headers, body=json.dumps(body))


def new_link_item(code: str, long_url: str, **typed: Any) -> dict[str, Any]:
    """A link item as a new link is stored; `typed` adds or replaces attributes (counts in
    it belong on the counter: see new_counter_item)."""
    return {
        "pk": {"S": f"link#{code}"},
        "sk": {"S": "link"},
        "code": {"S": code},
        "long_url": {"S": long_url},
        "created_at": {"S": LINK_CREATED_AT},
        "tags": {"L": []},
        "key_id": {"S": LINK_KEY_ID},
        **{name: value for name, value in typed.items() if name not in COUNTED},
    }


def new_counter_item(code: str, long_url: str, **typed: Any) -> dict[str, Any]:
    """The counter item stored with new_link_item(code, long_url, **typed): the attributes
    it copies from the link, and the counts `typed` names (else 0)."""
    link = from_item(new_link_item(code, long_url, **typed))
    counter = to_item(counter_for(link))
    counter.update({name: value for name, value in typed.items() if name in COUNTED})
    return counter


def put_link_items(dynamodb: Any, table: str, code: str, long_url: str, **typed: Any) -> None:
    """A link and its counter, as the links store writes them."""
    dynamodb.put_item(TableName=table, Item=new_link_item(code, long_url, **typed))
    dynamodb.put_item(TableName=table, Item=new_counter_item(code, long_url, **typed))


def stored_link(dynamodb: Any, table: str, code: str) -> dict[str, Any] | None:
    """A link item with its counter's attributes over it (DynamoDB JSON), as a read of the
    link sees it; None when there is no link item."""
    found = {}
    for kind in ("link", "counter"):
        item = dynamodb.get_item(
            TableName=table,
            Key={"pk": {"S": f"link#{code}"}, "sk": {"S": kind}},
            ConsistentRead=True,
        ).get("Item")
        found[kind] = item or {}
    if not found["link"]:
        return None
    return {**found["link"], **{k: v for k, v in found["counter"].items() if k not in ("sk",)}}
