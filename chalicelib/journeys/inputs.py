"""What a journeys request carries, checked: site URLs (Ping-To, Ping-From, Host), the
opt-out headers, the caller's address as API Gateway saw it, and dates of a range."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from chalicelib.core.problems import BadRequest, Problem

MAX_URL_LENGTH = 2048
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")
_DEFAULT_PORTS = {"http": 80, "https": 443}


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


def site_url(value: str | None, header: str, site_hosts: frozenset[str]) -> tuple[str, str]:
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
    lowered = lower_keys(headers)
    return _flag(lowered, "sec-gpc") or _flag(lowered, "dnt")


def lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
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
    if not DAY.match(value):
        raise BadRequest(f"{field} must be a date, YYYY-MM-DD.", field=field)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{field} is not a calendar date.", field=field) from None
