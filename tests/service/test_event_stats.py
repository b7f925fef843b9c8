"""GET /api/events/stats: the events the forwarder delivered, per type and name over time,
and its health (queue depths, last delivery, last Stitch error)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from local import stitch_sink
from tests.support.tracking import Pump, send_events


def track(n: int, name: str) -> dict[str, Any]:
    return {"type": "track", "event": name, "anonymousId": f"visitor-{n}",
            "messageId": f"m-{name}-{n}"}


def stats(client: Any, headers: dict[str, str], **query: str) -> Any:
    answer = client.http.get(f"/api/events/stats?{urlencode(query)}", headers=headers)
    return answer.status_code, json.loads(answer.body)


def test_delivered_events_are_counted_by_type_and_name(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink, auth_headers: dict[str, str]
) -> None:
    events = [track(n, "Signed Up") for n in range(3)] + [track(n, "Paid") for n in range(2)]
    events.append({"type": "page", "name": "Pricing", "anonymousId": "v-9", "messageId": "p-1"})
    send_events(client, events, per_request=2)
    Pump(client, app_env).run()
    status, body = stats(client, auth_headers, interval="24h")
    assert status == 200, body
    totals = {(t["type"], t["name"]): t["events"] for t in body["totals"]}
    assert totals == {("track", "Signed Up"): 3, ("track", "Paid"): 2, ("page", "Pricing"): 1}
    assert sum(row["events"] for row in body["series"]) == 6
    assert body["granularity"] == "hour"
    health = body["forwarder"]
    assert (health["queue_depth"], health["in_flight"], health["dead_letters"]) == (0, 0, 0)
    assert health["last_delivery_at"] is not None and health["last_error"] is None
    # The day tallies answer the longer intervals with the same counts.
    status, body = stats(client, auth_headers, interval="30d")
    assert {(t["name"], t["events"]) for t in body["totals"]} >= {("Signed Up", 3), ("Paid", 2)}
    assert body["granularity"] == "day"


def test_a_failed_delivery_is_shown_and_not_counted(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink, auth_headers: dict[str, str]
) -> None:
    # Four 503s: every attempt of the first invocation fails (RetryPolicy.attempts).
    script = {"script": ["503"] * 4}
    requests.post(f"{sink.url}/__faults", json=script, timeout=5).raise_for_status()
    send_events(client, [track(1, "Retried")])
    pump = Pump(client, app_env)
    pump.run()
    assert pump.failed_items >= 1  # handed back once, delivered on the next receive
    _, body = stats(client, auth_headers, interval="24h")
    assert [(t["name"], t["events"]) for t in body["totals"]] == [("Retried", 1)]
    assert "503" in body["forwarder"]["last_error"]
    assert body["forwarder"]["last_error_at"] is not None


@pytest.mark.parametrize(
    ("query", "field"), [({"interval": "2h"}, "interval"), ({"since": "x"}, "since")]
)
def test_bad_parameters_are_named(
    client: Any, aws: dict[str, str], auth_headers: dict[str, str], query: dict[str, str],
    field: str,
) -> None:
    status, body = stats(client, auth_headers, **query)
    assert status == 400 and body["field"] == field


def test_the_counts_need_a_key(client: Any, aws: dict[str, str]) -> None:
    assert client.http.get("/api/events/stats").status_code == 401


def test_made_up_names_past_the_cap_are_counted_together(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink, auth_headers: dict[str, str]
) -> None:
    send_events(client, [track(n, f"name-{n}") for n in range(60)], per_request=60)
    Pump(client, app_env).run()
    _, body = stats(client, auth_headers, interval="24h")
    totals = {t["name"]: t["events"] for t in body["totals"]}
    assert sum(totals.values()) == 60  # one request, one queue message, one invocation
    assert len(totals) == 51 and totals["(other names)"] == 10
