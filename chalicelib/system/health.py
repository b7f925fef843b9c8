"""Health: the app's own checks, plus each local component's state under `make dev`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from chalicelib.core.settings import Settings

STALE_AFTER_SECONDS = 10.0


def report(settings: Settings, dynamodb: Any) -> tuple[bool, dict[str, Any]]:
    """(healthy, body). In AWS: configuration and table reachability. Locally: also the
    components `make dev` started, as its supervisor last saw them."""
    components: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        dynamodb.describe_table(TableName=settings.links_table)
        components["dynamodb"] = {"state": "up"}
    except Exception as error:  # health answers, never raises
        components["dynamodb"] = {"state": "down", "detail": type(error).__name__}
    components["dynamodb"]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    if settings.is_local and settings.local_status_file:
        components.update(_local_components(Path(settings.local_status_file)))
    healthy = all(c.get("state") == "up" for c in components.values())
    return healthy, {
        "status": "ok" if healthy else "degraded",
        "stage": settings.stage,
        "components": components,
    }


def _local_components(status_file: Path) -> dict[str, Any]:
    try:
        status = json.loads(status_file.read_text())
    except (OSError, ValueError):
        return {"supervisor": {"state": "down", "detail": "no status file"}}
    age = time.time() - float(status.get("written_at", 0))
    if age > STALE_AFTER_SECONDS:
        return {"supervisor": {"state": "down", "detail": f"status is {age:.0f}s old"}}
    components: dict[str, Any] = status.get("components", {})
    return components
