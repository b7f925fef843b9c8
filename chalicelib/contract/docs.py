"""/docs' files: our page and initializer under static/, Swagger UI's build under vendor/
(copied from node_modules by `make`, never committed, packaged by `chalice deploy` with
the rest of chalicelib). Every file is named here, so nothing else on disk is served.

The page's Content-Security-Policy allows this origin only and no inline script.
Swagger UI sets element styles from script (style attributes through React, which the
CSSOM allows without 'unsafe-inline'), and its stylesheet draws icons as data: SVGs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
VENDOR = HERE / "vendor"

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))  # fmt: skip
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
PAGE = "docs.html"
OURS = (PAGE, "docs.js", "docs.css")
# Swagger UI's files, under the names make copies them to.
VENDORED = ("swagger-ui-bundle.js", "swagger-ui.css")


@dataclass(frozen=True)
class Asset:
    name: str
    body: str
    media_type: str


class MissingVendorFile(RuntimeError):
    """A file make copies from node_modules is not there: run `make dev` or `make test`."""


@cache
def asset(name: str) -> Asset | None:
    """The named file, read once per container; None for a name /docs does not serve."""
    if name in VENDORED:
        path = VENDOR / name
    elif name in OURS:
        path = STATIC / name
    else:
        return None
    if not path.exists():
        raise MissingVendorFile(f"{path} is missing: `make` copies it from node_modules")
    return Asset(name, path.read_text(encoding="utf-8"), MEDIA_TYPES[path.suffix])
