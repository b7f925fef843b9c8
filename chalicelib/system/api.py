"""GET /healthz (every component's state) and /api/keys: the keys (never their secrets),
a new key with a role (its secret shown once), and a key's revocation."""

from __future__ import annotations

from chalice import Response

from chalicelib import wiring
from chalicelib.core.problems import Conflict, Problem
from chalicelib.http import Api, calling_key, json_response
from chalicelib.system import health
from chalicelib.system.roles import ROLES

bp = Api(__name__)

# Components /healthz reports besides the app's own checks. Empty in AWS; the local stack's
# app server adds the components `make dev` supervises.
component_sources: list[health.ComponentSource] = []


@bp.route("/healthz", methods=["GET"])
def healthz() -> Response:
    healthy, body = health.report(wiring.settings(), wiring.dynamodb(), component_sources)
    return json_response(body, 200 if healthy else 503)


@bp.route("/api/keys", methods=["GET"], role="admin")
def list_keys() -> Response:
    return json_response({"keys": [k.to_public() for k in wiring.key_store().list()]})


@bp.route("/api/keys", methods=["POST"], role="admin")
def create_key() -> Response:
    body = bp.json_body()
    name, role = body.get("name"), body.get("role")
    if not isinstance(name, str):
        raise Problem(400, "name is required: the key's label", field="name")
    if not isinstance(role, str):
        # No default over HTTP: a key made by another key says what it is for.
        raise Problem(400, f"role is required: one of {', '.join(ROLES)}", field="role")
    created = wiring.key_store().create(name, role=role)
    shown = {**created.api_key.to_public(), "key": created.token,
             "webhook_secret": created.webhook_secret}
    return json_response(shown, 201, {"Cache-Control": "no-store"})


@bp.route("/api/keys/{key_id}", methods=["DELETE"], role="admin")
def revoke_key(key_id: str) -> Response:
    if key_id == calling_key().key_id:
        # Revoking the key in hand could lock the last admin out of the API.
        raise Conflict("This request's own key cannot revoke itself: use another admin "
                       "key, or `linktrail keys revoke` on the table.")
    return json_response(wiring.key_store().revoke(key_id).to_public())
