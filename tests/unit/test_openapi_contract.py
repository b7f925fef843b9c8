"""The OpenAPI document holds to the app: every route Chalice has is described with its
methods and nothing else is, each /api operation names the role its route needs, it is
valid OpenAPI 3.1 with valid JSON Schemas, every body states its limits and the problems
its checks answer, and the feature contracts stay off the cold start."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from app import app
from chalicelib.campaigns.model import MAX_BODY_BYTES as CAMPAIGN_BODY_BYTES
from chalicelib.contract.document import document
from chalicelib.core.contract import BODY_LIMIT_EXTENSION, ROLE_EXTENSION
from chalicelib.core.payloads import MAX_JSON_BYTES
from chalicelib.http import ROUTE_ROLES
from chalicelib.tracking.collector import MAX_REQUEST_BYTES
from tests.support.paths import ROOT

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def routes() -> set[tuple[str, str]]:
    return {(method, path) for path, by_method in app.routes.items() for method in by_method}


def test_every_route_is_described_and_nothing_else() -> None:
    described = set(operations(document()))
    assert routes() - described == set(), "routes the document lacks"
    assert described - routes() == set(), "operations the app lacks"


def test_each_api_operation_names_its_routes_role() -> None:
    for (method, path), operation in operations(document()).items():
        if path.startswith("/api/"):
            assert operation.get(ROLE_EXTENSION) == ROUTE_ROLES[(method, path)], (method, path)
            assert operation["security"] == [{"apiKey": []}], (method, path)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
        else:
            assert ROLE_EXTENSION not in operation, (method, path)
            assert {"apiKey": []} not in operation.get("security", []), (method, path)


def test_the_document_is_valid_openapi_3_1_with_valid_schemas() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # openapi_spec_validator picks the 3.1 validator from the version
    for name, schema in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)  # raises SchemaError naming the fault
        assert name
    json.dumps(doc)  # plain values only


def test_the_validator_refuses_a_document_that_breaks_the_schema() -> None:
    broken = json.loads(json.dumps(document()))
    broken["paths"]["/api/links"]["get"]["responses"] = {"200": {"content": {}}}
    with pytest.raises(Exception, match="description"):
        validate(broken)


def test_every_body_states_its_limit_and_the_problems_its_checks_answer() -> None:
    limits = {}
    for key, operation in operations(document()).items():
        body = operation.get("requestBody")
        if body is None:
            continue
        limits[key] = body[BODY_LIMIT_EXTENSION]
        assert {"413", "415"} <= set(operation["responses"]), key
    assert limits[("POST", "/api/links")] == MAX_JSON_BYTES
    assert limits[("POST", "/api/campaigns")] == CAMPAIGN_BODY_BYTES
    assert limits[("POST", "/events")] == MAX_REQUEST_BYTES
    assert limits[("POST", "/v1/{call}")] == MAX_REQUEST_BYTES


def test_every_problem_answer_is_the_shared_problem_schema() -> None:
    for key, operation in operations(document()).items():
        for status, answer in operation["responses"].items():
            if status.startswith(("4", "5")) and "content" in answer:
                media = answer["content"].get("application/problem+json")
                if media is None:  # /healthz' 503 is its JSON report
                    assert key == ("GET", "/healthz"), (key, status)
                    continue
                assert media["schema"] == {"$ref": "#/components/schemas/Problem"}, key


def test_the_signed_click_webhook_is_described() -> None:
    hook = document()["webhooks"]["link.clicked"]["post"]
    assert [p["name"] for p in hook["parameters"]] == ["Linktrail-Signature"]
    assert "HMAC-SHA256" in hook["description"]


def test_the_feature_contracts_stay_off_the_cold_start() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, app; print('\\n'.join(sorted(sys.modules)))"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    assert [name for name in loaded if name.endswith(".contract") or ".contract." in name
            ] == ["chalicelib.contract", "chalicelib.contract.api", "chalicelib.contract.docs"]
    assert "openapi_spec_validator" not in loaded
