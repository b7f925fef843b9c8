"""Long user agents through each entry point that classifies them (the edge click function,
/ping and /events): each answers at once and counts the agent as a bot, since no browser
sends an agent over bots.MAX_USER_AGENT_CHARS. The wall-time bounds are generous guards;
without the cap each of these agents takes minutes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib import wiring
from edge.edge_click import ClickCounter, EdgeConfig
from tests.support.aws import all_items
from tests.support.edge import BROWSER, event, get_link, put_link
from tests.support.ping import ping
from tests.support.tracking import queued_events

LETTERS = "a" * 100_000  # the slowest shape for crawlerdetect's patterns
AFTER_A_BROWSER = BROWSER + " " + "x" * 100_000
LONG_AGENTS = pytest.mark.parametrize(
    "agent", [LETTERS, AFTER_A_BROWSER], ids=["letters", "browser"]
)
GUARD_S = 1.0


@pytest.fixture
def dynamodb(aws: dict[str, str]) -> Any:
    return boto3.session.Session().client("dynamodb", region_name="us-east-1")


@pytest.fixture
def local_stage(aws: dict[str, str]) -> Iterator[None]:
    """The local stage's settings pinned before the first request."""
    wiring.reset()
    assert wiring.settings().is_local
    yield


def timed(call: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    answer = call()
    return answer, time.perf_counter() - started


@LONG_AGENTS
def test_an_edge_click_with_a_long_agent_is_a_quick_bot_click(
    aws: dict[str, str], dynamodb: Any, agent: str
) -> None:
    table = aws["LINKS_TABLE"]
    put_link(dynamodb, table, "long1")
    handler = ClickCounter(EdgeConfig(table=table, region="us-east-1"), dynamodb)
    (result, click), seconds = timed(
        lambda: handler.handle(event("viewer-request", "long1", agent))
    )
    assert seconds < GUARD_S
    assert (click.visitor, click.outcome, result["status"]) == ("bot", "redirect", "302")
    link = get_link(dynamodb, table, "long1")
    assert link["bot_clicks"]["N"] == "1" and link["human_clicks"]["N"] == "0"


@LONG_AGENTS
def test_a_ping_with_a_long_agent_is_a_quick_bot_ping(client: Any, agent: str) -> None:
    before = all_items()
    response, seconds = timed(lambda: ping(client, **{"User-Agent": agent}))
    assert seconds < GUARD_S
    assert response.status_code == 204
    assert all_items() == before  # a bot's ping records no hop


@LONG_AGENTS
def test_an_event_with_a_long_agent_is_a_quick_bot_event(
    client: Any, aws: dict[str, str], local_stage: None, agent: str
) -> None:
    message = {"type": "track", "event": "Signed Up", "anonymousId": "anon-long-1"}
    response, seconds = timed(
        lambda: client.http.post(
            "/events",
            body=json.dumps(message),
            headers={"Content-Type": "application/json", "User-Agent": agent},
        )
    )
    assert seconds < GUARD_S
    assert response.status_code == 202, response.body
    [queued] = queued_events(aws)
    assert queued["events"][0]["context"]["user_agent"]["device"] == "bot"


def test_the_click_budget_covers_the_bot_check(aws: dict[str, str], dynamodb: Any) -> None:
    """A bot check that uses up the budget leaves no time for DynamoDB: the click fails
    open to the origin, uncounted, and says the write was never sent."""
    table = aws["LINKS_TABLE"]
    put_link(dynamodb, table, "budget1")

    def slow_verdict(user_agent: str | None, *, method: str = "GET") -> bool:
        time.sleep(0.15)
        return False

    config = EdgeConfig(table=table, region="us-east-1", time_budget_ms=100)
    handler = ClickCounter(config, dynamodb, is_bot=slow_verdict)
    result, click = handler.handle(event("viewer-request", "budget1"))
    assert (click.visitor, click.outcome, click.may_count) == ("human", "untracked", False)
    assert result["uri"] == "/budget1"  # the request itself, on to S3
    assert get_link(dynamodb, table, "budget1")["human_clicks"]["N"] == "0"
