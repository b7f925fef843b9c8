"""Whatever an error answer's body (problem details, a gateway's own JSON, nothing at all),
the CLI says the status, its reason phrase and any detail in one line; `python -m cli`
runs the CLI."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cli import PROJECT_DIR
from cli import main as cli

KEY = "lt_AAAAAAAAAAAA_" + "x" * 40

# path -> (status, content type, body) the server answers with
ANSWERS = {
    "/api/links/empty": (500, "text/plain", b""),
    "/api/links/nothing-said": (500, "application/json", b"{}"),
    "/api/links/gateway": (502, "application/json", b'{"message": "Internal server error"}'),
    "/api/links/html": (503, "text/html", b"<html>down</html>"),
    "/api/links/problem": (
        404, "application/problem+json",
        b'{"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no link"}',
    ),
}


class Answering(BaseHTTPRequestHandler):
    def do_DELETE(self) -> None:
        status, content_type, body = ANSWERS[self.path]
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answering)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("code", "line"),
    [
        ("empty", "linktrail: 500 Internal Server Error"),
        ("nothing-said", "linktrail: 500 Internal Server Error"),
        ("gateway", "linktrail: 502 Bad Gateway: Internal server error"),
        ("html", "linktrail: 503 Service Unavailable"),
        ("problem", "linktrail: 404 Not Found: no link"),
    ],
)
def test_an_error_answer_is_one_line_with_its_status_and_reason(
    api_url: str, code: str, line: str
) -> None:
    err = io.StringIO()
    status = cli.main(["--api", api_url, "--key", KEY, "links", "delete", code],
                      out=io.StringIO(), err=err)
    assert status == 1
    assert err.getvalue() == line + "\n"


def test_python_dash_m_cli_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli", "links", "--help"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0 and "create" in result.stdout, result.stderr
