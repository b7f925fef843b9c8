"""The real local stack, started through `make dev`'s entry point (`python -m local`) on
free ports with its own state directory, and plain HTTP to it as curl would send it."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3

from tests.support.paths import ROOT


class LocalStack:
    """A running `python -m local` on free ports, with its own state directory."""

    def __init__(self, process: Any, ports: dict[str, int], state_dir: Any, log_path: Any) -> None:
        self.process = process
        self.ports = ports
        self.state_dir = state_dir
        self.log_path = log_path
        self.app_url = f"http://127.0.0.1:{ports['app']}"
        self.short_url = f"http://127.0.0.1:{ports['short']}"
        self.endpoint = f"http://127.0.0.1:{ports['emulator']}"
        self.env: dict[str, str] = json.loads((state_dir / "env.json").read_text())
        self.admin_key = (state_dir / "admin-key").read_text().strip()

    def boto3_client(self, service: str) -> Any:
        return boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1"
        ).client(service, endpoint_url=self.endpoint)

    def log(self) -> str:
        return str(self.log_path.read_text(errors="replace"))


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def start_local_stack(state_dir: Any, extra_args: list[str] | None = None) -> LocalStack:
    names = ["app", "short", "emulator", "vonage", "stitch", "pumps"]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    args = [sys.executable, "-m", "local", "--state-dir", str(state_dir)]
    for name, port in ports.items():
        args += [f"--{name}-port", str(port)]
    log_path = Path(state_dir) / "stack.log"
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        args + (extra_args or []),
        cwd=ROOT,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    last = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"local stack exited with {process.returncode}:\n{log_path.read_text()}"
            )
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{ports['app']}/healthz", timeout=2
            ) as answer:
                body = json.loads(answer.read())
                if body.get("status") == "ok":
                    return LocalStack(process, ports, Path(state_dir), log_path)
                last = str(body)
        except Exception as error:
            last = repr(error)
        time.sleep(0.5)
    stop_local_stack(process)
    raise RuntimeError(f"local stack not healthy in 120s ({last}):\n{log_path.read_text()}")


def stop_local_stack(process: Any) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def http(
    method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def api_call(
    method: str, url: str, key: str, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    """A JSON call with the admin key; the answer's JSON (None when empty)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            raw = answer.read()
            return answer.status, dict(answer.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, dict(error.headers), json.loads(raw) if raw else None


def redirect_of(stack: LocalStack, code: str) -> str | None:
    """The redirect the stack's bucket holds for `code`, if any."""
    s3 = stack.boto3_client("s3")
    try:
        return str(
            s3.head_object(Bucket=stack.env["REDIRECT_BUCKET"], Key=code)["WebsiteRedirectLocation"]
        )
    except s3.exceptions.ClientError:
        return None


def warehouse_counts(stack: Any, prefix: str) -> tuple[int, int]:
    """(distinct message_ids, rows) of this test's events in the sink's warehouse."""
    db = Path(stack.env["STITCH_SINK_DB"])
    if not db.exists():
        return 0, 0
    connection = sqlite3.connect(db, timeout=10)
    try:
        distinct, total = connection.execute(
            "SELECT count(DISTINCT message_id), count(*) FROM events WHERE message_id LIKE ?",
            (f"{prefix}%",),
        ).fetchone()
        return int(distinct), int(total)
    except sqlite3.OperationalError:
        return 0, 0  # the table appears with the first batch
    finally:
        connection.close()
