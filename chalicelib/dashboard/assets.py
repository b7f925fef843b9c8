"""The dashboard's files: our own under static/, the npm libraries it runs on under vendor/
(copied from node_modules by `make`, never committed, packaged by `chalice deploy` with the
rest of chalicelib). Every file is named here, so nothing else on disk can be served.

Each answer carries the page's Content-Security-Policy: scripts, styles and API calls from
this origin only, no inline script or style, QR previews as blob: images.
"""

from __future__ import annotations

import hashlib
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
    "img-src 'self' blob: data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
PAGE = "dashboard.html"
# The libraries, under the names make copies them to.
VENDORED = ("preact-htm.js", "uplot.js", "uplot.css")
FIRST_LOAD = (PAGE, "dashboard.css", "uplot.css", "uplot.js", "app.js")


@dataclass(frozen=True)
class Asset:
    name: str
    body: str
    media_type: str
    etag: str


class MissingVendorFile(RuntimeError):
    """A library make copies from node_modules is not there: run `make dev` or `make test`."""


def names() -> tuple[str, ...]:
    """Every file the dashboard serves: ours (static/) and the libraries (vendor/)."""
    ours = sorted(p.name for p in STATIC.iterdir() if p.suffix in MEDIA_TYPES)
    return (*ours, *VENDORED)


def path_of(name: str) -> Path | None:
    if name in VENDORED:
        return VENDOR / name
    if name in names():
        return STATIC / name
    return None


@cache
def asset(name: str) -> Asset | None:
    """The named file, read once per container; None for a name the dashboard lacks."""
    path = path_of(name)
    if path is None:
        return None
    if not path.exists():
        raise MissingVendorFile(f"{path} is missing: `make` copies it from node_modules")
    body = path.read_text(encoding="utf-8")
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:20] + '"'
    return Asset(name, body, MEDIA_TYPES[path.suffix], etag)
