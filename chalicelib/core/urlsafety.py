"""SSRF guard for URLs the service will later fetch or POST to (webhook_url).

`check_webhook_url` runs when a URL is accepted (create/update): it refuses schemes
other than http(s), credentials in the URL, whitespace and control characters, URLs
over 2,000 characters, plain http outside the local stage, and hosts that are IP
literals or resolve to any non-global address (loopback, RFC 1918, link-local such as
the instance metadata service 169.254.169.254, the Lambda runtime API on 127.0.0.1:9001,
IPv6 ULA/loopback, IPv4-mapped IPv6 of those, ...).

`public_addresses` runs again just before a POST (a name may be re-pointed after it was
accepted: DNS rebinding), and the POST connects to one of the addresses it returned:
resolving the name a second time to connect would reopen the hole.

On the local stage (`allow_private=True`) private addresses and plain http are allowed,
so a receiver on 127.0.0.1 works under `make dev`.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from urllib.parse import urlsplit, urlunsplit

from chalicelib.core.problems import BadRequest

MAX_URL_LENGTH = 2000
RESOLVE_TIMEOUT_SECONDS = 2.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:  # 64:ff9b::a.b.c.d
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not embedded.is_global:
            return False
    return bool(address.is_global) and not address.is_multicast


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def resolve(host: str, timeout: float = RESOLVE_TIMEOUT_SECONDS) -> list[IPAddress] | None:
    """Every address `host` resolves to; None when it does not resolve in `timeout`."""
    literal = _ip_literal(host)
    if literal is not None:
        return [literal]
    found: list[IPAddress] = []
    failed: list[BaseException] = []

    def lookup() -> None:
        try:
            for *_, sockaddr in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP):
                address = _ip_literal(str(sockaddr[0]))
                if address is not None:
                    found.append(address)
        except (OSError, UnicodeError) as error:
            failed.append(error)

    # getaddrinfo has no timeout of its own: run it in a daemon thread and stop waiting.
    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive() or failed or not found:
        return None
    return found


def public_addresses(host: str, timeout: float = RESOLVE_TIMEOUT_SECONDS) -> list[IPAddress] | None:
    """The addresses `host` resolves to (in resolver order, no repeats) when it resolves
    only to global (public) ones; None otherwise. Connect to these, never to the name."""
    addresses = resolve(host, timeout)
    if not addresses or not all(_is_public(a) for a in addresses):
        return None
    return list(dict.fromkeys(addresses))


def check_webhook_url(url: str, *, field: str, allow_private: bool) -> str:
    """The normalised URL, or BadRequest(detail, field=field) when it is unsafe to call."""
    if not isinstance(url, str) or not url:
        raise BadRequest("must be a non-empty URL", field=field)
    if len(url) > MAX_URL_LENGTH:
        raise BadRequest(f"must be at most {MAX_URL_LENGTH} characters", field=field)
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise BadRequest("must not contain whitespace or control characters", field=field)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise BadRequest(f"is not a valid URL ({error})", field=field) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BadRequest("must be an http(s) URL", field=field)
    if scheme != "https" and not allow_private:
        raise BadRequest("must use https", field=field)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise BadRequest("must not contain a user name or password", field=field)
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise BadRequest("must name a host", field=field)
    literal = _ip_literal(host)
    if literal is not None and not allow_private:
        raise BadRequest("must name a host, not an IP address", field=field)
    if not allow_private:
        addresses = resolve(host)
        if addresses is None:
            raise BadRequest("host does not resolve", field=field)
        if not all(_is_public(a) for a in addresses):
            raise BadRequest("host must resolve to public addresses only", field=field)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))
