"""Shared fixtures: an in-process AWS emulator (moto) with linktrail's real resources,
created from infra/data.yaml exactly as the local stack creates them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import botocore.loaders
import botocore.session
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

_loaders: dict[str, botocore.loaders.Loader] = {}


def _shared_data_loader(session: botocore.session.Session) -> None:
    """Every botocore session of the test process shares one loader per data path. Each
    test gets fresh sessions (moto, wiring.reset()), and each new session's loader parses
    the service models and endpoints JSON again: ~2 s per test on a busy 2-core machine,
    most of the suite's setup time. The files are the same for the whole run."""

    def loader() -> botocore.loaders.Loader:
        path = session.get_config_variable("data_path")
        if path not in _loaders:
            _loaders[path] = botocore.loaders.create_loader(path)
        return _loaders[path]

    session._components.lazy_register_component("data_loader", loader)


botocore.session.Session._register_data_loader = _shared_data_loader  # type: ignore[method-assign]

# After the variables: these import the app's modules.
from tests.support.env import restore_env, set_env  # noqa: E402
from tests.support.paths import ROOT  # noqa: E402
from tests.support.stack import LocalStack, start_local_stack, stop_local_stack  # noqa: E402


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

    import chalice.test
    from chalice.local import LambdaContext
    from chalice.test import Client

    from app import app

    # chalice.test invokes handlers with a 3 s context whatever lambda_timeout says; give
    # them the time our Lambdas really have, as workers plan their work by it.
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
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


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The whole system as `make dev` runs it (same entry point), on free ports."""
    stack = start_local_stack(tmp_path_factory.mktemp("local-stack"))
    try:
        yield stack
    finally:
        stop_local_stack(stack.process)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under `pytest -n N --dist loadgroup`, every stack test runs on one worker, so one
    local stack serves them all (the fixture is per session, and each worker is one). A
    stack test that starts its own stack names its own group."""
    for item in items:
        own_group = item.get_closest_marker("xdist_group") is not None
        if item.get_closest_marker("stack") is not None and not own_group:
            item.add_marker(pytest.mark.xdist_group("stack"))
