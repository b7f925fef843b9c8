"""Debian chromium for the browser tests, launched through Playwright the one way they all
share, and the ordinary desktop user agent they browse with (headless Chromium's own says
HeadlessChrome, which linktrail counts as a bot)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Debian chromium, closed on the way out."""
    if not os.access(CHROMIUM, os.X_OK):
        raise AssertionError(
            f"Debian chromium is required at {CHROMIUM} for the browser tests: "
            "run `make browser` (apt-get install -y chromium)."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
