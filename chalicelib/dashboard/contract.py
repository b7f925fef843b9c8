"""The OpenAPI description of the operators' dashboard page and its files."""

from __future__ import annotations

from chalicelib.core import contract as oa
from chalicelib.core.contract import Paths
from chalicelib.dashboard import assets


def paths() -> Paths:
    revalidated = {"304": {"description": "Unchanged since the ETag in If-None-Match."}}
    etag = oa.header("If-None-Match", {"type": "string"})
    return {
        "/dashboard": {
            "get": {
                "operationId": "dashboardPage",
                "summary": "The dashboard (signs in with an API key kept in the tab)",
                "security": [],
                "parameters": [etag],
                "responses": {"200": oa.html_page("The page."), **revalidated, **oa.problems()},
            },
        },
        "/dashboard/{asset}": {
            "get": {
                "operationId": "dashboardAsset",
                "summary": "One of the dashboard's scripts and styles",
                "security": [],
                "parameters": [oa.path_parameter("asset", {"type": "string"}), etag],
                "responses": {
                    "200": {"description": "The file.", "content": {
                        media: {"schema": {"type": "string"}}
                        for media in sorted(set(assets.MEDIA_TYPES.values()))}},
                    **revalidated,
                    **oa.problems(404),
                },
            },
        },
    }
