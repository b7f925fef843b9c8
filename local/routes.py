"""Routes only the local stack serves (local/app_server.py registers this blueprint on
the app; the Lambda package never has it): the SMS outbox of the local Vonage fake and
the analytics.js demo page."""

from __future__ import annotations

from typing import Any

from chalice import Response

from chalicelib import wiring
from chalicelib.core import phones
from chalicelib.core.problems import NotFound, Unavailable
from chalicelib.http import Api, json_response
from local import analytics_demo

bp = Api(__name__)


@bp.route("/api/outbox", methods=["GET"])
def local_outbox() -> Response:
    """What the local fake Messages API has received."""
    return json_response(outbox())


def outbox() -> dict[str, Any]:
    settings = wiring.settings()
    if not settings.vonage_ca_bundle or not settings.vonage_api_host:
        raise NotFound("The outbox exists only with the local Vonage fake.")
    import requests  # the app's routes never load requests at import; neither does this one

    try:
        answer = requests.get(f"https://{settings.vonage_api_host}/outbox",
                              verify=settings.vonage_ca_bundle, timeout=3)
        answer.raise_for_status()
        entries = answer.json().get("messages", [])
    except (requests.RequestException, ValueError, AttributeError):
        raise Unavailable("The local Vonage fake is not answering.", retry_after=1) from None
    for entry in entries:  # the fake masks already; never let a number through anyway
        entry["to"] = phones.mask(str(entry.get("to", "")))
    return {"messages": entries}


@bp.route("/demo/analytics", methods=["GET"])
def analytics_demo_page() -> Response:
    """The analytics.js demo page (the README shows the same plugin)."""
    return Response(body=analytics_demo.page(), status_code=200,
                    headers={**analytics_demo.PAGE_HEADERS})


@bp.route("/demo/analytics.min.js", methods=["GET"])
def analytics_script() -> Response:
    return Response(body=analytics_demo.script(), status_code=200,
                    headers={**analytics_demo.SCRIPT_HEADERS})
