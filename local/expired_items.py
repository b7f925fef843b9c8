"""The emulator's answer to "which items of this table have expired?", for the local TTL
pump: read from moto's tables in place, where a Scan is slow.

What moto does (moto 5.x): a Scan sizes, sorts and filters every item of the table through
its expression evaluator, about 140 µs an item, and holds the emulator's DynamoDB lock for
each page. The pump asked every 2 seconds: with `make demo-data`'s 9,000 items, DynamoDB
was locked for over a second of every three, and every request behind it waited.

What we do: a request of our own through the DynamoDB endpoint (X-Amz-Target
`LinktrailLocal.ExpiredKeys`, a JSON body naming the table, its TTL attribute, the moment
and the region), answered under the same lock with the keys of the items whose TTL
attribute is a number below the moment. The pump deletes them as before, each delete
conditional on the TTL still being past (local/pumps.py).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

TARGET = "LinktrailLocal.ExpiredKeys"

Keys = dict[str, Any]


def expired_keys(table_name: str, attribute: str, now: float, region: str) -> list[Keys]:
    """The keys of `table_name`'s items whose `attribute` is a number below `now`."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][region].get_table(table_name)
    found: list[Keys] = []
    partitions: list[Any] = list(table.items.values())
    for partition in partitions:
        items: list[Any] = list(partition.values()) if table.range_key_attr else [partition]
        for item in items:
            value = item.attrs.get(attribute)
            if value is None or value.type != "N" or float(value.value) >= now:
                continue
            keys = {table.hash_key_attr: item.hash_key.to_json()}
            if table.range_key_attr is not None:
                keys[table.range_key_attr] = item.range_key.to_json()
            found.append(keys)
    return found


def answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """The WSGI answer to a TARGET request (the caller holds the DynamoDB lock)."""
    body: dict[str, Any]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        asked = json.loads(environ["wsgi.input"].read(length))
        keys = expired_keys(str(asked["TableName"]), str(asked["Attribute"]),
                            float(asked["Now"]), str(asked["Region"]))
        status, body = "200 OK", {"Keys": keys}
    except Exception as error:  # answered, not raised: the pump's loop logs it
        status, body = "400 Bad Request", {"message": f"{type(error).__name__}: {error}"}
    start_response(status, [("Content-Type", "application/x-amz-json-1.0")])
    return [json.dumps(body).encode()]


def asker(endpoint: str, region: str) -> Callable[[str, str, float], Iterable[Keys]]:
    """The pump's side: a function (table, attribute, now) -> expired keys, asking the
    emulator at `endpoint`."""

    def ask(table: str, attribute: str, now: float) -> list[Keys]:
        body = json.dumps({"TableName": table, "Attribute": attribute, "Now": now,
                           "Region": region}).encode()
        request = urllib.request.Request(endpoint, data=body, method="POST", headers={
            "X-Amz-Target": TARGET, "Content-Type": "application/x-amz-json-1.0"})
        with urllib.request.urlopen(request, timeout=30) as reply:
            return list(json.loads(reply.read())["Keys"])

    return ask
