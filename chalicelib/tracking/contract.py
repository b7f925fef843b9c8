"""The OpenAPI description of /events (analytics.js and Segment-shaped messages, CORS by
origin, no key), erasing a user, and the delivery statistics."""

from __future__ import annotations

from chalicelib.core import contract as oa
from chalicelib.core.contract import Paths, Schema
from chalicelib.tracking import collector, deliveries, validation

CORS_ANSWER = {"Access-Control-Allow-Origin": {"type": "string"}, "Vary": {"type": "string"}}


def schemas() -> dict[str, Schema]:
    identifier = {"type": "string", "minLength": 1, "maxLength": validation.MAX_ID_CHARS}
    message = {
        "type": "object",
        "description": f"One message, at most {collector.MAX_EVENT_BYTES:,} bytes as JSON.",
        "properties": {
            "type": {"type": "string", "enum": sorted(validation.TYPES)},
            "event": {"type": "string", "maxLength": validation.MAX_EVENT_NAME_CHARS},
            "userId": {"oneOf": [identifier, {"type": "null"}]},
            "anonymousId": identifier,
            "properties": {"type": "object"},
            "traits": {"type": "object"},
            "context": {"type": "object"},
            "timestamp": {"type": "string", "format": "date-time"},
        },
    }
    return {
        "EventMessage": message,
        "EventsRequest": {
            "oneOf": [
                {"$ref": "#/components/schemas/EventMessage"},
                {"type": "object", "required": ["batch"],
                 "properties": {"batch": {"type": "array", "minItems": 1,
                                          "items": {"$ref": "#/components/schemas/EventMessage"}}}},
            ],
        },
    }


def paths() -> Paths:
    origin = oa.header("Origin", {"type": "string"}, "A browser's origin; it must be allowed.")
    return {
        "/events": {
            "options": {
                "operationId": "eventsPreflight",
                "summary": "CORS preflight of /events",
                "security": [],
                "parameters": [origin],
                "responses": {"204": oa.no_content("Allowed."), **oa.problems(403)},
            },
            "post": {
                "operationId": "collectEvents",
                "summary": "Collect analytics.js or Segment-shaped messages",
                "description": "Open to browsers (no key): the Origin must be one of the "
                "app's allowed origins. text/plain is accepted so a page sends without a "
                "preflight.",
                "security": [],
                "parameters": [origin],
                "requestBody": oa.json_body({"$ref": "#/components/schemas/EventsRequest"},
                                            collector.MAX_REQUEST_BYTES,
                                            collector.ACCEPTED_MEDIA_TYPES),
                "responses": {
                    "202": oa.json_answer("Queued.", {
                        "type": "object", "required": ["accepted", "message_ids"],
                        "properties": {"accepted": {"type": "integer"},
                                       "message_ids": {"type": "array",
                                                       "items": {"type": "string"}}}},
                        CORS_ANSWER),
                    **oa.body_problems(403),
                },
            },
        },
        "/api/users/{user_id}": {
            "delete": oa.api_operation(
                "eraseUser", "Erase a user: identity links now, warehouse rows by a deletion "
                "record", "events:erase",
                {"202": oa.json_answer("Erasure queued.", {
                    "type": "object",
                    "required": ["user_id", "identity_links_removed", "deletion_record"],
                    "properties": {"user_id": {"type": "string"},
                                   "identity_links_removed": {"type": "integer"},
                                   "deletion_record": {"const": "queued"}}}),
                 **oa.problems(400)},
                parameters=[oa.path_parameter("user_id", {
                    "type": "string", "minLength": 1, "maxLength": validation.MAX_ID_CHARS})],
            ),
        },
        "/api/events/stats": {
            "get": oa.api_operation(
                "eventStats", "Events delivered to the warehouse, by type and name", "read",
                {"200": oa.json_answer("The series and totals.", {
                    "type": "object",
                    "required": ["interval", "granularity", "start", "end", "series",
                                 "totals", "forwarder"],
                    "properties": {"series": {"type": "array"}, "totals": {"type": "array"},
                                   "forwarder": {"type": "object"}}}),
                 **oa.problems(400)},
                parameters=[oa.query("interval", {"type": "string",
                                                  "enum": list(deliveries.INTERVALS),
                                                  "default": "7d"})],
            ),
        },
    }
