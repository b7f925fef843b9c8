"""Analytics: rollup writes per stream batch, items a long query reads, and the time of
GET /api/analytics against a bare route doing one Query of the same buckets.

Everything runs in one process on moto in-process, so the ratio compares like with like:
the bare route reads the 24 hour buckets of one link and answers them as JSON; the real
route adds the API key check, validation, the plan and the shaping of the rows.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.core import Figure, count_aws_calls, emulated_aws
from tests.support.clickstream import ClickStream

REPEAT = 60


DISTINCT_LINKS = 5_000  # links clicked on one day, for the site's day bucket


def figures() -> list[Figure]:
    with emulated_aws():
        return [*_writes(), *_wide_bucket_units(), *_reads()]


def _writes() -> list[Figure]:
    from chalicelib import wiring

    stream = ClickStream()
    records = [stream.click("one", "2026-12-03T10:00:00.000Z") for _ in range(100)]
    client = wiring.dynamodb()
    seen: list[tuple[str, str]] = []

    def actions(params: dict[str, Any], **_: Any) -> None:
        keys = [a["Update"]["Key"] for a in params.get("TransactItems", [])]
        seen.extend((k["pk"]["S"], k["sk"]["S"]) for k in keys if k["sk"]["S"] != "mark")

    client.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", actions)
    with count_aws_calls(client) as calls:
        wiring.rollups().apply_records(records)
    client.meta.events.unregister("provide-client-params.dynamodb.TransactWriteItems", actions)
    return [
        Figure("analytics", "AWS calls per batch of 100 clicks, one link", sum(calls.values()),
               "calls", "2 (1 read, 1 transaction)"),
        Figure("analytics", "updates per bucket per batch (100 clicks, one link)",
               len(seen) / len(set(seen)), "calls", "1"),
    ]  # fmt: skip


def _wide_bucket_units() -> list[Figure]:
    """Write units of the site day-bucket updates a click makes once DISTINCT_LINKS links
    were clicked that day: the bucket and the link's shard, against the baseline of one
    bucket holding every per-link count (the layout before the shards). Sizes by
    DynamoDB's item-size rules, from the counters the rollups write."""
    from bench.itemsize import item_bytes, write_units
    from chalicelib.analytics import buckets
    from chalicelib.clicks.records import clicks_of

    stream = ClickStream()
    records = [stream.click(f"day{n:05d}", "2026-12-03T10:00:00.000Z", country=f"C{n % 40}")
               for n in range(DISTINCT_LINKS)]  # fmt: skip
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for (pk, sk), counts in buckets.deltas_of(clicks_of(records)).items():
        item = items.setdefault((pk, sk), {"pk": {"S": pk}, "sk": {"S": sk}, "ttl": {"N": "1"}})
        item.update({name: {"N": str(n)} for name, n in counts.items()})
    day = "d#2026-12-03"
    site = items[(buckets.site_pk(), day)]
    shards = [i for (pk, _), i in items.items() if pk == buckets.per_link_pk(buckets.site_pk())
              and i["sk"]["S"].startswith(day)]  # fmt: skip
    whole = {**site, **{k: v for shard in shards for k, v in shard.items()
                        if k.startswith("link.")}}  # fmt: skip
    now = write_units(item_bytes(site)) + max(write_units(item_bytes(s)) for s in shards)
    before = write_units(item_bytes(whole))
    return [
        Figure("analytics", f"write units of a click's site day updates, {DISTINCT_LINKS:,} "
               "links that day / one bucket with every per-link count", now / before, "ratio",
               "", f"{before} units, now {now}"),
    ]  # fmt: skip


def _reads() -> list[Figure]:
    from chalice import Chalice, Response
    from chalice.test import Client

    from app import app
    from chalicelib import wiring

    now = datetime.now(UTC)
    stream = ClickStream()
    # A click a day for a year and a click an hour for the last day, on one link.
    stamps = [now - timedelta(days=d) for d in range(366)] + [
        now - timedelta(hours=h) for h in range(24)
    ]
    records = [stream.click("year", s.isoformat().replace("+00:00", "Z")) for s in stamps]
    for start in range(0, len(records), 100):
        wiring.rollups().apply_records(records[start : start + 100])
    service = wiring.analytics()
    year = datetime(now.year, now.month, now.day, tzinfo=UTC)
    service.read("rollup#link#year", "d", year - timedelta(days=365), year)
    token = wiring.key_store().create("bench").token
    headers = {"Authorization": f"Bearer {token}"}

    bare = Chalice(app_name="bare")

    @bare.route("/bare")
    def one_query() -> Response:
        first = (now - timedelta(hours=24)).strftime("h#%Y-%m-%dT%H")
        answer = wiring.dynamodb().query(
            TableName=wiring.settings().analytics_table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues={
                ":pk": {"S": "rollup#link#year"}, ":a": {"S": first}, ":b": {"S": "h#~"},
            },
        )  # fmt: skip
        rows = [{"sk": i["sk"]["S"], "n": i.get("n.h", {}).get("N")} for i in answer["Items"]]
        return Response(body=json.dumps(rows), headers={"Content-Type": "application/json"})

    path = "/api/analytics?groupBy=timeseries&code=year&interval=24h"
    with Client(app) as real, Client(bare) as base:
        runs: dict[str, Callable[[], Any]] = {
            "real": lambda: real.http.get(path, headers=headers),
            "bare": lambda: base.http.get("/bare"),
        }
        assert real.http.get(path, headers=headers).status_code == 200
        medians = _interleaved(runs)
    return [
        Figure("analytics", "items read by a 1-year daily query, one link",
               service.items_read, "items", "<= 370"),
        Figure("analytics", "/api/analytics (24h hourly, one link) / bare route, one Query",
               medians["real"] / medians["bare"], "ratio", "",
               f"bare {medians['bare'] * 1000:.2f} ms"),
    ]  # fmt: skip


def _interleaved(runs: dict[str, Callable[[], Any]]) -> dict[str, float]:
    """Median seconds of each run, sampled in turn so drift hits both alike."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(REPEAT + 5):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            if round_ >= 5:
                samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in samples.items()}
