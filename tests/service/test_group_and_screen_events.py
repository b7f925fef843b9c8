"""Segment's group and screen calls are first-class: a group keeps its groupId and the
group's traits, a screen its name and properties, and both reach the warehouse as rows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.tracking.collector import normalise_request
from local import stitch_sink
from tests.support.tracking import Pump, rows, send_events

GROUP = {
    "type": "group",
    "userId": "user-7",
    "groupId": "acme-1",
    "messageId": "g-1",
    "traits": {"name": "Acme", "plan": "team", "employees": 40},
}
SCREEN = {
    "type": "screen",
    "anonymousId": "device-9",
    "name": "Checkout",
    "messageId": "s-1",
    "properties": {"step": 2},
    "context": {"library": {"name": "analytics-swift", "version": "1.5"}},
}


def test_a_group_keeps_its_id_and_the_group_s_traits() -> None:
    [event] = normalise_request([GROUP], user_agent=None, batched=False)
    assert (event["type"], event["group_id"], event["user_id"]) == ("group", "acme-1", "user-7")
    assert event["traits"] == GROUP["traits"] and event["properties"] == {}


def test_a_screen_is_named_like_a_page() -> None:
    [event] = normalise_request([SCREEN], user_agent=None, batched=False)
    assert (event["type"], event["name"]) == ("screen", "Checkout")
    assert event["properties"] == {"step": 2}
    assert event.get("group_id") is None and event["traits"] == {}


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({**GROUP, "groupId": None}, "groupId"),
        ({**GROUP, "groupId": ""}, "groupId"),
        ({**GROUP, "groupId": "x" * 257}, "groupId"),
        ({**SCREEN, "name": 5}, "name"),
    ],
)
def test_a_group_needs_a_usable_group_id(client: Any, aws: dict[str, str], message: Any,
                                         field: str) -> None:
    answer = client.http.post("/events", body=json.dumps(message),
                              headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.body
    assert [e["field"] for e in json.loads(answer.body)["errors"]] == [field]


def test_groups_and_screens_reach_the_warehouse(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink
) -> None:
    send_events(client, [GROUP, SCREEN])
    Pump(client, app_env).run()
    found = {r["message_id"]: r for r in rows(sink, "events")}
    assert found["g-1"]["group_id"] == "acme-1"
    assert json.loads(found["g-1"]["traits"]) == GROUP["traits"]
    assert (found["s-1"]["type"], found["s-1"]["name"]) == ("screen", "Checkout")
    assert json.loads(found["s-1"]["properties"]) == {"step": 2}
    assert found["s-1"]["library_name"] == "analytics-swift" and found["s-1"]["group_id"] is None
