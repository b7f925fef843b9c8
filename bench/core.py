"""Shared benchmark machinery: figures, timing, AWS call counting, fresh-process imports."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Figure:
    """One row of the table. `value` is the figure; `goal` the target, in the same unit."""

    area: str  # app, links, messaging, edge, journeys, events
    name: str
    value: float
    unit: str  # "ratio", "calls", "bytes", "ms", "requests"
    goal: str = ""
    baseline: str = ""

    def row(self) -> list[str]:
        shown = f"{self.value:.2f}" if self.unit in ("ratio", "ms") else f"{self.value:g}"
        return [self.area, self.name, f"{shown} {self.unit}", self.goal, self.baseline]


def median_seconds(run: Callable[[], Any], repeat: int = 50, warmup: int = 5) -> float:
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def fresh_import_seconds(
    statement: str, runs: int = 11, env: dict[str, str] | None = None
) -> float:
    """Median wall time of `statement` in `runs` fresh interpreters (imports only)."""
    code = (
        "import time,sys; t=time.perf_counter(); "
        f"{statement}; "
        "sys.stdout.write(repr(time.perf_counter()-t))"
    )
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        samples.append(float(out.stdout.strip()))
    return statistics.median(samples)


@contextmanager
def count_aws_calls(client: Any) -> Iterator[Counter[str]]:
    """Count API calls a botocore client makes (one per operation, retries excluded)."""
    counts: Counter[str] = Counter()

    def record(model: Any, **_: Any) -> None:
        counts[f"{client.meta.service_model.service_name}.{model.name}"] += 1

    event = f"before-call.{client.meta.service_model.service_id.hyphenize()}"
    client.meta.events.register(event, record)
    try:
        yield counts
    finally:
        client.meta.events.unregister(event, record)


def table(figures: list[Figure]) -> str:
    header = ["area", "figure", "value", "goal", "baseline (same run)"]
    rows = [header] + [f.row() for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


@contextmanager
def emulated_aws(extra_env: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
    """moto in-process with linktrail's resources; yields the app's environment."""
    from moto import mock_aws

    credentials = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }
    with mock_aws(), provisioned_app({**credentials, **(extra_env or {})}) as env:
        yield env


@contextmanager
def provisioned_app(overrides: dict[str, str]) -> Iterator[dict[str, str]]:
    """The local stage's environment with `overrides` (credentials, an endpoint), and
    linktrail's resources created against it (from infra/data.yaml, as `make dev` creates
    them); yields the app's environment and restores os.environ afterwards."""
    import os

    from chalicelib import wiring
    from local import bootstrap

    saved = dict(os.environ)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update({"STAGE": "local", "LOG_JSON": "false", **overrides})
    try:
        env = bootstrap.provision(log=lambda _line: None)
        os.environ.update(env)
        wiring.reset()
        wiring.settings()  # read now, not inside a test-client request
        yield env
    finally:
        os.environ.clear()
        os.environ.update(saved)
        wiring.reset()
