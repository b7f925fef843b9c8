"""Clicks are counted by the Lambda@Edge function in edge/ (deployed on its own). Here, the
links stream's click consumer: each batch's clicks are rolled up into the analytics
buckets and sent to the warehouse as "Link Clicked" events, and human clicks on links with
a webhook_url become signed link.clicked POSTs (the stream queues one delivery per click,
and a queue worker sends them). One consumer does all three: a third reader of the
stream's shards would be throttled."""

from __future__ import annotations

import os

from chalice.app import DynamoDBEvent, SQSEvent

from chalicelib import wiring
from chalicelib.clicks import warehouse, webhooks
from chalicelib.clicks.records import clicks_of, with_tags
from chalicelib.core.lambdas import BatchAnswer
from chalicelib.core.settings import links_stream_arn
from chalicelib.http import Api

bp = Api(__name__)

NOTIFY_QUEUE = os.environ.get("NOTIFY_QUEUE", "linktrail-local-notify")


@bp.on_dynamodb_record(stream_arn=links_stream_arn(), name="click_webhooks")
def click_webhooks(event: DynamoDBEvent) -> None:
    records = [record.to_dict() for record in event]
    current = wiring.settings()
    clicks = clicks_of(records)
    if clicks:
        clicks = with_tags(clicks, wiring.link_tags().tags_for)
        wiring.rollups().apply(clicks)
        if current.click_events:
            warehouse.forward(clicks, wiring.event_queue(), current.short_base_url)
    found = webhooks.deliveries(records, current.short_base_url)
    if found:
        webhooks.enqueue(wiring.sqs(), wiring.notify_queue_url(), found)


@bp.on_sqs_message(queue=NOTIFY_QUEUE, batch_size=10, name="click_webhook_delivery")
def click_webhook_delivery(event: SQSEvent) -> BatchAnswer:
    records = [record.to_dict() for record in event]
    return webhooks.deliver_batch(wiring.click_webhooks(), records)
