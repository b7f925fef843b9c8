"""The faults of a run, and what was injected.

For the whole load: the Stitch sink fails 30% of requests (500, 503, or a hang past the
app's Stitch timeout after it stored the rows), the Vonage fake answers 20% 500 and 5% 429
with Retry-After. At a quarter of the run the app server is SIGKILLed and restarted (the
supervisor's restart by name); at 45% the pumps are. From 55% DynamoDB throttles 30% of
the calls of the app's handlers for a minute, or a quarter of a shorter run."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from local import faults
from local.launch import LocalStack
from local.stack import request_restart

STITCH_FAIL_RATE = 0.3
VONAGE_ERROR_RATE = 0.2
VONAGE_THROTTLE_RATE = 0.05
DYNAMODB_THROTTLE_RATE = 0.3
RESTARTS = (("app", 0.25), ("pumps", 0.45))
THROTTLE_FROM = 0.55


@dataclass
class Injected:
    restart_seconds: dict[str, float] = field(default_factory=dict)
    throttle_window: float = 0.0
    dynamodb_throttles: int = 0
    stitch: dict[str, int] = field(default_factory=dict)
    stitch_records_stored: int = 0
    vonage: dict[str, int] = field(default_factory=dict)
    webhooks: dict[str, int] = field(default_factory=dict)  # the receiver's answers


def _post_json(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read() or b"null")


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


def throttle_window(duration: float) -> float:
    return min(60.0, duration / 4)


def start_service_faults(stack: LocalStack) -> None:
    hang = float(stack.env.get("STITCH_TIMEOUT_SECONDS", "3")) + 2
    _post_json(f"{stack.url('stitch')}/__faults",
               {"fail_rate": STITCH_FAIL_RATE, "timeout_seconds": hang})
    _post_json(f"{stack.url('vonage')}/__faults",
               {"error_rate": VONAGE_ERROR_RATE, "throttle_rate": VONAGE_THROTTLE_RATE,
                "retry_after": 1})


def stop_faults(stack: LocalStack) -> None:
    _post_json(f"{stack.url('stitch')}/__faults", {"fail_rate": 0})
    _post_json(f"{stack.url('vonage')}/__faults", {})
    faults.throttle_dynamodb(stack.state_dir, rate=0.0, seconds=0.0)


def run_schedule(stack: LocalStack, duration: float, stop: threading.Event,
                 injected: Injected) -> None:
    """Restarts, then the throttling window, each at its share of the run (in a thread;
    returns early when the load stops first)."""
    started = time.monotonic()

    def reached(share: float) -> bool:
        return not stop.wait(max(0.0, started + share * duration - time.monotonic()))

    for name, share in RESTARTS:
        if not reached(share):
            return
        injected.restart_seconds[name] = request_restart(stack.state_dir, name)
    if reached(THROTTLE_FROM):
        window = throttle_window(duration)
        faults.throttle_dynamodb(stack.state_dir, rate=DYNAMODB_THROTTLE_RATE, seconds=window)
        injected.throttle_window = window


def collect(stack: LocalStack, injected: Injected) -> None:
    """What the fakes and the throttling hook counted."""
    stitch = _get_json(f"{stack.url('stitch')}/__faults")
    injected.stitch = dict(stitch["counts"])
    injected.stitch_records_stored = int(stitch["records_stored"])
    injected.vonage = dict(_get_json(f"{stack.url('vonage')}/__faults")["counts"])
    injected.dynamodb_throttles = faults.injected_throttles(stack.state_dir)
