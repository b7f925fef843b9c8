"""GET /dashboard (the page) and /dashboard/{asset} (its scripts and styles). The page
holds no data and no secret: it signs in with an API key the browser keeps in
sessionStorage and calls the same /api routes as every other client."""

from __future__ import annotations

from chalice import Response

from chalicelib.dashboard import assets
from chalicelib.http import Api, static_file

bp = Api(__name__)


@bp.route("/dashboard", methods=["GET"])
def dashboard_page() -> Response:
    return static_file(assets.FILES, assets.PAGE, bp.request)


@bp.route("/dashboard/{asset}", methods=["GET"])
def dashboard_asset(asset: str) -> Response:
    return static_file(assets.FILES, asset, bp.request)
