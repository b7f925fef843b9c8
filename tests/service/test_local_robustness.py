"""The local stack under load and failure: the emulator loses no write to a cancelled
transaction, the pumps' health reports a failing loop, a queue handler's odd answer is
handled as Lambda handles it, and the TTL ledger stays small."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest

from tests.support.paths import ROOT
from tests.support.stack import free_ports

PROJECT_DIR = ROOT


# --- the emulator -----------------------------------------------------------------------


def test_a_cancelled_transaction_loses_no_concurrent_write(emulator: str) -> None:
    """moto undoes a cancelled transaction by restoring a copy of the table; without the
    emulator's lock, puts acknowledged meanwhile by other threads vanish with it."""

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=emulator, region_name="us-east-1")

    ddb = client("dynamodb")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    for i in range(150):  # a table worth copying: the copy takes a while
        ddb.put_item(TableName="t", Item={"pk": {"S": f"bulk{i}"}, "blob": {"S": "x" * 200}})
    stop = threading.Event()

    taken = {  # the key exists: every such transaction is cancelled
        "TableName": "t",
        "Item": {"pk": {"S": "bulk0"}},
        "ConditionExpression": "attribute_not_exists(pk)",
    }

    def cancel_transactions() -> None:
        own = client("dynamodb")
        while not stop.is_set():
            with contextlib.suppress(own.exceptions.TransactionCanceledException):
                own.transact_write_items(TransactItems=[{"Put": taken}])

    cancellers = [threading.Thread(target=cancel_transactions) for _ in range(2)]
    for thread in cancellers:
        thread.start()
    acknowledged = []
    try:
        for i in range(200):
            ddb.put_item(TableName="t", Item={"pk": {"S": f"w{i}"}})
            acknowledged.append(f"w{i}")
    finally:
        stop.set()
        for thread in cancellers:
            thread.join()
    present = {
        item["pk"]["S"]
        for page in ddb.get_paginator("scan").paginate(TableName="t")
        for item in page["Items"]
    }
    lost = [pk for pk in acknowledged if pk not in present]
    assert lost == [], f"{len(lost)} acknowledged put(s) lost: {lost[:5]}"


# --- the pumps' health ------------------------------------------------------------------


class NoSources:
    """An app without event sources: Pumps then runs only its schedule and TTL loops."""

    event_sources: list[Any] = []
    handler_map: dict[str, Any] = {}


class GoneStreams:
    """A streams client whose stream has gone: every poll raises."""

    def describe_stream(self, **_kwargs: Any) -> Any:
        raise ConnectionError("stream gone")


def _health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/__health", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_health_answers_503_when_a_loop_keeps_failing(aws: dict[str, str]) -> None:
    from local.pumps import Pumps, StreamPump, serve_health

    pumps = Pumps(NoSources(), aws)
    broken = StreamPump(
        GoneStreams(), aws["LINKS_STREAM_ARN"], aws["LINKS_TABLE"], {}, pumps.ledger
    )
    pumps.stream_pumps.append(broken)
    [port] = free_ports(1)
    server = serve_health(pumps, port)
    stop = threading.Event()
    threads = pumps.start(stop)
    try:
        deadline = time.monotonic() + 10
        while broken.stats.failed == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert broken.stats.failed >= 1  # the poll's error is counted, not only logged
        assert _health(port)[0] == 200  # just started: not failing for long yet
        broken.stats.started -= 120  # as if it had been failing for two minutes
        status, body = _health(port)
        assert status == 503, body
        stream = f"stream:{aws['LINKS_TABLE']}"
        assert body["failing"] == {stream: f"{stream}: ConnectionError: stream gone"}
        assert body["streams"][aws["LINKS_TABLE"]]["last_error"].endswith("stream gone")
        assert body["ttl"]["healthy"] and body["schedules"]["healthy"]
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        server.shutdown()


# --- a queue handler's answer, as Lambda reads it -------------------------------------


@pytest.mark.parametrize(
    ("answer", "deleted"),
    [
        (None, 2),
        ({}, 2),
        ({"batchItemFailures": []}, 2),
        ({"batchItemFailures": [{"itemIdentifier": "FIRST"}]}, 1),
        (["not", "an", "object"], 0),
        ("ok", 0),
        ({"batchItemFailures": "FIRST"}, 0),
        ({"batchItemFailures": [{"itemIdentifier": "no-such-message"}]}, 0),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, 0),
        ({"batchItemFailures": [{"id": "FIRST"}]}, 0),
    ],
)
def test_a_queue_handler_answer_is_read_as_lambda_reads_it(
    aws: dict[str, str], answer: Any, deleted: int
) -> None:
    """Lambda fails the whole batch on a response it cannot read, and on an
    itemIdentifier that is not in the batch; the messages come back, counted as failed."""
    from local.pumps import QueuePump

    sqs = boto3.client("sqs")
    url = aws["NOTIFY_QUEUE_URL"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})
    for body in ("one", "two"):
        sqs.send_message(QueueUrl=url, MessageBody=body)

    def handler(event: dict[str, Any], _context: Any) -> Any:
        assert len(event["Records"]) == 2
        first = event["Records"][0]["messageId"]
        return json.loads(json.dumps(answer).replace("FIRST", first))

    pump = QueuePump(sqs, aws["NOTIFY_QUEUE"], "notify", handler, 10, "us-east-1")
    assert pump.poll(wait_seconds=0) == deleted
    assert (pump.stats.delivered, pump.stats.failed) == (deleted, 2 - deleted)
    if deleted == 0:
        assert "invalid batch response" in pump.stats.last_error
    left = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert len(left) == 2 - deleted


# --- the TTL ledger ---------------------------------------------------------------------


def test_the_ttl_ledger_keeps_only_keys_a_stream_pump_will_take(aws: dict[str, str]) -> None:
    from local.pumps import TtlLedger, expire_ttl_items

    dynamodb = boto3.client("dynamodb")
    ledger = TtlLedger()
    ledger.watch(aws["LINKS_TABLE"])  # as a StreamPump on it does; nobody follows APP_TABLE
    for table in (aws["LINKS_TABLE"], aws["APP_TABLE"]):
        for i in range(3):
            dynamodb.put_item(
                TableName=table,
                Item={
                    "pk": {"S": f"gone#{i}"},
                    "sk": {"S": "x"},
                    "ttl": {"N": "1"},
                },
            )
    deleted = expire_ttl_items(dynamodb, [aws["LINKS_TABLE"], aws["APP_TABLE"]], ledger=ledger)
    assert len(deleted) == 6
    assert len(ledger) == 3
    assert ledger.take(aws["LINKS_TABLE"], {"pk": {"S": "gone#0"}, "sk": {"S": "x"}})


def test_the_ttl_ledger_forgets_keys_nobody_took() -> None:
    from local.pumps import TtlLedger

    ledger = TtlLedger(max_age=0.2)
    ledger.watch("t")
    ledger.add("t", {"pk": {"S": "old"}})
    time.sleep(0.3)
    ledger.add("t", {"pk": {"S": "new"}})
    assert len(ledger) == 1
    assert not ledger.take("t", {"pk": {"S": "old"}})
    assert ledger.take("t", {"pk": {"S": "new"}})
