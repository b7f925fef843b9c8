"""Which identify and alias calls may link an anonymous id to a user.

/events takes calls from any browser, so a user id in a call proves nothing: whoever knows
or guesses an id could tie someone else's anonymous id to their own user, or theirs to
someone else's, and the warehouse would attribute each side's events to the other. A call
links only with proof:

- a `user_hash`: HMAC-SHA256 (hex) of the user id under the site's identity secret
  (secret "identity-secret"), computed by the site's own server and handed to its page,
  as Intercom's identity verification works; or
- it came from a server source that holds a secret key (`server_source` on the queued
  event). /events marks every browser post False; a server collector authenticated by a
  write key is the one that may set it True.

A call without proof is still forwarded as an event; it links nothing, unless the site
owner chose IDENTITY_TRUST=unverified, which trusts every browser's claim (README).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from chalicelib.tracking.event_queue import QueuedEvent

SECRET_NAME = "identity-secret"  # noqa: S105 (the SSM name, not a value)
TRUST_VERIFIED = "verified"
TRUST_UNVERIFIED = "unverified"
TRUST_LEVELS = (TRUST_VERIFIED, TRUST_UNVERIFIED)
USER_HASH_CHARS = 64  # SHA-256 in hex


def user_hash(secret: bytes, user_id: str) -> str:
    """What the site's server computes for `user_id` and hands to the page."""
    return hmac.new(secret, user_id.encode(), hashlib.sha256).hexdigest()


def is_user_hash(value: object) -> bool:
    """Shaped like a user_hash (64 hex digits); /events refuses anything else."""
    if not isinstance(value, str) or len(value) != USER_HASH_CHARS:
        return False
    return all(c in "0123456789abcdefABCDEF" for c in value)


@dataclass(frozen=True)
class LinkProof:
    """Decides whether a queued identify or alias event may write its link."""

    secret: bytes = field(default=b"", repr=False)
    trust_unverified: bool = False

    def proves(self, event: QueuedEvent) -> bool:
        if self.trust_unverified or event.get("server_source") is True:
            return True
        given, user_id = event.get("user_hash"), event.get("user_id")
        if not self.secret or not isinstance(given, str) or not isinstance(user_id, str):
            return False
        return hmac.compare_digest(user_hash(self.secret, user_id), given.lower())
