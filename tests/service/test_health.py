"""/healthz: the app's own checks in every stage; the components `make dev` supervises come
from the local stack (local/routes.py), never from the Lambda package."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from chalicelib import wiring
from chalicelib.system import api as system_api
from chalicelib.system import health
from local import routes


def write_status(path: Path, written_at: float) -> None:
    components = {
        "emulator": {"state": "up", "url": "http://127.0.0.1:4566", "role": "AWS emulator"},
        "pumps": {"state": "down", "url": "http://127.0.0.1:8002", "role": "queue pumps",
                  "detail": "exited"},
    }
    path.write_text(json.dumps({"written_at": written_at, "components": components}))


@pytest.fixture
def status_file(aws: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "status.json"
    monkeypatch.setenv("LOCAL_STATUS_FILE", str(path))
    wiring.reset()
    return path


def local_report() -> tuple[bool, dict]:
    return health.report(wiring.settings(), wiring.dynamodb(), [routes.supervised_components])


def test_the_app_alone_reports_its_table(client, status_file: Path) -> None:
    write_status(status_file, time.time())
    answer = client.http.get("/healthz")
    body = json.loads(answer.body)
    assert answer.status_code == 200, body
    assert list(body["components"]) == ["dynamodb"]  # the status file is the stack's to read
    assert body["components"]["dynamodb"]["state"] == "up"
    assert system_api.component_sources == []


def test_supervised_components_are_listed_with_url_and_role(status_file: Path) -> None:
    write_status(status_file, time.time())
    healthy, body = local_report()
    components = body["components"]
    assert set(components) == {"dynamodb", "emulator", "pumps"}
    assert components["emulator"] == {
        "state": "up", "url": "http://127.0.0.1:4566", "role": "AWS emulator"
    }
    assert components["pumps"]["detail"] == "exited"
    assert not healthy and body["status"] == "degraded"  # one component is down


def test_a_stale_status_file_means_the_supervisor_is_down(status_file: Path) -> None:
    write_status(status_file, time.time() - 60)
    healthy, body = local_report()
    assert not healthy
    assert body["components"]["supervisor"]["state"] == "down"
    detail = body["components"]["supervisor"]["detail"]
    assert re.fullmatch(r"status is \d+s old", detail) and int(detail.split()[2][:-1]) >= 60


def test_a_missing_status_file_means_the_supervisor_is_down(status_file: Path) -> None:
    healthy, body = local_report()
    assert not healthy
    assert body["components"]["supervisor"] == {"state": "down", "detail": "no status file"}


def test_an_app_server_without_a_supervisor_reports_the_app_alone(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOCAL_STATUS_FILE", raising=False)
    wiring.reset()
    healthy, body = local_report()
    assert healthy and list(body["components"]) == ["dynamodb"]
