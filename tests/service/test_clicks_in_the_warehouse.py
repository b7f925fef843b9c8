"""Counted clicks reach the warehouse as "Link Clicked" events through the events queue and
the Stitch forwarder, once each even when the links stream delivers a batch again, with
the link's tags read from the link, and nothing identifying in the row."""

from __future__ import annotations

import json
from typing import Any

from local import stitch_sink
from tests.support.clickstream import ClickStream
from tests.support.env import set_env
from tests.support.links import post
from tests.support.tracking import Pump, queued_events, rows


def clicks_of_a_new_link(client: Any, auth_headers: dict[str, str]) -> tuple[str, list[Any]]:
    body = {"url": "https://example.com/w", "tags": ["spring", "print"]}
    code = json.loads(post(client, auth_headers, body).body)["code"]
    stream = ClickStream()
    stream.link(code)  # the counter's image carries no tags: the consumer reads the link's
    records = [
        stream.click(code, "2026-12-03T10:00:00.000Z", referrer="news.example.org"),
        stream.click(code, "2026-12-03T10:00:01.000Z", visitor="bot", device="bot"),
        stream.click(code, "2026-12-03T10:00:02.000Z", trigger="qr"),
    ]
    return code, records


def test_each_click_is_one_row_even_when_the_batch_comes_again(
    client: Any, auth_headers: dict[str, str], app_env: dict[str, str], sink: stitch_sink.Sink
) -> None:
    code, records = clicks_of_a_new_link(client, auth_headers)
    client.lambda_.invoke("click_webhooks", {"Records": records})
    client.lambda_.invoke("click_webhooks", {"Records": records})  # Lambda's retry
    client.lambda_.invoke("click_webhooks", {"Records": records[1:]})  # a bisected half
    Pump(client, app_env).run()
    found = sorted(
        (r for r in rows(sink, "events") if r["event"] == "Link Clicked"),
        key=lambda r: r["message_id"],
    )
    assert [r["message_id"] for r in found] == [f"click-{code}-{n}" for n in (1, 2, 3)]
    properties = [json.loads(r["properties"]) for r in found]
    assert [p["visitor"] for p in properties] == ["human", "bot", "human"]
    assert [p["trigger"] for p in properties] == ["link", "link", "qr"]
    assert properties[0]["tags"] == ["spring", "print"]
    assert properties[0]["referrer"] == "news.example.org" and properties[0]["code"] == code
    assert [r["device"] for r in found] == ["mobile", "bot", "mobile"]
    assert found[0]["timestamp"] == "2026-12-03T10:00:00.000Z"
    assert not any("Mozilla" in json.dumps(r) or "Safari/" in json.dumps(r) for r in found)


def test_a_stage_can_switch_clicks_in_the_warehouse_off(
    client: Any, auth_headers: dict[str, str], app_env: dict[str, str]
) -> None:
    set_env(CLICK_EVENTS="off")
    try:
        _code, records = clicks_of_a_new_link(client, auth_headers)
        client.lambda_.invoke("click_webhooks", {"Records": records})
        assert queued_events(app_env) == []
    finally:
        set_env(CLICK_EVENTS="on")
    client.lambda_.invoke("click_webhooks", {"Records": records})
    queued = [e["message_id"] for body in queued_events(app_env) for e in body["events"]]
    assert len(queued) == 3  # on again: the same records are queued
