"""The edge zip's size, AWS calls and write units per click, warm handler cost, cold
import, and a cold first click (what a new Lambda@Edge container pays before its first
answer)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.core import Figure, count_aws_calls, fresh_import_seconds, median_seconds

AREA = "edge"


class CannedDynamoDB:
    """A fake client answering update_item at once: times our code, not the network."""

    class exceptions:
        class ConditionalCheckFailedException(Exception):
            pass

    def update_item(self, **_: Any) -> dict[str, Any]:
        return {"Attributes": {"long_url": {"S": "https://example.com/landing"}}}


_DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124 Safari/537.36"
_PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
_BOT = "WhatsApp/2.23.20.0 A"


def _event(
    code: str, country: str = "GB", agent: str = _DESKTOP, *, referrer: bool = False
) -> dict[str, Any]:
    headers = {
        "user-agent": [{"key": "User-Agent", "value": agent}],
        "cloudfront-viewer-country": [{"key": "CloudFront-Viewer-Country", "value": country}],
    }
    if referrer:
        headers["referer"] = [{"key": "Referer", "value": "https://news.example.org/a/story"}]
    return {
        "Records": [
            {
                "cf": {
                    "config": {"distributionId": "EBENCH", "eventType": "viewer-request"},
                    "request": {
                        "clientIp": "203.0.113.9",
                        "method": "GET",
                        "uri": f"/{code}",
                        "querystring": "",
                        "headers": headers,
                    },
                }
            }
        ]
    }


@contextmanager
def _moto_links_table() -> Iterator[Any]:
    """A DynamoDB client on in-process moto with a links table (pk/sk)."""
    import boto3
    from moto import mock_aws

    saved = dict(os.environ)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with mock_aws():
            dynamodb = boto3.client("dynamodb", region_name="us-east-1")
            dynamodb.create_table(
                TableName="links",
                BillingMode="PAY_PER_REQUEST",
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
            )
            yield dynamodb
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _zip_size() -> float:
    from edge import build

    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "edge-click.zip"
        args = build.parser().parse_args(["--stage", "local", "--out", str(out)])
        return float(build.build(build.edge_config(args), out))


def _calls_per_click() -> tuple[float, float]:
    """AWS calls per click on a live link, and on a retired one (its tombstone is read)."""
    from edge.edge_click import ClickCounter, EdgeConfig

    with _moto_links_table() as dynamodb:
        dynamodb.put_item(
            TableName="links",
            Item={
                "pk": {"S": "link#bench1"},
                "sk": {"S": "counter"},
                "long_url": {"S": "https://example.com/"},
                "human_clicks": {"N": "0"},
                "bot_clicks": {"N": "0"},
            },
        )
        dynamodb.put_item(
            TableName="links",
            Item={
                "pk": {"S": "link#bench2"},
                "sk": {"S": "tombstone"},
                "status": {"S": "expired"},
            },
        )
        handler = ClickCounter(EdgeConfig(table="links", region="us-east-1"), dynamodb)
        clicks = 20
        with count_aws_calls(dynamodb) as live:
            for _ in range(clicks):
                assert handler(_event("bench1"))["status"] == "302"
        with count_aws_calls(dynamodb) as retired:
            for _ in range(clicks):
                assert handler(_event("bench2"))["status"] == "410"
        return sum(live.values()) / clicks, sum(retired.values()) / clicks


def _write_units_per_click() -> tuple[int, int, int, int]:
    """Write units of a click on the item it touches, for a new link and for one clicked
    for 2 years from 200 countries (people and bots): a campaign link with a 500-character
    URL and 5 tags of the longest allowed, as the links store writes it. Returns (new, aged
    units, new, aged bytes): the larger of the item before and after each click counts."""
    from bench.itemsize import item_bytes, write_units
    from chalicelib.links.items import counter_for, to_item
    from edge.edge_click import ClickCounter, EdgeConfig

    link = {
        "code": "aged1",
        "long_url": "https://example.com/" + "p" * (500 - len("https://example.com/")),
        "key_id": "k" * 12,
        "tags": [f"{n}" + "t" * 49 for n in range(5)],
        "campaign_id": "c" * 12,
        "ref": "recipient-0001",
        "expires_at": 1_900_000_000,
    }
    key = {"pk": {"S": "link#aged1"}, "sk": {"S": "counter"}}
    with _moto_links_table() as dynamodb:
        dynamodb.put_item(TableName="links", Item=to_item(counter_for(link)))
        moments = iter(range(1_800_000_000, 1_800_000_000 + 2 * 365 * 86400, 86400))
        handler = ClickCounter(
            EdgeConfig(table="links", region="us-east-1"), dynamodb, clock=lambda: next(moments)
        )
        sizes = [item_bytes(dynamodb.get_item(TableName="links", Key=key)["Item"])]
        countries = [f"{chr(65 + n // 26)}{chr(65 + n % 26)}" for n in range(200)]
        for day in range(2 * 365):
            agent = _BOT if day % 3 == 0 else _PHONE
            event = _event("aged1", countries[day % 200], agent, referrer=day % 2 == 0)
            assert handler(event)["status"] == "302"
            sizes.append(item_bytes(dynamodb.get_item(TableName="links", Key=key)["Item"]))
    first = max(sizes[:2])
    return write_units(*sizes[:2]), write_units(*sizes), first, max(sizes)


def _cold_first_click_statement() -> str:
    """One line for a fresh interpreter: import the edge module and boto3, create the
    DynamoDB client (service model load, endpoint resolution), answer one click. A botocore
    Stubber answers the UpdateItem: the real client, request serialisation and response
    parsing, no network."""
    config = "e.EdgeConfig(table='links', region='us-east-1')"
    answer = {"Attributes": {"long_url": {"S": "https://example.com/landing"}}}
    return (
        "import edge.edge_click as e; from botocore.stub import Stubber; "
        f"c = e.make_client({config}); s = Stubber(c); "
        f"s.add_response('update_item', {answer!r}); s.activate(); "
        f"r = e.ClickCounter({config}, c)({_event('cold1')!r}); "
        "assert r['status'] == '302', r"
    )


def _offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def figures() -> list[Figure]:
    from edge.edge_click import ClickCounter, EdgeConfig

    counted = ClickCounter(EdgeConfig(table="links", region="us-east-1"), CannedDynamoDB())
    click = _event("bench1")

    def pass_through(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        request: dict[str, Any] = event["Records"][0]["cf"]["request"]
        return request

    handled = median_seconds(lambda: counted(click), repeat=400, warmup=20)
    passed = median_seconds(lambda: pass_through(click), repeat=400, warmup=20)
    edge_import = fresh_import_seconds("import edge.edge_click")
    boto3_import = fresh_import_seconds("import boto3")
    cold_click = fresh_import_seconds(_cold_first_click_statement(), runs=7, env=_offline_env())
    live_calls, retired_calls = _calls_per_click()
    new_units, aged_units, new_bytes, aged_bytes = _write_units_per_click()
    return [
        Figure(
            AREA,
            "write units per click, new link",
            new_units,
            "units",
            "<= 1",
            f"counter item {new_bytes} bytes (500-character URL, 5 tags of 50, campaign)",
        ),
        Figure(
            AREA,
            "write units per click, 2 years of clicks from 200 countries",
            aged_units,
            "units",
            "<= 1",
            f"counter item at most {aged_bytes} bytes; in no index, so no index writes",
        ),
        Figure(AREA, "edge zip size", _zip_size(), "bytes", "<= 65536 (limit 1048576)"),
        Figure(AREA, "AWS calls per click (every mode)", live_calls, "calls", "1"),
        Figure(
            AREA,
            "AWS calls per click, retired or unknown code",
            retired_calls,
            "calls",
            "2",
            "UpdateItem + tombstone GetItem",
        ),
        Figure(
            AREA,
            "warm click / pass-through handler",
            handled / passed,
            "ratio",
            "",
            f"{handled * 1e6:.0f} us vs {passed * 1e6:.2f} us",
        ),
        Figure(
            AREA,
            "cold import edge.edge_click",
            edge_import * 1000,
            "ms",
            "",
            f"import boto3 {boto3_import * 1000:.0f} ms (ratio {edge_import / boto3_import:.2f})",
        ),
        Figure(
            AREA,
            "cold first click (import, boto3, client, click) / import boto3",
            cold_click / boto3_import,
            "ratio",
            "",
            f"{cold_click * 1000:.0f} ms vs import boto3 {boto3_import * 1000:.0f} ms "
            "(botocore Stubber, no network)",
        ),
    ]


if __name__ == "__main__":
    from bench.core import table

    print(table(figures()))
