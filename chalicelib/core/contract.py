"""The building blocks of the OpenAPI 3.1 document every feature describes its routes with
(chalicelib/<feature>/contract.py): plain dicts, shared problem answers and the security
schemes. Nothing here is imported on a route's cold start; the document is assembled
when /openapi.json is asked for (chalicelib/contract)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib.core.problems import PROBLEM_CONTENT_TYPE, TYPE_BASE

Schema = dict[str, Any]
Operation = dict[str, Any]
PathItem = dict[str, Operation]
Paths = dict[str, PathItem]

PROBLEM = {"$ref": "#/components/schemas/Problem"}
# The extension that says which API key role an /api operation needs.
ROLE_EXTENSION = "x-linktrail-role"
BODY_LIMIT_EXTENSION = "x-linktrail-max-body-bytes"

API_KEY = "apiKey"
VONAGE_JWT = "vonageSignedJwt"
WRITE_KEY_BASIC = "segmentWriteKey"

STATUS_REASONS = {
    400: "The request is invalid; `field` names the part at fault where there is one.",
    401: "No valid API key: `Authorization: Bearer lt_<id>_<secret>` is required.",
    403: "The key's role does not cover this operation (`role`, `required_role`).",
    404: "Nothing by that name.",
    409: "The item changed meanwhile, or the request conflicts with its state.",
    410: "The link has ended (expired, spent or deleted).",
    413: "The body is larger than this operation accepts.",
    415: "The Content-Type is not one this operation accepts.",
    429: "Too many requests; `Retry-After` says when to try again.",
    500: "An unexpected error; it has been logged.",
    503: "A dependency is unavailable or not configured, or AWS throttled the request; "
         "`Retry-After` says when to try again.",
}


def problem_schema() -> Schema:
    """RFC 9457 problem details as chalicelib.core.problems writes them."""
    return {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "format": "uri",
                     "examples": [TYPE_BASE + "invalid-request"]},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "field": {"type": "string", "description": "The request part at fault."},
            "role": {"type": "string", "description": "The calling key's role (403)."},
            "required_role": {"type": "string", "description": "The role needed (403)."},
        },
        "additionalProperties": True,
    }


RETRY_AFTER: Schema = {"type": "integer", "minimum": 0}


def problem(status: int, description: str | None = None, **headers: Schema) -> Schema:
    answer: Schema = {
        "description": description or STATUS_REASONS.get(status, "An error."),
        "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM}},
    }
    if headers:
        answer["headers"] = {
            name.replace("_", "-"): {"schema": schema} for name, schema in headers.items()
        }
    return answer


def problems(*statuses: int) -> dict[str, Schema]:
    """Problem answers by status, 500 and 503 (AWS throttling) always among them."""
    answers = {str(status): problem(status) for status in statuses}
    answers.setdefault("500", problem(500))
    answers.setdefault("503", problem(503, Retry_After=RETRY_AFTER))
    return answers


def json_answer(
    description: str, schema: Schema, headers: Mapping[str, Schema] | None = None
) -> Schema:
    answer: Schema = {"description": description,
                      "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = {name: {"schema": s} for name, s in headers.items()}
    return answer


def no_content(description: str, headers: Mapping[str, Schema] | None = None) -> Schema:
    answer: Schema = {"description": description}
    if headers:
        answer["headers"] = {name: {"schema": s} for name, s in headers.items()}
    return answer


def html_page(description: str) -> Schema:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def static_pages(prefix: str, operation: str, page: str, asset: str,
                 media_types: Iterable[str]) -> Paths:
    """A page at `prefix` and its files at `prefix`/{asset}, revalidated by ETag."""
    revalidated = {"304": {"description": "Unchanged since the ETag in If-None-Match."}}
    etag = header("If-None-Match", {"type": "string"})
    return {
        prefix: {"get": {
            "operationId": f"{operation}Page", "summary": page, "security": [],
            "parameters": [etag],
            "responses": {"200": html_page("The page."), **revalidated, **problems()},
        }},
        f"{prefix}/{{asset}}": {"get": {
            "operationId": f"{operation}Asset", "summary": asset, "security": [],
            "parameters": [path_parameter("asset", {"type": "string"}), etag],
            "responses": {
                "200": {"description": "The file.", "content": {
                    media: {"schema": {"type": "string"}} for media in sorted(set(media_types))}},
                **revalidated,
                **problems(404),
            },
        }},
    }


def json_body(schema: Schema, max_bytes: int, media_types: tuple[str, ...] = ("application/json",)
              ) -> Schema:
    """A request body of at most `max_bytes` (413 beyond), in one of `media_types` (415)."""
    return {
        "required": True,
        "description": f"At most {max_bytes:,} bytes.",
        BODY_LIMIT_EXTENSION: max_bytes,
        "content": {media: {"schema": schema} for media in media_types},
    }


def body_problems(*statuses: int) -> dict[str, Schema]:
    """The answers of a route whose JSON body payloads.parse_json_object checks."""
    return problems(400, 413, 415, *statuses)


def api_operation(operation_id: str, summary: str, role: str, responses: dict[str, Schema],
                  **more: Any) -> Operation:
    """An /api operation: the API key bearer with `role`, its 401 and 403 answers."""
    return {
        "operationId": operation_id,
        "summary": summary,
        "description": (more.pop("description", "") + f"\n\nNeeds an API key whose role covers "
                        f"`{role}`.").strip(),
        "security": [{API_KEY: []}],
        ROLE_EXTENSION: role,
        "responses": {**responses, **problems(401, 403)},
        **more,
    }


def query(name: str, schema: Schema, description: str = "") -> Schema:
    parameter: Schema = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        parameter["description"] = description
    return parameter


def path_parameter(name: str, schema: Schema, description: str = "") -> Schema:
    parameter: Schema = {"name": name, "in": "path", "required": True, "schema": schema}
    if description:
        parameter["description"] = description
    return parameter


def header(name: str, schema: Schema, description: str = "", required: bool = False) -> Schema:
    parameter: Schema = {"name": name, "in": "header", "required": required, "schema": schema}
    if description:
        parameter["description"] = description
    return parameter


def anchored(pattern: str) -> str:
    r"""A Python regex as ECMA-262 has it: `\Z` (end of string) becomes `$`."""
    return pattern.replace(r"\Z", "$")


def security_schemes(roles: tuple[str, ...]) -> dict[str, Schema]:
    return {
        API_KEY: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "lt_<key id>_<secret>",
            "description": "An API key (POST /api/keys, or `linktrail keys create`). Each key "
            f"has one role ({', '.join(roles)}); each /api operation says the role it needs "
            f"in `{ROLE_EXTENSION}`. admin covers every role; links:write covers read.",
        },
        VONAGE_JWT: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Vonage's signed webhook: an HS256 JWT signed with the account's "
            "signature secret, whose `payload_hash` claim is the SHA-256 hex of the raw body "
            "and whose `iat` is recent.",
        },
        WRITE_KEY_BASIC: {
            "type": "http",
            "scheme": "basic",
            "description": "Segment's libraries: the source's write key (wk_<id>_<secret>) as "
            "the user name, an empty password. Browsers may send `writeKey` in the JSON body "
            "instead.",
        },
    }
