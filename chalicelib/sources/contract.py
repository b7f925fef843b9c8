"""The OpenAPI description of Segment's HTTP Tracking API (/v1) and /api/sources."""

from __future__ import annotations

from chalicelib.core import contract as oa
from chalicelib.core.contract import Paths, Schema
from chalicelib.core.payloads import MAX_JSON_BYTES
from chalicelib.sources import keys
from chalicelib.tracking.collector import ACCEPTED_MEDIA_TYPES, MAX_EVENT_BYTES, MAX_REQUEST_BYTES
from chalicelib.tracking.segment import CALLS

CORS_ANSWER = {"Access-Control-Allow-Origin": {"type": "string"}, "Vary": {"type": "string"}}


def schemas() -> dict[str, Schema]:
    source = {
        "source_id": {"type": "string"},
        "name": {"type": "string"},
        "origins": {"type": "array", "items": {"type": "string"}},
        "rate_limit_per_minute": {"type": "integer"},
        "created_at": {"type": ["string", "null"]},
        "revoked_at": {"type": ["string", "null"]},
        "status": {"type": "string", "enum": ["active", "revoked"]},
    }
    return {
        "Source": {"type": "object", "required": list(source), "properties": source},
        "NewSource": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": oa.anchored(keys.NAME_PATTERN.pattern)},
                "origins": {"type": "array", "maxItems": keys.MAX_ORIGINS,
                            "items": {"type": "string", "format": "uri"},
                            "description": "Browser origins (scheme://host[:port]) that may "
                            "send with its write key."},
                "rate_limit_per_minute": {"type": "integer", "minimum": 1,
                                          "maximum": keys.MAX_RATE_LIMIT,
                                          "default": keys.DEFAULT_RATE_LIMIT},
            },
        },
        "SegmentCall": {
            "type": "object",
            "description": f"One Segment message (at most {MAX_EVENT_BYTES:,} bytes), or "
            "`batch`: an array of them. `writeKey` may stand in for Basic auth.",
            "properties": {
                "writeKey": {"type": "string"},
                "batch": {"type": "array", "minItems": 1, "items": {"type": "object"}},
                "type": {"type": "string"},
                "sentAt": {"type": "string"},
            },
        },
    }


def paths() -> Paths:
    call = oa.path_parameter("call", {"type": "string", "enum": sorted(CALLS)},
                             "The Segment call: track, page, ..., batch, or its letter.")
    source_ref = {"$ref": "#/components/schemas/Source"}
    return {
        "/v1/{call}": {
            "options": {
                "operationId": "segmentPreflight",
                "summary": "CORS preflight of a Tracking API call",
                "security": [],
                "parameters": [call],
                "responses": {"204": oa.no_content("Allowed (the call itself is checked)."),
                              **oa.problems(404)},
            },
            "post": {
                "operationId": "segmentCall",
                "summary": "Segment's HTTP Tracking API: queue one call's events",
                "description": "Segment's libraries treat anything but 200 as a failure. "
                "Bodies may be gzip (`Content-Encoding: gzip`).",
                "security": [{oa.WRITE_KEY_BASIC: []}, {}],
                "parameters": [call],
                "requestBody": oa.json_body({"$ref": "#/components/schemas/SegmentCall"},
                                            MAX_REQUEST_BYTES, ACCEPTED_MEDIA_TYPES),
                "responses": {
                    "200": oa.json_answer("Queued.", {
                        "type": "object", "required": ["success"],
                        "properties": {"success": {"const": True}}}, CORS_ANSWER),
                    **oa.body_problems(401, 403, 404, 429),
                },
            },
        },
        "/v1/projects/{write_key}/settings": {
            "get": {
                "operationId": "segmentSettings",
                "summary": "What analytics-next loads before sending",
                "security": [],
                "parameters": [oa.path_parameter("write_key", {
                    "type": "string", "pattern": oa.anchored(keys.WRITE_KEY_PATTERN.pattern)})],
                "responses": {"200": oa.json_answer("Settings pointing at this app.", {
                    "type": "object", "required": ["integrations"],
                    "properties": {"integrations": {"type": "object"}}}, CORS_ANSWER),
                    **oa.problems(400, 401)},
            },
        },
        "/api/sources": {
            "get": oa.api_operation(
                "listSources", "The sources (never their write keys)", "admin",
                {"200": oa.json_answer("The sources.", {
                    "type": "object", "required": ["sources"],
                    "properties": {"sources": {"type": "array", "items": source_ref}}}),
                 **oa.problems()},
            ),
            "post": oa.api_operation(
                "createSource", "A new source and its write key", "admin",
                {"201": oa.json_answer("The source; its write key is shown once.", {
                    "allOf": [source_ref, {"type": "object", "required": ["write_key"],
                                           "properties": {"write_key": {"type": "string"}}}]},
                    {"Cache-Control": {"type": "string"}}),
                 **oa.body_problems()},
                requestBody=oa.json_body({"$ref": "#/components/schemas/NewSource"},
                                         MAX_JSON_BYTES),
            ),
        },
        "/api/sources/{source_id}": {
            "delete": oa.api_operation(
                "revokeSource", "Revoke a source's write key", "admin",
                {"200": oa.json_answer("The source, revoked.", source_ref), **oa.problems(404)},
                parameters=[oa.path_parameter("source_id", {"type": "string"})],
            ),
        },
    }
