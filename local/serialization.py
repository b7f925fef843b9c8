"""DynamoDB answers at local scale: items pass through moto's response serializer as they
are, when they already are their own wire form.

What moto does (moto 5.x): every answer goes through its model-driven serializer, which
walks each attribute value as a botocore structure of ten members, looking each member up
through alias providers. That costs about a tenth of a millisecond per attribute: a rollup
bucket with 2,000 counters took 200 ms to Query, whichever client asked, and the
dashboard's overview reads dozens of them.

What we do: a map of attribute values (an item, a key, a map attribute) whose values are
all plain strings, numbers, booleans, nulls, string or number sets, lists and maps of
those is copied out whole, which is exactly what the walk would have produced. Anything
else (binary values, an unexpected type) takes moto's own path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from moto.core import serialize

ATTRIBUTE_VALUE = "AttributeValue"
_SCALARS: Mapping[str, type] = {"S": str, "N": str, "BOOL": bool}
_SETS = ("SS", "NS")

MapSerializer = Callable[[Any, Any, Any, Any, str], None]


def plain(value: Any) -> bool:
    """Whether an attribute value is already what moto's serializer would make of it."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    [(kind, inner)] = value.items()
    scalar = _SCALARS.get(kind)
    if scalar is not None:
        return type(inner) is scalar
    if kind == "NULL":
        return inner is True
    if kind in _SETS:
        return isinstance(inner, list) and all(type(v) is str for v in inner)
    if kind == "M":
        return isinstance(inner, dict) and all(
            type(k) is str and plain(v) for k, v in inner.items()
        )
    if kind == "L":
        return isinstance(inner, list) and all(plain(v) for v in inner)
    return False


def fast(original: MapSerializer) -> MapSerializer:
    """moto's map serializer, with plain maps of attribute values copied out whole."""

    def serialize_type_map(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if (
            getattr(shape.value, "name", None) == ATTRIBUTE_VALUE
            and isinstance(value, dict)
            and all(type(k) is str and plain(v) for k, v in value.items())
        ):
            self._default_serialize(serialized, dict(value), shape, key)
        else:
            original(self, serialized, value, shape, key)

    serialize_type_map.fast = True  # type: ignore[attr-defined]
    return serialize_type_map


def install() -> None:
    """Install the fast path in this process's moto (once)."""
    current = serialize.BaseJSONSerializer._serialize_type_map
    if not getattr(current, "fast", False):
        serialize.BaseJSONSerializer._serialize_type_map = fast(current)  # type: ignore[method-assign,assignment]
