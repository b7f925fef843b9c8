"""The edge function's configuration: what the build bakes into edge_config.json
(Lambda@Edge has no environment variables), and the click modes' spellings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODES = ("every", "first")
# The stack parameter's spelling (ClickMode, `make deploy CLICK_MODE=`) -> the build's.
MODE_SPELLINGS = {
    "every": "every",
    "every-click": "every",
    "first": "first",
    "first-click": "first",
}
# A viewer trigger's generated response is at most 40 KB; leave room for its headers.
MAX_GENERATED_BODY = 40 * 1024 - 2048


def mode_named(spelling: str) -> str:
    """Map "every-click" or "every" to "every", likewise first; ValueError lists the choices."""
    try:
        return MODE_SPELLINGS[spelling.strip().lower()]
    except KeyError:
        raise ValueError(
            f"click mode must be one of {', '.join(MODE_SPELLINGS)}, got {spelling!r}"
        ) from None


@dataclass(frozen=True)
class EdgeConfig:
    """What the build bakes into edge_config.json (Lambda@Edge has no env vars)."""

    table: str
    region: str
    mode: str = "every"
    stage: str = ""
    expired_html: str = "<!doctype html><title>Link expired</title><h1>This link has expired</h1>"
    expired_redirect_url: str = ""  # when set, expired links go here instead of a 410 page
    # The app's ALLOWED_DESTINATION_HOSTS: a link written before the operator narrowed it
    # is not sent off the list.
    allowed_destination_hosts: tuple[str, ...] = ()
    time_budget_ms: int = 1500
    connect_timeout_s: float = 1.0
    read_timeout_s: float = 1.0
    max_connections: int = 10
    endpoint_url: str = ""  # never baked; the local short domain and tests only

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if not self.table or not self.region:
            raise ValueError("table and region are required")
        if len(self.expired_html.encode()) > MAX_GENERATED_BODY:
            raise ValueError("expired page is over 38 KB (the 40 KB response limit less headers)")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EdgeConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown edge config keys: {sorted(unknown)}")
        if "allowed_destination_hosts" in values:  # a JSON list in edge_config.json
            hosts = tuple(values["allowed_destination_hosts"])
            values = {**values, "allowed_destination_hosts": hosts}
        return cls(**values)

    @classmethod
    def load(cls, path: Path) -> EdgeConfig:
        return cls.from_dict(json.loads(path.read_text()))
