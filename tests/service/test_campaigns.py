"""Campaigns: validation, the queue handler with SQS events built from messages received
from the emulator, idempotent redelivery, partial batch failure, statistics. Texts go
through the real messaging module and Vonage SDK to the local fake Messages API."""

from __future__ import annotations

import json

import boto3
import pytest

from chalicelib import wiring
from tests.support.aws import link_items, redirect_objects
from tests.support.campaigns import (
    NUMBERS,
    campaign_body,
    campaign_links,
    queued,
    receive_all,
    sqs_event,
    start,
)
from tests.support.env import set_env


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (campaign_body(0), "recipients"),
        ({**campaign_body(1), "recipients": [{"to": NUMBERS[0]}] * 10_001}, "recipients"),
        (campaign_body(3, text="Spring sale, no link"), "text"),
        (campaign_body(3, url="javascript:alert(1)"), "url"),
        (
            {**campaign_body(2), "recipients": [{"to": NUMBERS[0]}, {"to": "12"}]},
            "recipients[1].to",
        ),
        ({**campaign_body(2), "recipients": [{"to": NUMBERS[0], "x": 1}]}, "recipients[0].x"),
        (campaign_body(2, expires_at=4102444800), "ttl"),
        (campaign_body(2, channel="pigeon"), "channel"),
        (campaign_body(2, budget=3), "budget"),
    ],
)
def test_bad_campaigns_are_refused_and_write_nothing(
    client, auth_headers, texting, aws, body, field
):
    answer = start(client, auth_headers, body)
    assert answer.status_code == 400, answer.body
    assert json.loads(answer.body)["field"] == field
    assert link_items(aws) == [] and redirect_objects(aws) == []
    assert queued(aws) == 0


def test_fifty_recipients_through_the_queue_handler_without_duplicates(
    client, auth_headers, texting, aws
):
    answer = start(
        client, auth_headers, campaign_body(50, webhook_url="https://hooks.example.com/clicks")
    )
    assert answer.status_code == 202, answer.body
    started = json.loads(answer.body)
    assert started["status"] == "queued" and started["total"] == 50
    campaign_id = started["campaign_id"]
    stats = json.loads(client.http.get(f"/api/campaigns/{campaign_id}", headers=auth_headers).body)
    assert stats["status"] == "queued" and stats["links_created"] == 0

    messages = receive_all(aws)
    assert len(messages) == 2  # 25 recipients a message

    def work_off() -> None:
        # One record per invocation, as the worker is configured (batch_size=1): two
        # chunks in one 60 s invocation can run out of time on a loaded machine.
        for message in messages:
            result = client.lambda_.invoke("campaign_worker", sqs_event([message], aws)).payload
            assert result == {"batchItemFailures": []}

    work_off()

    links = campaign_links(aws, campaign_id)
    assert len(links) == 50
    assert {link["ref"]["S"] for link in links} == {f"customer-{n}" for n in range(50)}
    assert {link["webhook_url"]["S"] for link in links} == {"https://hooks.example.com/clicks"}
    assert all("expires_at" in link for link in links)
    assert len(redirect_objects(aws)) == 50
    assert len(texting.api.requests) == 50
    texts = {r["body"]["text"] for r in texting.api.requests}
    assert len(texts) == 50 and all(t.startswith("Spring sale: http") for t in texts)

    # The queue delivers the same chunks again: no second link, no second text.
    work_off()
    assert len(campaign_links(aws, campaign_id)) == 50
    assert len(redirect_objects(aws)) == 50
    assert len(texting.api.requests) == 50

    stats = json.loads(client.http.get(f"/api/campaigns/{campaign_id}", headers=auth_headers).body)
    assert stats["total"] == stats["links_created"] == stats["sent"] == 50
    assert stats["status"] == "done" and stats["ctr"] is None

    listed = client.http.get(
        f"/api/links?campaign_id={campaign_id}&limit=100", headers=auth_headers
    )
    assert len(json.loads(listed.body)["links"]) == 50


def test_a_chunk_over_quota_is_queued_again_and_redelivery_completes(
    client, auth_headers, texting, aws
):
    set_env(SMS_DAILY_QUOTA="30")  # the second chunk runs out of quota after 5 texts
    campaign_id = json.loads(start(client, auth_headers, campaign_body(50)).body)["campaign_id"]
    messages = receive_all(aws)
    messages.sort(key=lambda m: json.loads(m["Body"])["start"])
    result = client.lambda_.invoke("campaign_worker", sqs_event(messages, aws)).payload
    # Handled: the second chunk went back to the queue as a new message, delayed until
    # the quota resets (tests/test_campaigns_requeue.py follows it through the days).
    assert result == {"batchItemFailures": []}
    delayed = boto3.client("sqs").get_queue_attributes(
        QueueUrl=aws["CAMPAIGN_QUEUE_URL"], AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]["ApproximateNumberOfMessagesDelayed"]
    assert delayed == "1"
    assert len(campaign_links(aws, campaign_id)) == 31  # the 31st got its link, not its text
    assert len(texting.api.requests) == 30
    stats = json.loads(client.http.get(f"/api/campaigns/{campaign_id}", headers=auth_headers).body)
    assert stats["status"] == "throttled"  # until the quota resets

    set_env(SMS_DAILY_QUOTA="1000")
    result = client.lambda_.invoke("campaign_worker", sqs_event(messages[1:], aws)).payload
    assert result == {"batchItemFailures": []}
    assert len(campaign_links(aws, campaign_id)) == 50
    assert len(texting.api.requests) == 50
    assert len({r["body"]["to"] for r in texting.api.requests}) == 50


def test_statistics_count_delivery_and_clicks(client, auth_headers, texting, aws):
    campaign_id = json.loads(start(client, auth_headers, campaign_body(10)).body)["campaign_id"]
    client.lambda_.invoke("campaign_worker", sqs_event(receive_all(aws), aws))
    dynamodb = boto3.client("dynamodb")
    links = campaign_links(aws, campaign_id)
    # What receipts and the edge function write: 4 delivered (2 of them clicked), 1 rejected,
    # and one click on an undelivered text.
    for n, link in enumerate(links[:6]):
        status = "delivered" if n < 4 else "rejected" if n == 4 else "accepted"
        dynamodb.update_item(
            TableName=aws["LINKS_TABLE"],
            Key={"pk": link["pk"], "sk": link["sk"]},
            UpdateExpression="SET #m.#s = :s",
            ExpressionAttributeNames={"#m": "message", "#s": "status"},
            ExpressionAttributeValues={":s": {"S": status}},
        )
        dynamodb.update_item(  # a click: the edge counts it on the link's counter
            TableName=aws["LINKS_TABLE"],
            Key={"pk": link["pk"], "sk": {"S": "counter"}},
            UpdateExpression="ADD human_clicks :c",
            ExpressionAttributeValues={":c": {"N": "1" if n in (0, 1, 5) else "0"}},
        )
    stats = json.loads(client.http.get(f"/api/campaigns/{campaign_id}", headers=auth_headers).body)
    assert stats["links_created"] == 10
    assert stats["delivered"] == 4 and stats["failed"] == 1 and stats["sent"] == 10
    assert stats["clicked"] == 3
    assert stats["delivered_not_clicked"] == 2  # delivered: 0-3; clicked: 0, 1 and 5
    assert stats["ctr"] == 0.75  # clicked ÷ delivered
    assert client.http.get("/api/campaigns/AAAAAAAAAAAA", headers=auth_headers).status_code == 404


def test_opted_out_recipients_are_counted(client, auth_headers, texting, aws):

    wiring.texting().opt_out(NUMBERS[1], "sms", "STOP")
    campaign_id = json.loads(start(client, auth_headers, campaign_body(3)).body)["campaign_id"]
    client.lambda_.invoke("campaign_worker", sqs_event(receive_all(aws), aws))
    stats = json.loads(client.http.get(f"/api/campaigns/{campaign_id}", headers=auth_headers).body)
    assert stats["opted_out"] == 1 and stats["sent"] == 2
    assert len(texting.api.requests) == 2
