"""The dashboard's first load: its JavaScript and CSS, gzipped (goal <= 150 KB), and the
API calls the overview makes, counted in Debian chromium against the app under Chalice's
local server over in-process moto, with the most of them in flight at once (all of them:
they run in parallel). With campaigns, a second round asks for the statistics of each of
the 5 most recent: one call each, in parallel too (texting is not configured here)."""

from __future__ import annotations

import gzip
import socket
import threading
from typing import Any

from bench.core import Figure, emulated_aws

AREA = "dashboard"
CHROMIUM = "/usr/bin/chromium"


def weights() -> tuple[int, int]:
    """(ours, the libraries'): every file the page loads, gzipped at level 9."""
    from chalicelib.dashboard import assets

    ours = libraries = 0
    for name in assets.FILES.names():
        found = assets.FILES.asset(name)
        if found is None or not name.endswith((".js", ".css")):
            continue
        size = len(gzip.compress(found.body.encode(), 9))
        if name in assets.VENDORED:
            libraries += size
        else:
            ours += size
    return ours, libraries


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def most_in_flight(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


def overview_calls(base: str, key: str) -> tuple[int, int]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
        try:
            page = browser.new_page()
            page.goto(f"{base}/dashboard")
            page.evaluate("key => sessionStorage.setItem('linktrail.apiKey', key)", key)
            page.reload()
            page.wait_for_selector("main h1")
            page.wait_for_function("() => !document.querySelector('main .loading')")
            spans = page.evaluate("""() => performance.getEntriesByType('resource')
                .filter(e => e.name.includes('/api/'))
                .map(e => [e.startTime, e.responseEnd])""")
        finally:
            browser.close()
    return len(spans), most_in_flight([(float(a), float(b)) for a, b in spans])


def quiet_handler() -> Any:
    from chalice import local as chalice_local

    class Quiet(chalice_local.ChaliceRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # the table is the bench's only output

    return Quiet


def figures() -> list[Figure]:
    from chalice import local as chalice_local
    from chalice.config import Config

    from app import app
    from chalicelib import wiring

    ours, libraries = weights()
    with emulated_aws():
        key = wiring.key_store().create("bench", role="admin").token
        port = free_port()
        chalice_local.CustomLocalChalice.__bases__ = (chalice_local.LocalChalice, app.__class__)
        app.__class__ = chalice_local.CustomLocalChalice
        server = chalice_local.LocalDevServer(app, Config.create(chalice_app=app), "127.0.0.1",
                                              port, handler_cls=quiet_handler())  # fmt: skip
        thread = threading.Thread(target=server.server.serve_forever, daemon=True)
        thread.start()
        try:
            calls, parallel = overview_calls(f"http://127.0.0.1:{port}", key)
        finally:
            server.server.shutdown()
    return [
        Figure(AREA, "first load: JavaScript and CSS, gzipped", ours + libraries, "bytes",
               "≤ 153,600", f"ours {ours:,}, libraries {libraries:,}"),
        Figure(AREA, "API calls of the overview (no campaign yet; each recent one adds 1)",
               calls, "calls", "", "at most 5 recent campaigns"),
        Figure(AREA, "the overview's API calls in flight at once, at most", parallel, "calls",
               "", f"of {calls}"),
    ]  # fmt: skip
