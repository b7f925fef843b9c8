"""DELETE /api/keys/{key_id}: an admin revokes a key, which stops working at once; again is
the same answer; an unknown id is a 404 that writes nothing. Real app on moto."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib import wiring


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def key_items(aws: dict[str, str]) -> list[dict[str, Any]]:
    table = boto3.client("dynamodb").scan(TableName=aws["APP_TABLE"])["Items"]
    return sorted((item for item in table if item["pk"]["S"].startswith("apikey#")), key=str)


def test_a_revoked_key_stops_working_and_is_listed_revoked(client, auth_headers, aws):
    created = wiring.key_store().create("worker", role="read")
    key_id = created.api_key.key_id
    assert client.http.get("/api/links", headers=bearer(created.token)).status_code == 200
    answer = client.http.delete(f"/api/keys/{key_id}", headers=auth_headers)
    assert answer.status_code == 200, answer.body
    revoked = json.loads(answer.body)
    assert revoked["key_id"] == key_id and revoked["name"] == "worker"
    assert revoked["role"] == "read" and revoked["status"] == "revoked"
    assert revoked["revoked_at"] is not None
    assert "key" not in revoked and "webhook_secret" not in revoked and "secret_hash" not in revoked
    assert client.http.get("/api/links", headers=bearer(created.token)).status_code == 401
    listed = json.loads(client.http.get("/api/keys", headers=auth_headers).body)["keys"]
    assert {k["key_id"]: k["status"] for k in listed}[key_id] == "revoked"


def test_revoking_again_answers_the_same(client, auth_headers, aws):
    key_id = wiring.key_store().create("twice", role="read").api_key.key_id
    first = client.http.delete(f"/api/keys/{key_id}", headers=auth_headers)
    second = client.http.delete(f"/api/keys/{key_id}", headers=auth_headers)
    assert first.status_code == second.status_code == 200
    assert json.loads(second.body) == json.loads(first.body)  # the first revoked_at stays


@pytest.mark.parametrize("key_id", ["nosuchkey123", "short", "x" * 3000, "bad%20id%2Fx"])
def test_an_unknown_key_is_a_404_that_writes_nothing(client, auth_headers, aws, key_id):
    before = key_items(aws)
    answer = client.http.delete(f"/api/keys/{key_id}", headers=auth_headers)
    assert answer.status_code == 404, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert key_items(aws) == before


def test_only_an_admin_key_revokes(client, auth_headers, aws):
    store = wiring.key_store()
    target = store.create("target", role="read").api_key.key_id
    writer = store.create("writer", role="links:write").token
    answer = client.http.delete(f"/api/keys/{target}", headers=bearer(writer))
    assert answer.status_code == 403
    assert {k.key_id: k.active for k in store.list()}[target] is True


def test_a_key_cannot_revoke_itself(client, aws):
    store = wiring.key_store()
    admin = store.create("operator", role="admin")
    other = store.create("spare", role="admin")
    own = client.http.delete(f"/api/keys/{admin.api_key.key_id}", headers=bearer(admin.token))
    assert own.status_code == 409, own.body
    assert own.headers["Content-Type"] == "application/problem+json"
    assert "another admin key" in json.loads(own.body)["detail"]
    assert {k.key_id: k.active for k in store.list()}[admin.api_key.key_id] is True
    # Another admin key may revoke it.
    by_other = client.http.delete(f"/api/keys/{admin.api_key.key_id}",
                                  headers=bearer(other.token))
    assert by_other.status_code == 200, by_other.body
