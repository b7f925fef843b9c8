"""User-agent families: browser, operating system and device type, never the raw string.

Small and our own: a first-match table per family, read from the user agent's first
bots.MAX_USER_AGENT_CHARS characters. The device is "bot" exactly when the one bot
classifier (bots.py beside this module) says so for the whole agent, so an agent over
that cap is a bot here too; else tablet, mobile, desktop or other.

Stands alone like bots.py (standard library and that sibling only, imported relatively
so the same file works as chalicelib.core.useragents in the app and as
edge.shared.useragents in the edge zip, which the edge build copies it into).
"""

from __future__ import annotations

from typing import Literal, TypedDict

from . import bots

MAX_USER_AGENT_CHARS = bots.MAX_USER_AGENT_CHARS
OTHER = "Other"

Device = Literal["mobile", "tablet", "desktop", "bot", "other"]

# First match wins: Edge, Opera and Samsung Internet also carry "Chrome/", so the more
# specific tokens come first; Safari is the one that says "Version/".
BROWSERS: tuple[tuple[str, str], ...] = (
    ("Edg/", "Edge"), ("EdgA/", "Edge"), ("EdgiOS/", "Edge"), ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"), ("Firefox/", "Firefox"), ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"), ("Chrome/", "Chrome"), ("Chromium/", "Chrome"),
    ("Version/", "Safari"), ("MSIE ", "Internet Explorer"), ("Trident/", "Internet Explorer"),
)  # fmt: skip
SYSTEMS: tuple[tuple[str, str], ...] = (
    ("Windows", "Windows"), ("iPhone", "iOS"), ("iPad", "iOS"), ("iPod", "iOS"),
    ("Android", "Android"), ("CrOS", "ChromeOS"), ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"), ("Linux", "Linux"),
)  # fmt: skip


class Families(TypedDict):
    """What is kept of a user agent (the /events context's `user_agent`)."""

    browser: str
    os: str
    device: Device


def families(user_agent: str | None, *, bot: bool | None = None) -> Families:
    """The browser, OS and device families of `user_agent`. An absent one is described
    as other, not judged a bot: /events takes Segment-spec calls from servers, which
    send none. `bot`: the caller's verdict on the same agent, when it has one (the edge
    judges the request first), so the bot list is not run twice."""
    whole = user_agent or ""
    ua = whole[:MAX_USER_AGENT_CHARS]
    if not ua:
        return {"browser": OTHER, "os": OTHER, "device": "other"}
    system = _first(SYSTEMS, ua)
    if bot is None:
        bot = bots.is_bot(whole)
    device: Device = "bot" if bot else _device(ua, system)
    return {"browser": _first(BROWSERS, ua), "os": system, "device": device}


def _first(table: tuple[tuple[str, str], ...], ua: str) -> str:
    return next((name for token, name in table if token in ua), OTHER)


def _device(ua: str, system: str) -> Device:
    """A person's device (the agent is no bot)."""
    if "iPad" in ua or "Tablet" in ua or ("Android" in ua and "Mobile" not in ua):
        return "tablet"
    if "Mobi" in ua or "iPhone" in ua or "iPod" in ua:
        return "mobile"
    if system != OTHER:
        return "desktop"
    return "other"
