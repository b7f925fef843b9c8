"""Who a visitor is for one day on one site: a keyed hash, never the inputs.

    visitor = HMAC-SHA256(key = the day's salt [+ journey pepper],
                          msg = site host, client IP, user agent)[:16 bytes]

The site host is the audited site's, not the API's, so several sites may ping one API
host and the same person still gets unrelated hashes on each of them.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

VISITOR_HASH_BYTES = 16


@dataclass(frozen=True)
class Visitor:
    """What identifies a visitor for one day. Held in memory only, never stored."""

    site_host: str
    client_ip: str
    user_agent: str


def visitor_hash(salt: bytes, visitor: Visitor, pepper: bytes = b"") -> str:
    message = "\n".join((visitor.site_host, visitor.client_ip, visitor.user_agent)).encode()
    digest = hmac.new(salt + pepper, message, hashlib.sha256).digest()
    return digest[:VISITOR_HASH_BYTES].hex()
