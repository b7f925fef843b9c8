"""The real local stack (local.launch: `make dev`'s entry point on free ports, its own
state directory), and plain HTTP to it as curl would send it."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from local.launch import LocalStack, free_ports, start_local_stack, stop_local_stack

__all__ = [
    "LocalStack", "api_call", "free_ports", "http", "redirect_of", "start_local_stack",
    "stop_local_stack", "warehouse_counts",
]


def http(
    method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def api_call(
    method: str, url: str, key: str, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    """A JSON call with the admin key; the answer's JSON (None when empty)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            raw = answer.read()
            return answer.status, dict(answer.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, dict(error.headers), json.loads(raw) if raw else None


def redirect_of(stack: LocalStack, code: str) -> str | None:
    """The redirect the stack's bucket holds for `code`, if any."""
    s3 = stack.boto3_client("s3")
    try:
        return str(
            s3.head_object(Bucket=stack.env["REDIRECT_BUCKET"], Key=code)["WebsiteRedirectLocation"]
        )
    except s3.exceptions.ClientError:
        return None


def warehouse_counts(stack: Any, prefix: str) -> tuple[int, int]:
    """(distinct message_ids, rows) of this test's events in the sink's warehouse."""
    db = Path(stack.env["STITCH_SINK_DB"])
    if not db.exists():
        return 0, 0
    connection = sqlite3.connect(db, timeout=10)
    try:
        distinct, total = connection.execute(
            "SELECT count(DISTINCT message_id), count(*) FROM events WHERE message_id LIKE ?",
            (f"{prefix}%",),
        ).fetchone()
        return int(distinct), int(total)
    except sqlite3.OperationalError:
        return 0, 0  # the table appears with the first batch
    finally:
        connection.close()
