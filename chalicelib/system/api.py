"""GET /healthz (every component's state) and GET /api/keys (the keys, never their secrets)."""

from __future__ import annotations

from chalice import Response

from chalicelib import wiring
from chalicelib.http import Api, json_response
from chalicelib.system import health

bp = Api(__name__)


@bp.route("/healthz", methods=["GET"])
def healthz() -> Response:
    healthy, body = health.report(wiring.settings(), wiring.dynamodb())
    return json_response(body, 200 if healthy else 503)


@bp.route("/api/keys", methods=["GET"])
def list_keys() -> Response:
    return json_response({"keys": [k.to_public() for k in wiring.key_store().list()]})
