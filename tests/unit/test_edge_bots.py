"""People vs bots on a labelled set of real user agents (tests/fixtures/user_agents.json)."""

from __future__ import annotations

import json

import pytest
from crawlerdetect import CrawlerDetect

from edge.shared import bots
from tests.support.paths import FIXTURES

AGENTS = json.loads((FIXTURES / "user_agents.json").read_text())["agents"]


def test_the_labelled_set_is_broad():
    kinds = {agent["kind"] for agent in AGENTS}
    assert len(AGENTS) >= 30
    assert {"browser", "in-app", "preview", "crawler", "scanner", "tool"} <= kinds


@pytest.mark.parametrize("agent", AGENTS, ids=[a["name"] for a in AGENTS])
def test_each_labelled_agent(agent):
    assert bots.is_bot(agent["ua"], method="GET") is (agent["label"] == "bot")


@pytest.mark.parametrize(
    "agent",
    [a for a in AGENTS if a["label"] == "human"],
    ids=[a["name"] for a in AGENTS if a["label"] == "human"],
)
def test_head_is_a_bot_even_from_a_browser(agent):
    assert bots.is_bot(agent["ua"], method="HEAD") is True


def test_the_extra_list_catches_what_crawlerdetect_misses():
    detector = CrawlerDetect()
    missed = [
        a["name"]
        for a in AGENTS
        if a["label"] == "bot" and a["ua"] and not detector.is_crawler(a["ua"])
    ]
    assert missed  # otherwise the extra list would be dead weight
    assert all(bots.is_bot(a["ua"], method="GET") for a in AGENTS if a["name"] in missed)
