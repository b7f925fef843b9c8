"""What only the local stack adds to the app (local/app_server.py installs it; the Lambda
package never has it): routes for the SMS outbox of the local Vonage fake and the
analytics.js and analytics-next demo pages, and the components `make dev` supervises in
/healthz."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, cast

from chalice import Chalice, Response

from chalicelib import wiring
from chalicelib.core import phones
from chalicelib.core.problems import NotFound, Unavailable
from chalicelib.http import Api, json_response
from chalicelib.system import api as system_api
from chalicelib.system.health import Component
from local import analytics_demo, segment_demo

# The supervisor rewrites its status file every second; older than this, it has stopped.
STALE_AFTER_SECONDS = 10.0

bp = Api(__name__)


def install(app: Chalice) -> None:
    """Add the local routes and the supervised components to the imported app."""
    app.register_blueprint(bp)
    system_api.component_sources.append(supervised_components)


def supervised_components() -> dict[str, Component]:
    """Each component `make dev` started, as its supervisor last saw it (a url, a role and
    a state each). Without a supervisor (the app server started alone), nothing."""
    status_file = wiring.settings().local_status_file
    if not status_file:
        return {}
    try:
        status = json.loads(Path(status_file).read_text())
    except (OSError, ValueError):
        return {"supervisor": {"state": "down", "detail": "no status file"}}
    age = time.time() - float(status.get("written_at", 0))
    if age > STALE_AFTER_SECONDS:
        return {"supervisor": {"state": "down", "detail": f"status is {age:.0f}s old"}}
    return cast(dict[str, Component], status.get("components", {}))  # local/stack.py's shape


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


@bp.route("/demo/segment", methods=["GET"])
def segment_demo_page() -> Response:
    """The analytics-next demo page, sending to /v1 with the local write key."""
    return Response(body=segment_demo.local_page(), status_code=200,
                    headers={**segment_demo.PAGE_HEADERS})


@bp.route("/demo/segment/analytics-next.js", methods=["GET"])
def segment_script() -> Response:
    return Response(body=segment_demo.script(), status_code=200,
                    headers={**segment_demo.SCRIPT_HEADERS})
