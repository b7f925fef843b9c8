"""Posting one click webhook over HTTP(S) to addresses already checked.

The POST connects to one of exactly the addresses the SSRF check resolved and approved
(the name is not resolved again, which a TTL-0 answer could point at 127.0.0.1); TLS still
sends SNI for, and verifies the certificate of, the URL's host, and the Host header stays
the URL's. Without addresses (the local stage only) it connects by name.

What a failed POST is recorded as is a generic class of failure, never the exception's
text: that carries addresses and ports and would make a port-scan oracle.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

TIMEOUT_SECONDS = 5.0

# (url, body, headers, addresses) -> HTTP status; raises on transport errors. `addresses`
# are the checked IPs to connect to; None (the local stage only) connects by name.
Poster = Callable[[str, bytes, dict[str, str], Sequence[str] | None], int]


def _dial(addresses: Sequence[str], port: int, timeout: float | None) -> socket.socket:
    """TCP to the first of `addresses` that answers (socket.create_connection's walk over
    a resolver's answer, but over addresses already checked: nothing is resolved here)."""
    last: OSError = OSError("no address to connect to")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as error:
            last = error
    raise last


class PinnedHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP for `host`, dialling one of `addresses` instead of resolving `host`."""

    def __init__(self, host: str, port: int, addresses: Sequence[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.addresses = list(addresses)

    def connect(self) -> None:
        self.sock = _dial(self.addresses, self.port, self.timeout)


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS for `host`, dialling one of `addresses`: TLS gets server_hostname=`host`, so
    SNI and certificate verification (the context's, hostname checking on) are for the
    URL's host, not the address. http.client writes Host: host[:port] as usual."""

    def __init__(
        self,
        host: str,
        port: int,
        addresses: Sequence[str],
        timeout: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.addresses = list(addresses)
        self.tls = context

    def connect(self) -> None:
        sock = _dial(self.addresses, self.port, self.timeout)
        try:
            self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def post(
    url: str, body: bytes, headers: dict[str, str], addresses: Sequence[str] | None = None
) -> int:
    """POST with a short timeout and no redirects; the HTTP status (raises on network
    errors). With `addresses` the connection goes to one of them, never to a fresh lookup
    of the URL's host; certificates are verified with the default context either way."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in ("https", "http") or not host:
        raise ValueError("webhook_url must be an http(s) URL with a host")
    port = parts.port or (443 if scheme == "https" else 80)
    connection: http.client.HTTPConnection
    if scheme == "https":
        context = ssl.create_default_context()
        context.set_alpn_protocols(["http/1.1"])
        if addresses is None:
            connection = http.client.HTTPSConnection(
                host, port, timeout=TIMEOUT_SECONDS, context=context
            )
        else:
            connection = PinnedHTTPSConnection(host, port, addresses, TIMEOUT_SECONDS, context)
    elif addresses is None:
        connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_SECONDS)
    else:
        connection = PinnedHTTPConnection(host, port, addresses, TIMEOUT_SECONDS)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=headers)
        return int(connection.getresponse().status)  # 3xx included: redirects not followed
    finally:
        connection.close()


def failure_class(failure: BaseException) -> str:
    """What a failed POST is recorded (and shown to the link's owner) as: a generic class,
    never the exception's text, which names addresses and ports (a port-scan oracle)."""
    if isinstance(failure, TimeoutError):
        return "timed out"
    if isinstance(failure, ssl.SSLError):  # certificate verification included
        return "TLS error"
    if isinstance(failure, OSError):
        return "connection failed"
    if isinstance(failure, http.client.HTTPException):
        return "invalid HTTP response"
    if isinstance(failure, ValueError):
        return "invalid webhook URL"
    return "delivery failed"
