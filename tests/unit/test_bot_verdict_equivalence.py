"""bots.is_bot gives crawlerdetect's verdict without its quadratic search: the same answer
as our markers followed by `CrawlerDetect().is_crawler` on every labelled real agent and on
thousands of mutated ones, and a cost at the cap close to a browser's."""

from __future__ import annotations

import json
import random
import re
import string
import sys

import pytest
from crawlerdetect import CrawlerDetect
from crawlerdetect.providers.crawlers import data as crawler_patterns
from crawlerdetect.providers.exclusions import data as exclusion_patterns

from edge.shared import bots
from tests.support.edge import BROWSER
from tests.support.paths import FIXTURES

AGENTS = [a["ua"] for a in json.loads((FIXTURES / "user_agents.json").read_text())["agents"]]
# Characters a case-blind ASCII pattern matches outside ASCII, and others that must not.
ODD_CHARACTERS = ["\u0130", "\u0131", "\u017f", "\u212a", "\u00e9", "\u2160", "\ud800", "\n"]
MUTATED = 3000


def expected(agent: str) -> bool:
    """The verdict as crawlerdetect's own search gives it, after our markers."""
    agent = agent.strip()
    if not agent or len(agent) > bots.MAX_USER_AGENT_CHARS:
        return True
    lowered = agent.lower()
    if any(marker in lowered for marker in bots.PREVIEW_AND_SCANNER_MARKERS):
        return True
    if any(marker in lowered for marker in bots.IN_APP_BROWSER_MARKERS):
        return False
    return CrawlerDetect().is_crawler(agent)


def _words() -> list[str]:
    """Text each pattern needs: its literals, whole or in part, in any case."""
    words = ["Safari/1.2", "like Gecko", "KHTML,", "Ruby/1", "Java/x outbrain", "YandexSearch"]
    for pattern in [*crawler_patterns, *exclusion_patterns]:
        for alternative in bots.top_level_alternatives(pattern):
            literal = bots.unescaped_literal(alternative)
            words.append(literal if literal is not None else bots.required_literal(alternative))
    return [word for word in words if word] + ODD_CHARACTERS


def mutated(agent: str, rng: random.Random, words: list[str]) -> str:
    """The agent with a few edits: bot words in any case, parts of words, random letters,
    long runs, punctuation, cuts."""
    for _ in range(rng.randint(1, 4)):
        at, kind = rng.randint(0, len(agent)), rng.random()
        word = rng.choice(words)
        if kind < 0.3:
            insert = rng.choice([word, word.upper(), word.lower(), word.swapcase()])
        elif kind < 0.45:
            insert = word[: rng.randint(1, len(word))]
        elif kind < 0.6:
            alphabet = string.ascii_letters + string.digits + " /.;-_()" + "".join(ODD_CHARACTERS)
            insert = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20)))
        elif kind < 0.7:
            insert = rng.choice("ab0 ./") * rng.randint(10, 300)
        elif kind < 0.85:
            insert = rng.choice(string.punctuation)
        else:
            cut = rng.randint(0, len(agent))
            agent, insert = agent[: min(at, cut)] + agent[max(at, cut) :], ""
            at = min(at, cut)
        agent = agent[:at] + insert + agent[at:]
    return agent


@pytest.mark.parametrize("agent", AGENTS)
def test_each_labelled_agent_has_crawlerdetects_verdict(agent: str) -> None:
    assert bots.is_bot(agent) is expected(agent)
    if agent.strip():
        assert bots.is_crawler(agent.strip()) is CrawlerDetect().is_crawler(agent)


def test_mutated_agents_have_crawlerdetects_verdict() -> None:
    rng, words = random.Random(20261203), _words()
    agents = [mutated(rng.choice(AGENTS) or BROWSER, rng, words) for _ in range(MUTATED)]
    verdicts = [expected(agent) for agent in agents]
    assert 0.2 < sum(verdicts) / len(verdicts) < 0.9  # both verdicts well represented
    differ = [a for a, v in zip(agents, verdicts, strict=True) if bots.is_bot(a) is not v]
    assert differ == []


@pytest.mark.parametrize(
    ("pattern", "literal"),
    [
        (r"Aprc\/[0-9]", "Aprc/"),
        (r"(like )?Gecko(.[\d\.]*)?", "Gecko"),
        (r"Project ?25499", "Project"),
        (r"ab+cd", "ab"),
        (r"x{2}abc", "abc"),
        (r"ab[\]x]cd", "ab"),
        (r"[^]a]xyz", "xyz"),
        (r"Yandex(?!Search)", "Yandex"),
        (r"^Ruby|Ruby\/[0-9]", ""),
    ],
)
def test_the_required_literal_is_in_every_match(pattern: str, literal: str) -> None:
    assert bots.required_literal(pattern) == literal


def test_folding_maps_exactly_what_a_case_blind_ascii_pattern_matches() -> None:
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    folded = bots.fold(every)
    assert len(folded) == len(every)
    any_ascii = re.compile("[\x00-\x7f]", re.IGNORECASE)
    for original, after in zip(every, folded, strict=True):
        if any_ascii.fullmatch(original):
            assert after.isascii() and re.fullmatch(re.escape(after), original, re.IGNORECASE)
            assert after == after.lower()
        else:
            assert after == original


def test_the_crawler_patterns_are_searched_through_literals() -> None:
    matcher = bots._matcher()
    patterns = [needle for group in matcher.crawlers.by_quad.values() for needle in group]
    plain = sum(pattern is None for _, pattern in patterns)
    assert len(patterns) + len(matcher.crawlers.short) >= len(crawler_patterns)
    assert plain > 0.9 * len(patterns)  # literals, looked up by their first four letters
    assert all(literal for literal, _ in matcher.crawlers.short)  # none searched always
