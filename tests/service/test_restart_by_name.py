"""The supervisor restarts a component by name on request: its process group is killed
(SIGKILL, as a crash), the same command starts again, and it is healthy before the
restart is counted."""

from __future__ import annotations

import io
import os
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.stack import Component, Ports, Stack, control_dir, request_restart, restarts_done
from tests.support.stack import free_ports


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    supervisor = Stack(Ports(), tmp_path, out=io.StringIO())
    yield supervisor
    supervisor.stop()


def test_a_component_restarted_by_name_is_a_new_process_and_healthy(
    stack: Stack, tmp_path: Path
) -> None:
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}/"
    web = Component(
        "web",
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        url,
        url,
        env=dict(os.environ),
    )
    stack._spawn(web, "36")
    stack._wait_healthy(web, timeout=20)
    assert web.process is not None
    before = web.process.pid
    stack.watch_in_background()

    took = request_restart(tmp_path, "web", timeout=30)

    assert web.process.pid != before
    assert not _alive(before)  # killed, and reaped
    with urllib.request.urlopen(url, timeout=5) as answer:
        assert answer.status == 200
    assert restarts_done(tmp_path) == {"web": 1}
    assert not list(control_dir(tmp_path).glob("restart-*"))  # the request was taken
    assert took < 30
    assert "restart web: healthy again" in stack.out.getvalue()  # type: ignore[attr-defined]


def test_a_restart_of_an_unknown_name_is_refused_and_counted_nowhere(
    stack: Stack, tmp_path: Path
) -> None:
    stack.watch_in_background()
    with pytest.raises(TimeoutError):
        request_restart(tmp_path, "nobody", timeout=2.5)
    assert restarts_done(tmp_path) == {}
    assert "restart nobody: no such component" in stack.out.getvalue()  # type: ignore[attr-defined]
