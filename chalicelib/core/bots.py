"""Is a user agent a bot? One answer for every path that must not count machines.

Backed by `crawlerdetect` (a port of the list Shlink uses; it flags HeadlessChrome,
link-preview unfurlers, curl and HTTP libraries). Its regexes are compiled on first use
(~40 ms), so the import happens inside `is_bot`, never when app.py is imported.
"""

from __future__ import annotations

import threading
from typing import Any

_LOCK = threading.Lock()
_DETECTOR: Any = None


def _detector() -> Any:
    global _DETECTOR
    with _LOCK:
        if _DETECTOR is None:
            from crawlerdetect import CrawlerDetect

            _DETECTOR = CrawlerDetect()
        return _DETECTOR


def is_bot(user_agent: str | None) -> bool:
    """True for crawlers, scanners, preview bots and requests with no user agent at all
    (every browser sends one). The detector caches its answers per user agent."""
    if not user_agent or not user_agent.strip():
        return True
    return bool(_detector().is_crawler(user_agent))
