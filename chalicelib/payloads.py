"""Request bodies: size, media type and JSON shape checked before any service sees them."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.problems import BadRequest, Problem


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_json_object(
    raw: bytes | str,
    content_type: str | None,
    *,
    max_bytes: int = 64 * 1024,
    accept: tuple[str, ...] = ("application/json",),
) -> dict[str, Any]:
    """The body as a JSON object, or a problem: 415, 413 or 400."""
    if media_type(content_type) not in accept:
        raise Problem(415, f"Content-Type must be {' or '.join(accept)}.")
    body = raw.encode() if isinstance(raw, str) else raw
    if len(body) > max_bytes:
        raise Problem(413, f"The body is {len(body)} bytes; at most {max_bytes} are accepted.")
    try:
        parsed = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"The body is not valid JSON: {error}.") from None
    if not isinstance(parsed, dict):
        raise BadRequest("The body must be a JSON object.")
    return parsed


def reject_unknown_fields(body: dict[str, Any], allowed: set[str] | frozenset[str]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BadRequest(f"Unknown field(s): {', '.join(unknown)}.", field=unknown[0])
