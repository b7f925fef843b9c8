"""Reading the analytics table in tests: bucket totals, and the AWS calls a step makes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chalicelib import wiring


def buckets(pk: str, kind: str = "d#") -> dict[str, dict[str, int]]:
    """sk -> counters of every bucket of `pk` whose sk starts with `kind`."""
    answer = wiring.dynamodb().query(
        TableName=wiring.settings().analytics_table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :kind)",
        ExpressionAttributeValues={":pk": {"S": pk}, ":kind": {"S": kind}},
    )
    return {
        item["sk"]["S"]: {k: int(v["N"]) for k, v in item.items() if "N" in v and k != "ttl"}
        for item in answer["Items"]
    }


def total(pk: str, name: str, kind: str = "d#") -> int:
    return sum(counts.get(name, 0) for counts in buckets(pk, kind).values())


@contextmanager
def calls(client: Any) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every (operation, params) the client sends while inside."""
    seen: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        seen.append((model.name, params))

    client.meta.events.register("provide-client-params.dynamodb", record)
    try:
        yield seen
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb", record)


def operations(seen: list[tuple[str, dict[str, Any]]]) -> Counter[str]:
    return Counter(name for name, _ in seen)
