"""API keys: roles scoped to routes (every /api route of the route table, every role),
keys made with a role over HTTP and the CLI, and checks that cost the same whether or not
the key id exists."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from chalicelib import http, wiring
from chalicelib.system import keys as keys_module
from chalicelib.system.roles import ROLES, Role, covers

FORBIDDEN = "https://linktrail.dev/problems/forbidden"


def api_routes() -> list[tuple[str, str]]:
    """Every (method, path) of the app's route table under /api/."""
    from app import app

    return sorted(
        (method, path)
        for path, methods in app.routes.items()
        if path.startswith("/api/")
        for method in methods
    )


def concrete(path: str) -> str:
    """A route path with each {parameter} filled in with a value that names nothing."""
    return re.sub(r"\{[^}]+\}", "nosuchthing1", path)


def call(client: Any, method: str, path: str, token: str) -> Any:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return client.http.request(method, concrete(path), headers=headers, body=b"{}")


def test_every_api_route_declares_a_role() -> None:
    routes = api_routes()
    assert len(routes) >= 12
    undeclared = [route for route in routes if route not in http.ROUTE_ROLES]
    assert undeclared == []


def test_every_api_route_answers_each_role_as_it_declares(client: Any, aws: dict[str, str]) -> None:
    store = wiring.key_store()
    tokens = {role: store.create(role.replace(":", " "), role=role).token for role in ROLES}
    for method, path in api_routes():
        needed = http.required_role(method, path)
        for role, token in tokens.items():
            answer = call(client, method, path, token)
            denied = answer.status_code == 403 and json.loads(answer.body)["type"] == FORBIDDEN
            assert denied is not covers(role, needed), (method, path, role, answer.body)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("read", {("GET", "/api/links/{code}"), ("GET", "/api/links"), ("GET", "/api/journeys"),
                  ("GET", "/api/campaigns"), ("GET", "/api/campaigns/{campaign_id}"),
                  ("GET", "/api/links/{code}/qr"), ("GET", "/api/analytics"),
                  ("GET", "/api/events/stats")}),
        ("links:write", {("GET", "/api/links/{code}"), ("GET", "/api/links"),
                         ("GET", "/api/journeys"), ("GET", "/api/campaigns"),
                         ("GET", "/api/campaigns/{campaign_id}"),
                         ("GET", "/api/links/{code}/qr"), ("GET", "/api/analytics"),
                         ("GET", "/api/events/stats"),
                         ("POST", "/api/links"), ("PATCH", "/api/links/{code}"),
                         ("DELETE", "/api/links/{code}"), ("POST", "/api/links/{code}/resend"),
                         ("POST", "/api/campaigns")}),
        ("events:erase", {("DELETE", "/api/users/{user_id}")}),
    ],
)
def test_each_role_reaches_exactly_its_routes(role: Role, allowed: set[tuple[str, str]]) -> None:
    reached = {route for route in api_routes() if covers(role, http.required_role(*route))}
    assert reached == allowed
    assert all(covers("admin", http.required_role(*route)) for route in api_routes())


def test_a_second_key_without_admin_cannot_touch_keys_or_erase(
    client: Any, auth_headers: dict[str, str]
) -> None:
    created = client.http.post(
        "/api/links", headers=auth_headers, body=json.dumps({"url": "https://example.com/a"})
    )
    code = json.loads(created.body)["code"]
    writer = wiring.key_store().create("writer", role="links:write").token
    reader = wiring.key_store().create("reader", role="read").token
    for method, path, token in [
        ("PATCH", f"/api/links/{code}", reader),
        ("DELETE", f"/api/links/{code}", reader),
        ("GET", "/api/keys", writer),
        ("POST", "/api/keys", writer),
        ("DELETE", "/api/users/someone", writer),
    ]:
        answer = call(client, method, path, token)
        assert answer.status_code == 403, (method, path)
        problem = json.loads(answer.body)
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert problem["type"] == FORBIDDEN and "required_role" in problem
    assert call(client, "GET", f"/api/links/{code}", reader).status_code == 200


def test_keys_are_created_with_a_role_over_http(
    client: Any, auth_headers: dict[str, str]
) -> None:
    made = client.http.post(
        "/api/keys", headers=auth_headers, body=json.dumps({"name": "dash", "role": "read"})
    )
    assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"
    shown = json.loads(made.body)
    assert shown["role"] == "read" and shown["key"].startswith("lt_")
    assert wiring.key_store().authenticate(f"Bearer {shown['key']}").role == "read"
    listed = json.loads(client.http.get("/api/keys", headers=auth_headers).body)["keys"]
    assert {k["name"]: k["role"] for k in listed} == {"tests": "admin", "dash": "read"}
    for body, field in [({"name": "x"}, "role"), ({"name": "x", "role": "root"}, "role"),
                        ({"role": "read"}, "name")]:
        refused = client.http.post("/api/keys", headers=auth_headers, body=json.dumps(body))
        assert refused.status_code == 400 and json.loads(refused.body)["field"] == field


def test_a_key_stored_without_a_role_is_an_admin_key(client: Any, aws: dict[str, str]) -> None:
    created = wiring.key_store().create("older", role="read")
    boto3.client("dynamodb").update_item(
        TableName=aws["APP_TABLE"],
        Key={"pk": {"S": f"apikey#{created.api_key.key_id}"}, "sk": {"S": "apikey"}},
        UpdateExpression="REMOVE #r",
        ExpressionAttributeNames={"#r": "role"},
    )
    assert wiring.key_store().authenticate(f"Bearer {created.token}").role == "admin"
    headers = {"Authorization": f"Bearer {created.token}"}
    assert client.http.get("/api/keys", headers=headers).status_code == 200


def counting_checks(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count the SHA-256 hashes and constant-time comparisons a key check does."""
    counts = {"sha256": 0, "compare_digest": 0}
    real_sha256, real_compare = hashlib.sha256, hmac.compare_digest

    def sha256(data: bytes = b"") -> Any:
        counts["sha256"] += 1
        return real_sha256(data)

    def compare_digest(a: Any, b: Any) -> bool:
        counts["compare_digest"] += 1
        return real_compare(a, b)

    monkeypatch.setattr(keys_module.hashlib, "sha256", sha256)
    monkeypatch.setattr(keys_module.hmac, "compare_digest", compare_digest)
    return counts


def test_an_unknown_key_id_costs_the_same_checks_as_a_known_one(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = wiring.key_store()
    token = store.create("known").token
    _, key_id, secret = token.split("_", 2)
    wrong_secret = f"lt_{key_id}_{'x' * 43}"
    unknown_id = f"lt_{'Z' * 12}_{secret}"
    counts = counting_checks(monkeypatch)

    def cost(check: Callable[[], object]) -> dict[str, int]:
        before = dict(counts)
        try:
            check()
        except Exception as refused:
            assert getattr(refused, "status", None) == 401
        return {name: counts[name] - before[name] for name in counts}

    known = cost(lambda: store.authenticate(f"Bearer {token}"))
    assert known == {"sha256": 1, "compare_digest": 1}
    assert cost(lambda: store.authenticate(f"Bearer {wrong_secret}")) == known
    assert cost(lambda: store.authenticate(f"Bearer {unknown_id}")) == known


def test_the_cli_creates_keys_with_a_role_and_lists_it(aws: dict[str, str]) -> None:
    import io

    from cli import main as cli

    out = io.StringIO()
    assert cli.main(["keys", "create", "--name", "eraser", "--role", "events:erase"], out=out) == 0
    created = json.loads(out.getvalue())
    assert created["role"] == "events:erase"
    assert wiring.key_store().authenticate(f"Bearer {created['key']}").role == "events:erase"
    listed = io.StringIO()
    assert cli.main(["keys", "list"], out=listed) == 0
    assert re.search(rf"{created['key_id']}\s+active\s+events:erase\s", listed.getvalue())
    default = io.StringIO()
    assert cli.main(["keys", "create", "--name", "first"], out=default) == 0
    assert json.loads(default.getvalue())["role"] == "admin"
    with pytest.raises(SystemExit) as usage:
        cli.main(["keys", "create", "--name", "x", "--role", "root"], err=io.StringIO())
    assert usage.value.code == 2


def test_with_a_cache_an_unknown_key_id_is_looked_up_as_often_as_a_known_one(
    aws: dict[str, str],
) -> None:
    from chalicelib.system.keys import KeyStore

    dynamodb = boto3.client("dynamodb")
    lookups: list[str] = []
    dynamodb.meta.events.register(
        "before-call.dynamodb.GetItem", lambda params, **_: lookups.append(str(params))
    )
    store = KeyStore(dynamodb, aws["APP_TABLE"], cache_seconds=30.0)
    _, key_id, secret = store.create("cached").token.split("_", 2)
    for token in (f"lt_{key_id}_{'x' * 43}", f"lt_{'Z' * 12}_{secret}"):
        lookups.clear()
        for _ in range(3):
            with pytest.raises(Exception) as refused:
                store.authenticate(f"Bearer {token}")
            assert getattr(refused.value, "status", None) == 401
        assert len(lookups) == 1, token
