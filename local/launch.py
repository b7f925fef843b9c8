"""The whole local stack as a child process: `python -m local` (make dev's entry point) on
free loopback ports with a state directory of its own, waited on until /healthz is ok.

The stack tests, the contract fuzz and the soak each start one this way."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3

from local.stack import EMULATOR_CREDENTIALS, PROJECT_DIR

COMPONENTS = ("app", "short", "emulator", "vonage", "stitch", "pumps")


class LocalStack:
    """A running `python -m local` on free ports, with its own state directory."""

    def __init__(
        self, process: subprocess.Popen[bytes], ports: dict[str, int], state_dir: Path,
        log_path: Path,
    ) -> None:
        self.process = process
        self.ports = ports
        self.state_dir = state_dir
        self.log_path = log_path
        self.app_url = f"http://127.0.0.1:{ports['app']}"
        self.short_url = f"http://127.0.0.1:{ports['short']}"
        self.endpoint = f"http://127.0.0.1:{ports['emulator']}"
        self.env: dict[str, str] = json.loads((state_dir / "env.json").read_text())
        self.admin_key = (state_dir / "admin-key").read_text().strip()
        self.write_key = (state_dir / "write-key").read_text().strip()

    def url(self, component: str) -> str:
        return f"http://127.0.0.1:{self.ports[component]}"

    def boto3_client(self, service: str) -> Any:
        return boto3.session.Session(
            aws_access_key_id=EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
        ).client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def start_local_stack(
    state_dir: Path | str, extra_args: list[str] | None = None, timeout: float = 120.0
) -> LocalStack:
    """The stack, healthy; or RuntimeError with its log."""
    state_dir = Path(state_dir)
    ports = dict(zip(COMPONENTS, free_ports(len(COMPONENTS)), strict=True))
    args = [sys.executable, "-m", "local", "--state-dir", str(state_dir)]
    for name, port in ports.items():
        args += [f"--{name}-port", str(port)]
    log_path = state_dir / "stack.log"
    state_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            args + (extra_args or []), cwd=PROJECT_DIR, stdout=log_file,
            stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    deadline = time.monotonic() + timeout
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
                    return LocalStack(process, ports, state_dir, log_path)
                last = str(body)
        except Exception as error:
            last = repr(error)
        time.sleep(0.5)
    stop_local_stack(process)
    raise RuntimeError(
        f"local stack not healthy in {timeout:.0f}s ({last}):\n{log_path.read_text()}"
    )


def stop_local_stack(process: subprocess.Popen[bytes]) -> None:
    """SIGINT to the stack's process group (it stops its components), SIGKILL after 20 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
