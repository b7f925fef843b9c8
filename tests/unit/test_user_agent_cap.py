"""The user-agent length cap: agents over it are bots before any pattern runs, agents up
to it are judged as before, and every labelled real agent fits under it."""

from __future__ import annotations

import json
import time

import pytest

from edge.shared import bots, useragents
from tests.support.edge import BROWSER
from tests.support.paths import FIXTURES

AGENTS = json.loads((FIXTURES / "user_agents.json").read_text())["agents"]
CAP = bots.MAX_USER_AGENT_CHARS


def padded(agent: str, length: int) -> str:
    """`agent` with a trailing token of letters, `length` characters in all."""
    return agent + " " + "z" * (length - len(agent) - 1)


def test_every_labelled_agent_fits_well_under_the_cap() -> None:
    longest = max(len(agent["ua"]) for agent in AGENTS)
    assert longest * 1.5 <= CAP


def test_a_browser_agent_at_the_cap_is_still_a_person() -> None:
    at_cap = padded(BROWSER, CAP)
    assert len(at_cap) == CAP
    assert bots.is_bot(at_cap) is False
    assert useragents.families(at_cap)["device"] == "desktop"


def test_one_character_over_the_cap_is_a_bot() -> None:
    over = padded(BROWSER, CAP + 1)
    assert bots.is_bot(over) is True
    assert useragents.families(over) == {"browser": "Chrome", "os": "Windows", "device": "bot"}


def test_padding_whitespace_does_not_count_towards_the_cap() -> None:
    assert bots.is_bot(" " * 10_000 + BROWSER + " " * 10_000) is False


@pytest.mark.parametrize("length", [10_000, 100_000])
def test_a_long_agent_of_letters_is_a_bot_at_once(length: int) -> None:
    started = time.perf_counter()
    assert bots.is_bot("q" * length) is True
    assert useragents.families("r" * length)["device"] == "bot"
    assert time.perf_counter() - started < 1.0
