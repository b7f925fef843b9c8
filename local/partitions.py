"""DynamoDB Queries at local scale: a Query sorts what it may answer, not the whole table.

What moto does (moto 5.x, Table.query): every Query lists every item of the table through
Table.all_items(), which sorts them all by key, then keeps those of the asked partition
(of the table or of an index). Every Query so costs O(n log n) in the table's size: with
`make demo-data` loaded (tens of thousands of rollup items), one Query of a link's few
buckets took about 70 ms, and the dashboard's overview makes dozens.

What we do: the same Query, run on a view of the table whose all_items() lists only the
items that can match, in the same order. A Query of the table lists the asked partition
(moto keeps a table's items by partition, then by sort key); a Query of an index lists the
items whose index partition key attributes equal the asked values, the very test moto
applies next. moto then filters, sorts, pages and copies exactly as before, so answers are
the same item for item. A Query of a table without a sort key takes moto's own path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

Query = Callable[..., tuple[list[Item], int, dict[str, Any] | None]]


class PartitionView:
    """A table as its Query sees it: every attribute the table's, all_items() one
    partition's items."""

    def __init__(self, table: Table, items: list[Item]) -> None:
        self._table = table
        self._items = items

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def all_items(self) -> list[Item]:
        return list(self._items)


def in_table_order(items: list[Item]) -> list[Item]:
    """`items` in the order Table.all_items() lists a table's items."""
    return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


def index_candidates(table: Table, conditions: list[tuple[str, DynamoType]]) -> list[Item]:
    """The items whose attributes equal every index partition key condition."""
    return in_table_order([
        item
        for partition in table.items.values()
        for item in partition.values()
        if all(matches(item.attrs.get(name), value) for name, value in conditions)
    ])  # fmt: skip


def matches(found: DynamoType | None, wanted: DynamoType) -> bool:
    # As moto tests them; a DynamoType cannot be compared with None.
    return found is not None and found == wanted


def partition_query(original: Query) -> Query:
    """moto's Table.query, sorting only the items that can match."""

    def query(
        self: Table,
        hash_key: DynamoType | None,
        range_comparison: str | None,
        range_objs: list[DynamoType],
        limit: int,
        exclusive_start_key: dict[str, Any],
        scan_index_forward: bool,
        projection_expressions: list[list[str]] | None,
        index_name: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[list[Item], int, dict[str, Any] | None]:
        target: Any = self
        conditions = kwargs.get("hash_key_conditions")
        if index_name and conditions:
            target = PartitionView(self, index_candidates(self, conditions))
        elif not index_name and self.range_key_attr and hash_key is not None:
            partition: Any = self.items.get(hash_key, {})
            target = PartitionView(self, list(partition.values()))
        return original(
            target, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
            scan_index_forward, projection_expressions, index_name, *args, **kwargs,
        )  # fmt: skip

    query.partitioned = True  # type: ignore[attr-defined]
    return query


def install() -> None:
    """Install the narrowed Query in this process's moto (once)."""
    if not getattr(Table.query, "partitioned", False):
        Table.query = partition_query(Table.query)  # type: ignore[method-assign]
