"""Short links over HTTP, the sweeper that retires them on time, and the links stream's
retirement of spent and TTL-removed links."""

from __future__ import annotations

from typing import cast

from chalice import Response
from chalice.app import CloudWatchEvent, DynamoDBEvent, Rate

from chalicelib import wiring
from chalicelib.core.lambdas import LambdaContext
from chalicelib.core.settings import links_stream_arn
from chalicelib.http import Api, calling_key, json_response, no_content
from chalicelib.links import expiry, idempotency, model, operations, qr

bp = Api(__name__)


@bp.route("/api/links", methods=["POST"], role="links:write")
def create_link() -> Response:
    body = bp.json_body()
    retry_key = idempotency.parse_key(bp.request.headers)
    created = operations.create_link(
        body, calling_key().key_id, wiring.links(), wiring.texting(), retry_key
    )
    headers = {"Location": f"/api/links/{created.link['code']}",
               **idempotency.replay_headers(created.replayed)}
    return json_response(created.link, 201, headers)


@bp.route("/api/links", methods=["GET"], role="read")
def list_links() -> Response:
    query = model.parse_list_query(bp.request.query_params)
    return json_response(wiring.links().page(query))


@bp.route("/api/links/{code}", methods=["GET"], role="read")
def get_link(code: str) -> Response:
    return json_response(wiring.links().get(code))


@bp.route("/api/links/{code}/qr", methods=["GET"], role="read")
def link_qr(code: str) -> Response:
    wanted = qr.parse(bp.request.query_params)
    link = wiring.links().get(code)  # 404 for a code that never was; a retired one still draws
    image = qr.render(qr.scan_url(str(link["short_url"])), wanted)
    return Response(
        image if wanted.format == "png" else image.decode(),
        status_code=200,
        headers={
            "Content-Type": qr.MEDIA_TYPES[wanted.format],
            "Content-Disposition": f'inline; filename="{code}.{wanted.format}"',
            "Cache-Control": "private, max-age=300",
        },
    )


@bp.route("/api/links/{code}", methods=["PATCH"], role="links:write")
def patch_link(code: str) -> Response:
    return json_response(operations.patch_link(code, bp.json_body(), wiring.links()))


@bp.route("/api/links/{code}", methods=["DELETE"], role="links:write")
def delete_link(code: str) -> Response:
    wiring.links().delete(code)
    return no_content()


@bp.schedule(Rate(5, unit=Rate.MINUTES), name="links_sweeper")
def links_sweeper(event: CloudWatchEvent) -> None:
    # Chalice types the context as a dict; it is Lambda's context object.
    expiry.sweep(wiring.links(), context=cast(LambdaContext, event.context))


@bp.on_dynamodb_record(stream_arn=links_stream_arn(), name="links_stream")
def links_stream(event: DynamoDBEvent) -> None:
    expiry.on_links_stream([record.to_dict() for record in event], wiring.links())
