"""DynamoDB's item-size rules, applied to an item in DynamoDB JSON: what a write of it is
billed by (one write unit per KB, rounded up)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

KB = 1024


def item_bytes(item: Mapping[str, Any]) -> int:
    """Each attribute: the UTF-8 bytes of its name plus its value's size."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def write_units(*sizes: int) -> int:
    """The write units of a PutItem/UpdateItem/DeleteItem: the larger of the item before and
    after, per started KB (at least 1)."""
    return max(1, math.ceil(max(sizes) / KB))


def _value_bytes(value: Mapping[str, Any]) -> int:
    (kind, inner), = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return _number_bytes(str(inner))
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + len(inner) + sum(len(k.encode()) + _value_bytes(v) for k, v in inner.items())
    if kind == "L":
        return 3 + len(inner) + sum(_value_bytes(v) for v in inner)
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(_number_bytes(n) for n in inner)
    raise ValueError(f"unknown attribute type {kind}")


def _number_bytes(number: str) -> int:
    """About 1 byte per 2 significant digits, plus 1."""
    digits = Decimal(number).normalize().as_tuple().digits
    return math.ceil(len(digits) / 2) + 1
