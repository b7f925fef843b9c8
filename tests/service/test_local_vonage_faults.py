"""The Vonage fake's random faults, set over HTTP as a soak sets them, seen by the app's
real sender: 500s are send_failed, 429s are throttled with the fake's Retry-After, and
every answer is counted by status."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import wiring
from tests.support.messaging import order, send


def _faults(texting: Any, spec: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    url = f"http://{texting.server.server_address[0]}:{texting.port}/__faults"
    data = None if spec is None else json.dumps(spec).encode()
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def faulty(texting: Any) -> Iterator[Any]:
    texting.api.faults.counts.clear()
    texting.api.faults.rng.seed(7)  # the shares drawn are the same on every run
    yield texting
    texting.api.faults.set({})
    texting.api.faults.counts.clear()


def test_every_send_fails_with_a_server_error_and_nothing_is_sent(faulty: Any) -> None:
    status, settings = _faults(faulty, {"error_rate": 1.0})
    assert status == 200 and settings["error_rate"] == 1.0
    answer = send("vf500a")
    assert answer["status"] == "send_failed"
    assert answer["error"].startswith("Vonage answered 500")
    assert faulty.api.outbox == []
    assert _faults(faulty)[1]["counts"] == {"500": 1}


def test_a_throttled_send_carries_the_fakes_retry_after_and_goes_out_later(faulty: Any) -> None:
    _faults(faulty, {"throttle_rate": 1.0, "retry_after": 4})
    answer = send("vf429a")
    assert answer["status"] == "throttled"
    assert answer["retry_after"] == 4
    _faults(faulty, {})
    again = wiring.texting().send_for_link(order(), code="vf429a", short_url="http://sho.rt/vf429a")
    assert again["status"] == "accepted"
    assert len(faulty.api.outbox) == 1
    assert _faults(faulty)[1]["counts"] == {"429": 1, "202": 1}


def test_shares_of_faults_are_drawn_per_send(faulty: Any) -> None:
    _faults(faulty, {"error_rate": 0.3, "throttle_rate": 0.2})
    outcomes = [send(f"vfmix{n}")["status"] for n in range(30)]
    counts = _faults(faulty)[1]["counts"]
    assert sum(counts.values()) == 30
    assert counts.get("500", 0) == outcomes.count("send_failed") > 0
    assert counts.get("429", 0) == outcomes.count("throttled") > 0
    assert counts.get("202", 0) == outcomes.count("accepted") == len(faulty.api.outbox)


@pytest.mark.parametrize(
    "spec", [{"error_rate": 1.5}, {"error_rate": 0.6, "throttle_rate": 0.6}, {"error_rate": "lots"}]
)
def test_impossible_fault_settings_are_refused_and_change_nothing(
    faulty: Any, spec: dict[str, Any]
) -> None:
    status, problem = _faults(faulty, spec)
    assert status == 400 and problem["title"] == "Invalid faults"
    assert _faults(faulty)[1]["error_rate"] == 0.0
