"""Events: Stitch requests per 1,000 events, SQS calls per /events request, and /events
time against a bare Chalice route.

Everything runs in one process: the real app through chalice.test.Client on moto
in-process, the real Stitch sink (local/stitch_sink.py) on a loopback port. Events are
sent the way analytics.js sends them, one per request; the forwarder is invoked with
batches of the size the app's queue handler is configured with (Lambda's batcher).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.core import Figure, count_aws_calls, emulated_aws, median_seconds

EVENTS = 1000
TOKEN = "bench-token"
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/150.0.0.0 Safari/537.36"
)


def analytics_track(i: int) -> str:
    return json.dumps({
        "type": "track", "event": "Pricing Viewed", "properties": {"plan": "pro", "i": i},
        "options": {}, "userId": None, "anonymousId": f"anon-{i % 50}",
        "meta": {"rid": f"bench-{i}", "ts": 1767225600000 + i},
    })


@contextmanager
def offline_stack() -> Iterator[tuple[Any, Any, dict[str, str]]]:
    """(chalice test client, sink, env): the app on moto in-process, the sink on loopback."""
    from chalice.test import Client

    from local import stitch_sink

    with tempfile.TemporaryDirectory() as folder:
        sink = stitch_sink.serve(0, token=TOKEN, db=Path(folder) / "w.sqlite3", quiet=True)
        try:
            with emulated_aws({"STITCH_TOKEN": TOKEN, "STITCH_API_URL": sink.url}) as env:
                from app import app

                with Client(app) as client:
                    yield client, sink, env
        finally:
            sink.shutdown()
            sink.server_close()


def configured_batch_size() -> int:
    from app import app

    for source in app.event_sources:
        if source.name == "events_forwarder":
            return int(source.batch_size)  # type: ignore[attr-defined]
    raise LookupError("events_forwarder is not registered")


def drain(client: Any, queue_url: str, batch_size: int) -> int:
    """Invoke the forwarder with batches gathered as Lambda's batcher would; returns the
    number of invocations."""
    from chalicelib import wiring

    sqs = wiring.sqs()
    invocations = 0
    while True:
        gathered: list[Any] = []
        while len(gathered) < batch_size:
            answer = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=min(10, batch_size - len(gathered)),
                VisibilityTimeout=60,
            )
            if not answer.get("Messages"):
                break
            gathered.extend(answer["Messages"])
        if not gathered:
            return invocations
        records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"], "eventSource": "aws:sqs", "attributes": {},
                    "messageAttributes": {}} for m in gathered]
        result = client.lambda_.invoke("events_forwarder", {"Records": records}).payload
        if result["batchItemFailures"]:
            raise RuntimeError(f"forwarder failed items: {result}")
        # Batched deletes: the emulator scans the whole queue on every call.
        for start in range(0, len(gathered), 10):
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(gathered[start : start + 10])
            ])
        invocations += 1


def figures() -> list[Figure]:
    from chalice import Chalice, Response
    from chalice.test import Client

    from chalicelib import wiring

    headers = {"Content-Type": "text/plain", "User-Agent": USER_AGENT}
    with offline_stack() as (client, sink, env):
        batch_size = configured_batch_size()
        invocations, forward_seconds = 0, 0.0
        # In rounds of one batch: the emulator scans the whole queue on every call, so a
        # queue of 1,000 would measure moto, not us. Requests per event are the same.
        with count_aws_calls(wiring.sqs()) as calls:
            for round_start in range(0, EVENTS, batch_size):
                for i in range(round_start, min(EVENTS, round_start + batch_size)):
                    answer = client.http.post("/events", body=analytics_track(i),
                                              headers=headers)
                    assert answer.status_code == 202, answer.body
                with count_aws_calls(wiring.sqs()) as _forwarder_calls:
                    started = time.perf_counter()
                    invocations += drain(client, env["EVENTS_QUEUE_URL"], batch_size)
                    forward_seconds += time.perf_counter() - started
                for name, count in _forwarder_calls.items():
                    calls[name] -= count  # the forwarder's own SQS calls are not /events'
        stitch_requests = sum(sink.faults.counts.values())
        # and one request near the 500 KB limit: still one SQS call (SendMessageBatch)
        big = json.dumps({"batch": [json.loads(analytics_track(EVENTS + i)) | {
            "properties": {"filler": "x" * 9000}} for i in range(50)]})
        with count_aws_calls(wiring.sqs()) as big_calls:
            assert client.http.post("/events", body=big, headers=headers).status_code == 202
        requests_made = EVENTS + 1
        sqs_calls = sum(calls.values()) + sum(big_calls.values())
        one_send = one_sqs_send_seconds(env["EVENTS_QUEUE_URL"])
        events_time = median_seconds(
            lambda: client.http.post("/events", body=analytics_track(7), headers=headers),
            repeat=100,
        )

    bare = Chalice(app_name="bare")

    @bare.route("/events", methods=["POST"], content_types=["text/plain"])
    def bare_events() -> Response:
        return Response(body='{"accepted": 1}', status_code=202,
                        headers={"Content-Type": "application/json"})

    with Client(bare) as bare_client:
        bare_time = median_seconds(
            lambda: bare_client.http.post("/events", body=analytics_track(7), headers=headers),
            repeat=100,
        )
    return [
        Figure("events", "Stitch requests per 1,000 events (one event per /events request)",
               round(stitch_requests * 1000 / EVENTS, 1), "requests", "<= 10",
               f"{invocations} forwarder invocations of <= {batch_size} queue messages, "
               f"{forward_seconds:.1f}s"),
        Figure("events", "SQS calls per /events request", round(sqs_calls / requests_made, 3),
               "calls", "1", f"{requests_made} requests incl. one 460 KB batch"),
        Figure("events", "/events time / bare Chalice route", events_time / bare_time, "ratio", "",
               f"bare {bare_time * 1000:.2f} ms, /events {events_time * 1000:.2f} ms"),
        Figure("events", "/events time / (bare route + its one SendMessage)",
               events_time / (bare_time + one_send), "ratio", "",
               f"SendMessage alone {one_send * 1000:.2f} ms (emulator)"),
    ]


def one_sqs_send_seconds(queue_url: str) -> float:
    """The one SQS call /events makes, alone, with the same body size."""
    from chalicelib import wiring

    sqs = wiring.sqs()
    body = json.dumps({"v": 1, "kind": "events", "events": [json.loads(analytics_track(7))]})
    return median_seconds(
        lambda: sqs.send_message(QueueUrl=queue_url, MessageBody=body), repeat=100
    )
