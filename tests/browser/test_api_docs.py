"""/docs in Debian chromium, through `make dev`'s entry point: Swagger UI from this origin
renders /openapi.json's operations under the page's strict Content-Security-Policy, with
no script error and no CSP refusal."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.browser import chromium
from tests.support.dashboard import open_page

pytestmark = [pytest.mark.browser, pytest.mark.stack]


def test_docs_lists_the_operations_with_no_error(local_stack: Any) -> None:
    with chromium() as browser:
        watched = open_page(browser)
        page = watched.page
        page.goto(f"{local_stack.app_url}/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=20_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert len(paths) >= 30
        assert any("/api/links" in path for path in paths)
        assert page.locator(".info .title").inner_text().startswith("linktrail")
        assert all(url.startswith(local_stack.app_url) for url in watched.urls
                   if url.startswith("http")), "only this origin"
        assert watched.errors == []
