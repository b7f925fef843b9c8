"""The OpenAPI description of the signed link.clicked POST linktrail sends to a link's
webhook_url (an OpenAPI `webhooks` entry: linktrail calls, the receiver answers)."""

from __future__ import annotations

from chalicelib.clicks.webhooks import EVENT_TYPE, MAX_ATTEMPTS, SIGNATURE_HEADER, TOLERANCE_SECONDS
from chalicelib.core import contract as oa
from chalicelib.core.contract import Schema


def webhooks() -> dict[str, Schema]:
    text_or_null = {"type": ["string", "null"]}
    event = {
        "type": "object",
        "required": ["id", "type", "created_at", "data"],
        "properties": {
            "id": {"type": "string", "description": "Stable across retries: deduplicate on it."},
            "type": {"const": EVENT_TYPE},
            "created_at": {"type": "string", "description": "The click's time."},
            "data": {
                "type": "object",
                "required": ["code", "short_url", "clicks"],
                "properties": {
                    "code": {"type": "string"},
                    "short_url": {"type": "string"},
                    "url": text_or_null,
                    "clicks": {"type": "integer", "description": "Human clicks so far."},
                    "campaign_id": text_or_null,
                    "ref": text_or_null,
                    "country": text_or_null,
                },
            },
        },
    }
    return {
        EVENT_TYPE: {
            "post": {
                "operationId": "linkClicked",
                "summary": "A human clicked a link that has a webhook_url",
                "description": (
                    f"Signed: `{SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex>`, v1 = "
                    "HMAC-SHA256(key = the creating API key's webhook secret, message = "
                    "`<t>.<raw body>`). Recompute over the raw bytes, compare in constant "
                    f"time, reject when |now - t| > {TOLERANCE_SECONDS} s. Any non-2xx "
                    f"answer is retried, {MAX_ATTEMPTS} attempts in all; then the failure "
                    "is shown on the link (`webhook`)."
                ),
                "parameters": [oa.header(SIGNATURE_HEADER, {
                    "type": "string", "pattern": "^t=[0-9]+,v1=[0-9a-f]{64}$"}, required=True)],
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": event}}},
                "responses": {
                    "2XX": {"description": "Received; not sent again."},
                    "default": {"description": "Not received: retried."},
                },
            },
        },
    }
