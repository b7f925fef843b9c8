"""Waiting campaign chunks are queued again as new messages: handing a throttled or
unfinished chunk back would use one of the campaign queue's 5 receives each time, so a
campaign larger than the daily SMS quota would lose its tail to the dead-letter queue and
stay "sending" forever.

The worker runs through chalice.test, fed by `drain`, which plays Lambda's event source
mapping against moto's queue while `clock` (moto's SQS clock and the app's, together)
moves through the days.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

from tests.support.aws import failing
from tests.support.campaigns import (
    campaign_body,
    campaign_links,
    campaign_service,
    dead_letters,
    queued,
    receive,
    sqs_event,
    start,
    work,
)
from tests.support.clock import FakeClock
from tests.support.env import set_env
from tests.support.fakes import FakeLambdaContext, FakeMessenger


def evening(clock: FakeClock, days: int = 1) -> datetime:
    """Put the clock at 20:00 UTC, `days` days ahead: four hours before the quota resets."""
    clock.at = (clock.at + timedelta(days=days)).replace(hour=20, minute=0, second=0)
    return clock.at


def drain(client: Any, env: dict[str, str], clock: FakeClock, until: datetime) -> list[str]:
    """Run the worker on whatever the queue delivers, moving the clock 6 h whenever it is
    empty, until `until`; the ApproximateReceiveCount of every message delivered."""
    counts: list[str] = []
    while True:
        messages = receive(env)
        if not messages:
            if clock.at >= until:
                return counts
            clock.advance(6 * 3600)
            continue
        counts += [m["Attributes"]["ApproximateReceiveCount"] for m in messages]
        assert work(client, env, messages) == []


def stats(client: Any, headers: dict[str, str], campaign_id: str) -> dict[str, Any]:
    answer = client.http.get(f"/api/campaigns/{campaign_id}", headers=headers)
    result: dict[str, Any] = answer.json_body
    return result


def test_a_campaign_over_the_daily_quota_waits_for_midnight_and_finishes(
    client, auth_headers, texting, aws, clock
):
    from bench.core import count_aws_calls
    from chalicelib import wiring

    set_env(SMS_DAILY_QUOTA="1")  # 30 recipients, one text a day
    first_day = evening(clock)
    campaign_id = start(client, auth_headers, campaign_body(30)).json_body["campaign_id"]

    # Three days at one text a day: each chunk waits for midnight, day after day.
    counts = drain(client, aws, clock, until=first_day + timedelta(days=3))
    assert len(texting.api.requests) == 4  # 20:00 on day one, then one each midnight
    assert counts and set(counts) == {"1"}  # every delivery a fresh message
    assert dead_letters(aws) == []
    waiting = stats(client, auth_headers, campaign_id)
    midnight = (clock.at + timedelta(days=1)).replace(hour=0)
    assert waiting["status"] == "throttled"
    assert waiting["waiting_until"] == midnight.isoformat().replace("+00:00", ".000Z")
    assert waiting["links_created"] == 6 and waiting["sent"] == 4 and waiting["pending"] == 2

    # A hop while waiting: no read, no write, no text; one SendMessage.
    clock.advance(900)
    messages = receive(aws)
    assert len(messages) == 2
    with (
        count_aws_calls(wiring.dynamodb()) as dynamodb,
        count_aws_calls(wiring.s3()) as s3,
        count_aws_calls(wiring.sqs()) as sqs,
    ):
        assert work(client, aws, messages) == []
    assert dict(dynamodb) == {} and dict(s3) == {}
    assert dict(sqs) == {"sqs.SendMessage": 2}
    assert len(texting.api.requests) == 4

    # The quota is raised: the chunks come back at midnight and finish.
    set_env(SMS_DAILY_QUOTA="1000")
    counts = drain(client, aws, clock, until=midnight + timedelta(hours=1))
    assert set(counts) == {"1"} and dead_letters(aws) == [] and queued(aws) == 0

    links = campaign_links(aws, campaign_id)
    assert {link["ref"]["S"] for link in links} == {f"customer-{n}" for n in range(30)}
    outbox = Counter(entry["client_ref"] for entry in texting.api.outbox)
    assert outbox == Counter(link["code"]["S"] for link in links)  # one text per link
    finished = stats(client, auth_headers, campaign_id)
    assert finished["status"] == "done" and "waiting_until" not in finished
    assert finished["sent"] == finished["links_created"] == 30 and finished["pending"] == 0


def test_a_campaign_that_sends_nothing_for_seven_days_abandons_its_recipients(
    client, auth_headers, texting, aws, clock
):
    set_env(SMS_DAILY_QUOTA="0")  # nothing can ever be sent
    first_day = evening(clock)
    body = campaign_body(30, ttl=30 * 86400)  # links that outlive the wait
    campaign_id = start(client, auth_headers, body).json_body["campaign_id"]
    [first, second] = receive(aws)
    assert work(client, aws, [first, second]) == []

    drain(client, aws, clock, until=first_day + timedelta(days=7))
    assert stats(client, auth_headers, campaign_id)["status"] == "throttled"  # still waiting
    counts = drain(client, aws, clock, until=first_day + timedelta(days=8))
    assert set(counts) == {"1"} and dead_letters(aws) == [] and queued(aws) == 0

    ended = stats(client, auth_headers, campaign_id)
    assert ended["status"] == "done" and ended["sent"] == 0 and ended["pending"] == 0
    assert ended["links_created"] == 2  # each chunk's first recipient got its link
    assert ended["abandoned"] == ended["failed"] == 30
    assert "7 days" in ended["abandoned_reason"]
    listed = client.http.get(f"/api/links?campaign_id={campaign_id}", headers=auth_headers)
    assert len(listed.json_body["links"]) == 2  # nothing but links in the listing

    # A late copy of an original chunk, once texting works again: nobody is texted now.
    set_env(SMS_DAILY_QUOTA="1000")
    result = client.lambda_.invoke("campaign_worker", sqs_event([first], aws)).payload
    assert result == {"batchItemFailures": []}
    assert texting.api.requests == [] and len(campaign_links(aws, campaign_id)) == 2
    assert stats(client, auth_headers, campaign_id) == ended


def test_when_sqs_refuses_the_new_message_the_chunk_is_handed_back(
    client, auth_headers, texting, aws, clock
):
    from chalicelib import wiring

    set_env(SMS_DAILY_QUOTA="0")
    evening(clock)
    start(client, auth_headers, campaign_body(3))
    [chunk] = receive(aws)
    with failing(wiring.sqs(), "SendMessage") as refused:
        assert work(client, aws, [chunk]) == [chunk["MessageId"]]
    assert refused["failed"] == 1
    # The old way: visible again once Retry-After (until midnight, 4 h) has passed.
    clock.advance(4 * 3600 - 1)
    assert receive(aws) == []
    clock.advance(2)
    [again] = receive(aws)
    assert again["MessageId"] == chunk["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"


def test_a_chunk_out_of_time_resumes_where_it_stopped(aws, vonage_app, clock):
    from bench.core import count_aws_calls
    from chalicelib import wiring

    messenger = FakeMessenger()
    service = campaign_service(messenger)
    campaign_id = service.start(campaign_body(20), "key-1").answer["campaign_id"]
    [chunk] = receive(aws)
    # Time for the record's check and 9 recipients, then the clock runs out.
    result = service.handle_records(sqs_event([chunk], aws)["Records"], FakeLambdaContext(calls=10))
    assert result == {"batchItemFailures": []}
    assert len(messenger.sent) == 9
    [again] = receive(aws)  # visible at once
    body = json.loads(again["Body"])
    assert body["stop"] == 9 and body["recipients"] == json.loads(chunk["Body"])["recipients"]

    with count_aws_calls(wiring.dynamodb()) as calls:
        result = service.handle_records(sqs_event([again], aws)["Records"])
    assert result == {"batchItemFailures": []}
    assert calls["dynamodb.TransactWriteItems"] == 11  # recipients 9-19 only
    assert len(messenger.sent) == len(set(messenger.sent)) == 20
    assert service.stats(campaign_id)["links_created"] == 20
    deserialize = TypeDeserializer().deserialize
    assert {deserialize(link["ref"]) for link in campaign_links(aws, campaign_id)} == {
        f"customer-{n}" for n in range(20)
    }
    assert (
        boto3.client("sqs").receive_message(QueueUrl=aws["CAMPAIGN_QUEUE_URL"]).get("Messages")
        is None
    )
