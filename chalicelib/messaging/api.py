"""Texting over HTTP: resending a link's text, and Vonage's signed webhooks (delivery
receipts, inbound STOP/START), verified before anything is written."""

from __future__ import annotations

from chalice import Response

from chalicelib import wiring
from chalicelib.http import Api, calling_key, json_response, no_content

bp = Api(__name__)


@bp.route("/api/links/{code}/resend", methods=["POST"], role="links:write")
def resend_message(code: str) -> Response:
    answer = wiring.texting().resend(code, key_id=calling_key().key_id)
    return json_response({"code": code, "message": answer})


@bp.route("/webhooks/vonage/status", methods=["POST"], content_types=["application/json"])
def vonage_status() -> Response:
    request = bp.request
    wiring.texting().receive_status(request.headers.get("authorization"), request.raw_body)
    return no_content()


@bp.route("/webhooks/vonage/inbound", methods=["POST"], content_types=["application/json"])
def vonage_inbound() -> Response:
    request = bp.request
    wiring.texting().receive_inbound(request.headers.get("authorization"), request.raw_body)
    return no_content()
