"""The /api/journeys answer: a range's hops folded into transitions, entry and exit pages
and visitors per day. No per-visitor data leaves this module.

Reads have bounds, so an answer always comes inside API Gateway's 29 s and Lambda's 6 MB:
at most `max_hops` hops are folded into one answer (then "truncated": true).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, TypedDict

from chalicelib.core.problems import BadRequest
from chalicelib.journeys.hops import UNKNOWN_PAGE, DayHop, HopStore
from chalicelib.journeys.inputs import parse_day

MAX_RANGE_DAYS = 31
MAX_FLOW_HOPS = 200_000
TOP_N = 20
Page = tuple[str, str]  # (site host, path); an unknown origin has no host


class DayCount(TypedDict):
    day: str
    visitors: int
    hops: int


class PageCount(TypedDict):
    page: str
    count: int


# "from" is a keyword, hence the functional form.
FlowsAnswer = TypedDict(
    "FlowsAnswer",
    {
        "from": str,
        "to": str,
        "truncated": bool,
        "hops": int,
        "visitors": int,
        "visitors_per_day": list[DayCount],
        "transitions": list[dict[str, Any]],
        "entry_pages": list[PageCount],
        "exit_pages": list[PageCount],
    },
)


def flow_range(params: Mapping[str, str], today: date) -> tuple[date, date]:
    """`from`..`to` (inclusive, at most 31 days; both default to today), or a problem."""
    unknown = sorted(set(params) - {"from", "to"})
    if unknown:
        raise BadRequest(f"Unknown query parameter(s): {', '.join(unknown)}.", field=unknown[0])
    last = parse_day(params.get("to"), "to", today)
    first = parse_day(params.get("from"), "from", last)
    if first > last:
        raise BadRequest("from must not be after to.", field="from")
    days = (last - first).days + 1
    if days > MAX_RANGE_DAYS:
        raise BadRequest(
            f"The range spans {days} days; at most {MAX_RANGE_DAYS} are allowed.", field="to"
        )
    return first, last


@dataclass
class Tally:
    """The counters a range's hops are folded into."""

    transitions: Counter[tuple[Page, Page]] = field(default_factory=Counter)
    entries: Counter[Page] = field(default_factory=Counter)
    exits: Counter[Page] = field(default_factory=Counter)
    per_day: list[DayCount] = field(default_factory=list)
    truncated: bool = False

    def fold_day(self, day: date, hops: Iterable[DayHop], budget: int) -> int:
        """Fold one day's hops (by visitor, then time), at most `budget` of them; return
        how many. Sets `truncated` when hops were left unread."""
        count = visitors = 0
        current: str | None = None
        last_page: Page = ("", "")
        for hop in hops:
            if count >= budget:
                self.truncated = True
                break
            target: Page = (hop.site, hop.to_page)
            source = _source(hop)
            if hop.visitor_id != current:
                if current is not None:
                    self.exits[last_page] += 1
                current = hop.visitor_id
                visitors += 1
                self.entries[source] += 1
            self.transitions[(source, target)] += 1
            last_page = target
            count += 1
        if current is not None:
            self.exits[last_page] += 1
        self.per_day.append({"day": day.isoformat(), "visitors": visitors, "hops": count})
        return count

    def sites(self) -> set[str]:
        sites = {site for site, _ in self.entries | self.exits if site}
        return sites | {site for pair in self.transitions for site, _ in pair if site}


def _source(hop: DayHop) -> Page:
    if hop.from_page is None:
        return ("", UNKNOWN_PAGE)
    return (hop.from_site if hop.from_site is not None else hop.site, hop.from_page)


class Flows:
    """Aggregated flows over the hop store; `today` decides the default range."""

    def __init__(
        self, hops: HopStore, today: Callable[[], date], max_hops: int = MAX_FLOW_HOPS
    ) -> None:
        self._hops = hops
        self._today = today
        self._max_hops = max_hops

    def answer(self, params: Mapping[str, str]) -> FlowsAnswer:
        first, last = flow_range(params, self._today())
        tally = self._tally(first, (last - first).days + 1)
        label = _labeller(tally.sites())
        return {
            "from": first.isoformat(),
            "to": last.isoformat(),
            # Over the bound: the days after it are left out (a narrower range answers them).
            "truncated": tally.truncated,
            "hops": sum(d["hops"] for d in tally.per_day),
            "visitors": sum(d["visitors"] for d in tally.per_day),
            "visitors_per_day": tally.per_day,
            "transitions": [
                {"from": label(source), "to": label(target), "count": count}
                for (source, target), count in _top(tally.transitions)
            ],
            "entry_pages": [{"page": label(p), "count": n} for p, n in _top(tally.entries)],
            "exit_pages": [{"page": label(p), "count": n} for p, n in _top(tally.exits)],
        }

    def _tally(self, first: date, days: int) -> Tally:
        tally = Tally()
        budget = self._max_hops
        for offset in range(days):
            day = first + timedelta(days=offset)
            budget -= tally.fold_day(day, self._hops.of_day(day), budget)
            if tally.truncated or (budget <= 0 and offset < days - 1):
                tally.truncated = True
                break
        return tally


def _labeller(sites: set[str]) -> Callable[[Page], str]:
    """Pages carry their site's host only when the answer spans several sites: one site's
    answer reads as paths, two sites' same path stay two pages."""

    def label(page: Page) -> str:
        site, path = page
        return site + path if len(sites) > 1 and site else path

    return label


def _top(counter: Counter[Any]) -> list[tuple[Any, int]]:
    # Ties in a stable, readable order: count first, then the key itself.
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_N]
