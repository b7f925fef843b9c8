"""Health: the app's own checks (its table answers), plus whatever other component
sources the process running the app adds (the local stack adds the components it
supervises)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from chalicelib.core.settings import Settings

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient


class Component(TypedDict):
    """One component's state as /healthz shows it."""

    state: str  # "up" or "down"
    detail: NotRequired[str]
    ms: NotRequired[float]
    url: NotRequired[str]
    role: NotRequired[str]


ComponentSource = Callable[[], Mapping[str, Component]]


def report(
    settings: Settings, dynamodb: DynamoDBClient, sources: Iterable[ComponentSource] = ()
) -> tuple[bool, dict[str, Any]]:
    """(healthy, body): healthy when every component is up."""
    components: dict[str, Component] = {"dynamodb": table_state(settings, dynamodb)}
    for source in sources:
        components.update(source())
    healthy = all(c["state"] == "up" for c in components.values())
    return healthy, {
        "status": "ok" if healthy else "degraded",
        "stage": settings.stage,
        "components": components,
    }


def table_state(settings: Settings, dynamodb: DynamoDBClient) -> Component:
    started = time.perf_counter()
    try:
        dynamodb.describe_table(TableName=settings.links_table)
        state: Component = {"state": "up"}
    except Exception as error:  # health answers, never raises
        state = {"state": "down", "detail": type(error).__name__}
    state["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return state
