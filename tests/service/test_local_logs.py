"""The local servers' log lines: whatever a client puts in a request line reaches the
console of `make dev` with its control characters escaped, never raw."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice import Chalice
from chalice import local as chalice_local
from chalice.config import Config

from local import stitch_sink
from local.app_server import ProblemRequestHandler
from local.log_lines import printable

# A path that would clear the screen, retitle the terminal, ring its bell and start a
# C1 control sequence; a method carrying an ESC sequence; a CR that would forge a line.
REQUEST_LINES = {
    "escape-codes-in-path": b"GET /a\x1b[2J\x1b[31mred\x1b]0;owned\x07\x9b6n\x7f HTTP/1.1",
    "escape-codes-in-method": b"\x1b[2JGET / HTTP/1.1",
    "carriage-return": b"GET /a\rFORGED 200 HTTP/1.1",
}
RAW_CONTROLS = {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))} - {"\n"}


def send_raw(port: int, request_line: bytes) -> bytes:
    """One request as bytes on a socket, the answer read to the end."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request_line + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def assert_escaped(log: str) -> None:
    assert log.strip(), "the request was logged"
    assert not RAW_CONTROLS & set(log), repr(log)


@pytest.fixture
def app_server() -> Iterator[int]:
    """local/app_server's request handler in front of a one-route app."""
    app = Chalice(app_name="log-lines")

    @app.route("/")
    def index() -> dict[str, Any]:
        return {}

    server = chalice_local.LocalDevServer(
        app, Config(), "127.0.0.1", 0, handler_cls=ProblemRequestHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server.server_address[1]
    finally:
        server.server.shutdown()
        server.server.server_close()


def test_printable_escapes_every_control_and_the_backslash() -> None:
    assert printable("a\x1b[31m\r\n\x00\x7f\x9b\\x1b é") == (
        "a\\x1b[31m\\x0d\\x0a\\x00\\x7f\\x9b\\\\x1b é"
    )


@pytest.mark.parametrize("request_line", REQUEST_LINES.values(), ids=REQUEST_LINES.keys())
def test_the_app_servers_request_log_escapes_control_characters(
    app_server: int, request_line: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    assert send_raw(app_server, request_line).startswith(b"HTTP/1.")
    assert_escaped(capsys.readouterr().out)


def test_the_app_servers_log_shows_the_path_escaped(
    app_server: int, capsys: pytest.CaptureFixture[str]
) -> None:
    send_raw(app_server, REQUEST_LINES["escape-codes-in-path"])
    assert "GET /a\\x1b[2J\\x1b[31mred\\x1b]0;owned\\x07\\x9b6n\\x7f 404" in capsys.readouterr().out


@pytest.mark.parametrize("request_line", REQUEST_LINES.values(), ids=REQUEST_LINES.keys())
def test_the_stitch_sinks_log_escapes_control_characters(
    tmp_path: Path, request_line: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = stitch_sink.serve(0, token="sink-token-0123", db=tmp_path / "warehouse.sqlite3")
    try:
        send_raw(sink.server_address[1], request_line)
    finally:
        sink.shutdown()
        sink.server_close()
    assert_escaped(capsys.readouterr().out)


@pytest.mark.parametrize("request_line", REQUEST_LINES.values(), ids=REQUEST_LINES.keys())
def test_the_vonage_fakes_log_escapes_control_characters(
    fake: tuple[Any, dict[str, str]], request_line: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    running, _ = fake
    with caplog.at_level(logging.DEBUG, logger="vonage-fake"):
        send_raw(int(running.api_host.rsplit(":", 1)[1]), request_line)
    assert_escaped("\n".join(r.getMessage() for r in caplog.records if r.name == "vonage-fake"))
