"""GET /openapi.json (the HTTP API's contract, in every stage, no key) and /docs, which
renders it with Swagger UI served from this app."""

from __future__ import annotations

from chalice import Response

from chalicelib.contract import docs
from chalicelib.http import Api, json_response, static_file

bp = Api(__name__)


@bp.route("/openapi.json", methods=["GET"])
def openapi() -> Response:
    # Assembled on first use: the feature contracts stay off every route's cold start.
    from chalicelib.contract.document import document

    return json_response(document(), headers={"Cache-Control": "no-cache"})


@bp.route("/docs", methods=["GET"])
def docs_page() -> Response:
    return static_file(docs.FILES, docs.PAGE, bp.request)


@bp.route("/docs/{asset}", methods=["GET"])
def docs_asset(asset: str) -> Response:
    return static_file(docs.FILES, asset, bp.request)
