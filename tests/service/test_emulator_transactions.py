"""The emulator's TransactWriteItems (local/transactions.py) against moto's own, and its
bounded streams (local/streams.py).

Each transaction case runs in-process on moto twice, once with moto's implementation and
once with ours, from the same seeded tables: both must give the same answer (error code,
message, CancellationReasons), the same items (table and GSI), and the same stream
records, sequence numbers included. One test drives the emulator server itself with
concurrent writers."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support.clock import FakeClock

IMPLEMENTATIONS = ["moto", "ours"]


@contextlib.contextmanager
def implementation(name: str) -> Iterator[None]:
    """moto as it ships, or with the emulator's patches (as local.emulator installs them)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    from local import streams, transactions

    with pytest.MonkeyPatch.context() as patch:
        if name == "ours":
            patch.setattr(
                DynamoDBBackend, "transact_write_items", transactions.transact_write_items
            )
            patch.setattr(StreamShard, "add", streams.add)
            patch.setattr(StreamShard, "get", streams.get)
            patch.setattr(DynamoDBStreamsBackend, "get_shard_iterator", streams.get_shard_iterator)
            patch.setattr(DynamoDBStreamsBackend, "get_records", streams.get_records)
        yield


# --- the tables every case starts from --------------------------------------------------


def S(value: str) -> dict[str, str]:  # DynamoDB's own type letters
    return {"S": value}


def N(value: int) -> dict[str, str]:
    return {"N": str(value)}


def create_tables(ddb: Any) -> None:
    """ "a": pk + sk, a GSI, a NEW_AND_OLD_IMAGES stream; "b": pk only, its own stream."""
    stream = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    ddb.create_table(
        TableName="a",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification=stream,
    )
    ddb.create_table(
        TableName="b",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification=stream,
    )


def key(pk: str, sk: str | None = None) -> dict[str, Any]:
    return {"pk": S(pk)} if sk is None else {"pk": S(pk), "sk": S(sk)}


def a_item(pk: str, sk: str, n: int) -> dict[str, Any]:
    return {**key(pk, sk), "n": N(n), "gsi1pk": S("g"), "gsi1sk": S(f"{pk}#{sk}")}


SEED = {
    "a": [a_item("p1", "s1", 1), a_item("p1", "s2", 2), a_item("p2", "s1", 3)],
    "b": [{**key("k1"), "n": N(10)}],
}


def put(table: str, item: dict[str, Any], condition: str | None = None, **extra: Any) -> dict:
    op: dict[str, Any] = {"TableName": table, "Item": item, **extra}
    if condition:
        op["ConditionExpression"] = condition
    return {"Put": op}


def update(table: str, item_key: dict[str, Any], expression: str, **extra: Any) -> dict:
    return {
        "Update": {"TableName": table, "Key": item_key, "UpdateExpression": expression, **extra}
    }


def delete(table: str, item_key: dict[str, Any], **extra: Any) -> dict:
    return {"Delete": {"TableName": table, "Key": item_key, **extra}}


def check(table: str, item_key: dict[str, Any], condition: str, **extra: Any) -> dict:
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": item_key,
            "ConditionExpression": condition,
            **extra,
        }
    }


PLUS_ONE = {"ExpressionAttributeValues": {":one": N(1)}}
ABSENT = "attribute_not_exists(pk)"


@dataclass(frozen=True)
class Case:
    items: list[dict[str, Any]]
    error: str | None = None  # the error code, None when committed
    reasons: list[str] | None = None  # CancellationReasons' codes
    written: list[str] = field(default_factory=list)  # stream eventNames, in order


CASES: dict[str, Case] = {
    "a put, update, delete and condition check commit together": Case(
        [
            put("a", a_item("p3", "s1", 4), ABSENT),
            update("a", key("p1", "s1"), "SET n = n + :one", **PLUS_ONE),
            delete("a", key("p2", "s1"), ConditionExpression="attribute_exists(pk)"),
            check("a", key("p1", "s2"), "n = :two", ExpressionAttributeValues={":two": N(2)}),
            update("b", key("k1"), "SET n = n + :one", **PLUS_ONE),
        ],
        written=["INSERT", "MODIFY", "REMOVE", "MODIFY"],
    ),
    "an update of an absent item creates it": Case(  # moto writes 2 records, DynamoDB 1
        [update("b", key("k9"), "SET n = :one", **PLUS_ONE)], written=["INSERT", "INSERT"]
    ),
    "a put's attribute_not_exists on an existing item cancels": Case(
        [
            put("a", a_item("p9", "s9", 9)),
            update("b", key("k1"), "SET n = n + :one", **PLUS_ONE),
            put("a", a_item("p1", "s1", 99), ABSENT),
        ],
        "TransactionCanceledException",
        ["None", "None", "ConditionalCheckFailed"],
    ),
    "an update's condition cancels": Case(
        [
            put("b", {**key("k2"), "n": N(0)}),
            update(
                "a",
                key("p1", "s1"),
                "SET n = :one",
                ConditionExpression="n = :wrong",
                ExpressionAttributeValues={":one": N(1), ":wrong": N(7)},
            ),
        ],
        "TransactionCanceledException",
        ["None", "ConditionalCheckFailed"],
    ),
    "a delete's condition cancels": Case(
        [
            delete("a", key("p1", "s2")),
            delete(
                "a",
                key("p2", "s1"),
                ConditionExpression="n > :big",
                ExpressionAttributeValues={":big": N(100)},
            ),
        ],
        "TransactionCanceledException",
        ["None", "ConditionalCheckFailed"],
    ),
    "a condition check cancels, writes after it included": Case(
        [
            update("a", key("p1", "s1"), "SET n = n + :one", **PLUS_ONE),
            check("b", key("k1"), ABSENT),
            put("b", {**key("k3"), "n": N(3)}),
            delete("a", key("p2", "s1")),
        ],
        "TransactionCanceledException",
        ["None", "ConditionalCheckFailed", "None", "None"],
    ),
    "several conditions fail at once": Case(
        [
            put("a", a_item("p1", "s1", 5), ABSENT),
            update("a", key("p1", "s2"), "SET n = n + :one", **PLUS_ONE),
            check("b", key("nobody"), "attribute_exists(pk)"),
        ],
        "TransactionCanceledException",
        ["ConditionalCheckFailed", "None", "ConditionalCheckFailed"],
    ),
    "ALL_OLD gives the item in the cancellation reason": Case(
        [
            put("b", {**key("k4"), "n": N(4)}),
            put("a", a_item("p1", "s1", 5), ABSENT, ReturnValuesOnConditionCheckFailure="ALL_OLD"),
            check("b", key("k1"), ABSENT, ReturnValuesOnConditionCheckFailure="ALL_OLD"),
        ],
        "TransactionCanceledException",
        ["None", "ConditionalCheckFailed", "ConditionalCheckFailed"],
    ),
    "the same item twice is a ValidationException": Case(
        [
            put("a", a_item("p3", "s1", 4)),
            update("b", key("k1"), "SET n = n + :one", **PLUS_ONE),
            update("a", key("p3", "s1"), "SET n = n + :one", **PLUS_ONE),
        ],
        "ValidationException",
    ),
    "a key without its range key is a ValidationException": Case(
        [put("b", {**key("k5"), "n": N(5)}), delete("a", key("p1"))], "ValidationException"
    ),
}


@dataclass(frozen=True)
class Observation:
    answer: dict[str, Any]
    items: dict[str, list[Any]]
    index: list[Any]
    records: dict[str, list[Any]]


def stream_records(ddb: Any, streams: Any, table: str) -> list[Any]:
    """Every record of the table's stream, from a fresh TRIM_HORIZON iterator."""
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    return [
        (
            r["eventName"],
            r["dynamodb"]["SequenceNumber"],
            r["dynamodb"]["Keys"],
            r["dynamodb"].get("OldImage"),
            r["dynamodb"].get("NewImage"),
        )
        for r in records
    ]


def observe(name: str, case: Case) -> Observation:
    """Seed the tables, run the case's transaction, write once more, and look."""
    from moto import mock_aws

    with implementation(name), mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        streams = boto3.client("dynamodbstreams", region_name="us-east-1")
        create_tables(ddb)
        for table, items in SEED.items():
            for item in items:
                ddb.put_item(TableName=table, Item=item)
        try:
            answer = ddb.transact_write_items(TransactItems=case.items)
            answer = {"ok": True}
        except ClientError as error:
            answer = {
                "code": error.response["Error"]["Code"],
                "message": error.response["Error"]["Message"],
                "reasons": error.response.get("CancellationReasons"),
            }
        for table in ("a", "b"):  # numbering goes on where the committed records end
            ddb.put_item(
                TableName=table, Item=a_item("after", "x", 0) if table == "a" else key("after")
            )
        items = {
            table: sorted(
                (
                    item
                    for page in ddb.get_paginator("scan").paginate(TableName=table)
                    for item in page["Items"]
                ),
                key=repr,
            )
            for table in ("a", "b")
        }
        index = ddb.query(
            TableName="a",
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :g",
            ExpressionAttributeValues={":g": S("g")},
        )["Items"]
        records = {table: stream_records(ddb, streams, table) for table in ("a", "b")}
    return Observation(answer, items, index, records)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_ours_answers_and_leaves_what_moto_does(case: Case) -> None:
    assert observe("ours", case) == observe("moto", case)


@pytest.mark.parametrize("name", IMPLEMENTATIONS)
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_transaction_is_all_or_nothing(name: str, case: Case) -> None:
    seen = observe(name, case)
    written = [r[0] for table in ("a", "b") for r in seen.records[table][len(SEED[table]) :]]
    after = ["INSERT", "INSERT"]  # the two puts made after the transaction
    if case.error is None:
        assert seen.answer == {"ok": True}
        assert sorted(written) == sorted(case.written + after)
        return
    assert seen.answer["code"] == case.error
    if case.reasons is not None:
        assert [r["Code"] for r in seen.answer["reasons"]] == case.reasons
    # Nothing of a cancelled transaction is left: items as seeded, no stream record.
    assert written == after
    assert seen.items["a"] == sorted([*SEED["a"], a_item("after", "x", 0)], key=repr)
    assert seen.items["b"] == sorted([*SEED["b"], key("after")], key=repr)
    assert sorted(seen.index, key=repr) == seen.items["a"]


@pytest.mark.parametrize("name", IMPLEMENTATIONS)
def test_all_old_gives_the_current_item_in_the_reason(name: str) -> None:
    seen = observe(name, CASES["ALL_OLD gives the item in the cancellation reason"])
    reasons = seen.answer["reasons"]
    assert "Item" not in reasons[0]
    assert reasons[1]["Item"] == a_item("p1", "s1", 1)
    assert reasons[2]["Item"] == SEED["b"][0]


def test_an_open_iterator_keeps_reading_after_a_cancelled_transaction() -> None:
    """Tables and shards keep their identity: moto's swap left old iterators on a copy."""
    from moto import mock_aws

    with implementation("ours"), mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        streams = boto3.client("dynamodbstreams", region_name="us-east-1")
        create_tables(ddb)
        arn = ddb.describe_table(TableName="b")["Table"]["LatestStreamArn"]
        shard_id = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0][
            "ShardId"
        ]
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard_id, ShardIteratorType="LATEST"
        )["ShardIterator"]
        ddb.put_item(TableName="b", Item=key("k1"))
        with pytest.raises(ddb.exceptions.TransactionCanceledException):
            ddb.transact_write_items(
                TransactItems=[put("b", key("k2")), put("b", key("k1"), ABSENT)]
            )
        ddb.put_item(TableName="b", Item=key("k3"))
        answer = streams.get_records(ShardIterator=iterator)
        keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in answer["Records"]]
        assert keys == ["k1", "k3"]


# --- bounded streams --------------------------------------------------------------------


@pytest.fixture
def clocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeClock, Any, Any]]:
    """moto with our patches and a hand-moved clock; yields (clock, dynamodb, streams)."""
    from moto import mock_aws
    from moto.dynamodb.models import table as moto_table

    clock = FakeClock(datetime(2026, 1, 1, 12, 0))
    monkeypatch.setattr(moto_table, "utcnow", clock)
    with implementation("ours"), mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(ddb)
        yield clock, ddb, boto3.client("dynamodbstreams", region_name="us-east-1")


def shard_of(ddb: Any, streams: Any, table: str = "b") -> tuple[str, str]:
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    return arn, shard["ShardId"]


def read(streams: Any, arn: str, shard_id: str, kind: str, sequence: str | None = None) -> list:
    where = {"SequenceNumber": sequence} if sequence else {}
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard_id, ShardIteratorType=kind, **where
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    return [(r["dynamodb"]["Keys"]["pk"]["S"], r["dynamodb"]["SequenceNumber"]) for r in records]


def test_records_older_than_a_day_are_trimmed_and_iterators_stay_valid(
    clocked: tuple[FakeClock, Any, Any],
) -> None:
    clock, ddb, streams = clocked
    arn, shard_id = shard_of(ddb, streams)
    for pk in ("r0", "r1"):
        ddb.put_item(TableName="b", Item=key(pk))
    clock.advance(82800)
    ddb.put_item(TableName="b", Item=key("r2"))
    kept = read(streams, arn, shard_id, "TRIM_HORIZON")
    assert [pk for pk, _ in kept] == ["r0", "r1", "r2"]  # none a day old yet
    sequence = {pk: number for pk, number in kept}

    clock.advance(7200)  # r0 and r1 are 25 hours old, r2 2 hours
    ddb.put_item(TableName="b", Item=key("r3"))
    after_trim = read(streams, arn, shard_id, "TRIM_HORIZON")
    assert [pk for pk, _ in after_trim] == ["r2", "r3"]
    assert after_trim[0] == ("r2", sequence["r2"])  # kept records keep their numbers
    assert int(after_trim[1][1]) == int(sequence["r2"]) + 1
    # An AFTER_SEQUENCE_NUMBER iterator at a kept record, and at a trimmed one.
    assert read(streams, arn, shard_id, "AFTER_SEQUENCE_NUMBER", sequence["r2"]) == [after_trim[1]]
    assert read(streams, arn, shard_id, "AFTER_SEQUENCE_NUMBER", sequence["r0"]) == after_trim
    assert read(streams, arn, shard_id, "AT_SEQUENCE_NUMBER", sequence["r1"]) == after_trim
    assert read(streams, arn, shard_id, "LATEST") == []
    ddb.put_item(TableName="b", Item=key("r4"))
    assert read(streams, arn, shard_id, "AFTER_SEQUENCE_NUMBER", after_trim[1][1]) == [
        ("r4", str(int(after_trim[1][1]) + 1))
    ]


def test_a_pump_carries_on_across_trims(clocked: tuple[FakeClock, Any, Any]) -> None:
    """local/pumps.py takes an AFTER_SEQUENCE_NUMBER iterator at each poll; a day of
    records written every ten minutes keeps the shard at a day's worth."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from local.pumps import StreamPump, TtlLedger

    clock, ddb, streams = clocked
    arn, _ = shard_of(ddb, streams)
    seen: list[str] = []

    def handler(event: dict[str, Any], _context: Any) -> None:
        seen.extend(r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"])

    pump = StreamPump(streams, arn, "b", {"h": handler}, TtlLedger())
    shard = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables["b"].stream_shard
    written = []
    for step in range(6 * 48):  # two days, a write every ten minutes
        written.append(f"w{step}")
        ddb.put_item(TableName="b", Item=key(written[-1]))
        if step % 7 == 0:
            pump.poll()
        clock.advance(600)
        assert len(shard.items) <= 6 * 24 + 1
    while pump.poll():
        pass
    assert seen == written  # every record once, in order, across the trims
    # A pump that sleeps through a day reads on from the oldest record kept.
    ddb.put_item(TableName="b", Item=key("slept-through"))
    clock.advance(90000)
    ddb.put_item(TableName="b", Item=key("woken"))
    assert pump.poll() == 1
    assert seen[-1] == "woken"


def test_a_cancelled_transaction_that_trims_undoes_only_its_own_records(
    clocked: tuple[FakeClock, Any, Any],
) -> None:
    clock, ddb, streams = clocked
    arn, shard_id = shard_of(ddb, streams)
    ddb.put_item(TableName="b", Item=key("old"))
    clock.advance(90000)
    ddb.put_item(TableName="b", Item=key("kept"))
    clock.advance(3600)  # "kept" is 1 hour old; "old" goes at the next append
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(
            TransactItems=[put("b", key("new")), put("b", key("kept"), ABSENT)]
        )
    ddb.put_item(TableName="b", Item=key("next"))
    assert [pk for pk, _ in read(streams, arn, shard_id, "TRIM_HORIZON")] == ["kept", "next"]


def test_shard_iterators_expire_after_fifteen_minutes(clocked: tuple[FakeClock, Any, Any]) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    clock, ddb, streams = clocked
    arn, shard_id = shard_of(ddb, streams)
    backend = dynamodbstreams_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]

    def iterator() -> str:
        return str(
            streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        )

    old = iterator()
    clock.advance(840)
    assert streams.get_records(ShardIterator=old)["Records"] == []  # still valid
    clock.advance(120)
    for _ in range(100):
        fresh = iterator()
    # The 100 fresh ones and the one get_records handed out at 14 minutes: `old` is gone.
    assert len(backend.shard_iterators) == 101
    with pytest.raises(ClientError) as expired:
        streams.get_records(ShardIterator=old)
    assert expired.value.response["Error"]["Code"] == "ExpiredIteratorException"
    assert streams.get_records(ShardIterator=fresh)["Records"] == []


# --- through the emulator server --------------------------------------------------------


def test_concurrent_transactions_through_the_server_lose_nothing(emulator: str) -> None:
    """Committed and cancelled transactions from several threads, with plain puts: every
    increment and every acknowledged put is there, and the stream holds exactly the
    committed writes."""

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=emulator, region_name="us-east-1")

    ddb = client("dynamodb")
    create_tables(ddb)
    ddb.put_item(TableName="b", Item={**key("counter"), "n": N(0)})
    ddb.put_item(TableName="b", Item=key("taken"))
    rounds, threads = 40, 3

    def increment() -> None:
        own = client("dynamodb")
        for i in range(rounds):
            own.transact_write_items(
                TransactItems=[
                    update("b", key("counter"), "SET n = n + :one", **PLUS_ONE),
                    put("a", a_item(f"t{threading.get_ident()}", f"{i:03d}", i)),
                ]
            )

    def cancel() -> None:
        own = client("dynamodb")
        for i in range(rounds):
            with pytest.raises(own.exceptions.TransactionCanceledException) as cancelled:
                own.transact_write_items(
                    TransactItems=[
                        update("b", key("counter"), "SET n = n + :one", **PLUS_ONE),
                        put("a", a_item("never", f"{threading.get_ident()}-{i}", i)),
                        put(
                            "b", key("taken"), ABSENT, ReturnValuesOnConditionCheckFailure="ALL_OLD"
                        ),
                    ]
                )
            assert cancelled.value.response["CancellationReasons"][2]["Item"] == key("taken")

    failures: list[BaseException] = []

    def recording(work: Any) -> Any:
        def run() -> None:
            try:
                work()
            except BaseException as error:
                failures.append(error)

        return run

    workers = [threading.Thread(target=recording(increment)) for _ in range(threads)]
    workers += [threading.Thread(target=recording(cancel)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    acknowledged = []
    for i in range(100):
        ddb.put_item(TableName="a", Item=a_item("plain", f"{i:03d}", i))
        acknowledged.append(f"{i:03d}")
    for worker in workers:
        worker.join()
    assert failures == []

    counter = ddb.get_item(TableName="b", Key=key("counter"))["Item"]["n"]["N"]
    assert counter == str(rounds * threads)
    items = [
        item for page in ddb.get_paginator("scan").paginate(TableName="a") for item in page["Items"]
    ]
    assert not [item for item in items if item["pk"]["S"] == "never"]
    assert sorted(i["sk"]["S"] for i in items if i["pk"]["S"] == "plain") == acknowledged
    assert len(items) == 100 + rounds * threads
    streams = client("dynamodbstreams")
    a_records = stream_records(ddb, streams, "a")
    b_records = stream_records(ddb, streams, "b")
    assert len(a_records) == len(items)  # one INSERT per item kept, none for "never"
    assert len(b_records) == 2 + rounds * threads  # the two seeds, the increments
    numbers = [int(r[1]) for r in a_records]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
