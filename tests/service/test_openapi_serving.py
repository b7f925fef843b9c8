"""GET /openapi.json and /docs as the app serves them: without a key, the document as
assembled, and Swagger UI's files from this origin under a strict Content-Security-Policy
(only the files /docs names)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.contract import docs
from chalicelib.contract.document import document


def test_openapi_json_is_served_without_a_key(client: Any) -> None:
    answer = client.http.get("/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert json.loads(answer.body) == json.loads(json.dumps(document()))


def test_docs_serves_its_page_and_files_under_the_policy(client: Any) -> None:
    page = client.http.get("/docs")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "http" not in policy
    html = page.body.decode()
    assert "<script>" not in html and "style=" not in html
    for name in (*docs.VENDORED, "docs.js", "docs.css"):
        assert f'"docs/{name}"' in html
        answer = client.http.get(f"/docs/{name}")
        assert answer.status_code == 200, name
        assert answer.headers["Content-Security-Policy"] == policy


def test_docs_serves_nothing_it_does_not_name(client: Any) -> None:
    for name in ("index.html", "swagger-initializer.js", "..%2Fapi.py", "docs.py"):
        answer = client.http.get(f"/docs/{name}")
        assert answer.status_code == 404, name
        assert answer.headers["Content-Type"] == "application/problem+json"
