"""linktrail: routes and event handlers only. Each parses, calls one chalicelib
function, and answers; errors leave as RFC 9457 problem details (chalicelib/problems.py).

Keep imports here light: every cold start of /ping and /events pays for them. Heavy
SDKs (vonage, requests) are imported inside the code path that needs them.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Any

from chalice import Chalice, Response
from chalice.app import DynamoDBEvent, Request, SQSEvent

from chalicelib import auth, expiry, health, logs, runtime
from chalicelib.problems import PROBLEM_CONTENT_TYPE, Problem

app = Chalice(app_name="linktrail")
logs.setup()
app.api.binary_types = []  # every body we accept is text; keeps raw bodies as sent

# Decorator arguments are read at import (Chalice needs the ARN/queue names at deploy
# time); tests and `chalice local` get safe placeholders.
_PLACEHOLDER_STREAM = "arn:aws:dynamodb:us-east-1:000000000000:table/unset/stream/unset"
LINKS_STREAM_ARN = os.environ.get("LINKS_STREAM_ARN") or _PLACEHOLDER_STREAM


# --- plumbing: one error format, API keys on /api -------------------------------------


def problem_response(problem: Problem) -> Response:
    return Response(
        body=problem.body(),
        status_code=problem.status,
        headers={"Content-Type": PROBLEM_CONTENT_TYPE, **problem.headers},
    )


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def route(path: str, **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """`app.route` whose view may raise Problem and answer with problem details."""

    def register(view: Callable[..., Any]) -> Any:
        @functools.wraps(view)
        def answered(**params: Any) -> Any:
            try:
                return view(**params)
            except Problem as problem:
                return problem_response(problem)

        return app.route(path, **options)(answered)

    return register


@app.middleware("http")
def problems_and_keys(event: Request, get_response: Callable[[Request], Response]) -> Response:
    logs.correlation_id.set(str(event.context.get("requestId", "")))
    if event.path.startswith("/api/"):
        try:
            runtime.key_store().authenticate(event.headers.get("authorization"))
        except Problem as problem:
            return problem_response(problem)
    return as_problem(get_response(event))


def as_problem(response: Response) -> Response:
    """Rewrite Chalice's own error bodies ({"Code", "Message"}: malformed JSON, wrong
    Content-Type, unhandled errors) into problem details."""
    body = response.body
    if response.status_code < 400 or not isinstance(body, dict) or "Code" not in body:
        return response
    detail = str(body.get("Message", body["Code"]))
    if response.status_code >= 500:
        detail = "An internal error occurred; it has been logged."
    return problem_response(Problem(response.status_code, detail))


# --- foundation -----------------------------------------------------------------------


@route("/healthz", methods=["GET"])
def healthz() -> Response:
    healthy, body = health.report(runtime.settings(), runtime.dynamodb())
    return json_response(body, 200 if healthy else 503)


@route("/api/keys", methods=["GET"])
def list_keys() -> Response:
    return json_response({"keys": [k.to_public() for k in runtime.key_store().list()]})


def current_key() -> auth.ApiKey:
    """The key the middleware accepted (read again from the cache-backed store)."""
    request = app.current_request
    assert request is not None
    return runtime.key_store().authenticate(request.headers.get("authorization"))


# --- links (issue 3) ------------------------------------------------------------------


@app.on_dynamodb_record(stream_arn=LINKS_STREAM_ARN, name="links_stream")
def links_stream(event: DynamoDBEvent) -> None:
    expiry.on_links_stream([record.to_dict() for record in event])


# --- messaging (issue 4) --------------------------------------------------------------

# --- edge clicks and click webhooks (issue 5) -----------------------------------------
# Clicks are counted by the Lambda@Edge function in edge/ (deployed on its own); here,
# human clicks on links with a webhook_url become signed link.clicked POSTs.

from chalicelib import clickhooks  # noqa: E402

NOTIFY_QUEUE = os.environ.get("NOTIFY_QUEUE", "linktrail-local-notify")


@app.on_dynamodb_record(stream_arn=LINKS_STREAM_ARN, name="click_webhooks")
def click_webhooks(event: DynamoDBEvent) -> None:
    clickhooks.on_links_stream([record.to_dict() for record in event])


@app.on_sqs_message(queue=NOTIFY_QUEUE, batch_size=10, name="click_webhook_delivery")
def click_webhook_delivery(event: SQSEvent) -> dict[str, Any]:
    return clickhooks.on_notify_messages([record.to_dict() for record in event])


# --- journeys (issue 6) ---------------------------------------------------------------
from chalicelib import journeys, site  # noqa: E402


def html_response(html: site.Html) -> Response:
    headers: dict[str, str | list[str]] = {**html.headers}
    return Response(body=html.body, status_code=html.status, headers=headers)


def journey_request() -> Request:
    request = app.current_request
    assert request is not None  # always set while a route runs
    return request


@route("/", methods=["GET"])
def site_home() -> Response:
    return html_response(site.page("/"))


@route("/about-me", methods=["GET"])
def site_about_me() -> Response:
    return html_response(site.page("/about-me"))


@route("/blog", methods=["GET"])
def site_blog() -> Response:
    return html_response(site.page("/blog"))


@route("/no-audit", methods=["GET"])
def site_no_audit() -> Response:
    return html_response(site.page("/no-audit"))


@route("/ping", methods=["POST"], content_types=["text/ping"])
def ping() -> Response:
    request = journey_request()
    journeys.service().record_ping(request.headers, request.raw_body, request.context)
    return Response(body="", status_code=204, headers={"Cache-Control": "no-store"})


@route("/journey", methods=["GET"])
def journey() -> Response:
    request = journey_request()
    own = journeys.service().own_journey(request.headers, request.context)
    return html_response(site.journey_page(own.hops, opted_out=own.opted_out))


@route("/api/journeys", methods=["GET"])
def journey_flows() -> Response:
    return json_response(journeys.service().flows(journey_request().query_params or {}))


# --- events (issue 7) -----------------------------------------------------------------
