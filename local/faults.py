"""DynamoDB throttling on request, for the local stack only (the soak turns it on).

Wherever the Chalice app's code runs locally (the app server, the pumps' handlers) a
botocore `before-send.dynamodb` hook on the app's session answers a share of DynamoDB
calls with the HTTP 400 and JSON body DynamoDB itself sends when it throttles, while
<state>/faults/dynamodb.json says so: {"rate": 0.3, "until": <epoch seconds>}. The call
never reaches the emulator, and botocore's own retries (standard mode, with throttling
backoff) apply as in AWS. Without that file, or past `until`, nothing is injected.

Each process counts what it injected in <state>/faults/dynamodb-injected.<pid>;
`injected_throttles` adds them up.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders

from local.files import write_json_atomically

# How often the fault file is read again: a window opens within this much of being asked.
_REREAD_SECONDS = 0.5

THROTTLES = (
    (
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. "
        "Consider increasing your provisioning level with the UpdateTable API.",
    ),
    (
        "com.amazon.coral.availability#ThrottlingException",
        "Rate of requests exceeds the allowed throughput.",
    ),
)


def faults_dir(state_dir: Path) -> Path:
    return state_dir / "faults"


def throttle_dynamodb(state_dir: Path, rate: float, seconds: float) -> None:
    """Open a throttling window of `seconds` from now in every process of the stack."""
    spec = {"rate": rate, "until": time.time() + seconds}
    write_json_atomically(faults_dir(state_dir) / "dynamodb.json", spec)


def injected_throttles(state_dir: Path) -> int:
    """Throttles injected so far, by every process (a restarted one keeps its old count)."""
    total = 0
    for counted in faults_dir(state_dir).glob("dynamodb-injected.*"):
        try:
            total += int(counted.read_text() or 0)
        except (OSError, ValueError):
            continue
    return total


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_kwargs: Any) -> Any:
        yield self._data


def throttled_response(url: str, choice: int, request_id: str) -> AWSResponse:
    """An answer shaped as DynamoDB's own to a throttled call."""
    error_type, message = THROTTLES[choice % len(THROTTLES)]
    body = json.dumps({"__type": error_type, "message": message}).encode()
    headers = HTTPHeaders()
    headers["Content-Type"] = "application/x-amz-json-1.0"
    headers["Content-Length"] = str(len(body))
    headers["x-amzn-RequestId"] = request_id
    return AWSResponse(url, 400, headers, _Body(body))


class DynamoDbThrottle:
    """The before-send hook: reads the fault file now and then, draws, counts."""

    def __init__(self, state_dir: Path, rng: random.Random | None = None) -> None:
        self._folder = faults_dir(state_dir)
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._read_at = 0.0
        self._rate = 0.0
        self._until = 0.0
        self.injected = 0

    def _spec(self, now: float) -> tuple[float, float]:
        if now - self._read_at >= _REREAD_SECONDS:
            self._read_at = now
            try:
                spec = json.loads((self._folder / "dynamodb.json").read_text())
                self._rate, self._until = float(spec["rate"]), float(spec["until"])
            except (OSError, ValueError, KeyError, TypeError):
                self._rate, self._until = 0.0, 0.0
        return self._rate, self._until

    def __call__(self, request: Any, **_kwargs: Any) -> AWSResponse | None:
        now = time.time()
        with self._lock:
            rate, until = self._spec(now)
            if now >= until or self._rng.random() >= rate:
                return None
            self.injected += 1
            injected = self.injected
            choice = self._rng.randrange(len(THROTTLES))
        counted = self._folder / f"dynamodb-injected.{os.getpid()}"
        with contextlib.suppress(OSError):
            counted.write_text(str(injected))
        return throttled_response(request.url, choice, f"LOCALTHROTTLE{injected:016d}")


def install(session: Any, state_dir: Path) -> DynamoDbThrottle:
    """Hook throttling into every DynamoDB client `session` creates (boto3 Session)."""
    hook = DynamoDbThrottle(state_dir)
    session.events.register("before-send.dynamodb", hook, unique_id="local-dynamodb-throttle")
    return hook
