"""Rollups from links-stream batches over moto: every click counted once whatever Lambda
redelivers (whole retries, bisected halves, restarts mid-batch), in few AWS calls."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib import wiring
from chalicelib.analytics import rollups as rollups_module
from chalicelib.analytics.buckets import shard_sk
from chalicelib.analytics.rollups import Rollups
from tests.support.analytics import buckets, calls, operations, total
from tests.support.aws import failing
from tests.support.clickstream import ClickStream


def rollups() -> Rollups:
    return wiring.rollups()


def mixed_batch(stream: ClickStream, n: int, code: str = "abc") -> list[dict[str, Any]]:
    """n clicks on `code` across an hour and a day boundary, every third a bot."""
    stamps = ["2026-12-31T22:59:59.000Z", "2026-12-31T23:30:00.000Z", "2027-01-01T00:00:00.000Z"]
    return [
        stream.click(code, stamps[i % 3], visitor="bot" if i % 3 == 2 else "human")
        for i in range(n)
    ]


def test_a_batch_counts_humans_and_bots_apart_into_every_bucket(aws: dict[str, str]) -> None:
    stream = ClickStream()
    stream.link("abc", tags=("promo", "sms"), campaign_id="c1")
    records = mixed_batch(stream, 9)
    assert rollups().apply_records([*records, stream.edit("abc")]) == 9
    for pk in ("rollup#link#abc", "rollup#site", "rollup#campaign#c1", "rollup#tag#promo"):
        assert total(pk, "n.h") == 6 and total(pk, "n.b") == 3
        assert total(pk, "n.h", "h#") == 6 and total(pk, "n.b", "h#") == 3
    assert set(buckets("rollup#site")) == {"d#2026-12-31", "d#2027-01-01"}
    assert set(buckets("rollup#site", "h#")) == {
        "h#2026-12-31T22",
        "h#2026-12-31T23",
        "h#2027-01-01T00",
    }
    site = buckets("rollup#site")["d#2026-12-31"]
    assert site["first.h"] == 1
    assert site["referer.h.(direct)"] == 6 and site["cd.h.US.mobile"] == 6
    assert site["campaign.h.c1"] == 6
    assert buckets("rollup#site")["d#2027-01-01"]["tag.b.sms"] == 3
    # Per-link counts live beside the wide families, in the link's shard of each bucket.
    assert not any(name.startswith("link.") for name in site)
    shard = shard_sk("d#2026-12-31", "abc")
    for family in ("rollup#links#site", "rollup#links#campaign#c1", "rollup#links#tag#promo"):
        assert buckets(family)[shard] == {"link.h.abc": 6}, family
        assert total(family, "link.b.abc", "h#") == 3
    assert "link.h.abc" not in buckets("rollup#link#abc")["d#2026-12-31"]
    assert buckets("rollup#links#link#abc") == {}


def test_whole_retries_bisected_halves_and_restarts_count_each_click_once(
    aws: dict[str, str],
) -> None:
    stream = ClickStream()
    records = [r for i in range(10) for r in mixed_batch(stream, 1, f"l{i % 3}")]
    records += mixed_batch(stream, 20, "l0")
    rollups().apply_records(records)
    rollups().apply_records(records)  # the whole batch again
    half = len(records) // 2
    rollups().apply_records(records[:half])  # bisected
    rollups().apply_records(records[half:])
    rollups().apply_records(records[7:])  # a restart from a middle record
    humans = sum(
        1 for r in records if r["dynamodb"]["NewImage"]["click"]["M"]["visitor"]["S"] == "human"
    )
    assert total("rollup#site", "n.h") == humans
    assert total("rollup#site", "n.b") == len(records) - humans
    assert total("rollup#site", "n.h", "h#") == humans
    counted = sum(
        total(f"rollup#link#l{i}", "n.h") + total(f"rollup#link#l{i}", "n.b") for i in range(3)
    )
    assert counted == len(records)


def test_a_partial_apply_then_a_restart_loses_nothing(aws: dict[str, str]) -> None:
    stream = ClickStream()
    records = mixed_batch(stream, 12, "a") + mixed_batch(stream, 12, "b")
    rollups().apply_records(records[:5])  # the part a failed invocation got through
    assert rollups().apply_records(records[3:]) == 19
    assert total("rollup#site", "n.h") + total("rollup#site", "n.b") == 24


def test_one_link_s_100_clicks_are_one_read_and_one_update_per_bucket(aws: dict[str, str]) -> None:
    stream = ClickStream()
    records = [stream.click("abc", "2026-12-03T10:00:00.000Z") for _ in range(100)]
    with calls(wiring.dynamodb()) as seen:
        rollups().apply_records(records)
    assert operations(seen) == {"BatchGetItem": 1, "TransactWriteItems": 1}
    actions = dict(seen)["TransactWriteItems"]["TransactItems"]
    keys = sorted((a["Update"]["Key"]["pk"]["S"], a["Update"]["Key"]["sk"]["S"]) for a in actions)
    assert keys == [
        ("rollup#link#abc", "d#2026-12-03"),
        ("rollup#link#abc", "h#2026-12-03T10"),
        ("rollup#link#abc", "mark"),
        ("rollup#links#site", shard_sk("d#2026-12-03", "abc")),
        ("rollup#links#site", shard_sk("h#2026-12-03T10", "abc")),
        ("rollup#site", "d#2026-12-03"),
        ("rollup#site", "h#2026-12-03T10"),
    ]
    assert total("rollup#link#abc", "n.h") == 100


def test_links_share_a_transaction_and_a_replay_writes_nothing(aws: dict[str, str]) -> None:
    stream = ClickStream()
    records = [stream.click(f"l{i % 10}", "2026-12-03T10:00:00.000Z") for i in range(100)]
    with calls(wiring.dynamodb()) as seen:
        rollups().apply_records(records)
    assert operations(seen) == {"BatchGetItem": 1, "TransactWriteItems": 1}
    with calls(wiring.dynamodb()) as seen:
        assert rollups().apply_records(records) == 0
    assert operations(seen) == {"BatchGetItem": 1}
    assert total("rollup#site", "n.h") == 100


def test_many_distinct_values_split_a_link_s_clicks_over_transactions(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rollups_module, "MAX_TERMS", 20)
    stream = ClickStream()
    records = [
        stream.click("abc", "2026-12-03T10:00:00.000Z", browser=f"B{i}", referrer=f"r{i}.example")
        for i in range(30)
    ]
    with calls(wiring.dynamodb()) as seen:
        rollups().apply_records(records)
    assert operations(seen)["TransactWriteItems"] > 1
    rollups().apply_records(records[10:])
    assert total("rollup#site", "n.h") == 30
    assert (
        sum(
            v for k, v in buckets("rollup#site")["d#2026-12-03"].items() if k.startswith("browser.")
        )
        == 30
    )


def test_a_link_s_clicks_over_many_days_split_over_transactions(aws: dict[str, str]) -> None:
    stream = ClickStream()
    days = [f"2026-{m:02d}-{d:02d}T12:00:00.000Z" for m in range(1, 5) for d in range(1, 29)]
    records = [stream.click("abc", at) for at in days[:100]]
    with calls(wiring.dynamodb()) as seen:
        rollups().apply_records(records)
    writes = [p["TransactItems"] for name, p in seen if name == "TransactWriteItems"]
    assert len(writes) > 1 and all(len(items) <= 100 for items in writes)
    rollups().apply_records(records[40:])
    assert total("rollup#site", "n.h") == 100 and len(buckets("rollup#site")) == 100


def test_a_mark_moved_by_another_writer_is_read_again(aws: dict[str, str]) -> None:
    stream = ClickStream()
    records = mixed_batch(stream, 10)
    client = wiring.dynamodb()
    raced = {"done": False}

    def race(**_: Any) -> None:
        if not raced["done"]:
            raced["done"] = True
            Rollups(client, wiring.settings().analytics_table, 400).apply_records(records[:4])

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", race)
    try:
        with calls(client) as seen:
            rollups().apply_records(records)
    finally:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", race)
    assert operations(seen)["BatchGetItem"] >= 2
    assert total("rollup#link#abc", "n.h") + total("rollup#link#abc", "n.b") == 10


def test_throttling_raises_and_writes_nothing(aws: dict[str, str]) -> None:
    stream = ClickStream()
    records = mixed_batch(stream, 5)
    with (
        failing(
            wiring.dynamodb(), "TransactWriteItems", code="ProvisionedThroughputExceededException"
        ),
        pytest.raises(ClientError),
    ):
        rollups().apply_records(records)
    assert buckets("rollup#site") == {}
    rollups().apply_records(records)
    assert total("rollup#site", "n.h") + total("rollup#site", "n.b") == 5


def test_the_links_stream_handler_rolls_its_batch_up(client: Any, aws: dict[str, str]) -> None:
    stream = ClickStream()
    records = mixed_batch(stream, 6)
    client.lambda_.invoke("click_webhooks", {"Records": records})
    client.lambda_.invoke("click_webhooks", {"Records": records[2:]})  # a restart
    assert total("rollup#link#abc", "n.h") == 4 and total("rollup#link#abc", "n.b") == 2


MARGIN = 24  # bytes left: less than the per-link counters of the batch below add


def fill_to_the_limit(pk: str, sk: str) -> None:
    """Pad the bucket to within a few bytes of DynamoDB's 400 KB item limit, as the
    emulator measures it (found by bisection: the limit is what it refuses)."""
    client, table = wiring.dynamodb(), wiring.settings().analytics_table
    key = {"pk": {"S": pk}, "sk": {"S": sk}}
    bucket = client.get_item(TableName=table, Key=key)["Item"]

    def put(filler: int) -> bool:
        try:
            client.put_item(TableName=table, Item={**bucket, "filler": {"S": "x" * filler}})
        except ClientError:
            return False
        return True

    low, high = 0, 400 * 1024
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if put(middle) else (low, middle)
    assert put(low - MARGIN)


def test_a_full_per_link_shard_keeps_every_count_but_the_per_link_ones(
    aws: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A per-link shard at DynamoDB's 400 KB item limit (as one would be after hundreds of
    thousands of distinct links clicked that day): the batch still lands, not retried
    until the stream drops it; only the per-link counts stop growing."""
    stream = ClickStream()
    shard = shard_sk("d#2026-12-03", "seed1")
    codes = [c for c in (f"full{n}" for n in range(1, 300)) if shard_sk("d#2026-12-03", c)
             == shard][:5]  # the seed's shard  # fmt: skip
    assert rollups().apply_records([stream.click("seed1", "2026-12-03T09:00:00.000Z")]) == 1
    fill_to_the_limit("rollup#links#site", shard)
    records = [stream.click(code, "2026-12-03T09:30:00.000Z") for code in codes]
    assert rollups().apply_records(records) == 5
    full = buckets("rollup#links#site")[shard]
    assert full["link.h.seed1"] == 1 and not any(f"link.h.{code}" in full for code in codes)
    # every other count is exact, in the site's buckets and the links' own
    assert buckets("rollup#site")["d#2026-12-03"]["n.h"] == 6
    assert buckets("rollup#site", "h#")["h#2026-12-03T09"]["n.h"] == 6
    assert all(total(f"rollup#link#{code}", "n.h") == 1 for code in codes)
    assert "rollup bucket full" in caplog.text
    assert rollups().apply_records(records) == 0  # the mark moved with the counts
