"""Click journeys without cookies: hyperlink-auditing pings, daily salts, hops and flows.

A browser that follows `<a href=... ping="./ping">` POSTs `text/ping` with `Ping-To` (the
link's target) and, for same-origin or plain-http pages, `Ping-From`. Each accepted ping
is one hop, stored under a visitor hash:

    visitor = HMAC-SHA256(key = today's salt [+ journey pepper],
                          msg = site host, client IP, user agent)[:16 bytes]

The site host is the audited site's, not the API's: for a ping, the host of `Ping-To`
(validated against the configured site hosts); for /journey, the Host of that page, which
a site serves itself (the demo site is the app, so the two agree). /journey therefore
shows the visitor's journey on the site that serves the page. Several sites may ping one
API host, and the same person still gets unrelated hashes on each of them.

The salt is 32 random bytes per UTC day, created on first use and deleted by DynamoDB TTL
48 hours after its day began. Once it is gone (or past its TTL and not yet swept) no one,
including us, can link a stored hash to an IP and user agent again. Neither the IP nor
the user agent is ever stored.

App-table items (pk, sk; gsi1pk, gsi1sk):
  salt                 "salt", "<day>"                        salt B, ttl = day + 48 h
  hop                  "hop#<day>#<visitor>", "<iso>#<rand>"  from_page?, to_page, site, ttl
                       gsi1: "hops#<day>", "<visitor>#<iso>#<rand>"
/journey is one Query on the visitor's partition; /api/journeys one Query (paginated)
of gsi1 per day of the range. Nothing Scans. gsi1 is shared (the key store lists keys
under gsi1pk "apikey"): journey partitions always start with "hops#".
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from chalicelib.core import bots as botua
from chalicelib.core.clock import iso, now
from chalicelib.core.problems import BadRequest, Problem

MAX_PING_BODY_BYTES = 1024
MAX_URL_LENGTH = 2048
MAX_RANGE_DAYS = 31
# Reads have bounds, so an answer always comes inside API Gateway's 29 s and Lambda's
# 6 MB: at most this many hops are folded into one /api/journeys answer (then
# "truncated": true), and /journey shows a visitor's latest this many hops.
MAX_FLOW_HOPS = 200_000
MAX_OWN_HOPS = 500
TOP_N = 20
VISITOR_HASH_BYTES = 16
SALT_BYTES = 32
SALT_PARTITION = "salt"
DAY_INDEX_PREFIX = "hops#"
UNKNOWN_PAGE = "(unknown)"
Page = tuple[str, str]  # (site host, path) in /api/journeys' counters
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")
_DEFAULT_PORTS = {"http": 80, "https": 443}

Clock = Callable[[], datetime]


class Outcome(Enum):
    RECORDED = "recorded"
    OPTED_OUT = "opted-out"  # Sec-GPC: 1 or DNT: 1
    BOT = "bot"


@dataclass(frozen=True)
class Visitor:
    """What identifies a visitor for one day. Held in memory only, never stored."""

    site_host: str
    client_ip: str
    user_agent: str


@dataclass(frozen=True)
class Hop:
    at: datetime
    from_page: str | None  # None: the browser sent no Ping-From (cross-origin https page)
    to_page: str


@dataclass(frozen=True)
class OwnJourney:
    hops: list[Hop]
    opted_out: bool = False


# --- request parsing ---------------------------------------------------------------------


def normalize_host(netloc: str, scheme: str = "http") -> str:
    """host[:port] in lower case, without the scheme's default port."""
    host, _, port = netloc.strip().lower().rpartition(":")
    if not host or "]" in port:  # no port (or an IPv6 literal without one)
        return netloc.strip().lower()
    if port.isdigit() and int(port) == _DEFAULT_PORTS.get(scheme):
        return host
    return f"{host}:{port}"


def site_host_set(site_hosts: tuple[str, ...]) -> frozenset[str]:
    return frozenset(normalize_host(h) for h in site_hosts)


def _site_url(value: str | None, header: str, site_hosts: frozenset[str]) -> tuple[str, str]:
    """(site host, page path) of a Ping-To/Ping-From URL, or a problem."""
    if value is None or not value.strip():
        raise BadRequest(f"The {header} header is required.", field=header)
    if len(value) > MAX_URL_LENGTH:
        raise BadRequest(f"{header} is longer than {MAX_URL_LENGTH} characters.", field=header)
    try:
        parts = urlsplit(value.strip())
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        raise BadRequest(f"{header} is not a valid URL.", field=header) from None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or not port_ok:
        raise BadRequest(f"{header} must be an absolute http(s) URL.", field=header)
    if parts.username is not None or parts.password is not None:
        raise BadRequest(f"{header} must not carry credentials.", field=header)
    host = normalize_host(parts.netloc, parts.scheme)
    if host not in site_hosts:
        raise Problem(403, f"{header} is not a page of a configured site.", field=header)
    # The query and fragment are dropped: they can carry personal data, and flows are
    # about pages.
    return host, parts.path or "/"


def _flag(headers: Mapping[str, str], name: str) -> bool:
    return (headers.get(name) or "").strip() == "1"


def opted_out(headers: Mapping[str, str]) -> bool:
    """Global Privacy Control or Do Not Track: record nothing for this browser."""
    lowered = _lower_keys(headers)
    return _flag(lowered, "sec-gpc") or _flag(lowered, "dnt")


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def client_ip(context: Mapping[str, Any]) -> str:
    """API Gateway's view of the caller (never a client-supplied X-Forwarded-For)."""
    identity = context.get("identity") or {}
    source_ip = identity.get("sourceIp") if isinstance(identity, Mapping) else None
    if not source_ip:
        raise Problem(500, "The request carries no source IP.")
    return str(source_ip)


def parse_day(value: str | None, field: str, default: date) -> date:
    if value is None or value == "":
        return default
    if not _DATE.match(value):
        raise BadRequest(f"{field} must be a date, YYYY-MM-DD.", field=field)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{field} is not a calendar date.", field=field) from None


# --- salts -------------------------------------------------------------------------------


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def salt_expiry(day: date) -> int:
    """Epoch seconds at which a day's salt expires: the end of that day plus 24 h."""
    return int((day_start(day) + timedelta(days=2)).timestamp())


class SaltStore:
    """Today's salt, cached in memory; created with a conditional put on first use.

    Steady state costs no AWS call at all. A salt older than yesterday, or past its TTL
    but not yet swept by DynamoDB, is treated as gone and is never created again.
    """

    def __init__(self, dynamodb: Any, table: str, clock: Clock = now) -> None:
        self._ddb = dynamodb
        self._table = table
        self._clock = clock
        self._cache: dict[date, bytes] = {}
        self._lock = threading.Lock()

    def today(self) -> date:
        return self._clock().astimezone(UTC).date()

    def salt(self, day: date, *, create: bool = False) -> bytes | None:
        """The salt of `day` (today or yesterday), or None. Only today's may be created."""
        today = self.today()
        with self._lock:
            for cached_day in [d for d in self._cache if d < today - timedelta(days=1)]:
                del self._cache[cached_day]
            if day < today - timedelta(days=1) or day > today:
                return None
            cached = self._cache.get(day)
        if cached is not None:
            return cached
        found = self._read(day)
        if found is None and create and day == today:
            found = self._create(day)
        if found is not None:
            with self._lock:
                self._cache[day] = found
        return found

    def _key(self, day: date) -> dict[str, Any]:
        return {"pk": {"S": SALT_PARTITION}, "sk": {"S": day.isoformat()}}

    def _read(self, day: date) -> bytes | None:
        item = self._ddb.get_item(TableName=self._table, Key=self._key(day), ConsistentRead=True)
        found = item.get("Item")
        if not found or int(found["ttl"]["N"]) <= int(self._clock().timestamp()):
            return None
        return bytes(found["salt"]["B"])

    def _create(self, day: date) -> bytes | None:
        salt = secrets.token_bytes(SALT_BYTES)
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item={
                    **self._key(day),
                    "salt": {"B": salt},
                    "created_at": {"S": iso(self._clock())},
                    "ttl": {"N": str(salt_expiry(day))},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return self._read(day)  # another instance created it first: use theirs
        return salt

    def delete_expired(self) -> list[str]:
        """Delete salts older than yesterday now, instead of whenever DynamoDB TTL gets to
        them ("within a few days"): once gone, nobody can recompute that day's hashes."""
        oldest_kept = (self.today() - timedelta(days=1)).isoformat()
        found = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :p AND sk < :d",
            ExpressionAttributeValues={":p": {"S": SALT_PARTITION}, ":d": {"S": oldest_kept}},
            ProjectionExpression="pk, sk",
            ConsistentRead=True,
        ).get("Items", [])
        for item in found:
            self._ddb.delete_item(TableName=self._table, Key={"pk": item["pk"], "sk": item["sk"]})
        with self._lock:
            for cached_day in [d for d in self._cache if d.isoformat() < oldest_kept]:
                del self._cache[cached_day]
        return [item["sk"]["S"] for item in found]


def visitor_hash(salt: bytes, visitor: Visitor, pepper: bytes = b"") -> str:
    message = "\n".join((visitor.site_host, visitor.client_ip, visitor.user_agent)).encode()
    digest = hmac.new(salt + pepper, message, hashlib.sha256).digest()
    return digest[:VISITOR_HASH_BYTES].hex()


# --- the service -------------------------------------------------------------------------


class Journeys:
    """Hops in the app table. Handed its DynamoDB client, table and settings values."""

    def __init__(
        self,
        dynamodb: Any,
        table: str,
        *,
        site_hosts: tuple[str, ...],
        retention_days: int,
        pepper: bytes = b"",
        clock: Clock = now,
    ) -> None:
        self.dynamodb = dynamodb
        self._table = table
        self._site_hosts = site_host_set(site_hosts)
        self._retention = timedelta(days=retention_days)
        self._pepper = pepper
        self._clock = clock
        self.salts = SaltStore(dynamodb, table, clock)

    # /ping ----------------------------------------------------------------------------

    def record_ping(
        self, headers: Mapping[str, str], body: bytes | str | None, context: Mapping[str, Any]
    ) -> Outcome:
        """Validate one ping and store its hop: one PutItem (plus, on the first ping of a
        day in this process, the salt's read and maybe its creation)."""
        size = len(body.encode() if isinstance(body, str) else body or b"")
        if size > MAX_PING_BODY_BYTES:
            raise Problem(413, f"A ping body is at most {MAX_PING_BODY_BYTES} bytes; got {size}.")
        if opted_out(headers):
            return Outcome.OPTED_OUT
        lowered = _lower_keys(headers)
        site, to_page = _site_url(lowered.get("ping-to"), "Ping-To", self._site_hosts)
        from_page: str | None = None
        from_site: str | None = None
        if lowered.get("ping-from"):
            from_site, from_page = _site_url(lowered["ping-from"], "Ping-From", self._site_hosts)
        user_agent = lowered.get("user-agent", "")
        if botua.is_bot(user_agent):
            return Outcome.BOT
        # The audited site is the link target's host, never the API's own Host: one API
        # host may serve pings for several sites, whose hashes must stay unrelated.
        visitor = Visitor(site, client_ip(context), user_agent)
        self._put_hop(visitor, from_page, to_page, from_site=from_site)
        return Outcome.RECORDED

    def _put_hop(
        self,
        visitor: Visitor,
        from_page: str | None,
        to_page: str,
        *,
        from_site: str | None = None,
    ) -> None:
        at = self._clock().astimezone(UTC)
        day = at.date().isoformat()
        salt = self.salts.salt(at.date(), create=True)
        if salt is None:  # only if the table refuses a salt for today: record nothing
            raise Problem(503, "The journey salt is unavailable; try again.")
        visitor_id = visitor_hash(salt, visitor, self._pepper)
        moment = f"{iso(at)}#{secrets.token_hex(4)}"
        item: dict[str, Any] = {
            "pk": {"S": f"hop#{day}#{visitor_id}"},
            "sk": {"S": moment},
            "gsi1pk": {"S": f"{DAY_INDEX_PREFIX}{day}"},
            "gsi1sk": {"S": f"{visitor_id}#{moment}"},
            "site": {"S": visitor.site_host},
            "to_page": {"S": to_page},
            "at": {"S": iso(at)},
            "ttl": {"N": str(int((at + self._retention).timestamp()))},
        }
        if from_page is not None:
            item["from_page"] = {"S": from_page}
        if from_site is not None and from_site != visitor.site_host:
            item["from_site"] = {"S": from_site}  # a hop from one configured site to another
        self.dynamodb.put_item(TableName=self._table, Item=item)

    # /journey -------------------------------------------------------------------------

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
        lowered = _lower_keys(headers)
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
        partition = f"hop#{today.isoformat()}#{visitor_hash(salt, visitor, self._pepper)}"
        hops: list[Hop] = []
        latest = self.dynamodb.query(  # newest first, a page's worth, shown oldest first
            TableName=self._table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": partition}},
            ScanIndexForward=False,
            Limit=MAX_OWN_HOPS,
        ).get("Items", [])
        for item in reversed(latest):
            hops.append(
                Hop(
                    at=datetime.fromisoformat(item["at"]["S"].replace("Z", "+00:00")),
                    from_page=item["from_page"]["S"] if "from_page" in item else None,
                    to_page=item["to_page"]["S"],
                )
            )
        return hops

    # /api/journeys --------------------------------------------------------------------

    def flows(self, params: Mapping[str, str]) -> dict[str, Any]:
        """Aggregated flows for `from`..`to` (inclusive, at most 31 days): no per-visitor
        data leaves this function."""
        unknown = sorted(set(params) - {"from", "to"})
        if unknown:
            raise BadRequest(f"Unknown query parameter(s): {', '.join(unknown)}.", field=unknown[0])
        today = self.salts.today()
        last = parse_day(params.get("to"), "to", today)
        first = parse_day(params.get("from"), "from", last)
        if first > last:
            raise BadRequest("from must not be after to.", field="from")
        days = (last - first).days + 1
        if days > MAX_RANGE_DAYS:
            raise BadRequest(
                f"The range spans {days} days; at most {MAX_RANGE_DAYS} are allowed.",
                field="to",
            )
        transitions: Counter[tuple[Page, Page]] = Counter()
        entries: Counter[Page] = Counter()
        exits: Counter[Page] = Counter()
        per_day: list[dict[str, Any]] = []
        budget = MAX_FLOW_HOPS
        truncated = False
        for offset in range(days):
            day = first + timedelta(days=offset)
            day_hops, day_visitors, cut = self._aggregate_day(
                day, transitions, entries, exits, budget=budget
            )
            per_day.append({"day": day.isoformat(), "visitors": day_visitors, "hops": day_hops})
            budget -= day_hops
            if cut or (budget <= 0 and offset < days - 1):
                truncated = True
                break
        # Pages carry their site's host only when the answer spans several sites: one
        # site's answer reads as before, two sites' same path stay two pages.
        sites = {site for site, _ in entries | exits if site}
        sites |= {site for pair in transitions for site, _ in pair if site}

        def label(page: Page) -> str:
            site, path = page
            return site + path if len(sites) > 1 and site else path

        return {
            "from": first.isoformat(),
            "to": last.isoformat(),
            # Over MAX_FLOW_HOPS hops: the days after the bound are left out (a narrower
            # range answers them).
            "truncated": truncated,
            "hops": sum(d["hops"] for d in per_day),
            "visitors": sum(d["visitors"] for d in per_day),
            "visitors_per_day": per_day,
            "transitions": [
                {"from": label(source), "to": label(target), "count": count}
                for (source, target), count in _top(transitions)
            ],
            "entry_pages": [
                {"page": label(page), "count": count} for page, count in _top(entries)
            ],
            "exit_pages": [{"page": label(page), "count": count} for page, count in _top(exits)],
        }

    def _aggregate_day(
        self,
        day: date,
        transitions: Counter[tuple[Page, Page]],
        entries: Counter[Page],
        exits: Counter[Page],
        *,
        budget: int = MAX_FLOW_HOPS,
    ) -> tuple[int, int, bool]:
        """Fold one day's hops (gsi1, ordered by visitor then time) into the counters, at
        most `budget` of them (hops, visitors, and whether hops were left unread). Pages
        are (site host, path); an unknown origin has no host."""
        hops = 0
        visitors = 0
        current: str | None = None
        last_page: Page = ("", "")
        for item in self._query(
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :p",
            ExpressionAttributeValues={":p": {"S": f"{DAY_INDEX_PREFIX}{day.isoformat()}"}},
            ProjectionExpression="gsi1sk, from_page, to_page, site, from_site",
        ):
            if hops >= budget:
                if current is not None:
                    exits[last_page] += 1
                return hops, visitors, True
            visitor_id = item["gsi1sk"]["S"].split("#", 1)[0]
            site = item["site"]["S"] if "site" in item else ""
            target: Page = (site, item["to_page"]["S"])
            source: Page = (
                (item.get("from_site", {}).get("S", site), item["from_page"]["S"])
                if "from_page" in item
                else ("", UNKNOWN_PAGE)
            )
            if visitor_id != current:
                if current is not None:
                    exits[last_page] += 1
                current = visitor_id
                visitors += 1
                entries[source] += 1
            transitions[(source, target)] += 1
            last_page = target
            hops += 1
        if current is not None:
            exits[last_page] += 1
        return hops, visitors, False

    def _query(self, **query: Any) -> Any:
        kwargs: dict[str, Any] = {"TableName": self._table, **query}
        while True:
            page = self.dynamodb.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _top(counter: Counter[Any]) -> list[tuple[Any, int]]:
    # Ties in a stable, readable order: count first, then the key itself.
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_N]


# --- composition ---------------------------------------------------------------------------
