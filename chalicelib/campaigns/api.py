"""Campaigns over HTTP, and the worker that sends their chunks from the queue."""

from __future__ import annotations

import os
from typing import cast

from chalice import Response
from chalice.app import SQSEvent

from chalicelib import wiring
from chalicelib.analytics import funnel
from chalicelib.campaigns.model import MAX_BODY_BYTES
from chalicelib.core.lambdas import BatchAnswer, LambdaContext
from chalicelib.http import Api, calling_key, json_response
from chalicelib.links import idempotency

bp = Api(__name__)

CAMPAIGN_QUEUE = os.environ.get("CAMPAIGN_QUEUE", "linktrail-local-campaigns")


@bp.route("/api/campaigns", methods=["POST"], role="links:write")
def start_campaign() -> Response:
    body = bp.json_body(MAX_BODY_BYTES)
    retry_key = idempotency.parse_key(bp.request.headers)
    started = wiring.campaigns().start(body, calling_key().key_id, retry_key)
    return json_response(started.answer, 202, idempotency.replay_headers(started.replayed))


@bp.route("/api/campaigns", methods=["GET"], role="read")
def list_campaigns() -> Response:
    return json_response(wiring.campaigns().page(bp.request.query_params))


@bp.route("/api/campaigns/{campaign_id}", methods=["GET"], role="read")
def campaign_stats(campaign_id: str) -> Response:
    return json_response(
        funnel.with_clicks(wiring.campaigns().stats(campaign_id), wiring.analytics())
    )


# One chunk (25 recipients) per invocation. A chunk that must wait (throttled, or not
# finished before the timeout) is queued again as a new message, so waiting never uses up
# the queue's five receives.
@bp.on_sqs_message(queue=CAMPAIGN_QUEUE, batch_size=1, name="campaign_worker")
def campaign_worker(event: SQSEvent) -> BatchAnswer:
    records = [record.to_dict() for record in event]
    # Chalice types the context as a dict; it is Lambda's context object.
    context = cast(LambdaContext, event.context)
    return wiring.campaigns().handle_records(records, context=context)
