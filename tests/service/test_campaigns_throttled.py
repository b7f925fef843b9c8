"""Campaigns back off when Vonage answers 429, honouring Retry-After (review finding: the
path had no test). The campaign worker runs through chalice.test with an SQS event built
from the message moto's queue delivered, and `work` stands in for Lambda's event source
mapping (it deletes what the worker reports handled); the real SDK talks to the local fake
Messages API, planned to answer sends with 429 and Retry-After: 3.

A throttled chunk is queued again as a new message (review finding: every hand-back of the
same message used one of the queue's 5 receives, so throttling dead-lettered chunks).

Time is the test's: `clock` freezes moto's SQS clock and the campaign and messaging
modules' `now` at one instant and moves them together, so "visible again after about
Retry-After" is checked exactly (hidden at 2.999 s, back at 3.001 s) and nothing waits on
the wall clock.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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


class Clock:
    """One frozen instant for moto's SQS and for the app's campaigns and messaging modules
    (quota days, Retry-After, stall limits), moved forward by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def sqs_ms(self) -> float:
        return self.at.timestamp() * 1000

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    from chalicelib.campaigns import service as campaigns
    from chalicelib.messaging import texting as messaging

    frozen = Clock(datetime.now(UTC).replace(microsecond=0))
    monkeypatch.setattr("moto.sqs.models.unix_time_millis", frozen.sqs_ms)
    monkeypatch.setattr(campaigns, "now", frozen.now)
    monkeypatch.setattr(messaging, "now", frozen.now)
    return frozen


def receive(env: dict[str, str]) -> list[dict[str, Any]]:
    answer = boto3.client("sqs").receive_message(
        QueueUrl=env["CAMPAIGN_QUEUE_URL"], MaxNumberOfMessages=10, AttributeNames=["All"]
    )
    messages: list[dict[str, Any]] = answer.get("Messages", [])
    return messages


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


def dead_letters(env: dict[str, str]) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=env["CAMPAIGN_QUEUE"] + "-dlq")["QueueUrl"]
    return list(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []))


def test_vonage_429s_requeue_the_chunk_after_retry_after_and_each_recipient_gets_one_text(
    client: Any,
    auth_headers: dict[str, str],
    texting: Any,
    aws: dict[str, str],
    clock: Clock,
) -> None:
    from chalicelib import wiring

    started = start(client, auth_headers, campaign_body(3))
    assert started.status_code == 202, started.body
    campaign_id = json.loads(started.body)["campaign_id"]
    [chunk] = receive(aws)
    original = json.loads(chunk["Body"])

    texting.api.plan(status=202)  # recipient 0: accepted
    for _ in range(6):  # recipient 1: Vonage throttles six times in a row
        texting.api.plan(status=429, retry_after="3")
    sent: list[dict[str, Any]] = []  # each SendMessage, as sent to SQS

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(dict(params))

    sqs = wiring.sqs()
    sqs.meta.events.register("provide-client-params.sqs.SendMessage", record)
    try:
        assert work(client, aws, [chunk]) == []  # handled: queued again, not handed back
        links = {link["ref"]["S"]: link for link in campaign_links(aws, campaign_id)}
        assert sorted(links) == ["customer-0", "customer-1"]  # the chunk stopped at the 429
        throttled = TypeDeserializer().deserialize(links["customer-1"]["message"])
        assert throttled["status"] == "throttled" and throttled["retry_after"] == 3
        stats = client.http.get(f"/api/campaigns/{campaign_id}", headers=auth_headers).json_body
        assert stats["status"] == "throttled" and stats["waiting_until"]

        # The new message: the same chunk, delayed by Retry-After, resuming at recipient 1.
        again = json.loads(sent[0]["MessageBody"])
        assert {k: again[k] for k in original} == original
        assert again["stop"] == 1 and sent[0]["DelaySeconds"] == 3
        clock.advance(2.999)
        assert receive(aws) == []  # still waiting out Retry-After
        clock.advance(0.002)
        [redelivered] = receive(aws)
        assert redelivered["MessageId"] != chunk["MessageId"]

        # Five more 429s: each one a fresh message, so none nears the dead-letter queue's
        # 5 receives; without progress the wait backs off (at least Retry-After).
        counts = [redelivered["Attributes"]["ApproximateReceiveCount"]]
        messages = [redelivered]
        while messages:
            assert work(client, aws, messages) == []
            clock.advance(sent[-1]["DelaySeconds"] + 0.001)
            messages = receive(aws)
            counts += [m["Attributes"]["ApproximateReceiveCount"] for m in messages]
    finally:
        sqs.meta.events.unregister("provide-client-params.sqs.SendMessage", record)
    assert counts == ["1"] * 6 and dead_letters(aws) == []
    assert [s["DelaySeconds"] for s in sent] == [3, 3, 4, 8, 16, 32]

    # Each recipient: exactly one link and one text that went out.
    links = {link["ref"]["S"]: link for link in campaign_links(aws, campaign_id)}
    assert sorted(links) == ["customer-0", "customer-1", "customer-2"]
    codes = {ref: link["code"]["S"] for ref, link in links.items()}
    outbox = Counter(entry["client_ref"] for entry in texting.api.outbox)
    assert outbox == Counter(codes.values())  # one accepted text per link
    to = [r["body"]["to"] for r in texting.api.requests]
    assert to == [n[1:] for n in [NUMBERS[0]] + [NUMBERS[1]] * 7 + [NUMBERS[2]]]
    for ref, link in links.items():
        message = TypeDeserializer().deserialize(link["message"])
        assert message["status"] == "accepted", (ref, message)
        assert message["uuid"] in {e["message_uuid"] for e in texting.api.outbox}
    quota = wiring.dynamodb().scan(TableName=wiring.settings().app_table)["Items"]
    assert [i["sends"]["N"] for i in quota if i["pk"]["S"].startswith("smsquota#")] == ["3"]

    stats = client.http.get(f"/api/campaigns/{campaign_id}", headers=auth_headers).json_body
    assert stats["sent"] == 3 and stats["links_created"] == 3 and stats["status"] == "done"
