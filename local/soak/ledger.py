"""What the soak's clients asked for and what the stack told them, kept under one lock.

An outcome is either acknowledged (the stack answered with success) or unsure (the
request went out but no answer came: reset while the app was down, a timeout). An unsure
click may or may not have counted; an unsure event may or may not be in the warehouse. The
invariants allow exactly that much slack and no more."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field

Who = str  # "human" or "bot"


@dataclass
class Ledger:
    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)  # (route, kind)
    sent: int = 0  # requests sent, retries included
    clicks: Counter[tuple[str, Who]] = field(default_factory=Counter)
    clicks_unsure: Counter[tuple[str, Who]] = field(default_factory=Counter)
    ended_clicks: Counter[str] = field(default_factory=Counter)  # answered 410: ended
    links: list[str] = field(default_factory=list)  # every code the stack answered with
    recipients: dict[str, str] = field(default_factory=dict)  # texted code -> number
    hooked: set[str] = field(default_factory=set)  # codes created with a click webhook
    campaigns: dict[str, int] = field(default_factory=dict)  # campaign id -> recipients
    events: set[str] = field(default_factory=set)
    events_unsure: set[str] = field(default_factory=set)
    pings: set[str] = field(default_factory=set)
    pings_unsure: set[str] = field(default_factory=set)
    resends: Counter[str] = field(default_factory=Counter)  # code -> resends asked
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self, route: str, seconds: float) -> None:
        with self.lock:
            self.latencies[route].append(seconds)

    def failed(self, route: str, kind: str) -> None:
        with self.lock:
            self.errors[(route, kind)] += 1

    def sending(self) -> int:
        """Counts one request about to go out; the total so far."""
        with self.lock:
            self.sent += 1
            return self.sent

    def known_links(self) -> list[str]:
        with self.lock:
            return list(self.links)
