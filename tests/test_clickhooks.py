"""Click webhooks end to end over moto: an edge click -> the links table's real stream
records -> the click_webhooks stream handler -> the notify queue -> the delivery handler
-> a real HTTP receiver (http.server in a thread) that verifies the documented signature
and fails the first attempts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from chalicelib import clickhooks, runtime
from edge.edge_click import ClickCounter, EdgeConfig
from tests.test_edge import BROWSER, WHATSAPP, event, get_link, put_link


class Receiver(ThreadingHTTPServer):
    """Answers 500 to the first `fail_first` POSTs, then 204; verifies every signature."""

    def __init__(self, secret: str, fail_first: int) -> None:
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.secret = secret
        self.fail_first = fail_first
        self.attempts: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/clicks"


class ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        header = self.headers.get("Linktrail-Signature", "")
        # The documented recipe, written out as a receiver would (not clickhooks.verify).
        import hashlib
        import hmac
        import time

        parts = dict(item.split("=", 1) for item in header.split(","))
        mac = hmac.new(
            self.server.secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        valid = hmac.compare_digest(mac, parts["v1"]) and abs(time.time() - int(parts["t"])) < 300
        self.server.attempts.append({"valid": valid, "body": json.loads(body), "header": header})
        status = 500 if len(self.server.attempts) <= self.server.fail_first else 204
        self.send_response(status if valid else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def receiver(secret: str, fail_first: int) -> Iterator[Receiver]:
    server = Receiver(secret, fail_first)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def stream_records(aws_env: dict[str, str]) -> list[dict[str, Any]]:
    """Everything on the links table's stream so far (moto's real records)."""
    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    arn = boto3.client("dynamodb", region_name="us-east-1").describe_table(
        TableName=aws_env["LINKS_TABLE"]
    )["Table"]["LatestStreamArn"]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator)["Records"]
    for record in records:  # what Lambda adds and moto leaves out (see REFERENCE.md)
        record["eventSourceARN"] = arn
        record["dynamodb"]["ApproximateCreationDateTime"] = 1_800_000_000
    return records


def notify_messages(aws_env: dict[str, str]) -> list[dict[str, Any]]:
    """Receive from the notify queue, shaped as Lambda's SQS records."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    answer = sqs.receive_message(
        QueueUrl=aws_env["NOTIFY_QUEUE_URL"],
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        VisibilityTimeout=0,
    )
    return [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m["Attributes"],
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:linktrail-local-notify",
            "awsRegion": "us-east-1",
        }
        for m in answer.get("Messages", [])
    ]


@pytest.fixture
def key(aws: dict[str, str]) -> Any:
    return runtime.key_store().create("webhooks")


def click(
    aws_env: dict[str, str], code: str, user_agent: str = BROWSER, country: str = "GB"
) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    ClickCounter(EdgeConfig(table=aws_env["LINKS_TABLE"], region="us-east-1"), dynamodb)(
        event("viewer-request", code, user_agent, country=country)
    )


def test_human_click_is_delivered_signed_after_retries(client, aws, key):
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    for hook in receiver(key.webhook_secret, fail_first=2):
        put_link(
            dynamodb,
            aws["LINKS_TABLE"],
            "hook1",
            webhook_url=hook.url,
            key_id=key.api_key.key_id,
            campaign_id="spring",
            ref="sms-1",
        )
        click(aws, "hook1", WHATSAPP)  # a bot: no webhook
        click(aws, "hook1", BROWSER, country="DE")

        stream = {"Records": stream_records(aws)}
        client.lambda_.invoke("click_webhooks", stream)
        outcomes = []
        for _attempt in range(3):
            messages = notify_messages(aws)
            assert len(messages) == 1
            outcomes.append(
                client.lambda_.invoke("click_webhook_delivery", {"Records": messages}).payload
            )

        assert [len(o["batchItemFailures"]) for o in outcomes] == [1, 1, 0]
        assert [a["valid"] for a in hook.attempts] == [True, True, True]
        body = hook.attempts[-1]["body"]
        assert body["id"] == hook.attempts[0]["body"]["id"] == "evt_hook1_1"
        assert body["type"] == "link.clicked"
        assert body["data"] == {
            "code": "hook1",
            "short_url": "http://127.0.0.1:8001/hook1",
            "url": "https://example.com/landing",
            "clicks": 1,
            "campaign_id": "spring",
            "ref": "sms-1",
            "country": "DE",
        }
        assert body["created_at"].endswith("Z")
        assert clickhooks.verify(
            key.webhook_secret,
            hook.attempts[-1]["header"],
            json.dumps(body, separators=(",", ":")).encode(),
        )
    assert "webhook_failures" not in get_link(dynamodb, aws["LINKS_TABLE"], "hook1")


def test_gives_up_after_the_last_attempt_and_records_it_on_the_link(client, aws, key):
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    for hook in receiver(key.webhook_secret, fail_first=100):
        put_link(
            dynamodb, aws["LINKS_TABLE"], "hook2", webhook_url=hook.url, key_id=key.api_key.key_id
        )
        click(aws, "hook2")
        client.lambda_.invoke("click_webhooks", {"Records": stream_records(aws)})
        failures = []
        for _attempt in range(clickhooks.MAX_ATTEMPTS):
            failures.append(
                len(
                    client.lambda_.invoke(
                        "click_webhook_delivery", {"Records": notify_messages(aws)}
                    ).payload["batchItemFailures"]
                )
            )
        assert failures == [1] * (clickhooks.MAX_ATTEMPTS - 1) + [0]
        assert len(hook.attempts) == clickhooks.MAX_ATTEMPTS
    item = get_link(dynamodb, aws["LINKS_TABLE"], "hook2")
    assert item["webhook_failures"]["N"] == "1"
    assert item["last_webhook_error"]["S"] == "HTTP 500 (after 5 attempts)"
    assert "127.0.0.1" not in item["last_webhook_error"]["S"]


def test_unreachable_receiver_is_a_failed_attempt(aws, key):
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    put_link(dynamodb, aws["LINKS_TABLE"], "hook3", key_id=key.api_key.key_id)
    sender = clickhooks.WebhookSender(
        runtime.key_store().webhook_secret, dynamodb, aws["LINKS_TABLE"], allow_private=True
    )
    delivery = clickhooks.Delivery("hook3", key.api_key.key_id, "http://127.0.0.1:9/x", "{}")
    assert sender.deliver(delivery, attempt=1) is False
    assert sender.deliver(delivery, attempt=clickhooks.MAX_ATTEMPTS) is True
    error = get_link(dynamodb, aws["LINKS_TABLE"], "hook3")["last_webhook_error"]["S"]
    assert error.startswith("URLError")


def test_bot_clicks_and_edits_raise_no_webhook(aws, key):
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    put_link(
        dynamodb,
        aws["LINKS_TABLE"],
        "hook4",
        webhook_url="https://example.com/h",
        key_id=key.api_key.key_id,
    )
    click(aws, "hook4", WHATSAPP)
    dynamodb.update_item(
        TableName=aws["LINKS_TABLE"],
        Key={"pk": {"S": "link#hook4"}, "sk": {"S": "link"}},
        UpdateExpression="SET tags = :t",
        ExpressionAttributeValues={":t": {"L": [{"S": "x"}]}},
    )
    assert clickhooks.deliveries(stream_records(aws), "https://s.example") == []


def test_links_without_webhook_url_raise_none(aws):
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    put_link(dynamodb, aws["LINKS_TABLE"], "plain1")
    click(aws, "plain1")
    assert clickhooks.deliveries(stream_records(aws), "https://s.example") == []


def test_signature_recipe_rejects_tampering_and_old_timestamps():
    header = clickhooks.sign("whsec_x", 1_800_000_000, '{"a":1}')
    assert clickhooks.verify("whsec_x", header, b'{"a":1}', now=1_800_000_010)
    assert not clickhooks.verify("whsec_x", header, b'{"a":2}', now=1_800_000_010)
    assert not clickhooks.verify("whsec_y", header, b'{"a":1}', now=1_800_000_010)
    assert not clickhooks.verify("whsec_x", header, b'{"a":1}', now=1_800_001_000)
    assert not clickhooks.verify("whsec_x", "garbage", b'{"a":1}')


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_private_host_at_send_time_gets_no_post_and_no_retry(aws, key, host):
    """DNS rebinding: the URL passed the create-time check, but the name now points
    inside. Outside the local stage nothing is POSTed; the failure is recorded at once."""
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    put_link(dynamodb, aws["LINKS_TABLE"], "rebind", key_id=key.api_key.key_id)
    for hook in receiver(key.webhook_secret, fail_first=0):
        url = hook.url.replace("127.0.0.1", host)
        sender = clickhooks.WebhookSender(
            runtime.key_store().webhook_secret, dynamodb, aws["LINKS_TABLE"]
        )
        assert sender.deliver(clickhooks.Delivery("rebind", key.api_key.key_id, url, "{}"), 1)
        assert hook.attempts == []
    item = get_link(dynamodb, aws["LINKS_TABLE"], "rebind")
    assert item["webhook_failures"]["N"] == "1"
    assert item["last_webhook_error"]["S"].startswith("webhook host does not resolve to public")
    assert "127.0.0.1" not in item["last_webhook_error"]["S"]


def test_send_time_check_asks_the_resolver_about_the_url_host(aws, key):
    """The same receiver is POSTed to when the resolver calls its host public (so the
    refusal above comes from the check, not from an unreachable receiver)."""
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    put_link(dynamodb, aws["LINKS_TABLE"], "public", key_id=key.api_key.key_id)
    asked: list[str] = []

    def resolves_public(host: str) -> bool:
        asked.append(host)
        return True

    for hook in receiver(key.webhook_secret, fail_first=0):
        sender = clickhooks.WebhookSender(
            runtime.key_store().webhook_secret,
            dynamodb,
            aws["LINKS_TABLE"],
            resolves_public=resolves_public,
        )
        delivery = clickhooks.Delivery("public", key.api_key.key_id, hook.url, '{"id":"e"}')
        assert sender.deliver(delivery, 1)
        assert [a["valid"] for a in hook.attempts] == [True]
    assert asked == ["127.0.0.1"]
    assert "webhook_failures" not in get_link(dynamodb, aws["LINKS_TABLE"], "public")
