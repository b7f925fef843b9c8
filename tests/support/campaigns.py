"""Campaigns as tests drive them: request bodies, the campaign queue as Lambda's event
source mapping sees it, and a CampaignService over fakes."""

from __future__ import annotations

import json
from typing import Any

import boto3

from chalicelib import wiring
from chalicelib.campaigns import service as campaigns
from tests.support.aws import link_items, sqs_record

NUMBERS = [f"+4474001{n:05d}" for n in range(100)]  # valid GB mobiles


def campaign_body(count: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": "spring",
        "url": "https://shop.example.com/spring",
        "text": "Spring sale: {link}",
        "recipients": [{"to": NUMBERS[n % 100], "ref": f"customer-{n}"} for n in range(count)],
        "ttl": 7 * 86400,
        **extra,
    }


def start(client: Any, headers: dict[str, str], body: dict[str, Any]) -> Any:
    return client.http.post("/api/campaigns", headers=headers, body=json.dumps(body))


def campaign_service(messenger: Any, links: Any = None) -> campaigns.CampaignService:
    return campaigns.CampaignService(
        links or wiring.links(), wiring.dynamodb(), wiring.sqs(), messenger
    )


def receive(env: dict[str, str], visibility: int | None = None) -> list[dict[str, Any]]:
    """One receive from the campaign queue (up to 10 messages)."""
    extra = {} if visibility is None else {"VisibilityTimeout": visibility}
    return list(
        boto3.client("sqs")
        .receive_message(
            QueueUrl=env["CAMPAIGN_QUEUE_URL"],
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            **extra,
        )
        .get("Messages", [])
    )


def receive_all(env: dict[str, str]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while batch := receive(env):
        messages.extend(batch)
    return messages


def sqs_event(messages: list[dict[str, Any]], env: dict[str, str]) -> dict[str, Any]:
    """The event Lambda hands the campaign worker, built from received messages."""
    return {"Records": [sqs_record(m, env["CAMPAIGN_QUEUE_URL"]) for m in messages]}


def work(client: Any, env: dict[str, str], messages: list[dict[str, Any]]) -> list[str]:
    """Lambda's event source mapping: one message per invocation (batch_size=1); the ones
    not reported failed are deleted. The ids reported failed."""
    failed: list[str] = []
    for message in messages:
        result = client.lambda_.invoke("campaign_worker", sqs_event([message], env)).payload
        ids = [f["itemIdentifier"] for f in result["batchItemFailures"]]
        if message["MessageId"] not in ids:
            boto3.client("sqs").delete_message(
                QueueUrl=env["CAMPAIGN_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"]
            )
        failed += ids
    return failed


def campaign_links(env: dict[str, str], campaign_id: str) -> list[dict[str, Any]]:
    return [
        i
        for i in link_items(env)
        if i["sk"]["S"] == "link" and i.get("campaign_id", {}).get("S") == campaign_id
    ]


def queued(env: dict[str, str]) -> int:
    """Messages on the campaign queue, visible or in flight."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=env["CAMPAIGN_QUEUE_URL"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def dead_letters(env: dict[str, str]) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=env["CAMPAIGN_QUEUE"] + "-dlq")["QueueUrl"]
    return list(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []))
