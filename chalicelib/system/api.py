"""GET /healthz (every component's state) and GET /api/keys (the keys, never their secrets)."""

from __future__ import annotations

from chalice import Response

from chalicelib import wiring
from chalicelib.http import Api, json_response
from chalicelib.system import health

bp = Api(__name__)

# Components /healthz reports besides the app's own checks. Empty in AWS; the local stack's
# app server adds the components `make dev` supervises.
component_sources: list[health.ComponentSource] = []


@bp.route("/healthz", methods=["GET"])
def healthz() -> Response:
    healthy, body = health.report(wiring.settings(), wiring.dynamodb(), component_sources)
    return json_response(body, 200 if healthy else 503)


@bp.route("/api/keys", methods=["GET"])
def list_keys() -> Response:
    return json_response({"keys": [k.to_public() for k in wiring.key_store().list()]})
