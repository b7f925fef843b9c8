"""Journeys' inputs and the privacy check: the site and user agents pings come from, the
request context chalice hands a view, and a search of every stored item for a visitor's
address or user agent."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from tests.support.aws import all_items

SITE = "127.0.0.1:8000"
DESKTOP_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/150.0.0.0 Safari/537.36"
)


def context(ip: str) -> dict[str, Any]:
    return {"identity": {"sourceIp": ip}}


def _typed_strings(typed: dict[str, Any]) -> list[str]:
    [(kind, value)] = typed.items()
    if kind == "M":
        return [s for name, inner in value.items() for s in (name, *_typed_strings(inner))]
    if kind == "L":
        return [s for inner in value for s in _typed_strings(inner)]
    if kind in ("SS", "NS"):
        return [str(v) for v in value]
    if kind == "BS":
        return [bytes(v).decode("latin-1") for v in value]
    if kind == "B":
        return [bytes(value).decode("latin-1")]
    return [str(value)]


def stored_strings(item: dict[str, Any]) -> list[str]:
    """Every string a DynamoDB item holds: attribute names, map keys, values (binary
    decoded byte for byte, so a packed address would show too)."""
    return [s for name, typed in item.items() for s in (name, *_typed_strings(typed))]


def ip_forms(ip: str) -> list[str]:
    """How an IPv4 address could be stored: dotted, as a number, packed in a binary."""
    address = ipaddress.IPv4Address(ip)
    return [ip, str(int(address)), address.packed.decode("latin-1")]


def ip_stored_in(text: str, ip: str, site_hosts: tuple[str, ...] = ()) -> bool:
    """Does `text` hold `ip` as a visitor's address? The address may appear only where it
    names a server: the authority of an http(s) URL (its path and query are still
    searched), or a whole configured site host such as "127.0.0.1:8000". Anything else
    counts, "127.0.0.1:54321" (a client's ip:port) included."""
    dotted, number, packed = ip_forms(ip)
    servers = [rf"https?://{re.escape(dotted)}(?::\d+)?(?![\d.])"] + [
        rf"(?<![\d.]){re.escape(host)}(?!\d)" for host in site_hosts if dotted in host
    ]
    rest = re.sub("|".join(servers), " ", text, flags=re.IGNORECASE)
    return (
        re.search(rf"(?<![\d.]){re.escape(dotted)}(?!\d)", rest) is not None
        or re.search(rf"(?<!\d){number}(?!\d)", text) is not None
        or packed in text
    )


def assert_no_ip_or_ua(
    items: list[dict[str, Any]],
    ips: list[str],
    ua_fragments: list[str],
    site_hosts: tuple[str, ...] = (),
) -> None:
    """No IP address where it could be a visitor's, and no distinctive piece of a user
    agent (the whole string, its platform, a unique token), in any name or value."""
    assert items, "nothing to search"
    for item in items:
        for text in stored_strings(item):
            lowered = text.lower()
            for fragment in ua_fragments:
                assert fragment.lower() not in lowered, (fragment, item)
            for ip in ips:
                assert not ip_stored_in(text, ip, site_hosts), (ip, item)


def hop_items() -> list[dict[str, Any]]:
    return [i for i in all_items() if i["pk"]["S"].startswith("hop#")]
