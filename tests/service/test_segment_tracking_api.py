"""Segment's HTTP Tracking API over the real app and moto: every call path, Basic auth or
the key in the body, gzip, Segment's fields kept and its clock-skew correction, and each
refusal answered with a problem while nothing reaches the queue."""

from __future__ import annotations

import gzip
import json
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest

from bench.core import count_aws_calls
from chalicelib import wiring
from chalicelib.sources.limits import RateLimits, retry_after
from chalicelib.tracking import segment
from chalicelib.tracking.segment import CALLS
from tests.support.sources import SITE, basic, create_source, post_v1, problem
from tests.support.tracking import queued_events

TRACK = {
    "type": "track",
    "event": "Order Completed",
    "userId": "user-1",
    "messageId": "seg-track-1",
    "properties": {"total": 42},
    "timestamp": "2026-12-01T10:00:00.000Z",
    "sentAt": "2026-12-01T10:00:05.000Z",
    "integrations": {"All": True, "Mixpanel": False},
    "context": {
        "ip": "203.0.113.9",
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0.0.0 Safari/537.36",
        "library": {"name": "analytics-python", "version": "2.3.3"},
        "app": {"name": "shop", "version": "1.2"},
    },
}


@pytest.fixture
def source(client: Any, auth_headers: dict[str, str]) -> dict[str, Any]:
    return create_source(client, auth_headers, origins=[SITE])


@pytest.fixture
def server_source(client: Any, auth_headers: dict[str, str]) -> dict[str, Any]:
    return create_source(client, auth_headers, name="backend")


def events_queued(aws: dict[str, str]) -> list[dict[str, Any]]:
    return [e for body in queued_events(aws) for e in body["events"]]


def test_a_track_call_is_queued_with_segment_s_fields(
    client: Any, aws: dict[str, str], server_source: dict[str, Any]
) -> None:
    answer = post_v1(client, "track", TRACK, server_source["write_key"])
    assert (answer.status_code, json.loads(answer.body)) == (200, {"success": True})
    [event] = events_queued(aws)
    assert event["message_id"] == "seg-track-1" and event["event"] == "Order Completed"
    assert event["original_timestamp"] == "2026-12-01T10:00:00.000Z"
    assert event["sent_at"] == "2026-12-01T10:00:05.000Z"
    # receivedAt - (sentAt - originalTimestamp): five seconds before it was received
    received = datetime.fromisoformat(event["received_at"])
    assert (received - datetime.fromisoformat(event["timestamp"])).total_seconds() == 5
    assert event["integrations"] == {"All": True, "Mixpanel": False}
    assert event["sent_context"] == {"library": TRACK["context"]["library"],
                                     "app": {"name": "shop", "version": "1.2"}}
    assert "203.0.113.9" not in json.dumps(event) and "Chrome/126" not in json.dumps(event)
    assert event["source_id"] == server_source["source_id"]


def test_a_gzipped_batch_with_the_batch_s_sent_at(
    client: Any, aws: dict[str, str], server_source: dict[str, Any]
) -> None:
    messages = [{**TRACK, "messageId": f"seg-b-{i}", "sentAt": None} for i in range(3)]
    del messages[2]["messageId"]
    body = {"batch": messages, "sentAt": "2026-12-01T10:00:02.000Z"}
    answer = post_v1(client, "batch", body, server_source["write_key"], compress=True)
    assert answer.status_code == 200, answer.body
    events = events_queued(aws)
    assert [e["message_id"] for e in events[:2]] == ["seg-b-0", "seg-b-1"]
    assert events[2]["message_id"].startswith("h-")  # a messageId is added when missing
    assert {e["sent_at"] for e in events} == {"2026-12-01T10:00:02.000Z"}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_every_call_path_answers_success(
    client: Any, aws: dict[str, str], server_source: dict[str, Any], call: str
) -> None:
    kind = CALLS[call]
    message: dict[str, Any] = {"userId": "user-1", "messageId": f"path-{call}",
                               "event": "Path Tried", "groupId": "acme", "previousId": "anon-1"}
    body: dict[str, Any] = {"batch": [{**message, "type": "track"}]} if kind is None else message
    answer = post_v1(client, call, body, server_source["write_key"])
    assert answer.status_code == 200, answer.body
    [event] = events_queued(aws)
    assert event["type"] == (kind or "track")


def test_analytics_next_sends_the_key_in_a_text_body(
    client: Any, aws: dict[str, str], source: dict[str, Any]
) -> None:
    body = {**TRACK, "writeKey": source["write_key"]}
    answer = post_v1(client, "t", body, headers={"Origin": SITE})
    assert answer.status_code == 200, answer.body
    assert answer.headers["Access-Control-Allow-Origin"] == SITE
    [event] = events_queued(aws)
    assert source["write_key"] not in json.dumps(event)


def test_a_browser_identify_links_only_with_its_proof(
    client: Any, aws: dict[str, str], source: dict[str, Any]
) -> None:
    from chalicelib.tracking.proof import user_hash

    proof = user_hash(wiring.settings().secret("identity-secret").reveal().encode(), "user-1")
    identify = {"type": "identify", "userId": "user-1", "anonymousId": "anon-1",
                "writeKey": source["write_key"], "context": {"userHash": proof}}
    assert post_v1(client, "i", identify, headers={"Origin": SITE}).status_code == 200
    [event] = events_queued(aws)
    assert (event["user_hash"], event["server_source"]) == (proof, False)
    assert "userHash" not in event["sent_context"]


def test_the_settings_point_analytics_next_at_the_app(
    client: Any, aws: dict[str, str], source: dict[str, Any]
) -> None:
    answer = client.http.get(f"/v1/projects/{source['write_key']}/settings",
                             headers={"Origin": SITE})
    assert answer.status_code == 200 and answer.headers["Access-Control-Allow-Origin"] == SITE
    settings = json.loads(answer.body)["integrations"]["Segment.io"]
    public = wiring.settings().public_base_url
    assert settings["apiKey"] == source["write_key"]
    assert f"{settings['protocol']}://{settings['apiHost']}" == f"{public}/v1"
    unknown = client.http.get("/v1/projects/wk_AAAAAAAAAAAA_" + "a" * 40 + "/settings")
    assert unknown.status_code == 401 and problem(unknown)["status"] == 401


def test_sources_are_listed_and_revoked_with_the_admin_key(
    client: Any, auth_headers: dict[str, str], source: dict[str, Any]
) -> None:
    listed = json.loads(client.http.get("/api/sources", headers=auth_headers).body)["sources"]
    [shown] = [s for s in listed if s["source_id"] == source["source_id"]]
    assert shown["origins"] == [SITE] and "write_key" not in shown
    assert "secret_hash" not in json.dumps(listed) and source["write_key"] not in json.dumps(listed)
    revoked = client.http.delete(f"/api/sources/{source['source_id']}", headers=auth_headers)
    assert json.loads(revoked.body)["status"] == "revoked"
    missing = client.http.delete("/api/sources/AAAAAAAAAAAA", headers=auth_headers)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "shop", "origins": ["not an origin"]}, "origins"),
        ({"name": "shop", "origins": "http://a.example"}, "origins"),
        ({"name": "shop", "rate_limit_per_minute": 0}, "rate_limit_per_minute"),
        ({"name": "", "origins": []}, "name"),
        ({"name": "shop", "colour": "red"}, "colour"),
    ],
)
def test_a_bad_source_is_refused_naming_the_field(
    client: Any, auth_headers: dict[str, str], body: dict[str, Any], field: str
) -> None:
    answer = client.http.post("/api/sources", headers=auth_headers, body=json.dumps(body))
    assert answer.status_code == 400 and problem(answer)["field"] == field
    listed = json.loads(client.http.get("/api/sources", headers=auth_headers).body)["sources"]
    assert listed == []


def test_a_write_key_grants_nothing_under_api(
    client: Any, server_source: dict[str, Any]
) -> None:
    for authorization in (basic(server_source["write_key"]),
                          f"Bearer {server_source['write_key']}"):
        for path in ("/api/sources", "/api/keys"):
            answer = client.http.get(path, headers={"Authorization": authorization})
            assert answer.status_code == 401, (path, answer.body)
    anonymous = client.http.post("/api/sources", body=json.dumps({"name": "x"}),
                                 headers={"Content-Type": "application/json"})
    assert anonymous.status_code == 401


def bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b" " * (1024 * 1024)
    parts = [compressor.compress(b'{"batch": [')]
    for _ in range(size // len(chunk)):
        parts.append(compressor.compress(chunk))
    return b"".join(parts) + compressor.flush()


def refusals(write_key: str, revoked_key: str) -> list[tuple[str, dict[str, Any], int, str]]:
    """(name, post_v1 arguments, status, field or '') of each refusal."""
    good = {"batch": [TRACK]}
    return [
        ("wrong key", {"body": good, "write_key": write_key[:-4] + "AAAA"}, 401, ""),
        ("revoked key", {"body": good, "write_key": revoked_key}, 401, ""),
        ("no key", {"body": good}, 401, ""),
        ("foreign origin", {"body": {**good, "writeKey": write_key},
                            "headers": {"Origin": "http://evil.example"}}, 403, "Origin"),
        ("bomb", {"body": None, "write_key": write_key, "raw": bomb(64 * 1024 * 1024),
                  "headers": {"Content-Encoding": "gzip"}}, 413, "body"),
        ("malformed gzip", {"body": None, "write_key": write_key, "raw": b"\x1f\x8b not gzip",
                            "headers": {"Content-Encoding": "gzip"}}, 400, "body"),
        ("truncated gzip", {"body": None, "write_key": write_key,
                            "raw": gzip.compress(json.dumps(good).encode())[:-12],
                            "headers": {"Content-Encoding": "gzip"}}, 400, "body"),
        ("message too big", {"body": {"batch": [{**TRACK, "properties": {"x": "y" * 33000}}]},
                             "write_key": write_key, "compress": True}, 413, "batch[0]"),
        ("brotli", {"body": good, "write_key": write_key,
                    "headers": {"Content-Encoding": "br"}}, 415, "Content-Encoding"),
        ("wrong type", {"body": {**TRACK, "type": "page"}, "write_key": write_key}, 400, "type"),
    ]


def test_each_refusal_is_a_problem_and_queues_nothing(
    client: Any, aws: dict[str, str], auth_headers: dict[str, str], source: dict[str, Any]
) -> None:
    revoked = create_source(client, auth_headers, name="old")
    client.http.delete(f"/api/sources/{revoked['source_id']}", headers=auth_headers)
    for name, arguments, status, field in refusals(source["write_key"], revoked["write_key"]):
        call = "track" if name == "wrong type" else "batch"
        answer = post_v1(client, call, **arguments)
        assert answer.status_code == status, (name, answer.body)
        assert problem(answer).get("field", "") == field, name
    assert events_queued(aws) == []


def test_a_source_over_its_rate_limit_gets_429_and_queues_nothing(
    client: Any, aws: dict[str, str], auth_headers: dict[str, str]
) -> None:
    limited = create_source(client, auth_headers, name="tiny", rate_limit_per_minute=3)
    two = {"batch": [{**TRACK, "messageId": f"rl-{i}"} for i in range(2)]}
    assert post_v1(client, "batch", two, limited["write_key"]).status_code == 200
    assert len(events_queued(aws)) == 2
    answer = post_v1(client, "batch", two, limited["write_key"])
    assert answer.status_code == 429 and 1 <= int(answer.headers["Retry-After"]) <= 60
    assert problem(answer)["rate_limit_per_minute"] == 3
    assert events_queued(aws) == []
    # the refused request counted nothing: one more event still fits this minute
    one = {**TRACK, "messageId": "rl-last"}
    again = post_v1(client, "track", one, limited["write_key"])
    assert again.status_code in (200, 429)  # 429 only when the minute turned in between


def test_the_rate_limit_counts_per_minute(aws: dict[str, str]) -> None:
    limits = RateLimits(wiring.dynamodb(), aws["APP_TABLE"])
    minute = datetime(2026, 12, 1, 10, 0, 30, tzinfo=UTC)
    limits.take("src", 5, 5, minute)
    with pytest.raises(Exception, match="5 events a minute") as refused:
        limits.take("src", 5, 1, minute.replace(second=59))
    assert getattr(refused.value, "headers", {})["Retry-After"] == "1"
    limits.take("src", 5, 5, minute.replace(minute=1))
    assert retry_after(minute) == 30


def test_a_container_spends_a_share_of_the_minute_from_memory(aws: dict[str, str]) -> None:
    minute = datetime(2026, 12, 1, 10, 0, 30, tzinfo=UTC)
    here = RateLimits(wiring.dynamodb(), aws["APP_TABLE"])
    with count_aws_calls(wiring.dynamodb()) as calls:
        for _ in range(5):  # a twentieth of 100: one UpdateItem, then memory
            here.take("src", 100, 1, minute)
    assert sum(calls.values()) == 1
    there = RateLimits(wiring.dynamodb(), aws["APP_TABLE"])  # another container
    there.take("src", 100, 95, minute)
    with pytest.raises(Exception, match="100 events a minute"):
        there.take("src", 100, 1, minute)
    with pytest.raises(Exception, match="100 events a minute"):
        here.take("src", 100, 1, minute)  # its share is spent, and the minute is full


def test_inflating_stops_at_the_limit() -> None:
    with pytest.raises(Exception, match="inflates to more than 1000"):
        segment.inflated(gzip.compress(b"x" * 10_000), "gzip", limit=1000)
    assert segment.inflated(gzip.compress(b"x" * 1000), "gzip", limit=1000) == b"x" * 1000
    with pytest.raises(Exception, match="after its end"):
        segment.inflated(gzip.compress(b"{}") + b"junk", "gzip")


def test_a_preflight_is_answered_and_the_call_then_checked(
    client: Any, aws: dict[str, str], source: dict[str, Any]
) -> None:
    asked = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type"}
    answer = client.http.request("OPTIONS", "/v1/t", headers=asked)
    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == "http://evil.example"
    refused = post_v1(client, "t", {**TRACK, "writeKey": source["write_key"]},
                      headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers
    assert events_queued(aws) == []


def test_a_preflight_of_no_tracking_call_is_a_404(client: Any) -> None:
    answer = client.http.request("OPTIONS", "/v1/nonsense",
                                 headers={"Origin": "http://site.example"})
    assert answer.status_code == 404
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_the_local_write_key_survives_a_restart(aws: dict[str, str], tmp_path: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from local import write_key

    monkeypatch.setenv("SOURCE_ORIGINS", "http://localhost:3000, https://shop.example")
    first = write_key.for_stack(tmp_path, aws["APP_TABLE"], 8000)
    assert (tmp_path / "write-key").read_text().strip() == first
    source = wiring.write_keys().authenticate(first)
    assert source.origins == ("http://127.0.0.1:8000", "http://localhost:8000",
                              "http://localhost:3000", "https://shop.example")
    # a fresh emulator (the next `make dev`): the same key is stored again
    wiring.dynamodb().delete_item(TableName=aws["APP_TABLE"],
                                  Key={"pk": {"S": f"source#{source.source_id}"},
                                       "sk": {"S": "source"}})
    assert write_key.for_stack(tmp_path, aws["APP_TABLE"], 8000) == first
    assert wiring.write_keys().authenticate(first).name == "local"


def test_a_cached_key_is_refused_at_once_where_it_was_revoked(aws: dict[str, str]) -> None:
    from chalicelib.sources.keys import WriteKeys

    keys = WriteKeys(wiring.dynamodb(), aws["APP_TABLE"], cache_seconds=30)
    created = keys.create("cached")
    assert keys.authenticate(created.write_key).active
    elsewhere = WriteKeys(wiring.dynamodb(), aws["APP_TABLE"], cache_seconds=30)
    assert elsewhere.authenticate(created.write_key).active
    keys.revoke(created.source.source_id)
    with pytest.raises(Exception, match="Unknown or revoked"):
        keys.authenticate(created.write_key)
    # another container may serve its copy until the cache ends (30 s at most)
    assert elsewhere.authenticate(created.write_key).active
