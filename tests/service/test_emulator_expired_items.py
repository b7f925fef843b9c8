"""The emulator's own list of expired items (local/expired_items.py) finds what the local
TTL pump's Scan would find, over moto's tables in place, and through the emulator's
DynamoDB endpoint the pump asks it as it would."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3

from local import emulator, expired_items
from local.pumps import expire_ttl_items, scanned_expired_keys

NOW = 1_800_000_000


def seed(dynamodb: Any, table: str, text_ttl: bool = True) -> None:
    ttls: dict[str, dict[str, str] | None] = {
        "past": {"N": str(NOW - 1)}, "just": {"N": f"{NOW - 0.5}"}, "now": {"N": str(NOW)},
        "future": {"N": str(NOW + 60)}, "none": None,
    }
    if text_ttl:  # DynamoDB ignores it; moto's Scan filter raises TypeError on it
        ttls["text"] = {"S": "1"}
    for name, ttl in ttls.items():
        for sk in ("a", "b"):
            item = {"pk": {"S": f"item#{name}"}, "sk": {"S": sk}}
            dynamodb.put_item(TableName=table, Item={**item, **({"ttl": ttl} if ttl else {})})


def keyset(keys: Any) -> set[tuple[str, str]]:
    return {(k["pk"]["S"], k["sk"]["S"]) for k in keys}


def test_it_finds_what_a_scan_finds(aws: dict[str, str]) -> None:
    dynamodb = boto3.client("dynamodb")
    seed(dynamodb, aws["APP_TABLE"], text_ttl=False)
    ours = expired_items.expired_keys(aws["APP_TABLE"], "ttl", NOW, "us-east-1")
    scanned = scanned_expired_keys(dynamodb)(aws["APP_TABLE"], "ttl", NOW)
    assert keyset(ours) == keyset(scanned) == {
        ("item#past", "a"), ("item#past", "b"), ("item#just", "a"), ("item#just", "b"),
    }


def test_the_pump_deletes_what_the_emulator_lists(aws: dict[str, str]) -> None:
    dynamodb = boto3.client("dynamodb")
    seed(dynamodb, aws["APP_TABLE"])

    def through_the_endpoint(table: str, attribute: str, now: float) -> list[Any]:
        """As the emulator answers the pump: the request goes through its DynamoDB lock."""
        body = json.dumps({"TableName": table, "Attribute": attribute, "Now": now,
                           "Region": "us-east-1"}).encode()
        environ = {"HTTP_X_AMZ_TARGET": expired_items.TARGET, "CONTENT_LENGTH": str(len(body)),
                   "wsgi.input": io.BytesIO(body)}
        statuses: list[str] = []
        app = emulator.serialize_dynamodb(lambda *_: [b"moto is not asked"])
        [answer] = app(environ, lambda status, headers: statuses.append(status))
        assert statuses == ["200 OK"]
        return list(json.loads(answer)["Keys"])

    deleted = expire_ttl_items(dynamodb, [aws["APP_TABLE"]], now=NOW,
                               expired=through_the_endpoint)
    assert keyset(k for _, k in deleted) == {("item#past", "a"), ("item#past", "b"),
                                             ("item#just", "a"), ("item#just", "b")}
    left = dynamodb.scan(TableName=aws["APP_TABLE"])["Items"]
    assert {i["pk"]["S"] for i in left} >= {"item#now", "item#future", "item#text", "item#none"}
    assert not {i["pk"]["S"] for i in left} & {"item#past", "item#just"}


def test_a_bad_request_is_answered_not_raised() -> None:
    environ = {"HTTP_X_AMZ_TARGET": expired_items.TARGET, "CONTENT_LENGTH": "2",
               "wsgi.input": io.BytesIO(b"{}")}
    statuses: list[str] = []
    [answer] = expired_items.answer(environ, lambda status, headers: statuses.append(status))
    assert statuses == ["400 Bad Request"] and "KeyError" in json.loads(answer)["message"]
