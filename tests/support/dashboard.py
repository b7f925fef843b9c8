"""The dashboard in Debian chromium: a signed-in page, axe-core from node_modules, and
screenshots a person can review (README: .local/screenshots/dashboard/)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.paths import ROOT

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / ".local" / "screenshots" / "dashboard"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}
SECTIONS = ("", "links", "campaigns", "journeys", "events", "keys")
SERIOUS = ("serious", "critical")


class Watched:
    """A page with what the browser reported: script errors, CSP refusals, every URL."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.urls: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("console", self._console)
        page.on("request", lambda request: self.urls.append(request.url))

    def _console(self, message: Any) -> None:
        text = message.text
        if message.type == "error" and "Failed to load resource" not in text:
            self.errors.append(text)  # CSP refusals are console errors too


def open_page(browser: Any, viewport: dict[str, int] | None = None, **options: Any) -> Watched:
    context = browser.new_context(viewport=viewport or DESKTOP, accept_downloads=True, **options)
    return Watched(context.new_page())


def sign_in(watched: Watched, app_url: str, key: str) -> None:
    page = watched.page
    page.goto(f"{app_url}/dashboard")
    page.fill("#key", key)
    page.click("form button[type=submit]")
    page.wait_for_selector("nav[aria-label=Sections]")


def go(watched: Watched, app_url: str, section: str) -> None:
    watched.page.goto(f"{app_url}/dashboard#/{section}")
    watched.page.wait_for_selector("main h1")
    wait_until(lambda: watched.page.locator("main .loading").count() == 0, 20)


def axe_violations(watched: Watched) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is. The library is
    evaluated through the DevTools protocol, so the page's CSP stays as it is."""
    page = watched.page
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text() + "\n;undefined")
    found = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in found
        if v["impact"] in SERIOUS
    ]


def screenshot(watched: Watched, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    watched.page.screenshot(path=str(path), full_page=True)
    return path


def wait_until(done: Callable[[], Any], seconds: float = 60, every: float = 0.25) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = done()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def session_key(watched: Watched) -> Any:
    return watched.page.evaluate("() => sessionStorage.getItem('linktrail.apiKey')")


def pretty(value: Any) -> str:
    return json.dumps(value, indent=1)
