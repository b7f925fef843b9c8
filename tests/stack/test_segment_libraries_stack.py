"""Segment's own server libraries against the whole local stack (make dev's entry point):
segment-analytics-python (gzip on and off) and @segment/analytics-node (a batch of 500,
run with node) send to /v1 with a write key, and each of their messages is checked as a
row in the local Stitch sink. Refusals are checked there too: a problem each, and none
of their messages ever reaches the warehouse."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from segment.analytics.client import Client
from segment.analytics.request import APIError

from tests.support.paths import ROOT
from tests.support.stack import api_call, http
from tests.support.warehouse import event_row, identity_rows, wait_until, warehouse_rows

pytestmark = pytest.mark.stack

NODE_SENDER = ROOT / "tests" / "support" / "segment_node_batch.js"


def create_source(stack: Any, **body: Any) -> dict[str, Any]:
    status, _, created = api_call("POST", f"{stack.app_url}/api/sources", stack.admin_key,
                                  {"name": f"src-{uuid.uuid4().hex[:8]}", **body})
    assert status == 201, created
    return dict(created)


@pytest.fixture(scope="module")
def server_source(local_stack: Any) -> dict[str, Any]:
    return create_source(local_stack)


def db_of(stack: Any) -> Path:
    return Path(stack.env["STITCH_SINK_DB"])


def rows_of(stack: Any, ids: list[str], seconds: float = 90) -> dict[str, dict[str, Any]]:
    db = db_of(stack)
    wait_until(lambda: all(event_row(db, i) for i in ids), seconds)
    found = {i: event_row(db, i) for i in ids}
    missing = [i for i, row in found.items() if row is None]
    assert not missing, f"not in the warehouse: {missing[:5]}"
    return {i: row for i, row in found.items() if row is not None}


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_segment_python_sends_each_call(
    local_stack: Any, server_source: dict[str, Any], compressed: bool
) -> None:
    prefix = f"py-{'gz' if compressed else 'plain'}-{uuid.uuid4().hex[:8]}-"
    anonymous, user = prefix + "anon", prefix + "user"
    client = Client(server_source["write_key"], host=local_stack.app_url, gzip=compressed,
                    sync_mode=True, max_retries=0)
    client.track(anonymous_id=anonymous, event="Product Viewed", properties={"sku": "A1"},
                 context={"ip": "203.0.113.4", "app": {"name": "shop"}},
                 integrations={"Mixpanel": False}, message_id=prefix + "track")
    client.page(anonymous_id=anonymous, name="Pricing", properties={"path": "/pricing"},
                message_id=prefix + "page")
    client.identify(user_id=user, anonymous_id=anonymous, traits={"plan": "pro"},
                    message_id=prefix + "identify")
    client.group(user_id=user, group_id=prefix + "acme", traits={"name": "Acme"},
                 message_id=prefix + "group")
    client.alias(previous_id=prefix + "old", user_id=user, message_id=prefix + "alias")
    rows = rows_of(local_stack, [prefix + c for c in ("track", "page", "identify", "group",
                                                      "alias")])

    track = rows[prefix + "track"]
    assert (track["type"], track["event"], track["anonymous_id"]) == (
        "track", "Product Viewed", anonymous)
    assert json.loads(track["properties"]) == {"sku": "A1"}
    assert json.loads(track["integrations"]) == {"Mixpanel": False}
    context = json.loads(track["context"])
    assert context["app"] == {"name": "shop"} and "ip" not in context
    assert "203.0.113.4" not in json.dumps(track)
    assert track["library_name"] == "analytics-python"
    assert track["source_id"] == server_source["source_id"]
    assert track["original_timestamp"] and track["sent_at"] and track["timestamp"]
    page = rows[prefix + "page"]
    assert (page["type"], page["name"], page["page_path"]) == ("page", "Pricing", "/pricing")
    identify = rows[prefix + "identify"]
    assert (identify["type"], identify["user_id"]) == ("identify", user)
    assert json.loads(identify["traits"]) == {"plan": "pro"}
    group = rows[prefix + "group"]
    assert (group["group_id"], json.loads(group["traits"])) == (prefix + "acme", {"name": "Acme"})
    alias = rows[prefix + "alias"]
    assert (alias["type"], alias["previous_id"], alias["user_id"]) == (
        "alias", prefix + "old", user)
    # A server source's identify links the anonymous id to the user without a user_hash.
    db = db_of(local_stack)
    wait_until(lambda: bool(identity_rows(db, anonymous)))
    [link] = identity_rows(db, anonymous)
    assert (link["user_id"], link["source_message_id"]) == (user, prefix + "identify")


def test_segment_node_sends_a_batch_of_500(
    local_stack: Any, server_source: dict[str, Any]
) -> None:
    prefix = f"node-{uuid.uuid4().hex[:8]}-"
    sent = subprocess.run(
        ["node", str(NODE_SENDER), local_stack.app_url, server_source["write_key"], prefix,
         "500"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout.strip().splitlines()[-1])["errors"] == []
    ids = [f"{prefix}{i}" for i in range(500)]
    rows = rows_of(local_stack, ids, seconds=120)
    for index, message_id in enumerate(ids):
        row = rows[message_id]
        assert (row["type"], row["event"], row["anonymous_id"]) == (
            "track", "Item Viewed", prefix + "visitor"), row
        assert json.loads(row["properties"]) == {"index": index}
        assert row["library_name"] == "@segment/analytics-node"
        assert row["source_id"] == server_source["source_id"]
        assert "198.51.100.7" not in json.dumps(row)
    total = warehouse_rows(db_of(local_stack),
                           "SELECT count(DISTINCT message_id) AS n FROM events "
                           "WHERE message_id LIKE ?", prefix + "%")
    assert total == [{"n": 500}]


def basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def post(stack: Any, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    status, answered, raw = http("POST", f"{stack.app_url}/v1/batch",
                                 {"Content-Type": "application/json", **headers}, body)
    assert answered.get("Content-Type") == "application/problem+json", (status, raw)
    return status, json.loads(raw)


def batch(message_id: str, size: int = 0) -> bytes:
    message = {"type": "track", "event": "Refused", "anonymousId": "refusals",
               "messageId": message_id, "properties": {"pad": "x" * size}}
    return json.dumps({"batch": [message]}).encode()


def test_refusals_are_problems_and_nothing_reaches_the_warehouse(
    local_stack: Any, server_source: dict[str, Any]
) -> None:
    prefix = f"refused-{uuid.uuid4().hex[:8]}-"
    key = server_source["write_key"]
    revoked = create_source(local_stack)
    assert api_call("DELETE", f"{local_stack.app_url}/api/sources/{revoked['source_id']}",
                    local_stack.admin_key)[0] == 200
    browser = create_source(local_stack, origins=["https://shop.example"])
    limited = create_source(local_stack, rate_limit_per_minute=1)
    gz = {"Content-Encoding": "gzip"}
    cases = [
        ("wrong", batch(prefix + "wrong"), {"Authorization": basic(key[:-3] + "zzz")}, 401),
        ("revoked", batch(prefix + "revoked"), {"Authorization": basic(revoked["write_key"])},
         401),
        ("origin", batch(prefix + "origin"),
         {"Authorization": basic(browser["write_key"]), "Origin": "https://evil.example"}, 403),
        ("oversized", gzip.compress(batch(prefix + "oversized", 600 * 1024)),
         {"Authorization": basic(key), **gz}, 413),
        ("malformed", b"\x1f\x8b\x08\x00broken", {"Authorization": basic(key), **gz}, 400),
    ]
    for name, body, headers, status in cases:
        answered, problem = post(local_stack, body, headers)
        assert (answered, problem["status"]) == (status, status), (name, problem)
    # A rate-limited key: the first event fits its minute, the next is refused.
    ok = http("POST", f"{local_stack.app_url}/v1/batch",
              {"Content-Type": "application/json", "Authorization": basic(limited["write_key"])},
              batch(prefix + "fits"))
    assert ok[0] == 200, ok
    answered, problem = post(local_stack, batch(prefix + "limited"),
                             {"Authorization": basic(limited["write_key"])})
    assert answered == 429 and problem["rate_limit_per_minute"] == 1
    # The Python library raises on a refusal, as it does on any answer but 200.
    client = Client(key[:-3] + "zzz", host=local_stack.app_url, sync_mode=True, max_retries=0)
    with pytest.raises(APIError):
        client.track(anonymous_id="refusals", event="Refused", message_id=prefix + "library")
    # Everything accepted after the refusals arrives; none of the refused ever does.
    rows_of(local_stack, [prefix + "fits"])
    db = db_of(local_stack)
    refused = warehouse_rows(db, "SELECT message_id FROM events WHERE message_id LIKE ? "
                             "AND message_id != ?", prefix + "%", prefix + "fits")
    assert refused == []
