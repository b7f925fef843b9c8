"""Event tracking over HTTP: /events (analytics.js and Segment-shaped messages, CORS),
erasing a user, and the forwarder that loads the queued events into Stitch."""

from __future__ import annotations

import os

from chalice import Response
from chalice.app import SQSEvent

from chalicelib import wiring
from chalicelib.core.clock import iso, now
from chalicelib.core.lambdas import BatchAnswer, batch_item_failures
from chalicelib.http import Api, json_response, no_content
from chalicelib.tracking import collector, cors, erasure
from chalicelib.tracking.records import QueueRecord

bp = Api(__name__)

EVENTS_QUEUE = os.environ.get("EVENTS_QUEUE", "linktrail-local-events")
# analytics.js sends one event per request, so one queue message is usually one event:
# Lambda gathers up to 100 messages (waiting at most 5 s) so that Stitch sees about 10
# requests per 1,000 events instead of 100 (`make bench`).
EVENTS_BATCH_SIZE = 100
EVENTS_BATCH_WINDOW_SECONDS = 5


@bp.route("/events", methods=["OPTIONS"])
def events_preflight() -> Response:
    return no_content(wiring.origin_policy().for_preflight(bp.request.headers))


@bp.route("/events", methods=["POST"], content_types=list(collector.ACCEPTED_MEDIA_TYPES))
def collect_events() -> Response:
    request = bp.request
    headers = wiring.origin_policy().for_request(request.headers)
    with cors.headers_on_problems(headers):
        # A browser holds no secret key: its identify calls link only with a user_hash.
        ids = collector.collect(wiring.event_queue(), request.raw_body,
                                request.headers.get("content-type"),
                                request.headers.get("user-agent"), server_source=False)
    return json_response({"accepted": len(ids), "message_ids": ids}, 202, headers)


@bp.route("/api/users/{user_id}", methods=["DELETE"], role="events:erase")
def erase_user(user_id: str) -> Response:
    removed = erasure.erase_user(wiring.identities(), wiring.event_queue(), user_id, iso(now()))
    body = {"user_id": user_id, "identity_links_removed": removed, "deletion_record": "queued"}
    return json_response(body, 202)


@bp.route("/api/events/stats", methods=["GET"], role="read")
def event_stats() -> Response:
    return json_response(wiring.deliveries().stats(bp.request.query_params or {}))


@bp.on_sqs_message(
    queue=EVENTS_QUEUE,
    batch_size=EVENTS_BATCH_SIZE,
    maximum_batching_window_in_seconds=EVENTS_BATCH_WINDOW_SECONDS,
)
def events_forwarder(event: SQSEvent) -> BatchAnswer:
    records = [QueueRecord.from_lambda(r.to_dict()) for r in event]
    return batch_item_failures(wiring.forwarder().forward(records))
