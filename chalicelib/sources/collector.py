"""The Tracking API service (/v1): a call's write key, origin, body and rate limit checked,
in that order, and its events queued with one queue call; and the settings analytics-next
loads before it sends anything.

Every refusal happens before the queue is touched, so a refused call queues nothing. The
events go through the /events normalisation (tracking/segment.py), so /v1 and /events
feed the same identity resolution, forwarder and warehouse rows.

CORS is answered per write key: a browser call is allowed from the source's own origins
and from the app-wide ones (CORS_ORIGINS, the app's own). A preflight carries no write
key, so it is answered for any origin; the call that follows is checked.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from chalicelib.core.clock import now
from chalicelib.core.problems import Problem
from chalicelib.sources.keys import Source, WriteKeys, unauthorized
from chalicelib.sources.limits import RateLimits
from chalicelib.tracking import segment
from chalicelib.tracking.cors import OriginPolicy, headers_on_problems
from chalicelib.tracking.event_queue import EventQueue, queue_bodies

PREFLIGHT_MAX_AGE_SECONDS = 600
ALLOWED_REQUEST_HEADERS = "authorization, content-type, content-encoding"


@dataclass(frozen=True)
class Call:
    """One Tracking API request as the service needs it."""

    call: str | None  # the message type its path names; None for a batch
    raw: bytes
    headers: Mapping[str, str]  # lower-case names

    @property
    def origin(self) -> str | None:
        return self.headers.get("origin")


@dataclass(frozen=True)
class Accepted:
    events: int
    queue_calls: int
    headers: dict[str, str]  # CORS headers for the answer


def basic_user(authorization: str | None) -> str | None:
    """The user name of an `Authorization: Basic` header (the write key), None without one."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        raise unauthorized("The Authorization header must be Basic, the write key as user name.")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise unauthorized("The Authorization header is not valid Basic credentials.") from None
    return decoded.partition(":")[0]


class SegmentCollector:
    def __init__(
        self,
        write_keys: WriteKeys,
        limits: RateLimits,
        queue: EventQueue,
        origins: OriginPolicy,
        public_url: str,
        clock: Callable[[], datetime] = now,
    ) -> None:
        self._keys = write_keys
        self._limits = limits
        self._queue = queue
        self._origins = origins
        self._public_url = public_url
        self._clock = clock

    def collect(self, call: Call) -> Accepted:
        """Check and queue one call's events, or raise the problem that refuses it."""
        received = self._clock()
        with headers_on_problems(self._app_wide_headers(call.origin)):
            key = basic_user(call.headers.get("authorization"))
            source = self._keys.authenticate(key) if key is not None else None
            body = segment.inflated(call.raw, call.headers.get("content-encoding"))
            request = segment.parse(body, call.headers.get("content-type"), call.call)
            if source is None:
                source = self._keys.authenticate(request.write_key)
        headers = self.cors_headers(source, call.origin)
        with headers_on_problems(headers):
            events = segment.segment_events(
                request,
                user_agent=call.headers.get("user-agent"),
                source_id=source.source_id,
                server_source=source.server and call.origin is None,
                received_at=received,
            )
            self._limits.take(source.source_id, source.rate_limit, len(events), received)
            calls = self._queue.put(queue_bodies(events))
        return Accepted(len(events), calls, headers)

    def cors_headers(self, source: Source, origin: str | None) -> dict[str, str]:
        """The answer's CORS headers for this source's call; a foreign origin gets 403."""
        if origin is None:
            return {}
        if not (source.allows(origin) or self._origins.allows(origin)):
            raise Problem(403, "This origin may not send with this write key.",
                          field="Origin", headers={"Vary": "Origin"})
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def _app_wide_headers(self, origin: str | None) -> dict[str, str]:
        """Before the write key is known: readable only by the app-wide origins."""
        if origin is None:
            return {}
        return self._origins.response_headers(origin)

    def settings(self, write_key: str, origin: str | None) -> tuple[dict[str, Any], dict[str, str]]:
        """What analytics-next loads from `<cdnURL>/v1/projects/<writeKey>/settings`: the
        Segment.io integration pointed at this app, and nothing else to load."""
        source = self._keys.authenticate(write_key)
        headers = {}
        if origin is not None and (source.allows(origin) or self._origins.allows(origin)):
            headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        elif origin is not None:
            headers = {"Vary": "Origin"}
        return settings_body(write_key, self._public_url), headers


def settings_body(write_key: str, public_url: str) -> dict[str, Any]:
    parts = urlsplit(public_url)
    base = f"{parts.netloc}{parts.path.rstrip('/')}"
    enabled = {"__default": {"enabled": True, "integrations": {}}}
    return {
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": f"{base}/v1",
                "protocol": parts.scheme or "https",
                "unbundledIntegrations": [],
                "addBundledMetadata": True,
                "maybeBundledConfigIds": {},
            }
        },
        "plan": {"track": enabled, "identify": enabled, "group": enabled},
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        # analytics-next would otherwise post its own metrics to api.segment.io.
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
    }


def preflight_headers(origin: str | None) -> dict[str, str]:
    """Any origin's preflight is answered: the write key, and so the origins, come with
    the call itself, which is checked (and refused with 403 from a foreign origin)."""
    if origin is None:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": ALLOWED_REQUEST_HEADERS,
        "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
        "Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
    }
