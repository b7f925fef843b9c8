"""Time in one format: timezone-aware UTC, ISO 8601 with a Z on the wire; and the Clock
a service is handed where it needs the time (tests hand in one they move)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

# What a service that needs time is handed: `now` in production, a test's frozen clock.
Clock = Callable[[], datetime]


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """2026-11-23T16:05:00.123Z (milliseconds, always UTC)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def epoch_now(clock: Clock = now) -> int:
    """The clock's time in whole epoch seconds (TTLs, delays, Retry-After)."""
    return int(clock().timestamp())
