"""One verdict on people and bots: the edge click function, /ping and /events agree on
every agent of the labelled set (tests/fixtures/user_agents.json), each asked through its
own entry point."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.journeys.pings import PingOutcome
from chalicelib.tracking.collector import normalise_request
from edge.edge_click import ClickCounter, EdgeConfig
from tests.support.paths import FIXTURES

AGENTS: list[dict[str, str]] = json.loads((FIXTURES / "user_agents.json").read_text())["agents"]
IDS = [agent["name"] for agent in AGENTS]
SITE = "127.0.0.1:8000"  # a site host of the local stage


def edge_visitor(user_agent: str) -> str:
    """"human" or "bot", as the edge handler decided for a viewer-request click."""
    config = EdgeConfig(table=wiring.settings().links_table, region="us-east-1")
    event = json.loads((FIXTURES / "cloudfront" / "viewer-request.json").read_text())
    request = event["Records"][0]["cf"]["request"]
    request["uri"] = "/agreement1"
    request["headers"]["user-agent"] = [{"key": "User-Agent", "value": user_agent}]
    _result, click = ClickCounter(config, wiring.dynamodb()).handle(event)
    return click.visitor


def ping_outcome(user_agent: str) -> PingOutcome:
    headers = {
        "Ping-To": f"http://{SITE}/about-me",
        "Ping-From": f"http://{SITE}/",
        "User-Agent": user_agent,
        "Host": "api.linktrail.example",
    }
    context: dict[str, Any] = {"identity": {"sourceIp": "203.0.113.5"}}
    return wiring.journeys().record_ping(headers, "PING", context)


def collected_device(user_agent: str) -> str:
    message = {"type": "track", "event": "Signed Up", "anonymousId": "anon-1"}
    [event] = normalise_request([message], user_agent=user_agent, batched=False)
    return str(event["context"]["user_agent"]["device"])


def test_the_set_holds_people_and_bots() -> None:
    labels = {agent["label"] for agent in AGENTS}
    assert labels == {"human", "bot"} and len(AGENTS) >= 30


@pytest.mark.parametrize("agent", AGENTS, ids=IDS)
def test_the_edge_and_ping_agree_with_the_label(aws: dict[str, str], agent: dict[str, str]) -> None:
    bot = agent["label"] == "bot"
    assert edge_visitor(agent["ua"]) == ("bot" if bot else "human")
    assert ping_outcome(agent["ua"]) is (PingOutcome.BOT if bot else PingOutcome.RECORDED)


WITH_USER_AGENT = [agent for agent in AGENTS if agent["ua"]]


@pytest.mark.parametrize("agent", WITH_USER_AGENT, ids=[a["name"] for a in WITH_USER_AGENT])
def test_events_flag_the_same_agents_as_bots(agent: dict[str, str]) -> None:
    assert (collected_device(agent["ua"]) == "bot") is (agent["label"] == "bot")


def test_an_event_without_a_user_agent_is_described_not_judged() -> None:
    # /events takes Segment-spec calls from servers, which send no user agent: their
    # device is "other", where the edge and /ping (above) count such a request as a bot.
    assert not any(agent["ua"] for agent in AGENTS if agent not in WITH_USER_AGENT)
    assert collected_device("") == "other"
