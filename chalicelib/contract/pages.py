"""The contract's own routes: the document, and /docs, Swagger UI rendering it."""

from __future__ import annotations

from chalicelib.contract import docs
from chalicelib.core import contract as oa
from chalicelib.core.contract import Paths


def paths() -> Paths:
    return {
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document (OpenAPI 3.1)",
                "security": [],
                "responses": {"200": oa.json_answer("The document.", {"type": "object"}),
                              **oa.problems()},
            },
        },
        **oa.static_pages("/docs", "docs", "This document for people (Swagger UI)",
                          "One of /docs' scripts and styles", docs.FILES.media_types()),
    }
