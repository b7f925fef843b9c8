"""A link's QR code: its short URL marked `?qr=1`, so the edge counts a scan as trigger
"qr" (and still redirects: S3's website redirect ignores the query), drawn by segno as
SVG or PNG."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from chalicelib.core.problems import BadRequest

Format = Literal["svg", "png"]
MEDIA_TYPES: dict[str, str] = {"svg": "image/svg+xml", "png": "image/png"}
ECC_LEVELS = ("L", "M", "Q", "H")
SCALE_RANGE = (1, 40)  # pixels per module
MARGIN_RANGE = (0, 16)  # quiet-zone modules (the standard asks for 4)
COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})\Z")
PARAMETERS = frozenset({"format", "size", "margin", "ecc", "fg", "bg"})
SCAN_MARK = "qr=1"


@dataclass(frozen=True)
class QrRequest:
    format: Format = "svg"
    scale: int = 8
    margin: int = 4
    ecc: str = "M"
    dark: str = "#000000"
    light: str | None = "#ffffff"  # None: transparent


def scan_url(short_url: str) -> str:
    """What the code encodes: the short URL, marked as scanned."""
    return f"{short_url}?{SCAN_MARK}"


def parse(params: Mapping[str, str] | None) -> QrRequest:
    """The query string's options; a bad one is a 400 naming it."""
    given = dict(params or {})
    unknown = sorted(set(given) - PARAMETERS)
    if unknown:
        raise BadRequest(f"Unknown parameter {unknown[0]!r}.", field=unknown[0])
    kind = given.get("format", "svg")
    if kind not in MEDIA_TYPES:
        raise BadRequest("format must be svg or png.", field="format")
    ecc = given.get("ecc", "M").upper()
    if ecc not in ECC_LEVELS:
        raise BadRequest("ecc must be one of L, M, Q, H.", field="ecc")
    bg = given.get("bg", "#ffffff")
    return QrRequest(
        format="png" if kind == "png" else "svg",
        scale=_bounded(given, "size", 8, SCALE_RANGE),
        margin=_bounded(given, "margin", 4, MARGIN_RANGE),
        ecc=ecc,
        dark=_colour(given.get("fg", "#000000"), "fg"),
        light=None if bg == "transparent" else _colour(bg, "bg"),
    )


def render(content: str, request: QrRequest) -> bytes:
    """The code for `content`, drawn as asked."""
    # Loaded here: segno and what it pulls in cost the cold start of every route about as
    # much as the app's own imports, and only this route draws.
    import segno

    code = segno.make(content, error=request.ecc.lower(), boost_error=False)
    out = io.BytesIO()
    drawing = {"scale": request.scale, "border": request.margin}
    colours = {"dark": request.dark, "light": request.light}
    if request.format == "svg":
        code.save(out, kind="svg", xmldecl=False, title=content, **drawing, **colours)
    else:
        code.save(out, kind="png", **drawing, **colours)
    return out.getvalue()


def _bounded(given: Mapping[str, str], name: str, default: int, bounds: tuple[int, int]) -> int:
    raw = given.get(name)
    if raw is None:
        return default
    low, high = bounds
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}.", field=name)
    return int(raw)


def _colour(value: str, name: str) -> str:
    if not COLOUR.match(value):
        raise BadRequest(f"{name} must be a colour like #1a2b3c or #abc.", field=name)
    return value.lower()
