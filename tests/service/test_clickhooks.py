"""Click webhooks end to end over moto: an edge click -> the links table's real stream
records -> the click_webhooks stream handler -> the notify queue -> the delivery handler
-> a real HTTP receiver (http.server in a thread) that verifies the documented signature
and fails the first attempts."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib import wiring
from chalicelib.clicks import webhooks as clickhooks
from chalicelib.core import urlsafety
from chalicelib.links.store import LinkStore
from edge.edge_click import ClickCounter, EdgeConfig
from tests.support.edge import BROWSER, WHATSAPP, event, get_link, put_link


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

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a TLS handshake the client refused: the test asserts on the client's side


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
        self.server.attempts.append(
            {
                "valid": valid,
                "body": json.loads(body),
                "header": header,
                "host": self.headers["Host"],
                "path": self.path,
            }
        )
        status = 500 if len(self.server.attempts) <= self.server.fail_first else 204
        self.send_response(status if valid else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def receiver(secret: str, fail_first: int, tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    server = Receiver(secret, fail_first)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
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
    return wiring.key_store().create("webhooks")


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
        wiring.key_store().webhook_secret,
        LinkStore(dynamodb, aws["LINKS_TABLE"]),
        allow_private=True,
    )
    delivery = clickhooks.Delivery("hook3", key.api_key.key_id, "http://127.0.0.1:9/x", "{}")
    assert sender.deliver(delivery, attempt=1) is False
    assert sender.deliver(delivery, attempt=clickhooks.MAX_ATTEMPTS) is True
    error = get_link(dynamodb, aws["LINKS_TABLE"], "hook3")["last_webhook_error"]["S"]
    assert error == "connection failed (after 5 attempts)"  # not str(exception): no address


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
            wiring.key_store().webhook_secret, LinkStore(dynamodb, aws["LINKS_TABLE"])
        )
        assert sender.deliver(clickhooks.Delivery("rebind", key.api_key.key_id, url, "{}"), 1)
        assert hook.attempts == []
    item = get_link(dynamodb, aws["LINKS_TABLE"], "rebind")
    assert item["webhook_failures"]["N"] == "1"
    assert item["last_webhook_error"]["S"].startswith("webhook host does not resolve to public")
    assert "127.0.0.1" not in item["last_webhook_error"]["S"]


def pinned_to_loopback(asked: list[str]) -> Any:
    """A resolver that calls every name public and answers with 127.0.0.1 (the receiver)."""

    def resolver(host: str) -> list[urlsafety.IPAddress]:
        asked.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    return resolver


def test_send_time_check_asks_the_resolver_about_the_url_host(aws, key):
    """The POST goes to the address the send-time check returned, with the URL's Host
    header and path (so the refusal above comes from the check, not from an unreachable
    receiver)."""
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    put_link(dynamodb, aws["LINKS_TABLE"], "public", key_id=key.api_key.key_id)
    asked: list[str] = []
    for hook in receiver(key.webhook_secret, fail_first=0):
        sender = clickhooks.WebhookSender(
            wiring.key_store().webhook_secret,
            LinkStore(dynamodb, aws["LINKS_TABLE"]),
            resolver=pinned_to_loopback(asked),
        )
        url = hook.url.replace("127.0.0.1", "hooks.example.test") + "?src=lt"
        delivery = clickhooks.Delivery("public", key.api_key.key_id, url, '{"id":"e"}')
        assert sender.deliver(delivery, 1)
        assert [a["valid"] for a in hook.attempts] == [True]
        port = hook.server_address[1]
        assert hook.attempts[0]["host"] == f"hooks.example.test:{port}"
        assert hook.attempts[0]["path"] == "/hooks/clicks?src=lt"
    assert asked == ["hooks.example.test"]
    assert "webhook_failures" not in get_link(dynamodb, aws["LINKS_TABLE"], "public")


def test_rebinding_after_the_check_reaches_nothing(aws, key, monkeypatch):
    """A TTL-0 name answers public at create time and at the send-time check, then
    127.0.0.1. The POST dials the address the check saw, never a fresh lookup, so nothing
    reaches the loopback listener, and the owner sees a generic error without addresses."""
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    put_link(dynamodb, aws["LINKS_TABLE"], "rebind2", key_id=key.api_key.key_id)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    port = listener.getsockname()[1]
    public = "93.184.216.34"
    lookups: list[str] = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.create_connection

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.attacker.test":
            return real_getaddrinfo(host, *args, **kwargs)
        lookups.append(host)
        ip = public if len(lookups) <= 2 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]

    dialled: list[str] = []

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        dialled.append(address[0])
        if address[0] == public:  # no way out of the sandbox: the public host refuses
            raise ConnectionRefusedError(111, f"Connection refused: {public}:{port}")
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    url = urlsafety.check_webhook_url(
        f"https://rebind.attacker.test:{port}/hook", field="webhook_url", allow_private=False
    )
    sender = clickhooks.WebhookSender(
        wiring.key_store().webhook_secret, LinkStore(dynamodb, aws["LINKS_TABLE"])
    )
    delivery = clickhooks.Delivery("rebind2", key.api_key.key_id, url, "{}")
    try:
        assert sender.deliver(delivery, attempt=clickhooks.MAX_ATTEMPTS)
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):  # nothing connected to 127.0.0.1
            listener.accept()[0].close()
    finally:
        listener.close()
    assert lookups == ["rebind.attacker.test"] * 2  # at create time, at send time; no third
    assert dialled == [public]
    error = get_link(dynamodb, aws["LINKS_TABLE"], "rebind2")["last_webhook_error"]["S"]
    assert error == "connection failed (after 5 attempts)"


def tls_pair(tmp_path: Path, name: str) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for `name` (its file, for SSL_CERT_FILE) and a server
    context presenting it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    return cert_file, server


@pytest.mark.parametrize(
    ("cert_name", "trusted", "error"),
    [
        ("hooks.example.test", True, None),
        ("hooks.example.test", False, "TLS error"),  # verification stays on
        ("other.example.test", True, "TLS error"),  # checked against the URL's host
    ],
)
def test_https_to_the_checked_address_verifies_the_urls_host(
    aws, key, tmp_path, monkeypatch, cert_name, trusted, error
):
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    put_link(dynamodb, aws["LINKS_TABLE"], "tls1", key_id=key.api_key.key_id)
    cert_file, server_tls = tls_pair(tmp_path, cert_name)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file if trusted else tmp_path / "none.pem"))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    asked: list[str] = []
    for hook in receiver(key.webhook_secret, fail_first=0, tls=server_tls):
        sender = clickhooks.WebhookSender(
            wiring.key_store().webhook_secret,
            LinkStore(dynamodb, aws["LINKS_TABLE"]),
            resolver=pinned_to_loopback(asked),
        )
        port = hook.server_address[1]
        url = f"https://hooks.example.test:{port}/hooks/clicks"
        delivery = clickhooks.Delivery("tls1", key.api_key.key_id, url, '{"id":"e"}')
        assert sender.deliver(delivery, clickhooks.MAX_ATTEMPTS)
        if error is None:
            assert [a["host"] for a in hook.attempts] == [f"hooks.example.test:{port}"]
        else:
            assert hook.attempts == []
    item = get_link(dynamodb, aws["LINKS_TABLE"], "tls1")
    if error is None:
        assert "webhook_failures" not in item
    else:
        assert item["last_webhook_error"]["S"] == f"{error} (after 5 attempts)"
