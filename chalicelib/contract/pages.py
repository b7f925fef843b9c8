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
        "/docs": {
            "get": {
                "operationId": "docsPage",
                "summary": "This document for people (Swagger UI)",
                "security": [],
                "responses": {"200": oa.html_page("The page."), **oa.problems()},
            },
        },
        "/docs/{asset}": {
            "get": {
                "operationId": "docsAsset",
                "summary": "One of /docs' scripts and styles",
                "security": [],
                "parameters": [oa.path_parameter("asset", {"type": "string"})],
                "responses": {
                    "200": {"description": "The file.", "content": {
                        media: {"schema": {"type": "string"}}
                        for media in sorted(set(docs.MEDIA_TYPES.values()))}},
                    **oa.problems(404),
                },
            },
        },
    }
