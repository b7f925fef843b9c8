"""Segment's Tracking API: SQS calls per /v1/batch request, and the time of /v1/batch with
100 events against /events with the same 100, measured in the same run.

Everything runs in one process, as bench/events.py does: the real app through
chalice.test.Client on moto in-process. /v1/batch does more than /events (the write key's
GetItem, the rate limit's UpdateItem, Segment's fields), all of it in the figures, with
the key cache and rate-limit shares as a deployed container has them.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
from collections.abc import Callable
from typing import Any

from bench.core import Figure, count_aws_calls, median_seconds
from bench.events import USER_AGENT, offline_stack

EVENTS_PER_BATCH = 100
REQUESTS = 20


def segment_batch(request: int) -> dict[str, Any]:
    return {
        "batch": [
            {
                "type": "track", "event": "Item Viewed", "anonymousId": f"anon-{i % 50}",
                "messageId": f"bench-v1-{request}-{i}", "properties": {"i": i},
                "timestamp": "2026-12-01T10:00:00.000Z",
                "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
                "integrations": {},
            }
            for i in range(EVENTS_PER_BATCH)
        ],
        "sentAt": "2026-12-01T10:00:01.000Z",
    }


def alternating_medians(
    first: Callable[[], Any], second: Callable[[], Any], repeat: int = 50
) -> tuple[float, float]:
    """Medians of both, timed in turn so the emulator's queue grows alike under each; the
    first five rounds warm up and are not counted."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat + 5):
        for run, samples in ((first, times[0]), (second, times[1])):
            samples.append(median_seconds(run, repeat=1, warmup=0))
    return statistics.median(times[0][5:]), statistics.median(times[1][5:])


def figures() -> list[Figure]:
    from chalicelib import wiring

    # As deployed: a container serves a checked write key from memory for 30 s (the
    # local stage's 0 is there so that a revoked key fails at once in tests).
    saved = os.environ.get("WRITE_KEY_CACHE_SECONDS")
    os.environ["WRITE_KEY_CACHE_SECONDS"] = "30"
    try:
        return measured(wiring)
    finally:
        if saved is None:
            os.environ.pop("WRITE_KEY_CACHE_SECONDS", None)
        else:
            os.environ["WRITE_KEY_CACHE_SECONDS"] = saved


def measured(wiring: Any) -> list[Figure]:
    with offline_stack() as (client, _sink, env):
        source = wiring.write_keys().create("bench", rate_limit=1_000_000)
        auth = base64.b64encode(f"{source.write_key}:".encode()).decode()
        v1 = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
              "Authorization": f"Basic {auth}"}
        events = {"Content-Type": "text/plain", "User-Agent": USER_AGENT}
        sqs = wiring.sqs()
        with count_aws_calls(sqs) as calls:
            for request in range(REQUESTS):
                answer = client.http.post("/v1/batch", body=json.dumps(segment_batch(request)),
                                          headers=v1)
                assert answer.status_code == 200, answer.body
        sqs.purge_queue(QueueUrl=env["EVENTS_QUEUE_URL"])
        body = json.dumps(segment_batch(REQUESTS))
        v1_time, events_time = alternating_medians(
            lambda: client.http.post("/v1/batch", body=body, headers=v1),
            lambda: client.http.post("/events", body=body, headers=events),
        )
    return [
        Figure("segment", "SQS calls per /v1/batch request", sum(calls.values()) / REQUESTS,
               "calls", "1", f"{REQUESTS} requests of {EVENTS_PER_BATCH} events"),
        Figure("segment", f"/v1/batch time / /events time ({EVENTS_PER_BATCH} events)",
               v1_time / events_time, "ratio", "<= 1.2",
               f"/v1/batch {v1_time * 1000:.2f} ms, /events {events_time * 1000:.2f} ms"),
    ]
