"""Stream positions kept in the state directory: a pump started again (the pumps process
was killed) goes on after the last batch it handed on, not from TRIM_HORIZON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3


def _pump(aws: dict[str, str], seen: list[str], positions: Path | None) -> Any:
    from local.pumps import StreamPump, TtlLedger

    table = aws["LINKS_TABLE"]
    stream_arn = boto3.client("dynamodb").describe_table(TableName=table)["Table"][
        "LatestStreamArn"
    ]

    def handler(event: dict[str, Any], _context: Any) -> None:
        seen.extend(r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"])

    return StreamPump(
        boto3.client("dynamodbstreams"),
        stream_arn,
        table,
        {"h": handler},
        TtlLedger(),
        positions_file=positions,
    )


def _put(aws: dict[str, str], pk: str) -> None:
    boto3.client("dynamodb").put_item(
        TableName=aws["LINKS_TABLE"], Item={"pk": {"S": pk}, "sk": {"S": "probe"}}
    )


def test_a_restarted_pump_goes_on_after_the_last_batch_handed_on(
    aws: dict[str, str], tmp_path: Path
) -> None:
    positions = tmp_path / "stream-positions" / "links.json"
    seen: list[str] = []
    _put(aws, "one")
    _put(aws, "two")
    assert _pump(aws, seen, positions).poll() == 2

    _put(aws, "three")
    again = _pump(aws, seen, positions)  # a new process: nothing in memory
    assert again.poll() == 1
    assert again.poll() == 0
    assert seen == ["one", "two", "three"]


def test_without_kept_positions_a_new_pump_reads_the_stream_from_its_start(
    aws: dict[str, str],
) -> None:
    seen: list[str] = []
    _put(aws, "one")
    assert _pump(aws, seen, None).poll() == 1
    assert _pump(aws, seen, None).poll() == 1
    assert seen == ["one", "one"]


def test_positions_of_another_stream_are_ignored(aws: dict[str, str], tmp_path: Path) -> None:
    positions = tmp_path / "links.json"
    positions.write_text('{"stream_arn": "arn:of:an:older:emulator", "positions": {"s": "9"}}')
    seen: list[str] = []
    _put(aws, "one")
    assert _pump(aws, seen, positions).poll() == 1
    assert seen == ["one"]
