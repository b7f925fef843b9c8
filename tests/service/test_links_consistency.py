"""Links, their objects and tombstones stay consistent across failures, retries and races
(rollbacks, redelivered campaign chunks, retirement during a receipt), on moto with the
real resources (races are staged with LinkService subclasses that do the
competing write at the exact moment, never with mocks)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import boto3
import pytest

from chalicelib import wiring
from tests.support.aws import (
    assert_nothing_written,
    failing,
    kinds,
    link_items,
    link_removals,
    record_message,
    redirect_objects,
    stream_records,
)
from tests.support.campaigns import (
    NUMBERS,
    campaign_body,
    campaign_service,
    receive,
    sqs_event,
    start,
)
from tests.support.env import set_env
from tests.support.fakes import FakeLambdaContext, FakeMessenger
from tests.support.links import post

PLAIN_NUMBER = "+447400123456"


# --- helpers ------------------------------------------------------------------------------


def started(service: Any, count: int, **extra: Any) -> str:
    return str(service.start(campaign_body(count, **extra), "key-1").answer["campaign_id"])


def item(env: dict[str, str], code: str, kind: str) -> dict[str, Any] | None:
    found = boto3.client("dynamodb").get_item(
        TableName=env["LINKS_TABLE"],
        Key={"pk": {"S": f"link#{code}"}, "sk": {"S": kind}},
        ConsistentRead=True,
    )
    return found.get("Item")


def campaign_codes(env: dict[str, str], campaign_id: str, kind: str = "link") -> list[str]:
    return sorted(
        i["code"]["S"]
        for i in link_items(env)
        if i["sk"]["S"] == kind and i.get("campaign_id", {}).get("S") == campaign_id
    )


# --- a removal record of a rolled-back create must not delete a re-created link's object


def test_rolled_back_removal_does_not_delete_the_recreated_links_object(aws):
    from chalicelib import wiring
    from chalicelib.core.problems import Unavailable
    from chalicelib.links import expiry
    from chalicelib.links import model as links_model
    from chalicelib.links import service as links

    broken = links.LinkService(
        wiring.dynamodb(),
        wiring.s3(),
        replace(wiring.settings(), redirect_bucket="linktrail-no-such-bucket"),
    )
    with pytest.raises(Unavailable):  # S3 fails: the items are removed, no tombstone
        broken.create(links_model.NewLink(url="https://example.com/first", code="reused"), "k")
    service = wiring.links()
    service.create(links_model.NewLink(url="https://example.com/second", code="reused"), "k")
    assert redirect_objects(aws) == ["reused"]

    removals = link_removals(aws)  # the undo's REMOVE arrives after the re-creation
    assert len(removals) == 1
    expiry.on_links_stream(removals, links=service)
    head = boto3.client("s3").head_object(Bucket=aws["REDIRECT_BUCKET"], Key="reused")
    assert head["WebsiteRedirectLocation"] == "https://example.com/second"
    assert kinds(aws) == ["counter", "link"]

    # Once the code really ends, its own removal still deletes the object.
    service.delete("reused")
    expiry.on_links_stream(link_removals(aws), links=service)
    assert redirect_objects(aws) == []


# --- only a malformed envelope is dropped; other errors are retried


def test_errors_inside_a_chunk_are_retried_not_dropped(aws, vonage_app):
    messenger = FakeMessenger(fail_sends=1)
    service = campaign_service(messenger)
    campaign_id = started(service, 3)
    messages = receive(aws, visibility=0)
    event = sqs_event(messages, aws)
    event["Records"].append({**event["Records"][0], "messageId": "bad", "body": "{not json"})

    result = service.handle_records(event["Records"])
    assert result == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    assert service.handle_records(event["Records"][:1]) == {"batchItemFailures": []}
    assert len(campaign_codes(aws, campaign_id)) == 3
    assert sorted(messenger.sent) == campaign_codes(aws, campaign_id)


# --- quota/503 delays the chunk; skipped recipients count; the worker watches the clock


@pytest.mark.parametrize(
    ("status", "headers"),
    [(429, {"Retry-After": "100000"}), (503, {})],  # past SQS's 12 h cap; none given
)
def test_quota_or_unavailable_hands_the_chunk_back_for_later(aws, vonage_app, status, headers):
    from chalicelib.core.problems import Problem

    messenger = FakeMessenger(refuse=Problem(status, "later", headers=headers))
    service = campaign_service(messenger)
    started(service, 3)
    messages = receive(aws, visibility=0)
    result = service.handle_records(sqs_event(messages, aws)["Records"])
    assert result == {"batchItemFailures": []}  # queued again as a new message
    boto3.client("sqs").delete_message(  # as Lambda does with a handled message
        QueueUrl=aws["CAMPAIGN_QUEUE_URL"], ReceiptHandle=messages[0]["ReceiptHandle"]
    )
    assert receive(aws) == []  # delayed by Retry-After, not redelivered right away
    assert messenger.sent == []


def test_recipients_refused_at_send_time_are_skipped_and_the_campaign_finishes(
    client,
    auth_headers,
    texting,
    aws,
):
    campaign_id = json.loads(start(client, auth_headers, campaign_body(3)).body)["campaign_id"]
    set_env(SMS_ALLOWED_COUNTRIES="FR")  # the operator narrowed the allowlist meanwhile
    result = client.lambda_.invoke("campaign_worker", sqs_event(receive(aws), aws)).payload
    assert result == {"batchItemFailures": []}
    assert texting.api.requests == []
    stats = json.loads(client.http.get(f"/api/campaigns/{campaign_id}", headers=auth_headers).body)
    assert stats["links_created"] == 3 and stats["skipped"] == 3
    assert stats["pending"] == 0 and stats["sent"] == 0
    assert stats["status"] == "done"
    code = campaign_codes(aws, campaign_id)[0]
    message = json.loads(client.http.get(f"/api/links/{code}", headers=auth_headers).body)[
        "message"
    ]
    assert message["status"] == "skipped" and "FR" not in message["to"]
    assert message["error"] and "*" in message["to"]
    assert NUMBERS[0] not in json.dumps(link_items(aws))


def test_link_that_expired_before_its_send_is_skipped_and_counted(
    client,
    auth_headers,
    texting,
    aws,
):
    from chalicelib.links import expiry

    campaign_id = json.loads(start(client, auth_headers, campaign_body(2)).body)["campaign_id"]
    set_env(SMS_DAILY_QUOTA="0")  # the first recipient gets its link, then 429
    event = sqs_event(receive(aws, visibility=0), aws)
    result = client.lambda_.invoke("campaign_worker", event).payload
    assert result == {"batchItemFailures": []}  # queued again until the quota resets
    assert len(campaign_codes(aws, campaign_id)) == 1
    # it expires unsent
    assert expiry.sweep(wiring.links(), at_epoch=int(time.time()) + 8 * 86400) == 1
    client.lambda_.invoke("links_stream", {"Records": link_removals(aws)})

    set_env(SMS_DAILY_QUOTA="1000")
    assert client.lambda_.invoke("campaign_worker", event).payload == {"batchItemFailures": []}
    assert len(texting.api.requests) == 1  # only the second recipient is texted
    stats = json.loads(client.http.get(f"/api/campaigns/{campaign_id}", headers=auth_headers).body)
    assert stats["links_created"] == 2 and stats["skipped"] == 1 and stats["sent"] == 1
    assert stats["status"] == "done"
    (ended,) = campaign_codes(aws, campaign_id, "tombstone")
    link = json.loads(client.http.get(f"/api/links/{ended}", headers=auth_headers).body)
    assert link["status"] == "expired" and link["message"]["status"] == "skipped"
    assert ended not in redirect_objects(aws)


def test_campaign_expired_before_its_chunk_ran_texts_nobody(aws, vonage_app):
    messenger = FakeMessenger()
    service = campaign_service(messenger)
    campaign_id = started(service, 2)
    boto3.client("dynamodb").update_item(  # the chunk runs after the campaign's expiry
        TableName=aws["LINKS_TABLE"],
        Key={"pk": {"S": f"campaign#{campaign_id}"}, "sk": {"S": "campaign"}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 5)}},
    )
    result = service.handle_records(sqs_event(receive(aws), aws)["Records"])
    assert result == {"batchItemFailures": []}
    assert messenger.sent == [] and redirect_objects(aws) == []
    assert campaign_codes(aws, campaign_id) == []
    assert len(campaign_codes(aws, campaign_id, "tombstone")) == 2
    stats = service.stats(campaign_id)
    assert stats["skipped"] == 2 and stats["status"] == "done"


def test_worker_hands_back_what_it_cannot_finish_before_the_timeout(aws, vonage_app):
    messenger = FakeMessenger()
    service = campaign_service(messenger)
    campaign_id = started(service, 50)
    messages = sorted(receive(aws, visibility=0), key=lambda m: json.loads(m["Body"])["start"])
    records = sqs_event(messages, aws)["Records"]
    # Time for the first record's check and 9 recipients, then the clock runs out.
    result = service.handle_records(records, context=FakeLambdaContext(calls=10))
    assert result == {"batchItemFailures": []}  # both queued again as new messages
    assert len(messenger.sent) == 9
    again = [json.loads(m["Body"]) for m in receive(aws)]  # visible at once
    assert sorted(m.get("stop", 0) for m in again if "hops" in m) == [9]
    assert len(again) == 4  # and the two received (visibility 0, not deleted here)

    assert service.handle_records(records, context=FakeLambdaContext(calls=100)) == {
        "batchItemFailures": []
    }
    assert len(campaign_codes(aws, campaign_id)) == 50
    assert sorted(set(messenger.sent)) == campaign_codes(aws, campaign_id)


# --- a redelivered chunk must not resurrect a retired link's object


def test_redelivered_chunk_does_not_resurrect_a_retired_links_object(aws, vonage_app):
    from bench.core import count_aws_calls
    from chalicelib import wiring
    from chalicelib.links import service as links

    class RetiredRightAfterTheRead(links.LinkService):
        """The sweeper (here: DELETE) retires the link just after the worker read it."""

        def __init__(self) -> None:
            super().__init__(wiring.dynamodb(), wiring.s3(), wiring.settings())
            self.raced = False

        def items_for(self, code: str) -> dict[str, dict[str, Any]]:
            found = super().items_for(code)
            if not self.raced and "link" in found:
                self.raced = True
                wiring.links().delete(code)
            return found

    messenger = FakeMessenger()
    campaign_id = started(campaign_service(messenger), 2)
    records = sqs_event(receive(aws, visibility=0), aws)["Records"]
    assert campaign_service(messenger).handle_records(records) == {"batchItemFailures": []}
    codes = campaign_codes(aws, campaign_id)
    assert sorted(redirect_objects(aws)) == codes

    # Redelivered with both objects in place: nothing is written to S3.
    with count_aws_calls(wiring.s3()) as calls:
        assert campaign_service(messenger).handle_records(records) == {"batchItemFailures": []}
    assert calls["s3.PutObject"] == 0

    # One object lost (a crash before the PutObject): it is put back.
    boto3.client("s3").delete_object(Bucket=aws["REDIRECT_BUCKET"], Key=codes[1])
    assert campaign_service(messenger).handle_records(records) == {"batchItemFailures": []}
    assert sorted(redirect_objects(aws)) == codes

    # First recipient's link retired while the redelivery runs: its object stays gone.
    racing = RetiredRightAfterTheRead()
    boto3.client("s3").delete_object(Bucket=aws["REDIRECT_BUCKET"], Key=codes[0])
    before = len(messenger.sent)
    assert campaign_service(messenger, racing).handle_records(records) == {"batchItemFailures": []}
    assert racing.raced
    retired = [c for c in codes if item(aws, c, "tombstone")]
    assert len(retired) == 1
    assert retired[0] not in redirect_objects(aws)
    assert retired[0] not in messenger.sent[before:]  # the retired link is not texted


# --- a failed PATCH's rollback must not overwrite a newer PATCH


def test_patch_rollback_keeps_a_newer_patchs_url(aws):
    from chalicelib import wiring
    from chalicelib.links import model as links_model
    from chalicelib.links import service as links

    service = wiring.links()
    service.create(links_model.NewLink(url="https://example.com/old", code="patched"), "k")

    class NewerPatchInBetween(links.LinkService):
        """Its bucket is missing (S3 fails for real); just before, another PATCH lands."""

        def put_redirect(self, code: str, long_url: str) -> None:
            service.patch(code, links_model.LinkPatch(url="https://example.com/newer"))
            super().put_redirect(code, long_url)

    broken = NewerPatchInBetween(
        wiring.dynamodb(),
        wiring.s3(),
        replace(wiring.settings(), redirect_bucket="linktrail-no-such-bucket"),
    )
    from chalicelib.core.problems import Unavailable

    with pytest.raises(Unavailable):
        broken.patch("patched", links_model.LinkPatch(url="https://example.com/mine"))
    assert service.get("patched")["url"] == "https://example.com/newer"
    head = boto3.client("s3").head_object(Bucket=aws["REDIRECT_BUCKET"], Key="patched")
    assert head["WebsiteRedirectLocation"] == "https://example.com/newer"

    # Without a competitor the rollback still restores the URL; a gone link stays gone.
    plain = links.LinkService(wiring.dynamodb(), wiring.s3(), broken.settings)
    with pytest.raises(Unavailable):
        plain.patch("patched", links_model.LinkPatch(url="https://example.com/again"))
    assert service.get("patched")["url"] == "https://example.com/newer"


# --- max_clicks reached: retired from the stream


def test_link_reaching_max_clicks_is_retired_from_the_stream(aws):
    from chalicelib.links import expiry
    from chalicelib.links import model as links_model

    service = wiring.links()
    service.create(links_model.NewLink(url="https://example.com/", code="twice", max_clicks=2), "k")

    def click() -> list[dict[str, Any]]:
        boto3.client("dynamodb").update_item(  # what the edge function writes
            TableName=aws["LINKS_TABLE"],
            Key={"pk": {"S": "link#twice"}, "sk": {"S": "counter"}},
            UpdateExpression="ADD human_clicks :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        return [r for r in stream_records(aws) if r["eventName"] == "MODIFY"]

    expiry.on_links_stream(click(), links=service)
    assert kinds(aws) == ["counter", "link"] and redirect_objects(aws) == ["twice"]

    modified = click()
    expiry.on_links_stream(modified, links=service)
    assert kinds(aws) == ["tombstone"] and redirect_objects(aws) == []
    tombstone = item(aws, "twice", "tombstone")
    assert tombstone is not None
    assert tombstone["status"]["S"] == "expired" and tombstone["reason"]["S"] == "max_clicks"
    assert tombstone["human_clicks"]["N"] == "2"
    view = service.get("twice")
    assert view["status"] == "expired" and view["ended_reason"] == "max_clicks"

    expiry.on_links_stream(modified + link_removals(aws), links=service)  # redelivered
    assert kinds(aws) == ["tombstone"] and redirect_objects(aws) == []


# --- tombstones keep no plain phone number


def test_tombstones_keep_the_masked_number_only(client, auth_headers, aws):
    from chalicelib.links import expiry

    for code, ttl in (("deleted-one", None), ("expired-one", 60)):
        body = {"url": "https://example.com/", "code": code, **({"ttl": ttl} if ttl else {})}
        assert post(client, auth_headers, body).status_code == 201
        record_message(aws, code, {
            "channel": "sms", "to": PLAIN_NUMBER, "to_masked": "+44*******456",
            "status": "delivered",
        })
    assert client.http.delete("/api/links/deleted-one", headers=auth_headers).status_code == 204
    assert expiry.sweep(wiring.links(), at_epoch=int(time.time()) + 120) == 1
    assert kinds(aws) == ["tombstone", "tombstone"]
    assert PLAIN_NUMBER not in json.dumps(link_items(aws))
    for code in ("deleted-one", "expired-one"):
        link = json.loads(client.http.get(f"/api/links/{code}", headers=auth_headers).body)
        assert link["message"]["to"] == "+44*******456"
        assert link["message"]["status"] == "delivered"


# --- click-webhook failures are shown


def test_link_view_shows_click_webhook_failures(client, auth_headers, aws):
    body = {"url": "https://example.com/", "webhook_url": "http://127.0.0.1:9/hook"}
    code = json.loads(post(client, auth_headers, body).body)["code"]
    fresh = json.loads(client.http.get(f"/api/links/{code}", headers=auth_headers).body)
    assert fresh["webhook"] is None
    boto3.client("dynamodb").update_item(  # what clickhooks records after its last attempt
        TableName=aws["LINKS_TABLE"],
        Key={"pk": {"S": f"link#{code}"}, "sk": {"S": "link"}},
        UpdateExpression="SET webhook_failures = :n, last_webhook_error = :e, "
        "last_webhook_error_at = :t",
        ExpressionAttributeValues={
            ":n": {"N": "2"},
            ":e": {"S": "HTTP 500"},
            ":t": {"S": "2030-01-02T03:04:05.000Z"},
        },
    )
    link = json.loads(client.http.get(f"/api/links/{code}", headers=auth_headers).body)
    assert link["webhook"] == {
        "failures": 2,
        "last_error": "HTTP 500",
        "last_error_at": "2030-01-02T03:04:05.000Z",
    }


# --- webhook_url goes through the SSRF guard


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
        "https://[::1]/hook",
        "https://10.0.0.7/hook",
        "http://hooks.example.com/clicks",  # plain http outside the local stage
    ],
)
def test_webhook_urls_to_private_hosts_are_refused_outside_the_local_stage(aws, url):
    from chalicelib import wiring
    from chalicelib.campaigns import service as campaigns
    from chalicelib.core.clock import now
    from chalicelib.core.problems import BadRequest
    from chalicelib.links import model as links_model
    from chalicelib.links import service as links

    deployed = replace(wiring.settings(), stage="prod", vonage_application_id="app")
    with pytest.raises(BadRequest) as refused:
        body = {"url": "https://example.com/", "webhook_url": url}
        links_model.parse_new_link(body, deployed, now())
    assert refused.value.field == "webhook_url"
    service = links.LinkService(wiring.dynamodb(), wiring.s3(), deployed)
    with pytest.raises(BadRequest) as refused:
        campaigns.parse_campaign(campaign_body(1, webhook_url=url), service)
    assert refused.value.field == "webhook_url"


def test_local_stage_accepts_a_webhook_on_localhost(client, auth_headers, aws):
    body = {"url": "https://example.com/", "webhook_url": "http://127.0.0.1:8123/hook"}
    answer = post(client, auth_headers, body)
    assert answer.status_code == 201, answer.body
    assert json.loads(answer.body)["webhook_url"] == "http://127.0.0.1:8123/hook"
    refused = post(client, auth_headers, {**body, "webhook_url": "file:///etc/passwd"})
    assert refused.status_code == 400 and json.loads(refused.body)["field"] == "webhook_url"


# --- numbers out of range answer 400 in campaigns too (NaN, Infinity, 10**400)


@pytest.mark.parametrize(
    ("raw_expiry", "field"),
    [
        ('"expires_at": NaN', None),
        ('"expires_at": -Infinity', None),
        ('"expires_at": 1e400', None),
        ('"expires_at": 1' + "0" * 400, "expires_at"),
        ('"expires_at": 1e300', "expires_at"),
        ('"ttl": 100000000000000000000000000000000000000000', "ttl"),
    ],
)
def test_campaign_numbers_out_of_range_are_refused_and_write_nothing(
    client, auth_headers, aws, vonage_app, raw_expiry, field
):
    body = campaign_body(2)
    del body["ttl"]
    raw = json.dumps(body)[:-1] + ", " + raw_expiry + "}"
    answer = client.http.post("/api/campaigns", headers=auth_headers, body=raw)
    assert answer.status_code == 400, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert json.loads(answer.body).get("field") == field
    assert link_items(aws) == [] and redirect_objects(aws) == []
    assert receive(aws) == []  # nothing queued


# --- a create whose PutObject and undo both fail: 503 all the same, then repaired


@pytest.fixture
def links_log() -> Any:
    """Records of the linktrail loggers (they do not propagate to the root logger)."""
    import logging

    class Records(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.records: list[logging.LogRecord] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.records.append(record)

        def text(self) -> str:
            return "\n".join(f"{r.getMessage()} {vars(r)}" for r in self.records)

    handler = Records()
    logging.getLogger("linktrail").addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger("linktrail").removeHandler(handler)


def test_failed_put_and_failed_undo_answer_503_and_the_sweeper_removes_the_link(
    client, auth_headers, aws, links_log
):
    from chalicelib import wiring
    from chalicelib.links import expiry

    body = {"url": "https://example.com/in?token=s3cr3t-token", "code": "half-made", "ttl": 600}
    with (
        failing(wiring.s3(), "PutObject") as put,
        failing(wiring.dynamodb(), "TransactWriteItems", after=1, times=3) as undo,
    ):
        answer = post(client, auth_headers, body)
    assert answer.status_code == 503, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.headers["Retry-After"] == "2"
    assert json.loads(answer.body)["status"] == 503
    assert put["failed"] == 1 and undo == {"calls": 4, "failed": 3}  # create + 3 undos

    # Left behind: the link and, in place of its expiry marker, a repair marker due now.
    assert kinds(aws) == ["counter", "expiry", "link"] and redirect_objects(aws) == []
    link, marker = item(aws, "half-made", "link"), item(aws, "half-made", "expiry")
    assert link is not None and marker is not None
    assert marker["undo_of"] == link["created_at"] and "ttl" not in marker
    assert int(marker["expires_at"]["N"]) <= time.time()
    (logged,) = [r for r in links_log.records if r.levelname == "ERROR"]
    assert vars(logged)["code"] == "half-made" and vars(logged)["error"] == "InternalError"
    assert "sweeper" in vars(logged)["repair"]
    assert "s3cr3t" not in links_log.text()  # the URL (and its token) is never logged

    # Held until the repair: the code is taken.
    again = {"url": "https://example.com/", "code": "half-made"}
    assert post(client, auth_headers, again).status_code == 409

    # The sweeper's next run removes it; no tombstone, since nothing was created.
    assert expiry.sweep(wiring.links()) == 0  # none expired: one repaired
    assert kinds(aws) == []
    client.lambda_.invoke("links_stream", {"Records": link_removals(aws)})
    assert redirect_objects(aws) == []
    assert post(client, auth_headers, again).status_code == 201
    assert redirect_objects(aws) == ["half-made"]


def test_undo_is_retried_after_a_transient_failure(client, auth_headers, aws):
    from chalicelib import wiring

    body = {"url": "https://example.com/", "code": "retried", "ttl": 600}
    with (
        failing(wiring.s3(), "PutObject"),
        failing(wiring.dynamodb(), "TransactWriteItems", after=1, times=1) as undo,
    ):
        answer = post(client, auth_headers, body)
    assert answer.status_code == 503
    assert "nothing was created" in json.loads(answer.body)["detail"]
    assert undo == {"calls": 3, "failed": 1}  # create, failed undo, undo
    assert_nothing_written(aws)


def test_repair_marker_leaves_a_link_created_again_alone(aws):
    """The half-made link was removed by hand and its code created again (no expiry, so
    the repair marker stayed): the sweeper drops the marker and keeps the new link."""
    from chalicelib import wiring
    from chalicelib.core.problems import Unavailable
    from chalicelib.links import expiry
    from chalicelib.links import model as links_model

    service = wiring.links()
    with (
        failing(wiring.s3(), "PutObject"),
        failing(wiring.dynamodb(), "TransactWriteItems", after=1, times=3),
        pytest.raises(Unavailable),
    ):
        service.create(links_model.NewLink(url="https://example.com/first", code="comeback"), "k")
    boto3.client("dynamodb").delete_item(
        TableName=aws["LINKS_TABLE"], Key={"pk": {"S": "link#comeback"}, "sk": {"S": "link"}}
    )
    time.sleep(0.002)  # a created_at of its own (milliseconds)
    service.create(links_model.NewLink(url="https://example.com/again", code="comeback"), "k")
    assert kinds(aws) == ["counter", "expiry", "link"]  # the repair marker is still there
    assert expiry.sweep(wiring.links()) == 0
    assert kinds(aws) == ["counter", "link"] and redirect_objects(aws) == ["comeback"]
    assert service.get("comeback")["url"] == "https://example.com/again"


def test_a_campaign_links_failed_undo_is_repaired_by_the_chunks_redelivery(aws, vonage_app):
    from chalicelib import wiring

    messenger = FakeMessenger()
    service = campaign_service(messenger)
    campaign_id = started(service, 1)
    records = sqs_event(receive(aws, visibility=0), aws)["Records"]
    with (
        failing(wiring.s3(), "PutObject"),
        failing(wiring.dynamodb(), "TransactWriteItems", after=1, times=3) as undo,
    ):
        result = service.handle_records(records)
    assert undo["failed"] == 3
    assert result == {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}
    (code,) = campaign_codes(aws, campaign_id)
    marker = item(aws, code, "expiry")
    assert marker is not None and "undo_of" not in marker  # its real marker: no repair
    assert redirect_objects(aws) == [] and messenger.sent == []

    assert service.handle_records(records) == {"batchItemFailures": []}  # redelivered
    assert campaign_codes(aws, campaign_id) == [code]  # the same link, not a second one
    assert redirect_objects(aws) == [code] and messenger.sent == [code]


# --- reserved words: every first path segment of the app, never a generated code


def test_every_first_path_segment_the_app_serves_is_reserved():
    from chalice import Chalice

    from app import app
    from chalicelib.links.model import CUSTOM_CODE, RESERVED_CODES
    from local import routes

    local_app = Chalice(app_name="linktrail-local-routes")
    local_app.register_blueprint(routes.bp)  # the local stack serves these as well
    served = [*app.routes, *local_app.routes]
    segments = {path.strip("/").split("/")[0] for path in served} - {""}
    assert {"demo", "api", "journey", "webhooks"} <= segments
    could_be_codes = {s for s in segments if CUSTOM_CODE.match(s)}  # not openapi.json
    assert sorted(s for s in could_be_codes if s.lower() not in RESERVED_CODES) == []


def test_generated_codes_that_spell_a_reserved_word_are_drawn_again(aws, monkeypatch):
    import secrets

    from chalicelib.links import model as links_model

    letters = iter("HealthzjOuRnEyFresh42")  # two 7-letter reserved words, then a code
    monkeypatch.setattr(secrets, "choice", lambda alphabet: next(letters))
    created = wiring.links().create(links_model.NewLink(url="https://example.com/"), "k")
    assert created["code"] == "Fresh42"
    assert redirect_objects(aws) == ["Fresh42"]
    assert {"healthz", "journey", "expired", "favicon"} <= links_model.RESERVED_CODES


# --- a receipt applied while the link is being retired ends up on its tombstone


@pytest.mark.parametrize("retire", ["delete", "expire"])
def test_a_receipt_landing_during_retirement_is_kept_on_the_tombstone(aws, retire):
    from chalicelib import wiring
    from chalicelib.links import items as links_items
    from chalicelib.links import model as links_model
    from chalicelib.links import service as links
    from chalicelib.links import views as links_views
    from chalicelib.messaging import texting as messaging

    wiring.links().create(links_model.NewLink(url="https://example.com/", code="texted"), "k")
    boto3.client("dynamodb").update_item(  # the message as an accepted send leaves it
        TableName=aws["LINKS_TABLE"],
        Key={"pk": {"S": "link#texted"}, "sk": {"S": "link"}},
        UpdateExpression="SET #m = :m, expires_at = :past",
        ExpressionAttributeNames={"#m": "message"},
        ExpressionAttributeValues={
            ":m": {"M": {
                "status": {"S": "submitted"}, "rank": {"N": "2"}, "uuid": {"S": "u-1"},
                "status_at": {"S": "2026-11-28T00:00:00Z"}, "channel": {"S": "sms"},
            }},
            ":past": {"N": str(int(time.time()) - 60)},
        },
    )
    texting = messaging.Texting(wiring.dynamodb(), wiring.settings(), sender=None)  # type: ignore[arg-type]

    class ReceiptRightAfterTheRead(links.LinkService):
        """Vonage's delivered receipt lands between the retirement's read and its write."""

        raced = False

        def items_for(self, code: str) -> dict[str, dict[str, Any]]:
            found = super().items_for(code)
            if not self.raced and "link" in found:
                self.raced = True
                assert texting.apply_receipt({
                    "client_ref": code, "status": "delivered", "message_uuid": "u-1",
                    "timestamp": "2026-11-28T00:00:05Z",
                    "usage": {"price": "123456789012.123456789012", "currency": "EUR"},
                }) == "applied"
            return found

    racing = ReceiptRightAfterTheRead(wiring.dynamodb(), wiring.s3(), wiring.settings())
    if retire == "delete":
        racing.delete("texted")
    else:
        assert racing.expire("texted", int(time.time()))
    assert racing.raced
    assert item(aws, "texted", "link") is None
    ended = item(aws, "texted", "tombstone")
    assert ended is not None
    assert ended["message"]["M"]["status"]["S"] == "delivered"
    # A priced message retires too, its price exact (24 digits: no float on the way).
    assert ended["message"]["M"]["price"] == {"N": "123456789012.123456789012"}
    shown = links_views.public_message(links_items.from_item(ended)["message"])
    assert shown["price"] == "123456789012.123456789012"
