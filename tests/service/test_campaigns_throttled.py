"""Campaigns back off when Vonage answers 429, honouring Retry-After. The campaign worker
runs through chalice.test with an SQS event built from the message moto's queue
delivered, and `work` stands in for Lambda's event source mapping (it deletes what the
worker reports handled); the real SDK talks to the local fake Messages API, planned to
answer sends with 429 and Retry-After: 3.

A throttled chunk is queued again as a new message: handing the same message back would
use one of the queue's 5 receives each time, so throttling would dead-letter chunks.

Time is the test's: `clock` freezes moto's SQS clock, the campaign service's clock and
messaging's `now` at one instant and moves them together, so "visible again after about
Retry-After" is checked exactly (hidden at 2.999 s, back at 3.001 s) and nothing waits on
the wall clock.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from tests.support.campaigns import (
    NUMBERS,
    campaign_body,
    campaign_links,
    dead_letters,
    receive,
    start,
    work,
)
from tests.support.clock import FakeClock


def test_vonage_429s_requeue_the_chunk_after_retry_after_and_each_recipient_gets_one_text(
    client: Any,
    auth_headers: dict[str, str],
    texting: Any,
    aws: dict[str, str],
    clock: FakeClock,
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
