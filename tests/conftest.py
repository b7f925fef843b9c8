"""Shared fixtures: an in-process AWS emulator (moto) with linktrail's real resources,
created from infra/data.yaml exactly as the local stack creates them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

# Before anything imports boto3 or app.py: never reach a real AWS account from tests.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SECURITY_TOKEN="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_ACCOUNT_ID_ENDPOINT_MODE="disabled",
    STAGE="local",
    LOG_JSON="false",
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)


def restore_env(saved: dict[str, str | None]) -> None:
    """Put back the variables a fixture changed, and forget settings read from them."""
    from chalicelib import wiring

    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    wiring.reset()


@pytest.fixture
def aws() -> Iterator[dict[str, str]]:
    """moto in-process with linktrail's resources; yields the app's environment."""
    from moto import mock_aws

    from chalicelib import wiring
    from local import bootstrap

    with mock_aws():
        env = bootstrap.provision(log=lambda _message: None)
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        wiring.reset()
        try:
            yield env
        finally:
            restore_env(saved)


@pytest.fixture
def admin_key(aws: dict[str, str]) -> str:
    from chalicelib import wiring

    return wiring.key_store().create("tests").token


@pytest.fixture
def client(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """chalice.test.Client over the real app, backed by the emulator."""
    import functools
    import json
    from pathlib import Path

    import chalice.test
    from chalice.local import LambdaContext
    from chalice.test import Client

    from app import app

    # chalice.test invokes handlers with a 3 s context whatever lambda_timeout says; give
    # them the time our Lambdas really have, as workers plan their work by it.
    config = json.loads((Path(__file__).parent.parent / ".chalice" / "config.json").read_text())
    timeout_ms = int(config["lambda_timeout"]) * 1000
    monkeypatch.setattr(
        chalice.test, "LambdaContext", functools.partial(LambdaContext, max_runtime_ms=timeout_ms)
    )

    # A stage with no environment of its own: Client(app) would apply the `dev` stage's
    # variables (STAGE=dev) during each request.
    with Client(app, stage_name="test") as test_client:
        yield test_client


@pytest.fixture
def auth_headers(admin_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_key}", "Content-Type": "application/json"}


# --- texting: the local fake Messages API, and the app's environment pointed at it ------


def set_env(**values: str) -> None:
    """Change the app's environment. Settings are read now: chalice.test.Client swaps in
    its stage's variables during a request, so they must not be read first there."""
    from chalicelib import wiring

    os.environ.update(values)
    wiring.reset()
    wiring.settings()


@pytest.fixture(scope="session")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    """One fake Messages API (TLS, own keys) for the session; receipts are kept, not
    posted (the app runs in process): tests replay them through the test client."""
    from local import vonage_fake

    with vonage_fake.running(
        tmp_path_factory.mktemp("vonage"), post_receipts=False, delivered_after=0.0
    ) as running:
        yield running


@pytest.fixture
def texting(aws: dict[str, str], fake: tuple[Any, dict[str, str]]) -> Iterator[Any]:
    """The app's environment pointed at the fake, exactly as the local stack does it."""
    from chalicelib.messaging import vonage as vonage_client

    running, env = fake
    running.api.planned.clear()
    running.api.requests.clear()
    running.api.outbox.clear()
    running.api.receipts.clear()
    extra = {**env, "SMS_DAILY_QUOTA": "1000", "SMS_ALLOWED_COUNTRIES": ""}
    saved = {k: os.environ.get(k) for k in extra}
    set_env(**extra)
    vonage_client.reset()
    try:
        yield running
    finally:
        restore_env(saved)
        vonage_client.reset()


# --- the real local stack, started through make dev's entry point --------------------


class LocalStack:
    """A running `python -m local` on free ports, with its own state directory."""

    def __init__(self, process: Any, ports: dict[str, int], state_dir: Any, log_path: Any) -> None:
        import json

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
        import boto3

        return boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1"
        ).client(service, endpoint_url=self.endpoint)

    def log(self) -> str:
        return str(self.log_path.read_text(errors="replace"))


def free_ports(count: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def start_local_stack(state_dir: Any, extra_args: list[str] | None = None) -> LocalStack:
    import json
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

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
        cwd=Path(__file__).resolve().parent.parent,
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
    import signal
    import subprocess

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The whole system as `make dev` runs it (same entry point), on free ports."""
    stack = start_local_stack(tmp_path_factory.mktemp("local-stack"))
    try:
        yield stack
    finally:
        stop_local_stack(stack.process)
