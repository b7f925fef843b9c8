"""linktrail: routes and event handlers only. Each parses, calls one chalicelib
function, and answers; errors leave as RFC 9457 problem details (chalicelib/problems.py).

Keep imports here light: every cold start of /ping and /events pays for them. Heavy
SDKs (vonage, requests) are imported inside the code path that needs them.
"""

from __future__ import annotations

import contextvars
import functools
import json
import os
from collections.abc import Callable
from typing import Any, cast

from chalice import Chalice, Response
from chalice.app import CloudWatchEvent, DynamoDBEvent, Rate, Request, SQSEvent

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


# The key the middleware accepted; set per request (chalice local serves from threads).
calling_key: contextvars.ContextVar[auth.ApiKey | None] = contextvars.ContextVar(
    "calling_key", default=None
)


@app.middleware("http")
def problems_and_keys(event: Request, get_response: Callable[[Request], Response]) -> Response:
    logs.correlation_id.set(str(event.context.get("requestId", "")))
    calling_key.set(None)
    if event.path.startswith("/api/"):
        try:
            calling_key.set(runtime.key_store().authenticate(event.headers.get("authorization")))
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


def this_request() -> Request:
    request = app.current_request
    assert request is not None, "only called while a request is handled"
    return request


def current_key() -> auth.ApiKey:
    """The API key the middleware accepted for this /api request (checked once)."""
    key = calling_key.get()
    assert key is not None, "only /api routes have a calling key"
    return key


# --- links (issue 3) ------------------------------------------------------------------

from chalicelib import campaigns, links, payloads  # noqa: E402

CAMPAIGN_QUEUE = os.environ.get("CAMPAIGN_QUEUE", "linktrail-local-campaigns")


def json_body(max_bytes: int = 64 * 1024) -> dict[str, Any]:
    request = this_request()
    content_type = request.headers.get("content-type")
    return payloads.parse_json_object(request.raw_body, content_type, max_bytes=max_bytes)


@route("/api/links", methods=["POST"])
def create_link() -> Response:
    link = links.create_link(json_body(), current_key().key_id)
    return json_response(link, 201, {"Location": f"/api/links/{link['code']}"})


@route("/api/links", methods=["GET"])
def list_links() -> Response:
    query = links.parse_list_query(this_request().query_params)
    return json_response(links.service().page(query))


@route("/api/links/{code}", methods=["GET"])
def get_link(code: str) -> Response:
    return json_response(links.service().get(code))


@route("/api/links/{code}", methods=["PATCH"])
def patch_link(code: str) -> Response:
    return json_response(links.patch_link(code, json_body()))


@route("/api/links/{code}", methods=["DELETE"])
def delete_link(code: str) -> Response:
    links.service().delete(code)
    return Response(body="", status_code=204)


@route("/api/campaigns", methods=["POST"])
def start_campaign() -> Response:
    body = json_body(campaigns.MAX_BODY_BYTES)
    return json_response(campaigns.service().start(body, current_key().key_id), 202)


@route("/api/campaigns/{campaign_id}", methods=["GET"])
def campaign_stats(campaign_id: str) -> Response:
    return json_response(campaigns.service().stats(campaign_id))


# One chunk (25 recipients) per invocation. A chunk that must wait (throttled, or not
# finished before the timeout) is queued again as a new message, so waiting never uses up
# the queue's five receives.
@app.on_sqs_message(queue=CAMPAIGN_QUEUE, batch_size=1, name="campaign_worker")
def campaign_worker(event: SQSEvent) -> dict[str, Any]:
    records = [record.to_dict() for record in event]
    # Chalice types the context as a dict; it is Lambda's context object.
    context = cast(campaigns.LambdaContext, event.context)
    return campaigns.service().handle_records(records, context=context)


@app.schedule(Rate(5, unit=Rate.MINUTES), name="links_sweeper")
def links_sweeper(event: CloudWatchEvent) -> None:
    # Chalice types the context as a dict; it is Lambda's context object.
    expiry.sweep(context=cast(expiry.LambdaContext, event.context))


@app.on_dynamodb_record(stream_arn=LINKS_STREAM_ARN, name="links_stream")
def links_stream(event: DynamoDBEvent) -> None:
    expiry.on_links_stream([record.to_dict() for record in event])


# --- messaging (issue 4) --------------------------------------------------------------

from chalicelib import messaging  # noqa: E402


@route("/api/links/{code}/resend", methods=["POST"])
def resend_message(code: str) -> Response:
    answer = messaging.resend(code, key_id=current_key().key_id)
    return json_response({"code": code, "message": answer})


@route("/webhooks/vonage/status", methods=["POST"], content_types=["application/json"])
def vonage_status() -> Response:
    request = this_request()
    messaging.receive_status(request.headers.get("authorization"), request.raw_body)
    return Response(body="", status_code=204)


@route("/webhooks/vonage/inbound", methods=["POST"], content_types=["application/json"])
def vonage_inbound() -> Response:
    request = this_request()
    messaging.receive_inbound(request.headers.get("authorization"), request.raw_body)
    return Response(body="", status_code=204)


@route("/api/outbox", methods=["GET"])
def local_outbox() -> Response:
    return json_response(messaging.local_outbox())


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
    request = this_request()
    journeys.service().record_ping(request.headers, request.raw_body, request.context)
    return Response(body="", status_code=204, headers={"Cache-Control": "no-store"})


@route("/journey", methods=["GET"])
def journey() -> Response:
    request = this_request()
    own = journeys.service().own_journey(request.headers, request.context)
    return html_response(site.journey_page(own.hops, opted_out=own.opted_out))


@app.schedule(Rate(1, unit=Rate.HOURS), name="salts_sweeper")
def salts_sweeper(event: CloudWatchEvent) -> None:
    journeys.service().salts.delete_expired()


@route("/api/journeys", methods=["GET"])
def journey_flows() -> Response:
    return json_response(journeys.service().flows(this_request().query_params or {}))


# --- events (issue 7) -----------------------------------------------------------------

from chalicelib import cors, events, identity, stitch  # noqa: E402
from chalicelib.timeutil import iso, now  # noqa: E402

EVENTS_QUEUE = os.environ.get("EVENTS_QUEUE", "linktrail-local-events")
# analytics.js sends one event per request, so one queue message is usually one event:
# Lambda gathers up to 100 messages (waiting at most 5 s) so that Stitch sees about 10
# requests per 1,000 events instead of 100 (`make bench`).
EVENTS_BATCH_SIZE = 100
EVENTS_BATCH_WINDOW_SECONDS = 5


def events_cors() -> cors.OriginPolicy:
    return cors.OriginPolicy(runtime.settings().cors_origins)


def event_queue() -> events.EventQueue:
    return events.EventQueue(runtime.sqs(), runtime.settings().events_queue_url)


@route("/events", methods=["OPTIONS"])
def events_preflight() -> Response:
    allowed = events_cors().for_preflight(this_request().headers)
    return Response(body="", status_code=204, headers={**allowed})


@route("/events", methods=["POST"], content_types=list(events.ACCEPTED_MEDIA_TYPES))
def collect_events() -> Response:
    request = this_request()
    headers = events_cors().for_request(request.headers)
    with cors.headers_on_problems(headers):
        ids = events.collect(event_queue(), request.raw_body, request.headers.get("content-type"),
                             request.headers.get("user-agent"))
    return json_response({"accepted": len(ids), "message_ids": ids}, 202, headers)


@route("/api/users/{user_id}", methods=["DELETE"])
def erase_user(user_id: str) -> Response:
    store = identity.IdentityStore(runtime.dynamodb(), runtime.settings().app_table)
    removed = identity.erase_user(store, event_queue(), user_id, iso(now()))
    body = {"user_id": user_id, "identity_links_removed": removed, "deletion_record": "queued"}
    return json_response(body, 202)


@app.on_sqs_message(
    queue=EVENTS_QUEUE,
    batch_size=EVENTS_BATCH_SIZE,
    maximum_batching_window_in_seconds=EVENTS_BATCH_WINDOW_SECONDS,
)
def events_forwarder(event: SQSEvent) -> dict[str, Any]:
    records = [stitch.QueueRecord.from_lambda(r.to_dict()) for r in event]
    forwarder = stitch.forwarder(runtime.settings(), runtime.dynamodb(), runtime.sqs())
    return stitch.batch_item_failures(forwarder.forward(records))


@route("/demo/analytics", methods=["GET"])
def analytics_demo() -> Response:
    """The analytics.js demo page (local stage only; the README shows the same plugin)."""
    if not runtime.settings().is_local:
        raise Problem(404, "The demo page exists on the local stage only.")
    from local import analytics_demo as demo

    return Response(body=demo.page(), status_code=200, headers={**demo.PAGE_HEADERS})


@route("/demo/analytics.min.js", methods=["GET"])
def analytics_script() -> Response:
    if not runtime.settings().is_local:
        raise Problem(404, "The demo page exists on the local stage only.")
    from local import analytics_demo as demo

    return Response(body=demo.script(), status_code=200, headers={**demo.SCRIPT_HEADERS})
