"""The OpenAPI description of /api/links: new links, changes, lists and QR codes, with the
limits links.model and links.qr check them by."""

from __future__ import annotations

from chalicelib.core import contract as oa
from chalicelib.core.contract import Paths, Schema
from chalicelib.core.payloads import MAX_DEPTH, MAX_JSON_BYTES
from chalicelib.links import idempotency, model, qr

CODE: Schema = {"type": "string", "pattern": oa.anchored(model.CUSTOM_CODE.pattern),
                "description": "3-64 characters from A-Z, a-z, 0-9, '_' and '-'."}
URL: Schema = {"type": "string", "format": "uri", "minLength": 1,
               "maxLength": model.MAX_URL_LENGTH,
               "description": "An absolute http(s) URL a browser opens exactly as written."}
TAG: Schema = {"type": "string", "pattern": oa.anchored(model.TAG.pattern)}
# expires_at and ttl are two ways to say one thing: a body gives one or neither.
ONE_EXPIRY: Schema = {"not": {"required": ["expires_at", "ttl"]}}
EXPIRES_AT: Schema = {
    "description": "When the link ends: ISO 8601 with an offset, or epoch seconds; in the "
    "future and within the configured maximum lifetime.",
    "oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
}
TTL: Schema = {"type": "integer", "minimum": 1,
               "description": "Seconds from now until the link ends (instead of expires_at)."}
MAX_CLICKS: Schema = {"type": "integer", "minimum": 1, "maximum": model.MAX_CLICKS}
CODE_PARAMETER = oa.path_parameter("code", CODE, "The link's code.")
PAGE_SIZE: Schema = {"type": "integer", "minimum": 1, "maximum": model.MAX_PAGE_SIZE,
                     "default": model.DEFAULT_PAGE_SIZE}
NULLABLE_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}


def schemas() -> dict[str, Schema]:
    return {
        "NewLink": {
            "type": "object",
            "required": ["url"],
            "examples": [{"url": "https://example.com/spring", "tags": ["spring"],
                          "max_clicks": 1000}],
            "additionalProperties": False,
            "maxProperties": len(model.CREATE_FIELDS),
            **ONE_EXPIRY,
            "properties": {
                "url": URL,
                "code": {"oneOf": [{**CODE, "not": {"enum": sorted(model.RESERVED_CODES)}},
                                   {"type": "null"}],
                         "description": "A custom code (reserved words refused); "
                         "generated when absent or null."},
                "expires_at": EXPIRES_AT,
                "ttl": TTL,
                "max_clicks": MAX_CLICKS,
                "expired_url": {"oneOf": [URL, {"type": "null"}]},
                "tags": {"type": "array", "items": TAG, "maxItems": model.MAX_TAGS},
                "webhook_url": {"oneOf": [URL, {"type": "null"}],
                                "description": "Receives a signed link.clicked POST per "
                                "human click (see webhooks); no private addresses."},
                "sms": {"oneOf": [{"$ref": "#/components/schemas/SmsOrder"}, {"type": "null"}],
                        "description": "null: no text, as when absent."},
            },
        },
        "LinkPatch": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": False,
            **ONE_EXPIRY,
            "description": "null clears expires_at, max_clicks or expired_url.",
            "properties": {
                "url": URL,
                "expires_at": {"oneOf": [*EXPIRES_AT["oneOf"], {"type": "null"}]},
                "ttl": TTL,
                "max_clicks": {"oneOf": [MAX_CLICKS, {"type": "null"}]},
                "expired_url": {"oneOf": [URL, {"type": "null"}]},
            },
        },
        "Link": {
            "type": "object",
            "required": ["code", "short_url", "url", "status", "clicks", "tags"],
            "properties": {
                "code": {"type": "string"},
                "short_url": {"type": "string"},
                "url": {"type": ["string", "null"]},
                "status": {"type": "string"},
                "created_at": {"type": ["string", "null"]},
                "expires_at": NULLABLE_TIME,
                "ended_at": {"type": ["string", "null"]},
                "ended_reason": {"type": ["string", "null"]},
                "max_clicks": {"type": ["integer", "null"]},
                "expired_url": {"type": ["string", "null"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "campaign_id": {"type": ["string", "null"]},
                "ref": {"type": ["string", "null"]},
                "webhook_url": {"type": ["string", "null"]},
                "clicks": {
                    "type": "object",
                    "required": ["human", "bot"],
                    "properties": {"human": {"type": "integer"}, "bot": {"type": "integer"}},
                },
                "first_click_at": {"type": ["string", "null"]},
                "last_click_at": {"type": ["string", "null"]},
                "message": {"oneOf": [{"$ref": "#/components/schemas/Message"},
                                      {"type": "null"}]},
                "webhook": {
                    "type": ["object", "null"],
                    "properties": {
                        "failures": {"type": "integer"},
                        "last_error": {"type": ["string", "null"]},
                        "last_error_at": {"type": ["string", "null"]},
                    },
                },
            },
        },
        "LinkPage": {
            "type": "object",
            "required": ["links", "next_cursor"],
            "properties": {
                "links": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}},
                "next_cursor": {"type": ["string", "null"]},
            },
        },
    }


def _body(name: str) -> Schema:
    return oa.json_body({"$ref": f"#/components/schemas/{name}"}, MAX_JSON_BYTES)


LINK: Schema = {"$ref": "#/components/schemas/Link"}
LINK_LINKS = {
    "GetLink": {"operationId": "getLink", "parameters": {"code": "$response.body#/code"}},
    "PatchLink": {"operationId": "patchLink", "parameters": {"code": "$response.body#/code"}},
    "LinkAnalytics": {"operationId": "analytics",
                      "parameters": {"query.code": "$response.body#/code"}},
    "DeleteLink": {"operationId": "deleteLink", "parameters": {"code": "$response.body#/code"}},
}

# The header that marks a replayed answer.
REPLAYED: Schema = {idempotency.REPLAYED_HEADER: {"type": "string", "enum": ["true"]}}


def idempotency_header(replay: str) -> Schema:
    """The Idempotency-Key header; `replay` says what the same request again gets."""
    return oa.header(
        idempotency.HEADER,
        {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_KEY_CHARS,
         "pattern": oa.anchored(idempotency.KEY_PATTERN.pattern)},
        f"Send the request again with the same key after a lost answer: {replay} The same "
        "key with another body is a 422. Kept 24 hours, per API key.",
    )


def paths() -> Paths:
    created = oa.json_answer("The link, as GET shows it.", LINK, {
        "Location": {"type": "string"}, **REPLAYED})
    created["links"] = LINK_LINKS
    got = oa.json_answer("The link or its tombstone.", LINK)
    got["links"] = {k: v for k, v in LINK_LINKS.items() if k != "GetLink"}
    listing = [
        oa.query("campaign_id", {"type": "string",
                                 "pattern": oa.anchored(model.CAMPAIGN_ID.pattern)}),
        oa.query("tag", TAG),
        oa.query("q", {"type": "string", "minLength": 1, "maxLength": model.MAX_SEARCH},
                 "Code or URL contains it, or a tag equals it."),
        oa.query("status", {"type": "string", "enum": list(model.LIST_STATUSES)}),
        oa.query("limit", PAGE_SIZE),
        oa.query("cursor", {"type": "string", "minLength": 1,
                            "maxLength": model.MAX_CURSOR_CHARS},
                 "next_cursor of the page before."),
    ]
    qr_parameters = [
        oa.query("format", {"type": "string", "enum": list(qr.MEDIA_TYPES), "default": "svg"}),
        oa.query("size", {"type": "integer", "minimum": qr.SCALE_RANGE[0],
                          "maximum": qr.SCALE_RANGE[1], "default": 8}, "Pixels per module."),
        oa.query("margin", {"type": "integer", "minimum": qr.MARGIN_RANGE[0],
                            "maximum": qr.MARGIN_RANGE[1], "default": 4}),
        oa.query("ecc", {"type": "string", "enum": list(qr.ECC_LEVELS), "default": "M"}),
        oa.query("fg", {"type": "string", "pattern": oa.anchored(qr.COLOUR.pattern)}),
        oa.query("bg", {"type": "string", "anyOf": [
            {"pattern": oa.anchored(qr.COLOUR.pattern)}, {"const": "transparent"}]}),
    ]
    return {
        "/api/links": {
            "post": oa.api_operation(
                "createLink", "Create a short link (and text it, with `sms`)", "links:write",
                {"201": created, **oa.body_problems(409, 422, 429, 503)},
                requestBody=_body("NewLink"),
                parameters=[idempotency_header(
                    "the first request's link is answered again (201, `Idempotent-Replayed: "
                    "true`), never a second link or text.")],
                description=f"Bodies nest at most {MAX_DEPTH} levels. 409: the code is "
                "taken, or the Idempotency-Key's first request is still being stored (try "
                "again); 422: the Idempotency-Key was used with another body; 429: the "
                "key's daily text quota is spent; 503: texting is not configured.",
            ),
            "get": oa.api_operation(
                "listLinks", "List links and tombstones, newest first", "read",
                {"200": oa.json_answer("One page.", {"$ref": "#/components/schemas/LinkPage"}),
                 **oa.problems(400)},
                parameters=listing,
            ),
        },
        "/api/links/{code}": {
            "get": oa.api_operation(
                "getLink", "A link or its tombstone", "read",
                {"200": got, **oa.problems(404)}, parameters=[CODE_PARAMETER],
            ),
            "patch": oa.api_operation(
                "patchLink", "Change a live link", "links:write",
                {"200": oa.json_answer("The link as changed.", LINK),
                 **oa.body_problems(404, 409, 410, 503)},
                parameters=[CODE_PARAMETER], requestBody=_body("LinkPatch"),
            ),
            "delete": oa.api_operation(
                "deleteLink", "Retire a link (its code answers 'expired' from then on)",
                "links:write", {"204": oa.no_content("Retired."), **oa.problems(404, 409, 410)},
                parameters=[CODE_PARAMETER],
            ),
        },
        "/api/links/{code}/qr": {
            "get": oa.api_operation(
                "linkQr", "The link's QR code (scans count as trigger qr)", "read",
                {"200": {"description": "The QR code.", "content": {
                    qr.MEDIA_TYPES["svg"]: {"schema": {"type": "string"}},
                    qr.MEDIA_TYPES["png"]: {"schema": {"type": "string",
                                                       "contentMediaType": "image/png"}},
                }}, **oa.problems(400, 404)},
                parameters=[CODE_PARAMETER, *qr_parameters],
            ),
        },
    }
