"""People or bots: the one verdict for every path that must not count machines.

The edge click function, /ping and /events all ask `is_bot`, so a visitor the edge counts
as a person is a person to the app as well. This module stands alone (standard library
and crawlerdetect only, nothing from chalicelib): the edge build copies it into the
Lambda@Edge zip, where it is imported as `edge.shared.bots` (see edge/README.md).

Link previews (iMessage, WhatsApp, Slack, ...) and mail link scanners fetch every link
they see, so counting them as people is how naive counters lie. Order matters: our own
markers first (previewers crawlerdetect misses or that hide behind a browser UA), then
in-app browsers (people, though their UAs carry app tokens), then crawlerdetect's
maintained list. The user agent is only read, never stored.

An agent over MAX_USER_AGENT_CHARS is a bot before any pattern runs: crawlerdetect's
patterns take time quadratic in the agent's length (a 20,000-letter agent took a minute),
and a whole header held as a cache key would pin its memory.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

# Lower-case substrings. iMessage's preview UA is a desktop Safari UA ending in
# "facebookexternalhit/1.1 Facebot Twitterbot/1.0"; the rest are the previewers' own.
PREVIEW_AND_SCANNER_MARKERS: tuple[str, ...] = (
    "facebookexternalhit",
    "facebot",
    "twitterbot",
    "whatsapp/",
    "slackbot",
    "slack-imgproxy",
    "telegrambot",
    "discordbot",
    "skypeuripreview",
    "linkedinbot",
    "googlebot",
    "google-safety",
    "curl/",
    "wget/",
    "python-requests/",
    "python-urllib/",
    "go-http-client/",
    "barracuda",
    "mimecast",
    "proofpoint",
    "ms-office",
    "microsoft office",
    "safelinks",
    "bingpreview",
    "url preview",  # "Snap URL Preview Service" and others
    "embedly",
    "iframely",
    "redditbot",
    "pinterestbot",
    "headlesschrome",
)

# In-app browsers: a person tapped the link inside the app.
IN_APP_BROWSER_MARKERS: tuple[str, ...] = ("fban/", "fbav/", "fbios", "instagram ")

# Longer than any browser's agent: the longest in tests/fixtures/user_agents.json is an
# in-app browser's (Instagram on Android, 280 characters), and in-app agents are the
# longest people send. At the cap crawlerdetect takes some 25 ms; at 1,024 characters,
# four times that, so the cap stays near what browsers need.
MAX_USER_AGENT_CHARS = 512

# Requests that fetch headers only never come from a person's click.
BOT_METHODS = frozenset({"HEAD"})


def is_bot(user_agent: str | None, *, method: str = "GET") -> bool:
    """True for HEAD requests, absent or blank user agents (every browser sends one;
    scripts often do not), agents longer than MAX_USER_AGENT_CHARS, previewers, scanners
    and crawlers."""
    if method.upper() in BOT_METHODS:
        return True
    agent = (user_agent or "").strip()
    if len(agent) > MAX_USER_AGENT_CHARS:
        return True
    return _is_bot_agent(agent)


@lru_cache(maxsize=1024)
def _is_bot_agent(user_agent: str) -> bool:
    if not user_agent:
        return True
    lowered = user_agent.lower()
    if any(marker in lowered for marker in PREVIEW_AND_SCANNER_MARKERS):
        return True
    if any(marker in lowered for marker in IN_APP_BROWSER_MARKERS):
        return False
    return _crawler_detect().is_crawler(user_agent)


@lru_cache(maxsize=1)
def _crawler_detect() -> _Detector:
    # Imported on first use: importing it costs 15-25 ms (its provider lists) and its
    # first answer compiles a ~1,500-entry pattern (~40-80 ms). `from app import app`
    # in every Lambda cold start, and the edge's pass-through requests (HEAD, paths
    # that are no code), never ask and so never pay.
    from crawlerdetect import CrawlerDetect

    detector: _Detector = CrawlerDetect()
    return detector


class _Detector(Protocol):
    """The part of crawlerdetect.CrawlerDetect we use (it ships no type hints)."""

    def is_crawler(self, user_agent: str | None = None) -> bool: ...
