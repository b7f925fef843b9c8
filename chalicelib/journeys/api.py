"""Click journeys over HTTP: the demo site whose links carry ping attributes, /ping
(hyperlink auditing), a visitor's own /journey, the flows of /api/journeys, and the
hourly sweep of expired salts."""

from __future__ import annotations

from chalice import Response
from chalice.app import CloudWatchEvent, Rate

from chalicelib import wiring
from chalicelib.http import Api, html_response, json_response, no_content
from chalicelib.journeys import site

bp = Api(__name__)


def _html(html: site.Html) -> Response:
    return html_response(html.body, html.status, html.headers)


@bp.route("/", methods=["GET"])
def site_home() -> Response:
    return _html(site.page("/"))


@bp.route("/about-me", methods=["GET"])
def site_about_me() -> Response:
    return _html(site.page("/about-me"))


@bp.route("/blog", methods=["GET"])
def site_blog() -> Response:
    return _html(site.page("/blog"))


@bp.route("/no-audit", methods=["GET"])
def site_no_audit() -> Response:
    return _html(site.page("/no-audit"))


@bp.route("/ping", methods=["POST"], content_types=["text/ping"])
def ping() -> Response:
    request = bp.request
    wiring.journeys().record_ping(request.headers, request.raw_body, request.context)
    return no_content({"Cache-Control": "no-store"})


@bp.route("/journey", methods=["GET"])
def journey() -> Response:
    request = bp.request
    own = wiring.journeys().own_journey(request.headers, request.context)
    return _html(site.journey_page(own.hops, opted_out=own.opted_out))


@bp.schedule(Rate(1, unit=Rate.HOURS), name="salts_sweeper")
def salts_sweeper(event: CloudWatchEvent) -> None:
    wiring.journeys().salts.delete_expired()


@bp.route("/api/journeys", methods=["GET"], role="read")
def journey_flows() -> Response:
    return json_response(wiring.journeys().flows(bp.request.query_params or {}))
