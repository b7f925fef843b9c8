"""Recording a ping: one hyperlink-auditing POST becomes one hop under a visitor hash.

A browser that follows `<a href=... ping="./ping">` POSTs `text/ping` with `Ping-To` (the
link's target) and, for same-origin or plain-http pages, `Ping-From`. The site in the
hash is the host of `Ping-To` (validated against the configured site hosts), never the
API's own Host. Opted-out browsers and bots are answered but never recorded; neither the
IP nor the user agent is ever stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from chalicelib.core import bots
from chalicelib.core.clock import Clock
from chalicelib.core.problems import Problem
from chalicelib.journeys.hops import HopStore, NewHop
from chalicelib.journeys.inputs import client_ip, lower_keys, opted_out, site_url
from chalicelib.journeys.salts import SaltStore
from chalicelib.journeys.visitors import Visitor, visitor_hash

MAX_PING_BODY_BYTES = 1024



class PingOutcome(Enum):
    """What became of an accepted ping (each is answered 204)."""

    RECORDED = "recorded"
    OPTED_OUT = "opted-out"  # Sec-GPC: 1 or DNT: 1
    BOT = "bot"


class Pings:
    """Validates pings and stores their hops: one PutItem each (plus, on the first ping
    of a day in this process, the salt's read and maybe its creation)."""

    def __init__(
        self,
        salts: SaltStore,
        hops: HopStore,
        *,
        site_hosts: frozenset[str],
        pepper: bytes,
        clock: Clock,
    ) -> None:
        self._salts = salts
        self._hops = hops
        self._site_hosts = site_hosts
        self._pepper = pepper
        self._clock = clock

    def record(
        self, headers: Mapping[str, str], body: bytes | str | None, context: Mapping[str, Any]
    ) -> PingOutcome:
        size = len(body.encode() if isinstance(body, str) else body or b"")
        if size > MAX_PING_BODY_BYTES:
            raise Problem(413, f"A ping body is at most {MAX_PING_BODY_BYTES} bytes; got {size}.")
        if opted_out(headers):
            return PingOutcome.OPTED_OUT
        lowered = lower_keys(headers)
        site, to_page = site_url(lowered.get("ping-to"), "Ping-To", self._site_hosts)
        from_page: str | None = None
        from_site: str | None = None
        if lowered.get("ping-from"):
            from_site, from_page = site_url(lowered["ping-from"], "Ping-From", self._site_hosts)
        user_agent = lowered.get("user-agent", "")
        if bots.is_bot(user_agent):
            return PingOutcome.BOT
        # The audited site is the link target's host, never the API's own Host: one API
        # host may serve pings for several sites, whose hashes must stay unrelated.
        visitor = Visitor(site, client_ip(context), user_agent)
        at = self._clock().astimezone(UTC)
        hop = NewHop(self._visitor_id(visitor, at), at, site, to_page, from_page, from_site)
        self._hops.put(hop)
        return PingOutcome.RECORDED

    def _visitor_id(self, visitor: Visitor, at: datetime) -> str:
        salt = self._salts.salt(at.date(), create=True)
        if salt is None:  # only if the table refuses a salt for today: record nothing
            raise Problem(503, "The journey salt is unavailable; try again.")
        return visitor_hash(salt, visitor, self._pepper)
