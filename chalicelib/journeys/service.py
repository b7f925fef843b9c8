"""Click journeys without cookies: the facade the blueprint calls.

A ping (pings.py) stores one hop (hops.py) under a visitor hash (visitors.py) keyed by
the day's salt (salts.py); /journey shows the asking visitor their own hops today, found
with the hash their pings were stored under; /api/journeys folds a range's hops into
flows (flows.py). The site in a visitor's hash is the audited site's: for a ping, the
host of `Ping-To`; for /journey, the Host of that page, which a site serves itself (the
demo site is the app, so the two agree).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.core.clock import Clock, now
from chalicelib.journeys.flows import MAX_FLOW_HOPS, Flows, FlowsAnswer
from chalicelib.journeys.hops import Hop, HopStore
from chalicelib.journeys.inputs import (
    client_ip,
    lower_keys,
    normalize_host,
    opted_out,
    site_host_set,
)
from chalicelib.journeys.pings import PingOutcome, Pings
from chalicelib.journeys.salts import SaltStore
from chalicelib.journeys.visitors import Visitor, visitor_hash

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient

# /journey shows a visitor's latest this many hops (a read with a bound).
MAX_OWN_HOPS = 500



@dataclass(frozen=True)
class OwnJourney:
    hops: list[Hop]
    opted_out: bool = False


class Journeys:
    """Pings, the visitor's own journey and flows, over the app table. Handed its
    DynamoDB client, table, settings values and a clock."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        *,
        site_hosts: tuple[str, ...],
        retention_days: int,
        pepper: bytes = b"",
        clock: Clock = now,
        max_flow_hops: int = MAX_FLOW_HOPS,
        max_own_hops: int = MAX_OWN_HOPS,
    ) -> None:
        self.dynamodb = dynamodb
        self._site_hosts = site_host_set(site_hosts)
        self._pepper = pepper
        self._max_own_hops = max_own_hops
        self.salts = SaltStore(dynamodb, table, clock)
        self._hops = HopStore(dynamodb, table, timedelta(days=retention_days))
        self._pings = Pings(
            self.salts, self._hops, site_hosts=self._site_hosts, pepper=pepper, clock=clock
        )
        self._flows = Flows(self._hops, self.salts.today, max_flow_hops)

    def record_ping(
        self, headers: Mapping[str, str], body: bytes | str | None, context: Mapping[str, Any]
    ) -> PingOutcome:
        """/ping: validate one ping and store its hop (see pings.Pings)."""
        return self._pings.record(headers, body, context)

    def own_journey(self, headers: Mapping[str, str], context: Mapping[str, Any]) -> OwnJourney:
        """What /journey shows the asking visitor: their hops today on the site that serves
        the page, found with the hash their pings were stored under (so never anyone
        else's). A page served under a host that is no configured site shows nothing."""
        if opted_out(headers):
            return OwnJourney(hops=[], opted_out=True)
        visitor = self.visitor_from_request(headers, context)
        return OwnJourney(self.journey_today(visitor) if visitor is not None else [])

    def visitor_from_request(
        self, headers: Mapping[str, str], context: Mapping[str, Any]
    ) -> Visitor | None:
        """The asking visitor, identified as /ping identified them on the site serving
        this page (its Host), or None if that host is not a configured site."""
        lowered = lower_keys(headers)
        site = normalize_host(lowered.get("host") or "")
        if site not in self._site_hosts:
            return None
        return Visitor(site, client_ip(context), lowered.get("user-agent", ""))

    def journey_today(self, visitor: Visitor) -> list[Hop]:
        """The visitor's own hops today, oldest first. Reads only; never creates a salt."""
        today = self.salts.today()
        salt = self.salts.salt(today)
        if salt is None:
            return []
        visitor_id = visitor_hash(salt, visitor, self._pepper)
        return self._hops.latest(today, visitor_id, self._max_own_hops)

    def flows(self, params: Mapping[str, str]) -> FlowsAnswer:
        """/api/journeys: aggregated flows for `from`..`to` (see flows.Flows)."""
        return self._flows.answer(params)
