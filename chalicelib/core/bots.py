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

An agent over MAX_USER_AGENT_CHARS is a bot before any pattern runs: a whole header held
as a cache key would pin its memory. Crawlerdetect's own search takes time quadratic in
the agent's length (25 ms at 512 letters, a minute at 20,000), so its verdict is computed
here from its pattern data, in time linear in the length (see is_crawler).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

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
# longest people send (real Facebook in-app agents reach some 350).
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
    windows = quad_windows(lowered)
    if _PREVIEW_AND_SCANNERS.occur_in(lowered, windows):
        return True
    if _IN_APP_BROWSERS.occur_in(lowered, windows):
        return False
    if user_agent.isascii():  # then folding is lower-casing
        return _crawler_verdict(lowered, windows)
    return is_crawler(user_agent)


# Crawlerdetect's verdict, in time linear in the agent's length.
#
# Crawlerdetect removes its exclusions (browser tokens) from the agent, then searches one
# case-blind alternation of its ~1,500 crawler patterns; one of them,
# "[a-z0-9\-_]*(bot|crawl|...)", makes that search quadratic (25 ms at 512 letters). The
# verdict is whether any pattern matches, so the patterns are checked one by one here,
# built from crawlerdetect's pattern data on first use:
#
# - The agent is folded: ASCII capitals to lower case, and the four other characters a
#   case-blind pattern of ASCII matches (U+0130, U+0131, U+017F, U+212A) to the ASCII
#   letter they match. Folding keeps every character's position, so the exclusions match
#   the folded agent, lower-cased and case-sensitive, exactly where they match the agent.
# - Every test is filtered by the set of the agent's 4-byte windows (of its UTF-8): a
#   literal is looked for only when its first four letters occur side by side (the few
#   shorter than four always).
# - The exclusions' alternation runs only when one of their required literals occurs.
# - A pattern that is a plain literal is a substring test on the folded agent.
# - "C*(a|b|...)" matches wherever one of a, b, ... occurs, so its words become literals;
#   an alternation at the top of a pattern becomes one pattern per alternative.
# - The other patterns (some 80, all cheap alone) run as compiled, case-blind, only when
#   the literal every match of theirs contains occurs.

# The characters outside ASCII that a case-blind ASCII pattern matches, as what they match.
_FOLDED_OUTSIDE_ASCII = (("\u0130", "i"), ("\u0131", "i"), ("\u017f", "s"), ("\u212a", "k"))
_METACHARACTERS = frozenset(".^$*+?{}[]|()")
_REPEATED_WORDS = re.compile(r"\[[^\]]*\]\*\(([\w|]+)\)")


def fold(agent: str) -> str:
    """The agent with every character a case-blind ASCII pattern can match replaced by
    the lower-case ASCII character it matches; the same length, position for position."""
    if agent.isascii():
        return agent.lower()
    for character, letter in _FOLDED_OUTSIDE_ASCII:
        agent = agent.replace(character, letter)
    return agent.encode(errors="surrogatepass").lower().decode(errors="surrogatepass")


def quad_windows(text: str) -> set[int]:
    """Every four adjacent bytes of the text's UTF-8, each as one native 32-bit number
    (the last few padded with zero bytes, which no needle holds)."""
    data = text.encode(errors="surrogatepass")
    windows: set[int] = set()
    for start in range(min(4, len(data))):
        part = data[start:]
        windows.update(memoryview(part + b"\0" * (-len(part) % 4)).cast("I"))
    return windows


# The byte order memoryview.cast reads numbers in.
_LITTLE_ENDIAN = memoryview(b"\1\0").cast("H")[0] == 1
_BYTE_ORDER: Literal["little", "big"] = "little" if _LITTLE_ENDIAN else "big"


def _quad(literal: str) -> int:
    return int.from_bytes(literal[:4].encode(), _BYTE_ORDER)


class Needles:
    """Literals, each with an optional pattern that must also match, to find in a text:
    those of four characters or more only when their first four are among its windows."""

    def __init__(self, literals: tuple[str, ...] = ()) -> None:
        self.by_quad: dict[int, list[tuple[str, re.Pattern[str] | None]]] = {}
        self.quads: frozenset[int] = frozenset()
        self.short: list[tuple[str, re.Pattern[str] | None]] = []
        for literal in literals:
            self.add(literal)

    def add(self, literal: str, pattern: re.Pattern[str] | None = None) -> None:
        """Find literal (lower-case ASCII, else it goes through pattern, case-blind),
        then pattern when one is given; an empty literal always tries the pattern."""
        if not literal.isascii():
            literal, pattern = "", pattern or re.compile(re.escape(literal), re.IGNORECASE)
        if len(literal) < 4:
            self.short.append((literal, pattern))
            return
        self.by_quad.setdefault(_quad(literal), []).append((literal, pattern))
        self.quads = frozenset(self.by_quad)

    def occur_in(self, text: str, windows: set[int]) -> bool:
        """Whether one of the literals is in the text (and its pattern matches there);
        windows is quad_windows(text)."""
        for quad in windows & self.quads:
            if _found(text, self.by_quad[quad]):
                return True
        return _found(text, self.short)


def _found(text: str, needles: list[tuple[str, re.Pattern[str] | None]]) -> bool:
    return any(
        literal in text and (pattern is None or pattern.search(text) is not None)
        for literal, pattern in needles
    )


_PREVIEW_AND_SCANNERS = Needles(PREVIEW_AND_SCANNER_MARKERS)
_IN_APP_BROWSERS = Needles(IN_APP_BROWSER_MARKERS)


def is_crawler(user_agent: str) -> bool:
    """Crawlerdetect's `CrawlerDetect().is_crawler` for a stripped, non-empty agent."""
    agent = fold(user_agent)
    return _crawler_verdict(agent, quad_windows(agent))


def _crawler_verdict(agent: str, windows: set[int]) -> bool:
    """is_crawler for a folded agent; windows is quad_windows(agent)."""
    matcher = _matcher()
    if matcher.exclusion_literals.occur_in(agent, windows):
        agent = matcher.exclusions.sub("", agent)
        windows = quad_windows(agent)
    return bool(agent) and matcher.crawlers.occur_in(agent, windows)


class _Matcher:
    def __init__(self, crawlers: list[str], exclusions: list[str]) -> None:
        literals = tuple(required_literal(p).lower() for p in exclusions)
        # Lower-cased, the exclusions run case-sensitive: ten times faster than case-blind.
        if all(_lowers_safely(p) for p in exclusions):
            self.exclusions = re.compile("|".join(p.lower() for p in exclusions))
        else:
            self.exclusions = re.compile("|".join(exclusions), re.IGNORECASE)
        self.exclusion_literals = Needles(literals)
        self.crawlers = Needles()
        for crawler in crawlers:
            for alternative in top_level_alternatives(crawler):
                self._add(alternative)

    def _add(self, pattern: str) -> None:
        words = _REPEATED_WORDS.fullmatch(pattern)
        if words:
            for word in words.group(1).split("|"):
                self._add(word)
            return
        literal = unescaped_literal(pattern)
        if literal is not None:
            self.crawlers.add(literal.lower() if literal.isascii() else literal)
        else:
            compiled = re.compile(pattern, re.IGNORECASE)
            self.crawlers.add(required_literal(pattern).lower(), compiled)


@lru_cache(maxsize=1)
def _matcher() -> _Matcher:
    # Imported on first use: importing crawlerdetect's lists costs some 15 ms and building
    # the matcher a few more. `from app import app` in every Lambda cold start, and the
    # edge's pass-through requests (HEAD, paths that are no code), never ask and never pay.
    from crawlerdetect.providers.crawlers import data as crawlers
    from crawlerdetect.providers.exclusions import data as exclusions

    return _Matcher(list(crawlers), list(exclusions))


def unescaped_literal(pattern: str) -> str | None:
    """The text a pattern matches if it is a plain literal (escapes allowed), else None."""
    text: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            if char.isalnum():
                return None
            text.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in _METACHARACTERS:
            return None
        else:
            text.append(char)
    return None if escaped else "".join(text)


def top_level_alternatives(pattern: str) -> list[str]:
    """The pattern split at each "|" outside groups and classes."""
    parts: list[str] = []
    depth, start, index, in_class = 0, 0, 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 1
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char in "()":
            depth += 1 if char == "(" else -1
        elif char == "|" and depth == 0:
            parts.append(pattern[start:index])
            start = index + 1
        index += 1
    return [*parts, pattern[start:]]


def required_literal(pattern: str) -> str:
    """The longest literal text every match of a pattern (one with no top-level "|")
    contains: the longest run of plain characters, none made optional or repeatable;
    empty for a pattern with "|" at the top."""
    runs: list[list[str]] = [[]]
    index = 0
    while index < len(pattern):
        if pattern[index] == "|":
            return ""
        end = _token_end(pattern, index)
        quantifier = pattern[end] if end < len(pattern) else ""
        literal = unescaped_literal(pattern[index:end])
        if literal is None or quantifier in ("?", "*", "{"):
            runs.append([])
        else:
            runs[-1].append(literal)
            if quantifier == "+":
                runs.append([])
        index = end
    return max(("".join(run) for run in runs), key=len)


def _token_end(pattern: str, index: int) -> int:
    """Where the token (character, escape, class or group) starting at index ends."""
    char = pattern[index]
    if char == "\\":
        return index + 2
    if char == "[":
        position = index + 2 if pattern[index + 1 : index + 2] != "^" else index + 3
        while pattern[position] != "]":
            position += 2 if pattern[position] == "\\" else 1
        return position + 1
    if char == "(":
        depth, position = 0, index
        while position < len(pattern):
            if pattern[position] == "\\":
                position += 2
                continue
            depth += {"(": 1, ")": -1}.get(pattern[position], 0)
            position += 1
            if depth == 0:
                return position
    if char in "?*+{":
        close = pattern.find("}", index) if char == "{" else index
        return close + 1
    return index + 1


def _lowers_safely(pattern: str) -> bool:
    """Whether the lower-cased pattern matches a folded text where the pattern matches it
    case-blind: no capital in an escape or a character class, all ASCII."""
    return pattern.isascii() and re.search(r"\\[A-Z]|\[[^\]]*[A-Z]", pattern) is None
