"""A site of someone's own on its own origin, as a browser test needs it: two pages that
load @segment/analytics-next from node_modules and send to linktrail (cdnURL the app)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local import segment_demo


@contextmanager
def segment_site(write_key: Callable[[], str], app_url: str) -> Iterator[str]:
    """Serve the pages on 127.0.0.1:<free port>; yields the site's origin. The write key
    is asked for per page: its source names the origin, known only once this serves."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/analytics-next.js"):
                body, headers = segment_demo.script(), segment_demo.SCRIPT_HEADERS
            else:
                title = "second page" if "second" in self.path else "first page"
                body = segment_demo.page(write_key(), app_url, "/analytics-next.js", title=title)
                headers = segment_demo.PAGE_HEADERS
            encoded = body.encode()
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
