"""The Stitch forwarder and the local Stitch sink, over real HTTP and moto SQS/DynamoDB.

The sink is the real `local.stitch_sink` server on a free loopback port; the forwarder is
the app's queue handler (`events_forwarder`) invoked with SQS-shaped events that a pump
receives from moto, honouring batchItemFailures and visibility, as the local stack does.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.tracking import stitch
from chalicelib.tracking.dead_letters import max_receives
from chalicelib.tracking.forwarder import forwarder as build_forwarder
from chalicelib.tracking.records import QueueRecord
from local import stitch_sink
from tests.support.tracking import TOKEN, Pump, dead_letters, rows, send_events, signed


def batch_body(table: str = "events", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "table_name": table,
        "schema": {"properties": {"message_id": {"type": "string"},
                                  "event": {"type": ["null", "string"]}}},
        "key_names": ["message_id"],
        "messages": [{"action": "upsert", "sequence": 1, "data": {"message_id": "m1",
                                                                   "event": "a"}}],
    }
    body.update(overrides)
    return body


def import_post(sink: stitch_sink.Sink, body: Any, token: str = TOKEN,
                content_type: str = "application/json") -> requests.Response:
    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    return requests.post(f"{sink.url}/v2/import/batch", data=raw, timeout=5,
                         headers={"Authorization": f"Bearer {token}",
                                  "Content-Type": content_type})


# --- the sink checks requests like Stitch ---------------------------------------------


def test_sink_health_and_upsert_by_key_with_sequence(sink: stitch_sink.Sink) -> None:
    assert requests.get(f"{sink.url}/__health", timeout=5).status_code == 200
    assert import_post(sink, batch_body()).status_code == 201
    newer = {"action": "upsert", "sequence": 5, "data": {"message_id": "m1", "event": "new"}}
    older = {"action": "upsert", "sequence": 2, "data": {"message_id": "m1", "event": "old"}}
    assert import_post(sink, batch_body(messages=[newer])).status_code == 201
    assert import_post(sink, batch_body(messages=[older])).status_code == 201
    [row] = rows(sink, "events")
    assert row["event"] == "new"


@pytest.mark.parametrize(
    ("body", "token", "content_type", "status"),
    [
        (batch_body(), "wrong", "application/json", 401),
        (batch_body(), "", "application/json", 401),
        (batch_body(), TOKEN, "text/plain", 415),
        ("{nope", TOKEN, "application/json", 400),
        ({k: v for k, v in batch_body().items() if k != "table_name"}, TOKEN,
         "application/json", 400),
        ({k: v for k, v in batch_body().items() if k != "schema"}, TOKEN, "application/json", 400),
        (batch_body(messages=[]), TOKEN, "application/json", 400),
        (batch_body(messages=[{"action": "upsert", "sequence": "1", "data": {}}]), TOKEN,
         "application/json", 400),
        (batch_body(messages=[{"action": "upsert", "sequence": 1, "data": {"event": "x"}}]),
         TOKEN, "application/json", 422),
        (batch_body(messages=[{"action": "upsert", "sequence": 1,
                               "data": {"message_id": "m", "event": 5}}]),
         TOKEN, "application/json", 400),
    ],
)
def test_sink_refuses_what_stitch_refuses(
    sink: stitch_sink.Sink, body: Any, token: str, content_type: str, status: int
) -> None:
    assert import_post(sink, body, token, content_type).status_code == status
    assert rows(sink, "events") == []


def test_sink_refuses_more_than_20_mb(sink: stitch_sink.Sink) -> None:
    big = b"x" * (stitch_sink.MAX_BYTES + 1)
    assert import_post(sink, big).status_code == 413


def test_show_prints_the_latest_rows(sink: stitch_sink.Sink) -> None:
    import_post(sink, batch_body())
    shown = stitch_sink.show(sink.warehouse.path, 5)
    assert "== events (1 rows" in shown and '"message_id": "m1"' in shown


def test_sink_faults_are_set_at_run_time_and_played_in_order(sink: stitch_sink.Sink) -> None:
    faults_url = f"{sink.url}/__faults"
    assert requests.post(faults_url, json={"script": ["nope"]}, timeout=5).status_code == 400
    assert requests.post(faults_url, json={"script": [200]}, timeout=5).status_code == 400
    assert requests.post(faults_url, json={"script": ["401", "503"]}, timeout=5).ok
    assert requests.get(faults_url, timeout=5).json()["script"] == ["401", "503"]
    statuses = [import_post(sink, batch_body()).status_code for _ in range(3)]
    assert statuses == [401, 503, 201]
    shown = requests.get(faults_url, timeout=5).json()
    assert shown["counts"] == {"401": 1, "503": 1, "201": 1}
    assert shown["records_stored"] == len(batch_body()["messages"])


def test_local_env_reuses_its_token(tmp_path: Path) -> None:
    first = stitch_sink.local_env(tmp_path)
    assert first["STITCH_API_URL"] == "http://127.0.0.1:8004"
    assert first["STITCH_SINK_DB"].endswith("warehouse.sqlite3")
    assert stitch_sink.local_env(tmp_path)["STITCH_TOKEN"] == first["STITCH_TOKEN"]


# --- splitting and classification -----------------------------------------------------


def message(i: int, size: int = 10) -> stitch.Message:
    return stitch.Message("events", i, {"message_id": f"m{i}", "event": "x" * size}, "o", "{}")


def test_split_respects_record_and_byte_limits() -> None:
    many = [message(i) for i in range(45_000)]
    chunks = list(stitch.split(many, stitch.MAX_RECORDS_PER_REQUEST, stitch.MAX_BYTES_PER_REQUEST))
    assert [len(c) for c in chunks] == [20_000, 20_000, 5_000]
    fat = [message(i, size=1_000_000) for i in range(45)]
    chunks = list(stitch.split(fat, stitch.MAX_RECORDS_PER_REQUEST, stitch.MAX_BYTES_PER_REQUEST))
    assert all(len(stitch.import_body("events", c)) <= stitch.MAX_BYTES_PER_REQUEST
               for c in chunks)
    assert sum(len(c) for c in chunks) == 45 and len(chunks) == 3


class ScriptedStitch:
    """A destination that answers from a script (a fake, not a mock: it records requests)."""

    max_records = 20_000
    max_bytes = 20 * 1024 * 1024

    def __init__(self, answers: list[int | None], refuse: set[str] | None = None) -> None:
        self.answers = answers
        self.refuse = refuse or set()
        self.requests: list[list[str]] = []
        self.stored: set[str] = set()

    def send(self, table: str, messages: Any) -> None:
        ids = [m.row["message_id"] for m in messages]
        self.requests.append(ids)
        status = self.answers.pop(0) if self.answers else 201
        if status is None or status >= 300:
            raise stitch.StitchError(status, "scripted")
        if self.refuse & set(ids):
            raise stitch.StitchError(400, f"bad record {sorted(self.refuse & set(ids))[0]}")
        self.stored.update(ids)


def test_transient_errors_are_retried_then_reported() -> None:
    target = ScriptedStitch([503, None, 429])
    outcome = stitch.DeliveryOutcome()
    sender = stitch.Sender(target, stitch.RetryPolicy(base_seconds=0), sleep=lambda _s: None)
    sender.deliver("events", [message(1)], outcome)
    assert len(target.requests) == 4 and target.stored == {"m1"}
    assert outcome.failed_origins == set() and outcome.rejected == []

    target = ScriptedStitch([500, 500, 500, 500])
    outcome = stitch.DeliveryOutcome()
    sender = stitch.Sender(target, stitch.RetryPolicy(base_seconds=0), sleep=lambda _s: None)
    sender.deliver("events", [message(1)], outcome)
    assert outcome.failed_origins == {"o"} and outcome.rejected == []


def test_a_wrong_token_fails_the_batch_instead_of_dead_lettering() -> None:
    target = ScriptedStitch([401])
    outcome = stitch.DeliveryOutcome()
    stitch.Sender(target, sleep=lambda _s: None).deliver("events", [message(1)], outcome)
    assert len(target.requests) == 1
    assert outcome.failed_origins == {"o"} and outcome.rejected == []


def test_a_rejected_batch_is_bisected_to_the_bad_row() -> None:
    target = ScriptedStitch([], refuse={"m37"})
    outcome = stitch.DeliveryOutcome()
    messages = [message(i) for i in range(100)]
    stitch.Sender(target, sleep=lambda _s: None).deliver("events", messages, outcome)
    assert [m.row["message_id"] for m, _ in outcome.rejected] == ["m37"]
    assert target.stored == {f"m{i}" for i in range(100)} - {"m37"}
    assert len(target.requests) <= 2 * 7 + 1  # log2(100) levels, two halves each


# --- the forwarder through the app's queue handler -------------------------------------


def test_identify_links_and_resolves_anonymous_events(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink
) -> None:
    anon = "anon-42"
    send_events(client, [
        {"type": "page", "anonymousId": anon, "messageId": "e1",
         "properties": {"url": "https://s.example/?utm_source=mail", "path": "/"}},
        signed({"type": "identify", "anonymousId": anon, "userId": "user-42", "messageId": "e2",
         "traits": {"plan": "pro"}}),
    ])
    pump = Pump(client, app_env)
    pump.run()
    send_events(client, [{"type": "track", "event": "Later", "anonymousId": anon,
                          "messageId": "e3"}])
    pump.run()
    events = {r["message_id"]: r for r in rows(sink, "events")}
    assert set(events) == {"e1", "e2", "e3"}
    assert events["e3"]["user_id"] is None
    assert events["e3"]["resolved_user_id"] == "user-42"  # through the stored link
    assert events["e1"]["campaign_source"] == "mail"
    assert json.loads(events["e2"]["traits"]) == {"plan": "pro"}
    [link] = rows(sink, "identities")
    assert (link["anonymous_id"], link["user_id"], link["deleted"]) == (anon, "user-42", 0)
    assert dead_letters(app_env) == []


def test_erasure_forwards_a_deletion_record(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink, auth_headers: dict[str, str]
) -> None:
    send_events(client, [signed({"type": "identify", "anonymousId": "a1", "userId": "gone",
                          "messageId": "i1"})])
    pump = Pump(client, app_env)
    pump.run()
    assert client.http.delete("/api/users/gone", headers=auth_headers).status_code == 202
    pump.run()
    identities = {r["message_id"]: r for r in rows(sink, "identities")}
    assert identities["identity:a1"]["deleted"] == 1
    assert identities["identity:a1"]["deleted_at"] is not None
    assert identities["erasure:gone"]["user_id"] == "gone"
    # a later anonymous event of a1 no longer resolves to the erased user
    send_events(client, [{"type": "track", "event": "After", "anonymousId": "a1",
                          "messageId": "t9"}])
    pump.run()
    after = {r["message_id"]: r for r in rows(sink, "events")}["t9"]
    assert after["resolved_user_id"] is None


def identities_by_anon(sink: stitch_sink.Sink) -> dict[str | None, dict[str, Any]]:
    return {r["anonymous_id"]: r for r in rows(sink, "identities")}


def queued_bodies(env: dict[str, str]) -> list[QueueRecord]:
    """Read what is on the events queue without consuming it (visible again at once)."""
    from chalicelib import wiring

    answer = wiring.sqs().receive_message(
        QueueUrl=env["EVENTS_QUEUE_URL"], MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [QueueRecord(m["MessageId"], m["Body"]) for m in answer.get("Messages", [])]


def test_an_identify_queued_before_erasure_does_not_resurrect_the_link(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink, auth_headers: dict[str, str]
) -> None:
    from chalicelib import wiring
    from chalicelib.tracking.identity import IdentityStore

    store = IdentityStore(wiring.dynamodb(), app_env["APP_TABLE"])
    # Forwarded once, then erased; the same message is later redelivered.
    send_events(client, [signed({"type": "identify", "anonymousId": "a-red", "userId": "erased-1",
                          "messageId": "r1"})])
    [redelivered] = queued_bodies(app_env)
    pump = Pump(client, app_env)
    pump.run()
    assert store.resolve(["a-red"]) == {"a-red": "erased-1"}
    # Still in the queue when the erasure arrives.
    send_events(client, [signed({"type": "identify", "anonymousId": "a-late", "userId": "erased-1",
                          "messageId": "r2", "timestamp": "2999-01-01T00:00:00Z"})])
    time.sleep(0.01)
    assert client.http.delete("/api/users/erased-1", headers=auth_headers).status_code == 202
    pump.run()
    forwarder = build_forwarder(wiring.settings(), wiring.dynamodb(), wiring.sqs())
    assert forwarder.forward([redelivered]) == []

    assert store.resolve(["a-red", "a-late"]) == {}
    assert store.erasure_of("erased-1") == ([], [])
    identities = identities_by_anon(sink)
    assert "a-late" not in identities  # never forwarded
    assert identities["a-red"]["deleted"] == 1  # the redelivery did not undelete it
    assert identities[None]["message_id"] == "erasure:erased-1"

    # An identify received after the erasure is a new, legitimate link.
    time.sleep(0.01)
    send_events(client, [signed({"type": "identify", "anonymousId": "a-new", "userId": "erased-1",
                          "messageId": "r3"})])
    pump.run()
    assert store.resolve(["a-new"]) == {"a-new": "erased-1"}
    assert identities_by_anon(sink)["a-new"]["deleted"] == 0


@pytest.mark.parametrize(
    ("secrets", "expected"),
    [
        ({"stitch-token": "t0k", "stitch-webhook-url": "http://h/v1/clients/1/token/w"},
         stitch.ImportApi),
        ({"stitch-webhook-url": "http://h/v1/clients/1/token/w"}, stitch.Webhook),
        ({}, None),
    ],
)
def test_the_import_api_token_wins_over_a_webhook_url(
    secrets: dict[str, str], expected: type | None
) -> None:
    from chalicelib.core.settings import Settings

    settings = Settings.from_env({"STAGE": "local"}, secret_loader=lambda n: secrets.get(n, ""))
    if expected is None:
        with pytest.raises(RuntimeError, match="not configured"):
            stitch.destination(settings)
    else:
        assert isinstance(stitch.destination(settings), expected)


class EchoingStitch(BaseHTTPRequestHandler):
    """An error page that repeats the request back, path and headers included."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = f"no route for {self.path}; you sent {dict(self.headers)}".encode()
        self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_stitch_errors_never_carry_the_token_or_the_webhook_url() -> None:
    import threading
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingStitch)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        targets: list[stitch.Destination] = [
            stitch.ImportApi(requests.Session(), base, "tok-secret-123"),
            stitch.Webhook(requests.Session(), f"{base}/v1/clients/7/token/hook-secret-456"),
        ]
        for target in targets:
            with pytest.raises(stitch.StitchError) as caught:
                target.send("events", [message(1)])
            assert caught.value.status == 404
            assert "no route for" in caught.value.detail
            assert "secret-" not in caught.value.detail and "secret-" not in str(caught.value)
    finally:
        server.shutdown()
        server.server_close()


# --- faults: nothing lost, only the bad row dead-lettered -------------------------------


def test_thousand_events_survive_a_sink_failing_30_percent(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink
) -> None:
    sink.faults.fail_rate = 0.3
    sink.faults.timeout_seconds = 1.5  # the forwarder gives up after 1 s
    sink.faults.fail_next = 1  # at least one failure, whatever the dice say (10 requests)
    messages = [{"type": "track", "event": "Load", "anonymousId": f"a{i % 37}",
                 "messageId": f"load-{i}"} for i in range(1000)]
    send_events(client, messages, per_request=10)
    Pump(client, app_env).run(deadline=240)
    stored = rows(sink, "events")
    assert len({r["message_id"] for r in stored}) == 1000
    assert len(stored) == 1000
    counts = sink.faults.counts
    assert counts.get("500", 0) + counts.get("503", 0) + counts.get("timeout", 0) > 0
    assert dead_letters(app_env) == []


def test_failed_items_come_back_through_sqs_and_are_delivered(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink
) -> None:
    sink.faults.fail_next = 4  # one whole invocation's retries fail: 4 attempts
    send_events(client, [{"type": "track", "event": "E", "anonymousId": "a",
                          "messageId": f"r-{i}"} for i in range(30)], per_request=3)
    pump = Pump(client, app_env)
    pump.run()
    assert pump.failed_items == 10  # the first batch of ten queue messages was handed back
    assert {r["message_id"] for r in rows(sink, "events")} == {f"r-{i}" for i in range(30)}
    assert dead_letters(app_env) == []


def test_a_rejected_row_alone_is_dead_lettered_with_stitchs_error(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink
) -> None:
    sink.faults.reject = {"bad-17"}
    messages = [{"type": "track", "event": "Load", "anonymousId": "a",
                 "messageId": f"bad-{i}" if i == 17 else f"ok-{i}"} for i in range(50)]
    send_events(client, messages, per_request=5)
    Pump(client, app_env).run()
    stored = {r["message_id"] for r in rows(sink, "events")}
    assert stored == {f"ok-{i}" for i in range(50) if i != 17}
    [letter] = dead_letters(app_env)
    assert json.loads(letter["Body"])["events"][0]["message_id"] == "bad-17"
    attributes = letter["MessageAttributes"]
    assert attributes["StitchStatus"]["StringValue"] == "400"
    assert "bad-17" in attributes["StitchError"]["StringValue"]
    assert attributes["StitchTable"]["StringValue"] == "events"


# --- alias through the forwarder --------------------------------------------------------


def test_alias_links_the_previous_id_and_resolves_its_later_events(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink
) -> None:
    from chalicelib import wiring
    from chalicelib.tracking.identity import IdentityStore

    pump = Pump(client, app_env)
    send_events(client, [signed({"type": "alias", "previousId": "anon-old", "userId": "user-7",
                          "messageId": "al-1"})])
    pump.run()
    send_events(client, [{"type": "track", "event": "Returned", "anonymousId": "anon-old",
                          "messageId": "al-2"}])
    pump.run()
    events = {r["message_id"]: r for r in rows(sink, "events")}
    alias, later = events["al-1"], events["al-2"]
    assert (alias["type"], alias["previous_id"], alias["user_id"]) == (
        "alias", "anon-old", "user-7")
    assert later["user_id"] is None
    assert later["resolved_user_id"] == "user-7"  # only through the alias's link
    [link] = rows(sink, "identities")
    assert (link["message_id"], link["anonymous_id"], link["user_id"],
            link["source_message_id"], link["deleted"]) == (
        "identity:anon-old", "anon-old", "user-7", "al-1", 0)
    store = IdentityStore(wiring.dynamodb(), app_env["APP_TABLE"])
    assert store.resolve(["anon-old"]) == {"anon-old": "user-7"}
    assert dead_letters(app_env) == []


# --- Incoming Webhook mode, against the sink's webhook endpoint --------------------------


def webhook_post(sink: stitch_sink.Sink, body: Any, url: str | None = None,
                 content_type: str = "application/json") -> requests.Response:
    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    return requests.post(url or sink.webhook_url, data=raw, timeout=5,
                         headers={"Content-Type": content_type})


def test_sink_webhook_loads_an_object_or_an_array_into_one_data_table(
    sink: stitch_sink.Sink,
) -> None:
    assert webhook_post(sink, {"message_id": "w0", "plan": {"tier": "pro"}}).status_code == 200
    assert webhook_post(sink, [{"message_id": "w1", "n": 1},
                               {"message_id": "w2", "n": 2}]).status_code == 200
    data = {r["message_id"]: r for r in rows(sink, "data")}
    assert set(data) == {"w0", "w1", "w2"}
    assert json.loads(data["w0"]["plan"]) == {"tier": "pro"}  # nested: JSON text
    assert (data["w1"]["n"], data["w2"]["n"]) == (1, 2)
    assert len({r["_sdc_primary_key"] for r in data.values()}) == 3


def test_sink_webhook_upserts_by_the_primary_key_or_appends_without_one(
    sink: stitch_sink.Sink,
) -> None:
    row = {"message_id": "same", "n": 1}
    webhook_post(sink, row)
    webhook_post(sink, row)
    assert len(rows(sink, "data")) == 2  # no primary key: append-only, as Stitch documents
    sink.webhook_primary_key = "message_id"
    webhook_post(sink, {"message_id": "keyed", "n": 1})
    webhook_post(sink, {"message_id": "keyed", "n": 2})
    keyed = [r for r in rows(sink, "data") if r["message_id"] == "keyed"]
    assert [r["n"] for r in keyed] == [2]


@pytest.mark.parametrize(
    ("body", "path_token", "content_type", "status"),
    [
        ({"message_id": "x"}, "wrong", "application/json", 401),
        ({"message_id": "x"}, None, "text/plain", 415),
        ("{nope", None, "application/json", 400),
        ([], None, "application/json", 400),
        ([{"message_id": "x"}, 5], None, "application/json", 400),
        ("5", None, "application/json", 400),
        ({"no_key": "x"}, None, "application/json", 400),  # the primary key is required
    ],
)
def test_sink_webhook_refuses_and_stores_nothing(
    sink: stitch_sink.Sink, body: Any, path_token: str | None, content_type: str, status: int
) -> None:
    sink.webhook_primary_key = "message_id"
    url = sink.webhook_url.replace(sink.webhook_token, path_token) if path_token else None
    assert webhook_post(sink, body, url, content_type).status_code == status
    assert rows(sink, "data") == []


def test_sink_webhook_body_must_be_smaller_than_4_mb(sink: stitch_sink.Sink) -> None:
    filler = "x" * (stitch_sink.WEBHOOK_MAX_BYTES - 30)
    body = json.dumps({"message_id": "big", "filler": filler})
    assert len(body) >= stitch_sink.WEBHOOK_MAX_BYTES
    assert webhook_post(sink, body).status_code == 413
    smaller = json.dumps({"message_id": "big", "filler": filler[:-1000]})
    assert webhook_post(sink, smaller).status_code == 200


def test_webhook_mode_forwards_through_transient_failures_without_duplicates(
    client: Any, webhook_env: dict[str, str], sink: stitch_sink.Sink
) -> None:
    """The README's webhook setup (Primary Key message_id): a 503, then a timeout after the
    sink stored the rows, then success; every row once, in the one `data` table."""
    sink.webhook_primary_key = "message_id"
    sink.faults.script = ["503", "timeout"]
    sink.faults.timeout_seconds = 1.5  # the forwarder gives up after 1 s
    send_events(client, [
        {"type": "page", "anonymousId": "anon-w", "messageId": "w1"},
        signed({"type": "identify", "anonymousId": "anon-w",
                "userId": "user-w", "messageId": "w2"}),
        {"type": "track", "event": "Bought", "anonymousId": "anon-w", "messageId": "w3"},
    ], per_request=3)
    pump = Pump(client, webhook_env)
    pump.run()
    data = rows(sink, "data")
    by_id = {r["message_id"]: r for r in data}
    assert len(data) == len(by_id) == 4
    assert {i: r["table_name"] for i, r in by_id.items()} == {
        "w1": "events", "w2": "events", "w3": "events", "identity:anon-w": "identities"}
    assert by_id["w3"]["resolved_user_id"] == "user-w"
    assert by_id["identity:anon-w"]["user_id"] == "user-w"
    counts = sink.faults.counts
    assert (counts.get("webhook 503"), counts.get("webhook timeout")) == (1, 1)
    assert pump.failed_items == 0  # retried in-process, not handed back to SQS
    assert rows(sink, "events") == []  # nothing went to the Import API
    assert dead_letters(webhook_env) == []


def test_webhook_without_a_primary_key_stores_a_retried_row_twice(
    client: Any, webhook_env: dict[str, str], sink: stitch_sink.Sink
) -> None:
    """Why the README asks for Primary Key message_id: a blank Primary Key makes loading
    append-only, and a retry after a lost answer duplicates the row."""
    sink.faults.script = ["timeout"]
    sink.faults.timeout_seconds = 1.5
    send_events(client, [{"type": "track", "event": "Once", "anonymousId": "a",
                          "messageId": "dup-1"}])
    Pump(client, webhook_env).run()
    assert [r["message_id"] for r in rows(sink, "data")] == ["dup-1", "dup-1"]


# --- configuration errors and the last receive -----------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [(None, "transient"), (408, "transient"), (429, "transient"), (500, "transient"),
     (503, "transient"), (400, "rejected"), (413, "rejected"), (422, "rejected"),
     (401, "configuration"), (403, "configuration"), (404, "configuration"),
     (415, "bug"), (405, "bug"), (409, "bug")],
)
def test_stitch_answers_are_sorted_into_four_kinds(status: int | None, kind: str) -> None:
    assert stitch.StitchError(status, "x").kind == kind


class LogLines(logging.Handler):
    """The forwarder's log records, caught on its own logger (`linktrail` does not
    propagate to root once the app configured it, so caplog alone may miss them)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def text(self) -> str:
        return "\n".join(r.getMessage() for r in self.records)


@pytest.fixture
def stitch_log() -> Iterator[LogLines]:
    logger = logging.getLogger("linktrail.stitch")
    lines = LogLines()
    logger.addHandler(lines)
    try:
        yield lines
    finally:
        logger.removeHandler(lines)


@pytest.mark.parametrize("status", [401, 403, 404, 415])
def test_a_configuration_or_format_error_is_not_retried_in_process_and_logged_as_error(
    status: int, stitch_log: LogLines
) -> None:
    target = ScriptedStitch([status])
    outcome = stitch.DeliveryOutcome()
    stitch.Sender(target, sleep=lambda _s: None).deliver("events", [message(1)], outcome)
    assert len(target.requests) == 1 and outcome.rejected == []
    assert outcome.failures["o"].status == status
    [line] = [r for r in stitch_log.records if r.levelname == "ERROR"]
    expected = "configuration error" if status != 415 else "refused the request format"
    assert expected in line.getMessage() and f"HTTP {status}" in line.getMessage()


def queued_record(client: Any, env: dict[str, str], event: dict[str, Any],
                  receive_count: int = 1) -> QueueRecord:
    """The queue message /events makes of `event`, taken off the queue."""
    from chalicelib import wiring

    send_events(client, [event])
    answer = wiring.sqs().receive_message(QueueUrl=env["EVENTS_QUEUE_URL"],
                                           MaxNumberOfMessages=10, VisibilityTimeout=60)
    [item] = answer["Messages"]
    return QueueRecord(item["MessageId"], item["Body"], receive_count)


def test_max_receives_is_read_from_the_events_queue(aws: dict[str, str]) -> None:
    from chalicelib import wiring

    assert max_receives(wiring.sqs(), aws["EVENTS_QUEUE_URL"]) == 8  # infra/data.yaml
    assert max_receives(wiring.sqs(), aws["EVENTS_DLQ_URL"]) is None
    assert max_receives(wiring.sqs(), "") is None


def test_a_wrong_token_is_handed_back_then_dead_lettered_with_stitchs_error(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink,
    monkeypatch: pytest.MonkeyPatch, stitch_log: LogLines,
) -> None:
    from chalicelib import wiring

    monkeypatch.setenv("STITCH_TOKEN", "wrong-token-0123456789")
    wiring.reset()
    forwarder = build_forwarder(wiring.settings(), wiring.dynamodb(), wiring.sqs())
    record = queued_record(client, app_env, {"type": "track", "event": "E", "anonymousId": "a",
                                             "messageId": "cfg-1"})
    for receive in (1, 7):  # maxReceiveCount is 8: SQS gets it back
        retry = QueueRecord(record.message_id, record.body, receive)
        assert forwarder.forward([retry]) == [record.message_id]
    assert dead_letters(app_env) == []
    assert sink.faults.counts == {"401": 2}  # one request each: no in-process retry
    errors = [r.getMessage() for r in stitch_log.records if r.levelname == "ERROR"]
    assert len(errors) == 2 and all("stitch configuration error: HTTP 401" in e for e in errors)
    assert "wrong-token-0123456789" not in stitch_log.text

    last = QueueRecord(record.message_id, record.body, 8)
    assert forwarder.forward([last]) == []  # not handed back: dead-lettered here, with why
    [letter] = dead_letters(app_env)
    assert letter["Body"] == record.body  # replayable by a redrive as it is
    attributes = {k: v["StringValue"] for k, v in letter["MessageAttributes"].items()}
    assert attributes["StitchStatus"] == "401"
    assert "Not authorized" in attributes["StitchError"]
    assert attributes["SourceMessageId"] == record.message_id
    assert rows(sink, "events") == []


def test_a_stitch_outage_past_the_last_receive_keeps_the_error_on_the_dlq(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink
) -> None:
    from chalicelib import wiring

    forwarder = build_forwarder(wiring.settings(), wiring.dynamodb(), wiring.sqs())
    record = queued_record(client, app_env, {"type": "track", "event": "E", "anonymousId": "a",
                                             "messageId": "out-1"}, receive_count=8)
    sink.faults.fail_next = 4  # every in-process attempt of this invocation
    assert forwarder.forward([record]) == []
    [letter] = dead_letters(app_env)
    assert letter["MessageAttributes"]["StitchStatus"]["StringValue"] == "503"
    assert json.loads(letter["Body"])["events"][0]["message_id"] == "out-1"


def test_a_415_is_handed_back_not_bisected(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink,
    stitch_log: LogLines,
) -> None:
    from chalicelib import wiring

    forwarder = build_forwarder(wiring.settings(), wiring.dynamodb(), wiring.sqs())
    send_events(client, [{"type": "track", "event": "E", "anonymousId": "a",
                          "messageId": f"f-{i}"} for i in range(4)], per_request=2)
    answer = wiring.sqs().receive_message(QueueUrl=app_env["EVENTS_QUEUE_URL"],
                                           MaxNumberOfMessages=10, VisibilityTimeout=60)
    records = [QueueRecord(m["MessageId"], m["Body"]) for m in answer["Messages"]]
    sink.faults.script = ["415"]
    assert forwarder.forward(records) == sorted(r.message_id for r in records)
    assert sink.faults.counts == {"415": 1}
    assert "refused the request format: HTTP 415" in stitch_log.text
    assert dead_letters(app_env) == []


def test_queue_records_carry_the_receive_count_of_the_lambda_event(
    aws: dict[str, str],
) -> None:
    """What app.py's handler passes on: Chalice's SQSRecord.to_dict() of a real event."""
    from chalice.app import SQSEvent

    from chalicelib import wiring
    from local.pumps import lambda_sqs_event

    sqs, url = wiring.sqs(), aws["EVENTS_QUEUE_URL"]
    sqs.send_message(QueueUrl=url, MessageBody='{"v":1}')
    for expected in (1, 2):
        answer = sqs.receive_message(QueueUrl=url, AttributeNames=["All"], VisibilityTimeout=0)
        event = lambda_sqs_event(answer["Messages"], "arn:aws:sqs:us-east-1:1:q", "us-east-1")
        [record] = [QueueRecord.from_lambda(r.to_dict()) for r in SQSEvent(event, None)]
        assert (record.body, record.receive_count) == ('{"v":1}', expected)
        assert record.message_id == answer["Messages"][0]["MessageId"]
