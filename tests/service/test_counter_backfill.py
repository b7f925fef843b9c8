"""Links stored before counter items get theirs once, with the counts their link item held,
and the edge counts on from there; running the migration again changes nothing."""

from __future__ import annotations

import boto3

from chalicelib import wiring
from chalicelib.links.backfill import backfill_counters
from cli.main import build_parser
from edge.edge_click import ClickCounter, EdgeConfig
from tests.support.edge import event, get_link
from tests.support.links import new_link_item


def legacy_link(table: str, code: str, humans: int) -> None:
    item = new_link_item(code, "https://example.com/old")
    item.update(
        gsi1pk={"S": "links"},
        gsi1sk={"S": f"2026-01-01T00:00:00.000Z#{code}"},
        human_clicks={"N": str(humans)},
        bot_clicks={"N": "1"},
    )
    boto3.client("dynamodb").put_item(TableName=table, Item=item)


def test_old_links_get_their_counter_once_and_clicks_count_on_it(aws: dict[str, str]) -> None:
    table = aws["LINKS_TABLE"]
    legacy_link(table, "old1", humans=3)
    legacy_link(table, "old2", humans=0)
    dynamodb = boto3.client("dynamodb")
    counter = ClickCounter(EdgeConfig(table=table, region="us-east-1"), dynamodb)
    assert counter.handle(event("viewer-request", "old1"))[1].outcome == "missing"

    done = backfill_counters(wiring.dynamodb(), table)
    assert (done.links, done.written) == (2, 2)
    assert counter.handle(event("viewer-request", "old1"))[1].outcome == "redirect"
    item = get_link(dynamodb, table, "old1")
    assert (item["human_clicks"], item["bot_clicks"]) == ({"N": "4"}, {"N": "1"})
    assert wiring.links().get("old1")["clicks"] == {"human": 4, "bot": 1}
    again = backfill_counters(wiring.dynamodb(), table)
    assert (again.links, again.written) == (2, 0)
    assert get_link(dynamodb, table, "old1")["human_clicks"] == {"N": "4"}


def test_the_cli_names_the_migration() -> None:
    parsed = build_parser().parse_args(["migrate", "counters", "--stage", "dev"])
    assert (parsed.command, parsed.migrate_action, parsed.stage) == ("migrate", "counters", "dev")
