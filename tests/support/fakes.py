"""Fakes with real behaviour: they record what happened and answer as the real thing does."""

from __future__ import annotations

from typing import Any

PLENTY_MS = 60_000
# Below every worker's safety margin (the sweeper's 10 s, the campaign worker's 15 s).
TOO_LITTLE_MS = 1_000


class FakeLambdaContext:
    """Lambda's context: plenty of time for the first `calls` questions, then too little."""

    def __init__(self, calls: int) -> None:
        self.calls = calls

    def get_remaining_time_in_millis(self) -> int:
        self.calls -= 1
        return PLENTY_MS if self.calls >= 0 else TOO_LITTLE_MS


class FakeMessenger:
    """campaigns.Messenger's two methods: programmed refusals and failures, records sends."""

    def __init__(self, refuse: Any = None, fail_sends: int = 0) -> None:
        self.refuse = refuse  # a Problem raised by parse_order for every recipient
        self.fail_sends = fail_sends  # the first n sends raise (a bug in the send path)
        self.sent: list[str] = []

    def parse_order(self, sms: dict[str, Any], key_id: str) -> Any:
        if self.refuse is not None:
            raise self.refuse
        return sms

    def send_for_link(self, order: Any, code: str, short_url: str) -> dict[str, Any]:
        if self.fail_sends:
            self.fail_sends -= 1
            raise KeyError("status")
        self.sent.append(code)
        return {"status": "accepted"}
