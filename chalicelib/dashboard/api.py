"""GET /dashboard (the page) and /dashboard/{asset} (its scripts and styles). The page
holds no data and no secret: it signs in with an API key the browser keeps in
sessionStorage and calls the same /api routes as every other client."""

from __future__ import annotations

from chalice import Response

from chalicelib.core.problems import NotFound
from chalicelib.dashboard import assets
from chalicelib.http import Api

bp = Api(__name__)


@bp.route("/dashboard", methods=["GET"])
def dashboard_page() -> Response:
    return _answer(assets.PAGE)


@bp.route("/dashboard/{asset}", methods=["GET"])
def dashboard_asset(asset: str) -> Response:
    return _answer(asset)


def _answer(name: str) -> Response:
    found = assets.asset(name)
    if found is None:
        raise NotFound(f"The dashboard has no file {name!r}.")
    # Revalidated on each load (a deploy changes files under the same names); an unchanged
    # file answers 304 without its body.
    headers: dict[str, str | list[str]] = {
        **assets.SECURITY_HEADERS, "ETag": found.etag, "Cache-Control": "no-cache"
    }
    if bp.request.headers.get("if-none-match") == found.etag:
        return Response(body="", status_code=304, headers=headers)
    return Response(body=found.body, status_code=200,
                    headers={**headers, "Content-Type": found.media_type})
