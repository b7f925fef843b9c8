"""Texting as tests drive it: link items with a message, orders and sends through the
app's Texting, webhooks signed like Vonage signs them (real JWTs)."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import jwt
from boto3.dynamodb.types import TypeDeserializer

from chalicelib import wiring
from tests.support.links import LINK_KEY_ID, put_link_items

NUMBER = "+447400123456"  # a valid GB mobile
MASKED = "+44*******456"


def put_link(code: str, **extra: Any) -> None:
    """A link item as the links store writes it; `extra` holds typed attributes."""
    put_link_items(
        wiring.dynamodb(), wiring.settings().links_table, code, "https://example.com/offer", **extra
    )


def link_item(code: str) -> dict[str, Any] | None:
    found = wiring.dynamodb().get_item(
        TableName=wiring.settings().links_table,
        Key={"pk": {"S": f"link#{code}"}, "sk": {"S": "link"}}, ConsistentRead=True,
    )
    return found.get("Item")


def message_of(code: str) -> dict[str, Any]:
    item = link_item(code)
    assert item is not None and "message" in item
    message: dict[str, Any] = TypeDeserializer().deserialize(item["message"])
    return message


def order(to: str = NUMBER, **sms: Any) -> Any:
    return wiring.texting().parse_order({"to": to, **sms}, key_id=LINK_KEY_ID)


def send(code: str, **sms: Any) -> dict[str, Any]:
    put_link(code)
    return wiring.texting().send_for_link(order(**sms), code=code, short_url=f"http://sho.rt/{code}")


def signed(body: dict[str, Any] | bytes, secret: str, *, payload_hash: str | None = None,
           algorithm: str = "HS256") -> tuple[dict[str, str], bytes]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    token = jwt.encode(
        {"iat": int(time.time()), "jti": "j1", "iss": "Vonage",
         "payload_hash": payload_hash or hashlib.sha256(raw).hexdigest()},
        secret, algorithm=algorithm,
    )
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, raw


def receipt(code: str, status: str, message_uuid: str, **extra: Any) -> dict[str, Any]:
    return {"message_uuid": message_uuid, "to": NUMBER[1:], "from": "linktrail",
            "timestamp": f"2026-01-01T00:00:0{len(status) % 10}.000Z", "status": status,
            "channel": "sms", "client_ref": code, **extra}


def post(client: Any, path: str, headers: dict[str, str], raw: bytes) -> Any:
    return client.http.post(path, headers=headers, body=raw)
