"""The OpenAPI description of the operators' dashboard page and its files."""

from __future__ import annotations

from chalicelib.core import contract as oa
from chalicelib.core.contract import Paths
from chalicelib.dashboard import assets


def paths() -> Paths:
    return oa.static_pages(
        "/dashboard", "dashboard",
        "The dashboard (signs in with an API key kept in the tab)",
        "One of the dashboard's scripts and styles",
        assets.FILES.media_types(),
    )
