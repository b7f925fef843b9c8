"""Forwarding faults (Stitch failing, refusing, misconfigured) through the real local stack
(make dev's entry point).

Events go in over HTTP to the stack's /events; the stack's own queue pump hands them to
the app's forwarder; the stack's Stitch sink (its own process) fails requests as told at
run time through POST /__faults; rows are read from the sink's SQLite warehouse and dead
letters from the stack's emulated events DLQ. The session stack is shared with other
tests: rows are told apart by a per-test message id prefix, and the DLQ and the sink's
faults are reset around each test.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.support.stack import warehouse_counts

pytestmark = pytest.mark.stack

DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
NO_FAULTS: dict[str, Any] = {
    "fail_rate": 0, "reject": [], "script": [], "fail_next": 0, "timeout_seconds": 15,
}


def sink_url(stack: Any) -> str:
    return f"http://127.0.0.1:{stack.ports['stitch']}"


def set_faults(stack: Any, **faults: Any) -> None:
    answer = requests.post(f"{sink_url(stack)}/__faults", json=faults, timeout=5)
    assert answer.status_code == 200, answer.text


def fault_counts(stack: Any) -> dict[str, int]:
    answer = requests.get(f"{sink_url(stack)}/__faults", timeout=5)
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["counts"])


def forwarder_timeout(stack: Any) -> float:
    """The app's Stitch timeout in this stack (the stack's env, else the default)."""
    from chalicelib.core.settings import Settings

    configured = stack.env.get("STITCH_TIMEOUT_SECONDS") or os.environ.get(
        "STITCH_TIMEOUT_SECONDS"
    )
    return float(configured or Settings.stitch_timeout_seconds)


def take_all(stack: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message on the queue, removed from it."""
    sqs = stack.boto3_client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        answer = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=120,
            MessageAttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            return found
        found.extend(messages)
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def queue_depth(stack: Any, queue_url: str) -> int:
    attributes = stack.boto3_client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def wait_until_drained(stack: Any, deadline: float) -> None:
    """Until the events queue holds nothing, visible or in flight: every message was
    delivered (deleted) or dead-lettered; none is still due for a retry."""
    url = stack.env["EVENTS_QUEUE_URL"]
    while time.monotonic() < deadline:
        if queue_depth(stack, url) == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"the events queue still holds {queue_depth(stack, url)} message(s)")


def wait_for_rows(stack: Any, prefix: str, expected: int, deadline: float) -> tuple[int, int]:
    counts = warehouse_counts(stack, prefix)
    while counts[0] < expected and time.monotonic() < deadline:
        time.sleep(1)
        counts = warehouse_counts(stack, prefix)
    return counts


def post_events(stack: Any, events: list[dict[str, Any]], per_request: int) -> None:
    with requests.Session() as http:
        for start in range(0, len(events), per_request):
            batch = events[start : start + per_request]
            answer = http.post(
                f"{stack.app_url}/events",
                data=json.dumps({"batch": batch}),
                headers={"Content-Type": "text/plain", "User-Agent": DESKTOP_CHROME},
                timeout=30,
            )
            assert answer.status_code == 202, answer.text


@pytest.fixture
def stack(local_stack: Any) -> Iterator[Any]:
    """The shared stack with a healthy sink, an idle events queue and an empty DLQ."""
    set_faults(local_stack, **NO_FAULTS)
    wait_until_drained(local_stack, time.monotonic() + 120)
    take_all(local_stack, local_stack.env["EVENTS_DLQ_URL"])
    try:
        yield local_stack
    finally:
        set_faults(local_stack, **NO_FAULTS)
        take_all(local_stack, local_stack.env["EVENTS_DLQ_URL"])


def test_thousand_events_survive_a_sink_failing_30_percent(stack: Any) -> None:
    prefix = f"fault-{uuid.uuid4().hex[:8]}-"
    events = [
        {"type": "track", "event": "Load", "anonymousId": f"anon-{i % 37}",
         "messageId": f"{prefix}{i}", "properties": {"i": i}}
        for i in range(1000)
    ]
    before = fault_counts(stack)
    # 30% of requests fail at random (500, 503 or a timeout after the rows were stored);
    # the script makes sure each kind happens at least once, whatever the dice say.
    set_faults(
        stack, fail_rate=0.3, script=["timeout", "500", "503"],
        timeout_seconds=forwarder_timeout(stack) + 2,
    )
    started = time.monotonic()
    post_events(stack, events, per_request=10)

    distinct, total = wait_for_rows(stack, prefix, 1000, started + 400)
    wait_until_drained(stack, started + 450)
    assert (distinct, total) == (1000, 1000)  # every event once: retried rows upserted
    after = fault_counts(stack)
    injected = {k: after.get(k, 0) - before.get(k, 0) for k in ("500", "503", "timeout")}
    assert all(count >= 1 for count in injected.values()), injected
    assert take_all(stack, stack.env["EVENTS_DLQ_URL"]) == []


def test_a_message_stitch_refuses_alone_is_dead_lettered_with_stitchs_error(
    stack: Any,
) -> None:
    prefix = f"reject-{uuid.uuid4().hex[:8]}-"
    bad = f"{prefix}bad"
    events = [
        {"type": "track", "event": "Load", "anonymousId": f"anon-{i % 7}",
         "messageId": bad if i == 42 else f"{prefix}{i}"}
        for i in range(100)
    ]
    set_faults(stack, reject=[bad])
    started = time.monotonic()
    post_events(stack, events, per_request=10)

    distinct, total = wait_for_rows(stack, prefix, 99, started + 120)
    wait_until_drained(stack, started + 180)
    assert (distinct, total) == (99, 99)  # every other event of its batch was delivered
    letters = take_all(stack, stack.env["EVENTS_DLQ_URL"])
    assert len(letters) == 1, [json.loads(m["Body"]) for m in letters]
    [letter] = letters
    assert [e["message_id"] for e in json.loads(letter["Body"])["events"]] == [bad]
    attributes = {k: v["StringValue"] for k, v in letter["MessageAttributes"].items()}
    assert attributes["StitchStatus"] == "400"
    assert bad in attributes["StitchError"]
    assert attributes["StitchTable"] == "events"
