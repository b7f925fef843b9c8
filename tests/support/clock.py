"""The one fake clock: a frozen instant the test moves by hand."""

from __future__ import annotations

from datetime import datetime, timedelta


class FakeClock:
    """Callable like the `clock` domain modules take, with `now()` for modules that read a
    `now` function, and `sqs_ms()` in the shape of moto's SQS clock (milliseconds), so
    moto's queues and the app can share one instant."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def now(self) -> datetime:
        return self.at

    def sqs_ms(self) -> float:
        return self.at.timestamp() * 1000

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)
