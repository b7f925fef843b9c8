"""The Stitch side of tracking: the local sink's warehouse as tests read it, /events as a
browser posts it, and a pump that plays Lambda's event source mapping for the forwarder
against moto's events queue (failed items stay for redelivery, the rest are deleted)."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from chalicelib import wiring
from chalicelib.tracking.proof import user_hash
from local import stitch_sink
from tests.support.aws import sqs_record

TOKEN = "local-test-token"
IDENTITY_SECRET = "local-test-identity-secret"


def signed(message: dict[str, Any], secret: str = IDENTITY_SECRET) -> dict[str, Any]:
    """The identify or alias message with the userHash the site's server would add."""
    return {**message, "userHash": user_hash(secret.encode(), str(message["userId"]))}


def rows(sink: stitch_sink.Sink, table: str) -> list[dict[str, Any]]:
    connection = sqlite3.connect(sink.warehouse.path)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in connection.execute(f"SELECT * FROM {table}")]  # noqa: S608
    except sqlite3.OperationalError:
        return []
    finally:
        connection.close()


class Pump:
    """Receives from the events queue and invokes the handler like the local pump/Lambda:
    failed items stay for redelivery (visibility), the rest are deleted."""

    def __init__(self, client: Any, env: dict[str, str]) -> None:
        self.client = client
        self.sqs = wiring.sqs()
        self.queue_url = env["EVENTS_QUEUE_URL"]
        self.invocations = 0
        self.failed_items = 0

    def run(self, retry_after: int = 1, deadline: float = 120) -> None:
        """Until the queue holds nothing, visible or in flight."""
        stop = time.monotonic() + deadline
        while time.monotonic() < stop:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30,
                WaitTimeSeconds=0,
            )
            received = answer.get("Messages", [])
            if not received:
                if self.drained():
                    return
                time.sleep(0.2)
                continue
            failed = self.invoke(received)
            for item in received:
                if item["MessageId"] in failed:
                    self.sqs.change_message_visibility(
                        QueueUrl=self.queue_url, ReceiptHandle=item["ReceiptHandle"],
                        VisibilityTimeout=retry_after,
                    )
                else:
                    self.sqs.delete_message(QueueUrl=self.queue_url,
                                            ReceiptHandle=item["ReceiptHandle"])
        raise AssertionError("the events queue did not drain")

    def drained(self) -> bool:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return all(int(value) == 0 for value in attributes.values())

    def invoke(self, received: list[dict[str, Any]]) -> set[str]:
        self.invocations += 1
        event = {"Records": [sqs_record(item, self.queue_url) for item in received]}
        answer = self.client.lambda_.invoke("events_forwarder", event)
        failed = {f["itemIdentifier"] for f in answer.payload["batchItemFailures"]}
        self.failed_items += len(failed)
        return failed


def send_events(client: Any, messages: list[dict[str, Any]], per_request: int = 1) -> None:
    for start in range(0, len(messages), per_request):
        chunk = messages[start : start + per_request]
        body = {"batch": chunk} if per_request > 1 else chunk[0]
        answer = client.http.post("/events", body=json.dumps(body),
                                  headers={"Content-Type": "text/plain"})
        assert answer.status_code == 202, answer.body


def dead_letters(env: dict[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        answer = wiring.sqs().receive_message(
            QueueUrl=env["EVENTS_DLQ_URL"], MaxNumberOfMessages=10, VisibilityTimeout=60,
            MessageAttributeNames=["All"],
        )
        if not answer.get("Messages"):
            return found
        found.extend(answer["Messages"])


def queued_events(env: dict[str, str]) -> list[dict[str, Any]]:
    """Every body on the events queue (each received once, hidden for a minute)."""
    sqs = wiring.sqs()
    found: list[dict[str, Any]] = []
    while True:
        answer = sqs.receive_message(
            QueueUrl=env["EVENTS_QUEUE_URL"], MaxNumberOfMessages=10, VisibilityTimeout=60
        )
        if not answer.get("Messages"):
            return found
        found.extend(json.loads(m["Body"]) for m in answer["Messages"])
