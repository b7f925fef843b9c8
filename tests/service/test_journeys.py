"""Journeys in high gear: the service against the emulator's real tables, with a clock we
can move. Salts, visitor hashes, hops and flows; privacy (no IP/UA stored, old salts gone)."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bench.core import count_aws_calls
from chalicelib import wiring
from chalicelib.core.problems import Problem
from chalicelib.journeys.pings import PingOutcome
from chalicelib.journeys.salts import SaltStore
from chalicelib.journeys.service import Journeys
from chalicelib.journeys.visitors import Visitor, visitor_hash
from local.pumps import expire_ttl_items
from tests.support.aws import all_items
from tests.support.clock import FakeClock as Clock
from tests.support.journeys import (
    DESKTOP_UA,
    SITE,
    assert_no_ip_or_ua,
    context,
    hop_items,
    stored_strings,
)

OTHER_SITE = "shop.example"
MAC_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Safari/605.1.15"
)
# Documentation addresses (RFC 5737): easy to find if they were ever stored.
ALICE_IP = "203.0.113.77"
BOB_IP = "198.51.100.23"
NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def ping_headers(to: str, source: str | None = "/", ua: str = DESKTOP_UA, **extra: str) -> dict:
    headers = {"Ping-To": f"http://{SITE}{to}", "User-Agent": ua, "Host": SITE, **extra}
    if source is not None:
        headers["Ping-From"] = f"http://{SITE}{source}"
    return headers


def make_service(
    clock: Clock, pepper: bytes = b"", site_hosts: tuple[str, ...] = (SITE,), **bounds: int
) -> Journeys:
    settings = wiring.settings()
    return Journeys(
        wiring.dynamodb(),
        settings.app_table,
        site_hosts=site_hosts,
        retention_days=30,
        pepper=pepper,
        clock=clock,
        **bounds,
    )


def table_names() -> list[str]:
    return list(wiring.dynamodb().list_tables()["TableNames"])


def salt_items() -> list[dict[str, Any]]:
    return [i for i in all_items() if i["pk"]["S"] == "salt"]


# --- visitor hash --------------------------------------------------------------------------


def test_visitor_hash_is_keyed_truncated_and_depends_on_every_input() -> None:
    salt = bytes(range(32))
    alice = Visitor(SITE, ALICE_IP, DESKTOP_UA)
    digest = visitor_hash(salt, alice)
    assert re.fullmatch(r"[0-9a-f]{32}", digest)
    assert visitor_hash(salt, alice) == digest
    others = {
        visitor_hash(bytes(32), alice),
        visitor_hash(salt, alice, pepper=b"pepper"),
        visitor_hash(salt, Visitor("example.com", ALICE_IP, DESKTOP_UA)),
        visitor_hash(salt, Visitor(SITE, BOB_IP, DESKTOP_UA)),
        visitor_hash(salt, Visitor(SITE, ALICE_IP, MAC_UA)),
    }
    assert digest not in others and len(others) == 5


# --- salts ---------------------------------------------------------------------------------


def test_salt_is_created_once_per_day_then_served_from_memory(aws: dict[str, str]) -> None:
    clock = Clock(NOON)
    store = SaltStore(wiring.dynamodb(), wiring.settings().app_table, clock)
    with count_aws_calls(wiring.dynamodb()) as first:
        salt = store.salt(NOON.date(), create=True)
    assert salt is not None and len(salt) == 32
    assert first == {"dynamodb.GetItem": 1, "dynamodb.PutItem": 1}
    with count_aws_calls(wiring.dynamodb()) as steady:
        for _ in range(5):
            assert store.salt(NOON.date(), create=True) == salt
    assert sum(steady.values()) == 0
    [item] = salt_items()
    assert item["sk"]["S"] == "2026-11-23"
    # Deleted by TTL 48 h after its day began: the end of the day plus 24 h.
    assert int(item["ttl"]["N"]) == int(datetime(2026, 11, 25, tzinfo=UTC).timestamp())


def test_the_salt_sweeper_deletes_salts_older_than_yesterday_at_once(aws: dict[str, str]) -> None:
    from datetime import timedelta

    table = wiring.settings().app_table
    days = [NOON - timedelta(days=n) for n in (3, 2, 1, 0)]
    for moment in days:  # one salt per day, each created on its own day
        SaltStore(wiring.dynamodb(), table, Clock(moment)).salt(moment.date(), create=True)
    assert len(salt_items()) == 4
    store = SaltStore(wiring.dynamodb(), table, Clock(NOON))
    assert store.delete_expired() == ["2026-11-20", "2026-11-21"]
    assert sorted(i["sk"]["S"] for i in salt_items()) == ["2026-11-22", "2026-11-23"]
    assert store.delete_expired() == []


def test_a_second_instance_uses_the_salt_the_first_created(aws: dict[str, str]) -> None:
    table = wiring.settings().app_table
    first = SaltStore(wiring.dynamodb(), table, Clock(NOON))
    second = SaltStore(wiring.dynamodb(), table, Clock(NOON))
    salt = first.salt(NOON.date(), create=True)
    assert second.salt(NOON.date(), create=True) == salt
    assert len(salt_items()) == 1


def test_losing_the_creation_race_reads_the_winner(aws: dict[str, str]) -> None:
    table = wiring.settings().app_table
    winner = SaltStore(wiring.dynamodb(), table, Clock(NOON))
    loser = SaltStore(wiring.dynamodb(), table, Clock(NOON))
    # The loser read "no salt" just before the winner wrote it.
    loser_read = loser._read
    reads: list[bytes | None] = []

    def read_after_winner(day: date) -> bytes | None:
        if not reads:
            reads.append(None)
            winner.salt(day, create=True)
            return None
        found = loser_read(day)
        reads.append(found)
        return found

    loser._read = read_after_winner  # type: ignore[method-assign]
    assert loser.salt(NOON.date(), create=True) == winner.salt(NOON.date())
    assert len(salt_items()) == 1


def test_only_todays_salt_is_ever_created_and_old_ones_are_refused(aws: dict[str, str]) -> None:
    clock = Clock(NOON)
    store = SaltStore(wiring.dynamodb(), wiring.settings().app_table, clock)
    yesterday = NOON.date() - timedelta(days=1)
    assert store.salt(yesterday, create=True) is None
    assert store.salt(NOON.date() + timedelta(days=1), create=True) is None
    assert salt_items() == []


def test_a_salt_past_its_ttl_is_gone_even_before_the_sweep(aws: dict[str, str]) -> None:
    """DynamoDB deletes expired items within days, not at once: we never use them."""
    clock = Clock(NOON)
    table = wiring.settings().app_table
    created = SaltStore(wiring.dynamodb(), table, clock).salt(NOON.date(), create=True)
    assert created is not None
    clock.at = NOON + timedelta(days=1)  # tomorrow: today's salt is yesterday's
    assert SaltStore(wiring.dynamodb(), table, clock).salt(NOON.date()) == created
    clock.at = datetime(2026, 11, 25, 0, 0, 1, tzinfo=UTC)  # past its ttl, not swept
    assert len(salt_items()) == 1
    assert SaltStore(wiring.dynamodb(), table, clock).salt(NOON.date()) is None


def test_the_memory_cache_forgets_salts_older_than_yesterday(aws: dict[str, str]) -> None:
    clock = Clock(NOON)
    store = SaltStore(wiring.dynamodb(), wiring.settings().app_table, clock)
    salt = store.salt(NOON.date(), create=True)
    clock.at = NOON + timedelta(days=1)
    assert store.salt(NOON.date()) == salt  # yesterday: kept for the midnight overlap
    clock.at = NOON + timedelta(days=2)
    with count_aws_calls(wiring.dynamodb()) as calls:
        assert store.salt(NOON.date()) is None
    assert sum(calls.values()) == 0
    assert NOON.date() not in store._cache


# --- hops ----------------------------------------------------------------------------------


def test_a_ping_is_one_write_in_steady_state(aws: dict[str, str]) -> None:
    service = make_service(Clock(NOON))
    service.record_ping(ping_headers("/about-me"), b"PING", context(ALICE_IP))  # creates salt
    with count_aws_calls(service.dynamodb) as calls:
        for _ in range(10):
            outcome = service.record_ping(ping_headers("/blog"), b"PING", context(ALICE_IP))
            assert outcome is PingOutcome.RECORDED
    assert calls == {"dynamodb.PutItem": 10}
    assert len(hop_items()) == 11


def test_a_hop_is_stored_per_visitor_and_day_with_retention(aws: dict[str, str]) -> None:
    service = make_service(Clock(NOON))
    service.record_ping(
        ping_headers("/blog?email=a@b.example#top", source="/about-me"), b"PING", context(ALICE_IP)
    )
    [hop] = hop_items()
    salt = service.salts.salt(NOON.date())
    assert salt is not None
    visitor_id = visitor_hash(salt, Visitor(SITE, ALICE_IP, DESKTOP_UA))
    assert hop["pk"]["S"] == f"hop#2026-11-23#{visitor_id}"
    assert hop["gsi1pk"]["S"] == "hops#2026-11-23"
    assert hop["gsi1sk"]["S"].startswith(f"{visitor_id}#2026-11-23T12:00:00.000Z#")
    assert hop["from_page"]["S"] == "/about-me"
    assert hop["to_page"]["S"] == "/blog"  # query and fragment are not kept
    assert int(hop["ttl"]["N"]) == int((NOON + timedelta(days=30)).timestamp())


def test_without_ping_from_the_hop_has_an_unknown_origin(aws: dict[str, str]) -> None:
    clock = Clock(NOON)
    service = make_service(clock)
    service.record_ping(ping_headers("/blog", source=None), b"PING", context(ALICE_IP))
    [hop] = service.journey_today(Visitor(SITE, ALICE_IP, DESKTOP_UA))
    assert hop.from_page is None and hop.to_page == "/blog"


def test_the_journey_is_the_visitors_own_and_in_order(aws: dict[str, str]) -> None:
    clock = Clock(NOON)
    service = make_service(clock)
    for minute, (source, target) in enumerate([("/", "/about-me"), ("/about-me", "/blog")]):
        clock.at = NOON + timedelta(minutes=minute)
        service.record_ping(ping_headers(target, source), b"PING", context(ALICE_IP))
    service.record_ping(ping_headers("/blog", "/"), b"PING", context(BOB_IP))
    service.record_ping(ping_headers("/", "/blog", ua=MAC_UA), b"PING", context(ALICE_IP))
    alice = service.journey_today(Visitor(SITE, ALICE_IP, DESKTOP_UA))
    bob = service.journey_today(Visitor(SITE, BOB_IP, DESKTOP_UA))
    assert [(h.from_page, h.to_page) for h in alice] == [("/", "/about-me"), ("/about-me", "/blog")]
    assert [(h.from_page, h.to_page) for h in bob] == [("/", "/blog")]
    assert service.journey_today(Visitor("localhost:8000", ALICE_IP, DESKTOP_UA)) == []


def test_the_site_in_the_hash_is_the_audited_site_not_the_api_host(aws: dict[str, str]) -> None:
    """Two sites pinging one API host: the same person (IP and user agent) gets unrelated
    hashes on each, and each site's /journey shows only that site's hops."""
    clock = Clock(NOON)
    service = make_service(clock, site_hosts=(SITE, OTHER_SITE))
    api_host = {"Host": "api.linktrail.example"}  # what /ping is served by, for both sites
    service.record_ping(ping_headers("/blog", **api_host), b"PING", context(ALICE_IP))
    service.record_ping(
        {
            "Ping-To": f"https://{OTHER_SITE}/pricing",
            "Ping-From": f"https://{OTHER_SITE}/",
            "User-Agent": DESKTOP_UA,
            **api_host,
        },
        b"PING",
        context(ALICE_IP),
    )
    salt = service.salts.salt(NOON.date())
    assert salt is not None
    hashes = {hop["site"]["S"]: hop["pk"]["S"].rsplit("#", 1)[1] for hop in hop_items()}
    assert hashes == {
        SITE: visitor_hash(salt, Visitor(SITE, ALICE_IP, DESKTOP_UA)),
        OTHER_SITE: visitor_hash(salt, Visitor(OTHER_SITE, ALICE_IP, DESKTOP_UA)),
    }
    assert hashes[SITE] != hashes[OTHER_SITE]
    api_visitor = visitor_hash(salt, Visitor("api.linktrail.example", ALICE_IP, DESKTOP_UA))
    assert api_visitor not in hashes.values()

    def journey_on(host: str) -> list[tuple[str | None, str]]:
        headers = {"Host": host, "User-Agent": DESKTOP_UA}
        own = service.own_journey(headers, context(ALICE_IP))
        return [(hop.from_page, hop.to_page) for hop in own.hops]

    assert journey_on(SITE) == [("/", "/blog")]
    assert journey_on(OTHER_SITE.upper()) == [("/", "/pricing")]


def test_a_journey_page_served_under_an_unknown_host_shows_nothing(aws: dict[str, str]) -> None:
    service = make_service(Clock(NOON))
    service.record_ping(ping_headers("/blog"), b"PING", context(ALICE_IP))
    for headers in ({"Host": "api.linktrail.example"}, {}):
        with count_aws_calls(service.dynamodb) as calls:
            own = service.own_journey({**headers, "User-Agent": DESKTOP_UA}, context(ALICE_IP))
        assert own.hops == [] and not own.opted_out
        assert sum(calls.values()) == 0
    assert len(service.own_journey(ping_headers("/"), context(ALICE_IP)).hops) == 1


def test_a_new_day_is_a_new_visitor_and_yesterdays_hops_are_not_today(aws: dict[str, str]) -> None:
    clock = Clock(NOON)
    service = make_service(clock)
    service.record_ping(ping_headers("/blog"), b"PING", context(ALICE_IP))
    clock.at = NOON + timedelta(days=1)
    alice = Visitor(SITE, ALICE_IP, DESKTOP_UA)
    assert service.journey_today(alice) == []
    service.record_ping(ping_headers("/about-me"), b"PING", context(ALICE_IP))
    [today] = service.journey_today(alice)
    assert today.to_page == "/about-me"
    partitions = {h["pk"]["S"].rsplit("#", 1)[1] for h in hop_items()}
    assert len(partitions) == 2  # different salts: the two days cannot be joined


def test_reading_a_journey_never_writes(aws: dict[str, str]) -> None:
    service = make_service(Clock(NOON))
    with count_aws_calls(service.dynamodb) as calls:
        assert service.journey_today(Visitor(SITE, ALICE_IP, DESKTOP_UA)) == []
    assert calls == {"dynamodb.GetItem": 1}
    assert salt_items() == [] and hop_items() == []


# --- flows ---------------------------------------------------------------------------------


def seed_two_days(service: Journeys, clock: Clock) -> None:
    day1 = NOON - timedelta(days=1)
    walks: dict[tuple[datetime, str, str], list[tuple[str | None, str]]] = {
        (day1, ALICE_IP, DESKTOP_UA): [("/", "/about-me"), ("/about-me", "/blog")],
        (day1, BOB_IP, DESKTOP_UA): [(None, "/blog")],
        (NOON, ALICE_IP, DESKTOP_UA): [("/", "/about-me"), ("/about-me", "/blog"), ("/blog", "/")],
        (NOON, ALICE_IP, MAC_UA): [("/", "/about-me")],
    }
    for (day, ip, ua), hops in walks.items():
        for minute, (source, target) in enumerate(hops):
            clock.at = day + timedelta(minutes=minute)
            service.record_ping(ping_headers(target, source, ua=ua), b"PING", context(ip))
    clock.at = NOON + timedelta(hours=1)


def test_flows_aggregate_transitions_entries_exits_and_visitors(aws: dict[str, str]) -> None:
    clock = Clock(NOON)
    service = make_service(clock)
    seed_two_days(service, clock)
    with count_aws_calls(service.dynamodb) as calls:
        flows = service.flows({"from": "2026-11-21", "to": "2026-11-23"})
    assert calls == {"dynamodb.Query": 3}  # one per day on gsi1; nothing Scans
    assert flows["from"] == "2026-11-21" and flows["to"] == "2026-11-23"
    assert flows["hops"] == 7 and flows["visitors"] == 4
    assert flows["visitors_per_day"] == [
        {"day": "2026-11-21", "visitors": 0, "hops": 0},
        {"day": "2026-11-22", "visitors": 2, "hops": 3},
        {"day": "2026-11-23", "visitors": 2, "hops": 4},
    ]
    assert flows["transitions"] == [
        {"from": "/", "to": "/about-me", "count": 3},
        {"from": "/about-me", "to": "/blog", "count": 2},
        {"from": "(unknown)", "to": "/blog", "count": 1},
        {"from": "/blog", "to": "/", "count": 1},
    ]
    assert flows["entry_pages"] == [{"page": "/", "count": 3}, {"page": "(unknown)", "count": 1}]
    assert flows["exit_pages"] == [
        {"page": "/blog", "count": 2},
        {"page": "/", "count": 1},
        {"page": "/about-me", "count": 1},
    ]
    answer = repr(flows)
    for hop in hop_items():
        assert hop["pk"]["S"].rsplit("#", 1)[1] not in answer  # no visitor hash leaves


def test_flows_default_to_today(aws: dict[str, str]) -> None:
    clock = Clock(NOON)
    service = make_service(clock)
    seed_two_days(service, clock)
    flows = service.flows({})
    assert (flows["from"], flows["to"], flows["hops"]) == ("2026-11-23", "2026-11-23", 4)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-10-01", "to": "2026-11-01"}, "to"),  # 32 days
        ({"from": "2026-11-23", "to": "2026-11-22"}, "from"),
        ({"from": "23/11/2026"}, "from"),
        ({"to": "2026-02-30"}, "to"),
        ({"from": "2026-11-23", "visitor": "x"}, "visitor"),
    ],
)
def test_flows_reject_bad_ranges(aws: dict[str, str], params: dict, field: str) -> None:
    service = make_service(Clock(NOON))
    with pytest.raises(Problem) as raised:
        service.flows(params)
    assert raised.value.status == 400 and raised.value.field == field


def test_flows_accept_exactly_31_days(aws: dict[str, str]) -> None:
    flows = make_service(Clock(NOON)).flows({"from": "2026-10-01", "to": "2026-10-31"})
    assert len(flows["visitors_per_day"]) == 31


# --- privacy -------------------------------------------------------------------------------


DESKTOP_FRAGMENTS = [DESKTOP_UA, "X11; Linux x86_64", "Chrome/150.0.0.0"]
MAC_FRAGMENTS = [MAC_UA, "Intel Mac OS X 14_5", "Version/18.0"]


def test_no_ip_or_user_agent_is_stored_anywhere(aws: dict[str, str]) -> None:
    clock = Clock(NOON)
    service = make_service(clock, pepper=b"pepper")
    seed_two_days(service, clock)
    items = all_items()
    assert len([i for i in items if i["pk"]["S"].startswith("hop#")]) == 7
    assert_no_ip_or_ua(items, [ALICE_IP, BOB_IP], DESKTOP_FRAGMENTS + MAC_FRAGMENTS, (SITE,))


def item(**attributes: Any) -> dict[str, Any]:
    return {"pk": {"S": "leak"}, **attributes}


@pytest.mark.parametrize(
    "leaky",
    [
        item(seen={"M": {"ip": {"S": "127.0.0.1"}}}),
        item(client={"S": "127.0.0.1:54321"}),  # ip:port of the caller, not the site
        item(by_ip={"M": {"127.0.0.1": {"N": "3"}}}),  # as a map key
        item(ips={"SS": ["10.0.0.1", "127.0.0.1"]}),
        item(note={"S": "from 127.0.0.1 at noon"}),
        item(url={"S": "http://127.0.0.1:8000/blog?ip=127.0.0.1"}),  # in a site URL's query
        item(packed={"B": ipaddress.IPv4Address("127.0.0.1").packed}),
        item(number={"N": str(int(ipaddress.IPv4Address("127.0.0.1")))}),
        item(ua={"S": f"ua={DESKTOP_UA}"}),
        item(ua={"S": DESKTOP_UA.upper()}),
        item(platform={"S": "x11; linux x86_64"}),  # a fragment is enough
        item(hops={"L": [{"M": {"agent": {"S": "Chrome/150.0.0.0"}}}]}),
    ],
)
def test_the_privacy_check_notices_a_stored_ip_or_user_agent(leaky: dict[str, Any]) -> None:
    """The check can fail: each of these items stores the IP or a piece of the UA."""
    with pytest.raises(AssertionError):
        assert_no_ip_or_ua([leaky], ["127.0.0.1"], DESKTOP_FRAGMENTS, (SITE,))


@pytest.mark.parametrize(
    "harmless",
    [
        item(site={"S": SITE}),  # a configured site host names the site, not a person
        item(url={"S": "http://127.0.0.1:8000/about-me?x=1"}),
        item(url={"S": "https://127.0.0.1/blog"}),
        item(queue={"S": "http://127.0.0.1:49152/123456789012/linktrail-local-events"}),
        item(other={"S": "127.0.0.10"}, version={"S": "Chrome/149.0.0.0"}),
    ],
)
def test_the_privacy_check_lets_server_addresses_pass(harmless: dict[str, Any]) -> None:
    assert_no_ip_or_ua([harmless], ["127.0.0.1"], DESKTOP_FRAGMENTS, (SITE,))


def test_a_salt_older_than_48_hours_is_swept_and_its_hashes_cannot_be_recomputed(
    aws: dict[str, str],
) -> None:
    clock = Clock(NOON - timedelta(days=2))  # 2026-11-21
    service = make_service(clock)
    service.record_ping(ping_headers("/blog"), b"PING", context(ALICE_IP))
    old_salt = service.salts.salt(clock.at.date())
    assert old_salt is not None
    [old_hop] = hop_items()
    old_hash = old_hop["pk"]["S"].rsplit("#", 1)[1]
    clock.at = NOON - timedelta(days=1)
    service.record_ping(ping_headers("/blog"), b"PING", context(ALICE_IP))
    clock.at = NOON
    service.record_ping(ping_headers("/blog"), b"PING", context(ALICE_IP))
    assert {i["sk"]["S"] for i in salt_items()} == {"2026-11-21", "2026-11-22", "2026-11-23"}

    dynamodb = wiring.dynamodb()
    expire_ttl_items(dynamodb, table_names(), now=NOON.timestamp())

    # Today's and yesterday's salts are kept for the midnight overlap; the old one is gone.
    assert {i["sk"]["S"] for i in salt_items()} == {"2026-11-22", "2026-11-23"}
    # The hop itself is kept for its retention, but nothing can tie it to a person again:
    assert old_hop in hop_items()
    fresh = SaltStore(dynamodb, wiring.settings().app_table, Clock(NOON))
    assert fresh.salt(date(2026, 11, 21)) is None
    remaining = [bytes(i["salt"]["B"]) for i in salt_items()]
    assert old_salt not in remaining
    alice = Visitor(SITE, ALICE_IP, DESKTOP_UA)
    assert old_hash not in {visitor_hash(salt, alice) for salt in remaining}
    assert old_salt not in "".join(s for i in all_items() for s in stored_strings(i)).encode(
        "latin-1"
    )


def test_service_is_cached_per_runtime(aws: dict[str, str]) -> None:
    first = wiring.journeys()
    assert wiring.journeys() is first
    wiring.reset()
    assert wiring.journeys() is not first


def test_flows_keep_several_sites_apart(aws: dict[str, str]) -> None:
    """Two configured sites pinging one API: pages carry their host, so the same path on
    two sites is two pages, and a hop from one site to the other says so."""
    service = make_service(Clock(NOON), site_hosts=(SITE, OTHER_SITE))

    def ping(site: str, to: str, source: str, source_site: str | None = None) -> None:
        headers = {
            "Ping-To": f"http://{site}{to}",
            "Ping-From": f"http://{source_site or site}{source}",
            "User-Agent": DESKTOP_UA,
        }
        assert service.record_ping(headers, "PING", context(ALICE_IP)) == PingOutcome.RECORDED

    ping(SITE, "/a", "/")
    ping(OTHER_SITE, "/a", "/")
    ping(OTHER_SITE, "/checkout", "/blog", source_site=SITE)
    flows = service.flows({"from": NOON.date().isoformat(), "to": NOON.date().isoformat()})
    assert sorted((t["from"], t["to"], t["count"]) for t in flows["transitions"]) == [
        (f"{SITE}/", f"{SITE}/a", 1),
        (f"{SITE}/blog", f"{OTHER_SITE}/checkout", 1),
        (f"{OTHER_SITE}/", f"{OTHER_SITE}/a", 1),
    ]
    assert flows["truncated"] is False


def test_flows_stop_at_their_read_bound_and_say_so(aws: dict[str, str]) -> None:
    service = make_service(Clock(NOON))
    for page in ("/a", "/b", "/c"):
        service.record_ping(ping_headers(page), "PING", context(ALICE_IP))
    day = NOON.date().isoformat()
    flows = make_service(Clock(NOON), max_flow_hops=2).flows({"from": day, "to": day})
    assert (flows["hops"], flows["truncated"]) == (2, True)
    # exactly all of them: nothing left out
    flows = make_service(Clock(NOON), max_flow_hops=3).flows({"from": day, "to": day})
    assert (flows["hops"], flows["truncated"]) == (3, False)


def test_the_own_journey_shows_the_latest_hops_at_most(aws: dict[str, str]) -> None:
    clock = Clock(NOON)
    service = make_service(clock, max_own_hops=2)
    for minute, page in enumerate(("/a", "/b", "/c")):
        clock.at = NOON + timedelta(minutes=minute)
        service.record_ping(ping_headers(page), "PING", context(ALICE_IP))
    hops = service.journey_today(Visitor(SITE, ALICE_IP, DESKTOP_UA))
    assert [h.to_page for h in hops] == ["/b", "/c"]  # the latest two, oldest first
