"""The OpenAPI description of texting: a link's `sms` order and message, resending it, and
Vonage's signed webhooks (receipts and inbound STOP/START)."""

from __future__ import annotations

from chalicelib.core import contract as oa
from chalicelib.core.contract import Paths, Schema
from chalicelib.core.payloads import MAX_JSON_BYTES
from chalicelib.links.contract import CODE_PARAMETER
from chalicelib.messaging import signatures
from chalicelib.messaging.message import RECEIPT_STATUSES
from chalicelib.messaging.orders import CHANNEL_TEXT_LIMITS, LINK_PLACEHOLDER, ORDER_FIELDS


def schemas() -> dict[str, Schema]:
    limits = ", ".join(f"{channel} {limit}" for channel, limit in CHANNEL_TEXT_LIMITS.items())
    return {
        "SmsOrder": {
            "type": "object",
            "required": ["to"],
            "additionalProperties": False,
            "maxProperties": len(ORDER_FIELDS),
            "description": "Text the new link to one recipient (uses one send of the key's "
            "daily quota).",
            "properties": {
                "to": {"type": "string", "description": "E.164 number (a Messenger id for "
                       "messenger); in SMS_ALLOWED_COUNTRIES when that is set."},
                "text": {"type": "string", "pattern": f".*{LINK_PLACEHOLDER}.*".replace(
                    "{", "\\{").replace("}", "\\}"),
                    "description": f"A template containing {LINK_PLACEHOLDER}; at most, with "
                    f"the link: {limits} characters."},
                "channel": {"type": "string", "enum": list(CHANNEL_TEXT_LIMITS),
                            "default": "sms"},
                "from": {"type": "string", "minLength": 1},
            },
        },
        "Message": {
            "type": "object",
            "properties": {
                "uuid": {"type": ["string", "null"]},
                "channel": {"type": ["string", "null"]},
                "to": {"type": ["string", "null"], "description": "Masked."},
                "status": {"type": ["string", "null"]},
                "status_at": {"type": ["string", "null"]},
                "error": {"type": "string"},
                "retry_after": {"type": "integer"},
                "price": {"type": "string"},
                "currency": {"type": ["string", "null"]},
            },
        },
    }


def _webhook(operation_id: str, summary: str, body: Schema) -> oa.Operation:
    return {
        "operationId": operation_id,
        "summary": summary,
        "description": "Verified before anything is written: the JWT's signature, its "
        f"payload_hash against the raw body, and its iat (at most "
        f"{signatures.MAX_AGE_SECONDS} s old, {signatures.MAX_FUTURE_SECONDS} s ahead).",
        "security": [{oa.VONAGE_JWT: []}],
        "requestBody": oa.json_body(body, MAX_JSON_BYTES),
        "responses": {
            "204": oa.no_content("Applied, or ignored (not one we apply)."),
            **oa.body_problems(401),
        },
    }


def paths() -> Paths:
    receipt = {
        "type": "object",
        "properties": {
            "message_uuid": {"type": "string"},
            "status": {"type": "string", "enum": sorted(RECEIPT_STATUSES)},
            "client_ref": {"type": "string", "description": "The link's code."},
            "timestamp": {"type": "string"},
            "to": {"type": "string"},
            "from": {"type": "string"},
            "channel": {"type": "string"},
            "usage": {"type": "object"},
            "error": {"type": "object"},
        },
    }
    inbound = {
        "type": "object",
        "properties": {"from": {"type": "string"}, "text": {"type": "string"},
                       "channel": {"type": "string"}},
    }
    return {
        "/api/links/{code}/resend": {
            "post": oa.api_operation(
                "resendMessage", "Text a link's message again", "links:write",
                {"200": oa.json_answer("The message as resent.", {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"},
                                   "message": {"$ref": "#/components/schemas/Message"}}}),
                 **oa.problems(404, 409, 429, 503)},
                parameters=[CODE_PARAMETER],
            ),
        },
        "/webhooks/vonage/status": {
            "post": _webhook("vonageStatus", "Vonage delivery receipts", receipt),
        },
        "/webhooks/vonage/inbound": {
            "post": _webhook("vonageInbound", "Vonage inbound texts (STOP/START)", inbound),
        },
    }
