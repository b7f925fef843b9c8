"""Request bodies: size, media type and JSON shape checked before any service sees them."""

from __future__ import annotations

import json
import math
from typing import Any

from chalicelib.core.problems import BadRequest, Problem

# Deeper bodies are refused: everything downstream (the queue, the forwarder, Stitch, the
# warehouse's JSON columns) parses them again, and Python's parser recurses per level.
MAX_DEPTH = 32
# A JSON body's size limit unless the route sets its own.
MAX_JSON_BYTES = 64 * 1024
TOO_DEEP = f"The body's arrays or objects are nested too deeply (at most {MAX_DEPTH} levels)."


class NotJsonNumber(ValueError):
    """A number RFC 8259 JSON has no room for (NaN, Infinity) or one that overflows; the
    message is the whole problem detail."""


def _refuse_constant(name: str) -> Any:
    # Python's json module accepts NaN, Infinity and -Infinity; RFC 8259 (section 6) does not.
    raise NotJsonNumber(
        f"The body is not valid JSON: {name} is not a JSON number "
        "(RFC 8259 allows finite numbers only)."
    )


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        # Valid JSON grammar, but RFC 8259 lets a parser limit the range: beyond a 64-bit
        # float it would become Infinity.
        raise NotJsonNumber(f"The body holds a number out of range: {text[:40]}.")
    return number


def loads_strict(raw: bytes | str) -> Any:
    """json.loads as RFC 8259 has it: NaN, Infinity and overflowing numbers are refused
    (NotJsonNumber, a ValueError) instead of becoming floats nothing downstream can store."""
    return json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_json_object(
    raw: bytes | str,
    content_type: str | None,
    *,
    max_bytes: int = MAX_JSON_BYTES,
    accept: tuple[str, ...] = ("application/json",),
) -> dict[str, Any]:
    """The body as a JSON object, or a problem: 415, 413 or 400."""
    if media_type(content_type) not in accept:
        raise Problem(415, f"Content-Type must be {' or '.join(accept)}.")
    body = raw.encode() if isinstance(raw, str) else raw
    if len(body) > max_bytes:
        raise Problem(413, f"The body is {len(body)} bytes; at most {max_bytes} are accepted.")
    try:
        parsed = loads_strict(body or b"null")
    except NotJsonNumber as error:
        raise BadRequest(str(error)) from None
    except RecursionError:
        # Python's parser recurses per array/object level: a body of a few KB of "[" would
        # otherwise escape as a 500 (RecursionError is no ValueError).
        raise BadRequest(TOO_DEEP) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"The body is not valid JSON: {error}.") from None
    if not isinstance(parsed, dict):
        raise BadRequest("The body must be a JSON object.")
    if deeper_than(parsed, MAX_DEPTH):
        raise BadRequest(TOO_DEEP)
    return parsed


def deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays/objects in `value` nest more than `limit` levels (no recursion)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        pending.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def reject_unknown_fields(body: dict[str, Any], allowed: set[str] | frozenset[str]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BadRequest(f"Unknown field(s): {', '.join(unknown)}.", field=unknown[0])
