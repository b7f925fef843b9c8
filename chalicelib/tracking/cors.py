"""CORS for the /events collector: an allowlist of site origins from configuration.

Chalice's CORSConfig is static (one origin, fixed at import), so the collector answers
preflights itself and adds `Access-Control-Allow-Origin: <origin>` only for allowed
origins. Other origins get no CORS headers at all. A POST carrying a foreign Origin is
refused outright (403, nothing queued): the browser would hide the answer anyway, and it
keeps other sites from filling the warehouse. Requests without an Origin (servers) and
same-origin pages need no allowlist entry.

"Same origin" means the origin of the app's configured public URL (PUBLIC_BASE_URL):
scheme, host and port, each compared exactly. The Host header is never consulted: any
client can send any Host, so a page on http://site:8000 could otherwise claim to be the
app by sending `Host: site:8000`, and an http page would pass for the https app.

No cookies are involved, so Access-Control-Allow-Credentials is never sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import urlsplit

from chalicelib.core.problems import Problem

ALLOWED_METHODS = "POST, OPTIONS"
ALLOWED_REQUEST_HEADERS = frozenset({"content-type"})
PREFLIGHT_MAX_AGE_SECONDS = 600


def origin_of_url(url: str | None) -> str | None:
    """The origin (`scheme://host[:port]`) of an absolute http(s) URL, whatever its path."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return canonical_origin(f"{parts.scheme}://{parts.netloc}")


def canonical_origin(origin: str | None) -> str | None:
    """`scheme://host[:port]` in lower case, or None when it is not an origin."""
    if not origin or origin == "null" or len(origin) > 512:
        return None
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    suffix = f":{port}" if port and port != default else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{suffix}"


class OriginPolicy:
    """Decides, per request, whether an Origin may use the collector."""

    def __init__(self, allowed_origins: Iterable[str], public_url: str | None = None) -> None:
        """`public_url` is the app's own public URL: pages on its origin are same-origin."""
        self._allowed = {c for c in map(canonical_origin, allowed_origins) if c}
        own = origin_of_url(public_url)
        if own is not None:
            self._allowed.add(own)

    def allows(self, origin: str | None) -> bool:
        """True for allowlisted origins and the app's own origin, matched exactly."""
        found = canonical_origin(origin)
        return found is not None and found in self._allowed

    def response_headers(self, origin: str | None) -> dict[str, str]:
        """Headers for an actual (non-preflight) response."""
        if origin is None:
            return {}
        if not self.allows(origin):
            return {"Vary": "Origin"}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def preflight_headers(
        self,
        origin: str | None,
        request_method: str | None,
        request_headers: str | None,
    ) -> dict[str, str] | None:
        """Headers answering a preflight, or None when it must be refused."""
        if origin is None or not self.allows(origin):
            return None
        if (request_method or "").upper() not in ("POST", ""):
            return None
        asked = {h.strip().lower() for h in (request_headers or "").split(",") if h.strip()}
        if not asked <= ALLOWED_REQUEST_HEADERS:
            return None
        headers = {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
            "Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        }
        if asked:
            headers["Access-Control-Allow-Headers"] = ", ".join(sorted(asked))
        return headers

    def for_request(self, headers: Mapping[str, str]) -> dict[str, str]:
        """CORS headers for a POST with these request headers; a foreign Origin → 403."""
        origin = headers.get("origin")
        if origin is not None and not self.allows(origin):
            raise Problem(403, "This origin may not send events.", headers={"Vary": "Origin"})
        return self.response_headers(origin)

    def for_preflight(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Headers answering an OPTIONS preflight with these request headers, or 403."""
        allowed = self.preflight_headers(
            headers.get("origin"),
            headers.get("access-control-request-method"),
            headers.get("access-control-request-headers"),
        )
        if allowed is None:
            raise Problem(403, "This origin may not send events.", headers={"Vary": "Origin"})
        return allowed


@contextmanager
def headers_on_problems(headers: Mapping[str, str]) -> Iterator[None]:
    """Problems raised inside carry the CORS headers too, so the page can read them."""
    try:
        yield
    except Problem as problem:
        problem.headers.update(headers)
        raise
