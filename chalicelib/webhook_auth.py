"""Signed Vonage webhooks: `Authorization: Bearer <JWT>`, HS256 with the account's
signature secret, whose `payload_hash` claim is the SHA-256 hex of the raw body.

The signature alone does not bind the token to the body (a captured token could carry
any body), so the hash is compared too, in constant time. PyJWT is imported here only,
on the webhook path.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from chalicelib.problems import Problem

# Vonage's clock and ours may differ a little; iat in the "future" within this is fine.
CLOCK_LEEWAY_SECONDS = 300


class WebhookRefused(Problem):
    """401: the webhook is not provably from Vonage. Nothing is written."""

    def __init__(self, detail: str) -> None:
        super().__init__(401, detail, slug="webhook-signature",
                         headers={"WWW-Authenticate": 'Bearer realm="vonage-webhooks"'})


def verify(authorization: str | None, raw_body: bytes, secret: str) -> dict[str, Any]:
    """The token's claims when the request is signed with `secret` over `raw_body`."""
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
            options={"require": ["payload_hash"], "verify_aud": False},
            leeway=CLOCK_LEEWAY_SECONDS,
        )
    except jwt.PyJWTError as error:
        raise WebhookRefused(f"The webhook token is not valid ({type(error).__name__}).") from None
    claimed = claims.get("payload_hash")
    actual = hashlib.sha256(raw_body).hexdigest()
    if not isinstance(claimed, str) or not hmac.compare_digest(
        claimed.lower().encode(), actual.encode()
    ):
        raise WebhookRefused("The webhook token does not match the body (payload_hash).")
    return claims
