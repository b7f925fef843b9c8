"""What classifying a user agent costs (bots.is_bot, the one verdict of the edge, /ping and
/events): the worst agent against a browser's. Each call gets an agent not seen before, so
neither our cache nor crawlerdetect's answers it."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from bench.core import Figure, median_seconds

AREA = "user agents"
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/{n}.0.0.0 Safari/537.36"
)
LETTERS_100_KB = 100 * 1024


def _classify_each(agent_for: Callable[[int], str]) -> Callable[[], bool]:
    from chalicelib.core import bots

    numbers = itertools.count()
    return lambda: bots.is_bot(agent_for(next(numbers)))


def _letters(length: int) -> Callable[[int], str]:
    # Letters are crawlerdetect's slowest input; the number keeps each agent new.
    return lambda n: f"{n:08d}" + "a" * (length - 8)


def figures() -> list[Figure]:
    from chalicelib.core import bots

    bots.is_bot(BROWSER.format(n=1))  # import crawlerdetect and compile its patterns
    browser = median_seconds(_classify_each(lambda n: BROWSER.format(n=n)), repeat=200)
    huge = median_seconds(_classify_each(_letters(LETTERS_100_KB)), repeat=200)
    cap = bots.MAX_USER_AGENT_CHARS
    at_cap = median_seconds(_classify_each(_letters(cap)), repeat=30, warmup=2)
    return [
        Figure(
            AREA,
            "100 KB user agent of letters / a browser's",
            huge / browser,
            "ratio",
            "",
            f"{huge * 1e6:.1f} us vs {browser * 1e6:.0f} us (over the cap: a bot unread)",
        ),
        Figure(
            AREA,
            f"worst case: the longest judged user agent ({cap} letters) / a browser's",
            at_cap / browser,
            "ratio",
            "<= 5",
            f"{at_cap * 1e6:.0f} us vs {browser * 1e6:.0f} us (the most a verdict costs)",
        ),
    ]


if __name__ == "__main__":
    from bench.core import table

    print(table(figures()))
