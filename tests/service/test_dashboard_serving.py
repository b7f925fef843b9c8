"""The dashboard as the app serves it: the page and every file it loads, under a strict
Content-Security-Policy, revalidated by ETag, within the first-load weight budget, and
only the files the dashboard names."""

from __future__ import annotations

import gzip
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from chalicelib.dashboard import assets

BUDGET_BYTES = 150 * 1024  # JavaScript and CSS, gzipped, on first load


class PageParts(HTMLParser):
    """The scripts and styles a page names, and whether any script or style is inline."""

    def __init__(self) -> None:
        super().__init__()
        self.files: list[str] = []
        self.inline: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.files.append(str(found["src"]))
        elif tag == "link" and found.get("rel") == "stylesheet":
            self.files.append(str(found["href"]))
        elif tag in ("script", "style"):
            self._in = tag
        if "style" in found or any(name.startswith("on") for name in found):
            self.inline.append(tag)

    def handle_data(self, data: str) -> None:
        if self._in and data.strip():
            self.inline.append(self._in)

    def handle_endtag(self, tag: str) -> None:
        self._in = None


def get(client: Any, path: str, **headers: str) -> Any:
    return client.http.get(path, headers=headers)


def first_load(client: Any) -> dict[str, bytes]:
    """Every file the page loads before it can draw: those it names, and every module
    those import, followed to the end."""
    page = get(client, "/dashboard")
    parts = PageParts()
    parts.feed(page.body.decode())
    loaded = {"dashboard.html": page.body}
    waiting = [name.removeprefix("dashboard/") for name in parts.files]
    while waiting:
        name = waiting.pop()
        if name in loaded:
            continue
        answer = get(client, f"/dashboard/{name}")
        assert answer.status_code == 200, name
        loaded[name] = answer.body
        if name.endswith(".js"):
            waiting += re.findall(r"""(?:^|\s)(?:import|export)[^'"]*?from\s*["']\./([^"']+)["']""",
                                  answer.body.decode(), flags=re.M)
    return loaded


def test_the_page_has_a_strict_policy_and_no_inline_code(client: Any) -> None:
    page = get(client, "/dashboard")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    parts = PageParts()
    parts.feed(page.body.decode())
    assert parts.inline == []
    assert all(not re.match(r"^(https?:)?//", name) for name in parts.files)  # no CDN


def test_first_load_fits_the_budget_and_loads_every_module(client: Any) -> None:
    loaded = first_load(client)
    scripts_and_styles = {n: b for n, b in loaded.items() if n.endswith((".js", ".css"))}
    assert {"app.js", "preact-htm.js", "uplot.js", "uplot.css", "overview.js"} <= set(loaded)
    weight = sum(len(gzip.compress(body, 9)) for body in scripts_and_styles.values())
    assert weight <= BUDGET_BYTES, f"{weight} bytes gzipped"
    # Every file the dashboard serves is reached from the page: nothing is dead weight.
    assert set(loaded) == set(assets.FILES.names()), set(assets.names()) ^ set(loaded)


@pytest.mark.parametrize(("name", "media_type"), [
    ("app.js", "text/javascript"), ("dashboard.css", "text/css"),
    ("preact-htm.js", "text/javascript"), ("uplot.css", "text/css"),
])
def test_files_have_their_media_type_and_revalidate(client: Any, name: str,
                                                     media_type: str) -> None:
    answer = get(client, f"/dashboard/{name}")
    assert answer.headers["Content-Type"].startswith(media_type)
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    etag = answer.headers["ETag"]
    again = get(client, f"/dashboard/{name}", **{"If-None-Match": etag})
    assert again.status_code == 304 and again.body == b""
    changed = get(client, f"/dashboard/{name}", **{"If-None-Match": '"other"'})
    assert changed.status_code == 200 and changed.body == answer.body


@pytest.mark.parametrize("name", ["nope.js", "..%2Fapi.py", "api.py", "__init__.py", ".copied"])
def test_only_the_dashboard_s_files_are_served(client: Any, name: str) -> None:
    answer = get(client, f"/dashboard/{name}")
    assert answer.status_code == 404
    assert answer.headers["Content-Type"] == "application/problem+json"
