"""Where a redirect really sends a browser, and whether the operator allows it.

A destination is checked on the host a browser will open, not on what `urlsplit` sees:
browsers parse URLs the WHATWG way (url.spec.whatwg.org), which differs from RFC 3986
parsers exactly where redirects are abused:

- for http(s), `\\` is a path separator, so `http://evil.test\\.example.com/` opens
  `evil.test`, while `urlsplit` keeps the backslash inside the host;
- tabs and newlines anywhere are removed before parsing, so `exa\\tmple.com` is
  `example.com`;
- the host is percent-decoded, then mapped by IDNA (a full-width dot `%EF%BC%8E` becomes
  a dot), and `http:evil.test` or `http:////evil.test` still reach `evil.test`;
- a host whose last label is a number is an IPv4 address in any of several spellings
  (`0x7f.1` is 127.0.0.1).

Rather than reproduce every rule, anything a browser would rewrite is refused, so the
URL accepted is the URL opened: no backslash, whitespace or control character, no
non-ASCII, no `%` or userinfo in the authority, exactly `scheme://host[:port]`, and
hosts made of DNS labels (letters, digits, `-`, `_`; `xn--` labels must decode), four
decimal numbers, or a bracketed IPv6 address. Hosts compare lower-cased and without
one trailing dot (`example.com.` is the DNS name `example.com`).

An allowlist entry is a host (`example.com`) or a wildcard (`*.example.com`) that
matches whole labels below it: `a.example.com` and `a.b.example.com`, never
`example.com` itself, `evilexample.com` or `example.com.evil.test`.

The edge click function imports this module as `edge.shared.destinations` (a copy made
by the edge build), so it uses the standard library only.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

MAX_URL_LENGTH = 2000  # S3 accepts WebsiteRedirectLocation up to 2 KB
SCHEMES = ("http", "https")
LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\Z")
# WHATWG's "ends in a number": such a host is parsed as an IPv4 address.
NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)\Z")
PORT = re.compile(r"[0-9]{0,5}\Z")
MAX_HOST_LENGTH = 253


class UnsafeDestination(ValueError):
    """A URL a browser would open differently from how it reads, or not at all."""


def browser_host(url: str) -> str:
    """The host a browser opens for `url`, lower-case, without a trailing dot; raises
    UnsafeDestination for any URL it would not open exactly as written."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeDestination(f"is over {MAX_URL_LENGTH} characters")
    if not url.isascii():
        raise UnsafeDestination("must be ASCII; percent-encode other characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise UnsafeDestination("must not contain spaces or control characters")
    if "\\" in url:
        raise UnsafeDestination("must not contain a backslash (browsers read it as '/')")
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.lower() not in SCHEMES:
        raise UnsafeDestination("must be an absolute http or https URL (scheme://host)")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        raise UnsafeDestination("must not carry user:password@")
    if "%" in authority:
        raise UnsafeDestination("must not percent-encode its host")
    if not authority:
        raise UnsafeDestination("has no host")
    return _host(authority)


def _host(authority: str) -> str:
    if authority.startswith("["):
        literal, bracket, port = authority[1:].partition("]")
        if not bracket:
            raise UnsafeDestination("has an invalid IPv6 address")
        _check_port(port)
        try:
            return f"[{ipaddress.IPv6Address(literal).compressed}]"
        except ValueError:
            raise UnsafeDestination("has an invalid IPv6 address") from None
    host, colon, port = authority.partition(":")
    _check_port(colon + port)
    host = host.lower()
    host = host[:-1] if host.endswith(".") else host
    labels = host.split(".")
    if not host or len(host) > MAX_HOST_LENGTH or not all(LABEL.match(x) for x in labels):
        raise UnsafeDestination("has an invalid host name")
    if NUMERIC_LABEL.match(labels[-1]):
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            raise UnsafeDestination("must write an IPv4 address as four decimal numbers") from None
    for label in labels:
        if label.startswith("xn--"):
            try:
                label[4:].encode("ascii").decode("punycode")
            except UnicodeError:
                raise UnsafeDestination("has an invalid IDNA (xn--) label") from None
    return host


def _check_port(port: str) -> None:
    """`port` is what follows the host: empty, or ':' and up to five digits."""
    if port and not (port.startswith(":") and PORT.match(port[1:])):
        raise UnsafeDestination("has an invalid port")
    if port[1:] and int(port[1:]) > 65535:
        raise UnsafeDestination("has an invalid port")


def allowlist_from(value: str) -> tuple[str, ...]:
    """`ALLOWED_DESTINATION_HOSTS` as a tuple of entries (comma-separated; empty: any)."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def allowlist_entry(entry: str) -> str:
    """An operator's entry as hosts are compared: lower-case, IDNA (xn--) form, no
    trailing dot; a leading `*.` is kept."""
    wildcard = entry.startswith("*.")
    name = entry[2:] if wildcard else entry
    name = name.strip().rstrip(".").lower()
    if not name.isascii():
        name = name.encode("idna").decode("ascii")
    return ("*." if wildcard else "") + name


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Whether `host` (as `browser_host` returns it) is on the allowlist; a wildcard
    matches one or more whole labels below its name."""
    for entry in (allowlist_entry(e) for e in allowed):
        if entry.startswith("*."):
            if _is_name(host) and host.endswith("." + entry[2:]):
                return True
        elif host == entry:
            return True
    return False


def _is_name(host: str) -> bool:
    """A DNS name, not an IP address (wildcards match names only)."""
    return not host.startswith("[") and not NUMERIC_LABEL.match(host.rsplit(".", 1)[-1])


def check_destination(url: str, allowed: Iterable[str] = ()) -> str:
    """The host of a redirect destination; raises UnsafeDestination if a browser would not
    open `url` as written or (with an allowlist) its host is not on it."""
    host = browser_host(url)
    allowed = tuple(allowed)
    if allowed and not host_allowed(host, allowed):
        raise UnsafeDestination(f"has host {host!r}, which is not on the operator's allowlist")
    return host
