"""The OpenAPI description of /healthz and /api/keys."""

from __future__ import annotations

from chalicelib.core import contract as oa
from chalicelib.core.contract import Paths, Schema
from chalicelib.core.payloads import MAX_JSON_BYTES
from chalicelib.system.keys import KEY_ID, NAME_PATTERN
from chalicelib.system.roles import ROLES

NO_STORE = {"Cache-Control": {"type": "string", "const": "no-store"}}


def schemas() -> dict[str, Schema]:
    key = {
        "key_id": {"type": "string"},
        "name": {"type": "string"},
        "role": {"type": "string", "enum": list(ROLES)},
        "created_at": {"type": ["string", "null"]},
        "revoked_at": {"type": ["string", "null"]},
        "status": {"type": "string", "enum": ["active", "revoked"]},
    }
    return {
        "ApiKey": {"type": "object", "required": list(key), "properties": key},
        "NewApiKey": {
            "type": "object",
            "required": ["name", "role"],
            "properties": {
                "name": {"type": "string", "pattern": oa.anchored(NAME_PATTERN.pattern)},
                "role": {"type": "string", "enum": list(ROLES)},
            },
        },
    }


def paths() -> Paths:
    key_ref = {"$ref": "#/components/schemas/ApiKey"}
    created = {"allOf": [key_ref, {
        "type": "object", "required": ["key", "webhook_secret"],
        "properties": {"key": {"type": "string", "description": "Shown once."},
                       "webhook_secret": {"type": "string", "description": "Signs this "
                                          "key's link.clicked webhooks; shown once."}}}]}
    component = {"type": "object", "required": ["state"],
                 "properties": {"state": {"type": "string"}}}
    health = {
        "type": "object",
        "required": ["status", "stage", "components"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded"]},
            "stage": {"type": "string"},
            "components": {"type": "object", "additionalProperties": component},
        },
    }
    return {
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "Every component's state",
                "security": [],
                "responses": {"200": oa.json_answer("All up.", health),
                              "503": oa.json_answer("Something is down.", health),
                              **oa.problems()},
            },
        },
        "/api/keys": {
            "get": oa.api_operation(
                "listKeys", "The API keys (never their secrets)", "admin",
                {"200": oa.json_answer("The keys.", {
                    "type": "object", "required": ["keys"],
                    "properties": {"keys": {"type": "array", "items": key_ref}}}),
                 **oa.problems()},
            ),
            "post": oa.api_operation(
                "createKey", "A new API key with a role", "admin",
                {"201": oa.json_answer("The key; its secret is shown once.", created, NO_STORE),
                 **oa.body_problems()},
                requestBody=oa.json_body({"$ref": "#/components/schemas/NewApiKey"},
                                         MAX_JSON_BYTES),
            ),
        },
        "/api/keys/{key_id}": {
            "delete": oa.api_operation(
                "revokeKey", "Revoke a key", "admin",
                {"200": oa.json_answer("The key, revoked.", key_ref),
                 **oa.problems(404), "409": oa.problem(409, "The calling key itself.")},
                parameters=[oa.path_parameter(
                    "key_id", {"type": "string", "pattern": oa.anchored(KEY_ID.pattern)})],
            ),
        },
    }
