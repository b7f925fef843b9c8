"""Signed Vonage webhooks: `Authorization: Bearer <JWT>`, HS256 with the account's
signature secret, whose `payload_hash` claim is the SHA-256 hex of the raw body.

The signature alone does not bind the token to the body (a captured token could carry
any body), so the hash is compared too, in constant time. Nor does it bind it to a time:
a captured request (an inbound STOP or START, a receipt) would verify forever, so `iat`
is required and the token must be at most MAX_AGE_SECONDS old and at most
MAX_FUTURE_SECONDS ahead of our clock (Vonage signs each delivery, retries included,
when it sends it). PyJWT is imported here only, on the webhook path.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from typing import Any

from chalicelib.core.clock import Clock, now
from chalicelib.core.problems import Problem

# A token signed longer ago than this is a replay (or far too late) and refused.
MAX_AGE_SECONDS = 300
# Vonage's clock and ours may differ a little; iat (and exp/nbf) this far ahead is fine.
MAX_FUTURE_SECONDS = 60


class WebhookRefused(Problem):
    """401: the webhook is not provably from Vonage. Nothing is written."""

    def __init__(self, detail: str) -> None:
        super().__init__(401, detail, slug="webhook-signature",
                         headers={"WWW-Authenticate": 'Bearer realm="vonage-webhooks"'})


def verify(
    authorization: str | None, raw_body: bytes, secret: str, clock: Clock = now
) -> dict[str, Any]:
    """The token's claims when the request is signed with `secret` over `raw_body`, no
    older (nor further ahead) than `clock` allows."""
    if not secret:
        raise WebhookRefused("Webhook signature secret is not configured.")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise WebhookRefused("Authorization: Bearer <signed JWT> is required.")
    import jwt  # deferred: PyJWT (+ cryptography) is only needed here

    try:
        claims: dict[str, Any] = jwt.decode(
            token.strip(),
            secret,
            algorithms=["HS256"],
            # iat is checked below, both ways, against our own clock
            options={"require": ["payload_hash", "iat"], "verify_aud": False,
                     "verify_iat": False},
            leeway=MAX_FUTURE_SECONDS,
        )
    except jwt.PyJWTError as error:
        raise WebhookRefused(f"The webhook token is not valid ({type(error).__name__}).") from None
    _check_issued_at(claims.get("iat"), clock().timestamp())
    claimed = claims.get("payload_hash")
    actual = hashlib.sha256(raw_body).hexdigest()
    if not isinstance(claimed, str) or not hmac.compare_digest(
        claimed.lower().encode(), actual.encode()
    ):
        raise WebhookRefused("The webhook token does not match the body (payload_hash).")
    return claims


def _check_issued_at(iat: object, at_epoch: float) -> None:
    if isinstance(iat, bool) or not isinstance(iat, int | float) or not math.isfinite(iat):
        raise WebhookRefused("The webhook token's iat must be a number (epoch seconds).")
    age = at_epoch - iat
    if age > MAX_AGE_SECONDS:
        raise WebhookRefused(f"The webhook token is older than {MAX_AGE_SECONDS} s (iat); "
                             "replayed or delayed requests are refused.")
    if age < -MAX_FUTURE_SECONDS:
        raise WebhookRefused("The webhook token was issued in the future (iat).")
