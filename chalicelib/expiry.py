"""Expiry: when a link item leaves the links table, its S3 redirect object goes too.

The links table stream delivers a REMOVE for DynamoDB TTL deletes (userIdentity
dynamodb.amazonaws.com) and for our own deletes alike; both end the redirect.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from chalicelib import runtime

log = logging.getLogger("linktrail.expiry")

LINK_SORT_KEY = "link"


def is_ttl_delete(record: dict[str, Any]) -> bool:
    identity = record.get("userIdentity") or {}
    return bool(
        identity.get("type") == "Service"
        and identity.get("principalId") == "dynamodb.amazonaws.com"
    )


def removed_link_codes(records: Iterable[dict[str, Any]]) -> list[str]:
    """Codes of link items removed in these stream records; other records are ignored."""
    codes: list[str] = []
    for record in records:
        if record.get("eventName") != "REMOVE":
            continue
        keys = record.get("dynamodb", {}).get("Keys", {})
        pk = keys.get("pk", {}).get("S", "")
        if keys.get("sk", {}).get("S") == LINK_SORT_KEY and pk.startswith("link#"):
            codes.append(pk.removeprefix("link#"))
    return codes


def delete_redirects(s3: Any, bucket: str, codes: list[str]) -> None:
    """Idempotent: deleting an object that is already gone succeeds."""
    for start in range(0, len(codes), 1000):
        chunk = codes[start : start + 1000]
        if len(chunk) == 1:
            s3.delete_object(Bucket=bucket, Key=chunk[0])
            continue
        answer = s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": c} for c in chunk], "Quiet": True}
        )
        if answer.get("Errors"):
            # Raise so the stream batch is retried; deletes are idempotent.
            raise RuntimeError(
                f"S3 refused {len(answer['Errors'])} deletes: {answer['Errors'][:3]}"
            )


def on_links_stream(records: list[dict[str, Any]]) -> None:
    codes = removed_link_codes(records)
    if not codes:
        return
    settings = runtime.settings()
    delete_redirects(runtime.s3(), settings.redirect_bucket, codes)
    ttl = sum(1 for r in records if r.get("eventName") == "REMOVE" and is_ttl_delete(r))
    log.info("redirects removed", extra={"codes": codes, "ttl_deletes": ttl})
