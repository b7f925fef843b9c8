"""Segment's HTTP Tracking API (POST /v1/<call>, GET /v1/projects/<writeKey>/settings),
answered as Segment answers it, and /api/sources: the sources and their write keys."""

from __future__ import annotations

from chalice import Response

from chalicelib import wiring
from chalicelib.core.problems import BadRequest, NotFound
from chalicelib.http import Api, json_response, no_content
from chalicelib.sources import collector
from chalicelib.sources.keys import DEFAULT_RATE_LIMIT
from chalicelib.tracking.collector import ACCEPTED_MEDIA_TYPES
from chalicelib.tracking.segment import CALLS

bp = Api(__name__)


@bp.route("/v1/{call}", methods=["OPTIONS"])
def tracking_preflight(call: str) -> Response:
    if call not in CALLS:
        raise NotFound(f"No Tracking API call {call!r}.")
    return no_content(collector.preflight_headers(bp.request.headers.get("origin")))


@bp.route("/v1/{call}", methods=["POST"], content_types=list(ACCEPTED_MEDIA_TYPES))
def tracking_call(call: str) -> Response:
    if call not in CALLS:
        raise NotFound(f"No Tracking API call {call!r}.")
    request = bp.request
    raw = request.raw_body or b""
    incoming = collector.Call(CALLS[call], raw.encode() if isinstance(raw, str) else raw,
                              request.headers)
    accepted = wiring.segment_collector().collect(incoming)
    # Segment's libraries treat anything but 200 as a failure.
    return json_response({"success": True}, 200, accepted.headers)


@bp.route("/v1/projects/{write_key}/settings", methods=["GET"])
def tracking_settings(write_key: str) -> Response:
    body, headers = wiring.segment_collector().settings(
        write_key, bp.request.headers.get("origin")
    )
    return json_response(body, 200, {**headers, "Cache-Control": "no-store"})


@bp.route("/api/sources", methods=["GET"], role="admin")
def list_sources() -> Response:
    return json_response({"sources": [s.to_public() for s in wiring.write_keys().list()]})


@bp.route("/api/sources", methods=["POST"], role="admin")
def create_source() -> Response:
    body = bp.json_body()
    unknown = sorted(set(body) - {"name", "origins", "rate_limit_per_minute"})
    if unknown:
        raise BadRequest(f"Unknown field(s): {', '.join(unknown)}.", field=unknown[0])
    name, origins = body.get("name"), body.get("origins", [])
    if not isinstance(name, str):
        raise BadRequest("name is required: the source's label", field="name")
    if not isinstance(origins, list):
        raise BadRequest("origins must be an array of origins", field="origins")
    created = wiring.write_keys().create(
        name, origins, body.get("rate_limit_per_minute", DEFAULT_RATE_LIMIT)
    )
    shown = {**created.source.to_public(), "write_key": created.write_key}
    return json_response(shown, 201, {"Cache-Control": "no-store"})


@bp.route("/api/sources/{source_id}", methods=["DELETE"], role="admin")
def revoke_source(source_id: str) -> Response:
    return json_response(wiring.write_keys().revoke(source_id).to_public())
