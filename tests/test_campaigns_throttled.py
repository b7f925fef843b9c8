"""Campaigns back off when Vonage answers 429, honouring Retry-After (review finding: the
path had no test). The campaign worker runs through chalice.test with an SQS event built
from the message moto's queue delivered; the real SDK talks to the local fake Messages
API, planned to answer one send with 429 and Retry-After: 3.

Time is moto's: its SQS clock is a fake the test moves forward, so "visible again after
about Retry-After" is checked exactly (hidden at 2.999 s, back at 3.001 s) and nothing
waits on the wall clock.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from tests.test_campaigns import NUMBERS, campaign_body, campaign_links, sqs_event, start


class SqsClock:
    """moto's SQS clock (milliseconds), frozen at the test's start and moved by hand."""

    def __init__(self, start_ms: float) -> None:
        self.now_ms = start_ms

    def __call__(self) -> float:
        return self.now_ms


@pytest.fixture
def sqs_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[SqsClock]:
    from moto.core.utils import unix_time_millis

    clock = SqsClock(unix_time_millis())
    # moto's SQS models read the time through this name (visibility, delays).
    monkeypatch.setattr("moto.sqs.models.unix_time_millis", clock)
    yield clock


def receive(env: dict[str, str]) -> list[dict[str, Any]]:
    answer = boto3.client("sqs").receive_message(
        QueueUrl=env["CAMPAIGN_QUEUE_URL"], MaxNumberOfMessages=10, AttributeNames=["All"]
    )
    messages: list[dict[str, Any]] = answer.get("Messages", [])
    return messages


def test_a_vonage_429_hands_the_chunk_back_after_retry_after_and_each_recipient_gets_one_text(
    client: Any, auth_headers: dict[str, str], texting: Any, aws: dict[str, str],
    sqs_clock: SqsClock,
) -> None:
    from chalicelib import runtime

    started = start(client, auth_headers, campaign_body(3))
    assert started.status_code == 202, started.body
    campaign_id = json.loads(started.body)["campaign_id"]
    [chunk] = receive(aws)
    assert receive(aws) == []  # in flight: hidden for the queue's visibility timeout

    texting.api.plan(status=202)  # recipient 0: accepted
    texting.api.plan(status=429, retry_after="3")  # recipient 1: Vonage throttles
    visibility: list[dict[str, Any]] = []  # each ChangeMessageVisibility, as sent to SQS

    def record(params: dict[str, Any], **_: Any) -> None:
        visibility.append(dict(params))

    sqs = runtime.sqs()
    sqs.meta.events.register("provide-client-params.sqs.ChangeMessageVisibility", record)
    try:
        result = client.lambda_.invoke("campaign_worker", sqs_event([chunk], aws)).payload
    finally:
        sqs.meta.events.unregister("provide-client-params.sqs.ChangeMessageVisibility", record)

    # The chunk is reported failed, and made visible again after Retry-After, not after
    # the queue's 360 s visibility timeout.
    assert result == {"batchItemFailures": [{"itemIdentifier": chunk["MessageId"]}]}
    assert [(v["ReceiptHandle"], v["VisibilityTimeout"]) for v in visibility] == [
        (chunk["ReceiptHandle"], 3)
    ]
    assert [r["body"]["to"] for r in texting.api.requests] == [NUMBERS[0][1:], NUMBERS[1][1:]]
    links = {link["ref"]["S"]: link for link in campaign_links(aws, campaign_id)}
    assert sorted(links) == ["customer-0", "customer-1"]  # the chunk stopped at the 429
    throttled = TypeDeserializer().deserialize(links["customer-1"]["message"])
    assert throttled["status"] == "throttled" and throttled["retry_after"] == 3

    sqs_clock.now_ms += 2_999
    assert receive(aws) == []  # still waiting out Retry-After
    sqs_clock.now_ms += 2
    [redelivered] = receive(aws)
    assert redelivered["MessageId"] == chunk["MessageId"]
    assert redelivered["Attributes"]["ApproximateReceiveCount"] == "2"

    result = client.lambda_.invoke("campaign_worker", sqs_event([redelivered], aws)).payload
    assert result == {"batchItemFailures": []}

    # Each recipient: exactly one link and one text that went out.
    links = {link["ref"]["S"]: link for link in campaign_links(aws, campaign_id)}
    assert sorted(links) == ["customer-0", "customer-1", "customer-2"]
    codes = {ref: link["code"]["S"] for ref, link in links.items()}
    outbox = Counter(entry["client_ref"] for entry in texting.api.outbox)
    assert outbox == Counter(codes.values())  # one accepted text per link
    accepted_to = [r["body"]["to"] for r in texting.api.requests][2:]
    assert sorted(accepted_to) == sorted(n[1:] for n in NUMBERS[1:3])  # 1 again, then 2
    for ref, link in links.items():
        message = TypeDeserializer().deserialize(link["message"])
        assert message["status"] == "accepted", (ref, message)
        assert message["uuid"] in {e["message_uuid"] for e in texting.api.outbox}
    quota = runtime.dynamodb().scan(TableName=runtime.settings().app_table)["Items"]
    assert [i["sends"]["N"] for i in quota if i["pk"]["S"].startswith("smsquota#")] == ["3"]

    stats = client.http.get(f"/api/campaigns/{campaign_id}", headers=auth_headers).json_body
    assert stats["sent"] == 3 and stats["links_created"] == 3 and stats["status"] == "done"
