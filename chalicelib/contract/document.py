"""The OpenAPI 3.1 document of the whole HTTP API, assembled from each feature's part
(chalicelib/<feature>/contract.py). Built on the first GET /openapi.json, never on a
cold start; tests/unit/test_openapi_contract.py fails when it and the routes drift."""

from __future__ import annotations

from functools import cache
from typing import Any

from chalicelib.analytics import contract as analytics
from chalicelib.campaigns import contract as campaigns
from chalicelib.clicks import contract as clicks
from chalicelib.contract import pages
from chalicelib.core import contract as oa
from chalicelib.dashboard import contract as dashboard
from chalicelib.journeys import contract as journeys
from chalicelib.links import contract as links
from chalicelib.messaging import contract as messaging
from chalicelib.sources import contract as sources
from chalicelib.system import contract as system
from chalicelib.system.roles import ROLES
from chalicelib.tracking import contract as tracking

VERSION = "0.1.0"
DESCRIPTION = """Self-hosted link and event tracking on your own AWS account.

Every error is RFC 9457 problem details (`application/problem+json`, the `Problem`
schema; `field` names the part of the request at fault). /api operations need an API key
as a bearer token; each says the role it needs in `x-linktrail-role`. Request bodies are
limited in size (`x-linktrail-max-body-bytes`; 413 beyond) and media type (415)."""

PARTS: tuple[Any, ...] = (
    system, links, messaging, campaigns, analytics, journeys, tracking, sources, dashboard,
    pages,
)  # fmt: skip


@cache
def document() -> dict[str, Any]:
    paths: oa.Paths = {}
    schemas: dict[str, oa.Schema] = {"Problem": oa.problem_schema()}
    for part in PARTS:
        for path, item in part.paths().items():
            paths.setdefault(path, {}).update(item)
        if hasattr(part, "schemas"):
            schemas.update(part.schemas())
    return {
        "openapi": "3.1.0",
        "info": {"title": "linktrail", "version": VERSION, "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "webhooks": clicks.webhooks(),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": oa.security_schemes(ROLES),
        },
    }
