"""A page's own files, served by the app: ours under static/, npm libraries under vendor/
(copied from node_modules by `make`, never committed, packaged by `chalice deploy` with the
rest of chalicelib). Every file is named, so nothing else on disk can be served.

Each answer carries the page's Content-Security-Policy (this origin only, no inline script
or style) and an ETag: a deploy changes files under the same names, so they are revalidated
on each load, and an unchanged one answers 304 without its body."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def content_security_policy(images: str) -> str:
    """This origin only for scripts, styles and API calls; `images` adds image sources."""
    return "; ".join((
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src 'self' {images}",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ))  # fmt: skip


@dataclass(frozen=True)
class Asset:
    name: str
    body: str
    media_type: str
    etag: str


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    headers: Mapping[str, str]


class MissingVendorFile(RuntimeError):
    """A library make copies from node_modules is not there: run `make dev` or `make test`."""


@dataclass(frozen=True)
class StaticFiles:
    """The files of one page: `page` and the rest of static/, and `vendored` from vendor/."""

    root: Path
    page: str
    vendored: tuple[str, ...]
    policy: str
    _read: dict[str, Asset] = field(default_factory=dict, compare=False, repr=False)

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Content-Security-Policy": self.policy,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        }

    def names(self) -> tuple[str, ...]:
        """Every file served: ours (static/) and the libraries (vendor/)."""
        return (*self._ours, *self.vendored)

    @cached_property
    def _ours(self) -> tuple[str, ...]:
        # Listed once per container: an unknown name's 404 reads no directory.
        return tuple(sorted(p.name for p in (self.root / "static").iterdir()
                            if p.suffix in MEDIA_TYPES))

    def media_types(self) -> list[str]:
        return sorted({MEDIA_TYPES[Path(name).suffix] for name in self.names()})

    def path_of(self, name: str) -> Path | None:
        if name in self.vendored:
            return self.root / "vendor" / name
        if name in self._ours:
            return self.root / "static" / name
        return None

    def asset(self, name: str) -> Asset | None:
        """The named file, read once per container; None for a name not served."""
        if name in self._read:
            return self._read[name]
        path = self.path_of(name)
        if path is None:
            return None
        if not path.exists():
            raise MissingVendorFile(f"{path} is missing: `make` copies it from node_modules")
        body = path.read_text(encoding="utf-8")
        etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:20] + '"'
        found = self._read[name] = Asset(name, body, MEDIA_TYPES[path.suffix], etag)
        return found

    def answer(self, name: str, if_none_match: str | None) -> Answer | None:
        """The file's answer (304 when `if_none_match` is its ETag); None if not served."""
        found = self.asset(name)
        if found is None:
            return None
        headers = {**self.headers, "ETag": found.etag}
        if if_none_match == found.etag:
            return Answer(304, "", headers)
        return Answer(200, found.body, {**headers, "Content-Type": found.media_type})
